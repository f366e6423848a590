"""GET handlers of the v1 API (envelopes and field names of Pipedrive's v1 responses).

Every handler takes (Company, SimRequest) and returns a SimResponse; bad input raises
ApiError (turned into the 400/403/404 envelope by api_v1). Non-admin users see only
their own records in lists and get 403 on ``/collection``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .api_v1 import ApiError, SimRequest, SimResponse, ok
from .generator import COMPANY_DOMAIN, COMPANY_ID, DAY, fmt_ts
from .store import FIELD_ENTITIES, parse_ts
from .v1_records import TEMPLATES
from .v1_query import (
    collection_scan, decode_cursor, encode_cursor, field_pred, owner_pred, page_envelope, paginate_list,
    pagination, parse_sort, path_int, q_bool, q_int, q_ts, select_ids,
)

if TYPE_CHECKING:
    from .store import Company

NO_PERMISSION = "You do not have permissions to do this."
FIELDS_ROUTE = {v: k for k, v in FIELD_ENTITIES.items()}
RECENT_ITEMS = {"deal": "deals", "person": "persons", "organization": "organizations", "activity": "activities",
                "product": "products", "note": "notes", "user": "users", "file": "files", "filter": "filters",
                "pipeline": "pipelines", "stage": "stages", "activityType": "activityTypes"}


# ------------------------------------------------------------------------- helpers
def _sortable(c: "Company", entity: str) -> set[str]:
    st = c.stores[entity]
    sample = next((st.get(i) for i in st.ids()), None) or {}
    keys = set(sample) | set(TEMPLATES[entity]() if entity in TEMPLATES else ()) | {"id", "update_time", "add_time"}
    if entity in FIELD_ENTITIES:
        keys |= {f["key"] for f in c.fields[entity]}
    return keys


def _related(c: "Company", data: list[dict], *, users: tuple[str, ...] = (), persons: tuple[str, ...] = (),
             orgs: tuple[str, ...] = (), deals: tuple[str, ...] = ()) -> dict:
    rel: dict[str, dict] = {}

    def _id(v: Any) -> Any:
        return v.get("value", v.get("id")) if isinstance(v, dict) else v

    for rec in data:
        for k in users:
            uid = _id(rec.get(k))
            if isinstance(uid, int):
                u = c.small.user(uid)
                if u:
                    rel.setdefault("user", {})[str(uid)] = {"id": uid, "name": u["name"], "email": u["email"],
                                                            "has_pic": 0, "pic_hash": None,
                                                            "active_flag": u["active_flag"]}
        for k in persons:
            pid = _id(rec.get(k))
            if isinstance(pid, int):
                p = c.person_ref(pid)
                rel.setdefault("person", {})[str(pid)] = {"active_flag": p["active_flag"], "id": pid, "name": p["name"],
                                                          "email": p["email"], "phone": p["phone"],
                                                          "owner_id": p["owner_id"]}
        for k in orgs:
            oid = _id(rec.get(k))
            if isinstance(oid, int):
                o = c.org_ref(oid)
                rel.setdefault("organization", {})[str(oid)] = {"id": oid, "name": o["name"],
                                                                "people_count": o["people_count"],
                                                                "owner_id": o["owner_id"], "address": o["address"],
                                                                "active_flag": o["active_flag"],
                                                                "cc_email": o["cc_email"]}
        for k in deals:
            did = _id(rec.get(k))
            if isinstance(did, int):
                d = c.get_flat("deals", did)
                if d:
                    rel.setdefault("deal", {})[str(did)] = {"id": did, "title": d["title"], "status": d["status"],
                                                            "value": d["value"], "currency": d["currency"],
                                                            "stage_id": d["stage_id"], "pipeline_id": d["pipeline_id"]}
    return rel


RELATED: dict[str, Callable[["Company", list[dict]], dict]] = {
    "deals": lambda c, d: _related(c, d, users=("user_id",), persons=("person_id",), orgs=("org_id",)),
    "persons": lambda c, d: _related(c, d, users=("owner_id",), orgs=("org_id",)),
    "organizations": lambda c, d: _related(c, d, users=("owner_id",)),
    "activities": lambda c, d: _related(c, d, users=("user_id",), persons=("person_id",), orgs=("org_id",),
                                        deals=("deal_id",)),
    "notes": lambda c, d: {},
    "products": lambda c, d: _related(c, d, users=("owner_id",)),
    "leads": lambda c, d: {},
}


def list_big(c: "Company", req: SimRequest, entity: str, *, filters: list[tuple] | None = None,
             preds: list | None = None, include_deleted: str = "no", own_filter: bool = True,
             default_sort: tuple = ()) -> SimResponse:
    """Offset list of a big entity."""
    start, limit = pagination(req)
    sort = parse_sort(req.query.get("sort"), _sortable(c, entity)) or default_sort
    filters = list(filters or [])
    preds = list(preds or [])
    if own_filter and not req.is_admin:
        filters.append(("own", req.user_id))
        preds.append(owner_pred(c, entity, req.user_id))
    ids = select_ids(c, entity, tuple(filters), preds, sort, include_deleted=include_deleted)
    st = c.stores[entity]
    page_ids = ids[start:start + limit]
    data = [c.render(entity, st.get(i), req.user_id) for i in page_ids]
    rel = RELATED[entity](c, data)
    return ok(data or None, page_envelope(data, start, limit, len(ids)), rel)


def _collection(c: "Company", req: SimRequest, entity: str, rec_pred: Callable[[dict], bool] | None) -> SimResponse:
    if not req.is_admin:
        raise ApiError(403, NO_PERMISSION)
    limit = q_int(req, "limit", 100, lo=1)
    limit = min(limit, 500)  # type: ignore[type-var]
    after = decode_cursor(req.query.get("cursor"))
    since = q_ts(req, "since")
    until = q_ts(req, "until")
    recs, nxt = collection_scan(c, entity, after, limit, since, until, rec_pred)
    return ok(recs or None, {"next_cursor": encode_cursor(nxt) if nxt is not None else None})


def _and(*ps: Callable[[dict], bool] | None) -> Callable[[dict], bool] | None:
    ps2 = [p for p in ps if p is not None]
    if not ps2:
        return None
    if len(ps2) == 1:
        return ps2[0]
    return lambda r: all(p(r) for p in ps2)


def _ref_id(v: Any) -> Any:
    return v.get("value", v.get("id")) if isinstance(v, dict) else v


def _get_or_404(c: "Company", entity: str, i: int, label: str) -> dict:
    rec = c.get_flat(entity, i)
    if rec is None:
        raise ApiError(404, f"{label} not found")
    return rec


# ------------------------------------------------------------------------- deals
DEAL_STATUSES = {"open", "won", "lost", "deleted", "all_not_deleted"}


def _deal_status(req: SimRequest, allowed: set[str] = DEAL_STATUSES) -> str:
    status = req.query.get("status") or "all_not_deleted"
    if status not in allowed:
        raise ApiError(400, "Invalid status", f"status must be one of {', '.join(sorted(allowed))}")
    return status


def _deal_misc_pred(c: "Company", fld: str, value: Any) -> Callable[[int], bool]:
    """Filter on status/stage_id without building base deals (they come from the misc pool)."""
    st = c.stores["deals"]
    ov = st.overlay
    nb = st.n_base
    misc = c.b.deal_misc

    def p(i: int) -> bool:
        r = ov.get(i)
        if r is not None:
            return r.get(fld) == value
        return i <= nb and misc(i)[fld] == value
    return p


def get_deals(c: "Company", req: SimRequest) -> SimResponse:
    status = _deal_status(req)
    filters: list[tuple] = []
    preds = []
    uid = q_int(req, "user_id")
    if q_int(req, "owned_by_you") == 1:
        uid = req.user_id
    if uid:
        filters.append(("user", uid))
        preds.append(owner_pred(c, "deals", uid))
    stage = q_int(req, "stage_id")
    if stage:
        filters.append(("stage", stage))
        preds.append(_deal_misc_pred(c, "stage_id", stage))
    if status in ("open", "won", "lost"):
        filters.append(("status", status))
        preds.append(_deal_misc_pred(c, "status", status))
    q_int(req, "filter_id")
    return list_big(c, req, "deals", filters=filters, preds=preds,
                    include_deleted="only" if status == "deleted" else "no")


def get_deals_collection(c: "Company", req: SimRequest) -> SimResponse:
    status = _deal_status(req)
    uid = q_int(req, "user_id")
    stage = q_int(req, "stage_id")
    if status == "deleted":
        now = c.now_epoch()
        sp = lambda r: r.get("status") == "deleted" and c.deal_state(r, now) == "deleted"  # noqa: E731
    elif status == "all_not_deleted":
        sp = lambda r: r["status"] != "deleted"  # noqa: E731
    else:
        sp = lambda r: r["status"] == status  # noqa: E731
    up = (lambda r: r["user_id"] == uid) if uid else None
    stp = (lambda r: r["stage_id"] == stage) if stage else None
    return _collection(c, req, "deals", _and(sp, up, stp))


def get_deal(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    rec = _get_or_404(c, "deals", did, "Deal")
    d = c.render("deals", rec, req.user_id)
    add = parse_ts(rec["add_time"]) or 0
    now = c.now_epoch()
    d["age"] = {"y": 0, "m": 0, "d": 0, "h": 0, "i": 0, "s": 0, "total_seconds": max(0, now - add)}
    d["stay_in_pipeline_stages"] = {"times_in_stages": {str(rec["stage_id"]): max(0, now - add)},
                                    "order_of_stages": [rec["stage_id"]]}
    d["average_time_to_won"] = {"y": 0, "m": 0, "d": 0, "h": 0, "i": 0, "s": 0, "total_seconds": 0}
    d["average_stage_progress"] = 0
    return ok(d, {"dropbox_email": d["cc_email"]}, RELATED["deals"](c, [d]))


def _children_list(c: "Company", req: SimRequest, kind: str) -> SimResponse:
    did = path_int(req)
    _get_or_404(c, "deals", did, "Deal")
    rows = [dict(r) for r in c.deal_children(kind, did)]
    page, ad = paginate_list(rows, req)
    rel = None
    if kind == "followers":
        rel = _related(c, rows, users=("user_id",))
    elif kind == "participants":
        rel = _related(c, rows, persons=("person_id",), users=("added_by_user_id",))
    return ok(page, ad, rel)


def get_deal_products(c: "Company", req: SimRequest) -> SimResponse:
    return _children_list(c, req, "products")


def get_deal_participants(c: "Company", req: SimRequest) -> SimResponse:
    return _children_list(c, req, "participants")


def get_deal_followers(c: "Company", req: SimRequest) -> SimResponse:
    return _children_list(c, req, "followers")


def get_deal_activities(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    _get_or_404(c, "deals", did, "Deal")
    return list_big(c, req, "activities", filters=[("deal", did)],
                    preds=[field_pred(c, "activities", "deal_id", did)], own_filter=False)


def get_deal_flow(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    rec = _get_or_404(c, "deals", did, "Deal")
    uid = rec.get("user_id")
    items: list[dict] = [{"object": "dealChange", "timestamp": rec["add_time"], "data": {
        "id": did * 10, "item_id": did, "user_id": uid, "field_key": "add_time", "old_value": None,
        "new_value": rec["add_time"], "is_bulk_update_flag": None, "log_time": rec["add_time"],
        "change_source": "app", "change_source_user_agent": None, "additional_data": []}}]
    if rec.get("stage_change_time") and rec["stage_change_time"][:4] != "0000":
        items.append({"object": "dealChange", "timestamp": rec["stage_change_time"], "data": {
            "id": did * 10 + 1, "item_id": did, "user_id": uid, "field_key": "stage_id", "old_value": "1",
            "new_value": str(rec["stage_id"]), "is_bulk_update_flag": None, "log_time": rec["stage_change_time"],
            "change_source": "app", "change_source_user_agent": None, "additional_data": []}})
    if rec["status"] != "open" and rec.get("close_time"):
        items.append({"object": "dealChange", "timestamp": rec["close_time"], "data": {
            "id": did * 10 + 2, "item_id": did, "user_id": uid, "field_key": "status", "old_value": "open",
            "new_value": rec["status"], "is_bulk_update_flag": None, "log_time": rec["close_time"],
            "change_source": "app", "change_source_user_agent": None, "additional_data": []}})
    if did <= c.n_deals:
        for a in c.b.deal_activity_ids(did):
            act = c.stores["activities"].get(a)
            if act:
                items.append({"object": "activity", "timestamp": act["add_time"], "data": c.render("activities", act)})
        if c.b.note_deal(did):
            note = c.stores["notes"].get(did)
            if note:
                items.append({"object": "note", "timestamp": note["add_time"], "data": c.render("notes", note)})
    items.sort(key=lambda x: x["timestamp"], reverse=True)
    page, ad = paginate_list(items, req)
    return ok(page, ad, _related(c, [rec], users=("user_id",)))


def get_deals_summary(c: "Company", req: SimRequest) -> SimResponse:
    status = req.query.get("status")
    if status and status not in ("open", "won", "lost"):
        raise ApiError(400, "Invalid status")
    uid = q_int(req, "user_id")
    stage = q_int(req, "stage_id")
    q_int(req, "filter_id")
    st = c.stores["deals"]
    totals: dict[str, dict] = {}
    wtotals: dict[str, dict] = {}
    count = 0
    for i in c.visible_ids("deals"):
        r = st.get(i)
        if r is None or (status and r["status"] != status) or (uid and r["user_id"] != uid) \
                or (stage and r["stage_id"] != stage) or (not req.is_admin and r["user_id"] != req.user_id):
            continue
        count += 1
        cur = r.get("currency") or "EUR"
        v = r.get("value") or 0
        p = r.get("probability")
        w = v * p / 100 if isinstance(p, (int, float)) else v
        t = totals.setdefault(cur, {"value": 0, "count": 0, "value_converted": 0})
        t["value"] += v
        t["count"] += 1
        t["value_converted"] += v
        wt = wtotals.setdefault(cur, {"value": 0, "count": 0, "value_converted": 0})
        wt["value"] += w
        wt["count"] += 1
        wt["value_converted"] += w
    for dct in (totals, wtotals):
        for cur, t in dct.items():
            t["value_formatted"] = c.small.format_money(t["value"], cur)
            t["value_converted_formatted"] = c.small.format_money(t["value_converted"], "EUR")
    tv = sum(t["value_converted"] for t in totals.values())
    tw = sum(t["value_converted"] for t in wtotals.values())
    return ok({"values_total": totals, "weighted_values_total": wtotals, "total_count": count,
               "total_currency_converted_value": tv, "total_weighted_currency_converted_value": tw,
               "total_currency_converted_value_formatted": c.small.format_money(tv, "EUR"),
               "total_weighted_currency_converted_value_formatted": c.small.format_money(tw, "EUR")})


# ------------------------------------------------------------------------- persons / organizations
def _first_char(c: "Company", req: SimRequest, entity: str, filters: list, preds: list) -> None:
    fc = req.query.get("first_char")
    if fc:
        fc = fc[:1].lower()
        st = c.stores[entity]
        filters.append(("first_char", fc))
        preds.append(lambda i: ((st.get(i) or {}).get("first_char") or "") == fc)


def _owned_list(c: "Company", req: SimRequest, entity: str) -> SimResponse:
    """Offset list of persons/organizations, filtered by owner and first character like Pipedrive's."""
    filters: list[tuple] = []
    preds: list = []
    q_int(req, "filter_id")
    uid = q_int(req, "user_id")
    if uid:
        filters.append(("user", uid))
        preds.append(owner_pred(c, entity, uid))
    _first_char(c, req, entity, filters, preds)
    return list_big(c, req, entity, filters=filters, preds=preds)


