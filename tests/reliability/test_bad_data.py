"""Bad data: the dirt real Pipedrive accounts hold must be loaded (or set aside with a warning that
names the record), never crash the sync and never vanish silently.

Dirt is injected into the in-process simulator's stores (overlay ``put``), so the API serves it
exactly like any other record: ``0000-00-00`` dates, ``""`` timestamps, nulls where objects or lists
are expected, a custom field of a type nobody knows, megabyte text values, one id served twice
(on different pages, two versions), and keys no schema has seen.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipedrive_source.runner import EXIT_OK
from pipedrive_source.simulator.generator import field_meta_dict
from tests.sync_helpers import duckdb_pipeline, rows, sync

from .conftest import new_token
from .truth import compare, pipeline_query

pytestmark = pytest.mark.reliability

FROZEN = datetime(2026, 7, 1, 12, 0, 0, tzinfo=UTC)
HUGE = 1_000_000
UNKNOWN_KEY = "0ddba11c0ffee0ddba11c0ffee0ddba11c0ffee0"
UNKNOWN_VALUE = "hologram value 7f3a"
BACKGROUND = "Background"  # a `text` custom field of deals


def _put(sim: Any, entity: str, i: int, **changes: Any) -> dict[str, Any]:
    st = sim.company.stores[entity]
    with sim.company.lock:
        rec = {**st.get(i), **changes}
        st.put(i, rec)
    return rec


def _field_key(sim: Any, entity: str, name: str) -> str:
    return next(f["key"] for f in sim.company.fields[entity] if f["name"] == name)


def _inject(sim: Any) -> dict[str, Any]:
    c = sim.company
    facts: dict[str, Any] = {}
    # dates: all-zero and empty; nulls where objects are expected
    _put(sim, "deals", 3, close_time="0000-00-00 00:00:00", expected_close_date="0000-00-00", won_time="",
         person_id=None, org_id=None, user_id=None)
    _put(sim, "persons", 4, email=None, phone=[None, {"value": None}], org_id=None, owner_id=None)
    _put(sim, "notes", 5, deal=None, person=None, organization=None, user_id=None)
    _put(sim, "activities", 6, participants=None, attendees=[{}], due_date="0000-00-00")
    # a custom field of an unknown type, set on one deal
    fields = c.fields["deals"]
    fields.append(field_meta_dict(max(f["id"] for f in fields) + 1, UNKNOWN_KEY, "Hologram", "hologram",
                                  len(fields) + 1, custom=True, active=True))
    _put(sim, "deals", 7, **{UNKNOWN_KEY: UNKNOWN_VALUE})
    # megabyte text in a custom text field and in a note
    facts["background_key"] = _field_key(sim, "deals", BACKGROUND)
    _put(sim, "deals", 8, **{facts["background_key"]: "x" * HUGE})
    _put(sim, "notes", 9, content="<p>" + "y" * HUGE + "</p>")
    # unknown new keys, scalar and nested
    _put(sim, "deals", 10, brand_new_key="hello", nested_new_key={"a": 1, "b": [1, 2]})
    _put(sim, "persons", 11, brand_new_key="person hello")
    # one id served twice: the oldest file (last page of update_time DESC) + a newer copy on page 1
    files = c.stores["files"]
    oldest = min(files.ids(), key=files.update_time_of)
    dup = {**files.get(oldest), "name": "newer copy", "file_name": "newer copy",
           "update_time": "2026-06-30 00:00:00"}
    with c.lock:
        files.put(files.new_id(), dup)
    facts["dup_file"] = oldest
    return facts


def test_dirty_records_are_loaded_not_dropped(simulator_factory, tmp_path: Path, caplog, secret_scan,
                                             reliability_report) -> None:
    token = new_token("pd-dirt")
    secret_scan.add_secret(token)
    sim = simulator_factory(scale=30, rate_limit=False, start_time=FROZEN, api_token=token)
    facts = _inject(sim)
    p = duckdb_pipeline(tmp_path)
    with caplog.at_level(logging.WARNING):
        result = sync(sim, p, entities=["deals", "persons", "organizations", "activities", "products", "notes",
                                        "leads", "files"])
    secret_scan.add_text("result message", result.message)
    assert result.exit_code == EXIT_OK, result.message
    diff = compare(sim.company, pipeline_query(p))
    reliability_report(faults="dirt: zero dates, nulls for objects, unknown field type, 1 MB text, duplicate id, "
                              "new keys", runs=1, completed=1, rows_lost=diff.rows_lost,
                       rows_duplicated=diff.rows_duplicated, rows_checked=sum(diff.checked.values()))
    assert diff.exact, diff.explain()
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)

    deal3 = rows(p, "select close_time, expected_close_date, won_time from {schema}.deals where id = 3")
    assert deal3 == [{"close_time": None, "expected_close_date": None, "won_time": None}]
    act6 = rows(p, "select due_date from {schema}.activities where id = 6")
    assert act6 == [{"due_date": None}]

    # the unknown field type: its value landed in some column of deal 7, or a warning names it
    deal7 = rows(p, "select * from {schema}.deals where id = 7")[0]
    assert UNKNOWN_VALUE in map(str, deal7.values()) or ("Hologram" in warnings or UNKNOWN_KEY in warnings), \
        "value of the unknown-type field vanished without a warning"

    # megabyte text: kept whole, or set aside with a warning naming the record
    deal8 = rows(p, "select * from {schema}.deals where id = 8")[0]
    longest = max((len(v) for v in deal8.values() if isinstance(v, str)), default=0)
    assert longest == HUGE or "8" in warnings, longest
    note9 = rows(p, "select length(content) as n from {schema}.notes where id = 9")
    assert note9 == [{"n": HUGE + 7}] or "9" in warnings, note9

    # unknown keys become columns
    deal10 = rows(p, "select * from {schema}.deals where id = 10")[0]
    assert deal10.get("brand_new_key") == "hello", sorted(deal10)
    assert "nested_new_key" in deal10 and deal10["nested_new_key"] is not None
    person11 = rows(p, "select brand_new_key from {schema}.persons where id = 11")
    assert person11 == [{"brand_new_key": "person hello"}]

    # one id, two versions: exactly one row, the newer one
    dup = rows(p, "select name from {schema}.files where id = :i", i=facts["dup_file"])
    assert dup == [{"name": "newer copy"}], dup
