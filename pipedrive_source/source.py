"""The dlt source: one resource per row of ``entities.ENTITIES``, all sharing one client.

Incremental model (dlt resource state, committed by dlt in the same load package as the rows):

- ``collection`` entities keep ``last_until``. A run reads ``since = last_until - overlap`` to
  ``until = server time - safety lag`` (fixed once per run, taken from the server's ``Date``
  header so a skewed local clock cannot open a gap). Both bounds are inclusive at the API, so a
  record on a boundary second is read twice at worst and the merge on ``id`` removes the copy.
  While a window is being read its position is kept in ``pending`` (window + cursor per stream),
  so an interrupted or budget-stopped run continues where it stopped.
- ``update_time_desc`` entities keep ``high_water``: the newest ``update_time`` of the last
  completed run; pages sorted ``update_time DESC`` are read until older than it minus overlap.
- ``full`` entities are read whole and merged.

dlt's own ``dlt.sources.incremental`` is not used for the cursor entities: the window is pushed to
the API (``since``/``until``), the resume point is an opaque API cursor, and two streams (live and
deleted deals) share one window — none of which ``incremental`` models. Merge de-duplication
(``dedup_sort`` on ``update_time``) replaces its boundary de-duplication.

Pages become Arrow tables (``rows.TableBuilder``); child tables are built here and replaced per
parent with a tombstone row (``_tombstone`` is dlt's ``hard_delete`` hint) followed by the current
children, so removed emails or products disappear too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from . import v2
from .coalesce import coalesced
from .context import SyncContext, _local, last_context
from .entities import ENTITY_BY_NAME, Entity, resolve_entities
from .errors import (
    DailyBudgetExhausted,
    PipedriveGoneError,
    PipedriveNotFoundError,
    PipedrivePermissionError,
)
from .gc_tuning import bulk_parsing_gc
from .options import build_options
from .rows import format_v1_timestamp
from .strategies import (
    _collection_pages,
    _desc_pages,
    _fallback_pages,
    _full_pages,
    _reconcile_pages,
)
from .transform import MERGE, PageTransformer

log = logging.getLogger(__name__)


class _ArrowHintNoise(logging.Filter):
    """dlt warns on every Arrow page whose nullability differs from our hints; that is by design here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


logging.getLogger("dlt").addFilter(_ArrowHintNoise())


def _v1_pages(entity: Entity, ctx: SyncContext, state: dict[str, Any], xf: PageTransformer) -> Iterator[Any]:
    """The v1 read of one entity, by strategy."""
    if entity.strategy == "collection":
        try:
            yield from _collection_pages(entity, ctx, state, xf)
        except PipedrivePermissionError:
            if not state.get("fallback_logged"):
                log.warning("%s: /collection needs a global admin token (403); falling back to the "
                            "offset list sorted by update_time", entity.name)
            state.pop("pending", None)
            yield from _fallback_pages(entity, ctx, state, xf)
    elif entity.strategy == "update_time_desc":
        yield from _desc_pages(entity, ctx, state, xf)
    else:
        try:
            yield from _full_pages(entity, ctx, state, xf)
        except PipedrivePermissionError:
            if not entity.admin_only:
                raise
            log.warning("%s: skipped, the token is not an admin token (403)", entity.name)


def _make_resource(entity: Entity, ctx: SyncContext) -> DltResource:
    def pages() -> Iterator[Any]:
        with bulk_parsing_gc():
            yield from coalesced(items())

    def items() -> Iterator[Any]:
        if ctx.budget_stopped:
            return
        state = dlt.current.resource_state()
        first_run = not any(k in state for k in ("last_until", "high_water", "reconciled_at", "pending"))
        xf = v2.make_transformer(entity, ctx, state)
        try:
            yield from xf.load_fields()
            if v2.api_of(xf) == "v2":  # issue 11: api_version="v2", or "auto" after an earlier switch
                yield from v2.pages(entity, ctx, state, xf)
            else:
                try:
                    yield from _v1_pages(entity, ctx, state, xf)
                except (PipedriveGoneError, PipedriveNotFoundError) as exc:
                    # "auto": this entity's v1 list is gone (410, or 404 where it used to work): go on in v2
                    if not (isinstance(xf, v2.V2PageTransformer) and v2.is_gone(exc, state)):
                        raise
                    v2.record_switch(entity, state, exc)
                    xf.use_v2()
                    yield from v2.pages(entity, ctx, state, xf)
            if entity.reconcile and ctx.options.reconcile != "never" and not ctx.budget_stopped:
                if first_run and not ctx.options.start_date:
                    # the backfill just listed every record: nothing in the destination can be stale
                    state["reconciled_at"] = format_v1_timestamp(ctx.window_end())
                else:
                    # a full listing is itself the id scan, for free (seen_ids is None otherwise)
                    scan = v2.scan_ids if v2.api_of(xf) == "v2" else None  # the v1 id scan may be gone
                    yield from _reconcile_pages(entity, ctx, state, xf, xf.seen_ids, scan)
            yield from xf.finish()
        except DailyBudgetExhausted as exc:
            ctx.stop_for_budget(exc, entity.name)

    return dlt.resource(
        pages,
        name=entity.name,
        primary_key=list(entity.primary_key),
        write_disposition=MERGE,
        parallelized=True,
    )


@dlt.source(name="pipedrive", section="pipedrive", max_table_nesting=0)
def pipedrive_source(
    api_token: str | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    company_domain: str | None = dlt.config.value,
    oauth_client_id: str | None = dlt.secrets.value,
    oauth_client_secret: str | None = dlt.secrets.value,
    oauth_refresh_token: str | None = dlt.secrets.value,
    oauth_token_file: str = ".pipedrive/oauth_token.json",
    oauth_token_url: str | None = None,
    entities: list[str] | None = None,
    custom_fields: str = "labels",
    start_date: str | None = None,
    overlap_seconds: int = 60,
    safety_lag_seconds: int = 5,
    deletes: str = "soft",
    reconcile: str = "daily",
    api_version: str = "auto",
    plan: str = "professional",
    daily_reserve: float = 0.2,
    max_workers: int = 4,
    children: bool = True,
    checkpoint_seconds: int = 600,
    parse_processes: str | int = "auto",
    max_retries: int = 8,
    max_retry_time: float = 300.0,
) -> list[DltResource]:
    """Pipedrive company -> tables. No request is made here: only when the pipeline extracts."""
    options = build_options(**{k: v for k, v in locals().items()})
    ctx = SyncContext(options)
    _local.context = ctx
    return [_make_resource(e, ctx) for e in resolve_entities(list(options.entities) if options.entities else None)]


__all__ = ["ENTITY_BY_NAME", "SyncContext", "last_context", "pipedrive_source"]
