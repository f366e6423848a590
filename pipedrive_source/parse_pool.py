"""Parse workers of one sync run: child processes that decode and transform response bodies.

``subprocess`` rather than ``multiprocessing``: spawn/forkserver re-import the caller's main module
(a user's pipeline script without a ``__main__`` guard would run again in every worker), fork is
unsafe in a threaded process, and daemonic processes (Celery, some schedulers) may not have
``multiprocessing`` children. A worker gets no secrets: its environment is stripped of them, and it
only ever sees response bodies.

Everything degrades to parsing in the sync process: a worker that has not finished starting, fails
to start or dies makes ``run`` return None, and the caller decodes the body itself.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from .heap import release_free_memory
from .parse_worker import READY, read_message, write_message

log = logging.getLogger("pipedrive_source.parse_pool")

_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_KEY|PRIVATE", re.IGNORECASE)
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
# not ``-m pipedrive_source.parse_worker``: as ``__main__`` its classes would pickle as ``__main__.Prepared``
WORKER_MAIN = "from pipedrive_source.parse_worker import main; main()"
TRIM_EVERY = 32  # pages answered between two ``heap.release_free_memory`` calls


def worker_env() -> dict[str, str]:
    """The sync's environment without anything that looks like a secret; the package importable."""
    env = {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.setups: set[str] = set()  # setup keys this worker has been sent
        self.types: dict[str, int] = {}  # setup key -> version of the column types it holds

    def call(self, message: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        write_message(self.proc.stdin, message)
        return read_message(self.proc.stdout, pa.allocate_buffer)


class ParsePool:
    """``processes`` parse workers; ``run`` hands one body to an idle one and waits for its answer."""

    def __init__(self, processes: int) -> None:
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._alive = 0  # started and answering
        self._closed = False
        self._warned = False
        self.answered = 0  # bodies a worker transformed
        self.declined = 0  # bodies a worker handed back (not a list page) or none took
        self.trim_seconds = 0.0
        for _ in range(processes):
            try:
                proc = subprocess.Popen([sys.executable, "-c", WORKER_MAIN], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=worker_env())
            except OSError as exc:
                self._lost(f"could not start ({exc})")
                break
            worker = _Worker(proc)
            self._workers.append(worker)
            threading.Thread(target=self._await_ready, args=(worker,), daemon=True,
                             name="pipedrive-parse-start").start()

    @property
    def processes(self) -> int:
        return len(self._workers)

    def run(self, key: str, setup: Any, types_version: int, types: dict[str, Any], content: bytes) -> Any:
        """The worker's answer for ``content``, or None: no worker ready (yet), or it died on this body."""
        worker = self._take()
        if worker is None:
            self._count(None)
            return None
        send_types = worker.types.get(key) != types_version
        message = (key, None if key in worker.setups else setup, types if send_types else None, content)
        try:
            answer = worker.call(message)
        except Exception as exc:  # noqa: BLE001 - whatever broke, this body is parsed in the sync process
            with self._lock:
                self._alive -= 1
            self._lost(f"stopped answering ({type(exc).__name__})")
            worker.proc.kill()
            self._count(None)
            return None
        worker.setups.add(key)
        worker.types[key] = types_version
        self._idle.put(worker)
        if self._count(answer):
            started = time.perf_counter()
            release_free_memory()  # see heap.py: pages unpickled here are freed in other threads
            with self._lock:
                self.trim_seconds += time.perf_counter() - started
        return answer

    def _count(self, answer: Any) -> bool:
        """Count an answer (stream threads call this concurrently); True when memory is due to be trimmed."""
        with self._lock:
            if answer is None:
                self.declined += 1
                return False
            self.answered += 1
            return self.answered % TRIM_EVERY == 0

    def close(self) -> None:
        """Workers exit when their input closes; any still running after 5 s is killed."""
        if self._closed:
            return
        self._closed = True
        log.info("parse workers: %d pages transformed in %d processes, %d parsed in the sync process; "
                 "%.2f s returning freed memory", self.answered, len(self._workers), self.declined, self.trim_seconds)
        for w in self._workers:
            try:
                if w.proc.stdin is not None:
                    w.proc.stdin.close()
            except OSError:
                pass
        for w in self._workers:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            if w.proc.stdout is not None:
                w.proc.stdout.close()

    def _take(self) -> _Worker | None:
        while not self._closed and self._alive > 0:
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
        return None

    def _await_ready(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        try:
            ready = read_message(worker.proc.stdout) == READY
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            ready = False
        if not ready:
            self._lost("failed to start")
            return
        with self._lock:
            self._alive += 1
        self._idle.put(worker)

    def _lost(self, what: str) -> None:
        if not self._warned and not self._closed:
            self._warned = True
            log.warning("a parse worker %s; its pages are parsed in the sync process instead (slower, "
                        "nothing is lost)", what)
