"""The PostgreSQL fixtures start a real, private server that dlt and SQLAlchemy can both use."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path

import dlt
import pytest
import sqlalchemy as sa

from tests.fixtures.postgres import PostgresFixtureError, _find_bindir

pytestmark = pytest.mark.postgres


def test_server_is_postgres_15_on_loopback_with_private_socket(postgres_server):
    assert postgres_server.version.split(".")[0] == "15"
    assert postgres_server.scalar("SHOW listen_addresses") == "127.0.0.1"
    sock_dir = postgres_server.scalar("SHOW unix_socket_directories")
    assert Path(sock_dir) == postgres_server.socket_dir
    assert (postgres_server.socket_dir / f".s.PGSQL.{postgres_server.port}").exists()
    with socket.create_connection(("127.0.0.1", postgres_server.port), timeout=5):
        pass
    assert postgres_server.startup_seconds < 60


def test_module_database_is_fresh_and_usable_through_sqlalchemy(postgres_db):
    engine = postgres_db.engine()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar() == postgres_db.name
        n = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )).scalar()
    assert n == 0
    assert postgres_db.url.startswith("postgresql+psycopg2://postgres:unused@127.0.0.1:")
    assert postgres_db.dlt_credentials == postgres_db.url.replace("+psycopg2", "")


def test_dlt_loads_into_the_module_database(postgres_db, tmp_path):
    pipeline = dlt.pipeline(
        pipeline_name="pg_fixture_check",
        destination=dlt.destinations.postgres(credentials=postgres_db.dlt_credentials),
        dataset_name="fixture_check",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    when = datetime(2026, 7, 1, 12, 30, tzinfo=timezone.utc)
    info = pipeline.run([{"id": 1, "value": 12.5, "update_time": when}], table_name="things")
    info.raise_on_failed_jobs()
    with postgres_db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT id, value, update_time FROM fixture_check.things")).one()
        data_type = conn.execute(sa.text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema='fixture_check' AND table_name='things' AND column_name='update_time'"
        )).scalar()
    assert (row.id, row.value, row.update_time) == (1, 12.5, when)
    assert data_type == "timestamp with time zone"


def test_missing_binaries_fail_with_instructions(tmp_path):
    with pytest.raises(PostgresFixtureError, match="apt-get install postgresql-15"):
        _find_bindir([tmp_path])
