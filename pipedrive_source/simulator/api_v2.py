"""API v2 routes of the simulator (issue 11): ``/api/v2/...`` and ``/v2/...`` over the SAME Company as v1.

sim-server picks this module up through ``server.API_MODULES`` (``match_route_v2``); it passes the
v1 ``SimRequest`` (re-exported here) and looks token costs up by ("v2", method, template) in
token_costs.tsv, so every template below is spelled as in openapi-v2.yaml.

Served (GET, the read side a sync needs): ``/deals`` (+ ``/deals/archived``, ``/deals/{id}``,
``/deals/{id}/products``, ``/deals/products?deal_ids=``, ``/deals/{id}/followers``), ``/persons``,
``/organizations``, ``/activities``, ``/products`` (each with ``/{id}`` and ``/{id}/followers`` where
the spec has it), ``/pipelines``, ``/stages`` (+ ``/{id}``), the search endpoints
(``/deals|persons|organizations|products|leads/search``, ``/itemSearch``) and the field endpoints
(``/dealFields``, ``/personFields``, ``/organizationFields``, ``/productFields``, ``/activityFields``,
each with ``/{field_code}``).

v2 conventions (openapi-v2.yaml):
- cursor pagination: ``cursor`` + ``limit`` (default 100, max 500; 400 above), the next cursor in
  ``additional_data.next_cursor`` (``null`` on the last page). Entity lists use keyset cursors on
  ``(sort value, id)``, so a page boundary stays exact while records change between pages;
- ``updated_since`` (inclusive) / ``updated_until`` (exclusive), RFC 3339 with a zone, else 400
  (``/products`` has no ``updated_until`` in the spec and ignores it);
- ``sort_by`` / ``sort_direction`` (allowed fields per endpoint as in the spec; id breaks ties);
- deals: ``status`` = comma list of open|won|lost|deleted, default all not deleted; ``/deals``
  serves not-archived deals, ``/deals/archived`` archived ones (both honour ``status``);
- ``include_fields``, ``custom_fields`` (<= 15 keys), ``include_option_labels``, ``ids`` (<= 100);
- a non-admin token sees only records it owns (as the simulator's v1 lists do).
Record shapes: ``v2_render``.
"""

from __future__ import annotations

import base64
import binascii
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from . import v2_render as r2
from .api_v1 import ApiError, Route, SimRequest, SimResponse, _guard, error, match_in, ok
from .store import FIELD_ENTITIES, parse_ts
from .v1_query import _sort_value, field_pred, owner_pred, q_bool, q_int, select_ids

if TYPE_CHECKING:
    from .store import Company, EntityStore

MAX_LIMIT = 500
RENDER: dict[str, Callable[..., dict]] = {
    "deals": r2.deal_v2, "persons": r2.person_v2, "organizations": r2.org_v2,
    "activities": r2.activity_v2, "products": r2.product_v2,
}
SORTABLE: dict[str, tuple[str, ...]] = {
    "deals": ("id", "update_time", "add_time"), "persons": ("id", "update_time", "add_time"),
    "organizations": ("id", "update_time", "add_time"), "activities": ("id", "update_time", "add_time", "due_date"),
    "products": ("id", "name", "add_time", "update_time"),
}
HAS_UNTIL = {"deals", "persons", "organizations", "activities"}
DEAL_STATUSES = ("open", "won", "lost", "deleted")
LABEL = {"deals": "Deal", "persons": "Person", "organizations": "Organization", "activities": "Activity",
         "products": "Product"}


# ------------------------------------------------------------------------------------ params
def q_limit(req: SimRequest, maximum: int = MAX_LIMIT) -> int:
    limit = q_int(req, "limit", 100, lo=1)
    if limit > maximum:  # type: ignore[operator]
        raise ApiError(400, f"Parameter 'limit' must be at most {maximum}")
    return limit  # type: ignore[return-value]