def _detail_with_dropbox(c: "Company", req: SimRequest, entity: str, label: str) -> SimResponse:
    rec = _get_or_404(c, entity, path_int(req), label)
    d = c.render(entity, rec, req.user_id)
    return ok(d, {"dropbox_email": d["cc_email"]}, RELATED[entity](c, [d]))


def get_persons(c: "Company", req: SimRequest) -> SimResponse:
    return _owned_list(c, req, "persons")


def get_persons_collection(c: "Company", req: SimRequest) -> SimResponse:
    return _collection(c, req, "persons", None)


def get_person(c: "Company", req: SimRequest) -> SimResponse:
    return _detail_with_dropbox(c, req, "persons", "Person")


def get_organizations(c: "Company", req: SimRequest) -> SimResponse:
    return _owned_list(c, req, "organizations")


def get_organizations_collection(c: "Company", req: SimRequest) -> SimResponse:
    return _collection(c, req, "organizations", None)


def get_organization(c: "Company", req: SimRequest) -> SimResponse:
    return _detail_with_dropbox(c, req, "organizations", "Organization")


def _followers_of(c: "Company", entity: str, i: int) -> list[dict]:
    store = c.person_followers if entity == "persons" else c.org_followers
    if i in store:
        return store[i]
    rec = c.get_flat(entity, i)
    owner = _ref_id(rec.get("owner_id")) if rec else None
    key = "person_id" if entity == "persons" else "org_id"
    return [{"id": i * 4 + 1, "user_id": owner or 1, key: i, "add_time": rec["add_time"] if rec else None}]


