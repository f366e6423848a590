"""Query machinery shared by the v1 handlers: parameter parsing, offset pagination,
sorting, id selection with caching, and the ``/collection`` cursor scan.

Offset lists select an ordered list of ids (cached per entity, filter and sort until
the entity changes) and build only the records of the requested page. ``/collection``
walks ids upwards from the cursor, so each page costs O(page + skipped ids) and records
are never built for ids outside the since/until window (the update_time index answers).
"""

from __future__ import annotations

import base64
import binascii
from array import array
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .api_v1 import ApiError, SimRequest
from .generator import T_END
from .store import parse_ts

if TYPE_CHECKING:
    from .store import Company, EntityStore

TRUE = {"1", "true", "True", "TRUE", "yes"}
FALSE = {"0", "false", "False", "FALSE", "no"}


# ------------------------------------------------------------------------- params
def q_int(req: SimRequest, name: str, default: int | None = None, *, lo: int | None = None,
          required: bool = False) -> int | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(400, f"Parameter '{name}' is required")
        return default
    try:
        v = int(str(raw).strip())
    except ValueError:
        raise ApiError(400, f"Parameter '{name}' must be an integer", f"Got {str(raw)[:40]!r}") from None
    if lo is not None and v < lo:
        raise ApiError(400, f"Parameter '{name}' must be >= {lo}")
    return v


def q_bool(req: SimRequest, name: str) -> bool | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ApiError(400, f"Parameter '{name}' must be a boolean")


def q_ts(req: SimRequest, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    t = parse_ts(raw)
    if t is None:
        raise ApiError(400, f"Parameter '{name}' is not a valid date-time", "Use format YYYY-MM-DD HH:MM:SS")
    return t


def path_int(req: SimRequest, name: str = "id") -> int:
    raw = req.path_params.get(name, "")
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, f"Path parameter '{name}' must be an integer")
    v = int(raw)
    if v < 1:
        raise ApiError(404, "Not found")
    return v


def pagination(req: SimRequest, default: int = 100, maximum: int = 500) -> tuple[int, int]:
    start = q_int(req, "start", 0, lo=0)
    limit = q_int(req, "limit", default, lo=1)
    return start, min(limit, maximum)  # type: ignore[type-var]


def page_envelope(items: list, start: int, limit: int, total: int | None = None,
                  more: bool | None = None) -> dict:
    if more is None:
        more = total is not None and start + limit < total
    pag: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pag["next_start"] = start + limit
    return {"pagination": pag}


def paginate_list(rows: list, req: SimRequest, default: int = 100, maximum: int = 500) -> tuple[list | None, dict]:
    """Offset-paginate an already materialized list (small entities)."""
    start, limit = pagination(req, default, maximum)
    page = rows[start:start + limit]
    return (page or None), page_envelope(page, start, limit, len(rows))


# ------------------------------------------------------------------------- sort
def parse_sort(raw: str | None, allowed: Iterable[str] | None = None) -> tuple[tuple[str, bool], ...]:
    """'update_time DESC, id ASC' -> (('update_time', True), ('id', False))."""
    if not raw:
        return ()
    out = []
    allowed_set = set(allowed) if allowed is not None else None
    for part in raw.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        if len(bits) > 2:
            raise ApiError(400, "Invalid sort parameter", f"Cannot parse {part.strip()[:40]!r}")
        fld = bits[0]
        direction = bits[1].upper() if len(bits) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise ApiError(400, "Invalid sort parameter", f"Unknown direction {bits[1][:10]!r}")
        if allowed_set is not None and fld not in allowed_set:
            raise ApiError(400, "Invalid sort parameter", f"Unknown field {fld[:40]!r}")
        out.append((fld, direction == "DESC"))
    return tuple(out)


def _sort_value(v: Any) -> tuple:
    """None-safe, type-tolerant sort key (None first, like SQL NULLS FIRST ascending)."""
    if v is None:
        return (0, 0)
    if isinstance(v, dict):
        v = v.get("value", v.get("id", v.get("name")))
        if v is None:
            return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, str(v).lower())


def sort_ids(c: "Company", st: "EntityStore", ids: list[int], sort: tuple[tuple[str, bool], ...]) -> list[int]:
    if not sort:
        return ids
    if all(f in ("id", "update_time") for f, _ in sort) and st.tm is not None:
        ut = st.ut_array()
        for fld, desc in reversed(sort):
            if fld == "id":
                ids = sorted(ids, reverse=desc)
            else:
                ids = sorted(ids, key=ut.__getitem__, reverse=desc)
        return ids
    recs = {i: st.get(i) for i in ids}
    for fld, desc in reversed(sort):
        ids = sorted(ids, key=lambda i: _sort_value(recs[i].get(fld) if recs[i] else None), reverse=desc)
    return ids