def q_rfc3339(req: SimRequest, name: str) -> int | None:
    """RFC 3339 with an explicit zone (``2025-01-01T10:20:00Z``) -> epoch seconds; anything else 400."""
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    s = raw.strip()
    if len(s) < 20 or s[10] not in "Tt" or not (s[-1] in "Zz" or s[-6] in "+-"):
        raise ApiError(400, f"Parameter '{name}' must be an RFC 3339 date-time", "e.g. 2025-01-01T10:20:00Z")
    t = parse_ts(s)
    if t is None:
        raise ApiError(400, f"Parameter '{name}' must be an RFC 3339 date-time", "e.g. 2025-01-01T10:20:00Z")
    return t


def q_list(req: SimRequest, name: str, allowed: tuple[str, ...] | None = None, max_items: int | None = None) -> list[str]:
    raw = req.query.get(name)
    if not raw:
        return []
    items = [x.strip() for x in raw.split(",") if x.strip()]
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise ApiError(400, f"Parameter '{name}' has an invalid value '{bad[0][:40]}'",
                           f"Allowed: {', '.join(allowed)}")
    if max_items is not None and len(items) > max_items:
        raise ApiError(400, f"Parameter '{name}' accepts at most {max_items} values")
    return items


def q_int_list(req: SimRequest, name: str, max_items: int) -> list[int]:
    out = []
    for x in q_list(req, name, max_items=max_items):
        try:
            out.append(int(x))
        except ValueError:
            raise ApiError(400, f"Parameter '{name}' must be a list of integers") from None
    return out


def q_sort(req: SimRequest, allowed: tuple[str, ...]) -> tuple[str, bool]:
    by = req.query.get("sort_by") or "id"
    if by not in allowed:
        raise ApiError(400, f"Invalid sort_by '{by[:40]}'", f"Supported fields: {', '.join(allowed)}")
    direction = (req.query.get("sort_direction") or "asc").lower()
    if direction not in ("asc", "desc"):
        raise ApiError(400, "Invalid sort_direction", "Supported values: asc, desc")
    return by, direction == "desc"


def path_id(req: SimRequest) -> int:
    raw = req.path_params.get("id", "")
    try:
        v = int(raw)
    except ValueError:
        raise ApiError(400, "Path parameter 'id' must be an integer") from None
    if v < 1:
        raise ApiError(404, "Not found")
    return v


# ------------------------------------------------------------------------------------ cursors
def encode_cursor(payload: list) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode_cursor(raw: str | None) -> list | None:
    if not raw:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(400, "Invalid cursor", "The cursor is not valid") from None
    if not isinstance(value, list) or not value:
        raise ApiError(400, "Invalid cursor", "The cursor is not valid")
    return value


def offset_page(rows: list, req: SimRequest, maximum: int = MAX_LIMIT) -> tuple[list, dict]:
    """Cursor paging over an in-memory list (small lists: followers, stages, fields, search hits)."""
    limit = q_limit(req, maximum)
    cur = decode_cursor(req.query.get("cursor"))
    start = 0
    if cur is not None:
        if cur[0] != "o" or len(cur) != 2 or not isinstance(cur[1], int) or cur[1] < 0:
            raise ApiError(400, "Invalid cursor", "The cursor is not valid")
        start = cur[1]
    page = rows[start:start + limit]
    nxt = encode_cursor(["o", start + limit]) if start + limit < len(rows) else None
    return page, {"next_cursor": nxt}


def _key_fn(c: Company, st: EntityStore, entity: str, field: str) -> Callable[[int], Any]:
    """The sort key ``select_ids``/``sort_ids`` order by, as a function of the id."""
    if field == "id":
        return lambda i: i
    if field == "update_time" and st.tm is not None:
        ut = st.ut_array()
        return lambda i: ut[i]
    return lambda i: _sort_value((st.get(i) or {}).get(field))


def _after(ids: array[int], key: Callable[[int], Any], desc: bool, last: tuple) -> int:
    """Index of the first id strictly after ``last`` = (sort key, id) in the sorted ``ids``."""
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        i = ids[mid]
        k = (key(i), i)
        beyond = k < last if desc else k > last
        if beyond:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


