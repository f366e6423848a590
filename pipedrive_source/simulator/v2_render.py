"""v1 flat records -> the API v2 record shapes of openapi-v2.yaml (issue 11).

The v2 API serves the SAME company as v1: every function here derives a v2 record from the
current flat record sim-core stores (``Company.get_flat``), so a deal is the same deal in both
generations. Only fields the v2 spec names are emitted (no v1 leftovers), with v2 conventions:

- timestamps RFC 3339 (``2025-01-01T10:20:00Z``), dates unchanged (``YYYY-MM-DD``);
- ``owner_id``/``creator_user_id`` ints (v1 deal ``user_id`` -> v2 ``owner_id``);
- ``is_deleted`` booleans (deals: ``status == "deleted"``; other live records are never deleted
  here because sim-core removes deleted persons/orgs/... outright);
- ``visible_to`` an integer; ``label_ids`` lists;
- custom fields nested under ``custom_fields`` keyed by the 40-hex field key, with the v2 value
  shapes: monetary ``{"value", "currency"}``, daterange/timerange ``{"value", "until"}``,
  address ``{"value", <sub-keys>}``, enum an option id (``{"id", "label"}`` with
  ``include_option_labels``), set a list of option ids, user/org/people bare ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .generator import fmt_ts

if TYPE_CHECKING:
    from .store import Company

ADDRESS_PARTS = ("subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
                 "admin_area_level_2", "country", "postal_code", "formatted_address")
#: the sub-keys of v2 system address objects (organization address, person postal_address, activity location)
SYSTEM_ADDRESS_PARTS = ("country", "admin_area_level_1", "admin_area_level_2", "locality", "sublocality", "route",
                        "street_number", "subpremise", "postal_code")
_DIRT = ("", "0000-00-00 00:00:00", "0000-00-00")

DEAL_INCLUDE = ("next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count",
                "notes_count", "followers_count", "email_messages_count", "activities_count",
                "done_activities_count", "undone_activities_count", "participants_count",
                "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id")
PERSON_INCLUDE = ("next_activity_id", "last_activity_id", "open_deals_count", "related_open_deals_count",
                  "closed_deals_count", "related_closed_deals_count", "participant_open_deals_count",
                  "participant_closed_deals_count", "email_messages_count", "activities_count",
                  "done_activities_count", "undone_activities_count", "files_count", "notes_count",
                  "followers_count", "won_deals_count", "related_won_deals_count", "lost_deals_count",
                  "related_lost_deals_count", "last_incoming_mail_time", "last_outgoing_mail_time",
                  "marketing_status", "doi_status", "smart_bcc_email")
ORG_INCLUDE = ("next_activity_id", "last_activity_id", "open_deals_count", "related_open_deals_count",
               "closed_deals_count", "related_closed_deals_count", "email_messages_count", "people_count",
               "activities_count", "done_activities_count", "undone_activities_count", "files_count",
               "notes_count", "followers_count", "won_deals_count", "related_won_deals_count", "lost_deals_count",
               "related_lost_deals_count", "smart_bcc_email")
ACTIVITY_INCLUDE = ("attendees",)
INCLUDE_FIELDS = {"deals": DEAL_INCLUDE, "persons": PERSON_INCLUDE, "organizations": ORG_INCLUDE,
                  "activities": ACTIVITY_INCLUDE, "products": ()}


def rfc3339(value: Any) -> str | None:
    """v1 ``YYYY-MM-DD HH:MM:SS`` (UTC) -> ``YYYY-MM-DDTHH:MM:SSZ``; dirt -> None."""
    if value is None or value in _DIRT:
        return None
    s = str(value)
    if len(s) == 19 and s[10] == " ":
        return f"{s[:10]}T{s[11:]}Z"
    return s


def epoch_rfc3339(epoch: int) -> str:
    return rfc3339(fmt_ts(epoch))  # type: ignore[return-value]


def _int_or_none(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, dict):
        v = v.get("value", v.get("id"))
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return int(str(v).strip())
    except ValueError:
        return None


def _visible_to(v: Any) -> int | None:
    return _int_or_none(v)


def _ids(v: Any) -> list[int]:
    """v1 label / label_ids (``"12,15"``, 12, [12]) -> [12, 15]."""
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [i for i in (_int_or_none(x) for x in v) if i is not None]
    return [i for i in (_int_or_none(x) for x in str(v).split(",")) if i is not None]


# ---------------------------------------------------------------------------------- custom fields
def custom_fields_v2(c: Company, entity: str, flat: dict, *, option_labels: bool = False,
                     only: set[str] | None = None) -> dict[str, Any]:
    """The v2 ``custom_fields`` object of a flat v1 record (keys present in the record only)."""
    out: dict[str, Any] = {}
    for f in c.custom_fields(entity):
        key = f["key"]
        if key not in flat or (only is not None and key not in only):
            continue
        out[key] = _cf_value(f, flat, option_labels)
    return out


def _cf_value(f: dict, rec: dict, option_labels: bool) -> Any:
    key, ftype = f["key"], f["field_type"]
    v = rec.get(key)
    if ftype == "monetary":
        cur = rec.get(f"{key}_currency")
        if (v is None or v == "") and not cur:
            return None
        return {"value": v, "currency": cur}
    if ftype in ("daterange", "timerange"):
        until = rec.get(f"{key}_until")
        if (v is None or v == "") and not until:
            return None
        return {"value": v, "until": until}
    if ftype == "address":
        parts = {p: rec.get(f"{key}_{p}") for p in ADDRESS_PARTS}
        if (v is None or v == "") and not any(parts.values()):
            return None
        return {"value": v, **parts}
    if ftype == "enum":
        oid = _int_or_none(v) if not isinstance(v, str) or v.strip().lstrip("-").isdigit() else v
        if oid is None:
            return None
        if option_labels:
            label = next((o["label"] for o in f.get("options") or [] if o["id"] == oid), None)
            return {"id": oid, "label": label}
        return oid
    if ftype == "set":
        ids = _ids(v)
        if not ids:
            return None
        if option_labels:
            labels = {o["id"]: o["label"] for o in f.get("options") or []}
            return [{"id": i, "label": labels.get(i)} for i in ids]
        return ids
    if ftype in ("user", "org", "people"):
        return _int_or_none(v)
    return v


# ---------------------------------------------------------------------------------- entities
def deal_v2(c: Company, d: dict, include: set[str] = frozenset(), *, option_labels: bool = False,
            only_cf: set[str] | None = None) -> dict:
    status = d.get("status")
    out = {
        "id": d["id"], "title": d.get("title"), "owner_id": _int_or_none(d.get("user_id")),
        "person_id": _int_or_none(d.get("person_id")), "org_id": _int_or_none(d.get("org_id")),
        "pipeline_id": d.get("pipeline_id"), "stage_id": d.get("stage_id"), "value": d.get("value"),
        "currency": d.get("currency"), "add_time": rfc3339(d.get("add_time")),
        "update_time": rfc3339(d.get("update_time")), "stage_change_time": rfc3339(d.get("stage_change_time")),
        "is_deleted": status == "deleted" or bool(d.get("deleted")), "is_archived": bool(d.get("is_archived")),
        "status": status, "probability": d.get("probability"), "lost_reason": d.get("lost_reason"),
        "visible_to": _visible_to(d.get("visible_to")), "close_time": rfc3339(d.get("close_time")),
        "won_time": rfc3339(d.get("won_time")), "lost_time": rfc3339(d.get("lost_time")),
        "expected_close_date": d.get("expected_close_date") or None, "label_ids": _ids(d.get("label")),
        "origin": d.get("origin"), "origin_id": d.get("origin_id"), "channel": d.get("channel"),
        "channel_id": d.get("channel_id"), "arr": d.get("arr"), "mrr": d.get("mrr"), "acv": d.get("acv"),
        "custom_fields": custom_fields_v2(c, "deals", d, option_labels=option_labels, only=only_cf),
    }
    if include:
        counts = c.deal_counts(d["id"], d)
        extra = {
            "next_activity_id": d.get("next_activity_id"), "last_activity_id": d.get("last_activity_id"),
            "first_won_time": rfc3339(d.get("first_won_time")), "last_incoming_mail_time": None,
            "last_outgoing_mail_time": None, "smart_bcc_email": f"simco+deal{d['id']}@pipedrivemail.com",
            "source_lead_id": None, **counts,
        }
        for k in include:
            if k in extra:
                out[k] = extra[k]
    return out


def person_v2(c: Company, p: dict, include: set[str] = frozenset(), *, option_labels: bool = False,
              only_cf: set[str] | None = None) -> dict:
    out = {
        "id": p["id"], "name": p.get("name"), "first_name": p.get("first_name"), "last_name": p.get("last_name"),
        "owner_id": _int_or_none(p.get("owner_id")), "org_id": _int_or_none(p.get("org_id")),
        "add_time": rfc3339(p.get("add_time")), "update_time": rfc3339(p.get("update_time")),
        "emails": [dict(e) for e in p.get("email") or []], "phones": [dict(e) for e in p.get("phone") or []],
        "is_deleted": False, "visible_to": _visible_to(p.get("visible_to")),
        "label_ids": _ids(p.get("label_ids") if p.get("label_ids") is not None else p.get("label")),
        "picture_id": _int_or_none(p.get("picture_id")),
        "postal_address": _system_address(p, "postal_address"), "notes": p.get("notes"),
        "im": [dict(e) for e in p.get("im") or []], "birthday": p.get("birthday"), "job_title": p.get("job_title"),
        "custom_fields": custom_fields_v2(c, "persons", p, option_labels=option_labels, only=only_cf),
    }
    if include:
        rich = c.render("persons", p)
        for k in include:
            if k in rich:
                out[k] = rich[k]
            elif k == "smart_bcc_email":
                out[k] = rich.get("cc_email")
    return out


def org_v2(c: Company, o: dict, include: set[str] = frozenset(), *, option_labels: bool = False,
           only_cf: set[str] | None = None) -> dict:
    out = {
        "id": o["id"], "name": o.get("name"), "owner_id": _int_or_none(o.get("owner_id")),
        "add_time": rfc3339(o.get("add_time")), "update_time": rfc3339(o.get("update_time")),
        "is_deleted": False, "visible_to": _visible_to(o.get("visible_to")),
        "address": _system_address(o, "address"),
        "label_ids": _ids(o.get("label_ids") if o.get("label_ids") is not None else o.get("label")),
        "website": o.get("website"), "linkedin": o.get("linkedin"), "industry": o.get("industry"),
        "annual_revenue": o.get("annual_revenue"), "employee_count": o.get("employee_count"),
        "custom_fields": custom_fields_v2(c, "organizations", o, option_labels=option_labels, only=only_cf),
    }
    if include:
        rich = c.render("organizations", o)
        for k in include:
            if k in rich:
                out[k] = rich[k]
            elif k == "smart_bcc_email":
                out[k] = rich.get("cc_email")
    return out


def activity_v2(c: Company, a: dict, include: set[str] = frozenset(), *, option_labels: bool = False,
                only_cf: set[str] | None = None) -> dict:
    out = {
        "id": a["id"], "subject": a.get("subject"), "type": a.get("type"),
        "owner_id": _int_or_none(a.get("user_id")), "creator_user_id": _int_or_none(a.get("created_by_user_id")),
        "is_deleted": a.get("active_flag") is False, "add_time": rfc3339(a.get("add_time")),
        "update_time": rfc3339(a.get("update_time")), "deal_id": a.get("deal_id"), "lead_id": a.get("lead_id"),
        "person_id": a.get("person_id"), "org_id": a.get("org_id"), "project_id": a.get("project_id"),
        "due_date": a.get("due_date") or None, "due_time": a.get("due_time") or None,
        "duration": a.get("duration") or None, "busy": a.get("busy_flag"), "done": a.get("done"),
        "marked_as_done_time": rfc3339(a.get("marked_as_done_time")),
        "location": _system_address(a, "location"),
        "participants": [{"person_id": p.get("person_id"), "primary": bool(p.get("primary_flag"))}
                         for p in a.get("participants") or []],
        "conference_meeting_client": a.get("conference_meeting_client"),
        "conference_meeting_url": a.get("conference_meeting_url"),
        "conference_meeting_id": a.get("conference_meeting_id"),
        "public_description": a.get("public_description"), "priority": None, "note": a.get("note"),
        # not in the spec's activity schema, but Pipedrive sends custom fields on v2 activities too
        "custom_fields": custom_fields_v2(c, "activities", a, option_labels=option_labels, only=only_cf),
    }
    if "attendees" in include:
        out["attendees"] = [{"email": x.get("email_address", x.get("email")), "name": x.get("name"),
                             "status": x.get("status"), "is_organizer": bool(x.get("is_organizer")),
                             "person_id": x.get("person_id"), "user_id": x.get("user_id")}
                            for x in a.get("attendees") or []]
    return out


def product_v2(c: Company, p: dict, include: set[str] = frozenset(), *, option_labels: bool = False,
               only_cf: set[str] | None = None) -> dict:
    return {
        "id": p["id"], "name": p.get("name"), "code": p.get("code"), "unit": p.get("unit"), "tax": p.get("tax"),
        "is_deleted": p.get("active_flag") is False, "is_linkable": bool(p.get("selectable", True)),
        "visible_to": _visible_to(p.get("visible_to")), "owner_id": _int_or_none(p.get("owner_id")),
        "add_time": rfc3339(p.get("add_time")), "update_time": rfc3339(p.get("update_time")),
        "description": p.get("description"), "category": p.get("category"),
        "custom_fields": custom_fields_v2(c, "products", p, option_labels=option_labels, only=only_cf),
        "billing_frequency": p.get("billing_frequency"), "billing_frequency_cycles": p.get("billing_frequency_cycles"),
        "prices": [_price_v2(x) for x in p.get("prices") or []],
    }


def _price_v2(x: dict) -> dict:
    return {"product_id": x.get("product_id"), "price": x.get("price"), "currency": x.get("currency"),
            "cost": x.get("cost"), "direct_cost": x.get("overhead_cost"), "notes": x.get("notes")}


def _system_address(rec: dict, key: str) -> dict | None:
    """v1 ``address`` + ``address_<part>`` keys -> the v2 address object (None when all empty)."""
    value = rec.get(key)
    if isinstance(value, dict):
        return dict(value)
    parts = {p: rec.get(f"{key}_{p}") for p in SYSTEM_ADDRESS_PARTS}
    if (value is None or value == "") and not any(parts.values()):
        return None
    return {"value": value, **parts}


def pipeline_v2(p: dict) -> dict:
    return {"id": p["id"], "name": p.get("name"), "order_nr": p.get("order_nr"),
            "is_deleted": p.get("active") is False, "is_deal_probability_enabled": bool(p.get("deal_probability")),
            "add_time": rfc3339(p.get("add_time")), "update_time": rfc3339(p.get("update_time"))}


def stage_v2(s: dict) -> dict:
    return {"id": s["id"], "order_nr": s.get("order_nr"), "name": s.get("name"),
            "is_deleted": s.get("active_flag") is False, "deal_probability": s.get("deal_probability"),
            "pipeline_id": s.get("pipeline_id"), "is_deal_rot_enabled": bool(s.get("rotten_flag")),
            "days_to_rotten": s.get("rotten_days"), "add_time": rfc3339(s.get("add_time")),
            "update_time": rfc3339(s.get("update_time"))}


def deal_product_v2(r: dict, deal_id: int) -> dict:
    """A v1 deal-product attachment -> the v2 ``/deals/{id}/products`` item."""
    return {
        "id": r.get("id"), "sum": r.get("sum"), "tax": r.get("tax"), "deal_id": r.get("deal_id") or deal_id,
        "name": r.get("name"), "product_id": _int_or_none(r.get("product_id")),
        "product_variation_id": r.get("product_variation_id"), "order_nr": r.get("order_nr"),
        "add_time": rfc3339(r.get("add_time")), "update_time": rfc3339(r.get("last_edit") or r.get("add_time")),
        "comments": r.get("comments"), "currency": r.get("currency"), "discount": r.get("discount"),
        "discount_type": r.get("discount_type"), "quantity": r.get("quantity"), "item_price": r.get("item_price"),
        "tax_method": r.get("tax_method"), "is_enabled": bool(r.get("enabled_flag", True)),
        "billing_frequency": r.get("billing_frequency") or "one-time",
        "billing_frequency_cycles": r.get("billing_frequency_cycles"),
        "billing_start_date": r.get("billing_start_date"),
    }


def follower_v2(r: dict) -> dict:
    return {"user_id": _int_or_none(r.get("user_id")), "add_time": rfc3339(r.get("add_time"))}


def field_v2(f: dict) -> dict:
    """A v1 ``/dealFields`` item -> the v2 ``/api/v2/dealFields`` item."""
    ftype = f.get("field_type")
    opts = f.get("options")
    subfields = None
    if ftype == "monetary":
        subfields = [{"field_code": f"{f['key']}_currency", "field_name": "Currency", "field_type": "varchar"}]
    elif ftype in ("daterange", "timerange"):
        subfields = [{"field_code": f"{f['key']}_until", "field_name": "End", "field_type": ftype[:4]}]
    elif ftype == "address":
        subfields = [{"field_code": f"{f['key']}_{p}", "field_name": p.replace("_", " ").capitalize(),
                      "field_type": "varchar"} for p in ADDRESS_PARTS]
    return {
        "field_name": f.get("name"), "field_code": f.get("key"),
        "field_type": ftype,
        "options": [{"id": o.get("id"), "label": o.get("label"), "color": o.get("color"),
                     "update_time": None, "add_time": None} for o in opts] if opts else None,
        "subfields": subfields, "is_custom_field": bool(f.get("edit_flag")),
        "is_optional_response_field": False,
    }
