"""Kill and resume: SIGKILL ``pipedrive-sync run`` at seeded random points of backfill, incremental,
normalize and load; the next run must finish the job with 0 rows lost and 0 duplicated.

One company, one DuckDB file, one dlt pipelines dir across all runs — like a cron job on a box
that loses power. Between the incremental-phase runs the company changes through the write API
(updates, new records, deleted deals), so every kill there interrupts real work.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.sync_helpers import api

from .conftest import new_token
from .harness import RunOutcome, Trigger, run_cli
from .truth import Diff, compare, duckdb_query

pytestmark = pytest.mark.reliability

SEED = 20261123
FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
ENTITIES = "deals,persons,organizations,activities,products,notes,leads,users"
TRUTH = ("deals", "persons", "organizations", "activities", "products", "notes", "leads")


def _backfill_triggers(rng: random.Random) -> list[Trigger]:
    return [
        Trigger("requests", rng.randint(5, 60)),
        Trigger("normalize", delay=rng.uniform(0.0, 0.08)),
        Trigger("requests", rng.randint(5, 60)),
        Trigger("delay", rng.uniform(1.5, 4.0)),
        Trigger("normalize", delay=rng.uniform(0.0, 0.08)),
        Trigger("load", delay=rng.uniform(0.0, 1.0)),
    ]


def _incremental_triggers(rng: random.Random) -> list[Trigger]:
    return [
        Trigger("requests", rng.randint(2, 12)),
        Trigger("normalize", delay=rng.uniform(0.0, 0.08)),
        Trigger("load", delay=rng.uniform(0.0, 1.0)),
        Trigger("requests", rng.randint(2, 12)),
        Trigger("load", delay=rng.uniform(0.0, 1.0)),
        Trigger("normalize", delay=rng.uniform(0.0, 0.08)),
        Trigger("requests", rng.randint(2, 12)),
        Trigger("delay", rng.uniform(1.0, 3.0)),
    ]


def _mutate(sim: Any, rng: random.Random, round_no: int) -> int:
    """A few updates, a new person and a deleted deal; the clock then moves past the safety lag."""
    deal_ids = [r["id"] for r in sim.company.visible("deals")]
    changes = 0
    for did in rng.sample(deal_ids, 3):
        api(sim, "PUT", f"/deals/{did}", json={"title": f"kill round {round_no} deal {did}"})
        changes += 1
    api(sim, "POST", "/persons", json={"name": f"Killed Round {round_no}", "email": [f"k{round_no}@example.com"]})
    act = rng.choice([r["id"] for r in sim.company.visible("activities")])
    api(sim, "PUT", f"/activities/{act}", json={"subject": f"round {round_no}"})
    api(sim, "DELETE", f"/deals/{rng.choice(deal_ids)}")
    sim.clock.advance(60)
    return changes + 3


def test_sigkill_at_random_points_then_resume_is_exact(simulator_factory, tmp_path: Path, secret_scan,
                                                       reliability_report) -> None:
    token = new_token("pd-kill")
    secret_scan.add_secret(token)
    sim = simulator_factory(scale=30, rate_limit=False, start_time=FROZEN, api_token=token)
    rng = random.Random(SEED)
    db, dlt_dir = tmp_path / "kill.duckdb", tmp_path / "dlt"
    query = duckdb_query(db)
    outcomes: list[tuple[str, RunOutcome]] = []
    checks: list[tuple[int, str, Diff]] = []  # after every run that was not killed

    def run(trigger: Trigger | None, phase: str) -> RunOutcome:
        out = run_cli(sim, token, db, dlt_dir, trigger=trigger, extra_args=["--entities", ENTITIES])
        secret_scan.add_text(f"run {len(outcomes)} stdout", out.stdout)
        secret_scan.add_text(f"run {len(outcomes)} stderr", out.stderr)
        outcomes.append((phase, out))
        assert out.killed or out.returncode == 0, \
            f"{trigger}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        if not out.killed:  # a run that finished must leave the destination equal to the truth
            checks.append((len(outcomes) - 1, f"{phase} run after '{outcomes[-2][1].trigger}'"
                           if len(outcomes) > 1 else phase, compare(sim.company, query, TRUTH)))
        return out

    for trigger in _backfill_triggers(rng):
        run(trigger, "backfill")
    run(None, "backfill")
    changes = 0
    for i, trigger in enumerate(_incremental_triggers(rng)):
        changes += _mutate(sim, rng, i)
        run(trigger, "incremental")
    run(None, "incremental")

    kills = [(phase, o) for phase, o in outcomes if o.killed]
    where = [f"{phase}/{o.killed_in}" for phase, o in kills]
    bad = [(i, label, d.explain()) for i, label, d in checks if not d.exact]
    final = checks[-1][2]
    reliability_report(
        faults=f"SIGKILL x{len(kills)} ({', '.join(where)})",
        runs=len(outcomes), completed=len(checks), inexact_completed_runs=len(bad), changes=changes,
        rows_lost=max(d.rows_lost for _, _, d in checks), rows_duplicated=max(d.rows_duplicated for _, _, d in checks),
        rows_checked=sum(final.checked.values()),
    )
    assert not bad, bad
    # the kills really were spread over the phases of a run and over both kinds of run
    in_phase = {p: sum(1 for _, o in kills if o.killed_in == p) for p in ("extract", "normalize", "load")}
    assert len(kills) >= 10, [(p, o.trigger, o.returncode) for p, o in outcomes]
    # normalize is the shortest step (well under a second here): one kill inside it is enough
    assert in_phase["extract"] >= 2 and in_phase["load"] >= 2 and in_phase["normalize"] >= 1, in_phase
    assert sum(1 for phase, _ in kills if phase == "incremental") >= 3, where