# ------------------------------------------------------------------------------------ big lists
def _status_pred(c: Company, statuses: set[str]) -> Callable[[int], bool]:
    st = c.stores["deals"]
    ov, nb, misc = st.overlay, st.n_base, c.b.deal_misc

    def p(i: int) -> bool:
        rec = ov.get(i)
        status = rec.get("status") if rec is not None else (misc(i)["status"] if i <= nb else None)
        return status in statuses
    return p


def _archived_pred(c: Company, archived: bool) -> Callable[[int], bool]:
    ov = c.stores["deals"].overlay  # generated deals are never archived; only writes archive them
    return lambda i: bool((ov.get(i) or {}).get("is_archived")) is archived


def _window_pred(st: EntityStore, lo: int | None, hi: int | None) -> Callable[[int], bool]:
    ut = st.ut_array()
    lo_ = lo if lo is not None else -(1 << 62)
    hi_ = hi if hi is not None else (1 << 62)
    return lambda i: lo_ <= ut[i] < hi_


def list_entity(c: Company, req: SimRequest, entity: str, *, archived: bool | None = None) -> SimResponse:
    st = c.stores[entity]
    limit = q_limit(req)
    sort_by, desc = q_sort(req, SORTABLE[entity])
    include = set(q_list(req, "include_fields", r2.INCLUDE_FIELDS[entity]))
    only_cf = set(q_list(req, "custom_fields", max_items=15)) or None
    labels = bool(q_bool(req, "include_option_labels"))
    q_int(req, "filter_id")
    since = q_rfc3339(req, "updated_since")
    until = q_rfc3339(req, "updated_until") if entity in HAS_UNTIL else None
    filters: list[tuple] = []
    preds: list[Callable[[int], bool]] = []
    if since is not None or until is not None:
        filters.append(("window", since, until))
        preds.append(_window_pred(st, since, until))
    ids_filter = q_int_list(req, "ids", 100)
    if ids_filter:
        wanted = frozenset(ids_filter)
        filters.append(("ids", tuple(sorted(wanted))))
        preds.append(wanted.__contains__)
    owner = q_int(req, "owner_id")
    if owner:
        filters.append(("owner", owner))
        preds.append(owner_pred(c, entity, owner))
    if not req.is_admin:
        filters.append(("own", req.user_id))
        preds.append(owner_pred(c, entity, req.user_id))
    for name in ("person_id", "org_id", "pipeline_id", "stage_id", "deal_id"):
        if name in req.query and entity in _FILTERS and name in _FILTERS[entity]:
            v = q_int(req, name)
            if v:
                filters.append((name, v))
                preds.append(field_pred(c, entity, name, v))
    if entity == "activities":
        done = q_bool(req, "done")
        if done is not None:
            filters.append(("done", done))
            preds.append(field_pred(c, entity, "done", done))
    include_deleted = "no"
    if entity == "deals":
        statuses = set(q_list(req, "status", DEAL_STATUSES)) or {"open", "won", "lost"}
        if statuses == {"deleted"}:
            include_deleted = "only"
        elif "deleted" in statuses:
            include_deleted = "also"
        live = statuses - {"deleted"}
        if live and live != {"open", "won", "lost"}:
            filters.append(("status", tuple(sorted(statuses))))
            preds.append(_status_pred(c, statuses))
        if archived is not None:
            filters.append(("archived", archived))
            preds.append(_archived_pred(c, archived))
    sort = ((sort_by, desc), ("id", desc)) if sort_by != "id" else (("id", desc),)
    ids = select_ids(c, entity, ("v2", *filters), preds, sort, include_deleted=include_deleted)
    key = _key_fn(c, st, entity, sort_by)
    start = 0
    cur = decode_cursor(req.query.get("cursor"))
    if cur is not None:
        if cur[0] != "k" or len(cur) != 5 or cur[1] != sort_by or cur[2] != desc:
            raise ApiError(400, "Invalid cursor", "The cursor does not belong to this sort order")
        last_key = cur[3]
        if isinstance(last_key, list):
            last_key = tuple(last_key)
        start = _after(ids, key, desc, (last_key, cur[4]))
    page_ids = ids[start:start + limit]
    render = RENDER[entity]
    data = []
    for i in page_ids:
        rec = st.get(i)
        if rec is not None:
            data.append(render(c, rec, include, option_labels=labels, only_cf=only_cf))
    nxt = None
    if start + limit < len(ids) and page_ids:
        last = page_ids[-1]
        nxt = encode_cursor(["k", sort_by, desc, _jsonable(key(last)), last])
    return ok(data, {"next_cursor": nxt})