def get_person_followers(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    _get_or_404(c, "persons", pid, "Person")
    rows = [dict(r) for r in _followers_of(c, "persons", pid)]
    page, ad = paginate_list(rows, req)
    return ok(page, ad, _related(c, rows, users=("user_id",)))


def get_org_followers(c: "Company", req: SimRequest) -> SimResponse:
    oid = path_int(req)
    _get_or_404(c, "organizations", oid, "Organization")
    rows = [dict(r) for r in _followers_of(c, "organizations", oid)]
    page, ad = paginate_list(rows, req)
    return ok(page, ad, _related(c, rows, users=("user_id",)))


def _deals_of(parent: str, entity: str, label: str, field: str) -> Callable[["Company", SimRequest], SimResponse]:
    """GET /persons/{id}/deals and /organizations/{id}/deals: the parent's deals, filtered by status."""

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        pid = path_int(req)
        _get_or_404(c, entity, pid, label)
        status = _deal_status(req)
        preds = [field_pred(c, "deals", field, pid)]
        filters: list[tuple] = [(parent, pid)]
        if status in ("open", "won", "lost"):
            preds.append(field_pred(c, "deals", "status", status))
            filters.append(("status", status))
        return list_big(c, req, "deals", filters=filters, preds=preds,
                        include_deleted="only" if status == "deleted" else "no", own_filter=False)

    return handler


get_person_deals = _deals_of("person", "persons", "Person", "person_id")
get_org_deals = _deals_of("org", "organizations", "Organization", "org_id")


def get_org_persons(c: "Company", req: SimRequest) -> SimResponse:
    oid = path_int(req)
    _get_or_404(c, "organizations", oid, "Organization")
    return list_big(c, req, "persons", filters=[("org", oid)], preds=[field_pred(c, "persons", "org_id", oid)],
                    own_filter=False)


# ------------------------------------------------------------------------- activities, products, notes, leads
def get_activities(c: "Company", req: SimRequest) -> SimResponse:
    uid = q_int(req, "user_id", req.user_id, lo=0)
    filters: list[tuple] = []
    preds: list = []
    if uid:
        filters.append(("user", uid))
        preds.append(owner_pred(c, "activities", uid))
    q_int(req, "filter_id")
    done_raw = req.query.get("done")
    if done_raw not in (None, ""):
        if done_raw not in ("0", "1"):
            raise ApiError(400, "Parameter 'done' must be 0 or 1")
        want = done_raw == "1"
        filters.append(("done", want))
        preds.append(field_pred(c, "activities", "done", want))
    types = req.query.get("type")
    if types:
        tset = {t.strip() for t in types.split(",") if t.strip()}
        st = c.stores["activities"]
        filters.append(("type", tuple(sorted(tset))))
        preds.append(lambda i: (st.get(i) or {}).get("type") in tset)
    for name, cmp in (("start_date", lambda v, b: v >= b), ("end_date", lambda v, b: v <= b)):
        raw = req.query.get(name)
        if raw:
            if parse_ts(raw) is None or len(raw) != 10:
                raise ApiError(400, f"Parameter '{name}' must be YYYY-MM-DD")
            st = c.stores["activities"]
            filters.append((name, raw))
            preds.append(lambda i, raw=raw, cmp=cmp, st=st: cmp((st.get(i) or {}).get("due_date") or "", raw))
    return list_big(c, req, "activities", filters=filters, preds=preds)


def get_activities_collection(c: "Company", req: SimRequest) -> SimResponse:
    uid = q_int(req, "user_id")
    done = q_bool(req, "done")
    types = req.query.get("type")
    tset = {t.strip() for t in types.split(",") if t.strip()} if types else None
    return _collection(c, req, "activities", _and(
        (lambda r: r["user_id"] == uid) if uid else None,
        (lambda r: r["done"] == done) if done is not None else None,
        (lambda r: r["type"] in tset) if tset else None))  # type: ignore[operator]


def get_activity(c: "Company", req: SimRequest) -> SimResponse:
    aid = path_int(req)
    rec = _get_or_404(c, "activities", aid, "Activity")
    d = c.render("activities", rec, req.user_id)
    return ok(d, None, RELATED["activities"](c, [d]))


def get_products(c: "Company", req: SimRequest) -> SimResponse:
    filters: list[tuple] = []
    preds: list = []
    q_int(req, "filter_id")
    uid = q_int(req, "user_id")
    if uid:
        filters.append(("user", uid))
        preds.append(owner_pred(c, "products", uid))
    _first_char(c, req, "products", filters, preds)
    return list_big(c, req, "products", filters=filters, preds=preds)


def get_product(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    rec = _get_or_404(c, "products", pid, "Product")
    d = c.render("products", rec, req.user_id)
    return ok(d, None, RELATED["products"](c, [d]))


def get_product_followers(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    rec = _get_or_404(c, "products", pid, "Product")
    rows = [{"id": pid * 4 + 1, "user_id": rec.get("owner_id") or 1, "product_id": pid, "add_time": rec["add_time"]}]
    page, ad = paginate_list(rows, req)
    return ok(page, ad, _related(c, rows, users=("user_id",)))


def get_notes(c: "Company", req: SimRequest) -> SimResponse:
    filters: list[tuple] = []
    preds: list = []
    for name in ("user_id", "deal_id", "person_id", "org_id", "project_id"):
        v = q_int(req, name)
        if v:
            filters.append((name, v))
            preds.append(owner_pred(c, "notes", v) if name == "user_id" else field_pred(c, "notes", name, v))
    lead = req.query.get("lead_id")
    if lead:
        filters.append(("lead_id", lead))
        preds.append(field_pred(c, "notes", "lead_id", lead))
    for name in ("pinned_to_deal_flag", "pinned_to_person_flag", "pinned_to_organization_flag",
                 "pinned_to_lead_flag"):
        raw = req.query.get(name)
        if raw not in (None, ""):
            if raw not in ("0", "1"):
                raise ApiError(400, f"Parameter '{name}' must be 0 or 1")
            filters.append((name, raw))
            preds.append(field_pred(c, "notes", name, raw == "1"))
    since = q_ts(req, "updated_since")
    if since is not None:
        ut = c.stores["notes"].ut_array()
        filters.append(("updated_since", since))
        preds.append(lambda i: ut[i] >= since)
    return list_big(c, req, "notes", filters=filters, preds=preds)


def get_note(c: "Company", req: SimRequest) -> SimResponse:
    nid = path_int(req)
    rec = _get_or_404(c, "notes", nid, "Note")
    return ok(c.render("notes", rec, req.user_id))


def get_leads(c: "Company", req: SimRequest) -> SimResponse:
    filters: list[tuple] = []
    preds: list = []
    arch = req.query.get("archived_status") or "all"
    if arch not in ("archived", "not_archived", "all"):
        raise ApiError(400, "Invalid archived_status")
    if arch != "all":
        filters.append(("arch", arch))
        preds.append(field_pred(c, "leads", "is_archived", arch == "archived"))
    for name in ("owner_id", "person_id", "organization_id"):
        v = q_int(req, name)
        if v:
            filters.append((name, v))
            preds.append(owner_pred(c, "leads", v) if name == "owner_id" else field_pred(c, "leads", name, v))
    q_int(req, "filter_id")
    return list_big(c, req, "leads", filters=filters, preds=preds)


def get_lead(c: "Company", req: SimRequest) -> SimResponse:
    k = c.lead_id_of(req.path_params.get("id", ""))
    if k is None:
        raise ApiError(404, "Lead not found")
    rec = _get_or_404(c, "leads", k, "Lead")
    return ok(c.render("leads", rec, req.user_id))


# ------------------------------------------------------------------------- fields
def _fields_entity(req: SimRequest, template_prefix: str) -> str:
    return FIELDS_ROUTE[template_prefix]


def _make_fields_list(name: str) -> Callable[["Company", SimRequest], SimResponse]:
    entity = FIELDS_ROUTE[name]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        rows = [_field_out(f) for f in c.fields[entity]]
        page, ad = paginate_list(rows, req, 100, 500)
        pag = ad["pagination"]
        # the reference schema puts start/limit/more_items_in_collection at the top of additional_data;
        # the pagination object is kept too for clients that read it like every other list
        ad.update(start=pag["start"], limit=pag["limit"], more_items_in_collection=pag["more_items_in_collection"])
        return ok(page, ad)
    handler.__name__ = f"get_{name}"
    return handler


def _make_field_get(name: str) -> Callable[["Company", SimRequest], SimResponse]:
    entity = FIELDS_ROUTE[name]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        fid = path_int(req)
        for f in c.fields[entity]:
            if f["id"] == fid:
                return ok(_field_out(f))
        raise ApiError(404, "Field not found")
    handler.__name__ = f"get_{name}_one"
    return handler


def _field_out(f: dict) -> dict:
    d = dict(f)
    if d.get("options") is not None:
        d["options"] = [dict(o) for o in d["options"]]
    return d


# ------------------------------------------------------------------------- small entities
def _small_rows(c: "Company", name: str) -> list[dict]:
    st = c.stores[name]
    return [st.get(i) for i in st.ids()]  # type: ignore[misc]


def get_activity_types(c: "Company", req: SimRequest) -> SimResponse:
    return ok(_small_rows(c, "activityTypes") or None)


def get_currencies(c: "Company", req: SimRequest) -> SimResponse:
    term = (req.query.get("term") or "").lower()
    rows = [r for r in _small_rows(c, "currencies")
            if not term or term in r["code"].lower() or term in r["name"].lower()]
    return ok(rows or None)


def _own_only(req: SimRequest, rows: list[dict], key: str) -> list[dict]:
    if req.is_admin:
        return rows
    return [r for r in rows if _ref_id(r.get(key)) == req.user_id]


def get_call_logs(c: "Company", req: SimRequest) -> SimResponse:
    rows = _own_only(req, _small_rows(c, "callLogs"), "user_id")
    page, ad = paginate_list(rows, req, 50, 50)
    return ok(page, ad)


def get_call_log(c: "Company", req: SimRequest) -> SimResponse:
    cid = req.path_params.get("id", "")
    for r in _small_rows(c, "callLogs"):
        if r["id"] == cid:
            return ok(r)
    raise ApiError(404, "Call log not found")


def get_files(c: "Company", req: SimRequest) -> SimResponse:
    rows = _own_only(req, _small_rows(c, "files"), "user_id")
    sort = parse_sort(req.query.get("sort"), {"id", "update_time", "add_time", "file_name", "user_id"})
    for fld, desc in reversed(sort):
        rows = sorted(rows, key=lambda r: (r.get(fld) is not None, r.get(fld)), reverse=desc)
    page, ad = paginate_list(rows, req, 100, 100)
    return ok(page, ad)


def get_file(c: "Company", req: SimRequest) -> SimResponse:
    fid = path_int(req)
    r = c.get_flat("files", fid)
    if r is None:
        raise ApiError(404, "File not found")
    return ok(r)


def get_filters(c: "Company", req: SimRequest) -> SimResponse:
    typ = req.query.get("type")
    rows = [r for r in _small_rows(c, "filters") if not typ or r["type"] == typ]
    return ok(rows or None)


def get_filter(c: "Company", req: SimRequest) -> SimResponse:
    fid = path_int(req)
    r = c.get_flat("filters", fid)
    if r is None:
        raise ApiError(404, "Filter not found")
    d = dict(r)
    d["conditions"] = {"glue": "and", "conditions": [{"glue": "and", "conditions": []},
                                                     {"glue": "or", "conditions": []}]}
    return ok(d)


def get_goals_find(c: "Company", req: SimRequest) -> SimResponse:
    rows = _small_rows(c, "goals")
    tname = req.query.get("type.name")
    if tname:
        rows = [r for r in rows if r["type"]["name"] == tname]
    title = req.query.get("title")
    if title:
        rows = [r for r in rows if r["title"] == title]
    act = q_bool(req, "is_active")
    if act is not None:
        rows = [r for r in rows if r["is_active"] == act]
    aid = q_int(req, "assignee.id")
    if aid:
        rows = [r for r in rows if r["assignee"]["id"] == aid]
    atype = req.query.get("assignee.type")
    if atype:
        rows = [r for r in rows if r["assignee"]["type"] == atype]
    for name in ("period.start", "period.end"):
        raw = req.query.get(name)
        if raw and (len(raw) != 10 or parse_ts(raw) is None):
            raise ApiError(400, f"Parameter '{name}' must be YYYY-MM-DD")
    return ok({"goals": rows})


def get_lead_labels(c: "Company", req: SimRequest) -> SimResponse:
    return ok(_small_rows(c, "leadLabels") or None)


def get_lead_sources(c: "Company", req: SimRequest) -> SimResponse:
    return ok([dict(r) for r in c.small.lead_sources])


def _org_rel_out(c: "Company", r: dict, focus: int | None) -> dict:
    d = dict(r)
    own, linked = r["rel_owner_org_id"], r["rel_linked_org_id"]
    d["rel_owner_org_id"] = c.org_ref(own)
    d["rel_linked_org_id"] = c.org_ref(linked)
    other = linked if focus == own else own
    d["calculated_type"] = ("parent" if focus == linked else "daughter") if r["type"] == "parent" else "related"
    d["calculated_related_org_id"] = other
    d["related_organization_name"] = c.org_ref(other)["name"]
    return d


def get_org_relationships(c: "Company", req: SimRequest) -> SimResponse:
    oid = q_int(req, "org_id", required=True, lo=1)
    rows = [_org_rel_out(c, r, oid) for r in _small_rows(c, "organizationRelationships")
            if oid in (r["rel_owner_org_id"], r["rel_linked_org_id"])]
    rel = {"organization": {}}
    for r in rows:
        for k in ("rel_owner_org_id", "rel_linked_org_id"):
            o = r[k]
            rel["organization"][str(o["value"])] = {"id": o["value"], "name": o["name"],
                                                    "people_count": o["people_count"], "owner_id": o["owner_id"],
                                                    "address": o["address"], "active_flag": o["active_flag"],
                                                    "cc_email": o["cc_email"]}
    return ok(rows or None, None, rel)


def get_org_relationship(c: "Company", req: SimRequest) -> SimResponse:
    rid = path_int(req)
    r = c.get_flat("organizationRelationships", rid)
    if r is None:
        raise ApiError(404, "Organization relationship not found")
    focus = q_int(req, "org_id")
    return ok(_org_rel_out(c, r, focus))


def get_permission_sets(c: "Company", req: SimRequest) -> SimResponse:
    app = req.query.get("app")
    rows = [r for r in _small_rows(c, "permissionSets") if not app or r["app"] == app]
    return ok(rows or None)


def get_permission_set(c: "Company", req: SimRequest) -> SimResponse:
    pid = req.path_params.get("id", "")
    for r in _small_rows(c, "permissionSets"):
        if r["id"] == pid:
            d = dict(r)
            d["contents"] = ["deal_read", "deal_write", "person_read", "person_write"]
            return ok(d)
    raise ApiError(404, "Permission set not found")


def get_pipelines(c: "Company", req: SimRequest) -> SimResponse:
    return ok(_small_rows(c, "pipelines") or None)


def get_pipeline(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    r = c.get_flat("pipelines", pid)
    if r is None:
        raise ApiError(404, "Pipeline not found")
    return ok(r)


def get_stages(c: "Company", req: SimRequest) -> SimResponse:
    pid = q_int(req, "pipeline_id")
    rows = [r for r in _small_rows(c, "stages") if not pid or r["pipeline_id"] == pid]
    start, limit = pagination(req)
    page = rows[start:start + limit]
    return ok(page or None, page_envelope(page, start, limit, len(rows)))


def get_stage(c: "Company", req: SimRequest) -> SimResponse:
    sid = path_int(req)
    r = c.get_flat("stages", sid)
    if r is None:
        raise ApiError(404, "Stage not found")
    return ok(r)


def _cursor_small(c: "Company", req: SimRequest, name: str, pred: Callable[[dict], bool] | None) -> SimResponse:
    limit = min(q_int(req, "limit", 100, lo=1), 500)  # type: ignore[type-var]
    after = decode_cursor(req.query.get("cursor"))
    rows = [r for r in _small_rows(c, name) if r["id"] > after and (pred is None or pred(r))]
    page = rows[:limit]
    nxt = encode_cursor(page[-1]["id"]) if len(rows) > limit else None
    return ok(page or None, {"next_cursor": nxt})


def get_projects(c: "Company", req: SimRequest) -> SimResponse:
    status = req.query.get("status")
    phase = q_int(req, "phase_id")
    q_int(req, "filter_id")
    return _cursor_small(c, req, "projects", lambda r: (not status or r["status"] in status.split(","))
                         and (not phase or r["phase_id"] == phase))


def get_project(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    r = c.get_flat("projects", pid)
    if r is None:
        raise ApiError(404, "Project not found")
    return ok(r)


def get_boards(c: "Company", req: SimRequest) -> SimResponse:
    return ok(_small_rows(c, "boards") or None)


def get_phases(c: "Company", req: SimRequest) -> SimResponse:
    bid = q_int(req, "board_id", required=True, lo=1)
    rows = [r for r in _small_rows(c, "phases") if r["board_id"] == bid]
    return ok(rows or None)


def get_tasks(c: "Company", req: SimRequest) -> SimResponse:
    aid = q_int(req, "assignee_id")
    pid = q_int(req, "project_id")
    parent = q_int(req, "parent_task_id")
    done = req.query.get("done")
    if done not in (None, "", "0", "1"):
        raise ApiError(400, "Parameter 'done' must be 0 or 1")
    return _cursor_small(c, req, "tasks", lambda r: (not aid or r["assignee_id"] == aid)
                         and (not pid or r["project_id"] == pid) and (not parent or r["parent_task_id"] == parent)
                         and (done in (None, "") or r["done"] == (done == "1")))


def get_task(c: "Company", req: SimRequest) -> SimResponse:
    tid = path_int(req)
    r = c.get_flat("tasks", tid)
    if r is None:
        raise ApiError(404, "Task not found")
    return ok(r)


def get_roles(c: "Company", req: SimRequest) -> SimResponse:
    page, ad = paginate_list(_small_rows(c, "roles"), req)
    return ok(page, ad)


def get_role(c: "Company", req: SimRequest) -> SimResponse:
    rid = path_int(req)
    r = c.get_flat("roles", rid)
    if r is None:
        raise ApiError(404, "Role not found")
    return ok(r)


def get_users(c: "Company", req: SimRequest) -> SimResponse:
    return ok([c.render("users", u, req.user_id) for u in _small_rows(c, "users")])


def get_user(c: "Company", req: SimRequest) -> SimResponse:
    uid = path_int(req)
    u = c.get_flat("users", uid)
    if u is None:
        raise ApiError(404, "User not found")
    return ok(c.render("users", u, req.user_id))


def get_users_me(c: "Company", req: SimRequest) -> SimResponse:
    u = c.get_flat("users", req.user_id)
    if u is None:
        raise ApiError(404, "User not found")
    d = c.render("users", u, req.user_id)
    d.update({"company_id": COMPANY_ID, "company_name": "Simco", "company_domain": COMPANY_DOMAIN,
              "company_country": "EE", "company_industry": "Software", "language": {"language_code": "en",
                                                                                    "country_code": "US"}})
    return ok(d)


def get_users_find(c: "Company", req: SimRequest) -> SimResponse:
    term = (req.query.get("term") or "").lower()
    if not term:
        raise ApiError(400, "Parameter 'term' is required")
    by_email = q_bool(req, "search_by_email")
    key = "email" if by_email else "name"
    rows = [c.render("users", u, req.user_id) for u in _small_rows(c, "users") if term in u[key].lower()]
    return ok(rows or None)


def get_webhooks(c: "Company", req: SimRequest) -> SimResponse:
    if not req.is_admin:
        raise ApiError(403, NO_PERMISSION)
    rows = _small_rows(c, "webhooks")
    return SimResponse(200, {"status": "ok", "success": True, "data": rows})


# ------------------------------------------------------------------------- recents
def get_recents(c: "Company", req: SimRequest) -> SimResponse:
    raw = req.query.get("since_timestamp")
    if not raw:
        raise ApiError(400, "Parameter 'since_timestamp' is required")
    since = parse_ts(raw)
    if since is None:
        raise ApiError(400, "Parameter 'since_timestamp' is not a valid timestamp", "Format: YYYY-MM-DD HH:MM:SS")
    now = c.now_epoch()
    if since < now - 30 * DAY:
        raise ApiError(400, "The since_timestamp cannot be older than one month",
                       "Use the list endpoints to fetch older data")
    items_raw = req.query.get("items")
    kinds = list(RECENT_ITEMS) if not items_raw else [k.strip() for k in items_raw.split(",") if k.strip()]
    for k in kinds:
        if k not in RECENT_ITEMS:
            raise ApiError(400, f"Unknown item type '{k[:30]}'")
    start, limit = pagination(req)
    rows: list[tuple[int, str, int]] = []
    for k in kinds:
        ent = RECENT_ITEMS[k]
        st = c.stores[ent]
        if st.tm is not None and since >= _t_end():
            cand = [i for i in st.overlay]
        else:
            cand = list(st.ids()) if st.tm is None else [i for i in range(1, st.next_id)]
        if st.tm is not None and since < _t_end():
            ut = st.ut_array()
            for i in cand:
                if ut[i] >= since and (i in st.overlay or i not in st.gone):
                    rows.append((ut[i], k, i))
        else:
            for i in cand:
                t = st.update_time_of(i)
                if t >= since and st.exists(i):
                    rows.append((t, k, i))
    rows.sort()
    page = rows[start:start + limit]
    data = []
    for _t, k, i in page:
        ent = RECENT_ITEMS[k]
        rec = c.stores[ent].get(i)
        if rec is None:
            continue
        out = c.render(ent, rec, req.user_id) if ent in ("deals", "persons", "organizations", "activities",
                                                          "products", "notes", "users") else dict(rec)
        data.append({"item": k, "id": rec.get("id", i), "data": out})
    ad = page_envelope(data, start, limit, len(rows))
    ad["since_timestamp"] = fmt_ts(since)
    ad["last_timestamp_on_page"] = fmt_ts(page[-1][0]) if page else None
    return ok(data or None, ad)


def _t_end() -> int:
    from .generator import T_END
    return T_END


# ------------------------------------------------------------------------- search
SEARCH_TYPES = ("deal", "person", "organization", "product", "lead")
SEARCH_SCAN_CAP = 300_000


def _matches(term: str, exact: bool, values: list[Any]) -> bool:
    for v in values:
        if not isinstance(v, str) or not v:
            continue
        s = v.lower()
        if (s == term) if exact else (term in s):
            return True
    return False


def _search_item(c: "Company", kind: str, rec: dict) -> dict:
    if kind == "deal":
        st = next((s for s in c.small.stages if s["id"] == rec["stage_id"]), None)
        pid, oid = rec.get("person_id"), rec.get("org_id")
        return {"id": rec["id"], "type": "deal", "title": rec["title"], "value": rec["value"],
                "currency": rec["currency"], "status": rec["status"], "visible_to": int(rec["visible_to"] or 3),
                "owner": {"id": rec["user_id"]}, "stage": {"id": rec["stage_id"], "name": st["name"] if st else None},
                "person": {"id": pid, "name": c.person_ref(pid)["name"]} if pid else None,
                "organization": {"id": oid, "name": c.org_ref(oid)["name"], "address": None} if oid else None,
                "custom_fields": [], "notes": []}
    if kind == "person":
        oid = rec.get("org_id")
        return {"id": rec["id"], "type": "person", "name": rec["name"],
                "phones": [p["value"] for p in rec["phone"] if p.get("value")],
                "emails": [e["value"] for e in rec["email"] if e.get("value")],
                "visible_to": int(rec["visible_to"] or 3), "owner": {"id": rec["owner_id"]},
                "organization": {"id": oid, "name": c.org_ref(oid)["name"], "address": None} if oid else None,
                "custom_fields": [], "notes": []}
    if kind == "organization":
        return {"id": rec["id"], "type": "organization", "name": rec["name"], "address": rec.get("address"),
                "visible_to": int(rec["visible_to"] or 3), "owner": {"id": rec["owner_id"]},
                "custom_fields": [], "notes": []}
    if kind == "product":
        return {"id": rec["id"], "type": "product", "name": rec["name"], "code": rec.get("code"),
                "visible_to": int(rec["visible_to"] or 3), "owner": {"id": rec["owner_id"]}, "custom_fields": []}
    pid, oid = rec.get("person_id"), rec.get("organization_id")
    val = rec.get("value") or {}
    return {"id": rec["id"], "type": "lead", "title": rec["title"], "owner": {"id": rec["owner_id"]},
            "person": {"id": pid, "name": c.person_ref(pid)["name"]} if pid else None,
            "organization": {"id": oid, "name": c.org_ref(oid)["name"]} if oid else None,
            "phones": [], "emails": [], "custom_fields": [], "notes": [], "value": val.get("amount"),
            "currency": val.get("currency"), "visible_to": int(rec["visible_to"] or 3),
            "is_archived": rec["is_archived"]}


def _search_values(kind: str, rec: dict, fields: set[str] | None) -> list[Any]:
    vals: list[Any] = []
    if kind == "deal":
        if not fields or "title" in fields:
            vals.append(rec.get("title"))
    elif kind == "person":
        if not fields or "name" in fields:
            vals.append(rec.get("name"))
        if not fields or "email" in fields:
            vals.extend(e.get("value") for e in rec.get("email") or [])
        if not fields or "phone" in fields:
            vals.extend(p.get("value") for p in rec.get("phone") or [])
    elif kind == "organization":
        if not fields or "name" in fields:
            vals.append(rec.get("name"))
        if not fields or "address" in fields:
            vals.append(rec.get("address"))
    elif kind == "product":
        if not fields or "name" in fields:
            vals.append(rec.get("name"))
        if not fields or "code" in fields:
            vals.append(rec.get("code"))
    else:
        if not fields or "title" in fields:
            vals.append(rec.get("title"))
    return vals


KIND_ENTITY = {"deal": "deals", "person": "persons", "organization": "organizations", "product": "products",
               "lead": "leads"}


def _search(c: "Company", req: SimRequest, kinds: tuple[str, ...], extra: Callable[[str, dict], bool] | None = None,
            wrap: bool = True) -> SimResponse:
    term = (req.query.get("term") or "").strip().lower()
    exact = bool(q_bool(req, "exact_match"))
    if len(term) < (1 if exact else 2):
        raise ApiError(400, "Search term must be at least 2 characters long" if not exact
                       else "Search term is required")
    start, limit = pagination(req)
    fraw = req.query.get("fields")
    fields = {f.strip() for f in fraw.split(",") if f.strip()} if fraw else None
    found: list[dict] = []
    need = start + limit + 1
    for kind in kinds:
        ent = KIND_ENTITY[kind]
        st = c.stores[ent]
        scanned = 0
        for i in st.ids():
            scanned += 1
            if scanned > SEARCH_SCAN_CAP or len(found) >= need:
                break
            rec = st.get(i)
            if rec is None or (ent == "deals" and rec.get("status") == "deleted"):
                continue
            if not req.is_admin and _ref_id(rec.get("owner_id", rec.get("user_id"))) != req.user_id:
                continue
            if extra is not None and not extra(kind, rec):
                continue
            if _matches(term, exact, _search_values(kind, rec, fields)):
                score = 1.0 if _matches(term, True, _search_values(kind, rec, fields)) else 0.5
                found.append({"result_score": score, "item": _search_item(c, kind, rec)})
    page = found[start:start + limit]
    more = len(found) > start + limit
    return ok({"items": page}, page_envelope(page, start, limit, more=more))


def get_item_search(c: "Company", req: SimRequest) -> SimResponse:
    raw = req.query.get("item_types")
    kinds = tuple(k.strip() for k in raw.split(",") if k.strip()) if raw else SEARCH_TYPES
    for k in kinds:
        if k not in KIND_ENTITY and k not in ("file", "mail_attachment", "project"):
            raise ApiError(400, f"Unknown item type '{k[:30]}'")
    return _search(c, req, tuple(k for k in kinds if k in KIND_ENTITY))


def _filter_ids(req: SimRequest) -> Callable[[str, dict], bool] | None:
    pid = q_int(req, "person_id")
    oid = q_int(req, "organization_id")
    status = req.query.get("status")
    if status and status not in ("open", "won", "lost"):
        raise ApiError(400, "Invalid status")
    if not (pid or oid or status):
        return None

    def p(kind: str, rec: dict) -> bool:
        if pid and _ref_id(rec.get("person_id")) != pid:
            return False
        if oid and _ref_id(rec.get("org_id", rec.get("organization_id"))) != oid:
            return False
        if status and rec.get("status") != status:
            return False
        return True
    return p


def get_deals_search(c: "Company", req: SimRequest) -> SimResponse:
    return _search(c, req, ("deal",), _filter_ids(req))


def get_persons_search(c: "Company", req: SimRequest) -> SimResponse:
    oid = q_int(req, "organization_id")
    return _search(c, req, ("person",), (lambda k, r: r.get("org_id") == oid) if oid else None)


def get_orgs_search(c: "Company", req: SimRequest) -> SimResponse:
    return _search(c, req, ("organization",))


def get_products_search(c: "Company", req: SimRequest) -> SimResponse:
    return _search(c, req, ("product",))


def get_leads_search(c: "Company", req: SimRequest) -> SimResponse:
    return _search(c, req, ("lead",), _filter_ids(req))


# ------------------------------------------------------------------------- route table
ROUTES: list[tuple[str, str, Callable, bool]] = [
    ("GET", "/activities", get_activities, False),
    ("GET", "/activities/collection", get_activities_collection, False),
    ("GET", "/activities/{id}", get_activity, False),
    ("GET", "/activityTypes", get_activity_types, False),
    ("GET", "/callLogs", get_call_logs, False),
    ("GET", "/callLogs/{id}", get_call_log, False),
    ("GET", "/currencies", get_currencies, False),
    ("GET", "/deals", get_deals, False),
    ("GET", "/deals/collection", get_deals_collection, False),
    ("GET", "/deals/summary", get_deals_summary, False),
    ("GET", "/deals/search", get_deals_search, True),
    ("GET", "/deals/{id}", get_deal, False),
    ("GET", "/deals/{id}/products", get_deal_products, False),
    ("GET", "/deals/{id}/participants", get_deal_participants, False),
    ("GET", "/deals/{id}/followers", get_deal_followers, False),
    ("GET", "/deals/{id}/flow", get_deal_flow, False),
    ("GET", "/deals/{id}/activities", get_deal_activities, False),
    ("GET", "/files", get_files, False),
    ("GET", "/files/{id}", get_file, False),
    ("GET", "/filters", get_filters, False),
    ("GET", "/filters/{id}", get_filter, False),
    ("GET", "/goals/find", get_goals_find, False),
    ("GET", "/itemSearch", get_item_search, True),
    ("GET", "/leadLabels", get_lead_labels, False),
    ("GET", "/leadSources", get_lead_sources, False),
    ("GET", "/leads", get_leads, False),
    ("GET", "/leads/search", get_leads_search, True),
    ("GET", "/leads/{id}", get_lead, False),
    ("GET", "/notes", get_notes, False),
    ("GET", "/notes/{id}", get_note, False),
    ("GET", "/organizationRelationships", get_org_relationships, False),
    ("GET", "/organizationRelationships/{id}", get_org_relationship, False),
    ("GET", "/organizations", get_organizations, False),
    ("GET", "/organizations/collection", get_organizations_collection, False),
    ("GET", "/organizations/search", get_orgs_search, True),
    ("GET", "/organizations/{id}", get_organization, False),
    ("GET", "/organizations/{id}/followers", get_org_followers, False),
    ("GET", "/organizations/{id}/deals", get_org_deals, False),
    ("GET", "/organizations/{id}/persons", get_org_persons, False),
    ("GET", "/permissionSets", get_permission_sets, False),
    ("GET", "/permissionSets/{id}", get_permission_set, False),
    ("GET", "/persons", get_persons, False),
    ("GET", "/persons/collection", get_persons_collection, False),
    ("GET", "/persons/search", get_persons_search, True),
    ("GET", "/persons/{id}", get_person, False),
    ("GET", "/persons/{id}/followers", get_person_followers, False),
    ("GET", "/persons/{id}/deals", get_person_deals, False),
    ("GET", "/pipelines", get_pipelines, False),
    ("GET", "/pipelines/{id}", get_pipeline, False),
    ("GET", "/products", get_products, False),
    ("GET", "/products/search", get_products_search, True),
    ("GET", "/products/{id}", get_product, False),
    ("GET", "/products/{id}/followers", get_product_followers, False),
    ("GET", "/projects", get_projects, False),
    ("GET", "/projects/boards", get_boards, False),
    ("GET", "/projects/phases", get_phases, False),
    ("GET", "/projects/{id}", get_project, False),
    ("GET", "/recents", get_recents, False),
    ("GET", "/roles", get_roles, False),
    ("GET", "/roles/{id}", get_role, False),
    ("GET", "/stages", get_stages, False),
    ("GET", "/stages/{id}", get_stage, False),
    ("GET", "/tasks", get_tasks, False),
    ("GET", "/tasks/{id}", get_task, False),
    ("GET", "/users", get_users, False),
    ("GET", "/users/me", get_users_me, False),
    ("GET", "/users/find", get_users_find, False),
    ("GET", "/users/{id}", get_user, False),
    ("GET", "/webhooks", get_webhooks, False),
]
for _name in FIELDS_ROUTE:
    ROUTES.append(("GET", f"/{_name}", _make_fields_list(_name), False))
    ROUTES.append(("GET", f"/{_name}/{{id}}", _make_field_get(_name), False))
