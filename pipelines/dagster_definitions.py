"""Dagster definitions for the Pipedrive sync: one asset per dlt resource, an hourly schedule.

Owns the Dagster wiring only; the sync itself is ``pipedrive_source`` run by ``dagster-dlt``.

- Assets: ``@dlt_assets`` over ``pipedrive_source``; one asset per entity table, keyed
  ``pipedrive/<table>``, group ``pipedrive``. An entity's child tables (``deal_products``,
  ``person_emails``...) and field metadata (``deal_fields``...) come from the same API pages, so
  they are materialised by the entity's asset (listed in its ``pipedrive/tables`` metadata), not
  as assets of their own. Subset materialisation works: only the selected entities are extracted.
- Resources: ``destination`` (:class:`PipedriveDestination`: DuckDB file or Postgres, dataset,
  pipelines dir) and ``pipedrive`` (:class:`PipedriveApi`: optional explicit credentials; when unset
  dlt looks up ``SOURCES__PIPEDRIVE__API_TOKEN`` / ``SOURCES__PIPEDRIVE__BASE_URL`` or
  ``.dlt/secrets.toml``), plus dagster-dlt's ``dlt`` runner.
- Schedule ``pipedrive_hourly`` (cron ``PIPEDRIVE_SCHEDULE_CRON``, default hourly) on job
  ``pipedrive_sync``; state lives in the destination, so each run is incremental.

Install with ``pip install 'pipedrive-source[dagster]'``; run ``dagster dev -f pipelines/dagster_definitions.py``.
Env defaults for the resources: ``PIPEDRIVE_DESTINATION`` (duckdb), ``PIPEDRIVE_DUCKDB_PATH``
(``pipedrive.duckdb``), ``PIPEDRIVE_DATASET`` (crm, as the CLI), ``PIPEDRIVE_PIPELINES_DIR`` (dlt's
default), ``DESTINATION__POSTGRES__CREDENTIALS`` for Postgres.
"""

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    ConfigurableResource,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from pipedrive_source.entities import ENTITY_BY_NAME, table_layout
from pipedrive_source.runner import DEFAULT_DATASET, DEFAULT_DUCKDB, make_pipeline
from pipedrive_source.source import last_context, pipedrive_source

SOURCE_NAME = "pipedrive"
_DESCRIPTIONS = {row["table"]: f'{row["description"]} ({row["strategy"]})' for row in table_layout()}


def tables_of(entity_name: str) -> list[str]:
    """Every table one entity resource writes: itself, its child tables, its field metadata."""
    entity = ENTITY_BY_NAME.get(entity_name)
    return [entity_name] if entity is None else [entity.name, *entity.child_tables]


class PipedriveDestination(ConfigurableResource):
    """Where the sync lands. Built into a fresh dlt pipeline per run (state comes from the destination)."""

    destination: str = "duckdb"  # duckdb | postgres | sqlalchemy
    duckdb_path: str = DEFAULT_DUCKDB  # made absolute, so the run's working dir does not matter
    dataset_name: str = DEFAULT_DATASET
    pipeline_name: str = "pipedrive_dagster"  # keys the incremental state; not shared with the CLI's
    pipelines_dir: str | None = None  # dlt's default when None
    credentials: str | None = None  # postgres/sqlalchemy URL; None = dlt's own lookup

    def pipeline(self) -> dlt.Pipeline:
        return make_pipeline(
            self.destination,
            dataset_name=self.dataset_name,
            pipeline_name=self.pipeline_name,
            duckdb_path=os.path.abspath(self.duckdb_path) if self.destination == "duckdb" else None,
            pipelines_dir=self.pipelines_dir,
            credentials=self.credentials,
        )

    def loader_file_format(self) -> str | None:
        from pipedrive_source.runner import loader_file_format

        return loader_file_format(self.destination)


