"""Checkpointed backfills: a long backfill loads in rounds (``checkpoint_seconds``) so a crash loses at
most one round. Pausing must not cost the pages again: the same company synced with a checkpoint
every second must spend (nearly) the requests of an unpaused run and report the same rows.

The paused run's pages are answered 0.4 s late (a ``slow`` fault), so its backfill outlasts the
1 s checkpoint on any machine: 20+ pages over 4 workers take >= 2 s however fast we parse.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipedrive_source.runner import EXIT_OK
from tests.sync_helpers import duckdb_pipeline, sync

from .conftest import new_token
from .truth import compare, pipeline_query

pytestmark = pytest.mark.reliability

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
KEY = "GET /v1/persons/collection"


def test_checkpoint_rounds_do_not_refetch_pages(simulator_factory, tmp_path: Path, caplog, secret_scan,
                                                reliability_report) -> None:
    token = new_token("pd-ckpt")
    secret_scan.add_secret(token)
    sim = simulator_factory(scale=10_000, rate_limit=False, start_time=FROZEN, api_token=token)  # 20 pages

    plain = sync(sim, duckdb_pipeline(tmp_path, "plain"), entities=["persons"], children=False)
    plain_requests = sim.stats()["requests"][KEY]
    sim.reset_stats()
    sim.set_faults("slow:1.0@0.4,paths=/persons/collection")
    caplog.set_level(logging.INFO, logger="pipedrive_source.runner")
    pipeline = duckdb_pipeline(tmp_path, "rounds")
    rounds = sync(sim, pipeline, entities=["persons"], children=False, checkpoint_seconds=1)
    round_requests = sim.stats()["requests"][KEY]
    n_rounds = 1 + sum("checkpoint: round" in r.getMessage() for r in caplog.records)
    diff = compare(sim.company, pipeline_query(pipeline), ("persons",), ("person_emails",))
    reliability_report(faults=f"checkpoint every 1 s ({n_rounds} rounds)", runs=2,
                       completed=int(plain.exit_code == EXIT_OK) + int(rounds.exit_code == EXIT_OK),
                       requests_plain=plain_requests, requests_rounds=round_requests,
                       rows_lost=diff.rows_lost, rows_duplicated=diff.rows_duplicated)
    assert plain.exit_code == EXIT_OK and rounds.exit_code == EXIT_OK, (plain.message, rounds.message)
    assert n_rounds >= 2, "the backfill never paused: make the company bigger"
    assert diff.exact, diff.explain()
    # a pause may re-read the pages that were in flight (one per concurrent slice), not the backfill
    assert round_requests <= plain_requests + 4 * n_rounds, (plain_requests, round_requests, n_rounds)
    assert rounds.rows.get("persons") == plain.rows.get("persons"), (plain.rows, rounds.rows)
