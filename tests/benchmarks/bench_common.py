"""Shared plumbing of the sync benchmarks (owned by reliability): a simulator in its own process,
its admin stats, peak RSS of a sync run in a child process, and the printed table + JSON report.

The simulator runs as ``python -m pipedrive_source.simulator`` in a separate process so that the
benchmarked sync does not share an interpreter (and a GIL) with the server it reads from.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT_DIR = Path("/tmp/pipedrive-bench")
API_TOKEN = "bench-admin-token"
CURSOR_ENTITIES = ["deals", "persons", "organizations", "activities"]
PAGE = 500  # /collection page size the source asks for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SimProcess:
    """A simulator serving from a child process."""

    proc: subprocess.Popen[str]
    url: str
    base_url: str
    ready_seconds: float

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sim/stats", timeout=60).json()

    def reset(self, limits: bool = True) -> None:
        httpx.post(f"{self.url}/_sim/reset", json={"limits": limits}, timeout=60).raise_for_status()

    def clock(self, **body: Any) -> dict[str, Any]:
        return httpx.post(f"{self.url}/_sim/clock", json=body, timeout=60).json()

    def cpu_seconds(self) -> float:
        """CPU the simulator has used so far: the benchmark target shares the machine's cores with
        the sync, so its share bounds what the sync can reach."""
        return cpu_seconds(self.proc.pid)

    def api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        r = httpx.request(method, f"{self.base_url}{path}", headers={"x-api-token": API_TOKEN}, timeout=60, **kwargs)
        r.raise_for_status()
        return r.json()


@contextmanager
def simulator_process(deals: int, *, rate_limit: bool, plan: str = "professional", seed: int = 1,
                      frozen_clock: str | None = None, extra: list[str] | None = None) -> Iterator[SimProcess]:
    """Start ``python -m pipedrive_source.simulator`` and wait for its ready line; stop it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "pipedrive_source.simulator", "--port", str(port), "--scale", str(deals),
           "--seed", str(seed), "--plan", plan, "--api-token", API_TOKEN]
    if not rate_limit:
        cmd.append("--no-rate-limit")
    if frozen_clock:
        cmd += ["--frozen-clock", frozen_clock]
    cmd += extra or []
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    try:
        url = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+)/api/v1", line)
            if m:
                url = m.group(1)
                break
        if not url:
            raise RuntimeError(f"simulator did not start (exit {proc.poll()})")
        yield SimProcess(proc, url, f"{url}/api/v1", time.monotonic() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True,
                                    text=True, timeout=10, check=False).stdout.strip())
    except OSError:
        commit, dirty = "", False
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit + ("+dirty" if dirty else ""),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def status_count(stats: dict[str, Any], code: str) -> int:
    return int(stats.get("status", {}).get(code, 0))


def total_requests(stats: dict[str, Any]) -> int:
    return sum(stats.get("requests", {}).values())


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Reports as a table: one line per metric, one column per report (reads well at any width)."""
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and not isinstance(r[k], (dict, list))]
    cells = [[_fmt(r.get(k)) for r in rows] for k in keys]
    kw = max(len(k) for k in keys)
    cw = [max(len(c[i]) for c in cells) for i in range(len(rows))]
    print(f"\n{title}")
    for k, row in zip(keys, cells):
        print(k.ljust(kw) + "  " + "  ".join(v.rjust(w) for v, w in zip(row, cw)))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def write_json(out: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str))
    print(f"\nJSON written to {path}")
    return path


def run_child(argv: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``python <argv>`` and parse the JSON object on its last stdout line (child = one sync run)."""
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT),
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {' '.join(argv[:3])} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return orjson.loads(lines[-1])


def quiet_logs() -> None:
    """The source warns once per dirty custom-field value; benchmarks want only their table."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    for name in ("pipedrive_source", "dlt"):
        logging.getLogger(name).setLevel(logging.ERROR)


# -- the child side: one sync run in its own process ------------------------------------------------


def child_sync(argv: list[str]) -> dict[str, Any]:
    """``python bench_common.py sync ...``: one run_sync into DuckDB or Postgres, reported as JSON."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--destination", default="duckdb")
    p.add_argument("--duckdb-path")
    p.add_argument("--credentials")
    p.add_argument("--pipelines-dir", required=True)
    p.add_argument("--entities", default="")
    p.add_argument("--no-children", action="store_true")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--plan", default="professional")
    p.add_argument("--parse-processes", default="auto")
    args = p.parse_args(argv)
    quiet_logs()
    from pipedrive_source.db import pipeline_engine, table_counts
    from pipedrive_source.runner import make_pipeline, run_sync

    pipeline = make_pipeline(args.destination, duckdb_path=args.duckdb_path, credentials=args.credentials,
                             pipelines_dir=args.pipelines_dir)
    kwargs: dict[str, Any] = {"api_token": API_TOKEN, "base_url": args.base_url, "max_workers": args.workers,
                              "plan": args.plan, "parse_processes": args.parse_processes}
    if args.entities:
        kwargs["entities"] = args.entities.split(",")
    if args.no_children:
        kwargs["children"] = False
    sampler = RssSampler()
    sampler.start()
    started = time.monotonic()
    cpu_before = cpu_seconds()
    result = run_sync(pipeline, **kwargs)
    cpu = cpu_seconds() - cpu_before
    wall = time.monotonic() - started
    sampler.stop()
    steps: dict[str, float] = {}
    step_rss: dict[str, float] = {}
    trace = pipeline.last_trace
    for step in trace.steps if trace else []:
        if step.started_at and step.finished_at:
            steps[step.step] = round((step.finished_at - step.started_at).total_seconds(), 2)
            step_rss[step.step] = sampler.peak_between(step.started_at.timestamp(), step.finished_at.timestamp())
    with pipeline_engine(pipeline) as (engine, schema):
        counts = table_counts(engine, schema)
    return {
        "exit_code": result.exit_code,
        "message": result.message,
        "seconds": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "steps": steps,
        "client_requests": result.requests,
        "client_tokens": result.tokens,
        "client_stats": {k: v for k, v in result.client_stats.items() if not isinstance(v, (dict, list))},
        "rows_this_run": result.rows,
        "table_counts": counts,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_children": sampler.peak_children_mb,
        "peak_rss_mb_by_step": step_rss,
    }


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process (default: this one, every thread) so far, with its finished
    children (the sync's parse workers, which have exited when ``run_sync`` returns)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class RssSampler:
    """Samples this process's RSS every 0.2 s, so the peak can be attributed to extract/normalize/load,
    and the RSS of its child processes (the parse workers) together."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, float]] = []
        self.peak_children_mb = 0.0
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pages = int(Path("/proc/self/statm").read_text().split()[1])
                self.samples.append((time.time(), pages * self._page / 2**20))
            except (OSError, ValueError, IndexError):
                return
            children = 0
            for child in self._me.children(recursive=True):
                try:
                    children += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_children_mb = max(self.peak_children_mb, round(children / 2**20, 1))
            self._stop.wait(0.2)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def peak_between(self, t0: float, t1: float) -> float:
        inside = [mb for t, mb in self.samples if t0 <= t <= t1]
        return round(max(inside), 1) if inside else 0.0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sync":
        print(orjson.dumps(child_sync(sys.argv[2:]), default=str).decode())
    else:
        print("usage: bench_common.py sync --base-url URL --pipelines-dir DIR [--duckdb-path P | "
              "--destination postgres --credentials URL] [--entities a,b] [--no-children]")
        raise SystemExit(2)
