"""Pipedrive CRM -> DuckDB/Postgres on dlt: incremental, typed custom fields, deletes replicated.

Public API: ``pipedrive_source`` (the dlt source), ``make_pipeline``/``run_sync`` (run and report),
``PipedriveClient`` (the HTTP client every resource uses) and the error classes.
"""

from .client import PipedriveClient
from .errors import (
    DailyBudgetExhausted,
    PipedriveAuthError,
    PipedriveError,
    PipedrivePermissionError,
)
from .options import ConfigError
from .runner import EXIT_BUDGET, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, SyncResult, make_pipeline, run_sync
from .source import pipedrive_source

__all__ = [
    "ConfigError",
    "DailyBudgetExhausted",
    "EXIT_BUDGET",
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_OK",
    "PipedriveAuthError",
    "PipedriveClient",
    "PipedriveError",
    "PipedrivePermissionError",
    "SyncResult",
    "make_pipeline",
    "pipedrive_source",
    "run_sync",
]
