"""Pipedrive custom fields: field metadata -> stable, collision-safe column map; record flattening + typing.

Pure functions only (no HTTP, no dlt). Follows the v1 ``GET /dealFields`` (``/personFields``,
``/organizationFields``, ``/productFields``, ``/activityFields``; leads use ``dealFields``) schema
and the v2 ``custom_fields`` object of ``/api/v2/{deals,persons,organizations,products,activities}``.

Public API
----------
``update_field_map(previous, fields, reserved) -> dict``
    Build the persisted field map from the API ``fields`` (``data`` of ``GET /dealFields``), the
    previous map (``None`` on the first run; it wins for every key it knows) and ``reserved`` (system
    column names of the entity incl. companions such as ``address_locality``). JSON-serialisable::

        {"version": 1, "fields": {"<40-hex key>": {"id": 12, "name": "Deal size (€)",
            "field_type": "monetary", "column": "deal_size",
            "columns": {"value": "deal_size", "currency": "deal_size_currency"}, "deleted": false}}}

``FieldFlattener(fields, field_map, mode="labels", *, api_version="v1", warn=None)``
    Build once per resource run (after ``update_field_map``); ``flattener(record) -> dict`` returns a
    new record (input untouched), ``flattener.flatten_page(records) -> list[dict]``.
    ``flattener.column_types`` == ``custom_column_types(...)``; ``flattener.malformed`` is a Counter of
    malformed values per column. ``warn`` is any ``str -> None`` callable (default: this module's logger).
``flatten_record(record, fields, field_map, mode="labels", *, api_version="v1", warn=None) -> dict``
    One-off convenience (compiles a ``FieldFlattener`` per call; use the class in loops).
``field_metadata_rows(fields, field_map) -> (field_rows, option_rows)``
    Rows for ``deal_fields`` (primary key ``key``) and ``deal_field_options`` (primary key
    ``field_key, option_id``); their dlt types are ``FIELD_ROW_TYPES`` / ``OPTION_ROW_TYPES``.
``custom_column_types(fields, field_map, mode="labels", *, include_deleted=True) -> dict[str, str]``
    Column -> dlt data type (``text``, ``double``, ``bigint``, ``bool``, ``date``, ``time``) for every
    column the map produces in ``mode`` (deleted fields included, so a schema never shrinks; the
    flattener does not emit their columns — Arrow/dlt fill them with NULL).
``custom_arrow_types(...)`` the same as ``pyarrow`` types (pyarrow imported lazily).
``column_base_name(name, max_length=59) -> str``  the naming rule on its own.
``normalize_fields(fields)``  v2 ``/api/v2/*Fields`` items (``field_code``/``field_name``/
    ``is_custom_field``) -> v1 shape; every function above calls it, so either metadata works.
``is_custom_field(field)``  ``edit_flag`` true (or a 40-hex key without the flag), not a subfield.

Column names
------------
* snake_case of the field name: accents ASCII-folded (``Größe`` -> ``grosse``), every run of
  other characters (``€ $ % ( ) - /`` spaces, non-Latin letters) collapses to one ``_``,
  lower case, no leading/trailing/double ``_`` (so dlt's snake_case naming leaves it unchanged);
  a leading digit gets ``f_`` (``2024 target`` -> ``f_2024_target``); nothing left -> ``field_<id>``.
* Companion columns: ``<name>_currency`` (monetary), ``<name>_until`` (daterange/timerange),
  ``<name>_subpremise|_street_number|_route|_sublocality|_locality|_admin_area_level_1|
  _admin_area_level_2|_country|_postal_code|_formatted_address`` (address), ``<name>_id`` (enum
  option id), ``<name>_ids`` (set option ids).
* Every column of a field, companions included, is at most 59 characters (Postgres allows 63):
  the base is truncated to ``59 - len(longest companion suffix)``.
* Suffix rule: a field claims its base name only if *all* of its columns are free (not in
  ``reserved``, not the column of another field, not a raw hash key). Otherwise it gets ``_2``,
  ``_3``, ... (the first free number; the base is shortened to make room). Fields are assigned in
  ascending field ``id`` order, so of two fields both named "Region" the older (lower id) gets
  ``region`` and the newer ``region_2``; a custom field "Value" on deals gets ``value_2``
  because ``value`` is a system column. Nothing is ever overwritten.

Stability
---------
* A key already in the previous map keeps its columns when the field is renamed in Pipedrive (the
  map's ``name`` is updated, the column is not). A new field gets a new column.
* A field missing from ``fields`` stays in the map with ``"deleted": true``; its columns are never
  handed to another field. If it comes back, it gets its old columns again.
* Only exception: if a *system* column named like an existing custom column appears later (a
  new ``reserved`` entry), the system column wins and the custom field moves to a suffixed
  name with a warning — overwriting system data would be worse than a moved column.
* A field whose ``field_type`` changes keeps its base column (new companions are derived from
  it); the warehouse column type then changes too, which dlt reports as a schema conflict.
* Deleted options: their rows stay in ``*_field_options`` with ``deleted = true`` as long as the
  API lists them under ``options_deleted``.
* Renamed option labels: ``<name>`` holds the label as of sync time (rows not re-synced keep the
  old label), ``<name>_id``/``<name>_ids`` keep the stable option ids, and ``*_field_options``
  always holds the current labels, so ``JOIN ... ON option_id`` gives today's label.

Values (``labels``)
-------------------
``varchar, varchar_auto, autocomplete, text, phone, varchar_options``: text.
``double``: double; ``int``: bigint; ``boolean``: bool; ``monetary``: double + ``_currency`` text.
``date``/``daterange``: date (+ ``_until``); ``time``/``timerange``: time (+ ``_until``).
``user, org, people`` (and v2 ``deal, activity, project``): bigint id from an int, a numeric
string or an object with ``value``/``id``; ``lead``: text (UUID).
``enum``: the option label (text) + ``<name>_id`` bigint. A value whose option no longer exists keeps
its id, gets label ``None`` and one warning per (field, option).
``set``: **decision** — ``<name>`` text: labels in ascending option-id order joined by ``", "``;
``<name>_ids`` text: the ids joined by ``","`` (exactly v1's encoding, e.g. ``"12,15"``). Two plain
text columns because dlt has no array type for Postgres and text reads well in every BI tool;
both engines query it: DuckDB ``list_contains(string_split(tags_ids, ','), '12')``, Postgres
``'12' = ANY(string_to_array(tags_ids, ','))``, and ``unnest(string_split(...))`` /
``unnest(string_to_array(...))`` joined to ``*_field_options`` gives one row per option with the
current label. Labels may themselves contain commas, so exact membership tests use ``_ids``.
Deleted options are left out of the label text (their ids stay in ``_ids``).
``address``: ``<name>`` the value as entered + the ten sub-key columns, all text.
Unknown types: text (objects as JSON), one warning per field.
Dirt — ``None``, ``""``, ``"0000-00-00"``, ``"0000-00-00 00:00:00"`` — becomes ``None`` everywhere.
A malformed number/date/time becomes ``None``; a warning names the field and the record id
(at most 5 per column per flattener; all are counted in ``FieldFlattener.malformed``). Never raises.

Modes
-----
``labels`` (default): only the named columns; raw hash keys (and companions) are removed.
``hash``: the raw keys exactly as the API names them (``<key>``, ``<key>_currency``, ...), no named
columns. Values are the v1 encodings, only made type-stable for Arrow: dirt -> ``None``;
numbers (double, int, monetary amount) parsed; enum id and set ids as text (``"12"``, ``"12,15"``);
user/org/people reduced to the bigint id (v1 objects embed names that drift, v2 sends bare ids);
dates/times/text/address as text.
``both``: the named columns plus the raw columns of ``hash`` (a malformed value is counted once,
under the named column).
Raw keys are not renamed here; dlt's naming prefixes ``_`` to a key that starts with a digit.
A 40-hex key in a v1 record that the field map does not know (a field created after ``fields``
was fetched) is dropped in ``labels`` mode and passed through untouched in ``hash``/``both``
(one warning either way); the next run's ``update_field_map`` gives it a column. v2: ignored.

v1 and v2
---------
``api_version="v2"`` reads the nested ``custom_fields`` object (which is removed from the output)
and yields exactly the columns and values of the equivalent v1 record in every mode. v2 shapes
accepted (v2 migration guide + openapi-v2.yaml; lenient where the spec is vague): monetary
``{"value", "currency"}``; daterange/timerange ``{"start"|"from"|"value", "until"|"end"|"to"}``;
address ``{"value", "subpremise", ..., "formatted_address"}``; enum ``12`` or ``{"id", "label"}``;
set ``[12, 15]`` or ``[{"id", "label"}, ...]``; user/org/people ``5`` or ``{"id"|"value"}``.

Performance
-----------
A 1M-row backfill runs every row through here. ``FieldFlattener`` generates, once, one straight-line
Python function for the whole field set (type x mode x API version; keys and column names inlined
as constants, like ``dataclasses`` does), so a row costs one dict copy plus a few dict operations
per field: no regex, no per-row dict rebuilds, no lookups by name. Parsed dates/times and enum/set
values are memoised per flattener (bounded to 50k entries each). Measured on 500-row pages of
deal-like records (93 keys, 30 custom fields incl. monetary, ranges, address, enum, set, user/org/
people), 2-core shared machine: ~110-155k rows/s v1 ``labels``, ~130-150k v2 ``labels``,
~100-140k ``both`` (``pytest -m benchmark tests/test_custom_fields.py``). Unknown-key detection runs
only when a record's key count is new. Thread-safe for concurrent calls (memo dicts are only
grown; at worst a warning repeats).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, time
from typing import Any

import orjson

__all__ = [
    "FIELD_MAP_VERSION",
    "FIELD_ROW_TYPES",
    "OPTION_ROW_TYPES",
    "MODES",
    "FieldFlattener",
    "column_base_name",
    "custom_arrow_types",
    "custom_column_types",
    "field_metadata_rows",
    "flatten_record",
    "is_custom_field",
    "normalize_fields",
    "update_field_map",
]

log = logging.getLogger(__name__)

FIELD_MAP_VERSION = 1
MODES = ("labels", "hash", "both")
MAX_COLUMN_LENGTH = 59
MAX_WARNINGS_PER_COLUMN = 5

Warn = Callable[[str], None]

_HEX_KEY = re.compile(r"^[0-9a-f]{40}$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIRT = frozenset({"", "0000-00-00", "0000-00-00 00:00:00"})

ADDRESS_PARTS = (
    "subpremise",
    "street_number",
    "route",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
    "formatted_address",
)
TEXT_TYPES = frozenset({"varchar", "varchar_auto", "autocomplete", "text", "phone", "varchar_options"})
REFERENCE_TYPES = frozenset({"user", "org", "people", "deal", "activity", "project"})

# field_type -> ((role, labels-mode dlt type), ...); role "value" is the base column.
_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    **{t: (("value", "text"),) for t in TEXT_TYPES},
    "double": (("value", "double"),),
    "int": (("value", "bigint"),),
    "boolean": (("value", "bool"),),
    "monetary": (("value", "double"), ("currency", "text")),
    "date": (("value", "date"),),
    "daterange": (("value", "date"), ("until", "date")),
    "time": (("value", "time"),),
    "timerange": (("value", "time"), ("until", "time")),
    "enum": (("value", "text"), ("id", "bigint")),
    "set": (("value", "text"), ("ids", "text")),
    **{t: (("value", "bigint"),) for t in REFERENCE_TYPES},
    "lead": (("value", "text"),),
    "address": (("value", "text"), *((p, "text") for p in ADDRESS_PARTS)),
}
_UNKNOWN_ROLES = (("value", "text"),)

# Roles that exist as raw API keys (``<key>`` or ``<key>_<role>``) and their hash-mode dlt type.
_RAW_NUMERIC = {"double": "double", "int": "bigint", "monetary": "double", "boolean": "bool"}


def _roles(field_type: str) -> tuple[tuple[str, str], ...]:
    return _ROLES.get(field_type, _UNKNOWN_ROLES)


def _raw_roles(field_type: str) -> list[tuple[str, str]]:
    """(role, hash-mode dlt type) for the raw keys a field type has in v1."""
    out: list[tuple[str, str]] = []
    for role, _ in _roles(field_type):
        if role in ("id", "ids"):
            continue
        if role == "value":
            if field_type in _RAW_NUMERIC:
                out.append((role, _RAW_NUMERIC[field_type]))
            elif field_type in REFERENCE_TYPES:
                out.append((role, "bigint"))
            else:
                out.append((role, "text"))
        else:
            out.append((role, "text"))
    return out


def _raw_key(key: str, role: str) -> str:
    return key if role == "value" else f"{key}_{role}"


# ---------------------------------------------------------------------------------------------
# names


_FOLD = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d",
     "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ı": "i"}
)


def column_base_name(name: str | None, max_length: int = MAX_COLUMN_LENGTH) -> str:
    """snake_case, ASCII-folded identifier for a field name; ``""`` when nothing usable is left."""
    if not name:
        return ""
    folded = unicodedata.normalize("NFKD", str(name).translate(_FOLD))
    ascii_ = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = _NON_ALNUM.sub("_", ascii_).strip("_")
    if slug and slug[0].isdigit():
        slug = "f_" + slug
    return slug[:max_length].rstrip("_")


def normalize_fields(fields: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Accept v2 ``/api/v2/dealFields`` items too (``field_code``/``field_name``/``is_custom_field``)."""
    out: list[Mapping[str, Any]] = []
    for f in fields or ():
        if "key" not in f and "field_code" in f:
            f = {
                **f,
                "key": f.get("field_code"),
                "name": f.get("field_name"),
                "edit_flag": f.get("is_custom_field"),
            }
        out.append(f)
    return out


