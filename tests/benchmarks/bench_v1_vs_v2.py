"""Tokens per 1,000 rows, API v1 vs API v2 (a script, not collected by pytest).

Syncs the same simulated company (frozen clock, rate limits off) twice into fresh DuckDB files, once with
``api_version="v1"`` and once with ``"v2"``, for the entities v2 serves, and prints what each spent as the
simulator counted it (``/_sim/stats``, token costs from token_costs.tsv):

    python tests/benchmarks/bench_v1_vs_v2.py --scale 2000 [--no-children] [--changes 200]

Columns: rows = entity rows loaded (deals, persons, organizations, activities, products, pipelines,
stages); all_rows = incl. child and metadata tables; tokens/1k = tokens per 1,000 entity rows; list
tokens = tokens of the entity lists alone (no per-parent children, no field metadata). ``--changes N``
then updates N deals and N persons and runs an incremental sync on both pipelines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipedrive_source.runner import make_pipeline, run_sync
from pipedrive_source.simulator import SimulatorConfig, run_simulator

ENTITIES = ["deals", "persons", "organizations", "activities", "products", "pipelines", "stages"]
FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
LISTS = {f"GET /{v}/{e}{s}" for v in ("v1", "v2") for e in ENTITIES for s in ("", "/collection", "/archived")}


def run(sim: Any, pipeline: Any, version: str, children: bool) -> dict[str, Any]:
    httpx.post(f"{sim.url}/_sim/reset", json={}, timeout=10)
    t0 = time.perf_counter()
    result = run_sync(pipeline, api_token=sim.config.api_token, base_url=sim.base_url, entities=ENTITIES,
                      api_version=version, children=children, max_workers=4)
    seconds = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(f"{version} sync failed: {result.message}")
    stats = httpx.get(f"{sim.url}/_sim/stats", timeout=10).json()
    costs = sim.app.costs
    list_tokens = 0
    for key, n in stats["requests"].items():
        if key in LISTS:
            method, path = key.split(" ", 1)
            ver, _, template = path[1:].partition("/")
            list_tokens += n * costs.cost(ver, method, "/" + template)
    rows = sum(result.rows.get(e, 0) for e in ENTITIES)
    return {"version": version, "rows": rows, "all_rows": sum(result.rows.values()),
            "requests": sum(stats["requests"].values()), "tokens": stats["tokens_spent"],
            "list_tokens": list_tokens, "seconds": seconds}


def report(title: str, results: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'api':<4} {'rows':>8} {'all_rows':>9} {'requests':>9} {'tokens':>8} {'tokens/1k':>10} "
          f"{'list tok':>9} {'list tok/1k':>12} {'seconds':>8}")
    for r in results:
        per_k = 1000 * r["tokens"] / r["rows"] if r["rows"] else float("nan")
        list_k = 1000 * r["list_tokens"] / r["rows"] if r["rows"] else float("nan")
        print(f"{r['version']:<4} {r['rows']:>8} {r['all_rows']:>9} {r['requests']:>9} {r['tokens']:>8} "
              f"{per_k:>10.1f} {r['list_tokens']:>9} {list_k:>12.1f} {r['seconds']:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=2000, help="deals in the simulated company")
    ap.add_argument("--no-children", action="store_true", help="skip per-parent child tables")
    ap.add_argument("--changes", type=int, default=0, help="then update N deals + N persons and sync again")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, run_simulator(
            SimulatorConfig(scale=args.scale, rate_limit=False, start_time=FROZEN)) as sim:
        pipes = {v: make_pipeline("duckdb", duckdb_path=Path(tmp) / f"{v}.duckdb", pipelines_dir=Path(tmp) / "dlt",
                                  pipeline_name=f"bench_{v}") for v in ("v1", "v2")}
        results = [run(sim, pipes[v], v, not args.no_children) for v in ("v1", "v2")]
        report(f"backfill, scale {args.scale}, children {'off' if args.no_children else 'on'}", results)
        if args.changes:
            sim.clock.advance(3600)
            headers = {"x-api-token": sim.config.api_token}
            with httpx.Client(base_url=sim.base_url, headers=headers, timeout=30) as c:
                for i in range(1, args.changes + 1):
                    c.put(f"/deals/{i}", json={"title": f"bench change {i}"}).raise_for_status()
                    c.put(f"/persons/{i}", json={"name": f"Bench Person {i}"}).raise_for_status()
            sim.clock.advance(60)
            results = [run(sim, pipes[v], v, not args.no_children) for v in ("v1", "v2")]
            report(f"incremental after {args.changes} deal + {args.changes} person changes", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
