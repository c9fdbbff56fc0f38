#!/usr/bin/env bash
# Local Temporal dev server: start | stop | status | restart.
#
# Environment (all optional):
#   TEMPORAL_PORT            frontend gRPC port (7233)
#   TEMPORAL_UI_PORT         Web UI port (8233)
#   TEMPORAL_HEADLESS=1      no Web UI
#   TEMPORAL_DATA_DIR        SQLite file, log and PID file (.data/temporal)
#   TEMPORAL_NAMESPACE       extra namespace to create besides "default"
#   TEMPORAL_EXTRA_NAMESPACES  more namespaces to create, space-separated (the tests: one per test worker)
#   TEMPORAL_DYNAMIC_CONFIG  space-separated KEY=JSON pairs, e.g.
#                            'limit.historyCount.suggestContinueAsNew=50'
#   TEMPORAL_LOG_LEVEL       server log level (warn)
#   TEMPORAL_START_TIMEOUT   seconds to wait for readiness (90)
#   TEMPORAL_WATCH_PID       stop the server when this process exits (tests)
#   TEMPORAL_DATA_DIR_TEMPORARY=1  with TEMPORAL_WATCH_PID: also delete the data dir then
#   TEMPORAL_BIN             CLI to use (.tools/bin/temporal, then PATH)
#   TEMPORAL_UI_CODEC_ENDPOINT  the UI decodes payloads through this codec server
#                            (npm start sets it when PAYLOAD_KEY is set)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PORT="${TEMPORAL_PORT:-7233}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
IP=127.0.0.1
ADDRESS="$IP:$PORT"
DATA_DIR="${TEMPORAL_DATA_DIR:-.data/temporal}"
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$ROOT/$DATA_DIR"
DB_FILE="$DATA_DIR/temporal.db"
LOG_FILE="$DATA_DIR/temporal.log"
PID_FILE="$DATA_DIR/temporal.pid"
WATCHDOG_PID_FILE="$DATA_DIR/watchdog.pid"
START_TIMEOUT="${TEMPORAL_START_TIMEOUT:-90}"

# The product's custom search attributes (keep in sync with docker-compose.yml and the workflows).
SEARCH_ATTRIBUTES=(
  ClientId=Keyword
  EventDates=KeywordList
  FileKind=Keyword
  FileId=Keyword
  Stage=Keyword
  LateFile=Bool
  StreamSource=Keyword
  Sequence=Int
)

NAME=temporal
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

find_cli() {
  if [[ -n "${TEMPORAL_BIN:-}" ]]; then
    echo "$TEMPORAL_BIN"
  elif [[ -x "$ROOT/.tools/bin/temporal" ]]; then
    echo "$ROOT/.tools/bin/temporal"
  elif command -v temporal >/dev/null 2>&1; then
    command -v temporal
  else
    fail "the temporal CLI is not installed; run: npm run setup"
  fi
}

running_pid() { daemon_running_pid start-dev; }

healthy() {
  local cli="$1" ns
  "$cli" operator cluster health --address "$ADDRESS" 2>/dev/null | grep -q SERVING || return 1
  for ns in $(namespaces); do
    "$cli" operator namespace describe --address "$ADDRESS" --namespace "$ns" >/dev/null 2>&1 || return 1
  done
}

namespaces() {
  echo default
  local ns
  for ns in ${TEMPORAL_NAMESPACE:-} ${TEMPORAL_EXTRA_NAMESPACES:-}; do
    [[ "$ns" == default ]] || echo "$ns"
  done
}

cmd_start() {
  local cli pid
  cli="$(find_cli)"
  if pid="$(running_pid)"; then
    if healthy "$cli"; then
      log "already running at $ADDRESS (pid $pid)"
      return 0
    fi
    fail "a server (pid $pid) is running from $DATA_DIR but does not answer at $ADDRESS; run: bash scripts/temporal.sh stop"
  fi
  rm -f "$PID_FILE"
  if port_in_use "$PORT"; then
    fail "port $PORT is already in use by another process; set TEMPORAL_PORT to a free port"
  fi
  if [[ "${TEMPORAL_HEADLESS:-0}" != 1 ]] && port_in_use "$UI_PORT"; then
    fail "UI port $UI_PORT is already in use; set TEMPORAL_UI_PORT or TEMPORAL_HEADLESS=1"
  fi

  mkdir -p "$DATA_DIR"
  local args=(server start-dev
    --ip "$IP"
    --port "$PORT"
    --db-filename "$DB_FILE"
    --log-level "${TEMPORAL_LOG_LEVEL:-warn}")
  if [[ "${TEMPORAL_HEADLESS:-0}" == 1 ]]; then
    args+=(--headless)
  else
    args+=(--ui-port "$UI_PORT" --ui-disable-news-fetch)
    if [[ -n "${TEMPORAL_UI_CODEC_ENDPOINT:-}" ]]; then
      args+=(--ui-codec-endpoint "$TEMPORAL_UI_CODEC_ENDPOINT")
    fi
  fi
  local ns sa kv
  for ns in $(namespaces); do
    [[ "$ns" == default ]] || args+=(--namespace "$ns")
  done
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do
    args+=(--search-attribute "$sa")
  done
  if [[ -n "${TEMPORAL_DYNAMIC_CONFIG:-}" ]]; then
    for kv in $TEMPORAL_DYNAMIC_CONFIG; do
      [[ "$kv" == *=* ]] || fail "TEMPORAL_DYNAMIC_CONFIG entry '$kv' is not KEY=JSON"
      args+=(--dynamic-config-value "$kv")
    done
  fi

  daemon_launch "$cli" "${args[@]}"
  pid="$DAEMON_PID"
  daemon_wait_ready "$START_TIMEOUT" "the Temporal dev server at $ADDRESS" healthy "$cli"

  if [[ -n "${TEMPORAL_WATCH_PID:-}" ]]; then
    local delete_dir=""
    if [[ "${TEMPORAL_DATA_DIR_TEMPORARY:-0}" == 1 ]]; then delete_dir="$DATA_DIR"; fi
    daemon_start_watchdog "$pid" "$TEMPORAL_WATCH_PID" 15 "$delete_dir" >"$WATCHDOG_PID_FILE"
  fi
  if [[ "${TEMPORAL_HEADLESS:-0}" == 1 ]]; then
    log "ready at $ADDRESS (pid $pid, headless, log $LOG_FILE)"
  else
    log "ready at $ADDRESS, UI http://$IP:$UI_PORT${TEMPORAL_UI_CODEC_ENDPOINT:+ decoding through $TEMPORAL_UI_CODEC_ENDPOINT} (pid $pid, log $LOG_FILE)"
  fi
}

cmd_stop() {
  local pid
  daemon_stop_watchdog "$WATCHDOG_PID_FILE"
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($DATA_DIR)"
    return 0
  fi
  daemon_kill "$pid" 10
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local cli pid
  if ! pid="$(running_pid)"; then
    log "not running ($DATA_DIR)"
    return 3
  fi
  cli="$(find_cli)"
  if healthy "$cli"; then
    log "running at $ADDRESS (pid $pid, log $LOG_FILE)"
  else
    log "pid $pid is running but does not answer at $ADDRESS (log $LOG_FILE)"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop && cmd_start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