_FILTERS = {
    "deals": ("person_id", "org_id", "pipeline_id", "stage_id"),
    "persons": ("org_id",),
    "activities": ("deal_id", "person_id", "org_id"),
    "organizations": (),
    "products": (),
}


def _get_flat_or_404(c: Company, entity: str, i: int) -> dict:
    rec = c.get_flat(entity, i)
    if rec is None:
        raise ApiError(404, f"{LABEL.get(entity, 'Item')} not found")
    return rec


def _single(entity: str) -> Callable[[Company, SimRequest], SimResponse]:
    def handler(c: Company, req: SimRequest) -> SimResponse:
        rec = _get_flat_or_404(c, entity, path_id(req))
        include = set(q_list(req, "include_fields", r2.INCLUDE_FIELDS[entity]))
        only_cf = set(q_list(req, "custom_fields", max_items=15)) or None
        labels = bool(q_bool(req, "include_option_labels"))
        return ok(RENDER[entity](c, rec, include, option_labels=labels, only_cf=only_cf))
    handler.__name__ = f"get_{entity}_v2_one"
    return handler


def _lister(entity: str, archived: bool | None = None) -> Callable[[Company, SimRequest], SimResponse]:
    def handler(c: Company, req: SimRequest) -> SimResponse:
        return list_entity(c, req, entity, archived=archived)
    handler.__name__ = f"get_{entity}_v2" + ("_archived" if archived else "")
    return handler


# ------------------------------------------------------------------------------------ deal children
def _sorted_rows(rows: list[dict], req: SimRequest, allowed: tuple[str, ...]) -> list[dict]:
    by, desc = q_sort(req, allowed)
    return sorted(rows, key=lambda r: (_sort_value(r.get(by)), r.get("id") or 0), reverse=desc)


def get_deal_products(c: Company, req: SimRequest) -> SimResponse:
    did = path_id(req)
    _get_flat_or_404(c, "deals", did)
    rows = [r2.deal_product_v2(r, did) for r in c.deal_children("products", did)]
    rows = _sorted_rows(rows, req, ("id", "add_time", "update_time", "order_nr"))
    page, ad = offset_page(rows, req)
    return ok(page, ad)


def get_deals_products(c: Company, req: SimRequest) -> SimResponse:
    ids = q_int_list(req, "deal_ids", 100)
    if not ids:
        raise ApiError(400, "Parameter 'deal_ids' is required")
    rows: list[dict] = []
    for did in sorted(set(ids)):
        if c.get_flat("deals", did) is None:
            continue
        rows.extend(r2.deal_product_v2(r, did) for r in c.deal_children("products", did))
    rows = _sorted_rows(rows, req, ("id", "deal_id", "add_time", "update_time", "order_nr"))
    page, ad = offset_page(rows, req)
    return ok(page, ad)


