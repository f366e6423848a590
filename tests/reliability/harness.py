"""Run ``pipedrive-sync run`` as a real subprocess and SIGKILL it at a chosen point.

Kill triggers (``Trigger``):
- ``requests``: once the simulator has answered N API requests of this run (extract phase);
- ``normalize``: once dlt has an extracted package waiting in ``normalize/extracted`` (+ a delay);
- ``load``: once a normalized package sits in ``load/normalized`` (+ a delay);
- ``delay``: after a fixed number of seconds.

The phase the pipeline was in when the signal landed is read back from dlt's working directory
(``killed_in``), so the report says where each kill really happened, not where it was aimed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PIPELINE = "pipedrive"


@dataclass(frozen=True)
class Trigger:
    kind: str  # requests | normalize | load | delay | none
    value: float = 0.0  # request count, or seconds
    delay: float = 0.0  # extra wait after a stage trigger fired

    def __str__(self) -> str:
        if self.kind == "requests":
            return f"after {int(self.value)} requests"
        if self.kind in ("normalize", "load"):
            return f"{self.kind} +{self.delay:.2f}s"
        return self.kind if self.kind == "none" else f"after {self.value:.2f}s"


def _nonempty(path: Path) -> bool:
    try:
        return any(path.iterdir())
    except OSError:
        return False


def pipeline_phase(pipelines_dir: Path) -> str:
    """Which step a killed run left work for: load > normalize > extract."""
    work = pipelines_dir / PIPELINE
    if _nonempty(work / "load" / "normalized") or _nonempty(work / "load" / "new"):
        return "load"
    if _nonempty(work / "normalize" / "extracted"):
        return "normalize"
    return "extract"


def cli_command() -> list[str]:
    exe = Path(sys.executable).with_name("pipedrive-sync")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from pipedrive_source.cli import main; sys.exit(main())"]


@dataclass
class RunOutcome:
    returncode: int
    killed: bool
    killed_in: str | None  # phase at the moment of the kill
    trigger: str
    stdout: str
    stderr: str
    seconds: float


def run_cli(sim: Any, token: str, duckdb_path: Path, pipelines_dir: Path, *, trigger: Trigger | None = None,
            extra_args: list[str] | None = None, env: dict[str, str] | None = None,
            timeout: float = 180.0) -> RunOutcome:
    """One ``pipedrive-sync run`` against ``sim``; SIGKILL at ``trigger`` (None = run to the end)."""
    trigger = trigger or Trigger("none")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    full_env.update({
        "SOURCES__PIPEDRIVE__API_TOKEN": token,
        "SOURCES__PIPEDRIVE__BASE_URL": sim.base_url,
        "RUNTIME__LOG_LEVEL": "WARNING",
    })
    full_env.update(env or {})
    cmd = [*cli_command(), "run", "--duckdb-path", str(duckdb_path), "--pipelines-dir", str(pipelines_dir),
           "--progress", "none", *(extra_args or [])]
    base = sum(sim.stats()["requests"].values()) if trigger.kind == "requests" else 0
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            start_new_session=True)
    fired: dict[str, Any] = {}
    done = threading.Event()

    def watch() -> None:
        deadline = started + timeout
        fire_at: float | None = None
        while not done.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if fire_at is None:
                due_by_time = trigger.kind == "delay" and now - started >= trigger.value
                due_by_requests = trigger.kind == "requests" and (
                    sum(sim.stats()["requests"].values()) - base >= trigger.value)
                if due_by_time or due_by_requests:
                    fire_at = now
                elif trigger.kind in ("normalize", "load") and pipeline_phase(pipelines_dir) == trigger.kind:
                    fire_at = now + trigger.delay
            if fire_at is not None and now >= fire_at:
                if proc.poll() is None:
                    fired["phase"] = pipeline_phase(pipelines_dir)
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # the session we started for this run
                    except ProcessLookupError:
                        fired.pop("phase", None)
                return
            time.sleep(0.002 if trigger.kind != "requests" else 0.005)

    watcher = threading.Thread(target=watch, daemon=True) if trigger.kind != "none" else None
    if watcher:
        watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"sync did not finish within {timeout}s:\n{out[-2000:]}\n{err[-2000:]}") from None
    finally:
        done.set()
        if watcher:
            watcher.join(5)
    killed = proc.returncode == -signal.SIGKILL
    return RunOutcome(proc.returncode, killed, fired.get("phase") if killed else None, str(trigger), out, err,
                      round(time.monotonic() - started, 2))
