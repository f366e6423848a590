"""`pipedrive-sync` as users and schedulers run it: a real subprocess against a real simulator and DuckDB file.

Each test runs the installed console script with cwd and DLT_DATA_DIR in tmp_path, so no state leaks between
tests (dlt would otherwise use /var/dlt as root) and the repo's .dlt/ config does not apply.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from pipedrive_source import cli
from pipedrive_source.simulator import SimulatorConfig, run_simulator

REPO = Path(__file__).resolve().parents[1]
SIM_TOKEN = "sim-admin-token"


def _cli_command() -> list[str]:
    script = Path(sys.executable).parent / "pipedrive-sync"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipedrive_source.cli"]


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run pipedrive-sync with a clean dlt environment rooted in `cwd`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION__", "PIPEDRIVE_", "DLT_", "RUNTIME__")) and k != "API_TOKEN"
    }
    base.update({"DLT_DATA_DIR": str(cwd / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false", "COLUMNS": "200"})
    base.update(env or {})
    return subprocess.run(
        _cli_command() + args, cwd=cwd, env=base, capture_output=True, text=True, timeout=timeout
    )


def sim_requests(sim: Any) -> int:
    stats = httpx.get(f"{sim.url}/_sim/stats").json()
    return sum(stats["requests"].values())


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


# -- help, tables, README ---------------------------------------------------------------------------


def test_help_on_every_command(tmp_path: Path) -> None:
    top = run_cli(["--help"], tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("demo", "run", "simulate", "status", "tables"):
        assert command in top.stdout
        proc = run_cli([command, "--help"], tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)
        assert "Usage" in proc.stdout
    # exit codes are documented in the help
    assert "3 stopped by the daily token budget" in run_cli(["run", "--help"], tmp_path).stdout.replace("\n", " ")


def test_tables_markdown_is_the_readme_section(tmp_path: Path) -> None:
    proc = run_cli(["tables", "--markdown"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    readme = (REPO / "README.md").read_text()
    assert cli.readme_tables(readme) == proc.stdout, (
        "README.md's table section is stale: run `pipedrive-sync tables --update-readme README.md`"
    )
    from pipedrive_source.entities import ENTITIES

    listed = {m.group(1) for m in re.finditer(r"^\| `([a-z_]+)` \|", proc.stdout, re.M)}
    for e in ENTITIES:
        assert e.name in listed
        assert {c.table for c in e.children} <= listed
        assert {c.table for c in e.child_lists} <= listed


def test_tables_rich_output(tmp_path: Path) -> None:
    proc = run_cli(["tables"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("deals", "deal_products", "person_emails", "deal_fields", "stages"):
        assert name in proc.stdout


def test_update_readme_rewrites_only_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nbefore\n<!-- tables:start -->\nstale\n<!-- tables:end -->\nafter\n")
    proc = run_cli(["tables", "--update-readme", str(readme)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n<!-- tables:start -->\n| table |")
    assert text.endswith("<!-- tables:end -->\nafter\n")
    assert "stale" not in text
    assert cli.readme_tables(text) == cli.layout_markdown(cli.table_layout())


def test_ci_reads_its_commands_from_the_readme() -> None:
    """.ci/run executes the README's code blocks; both must exist and be the documented commands."""
    script = (REPO / ".ci" / "run").read_text()
    assert "readme_block install" in script and "readme_block test" in script
    out = subprocess.run(
        ["bash", "-c", f'source <(sed -n "/^readme_block()/,/^}}/p" .ci/run); REPO={REPO}; '
         "readme_block install; echo ---; readme_block test"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    install, test = (part.strip() for part in out.split("---"))
    assert "pip install -e '.[dev]'" in install and "pipedrive-sync demo" in install
    assert test == "pytest"


def test_config_toml_lists_every_source_option_at_its_default() -> None:
    """.dlt/config.toml documents each non-secret source argument, commented out, at the signature's default."""
    import inspect
    import tomllib

    from pipedrive_source.source import pipedrive_source

    text = (REPO / ".dlt" / "config.toml").read_text()
    section = text.split("\n[sources.pipedrive]\n", 1)[1].split("\n[", 1)[0]
    documented: dict[str, Any] = {}
    for line in section.splitlines():
        m = re.match(r"^# ([a-z_]+) = (.+?)(\s+#.*)?$", line)
        if m:
            documented[m.group(1)] = tomllib.loads(f"v = {m.group(2)}")["v"]
    secrets = {"api_token", "oauth_client_id", "oauth_client_secret", "oauth_refresh_token"}
    for name, param in inspect.signature(pipedrive_source).parameters.items():
        if name in secrets:
            assert name in (REPO / ".dlt" / "secrets.toml.example").read_text()
            continue
        assert name in documented, f"{name} missing from .dlt/config.toml"
        if isinstance(param.default, (str, int, float, bool)):
            assert documented[name] == param.default, (name, documented[name], param.default)


# -- config errors: exit 2, one line, before any request -------------------------------------------


def test_missing_token_exits_2_without_requests(tmp_path: Path, simulator: Any) -> None:
    proc = run_cli(["run", "--base-url", simulator.base_url, "--progress", "none"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    no_traceback(proc)
    lines = error_lines(proc)
    assert len(lines) == 1 and "token" in lines[0].lower(), proc.stderr
    assert sim_requests(simulator) == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--base-url", "ftp://acme.example/api/v1"], "base"),
        (["--base-url", "not a url"], "base"),
        (["--entities", "deals,unicorns"], "unicorns"),
        (["--destination", "oracle"], "oracle"),
        (["--api-version", "v3"], "api-version"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = run_cli(["run", *args], tmp_path, env={"SOURCES__PIPEDRIVE__API_TOKEN": "x" * 40})
    assert proc.returncode == 2, proc.stderr
    no_traceback(proc)
    lines = error_lines(proc)
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_bad_company_domain_exits_2(tmp_path: Path) -> None:
    proc = run_cli(
        ["run", "--progress", "none"],
        tmp_path,
        env={"SOURCES__PIPEDRIVE__API_TOKEN": "x" * 40, "SOURCES__PIPEDRIVE__COMPANY_DOMAIN": "acme corp/!"},
    )
    assert proc.returncode == 2, proc.stderr
    no_traceback(proc)
    assert len(error_lines(proc)) == 1, proc.stderr


def test_unreachable_postgres_exits_2(tmp_path: Path, simulator: Any) -> None:
    proc = run_cli(
        ["run", "--destination", "postgres", "--base-url", simulator.base_url, "--progress", "none"],
        tmp_path,
        env={
            "SOURCES__PIPEDRIVE__API_TOKEN": SIM_TOKEN,
            "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://nobody:secretpw@127.0.0.1:1/nowhere",
        },
    )
    assert proc.returncode == 2, proc.stderr
    no_traceback(proc)
    assert "secretpw" not in proc.stderr + proc.stdout
    assert sim_requests(simulator) == 0


def test_wrong_token_fails_fast_with_a_clear_message(tmp_path: Path, simulator: Any) -> None:
    wrong = "0123456789abcdef" * 2 + "deadbeef"
    proc = run_cli(
        ["run", "--base-url", simulator.base_url, "--progress", "log"],
        tmp_path,
        env={"SOURCES__PIPEDRIVE__API_TOKEN": wrong},
    )
    assert proc.returncode in (1, 2), proc.stderr
    no_traceback(proc)
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert "401" in lines[0] or "unauthorized" in lines[0].lower()
    assert wrong not in proc.stderr + proc.stdout
    assert sim_requests(simulator) <= 1


# -- demo, status --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("demo")
    proc = run_cli(["demo", "--duckdb-path", "demo.duckdb"], cwd, timeout=600)
    return cwd, proc


DEMO_DEALS = 200  # scale "small"
EXPECTED_DEMO_TABLES = {
    "deals", "persons", "organizations", "activities", "products", "notes", "leads", "users",
    "pipelines", "stages", "deal_fields", "person_emails",
}


def test_demo_end_to_end(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cwd, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    no_traceback(proc)
    out = proc.stdout
    assert re.search(r"\d+ tables, [\d,]+ rows, [\d,]+ requests, [\d,]+ tokens, [\d.]+ s", out), out
    assert "Sample query" in out and "open_deals" in out
    assert "SOURCES__PIPEDRIVE__API_TOKEN" in out  # how to point it at a real Pipedrive
    # not a TTY: plain progress log lines, one per table
    assert re.search(r"^\S+Z progress: table=deals rows=\d+", proc.stderr, re.M), proc.stderr[-2000:]

    db = cwd / "demo.duckdb"
    assert db.exists()
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm'").fetchall()}
        assert EXPECTED_DEMO_TABLES <= tables, EXPECTED_DEMO_TABLES - tables
        counts = {t: con.execute(f"SELECT COUNT(*) FROM crm.{t}").fetchone()[0] for t in EXPECTED_DEMO_TABLES}
    # the simulator's own truth for the same (seed, scale), on the same clock
    with run_simulator(SimulatorConfig(seed=1, scale="small", rate_limit=False)) as truth:
        for entity in ("deals", "persons", "organizations", "activities", "products", "notes", "leads", "users",
                       "pipelines", "stages"):
            expected = truth.company.count(entity, include_deleted_deals=True)
            assert counts[entity] == expected, (entity, counts[entity], expected)
    assert counts["deal_fields"] > 0 and counts["person_emails"] > 0
    # the summary's row counts are the rows that landed
    summary_deals = re.search(r"│ deals\s+│\s+([\d,]+) │", out)
    assert summary_deals and int(summary_deals.group(1).replace(",", "")) == counts["deals"]


def table_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm' "
            "AND table_name NOT LIKE '_dlt%'").fetchall()]
        return {t: con.execute(f"SELECT COUNT(*) FROM crm.{t}").fetchone()[0] for t in names}


def test_demo_again_is_incremental(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Same seed, nothing changed: the re-run is cheap and leaves every table exactly as it was."""
    cwd, first = demo_run
    assert first.returncode == 0
    requests_first = int(re.search(r"rows, ([\d,]+) requests", first.stdout).group(1).replace(",", ""))
    before = table_counts(cwd / "demo.duckdb")
    again = run_cli(["demo", "--duckdb-path", "demo.duckdb", "--quiet"], cwd, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout == ""  # --quiet
    after = table_counts(cwd / "demo.duckdb")
    changed = {t: (before.get(t), after.get(t)) for t in set(before) | set(after) if before.get(t) != after.get(t)}
    assert not changed, f"an incremental re-run with no changes altered tables (before, after): {changed}"
    last = json.loads(next((cwd / "dlt").rglob(cli.LAST_RUN_FILE)).read_text())
    assert last["exit_code"] == 0
    assert last["requests"] < requests_first / 2


def test_status_after_demo(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cwd, first = demo_run
    assert first.returncode == 0
    proc = run_cli(["status", "--pipeline-name", cli.DEMO_PIPELINE, "--json"], cwd)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["destination"] == "duckdb" and report["dataset"] == "crm"
    assert report["entities"]["deals"]["rows_in_destination"] == DEMO_DEALS
    assert any("last_until" in k for k in report["entities"]["deals"]["window"]), report["entities"]["deals"]
    assert report["last_run"]["exit_code"] == 0 and report["last_run"]["requests"] > 0
    assert report["daily_budget_seen"]
    human = run_cli(["status", "--pipeline-name", cli.DEMO_PIPELINE], cwd)
    assert human.returncode == 0, human.stderr
    assert re.search(r"│ deals +│ until 20\d\d-\d\d-\d\d", human.stdout), human.stdout


def test_status_without_a_pipeline_exits_2(tmp_path: Path) -> None:
    proc = run_cli(["status", "--pipeline-name", "never_ran"], tmp_path)
    assert proc.returncode == 2
    no_traceback(proc)
    assert "never_ran" in proc.stderr


# -- daily budget: exit 3, then a resumed run exits 0 ------------------------------------------------


def test_budget_exhaustion_exits_3_then_resumes(tmp_path: Path, simulator_factory: Any) -> None:
    sim = simulator_factory(scale=60, daily_budget=BUDGET_TOKENS)
    env = {"SOURCES__PIPEDRIVE__API_TOKEN": SIM_TOKEN}
    args = ["run", "--base-url", sim.base_url, "--entities", BUDGET_ENTITIES, "--progress", "log"]
    first = run_cli(args, tmp_path, env=env)
    assert first.returncode == 3, first.stderr[-3000:]
    no_traceback(first)
    assert "budget" in first.stdout.lower()
    assert httpx.post(f"{sim.url}/_sim/day").status_code == 200
    second = run_cli(args, tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "pipedrive.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM crm.deals").fetchone()[0] == 60


BUDGET_ENTITIES = "deals,persons,organizations"
# a full sync of these at scale 60 costs ~4,600 tokens: with the default 20% reserve the first run stops at
# 4,000 spent, and the resumed run (after POST /_sim/day resets the budget) needs far less than that
BUDGET_TOKENS = 5_000


def test_progress_maps_requests_to_tables() -> None:
    from pipedrive_source.progress import table_of

    assert table_of("GET /v1/deals/collection") == "deals"
    assert table_of("GET /v1/deals/{id}/products") == "deal_products"
    assert table_of("GET /v1/persons/12/followers") == "person_followers"
    assert table_of("GET /v1/dealFields") == "deal_fields"
    assert table_of("GET /api/v2/deals") == "deals"
    assert table_of("GET /v1/callLogs") == "call_logs"
    assert table_of("nonsense") is None


def test_simulate_serves_until_interrupted(tmp_path: Path) -> None:
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    proc = subprocess.Popen(
        _cli_command() + ["simulate", "--port", "0", "--scale", "20", "--daily-budget", "1234"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = None
        for _ in range(20):
            line = proc.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+)/api/v1", line)
            if m:
                url = m.group(1)
                break
        assert url, "simulate did not announce its URL"
        stats = httpx.get(f"{url}/_sim/stats").json()
        assert stats["tokens_limit"] == 1234
        deals = httpx.get(f"{url}/api/v1/deals", params={"limit": 500},
                          headers={"x-api-token": SIM_TOKEN}).json()["data"]
        assert len(deals) == 20
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read()


def test_simulate_bad_option_exits_2(tmp_path: Path) -> None:
    proc = run_cli(["simulate", "--plan", "platinum"], tmp_path)
    assert proc.returncode == 2
    assert "platinum" in proc.stderr


@pytest.mark.postgres
def test_run_into_postgres_then_status(tmp_path: Path, simulator: Any, postgres_db: Any) -> None:
    """The production path: credentials only from env vars, Postgres destination, then `status` reads it back."""
    env = {
        "SOURCES__PIPEDRIVE__API_TOKEN": SIM_TOKEN,
        "DESTINATION__POSTGRES__CREDENTIALS": postgres_db.dlt_credentials,
    }
    args = ["run", "--destination", "postgres", "--dataset", "cli_run", "--base-url", simulator.base_url,
            "--entities", "deals,stages", "--progress", "log"]
    proc = run_cli(args, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    no_traceback(proc)
    import sqlalchemy as sa

    with postgres_db.engine().connect() as conn:
        deals = conn.execute(sa.text("SELECT COUNT(*) FROM cli_run.deals")).scalar_one()
    assert deals == simulator.company.count("deals", include_deleted_deals=True)
    status = run_cli(["status", "--json"], tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["destination"] == "postgres"
    assert report["entities"]["deals"]["rows_in_destination"] == deals
    assert postgres_db.dlt_credentials.split("@")[0].split(":")[-1] not in status.stdout  # no password shown


def _script_env(cwd: Path, sim: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update({"DLT_DATA_DIR": str(cwd / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
                "SOURCES__PIPEDRIVE__API_TOKEN": SIM_TOKEN, "SOURCES__PIPEDRIVE__BASE_URL": sim.base_url, **extra})
    return env


def test_pipeline_script_duckdb_template(tmp_path: Path, simulator_factory: Any) -> None:
    sim = simulator_factory(scale=20, rate_limit=False)
    script = REPO / "pipelines" / "pipedrive_to_duckdb.py"
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_script_env(tmp_path, sim),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok: ")
    with duckdb.connect(str(tmp_path / "pipedrive.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM crm.deals").fetchone()[0] == 20


@pytest.mark.postgres
def test_pipeline_script_postgres_template(tmp_path: Path, simulator_factory: Any, postgres_db: Any) -> None:
    sim = simulator_factory(scale=20, rate_limit=False)
    script = REPO / "pipelines" / "pipedrive_to_postgres.py"
    env = _script_env(tmp_path, sim, DESTINATION__POSTGRES__CREDENTIALS=postgres_db.dlt_credentials)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import sqlalchemy as sa

    with postgres_db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM crm.deals")).scalar_one() == 20


def test_cron_example_treats_budget_stop_as_success(tmp_path: Path, simulator_factory: Any) -> None:
    """The cron wrapper for real: a budget stop (exit 3) is "continue next time" (0), a config error stays 2."""
    sim = simulator_factory(scale=60, daily_budget=BUDGET_TOKENS)
    env = _script_env(tmp_path, sim, VENV=str(Path(sys.executable).parent.parent), WORKDIR=str(tmp_path),
                      DESTINATION="duckdb")
    script = str(REPO / "pipelines" / "cron_example.sh")
    env["SOURCES__PIPEDRIVE__ENTITIES"] = '["deals", "persons", "organizations"]'
    proc = subprocess.run(["bash", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "daily token budget reached" in proc.stdout
    env.pop("SOURCES__PIPEDRIVE__API_TOKEN")
    proc = subprocess.run(["bash", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "configuration error" in proc.stdout


def test_reconcile_flag_detects_a_deleted_person(tmp_path: Path, simulator_factory: Any) -> None:
    """`--reconcile` forces the id reconciliation that `reconcile = "daily"` already ran today."""
    sim = simulator_factory(scale=20, rate_limit=False)
    env = {"SOURCES__PIPEDRIVE__API_TOKEN": SIM_TOKEN}
    args = ["run", "--base-url", sim.base_url, "--entities", "persons", "--progress", "none"]
    assert run_cli(args, tmp_path, env=env).returncode == 0
    victim = next(iter(sim.company.visible_ids("persons")))
    resp = httpx.delete(f"{sim.base_url}/persons/{victim}", headers={"x-api-token": SIM_TOKEN})
    assert resp.status_code == 200, resp.text

    def flagged() -> bool | None:
        with duckdb.connect(str(tmp_path / "pipedrive.duckdb"), read_only=True) as con:
            row = con.execute("SELECT is_deleted FROM crm.persons WHERE id = ?", [victim]).fetchone()
        return None if row is None else bool(row[0])

    second = run_cli(args, tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert flagged() is False  # the daily reconciliation already ran today
    third = run_cli([*args, "--reconcile"], tmp_path, env=env)
    assert third.returncode == 0, third.stderr[-2000:]
    assert flagged() is True


def test_run_with_oauth_from_env(tmp_path: Path, simulator_factory: Any) -> None:
    """OAuth as the README documents it: client id/secret + refresh token from env; the rotated pair lives in the
    token file, so the second run works although the env's refresh token was used up by the first."""
    sim = simulator_factory(scale=20, rate_limit=False, oauth_client=("cli-client", "cli-secret"))
    refresh = sim.oauth_tokens()["refresh_token"]
    env = {
        "SOURCES__PIPEDRIVE__OAUTH_CLIENT_ID": "cli-client",
        "SOURCES__PIPEDRIVE__OAUTH_CLIENT_SECRET": "cli-secret",
        "SOURCES__PIPEDRIVE__OAUTH_REFRESH_TOKEN": refresh,
        "SOURCES__PIPEDRIVE__OAUTH_TOKEN_URL": f"{sim.url}/oauth/token",
    }
    args = ["run", "--base-url", sim.base_url, "--entities", "deals", "--progress", "none"]
    first = run_cli(args, tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    token_file = tmp_path / ".pipedrive" / "oauth_token.json"
    assert token_file.exists() and (token_file.stat().st_mode & 0o777) == 0o600
    assert refresh not in first.stdout + first.stderr and "cli-secret" not in first.stdout + first.stderr
    second = run_cli(args, tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "pipedrive.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM crm.deals").fetchone()[0] == 20
