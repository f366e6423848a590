"""Fault storms: the simulator answers a large share of requests with 5xx (JSON or HTML), dropped
connections, truncated JSON, HTML pages with status 200 and runs of 429s; the sync must finish and
the data must be exact. One run with an API token, one with OAuth access tokens that expire mid-run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipedrive_source.runner import EXIT_OK, run_sync
from tests.sync_helpers import duckdb_pipeline, sync

from .conftest import new_token
from .truth import compare, pipeline_query

pytestmark = pytest.mark.reliability

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
# 20 % 5xx + 3 % resets + 3 % truncated JSON + 3 % HTML 200 + 429 storms of 3 (1 %)
STORM = "500:0.06,502:0.05,503:0.05,504:0.04,reset:0.03,truncate:0.03,html200:0.03,429:0.01@1x3,seed={seed}"
ENTITIES = ["deals", "persons", "organizations", "activities", "products", "notes", "leads", "users", "stages"]


def _faults(sim: Any) -> str:
    injected = sim.stats().get("faults", {})
    return ",".join(f"{k}x{v}" for k, v in sorted(injected.items())) or "none"


@pytest.mark.parametrize("seed", [7])
def test_fault_storm_with_api_token_is_exact(simulator_factory, tmp_path: Path, secret_scan, reliability_report,
                                            seed: int) -> None:
    token = new_token("pd-storm")
    secret_scan.add_secret(token)
    sim = simulator_factory(scale=20, rate_limit=False, start_time=FROZEN, api_token=token,
                            faults=STORM.format(seed=seed))
    p = duckdb_pipeline(tmp_path)
    result = sync(sim, p, entities=ENTITIES)
    secret_scan.add_text("result message", result.message)
    stats = sim.stats()
    sim.set_faults(None)
    diff = compare(sim.company, pipeline_query(p))
    reliability_report(faults=_faults(sim), requests=sum(stats["requests"].values()),
                       runs=1, completed=int(result.exit_code == EXIT_OK), client_retries=result.client_stats.get("retries"),
                       rows_lost=diff.rows_lost, rows_duplicated=diff.rows_duplicated,
                       rows_checked=sum(diff.checked.values()))
    assert result.exit_code == EXIT_OK, result.message
    assert sum(stats.get("faults", {}).values()) >= 20, stats.get("faults")  # the storm really blew
    assert diff.exact, diff.explain()


def test_fault_storm_with_expiring_oauth_tokens_is_exact(simulator_factory, tmp_path: Path, secret_scan,
                                                        reliability_report) -> None:
    client_id, client_secret = new_token("pd-client"), new_token("pd-secret")
    # the client refreshes 120 s before the announced expiry: 125 s tokens are stale after 5 s
    sim = simulator_factory(scale=20, rate_limit=False, api_token=new_token("pd-unused"),
                            oauth_client=(client_id, client_secret), access_token_ttl=125.0,
                            faults="500:0.06,502:0.05,503:0.05,504:0.04,reset:0.03,truncate:0.03,html200:0.03,seed=3")
    pair = sim.oauth_tokens()
    secret_scan.add_secret(client_secret, pair["refresh_token"], pair["access_token"], sim.config.api_token)
    p = duckdb_pipeline(tmp_path)
    token_file = tmp_path / "oauth" / "token.json"
    entities = ENTITIES
    result = run_sync(p, api_token=None, base_url=sim.base_url, oauth_client_id=client_id,
                      oauth_client_secret=client_secret, oauth_refresh_token=pair["refresh_token"],
                      oauth_token_file=str(token_file), oauth_token_url=f"{sim.url}/oauth/token",
                      entities=entities, max_workers=4)
    secret_scan.add_text("result message", result.message)
    stats = sim.stats()
    sim.set_faults(None)
    diff = compare(sim.company, pipeline_query(p))
    reliability_report(faults=_faults(sim), requests=sum(stats["requests"].values()),
                       token_refreshes=result.client_stats.get("token_refreshes"),
                       runs=1, completed=int(result.exit_code == EXIT_OK),
                       rows_lost=diff.rows_lost, rows_duplicated=diff.rows_duplicated,
                       rows_checked=sum(diff.checked.values()))
    assert result.exit_code == EXIT_OK, result.message
    assert diff.exact, diff.explain()
    assert (result.client_stats.get("token_refreshes") or 0) >= 1  # the access token did expire mid-run
    if token_file.exists():  # rotated tokens persist privately
        assert token_file.stat().st_mode & 0o077 == 0
        # the file holds the rotated refresh token: register it too, it must not leak elsewhere
        data = orjson.loads(token_file.read_bytes())
        secret_scan.add_secret(data.get("refresh_token"), data.get("access_token"))
