"""Secondary v1 GET endpoints: per-record sub-lists (files, activities, flow, changelog,
permitted users, mail), role/permission/project details, statistics and helpers.

They share the query machinery of ``v1_read``. Sub-lists filter by scanning the child
entity, which is fine at test scales; the sync's hot paths never call them.
``/files/{id}/download`` is not served: it answers file bytes, not a JSON envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .api_v1 import ApiError, SimRequest, SimResponse, ok
from .generator import DAY, fmt_date, fmt_ts
from .store import parse_ts
from .v1_query import decode_cursor, encode_cursor, field_pred, page_envelope, paginate_list, path_int, q_int
from .v1_read import (
    _deal_misc_pred, _get_or_404, _related, _small_rows, list_big,
)

if TYPE_CHECKING:
    from .store import Company

PARENTS = {"deals": ("Deal", "deal_id"), "persons": ("Person", "person_id"),
           "organizations": ("Organization", "org_id"), "products": ("Product", "product_id")}


# ------------------------------------------------------------------------- per-record sub-lists
def _files_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label, key = PARENTS[entity]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        _get_or_404(c, entity, i, label)
        rows = [r for r in _small_rows(c, "files") if r.get(key) == i]
        page, ad = paginate_list(rows, req)
        return ok(page, ad)
    handler.__name__ = f"get_{entity}_files"
    return handler


def _activities_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label, key = PARENTS[entity]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        _get_or_404(c, entity, i, label)
        preds = [field_pred(c, "activities", key, i)]
        filters: list[tuple] = [(key, i)]
        done = req.query.get("done")
        if done not in (None, ""):
            if done not in ("0", "1"):
                raise ApiError(400, "Parameter 'done' must be 0 or 1")
            preds.append(field_pred(c, "activities", "done", done == "1"))
            filters.append(("done", done))
        return list_big(c, req, "activities", filters=filters, preds=preds, own_filter=False)
    handler.__name__ = f"get_{entity}_activities"
    return handler


def _flow_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label, key = PARENTS[entity]
    change = {"persons": "personChange", "organizations": "organizationChange"}[entity]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        rec = _get_or_404(c, entity, i, label)
        items: list[dict] = [{"object": change, "timestamp": rec["add_time"], "data": {
            "id": i * 10, "item_id": i, "user_id": rec.get("owner_id"), "field_key": "add_time", "old_value": None,
            "new_value": rec["add_time"], "log_time": rec["add_time"], "change_source": "app",
            "additional_data": []}}]
        acts = c.stores["activities"]
        from .v1_query import select_ids
        for a in select_ids(c, "activities", ((key, i),), [field_pred(c, "activities", key, i)], ()):
            act = acts.get(a)
            if act:
                items.append({"object": "activity", "timestamp": act["add_time"], "data": c.render("activities", act)})
        items.sort(key=lambda x: x["timestamp"], reverse=True)
        page, ad = paginate_list(items, req)
        return ok(page, ad)
    handler.__name__ = f"get_{entity}_flow"
    return handler


def _changelog_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label, _ = PARENTS[entity]
    name_key = "title" if entity == "deals" else "name"

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        rec = _get_or_404(c, entity, i, label)
        owner = rec.get("user_id") if entity == "deals" else rec.get("owner_id")
        rows = [{"field_key": name_key, "old_value": None, "new_value": rec.get(name_key), "actor_user_id": owner,
                 "time": rec["add_time"], "change_source": "app", "change_source_user_agent": None,
                 "is_bulk_update_flag": False}]
        if rec["update_time"] != rec["add_time"]:
            rows.append({"field_key": "update_time", "old_value": rec["add_time"], "new_value": rec["update_time"],
                         "actor_user_id": owner, "time": rec["update_time"], "change_source": "api",
                         "change_source_user_agent": "pipedrive-sim", "is_bulk_update_flag": False})
        rows.reverse()  # newest first
        return _cursor_rows(req, rows)
    handler.__name__ = f"get_{entity}_changelog"
    return handler


def _cursor_rows(req: SimRequest, rows: list[dict]) -> SimResponse:
    limit = min(q_int(req, "limit", 100, lo=1), 500)  # type: ignore[type-var]
    after = decode_cursor(req.query.get("cursor"))
    page = rows[after:after + limit]
    nxt = encode_cursor(after + limit) if after + limit < len(rows) else None
    return ok(page or None, {"next_cursor": nxt})


def _mail_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label, _ = PARENTS[entity]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        _get_or_404(c, entity, path_int(req), label)
        page, ad = paginate_list([], req)
        return ok(page, ad)  # the simulated company has no synced mailbox
    handler.__name__ = f"get_{entity}_mail"
    return handler


def _permitted_of(entity: str) -> Callable[["Company", SimRequest], SimResponse]:
    label = PARENTS[entity][0] if entity in PARENTS else "Lead"

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        if entity == "leads":
            k = c.lead_id_of(req.path_params.get("id", ""))
            if k is None or c.get_flat("leads", k) is None:
                raise ApiError(404, "Lead not found")
        else:
            _get_or_404(c, entity, path_int(req), label)
        return ok([u["id"] for u in c.small.users if u["active_flag"]])
    handler.__name__ = f"get_{entity}_permitted"
    return handler


def get_deal_persons(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    deal = _get_or_404(c, "deals", did, "Deal")
    pids: list[int] = []
    if deal.get("person_id"):
        pids.append(deal["person_id"])
    for p in c.deal_children("participants", did):
        pid = (p.get("person_id") or {}).get("value")
        if pid and pid not in pids:
            pids.append(pid)
    st = c.stores["persons"]
    rows = [c.render("persons", r, req.user_id) for r in (st.get(p) for p in pids) if r is not None]
    page, ad = paginate_list(rows, req)
    return ok(page, ad, _related(c, page or [], users=("owner_id",), orgs=("org_id",)))


def get_deal_participants_changelog(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    _get_or_404(c, "deals", did, "Deal")
    rows = [{"actor_user_id": p.get("added_by_user_id"), "person_id": (p.get("person_id") or {}).get("value"),
             "action": "added", "time": p.get("add_time")} for p in c.deal_children("participants", did)]
    return _cursor_rows(req, rows)


def get_person_products(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    _get_or_404(c, "persons", pid, "Person")
    rows = []
    deals = c.stores["deals"]
    from .v1_query import select_ids
    for did in select_ids(c, "deals", (("person", pid),), [field_pred(c, "deals", "person_id", pid)], ()):
        for item in c.deal_children("products", did):
            prod = c.get_flat("products", item["product_id"])
            rows.append({"deal": {"id": did, "title": (deals.get(did) or {}).get("title")},
                         "product": c.render("products", prod, req.user_id) if prod else None})
    page, ad = paginate_list(rows, req)
    return ok(page, ad)


def get_product_deals(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    _get_or_404(c, "products", pid, "Product")
    def has_product(i: int) -> bool:
        if i <= c.n_deals and i not in c.children["products"] and c.b.deal_base_counts(i)[0] == 0:
            return False
        return any(x["product_id"] == pid for x in c.deal_children("products", i))
    return list_big(c, req, "deals", filters=[("product", pid)], preds=[has_product], own_filter=False)


def _deals_by(fld: str, entity: str, label: str) -> Callable[["Company", SimRequest], SimResponse]:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        if c.get_flat(entity, i) is None:
            raise ApiError(404, f"{label} not found")
        return list_big(c, req, "deals", filters=[(fld, i)], preds=[_deal_misc_pred(c, fld, i)])
    handler.__name__ = f"get_{entity}_deals"
    return handler


# ------------------------------------------------------------------------- users, roles, permissions
def get_user_followers(c: "Company", req: SimRequest) -> SimResponse:
    uid = path_int(req)
    if c.small.user(uid) is None:
        raise ApiError(404, "User not found")
    return ok([1] if uid != 1 else None)


def get_user_permissions(c: "Company", req: SimRequest) -> SimResponse:
    uid = path_int(req)
    u = c.small.user(uid)
    if u is None:
        raise ApiError(404, "User not found")
    admin = uid == c.admin_user_id
    keys = ["can_add_custom_fields", "can_add_products", "can_add_prospects_as_leads", "can_bulk_edit_items",
            "can_change_visibility_of_items", "can_convert_deals_to_leads", "can_create_own_workflow",
            "can_delete_activities", "can_delete_deals", "can_edit_custom_fields", "can_edit_deals_closed_date",
            "can_edit_products", "can_edit_shared_filters", "can_export_data_from_lists", "can_follow_other_users",
            "can_merge_deals", "can_merge_organizations", "can_merge_people", "can_modify_labels",
            "can_see_company_wide_statistics", "can_see_deals_list_summary", "can_see_hidden_items_names",
            "can_see_other_users", "can_see_other_users_statistics", "can_see_security_dashboard",
            "can_share_filters", "can_share_insights", "can_use_api", "can_use_email_tracking", "can_use_import"]
    return ok({k: admin or k in ("can_use_api", "can_add_products", "can_follow_other_users") for k in keys})


def get_user_role_assignments(c: "Company", req: SimRequest) -> SimResponse:
    uid = path_int(req)
    u = c.small.user(uid)
    if u is None:
        raise ApiError(404, "User not found")
    role = c.get_flat("roles", u["role_id"]) or {}
    rows = [{"user_id": uid, "role_id": u["role_id"], "parent_role_id": role.get("parent_role_id"),
             "name": role.get("name"), "active_flag": True, "type": "1"}]
    page, ad = paginate_list(rows, req)
    return ok(page, ad)


def get_user_role_settings(c: "Company", req: SimRequest) -> SimResponse:
    uid = path_int(req)
    if c.small.user(uid) is None:
        raise ApiError(404, "User not found")
    return ok(_role_settings())


def _role_settings() -> dict:
    return {"deal_default_visibility": 3, "lead_default_visibility": 3, "org_default_visibility": 3,
            "person_default_visibility": 3, "product_default_visibility": 3, "deal_access_level": 2,
            "org_access_level": 2, "person_access_level": 2, "product_access_level": 2}


def _role_or_404(c: "Company", req: SimRequest) -> dict:
    r = c.get_flat("roles", path_int(req))
    if r is None:
        raise ApiError(404, "Role not found")
    return r


def get_role_assignments(c: "Company", req: SimRequest) -> SimResponse:
    role = _role_or_404(c, req)
    rows = [{"user_id": u["id"], "role_id": role["id"], "parent_role_id": role["parent_role_id"],
             "name": role["name"], "active_flag": True, "type": "1"}
            for u in c.small.users if u["role_id"] == role["id"]]
    page, ad = paginate_list(rows, req)
    return ok(page, ad)


def get_role_pipelines(c: "Company", req: SimRequest) -> SimResponse:
    role = _role_or_404(c, req)
    visible = req.query.get("visible", "true") != "false"
    ids = [p["id"] for p in c.small.pipelines if role["id"] == 1 or p["id"] != 3]
    if not visible:
        ids = [p["id"] for p in c.small.pipelines if p["id"] not in ids]
    return ok({"pipeline_ids": ids, "visible": visible})


def get_role_settings(c: "Company", req: SimRequest) -> SimResponse:
    _role_or_404(c, req)
    return ok(_role_settings())


def get_permission_set_assignments(c: "Company", req: SimRequest) -> SimResponse:
    psid = req.path_params.get("id", "")
    sets = {r["id"]: r for r in _small_rows(c, "permissionSets")}
    if psid not in sets:
        raise ApiError(404, "Permission set not found")
    rows = [{"user_id": u["id"], "permission_set_id": psid, "name": sets[psid]["name"]}
            for u in c.small.users if any(a["permission_set_id"] == psid for a in u["access"])]
    page, ad = paginate_list(rows, req)
    return ok(page, ad)


def get_user_connections(c: "Company", req: SimRequest) -> SimResponse:
    return ok({"google": None})


def get_user_settings(c: "Company", req: SimRequest) -> SimResponse:
    return ok({"marketplace_allow_custom_install_url": False, "marketplace_app_extensions_vendor": False,
               "marketplace_team": False, "list_limit": 100, "beta_app": False, "prevent_salesphone_callto_override":
               False, "file_upload_destination": "pipedrive", "callto_link_syntax": "tel:[number]",
               "autofill_deal_expected_close_date": False, "person_duplicate_condition": "full_name"})


def get_billing_addons(c: "Company", req: SimRequest) -> SimResponse:
    if not req.is_admin:
        raise ApiError(403, "You do not have permissions to do this.")
    return ok([{"code": "leadbooster_v2"}, {"code": "prospector"}])


# ------------------------------------------------------------------------- projects
def _project_or_404(c: "Company", req: SimRequest) -> dict:
    p = c.get_flat("projects", path_int(req))
    if p is None:
        raise ApiError(404, "Project not found")
    return p


def get_project_tasks(c: "Company", req: SimRequest) -> SimResponse:
    p = _project_or_404(c, req)
    rows = [r for r in _small_rows(c, "tasks") if r["project_id"] == p["id"]]
    return ok(rows or None, {"next_cursor": None})


def get_project_activities(c: "Company", req: SimRequest) -> SimResponse:
    p = _project_or_404(c, req)
    return list_big(c, req, "activities", filters=[("project", p["id"])],
                    preds=[field_pred(c, "activities", "project_id", p["id"])], own_filter=False)


def get_project_groups(c: "Company", req: SimRequest) -> SimResponse:
    p = _project_or_404(c, req)
    return ok([{"id": p["id"] * 10 + k, "name": n, "order_nr": k} for k, n in enumerate(["Setup", "Delivery"], 1)])


def get_project_plan(c: "Company", req: SimRequest) -> SimResponse:
    p = _project_or_404(c, req)
    tasks = [r for r in _small_rows(c, "tasks") if r["project_id"] == p["id"]]
    return ok([{"item_id": t["id"], "item_type": "task", "phase_id": p["phase_id"], "group_id": p["id"] * 10 + 1}
               for t in tasks] or None)


def _by_id(name: str, label: str) -> Callable[["Company", SimRequest], SimResponse]:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        r = c.get_flat(name, path_int(req))
        if r is None:
            raise ApiError(404, f"{label} not found")
        return ok(r)
    handler.__name__ = f"get_{name}_one"
    return handler


def get_project_templates(c: "Company", req: SimRequest) -> SimResponse:
    return ok([{"id": 1, "title": "Onboarding template", "description": None, "projects_board_id": 1,
                "owner_id": 1, "add_time": fmt_ts(parse_ts("2023-02-01 10:00:00") or 0),
                "update_time": fmt_ts(parse_ts("2023-03-01 10:00:00") or 0)}], {"next_cursor": None})


def get_project_template(c: "Company", req: SimRequest) -> SimResponse:
    if path_int(req) != 1:
        raise ApiError(404, "Project template not found")
    return ok(get_project_templates(c, req).body["data"][0])


# ------------------------------------------------------------------------- goals, notes, mail, misc
def get_goal_results(c: "Company", req: SimRequest) -> SimResponse:
    gid = req.path_params.get("id", "")
    goal = next((g for g in _small_rows(c, "goals") if g["id"] == gid), None)
    if goal is None:
        raise ApiError(404, "Goal not found")
    for name in ("period.start", "period.end"):
        raw = req.query.get(name)
        if not raw or len(raw) != 10 or parse_ts(raw) is None:
            raise ApiError(400, f"Parameter '{name}' is required (YYYY-MM-DD)")
    target = goal["expected_outcome"]["target"]
    return ok({"progress": target // 3, "goal": goal})


def get_note_comments(c: "Company", req: SimRequest) -> SimResponse:
    _get_or_404(c, "notes", path_int(req), "Note")
    page, ad = paginate_list([], req)
    return ok(page, ad)


def get_note_comment(c: "Company", req: SimRequest) -> SimResponse:
    _get_or_404(c, "notes", path_int(req), "Note")
    raise ApiError(404, "Comment not found")


def get_mail_threads(c: "Company", req: SimRequest) -> SimResponse:
    folder = req.query.get("folder")
    if folder not in ("inbox", "drafts", "sent", "archive"):
        raise ApiError(400, "Parameter 'folder' must be inbox, drafts, sent or archive")
    page, ad = paginate_list([], req, 50, 50)
    return ok(page, ad)


def get_mail_missing(c: "Company", req: SimRequest) -> SimResponse:
    path_int(req)
    raise ApiError(404, "Mail not found")


def get_filter_helpers(c: "Company", req: SimRequest) -> SimResponse:
    ops = {"date": ["=", "<", ">", "<=", ">=", "IS NULL", "IS NOT NULL"], "int": ["=", "!=", "<", ">"],
           "varchar": ["=", "!=", "LIKE '$%'", "LIKE '%$%'", "IS NULL", "IS NOT NULL"]}
    return ok({"operators": ops, "deprecated_operators": {}, "relative_dates": {"today": "today"},
               "address_field_components": {"locality": "City", "country": "Country"}})


def get_item_search_field(c: "Company", req: SimRequest) -> SimResponse:
    term = (req.query.get("term") or "").strip().lower()
    ftype = req.query.get("entity_type") or req.query.get("field_type")
    fkey = req.query.get("field_key")
    if len(term) < 2 or not ftype or not fkey:
        raise ApiError(400, "Parameters 'term', 'entity_type' and 'field_key' are required")
    ent = {"deal": "deals", "dealField": "deals", "person": "persons", "personField": "persons",
           "organization": "organizations", "organizationField": "organizations", "product": "products",
           "productField": "products", "lead": "leads", "leadField": "leads"}.get(ftype)
    if ent is None:
        raise ApiError(400, "Invalid entity_type")
    start, limit = q_int(req, "start", 0, lo=0), min(q_int(req, "limit", 100, lo=1), 500)  # type: ignore[type-var]
    st = c.stores[ent]
    ids_only = req.query.get("return_item_ids") in ("1", "true")
    out: list[dict] = []
    seen: set[Any] = set()
    for i in st.ids():
        r = st.get(i)
        v = r.get(fkey) if r else None
        if isinstance(v, str) and term in v.lower():
            if ids_only:
                out.append({"id": r["id"], fkey: v})  # type: ignore[index]
            elif v not in seen:
                seen.add(v)
                out.append({"id": v, fkey: v})
        if len(out) > start + limit:
            break
    page = out[start:start + limit]
    return ok(page or None, page_envelope(page, start, limit, more=len(out) > start + limit))


def get_deals_timeline(c: "Company", req: SimRequest) -> SimResponse:
    start = req.query.get("start_date")
    interval = req.query.get("interval")
    amount = q_int(req, "amount", required=True, lo=1)
    fkey = req.query.get("field_key")
    if not start or len(start) != 10 or parse_ts(start) is None:
        raise ApiError(400, "Parameter 'start_date' is required (YYYY-MM-DD)")
    if interval not in ("day", "week", "month", "quarter"):
        raise ApiError(400, "Parameter 'interval' must be day, week, month or quarter")
    if not fkey:
        raise ApiError(400, "Parameter 'field_key' is required")
    days = {"day": 1, "week": 7, "month": 30, "quarter": 91}[interval]
    t0 = parse_ts(start) or 0
    periods = []
    deals = [r for r in (c.stores["deals"].get(i) for i in c.visible_ids("deals")) if r and r["status"] != "lost"]
    for k in range(min(amount, 100)):  # type: ignore[type-var]
        lo, hi = t0 + k * days * DAY, t0 + (k + 1) * days * DAY - 1
        lo_s, hi_s = fmt_date(lo), fmt_date(hi)
        inside = [d for d in deals if isinstance(d.get(fkey), str) and lo_s <= d[fkey][:10] <= hi_s]
        periods.append({"period_start": fmt_ts(lo), "period_end": fmt_ts(hi),
                        "deals": [c.render("deals", d, req.user_id) for d in inside[:100]] or None,
                        "totals": {"count": len(inside), "values": {}, "weighted_values": {},
                                   "open_count": sum(1 for d in inside if d["status"] == "open"),
                                   "won_count": sum(1 for d in inside if d["status"] == "won")}})
    return ok(periods)


def _pipeline_or_404(c: "Company", req: SimRequest) -> dict:
    p = c.get_flat("pipelines", path_int(req))
    if p is None:
        raise ApiError(404, "Pipeline not found")
    for name in ("start_date", "end_date"):
        raw = req.query.get(name)
        if not raw or len(raw) != 10 or parse_ts(raw) is None:
            raise ApiError(400, f"Parameter '{name}' is required (YYYY-MM-DD)")
    return p


def get_pipeline_conversion(c: "Company", req: SimRequest) -> SimResponse:
    p = _pipeline_or_404(c, req)
    stages = c.small.pipeline_stages[p["id"]]
    return ok({"stage_conversions": [{"from_stage_id": a, "to_stage_id": b, "conversion_rate": 60 - 10 * k}
                                     for k, (a, b) in enumerate(zip(stages, stages[1:], strict=False))],
               "won_conversion": 25, "lost_conversion": 20})


def get_pipeline_movement(c: "Company", req: SimRequest) -> SimResponse:
    _pipeline_or_404(c, req)
    return ok({"movements_between_stages": {"count": 0}, "new_deals": {"count": 0, "deals_ids": [], "values": {}},
               "deals_left_open": {"count": 0, "deals_ids": [], "values": {}},
               "won_deals": {"count": 0, "deals_ids": [], "values": {}},
               "lost_deals": {"count": 0, "deals_ids": [], "values": {}}, "average_age_in_days": {}})


ROUTES: list[tuple[str, str, Callable, bool]] = [
    ("GET", "/deals/{id}/persons", get_deal_persons, False),
    ("GET", "/deals/{id}/participantsChangelog", get_deal_participants_changelog, False),
    ("GET", "/deals/timeline", get_deals_timeline, False),
    ("GET", "/persons/{id}/products", get_person_products, False),
    ("GET", "/products/{id}/deals", get_product_deals, False),
    ("GET", "/pipelines/{id}/deals", _deals_by("pipeline_id", "pipelines", "Pipeline"), False),
    ("GET", "/stages/{id}/deals", _deals_by("stage_id", "stages", "Stage"), False),
    ("GET", "/pipelines/{id}/conversion_statistics", get_pipeline_conversion, False),
    ("GET", "/pipelines/{id}/movement_statistics", get_pipeline_movement, False),
    ("GET", "/users/{id}/followers", get_user_followers, False),
    ("GET", "/users/{id}/permissions", get_user_permissions, False),
    ("GET", "/users/{id}/roleAssignments", get_user_role_assignments, False),
    ("GET", "/users/{id}/roleSettings", get_user_role_settings, False),
    ("GET", "/roles/{id}/assignments", get_role_assignments, False),
    ("GET", "/roles/{id}/pipelines", get_role_pipelines, False),
    ("GET", "/roles/{id}/settings", get_role_settings, False),
    ("GET", "/permissionSets/{id}/assignments", get_permission_set_assignments, False),
    ("GET", "/userConnections", get_user_connections, False),
    ("GET", "/userSettings", get_user_settings, False),
    ("GET", "/billing/subscriptions/addons", get_billing_addons, False),
    ("GET", "/projects/{id}/tasks", get_project_tasks, False),
    ("GET", "/projects/{id}/activities", get_project_activities, False),
    ("GET", "/projects/{id}/groups", get_project_groups, False),
    ("GET", "/projects/{id}/plan", get_project_plan, False),
    ("GET", "/projects/boards/{id}", _by_id("boards", "Board"), False),
    ("GET", "/projects/phases/{id}", _by_id("phases", "Phase"), False),
    ("GET", "/projectTemplates", get_project_templates, False),
    ("GET", "/projectTemplates/{id}", get_project_template, False),
    ("GET", "/goals/{id}/results", get_goal_results, False),
    ("GET", "/notes/{id}/comments", get_note_comments, False),
    ("GET", "/notes/{id}/comments/{commentId}", get_note_comment, False),
    ("GET", "/mailbox/mailThreads", get_mail_threads, False),
    ("GET", "/mailbox/mailThreads/{id}", get_mail_missing, False),
    ("GET", "/mailbox/mailThreads/{id}/mailMessages", get_mail_missing, False),
    ("GET", "/mailbox/mailMessages/{id}", get_mail_missing, False),
    ("GET", "/filters/helpers", get_filter_helpers, False),
    ("GET", "/itemSearch/field", get_item_search_field, True),
    ("GET", "/leads/{id}/permittedUsers", _permitted_of("leads"), False),
]
for _ent in ("deals", "persons", "organizations", "products"):
    ROUTES.append(("GET", f"/{_ent}/{{id}}/files", _files_of(_ent), False))
    ROUTES.append(("GET", f"/{_ent}/{{id}}/permittedUsers", _permitted_of(_ent), False))
for _ent in ("persons", "organizations"):
    ROUTES.append(("GET", f"/{_ent}/{{id}}/activities", _activities_of(_ent), False))
    ROUTES.append(("GET", f"/{_ent}/{{id}}/flow", _flow_of(_ent), False))
for _ent in ("deals", "persons", "organizations"):
    ROUTES.append(("GET", f"/{_ent}/{{id}}/changelog", _changelog_of(_ent), False))
    ROUTES.append(("GET", f"/{_ent}/{{id}}/mailMessages", _mail_of(_ent), False))
