#!/usr/bin/env bash
# Local Temporal dev server: start | stop | status | restart.
#
# Environment (all optional):
#   TEMPORAL_PORT            frontend gRPC port (7233)
#   TEMPORAL_UI_PORT         Web UI port (8233)
#   TEMPORAL_HEADLESS=1      no Web UI
#   TEMPORAL_DATA_DIR        SQLite file, log and PID file (.data/temporal)
#   TEMPORAL_NAMESPACE       extra namespace to create besides "default"
#   TEMPORAL_DYNAMIC_CONFIG  space-separated KEY=JSON pairs, e.g.
#                            'limit.historyCount.suggestContinueAsNew=50'
#   TEMPORAL_LOG_LEVEL       server log level (warn)
#   TEMPORAL_START_TIMEOUT   seconds to wait for readiness (90)
#   TEMPORAL_WATCH_PID       stop the server when this process exits (tests)
#   TEMPORAL_DATA_DIR_TEMPORARY=1  with TEMPORAL_WATCH_PID: also delete the data dir then
#   TEMPORAL_BIN             CLI to use (.tools/bin/temporal, then PATH)
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

log() { echo "temporal: $*"; }
fail() { echo "temporal: $*" >&2; exit 1; }

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

# Prints the PID from the PID file if that process is still our server.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID belonging to another program.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "start-dev" || return 1
  echo "$pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null
}

healthy() {
  local cli="$1" ns
  "$cli" operator cluster health --address "$ADDRESS" 2>/dev/null | grep -q SERVING || return 1
  for ns in $(namespaces); do
    "$cli" operator namespace describe --address "$ADDRESS" --namespace "$ns" >/dev/null 2>&1 || return 1
  done
}

namespaces() {
  echo default
  if [[ -n "${TEMPORAL_NAMESPACE:-}" && "${TEMPORAL_NAMESPACE}" != default ]]; then
    echo "$TEMPORAL_NAMESPACE"
  fi
}

start_watchdog() {
  local server_pid="$1" watched="$2"
  # Detached loop: when the watched process (a test runner) dies, stop the server.
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 2; done
    if kill -0 "$2" 2>/dev/null; then
      kill -TERM -- "-$2" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$2" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$2" 2>/dev/null || true
      rm -f "$3"
      if [ "$5" = 1 ]; then rm -rf "$4"; fi
    fi
  ' watchdog "$watched" "$server_pid" "$PID_FILE" "$DATA_DIR" "${TEMPORAL_DATA_DIR_TEMPORARY:-0}" </dev/null >/dev/null 2>&1 &
  echo $! >"$WATCHDOG_PID_FILE"
}

stop_watchdog() {
  [[ -f "$WATCHDOG_PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$WATCHDOG_PID_FILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q watchdog; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$WATCHDOG_PID_FILE"
}

# The last lines this start wrote to the log.
show_log_tail() {
  tail -c +"$((LOG_OFFSET + 1))" "$LOG_FILE" | tail -n 20 >&2 || true
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

  echo "--- $(date -u +%FT%TZ) $cli ${args[*]}" >>"$LOG_FILE"
  LOG_OFFSET="$(stat -c %s "$LOG_FILE")"
  # setsid: the server leads its own process group, so stop can kill the whole group.
  setsid "$cli" "${args[@]}" </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until healthy "$cli"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "temporal: the Temporal dev server did not start (exited early); log: $LOG_FILE" >&2
      show_log_tail
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "temporal: the Temporal dev server did not answer at $ADDRESS within ${START_TIMEOUT}s; log: $LOG_FILE" >&2
      show_log_tail
      cmd_stop >/dev/null
      exit 1
    fi
    sleep 0.3
  done

  if [[ -n "${TEMPORAL_WATCH_PID:-}" ]]; then
    start_watchdog "$pid" "$TEMPORAL_WATCH_PID"
  fi
  if [[ "${TEMPORAL_HEADLESS:-0}" == 1 ]]; then
    log "ready at $ADDRESS (pid $pid, headless, log $LOG_FILE)"
  else
    log "ready at $ADDRESS, UI http://$IP:$UI_PORT (pid $pid, log $LOG_FILE)"
  fi
}

cmd_stop() {
  local pid
  stop_watchdog
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($DATA_DIR)"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
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
