"""Materialise the Pipedrive assets in-process and print the outcome as JSON (last stdout line).

Executed by the orchestration tests with the *Dagster venv's* python. ``all`` runs job
``pipedrive_sync`` directly; ``schedule`` evaluates the ``pipedrive_hourly`` schedule for one tick
and runs the job with the tick's run request (what the daemon would launch).

    python dagster_run.py DEFINITIONS_FILE all|schedule
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime


def main(argv: list[str]) -> int:
    definitions_file, mode = argv
    spec = importlib.util.spec_from_file_location("pipedrive_dagster_under_test", definitions_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    from dagster import DagsterInstance, build_schedule_context

    defs = module.defs
    job = defs.resolve_job_def("pipedrive_sync")
    asset_keys = sorted("/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys())
    tags: dict[str, str] = {}
    schedule_info: dict[str, object] = {}
    with DagsterInstance.ephemeral() as instance:
        if mode == "schedule":
            schedule = defs.resolve_schedule_def("pipedrive_hourly")
            context = build_schedule_context(
                instance=instance, scheduled_execution_time=datetime.now(UTC)
            )
            requests = schedule.evaluate_tick(context).run_requests or []
            schedule_info = {"cron": schedule.cron_schedule, "run_requests": len(requests)}
            if len(requests) != 1:
                print(json.dumps({"success": False, "schedule": schedule_info}))
                return 1
            tags = dict(requests[0].tags)
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        materialized = sorted(
            "/".join(e.asset_key.path) for e in result.get_asset_materialization_events()
        )
    print(json.dumps({"success": result.success, "asset_keys": asset_keys, "materialized": materialized,
                      "schedule": schedule_info}))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