# ------------------------------------------------------------------------- id selection
Pred = Callable[[int], bool]


def select_ids(c: "Company", entity: str, filters: tuple, preds: list[Pred],
               sort: tuple[tuple[str, bool], ...], *, include_deleted: str = "no") -> "array[int]":
    """Ordered ids of live records passing ``preds``; cached while the entity is unchanged.

    ``filters`` is the hashable description of ``preds`` used as cache key.
    include_deleted (deals): "no" | "only" | "also".
    """
    st = c.stores[entity]
    now = c.now_epoch()
    key = (filters, sort, include_deleted, now // 60 if entity == "deals" else 0)
    hit = st._cache.get(key)
    if hit is not None:
        return hit
    if entity == "deals":
        ov = st.overlay
        ids_it: Iterable[int]
        if include_deleted == "only":
            ids_it = [i for i, r in sorted(ov.items()) if r.get("status") == "deleted"
                      and c.deal_state(r, now) == "deleted"]
        else:
            ids_it = c.visible_ids("deals", include_deleted_deals=(include_deleted == "also"))
    else:
        ids_it = st.ids()
    ids = list(ids_it)
    for p in preds:
        ids = [i for i in ids if p(i)]
    ids = sort_ids(c, st, ids, sort)
    packed = array("q", ids)  # 8 bytes per id instead of a list of int objects
    if len(st._cache) > 16:
        st._cache.clear()
    st._cache[key] = packed
    return packed


def owner_pred(c: "Company", entity: str, uid: int) -> Pred:
    st = c.stores[entity]
    own = st.owner_array()
    n = len(own)
    return lambda i: i < n and own[i] == uid


def field_pred(c: "Company", entity: str, fld: str, value: Any) -> Pred:
    st = c.stores[entity]

    def p(i: int) -> bool:
        r = st.get(i)
        if r is None:
            return False
        v = r.get(fld)
        if isinstance(v, dict):
            v = v.get("value", v.get("id"))
        return v == value
    return p


# ------------------------------------------------------------------------- cursor
def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        pad = "=" * (-len(raw) % 4)
        txt = base64.urlsafe_b64decode(raw + pad).decode()
        tag, num = txt.split(":", 1)
        if tag != "sim":
            raise ValueError
        v = int(num)
        if v < 0:
            raise ValueError
        return v
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "Invalid cursor", "The cursor is not valid") from None


def collection_scan(c: "Company", entity: str, after: int, limit: int, since: int | None, until: int | None,
                    rec_pred: Callable[[dict], bool] | None) -> tuple[list[dict], int | None]:
    """Up to ``limit`` flat records with id > after, id ascending; returns (records, next_after)."""
    st = c.stores[entity]
    ov = st.overlay
    out: list[dict] = []
    append = out.append
    maxid = st.max_id
    if since is not None and since >= T_END and st.tm is not None:
        # generated records all predate T_END: only written records can match
        cand = sorted(k for k in ov if k > after)
        for i in cand:
            rec = ov[i]
            t = st.update_time_of(i)
            if t < since or (until is not None and t > until):
                continue
            if rec_pred is not None and not rec_pred(rec):
                continue
            append(rec)
            if len(out) >= limit:
                return out, i
        return out, None
    gone = st.gone
    gen = st.gen
    nb = st.n_base
    i = after + 1
    if since is not None or until is not None:
        lo = since if since is not None else -(1 << 62)
        hi = until if until is not None else (1 << 62)
        bits = st.CHUNK_BITS
        chunk_end = -1
        ut = st.ut_ready(i) if i <= maxid else None
        while i <= maxid:
            if i > chunk_end:
                ut = st.ut_ready(i)
                chunk_end = ((i >> bits) + 1 << bits) - 1
            t = ut[i]  # type: ignore[index]
            if t < lo or t > hi or t < 0:
                i += 1
                continue
            rec = ov.get(i)
            if rec is None:
                if i > nb or i in gone:
                    i += 1
                    continue
                rec = gen(i)
            if rec_pred is None or rec_pred(rec):
                append(rec)
                if len(out) >= limit:
                    return out, (i if i < maxid else None)
            i += 1
        return out, None
    while i <= maxid:
        rec = ov.get(i)
        if rec is None:
            if i > nb or i in gone:
                i += 1
                continue
            rec = gen(i)
        if rec_pred is None or rec_pred(rec):
            append(rec)
            if len(out) >= limit:
                return out, (i if i < maxid else None)
        i += 1
    return out, None