def is_custom_field(field: Mapping[str, Any]) -> bool:
    """Custom = ``edit_flag`` true (or a 40-hex key when the flag is absent); subfields are companions."""
    if field.get("is_subfield"):
        return False
    key = field.get("key")
    if not isinstance(key, str) or not key:
        return False
    flag = field.get("edit_flag")
    if flag is None:
        return bool(_HEX_KEY.match(key))
    return bool(flag)


def _suffix_len(field_type: str) -> int:
    return max((len(role) + 1 for role, _ in _roles(field_type) if role != "value"), default=0)


def _candidate_columns(base: str, n: int, field_type: str) -> dict[str, str]:
    limit = MAX_COLUMN_LENGTH - _suffix_len(field_type)
    if n > 1:
        tail = f"_{n}"
        stem = base[: limit - len(tail)].rstrip("_") + tail
    else:
        stem = base[:limit].rstrip("_")
    return {role: stem if role == "value" else f"{stem}_{role}" for role, _ in _roles(field_type)}


def _sort_key(item: tuple[str, Any]) -> tuple[int, int, str]:
    key, fid = item
    return (fid is None, fid if isinstance(fid, int) else 0, key)


def update_field_map(
    previous: Mapping[str, Any] | None,
    fields: Iterable[Mapping[str, Any]],
    reserved: Iterable[str],
    *,
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Return the new field map (a fresh dict; ``previous`` is not modified). See module docstring."""
    warn = warn if warn is not None else log.warning
    prev_fields: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in ((previous or {}).get("fields") or {}).items()
    }
    current = {f["key"]: f for f in normalize_fields(fields) if is_custom_field(f)}

    taken: set[str] = {str(r) for r in reserved} | {str(r).lower() for r in reserved}
    for key in set(prev_fields) | set(current):
        taken.add(key)
        ftype = (current.get(key) or prev_fields.get(key) or {}).get("field_type", "")
        taken.update(_raw_key(key, role) for role, _ in _raw_roles(ftype))

    entries: dict[str, dict[str, Any]] = {}
    todo: list[str] = []
    # 1. keys we already know keep their columns (renames, deletes), in field-id order
    for key, entry in sorted(prev_fields.items(), key=lambda kv: _sort_key((kv[0], kv[1].get("id")))):
        field = current.get(key)
        ftype = field.get("field_type", entry.get("field_type")) if field else entry.get("field_type", "")
        base = entry.get("column") or ""
        old_cols = entry.get("columns") or {}
        wanted = {role: old_cols.get(role) or f"{base}_{role}" for role, _ in _roles(ftype)}
        wanted["value"] = base
        if base and not (set(wanted.values()) & taken):
            taken.update(wanted.values())
            entries[key] = _entry(entry, field, ftype, base, wanted)
        else:
            if base:
                warn(
                    f"custom field {entry.get('name')!r} ({key}): column {base!r} now clashes with a "
                    "system column or another field; it moves to a new column name"
                )
            entries[key] = _entry(entry, field, ftype, "", {})
            todo.append(key)
    # 2. new fields (and the rare moved ones) by ascending field id
    todo.extend(k for k in current if k not in prev_fields)
    todo.sort(key=lambda k: _sort_key((k, (current.get(k) or entries.get(k) or {}).get("id"))))
    for key in todo:
        field = current.get(key)
        src = field or entries.get(key) or {}
        ftype = src.get("field_type") or ""
        base = column_base_name(src.get("name"), MAX_COLUMN_LENGTH - _suffix_len(ftype))
        if not base:
            fid = src.get("id")
            base = f"field_{fid}" if fid is not None else f"field_{key[:12]}"
        n = 1
        while True:
            cols = _candidate_columns(base, n, ftype)
            if not (set(cols.values()) & taken):
                break
            n += 1
        taken.update(cols.values())
        entries[key] = _entry(entries.get(key) or {}, field, ftype, cols["value"], cols)
    return {"version": FIELD_MAP_VERSION, "fields": entries}


def _entry(
    old: Mapping[str, Any], field: Mapping[str, Any] | None, ftype: str, base: str, cols: dict[str, str]
) -> dict[str, Any]:
    src = field if field is not None else old
    return {
        "id": src.get("id") if src.get("id") is not None else old.get("id"),  # v2 metadata has no id
        "name": src.get("name"),
        "field_type": ftype,
        "column": base,
        "columns": dict(cols),
        "deleted": field is None,
    }


# ---------------------------------------------------------------------------------------------
# column types


def custom_column_types(
    fields: Iterable[Mapping[str, Any]] | None,
    field_map: Mapping[str, Any],
    mode: str = "labels",
    *,
    include_deleted: bool = True,
) -> dict[str, str]:
    """Column name -> dlt data type for every column the map produces in ``mode``.

    ``fields`` is accepted for symmetry; types come from the map (which records each field_type).
    Deleted fields are included by default so a table's schema never shrinks.
    """
    _check_mode(mode)
    out: dict[str, str] = {}
    for key, entry in (field_map.get("fields") or {}).items():
        if entry.get("deleted") and not include_deleted:
            continue
        ftype = entry.get("field_type") or ""
        if mode in ("labels", "both"):
            cols = entry.get("columns") or {}
            for role, dtype in _roles(ftype):
                if role in cols:
                    out[cols[role]] = dtype
        if mode in ("hash", "both"):
            for role, dtype in _raw_roles(ftype):
                out[_raw_key(key, role)] = dtype
    return out


def custom_arrow_types(
    fields: Iterable[Mapping[str, Any]] | None,
    field_map: Mapping[str, Any],
    mode: str = "labels",
    *,
    include_deleted: bool = True,
) -> dict[str, Any]:
    """Same as ``custom_column_types`` but as ``pyarrow`` types (time as time64[us], json as string)."""
    import pyarrow as pa

    mapping = {
        "text": pa.string(),
        "double": pa.float64(),
        "bigint": pa.int64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
    }
    types = custom_column_types(fields, field_map, mode, include_deleted=include_deleted)
    return {col: mapping[t] for col, t in types.items()}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"custom_fields must be one of {', '.join(MODES)}; got {mode!r}")


# ---------------------------------------------------------------------------------------------
# metadata tables


# dlt data types of the metadata rows, for explicit schemas
FIELD_ROW_TYPES = {
    "key": "text", "id": "bigint", "name": "text", "field_type": "text", "active_flag": "bool",
    "edit_flag": "bool", "is_custom": "bool", "column_name": "text", "columns": "text", "deleted": "bool",
    "order_nr": "bigint", "mandatory_flag": "bool", "add_time": "text", "update_time": "text",
}
OPTION_ROW_TYPES = {
    "field_key": "text", "field_id": "bigint", "option_id": "bigint", "label": "text",
    "column_name": "text", "id_column": "text", "deleted": "bool",
}


def field_metadata_rows(
    fields: Iterable[Mapping[str, Any]], field_map: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for ``<entity>_fields`` (all fields, system ones too) and ``<entity>_field_options``.

    Field rows: key, id, name, field_type, active_flag, edit_flag, is_custom, column_name (our
    base column; None for system fields), columns (all our columns, comma-joined), deleted,
    order_nr, mandatory_flag, add_time, update_time. Deleted fields come from the map.
    Option rows: field_key, field_id, option_id, label, column_name, id_column, deleted (options the
    API lists under ``options_deleted``).
    """
    entries = field_map.get("fields") or {}
    field_rows: list[dict[str, Any]] = []
    option_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in normalize_fields(fields):
        if f.get("is_subfield"):
            continue
        key = f.get("key")
        if not key:
            continue
        seen.add(key)
        entry = entries.get(key) if is_custom_field(f) else None
        field_rows.append(_field_row(key, f, entry, deleted=False))
        if entry is None or not isinstance(f.get("options"), list) and not f.get("options_deleted"):
            continue
        cols = entry.get("columns") or {}
        id_col = cols.get("id") or cols.get("ids")
        seen_ids: set[Any] = set()
        for opts, deleted in ((f.get("options") or [], False), (f.get("options_deleted") or [], True)):
            for opt in opts:
                if not isinstance(opt, Mapping) or opt.get("id") is None:
                    continue
                oid = _option_id(opt.get("id"))
                if oid in seen_ids:  # an id both live and deleted: the live one wins (primary key)
                    continue
                seen_ids.add(oid)
                option_rows.append(
                    {
                        "field_key": key,
                        "field_id": f.get("id") if f.get("id") is not None else entry.get("id"),
                        "option_id": oid,
                        "label": opt.get("label"),
                        "column_name": entry.get("column"),
                        "id_column": id_col,
                        "deleted": deleted,
                    }
                )
    for key, entry in entries.items():
        if key not in seen:
            field_rows.append(_field_row(key, entry, entry, deleted=True))
    return field_rows, option_rows


def _field_row(key: str, f: Mapping[str, Any], entry: Mapping[str, Any] | None, *, deleted: bool) -> dict[str, Any]:
    cols = (entry or {}).get("columns") or {}
    return {
        "key": key,
        "id": f.get("id") if f.get("id") is not None else (entry or {}).get("id"),
        "name": f.get("name"),
        "field_type": f.get("field_type"),
        "active_flag": None if deleted else f.get("active_flag"),
        "edit_flag": True if deleted else f.get("edit_flag"),
        "is_custom": entry is not None,
        "column_name": (entry or {}).get("column"),
        "columns": ",".join(cols.values()) if cols else None,
        "deleted": deleted,
        "order_nr": None if deleted else f.get("order_nr"),
        # mandatory_flag is a bool or, for stage-dependent requirements, an object: keep "required somewhere"
        "mandatory_flag": None if deleted or f.get("mandatory_flag") is None else bool(f.get("mandatory_flag")),
        "add_time": None if deleted else f.get("add_time"),
        "update_time": None if deleted else f.get("update_time"),
    }


def _option_id(raw: Any) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        return raw


# ---------------------------------------------------------------------------------------------
# value parsing (shared by v1 and v2; ``_BAD`` marks a malformed value)


class _Bad:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<malformed>"


_BAD: Any = _Bad()


def _float(v: Any) -> Any:
    t = v.__class__
    if t is float:
        return v if v == v and v not in (float("inf"), float("-inf")) else _BAD
    if t is int:
        return float(v) if -1e300 < v < 1e300 else _BAD
    if v is None:
        return None
    if t is str:
        if v in _DIRT:
            return None
        try:
            out = float(v)
        except ValueError:
            return _BAD
        return out if out == out and abs(out) != float("inf") else _BAD
    return _BAD


_I64 = 2**63 - 1


def _int(v: Any) -> Any:
    """An int that fits bigint, or None (dirt) or _BAD."""
    t = v.__class__
    if v is None:
        return None
    if t is str:
        if v in _DIRT:
            return None
        try:
            v = int(v)
        except ValueError:
            f = _float(v)
            if f.__class__ is not float or not f.is_integer():
                return _BAD
            v = int(f)
    elif t is float:
        if not v.is_integer():
            return _BAD
        v = int(v)
    elif t is not int:
        return _BAD
    return v if -_I64 <= v <= _I64 else _BAD


def _ref_id(v: Any) -> Any:
    """user/org/people: int, numeric string, or an object carrying ``value`` (v1) or ``id``."""
    if v.__class__ is dict:
        inner = v.get("value")
        if inner is None:
            inner = v.get("id")
        return _int(inner) if inner is not None else None
    return _int(v)


def _date(v: Any) -> Any:
    if v is None:
        return None
    if v.__class__ is str:
        if v in _DIRT or v.startswith("0000-00-00"):
            return None
        try:
            return date.fromisoformat(v[:10] if len(v) > 10 else v)
        except ValueError:
            return _BAD
    if v.__class__ is date:
        return v
    return _BAD


def _time(v: Any) -> Any:
    if v is None:
        return None
    if v.__class__ is str:
        if v in _DIRT or v.startswith("0000-00-00"):
            return None
        try:
            return time.fromisoformat(v)
        except ValueError:
            return _BAD
    if v.__class__ is time:
        return v
    return _BAD


def _bool(v: Any) -> Any:
    if v is None or v.__class__ is bool:
        return v
    if v in (0, 1):
        return bool(v)
    if v.__class__ is str:
        s = v.strip().lower()
        if s in _DIRT:
            return None
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
    return _BAD


def _text(v: Any) -> Any:
    if v is None:
        return None
    if v.__class__ is str:
        return None if v in _DIRT else v
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return str(v)


def _id_text(v: Any) -> Any:
    """Raw enum id as text (v1 sends ``12`` or ``"12"``; v2 ``12`` or ``{"id": 12, ...}``)."""
    if v.__class__ is dict:
        v = v.get("id")
    if v is None or isinstance(v, (dict, list)):
        return None
    if v.__class__ is str:
        return None if v in _DIRT else v.strip()
    if v.__class__ is float and v.is_integer():
        v = int(v)
    return str(v)


def _id_list(v: Any) -> list[Any] | None:
    """Set ids from ``"12,15"``, ``12``, ``[12, 15]`` or ``[{"id": 12}, ...]``; ints where possible, sorted."""
    if v is None:
        return None
    if v.__class__ is str:
        if v in _DIRT:
            return None
        parts = v.split(",")
    elif isinstance(v, list):
        parts = [p.get("id") if p.__class__ is dict else p for p in v]
    else:
        parts = [v.get("id") if v.__class__ is dict else v]
    ids: set[Any] = set()
    for p in parts:
        if p is None or p.__class__ not in (str, int, float):
            continue
        if p.__class__ is str:
            p = p.strip()
            if not p:
                continue
        ids.add(_option_id(p))
    if not ids:
        return None
    return sorted(ids, key=lambda i: (0, i, "") if isinstance(i, int) else (1, 0, str(i)))


def _parts(v: Any, first: tuple[str, ...], second: tuple[str, ...]) -> tuple[Any, Any]:
    """Split a v2 object (``{"start", "until"}`` ...) into its two parts; a scalar is the first part."""
    if v.__class__ is not dict:
        return v, None
    a = b = None
    for k in first:
        if k in v:
            a = v[k]
            break
    for k in second:
        if k in v:
            b = v[k]
            break
    return a, b


_MISS: Any = object()
_EMPTY: dict[str, Any] = {}
_CACHE_LIMIT = 50_000
_RANGE_START = ("start", "from", "value")
_RANGE_END = ("until", "end", "to")


# ---------------------------------------------------------------------------------------------
# flattening


class _Source:
    """Accumulates the generated body of ``FieldFlattener._one`` and the constants it refers to."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns
        self.lines: list[str] = []
        self._n = 0

    def const(self, value: Any, prefix: str = "c") -> str:
        """A name for ``value`` in the generated code (strings are inlined as literals: LOAD_CONST)."""
        if value is None or value.__class__ in (str, int):
            return repr(value)
        self._n += 1
        name = f"{prefix}{self._n}"
        self.ns[name] = value
        return name

    def add(self, *lines: str) -> None:
        self.lines.extend("    " + line for line in lines)


def _text_expr(v: str) -> str:
    return f"None if {v} is None else ({v} if {v}.__class__ is str and {v} not in DIRT else _text({v}))"


class FieldFlattener:
    """Per-run compiled flattener: build once from (fields, field_map, mode), call per record.

    The per-field converters are generated as one straight-line Python function (like
    ``dataclasses`` does) so a row costs a dict copy plus a few dict operations per field.
    Parsed dates/times and enum/set values are memoised per flattener (bounded).
    Warnings bookkeeping is not locked: under threads a warning may at worst repeat.
    """

    def __init__(
        self,
        fields: Iterable[Mapping[str, Any]],
        field_map: Mapping[str, Any],
        mode: str = "labels",
        *,
        api_version: str = "v1",
        warn: Warn | None = None,
    ) -> None:
        _check_mode(mode)
        if api_version not in ("v1", "v2"):
            raise ValueError(f"api_version must be 'v1' or 'v2'; got {api_version!r}")
        self.mode = mode
        self.api_version = api_version
        self._warn = warn if warn is not None else log.warning
        self._warned: set[Any] = set()
        self.malformed: Counter[str] = Counter()
        self.column_types = custom_column_types(None, field_map, mode)
        by_key = {f.get("key"): f for f in normalize_fields(fields) if f.get("key")}
        entries = {k: e for k, e in (field_map.get("fields") or {}).items() if not e.get("deleted")}
        raw_keys: list[str] = []
        ns: dict[str, Any] = {
            "DIRT": _DIRT, "BAD": _BAD, "MISS": _MISS, "EMPTY": {}, "_text": _text, "_float": _float,
            "_int": _int, "_bool": _bool, "_ref_id": _ref_id, "_date": _date, "_time": _time,
            "_parts": _parts, "bad": self._bad, "DATES": {}, "TIMES": {}, "LIMIT": _CACHE_LIMIT, "I64": _I64,
        }
        src = _Source(ns)
        for key, entry in entries.items():
            ftype = entry.get("field_type") or ""
            raw_keys.extend(_raw_key(key, role) for role, _ in _raw_roles(ftype))
            self._generate(src, key, entry, ftype, by_key.get(key) or {})
            if ftype not in _ROLES:
                self._warn_once(("type", key), f"custom field {entry.get('name')!r} ({key}) has unknown "
                                f"type {ftype!r}: loaded as text")
        self._known_raw = frozenset(raw_keys) | frozenset(entries)
        self._named = frozenset(c for e in entries.values() for c in (e.get("columns") or {}).values())
        self._seen_lens: set[int] = set()
        self._seen_cf_lens: set[int] = set()
        # unknown 40-hex keys found by _scan; dropped in v1 'labels' mode
        self._extra_drop: list[str] = []
        ns.update(SEEN=self._seen_lens, CFSEEN=self._seen_cf_lens, scan=self._scan, scan_v2=self._scan_v2,
                  EXTRA=self._extra_drop)
        head = ["if len(rec) not in SEEN: scan(rec)", "out = dict(rec)"]
        if api_version == "v1":
            head.append("g = rec.get")
            if mode == "labels":
                # `del` is a bytecode, pop() a call: try the fast way, fall back when a key is absent
                if raw_keys:
                    head += ["try:", *(f"    del out[{k!r}]" for k in raw_keys), "except KeyError:",
                             "    for k in DROP: out.pop(k, None)"]
                head += ["if EXTRA:", "    for k in EXTRA: out.pop(k, None)"]
                ns["DROP"] = tuple(raw_keys)
        else:
            head += ["src = out.pop('custom_fields', None)", "if src.__class__ is not dict: src = EMPTY",
                     "if len(src) not in CFSEEN: scan_v2(src)", "g = src.get"]
        body = "\n".join("    " + line for line in head) + "\n" + "\n".join(src.lines) + "\n    return out\n"
        exec(compile(f"def _one(rec):\n{body}", "<custom_fields>", "exec"), ns)
        self._one: Callable[[Mapping[str, Any]], dict[str, Any]] = ns["_one"]

    # -- public -----------------------------------------------------------------------------
    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return self._one(record)

    def flatten_page(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        one = self._one
        return [one(r) for r in records]

    # -- bookkeeping --------------------------------------------------------------------------
    def _scan(self, record: Mapping[str, Any]) -> None:
        """Once per record shape (key count): find custom keys nobody told us about (a field
        created after ``fields`` was fetched) and system keys a named column would overwrite."""
        if len(self._seen_lens) < 1000:
            self._seen_lens.add(len(record))
        for k in record:
            if k in self._named and k not in self._known_raw:
                self._warn_once(("clash", k), f"record key {k!r} is also the name of a custom-field column: "
                                "the custom value wins; add it to the reserved set of update_field_map")
            if self.api_version == "v2":
                continue
            if len(k) >= 40 and _HEX_KEY.match(k[:40]) and k not in self._known_raw:
                if k not in self._extra_drop:
                    self._extra_drop.append(k)
                self._warn_once(("unknown", k[:40]), f"record has unknown custom field key {k[:40]}: "
                                "refresh the field map (it is ignored in 'labels' mode)")

    def _scan_v2(self, cf: Mapping[str, Any]) -> None:
        if len(self._seen_cf_lens) < 1000:
            self._seen_cf_lens.add(len(cf))
        for k in cf:
            if k not in self._known_raw:
                self._warn_once(("unknown", k), f"record has unknown custom field key {k}: ignored")

    def _warn_once(self, token: Any, message: str) -> None:
        if token not in self._warned:
            self._warned.add(token)
            self._warn(message)

    def _bad(self, column: str, name: Any, value: Any, record: Mapping[str, Any]) -> None:
        """Count (and for the first few, report) a malformed value; returns None, the stored value."""
        self.malformed[column] += 1
        n = self.malformed[column]
        if n <= MAX_WARNINGS_PER_COLUMN:
            more = " (further ones for this column are only counted)" if n == MAX_WARNINGS_PER_COLUMN else ""
            self._warn(
                f"malformed value {str(value)[:80]!r} in custom field {name!r} (column {column}) "
                f"of record id={record.get('id')!r}: stored as NULL{more}"
            )
        return None

    # -- code generation ----------------------------------------------------------------------
    def _generate(self, s: _Source, key: str, entry: Mapping[str, Any], ftype: str, field: Mapping[str, Any]) -> None:
        """Append the lines converting one field: read raw parts (v1 keys or v2 object), write columns."""
        cols = {role: s.const(c, "C") for role, c in (entry.get("columns") or {}).items()}
        labels = self.mode in ("labels", "both")
        raw = self.mode in ("hash", "both")
        v2 = self.api_version == "v2"
        K = s.const(key, "K")
        N = s.const(entry.get("name"), "N")
        # the column a malformed value is reported under
        B = cols.get("value") if labels else K

        def number(var: str, cls: str, fn: str) -> None:
            fast = f"{var}.__class__ is {cls}" + (f" and -I64 <= {var} <= I64" if cls == "int" else "")
            s.add(f"x = {var} if {fast} else (None if {var} is None else {fn}({var}))",
                  f"if x is BAD: x = bad({B}, {N}, {var}, rec)")

        def write(role: str, expr_labels: str, expr_raw: str) -> None:
            if labels:
                s.add(f"out[{cols[role]}] = {expr_labels}")
            if raw:
                s.add(f"out[{K if role == 'value' else s.const(f'{key}_{role}', 'K')}] = {expr_raw}")

        def cached(var: str, cache: str, fn: str, col: str) -> None:
            s.add(f"x = None if {var} is None else ({cache}.get({var}, MISS) if {var}.__class__ is str else MISS)",
                  "if x is MISS:",
                  f"    x = {fn}({var})",
                  f"    if x is BAD: x = bad({col}, {N}, {var}, rec)",
                  f"    elif {var}.__class__ is str and len({cache}) < LIMIT: {cache}[{var}] = x")

        if ftype in TEXT_TYPES or ftype == "lead" or ftype not in _ROLES:
            s.add(f"v = g({K})", f"x = {_text_expr('v')}")
            write("value", "x", "x")
        elif ftype in ("double", "int"):
            s.add(f"v = g({K})")
            number("v", "float" if ftype == "double" else "int", "_float" if ftype == "double" else "_int")
            write("value", "x", "x")
        elif ftype == "boolean":
            s.add(f"v = g({K})", "x = v if v is None or v.__class__ is bool else _bool(v)",
                  f"if x is BAD: x = bad({B}, {N}, v, rec)")
            write("value", "x", "x")
        elif ftype in REFERENCE_TYPES:
            s.add(f"v = g({K})",
                  "if v is None or v.__class__ is int and -I64 <= v <= I64: x = v",  # v2, or empty
                  "elif v.__class__ is dict and v.get('value').__class__ is int and -I64 <= v['value'] <= I64:",
                  "    x = v['value']",  # v1 object
                  "else:",
                  "    x = _ref_id(v)",
                  f"    if x is BAD: x = bad({B}, {N}, v, rec)")
            write("value", "x", "x")
        elif ftype in ("date", "time"):
            s.add(f"v = g({K})")
            if labels:
                cached("v", "DATES" if ftype == "date" else "TIMES", "_" + ftype, B)
            write("value", "x", _text_expr("v"))
        elif ftype == "monetary":
            if v2:
                s.add(f"o = g({K})", "if o.__class__ is dict: v = o.get('value'); u = o.get('currency')",
                      "else: v = o; u = None")
            else:
                s.add(f"v = g({K})", f"u = g({s.const(key + '_currency', 'K')})")
            number("v", "float", "_float")
            s.add(f"y = {_text_expr('u')}")
            write("value", "x", "x")
            write("currency", "y", "y")
        elif ftype in ("daterange", "timerange"):
            if v2:
                s.add(f"o = g({K})", "if o is None: v = u = None",
                      f"else: v, u = _parts(o, {s.const(_RANGE_START, 'S')}, {s.const(_RANGE_END, 'S')})")
            else:
                s.add(f"v = g({K})", f"u = g({s.const(key + '_until', 'K')})")
            if labels:
                cache, fn = ("DATES", "_date") if ftype == "daterange" else ("TIMES", "_time")
                cached("v", cache, fn, B)
                s.add("y = x")
                cached("u", cache, fn, cols["until"])
                s.add(f"out[{cols['value']}] = y", f"out[{cols['until']}] = x")
            if raw:
                s.add(f"out[{K}] = {_text_expr('v')}",
                      f"out[{s.const(key + '_until', 'K')}] = {_text_expr('u')}")
        elif ftype == "address":
            if v2:
                s.add(f"o = g({K})", "if o.__class__ is not dict: o = EMPTY if o is None else {'value': o}",
                      "h = o.get", "v = h('value')")
            else:
                s.add(f"v = g({K})")
            s.add(f"x = {_text_expr('v')}")
            write("value", "x", "x")
            for part in ADDRESS_PARTS:
                s.add(f"v = h({part!r})" if v2 else f"v = g({s.const(f'{key}_{part}', 'K')})",
                      f"x = {_text_expr('v')}")
                write(part, "x", "x")
        elif ftype in ("enum", "set"):
            conv = self._option_converter(key, entry.get("name"), ftype, field, B)
            CACHE, CONV = s.const({}, "O"), s.const(conv, "F")
            # memo key: the raw value itself (v1 "12,15", 12) or, for v2 id lists, a tuple of ints
            s.add(f"v = g({K})",
                  "if v is None: e = k = None",
                  f"elif v.__class__ is str or v.__class__ is int: k = v; e = {CACHE}.get(k, MISS)",
                  "elif v.__class__ is list:",
                  "    k = tuple(v)",
                  f"    try: e = {CACHE}.get(k, MISS)",
                  "    except TypeError: e = MISS; k = None",  # v2 [{"id", "label"}, ...]
                  "else: e = MISS; k = None",
                  "if e is MISS:",
                  f"    e = {CONV}(v, rec)",
                  f"    if k is not None and len({CACHE}) < LIMIT: {CACHE}[k] = e",
                  "if e is None: e = NONE3")
            s.ns["NONE3"] = (None, None, None)
            second = "id" if ftype == "enum" else "ids"
            if labels:
                s.add(f"out[{cols['value']}] = e[0]", f"out[{cols[second]}] = e[1]")
            if raw:
                s.add(f"out[{K}] = e[2]")
        else:  # pragma: no cover - every _ROLES type is handled above
            raise AssertionError(f"unhandled field type {ftype!r}")

    def _option_converter(
        self, key: str, name: Any, ftype: str, field: Mapping[str, Any], column: str
    ) -> Callable[[Any, Mapping[str, Any]], tuple[Any, Any, Any]]:
        """Slow path for enum/set values: -> (label text, id column value, raw id text)."""
        options: dict[Any, Any] = {}
        for opt in field.get("options") or []:
            if isinstance(opt, Mapping) and opt.get("id") is not None:
                options[_option_id(opt.get("id"))] = opt.get("label")

        def label_of(oid: Any) -> Any:
            if oid in options:
                return options[oid]
            self._warn_once(("option", key, oid), f"custom field {name!r} ({key}) has value {oid!r} with no "
                            "such option (deleted?): id kept, label NULL")
            return None

        if ftype == "enum":
            def conv(v: Any, rec: Mapping[str, Any]) -> tuple[Any, Any, Any]:
                text_id = _id_text(v)
                if text_id is None:
                    return (None, None, None)
                oid = _option_id(text_id)
                if oid.__class__ is not int or not -_I64 <= oid <= _I64:
                    self._bad(column, name, v, rec)
                    return (options.get(oid), None, text_id)
                return (label_of(oid), oid, text_id)
        else:
            def conv(v: Any, rec: Mapping[str, Any]) -> tuple[Any, Any, Any]:
                ids = _id_list(v)
                if not ids:
                    return (None, None, None)
                ids_text = ",".join(map(str, ids))
                names = [lbl for lbl in map(label_of, ids) if lbl is not None]
                return (", ".join(names) if names else None, ids_text, ids_text)
        return conv


def flatten_record(
    record: Mapping[str, Any],
    fields: Iterable[Mapping[str, Any]],
    field_map: Mapping[str, Any],
    mode: str = "labels",
    *,
    api_version: str = "v1",
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Flatten one record (builds a ``FieldFlattener``; in loops build the flattener once)."""
    return FieldFlattener(fields, field_map, mode, api_version=api_version, warn=warn)(record)
