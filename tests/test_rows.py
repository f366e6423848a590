"""Row munging: stable Arrow types, dirt to NULL, references collapsed, child rows."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timezone

import pyarrow as pa

from pipedrive_source.rows import TableBuilder, child_rows, collapse_reference, infer_type, parse_timestamp


def test_timestamps_v1_and_rfc3339_parse_to_the_same_utc_instant() -> None:
    a = parse_timestamp("2024-03-01 10:20:30")
    b = parse_timestamp("2024-03-01T10:20:30Z")
    c = parse_timestamp("2024-03-01T12:20:30+02:00")
    assert a == b == c == datetime(2024, 3, 1, 10, 20, 30, tzinfo=timezone.utc)
    assert parse_timestamp("0000-00-00 00:00:00") is None
    assert parse_timestamp("") is None


def test_types_are_inferred_once_and_kept_across_pages() -> None:
    types: dict[str, str] = {}
    b = TableBuilder("deals", types)
    t1 = b.to_arrow([{"id": 1, "value": 100, "add_time": "2024-01-01 00:00:00", "close_date": None,
                      "active": True, "title": "A", "products_count": 2}])
    assert t1.schema.field("value").type == pa.float64()  # a number that is not an id/count: double
    assert t1.schema.field("id").type == pa.int64()
    assert t1.schema.field("products_count").type == pa.int64()
    assert t1.schema.field("add_time").type == pa.timestamp("us", tz="UTC")
    assert "close_date" not in t1.column_names  # never seen a value yet
    t2 = b.to_arrow([{"id": 2, "value": 99.5, "add_time": "", "close_date": "2024-02-03", "active": False,
                      "title": 7, "products_count": "3"}])
    assert t2.schema.field("value").type == pa.float64()
    assert t2.column("value").to_pylist() == [99.5]
    assert t2.column("add_time").to_pylist() == [None]  # "" is dirt
    assert t2.column("close_date").to_pylist() == [date(2024, 2, 3)]
    assert t2.column("title").to_pylist() == ["7"]  # text column stays text
    assert t2.column("products_count").to_pylist() == [3]
    assert types["close_date"] == "date"


def test_unconvertible_value_becomes_null_and_names_the_record(caplog) -> None:
    b = TableBuilder("deals", {"value": "double"})
    with caplog.at_level(logging.WARNING):
        t = b.to_arrow([{"id": 41, "value": "lots"}, {"id": 42, "value": "12.5"}])
    assert t.column("value").to_pylist() == [None, 12.5]
    assert "deals.value" in caplog.text and "41" in caplog.text


def test_explicit_types_win_over_inference() -> None:
    b = TableBuilder("persons", {}, explicit={"region_id": "text", "born": "date", "meet": "time"})
    t = b.to_arrow([{"region_id": 5, "born": "1990-05-06", "meet": "10:30"}])
    assert t.column("region_id").to_pylist() == ["5"]
    assert t.column("born").to_pylist() == [date(1990, 5, 6)]
    assert t.column("meet").to_pylist() == [time(10, 30)]


def test_objects_and_lists_become_json_text() -> None:
    assert infer_type("im", [{"value": "x"}]) == "json"
    b = TableBuilder("persons", {})
    t = b.to_arrow([{"im": [{"label": "work", "value": "skype"}]}])
    assert t.column("im").to_pylist() == ['[{"label":"work","value":"skype"}]']


def test_reference_objects_collapse_to_their_id() -> None:
    assert collapse_reference({"id": 3, "name": "Ann", "value": 3}) == 3
    assert collapse_reference({"name": "no value key"}) == {"name": "no value key"}
    assert collapse_reference(5) == 5


def test_child_rows_carry_parent_and_position() -> None:
    got = child_rows(7, [{"label": "work", "value": "a@x.io", "primary": True}, {"value": "b@x.io"}], "person_id")
    assert got == [
        {"person_id": 7, "_position": 0, "label": "work", "value": "a@x.io", "primary": True},
        {"person_id": 7, "_position": 1, "value": "b@x.io"},
    ]
    assert child_rows(7, None, "person_id") == []
    assert child_rows(1, ["x", "y"], "deal_id") == [
        {"deal_id": 1, "_position": 0, "value": "x"},
        {"deal_id": 1, "_position": 1, "value": "y"},
    ]
