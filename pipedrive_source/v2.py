"""API v2 path of the source (issue 11): the same tables from ``/api/v2``, chosen automatically when v1 goes away.

Owns: the ``api_version`` decision per entity (``auto`` | ``v1`` | ``v2``), the v1 -> v2 switch (recorded in
the resource state as ``api = "v2"``), the v2 page generators (cursor windows, full lists, id scans), v2
per-parent children and the adapters that turn v2 records back into the v1 record shapes, so that ONE table
layout results whichever generation served the rows (``transform.PageTransformer`` does the rest unchanged;
``source.py`` only dispatches here).

Modes
-----
- ``v1``: today's path, v1 only.
- ``v2``: v2 for every entity with ``Entity.v2_path`` (deals, persons, organizations, activities, products,
  pipelines, stages); v1 for the rest (notes, leads, users, files, ... have no v2 list).
- ``auto`` (default): v1; when an entity's v1 list answers 410 Gone (``PipedriveGoneError``), or 404 on a
  path that worked in an earlier run, that entity switches to v2 mid-run: ``state["api"] = "v2"`` (kept for
  later runs), one WARNING, and the incremental position carries over without re-downloading the entity.

Incremental on v2
-----------------
The state keys are the v1 ones: ``last_until`` (UTC ``YYYY-MM-DD HH:MM:SS``, the last window end, inclusive)
and ``pending`` (the window being read). v2's ``updated_until`` is exclusive, so a window [since, until] is
asked as ``updated_since = since`` (inclusive) and ``updated_until = until + 1 s``: exactly the records v1's
inclusive ``until`` would return. ``since = last_until - overlap`` as in v1; sorted ``sort_by=update_time``;
the keyset cursor of every stream is saved after each page (``pending["streams"]``), so an interrupted or
budget-stopped run resumes where it stopped. A v1 window interrupted by the switch is re-read on v2 from
its ``since`` (the merge on ``id`` removes the overlap). Deals are read as two streams, ``/deals`` and
``/deals/archived``, both with ``status=open,won,lost,deleted`` (v1 ``/collection`` returns archived and,
with ``status=deleted``, deleted deals; v2 splits them).

Children on v2: ``deal_products`` in bulk (``GET /api/v2/deals/products?deal_ids=`` for 50 deals at a
time, instead of one call per deal), ``*_followers`` from ``/api/v2/{entity}/{id}/followers``,
``deal_participants`` stays on v1 (no v2 endpoint; not deprecated). The v2 counters
(``include_fields=products_count,...``) skip parents without children. Field metadata: the v1
``/*Fields`` endpoints (not deprecated, and they carry field ids, ``active_flag`` and deleted options, so
``*_fields`` tables stay identical); the v2 ``/api/v2/*Fields`` only if v1 answers 410/404. Reconciliation
(vanished persons/organizations/activities/products) scans the ids through the v2 list of an entity read on v2.
Full entities (products, pipelines, stages) are listed whole, as on v1 (``/api/v2/products`` has no
``updated_until``).

Documented v1/v2 differences (columns of the SAME tables; everything else is identical)
-------------------------------------------------------------------------------------
Always NULL when a row came from v2 (v2 has no such field and it cannot be derived):
- ``deals``: ``creator_user_id``, ``next_activity_date``, ``next_activity_time``, ``last_activity_date``,
  ``archive_time``.
- ``persons``: ``delete_time`` (NULL for live records in v1 too).
- ``organizations``: ``picture_id``, ``country_code``, ``delete_time`` (NULL for live records in v1 too).
- ``activities``: ``reference_type``, ``reference_id``, ``last_notification_time``,
  ``last_notification_user_id``, ``notification_language_id``, ``calendar_sync_include_context``,
  ``update_user_id``, ``source_timezone``, ``rec_rule``, ``rec_rule_extension``, ``rec_master_activity_id``,
  ``series`` (v1 sends ``[]`` -> JSON ``"[]"``; v2 nothing -> NULL).
- ``products``: ``files_count``, ``followers_count``; in the ``prices`` JSON each price lacks its ``id``
  (v2 price objects have none; ``overhead_cost`` is v2's ``direct_cost``).
- ``pipelines``: ``url_title``, ``selected``.
- ``deal_products``: ``sum_formatted``, ``duration``, ``duration_unit``.
- ``deal_followers``, ``person_followers``, ``organization_followers``: ``id`` (the follow record id).
Derived (same value as v1 under the stated assumption):
- ``company_id`` (persons, organizations, activities): from ``GET /v1/users/me`` (one call per run).
- deals ``user_id`` <- v2 ``owner_id``; ``deleted`` <- ``is_deleted``; ``active`` <- ``status == 'open'``;
  ``label`` <- ``label_ids`` joined by ``,``; ``first_won_time``/``next_activity_id``/``last_activity_id``
  via ``include_fields``; ``local_won_date``/``local_lost_date``/``local_close_date`` <- the UTC date of
  ``won_time``/``lost_time``/``close_time`` (v1 uses the company's time zone: differs for a company that
  is not on UTC).
- persons ``email``/``phone`` <- ``emails``/``phones``; ``primary_email`` <- the primary email;
  ``first_char`` <- first letter of ``name``; ``label`` <- first of ``label_ids``; ``active_flag`` <- not
  ``is_deleted``; ``postal_address`` <- ``postal_address.value``.
- organizations ``address`` + ``address_<part>`` <- the ``address`` object (``address_formatted_address``
  <- its ``value``); ``first_char``, ``label``, ``active_flag`` as for persons.
- activities ``user_id`` and ``assigned_to_user_id`` <- ``owner_id``; ``created_by_user_id`` <-
  ``creator_user_id``; ``busy_flag`` <- ``busy``; ``active_flag`` <- not ``is_deleted``; ``location`` +
  ``location_<part>`` <- the ``location`` object; participants ``primary_flag`` <- ``primary``; attendees
  ``email_address`` <- ``email``, ``is_organizer`` 0/1 <- bool.
- products ``active_flag`` <- not ``is_deleted``; ``selectable`` <- ``is_linkable``; ``first_char``;
  ``visible_to`` as text ("3", as v1).
- stages ``active_flag``, ``rotten_flag``, ``rotten_days`` renamed; ``pipeline_name`` and
  ``pipeline_deal_probability`` looked up in ``GET /api/v2/pipelines`` (5 tokens per run).
- pipelines ``active`` <- not ``is_deleted``; ``deal_probability`` <- ``is_deal_probability_enabled``.
- deal_products ``enabled_flag`` <- ``is_enabled``; ``last_edit`` <- ``update_time``; ``active_flag`` true
  (v2 lists active attachments only); ``quantity_formatted`` <- ``quantity`` as text.
v2-only fields (activities ``priority``, deal-product ``billing_frequency``/``billing_start_date``, the counters
asked only to skip empty parents) are not loaded, so the layout never depends on the generation; columns v2
cannot fill keep v1's type (``V1_ONLY_TYPES``) so they exist, NULL, in a v2-only load too. No lineage column
is added.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import custom_fields as cf
from . import pagination
from .entities import Entity, PerParentChild
from .errors import PipedriveGoneError, PipedriveNotFoundError
from .pagination import Page, split_time_range
from .rows import format_v1_timestamp, parse_timestamp
from .strategies import consume_streams
from .transform import PageTransformer

if TYPE_CHECKING:
    from .context import SyncContext

log = logging.getLogger(__name__)

API_VERSIONS = ("auto", "v1", "v2")
ALL_DEAL_STATUSES = "open,won,lost,deleted"
#: counters asked from v2 (``include_fields``) only to skip parents without children; never loaded
COUNTERS = ("products_count", "followers_count", "participants_count")
INCLUDE = {
    "deals": "next_activity_id,last_activity_id,first_won_time,products_count,followers_count,participants_count",
    "persons": "followers_count",
    "organizations": "followers_count",
    "activities": "attendees",
}


# ------------------------------------------------------------------------------------------ decision
def wants_v2(entity: Entity, api_version: str, state: dict[str, Any]) -> bool:
    """Read this entity through v2 now? (``v2`` mode, or ``auto`` after a recorded switch)."""
    if not entity.v2_path or api_version == "v1":
        return False
    return api_version == "v2" or state.get("api") == "v2"


def is_gone(exc: BaseException, state: dict[str, Any]) -> bool:
    """A v1 endpoint that went away: 410, or 404 where an earlier run succeeded."""
    if isinstance(exc, PipedriveGoneError):
        return True
    worked_before = any(k in state for k in ("last_until", "high_water", "reconciled_at", "column_types"))
    return isinstance(exc, PipedriveNotFoundError) and worked_before


def record_switch(entity: Entity, state: dict[str, Any], exc: BaseException) -> None:
    """Remember the switch in the resource state and say so once (later runs go straight to v2)."""
    if state.get("api") == "v2":
        return
    state["api"] = "v2"
    state["api_switched_at"] = format_v1_timestamp(datetime.now(UTC))
    log.warning("%s: the v1 endpoint is gone (%s); switching this entity to API v2 (%s), keeping the "
                "incremental position (last_until=%s)", entity.name, getattr(exc, "status", None) or
                type(exc).__name__, entity.v2_path, state.get("last_until"))


# ------------------------------------------------------------------------------------------ helpers
def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(value: Any) -> Any:
    """RFC 3339 -> v1 ``YYYY-MM-DD HH:MM:SS`` (UTC); None/dirt/other unchanged."""
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "Tt":
        return value
    try:
        return format_v1_timestamp(parse_timestamp(value))  # type: ignore[arg-type]
    except ValueError:
        return value


def _date_of(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _first_char(name: Any) -> str | None:
    return name[0].lower() if isinstance(name, str) and name else None


def _visible_to(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _not(v: Any) -> bool | None:
    return None if v is None else not v


_ctx_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_ctx_lock = threading.RLock()


def _cached(ctx: SyncContext, key: str, compute: Callable[[], Any]) -> Any:
    """One lookup per run (the SyncContext lives as long as the run); concurrent callers wait for it."""
    with _ctx_lock:
        cache = _ctx_cache.setdefault(ctx, {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]


def company_id(ctx: SyncContext) -> Any:
    def fetch() -> Any:
        data = ctx.client.get("/users/me").get("data") or {}
        return data.get("company_id")
    return _cached(ctx, "company_id", fetch)


def pipelines_by_id(ctx: SyncContext) -> dict[int, dict[str, Any]]:
    def fetch() -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for page in ctx.client.iter_v2("/pipelines"):
            for p in page.items:
                out[p["id"]] = p
        return out
    return _cached(ctx, "pipelines", fetch)


def _address(prefix: str, obj: Any, parts: tuple[str, ...]) -> dict[str, Any]:
    """v2 address object -> v1 ``prefix`` + ``prefix_<part>`` keys (formatted_address <- value)."""
    o = obj if isinstance(obj, dict) else {}
    out: dict[str, Any] = {prefix: o.get("value") if obj is not None else None}
    for part in parts:
        out[f"{prefix}_{part}"] = o.get("value") if part == "formatted_address" else o.get(part)
    return out


#: v1 columns v2 cannot fill (always NULL on v2 rows) and their v1 types (see the module docstring)
V1_ONLY_TYPES: dict[str, dict[str, str]] = {
    "deals": {"creator_user_id": "bigint", "next_activity_date": "date", "next_activity_time": "time",
              "last_activity_date": "date", "archive_time": "timestamp"},
    "persons": {"delete_time": "timestamp"},
    "organizations": {"picture_id": "bigint", "country_code": "text", "delete_time": "timestamp"},
    "activities": {"reference_type": "text", "reference_id": "bigint", "last_notification_time": "timestamp",
                   "last_notification_user_id": "bigint", "notification_language_id": "bigint",
                   "calendar_sync_include_context": "text", "update_user_id": "bigint", "source_timezone": "text",
                   "rec_rule": "text", "rec_rule_extension": "text", "rec_master_activity_id": "bigint",
                   "series": "json"},
    "products": {"files_count": "bigint", "followers_count": "bigint"},
    "pipelines": {"url_title": "text", "selected": "bool"},
    "deal_products": {"sum_formatted": "text", "duration": "double", "duration_unit": "text"},
    "deal_followers": {"id": "bigint"},
    "person_followers": {"id": "bigint"},
    "organization_followers": {"id": "bigint"},
}

ADDRESS_PARTS = ("subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
                 "admin_area_level_2", "country", "postal_code", "formatted_address")


# ------------------------------------------------------------------------------------------ adapters
def deal_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    status = r.get("status")
    labels = r.get("label_ids") or []
    out = {
        "id": r.get("id"), "creator_user_id": None, "user_id": r.get("owner_id"), "person_id": r.get("person_id"),
        "org_id": r.get("org_id"), "stage_id": r.get("stage_id"), "title": r.get("title"), "value": r.get("value"),
        "acv": r.get("acv"), "arr": r.get("arr"), "mrr": r.get("mrr"), "currency": r.get("currency"),
        "add_time": v1_time(r.get("add_time")), "update_time": v1_time(r.get("update_time")),
        "stage_change_time": v1_time(r.get("stage_change_time")), "active": status == "open",
        "deleted": bool(r.get("is_deleted")), "status": status, "probability": r.get("probability"),
        "next_activity_date": None, "next_activity_time": None, "next_activity_id": r.get("next_activity_id"),
        "last_activity_id": r.get("last_activity_id"), "last_activity_date": None,
        "lost_reason": r.get("lost_reason"), "visible_to": _visible_to(r.get("visible_to")),
        "close_time": v1_time(r.get("close_time")), "pipeline_id": r.get("pipeline_id"),
        "won_time": v1_time(r.get("won_time")), "first_won_time": v1_time(r.get("first_won_time")),
        "lost_time": v1_time(r.get("lost_time")), "expected_close_date": r.get("expected_close_date"),
        "label": ",".join(str(x) for x in labels) if labels else None,
        "local_won_date": _date_of(r.get("won_time")), "local_lost_date": _date_of(r.get("lost_time")),
        "local_close_date": _date_of(r.get("close_time")), "origin": r.get("origin"),
        "origin_id": r.get("origin_id"), "channel": r.get("channel"), "channel_id": r.get("channel_id"),
        "is_archived": r.get("is_archived"), "archive_time": None,
    }
    if "custom_fields" in r:
        out["custom_fields"] = r["custom_fields"]
    return out


def person_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    emails = r.get("emails") or []
    labels = r.get("label_ids") or []
    primary = next((e.get("value") for e in emails if e.get("primary")), None)
    postal = r.get("postal_address")
    out = {
        "id": r.get("id"), "company_id": company_id(ctx), "owner_id": r.get("owner_id"), "org_id": r.get("org_id"),
        "name": r.get("name"), "first_name": r.get("first_name"), "last_name": r.get("last_name"),
        "phone": r.get("phones"), "email": emails, "primary_email": primary or None,
        "first_char": _first_char(r.get("first_name") or (r.get("name") or "").strip()),
        "add_time": v1_time(r.get("add_time")), "update_time": v1_time(r.get("update_time")), "delete_time": None,
        "visible_to": _visible_to(r.get("visible_to")), "picture_id": r.get("picture_id"),
        "label": labels[0] if labels else None, "label_ids": labels, "active_flag": _not(r.get("is_deleted")),
        "job_title": r.get("job_title"), "birthday": r.get("birthday"), "im": r.get("im"), "notes": r.get("notes"),
        "postal_address": postal.get("value") if isinstance(postal, dict) else postal,
    }
    if "custom_fields" in r:
        out["custom_fields"] = r["custom_fields"]
    return out


def org_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    labels = r.get("label_ids") or []
    out = {
        "id": r.get("id"), "company_id": company_id(ctx), "owner_id": r.get("owner_id"), "name": r.get("name"),
        "active_flag": _not(r.get("is_deleted")), "picture_id": None, "country_code": None,
        "first_char": _first_char(r.get("name")), "add_time": v1_time(r.get("add_time")),
        "update_time": v1_time(r.get("update_time")), "delete_time": None,
        "visible_to": _visible_to(r.get("visible_to")), "label": labels[0] if labels else None, "label_ids": labels,
        **_address("address", r.get("address"), ADDRESS_PARTS),
        "website": r.get("website"), "linkedin": r.get("linkedin"), "industry": r.get("industry"),
        "annual_revenue": r.get("annual_revenue"), "employee_count": r.get("employee_count"),
    }
    if "custom_fields" in r:
        out["custom_fields"] = r["custom_fields"]
    return out


def activity_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    attendees = r.get("attendees")
    out = {
        "id": r.get("id"), "company_id": company_id(ctx), "user_id": r.get("owner_id"), "done": r.get("done"),
        "type": r.get("type"), "reference_type": None, "reference_id": None,
        "conference_meeting_client": r.get("conference_meeting_client"),
        "conference_meeting_url": r.get("conference_meeting_url"),
        "conference_meeting_id": r.get("conference_meeting_id"), "due_date": r.get("due_date"),
        "due_time": r.get("due_time"), "duration": r.get("duration"), "busy_flag": r.get("busy"),
        "add_time": v1_time(r.get("add_time")), "marked_as_done_time": v1_time(r.get("marked_as_done_time")),
        "last_notification_time": None, "last_notification_user_id": None, "notification_language_id": None,
        "subject": r.get("subject"), "public_description": r.get("public_description"),
        "calendar_sync_include_context": None,
        **_address("location", r.get("location"), ADDRESS_PARTS),
        "org_id": r.get("org_id"), "person_id": r.get("person_id"), "deal_id": r.get("deal_id"),
        "lead_id": r.get("lead_id"), "project_id": r.get("project_id"), "active_flag": _not(r.get("is_deleted")),
        "update_time": v1_time(r.get("update_time")), "update_user_id": None, "source_timezone": None,
        "rec_rule": None, "rec_rule_extension": None, "rec_master_activity_id": None, "series": None,
        "note": r.get("note"), "created_by_user_id": r.get("creator_user_id"),
        "attendees": [{"email_address": a.get("email"), "is_organizer": int(bool(a.get("is_organizer"))),
                       "name": a.get("name"), "person_id": a.get("person_id"), "status": a.get("status"),
                       "user_id": a.get("user_id")} for a in attendees] if attendees else None,
        "participants": [{"person_id": p.get("person_id"), "primary_flag": bool(p.get("primary"))}
                         for p in r.get("participants") or []],
        "assigned_to_user_id": r.get("owner_id"),
    }
    if "custom_fields" in r:
        out["custom_fields"] = r["custom_fields"]
    return out


def product_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    out = {
        "id": r.get("id"), "name": r.get("name"), "code": r.get("code"), "description": r.get("description"),
        "unit": r.get("unit"), "tax": r.get("tax"), "category": r.get("category"),
        "active_flag": _not(r.get("is_deleted")), "selectable": r.get("is_linkable"),
        "first_char": _first_char(r.get("name")), "visible_to": _visible_to(r.get("visible_to")),
        "owner_id": r.get("owner_id"), "files_count": None, "add_time": v1_time(r.get("add_time")),
        "update_time": v1_time(r.get("update_time")), "billing_frequency": r.get("billing_frequency"),
        "billing_frequency_cycles": r.get("billing_frequency_cycles"),
        "prices": [{"product_id": p.get("product_id"), "price": p.get("price"), "currency": p.get("currency"),
                    "cost": p.get("cost"), "overhead_cost": p.get("direct_cost")} for p in r.get("prices") or []],
        "followers_count": None,
    }
    if "custom_fields" in r:
        out["custom_fields"] = r["custom_fields"]
    return out


def pipeline_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    return {"id": r.get("id"), "name": r.get("name"), "url_title": None, "order_nr": r.get("order_nr"),
            "active": _not(r.get("is_deleted")), "deal_probability": r.get("is_deal_probability_enabled"),
            "add_time": v1_time(r.get("add_time")), "update_time": v1_time(r.get("update_time")), "selected": None}


def stage_to_v1(r: dict[str, Any], ctx: SyncContext) -> dict[str, Any]:
    pipe = pipelines_by_id(ctx).get(r.get("pipeline_id")) or {}
    return {"id": r.get("id"), "order_nr": r.get("order_nr"), "name": r.get("name"),
            "active_flag": _not(r.get("is_deleted")), "deal_probability": r.get("deal_probability"),
            "pipeline_id": r.get("pipeline_id"), "rotten_flag": r.get("is_deal_rot_enabled"),
            "rotten_days": r.get("days_to_rotten"), "add_time": v1_time(r.get("add_time")),
            "update_time": v1_time(r.get("update_time")), "pipeline_name": pipe.get("name"),
            "pipeline_deal_probability": pipe.get("is_deal_probability_enabled")}


ADAPTERS: dict[str, Callable[[dict[str, Any], SyncContext], dict[str, Any]]] = {
    "deals": deal_to_v1, "persons": person_to_v1, "organizations": org_to_v1, "activities": activity_to_v1,
    "products": product_to_v1, "pipelines": pipeline_to_v1, "stages": stage_to_v1,
}


def deal_product_to_v1(r: dict[str, Any]) -> dict[str, Any]:
    qty = r.get("quantity")
    return {"id": r.get("id"), "deal_id": r.get("deal_id"), "order_nr": r.get("order_nr"),
            "product_id": r.get("product_id"), "product_variation_id": r.get("product_variation_id"),
            "item_price": r.get("item_price"), "discount": r.get("discount"), "discount_type": r.get("discount_type"),
            "sum": r.get("sum"), "currency": r.get("currency"), "enabled_flag": r.get("is_enabled"),
            "add_time": v1_time(r.get("add_time")), "last_edit": v1_time(r.get("update_time")),
            "comments": r.get("comments"), "active_flag": True, "tax": r.get("tax"),
            "tax_method": r.get("tax_method"), "quantity": qty,
            "quantity_formatted": None if qty is None else (str(int(qty)) if float(qty).is_integer() else str(qty)),
            "sum_formatted": None, "duration": None, "duration_unit": None, "name": r.get("name")}


#: the parent reference v1 follower items carry themselves (besides the table's parent key column)
FOLLOWER_PARENT_REF = {"deal_followers": "deal_id", "person_followers": "person_id",
                       "organization_followers": "org_id", "product_followers": "product_id"}


def follower_to_v1(r: dict[str, Any], table: str, parent_id: Any) -> dict[str, Any]:
    out = {"id": None, "user_id": r.get("user_id"), "add_time": v1_time(r.get("add_time"))}
    ref = FOLLOWER_PARENT_REF.get(table)
    if ref:
        out[ref] = parent_id
    return out


# ------------------------------------------------------------------------------------------ transformer
class V2PageTransformer(PageTransformer):
    """``PageTransformer`` whose input may be v2 records (``api = "v2"``): adapted to the v1 shapes, custom
    fields through ``FieldFlattener(api_version="v2")``, children from the v2 endpoints."""

    def __init__(self, entity: Entity, ctx: SyncContext, state: dict[str, Any], api: str = "v1") -> None:
        super().__init__(entity, ctx, state)
        self.api = api
        self._counts: dict[Any, dict[str, Any]] = {}
        if api == "v2":
            self._seed_types()

    def _seed_types(self) -> None:
        """Columns v2 never fills still get v1's type, so the table layout does not depend on the API."""
        for table, cols in V1_ONLY_TYPES.items():
            if table == self.entity.name or table in {c.table for c in self.entity.children}:
                known = self.types.setdefault(table, {})
                for col, t in cols.items():
                    known.setdefault(col, t)

    def use_v2(self) -> None:
        """Switch mid-run: later pages are v2 records (the flattener is rebuilt for them)."""
        if self.api != "v2":
            self.api = "v2"
            self.flattener = None
            self._setup = None  # parse workers transform v1 pages only
            self._seed_types()

    def _offloadable(self) -> bool:
        return self.api == "v1" and super()._offloadable()

    def load_fields(self) -> list[Any]:
        try:
            return super().load_fields()  # v1 field endpoints are not deprecated: identical *_fields tables
        except (PipedriveGoneError, PipedriveNotFoundError):
            if not self.entity.fields_endpoint:
                raise
            log.warning("%s: v1 %s is gone; reading the field metadata from API v2", self.entity.name,
                        self.entity.fields_endpoint)
            fields: list[dict[str, Any]] = []
            for page in self.ctx.client.iter_v2(self.entity.fields_endpoint):
                fields.extend(page.items)
            self.fields = fields
            return []

    def _ensure_flattener(self, first_record: dict[str, Any]) -> list[Any]:
        if self.api != "v2":
            return super()._ensure_flattener(first_record)
        had = self.flattener is not None
        # reserve the v1 system keys only: ``custom_fields`` is v2's container, not a column
        out = super()._ensure_flattener({k: v for k, v in first_record.items() if k != "custom_fields"})
        if not had and self.flattener is not None and self.entity.fields_endpoint:
            field_map = self.ctx.field_map(self.entity.fields_endpoint, dict)  # computed by super() just now
            self.flattener = cf.FieldFlattener(self.fields or [], field_map, self.ctx.options.custom_fields,
                                               api_version="v2")
        return out

    def transform_rows(self, records: list[dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
        if self.api == "v2" and records:
            adapt = ADAPTERS[self.entity.name]
            adapted = []
            for r in records:
                counts = {k: r[k] for k in COUNTERS if k in r}
                if counts:
                    self._counts[r.get("id")] = counts
                adapted.append(adapt(r, self.ctx))
            records = adapted
        return super().transform_rows(records)

    def _wants(self, row: dict[str, Any], child: PerParentChild) -> bool:
        if self.api != "v2":
            return super()._wants(row, child)
        return self._has(row["id"], child)

    def _chunk_done(self, chunk: list[dict[str, Any]]) -> None:
        for r in chunk:
            self._counts.pop(r["id"], None)

    def _has(self, pid: Any, child: PerParentChild) -> bool:
        if child.count_field is None:
            return True
        n = self._counts.get(pid, {}).get(child.count_field)
        try:
            return n is None or int(n) > 0
        except (TypeError, ValueError):
            return True

    def _children_of(self, child: PerParentChild, parent_ids: list[Any]) -> list[list[dict[str, Any]]]:
        """Children per parent (in ``parent_ids`` order), in the v1 row shape."""
        if self.api != "v2":
            return super()._children_of(child, parent_ids)
        if not parent_ids:
            return []
        client = self.ctx.client
        if child.table == "deal_products":  # bulk: one call per 100 deals instead of one per deal
            by_deal: dict[Any, list[dict[str, Any]]] = {pid: [] for pid in parent_ids}
            for i in range(0, len(parent_ids), 100):
                ids = ",".join(str(p) for p in parent_ids[i:i + 100])
                for page in client.iter_v2("/deals/products", {"deal_ids": ids}):
                    for item in page.items:
                        by_deal.setdefault(item.get("deal_id"), []).append(deal_product_to_v1(item))
            return [by_deal[pid] for pid in parent_ids]
        if child.table.endswith("_followers"):
            def followers(pid: Any) -> list[dict[str, Any]]:
                try:
                    return [follower_to_v1(f, child.table, pid)
                            for page in client.iter_v2(child.path.format(id=pid)) for f in page.items]
                except PipedriveNotFoundError:  # the parent vanished between its page and this call
                    log.info("%s: parent %s is gone; no children", child.table, pid)
                    return []
            return self.ctx.map_parents(followers, parent_ids)
        # deal_participants: v2 has no such endpoint; v1's is not deprecated
        return self.ctx.map_parents(lambda pid: self._fetch_children(child, pid), parent_ids)


def make_transformer(entity: Entity, ctx: SyncContext, state: dict[str, Any]) -> PageTransformer:
    """A transformer for ``entity``: v2-capable when the entity has a v2 list and v1 is not forced."""
    if not entity.v2_path or ctx.options.api_version == "v1":
        return PageTransformer(entity, ctx, state)
    return V2PageTransformer(entity, ctx, state, "v2" if wants_v2(entity, ctx.options.api_version, state) else "v1")


def api_of(xf: PageTransformer) -> str:
    return getattr(xf, "api", "v1")


# ------------------------------------------------------------------------------------------ generators
def _backfill_slices(entity: Entity, ctx: SyncContext, until: datetime) -> list[tuple[str | None, str]]:
    """Time slices of a first window so the history downloads in parallel (as the v1 path does); the
    lower bound is the ``add_time`` of the lowest id, slice 0 stays open below it."""
    n = ctx.options.max_workers * 2
    whole = [(None, format_v1_timestamp(until))]
    if n < 2:
        return whole
    probe = ctx.client.get(entity.v2_path, {"limit": 1, "sort_by": "id"}, version="v2")  # type: ignore[arg-type]
    first = (probe.get("data") or [None])[0]
    try:
        low = parse_timestamp(first.get("add_time")) if first else None
    except ValueError:
        low = None
    if low is None or low >= until:
        return whole
    bounds = split_time_range(low, until, n)
    return [(None if i == 0 else format_v1_timestamp(a), format_v1_timestamp(b)) for i, (a, b) in enumerate(bounds)]


def _stream(since: str | None, until: str, **extra: Any) -> dict[str, Any]:
    return {"since": since, "until": until, "cursor": None, "skip": 0, **extra}


def _window(entity: Entity, ctx: SyncContext, state: dict[str, Any]) -> dict[str, Any]:
    """The pending v2 window; a v1 window interrupted by the switch is carried over stream by stream."""
    pending = state.get("pending")
    if pending is not None and pending.get("api") == "v2":
        return pending
    streams: dict[str, Any] = {}
    if pending is not None:  # v1 streams that are not done: read them again from their start, on v2
        until = pending["until"]
        sinces = []
        v1_streams = pending.get("streams", {})
        live_done = any(pos == "done" for key, pos in v1_streams.items() if key != "deleted")
        for key, pos in v1_streams.items():
            if not isinstance(pos, dict):
                continue
            if key == "deleted" and not live_done:
                continue  # the v2 live streams below include deleted deals (status=...,deleted)
            sinces.append(pos.get("since"))
            status = "deleted" if key == "deleted" else ALL_DEAL_STATUSES
            streams[key] = _stream(pos.get("since"), pos.get("until") or until, status=status)
        since = None if (not sinces or None in sinces) else min(sinces)
    else:
        opts = ctx.options
        last_until = state.get("last_until")
        start = parse_timestamp(last_until) - timedelta(seconds=opts.overlap_seconds) if last_until else opts.start_date
        end = ctx.window_end()
        until = format_v1_timestamp(end)
        since = format_v1_timestamp(start) if start else None
        slices = _backfill_slices(entity, ctx, end) if start is None else [(since, until)]
        for i, (s_since, s_until) in enumerate(slices):
            streams[f"live:{i}" if start is None else "live"] = _stream(s_since, s_until, status=ALL_DEAL_STATUSES)
    if entity.has_deleted_status:  # v1 /collection includes archived deals; v2 lists them apart
        streams["archived"] = _stream(since, until, status=ALL_DEAL_STATUSES, archived=True)
    pending = {"api": "v2", "until": until, "streams": streams}
    state["pending"] = pending
    return pending


def collection_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer) -> Iterator[Any]:
    """Cursor entity on v2: each stream's [since, until] (inclusive, v1 semantics) asked as
    ``updated_since=since`` / ``updated_until=until + 1 s``, sorted by update_time; streams run
    concurrently and every stream's keyset cursor is saved after each page (resumable)."""
    pending = _window(entity, ctx, state)
    keys = [k for k, pos in pending["streams"].items() if pos != "done"]

    def stream(key: str) -> Callable[[], Iterator[Page]]:
        pos = pending["streams"][key]
        params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "asc",
                                  "updated_until": rfc3339(parse_timestamp(pos["until"]) + timedelta(seconds=1))}
        if pos.get("since"):
            params["updated_since"] = rfc3339(parse_timestamp(pos["since"]))  # type: ignore[arg-type]
        if entity.has_deleted_status:
            params["status"] = pos.get("status") or ALL_DEAL_STATUSES
        if entity.name in INCLUDE:
            params["include_fields"] = INCLUDE[entity.name]
        path = f"{entity.v2_path}/archived" if pos.get("archived") else entity.v2_path
        cursor = pos.get("cursor")
        return lambda: pagination.iter_v2_cursor(ctx.client.get, path, params, cursor=cursor)  # type: ignore[arg-type]

    yield from consume_streams(ctx, state, pending, keys, [stream(k) for k in keys], xf)


