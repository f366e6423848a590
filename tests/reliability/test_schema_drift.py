"""Schema drift during a run: custom fields are added, renamed and deleted (write API on /dealFields)
after the first /deals/collection page was served and before the next one, so one run sees two
field layouts. The run must finish with exact data; the next run must pick the new field up.

The hook: a watcher thread polls the in-process simulator's stats and mutates the fields the
moment the first collection page has been answered; later collection pages are held back by a
``slow`` fault so the change lands between pages on any machine.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipedrive_source.runner import EXIT_OK
from tests.sync_helpers import api, duckdb_pipeline, rows, sync

from .conftest import new_token
from .truth import compare, pipeline_query

pytestmark = pytest.mark.reliability

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
PAGE_KEY = "GET /v1/deals/collection"


def _field(sim: Any, name: str) -> dict[str, Any]:
    return next(f for f in sim.company.fields["deals"] if f["name"] == name)


def test_fields_added_renamed_deleted_between_pages(simulator_factory, tmp_path: Path, secret_scan,
                                                    reliability_report) -> None:
    token = new_token("pd-drift")
    secret_scan.add_secret(token)
    # 1,200 deals = 3 pages of 500; pages after the first are answered 1.5 s late
    sim = simulator_factory(scale=1200, rate_limit=False, start_time=FROZEN, api_token=token,
                            faults="slow:1.0@1.5,after=1,paths=/deals/collection")
    region, hotline = _field(sim, "Region"), _field(sim, "Hotline")
    added: dict[str, Any] = {}
    errors: list[BaseException] = []

    def drift() -> None:
        try:
            deadline = time.monotonic() + 120
            while sim.stats()["requests"].get(PAGE_KEY, 0) < 1:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.002)
            added.update(api(sim, "POST", "/dealFields", json={"name": "Drift added", "field_type": "varchar"})["data"])
            api(sim, "PUT", f"/dealFields/{region['id']}", json={"name": "Territory"})
            api(sim, "DELETE", f"/dealFields/{hotline['id']}")
            added["pages_seen"] = sim.stats()["requests"].get(PAGE_KEY, 0)
        except BaseException as exc:  # noqa: BLE001 - any failure is reported by the test thread
            errors.append(exc)

    watcher = threading.Thread(target=drift, daemon=True)
    watcher.start()
    p = duckdb_pipeline(tmp_path)
    first = sync(sim, p, entities=["deals"], children=False)
    watcher.join(10)
    assert not errors, errors
    assert added.get("pages_seen") == 1, added  # the drift really happened between pages
    pages_first = sim.stats()["requests"].get(PAGE_KEY, 0)
    sim.set_faults(None)
    diff1 = compare(sim.company, pipeline_query(p), ("deals",), ())

    # run 2: a deal gets a value in the new field
    new_key = added["key"]
    api(sim, "PUT", "/deals/5", json={new_key: "drift value"})
    sim.clock.advance(60)
    second = sync(sim, p, entities=["deals"], children=False)
    diff2 = compare(sim.company, pipeline_query(p), ("deals",), ())
    reliability_report(faults="dealFields add+rename+delete between pages 1 and 2", runs=2,
                       completed=int(first.exit_code == EXIT_OK) + int(second.exit_code == EXIT_OK),
                       rows_lost=diff1.rows_lost + diff2.rows_lost,
                       rows_duplicated=diff1.rows_duplicated + diff2.rows_duplicated,
                       rows_checked=sum(diff1.checked.values()) + sum(diff2.checked.values()))
    assert first.exit_code == EXIT_OK, first.message
    assert pages_first >= 3
    assert diff1.exact, diff1.explain()
    assert second.exit_code == EXIT_OK, second.message
    assert diff2.exact, diff2.explain()

    deal5 = rows(p, "select * from {schema}.deals where id = 5")[0]
    assert "drift value" in deal5.values(), {k: v for k, v in deal5.items() if "drift" in k}
    meta = {r["key"]: r for r in rows(p, "select * from {schema}.deal_fields")}
    assert meta[region["key"]]["name"] == "Territory"
    assert new_key in meta
    # the deleted field's column keeps the values loaded before the delete
    row1 = rows(p, "select * from {schema}.deals where id = 1")[0]
    assert any(isinstance(v, str) and v.startswith("+") for k, v in row1.items() if "hotline" in k), \
        sorted(k for k in row1 if "hotline" in k)