class PipedriveApi(ConfigurableResource):
    """Pipedrive credentials and source options; None = let dlt resolve them (env, secrets.toml)."""

    api_token: str | None = None
    base_url: str | None = None
    company_domain: str | None = None
    max_workers: int = 4

    def source(self) -> Any:
        explicit = {k: v for k, v in (("api_token", self.api_token), ("base_url", self.base_url),
                                      ("company_domain", self.company_domain)) if v}
        return pipedrive_source(max_workers=self.max_workers, **explicit)



class PipedriveTranslator(DagsterDltTranslator):
    """Keys ``pipedrive/<table>``; children depend on their parent table, roots on nothing external."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        resource = data.resource
        deps: list[AssetKey] = []
        if resource.is_transformer:
            pipe = resource._pipe  # dagster-dlt walks parents the same way
            while pipe.has_parent:
                pipe = pipe.parent
            deps = [AssetKey([SOURCE_NAME, pipe.name])]
        # dagster-dlt maps one dlt resource to one asset; ours also write child and metadata tables
        return spec.replace_attributes(
            key=AssetKey([SOURCE_NAME, resource.name]),
            deps=deps,
            description=_DESCRIPTIONS.get(resource.name, spec.description),
            metadata={**spec.metadata, "pipedrive/tables": ", ".join(tables_of(resource.name))},
        )


# Structure only: dagster needs the resource list when the code location loads. Placeholder
# credentials keep secrets out of definition loading; the run builds the real source and pipeline.
_structure_source = pipedrive_source(
    api_token="definition-time-placeholder", base_url="http://definition-time.invalid/api/v1"
)
_structure_pipeline = dlt.pipeline(
    pipeline_name="pipedrive_dagster",
    destination="duckdb",
    dataset_name=DEFAULT_DATASET,
    pipelines_dir=os.path.join(tempfile.gettempdir(), "pipedrive-dagster-structure"),
)


@dlt_assets(
    dlt_source=_structure_source,
    dlt_pipeline=_structure_pipeline,
    name="pipedrive",
    group_name=SOURCE_NAME,
    dagster_dlt_translator=PipedriveTranslator(),
    pool="pipedrive_api",  # one token, one rate limit: cap concurrent syncs via this pool
)
def pipedrive_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    pipedrive: PipedriveApi,
    destination: PipedriveDestination,
) -> Iterator[Any]:
    source = pipedrive.source()
    sync = last_context()  # the source's shared client and budget flag
    try:
        yield from dlt.run(
            context=context,
            dlt_source=source,
            dlt_pipeline=destination.pipeline(),
            loader_file_format=destination.loader_file_format(),
        )
    finally:
        if sync is not None:
            if sync.budget_error is not None:
                context.log.warning(
                    "stopped by Pipedrive's daily token budget; what was fetched is loaded and the next run "
                    f"continues where this one stopped (resume after {sync.budget_error.resume_at})"
                )
            sync.close()


pipedrive_sync_job = define_asset_job("pipedrive_sync", selection=AssetSelection.assets(pipedrive_assets))

pipedrive_schedule = ScheduleDefinition(
    name="pipedrive_hourly",
    job=pipedrive_sync_job,
    cron_schedule=os.environ.get("PIPEDRIVE_SCHEDULE_CRON", "0 * * * *"),
    execution_timezone="UTC",
)

defs = Definitions(
    assets=[pipedrive_assets],
    jobs=[pipedrive_sync_job],
    schedules=[pipedrive_schedule],
    resources={
        "dlt": DagsterDltResource(),
        "pipedrive": PipedriveApi(),
        "destination": PipedriveDestination(
            destination=os.environ.get("PIPEDRIVE_DESTINATION", "duckdb"),
            duckdb_path=os.environ.get("PIPEDRIVE_DUCKDB_PATH", DEFAULT_DUCKDB),
            dataset_name=os.environ.get("PIPEDRIVE_DATASET", DEFAULT_DATASET),
            pipelines_dir=os.environ.get("PIPEDRIVE_PIPELINES_DIR") or None,
        ),
    },
)