def _followers(entity: str) -> Callable[[Company, SimRequest], SimResponse]:
    def handler(c: Company, req: SimRequest) -> SimResponse:
        i = path_id(req)
        rec = _get_flat_or_404(c, entity, i)
        if entity == "deals":
            rows = c.deal_children("followers", i)
        elif entity == "products":
            rows = [{"user_id": r2._int_or_none(rec.get("owner_id")) or 1, "add_time": rec.get("add_time")}]
        else:
            from .v1_read import _followers_of

            rows = _followers_of(c, entity, i)
        page, ad = offset_page([r2.follower_v2(r) for r in rows], req)
        return ok(page, ad)
    handler.__name__ = f"get_{entity}_followers_v2"
    return handler


# ------------------------------------------------------------------------------------ pipelines, stages
def get_pipelines(c: Company, req: SimRequest) -> SimResponse:
    rows = [r2.pipeline_v2(p) for p in _small(c, "pipelines")]
    rows = _sorted_rows(rows, req, ("id", "update_time", "add_time"))
    page, ad = offset_page(rows, req)
    return ok(page, ad)


def get_pipeline(c: Company, req: SimRequest) -> SimResponse:
    pid = path_id(req)
    for p in _small(c, "pipelines"):
        if p["id"] == pid:
            return ok(r2.pipeline_v2(p))
    raise ApiError(404, "Pipeline not found")


def get_stages(c: Company, req: SimRequest) -> SimResponse:
    pid = q_int(req, "pipeline_id")
    rows = [r2.stage_v2(s) for s in _small(c, "stages") if not pid or s.get("pipeline_id") == pid]
    rows = _sorted_rows(rows, req, ("id", "update_time", "add_time", "order_nr"))
    page, ad = offset_page(rows, req)
    return ok(page, ad)


def get_stage(c: Company, req: SimRequest) -> SimResponse:
    sid = path_id(req)
    for s in _small(c, "stages"):
        if s["id"] == sid:
            return ok(r2.stage_v2(s))
    raise ApiError(404, "Stage not found")


def _small(c: Company, name: str) -> list[dict]:
    st = c.stores[name]
    return [rec for rec in (st.get(i) for i in st.ids()) if rec is not None]


# ------------------------------------------------------------------------------------ fields
FIELDS_ENTITY = {v: k for k, v in FIELD_ENTITIES.items() if k != "notes"}  # v2 has no noteFields


def _fields_list(name: str) -> Callable[[Company, SimRequest], SimResponse]:
    entity = FIELDS_ENTITY[name]

    def handler(c: Company, req: SimRequest) -> SimResponse:
        rows = [r2.field_v2(f) for f in c.fields[entity]]
        page, ad = offset_page(rows, req)
        return ok(page, ad)
    handler.__name__ = f"get_{name}_v2"
    return handler


def _field_one(name: str) -> Callable[[Company, SimRequest], SimResponse]:
    entity = FIELDS_ENTITY[name]

    def handler(c: Company, req: SimRequest) -> SimResponse:
        code = req.path_params.get("field_code", "")
        for f in c.fields[entity]:
            if f["key"] == code:
                return ok(r2.field_v2(f))
        raise ApiError(404, "Field not found")
    handler.__name__ = f"get_{name}_v2_one"
    return handler


# ------------------------------------------------------------------------------------ search
def _search(kinds: tuple[str, ...], v1_handler_name: str, maximum: int = MAX_LIMIT
            ) -> Callable[[Company, SimRequest], SimResponse]:
    """v1's search engine with the v2 envelope: cursor instead of start, v2 item extras."""

    def handler(c: Company, req: SimRequest) -> SimResponse:
        from . import v1_read

        limit = q_limit(req, maximum)
        cur = decode_cursor(req.query.get("cursor"))
        start = 0
        if cur is not None:
            if cur[0] != "o" or len(cur) != 2 or not isinstance(cur[1], int):
                raise ApiError(400, "Invalid cursor", "The cursor is not valid")
            start = cur[1]
        query = {k: v for k, v in req.query.items() if k != "cursor"}
        query.update(start=str(start), limit=str(limit))
        inner = SimRequest(req.method, req.path_params, query, req.body, req.user_id, req.is_admin, req.now)
        resp = getattr(v1_read, v1_handler_name)(c, inner)
        if resp.status != 200:
            return resp
        items = (resp.body.get("data") or {}).get("items") or []
        for hit in items:
            item = hit.get("item") or {}
            org = item.get("organization")
            if isinstance(org, dict) and item.get("type") in ("deal", "person"):
                org.pop("address", None)  # v1's search item has it, v2's does not
            if item.get("type") == "deal":
                rec = c.get_flat("deals", item["id"]) or {}
                item["is_archived"] = bool(rec.get("is_archived"))
        more = ((resp.body.get("additional_data") or {}).get("pagination") or {}).get("more_items_in_collection")
        return ok({"items": items}, {"next_cursor": encode_cursor(["o", start + limit]) if more else None})
    handler.__name__ = f"search_{'_'.join(kinds)}_v2"
    return handler


