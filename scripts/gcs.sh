#!/usr/bin/env bash
# Local GCS-compatible server (fake-gcs-server, installed by scripts/install-gcs.sh): start | stop | status | restart.
# Objects are kept on disk with their generations; clients connect with apiEndpoint=http://127.0.0.1:$GCS_PORT.
#
# Environment (all optional):
#   GCS_PORT              HTTP port (4443)
#   GCS_DATA_DIR          object store, log and PID file (.data/gcs)
#   GCS_START_TIMEOUT     seconds to wait for readiness (60)
#   GCS_WATCH_PID         stop the server when this process exits (tests)
#   GCS_DATA_DIR_TEMPORARY=1  with GCS_WATCH_PID: also delete the data dir then
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IP=127.0.0.1
PORT="${GCS_PORT:-4443}"
DATA_DIR="${GCS_DATA_DIR:-.data/gcs}"
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$ROOT/$DATA_DIR"
LOG_FILE="$DATA_DIR/gcs.log"
PID_FILE="$DATA_DIR/gcs.pid"
WATCHDOG_PID_FILE="$DATA_DIR/watchdog.pid"
START_TIMEOUT="${GCS_START_TIMEOUT:-60}"
BIN="$ROOT/.tools/bin/fake-gcs-server"

NAME=gcs
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

[[ "$PORT" =~ ^[0-9]+$ ]] || fail "GCS_PORT must be a port number, got '$PORT'"

running_pid() { daemon_running_pid "fake-gcs-server"; }

ready() {
  [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$IP:$PORT/storage/v1/b" 2>/dev/null)" == 200 ]]
}

cmd_start() {
  local pid
  [[ -x "$BIN" ]] || fail "fake-gcs-server is not installed; run: npm run setup"
  if pid="$(running_pid)"; then
    ready && { log "already running at http://$IP:$PORT (pid $pid)"; return 0; }
    fail "a server (pid $pid) is running from $DATA_DIR but does not answer at $IP:$PORT; run: bash scripts/gcs.sh stop"
  fi
  rm -f "$PID_FILE"
  port_in_use "$PORT" && fail "port $PORT is already in use; set GCS_PORT to a free port"
  mkdir -p "$DATA_DIR/objects"
  daemon_launch "$BIN" -scheme http -host "$IP" -port "$PORT" -backend filesystem -filesystem-root "$DATA_DIR/objects" \
    -public-host "$IP:$PORT" -external-url "http://$IP:$PORT" -log-level warn
  pid="$DAEMON_PID"
  daemon_wait_ready "$START_TIMEOUT" "fake-gcs-server at $IP:$PORT" ready
  if [[ -n "${GCS_WATCH_PID:-}" ]]; then
    local delete_dir=""
    if [[ "${GCS_DATA_DIR_TEMPORARY:-0}" == 1 ]]; then delete_dir="$DATA_DIR"; fi
    daemon_start_watchdog "$pid" "$GCS_WATCH_PID" 5 "$delete_dir" >"$WATCHDOG_PID_FILE"
  fi
  log "ready at http://$IP:$PORT (pid $pid, data $DATA_DIR, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  daemon_stop_watchdog "$WATCHDOG_PID_FILE"
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($DATA_DIR)"
    return 0
  fi
  daemon_kill "$pid" 5
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if ! pid="$(running_pid)"; then log "not running ($DATA_DIR)"; return 3; fi
  if ready; then log "running at http://$IP:$PORT (pid $pid)"; else log "pid $pid does not answer at $IP:$PORT"; return 1; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
