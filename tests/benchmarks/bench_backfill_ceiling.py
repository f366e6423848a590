"""Benchmark: a full backfill into DuckDB against Pipedrive's rate-limit ceiling.

The simulator runs in its own process with Professional API-token limits (100 requests per
rolling 2 s = 50 req/s) and token costs on. Two phases:

1. cursor entities only (deals, persons, organizations, activities; ``children=False``): rows/s
   against the ceiling of ``500 rows/page x 50 pages/s = 25,000 rows/s``, tokens spent against the
   minimum for those rows (``ceil(rows/500)`` pages x 10 tokens per entity and stream), 429s, lockouts;
2. (``--children-deals N``, 0 = skip) a default sync incl. per-parent children (deal products,
   participants, followers: one request per parent in v1) on a smaller company: requests/s against
   the burst ceiling of 50 req/s.

    python tests/benchmarks/bench_backfill_ceiling.py --deals 200000 --children-deals 2000
    python tests/benchmarks/bench_backfill_ceiling.py --deals 20000   # quick run
    python tests/benchmarks/bench_backfill_ceiling.py --deals 50000 --parse-processes 0,auto  # before/after

``--parse-processes`` takes a comma list: the cursor phase runs once per value against the same
simulated company (each into a fresh DuckDB file), so the ratios of one run can be compared.

Each sync runs in a child process (peak RSS measured there). Writes JSON to ``--out``.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    CURSOR_ENTITIES,
    DEFAULT_OUT_DIR,
    PAGE,
    machine,
    print_table,
    run_child,
    simulator_process,
    status_count,
    total_requests,
    write_json,
)

BURST = {"essential": 20, "advanced": 40, "professional": 100, "enterprise": 120}
WINDOW_S = 2.0
COLLECTION_TOKENS = 10


def min_tokens(rows: dict[str, int]) -> int:
    """Fewest tokens that can list these rows through /collection (deals: + 1 page of the deleted stream)."""
    pages = sum(max(1, math.ceil(n / PAGE)) for n in rows.values())
    return (pages + 1) * COLLECTION_TOKENS


def sync_phase(sim: Any, work: Path, name: str, *, entities: list[str] | None, children: bool,
               workers: int, plan: str, parse_processes: str = "auto") -> dict[str, Any]:
    sim.reset(limits=True)
    argv = [str(Path(__file__).with_name("bench_common.py")), "sync", "--base-url", sim.base_url,
            "--duckdb-path", str(work / f"{name}.duckdb"), "--pipelines-dir", str(work / f"{name}-dlt"),
            "--workers", str(workers), "--plan", plan, "--parse-processes", parse_processes]
    if entities:
        argv += ["--entities", ",".join(entities)]
    if not children:
        argv.append("--no-children")
    sim_cpu_before = sim.cpu_seconds()
    child = run_child(argv)
    sim_cpu = sim.cpu_seconds() - sim_cpu_before
    stats = sim.stats()
    return {"child": child, "sim": stats, "sim_cpu_s": round(sim_cpu, 2)}


def cpu_report(phase: dict[str, Any], rows: int, ceiling_rows: float) -> dict[str, Any]:
    """Where the wall time goes on this machine: CPU per row of the sync and of the simulator, and
    the rows/s the machine's cores allow at that cost (both processes share them) against the ceiling.
    A ``ratio_cpu_bound_ceiling`` below 0.9 means this machine cannot reach the goal at today's cost
    per row, whatever the concurrency."""
    sync_cpu, sim_cpu = float(phase["child"].get("cpu_s") or 0.0), float(phase["sim_cpu_s"])
    cores = os.cpu_count() or 1
    per_row = (sync_cpu + sim_cpu) / rows if rows else 0.0
    bound = cores / per_row if per_row else 0.0
    return {
        "sync_cpu_s": round(sync_cpu, 1),
        "sim_cpu_s": round(sim_cpu, 1),
        "cores_busy": round((sync_cpu + sim_cpu) / phase["child"]["seconds"], 2),
        "cpu_us_per_row_sync": round(1e6 * sync_cpu / rows, 1) if rows else None,
        "cpu_us_per_row_sim": round(1e6 * sim_cpu / rows, 1) if rows else None,
        "cpu_bound_rows_per_s": round(bound, 1),
        "ratio_cpu_bound_ceiling": round(bound / ceiling_rows, 3),
    }


def cursor_report(phase: dict[str, Any], ceiling_req_s: float) -> dict[str, Any]:
    child, stats = phase["child"], phase["sim"]
    rows = {e: int(child["table_counts"].get(e, 0)) for e in CURSOR_ENTITIES}
    total_rows = sum(rows.values())
    extract_s = child["steps"].get("extract") or child["seconds"]
    secs = child["seconds"]
    reqs = total_requests(stats)
    ceiling_rows = PAGE * ceiling_req_s
    need = min_tokens(rows)
    return {
        "phase": "cursor entities",
        "parse_processes": phase.get("parse_processes", "auto"),
        "exit": child["exit_code"],
        "rows": total_rows,
        **{f"rows_{e}": n for e, n in rows.items()},
        "wall_s": secs,
        "extract_s": extract_s,
        "normalize_s": child["steps"].get("normalize"),
        "load_s": child["steps"].get("load"),
        "rows_per_s": round(total_rows / secs, 1),
        "rows_per_s_extract": round(total_rows / extract_s, 1),
        "ceiling_rows_per_s": ceiling_rows,
        "ratio_rows_ceiling": round(total_rows / secs / ceiling_rows, 3),
        "ratio_rows_ceiling_extract": round(total_rows / extract_s / ceiling_rows, 3),
        "requests": reqs,
        "req_per_s": round(reqs / secs, 2),
        "ratio_req_burst": round(reqs / secs / ceiling_req_s, 3),
        "tokens": stats.get("tokens_spent"),
        "tokens_min": need,
        "ratio_tokens_min": round((stats.get("tokens_spent") or 0) / need, 3),
        "http_429": status_count(stats, "429"),
        "lockouts": stats.get("lockouts", 0),
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_rss_mb_workers": child.get("peak_rss_mb_children"),  # all parse workers together
        **{f"peak_rss_mb_{k}": v for k, v in child.get("peak_rss_mb_by_step", {}).items()},
        **cpu_report(phase, total_rows, ceiling_rows),
    }


def children_report(phase: dict[str, Any], ceiling_req_s: float) -> dict[str, Any]:
    child, stats = phase["child"], phase["sim"]
    reqs = total_requests(stats)
    per_parent = sum(n for k, n in stats["requests"].items() if "{id}" in k)
    extract_s = child["steps"].get("extract") or child["seconds"]
    return {
        "phase": "default sync (children)",
        "exit": child["exit_code"],
        "rows": sum(n for t, n in child["table_counts"].items() if not t.startswith("_dlt")),
        "wall_s": child["seconds"],
        "extract_s": extract_s,
        "requests": reqs,
        "per_parent_requests": per_parent,
        "req_per_s": round(reqs / child["seconds"], 2),
        "req_per_s_extract": round(reqs / extract_s, 2),
        "ratio_req_burst": round(reqs / child["seconds"] / ceiling_req_s, 3),
        "ratio_req_burst_extract": round(reqs / extract_s / ceiling_req_s, 3),
        "tokens": stats.get("tokens_spent"),
        "http_429": status_count(stats, "429"),
        "lockouts": stats.get("lockouts", 0),
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_rss_mb_workers": child.get("peak_rss_mb_children"),  # all parse workers together
        **{f"peak_rss_mb_{k}": v for k, v in child.get("peak_rss_mb_by_step", {}).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200_000, help="company size for the cursor phase")
    parser.add_argument("--children-deals", type=int, default=0,
                        help="company size for the default sync with per-parent children (0 = skip)")
    parser.add_argument("--plan", default="professional")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--parse-processes", default="auto",
                        help="comma list of parse_processes values for the cursor phase (e.g. 0,auto)")
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR / "backfill_ceiling.json"))
    args = parser.parse_args(argv)
    ceiling_req_s = BURST[args.plan] / WINDOW_S
    reports: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        work = Path(tmp)
        with simulator_process(args.deals, rate_limit=True, plan=args.plan) as sim:
            for pp in args.parse_processes.split(","):
                phase = sync_phase(sim, work, f"cursor-pp{pp}", entities=CURSOR_ENTITIES, children=False,
                                   workers=args.workers, plan=args.plan, parse_processes=pp)
                phase["parse_processes"] = pp
                raw[f"cursor-pp{pp}"] = phase
                reports.append({"deals": args.deals, **cursor_report(phase, ceiling_req_s)})
        if args.children_deals:
            with simulator_process(args.children_deals, rate_limit=True, plan=args.plan) as sim:
                phase = sync_phase(sim, work, "children", entities=None, children=True,
                                   workers=args.workers, plan=args.plan)
                raw["children"] = phase
                reports.append({"deals": args.children_deals, **children_report(phase, ceiling_req_s)})
    print_table(f"full backfill, {args.plan} API token ({BURST[args.plan]} req / 2 s = {ceiling_req_s:g} req/s)",
                reports)
    for cur in reports:
        if cur["phase"] != "cursor entities":
            continue
        ok = 0.9 <= cur["ratio_rows_ceiling"] <= 1.05
        print(f"\nparse_processes={cur['parse_processes']}: goal 0.9 <= rows/s / ceiling <= 1.05: "
              f"{cur['ratio_rows_ceiling']} -> {'PASS' if ok else 'MISS'}")
    write_json(args.out, {"benchmark": "backfill_ceiling", "machine": machine(), "args": vars(args),
                          "results": reports, "raw": raw})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
