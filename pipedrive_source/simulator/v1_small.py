"""The small, fixed-size parts of the simulated company and per-deal children.

Users, pipelines, stages, currencies, activity types, lead labels/sources, filters, goals,
call logs, files, roles, permission sets, projects (+ boards, phases, tasks),
organization relationships and webhooks are a few dozen rows each: they are built once
per Company (deterministically from the seed) and then live in ``EntityStore`` like
the big entities, so writes work the same way. Per-deal children (products, participants,
followers) of base deals are derived from (seed, deal id) like the deals themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .generator import (
    ACTIVITY_TYPES, ADMIN_USER_ID, COMPANY_ID, COMPANY_DOMAIN, CURRENCIES, DAY, T0, Hasher,
    fmt_date, fmt_iso_ms, fmt_ts, make_uuid, weighted_table,
)

if TYPE_CHECKING:
    from .store import Company

PIPELINES = [(1, "Sales", [("Lead in", 10), ("Contact made", 20), ("Demo scheduled", 40), ("Proposal made", 60),
                           ("Negotiations", 80), ("Contract sent", 90)]),
             (2, "Partnerships", [("Qualified", 20), ("Meeting", 50), ("Agreement", 80), ("Signed", 100)]),
             (3, "Renewals", [("Upcoming", 50), ("In talks", 70), ("Quote sent", 85), ("Closing", 95)])]
USER_NAMES = ["Ada Admin", "Riley Regular", "Sam Seller", "Kim Closer", "Lee Lead", "Mo Manager", "Nia North",
              "Oli South", "Pat Partner", "Quinn Quota", "Dee Parted"]


class SmallData:
    """Fixed-size tables of a company (see module docstring)."""

    def __init__(self, c: "Company") -> None:
        self.c = c
        seed = c.seed
        h = Hasher(seed, "small")
        self.h = h
        n_users = c.n_users
        # ---------------------------------------------------------- users (+1 deactivated)
        self.users: list[dict] = []
        for uid in range(1, n_users + 2):
            name = USER_NAMES[uid - 1] if uid - 1 < len(USER_NAMES) else f"User {uid}"
            slug = name.lower().replace(" ", ".")
            active = uid <= n_users
            self.users.append({
                "id": uid, "name": name, "default_currency": "EUR" if uid % 3 else "USD", "locale": "en_US",
                "lang": 1, "email": f"{slug}@{COMPANY_DOMAIN}.example",
                "phone": None if uid % 2 else f"+372 5{uid:03d} 1234",
                "activated": active, "last_login": fmt_ts(T0 + (900 + uid) * DAY + uid * 3600),
                "created": fmt_ts(T0 + uid * 3600), "modified": fmt_ts(T0 + (800 + uid) * DAY),
                "has_created_company": uid == ADMIN_USER_ID,
                "access": [{"app": "sales", "admin": uid == ADMIN_USER_ID,
                            "permission_set_id": make_uuid(seed, "pset", 1 if uid == ADMIN_USER_ID else 2)}],
                "active_flag": active, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00",
                "role_id": 1 if uid == ADMIN_USER_ID else 2 + uid % 3, "icon_url": None, "is_you": False,
                "is_deleted": not active,
            })
        self._user_by_id = {u["id"]: u for u in self.users}
        self._user_refs = {u["id"]: {"id": u["id"], "name": u["name"], "email": u["email"], "has_pic": 0,
                                     "pic_hash": None, "active_flag": u["active_flag"], "value": u["id"]}
                           for u in self.users}
        # ---------------------------------------------------------- pipelines, stages
        self.pipelines: list[dict] = []
        self.stages: list[dict] = []
        self.pipeline_stages: dict[int, list[int]] = {}
        self.stage_order: dict[int, int] = {}
        sid = 0
        for pid, pname, stages in PIPELINES:
            self.pipelines.append({"id": pid, "name": pname, "url_title": pname.lower(), "order_nr": pid,
                                   "active": True, "deal_probability": True, "add_time": fmt_ts(T0 + 60 + pid),
                                   "update_time": fmt_ts(T0 + 30 * DAY + pid * 3600), "selected": pid == 1})
            self.pipeline_stages[pid] = []
            for k, (sname, prob) in enumerate(stages, start=1):
                sid += 1
                self.pipeline_stages[pid].append(sid)
                self.stage_order[sid] = k
                self.stages.append({"id": sid, "order_nr": k, "name": sname, "active_flag": True,
                                    "deal_probability": prob, "pipeline_id": pid, "rotten_flag": k == 2,
                                    "rotten_days": 14 if k == 2 else None, "add_time": fmt_ts(T0 + 120 + sid),
                                    "update_time": fmt_ts(T0 + 31 * DAY + sid * 60), "pipeline_name": pname,
                                    "pipeline_deal_probability": True})
        self.pipelines_table = weighted_table([(1, 10), (2, 3), (3, 3)], 16)
        self.currencies = [{"id": i, "code": code, "name": name, "decimal_points": dp, "symbol": sym,
                            "active_flag": True, "is_custom_flag": False} for i, code, name, sym, dp in CURRENCIES]
        self._cur_symbol = {r["code"]: r["symbol"] for r in self.currencies}
        self.activity_types = [{"id": i, "order_nr": i, "name": name, "key_string": key, "icon_key": icon,
                                "active_flag": i != 8, "color": None if i % 3 else "FFB300",
                                "is_custom_flag": i > 6, "add_time": fmt_ts(T0 + 30 + i),
                                "update_time": fmt_ts(T0 + 10 * DAY + i)} for i, key, name, icon in ACTIVITY_TYPES]
        self.lead_labels = [{"id": make_uuid(seed, "lead-label", k), "name": name, "color": color,
                             "add_time": fmt_iso_ms(T0 + k * 3600), "update_time": fmt_iso_ms(T0 + 50 * DAY + k)}
                            for k, (name, color) in enumerate([("Hot", "red"), ("Warm", "yellow"), ("Cold", "blue"),
                                                               ("Partner", "purple")], start=1)]
        self.lead_sources = [{"name": n} for n in ("Manually created", "Deal", "Web forms", "Prospector",
                                                    "Leadbooster", "Live chat", "Import", "Website visitors",
                                                    "Workflow automation", "API")]
        self.tables: dict[str, list[dict]] = {}
        self.owner_keys: dict[str, str] = {}
        self._build_tables()
        # files attach to deals: deal id -> number of files
        self.files_per_deal: dict[int, int] = {}
        for f in self.tables["files"]:
            if f["deal_id"]:
                self.files_per_deal[f["deal_id"]] = self.files_per_deal.get(f["deal_id"], 0) + 1

    # ------------------------------------------------------------------ helpers
    def user(self, uid: int | None) -> dict | None:
        return self._user_by_id.get(uid) if uid is not None else None

    def user_ref(self, uid: int | None) -> dict | None:
        if uid is None:
            return None
        r = self._user_refs.get(uid)
        if r is None:
            return {"id": uid, "name": f"User {uid}", "email": "", "has_pic": 0, "pic_hash": None,
                    "active_flag": False, "value": uid}
        return r.copy()

    def user_name(self, uid: int | None) -> str | None:
        u = self._user_by_id.get(uid) if uid is not None else None
        return u["name"] if u else None

    def format_money(self, v: float | int, cur: str) -> str:
        sym = self._cur_symbol.get(cur, cur)
        if isinstance(v, float) and not v.is_integer():
            return f"{sym}{v:,.2f}"
        return f"{sym}{int(v):,}"

    # ------------------------------------------------------------------ tables
    def _build_tables(self) -> None:
        c = self.c
        h = self.h
        seed = c.seed
        n_deals, n_persons, n_orgs = c.n_deals, c.n_persons, c.n_orgs
        t = self.tables
        t["users"] = self.users
        t["pipelines"] = self.pipelines
        t["stages"] = self.stages
        t["currencies"] = self.currencies
        t["activityTypes"] = self.activity_types
        t["leadLabels"] = self.lead_labels
        types = ["deals", "people", "org", "products", "activity", "deals", "deals", "people", "org", "leads",
                 "projects", "deals"]
        t["filters"] = [{"id": k, "name": f"{types[k - 1].title()} filter {k}", "active_flag": True,
                         "type": types[k - 1], "temporary_flag": None, "user_id": 1 + k % c.n_users,
                         "add_time": fmt_ts(T0 + k * 7 * DAY), "update_time": fmt_ts(T0 + (k * 7 + 90) * DAY),
                         "visible_to": 7 if k % 2 else 1, "custom_view_id": None}
                        for k in range(1, 13)]
        self.owner_keys["filters"] = "user_id"
        t["goals"] = [{"id": make_uuid(seed, "goal", k).replace("-", ""), "owner_id": 1 + k % c.n_users,
                       "title": f"Goal {k}",
                       "type": {"name": ["deals_won", "deals_progressed", "activities_completed", "revenue_forecast",
                                         "deals_started", "activities_added"][k - 1],
                                "params": {"pipeline_id": [1 + k % 3], "activity_type_id": [1 + k % 8]}},
                       "assignee": {"id": 1 + k % c.n_users if k % 2 else COMPANY_ID,
                                    "type": "person" if k % 2 else "company"},
                       "interval": ["weekly", "monthly", "quarterly", "yearly"][k % 4],
                       "duration": {"start": fmt_date(T0 + k * 30 * DAY), "end": fmt_date(T0 + (k * 30 + 365) * DAY)},
                       "expected_outcome": {"target": 50 * k, "tracking_metric": "quantity" if k % 2 else "sum",
                                            "currency_id": None if k % 2 else 1},
                       "is_active": k != 6, "report_ids": [f"r{k}"]} for k in range(1, 7)]
        self.owner_keys["goals"] = "owner_id"
        t["callLogs"] = []
        for k in range(1, 121):
            x = h(1000 + k)
            dur = (x >> 8) % 1800
            start = T0 + (k * 9 + (x >> 20) % 9) * DAY + (x % 36000)
            deal = 1 + (x >> 30) % n_deals if (x >> 2) & 1 else None
            t["callLogs"].append({
                "id": f"{h(2000 + k):016x}", "activity_id": None, "person_id": 1 + (x >> 40) % n_persons,
                "org_id": None if (x >> 3) & 1 else 1 + (x >> 44) % n_orgs, "deal_id": deal, "lead_id": None,
                "subject": f"Call {k}", "duration": str(dur), "outcome": ["connected", "no_answer", "left_message",
                                                                          "busy", "wrong_number"][x % 5],
                "from_phone_number": f"+372 5{k:04d}", "to_phone_number": f"+49 30 {x % 10000000:07d}",
                "has_recording": bool((x >> 4) & 1), "start_time": fmt_ts(start), "end_time": fmt_ts(start + dur),
                "user_id": 1 + k % c.n_users, "company_id": COMPANY_ID, "note": None if k % 4 else "<p>Good call</p>",
            })
        self.owner_keys["callLogs"] = "user_id"
        t["files"] = []
        for k in range(1, 151):
            x = h(3000 + k)
            deal = 1 + (x >> 8) % n_deals if x % 4 else None
            person = 1 + (x >> 24) % n_persons if (x >> 2) % 3 == 0 else None
            ext = ["pdf", "docx", "png", "xlsx", "txt"][(x >> 40) % 5]
            add = T0 + (k * 8 + (x >> 44) % 8) * DAY
            t["files"].append({
                "id": k, "user_id": 1 + k % c.n_users, "deal_id": deal, "person_id": person, "org_id": None,
                "product_id": None, "activity_id": None, "lead_id": None, "add_time": fmt_ts(add),
                "update_time": fmt_ts(add + (x >> 50) % 40 * DAY), "file_name": f"document_{k}.{ext}",
                "file_type": ext, "file_size": (x >> 12) % 5_000_000 + 100, "active_flag": True,
                "inline_flag": False, "remote_location": "s3", "remote_id": None, "cid": "",
                "s3_bucket": "", "mail_message_id": "", "mail_template_id": "", "deal_name": None,
                "person_name": None, "org_name": "", "product_name": "", "lead_name": None,
                "url": f"https://{COMPANY_DOMAIN}.pipedrive.com/v1/files/{k}/download", "name": f"document_{k}.{ext}",
                "description": "",
            })
        self.owner_keys["files"] = "user_id"
        t["roles"] = [{"id": k, "parent_role_id": None if k == 1 else 1, "name": n, "active_flag": True,
                       "assignment_count": str(cnt), "sub_role_count": str(3 if k == 1 else 0),
                       "level": 1 if k == 1 else 2}
                      for k, (n, cnt) in enumerate([("Admins", 1), ("Sales", 4), ("Support", 3), ("Partners", 2)],
                                                   start=1)]
        t["permissionSets"] = [{"id": make_uuid(seed, "pset", k), "name": n, "description": d, "app": app,
                                "type": typ, "assignment_count": cnt}
                               for k, (n, d, app, typ, cnt) in enumerate([
                                   ("Global admin", "Full access", "global", "admin", 1),
                                   ("Regular user", "Default user permissions", "sales", "regular", 9),
                                   ("Sales admin", "Manage sales settings", "sales", "admin", 1),
                                   ("Projects admin", "", "projects", "admin", 1),
                                   ("Projects user", "", "projects", "regular", 8),
                                   ("Campaigns user", "", "campaigns", "regular", 3)], start=1)]
        t["boards"] = [{"id": k, "name": n, "order_nr": k, "add_time": fmt_ts(T0 + k * DAY),
                        "update_time": fmt_ts(T0 + (k + 100) * DAY)}
                       for k, n in enumerate(["Onboarding", "Implementation", "Support"], start=1)]
        t["phases"] = [{"id": k, "name": ["Planned", "In progress", "Done"][(k - 1) % 3], "board_id": 1 + (k - 1) // 3,
                        "order_nr": 1 + (k - 1) % 3, "add_time": fmt_ts(T0 + k * DAY),
                        "update_time": fmt_ts(T0 + (k + 100) * DAY)} for k in range(1, 10)]
        t["projects"] = []
        for k in range(1, 26):
            x = h(4000 + k)
            board = 1 + x % 3
            t["projects"].append({
                "id": k, "title": f"Project {k}", "board_id": board, "phase_id": (board - 1) * 3 + 1 + (x >> 4) % 3,
                "description": None if k % 3 else "<p>Rollout</p>",
                "status": ["open", "completed", "canceled"][(x >> 8) % 3],
                "owner_id": 1 + (x >> 12) % c.n_users, "start_date": fmt_date(T0 + k * 20 * DAY),
                "end_date": fmt_date(T0 + (k * 20 + 90) * DAY) if k % 2 else None,
                "deal_ids": [1 + (x >> 16) % n_deals], "org_id": 1 + (x >> 30) % n_orgs, "person_id": None,
                "labels": [], "add_time": fmt_ts(T0 + k * 20 * DAY), "update_time": fmt_ts(T0 + (k * 20 + 30) * DAY),
                "status_change_time": None, "archive_time": None,
            })
        self.owner_keys["projects"] = "owner_id"
        t["tasks"] = [{"id": k, "title": f"Task {k}", "project_id": 1 + (k - 1) % 25, "description": None,
                       "parent_task_id": None if k % 5 else k - 1, "assignee_id": 1 + k % c.n_users,
                       "done": k % 3 == 0, "due_date": fmt_date(T0 + (k * 11) * DAY) if k % 2 else None,
                       "creator_id": 1, "add_time": fmt_ts(T0 + k * 10 * DAY),
                       "update_time": fmt_ts(T0 + (k * 10 + 3) * DAY),
                       "marked_as_done_time": fmt_ts(T0 + (k * 10 + 3) * DAY) if k % 3 == 0 else None}
                      for k in range(1, 61)]
        t["organizationRelationships"] = []
        for k in range(1, 31):
            x = h(5000 + k)
            a = 1 + x % n_orgs
            b = 1 + (x >> 20) % n_orgs
            if a == b:
                b = a % n_orgs + 1
            t["organizationRelationships"].append({
                "id": k, "type": "parent" if k % 3 else "related", "rel_owner_org_id": a, "rel_linked_org_id": b,
                "add_time": fmt_ts(T0 + k * 30 * DAY), "update_time": fmt_ts(T0 + (k * 30 + 5) * DAY),
                "active_flag": "true",
            })
        t["webhooks"] = [{"id": k, "company_id": COMPANY_ID, "owner_id": 1, "user_id": 1, "event_action": a,
                          "event_object": o, "subscription_url": f"https://hooks.example/{o}/{k}", "is_active": 1,
                          "add_time": fmt_ts(T0 + k * DAY), "remove_time": None, "type": "general",
                          "http_auth_user": None, "http_auth_password": None, "additional_data": [],
                          "remove_reason": None, "last_delivery_time": None, "last_http_status": None, "admin_id": 1,
                          "version": "1.0", "name": f"hook {k}"}
                         for k, (a, o) in enumerate([("*", "deal"), ("updated", "person"), ("deleted", "*")], start=1)]
        self.owner_keys["webhooks"] = "user_id"


def base_deal_children(c: "Company", kind: str, did: int) -> list[dict]:
    """Children of a base (never written) deal, consistent with ``Builders.deal_base_counts``."""
    b = c.b
    x = b.h_child(did)
    np_, npart, nfol = b.deal_base_counts(did)
    deal = c.stores["deals"].get(did)
    if deal is None:
        return []
    add = deal["add_time"]
    if kind == "products":
        out = []
        for j in range(np_):
            y = b.h_child(did * 8 + j + 1)
            pid = 1 + y % c.n_products
            prod = c.stores["products"].get(pid)
            price = float((y >> 12) % 2000 * 5)
            qty = 1 + (y >> 24) % 10
            disc = float((y >> 30) % 4 * 5)
            total = round(price * qty * (1 - disc / 100), 2)
            cur = deal["currency"] or "EUR"
            out.append({
                "id": did * 4 + j + 1, "deal_id": did, "order_nr": j + 1, "product_id": pid,
                "product_variation_id": None, "item_price": price, "discount": disc, "discount_type": "percentage",
                "sum": total, "currency": cur, "enabled_flag": True, "add_time": add, "last_edit": add,
                "comments": None if (y >> 40) & 1 else "volume discount", "active_flag": True, "tax": 0.0,
                "tax_method": "inclusive", "quantity": qty, "quantity_formatted": str(qty),
                "sum_formatted": c.small.format_money(total, cur), "duration": 1, "duration_unit": None,
                "name": prod["name"] if prod else f"Product {pid}",
            })
        return out
    if kind == "participants":
        out = []
        persons = []
        p0 = deal.get("person_id") if did <= c.n_deals else None
        if p0 and b.deal_person(did):
            persons.append(b.deal_person(did))
        if (x >> 8) % 4 == 0:
            persons.append(1 + (x >> 16) % c.n_persons)
        persons = persons[:npart] if npart <= len(persons) else persons
        while len(persons) < npart:  # primary person changed by a write: keep the count stable
            persons.append(1 + (x >> 32) % c.n_persons)
        for j, pid in enumerate(persons):
            out.append({"id": did * 4 + j + 1, "person_id": c.person_ref(pid), "add_time": add, "active_flag": True,
                        "related_item_data": {"deal_id": did}, "added_by_user_id": deal.get("user_id") or 1})
        return out
    # followers
    owner = b.deal_owner(did)
    users = [owner]
    if nfol > 1:
        other = 1 + (x >> 40) % c.n_users
        users.append(other if other != owner else owner % c.n_users + 1)
    return [{"id": did * 4 + j + 1, "user_id": u, "deal_id": did, "add_time": add} for j, u in enumerate(users)]
