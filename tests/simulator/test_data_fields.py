"""sim-core: custom fields metadata, their encodings on records, dirt, and field writes."""

from __future__ import annotations

from collections import Counter

import pytest

from pipedrive_source.simulator.generator import ADDRESS_SUBKEYS

from .data_helpers import DirectApi

FACTS_TYPES = {"varchar", "text", "phone", "double", "int", "monetary", "date", "daterange", "time", "timerange",
               "enum", "set", "user", "org", "people", "address", "varchar_auto"}
ENTITY_FIELDS = {"deals": "dealFields", "persons": "personFields", "organizations": "organizationFields",
                 "products": "productFields", "activities": "activityFields"}


@pytest.fixture(scope="module")
def api() -> DirectApi:
    return DirectApi(seed=5, scale=400)


def _customs(api: DirectApi, route: str) -> list[dict]:
    return [f for f in api.get(f"/{route}", limit=500).data if f["edit_flag"]]


def _rows(api: DirectApi, entity: str) -> list[dict]:
    query = {"user_id": 0} if entity == "activities" else {}
    return api.all_offset(f"/{entity}", limit=500, **query)


@pytest.mark.parametrize("entity,route", list(ENTITY_FIELDS.items()))
def test_every_field_type_and_the_awkward_names(api: DirectApi, entity: str, route: str) -> None:
    customs = _customs(api, route)
    assert FACTS_TYPES <= {f["field_type"] for f in customs}
    names = Counter(f["name"] for f in customs)
    assert any(n > 1 for n in names.values()), "two custom fields share a name"
    system_names = {f["name"] for f in api.get(f"/{route}", limit=500).data if not f["edit_flag"]}
    assert system_names & set(names), "a custom field is named like a system field"
    assert any(f["active_flag"] is False for f in customs)
    assert all(len(f["key"]) == 40 and int(f["key"], 16) >= 0 for f in customs)
    for f in customs:
        if f["field_type"] in ("enum", "set"):
            assert f["options"] and all({"id", "label"} <= set(o) for o in f["options"])


@pytest.mark.parametrize("entity,route", list(ENTITY_FIELDS.items()))
def test_record_encodings_and_dirt(api: DirectApi, entity: str, route: str) -> None:
    customs = _customs(api, route)
    rows = _rows(api, entity)
    by_type = {f["field_type"]: f for f in customs}
    for r in rows:
        for f in customs:
            assert f["key"] in r  # every record carries every custom key (null when unset)
    mon = by_type["monetary"]["key"]
    currencies = {r[mon + "_currency"] for r in rows if r[mon] is not None}
    assert len(currencies) >= 2
    for t in ("daterange", "timerange"):
        k = by_type[t]["key"]
        assert any(r[k] and r[k + "_until"] for r in rows)
    addr = by_type["address"]["key"]
    full = [r for r in rows if r[addr]]
    assert full and all(all(addr + "_" + s in r for s in ADDRESS_SUBKEYS) for r in full)
    s = by_type["set"]
    set_vals = [r[s["key"]] for r in rows if r[s["key"]]]
    assert any("," in v for v in set_vals) and all(isinstance(v, str) for v in set_vals)
    for t in ("user", "org", "people"):
        vals = [r[by_type[t]["key"]] for r in rows if r[by_type[t]["key"]] is not None]
        assert vals and all(isinstance(v, dict) and isinstance(v["value"], int) for v in vals)
    # dirt: nulls, empty strings, zero dates, enum ids missing from the field's options
    all_vals = [r[f["key"]] for r in rows for f in customs]
    assert None in all_vals and "" in all_vals
    date_key = by_type["date"]["key"]
    assert any(str(r[date_key]).startswith("0000-00-00") for r in rows)
    enum = by_type["enum"]
    known = {o["id"] for o in enum["options"]}
    used = {r[enum["key"]] for r in rows if r[enum["key"]] is not None}
    assert used - known, "a deleted option id is still used by records"


def test_zero_timestamps_in_system_fields(api: DirectApi) -> None:
    assert any(d["stage_change_time"] == "0000-00-00 00:00:00" for d in _rows(api, "deals"))


def test_leads_use_deal_fields_and_show_only_set_values(api: DirectApi) -> None:
    deal_keys = {f["key"] for f in _customs(api, "dealFields")}
    leads = _rows(api, "leads")
    present = [k for r in leads for k in r if k in deal_keys]
    assert present
    assert all(r[k] is not None for r in leads for k in r if k in deal_keys)


def test_add_rename_options_and_delete_a_custom_field() -> None:
    api = DirectApi(seed=2)
    api.call("PUT", "/deals/4", body={"title": "in overlay"})
    a = api.call("POST", "/dealFields", body={"name": "Budget owner", "field_type": "enum",
                                              "options": [{"label": "CFO"}, {"label": "CEO"}]})
    assert a.status == 201
    f = a.data
    key = f["key"]
    assert len(key) == 40 and [o["label"] for o in f["options"]] == ["CFO", "CEO"]
    deals = _rows(api, "deals")
    assert all(d[key] is None for d in deals)
    coll = api.all_cursor("/deals/collection", limit=500)
    assert all(key in d and d[key] is None for d in coll)
    # set a value, rename, edit options (dropped option stays on the record)
    cfo = f["options"][0]["id"]
    api.call("PUT", "/deals/4", body={key: cfo})
    r = api.call("PUT", f"/dealFields/{f['id']}", body={"name": "Budget holder",
                                                        "options": [{"id": f["options"][1]["id"], "label": "CEO"},
                                                                    {"label": "COO"}]})
    assert r.status == 200 and r.data["name"] == "Budget holder"
    assert [o["label"] for o in r.data["options"]] == ["CEO", "COO"]
    assert api.get("/deals/4").data[key] == cfo
    # other custom values are untouched by adding/removing fields
    other = next(x for x in _customs(api, "dealFields") if x["field_type"] == "varchar" and x["key"] != key)
    before = {d["id"]: d[other["key"]] for d in api.all_offset("/deals", limit=500)}
    assert api.call("DELETE", f"/dealFields/{f['id']}").status == 200
    after_rows = api.all_offset("/deals", limit=500)
    assert all(key not in d for d in after_rows)
    assert {d["id"]: d[other["key"]] for d in after_rows} == before
    assert all(x["key"] != key for x in _customs(api, "dealFields"))
    # deleting a custom field with companions removes them all
    mon = next(x for x in _customs(api, "dealFields") if x["field_type"] == "monetary")
    assert api.call("DELETE", "/dealFields", query={"ids": str(mon["id"])}).status == 200
    d = api.get("/deals/1").data
    assert mon["key"] not in d and mon["key"] + "_currency" not in d


def test_custom_values_are_writable_on_every_entity() -> None:
    api = DirectApi(seed=3)
    for entity, route in ENTITY_FIELDS.items():
        f = next(x for x in _customs(api, route) if x["field_type"] == "double")
        a = api.call("PUT", f"/{entity}/2", body={f["key"]: 12.5})
        assert a.status == 200, (entity, a.body)
        assert api.get(f"/{entity}/2").data[f["key"]] == 12.5
