"""Airflow DAG ``pipedrive_sync``: the Pipedrive sync run by dlt's ``PipelineTasksGroup``.

Owns the task layout, not the sync: every task runs ``pipedrive_source`` (a subset of its resources,
one resource per entity; each entity resource also loads its child tables and field metadata) with
a dlt pipeline. Layout:

    reference (small lists read whole: users, pipelines, stages, currencies, roles, ...)
      -> deals | persons | organizations | activities      (parallel, the /collection cursor entities)
      -> notes | leads | products | files                  (parallel, everything else)
      -> done                                              (fails the run if any task failed)

The first task also creates the dataset and dlt's system tables, so parallel tasks never race to.
Each task has its own dlt pipeline name (``pipedrive_<group>``) so its incremental state is
isolated (parallel tasks sharing one pipeline state would overwrite each other's) and restored
from the destination at the start of the task (the helper wipes the local working dir). All tasks
write the same dataset. A task stopped by the daily token budget loads what it fetched and
succeeds; the next scheduled run continues where it stopped.

Install: ``pip install 'pipedrive-source[airflow]'`` (Airflow 3.x; keep the base project light).
Copy this file into the dags folder. Configuration (env vars of the scheduler/DAG processor and
workers; credentials are resolved in the task, at run time):

- Pipedrive credentials, first match wins: the Airflow connection ``PIPEDRIVE_CONN_ID`` (default
  ``pipedrive_default``: password = API token, host = API base URL such as
  ``https://acme.pipedrive.com/api/v1`` or just a company domain ``acme``); else dlt's own lookup:
  ``SOURCES__PIPEDRIVE__API_TOKEN`` / ``SOURCES__PIPEDRIVE__BASE_URL`` env vars or the Airflow
  Variable ``dlt_secrets_toml`` holding a ``[sources.pipedrive]`` TOML section.
- ``PIPEDRIVE_DESTINATION``: ``duckdb`` (default) or ``postgres`` (credentials via dlt:
  ``DESTINATION__POSTGRES__CREDENTIALS`` or ``dlt_secrets_toml``).
- ``PIPEDRIVE_DUCKDB_PATH``: DuckDB file (default ``$AIRFLOW_HOME/pipedrive.duckdb``).
  DuckDB allows one writer, so with DuckDB the DAG runs one task at a time.
- ``PIPEDRIVE_DATASET`` (default ``crm``, as the CLI), ``PIPEDRIVE_SCHEDULE`` (default ``@hourly``),
  ``PIPEDRIVE_MAX_PARALLEL`` (default 3 tasks at once; each uses ``PIPEDRIVE_TASK_WORKERS`` = 2 HTTP
  workers, which keeps the sum inside Pipedrive's burst limit), ``PIPEDRIVE_POOL`` (an Airflow pool
  to share the API rate limit with other DAGs using the same token), ``PIPEDRIVE_ENTITIES``
  (comma-separated subset), ``PIPEDRIVE_TASK_RETRIES`` (default 3, exponential backoff from 2 min).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dlt
import pendulum
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.helpers.airflow_helper import PipelineTasksGroup
from tenacity import Retrying, stop_after_attempt, wait_exponential

from pipedrive_source.entities import ENTITIES
from pipedrive_source.runner import DEFAULT_DATASET, DEFAULT_DUCKDB, loader_file_format, make_pipeline
from pipedrive_source.source import pipedrive_source

try:  # Airflow 3
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

DAG_ID = "pipedrive_sync"
PIPELINE_PREFIX = "pipedrive"

CURSOR_ENTITIES = frozenset(e.name for e in ENTITIES if e.is_cursor)
# small lists read whole every run, without custom fields: one task, first (it also creates the dataset)
REFERENCE_ENTITIES = frozenset(e.name for e in ENTITIES if e.strategy == "full" and not e.fields_endpoint)


def setting(name: str, default: str | None = None) -> str | None:
    """Layout settings come from env vars only: Variables at parse time cost a lookup per parse."""
    return os.environ.get(name) or default


def plan_groups(resource_components: list[list[str]]) -> list[tuple[str, str, list[str]]]:
    """Sort connected resource groups into (stage, group name, resources), in run order.

    ``reference``: all single small lists in one task; ``cursor``: one task per /collection entity;
    ``rest``: one task per remaining group (incremental lists, products). Pure, so the layout is
    testable without Airflow.
    """
    reference: list[str] = []
    cursor: list[tuple[str, str, list[str]]] = []
    rest: list[tuple[str, str, list[str]]] = []
    for component in resource_components:
        names = sorted(component)
        roots = [n for n in names if n in CURSOR_ENTITIES]
        if roots:
            cursor.append(("cursor", roots[0], names))
        elif all(n in REFERENCE_ENTITIES for n in names):
            reference.extend(names)
        else:
            rest.append(("rest", names[0], names))
    order = {e.name: i for i, e in enumerate(ENTITIES)}
    cursor.sort(key=lambda g: order.get(g[1], len(order)))
    rest.sort(key=lambda g: (order.get(g[1], len(order)), g[1]))
    groups = [("reference", "reference", sorted(reference))] if reference else []
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
    from airflow.exceptions import AirflowNotFoundException

    try:
        try:
            from airflow.sdk import Connection  # Airflow 3

            conn = Connection.get(conn_id)
        except ImportError:
            from airflow.hooks.base import BaseHook  # Airflow 2.x

            conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
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


def make_task_pipeline(group: str, destination: str, dataset: str) -> dlt.Pipeline:
    """One dlt pipeline per task: its name keys the task's own incremental state.

    Created after ``PipelineTasksGroup`` so it lives in the helper's throwaway data dir. DuckDB needs
    an absolute file path: the helper also points dlt's local dir at that throwaway dir.
    """
    name = NamingConvention().normalize_identifier(f"{PIPELINE_PREFIX}_{group}")
    if destination == "duckdb":
        home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
        path = os.path.abspath(setting("PIPEDRIVE_DUCKDB_PATH") or os.path.join(home, DEFAULT_DUCKDB))
        return make_pipeline("duckdb", dataset_name=dataset, pipeline_name=name, duckdb_path=path)
    # postgres / sqlalchemy: credentials from dlt (DESTINATION__POSTGRES__CREDENTIALS, dlt_secrets_toml)
    return make_pipeline(destination, dataset_name=dataset, pipeline_name=name)




def build_dag() -> DAG:
    destination_name = setting("PIPEDRIVE_DESTINATION", "duckdb") or "duckdb"
    dataset = setting("PIPEDRIVE_DATASET", DEFAULT_DATASET) or DEFAULT_DATASET
    conn_id = setting("PIPEDRIVE_CONN_ID", "pipedrive_default") or "pipedrive_default"
    entities_raw = setting("PIPEDRIVE_ENTITIES")
    entities = [e.strip() for e in entities_raw.split(",") if e.strip()] if entities_raw else None
    max_parallel = 1 if destination_name == "duckdb" else int(setting("PIPEDRIVE_MAX_PARALLEL", "3") or 3)
    workers = int(setting("PIPEDRIVE_TASK_WORKERS", "2") or 2)
    pool = setting("PIPEDRIVE_POOL")

    default_args: dict[str, Any] = {
        "owner": "data",
        "retries": int(setting("PIPEDRIVE_TASK_RETRIES", "3") or 0),
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
        stage_tasks: dict[str, list[Any]] = {"reference": [], "cursor": [], "rest": []}
        for stage, group, resources in plan_groups(discover_components(entities)):
            task = tasks.run(
                make_task_pipeline(group, destination_name, dataset),
                source_factory(resources, entities, conn_id, workers),
                loader_file_format=loader_file_format(destination_name),
                trigger_rule="all_done",  # one entity failing must not starve the others
            )
            stage_tasks[stage].append(task)

        done = EmptyOperator(task_id="done", trigger_rule="all_success")
        previous: list[Any] = []
        for stage in ("reference", "cursor", "rest"):
            current = stage_tasks[stage]
            if not current:
                continue
            for upstream in previous:
                upstream >> current
            previous = current
        for task in stage_tasks["reference"] + stage_tasks["cursor"] + stage_tasks["rest"]:
            task >> done
    return dag


dag = build_dag()
