"""Direct tests of pipedrive_source.custom_fields (pure: field map, flattening, typing, metadata rows)."""

from __future__ import annotations

import json
import random
import time as _time
from datetime import date, time
from typing import Any

import pytest

from pipedrive_source.custom_fields import (
    ADDRESS_PARTS,
    MODES,
    FieldFlattener,
    column_base_name,
    custom_arrow_types,
    custom_column_types,
    field_metadata_rows,
    flatten_record,
    is_custom_field,
    update_field_map,
)


def key(n: int) -> str:
    """A deterministic 40-hex custom-field key (starts with a letter like most real ones)."""
    return f"f{n:039x}"


def field(fid: int, name: str, ftype: str, **extra: Any) -> dict[str, Any]:
    return {"id": fid, "key": key(fid), "name": name, "field_type": ftype, "edit_flag": True,
            "active_flag": True, **extra}


SYSTEM = [
    {"id": 1, "key": "title", "name": "Title", "field_type": "varchar", "edit_flag": False, "active_flag": True},
    {"id": 2, "key": "value", "name": "Value", "field_type": "monetary", "edit_flag": False, "active_flag": True},
    {"id": 3, "key": "user_id", "name": "Owner", "field_type": "user", "edit_flag": False, "active_flag": True},
]
RESERVED = {"id", "title", "value", "currency", "user_id", "org_id", "person_id", "status", "add_time",
            "update_time", "stage_id", "label"}

COLOURS = [{"id": 1, "label": "Red"}, {"id": 2, "label": "Blue"}, {"id": 3, "label": "Green"}]
TAGS = [{"id": 11, "label": "VIP"}, {"id": 12, "label": "EU, North"}, {"id": 13, "label": "Partner"}]

ALL_TYPES = SYSTEM + [
    field(101, "Notes short", "varchar"),
    field(102, "Long notes", "text"),
    field(103, "Hotline", "phone"),
    field(104, "Brand", "varchar_auto"),
    field(105, "Win probability %", "double"),
    field(106, "Seats", "int"),
    field(107, "Deal size (€)", "monetary"),
    field(108, "Signed on", "date"),
    field(109, "Contract period", "daterange"),
    field(110, "Call time", "time"),
    field(111, "Office hours", "timerange"),
    field(112, "Colour", "enum", options=COLOURS),
    field(113, "Tags", "set", options=TAGS),
    field(114, "Account manager", "user"),
    field(115, "Partner org", "org"),
    field(116, "Champion", "people"),
    field(117, "HQ address", "address"),
    field(118, "Value", "double"),  # same name as the system column `value`
    field(119, "Région", "varchar"),
    field(120, "Region", "varchar"),  # duplicate name after folding
    field(121, "€ $ %", "varchar"),  # nothing left -> field_121
    field(122, "Score", "hologram"),  # a type we do not know
]

ADDRESS_V1 = {
    "": "Main St 1, Tallinn",
    "_subpremise": "Apt 4",
    "_street_number": "1",
    "_route": "Main St",
    "_sublocality": "Kesklinn",
    "_locality": "Tallinn",
    "_admin_area_level_1": "Harju",
    "_admin_area_level_2": "Tallinn linn",
    "_country": "Estonia",
    "_postal_code": "10111",
    "_formatted_address": "Main St 1, 10111 Tallinn, Estonia",
}


def v1_record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": 7, "title": "Big deal", "value": 500, "currency": "EUR", "user_id": {"id": 9, "value": 9},
        key(101): "short", key(102): "long text", key(103): "+372 555", key(104): "Acme",
        key(105): 0.75, key(106): "12", key(107): "1500.50", key(107) + "_currency": "USD",
        key(108): "2026-01-31", key(109): "2026-01-01", key(109) + "_until": "2026-12-31",
        key(110): "09:30:00", key(111): "08:00:00", key(111) + "_until": "17:30:00",
        key(112): "2", key(113): "13,11",
        key(114): {"id": 42, "name": "Ann", "email": "ann@x", "has_pic": 0, "active_flag": True, "value": 42},
        key(115): {"name": "Partner AS", "people_count": 3, "owner_id": 9, "active_flag": True, "value": 5},
        key(116): "77",
        key(118): 3.5, key(119): "Põhja", key(120): "North", key(121): "sym", key(122): {"a": 1},
    }
    for suffix, v in ADDRESS_V1.items():
        rec[key(117) + suffix] = v
    rec.update(over)
    return rec


