"""Daily budget: the token budget runs out mid-backfill -> ``pipedrive-sync run`` exits 3 with its
progress saved -> the simulated day advances (``POST /_sim/day``) -> the next run continues where
the last stopped (no restart from scratch) -> after the last run the data is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from .conftest import new_token
from .harness import PIPELINE, run_cli
from .truth import compare, duckdb_query

pytestmark = pytest.mark.reliability

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
ENTITIES = "deals,persons,organizations,activities,products,notes,leads,users"
TRUTH = ("deals", "persons", "organizations", "activities", "products", "notes", "leads")
BUDGET = 1500  # tokens/day; a full backfill of this company costs ~3,400


def _resource_state(pipelines_dir: Path) -> dict:
    state = orjson.loads((pipelines_dir / PIPELINE / "state.json").read_bytes())
    return state.get("sources", {}).get("pipedrive", {}).get("resources", {})


def test_budget_stop_exit_3_then_next_day_resumes_exactly(simulator_factory, tmp_path: Path, secret_scan,
                                                          reliability_report) -> None:
    token = new_token("pd-budget")
    secret_scan.add_secret(token)
    sim = simulator_factory(scale=30, rate_limit=True, plan="professional", daily_budget=BUDGET,
                            start_time=FROZEN, api_token=token)
    db, dlt_dir = tmp_path / "budget.duckdb", tmp_path / "dlt"
    query = duckdb_query(db)
    exits: list[int] = []
    tokens: list[int] = []
    progress: list[int] = []
    for day in range(10):
        before = sim.stats()["tokens_spent"]
        out = run_cli(sim, token, db, dlt_dir, extra_args=["--entities", ENTITIES],
                      env={"SOURCES__PIPEDRIVE__DAILY_RESERVE": "0.1"})
        secret_scan.add_text(f"day {day} stdout", out.stdout)
        secret_scan.add_text(f"day {day} stderr", out.stderr)
        exits.append(out.returncode)
        tokens.append(sim.stats()["tokens_spent"] - before)
        assert out.returncode in (0, 3), f"exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        if out.returncode == 0:
            break
        assert "Run again after" in out.stdout + out.stderr, out.stdout + out.stderr
        # state saved: what was fetched is loaded and the resume point is recorded
        state = _resource_state(dlt_dir)
        assert any(k in s for s in state.values() for k in ("pending", "last_until", "high_water")), state
        loaded = sum(r["n"] for r in query(
            "select count(*) as n from information_schema.tables where table_schema = '{schema}'"))
        progress.append(loaded)
        httpx.post(f"{sim.url}/_sim/day", timeout=10).raise_for_status()
    diff = compare(sim.company, query, TRUTH)
    reliability_report(faults=f"daily budget {BUDGET} tokens", runs=len(exits),
                       completed=exits.count(0), budget_stops=exits.count(3), tokens_per_day=tokens,
                       rows_lost=diff.rows_lost, rows_duplicated=diff.rows_duplicated,
                       rows_checked=sum(diff.checked.values()))
    assert exits[0] == 3, exits  # the budget really ran out mid-backfill
    assert exits[-1] == 0, exits
    # each day spends (nearly) its budget on new work: a run that started over would never finish
    assert len(exits) <= 8, (exits, tokens)
    assert all(t <= BUDGET for t in tokens), tokens
    assert diff.exact, diff.explain()
