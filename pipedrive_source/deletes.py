"""Delete replication: deleted deals and id reconciliation for entities without a delete feed
(owned by deletes).

Pipedrive tells us about deletions in only one place (FACTS.md "Deletes and merges"):

- **Deals** keep existing with ``status = "deleted"`` (listed by ``status=deleted`` for 30 days;
  v2 also sends ``is_deleted``). :func:`deal_delete_fields` derives our columns from the row:
  ``is_deleted`` and ``deleted_at`` = the deal's ``update_time`` (deleting stamps it).
- **Persons, organizations, products, activities, notes, leads, files...** simply vanish from
  every list. The only way to notice is an id-set reconciliation, :func:`reconcile`: scan ALL
  ids the API still has (the caller pages through the cheapest list endpoint), compare with
  the ids live in the destination (via ``db.py``), and emit rows for the vanished ones.
  The scan runs to completion *before* anything is compared: if it raises (fault, budget,
  timeout) the exception propagates and nothing is marked deleted — a partial scan must never
  delete. As a second guard, a result that would delete more than ``max_vanished_fraction`` of
  the live rows raises :class:`ReconcileAborted` (a scan that sees only a user's own items, or an
  API that returns empty pages, looks exactly like a mass deletion).
- **Merges**: merging person/organization B into A deletes B and moves B's deals, activities,
  notes, etc. to A. The moved records get the new ``person_id``/``org_id`` *and a bumped
  ``update_time``* in the API, so the normal incremental sync re-points them with no special
  handling; B itself has vanished and is found by reconciliation like any other delete. (A's
  own row usually changes too — counters, maybe emails — and arrives incrementally.)

Output modes (``deletes`` option of the source):

- ``soft``: the vanished ids' *full current destination rows* (``_dlt_*`` columns removed) with
  ``is_deleted=True`` and ``deleted_at=now``. Full rows, because a delete-insert merge replaces
  the whole row: a bare ``{id, is_deleted}`` tombstone would null every other column.
  Rows already soft-deleted are not live and so are not re-emitted on later runs.
- ``hard``: ``{id: ..., is_deleted: True}`` tombstones; the resource's ``hard_delete`` hint on
  ``is_deleted`` makes dlt remove the rows.

Child tables built by the source itself (``person_emails``... keyed by the parent id) are not
touched here: in soft mode they stay (the parent says it is deleted); in hard mode the caller
should tombstone them with the returned ``vanished_ids``.

Schedule: :func:`reconcile_due` — ``always``, ``never`` or ``daily`` (once per UTC calendar day,
on the first run of the day, so a daily cron with jitter never skips a day).

Wiring inside a resource (no HTTP at source-build time; the engine is opened only after the
scan, then disposed so dlt can load into a DuckDB file)::

    result = reconcile(lambda: scan_person_ids(client),
                       lambda: db.engine_for_pipeline(dlt.current.pipeline()),
                       db.dataset_schema(dlt.current.pipeline()), "persons", mode=options.deletes, now=now)
    yield result.rows
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Engine

from . import db

DELETED_STATUS = "deleted"
IS_DELETED = "is_deleted"
DELETED_AT = "deleted_at"
# Below this many live rows the fraction guard does not apply (small tables legitimately empty out).
GUARD_MIN_LIVE = 10

MODES: tuple[str, ...] = ("soft", "hard")
SCHEDULES: tuple[str, ...] = ("always", "daily", "never")


class ReconcileAborted(RuntimeError):
    """Reconciliation refused to emit deletes because the result looks like a broken scan."""


# -- deals -----------------------------------------------------------------------------------
def deal_delete_fields(row: dict[str, Any]) -> dict[str, Any]:
    """``{"is_deleted": bool, "deleted_at": update_time | None}`` for one deal row (pure)."""
    deleted = row.get("status") == DELETED_STATUS or row.get(IS_DELETED) is True
    return {IS_DELETED: deleted, DELETED_AT: row.get("update_time") if deleted else None}


def mark_deal_deleted(row: dict[str, Any]) -> dict[str, Any]:
    """Set ``is_deleted``/``deleted_at`` on a deal row in place (hot path) and return it."""
    row.update(deal_delete_fields(row))
    return row


# -- reconciliation --------------------------------------------------------------------------
@dataclass
class ReconcileResult:
    """Rows to merge plus the numbers worth reporting."""

    table: str
    mode: str
    scanned: int  # distinct ids the API returned
    live_before: int  # ids live in the destination before this run
    vanished_ids: list[Any] = field(default_factory=list)  # destination ids (their stored type), sorted
    reappeared_ids: list[Any] = field(default_factory=list)  # soft-deleted in the destination, back in the API
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def vanished(self) -> int:
        return len(self.vanished_ids)

    def counts(self) -> dict[str, int]:
        return {"scanned": self.scanned, "live_before": self.live_before, "vanished": self.vanished,
                "reappeared": len(self.reappeared_ids)}


def _key(value: Any) -> str:
    """Compare ids across API (int, or str for leads) and database types (bigint, text)."""
    return str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, str(value))


def reconcile(
    scan_ids: Callable[[], Iterable[int | str]],
    engine_factory: Callable[[], Engine],
    schema: str,
    table: str,
    *,
    mode: str = "soft",
    now: datetime | None = None,
    id_column: str = "id",
    max_vanished_fraction: float | None = 0.5,
) -> ReconcileResult:
    """Find destination rows whose ids the API no longer has and return rows that delete them.

    ``scan_ids`` must yield EVERY id the API currently has for the entity; it is exhausted before
    the destination is read. Any exception from it propagates unchanged: no partial result.
    ``engine_factory`` is called once, after the scan; the engine is disposed before returning.
    """
    if mode not in MODES:
        raise ValueError(f"deletes mode must be one of {', '.join(MODES)}; got {mode!r}")
    now = _aware(now or datetime.now(timezone.utc))

    scanned = {_key(i) for i in scan_ids()}  # the FULL scan, before anything else

    engine = engine_factory()
    try:
        live = db.live_ids(engine, schema, table, id_column=id_column, deleted_column=IS_DELETED)
        vanished = sorted((i for i in live if _key(i) not in scanned), key=_sort_key)
        _guard(table, len(scanned), len(live), len(vanished), max_vanished_fraction)
        reappeared = _reappeared(engine, schema, table, id_column, scanned, live)
        if mode == "hard":
            rows = [{id_column: i, IS_DELETED: True} for i in vanished]
        else:
            rows = db.fetch_rows(engine, schema, table, vanished, id_column=id_column, drop_dlt_columns=True)
            for row in rows:
                row[IS_DELETED] = True
                row[DELETED_AT] = now
    finally:
        engine.dispose()
    return ReconcileResult(table=table, mode=mode, scanned=len(scanned), live_before=len(live),
                           vanished_ids=vanished, reappeared_ids=reappeared, rows=rows)


def _guard(table: str, scanned: int, live: int, vanished: int, max_fraction: float | None) -> None:
    if max_fraction is None or live < GUARD_MIN_LIVE or vanished <= max_fraction * live:
        return
    raise ReconcileAborted(
        f"reconciliation of {table!r} would delete {vanished} of {live} live rows "
        f"(the API listed {scanned} ids); refusing, as this looks like an incomplete scan. "
        "Check that the API token belongs to an admin user (non-admins see only their own items). "
        "If the deletions are real, run once with a higher max_vanished_fraction."
    )


def _reappeared(engine: Engine, schema: str, table: str, id_column: str,
                scanned: set[str], live: set[Any]) -> list[Any]:
    """Soft-deleted ids the API lists again (e.g. restored): the caller may re-fetch them."""
    all_ids = db.all_ids(engine, schema, table, id_column=id_column)
    live_keys = {_key(i) for i in live}
    return sorted((i for i in all_ids if _key(i) in scanned and _key(i) not in live_keys), key=_sort_key)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


# -- schedule --------------------------------------------------------------------------------
def reconcile_due(last_run: datetime | None, schedule: str, now: datetime) -> bool:
    """Whether reconciliation should run now. ``daily`` = first run of each UTC calendar day."""
    if schedule not in SCHEDULES:
        raise ValueError(f"reconcile must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
    if schedule == "always":
        return True
    if schedule == "never":
        return False
    if last_run is None:
        return True
    return _aware(now).date() != _aware(last_run).date()
