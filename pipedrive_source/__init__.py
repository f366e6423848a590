"""Pipedrive CRM -> DuckDB/Postgres on dlt: incremental, typed custom fields, deletes replicated.

Public API: ``pipedrive_source`` (the dlt source), ``make_pipeline``/``run_sync`` (run and report),
``PipedriveClient`` (the HTTP client every resource uses) and the error classes.

Names are imported lazily: ``import pipedrive_source.simulator`` (the demo and test backend) must not
pay for importing dlt (~2.5 s, ~100 MB).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PipedriveClient": "client",
    "DailyBudgetExhausted": "errors",
    "PipedriveAuthError": "errors",
    "PipedriveError": "errors",
    "PipedrivePermissionError": "errors",
    "ConfigError": "options",
    "EXIT_BUDGET": "runner",
    "EXIT_CONFIG": "runner",
    "EXIT_FAILURE": "runner",
    "EXIT_OK": "runner",
    "SyncResult": "runner",
    "make_pipeline": "runner",
    "run_sync": "runner",
    "pipedrive_source": "source",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipedrive_source' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
