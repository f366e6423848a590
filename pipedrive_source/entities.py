"""The declarative entity table: every Pipedrive entity the source syncs, as data.

Adding an entity is one row in ``ENTITIES``; ``source.py`` builds resources from these rows and
the README's table list is generated from them (``pipedrive-sync tables --markdown``).

Strategies (``Entity.strategy``):

- ``collection``: v1 ``/{entity}/collection`` cursor with ``since``/``until`` on ``update_time``
  (admins only; a 403 falls back to the offset list, see ``fallback_sort``).
- ``update_time_desc``: offset list sorted ``update_time DESC``, stopping at the previous high-water mark.
- ``full``: the whole list every run, merged on the primary key (small reference tables).

Per-parent children (``Entity.children``) are fetched for the parents a run reads: changed parents of
incremental entities (skipping those whose ``count_field`` is 0), every parent of a ``full`` entity.
Endpoints that take the parent as a query parameter (``/organizationRelationships?org_id=``,
``/projects/phases?board_id=``) are children too: they cannot be listed without their parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Strategy = Literal["collection", "update_time_desc", "full"]
Paging = Literal["cursor", "offset", "v1_cursor", "none"]


@dataclass(frozen=True)
class ChildList:
    """A list nested in each record (``email`` on persons) loaded as its own table."""

    key: str  # key in the API record
    table: str  # child table name
    value_key: str | None = None  # scalar lists: column name for the item value


@dataclass(frozen=True)
class PerParentChild:
    """Children reached through ``/{parent}/{id}/{suffix}``, fetched only for changed parents."""

    table: str
    path: str  # e.g. "/deals/{id}/products"
    count_field: str | None  # parent counter; None = always fetch
    primary_key: tuple[str, ...]
    parent_key: str  # column holding the parent id
    description: str
    params: dict[str, str] = field(default_factory=dict)  # query parameters; "{id}" is the parent id

    def request(self, parent_id: Any) -> tuple[str, dict[str, str]]:
        """Path and query of the call that lists one parent's children."""
        return (self.path.format(id=parent_id),
                {k: v.format(id=parent_id) for k, v in self.params.items()})


