"""Sync options and their validation: every config mistake is caught here, before any request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from .entities import resolve_entities
from .rows import parse_timestamp

CUSTOM_FIELD_MODES = ("labels", "hash", "both")
DELETE_MODES = ("soft", "hard")
RECONCILE_SCHEDULES = ("always", "daily", "never")
API_VERSIONS = ("auto", "v1", "v2")
PLANS = ("essential", "advanced", "professional", "enterprise")


class ConfigError(ValueError):
    """A configuration problem the user must fix; the message is one actionable line."""


@dataclass(frozen=True)
class SyncOptions:
    api_token: str | None = None
    base_url: str | None = None
    company_domain: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    oauth_token_file: str = ".pipedrive/oauth_token.json"
    oauth_token_url: str | None = None
    entities: tuple[str, ...] | None = None
    custom_fields: str = "labels"
    start_date: datetime | None = None
    overlap_seconds: int = 60
    safety_lag_seconds: int = 5
    deletes: str = "soft"
    reconcile: str = "daily"
    api_version: str = "auto"
    plan: str = "professional"
    daily_reserve: float = 0.2
    max_workers: int = 4
    children: bool = True  # per-parent child tables (deal products/participants, followers)
    max_retries: int = 8  # per request, for 5xx/timeouts/garbage (client backoff)
    max_retry_time: float = 300.0  # seconds per request across its retries
    checkpoint_seconds: int = 600  # load and commit a long backfill in rounds of this length (0 = one round)
    parse_processes: int = 0  # worker processes decoding backfill pages (``parse_processes_for("auto")``)

    def __repr__(self) -> str:  # never print secrets
        return (f"SyncOptions(base_url={self.base_url!r}, company_domain={self.company_domain!r}, "
                f"entities={self.entities!r}, custom_fields={self.custom_fields!r}, api_version={self.api_version!r})")

    @property
    def uses_oauth(self) -> bool:
        return bool(self.oauth_refresh_token or self.oauth_client_id)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} = {value!r} is not valid; use one of: {', '.join(allowed)}")
    return value


def check_base_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"base_url {url!r} is not an http(s) URL; expected e.g. https://yourcompany.pipedrive.com/api/v1"
        )
    if parsed.query or "api_token" in url:
        raise ConfigError("base_url must not carry a query string (put the API token in secrets.toml, not the URL)")
    return url.rstrip("/")


def build_options(**raw: object) -> SyncOptions:
    """Validate raw source arguments (from dlt config, the CLI or a script) into SyncOptions."""
    api_token = raw.get("api_token") or None
    base_url = raw.get("base_url") or None
    domain = raw.get("company_domain") or None
    oauth_refresh = raw.get("oauth_refresh_token") or None
    oauth_id = raw.get("oauth_client_id") or None
    oauth_secret = raw.get("oauth_client_secret") or None
    if not api_token and not oauth_refresh:
        raise ConfigError(
            "no Pipedrive credentials: set SOURCES__PIPEDRIVE__API_TOKEN (or api_token under [sources.pipedrive] "
            "in .dlt/secrets.toml), or the OAuth client id/secret and refresh token"
        )
    if oauth_refresh and not (oauth_id and oauth_secret):
        raise ConfigError("OAuth needs oauth_client_id and oauth_client_secret next to oauth_refresh_token")
    if base_url:
        base_url = check_base_url(str(base_url))
    elif domain:
        domain = str(domain).strip()
        if not domain.replace("-", "").isalnum():
            raise ConfigError(f"company_domain {domain!r} is not valid; give the 'acme' of acme.pipedrive.com")
    elif not oauth_refresh:
        raise ConfigError(
            "no Pipedrive address: set base_url (e.g. https://acme.pipedrive.com/api/v1) or company_domain (acme)"
        )
    entities = raw.get("entities")
    if isinstance(entities, str):
        entities = [e.strip() for e in entities.split(",") if e.strip()]
    if entities is not None:
        try:
            resolve_entities(list(entities))  # type: ignore[arg-type]
        except ValueError as e:
            raise ConfigError(str(e)) from None
        entities = tuple(entities)  # type: ignore[arg-type]
    start = raw.get("start_date")
    start_date = None
    if start:
        try:
            start_date = parse_timestamp(start)
        except ValueError:
            raise ConfigError(f"start_date {start!r} is not a date (use YYYY-MM-DD)") from None
    reserve = float(raw.get("daily_reserve", 0.2))  # type: ignore[arg-type]
    if not 0 <= reserve < 1:
        raise ConfigError(f"daily_reserve = {reserve} must be a fraction in [0, 1)")
    workers = int(raw.get("max_workers", 4))  # type: ignore[arg-type]
    if workers < 1:
        raise ConfigError("max_workers must be >= 1")
    parse_processes = parse_processes_for(raw.get("parse_processes", "auto"))
    return SyncOptions(
        api_token=str(api_token) if api_token else None,
        base_url=base_url,
        company_domain=domain,
        oauth_client_id=oauth_id,  # type: ignore[arg-type]
        oauth_client_secret=oauth_secret,  # type: ignore[arg-type]
        oauth_refresh_token=oauth_refresh,  # type: ignore[arg-type]
        oauth_token_file=str(raw.get("oauth_token_file") or ".pipedrive/oauth_token.json"),
        oauth_token_url=raw.get("oauth_token_url") or None,  # type: ignore[arg-type]
        entities=entities,  # type: ignore[arg-type]
        custom_fields=_choice("custom_fields", str(raw.get("custom_fields", "labels")), CUSTOM_FIELD_MODES),
        start_date=start_date,
        overlap_seconds=int(raw.get("overlap_seconds", 60)),  # type: ignore[arg-type]
        safety_lag_seconds=int(raw.get("safety_lag_seconds", 5)),  # type: ignore[arg-type]
        deletes=_choice("deletes", str(raw.get("deletes", "soft")), DELETE_MODES),
        reconcile=_choice("reconcile", str(raw.get("reconcile", "daily")), RECONCILE_SCHEDULES),
        api_version=_choice("api_version", str(raw.get("api_version", "auto")), API_VERSIONS),
        plan=_choice("plan", str(raw.get("plan", "professional")), PLANS),
        daily_reserve=reserve,
        max_workers=workers,
        children=bool(raw.get("children", True)),
        checkpoint_seconds=int(raw.get("checkpoint_seconds", 600)),  # type: ignore[arg-type]
        max_retries=int(raw.get("max_retries", 8)),  # type: ignore[arg-type]
        max_retry_time=float(raw.get("max_retry_time", 300.0)),  # type: ignore[arg-type]
        parse_processes=parse_processes,
    )


def parse_processes_for(value: object) -> int:
    """``auto``: one worker per core (at most 4; none on one core, where a worker only adds copying)."""
    if value is None or str(value).strip().lower() == "auto":
        cores = os.cpu_count() or 1
        return 0 if cores < 2 else min(4, cores)
    try:
        n = int(str(value))
    except ValueError:
        raise ConfigError(f"parse_processes = {value!r} is not valid; use 'auto' or a number >= 0") from None
    if n < 0:
        raise ConfigError(f"parse_processes = {n} must be >= 0 (0 = parse in the sync process)")
    return n
