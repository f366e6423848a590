"""Write handlers (POST/PUT/PATCH/DELETE) of the v1 API.

Every write stamps ``update_time = clock.now()`` (second precision) on the records it
changes and stores their new flat state in the Company's overlay. Deleting a deal keeps
it as ``status: "deleted"`` (visible with status=deleted for 30 days); deleting or
merging away persons, organizations, products, activities, notes and leads makes them
vanish. Child writes (deal products, participants, followers) also bump the deal.
Form bodies arrive as strings, so numbers and booleans are coerced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .api_v1 import ApiError, SimRequest, SimResponse, ok
from .generator import ADDRESS_SUBKEYS, field_key, field_meta_dict
from .store import FIELD_ENTITIES, parse_ts
from .v1_records import CC_EMAIL
from .v1_query import path_int

if TYPE_CHECKING:
    from .store import Company

FIELDS_ROUTE = {v: k for k, v in FIELD_ENTITIES.items()}
FIELD_TYPES = {"varchar", "varchar_auto", "text", "double", "monetary", "date", "daterange", "time", "timerange",
               "enum", "set", "user", "org", "people", "phone", "address", "int"}


# ------------------------------------------------------------------------- coercion
def _body(req: SimRequest) -> dict:
    b = req.body
    if b is None:
        return {}
    if not isinstance(b, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return b


def _int(b: dict, name: str, *, nullable: bool = True) -> int | None:
    v = b.get(name)
    if v is None or v == "":
        if not nullable:
            raise ApiError(400, f"Parameter '{name}' is required")
        return None
    if isinstance(v, bool):
        raise ApiError(400, f"Parameter '{name}' must be an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise ApiError(400, f"Parameter '{name}' must be an integer")


def _num(b: dict, name: str) -> float | int | None:
    v = b.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ApiError(400, f"Parameter '{name}' must be a number")
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            f = float(v)
            return int(f) if f.is_integer() and "." not in v else f
        except ValueError:
            pass
    raise ApiError(400, f"Parameter '{name}' must be a number")


def _str(b: dict, name: str, *, required: bool = False, label: str | None = None) -> str | None:
    v = b.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ApiError(400, f"{label or name.capitalize()} must be given")
        return None if v is None else v
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise ApiError(400, f"Parameter '{name}' must be a string")
    return str(v)


def _bool(b: dict, name: str) -> bool | None:
    v = b.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if v in (1, "1", "true", "True"):
        return True
    if v in (0, "0", "false", "False"):
        return False
    raise ApiError(400, f"Parameter '{name}' must be a boolean")


def _date(b: dict, name: str) -> str | None:
    v = b.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) != 10 or parse_ts(v) is None:
        raise ApiError(400, f"Parameter '{name}' must be a date YYYY-MM-DD")
    return v


def _exists(c: "Company", entity: str, i: int | None, label: str) -> None:
    if i is not None and c.get_flat(entity, i) is None:
        raise ApiError(400, f"{label} with id {i} does not exist")


# ------------------------------------------------------------------------- custom fields on records
def _custom_keys(c: "Company", entity: str) -> dict[str, dict]:
    return {f["key"]: f for f in c.custom_fields(entity)}


def _companions(f: dict) -> list[str]:
    k, t = f["key"], f["field_type"]
    if t == "monetary":
        return [k + "_currency"]
    if t in ("daterange", "timerange"):
        return [k + "_until"]
    if t == "address":
        return [k + "_" + s for s in ADDRESS_SUBKEYS]
    return []


def _null_customs(c: "Company", entity: str) -> dict:
    d: dict = {}
    for f in c.custom_fields(entity):
        d[f["key"]] = None
        for k in _companions(f):
            d[k] = None
    return d


def _apply_customs(c: "Company", entity: str, rec: dict, b: dict) -> None:
    fields = _custom_keys(c, entity)
    comp = {ck: f for f in fields.values() for ck in _companions(f)}
    for k, v in b.items():
        f = fields.get(k)
        if f is not None:
            t = f["field_type"]
            if t in ("int",) and v is not None and v != "":
                v = _int(b, k)
            elif t in ("double", "monetary") and v is not None and v != "":
                v = _num(b, k)
            elif t == "set" and isinstance(v, list):
                v = ",".join(str(x) for x in v)
            elif t == "enum" and isinstance(v, str) and v.isdigit():
                v = int(v)
            elif t == "address" and isinstance(v, str):
                rec[k + "_formatted_address"] = v
            rec[k] = v
        elif k in comp:
            rec[k] = v


# ------------------------------------------------------------------------- generic helpers
def _now(c: "Company") -> str:
    return c.now_str()


def _put(c: "Company", entity: str, i: int, rec: dict) -> None:
    c.stores[entity].put(i, rec)
    if entity == "persons":
        c.invalidate_ref("p", i)
    elif entity == "organizations":
        c.invalidate_ref("o", i)


def _current(c: "Company", entity: str, i: int, label: str) -> dict:
    rec = c.get_flat(entity, i)
    if rec is None or (entity == "deals" and rec.get("status") == "deleted"):
        raise ApiError(404, f"{label} not found")
    return dict(rec)


def _ids_param(req: SimRequest) -> list[int]:
    raw = req.query.get("ids") or (_body(req).get("ids") if isinstance(req.body, dict) else None)
    if not raw:
        raise ApiError(400, "Parameter 'ids' is required")
    parts = raw if isinstance(raw, list) else str(raw).split(",")
    try:
        return [int(str(x).strip()) for x in parts if str(x).strip()]
    except ValueError:
        raise ApiError(400, "Parameter 'ids' must be a comma-separated list of integers") from None


def _refs_exist(c: "Company", b: dict) -> None:
    for name, ent, label in (("person_id", "persons", "Person"), ("org_id", "organizations", "Organization"),
                             ("deal_id", "deals", "Deal"), ("organization_id", "organizations", "Organization")):
        if name in b:
            _exists(c, ent, _int(b, name), label)
    for name in ("user_id", "owner_id"):
        if name in b:
            uid = _int(b, name)
            if uid is not None and c.small.user(uid) is None:
                raise ApiError(400, f"User with id {uid} does not exist")


# ------------------------------------------------------------------------- deals
def _stage_pipeline(c: "Company", stage: int | None, pipeline: int | None) -> tuple[int, int]:
    if stage is not None:
        for s in c.small.stages:
            if s["id"] == stage:
                return stage, s["pipeline_id"]
        raise ApiError(400, f"Stage with id {stage} does not exist")
    pipe = pipeline or 1
    if pipe not in c.small.pipeline_stages:
        raise ApiError(400, f"Pipeline with id {pipe} does not exist")
    return c.small.pipeline_stages[pipe][0], pipe


def _apply_deal(c: "Company", d: dict, b: dict, now: str, *, creating: bool) -> None:
    _refs_exist(c, b)
    if "title" in b:
        d["title"] = _str(b, "title", required=True, label="Deal title")
    if "value" in b:
        d["value"] = _num(b, "value") or 0
    if "currency" in b:
        cur = _str(b, "currency")
        if cur and cur not in {x["code"] for x in c.small.currencies}:
            raise ApiError(400, f"Unknown currency {cur[:10]}")
        d["currency"] = cur or "EUR"
    for name in ("user_id", "person_id", "org_id"):
        if name in b:
            d[name] = _int(b, name)
    if "stage_id" in b or "pipeline_id" in b or creating:
        stage, pipe = _stage_pipeline(c, _int(b, "stage_id"), _int(b, "pipeline_id"))
        if stage != d.get("stage_id"):
            d["stage_change_time"] = None if creating else now
        d["stage_id"], d["pipeline_id"] = stage, pipe
    if "status" in b:
        status = _str(b, "status")
        if status not in ("open", "won", "lost"):
            raise ApiError(400, "Invalid status", "status must be open, won or lost")
        if status != d.get("status"):
            d["status"] = status
            d["active"] = status == "open"
            d["won_time"] = now if status == "won" else None
            d["first_won_time"] = d["first_won_time"] or (now if status == "won" else None)
            d["lost_time"] = now if status == "lost" else None
            d["close_time"] = now if status != "open" else None
            d["local_won_date"] = now[:10] if status == "won" else None
            d["local_lost_date"] = now[:10] if status == "lost" else None
            d["local_close_date"] = now[:10] if status != "open" else None
    if "probability" in b:
        d["probability"] = _num(b, "probability")
    if "lost_reason" in b:
        d["lost_reason"] = _str(b, "lost_reason")
    if "visible_to" in b:
        v = _str(b, "visible_to")
        if v not in (None, "1", "3", "5", "7"):
            raise ApiError(400, "Invalid visible_to")
        d["visible_to"] = v
    if "expected_close_date" in b:
        d["expected_close_date"] = _date(b, "expected_close_date")
    if "label" in b:
        lbl = b.get("label")
        if isinstance(lbl, list):
            lbl = ",".join(str(x) for x in lbl)
        d["label"] = None if lbl in (None, "") else str(lbl)
    _apply_customs(c, "deals", d, b)
    d["update_time"] = now


def create_deal(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "title", required=True, label="Deal title")
    st = c.stores["deals"]
    now = _now(c)
    d = c.deal_template.copy()
    d.update(_null_customs(c, "deals"))
    i = st.new_id()
    d.update({"id": i, "creator_user_id": req.user_id, "user_id": req.user_id, "value": 0, "currency": "EUR",
              "add_time": now, "status": "open", "active": True, "visible_to": "3", "origin": "API"})
    try:
        _apply_deal(c, d, b, now, creating=True)
    except ApiError:
        st.next_id -= 1
        raise
    _put(c, "deals", i, d)
    return ok(c.render("deals", d, req.user_id), status=201)


def update_deal(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    d = _current(c, "deals", did, "Deal")
    _apply_deal(c, d, _body(req), _now(c), creating=False)
    _put(c, "deals", did, d)
    return ok(c.render("deals", d, req.user_id))


def _delete_deal(c: "Company", did: int) -> None:
    d = _current(c, "deals", did, "Deal")
    now = _now(c)
    d.update({"status": "deleted", "deleted": True, "active": False, "update_time": now})
    c.deleted_at[did] = c.now_epoch()
    _put(c, "deals", did, d)


def delete_deal(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    _delete_deal(c, did)
    return ok({"id": did})


def delete_deals_bulk(c: "Company", req: SimRequest) -> SimResponse:
    ids = _ids_param(req)
    for i in ids:
        _delete_deal(c, i)
    return ok({"id": ids})


def _bump_deal(c: "Company", did: int) -> None:
    d = _current(c, "deals", did, "Deal")
    d["update_time"] = _now(c)
    _put(c, "deals", did, d)


def _children(c: "Company", kind: str, did: int) -> list[dict]:
    _current(c, "deals", did, "Deal")
    lst = [dict(x) for x in c.deal_children(kind, did)]
    c.children[kind][did] = lst
    return lst


def _child_id(c: "Company") -> int:
    c._next_child_id += 1
    return c._next_child_id


def add_deal_product(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    b = _body(req)
    pid = _int(b, "product_id", nullable=False)
    price = _num(b, "item_price")
    qty = _num(b, "quantity")
    if price is None or qty is None:
        raise ApiError(400, "item_price and quantity are required")
    prod = c.get_flat("products", pid)  # type: ignore[arg-type]
    if prod is None:
        raise ApiError(400, f"Product with id {pid} does not exist")
    lst = _children(c, "products", did)
    deal = c.get_flat("deals", did) or {}
    disc = _num(b, "discount") or 0
    now = _now(c)
    total = round(price * qty * (1 - disc / 100), 2)
    cur = deal.get("currency") or "EUR"
    item = {"id": _child_id(c), "deal_id": did, "order_nr": len(lst) + 1, "product_id": pid,
            "product_variation_id": _int(b, "product_variation_id"), "item_price": price, "discount": disc,
            "discount_type": _str(b, "discount_type") or "percentage", "sum": total, "currency": cur,
            "enabled_flag": _bool(b, "enabled_flag") is not False, "add_time": now, "last_edit": now,
            "comments": _str(b, "comments"), "active_flag": True, "tax": _num(b, "tax") or 0.0,
            "tax_method": _str(b, "tax_method") or "inclusive", "quantity": qty, "quantity_formatted": str(qty),
            "sum_formatted": c.small.format_money(total, cur), "duration": _num(b, "duration") or 1,
            "duration_unit": None, "name": prod["name"]}
    lst.append(item)
    _bump_deal(c, did)
    return ok(dict(item), status=201)


def update_deal_product(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    aid = path_int(req, "product_attachment_id")
    b = _body(req)
    lst = _children(c, "products", did)
    for item in lst:
        if item["id"] == aid:
            for name in ("item_price", "quantity", "discount", "tax", "duration"):
                if name in b:
                    item[name] = _num(b, name)
            for name in ("comments", "discount_type", "tax_method"):
                if name in b:
                    item[name] = _str(b, name)
            if "enabled_flag" in b:
                item["enabled_flag"] = _bool(b, "enabled_flag")
            item["sum"] = round((item["item_price"] or 0) * (item["quantity"] or 0)
                                * (1 - (item["discount"] or 0) / 100), 2)
            item["last_edit"] = _now(c)
            _bump_deal(c, did)
            return ok(dict(item))
    raise ApiError(404, "Product attachment not found")


def delete_deal_product(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    aid = path_int(req, "product_attachment_id")
    lst = _children(c, "products", did)
    for k, item in enumerate(lst):
        if item["id"] == aid:
            del lst[k]
            _bump_deal(c, did)
            return ok({"id": aid})
    raise ApiError(404, "Product attachment not found")


def add_deal_participant(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    pid = _int(_body(req), "person_id", nullable=False)
    _exists(c, "persons", pid, "Person")
    lst = _children(c, "participants", did)
    if any((x.get("person_id") or {}).get("value") == pid for x in lst):
        raise ApiError(400, "This person is already a participant of the deal")
    item = {"id": _child_id(c), "person_id": c.person_ref(pid), "add_time": _now(c), "active_flag": True,
            "related_item_data": {"deal_id": did}, "added_by_user_id": req.user_id}
    lst.append(item)
    _bump_deal(c, did)
    return ok(dict(item), status=201)


def delete_deal_participant(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    pid = path_int(req, "deal_participant_id")
    lst = _children(c, "participants", did)
    for k, item in enumerate(lst):
        if item["id"] == pid:
            del lst[k]
            _bump_deal(c, did)
            return ok({"id": pid})
    raise ApiError(404, "Participant not found")


def add_deal_follower(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    uid = _int(_body(req), "user_id", nullable=False)
    if c.small.user(uid) is None:
        raise ApiError(400, f"User with id {uid} does not exist")
    lst = _children(c, "followers", did)
    if any(x["user_id"] == uid for x in lst):
        raise ApiError(400, "The user is already following the deal")
    item = {"id": _child_id(c), "user_id": uid, "deal_id": did, "add_time": _now(c)}
    lst.append(item)
    _bump_deal(c, did)
    return ok(dict(item), status=201)


def delete_deal_follower(c: "Company", req: SimRequest) -> SimResponse:
    did = path_int(req)
    fid = path_int(req, "follower_id")
    lst = _children(c, "followers", did)
    for k, item in enumerate(lst):
        if item["id"] == fid:
            del lst[k]
            _bump_deal(c, did)
            return ok({"id": fid})
    raise ApiError(404, "Follower not found")


def _entity_followers(entity: str) -> tuple[Callable, Callable]:
    key = "person_id" if entity == "persons" else "org_id"
    label = "Person" if entity == "persons" else "Organization"

    def _lst(c: "Company", i: int) -> list[dict]:
        from .v1_read import _followers_of
        store = c.person_followers if entity == "persons" else c.org_followers
        _current(c, entity, i, label)
        lst = [dict(x) for x in _followers_of(c, entity, i)]
        store[i] = lst
        return lst

    def add(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        uid = _int(_body(req), "user_id", nullable=False)
        if c.small.user(uid) is None:
            raise ApiError(400, f"User with id {uid} does not exist")
        lst = _lst(c, i)
        if any(x["user_id"] == uid for x in lst):
            raise ApiError(400, "The user is already a follower")
        item = {"id": _child_id(c), "user_id": uid, key: i, "add_time": _now(c)}
        lst.append(item)
        rec = _current(c, entity, i, label)
        rec["update_time"] = _now(c)
        _put(c, entity, i, rec)
        return ok(dict(item), status=201)

    def delete(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        fid = path_int(req, "follower_id")
        lst = _lst(c, i)
        for k, item in enumerate(lst):
            if item["id"] == fid:
                del lst[k]
                rec = _current(c, entity, i, label)
                rec["update_time"] = _now(c)
                _put(c, entity, i, rec)
                return ok({"id": fid})
        raise ApiError(404, "Follower not found")
    add.__name__ = f"add_{entity}_follower"
    delete.__name__ = f"delete_{entity}_follower"
    return add, delete


# ------------------------------------------------------------------------- persons / organizations
def _contact_list(v: Any, name: str) -> list[dict]:
    if v is None or v == "":
        return [{"value": "", "primary": True}]
    if isinstance(v, str):
        return [{"label": "work", "value": v, "primary": True}]
    if isinstance(v, list):
        out = []
        for k, x in enumerate(v):
            if isinstance(x, str):
                out.append({"label": "work", "value": x, "primary": k == 0})
            elif isinstance(x, dict) and isinstance(x.get("value"), str):
                out.append({"label": x.get("label") or "work", "value": x["value"],
                            "primary": bool(x.get("primary", k == 0))})
            else:
                raise ApiError(400, f"Invalid {name} entry")
        return out or [{"value": "", "primary": True}]
    raise ApiError(400, f"Parameter '{name}' must be a string or a list")


def _apply_person(c: "Company", d: dict, b: dict, now: str) -> None:
    _refs_exist(c, b)
    if "name" in b:
        name = _str(b, "name", required=True, label="Name")
        d["name"] = name
        parts = (name or "").split(" ", 1)
        d["first_name"] = parts[0]
        d["last_name"] = parts[1] if len(parts) > 1 else None
        d["first_char"] = (name or " ")[0].lower()
    for name in ("first_name", "last_name", "job_title"):
        if name in b:
            d[name] = _str(b, name)
    if "owner_id" in b:
        d["owner_id"] = _int(b, "owner_id")
    if "org_id" in b:
        d["org_id"] = _int(b, "org_id")
    if "email" in b:
        d["email"] = _contact_list(b["email"], "email")
        d["primary_email"] = d["email"][0]["value"] or None
    if "phone" in b:
        d["phone"] = _contact_list(b["phone"], "phone")
    if "visible_to" in b:
        d["visible_to"] = _str(b, "visible_to")
    if "label" in b:
        d["label"] = _int(b, "label")
        d["label_ids"] = [d["label"]] if d["label"] else []
    if "label_ids" in b:
        ids = b["label_ids"]
        if not isinstance(ids, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in ids):
            raise ApiError(400, "Parameter 'label_ids' must be a list of integers")
        d["label_ids"] = list(ids)
    _apply_customs(c, "persons", d, b)
    d["update_time"] = now


def create_person(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "name", required=True, label="Name")
    now = _now(c)
    d = c.person_template.copy()
    d.update(_null_customs(c, "persons"))
    d.update({"owner_id": req.user_id, "add_time": now, "visible_to": "3", "email": [{"value": "", "primary": True}],
              "phone": [{"value": "", "primary": True}], "label_ids": []})
    _apply_person(c, d, b, now)
    i = c.stores["persons"].new_id()
    d["id"] = i
    _put(c, "persons", i, d)
    return ok(c.render("persons", d, req.user_id), status=201)


def update_person(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    d = _current(c, "persons", pid, "Person")
    _apply_person(c, d, _body(req), _now(c))
    _put(c, "persons", pid, d)
    return ok(c.render("persons", d, req.user_id))


def _remove(c: "Company", entity: str, i: int, label: str) -> None:
    _current(c, entity, i, label)
    c.stores[entity].remove(i)
    if entity == "persons":
        c.invalidate_ref("p", i)
    elif entity == "organizations":
        c.invalidate_ref("o", i)


def _make_delete(entity: str, label: str) -> tuple[Callable, Callable]:
    def one(c: "Company", req: SimRequest) -> SimResponse:
        i = path_int(req)
        _remove(c, entity, i, label)
        return ok({"id": i})

    def bulk(c: "Company", req: SimRequest) -> SimResponse:
        ids = _ids_param(req)
        for i in ids:
            _remove(c, entity, i, label)
        return ok({"id": ids})
    one.__name__ = f"delete_{entity}"
    bulk.__name__ = f"delete_{entity}_bulk"
    return one, bulk


def _reassign_deals(c: "Company", field: str, old: int, new: int, now: str) -> None:
    """Point deals referencing a merged-away person/org at the survivor (bumps them)."""
    st = c.stores["deals"]
    b = c.b
    for i in range(1, st.next_id):
        rec = st.overlay.get(i)
        if rec is None:
            if i > st.n_base or i in st.gone:
                continue
            if field == "person_id":
                if b.deal_person(i) != old:
                    continue
            rec = st.gen(i)
        if rec.get(field) == old:
            d = dict(rec)
            d[field] = new
            d["update_time"] = now
            st.put(i, d)


def merge_person(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    other = _int(_body(req), "merge_with_id", nullable=False)
    if other == pid:
        raise ApiError(400, "Cannot merge a person with itself")
    gone = _current(c, "persons", pid, "Person")
    surv = _current(c, "persons", other, "Person")  # type: ignore[arg-type]
    now = _now(c)
    for key in ("email", "phone"):
        vals = [x for x in surv[key] if x.get("value")]
        seen = {x["value"] for x in vals}
        for x in gone[key]:
            if x.get("value") and x["value"] not in seen:
                vals.append(dict(x, primary=False))
        surv[key] = vals or [{"value": "", "primary": True}]
    surv["update_time"] = now
    _put(c, "persons", other, surv)  # type: ignore[arg-type]
    c.stores["persons"].remove(pid)
    c.invalidate_ref("p", pid)
    c.merged_into[("persons", pid)] = other  # type: ignore[assignment]
    _reassign_deals(c, "person_id", pid, other, now)  # type: ignore[arg-type]
    return ok(c.render("persons", surv, req.user_id))


def _apply_org(c: "Company", d: dict, b: dict, now: str) -> None:
    _refs_exist(c, b)
    if "name" in b:
        d["name"] = _str(b, "name", required=True, label="Name")
        d["first_char"] = (d["name"] or " ")[0].lower()
    if "owner_id" in b:
        d["owner_id"] = _int(b, "owner_id")
    if "visible_to" in b:
        d["visible_to"] = _str(b, "visible_to")
    if "address" in b:
        addr = _str(b, "address")
        d["address"] = addr
        d["address_formatted_address"] = addr
    if "label" in b:
        d["label"] = _int(b, "label")
        d["label_ids"] = [d["label"]] if d["label"] else []
    for name in ("website", "industry"):
        if name in b:
            d[name] = _str(b, name)
    _apply_customs(c, "organizations", d, b)
    d["update_time"] = now


def create_org(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "name", required=True, label="Name")
    now = _now(c)
    d = c.org_template.copy()
    d.update(_null_customs(c, "organizations"))
    d.update({"owner_id": req.user_id, "add_time": now, "visible_to": "3", "label_ids": []})
    _apply_org(c, d, b, now)
    i = c.stores["organizations"].new_id()
    d["id"] = i
    _put(c, "organizations", i, d)
    return ok(c.render("organizations", d, req.user_id), status=201)


def update_org(c: "Company", req: SimRequest) -> SimResponse:
    oid = path_int(req)
    d = _current(c, "organizations", oid, "Organization")
    _apply_org(c, d, _body(req), _now(c))
    _put(c, "organizations", oid, d)
    return ok(c.render("organizations", d, req.user_id))


def merge_org(c: "Company", req: SimRequest) -> SimResponse:
    oid = path_int(req)
    other = _int(_body(req), "merge_with_id", nullable=False)
    if other == oid:
        raise ApiError(400, "Cannot merge an organization with itself")
    _current(c, "organizations", oid, "Organization")
    surv = _current(c, "organizations", other, "Organization")  # type: ignore[arg-type]
    now = _now(c)
    surv["update_time"] = now
    _put(c, "organizations", other, surv)  # type: ignore[arg-type]
    c.stores["organizations"].remove(oid)
    c.invalidate_ref("o", oid)
    c.merged_into[("organizations", oid)] = other  # type: ignore[assignment]
    # persons of the merged org move to the survivor
    pst = c.stores["persons"]
    for p in range(1, pst.next_id):
        rec = pst.overlay.get(p)
        if rec is None:
            if p > pst.n_base or p in pst.gone or c.b.person_org(p) != oid:
                continue
            rec = pst.gen(p)
        if rec.get("org_id") == oid:
            d = dict(rec)
            d["org_id"] = other
            d["update_time"] = now
            _put(c, "persons", p, d)
    _reassign_deals(c, "org_id", oid, other, now)  # type: ignore[arg-type]
    return ok(c.render("organizations", surv, req.user_id))


# ------------------------------------------------------------------------- activities
def _apply_activity(c: "Company", d: dict, b: dict, now: str) -> None:
    _refs_exist(c, b)
    if "subject" in b:
        d["subject"] = _str(b, "subject") or "Call"
    if "type" in b:
        t = _str(b, "type")
        if t not in {x["key_string"] for x in c.small.activity_types}:
            raise ApiError(400, f"Unknown activity type {str(t)[:30]}")
        d["type"] = t
    if "done" in b:
        done = _bool(b, "done")
        d["done"] = bool(done)
        d["marked_as_done_time"] = now if done else ""
    if "due_date" in b:
        d["due_date"] = _date(b, "due_date")
    for name in ("due_time", "duration", "note", "location", "public_description"):
        if name in b:
            d[name] = _str(b, name)
    for name in ("user_id", "deal_id", "person_id", "org_id", "project_id"):
        if name in b:
            d[name] = _int(b, name)
    if "lead_id" in b:
        d["lead_id"] = _str(b, "lead_id")
    if "busy_flag" in b:
        d["busy_flag"] = _bool(b, "busy_flag")
    for name in ("participants", "attendees"):
        if name in b:
            v = b[name]
            if v is not None and not (isinstance(v, list) and all(isinstance(x, dict) for x in v)):
                raise ApiError(400, f"Parameter '{name}' must be a list of objects")
            d[name] = v
    if d.get("person_id") and not d.get("participants"):
        d["participants"] = [{"person_id": d["person_id"], "primary_flag": True}]
    _apply_customs(c, "activities", d, b)
    d["update_time"] = now


def create_activity(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    now = _now(c)
    d = c.activity_template.copy()
    d.update(_null_customs(c, "activities"))
    d.update({"user_id": req.user_id, "created_by_user_id": req.user_id, "assigned_to_user_id": req.user_id,
              "done": False, "type": "call", "subject": "Call", "add_time": now, "marked_as_done_time": "",
              "due_date": now[:10], "due_time": "", "duration": "", "busy_flag": False})
    _apply_activity(c, d, b, now)
    i = c.stores["activities"].new_id()
    d["id"] = i
    _put(c, "activities", i, d)
    return ok(c.render("activities", d, req.user_id), status=201)


def update_activity(c: "Company", req: SimRequest) -> SimResponse:
    aid = path_int(req)
    d = _current(c, "activities", aid, "Activity")
    _apply_activity(c, d, _body(req), _now(c))
    _put(c, "activities", aid, d)
    return ok(c.render("activities", d, req.user_id))


# ------------------------------------------------------------------------- products
def _apply_product(c: "Company", d: dict, b: dict, now: str) -> None:
    if "name" in b:
        d["name"] = _str(b, "name", required=True, label="Name")
        d["first_char"] = (d["name"] or " ")[0].lower()
    for name in ("code", "description", "unit", "visible_to"):
        if name in b:
            d[name] = _str(b, name)
    if "tax" in b:
        d["tax"] = _num(b, "tax")
    if "owner_id" in b:
        d["owner_id"] = _int(b, "owner_id")
    if "active_flag" in b:
        d["active_flag"] = _bool(b, "active_flag")
    if "prices" in b:
        prices = b["prices"]
        if not isinstance(prices, list):
            raise ApiError(400, "Parameter 'prices' must be a list")
        d["prices"] = [{"id": d["id"] * 3 + k if d.get("id") else k, "product_id": d.get("id"),
                        "price": p.get("price", 0), "currency": p.get("currency", "EUR"), "cost": p.get("cost", 0),
                        "overhead_cost": p.get("overhead_cost")} for k, p in enumerate(prices) if isinstance(p, dict)]
    _apply_customs(c, "products", d, b)
    d["update_time"] = now


def create_product(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "name", required=True, label="Name")
    now = _now(c)
    i = c.stores["products"].new_id()
    d = c.product_template.copy()
    d.update(_null_customs(c, "products"))
    d.update({"id": i, "owner_id": req.user_id, "add_time": now, "prices": [], "tax": 0})
    _apply_product(c, d, b, now)
    _put(c, "products", i, d)
    return ok(c.render("products", d, req.user_id), status=201)


def update_product(c: "Company", req: SimRequest) -> SimResponse:
    pid = path_int(req)
    d = _current(c, "products", pid, "Product")
    _apply_product(c, d, _body(req), _now(c))
    _put(c, "products", pid, d)
    return ok(c.render("products", d, req.user_id))


# ------------------------------------------------------------------------- notes
def _apply_note(c: "Company", d: dict, b: dict, now: str) -> None:
    _refs_exist(c, b)
    if "content" in b:
        d["content"] = _str(b, "content", required=True, label="Content")
    for name in ("deal_id", "person_id", "org_id", "project_id", "user_id"):
        if name in b:
            d[name] = _int(b, name)
    if "lead_id" in b:
        lid = _str(b, "lead_id")
        if lid and c.lead_id_of(lid) is None:
            raise ApiError(400, "Lead does not exist")
        d["lead_id"] = lid
    for name in ("pinned_to_deal_flag", "pinned_to_person_flag", "pinned_to_organization_flag",
                 "pinned_to_lead_flag", "pinned_to_project_flag"):
        if name in b:
            d[name] = bool(_bool(b, name))
    d["update_time"] = now
    d["last_update_user_id"] = d.get("user_id")


def create_note(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "content", required=True, label="Content")
    if not any(b.get(k) for k in ("deal_id", "person_id", "org_id", "lead_id", "project_id")):
        raise ApiError(400, "The note must be attached to a deal, person, organization, lead or project")
    now = _now(c)
    d = c.note_template.copy()
    d.update({"user_id": req.user_id, "add_time": now, "pinned_to_deal_flag": False, "pinned_to_person_flag": False,
              "pinned_to_organization_flag": False, "pinned_to_lead_flag": False})
    _apply_note(c, d, b, now)
    i = c.stores["notes"].new_id()
    d["id"] = i
    _put(c, "notes", i, d)
    return ok(c.render("notes", d, req.user_id), status=201)


def update_note(c: "Company", req: SimRequest) -> SimResponse:
    nid = path_int(req)
    d = _current(c, "notes", nid, "Note")
    _apply_note(c, d, _body(req), _now(c))
    _put(c, "notes", nid, d)
    return ok(c.render("notes", d, req.user_id))


# ------------------------------------------------------------------------- leads
def _lead_key(c: "Company", req: SimRequest) -> int:
    k = c.lead_id_of(req.path_params.get("id", ""))
    if k is None or c.get_flat("leads", k) is None:
        raise ApiError(404, "Lead not found")
    return k


def _apply_lead(c: "Company", d: dict, b: dict, now_iso: str) -> None:
    _refs_exist(c, b)
    if "title" in b:
        d["title"] = _str(b, "title", required=True, label="Title")
    for name in ("owner_id", "person_id", "organization_id"):
        if name in b:
            d[name] = _int(b, name)
    if "value" in b:
        v = b["value"]
        if v is not None and not (isinstance(v, dict) and "amount" in v and "currency" in v):
            raise ApiError(400, "Parameter 'value' must be an object with amount and currency")
        d["value"] = v
    if "label_ids" in b:
        ids = b["label_ids"]
        known = {r["id"] for r in c.small.lead_labels}
        if not isinstance(ids, list) or any(x not in known for x in ids):
            raise ApiError(400, "Unknown lead label id")
        d["label_ids"] = list(ids)
    if "expected_close_date" in b:
        d["expected_close_date"] = _date(b, "expected_close_date")
    if "is_archived" in b:
        d["is_archived"] = bool(_bool(b, "is_archived"))
    if "was_seen" in b:
        d["was_seen"] = bool(_bool(b, "was_seen"))
    if "visible_to" in b:
        d["visible_to"] = _str(b, "visible_to")
    before = dict(d)
    _apply_customs(c, "deals", d, b)
    for k in list(d):  # leads only show custom fields that are set
        if d[k] is None and k not in before:
            del d[k]
    d["update_time"] = now_iso


def create_lead(c: "Company", req: SimRequest) -> SimResponse:
    b = _body(req)
    _str(b, "title", required=True, label="Title")
    if not b.get("person_id") and not b.get("organization_id"):
        raise ApiError(400, "A lead must be linked to a person or an organization")
    now = _now(c).replace(" ", "T") + ".000Z"
    st = c.stores["leads"]
    i = st.new_id()
    d = {"id": c.lead_uuid(i), "title": None, "owner_id": req.user_id, "creator_id": req.user_id, "label_ids": [],
         "person_id": None, "organization_id": None, "source_name": "API", "origin": "API", "origin_id": None,
         "channel": None, "channel_id": None, "is_archived": False, "was_seen": False, "value": None,
         "expected_close_date": None, "next_activity_id": None, "add_time": now, "update_time": now,
         "visible_to": "3", "cc_email": CC_EMAIL}
    _apply_lead(c, d, b, now)
    _put(c, "leads", i, d)
    return ok(dict(d), status=201)


def update_lead(c: "Company", req: SimRequest) -> SimResponse:
    k = _lead_key(c, req)
    d = _current(c, "leads", k, "Lead")
    _apply_lead(c, d, _body(req), _now(c).replace(" ", "T") + ".000Z")
    _put(c, "leads", k, d)
    return ok(dict(d))


def delete_lead(c: "Company", req: SimRequest) -> SimResponse:
    k = _lead_key(c, req)
    c.stores["leads"].remove(k)
    return ok({"id": c.lead_uuid(k)})


# ------------------------------------------------------------------------- small entities
def _small_create(name: str, build: Callable[["Company", SimRequest, dict, str], dict]) -> Callable:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        b = _body(req)
        st = c.stores[name]
        now = _now(c)
        i = st.new_id()
        try:
            rec = build(c, req, b, now)
        except ApiError:
            st.next_id -= 1
            raise
        rec.setdefault("id", i)
        st.put(i, rec)
        return ok(dict(rec), status=201)
    handler.__name__ = f"create_{name}"
    return handler


def _find_small(c: "Company", name: str, ident: str) -> int:
    st = c.stores[name]
    for i in st.ids():
        r = st.get(i)
        if r is not None and str(r.get("id")) == ident:
            return i
    raise ApiError(404, "Not found")


def _small_update(name: str, apply: Callable[["Company", dict, dict, str], None]) -> Callable:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        i = _find_small(c, name, req.path_params.get("id", ""))
        rec = dict(c.stores[name].get(i))  # type: ignore[arg-type]
        apply(c, rec, _body(req), _now(c))
        c.stores[name].put(i, rec)
        return ok(dict(rec))
    handler.__name__ = f"update_{name}"
    return handler


def _small_delete(name: str) -> Callable:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        ident = req.path_params.get("id", "")
        i = _find_small(c, name, ident)
        rid = c.stores[name].get(i)["id"]  # type: ignore[index]
        c.stores[name].remove(i)
        return ok({"id": rid})
    handler.__name__ = f"delete_{name}"
    return handler


def _filter_build(c: "Company", req: SimRequest, b: dict, now: str) -> dict:
    name = _str(b, "name", required=True, label="Name")
    typ = _str(b, "type")
    if typ not in ("deals", "leads", "org", "people", "products", "activity", "projects"):
        raise ApiError(400, "Invalid filter type")
    if not isinstance(b.get("conditions"), dict):
        raise ApiError(400, "Parameter 'conditions' must be an object")
    return {"name": name, "active_flag": True, "type": typ, "temporary_flag": None, "user_id": req.user_id,
            "add_time": now, "update_time": now, "visible_to": 1, "custom_view_id": None}


def _filter_apply(c: "Company", rec: dict, b: dict, now: str) -> None:
    if "name" in b:
        rec["name"] = _str(b, "name", required=True, label="Name")
    if "conditions" in b and not isinstance(b["conditions"], dict):
        raise ApiError(400, "Parameter 'conditions' must be an object")
    rec["update_time"] = now


def delete_filters_bulk(c: "Company", req: SimRequest) -> SimResponse:
    ids = _ids_param(req)
    for i in ids:
        if c.get_flat("filters", i) is None:
            raise ApiError(404, "Filter not found")
    for i in ids:
        c.stores["filters"].remove(i)
    return ok({"id": ids})


def _goal_build(c: "Company", req: SimRequest, b: dict, now: str) -> dict:
    for k in ("title", "assignee", "type", "expected_outcome", "duration", "interval"):
        if b.get(k) in (None, ""):
            raise ApiError(400, f"Parameter '{k}' is required")
    if not all(isinstance(b[k], dict) for k in ("assignee", "type", "expected_outcome", "duration")):
        raise ApiError(400, "assignee, type, expected_outcome and duration must be objects")
    from .generator import make_uuid
    gid = make_uuid(c.seed, "goal", c.stores["goals"].next_id).replace("-", "")
    return {"id": gid, "owner_id": req.user_id, "title": _str(b, "title"), "type": b["type"], "assignee": b["assignee"],
            "interval": _str(b, "interval"), "duration": b["duration"], "expected_outcome": b["expected_outcome"],
            "is_active": True, "report_ids": []}


def _goal_apply(c: "Company", rec: dict, b: dict, now: str) -> None:
    for k in ("title", "interval"):
        if k in b:
            rec[k] = _str(b, k)
    for k in ("type", "assignee", "expected_outcome", "duration"):
        if k in b:
            if not isinstance(b[k], dict):
                raise ApiError(400, f"Parameter '{k}' must be an object")
            rec[k] = b[k]


def _rel_build(c: "Company", req: SimRequest, b: dict, now: str) -> dict:
    typ = _str(b, "type")
    if typ not in ("parent", "related"):
        raise ApiError(400, "Parameter 'type' must be parent or related")
    a = _int(b, "rel_owner_org_id", nullable=False)
    l_ = _int(b, "rel_linked_org_id", nullable=False)
    _exists(c, "organizations", a, "Organization")
    _exists(c, "organizations", l_, "Organization")
    return {"type": typ, "rel_owner_org_id": a, "rel_linked_org_id": l_, "add_time": now, "update_time": now,
            "active_flag": "true"}


def _rel_apply(c: "Company", rec: dict, b: dict, now: str) -> None:
    if "type" in b:
        if b["type"] not in ("parent", "related"):
            raise ApiError(400, "Parameter 'type' must be parent or related")
        rec["type"] = b["type"]
    for k in ("rel_owner_org_id", "rel_linked_org_id"):
        if k in b:
            v = _int(b, k, nullable=False)
            _exists(c, "organizations", v, "Organization")
            rec[k] = v
    rec["update_time"] = now


def _rel_out(handler: Callable) -> Callable:
    def wrapped(c: "Company", req: SimRequest) -> SimResponse:
        from .v1_read import _org_rel_out
        resp = handler(c, req)
        if resp.status < 300 and isinstance(resp.body.get("data"), dict) and "type" in resp.body["data"]:
            resp.body["data"] = _org_rel_out(c, resp.body["data"], resp.body["data"]["rel_owner_org_id"])
        return resp
    wrapped.__name__ = handler.__name__
    return wrapped


def _label_build(c: "Company", req: SimRequest, b: dict, now: str) -> dict:
    name = _str(b, "name", required=True, label="Name")
    color = _str(b, "color")
    if color not in ("green", "blue", "red", "yellow", "purple", "gray"):
        raise ApiError(400, "Invalid color")
    k = c.stores["leadLabels"].next_id - 1
    from .generator import make_uuid
    iso = now.replace(" ", "T") + ".000Z"
    return {"id": make_uuid(c.seed, "lead-label", k), "name": name, "color": color, "add_time": iso,
            "update_time": iso}


def _label_apply(c: "Company", rec: dict, b: dict, now: str) -> None:
    if "name" in b:
        rec["name"] = _str(b, "name", required=True, label="Name")
    if "color" in b:
        rec["color"] = _str(b, "color")
    rec["update_time"] = now.replace(" ", "T") + ".000Z"


def _sync_lead_labels(c: "Company") -> None:
    st = c.stores["leadLabels"]
    c.small.lead_labels = [st.get(i) for i in st.ids()]  # type: ignore[misc]


def _with_label_sync(h: Callable) -> Callable:
    def wrapped(c: "Company", req: SimRequest) -> SimResponse:
        r = h(c, req)
        _sync_lead_labels(c)
        return r
    wrapped.__name__ = h.__name__
    return wrapped


# ------------------------------------------------------------------------- fields
def _field_entity(name: str) -> str:
    return FIELDS_ROUTE[name]


def _refresh_fields(c: "Company", entity: str) -> None:
    c._rebuild_pools(entity)
    c.b.bind()
    for st in c.stores.values():
        st._cache.clear()


def _make_field_create(name: str) -> Callable:
    entity = FIELDS_ROUTE[name]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        b = _body(req)
        fname = _str(b, "name", required=True, label="Field name")
        ftype = _str(b, "field_type")
        if ftype not in FIELD_TYPES:
            raise ApiError(400, "Invalid field_type", f"field_type must be one of {', '.join(sorted(FIELD_TYPES))}")
        fields = c.fields[entity]
        fid = max(f["id"] for f in fields) + 1
        created = sum(1 for f in fields if f["edit_flag"])
        key = field_key(c.seed, entity, 1000 + fid + created)
        f = field_meta_dict(fid, key, fname, ftype, len(fields) + 1, custom=True, active=True)  # type: ignore[arg-type]
        now = _now(c)
        f["add_time"] = f["update_time"] = now
        f["created_by_user_id"] = f["last_updated_by_user_id"] = req.user_id
        if ftype in ("enum", "set"):
            opts = b.get("options") or []
            if not isinstance(opts, list) or not opts:
                raise ApiError(400, "Options are required for enum and set fields")
            f["options"] = []
            for o in opts:
                label = o.get("label") if isinstance(o, dict) else o
                if not isinstance(label, str) or not label:
                    raise ApiError(400, "Each option needs a label")
                f["options"].append({"id": c._next_opt[entity], "label": label})
                c._next_opt[entity] += 1
        fields.append(f)
        # existing records get the new key(s) as null
        tail = c.cf_null_tail[entity]
        nulls = {key: None, **{k: None for k in _companions(f)}}
        tail.update(nulls)
        st = c.stores[entity]
        for rec in list(st.overlay.values()):
            for k, v in nulls.items():
                rec.setdefault(k, v)
        _refresh_fields(c, entity)
        return ok(dict(f), status=201)
    handler.__name__ = f"create_{name}"
    return handler


def _field_by_id(c: "Company", entity: str, fid: int) -> dict:
    for f in c.fields[entity]:
        if f["id"] == fid:
            return f
    raise ApiError(404, "Field not found")


def _make_field_update(name: str) -> Callable:
    entity = FIELDS_ROUTE[name]

    def handler(c: "Company", req: SimRequest) -> SimResponse:
        f = _field_by_id(c, entity, path_int(req))
        b = _body(req)
        if not f["edit_flag"] and ("name" in b or "options" in b):
            raise ApiError(400, "System fields cannot be changed")
        if "name" in b:
            f["name"] = _str(b, "name", required=True, label="Field name")
        if "options" in b:
            if f["field_type"] not in ("enum", "set"):
                raise ApiError(400, "Only enum and set fields have options")
            opts = b["options"]
            if not isinstance(opts, list):
                raise ApiError(400, "Parameter 'options' must be a list")
            current = {o["id"]: o for o in f.get("options") or []}
            new_opts = []
            for o in opts:
                if not isinstance(o, dict) or not isinstance(o.get("label"), str):
                    raise ApiError(400, "Each option needs a label")
                oid = o.get("id")
                if oid is not None:
                    try:
                        oid = int(oid)
                    except (TypeError, ValueError):
                        raise ApiError(400, "Option id must be an integer") from None
                    if oid not in current:
                        raise ApiError(400, f"Option {oid} does not exist")
                    new_opts.append({**current[oid], "label": o["label"]})
                else:
                    new_opts.append({"id": c._next_opt[entity], "label": o["label"]})
                    c._next_opt[entity] += 1
            f["options"] = new_opts  # dropped options stay on records (dirt, like the real API)
        if "active_flag" in b:
            f["active_flag"] = bool(_bool(b, "active_flag"))
        f["update_time"] = _now(c)
        f["last_updated_by_user_id"] = req.user_id
        return ok(dict(f))
    handler.__name__ = f"update_{name}"
    return handler


def _delete_field(c: "Company", entity: str, fid: int) -> None:
    f = _field_by_id(c, entity, fid)
    if not f["edit_flag"]:
        raise ApiError(400, "System fields cannot be deleted")
    c.fields[entity].remove(f)
    keys = [f["key"], *_companions(f)]
    tail = c.cf_null_tail[entity]
    for k in keys:
        tail.pop(k, None)
    ents = [entity] + (["leads"] if entity == "deals" else [])
    for e in ents:
        for rec in c.stores[e].overlay.values():
            for k in keys:
                rec.pop(k, None)
    _refresh_fields(c, entity)


def _make_field_delete(name: str) -> tuple[Callable, Callable]:
    entity = FIELDS_ROUTE[name]

    def one(c: "Company", req: SimRequest) -> SimResponse:
        fid = path_int(req)
        _delete_field(c, entity, fid)
        return ok({"id": fid})

    def bulk(c: "Company", req: SimRequest) -> SimResponse:
        ids = _ids_param(req)
        for fid in ids:
            _field_by_id(c, entity, fid)
        for fid in ids:
            _delete_field(c, entity, fid)
        return ok({"id": ids})
    one.__name__ = f"delete_{name}"
    bulk.__name__ = f"delete_{name}_bulk"
    return one, bulk


# ------------------------------------------------------------------------- route table
_del_person, _del_persons = _make_delete("persons", "Person")
_del_org, _del_orgs = _make_delete("organizations", "Organization")
_del_act, _del_acts = _make_delete("activities", "Activity")
_del_prod, _ = _make_delete("products", "Product")
_del_note, _ = _make_delete("notes", "Note")
_add_pf, _del_pf = _entity_followers("persons")
_add_of, _del_of = _entity_followers("organizations")

ROUTES: list[tuple[str, str, Callable, bool]] = [
    ("POST", "/deals", create_deal, False),
    ("PUT", "/deals/{id}", update_deal, False),
    ("PATCH", "/deals/{id}", update_deal, False),
    ("DELETE", "/deals/{id}", delete_deal, False),
    ("DELETE", "/deals", delete_deals_bulk, False),
    ("POST", "/deals/{id}/products", add_deal_product, False),
    ("PUT", "/deals/{id}/products/{product_attachment_id}", update_deal_product, False),
    ("DELETE", "/deals/{id}/products/{product_attachment_id}", delete_deal_product, False),
    ("POST", "/deals/{id}/participants", add_deal_participant, False),
    ("DELETE", "/deals/{id}/participants/{deal_participant_id}", delete_deal_participant, False),
    ("POST", "/deals/{id}/followers", add_deal_follower, False),
    ("DELETE", "/deals/{id}/followers/{follower_id}", delete_deal_follower, False),
    ("POST", "/persons", create_person, False),
    ("PUT", "/persons/{id}", update_person, False),
    ("PATCH", "/persons/{id}", update_person, False),
    ("DELETE", "/persons/{id}", _del_person, False),
    ("DELETE", "/persons", _del_persons, False),
    ("PUT", "/persons/{id}/merge", merge_person, False),
    ("POST", "/persons/{id}/followers", _add_pf, False),
    ("DELETE", "/persons/{id}/followers/{follower_id}", _del_pf, False),
    ("POST", "/organizations", create_org, False),
    ("PUT", "/organizations/{id}", update_org, False),
    ("PATCH", "/organizations/{id}", update_org, False),
    ("DELETE", "/organizations/{id}", _del_org, False),
    ("DELETE", "/organizations", _del_orgs, False),
    ("PUT", "/organizations/{id}/merge", merge_org, False),
    ("POST", "/organizations/{id}/followers", _add_of, False),
    ("DELETE", "/organizations/{id}/followers/{follower_id}", _del_of, False),
    ("POST", "/activities", create_activity, False),
    ("PUT", "/activities/{id}", update_activity, False),
    ("PATCH", "/activities/{id}", update_activity, False),
    ("DELETE", "/activities/{id}", _del_act, False),
    ("DELETE", "/activities", _del_acts, False),
    ("POST", "/products", create_product, False),
    ("PUT", "/products/{id}", update_product, False),
    ("PATCH", "/products/{id}", update_product, False),
    ("DELETE", "/products/{id}", _del_prod, False),
    ("POST", "/notes", create_note, False),
    ("PUT", "/notes/{id}", update_note, False),
    ("DELETE", "/notes/{id}", _del_note, False),
    ("POST", "/leads", create_lead, False),
    ("PATCH", "/leads/{id}", update_lead, False),
    ("DELETE", "/leads/{id}", delete_lead, False),
    ("POST", "/filters", _small_create("filters", _filter_build), False),
    ("PUT", "/filters/{id}", _small_update("filters", _filter_apply), False),
    ("DELETE", "/filters/{id}", _small_delete("filters"), False),
    ("DELETE", "/filters", delete_filters_bulk, False),
    ("POST", "/goals", _small_create("goals", _goal_build), False),
    ("PUT", "/goals/{id}", _small_update("goals", _goal_apply), False),
    ("DELETE", "/goals/{id}", _small_delete("goals"), False),
    ("POST", "/organizationRelationships", _rel_out(_small_create("organizationRelationships", _rel_build)), False),
    ("PUT", "/organizationRelationships/{id}", _rel_out(_small_update("organizationRelationships", _rel_apply)), False),
    ("DELETE", "/organizationRelationships/{id}", _small_delete("organizationRelationships"), False),
    ("POST", "/leadLabels", _with_label_sync(_small_create("leadLabels", _label_build)), False),
    ("PATCH", "/leadLabels/{id}", _with_label_sync(_small_update("leadLabels", _label_apply)), False),
    ("DELETE", "/leadLabels/{id}", _with_label_sync(_small_delete("leadLabels")), False),
]
for _name in FIELDS_ROUTE:
    _one, _bulk = _make_field_delete(_name)
    ROUTES += [
        ("POST", f"/{_name}", _make_field_create(_name), False),
        ("PUT", f"/{_name}/{{id}}", _make_field_update(_name), False),
        ("DELETE", f"/{_name}/{{id}}", _one, False),
        ("DELETE", f"/{_name}", _bulk, False),
    ]
