"""The same sync into PostgreSQL (real server) and SQLite (dlt's sqlalchemy destination): counts, merges, deletes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pipedrive_source.runner import EXIT_OK

from .sync_helpers import api, counts, destination_pipeline, rows, sync

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
ENTITIES = ["deals", "persons", "organizations", "activities", "products", "notes", "leads", "users", "stages"]


def _truth(sim: Any, entity: str) -> int:
    if entity == "deals":
        return sim.company.count("deals", include_deleted_deals=True)
    return sim.company.count(entity)


@pytest.mark.parametrize("kind", [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def test_full_then_incremental_sync_matches_the_simulator(kind: str, simulator_factory, tmp_path, request) -> None:
    sim = simulator_factory(scale=40, rate_limit=False, start_time=FROZEN)
    p = destination_pipeline(kind, tmp_path, request, "dest")
    first = sync(sim, p, entities=ENTITIES)
    assert first.exit_code == EXIT_OK, first.message
    got = counts(p)
    for entity in ("deals", "persons", "organizations", "activities", "products", "notes", "leads"):
        assert got[entity] == _truth(sim, entity), (kind, entity)
    n_emails = sum(len(r.get("email") or []) for r in sim.company.visible("persons"))
    assert got["person_emails"] == n_emails

    deal = next(sim.company.visible("deals"))
    person = next(sim.company.visible("persons"))
    api(sim, "PUT", f"/deals/{deal['id']}", json={"title": "renamed in Pipedrive"})
    api(sim, "DELETE", f"/deals/{deal['id']}")
    api(sim, "PUT", f"/persons/{person['id']}", json={"email": ["only@example.com"]})
    sim.clock.advance(120)
    second = sync(sim, p, entities=ENTITIES)
    assert second.exit_code == EXIT_OK, second.message
    after = counts(p)
    assert after["deals"] == got["deals"] and after["persons"] == got["persons"]  # merged, not appended
    landed = rows(p, "select title, is_deleted from {schema}.deals where id = :i", i=deal["id"])
    assert landed == [{"title": "renamed in Pipedrive", "is_deleted": True}]
    emails = rows(p, "select value from {schema}.person_emails where person_id = :i", i=person["id"])
    assert [e["value"] for e in emails] == ["only@example.com"]  # the old emails were replaced
    assert after["person_emails"] == n_emails - len(person.get("email") or []) + 1
