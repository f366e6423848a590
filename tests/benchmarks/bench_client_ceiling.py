"""Benchmark: how close does the client run to Pipedrive's burst ceiling, and at what cost in 429s?

Runs a long backfill (default 60 s) against the simulator with rate limits ON (Professional plan,
API token: 100 requests per rolling 2 s = 50 req/s ceiling), several threads paging concurrently
through the shared limiter. Reports requests/s vs the ceiling, the share of 429 answers, lockouts
(Cloudflare 403s), the busiest 2-second window as the client sent it, and time held by the limiter.

    python tests/benchmarks/bench_client_ceiling.py --seconds 60 --workers 4 --json /tmp/bench_client_ceiling.json

Not collected by pytest (no test_ prefix). Uses sim-core's routes (/deals/collection, cursor) when
present, else sim-server's stand-in route table (/deals offset list).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipedrive_source.client import PipedriveClient  # noqa: E402
from pipedrive_source.pagination import Page, iter_concurrent  # noqa: E402
from pipedrive_source.simulator import SimulatorConfig, run_simulator  # noqa: E402
from pipedrive_source.simulator.config import BURST_LIMITS, BURST_WINDOW_SECONDS  # noqa: E402


class SendTimes(logging.Handler):
    """Collects the client's per-request DEBUG records (pd_op) to find the busiest 2-s window."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.times: list[float] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "pd_op", None):
            with self._lock:
                self.times.append(record.created)


def busiest_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _real_routes_available() -> bool:
    try:
        import pipedrive_source.simulator.api_v1  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def run(seconds: float, workers: int, plan: str, page_limit: int, faults: str | None, standin: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    real = _real_routes_available() and not standin
    if real:
        config = SimulatorConfig(scale="small", plan=plan, rate_limit=True, faults=faults)
        path, pager = "/deals/collection", "cursor"
    else:
        sys.path.insert(0, str(ROOT))
        from tests.fixtures.simulator import StandinCompany, standin_apis

        config = SimulatorConfig(plan=plan, rate_limit=True, faults=faults)
        kwargs = {"company": StandinCompany(2000), "apis": standin_apis()}
        path, pager = "/deals", "offset"
    ceiling = BURST_LIMITS["api"][plan] / BURST_WINDOW_SECONDS
    handler = SendTimes()
    log = logging.getLogger("pipedrive_source.client")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    with run_simulator(config, **kwargs) as sim:
        with PipedriveClient(base_url=sim.base_url, api_token=config.api_token, plan=plan,
                             max_workers=workers) as client:
            deadline = time.monotonic() + seconds

            def stream() -> Iterator[Page]:
                while time.monotonic() < deadline:  # a backfill that never runs out of pages
                    pages = client.iter_cursor(path, limit=page_limit) if pager == "cursor" \
                        else client.iter_offset(path, limit=page_limit)
                    for page in pages:
                        yield page
                        if time.monotonic() >= deadline:
                            return

            started = time.monotonic()
            rows = 0
            for _, page in iter_concurrent([stream] * workers, max_workers=workers):
                rows += len(page.items)
            elapsed = time.monotonic() - started
            stats = client.stats
        sim_stats = sim.stats()
    log.removeHandler(handler)
    requests = sim_stats["requests"]
    total = sum(requests.values())
    status = sim_stats["status"]
    return {
        "routes": "sim-core" if real else "stand-in",
        "endpoint": f"GET {path} ({pager}, limit {page_limit})",
        "plan": plan,
        "workers": workers,
        "seconds": round(elapsed, 2),
        "requests": total,
        "rows": rows,
        "requests_per_s": round(total / elapsed, 2),
        "ceiling_per_s": ceiling,
        "ratio_to_ceiling": round(total / elapsed / ceiling, 3),
        "busiest_2s_window_answers": busiest_window(handler.times, BURST_WINDOW_SECONDS),
        "burst_limit": BURST_LIMITS["api"][plan],
        "http_429": status.get("429", 0),
        "share_429": round(status.get("429", 0) / total, 4) if total else 0.0,
        "http_403": status.get("403", 0),
        "lockouts": sim_stats.get("lockouts", 0),
        "client_retries": stats.retries,
        "limiter_wait_s": round(stats.wait_seconds, 1),
        "tokens_spent": sim_stats.get("tokens_spent"),
        "faults": faults,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--plan", default="professional")
    parser.add_argument("--limit", type=int, default=50, help="page size (small pages = many requests)")
    parser.add_argument("--faults", default=None, help="simulator fault spec, e.g. '500:0.02,429:0.01@1'")
    parser.add_argument("--standin", action="store_true", help="use the stand-in route table")
    parser.add_argument("--json", default="/tmp/bench_client_ceiling.json", help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.workers, args.plan, args.limit, args.faults, args.standin)
    width = max(len(k) for k in result)
    print(f"{'metric'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 30}")
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {args.json}")
    ok = result["ratio_to_ceiling"] >= 0.9 and result["share_429"] < 0.01 and result["lockouts"] == 0
    print("PASS" if ok else "FAIL", "(target: >= 0.9 x ceiling, < 1 % 429, no lockout)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
