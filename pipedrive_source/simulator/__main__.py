"""`python -m pipedrive_source.simulator`: serve a simulated Pipedrive company in the foreground.

`main(argv)` is also what `pipedrive-sync simulate` calls; `build_parser()` lets it mirror the options.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .clock import parse_time
from .config import PLANS, SimulatorConfig, scale_deals
from .faults import FaultSpec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipedrive_source.simulator", description="Serve a simulated Pipedrive API.")
    p.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--seed", type=int, default=1, help="data seed (same seed -> same company)")
    p.add_argument("--scale", default="small", help="small|medium|large or a number of deals")
    p.add_argument("--plan", choices=PLANS, default="professional", help="plan: sets burst limits and daily budget")
    p.add_argument("--no-rate-limit", action="store_true", help="no burst limit, no daily budget (headers still sent)")
    p.add_argument("--faults", default=None, help='fault spec, e.g. "500:0.05,slow:0.02@2,seed=3" (see faults.py)')
    p.add_argument("--api-token", default="sim-admin-token", help="API token of the admin user")
    p.add_argument("--user-token", default="sim-user-token", help="API token of a non-admin user")
    p.add_argument("--oauth-client", default=None, metavar="ID:SECRET", help="enable OAuth with this client")
    p.add_argument("--access-token-ttl", type=float, default=3600.0, help="OAuth access token lifetime (s)")
    p.add_argument("--daily-budget", type=int, default=None, help="daily token budget (default by plan and seats)")
    p.add_argument("--seats", type=int, default=10, help="seats (daily budget = 30,000 x plan multiplier x seats)")
    p.add_argument("--v1-removed", action="store_true", help="deprecated v1 entity endpoints answer 410")
    p.add_argument("--frozen-clock", default=None, metavar="ISO", help="freeze the clock at this UTC time")
    p.add_argument("--log-level", default="warning", help="server log level")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """SimulatorConfig from parsed options; raises ValueError with a readable message."""
    scale: str | int = args.scale if args.scale in ("small", "medium", "large") else scale_deals(args.scale)
    oauth = None
    if args.oauth_client:
        cid, sep, secret = args.oauth_client.partition(":")
        if not sep or not cid or not secret:
            raise ValueError("--oauth-client must look like CLIENT_ID:CLIENT_SECRET")
        oauth = (cid, secret)
    FaultSpec.parse(args.faults)  # fail fast on a bad spec
    return SimulatorConfig(
        seed=args.seed,
        scale=scale,
        plan=args.plan,
        rate_limit=not args.no_rate_limit,
        faults=args.faults,
        api_token=args.api_token,
        user_token=args.user_token,
        oauth_client=oauth,
        access_token_ttl=args.access_token_ttl,
        daily_budget=args.daily_budget,
        seats=args.seats,
        v1_removed=args.v1_removed,
        start_time=parse_time(args.frozen_clock) if args.frozen_clock else None,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse options and serve until interrupted. Returns a process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .server import serve_forever

    try:
        serve_forever(config, port=args.port, announce=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
