"""Run one DAG run with ``dag.test()`` and print its task states as JSON (last stdout line).

Executed by the orchestration tests with the *Airflow venv's* python (Airflow is never imported in
the test process itself). The caller prepares ``AIRFLOW_HOME`` (``airflow db migrate``) and a dags
folder holding the DAG file, and passes credentials through the environment.

    python airflow_run.py DAG_FILE DAG_ID LOGICAL_DATE_ISO
    python airflow_run.py DAG_FILE DAG_ID structure     (parse only: the task graph, no run)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime


def _text(value: object) -> str:
    """Enum members as their plain value ("success"), whatever their __str__ does."""
    return str(getattr(value, "value", value))


def main(argv: list[str]) -> int:
    dag_file, dag_id, logical = argv
    spec = importlib.util.spec_from_file_location("pipedrive_dag_under_test", dag_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id)

    if logical == "structure":
        print(json.dumps({
            "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
            "trigger_rules": {t.task_id: _text(t.trigger_rule) for t in dag.tasks},
            "retries": {t.task_id: t.retries for t in dag.tasks},
            "max_active_tasks": dag.max_active_tasks,
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
        }))
        return 0
    dagrun = dag.test(logical_date=datetime.fromisoformat(logical))
    tasks = {ti.task_id: _text(ti.state) for ti in dagrun.get_task_instances()}
    print(json.dumps({"dag_run_state": _text(dagrun.state), "tasks": tasks}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
