"""Helpers for end-to-end sync tests: run a real sync against a simulator, read tables via SQLAlchemy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from pipedrive_source.db import pipeline_engine, table_counts
from pipedrive_source.runner import SyncResult, make_pipeline, run_sync


def duckdb_pipeline(tmp_path: Path, name: str = "pipedrive") -> Any:
    return make_pipeline("duckdb", duckdb_path=tmp_path / f"{name}.duckdb", pipelines_dir=tmp_path / "dlt",
                         pipeline_name=name)


def destination_pipeline(kind: str, tmp_path: Path, request: Any, prefix: str = "dest") -> Any:
    """A pipeline into ``duckdb``, ``sqlite`` (dlt's sqlalchemy destination) or the suite's ``postgres``
    server, in a dataset of its own per test (the server is shared by the whole session)."""
    if kind == "duckdb":
        return duckdb_pipeline(tmp_path)
    if kind == "sqlite":
        return make_pipeline("sqlalchemy", credentials=f"sqlite:///{tmp_path / 'pipedrive.db'}",
                             pipelines_dir=tmp_path / "dlt")
    pg = request.getfixturevalue("postgres_db")
    return make_pipeline("postgres", credentials=pg.dlt_credentials, pipelines_dir=tmp_path / "dlt",
                         dataset_name=f"{prefix}_{abs(hash(request.node.name)) % 10**8}")


def sync(sim: Any, pipeline: Any, *, token: str | None = None, **kwargs: Any) -> SyncResult:
    kwargs.setdefault("max_workers", 4)
    return run_sync(pipeline, api_token=token or sim.config.api_token, base_url=sim.base_url, **kwargs)


def counts(pipeline: Any) -> dict[str, int]:
    with pipeline_engine(pipeline) as (engine, schema):
        return table_counts(engine, schema)


def rows(pipeline: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run SQL with ``{schema}`` substituted by the dataset's schema."""
    with pipeline_engine(pipeline) as (engine, schema):
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(sql.format(schema=schema)), params).mappings()]


def api(sim: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """Call the simulator's API as the admin (how tests change data between syncs)."""
    r = httpx.request(method, f"{sim.base_url}{path}", headers={"x-api-token": sim.config.api_token}, timeout=30,
                      **kwargs)
    assert r.status_code < 300, (method, path, r.status_code, r.text[:300])
    return r.json()


def api_list(sim: Any, path: str, params: dict[str, Any] | None = None, *, data_key: str | None = None,
             token: str | None = None) -> list[dict[str, Any]]:
    """Every record of a v1 list, paged like any client (offset, cursor or unpaged): test truth read
    through the simulator's HTTP API, independent of the sync's own pagination code."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
    query.setdefault("limit", 100)
    while True:
        r = httpx.get(f"{sim.base_url}{path}", params=query,
                      headers={"x-api-token": token or sim.config.api_token}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        body = r.json()
        data = body.get("data")
        if data_key and isinstance(data, dict):
            data = data.get(data_key)
        out.extend(data or [])
        extra = body.get("additional_data") or {}
        pag = extra.get("pagination") or {}
        if pag.get("more_items_in_collection"):
            query["start"] = pag["next_start"]
        elif extra.get("next_cursor"):
            query["cursor"] = extra["next_cursor"]
        else:
            return out


def sim_stats(sim: Any) -> dict[str, Any]:
    return httpx.get(f"{sim.url}/_sim/stats", timeout=10).json()


def requests_made(stats: dict[str, Any], prefix: str = "") -> int:
    return sum(n for k, n in stats["requests"].items() if k.split(" ", 1)[1].startswith(prefix) or not prefix)
