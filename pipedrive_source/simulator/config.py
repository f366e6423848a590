"""Simulator configuration: the `SimulatorConfig` dataclass and the plan tables from FACTS.md.

Plan numbers (burst limits per 2 s window, daily budget multiplier) live here so the limiter,
the CLI and the tests read them from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PLANS = ("essential", "advanced", "professional", "enterprise")
#: requests per rolling 2-second window, per token kind and plan (FACTS.md "Rate limits")
BURST_LIMITS: dict[str, dict[str, int]] = {
    "api": {"essential": 20, "advanced": 40, "professional": 100, "enterprise": 120},
    "oauth": {"essential": 80, "advanced": 160, "professional": 400, "enterprise": 480},
}
SEARCH_BURST_LIMIT = 10
BURST_WINDOW_SECONDS = 2.0
DAILY_BASE_TOKENS = 30_000
PLAN_MULTIPLIER = {"essential": 1, "advanced": 2, "professional": 5, "enterprise": 7}
SCALES = {"small": 200, "medium": 10_000, "large": 100_000}


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulated Pipedrive company and its API server."""

    seed: int = 1
    scale: str | int = "small"  # small=200 deals, medium=10_000, large=100_000, or an int N deals
    plan: str = "professional"  # essential|advanced|professional|enterprise
    rate_limit: bool = True  # False: no burst, no daily budget, no lockout; headers still sent
    faults: str | None = None  # fault spec, grammar in faults.py
    api_token: str = "sim-admin-token"
    user_token: str = "sim-user-token"  # non-admin user
    oauth_client: tuple[str, str] | None = None  # (client_id, client_secret)
    access_token_ttl: float = 3600.0  # seconds of simulated clock
    daily_budget: int | None = None  # tokens/day; default 30_000 * plan multiplier * seats
    seats: int = 10
    v1_removed: bool = False  # deprecated v1 entity endpoints answer 410
    start_time: datetime | None = None  # None = real clock; else clock frozen at this UTC time
    # -- knobs beyond the contract (server behaviour under abuse) --
    lockout_threshold: int = 10  # requests sent while a 429's retry-after runs that earn a 403 lockout
    lockout_seconds: float = 60.0  # real seconds a locked-out token sees the Cloudflare 403 page

    def __post_init__(self) -> None:
        if self.plan not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}, got {self.plan!r}")
        scale_deals(self.scale)  # validate early
        if isinstance(self.oauth_client, list):
            self.oauth_client = tuple(self.oauth_client)  # type: ignore[assignment]

    @property
    def deals(self) -> int:
        """Number of deals the scale stands for."""
        return scale_deals(self.scale)

    def burst_limit(self, kind: str) -> int:
        """Burst requests per window for token kind `api` or `oauth` on this plan."""
        return BURST_LIMITS[kind][self.plan]

    def daily_tokens(self) -> int:
        """The daily token budget of the company."""
        if self.daily_budget is not None:
            return int(self.daily_budget)
        return DAILY_BASE_TOKENS * PLAN_MULTIPLIER[self.plan] * self.seats


def scale_deals(scale: str | int) -> int:
    """Deals for a scale name or number ("small", "large", 5000, "1000000")."""
    if isinstance(scale, int):
        n = scale
    elif scale in SCALES:
        n = SCALES[scale]
    else:
        try:
            n = int(str(scale).replace("_", ""))
        except ValueError:
            raise ValueError(f"scale must be small|medium|large or a number of deals, got {scale!r}") from None
    if n < 1:
        raise ValueError(f"scale must be at least 1 deal, got {scale!r}")
    return n