def to_v2(rec: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The same record as API v2 sends it: custom fields nested, v2 value shapes."""
    out = {k: v for k, v in rec.items() if not (len(k) >= 40 and k[:40] in {f["key"] for f in fields})}
    cf: dict[str, Any] = {}
    for f in fields:
        if not is_custom_field(f):
            continue
        k, t = f["key"], f["field_type"]
        v = rec.get(k)
        if t == "monetary":
            cf[k] = None if v in (None, "") else {"value": float(v), "currency": rec.get(k + "_currency")}
        elif t in ("daterange", "timerange"):
            cf[k] = None if v in (None, "") else {"start": v, "until": rec.get(k + "_until")}
        elif t == "address":
            cf[k] = None if v in (None, "") else {"value": v, **{p: rec.get(f"{k}_{p}") for p in ADDRESS_PARTS}}
        elif t == "enum":
            cf[k] = None if v in (None, "") else int(v)
        elif t == "set":
            cf[k] = None if v in (None, "") else [int(x) for x in str(v).split(",")]
        elif t in ("user", "org", "people"):
            cf[k] = None if v in (None, "") else int(v["value"] if isinstance(v, dict) else v)
        elif t in ("int",):
            cf[k] = None if v in (None, "") else int(v)
        else:
            cf[k] = v
    out["custom_fields"] = cf
    return out


@pytest.fixture()
def fmap() -> dict[str, Any]:
    return update_field_map(None, ALL_TYPES, RESERVED)


def col(fmap: dict[str, Any], fid: int, role: str = "value") -> str:
    return fmap["fields"][key(fid)]["columns"][role]


class Recorder(list):
    def __call__(self, msg: str) -> None:
        self.append(msg)


# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Deal Size (€)", "deal_size"),
        ("Deal Size ($)", "deal_size"),
        ("Win %", "win"),
        ("Größe / Ærø", "grosse_aero"),
        ("Région", "region"),
        ("  __Hello__World__ ", "hello_world"),
        ("2024 target", "f_2024_target"),
        ("€ $ %", ""),
        ("Сумма", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_column_base_name(name: str | None, expected: str) -> None:
    assert column_base_name(name) == expected


def test_names_types_and_suffixes(fmap: dict[str, Any]) -> None:
    names = {int(e["id"]): e["column"] for e in fmap["fields"].values()}
    assert names[101] == "notes_short"
    assert names[105] == "win_probability"
    assert names[107] == "deal_size"
    assert col(fmap, 107, "currency") == "deal_size_currency"
    assert col(fmap, 109, "until") == "contract_period_until"
    assert col(fmap, 112, "id") == "colour_id"
    assert col(fmap, 113, "ids") == "tags_ids"
    assert names[118] == "value_2"  # system column `value` is reserved
    assert names[119] == "region" and names[120] == "region_2"  # lower id keeps the plain name
    assert names[121] == "field_121"
    assert {p: col(fmap, 117, p) for p in ADDRESS_PARTS} == {p: f"hq_address_{p}" for p in ADDRESS_PARTS}
    assert set(fmap["fields"]) == {f["key"] for f in ALL_TYPES if f["edit_flag"]}
    json.dumps(fmap)  # persisted in dlt state


def test_all_columns_distinct_and_short(fmap: dict[str, Any]) -> None:
    every = [c for e in fmap["fields"].values() for c in e["columns"].values()]
    assert len(every) == len(set(every))
    assert not set(every) & RESERVED
    long_fields = [field(200 + i, "Very long name " * 8, t) for i, t in enumerate(["varchar", "address", "varchar"])]
    m = update_field_map(None, long_fields, set())
    cols = [c for e in m["fields"].values() for c in e["columns"].values()]
    assert len(cols) == len(set(cols))
    assert max(len(c) for c in cols) <= 59
    assert m["fields"][key(202)]["column"].endswith("_2")
    for c in cols:
        assert c == c.lower() and "__" not in c and not c.endswith("_") and not c[0].isdigit()


def test_companion_collision_with_other_field() -> None:
    """A varchar named "Amount currency" must not collide with the monetary "Amount"'s companion."""
    fields = [field(1, "Amount currency", "varchar"), field(2, "Amount", "monetary")]
    m = update_field_map(None, fields, set())
    assert m["fields"][key(1)]["column"] == "amount_currency"
    assert m["fields"][key(2)]["columns"] == {"value": "amount_2", "currency": "amount_2_currency"}


def test_reserved_companion_forces_suffix() -> None:
    m = update_field_map(None, [field(1, "Address", "address")], {"address", "address_locality"})
    assert m["fields"][key(1)]["column"] == "address_2"


def test_columns_survive_dlt_naming(fmap: dict[str, Any]) -> None:
    """dlt's snake_case (and Postgres' 63-char limit) must leave every named column unchanged."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention(max_length=63)
    names = ["Deal Size (€)", "2024 target", "Größe", "x" * 80, "A__B", "_lead_", "Ünïcödé ñame", "a-b+c@d|e"]
    fields = ALL_TYPES + [field(400 + i, n, t) for i, n in enumerate(names) for t in ("varchar", "address")]
    m = update_field_map(None, fields, RESERVED)
    for c in custom_column_types(fields, m):
        assert naming.normalize_identifier(c) == c


def test_v2_field_metadata_is_accepted() -> None:
    v2_fields = [
        {"field_code": "title", "field_name": "Title", "field_type": "varchar", "is_custom_field": False},
        {"field_code": key(5), "field_name": "Priority", "field_type": "enum", "is_custom_field": True,
         "options": [{"id": 1, "label": "Low"}]},
    ]
    m = update_field_map(None, v2_fields, RESERVED)
    assert m["fields"][key(5)]["columns"] == {"value": "priority", "id": "priority_id"}
    out = flatten_record({"id": 1, "custom_fields": {key(5): 1}}, v2_fields, m, api_version="v2")
    assert (out["priority"], out["priority_id"]) == ("Low", 1)
    rows, options = field_metadata_rows(v2_fields, m)
    assert [r["is_custom"] for r in rows] == [False, True] and options[0]["label"] == "Low"


def test_type_change_keeps_base_column() -> None:
    m1 = update_field_map(None, [field(1, "Budget", "double")], set())
    m2 = update_field_map(m1, [field(1, "Budget", "monetary")], set())
    assert m2["fields"][key(1)]["columns"] == {"value": "budget", "currency": "budget_currency"}


def test_subfields_and_system_fields_are_not_custom() -> None:
    sub = {"id": None, "key": key(1) + "_currency", "name": "Currency of X", "field_type": "varchar",
           "is_subfield": True, "edit_flag": True}
    assert not is_custom_field(sub)
    assert not is_custom_field(SYSTEM[0])
    assert is_custom_field({"key": key(2), "name": "no flag"})
    m = update_field_map(None, [field(1, "X", "monetary"), sub], set())
    assert list(m["fields"]) == [key(1)]


# --------------------------------------------------------------------------------------------- stability


def test_rename_keeps_column(fmap: dict[str, Any]) -> None:
    renamed = [dict(f, name="Totally new name") if f.get("id") == 107 else f for f in ALL_TYPES]
    m2 = update_field_map(fmap, renamed, RESERVED)
    assert m2["fields"][key(107)]["column"] == "deal_size"
    assert m2["fields"][key(107)]["name"] == "Totally new name"
    assert m2 == update_field_map(m2, renamed, RESERVED)  # idempotent
    # a new field taking the old name gets a fresh column
    m3 = update_field_map(m2, renamed + [field(300, "Deal size", "double")], RESERVED)
    assert m3["fields"][key(300)]["column"] == "deal_size_2"
    assert m3["fields"][key(107)]["column"] == "deal_size"


def test_add_and_delete(fmap: dict[str, Any]) -> None:
    without = [f for f in ALL_TYPES if f.get("id") != 112]
    m2 = update_field_map(fmap, without + [field(301, "Stage reason", "varchar")], RESERVED)
    assert m2["fields"][key(301)]["column"] == "stage_reason"
    gone = m2["fields"][key(112)]
    assert gone["deleted"] is True and gone["columns"] == {"value": "colour", "id": "colour_id"}
    # the deleted field's name is never reused
    m3 = update_field_map(m2, without + [field(302, "Colour", "enum", options=COLOURS)], RESERVED)
    assert m3["fields"][key(302)]["column"] == "colour_2"
    assert m3["fields"][key(112)]["deleted"] is True
    # coming back restores the old columns
    m4 = update_field_map(m3, ALL_TYPES, RESERVED)
    assert m4["fields"][key(112)] == {**fmap["fields"][key(112)], "deleted": False}
    assert m3 is not m2 and fmap["fields"][key(112)]["deleted"] is False  # inputs untouched


def test_previous_map_wins_over_id_order() -> None:
    m1 = update_field_map(None, [field(9, "Region", "varchar")], set())
    m2 = update_field_map(m1, [field(9, "Region", "varchar"), field(3, "Region", "varchar")], set())
    assert m2["fields"][key(9)]["column"] == "region"
    assert m2["fields"][key(3)]["column"] == "region_2"


def test_new_system_column_moves_custom_column_with_warning() -> None:
    m1 = update_field_map(None, [field(9, "Probability", "double")], set())
    warned = Recorder()
    m2 = update_field_map(m1, [field(9, "Probability", "double")], {"probability"}, warn=warned)
    assert m2["fields"][key(9)]["column"] == "probability_2"
    assert len(warned) == 1 and "probability" in warned[0]


# --------------------------------------------------------------------------------------------- types + values


EXPECTED_TYPES = {
    "notes_short": "text", "long_notes": "text", "hotline": "text", "brand": "text",
    "win_probability": "double", "seats": "bigint", "deal_size": "double", "deal_size_currency": "text",
    "signed_on": "date", "contract_period": "date", "contract_period_until": "date",
    "call_time": "time", "office_hours": "time", "office_hours_until": "time",
    "colour": "text", "colour_id": "bigint", "tags": "text", "tags_ids": "text",
    "account_manager": "bigint", "partner_org": "bigint", "champion": "bigint",
    "hq_address": "text", **{f"hq_address_{p}": "text" for p in ADDRESS_PARTS},
    "value_2": "double", "region": "text", "region_2": "text", "field_121": "text", "score": "text",
}

EXPECTED_VALUES = {
    "notes_short": "short", "long_notes": "long text", "hotline": "+372 555", "brand": "Acme",
    "win_probability": 0.75, "seats": 12, "deal_size": 1500.5, "deal_size_currency": "USD",
    "signed_on": date(2026, 1, 31), "contract_period": date(2026, 1, 1), "contract_period_until": date(2026, 12, 31),
    "call_time": time(9, 30), "office_hours": time(8, 0), "office_hours_until": time(17, 30),
    "colour": "Blue", "colour_id": 2, "tags": "VIP, Partner", "tags_ids": "11,13",
    "account_manager": 42, "partner_org": 5, "champion": 77,
    "hq_address": "Main St 1, Tallinn", **{f"hq_address_{p}": ADDRESS_V1["_" + p] for p in ADDRESS_PARTS},
    "value_2": 3.5, "region": "Põhja", "region_2": "North", "field_121": "sym", "score": '{"a":1}',
}


def test_column_types(fmap: dict[str, Any]) -> None:
    assert custom_column_types(ALL_TYPES, fmap) == EXPECTED_TYPES
    arrow = custom_arrow_types(ALL_TYPES, fmap)
    assert str(arrow["signed_on"]) == "date32[day]" and str(arrow["seats"]) == "int64"


def test_every_type_labels_mode(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    out = flatten_record(v1_record(), ALL_TYPES, fmap, warn=warned)
    custom = {k: v for k, v in out.items() if k in EXPECTED_TYPES}
    assert custom == EXPECTED_VALUES
    # system columns untouched, no raw hash keys left
    assert {k: out[k] for k in ("id", "title", "value", "currency")} == {
        "id": 7, "title": "Big deal", "value": 500, "currency": "EUR"}
    assert not [k for k in out if len(k) >= 40]
    assert set(out) == {"id", "title", "value", "currency", "user_id", *EXPECTED_TYPES}
    assert len(warned) == 1 and "hologram" in warned[0]  # unknown type, warned once


def test_values_are_arrow_compatible(fmap: dict[str, Any]) -> None:
    import pyarrow as pa

    fl = FieldFlattener(ALL_TYPES, fmap)
    rows = [fl(v1_record()), fl(v1_record(**{k: None for k in v1_record() if len(k) >= 40}))]
    schema = pa.schema(list(custom_arrow_types(ALL_TYPES, fmap).items()))
    table = pa.Table.from_pylist(rows, schema=schema)
    assert table.num_rows == 2 and table.column("deal_size").to_pylist() == [1500.5, None]


def test_reference_shapes(fmap: dict[str, Any]) -> None:
    fl = FieldFlattener(ALL_TYPES, fmap)
    for raw, expected in [(42, 42), ("42", 42), ({"value": 42}, 42), ({"id": 42, "name": "x"}, 42),
                          (None, None), ("", None), ({"value": None}, None)]:
        assert fl(v1_record(**{key(114): raw}))["account_manager"] == expected


@pytest.mark.parametrize("dirt", [None, "", "0000-00-00", "0000-00-00 00:00:00"])
def test_dirt_becomes_null(fmap: dict[str, Any], dirt: Any) -> None:
    warned = Recorder()
    rec = v1_record(**{k: dirt for k in v1_record() if len(k) >= 40})
    out = FieldFlattener(ALL_TYPES, fmap, warn=warned)(rec)
    assert all(out[c] is None for c in EXPECTED_TYPES)
    assert not [w for w in warned if "malformed" in w]


def test_missing_custom_keys_give_null_columns(fmap: dict[str, Any]) -> None:
    out = flatten_record({"id": 1, "title": "t"}, ALL_TYPES, fmap)
    assert all(out[c] is None for c in EXPECTED_TYPES)


def test_malformed_values_warn_with_record_id(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    fl = FieldFlattener(ALL_TYPES, fmap, warn=warned)
    out = fl(v1_record(id=4711, **{key(105): "1,5", key(106): "twelve", key(108): "31.01.2026",
                                   key(110): "25:99", key(107): {"x": 1}}))
    assert (out["win_probability"], out["seats"], out["signed_on"], out["call_time"], out["deal_size"]) == (
        None, None, None, None, None)
    malformed = [w for w in warned if "malformed" in w]
    assert len(malformed) == 5 and all("4711" in w for w in malformed)
    assert fl.malformed == {"win_probability": 1, "seats": 1, "signed_on": 1, "call_time": 1, "deal_size": 1}
    # after 5 per column only counting, never raising
    for i in range(20):
        fl(v1_record(id=i, **{key(105): "bad"}))
    assert fl.malformed["win_probability"] == 21
    assert len([w for w in warned if "win_probability" in w]) == 5


def test_monetary_two_currencies(fmap: dict[str, Any]) -> None:
    fl = FieldFlattener(ALL_TYPES, fmap)
    a = fl(v1_record(**{key(107): 100, key(107) + "_currency": "EUR"}))
    b = fl(v1_record(**{key(107): "250.25", key(107) + "_currency": "USD"}))
    assert (a["deal_size"], a["deal_size_currency"]) == (100.0, "EUR")
    assert (b["deal_size"], b["deal_size_currency"]) == (250.25, "USD")


def test_enum_deleted_option(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    fl = FieldFlattener(ALL_TYPES, fmap, warn=warned)
    for raw in ("99", 99, "99"):
        out = fl(v1_record(**{key(112): raw}))
        assert (out["colour"], out["colour_id"]) == (None, 99)
    assert len([w for w in warned if "99" in w]) == 1  # once per (field, option)
    assert fl(v1_record(**{key(112): 3}))["colour"] == "Green"


def test_set_several_ids_and_deleted_option(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    fl = FieldFlattener(ALL_TYPES, fmap, warn=warned)
    out = fl(v1_record(**{key(113): "13,12,11"}))
    assert out["tags_ids"] == "11,12,13" and out["tags"] == "VIP, EU, North, Partner"
    out = fl(v1_record(**{key(113): "12, 55"}))
    assert out["tags_ids"] == "12,55" and out["tags"] == "EU, North"
    assert len(warned) == 2 and "55" in warned[1]  # (hologram type warning is first)
    out = fl(v1_record(**{key(113): "55"}))
    assert out["tags_ids"] == "55" and out["tags"] is None
    assert fl(v1_record(**{key(113): 11}))["tags_ids"] == "11"


def test_address_all_subkeys(fmap: dict[str, Any]) -> None:
    out = flatten_record(v1_record(), ALL_TYPES, fmap)
    assert out["hq_address"] == "Main St 1, Tallinn"
    for p in ADDRESS_PARTS:
        assert out[f"hq_address_{p}"] == ADDRESS_V1["_" + p]


def test_unknown_hash_key_dropped_in_labels_mode(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    fl = FieldFlattener(ALL_TYPES, fmap, warn=warned)
    new_key = "a" * 40
    out = fl(v1_record(**{new_key: "x", new_key + "_currency": "EUR"}))
    assert new_key not in out and new_key + "_currency" not in out
    assert any(new_key in w for w in warned)
    assert new_key in FieldFlattener(ALL_TYPES, fmap, "hash", warn=warned)(v1_record(**{new_key: "x"}))


def test_system_key_clash_is_reported(fmap: dict[str, Any]) -> None:
    warned = Recorder()
    FieldFlattener(ALL_TYPES, fmap, warn=warned)(v1_record(notes_short="system value"))
    assert any("notes_short" in w and "reserved" in w for w in warned)


# --------------------------------------------------------------------------------------------- modes


def test_hash_mode_keeps_raw_keys(fmap: dict[str, Any]) -> None:
    rec = v1_record()
    out = flatten_record(rec, ALL_TYPES, fmap, "hash")
    assert set(out) == set(rec)
    assert not set(EXPECTED_TYPES) & set(out)
    assert out[key(107)] == 1500.5 and out[key(107) + "_currency"] == "USD"
    assert out[key(112)] == "2" and out[key(113)] == "11,13"
    assert out[key(114)] == 42 and out[key(108)] == "2026-01-31" and out[key(101)] == "short"
    assert out[key(117) + "_locality"] == "Tallinn"
    types = custom_column_types(ALL_TYPES, fmap, "hash")
    assert set(types) == {k for k in rec if len(k) >= 40}
    assert types[key(107)] == "double" and types[key(106)] == "bigint" and types[key(114)] == "bigint"


def test_both_mode(fmap: dict[str, Any]) -> None:
    rec = v1_record()
    both = flatten_record(rec, ALL_TYPES, fmap, "both")
    labels = flatten_record(rec, ALL_TYPES, fmap, "labels")
    hashed = flatten_record(rec, ALL_TYPES, fmap, "hash")
    assert both == {**labels, **hashed}
    assert set(custom_column_types(ALL_TYPES, fmap, "both")) == set(EXPECTED_TYPES) | {k for k in rec if len(k) >= 40}


def test_bad_mode_rejected(fmap: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="labels"):
        FieldFlattener(ALL_TYPES, fmap, "names")


# --------------------------------------------------------------------------------------------- v1 / v2


@pytest.mark.parametrize("mode", MODES)
def test_v1_v2_equivalence(fmap: dict[str, Any], mode: str) -> None:
    records = [
        v1_record(),
        v1_record(**{k: None for k in v1_record() if len(k) >= 40}),
        v1_record(**{key(113): "12", key(112): "99", key(107): 7, key(107) + "_currency": "EUR"}),
    ]
    fl1 = FieldFlattener(ALL_TYPES, fmap, mode, warn=Recorder())
    fl2 = FieldFlattener(ALL_TYPES, fmap, mode, api_version="v2", warn=Recorder())
    for rec in records:
        v1 = fl1(rec)
        v2 = fl2(to_v2(rec, ALL_TYPES))
        assert set(v1) == set(v2)
        assert v1 == v2


def test_v2_alternative_shapes(fmap: dict[str, Any]) -> None:
    fl = FieldFlattener(ALL_TYPES, fmap, api_version="v2")
    out = fl({"id": 1, "custom_fields": {
        key(109): {"from": "2026-02-01", "to": "2026-03-01"},
        key(112): {"id": 1, "label": "Red (old)"},
        key(113): [{"id": 12, "label": "x"}, {"id": 11, "label": "y"}],
        key(114): {"id": 42},
        key(117): "Just a string",
    }})
    assert (out["contract_period"], out["contract_period_until"]) == (date(2026, 2, 1), date(2026, 3, 1))
    assert (out["colour"], out["colour_id"]) == ("Red", 1)  # label from the field options, like v1
    assert (out["tags"], out["tags_ids"]) == ("VIP, EU, North", "11,12")
    assert out["account_manager"] == 42 and out["hq_address"] == "Just a string"
    assert "custom_fields" not in out
    assert fl({"id": 2, "custom_fields": None})["deal_size"] is None


# --------------------------------------------------------------------------------------------- metadata rows


def test_field_metadata_rows(fmap: dict[str, Any]) -> None:
    fields = [f for f in ALL_TYPES if f.get("id") != 101]
    fields = [dict(f, options_deleted=[{"id": 4, "label": "Purple"}]) if f.get("id") == 112 else f for f in fields]
    m2 = update_field_map(fmap, fields, RESERVED)
    rows, options = field_metadata_rows(fields, m2)
    by_key = {r["key"]: r for r in rows}
    assert len(rows) == len(ALL_TYPES)
    assert by_key["title"]["is_custom"] is False and by_key["title"]["column_name"] is None
    assert by_key[key(107)] | {} == by_key[key(107)]
    assert (by_key[key(107)]["column_name"], by_key[key(107)]["columns"]) == ("deal_size", "deal_size,deal_size_currency")
    gone = by_key[key(101)]
    assert gone["deleted"] is True and gone["column_name"] == "notes_short" and gone["name"] == "Notes short"
    assert not any(r["deleted"] for r in rows if r["key"] != key(101))
    opt = {(o["field_key"], o["option_id"]): o for o in options}
    assert opt[(key(112), 2)] == {"field_key": key(112), "field_id": 112, "option_id": 2, "label": "Blue",
                                  "column_name": "colour", "id_column": "colour_id", "deleted": False}
    assert opt[(key(112), 4)]["deleted"] is True
    assert opt[(key(113), 12)]["id_column"] == "tags_ids"
    assert len(options) == len(COLOURS) + 1 + len(TAGS)
    json.dumps([rows, options])


# --------------------------------------------------------------------------------------------- speed


def realistic_fields(n: int = 30) -> list[dict[str, Any]]:
    types = ["varchar", "double", "monetary", "enum", "set", "date", "user", "org", "people", "text",
             "int", "daterange", "time", "varchar", "enum", "address", "phone", "double", "varchar_auto", "timerange"]
    opts = [{"id": i, "label": f"Option {i}"} for i in range(1, 9)]
    return SYSTEM + [field(1000 + i, f"Custom field {i}", types[i % len(types)], options=opts) for i in range(n)]


def realistic_deals(fields: list[dict[str, Any]], n: int, api_version: str = "v1") -> list[dict[str, Any]]:
    rnd = random.Random(1)
    rows = []
    for i in range(n):
        rec: dict[str, Any] = {"id": i + 1, "title": f"Deal {i}", "value": rnd.random() * 1000, "currency": "EUR"}
        rec.update({f"sys_{j}": rnd.choice([None, "x", 1, 2.5]) for j in range(45)})
        for f in fields:
            if not is_custom_field(f):
                continue
            k, t = f["key"], f["field_type"]
            if rnd.random() < 0.25:  # v1 sends every key of every field, null when empty
                rec[k] = None
                if t in ("monetary", "daterange", "timerange"):
                    rec[k + ("_currency" if t == "monetary" else "_until")] = None
                if t == "address":
                    rec.update({f"{k}_{p}": None for p in ADDRESS_PARTS})
                continue
            if t in ("varchar", "text", "phone", "varchar_auto"):
                rec[k] = f"text {rnd.randint(0, 999)}"
            elif t in ("double",):
                rec[k] = rnd.random() * 100
            elif t == "int":
                rec[k] = rnd.randint(0, 10**6)
            elif t == "monetary":
                rec[k], rec[k + "_currency"] = rnd.random() * 1e5, rnd.choice(["EUR", "USD"])
            elif t == "enum":
                rec[k] = str(rnd.randint(1, 8))
            elif t == "set":
                rec[k] = ",".join(str(x) for x in rnd.sample(range(1, 9), 3))
            elif t == "date":
                rec[k] = f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            elif t == "daterange":
                rec[k], rec[k + "_until"] = "2025-01-01", f"2025-{rnd.randint(2, 12):02d}-15"
            elif t == "time":
                rec[k] = f"{rnd.randint(0, 23):02d}:30:00"
            elif t == "timerange":
                rec[k], rec[k + "_until"] = "08:00:00", "17:00:00"
            elif t == "user":
                rec[k] = {"id": 5, "name": "Ann", "email": "a@x", "has_pic": 0, "active_flag": True, "value": 5}
            elif t in ("org", "people"):
                rec[k] = {"name": "Org", "active_flag": True, "value": rnd.randint(1, 10**5)}
            elif t == "address":
                for suffix, v in ADDRESS_V1.items():
                    rec[k + suffix] = v
        rows.append(rec if api_version == "v1" else to_v2(rec, fields))
    return rows


def _rows_per_second(mode: str, api_version: str, seconds: float) -> float:
    fields = realistic_fields(30)
    fmap = update_field_map(None, fields, RESERVED)
    rows = realistic_deals(fields, 2000, api_version)
    pages = [rows[i:i + 500] for i in range(0, len(rows), 500)]
    fl = FieldFlattener(fields, fmap, mode, api_version=api_version, warn=Recorder())
    best, deadline = 0.0, _time.perf_counter() + seconds
    while _time.perf_counter() < deadline:
        t0 = _time.perf_counter()
        n = sum(len(fl.flatten_page(p)) for p in pages)
        best = max(best, n / (_time.perf_counter() - t0))
    return best


def test_flattener_speed_smoke() -> None:
    """Cheap guard in the default run: a compiled flattener must not be pathologically slow."""
    assert _rows_per_second("labels", "v1", 0.3) > 10_000


@pytest.mark.benchmark
@pytest.mark.parametrize("mode, api_version", [("labels", "v1"), ("labels", "v2"), ("both", "v1")])
def test_flattener_speed(mode: str, api_version: str) -> None:
    rate = _rows_per_second(mode, api_version, 3.0)
    print(f"\nFieldFlattener {mode}/{api_version}: {rate:,.0f} rows/s (500-row pages, 30 custom fields)")
    assert rate >= 100_000


WEIRD = [None, "", "0000-00-00", "0000-00-00 00:00:00", "abc", " 12 ", "1,2", "12.0", 0, -3, 1.5, True,
         float("nan"), [], [1, "x", None, {"id": 2}], {}, {"value": "x"}, {"id": None}, {"a": [1]}, "2026-13-45",
         "25:61:00", "9" * 30, 10**400, -(2**63)]


@pytest.mark.parametrize("api_version", ["v1", "v2"])
@pytest.mark.parametrize("mode", MODES)
def test_garbage_never_crashes_and_stays_arrow_typed(fmap: dict[str, Any], mode: str, api_version: str) -> None:
    """Any JSON value in any custom key: no exception, and the row still fits the declared Arrow schema."""
    import pyarrow as pa

    fl = FieldFlattener(ALL_TYPES, fmap, mode, api_version=api_version, warn=Recorder())
    customs = [f for f in ALL_TYPES if is_custom_field(f)]
    rows = []
    for i, junk in enumerate(WEIRD):
        if api_version == "v1":
            rec = {"id": i, **{k: junk for k in v1_record() if len(k) >= 40}}
        else:
            rec = {"id": i, "custom_fields": {f["key"]: junk for f in customs}}
        rows.append(fl(rec))
    schema = pa.schema(list(custom_arrow_types(ALL_TYPES, fmap, mode).items()))
    table = pa.Table.from_pylist(rows, schema=schema)
    assert table.num_rows == len(WEIRD)
    assert sum(fl.malformed.values()) > 0
