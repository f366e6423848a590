"""Cached, per-orchestrator virtual environments for the orchestration tests.

Why: Airflow and Dagster are heavy, bring their own pins, and must never enter the project's base
install or the shared dev venv. Each orchestrator gets its own venv under
``~/.cache/pipedrive-source/venvs/<kind>-<hash>`` (override the root with ``PIPEDRIVE_ORCH_VENVS``).
The venv holds the project's *dependencies* (``pyproject.toml`` + the kind's extras), not the
project: tests run the orchestrator with ``PYTHONPATH`` at the checkout (see ``harness.clean_env``),
so any checkout, including CI's fresh copy, reuses it and code changes need no rebuild. The hash
covers the Python version and ``pyproject.toml``; a dependency change builds a fresh venv.

Run as a script to build them ahead of the tests (CI does this to show the time taken):
    python -m tests.orchestration.venvs airflow dagster
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# kind -> pyproject extras (postgres: the Airflow tests also run parallel tasks against PostgreSQL)
KINDS: dict[str, tuple[str, ...]] = {"airflow": ("airflow", "postgres"), "dagster": ("dagster",)}
_DONE = ".pipedrive-venv-ok"
_FORMAT = "2"  # bump when the way a venv is built changes


def venvs_root() -> Path:
    """Where the venvs live; a cache dir so CI re-runs on the same machine are fast."""
    env = os.environ.get("PIPEDRIVE_ORCH_VENVS")
    return Path(env) if env else Path.home() / ".cache" / "pipedrive-source" / "venvs"


def requirements_hash(kind: str) -> str:
    """Hash of everything that decides the venv's content."""
    h = hashlib.sha256()
    for part in (_FORMAT, kind, ",".join(KINDS[kind]), sys.version, (REPO / "pyproject.toml").read_text()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def venv_path(kind: str) -> Path:
    return venvs_root() / f"{kind}-{requirements_hash(kind)}"


def venv_python(path: Path) -> Path:
    return path / "bin" / "python"


def _run(cmd: list[str], log) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def ensure_venv(kind: str, *, quiet: bool = True) -> Path:
    """Return the venv for ``kind``, building it once (process-safe via a lock file)."""
    if kind not in KINDS:
        raise ValueError(f"unknown orchestrator {kind!r}; valid: {sorted(KINDS)}")
    path = venv_path(kind)
    if (path / _DONE).exists():
        os.utime(path / _DONE)  # "last used", for pruning
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / _DONE).exists():
            return path
        if path.exists():
            shutil.rmtree(path)  # a half-built venv from an interrupted run
        log_path = path.parent / f"{path.name}.log"
        started = time.monotonic()
        with open(log_path, "w") as log:
            try:
                _build(kind, path, log)
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"building the {kind} venv failed: {exc}; see {log_path}") from None
        seconds = time.monotonic() - started
        (path / _DONE).write_text(f"{seconds:.1f}\n")
        if not quiet:
            print(f"{kind} venv built in {seconds:.0f}s: {path}", file=sys.stderr)
    _prune(kind, keep=path)
    return path


def _prune(kind: str, keep: Path) -> None:
    """Drop venvs of other requirement hashes (Airflow's is ~500 MB) unused for an hour.

    The hour spares other checkouts on the machine (other pyproject) running their tests right now.
    """
    for lock_path in keep.parent.glob(f"{kind}-*.lock"):
        old = lock_path.with_suffix("")
        if old == keep:
            continue
        try:
            if time.time() - (old / _DONE).stat().st_mtime < 3600:
                continue
        except OSError:  # half-built or foreign: leave it
            continue
        with open(lock_path, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(old, ignore_errors=True)
            old.with_suffix(".log").unlink(missing_ok=True)
        lock_path.unlink(missing_ok=True)


def _build(kind: str, path: Path, log) -> None:
    """venv + uv (much faster than pip on Airflow's ~150 packages) + the project's deps with the extras."""
    _run([sys.executable, "-m", "venv", str(path)], log)
    py = str(venv_python(path))
    _run([py, "-m", "pip", "install", "--quiet", "uv"], log)
    extras = [arg for extra in KINDS[kind] for arg in ("--extra", extra)]
    _run([str(path / "bin" / "uv"), "pip", "install", "--python", py, "-r", str(REPO / "pyproject.toml"), *extras],
         log)


def build_time(path: Path) -> float | None:
    """Seconds the build took (recorded at build time), None if unknown."""
    try:
        return float((path / _DONE).read_text().split()[0])
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(KINDS):
        p = ensure_venv(name, quiet=False)
        print(f"{name}: {p} (built in {build_time(p)}s)")
