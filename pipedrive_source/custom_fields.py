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
    Compiled once per run (per entity); ``flattener(record) -> dict`` and ``flattener.flatten_page(records)``.
    ``flattener.column_types`` = ``custom_column_types(...)``; ``flattener.malformed`` counts bad values per column.
``flatten_record(record, fields, field_map, mode="labels", *, api_version="v1", warn=None) -> dict``
    One-off convenience (builds a ``FieldFlattener`` per call; use the class in loops).
``field_metadata_rows(fields, field_map) -> (field_rows, option_rows)``
    Rows for ``deal_fields`` (primary key ``key``) and ``deal_field_options`` (primary key
    ``field_key, option_id``).
``custom_column_types(fields, field_map, mode="labels", *, include_deleted=True) -> dict[str, str]``
    Column -> dlt data type (``text``, ``double``, ``bigint``, ``bool``, ``date``, ``time``).
``custom_arrow_types(...)`` same, as ``pyarrow`` types (imports pyarrow lazily).
``column_base_name(name, max_length=59) -> str``  the snake_case rule on its own.

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
``both``: the named columns plus the raw columns of ``hash``.

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
``FieldFlattener`` compiles one converter closure per field (type x mode x API version) up front;
per row it does one dict copy, a few ``pop``s and the converters — no regex, no lookups by name.
Measured in tests/test_custom_fields.py::test_flattener_speed (see the module report).
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
    "MODES",
    "FieldFlattener",
    "column_base_name",
    "custom_arrow_types",
    "custom_column_types",
    "field_metadata_rows",
    "flatten_record",
    "is_custom_field",
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
    current = {f["key"]: f for f in fields if is_custom_field(f)}

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
        "id": src.get("id"),
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
    for f in fields:
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
        for opts, deleted in ((f.get("options") or [], False), (f.get("options_deleted") or [], True)):
            for opt in opts:
                if not isinstance(opt, Mapping) or opt.get("id") is None:
                    continue
                option_rows.append(
                    {
                        "field_key": key,
                        "field_id": f.get("id"),
                        "option_id": _option_id(opt.get("id")),
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
        "id": f.get("id"),
        "name": f.get("name"),
        "field_type": f.get("field_type"),
        "active_flag": None if deleted else f.get("active_flag"),
        "edit_flag": True if deleted else f.get("edit_flag"),
        "is_custom": entry is not None,
        "column_name": (entry or {}).get("column"),
        "columns": ",".join(cols.values()) if cols else None,
        "deleted": deleted,
        "order_nr": None if deleted else f.get("order_nr"),
        "mandatory_flag": None if deleted else f.get("mandatory_flag"),
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
        return float(v)
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


def _int(v: Any) -> Any:
    t = v.__class__
    if t is int:
        return v
    if v is None:
        return None
    if t is str:
        if v in _DIRT:
            return None
        try:
            return int(v)
        except ValueError:
            f = _float(v)
            return int(f) if f.__class__ is float and f.is_integer() else _BAD
    if t is float:
        return int(v) if v.is_integer() else _BAD
    return _BAD


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
    if v is None:
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
        parts = [v]
    ids: set[Any] = set()
    for p in parts:
        if p is None:
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


_RANGE_START = ("start", "from", "value")
_RANGE_END = ("until", "end", "to")


# ---------------------------------------------------------------------------------------------
# flattening


class FieldFlattener:
    """Per-run compiled flattener: build once from (fields, field_map, mode), call per record.

    Not thread-safe for its warning bookkeeping only (a duplicate warning at worst).
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
        by_key = {f.get("key"): f for f in fields if f.get("key")}
        entries = {k: e for k, e in (field_map.get("fields") or {}).items() if not e.get("deleted")}
        self._convs: list[Callable[[Any, Mapping[str, Any], dict[str, Any]], None]] = []
        raw_keys: list[str] = []
        for key, entry in entries.items():
            ftype = entry.get("field_type") or ""
            field = by_key.get(key) or {}
            raw_keys.extend(_raw_key(key, role) for role, _ in _raw_roles(ftype))
            self._convs.append(self._compile(key, entry, ftype, field))
            if ftype not in _ROLES and ("type", key) not in self._warned:
                self._warned.add(("type", key))
                self._warn(
                    f"custom field {entry.get('name')!r} ({key}) has unknown type {ftype!r}: loaded as text"
                )
        self._known_raw = frozenset(raw_keys) | frozenset(entries)
        # v1 labels mode drops raw keys; unknown 40-hex keys found on the way are dropped too.
        self._drop: list[str] = raw_keys if (mode == "labels" and api_version == "v1") else []
        self._named = frozenset(c for e in entries.values() for c in (e.get("columns") or {}).values())
        self._last_len = -1
        self._last_cf_len = -1

    # -- public -----------------------------------------------------------------------------
    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        if len(record) != self._last_len:
            self._scan(record)
        if self.api_version == "v1":
            src: Mapping[str, Any] = record
            for k in self._drop:
                out.pop(k, None)
        else:
            cf = out.pop("custom_fields", None)
            src = cf if cf.__class__ is dict else {}
            if src and len(src) != self._last_cf_len:
                self._scan_v2(src)
        for conv in self._convs:
            conv(src, record, out)
        return out

    def flatten_page(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [self(r) for r in records]

    # -- bookkeeping --------------------------------------------------------------------------
    def _scan(self, record: Mapping[str, Any]) -> None:
        """On a new record shape: find custom keys nobody told us about (a field created after
        ``fields`` was fetched) and system keys that a named column would overwrite."""
        self._last_len = len(record)
        for k in record:
            if k in self._named and k not in self._known_raw:
                self._warn_once(("clash", k), f"record key {k!r} is also the name of a custom-field column: "
                                "the custom value wins; add it to the reserved set of update_field_map")
            if self.api_version == "v2":
                continue
            if len(k) >= 40 and _HEX_KEY.match(k[:40]) and k not in self._known_raw:
                if self.mode == "labels" and k not in self._drop:
                    self._drop.append(k)
                self._warn_once(("unknown", k[:40]), f"record has unknown custom field key {k[:40]}: "
                                "refresh the field map (it is ignored in 'labels' mode)")

    def _scan_v2(self, cf: Mapping[str, Any]) -> None:
        self._last_cf_len = len(cf)
        for k in cf:
            if k not in self._known_raw:
                self._warn_once(("unknown", k), f"record has unknown custom field key {k}: ignored")

    def _warn_once(self, token: Any, message: str) -> None:
        if token not in self._warned:
            self._warned.add(token)
            self._warn(message)

    def _bad(self, column: str, name: Any, value: Any, record: Mapping[str, Any]) -> None:
        self.malformed[column] += 1
        n = self.malformed[column]
        if n <= MAX_WARNINGS_PER_COLUMN:
            more = " (further ones for this column are only counted)" if n == MAX_WARNINGS_PER_COLUMN else ""
            self._warn(
                f"malformed value {str(value)[:80]!r} in custom field {name!r} (column {column}) "
                f"of record id={record.get('id')!r}: stored as NULL{more}"
            )

    # -- compilation --------------------------------------------------------------------------
    def _compile(
        self, key: str, entry: Mapping[str, Any], ftype: str, field: Mapping[str, Any]
    ) -> Callable[[Any, Mapping[str, Any], dict[str, Any]], None]:
        """One closure per field: read the raw parts (v1 keys or v2 object), emit named/raw columns."""
        cols: dict[str, str] = dict(entry.get("columns") or {})
        name = entry.get("name")
        labels = self.mode in ("labels", "both")
        raw = self.mode in ("hash", "both")
        v2 = self.api_version == "v2"
        bad = self._bad
        warn_once = self._warn_once
        col = cols.get("value", "")

        def checked(parse: Callable[[Any], Any], column: str) -> Callable[[Any, Mapping[str, Any]], Any]:
            def run(v: Any, rec: Mapping[str, Any]) -> Any:
                out = parse(v)
                if out is _BAD:
                    bad(column, name, v, rec)
                    return None
                return out

            return run

        # ---- scalar types: one raw key, one parser --------------------------------------------
        scalar: Callable[[Any], Any] | None = None
        raw_scalar: Callable[[Any], Any] | None = None
        if ftype in TEXT_TYPES or ftype == "lead":
            scalar = raw_scalar = _text
        elif ftype == "double":
            scalar = raw_scalar = _float
        elif ftype == "int":
            scalar = raw_scalar = _int
        elif ftype == "boolean":
            scalar = raw_scalar = _bool
        elif ftype == "date":
            scalar, raw_scalar = _date, _text
        elif ftype == "time":
            scalar, raw_scalar = _time, _text
        elif ftype in REFERENCE_TYPES:
            scalar = raw_scalar = _ref_id
        elif ftype not in _ROLES:
            scalar = raw_scalar = _text
        if scalar is not None:
            parse = checked(scalar, col)
            parse_raw = checked(raw_scalar, key) if raw_scalar is not scalar else parse
            if labels and raw:
                def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                    v = src.get(key)
                    out[col] = parse(v, rec)
                    out[key] = parse_raw(v, rec)
            elif labels:
                def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                    out[col] = parse(src.get(key), rec)
            else:
                def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                    out[key] = parse_raw(src.get(key), rec)
            return conv

        # ---- two-part types: monetary, daterange, timerange -------------------------------------
        if ftype in ("monetary", "daterange", "timerange"):
            second = "currency" if ftype == "monetary" else "until"
            k2 = f"{key}_{second}"
            c2 = cols.get(second, "")
            if ftype == "monetary":
                p1, p2, r1, r2 = checked(_float, col), _text, checked(_float, key), _text
                v2_first, v2_second = ("value",), ("currency",)
            else:
                base = _date if ftype == "daterange" else _time
                p1, p2, r1, r2 = checked(base, col), checked(base, c2), _text, _text
                v2_first, v2_second = _RANGE_START, _RANGE_END

            def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                if v2:
                    a, b = _parts(src.get(key), v2_first, v2_second)
                else:
                    a, b = src.get(key), src.get(k2)
                if labels:
                    out[col] = p1(a, rec)
                    out[c2] = p2(b) if p2 is _text else p2(b, rec)
                if raw:
                    out[key] = r1(a, rec) if r1 is not _text else _text(a)
                    out[k2] = _text(b)

            return conv

        # ---- address ------------------------------------------------------------------------
        if ftype == "address":
            sub = [(p, f"{key}_{p}", cols.get(p, "")) for p in ADDRESS_PARTS]

            def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                if v2:
                    obj = src.get(key)
                    if obj.__class__ is not dict:
                        obj = {"value": obj}
                    vals = [_text(obj.get("value"))] + [_text(obj.get(p)) for p, _, _ in sub]
                else:
                    vals = [_text(src.get(key))] + [_text(src.get(k)) for _, k, _ in sub]
                if labels:
                    out[col] = vals[0]
                    for (_, _, c), v in zip(sub, vals[1:]):
                        out[c] = v
                if raw:
                    out[key] = vals[0]
                    for (_, k, _), v in zip(sub, vals[1:]):
                        out[k] = v

            return conv

        # ---- enum / set -----------------------------------------------------------------------
        options: dict[Any, Any] = {}
        for opt in field.get("options") or []:
            if isinstance(opt, Mapping) and opt.get("id") is not None:
                options[_option_id(opt.get("id"))] = opt.get("label")

        def label_of(oid: Any) -> Any:
            try:
                return options[oid]
            except KeyError:
                warn_once(
                    ("option", key, oid),
                    f"custom field {name!r} ({key}) has value {oid!r} with no such option "
                    "(deleted?): id kept, label NULL",
                )
                return None
            except TypeError:
                return None

        if ftype == "enum":
            c_id = cols.get("id", "")

            def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                v = src.get(key)
                if v is None:
                    if labels:
                        out[col] = out[c_id] = None
                    if raw:
                        out[key] = None
                    return
                text_id = _id_text(v)
                if labels:
                    if text_id is None:
                        out[col] = out[c_id] = None
                    else:
                        oid = _option_id(text_id)
                        if oid.__class__ is int:
                            out[c_id] = oid
                            out[col] = label_of(oid)
                        else:
                            bad(c_id, name, v, rec)
                            out[c_id] = None
                            out[col] = options.get(oid)
                if raw:
                    out[key] = text_id

            return conv

        if ftype == "set":
            c_ids = cols.get("ids", "")

            def conv(src: Any, rec: Mapping[str, Any], out: dict[str, Any]) -> None:
                ids = _id_list(src.get(key))
                ids_text = ",".join(map(str, ids)) if ids else None
                if labels:
                    out[c_ids] = ids_text
                    if ids:
                        names = [lbl for lbl in map(label_of, ids) if lbl is not None]
                        out[col] = ", ".join(names) if names else None
                    else:
                        out[col] = None
                if raw:
                    out[key] = ids_text

            return conv

        raise AssertionError(f"unhandled field type {ftype!r}")  # pragma: no cover


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