@dataclass(frozen=True)
class Entity:
    name: str  # entity = table name
    path: str  # v1 list path
    strategy: Strategy
    paging: Paging = "offset"
    primary_key: tuple[str, ...] = ("id",)
    cursor_field: str | None = "update_time"
    fields_endpoint: str | None = None  # custom-field metadata (e.g. "/dealFields")
    fields_table: str | None = None  # metadata table for it (e.g. "deal_fields")
    child_lists: tuple[ChildList, ...] = ()
    children: tuple[PerParentChild, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    max_limit: int = 500
    admin_only: bool = False  # skip with a warning for non-admin tokens
    default: bool = True  # in the default entity set
    reconcile: bool = False  # vanished records are detected by an id scan
    has_deleted_status: bool = False  # deals: status=deleted feed
    v2_path: str | None = None  # issue 11: the v2 list that serves the same rows
    data_key: str | None = None  # list nested in data (GET /goals/find answers {"data": {"goals": [...]}})
    # objects whose keys become ``<key>_<sub>`` columns (lead ``value`` = {amount, currency} -> numeric amount)
    object_columns: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_cursor(self) -> bool:
        return self.strategy == "collection"

    @property
    def singular(self) -> str:
        """``activities`` -> ``activity``: names the parent-id column of child tables."""
        if self.name.endswith("ies"):
            return self.name[:-3] + "y"
        return self.name[:-1] if self.name.endswith("s") else self.name

    @property
    def parent_key(self) -> str:
        return f"{self.singular}_id"

    @property
    def field_options_table(self) -> str | None:
        """``deal_fields`` -> ``deal_field_options``: the options of the custom enum/set fields."""
        return self.fields_table.replace("_fields", "_field_options") if self.fields_table else None

    @property
    def child_tables(self) -> list[str]:
        """Every table this entity's resource writes besides its own (nested lists, per-parent, metadata)."""
        tables = [c.table for c in self.child_lists] + [c.table for c in self.children]
        return tables + [t for t in (self.fields_table, self.field_options_table) if t]


def _followers(parent: str, path_parent: str) -> PerParentChild:
    return PerParentChild(
        table=f"{parent}_followers",
        path=f"/{path_parent}/{{id}}/followers",
        count_field="followers_count",
        primary_key=(f"{parent}_id", "user_id"),
        parent_key=f"{parent}_id",
        description=f"users following each {parent}",
    )


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "deals",
        "/deals",
        "collection",
        paging="cursor",
        fields_endpoint="/dealFields",
        fields_table="deal_fields",
        has_deleted_status=True,
        children=(
            PerParentChild(
                "deal_products",
                "/deals/{id}/products",
                "products_count",
                ("id",),
                "deal_id",
                "products attached to each deal (line items)",
            ),
            PerParentChild(
                "deal_participants",
                "/deals/{id}/participants",
                "participants_count",
                ("id",),
                "deal_id",
                "persons participating in each deal",
            ),
            _followers("deal", "deals"),
        ),
        v2_path="/deals",
        description="deals incl. deleted ones (status=deleted, soft-deleted by default)",
    ),
    Entity(
        "persons",
        "/persons",
        "collection",
        paging="cursor",
        fields_endpoint="/personFields",
        fields_table="person_fields",
        child_lists=(ChildList("email", "person_emails"), ChildList("phone", "person_phones")),
        children=(_followers("person", "persons"),),
        reconcile=True,
        v2_path="/persons",
        description="contacts; emails and phones as child tables",
    ),
    Entity(
        "organizations",
        "/organizations",
        "collection",
        paging="cursor",
        fields_endpoint="/organizationFields",
        fields_table="organization_fields",
        children=(
            _followers("organization", "organizations"),
            PerParentChild(
                "organization_relationships",
                "/organizationRelationships",
                None,  # no counter on organizations: asked for every changed organization
                ("id",),
                "organization_id",
                "parent/daughter links as each organization sees them (a link is listed under both)",
                params={"org_id": "{id}"},
            ),
        ),
        reconcile=True,
        v2_path="/organizations",
        description="companies",
    ),
    Entity(
        "activities",
        "/activities",
        "collection",
        paging="cursor",
        fields_endpoint="/activityFields",
        fields_table="activity_fields",
        child_lists=(ChildList("participants", "activity_participants"), ChildList("attendees", "activity_attendees")),
        params={"user_id": "0"},
        reconcile=True,
        v2_path="/activities",
        description="calls, meetings, tasks; participants and attendees as child tables",
    ),
    Entity(
        "products",
        "/products",
        "full",
        fields_endpoint="/productFields",
        fields_table="product_fields",
        reconcile=True,
        v2_path="/products",
        description="product catalogue (no update_time sort in v1: full scan, merged)",
    ),
    Entity(
        "notes",
        "/notes",
        "update_time_desc",
        fields_endpoint="/noteFields",
        fields_table="note_fields",
        reconcile=True,
        description="notes on deals, persons, organizations and leads",
    ),
    Entity(
        "leads",
        "/leads",
        "update_time_desc",
        primary_key=("id",),
        fields_endpoint="/dealFields",  # leads carry deal custom fields
        fields_table=None,  # deal_fields is loaded by deals
        reconcile=True,
        object_columns=("value",),
        description="leads (UUID ids) with deal custom fields; value as value_amount + value_currency",
    ),
    Entity("files", "/files", "update_time_desc", max_limit=100, reconcile=True, description="file metadata"),
    Entity("users", "/users", "full", paging="none", description="company users"),
    Entity("pipelines", "/pipelines", "full", paging="none", v2_path="/pipelines", description="sales pipelines"),
    Entity("stages", "/stages", "full", v2_path="/stages", description="pipeline stages"),
    Entity("lead_labels", "/leadLabels", "full", paging="none", cursor_field=None, description="lead labels"),
    Entity("lead_sources", "/leadSources", "full", paging="none", primary_key=("name",), cursor_field=None,
           description="lead sources"),
    Entity("filters", "/filters", "full", paging="none", description="saved filters"),
    Entity("goals", "/goals/find", "full", paging="none", cursor_field=None, data_key="goals",
           object_columns=("type", "assignee", "duration", "expected_outcome"),
           description="goals; type/assignee/duration/expected_outcome as <object>_<key> columns"),
    Entity("call_logs", "/callLogs", "full", max_limit=50, cursor_field=None, description="call logs"),
    Entity("activity_types", "/activityTypes", "full", paging="none", description="activity types"),
    Entity("currencies", "/currencies", "full", paging="none", cursor_field=None, description="currencies"),
    Entity("roles", "/roles", "full", cursor_field=None, description="roles"),
    Entity("permission_sets", "/permissionSets", "full", paging="none", cursor_field=None,
           description="permission sets"),
    Entity("projects", "/projects", "full", paging="v1_cursor", description="projects"),
    Entity("project_boards", "/projects/boards", "full", paging="none",
           children=(PerParentChild("project_phases", "/projects/phases", None, ("id",), "board_id",
                                    "phases of each project board", params={"board_id": "{id}"}),),
           description="project boards; their phases as project_phases"),
    Entity("tasks", "/tasks", "full", paging="v1_cursor", description="project tasks"),
    Entity("webhooks", "/webhooks", "full", paging="none", admin_only=True, cursor_field=None,
           description="webhooks (admin tokens only)"),
)

