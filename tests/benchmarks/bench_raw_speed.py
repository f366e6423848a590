"""Benchmark: raw end-to-end sync speed with rate limits OFF, into DuckDB and PostgreSQL, and the
peak RSS of the sync process as the company grows (memory must stay flat in N).

For each size the simulator (own process, ``--no-rate-limit``) serves a company of N deals; a child
process runs a full backfill of the cursor entities (deals, persons, organizations, activities;
``--all`` = the default entity set incl. per-parent children) into a fresh DuckDB file and, unless
``--no-postgres``, into a throw-away PostgreSQL server started with initdb/pg_ctl
(``tests/fixtures/postgres.py``'s ``PostgresServer``).

    python tests/benchmarks/bench_raw_speed.py --sizes 100000,1000000
    python tests/benchmarks/bench_raw_speed.py --sizes 5000,20000      # quick run

Writes JSON to ``--out``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    CURSOR_ENTITIES,
    DEFAULT_OUT_DIR,
    ROOT,
    machine,
    print_table,
    run_child,
    simulator_process,
    write_json,
)


def _postgres() -> Any:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.postgres import PostgresServer, _find_bindir

    # its own top-level temp dir: as root the server runs as `postgres`, which must reach it
    server = PostgresServer(bindir=_find_bindir(), base_dir=Path(tempfile.mkdtemp(prefix="bench-pg-")))
    server.start()
    return server


def one_run(sim: Any, work: Path, destination: str, credentials: str | None, n: int, all_entities: bool,
            workers: int, parse_processes: str = "auto") -> dict[str, Any]:
    name = f"{destination}-{n}"
    argv = [str(Path(__file__).with_name("bench_common.py")), "sync", "--base-url", sim.base_url,
            "--pipelines-dir", str(work / f"{name}-dlt"), "--workers", str(workers), "--destination", destination,
            "--parse-processes", parse_processes]
    if destination == "duckdb":
        argv += ["--duckdb-path", str(work / f"{name}.duckdb")]
    else:
        argv += ["--credentials", credentials or ""]
    if not all_entities:
        argv += ["--entities", ",".join(CURSOR_ENTITIES), "--no-children"]
    sim.reset(limits=True)
    child = run_child(argv)
    stats = sim.stats()
    counts = child["table_counts"]
    rows = sum(v for k, v in counts.items() if not k.startswith("_dlt")) if all_entities \
        else sum(counts.get(e, 0) for e in CURSOR_ENTITIES)
    secs = child["seconds"]
    return {
        "destination": destination,
        "deals": n,
        "exit": child["exit_code"],
        "rows": rows,
        "wall_s": secs,
        "extract_s": child["steps"].get("extract"),
        "normalize_s": child["steps"].get("normalize"),
        "load_s": child["steps"].get("load"),
        "rows_per_s": round(rows / secs, 1) if secs else None,
        "requests": sum(stats["requests"].values()),
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_rss_mb_workers": child.get("peak_rss_mb_children"),  # all parse workers together
        **{f"peak_rss_mb_{k}": v for k, v in child.get("peak_rss_mb_by_step", {}).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated deal counts")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--all", action="store_true", help="default entity set incl. per-parent children")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--parse-processes", default="auto", help="parse_processes of the syncs")
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR / "raw_speed.json"))
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results: list[dict[str, Any]] = []
    pg = None
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        work = Path(tmp)
        try:
            if not args.no_postgres:
                pg = _postgres()
            for n in sizes:
                with simulator_process(n, rate_limit=False) as sim:
                    results.append(one_run(sim, work, "duckdb", None, n, args.all, args.workers,
                                           args.parse_processes))
                    print_table(f"{n:,} deals", results[-1:])
                    if pg is not None:
                        db = pg.create_database(f"bench_{n}")
                        results.append(one_run(sim, work, "postgres", db.dlt_credentials, n, args.all,
                                               args.workers, args.parse_processes))
                        print_table(f"{n:,} deals", results[-1:])
        finally:
            if pg is not None:
                pg.stop()
    print_table("raw speed (rate limits off), cursor entities" + (" + everything" if args.all else ""), results)
    by_dest: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_dest.setdefault(r["destination"], []).append(r)
    flat = {}
    for dest, rs in by_dest.items():
        if len(rs) >= 2:
            lo, hi = rs[0], rs[-1]
            flat[dest] = {"rss_ratio": round(hi["peak_rss_mb"] / lo["peak_rss_mb"], 2), "n_ratio": hi["deals"] / lo["deals"]}
            print(f"{dest}: peak RSS x{flat[dest]['rss_ratio']} for x{flat[dest]['n_ratio']:g} deals")
    write_json(args.out, {"benchmark": "raw_speed", "machine": machine(), "args": vars(args), "results": results,
                          "memory_growth": flat})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
