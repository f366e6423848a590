"""Reliability suite plumbing (owned by reliability): secret scanning and the per-run report.

- ``secret_scan`` (autouse): captures every log record at DEBUG; tests register their secrets
  (API token, OAuth client secret, refresh/access tokens) and any extra text they saw (subprocess
  output, exception messages) with ``secret_scan.add_secret`` / ``secret_scan.add_text``. At teardown
  the captured logs and texts must not contain any secret; a leak fails the test.
- failure reports (exceptions) are scanned for the same secrets (``pytest_runtest_makereport``).
- ``reliability_report``: ``reliability_report(faults=..., runs=..., completed=..., rows_lost=..., rows_duplicated=...)``
  records one summary line per test; the lines are printed at the end of the session and written
  to ``/tmp/pipedrive-reliability/report.json`` (override: ``PIPEDRIVE_RELIABILITY_REPORT``).
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

REPORT_PATH = Path(os.environ.get("PIPEDRIVE_RELIABILITY_REPORT", "/tmp/pipedrive-reliability/report.json"))
_REPORTS: list[dict[str, Any]] = []


def new_token(prefix: str) -> str:
    """A distinctive secret per test: a leak of it anywhere is unambiguous."""
    return f"{prefix}-{_secrets.token_hex(12)}"


@dataclass
class SecretScan:
    secrets: set[str] = field(default_factory=set)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def add_secret(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= 8:
                self.secrets.add(v)

    def add_text(self, where: str, text: str | bytes | None) -> None:
        if text:
            self.texts.append((where, text.decode(errors="replace") if isinstance(text, bytes) else text))

    def leaks(self, log_text: str) -> list[str]:
        found = []
        for secret in self.secrets:
            if secret in log_text:
                found.append(f"captured logs contain secret {secret[:6]}…")
            for where, text in self.texts:
                if secret in text:
                    found.append(f"{where} contains secret {secret[:6]}…")
        return found


_FORMATTER = logging.Formatter()


def _record_text(r: logging.LogRecord) -> str:
    """Message, formatted traceback (exceptions logged with exc_info) and the client's extra fields."""
    exc = r.exc_text or (_FORMATTER.formatException(r.exc_info) if r.exc_info else "")
    extras = " ".join(str(getattr(r, k, "")) for k in ("pd_op", "pd_status"))
    return f"{r.name} {r.getMessage()} {exc} {extras}"


@pytest.fixture(autouse=True)
def secret_scan(caplog: pytest.LogCaptureFixture) -> Iterator[SecretScan]:
    # order matters: set_level(logger=...) also sets the capture handler's level; DEBUG must come last
    caplog.set_level(logging.INFO, logger="httpcore")  # connection chatter, no payloads
    caplog.set_level(logging.DEBUG)
    scan = SecretScan()
    yield scan
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]  # .records = this phase only
    text = "\n".join(_record_text(r) for r in records)
    leaks = scan.leaks(text)
    assert not leaks, leaks
    assert scan.secrets, "a reliability test must register the secrets it scans for"


@pytest.fixture
def reliability_report(request: pytest.FixtureRequest) -> Iterator[Any]:
    started = time.monotonic()
    entries: list[dict[str, Any]] = []

    def record(**fields: Any) -> None:
        entries.append(fields)

    yield record
    for fields in entries or [{}]:
        line = {"test": request.node.name, "seconds": round(time.monotonic() - started, 1), **fields}
        _REPORTS.append(line)
        print("RELIABILITY " + " ".join(f"{k}={v}" for k, v in line.items()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Exceptions are scanned too: a failure report that quotes a secret fails loudly as a leak."""
    outcome = yield
    report = outcome.get_result()
    scan = getattr(item, "funcargs", {}).get("secret_scan")
    if scan is None or not report.failed or not scan.secrets:
        return
    text = report.longreprtext
    leaked = [s[:6] + "…" for s in scan.secrets if s in text]
    if leaked:
        for secret in scan.secrets:
            text = text.replace(secret, "<redacted>")
        report.longrepr = f"SECRET LEAK in the failure report ({', '.join(leaked)}); redacted report:\n{text}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORTS:
        return
    terminalreporter.section("reliability report")
    for line in _REPORTS:
        terminalreporter.write_line(" ".join(f"{k}={v}" for k, v in line.items()))
    try:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_bytes(orjson.dumps({"runs": _REPORTS}, option=orjson.OPT_INDENT_2, default=str))
        terminalreporter.write_line(f"written to {REPORT_PATH}")
    except OSError as exc:
        terminalreporter.write_line(f"could not write {REPORT_PATH}: {exc}")
