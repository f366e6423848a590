"""Airflow DAG ``pipedrive_sync``: the Pipedrive sync run by dlt's ``PipelineTasksGroup``.

Owns the task layout, not the sync: every task runs ``pipedrive_source`` (a subset of its resources)
with a dlt pipeline. Layout, one task per connected group of resources (an entity plus the
per-parent child tables fed from it):

    metadata (field metadata + small reference lists, creates the schema once)
      -> deals | persons | organizations | activities      (parallel, the /collection cursor entities)
      -> notes | leads | products | files | ...            (parallel, everything else)
      -> done                                              (fails the run if any task failed)

Each task has its own dlt pipeline name (``pipedrive_<group>``) so its incremental state is
isolated and restored from the destination at the start of the task (the helper wipes the local
working dir). All tasks write the same dataset.

Install: ``pip install 'pipedrive-source[airflow]'`` (Airflow 3.x; keep the base project light).
Copy or symlink this file into the dags folder. Configuration (env vars or Airflow Variables of the
same name, env wins):

- Pipedrive credentials, first match wins: the Airflow connection ``PIPEDRIVE_CONN_ID`` (default
  ``pipedrive_default``: password = API token, host = API base URL such as
  ``https://acme.pipedrive.com/api/v1`` or just a company domain ``acme``); else dlt's own lookup:
  ``SOURCES__PIPEDRIVE__API_TOKEN`` / ``SOURCES__PIPEDRIVE__BASE_URL`` env vars or the Airflow
  Variable ``dlt_secrets_toml`` holding a ``[sources.pipedrive]`` TOML section.
- ``PIPEDRIVE_DESTINATION``: ``duckdb`` (default) or ``postgres`` (credentials via dlt:
  ``DESTINATION__POSTGRES__CREDENTIALS`` or ``dlt_secrets_toml``).
- ``PIPEDRIVE_DUCKDB_PATH``: absolute DuckDB file (default ``$AIRFLOW_HOME/pipedrive_crm.duckdb``).
  DuckDB allows one writer, so with DuckDB the DAG runs one task at a time.
- ``PIPEDRIVE_DATASET`` (default ``pipedrive``), ``PIPEDRIVE_SCHEDULE`` (default ``@hourly``),
  ``PIPEDRIVE_MAX_PARALLEL`` (default 3 tasks at once; each uses ``PIPEDRIVE_TASK_WORKERS`` = 2 HTTP
  workers, which keeps the sum inside Pipedrive's burst limit), ``PIPEDRIVE_POOL`` (an Airflow pool
  to share the API rate limit with other DAGs using the same token), ``PIPEDRIVE_ENTITIES``
  (comma-separated subset).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable

import dlt
import pendulum
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.helpers.airflow_helper import PipelineTasksGroup
from tenacity import Retrying, stop_after_attempt, wait_exponential

from pipedrive_source.entities import ENTITIES, FIELDS_ENDPOINTS
from pipedrive_source.source import pipedrive_source

try:  # Airflow 3
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

DAG_ID = "pipedrive_sync"
PIPELINE_PREFIX = "pipedrive"

CURSOR_ENTITIES = frozenset(e.name for e in ENTITIES if e.is_cursor)
# one request each, needed by everything else's readers: run them with the field metadata
REFERENCE_ENTITIES = frozenset(e.name for e in ENTITIES if e.strategy == "full" and e.paging == "none")
METADATA_TABLES = frozenset(FIELDS_ENDPOINTS) | frozenset(
    t.replace("_fields", "_field_options") for t in FIELDS_ENDPOINTS
)


def setting(name: str, default: str | None = None) -> str | None:
    """Env var, else the Airflow Variable of the same name, else ``default``."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        from airflow.models import Variable

        return Variable.get(name, default_var=default)
    except Exception:  # no metadata DB at parse time, or Variable API unavailable
        return default


def plan_groups(resource_components: list[list[str]]) -> list[tuple[str, str, list[str]]]:
    """Sort connected resource groups into (stage, group name, resources).

    Stage ``metadata`` collects field metadata and single-request reference lists into one task;
    ``cursor`` is one task per /collection entity (with its child tables); ``rest`` one task per
    remaining group. Pure so the layout can be unit-tested without Airflow.
    """
    metadata: list[str] = []
    cursor: list[tuple[str, str, list[str]]] = []
    rest: list[tuple[str, str, list[str]]] = []
    for component in resource_components:
        names = sorted(component)
        roots = [n for n in names if n in CURSOR_ENTITIES]
        if roots:
            cursor.append(("cursor", roots[0], names))
        elif all(n in METADATA_TABLES or n in REFERENCE_ENTITIES for n in names):
            metadata.extend(names)
        else:
            entity_roots = [n for n in names if n in {e.name for e in ENTITIES}]
            rest.append(("rest", (entity_roots or names)[0], names))
    order = {e.name: i for i, e in enumerate(ENTITIES)}
    cursor.sort(key=lambda g: order.get(g[1], len(order)))
    rest.sort(key=lambda g: (order.get(g[1], len(order)), g[1]))
    groups = [("metadata", "metadata", sorted(metadata))] if metadata else []
    return groups + cursor + rest