# ------------------------------------------------------------------------------------ routes
ROUTES: list[tuple[str, str, Callable, bool]] = [
    ("GET", "/deals", _lister("deals", archived=False), False),
    ("GET", "/deals/archived", _lister("deals", archived=True), False),
    ("GET", "/deals/products", get_deals_products, False),
    ("GET", "/deals/search", _search(("deal",), "get_deals_search"), True),
    ("GET", "/deals/{id}", _single("deals"), False),
    ("GET", "/deals/{id}/products", get_deal_products, False),
    ("GET", "/deals/{id}/followers", _followers("deals"), False),
    ("GET", "/persons", _lister("persons"), False),
    ("GET", "/persons/search", _search(("person",), "get_persons_search"), True),
    ("GET", "/persons/{id}", _single("persons"), False),
    ("GET", "/persons/{id}/followers", _followers("persons"), False),
    ("GET", "/organizations", _lister("organizations"), False),
    ("GET", "/organizations/search", _search(("organization",), "get_orgs_search"), True),
    ("GET", "/organizations/{id}", _single("organizations"), False),
    ("GET", "/organizations/{id}/followers", _followers("organizations"), False),
    ("GET", "/activities", _lister("activities"), False),
    ("GET", "/activities/{id}", _single("activities"), False),
    ("GET", "/products", _lister("products"), False),
    ("GET", "/products/search", _search(("product",), "get_products_search"), True),
    ("GET", "/products/{id}", _single("products"), False),
    ("GET", "/products/{id}/followers", _followers("products"), False),
    ("GET", "/leads/search", _search(("lead",), "get_leads_search"), True),
    ("GET", "/itemSearch", _search(("item",), "get_item_search", 100), True),
    ("GET", "/pipelines", get_pipelines, False),
    ("GET", "/pipelines/{id}", get_pipeline, False),
    ("GET", "/stages", get_stages, False),
    ("GET", "/stages/{id}", get_stage, False),
]
for _name in FIELDS_ENTITY:
    ROUTES.append(("GET", f"/{_name}", _fields_list(_name), False))
    ROUTES.append(("GET", f"/{_name}/{{field_code}}", _field_one(_name), False))

_BY_SHAPE: dict[tuple[str, int], list[tuple[tuple[str | None, ...], tuple[str, ...], Route]]] = {}
for _m, _t, _fn, _s in ROUTES:
    _route = Route(_m, _t, _guard(_fn), _s)
    _segs = _t.strip("/").split("/")
    _BY_SHAPE.setdefault((_m, len(_segs)), []).append(
        (tuple(None if s.startswith("{") else s for s in _segs), tuple(s[1:-1] for s in _segs if s.startswith("{")),
         _route))


def routes() -> list[Route]:
    return [r for cands in _BY_SHAPE.values() for _, _, r in cands]


def match_route_v2(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """Route + path params for a path without the /v2 or /api/v2 prefix; None if unknown.

    Literal segments beat placeholders (``/deals/archived`` is not ``/deals/{id}``)."""
    return match_in(_BY_SHAPE, method, path)


__all__ = ["Route", "SimRequest", "SimResponse", "error", "match_route_v2", "routes"]
