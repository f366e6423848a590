"""Secrets in failures: a refused token and a server that never recovers end the sync with a clear
message — which must name what failed but never the API token, the OAuth client secret or tokens.
(Every other reliability test scans its logs too: see ``conftest.secret_scan``.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipedrive_source.runner import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, run_sync
from tests.sync_helpers import duckdb_pipeline

from .conftest import new_token

pytestmark = pytest.mark.reliability


def test_wrong_token_and_dead_server_messages_hold_no_secret(simulator_factory, tmp_path: Path, caplog,
                                                             secret_scan, reliability_report) -> None:
    good = new_token("pd-good")
    wrong = new_token("pd-wrong")
    secret_scan.add_secret(good, wrong)
    sim = simulator_factory(scale=5, rate_limit=False, api_token=good)
    caplog.set_level(logging.DEBUG)

    refused = run_sync(duckdb_pipeline(tmp_path, "wrong"), api_token=wrong, base_url=sim.base_url,
                       entities=["deals"])
    secret_scan.add_text("wrong-token message", refused.message)
    assert refused.exit_code == EXIT_CONFIG, refused.message
    assert "401" in refused.message or "unauthor" in refused.message.lower(), refused.message

    sim.set_faults("500:1.0,seed=1")  # the server never recovers
    dead = run_sync(duckdb_pipeline(tmp_path, "dead"), api_token=good, base_url=sim.base_url, entities=["deals"],
                    max_retries=1, max_retry_time=5.0)
    secret_scan.add_text("dead-server message", dead.message)
    assert dead.exit_code == EXIT_FAILURE, dead.message
    assert "500" in dead.message, dead.message
    sim.set_faults(None)
    # the same token still works: nothing was left in a broken state
    ok = run_sync(duckdb_pipeline(tmp_path, "ok"), api_token=good, base_url=sim.base_url, entities=["users"])
    assert ok.exit_code == EXIT_OK, ok.message
    reliability_report(faults="401 wrong token; 500 x all", runs=3, completed=1, rows_lost=0, rows_duplicated=0)
