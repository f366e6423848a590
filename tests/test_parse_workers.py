"""Parse workers (``parse_processes``): full ``/collection`` pages decoded and transformed in child
processes load exactly the tables the sync process makes itself; a worker that dies, a killed sync
and secrets in the environment lose nothing and leak nothing. Real simulator, real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pyarrow as pa
import pytest

from pipedrive_source.context import SyncContext
from pipedrive_source.entities import ENTITY_BY_NAME
from pipedrive_source.options import ConfigError, build_options, parse_processes_for
from pipedrive_source.page_rows import has_children
from pipedrive_source.envelope import PREPARED_KEY, decode_body
from pipedrive_source.parse_pool import WORKER_MAIN
from pipedrive_source.parse_worker import PageWorker, Setup
from pipedrive_source.runner import EXIT_OK
from pipedrive_source.simulator import SimulatorConfig, run_simulator
from pipedrive_source.transform import PageTransformer
from tests.reliability.harness import cli_command
from tests.reliability.truth import compare, duckdb_query, pipeline_query
from tests.sync_helpers import counts, duckdb_pipeline, rows, sync

CURSOR = ["deals", "persons", "organizations", "activities"]
DEALS = 3000  # slices of 1,500 deals: the first page of a slice is parsed here, the next ones in workers


def _tables(pipeline: Any) -> dict[str, list[str]]:
    """Every row of every table (dlt's load id aside), sorted: equal dumps = equal tables."""
    out: dict[str, list[str]] = {}
    for table in sorted(counts(pipeline)):
        got = rows(pipeline, f"select * from {{schema}}.{table}")
        out[table] = sorted(repr(sorted((k, v) for k, v in r.items() if k not in ("_dlt_load_id", "_dlt_id")))
                            for r in got)
    return out


def _workers_of(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if WORKER_MAIN in " ".join(p.cmdline())]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


class WorkerWatch:
    """Samples the parse workers of process ``pid`` while a sync runs: what they were started with,
    and (optionally) does something to them once they have done some work."""

    def __init__(self, pid: int, on_busy: Callable[[psutil.Process], None] | None = None,
                 busy_cpu_s: float = 0.3) -> None:
        self.pid, self.on_busy, self.busy_cpu_s = pid, on_busy, busy_cpu_s
        self.seen: dict[int, psutil.Process] = {}
        self.environ: dict[int, dict[str, str]] = {}
        self.acted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in _workers_of(self.pid):
                try:
                    if proc.pid not in self.seen:
                        self.seen[proc.pid] = proc
                        self.environ[proc.pid] = proc.environ()
                    if self.on_busy and proc.pid not in self.acted and sum(proc.cpu_times()[:2]) >= self.busy_cpu_s:
                        self.acted.append(proc.pid)
                        self.on_busy(proc)
                except psutil.NoSuchProcess:
                    continue
            self._stop.wait(0.05)


@pytest.fixture(scope="module")
def big_company() -> Iterator[Any]:
    with run_simulator(SimulatorConfig(scale=DEALS, rate_limit=False)) as sim:
        yield sim


@pytest.fixture(scope="module")
def reference(big_company: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The cursor entities synced with every page parsed in the sync process."""
    p = duckdb_pipeline(tmp_path_factory.mktemp("reference"))
    res = sync(big_company, p, entities=CURSOR, children=False, max_workers=1, parse_processes=0)
    assert res.exit_code == EXIT_OK, res.message
    assert res.parse_workers["processes"] == 0
    return {"tables": _tables(p), "rows": res.rows}


def test_pages_parsed_in_workers_load_the_same_tables(big_company: Any, reference: dict[str, Any], tmp_path,
                                                      caplog) -> None:
    p = duckdb_pipeline(tmp_path)
    with caplog.at_level(logging.WARNING, logger="pipedrive_source"):
        res = sync(big_company, p, entities=CURSOR, children=False, max_workers=1, parse_processes=2)
    assert res.exit_code == EXIT_OK, res.message
    assert res.parse_workers["processes"] == 2
    # the first page or two of a slice (fetched before one was transformed) are parsed here
    assert res.parse_workers["pages"] >= 4, res.parse_workers
    assert res.rows == reference["rows"]
    got = _tables(p)
    assert got.keys() == reference["tables"].keys()
    for table, want in reference["tables"].items():
        assert got[table] == want, table
    # dirty values found in a worker are reported by the sync process (the simulator's company has some)
    assert any("no such option" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "parse worker" in r.getMessage()]  # none died, none failed


@pytest.mark.parametrize("entity", ["deals", "persons", "organizations"])
def test_a_worker_page_decides_per_parent_children_like_a_local_page(big_company: Any, entity: str) -> None:
    """Per-parent children (products, participants, followers) are fetched for the rows a page yields;
    a worker hands back only the keys that decision reads, and they decide the same as the full rows."""
    body = httpx.get(f"{big_company.base_url}/{entity}/collection", params={"limit": 500},
                     headers={"x-api-token": big_company.config.api_token}, timeout=30).content
    ctx = SyncContext(build_options(api_token="unused", base_url="http://127.0.0.1:9"))
    local = PageTransformer(ENTITY_BY_NAME[entity], ctx, {})
    _, full_rows = local.transform_rows(orjson.loads(body)["data"])
    answer = PageWorker().handle(entity, Setup(entity, None, None, "labels", True), {}, body)
    worker_rows = answer[PREPARED_KEY].rows
    children = ENTITY_BY_NAME[entity].children
    assert children and len(worker_rows) == len(full_rows) == 500
    for mine, full in zip(worker_rows, full_rows):
        assert mine["id"] == full["id"] and mine["is_deleted"] == full["is_deleted"]
        assert [mine.get(c.count_field) for c in children if c.count_field] == \
            [full.get(c.count_field) for c in children if c.count_field]
        assert [has_children(mine, c) for c in children] == [has_children(full, c) for c in children]
    assert any(has_children(r, c) for r in worker_rows for c in children if c.count_field)


def test_a_parse_worker_that_dies_mid_run_loses_nothing(big_company: Any, reference: dict[str, Any], tmp_path,
                                                        caplog) -> None:
    p = duckdb_pipeline(tmp_path)
    with WorkerWatch(os.getpid(), on_busy=lambda proc: proc.send_signal(signal.SIGKILL), busy_cpu_s=0.25) as watch, \
            caplog.at_level(logging.WARNING, logger="pipedrive_source"):
        res = sync(big_company, p, entities=CURSOR, children=False, max_workers=1, parse_processes=1)
    assert res.exit_code == EXIT_OK, res.message
    assert watch.acted, "the worker was never busy enough to be killed"
    assert any("parse worker stopped answering" in r.getMessage() for r in caplog.records)
    assert res.parse_workers["fallbacks"] > 0  # the pages after its death were parsed in the sync process
    assert res.rows == reference["rows"]
    assert _tables(p) == reference["tables"]


def test_a_fault_storm_while_workers_parse_is_exact(simulator_factory, tmp_path) -> None:
    """Truncated JSON and HTML pages reach a worker first: it hands them back, the sync process judges
    them garbage and the client retries, exactly as without workers."""
    storm = "500:0.05,502:0.05,reset:0.04,truncate:0.06,html200:0.06,429:0.02@1x3,seed=11"
    sim = simulator_factory(scale=DEALS, rate_limit=False, faults=storm)
    p = duckdb_pipeline(tmp_path)
    res = sync(sim, p, entities=CURSOR, children=False, max_workers=1, parse_processes=2)
    injected = sim.stats().get("faults", {})
    sim.set_faults(None)
    assert res.exit_code == EXIT_OK, res.message
    assert injected.get("truncate", 0) + injected.get("html200", 0) >= 2, injected
    assert res.parse_workers["pages"] >= 4, res.parse_workers
    diff = compare(sim.company, pipeline_query(p), entities=tuple(CURSOR), children=())
    assert diff.exact, diff.explain()


def test_parse_workers_get_no_secrets_and_do_not_outlive_the_sync(big_company: Any, tmp_path, monkeypatch) -> None:
    token = big_company.config.api_token
    monkeypatch.setenv("SOURCES__PIPEDRIVE__API_TOKEN", token)
    monkeypatch.setenv("SOURCES__PIPEDRIVE__OAUTH_CLIENT_SECRET", "oauth-secret-for-the-test")
    p = duckdb_pipeline(tmp_path)
    with WorkerWatch(os.getpid()) as watch:
        res = sync(big_company, p, entities=["deals"], children=False, max_workers=1, parse_processes=2)
    assert res.exit_code == EXIT_OK, res.message
    assert len(watch.seen) == 2
    for pid, env in watch.environ.items():
        leaked = [k for k, v in env.items() if token in v or "oauth-secret-for-the-test" in v]
        assert not leaked, (pid, leaked)
    assert not [pid for pid in watch.seen if psutil.pid_exists(pid)], "a parse worker outlived the sync"


def test_a_killed_sync_leaves_no_parse_worker_and_the_next_run_is_exact(tmp_path: Path) -> None:
    """SIGKILL of the sync process alone (as the OOM killer does): its workers see their input close and
    exit; the next run completes the backfill with nothing lost or duplicated."""
    with run_simulator(SimulatorConfig(scale=DEALS, rate_limit=False)) as sim:
        db, dlt_dir = tmp_path / "kill.duckdb", tmp_path / "dlt"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
        env.update({"SOURCES__PIPEDRIVE__API_TOKEN": sim.config.api_token, "SOURCES__PIPEDRIVE__BASE_URL": sim.base_url,
                    "SOURCES__PIPEDRIVE__PARSE_PROCESSES": "1", "SOURCES__PIPEDRIVE__MAX_WORKERS": "1",
                    "SOURCES__PIPEDRIVE__CHILDREN": "false", "RUNTIME__LOG_LEVEL": "WARNING"})
        cmd = [*cli_command(), "run", "--duckdb-path", str(db), "--pipelines-dir", str(dlt_dir), "--progress", "none",
               "--entities", ",".join(CURSOR)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed: list[int] = []

        def kill_sync(_: psutil.Process) -> None:
            killed.append(proc.pid)
            proc.send_signal(signal.SIGKILL)

        with WorkerWatch(proc.pid, on_busy=kill_sync, busy_cpu_s=0.25) as watch:  # start-up takes < 0.1 s
            proc.wait(timeout=180)
        assert killed and proc.returncode == -signal.SIGKILL, "the sync ended before its workers got busy"
        deadline = time.monotonic() + 15
        while [pid for pid in watch.seen if psutil.pid_exists(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in watch.seen if psutil.pid_exists(pid)], "parse workers outlived a killed sync"
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        diff = compare(sim.company, duckdb_query(db), entities=tuple(CURSOR), children=())
        assert diff.exact, diff.explain()


def test_a_page_whose_column_types_disagree_is_transformed_again_here() -> None:
    """A worker types a new column from its page; when the sync process has typed that column differently
    in the meantime (another page), the sync process's type wins: the page is transformed here again."""
    ctx = SyncContext(build_options(api_token="unused", base_url="http://127.0.0.1:9"))
    body = orjson.dumps({"success": True, "data": [{"id": 1, "probability": 50, "title": "a"}]})
    worker = PageWorker()

    def prepared_page() -> Any:
        answer = worker.handle("deals", Setup("deals", None, None, "labels", False), {}, body)
        prepared = answer[PREPARED_KEY]
        prepared.content = body
        return prepared

    agreeing = PageTransformer(ENTITY_BY_NAME["deals"], ctx, {})
    page = prepared_page()
    worker_type = page.types["deals"]["probability"]
    assert worker_type != "text"
    (item,), _ = agreeing.adopt(page)
    assert item.data is page.tables[0][1]  # the worker's table, as it came
    assert agreeing.types["deals"]["probability"] == worker_type  # learned from the worker

    disagreeing = PageTransformer(ENTITY_BY_NAME["deals"], ctx, {"column_types": {"deals": {"probability": "text"}}})
    (item,), rows_ = disagreeing.adopt(prepared_page())
    assert item.data.schema.field("probability").type == pa.string()
    assert item.data.column("probability").to_pylist() == ["50"]
    assert rows_[0]["id"] == 1


@pytest.mark.parametrize("value, want", [("0", 0), (3, 3), ("auto", None)])
def test_parse_processes_setting(value: object, want: int | None) -> None:
    cores = os.cpu_count() or 1
    expected = (0 if cores < 2 else min(4, cores)) if want is None else want
    assert parse_processes_for(value) == expected


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_bad_parse_processes_setting_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="parse_processes"):
        parse_processes_for(value)


def test_an_api_body_cannot_pose_as_a_worker_page() -> None:
    envelope, garbage = decode_body(b'{"success": true, "data": [{"id": 1}], "_prepared": {"tables": []}}')
    assert garbage is None and envelope == {"success": True, "data": [{"id": 1}]}
