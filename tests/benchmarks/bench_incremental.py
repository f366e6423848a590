"""Benchmark: what an incremental run costs — requests, tokens, seconds — after 1 % of the records
changed (simulator write API), and with no change at all.

The simulator runs in its own process with a frozen clock (so windows are exact) and token costs
counted; burst limits are off for the backfill (``--limits`` turns them on for every run). Steps:
backfill (default entity set incl. per-parent children) -> a run with no change -> change 1 % of
deals, persons, organizations, activities and notes (PUT) -> clock + 60 s -> a run. Each run is a
child process into the same DuckDB file and pipeline dir.

    python tests/benchmarks/bench_incremental.py --deals 20000
    python tests/benchmarks/bench_incremental.py --deals 2000    # quick run

Writes JSON to ``--out``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    DEFAULT_OUT_DIR,
    machine,
    print_table,
    run_child,
    simulator_process,
    write_json,
)

FROZEN = "2026-07-01T12:00:00Z"
# entity -> (records for N deals, a field to change)
CHANGED: dict[str, tuple[float, str]] = {
    "deals": (1.0, "title"),
    "persons": (1.0, "name"),
    "organizations": (0.25, "name"),
    "activities": (2.0, "subject"),
    "notes": (1.0, "content"),
}


def run(sim: Any, work: Path, label: str, workers: int, no_children: bool) -> dict[str, Any]:
    sim.reset(limits=True)
    argv = [str(Path(__file__).with_name("bench_common.py")), "sync", "--base-url", sim.base_url,
            "--duckdb-path", str(work / "inc.duckdb"), "--pipelines-dir", str(work / "dlt"),
            "--workers", str(workers)]
    if no_children:
        argv.append("--no-children")
    child = run_child(argv)
    stats = sim.stats()
    reqs = stats["requests"]
    return {
        "run": label,
        "exit": child["exit_code"],
        "requests": sum(reqs.values()),
        "collection_requests": sum(n for k, n in reqs.items() if k.endswith("/collection")),
        "per_parent_requests": sum(n for k, n in reqs.items() if "{id}" in k),
        "tokens": stats.get("tokens_spent"),
        "seconds": child["seconds"],
        "extract_s": child["steps"].get("extract"),
        "load_s": child["steps"].get("load"),
        "rows_this_run": sum(v for k, v in child["rows_this_run"].items() if not k.startswith("_dlt")),
        "peak_rss_mb": child["peak_rss_mb"],
        **{f"peak_rss_mb_{k}": v for k, v in child.get("peak_rss_mb_by_step", {}).items()},
        "requests_by_endpoint": reqs,
    }


def change_one_percent(sim: Any, n_deals: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    done: dict[str, int] = {}
    for entity, (per_deal, field) in CHANGED.items():
        total = max(1, int(n_deals * per_deal))
        k = max(1, total // 100)
        ids = rng.sample(range(1, total + 1), k)
        for i in ids:
            sim.api("PUT", f"/{entity}/{i}", json={field: f"changed {i} at {time.time():.0f}"})
        done[entity] = k
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limits", action="store_true", help="Professional burst limits on for every run")
    parser.add_argument("--no-children", action="store_true", help="skip per-parent child endpoints")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR / "incremental.json"))
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-inc-") as tmp, \
            simulator_process(args.deals, rate_limit=args.limits, frozen_clock=FROZEN) as sim:
        work = Path(tmp)
        results.append(run(sim, work, "backfill", args.workers, args.no_children))
        sim.clock(advance=60)
        results.append(run(sim, work, "no change", args.workers, args.no_children))
        changed = change_one_percent(sim, args.deals, args.seed)
        sim.clock(advance=60)
        results.append({**run(sim, work, "1 % changed", args.workers, args.no_children),
                        "records_changed": sum(changed.values())})
    print_table(f"incremental runs, {args.deals:,} deals (frozen clock; limits {'on' if args.limits else 'off'})",
                results)
    write_json(args.out, {"benchmark": "incremental", "machine": machine(), "args": vars(args),
                          "changed": changed, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