def full_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: Any) -> Iterator[Any]:
    """Small/full entities on v2 (products, pipelines, stages): the whole list, merged on the key."""
    state.pop("pending", None)
    for page in ctx.client.iter_v2(entity.v2_path):  # type: ignore[arg-type]
        yield from xf.transform(page.items)


def pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: Any) -> Iterator[Any]:
    if entity.strategy == "collection":
        yield from collection_pages(entity, ctx, state, xf)
    else:
        yield from full_pages(entity, ctx, state, xf)


def scan_ids(entity: Entity, ctx: SyncContext, counter: list[int]) -> Iterator[Any]:
    """Every id of the entity through its v2 list (reconciliation), 500 per page."""
    params = {"status": ALL_DEAL_STATUSES} if entity.has_deleted_status else None
    for page in ctx.client.iter_v2(entity.v2_path, params):  # type: ignore[arg-type]
        counter[0] += 1
        for rec in page.items:
            if rec.get("id") is not None:
                yield rec["id"]


__all__ = [
    "ADAPTERS",
    "API_VERSIONS",
    "V2PageTransformer",
    "api_of",
    "collection_pages",
    "full_pages",
    "is_gone",
    "make_transformer",
    "pages",
    "record_switch",
    "scan_ids",
    "wants_v2",
]

