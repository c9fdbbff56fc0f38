#!/usr/bin/env bash
# Local BigQuery emulator (bqemulator, installed by scripts/install-emulator.sh):
#   start | stop | status | restart | env
#
# Environment (all optional):
#   BQ_EMULATOR_PORT           REST port on 127.0.0.1 (9050)
#   BQ_EMULATOR_GRPC_PORT      gRPC (Storage Read/Write API) port (0: any free port)
#   BQ_EMULATOR_PROJECT        default project id (local-project)
#   BQ_EMULATOR_DATA_DIR       DuckDB file and PID file (.data/emulator)
#   BQ_EMULATOR_EPHEMERAL=1    keep the data in memory instead of BQ_EMULATOR_DATA_DIR
#   BQ_EMULATOR_LOG            log file (.data/logs/emulator.log)
#   BQ_EMULATOR_LOG_LEVEL      emulator log level (warning)
#   BQ_EMULATOR_START_TIMEOUT  seconds to wait for readiness (60)
#   BQ_EMULATOR_WATCH_PID      stop the emulator when this process exits (test runners)
#   BQ_EMULATOR_GCS_ROOT       directory that gs://bucket/object load URIs are read from (<root>/<bucket>/<object>):
#                              fake-gcs-server's filesystem root (scripts/gcs.sh: $GCS_DATA_DIR/objects)
#
# `env` prints shell exports for clients: eval "$(bash scripts/emulator.sh env)".
# Connect with apiEndpoint=$BQ_EMULATOR_ENDPOINT (see docs/emulators.md); do not set
# BIGQUERY_EMULATOR_HOST, which the Node client uses as a base URL and which breaks table.load.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

IP=127.0.0.1
PORT="${BQ_EMULATOR_PORT:-9050}"
GRPC_PORT="${BQ_EMULATOR_GRPC_PORT:-0}"
PROJECT="${BQ_EMULATOR_PROJECT:-local-project}"
DATA_DIR="${BQ_EMULATOR_DATA_DIR:-.data/emulator}"
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$ROOT/$DATA_DIR"
LOG_FILE="${BQ_EMULATOR_LOG:-.data/logs/emulator.log}"
[[ "$LOG_FILE" = /* ]] || LOG_FILE="$ROOT/$LOG_FILE"
PID_FILE="$DATA_DIR/emulator.pid"
START_TIMEOUT="${BQ_EMULATOR_START_TIMEOUT:-60}"
ENDPOINT="http://$IP:$PORT"
READY_URL="$ENDPOINT/bigquery/v2/projects/$PROJECT/datasets"

VENV="$ROOT/.tools/venv"
EMULATOR_BIN="$VENV/bin/bqemulator"
# DuckDB's extension directory is $HOME/.duckdb/extensions: the install script put the
# spatial extension under this HOME, so the emulator loads it without network.
DUCKDB_HOME="$ROOT/.tools/bqemulator-home"

NAME=emulator
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

[[ "$PORT" =~ ^[0-9]+$ ]] || fail "BQ_EMULATOR_PORT must be a port number, got '$PORT'"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || fail "BQ_EMULATOR_START_TIMEOUT must be whole seconds, got '$START_TIMEOUT'"

running_pid() { daemon_running_pid "bqemulator start"; }

ready() {
  if command -v curl >/dev/null 2>&1; then
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$READY_URL" 2>/dev/null)" == 200 ]]
  else
    "$VENV/bin/python" -c 'import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' \
      "$READY_URL" >/dev/null 2>&1
  fi
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if ready; then
      log "already running at $ENDPOINT (pid $pid)"
      return 0
    fi
    fail "an emulator (pid $pid) is running from $DATA_DIR but does not answer at $ENDPOINT; run: bash scripts/emulator.sh stop"
  fi
  rm -f "$PID_FILE"
  [[ -x "$EMULATOR_BIN" ]] || fail "the BigQuery emulator is not installed ($EMULATOR_BIN); run: bash scripts/install-emulator.sh (or npm run setup)"
  if port_in_use "$PORT"; then
    fail "port $PORT is already in use by another process; set BQ_EMULATOR_PORT to a free port"
  fi
  if [[ "$GRPC_PORT" != 0 ]] && port_in_use "$GRPC_PORT"; then
    fail "gRPC port $GRPC_PORT is already in use; set BQ_EMULATOR_GRPC_PORT (0 picks a free one)"
  fi

  mkdir -p "$DATA_DIR" "$(dirname "$LOG_FILE")"
  local args=(start
    --rest-host "$IP" --rest-port "$PORT"
    --grpc-host "$IP" --grpc-port "$GRPC_PORT"
    --project "$PROJECT"
    --log-level "${BQ_EMULATOR_LOG_LEVEL:-warning}" --log-format json)
  if [[ "${BQ_EMULATOR_EPHEMERAL:-0}" == 1 ]]; then
    args+=(--ephemeral)
  else
    args+=(--persistent --data-dir "$DATA_DIR")
  fi

  # DuckDB inside the emulator finds its extensions under HOME (see DUCKDB_HOME).
  local gcs_root=()
  if [[ -n "${BQ_EMULATOR_GCS_ROOT:-}" ]]; then gcs_root=(BQEMU_GCS_LOCAL_ROOT="$BQ_EMULATOR_GCS_ROOT"); fi
  daemon_launch env HOME="$DUCKDB_HOME" ${gcs_root[@]+"${gcs_root[@]}"} "$EMULATOR_BIN" "${args[@]}"
  pid="$DAEMON_PID"
  daemon_wait_ready "$START_TIMEOUT" "the BigQuery emulator (bqemulator) at $READY_URL" ready

  if [[ -n "${BQ_EMULATOR_WATCH_PID:-}" ]]; then
    daemon_start_watchdog "$pid" "$BQ_EMULATOR_WATCH_PID" 10 >/dev/null
  fi
  log "ready at $ENDPOINT, project $PROJECT (pid $pid, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($DATA_DIR)"
    return 0
  fi
  # SIGTERM lets it close the DuckDB file cleanly (takes a few seconds); SIGKILL after 15 s.
  daemon_kill "$pid" 15
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running ($DATA_DIR)"
    return 3
  fi
  if ready; then
    log "running at $ENDPOINT, project $PROJECT (pid $pid, log $LOG_FILE)"
  else
    log "pid $pid is running but does not answer at $ENDPOINT (log $LOG_FILE)"
    return 1
  fi
}

cmd_env() {
  echo "export BQ_EMULATOR_PORT=$PORT"
  echo "export BQ_EMULATOR_PROJECT=$PROJECT"
  echo "export BQ_EMULATOR_ENDPOINT=$ENDPOINT"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|restart|env" >&2; exit 2 ;;
esac
