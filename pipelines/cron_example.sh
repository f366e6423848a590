#!/usr/bin/env bash
# Cron template for pipedrive-sync. Install (every 30 minutes):
#
#   */30 * * * * /opt/pipedrive-source/pipelines/cron_example.sh >> /var/log/pipedrive-sync.log 2>&1
#
# Assumes the project is installed in $VENV and that $WORKDIR holds .dlt/config.toml and .dlt/secrets.toml
# (chmod 600) — or export the SOURCES__PIPEDRIVE__* / DESTINATION__* variables below instead.
# Runs never overlap (flock). Exit code 3 = the daily token budget is spent: the next run after the daily
# reset resumes where this one stopped, so cron treats it as "ok, later".
set -euo pipefail

VENV="${VENV:-/opt/pipedrive-source/.venv}"
WORKDIR="${WORKDIR:-/opt/pipedrive-source}"
export DLT_DATA_DIR="${DLT_DATA_DIR:-$WORKDIR/.dlt-data}"   # pipeline state (not /var/dlt)
DESTINATION="${DESTINATION:-postgres}"

cd "$WORKDIR"
exec 9>"$DLT_DATA_DIR.lock"
if ! flock -n 9; then
  echo "$(date -u +%FT%TZ) previous pipedrive-sync still running; skipping"
  exit 0
fi

set +e
"$VENV/bin/pipedrive-sync" run --destination "$DESTINATION" --progress log
rc=$?
set -e
case "$rc" in
  0) ;;
  3) echo "$(date -u +%FT%TZ) daily token budget reached; the next run after the reset resumes"; rc=0 ;;
  2) echo "$(date -u +%FT%TZ) configuration error (see above); fix it, runs will keep failing" ;;
  *) echo "$(date -u +%FT%TZ) sync failed with exit code $rc; the next run resumes from the saved state" ;;
esac
exit "$rc"