ENTITY_BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}
# child table -> the entity that loads it (child tables cannot be selected on their own)
CHILD_PARENT: dict[str, str] = {t: e.name for e in ENTITIES for t in e.child_tables}

FIELDS_ENDPOINTS: dict[str, str] = {
    "deal_fields": "/dealFields",
    "person_fields": "/personFields",
    "organization_fields": "/organizationFields",
    "product_fields": "/productFields",
    "activity_fields": "/activityFields",
    "note_fields": "/noteFields",
}


def default_entity_names() -> list[str]:
    return [e.name for e in ENTITIES if e.default]


def resolve_entities(names: list[str] | str | None) -> list[Entity]:
    """Entities to sync; unknown names fail fast, listing the valid ones."""
    if names is None:
        return [e for e in ENTITIES if e.default]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENTITY_BY_NAME]
    if unknown:
        valid = ", ".join(e.name for e in ENTITIES)
        hints = [f"{n} is loaded with {CHILD_PARENT[n]}" for n in unknown if n in CHILD_PARENT]
        raise ValueError(f"unknown entity {', '.join(unknown)!s}; valid entities: {valid}"
                         + (f" ({'; '.join(hints)})" if hints else ""))
    return [ENTITY_BY_NAME[n] for n in names]


STRATEGY_TEXT: dict[str, str] = {
    "collection": "incremental: /collection cursor, since/until on update_time (admin); merge on id",
    "update_time_desc": "incremental: offset list sorted update_time DESC, stops at the high-water mark; merge",
    "full": "full list every run, merged on the primary key",
}


def table_layout() -> list[dict[str, str]]:
    """One row per table (entity, its children, its field metadata) for ``tables`` and the README."""
    rows: list[dict[str, str]] = []
    for e in ENTITIES:
        strategy = STRATEGY_TEXT[e.strategy]
        if e.reconcile:
            strategy += "; deletes by id reconciliation"
        if e.has_deleted_status:
            strategy += "; deletes via status=deleted"
        rows.append({"table": e.name, "strategy": strategy, "primary_key": ", ".join(e.primary_key),
                     "description": e.description + ("" if e.default else " (not in the default set)")})
        for c in e.child_lists:
            rows.append({"table": c.table, "strategy": f"replaced with each changed {e.singular}",
                         "primary_key": f"{e.parent_key}, _position", "description": f"`{c.key}` of {e.name}"})
        for ch in e.children:
            which = f"per {e.singular} (every run)" if e.strategy == "full" else f"per changed {e.singular}"
            rows.append({"table": ch.table, "strategy": which
                         + (f" with {ch.count_field} > 0" if ch.count_field else "") + "; replaced per parent",
                         "primary_key": f"{ch.parent_key}, _position", "description": ch.description})
        if e.fields_table:
            rows.append({"table": e.fields_table, "strategy": "full list every run, merged on key",
                         "primary_key": "key", "description": f"custom-field metadata of {e.name}, with our column names"})
            rows.append({"table": e.field_options_table,
                         "strategy": "full list every run", "primary_key": "field_key, id",
                         "description": "enum/set options of those fields (current labels)"})
    return rows