def discover_components(entities: list[str] | None) -> list[list[str]]:
    """Resource groups of the source, found without credentials or requests.

    The source body runs at DAG parse time only to learn its resources; placeholder credentials keep
    dlt from resolving (and Airflow from fetching) secrets here. The real source is built inside
    each task, after the credentials are known.
    """
    structure = pipedrive_source(
        api_token="parse-time-placeholder", base_url="http://parse-time.invalid/api/v1", entities=entities
    )
    return [sorted(c.selected_resources) for c in structure.decompose("scc")]


def pipedrive_credentials(conn_id: str) -> dict[str, Any]:
    """Source arguments from the Airflow connection, {} when it does not exist (dlt looks itself)."""
    try:
        try:
            from airflow.sdk import Connection  # Airflow 3

            conn = Connection.get(conn_id)
        except ImportError:
            from airflow.hooks.base import BaseHook  # Airflow 2.x

            conn = BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException and friends: fall back to dlt's providers
        return {}
    creds: dict[str, Any] = {}
    if conn.password:
        creds["api_token"] = conn.password
    host = (conn.host or "").strip()
    if host.startswith(("http://", "https://")):
        if conn.port and host.count(":") == 1:
            host = f"{host.rstrip('/')}:{conn.port}"
        creds["base_url"] = host if "/api/" in host else f"{host.rstrip('/')}/api/v1"
    elif host:
        creds["company_domain"] = host.split(".")[0]
    return creds


def source_factory(resources: list[str], entities: list[str] | None, conn_id: str, workers: int) -> Callable[[], Any]:
    """Build the source inside the task: credentials resolve on the worker at run time."""

    def build() -> Any:
        source = pipedrive_source(entities=entities, max_workers=workers, **pipedrive_credentials(conn_id))
        return source.with_resources(*resources)

    return build


def make_destination(name: str) -> Any:
    """DuckDB needs an absolute file: the helper points dlt's local dir at a throwaway temp dir."""
    if name == "duckdb":
        home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
        path = setting("PIPEDRIVE_DUCKDB_PATH") or os.path.join(home, "pipedrive_crm.duckdb")
        return dlt.destinations.duckdb(credentials=os.path.abspath(path))
    return name  # dlt resolves the credentials from env / dlt_secrets_toml


def build_dag() -> DAG:
    destination_name = setting("PIPEDRIVE_DESTINATION", "duckdb") or "duckdb"
    dataset = setting("PIPEDRIVE_DATASET", "pipedrive") or "pipedrive"
    conn_id = setting("PIPEDRIVE_CONN_ID", "pipedrive_default") or "pipedrive_default"
    entities_raw = setting("PIPEDRIVE_ENTITIES")
    entities = [e.strip() for e in entities_raw.split(",") if e.strip()] if entities_raw else None
    max_parallel = 1 if destination_name == "duckdb" else int(setting("PIPEDRIVE_MAX_PARALLEL", "3") or 3)
    workers = int(setting("PIPEDRIVE_TASK_WORKERS", "2") or 2)
    pool = setting("PIPEDRIVE_POOL")

    default_args: dict[str, Any] = {
        "owner": "data",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=6),
    }
    if pool:
        default_args["pool"] = pool

    with DAG(
        dag_id=DAG_ID,
        description="Incremental Pipedrive CRM sync with dlt",
        schedule=setting("PIPEDRIVE_SCHEDULE", "@hourly"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,  # incremental state: never two syncs at once
        max_active_tasks=max_parallel,
        default_args=default_args,
        tags=["pipedrive", "dlt"],
    ) as dag:
        # must exist before any dlt.pipeline(): it points dlt's data dir at a fresh temp dir
        tasks = PipelineTasksGroup(
            PIPELINE_PREFIX,
            use_data_folder=False,
            wipe_local_data=True,
            retry_policy=Retrying(
                stop=stop_after_attempt(3), wait=wait_exponential(multiplier=1.5, min=4, max=30), reraise=True
            ),
            retry_pipeline_steps=("load",),
            abort_task_if_any_job_failed=True,
        )
        destination = make_destination(destination_name)
        naming = NamingConvention()
        stage_tasks: dict[str, list[Any]] = {"metadata": [], "cursor": [], "rest": []}
        for stage, group, resources in plan_groups(discover_components(entities)):
            pipeline = dlt.pipeline(
                pipeline_name=naming.normalize_identifier(f"{PIPELINE_PREFIX}_{group}"),
                destination=destination,
                dataset_name=dataset,
            )
            task = tasks.run(
                pipeline,
                source_factory(resources, entities, conn_id, workers),
                loader_file_format="parquet" if destination_name == "duckdb" else None,
                trigger_rule="all_done",  # one entity failing must not starve the others
            )
            stage_tasks[stage].append(task)

        done = EmptyOperator(task_id="done", trigger_rule="all_success")
        previous: list[Any] = []
        for stage in ("metadata", "cursor", "rest"):
            current = stage_tasks[stage]
            if not current:
                continue
            for upstream in previous:
                upstream >> current
            previous = current
        for task in stage_tasks["metadata"] + stage_tasks["cursor"] + stage_tasks["rest"]:
            task >> done
    return dag


dag = build_dag()
