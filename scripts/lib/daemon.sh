# Process handling shared by the local servers' scripts (temporal.sh, emulator.sh); sourced, not run.
#
# The sourcing script sets, before calling these:
#   NAME      prefix of its messages ("temporal", "emulator")
#   IP        address the server listens on
#   PID_FILE  where the server's PID is kept
#   LOG_FILE  the server's log; daemon_launch appends to it
# A server runs in its own process group (setsid), so stopping it stops everything it started.

log() { echo "$NAME: $*"; }
fail() { echo "$NAME: $*" >&2; exit 1; }

# Prints the PID from PID_FILE if that process is alive and its command line contains $1
# (a recycled PID belonging to another program does not count).
daemon_running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1" || return 1
  echo "$pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null
}

# Stops process group $1: SIGTERM, then SIGKILL after $2 seconds.
daemon_kill() {
  local pid="$1" grace="$2" _
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 5))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
}

# Starts a detached loop that stops server $1 (SIGTERM, SIGKILL after $3 seconds) and removes PID_FILE once
# process $2 (a test runner) is gone; with $4, also deletes that directory then. Prints the loop's PID.
daemon_start_watchdog() {
  local server_pid="$1" watched="$2" grace="$3" delete_dir="${4:-}"
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 2; done
    if kill -0 "$2" 2>/dev/null; then
      kill -TERM -- "-$2" 2>/dev/null || true
      for _ in $(seq 1 $(($3 * 5))); do kill -0 "$2" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$2" 2>/dev/null || true
      rm -f "$4"
      if [ -n "$5" ]; then rm -rf "$5"; fi
    fi
  ' watchdog "$watched" "$server_pid" "$grace" "$PID_FILE" "$delete_dir" </dev/null >/dev/null 2>&1 &
  echo $!
}

# Stops the watchdog whose PID is in file $1, if it is still one.
daemon_stop_watchdog() {
  [[ -f "$1" ]] || return 0
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q watchdog; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# Runs "$@" in the background as the leader of its own process group, appending to LOG_FILE, and records its
# PID in PID_FILE and DAEMON_PID. DAEMON_LOG_OFFSET marks where this start's log lines begin.
daemon_launch() {
  mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$PID_FILE")"
  echo "--- $(date -u +%FT%TZ) $*" >>"$LOG_FILE"
  DAEMON_LOG_OFFSET="$(stat -c %s "$LOG_FILE")"
  setsid "$@" </dev/null >>"$LOG_FILE" 2>&1 &
  DAEMON_PID=$!
  echo "$DAEMON_PID" >"$PID_FILE"
}

# The last lines this start wrote to the log.
daemon_log_tail() {
  tail -c +"$((DAEMON_LOG_OFFSET + 1))" "$LOG_FILE" | tail -n 20 >&2 || true
}

# Waits up to $1 seconds for the command "${@:3}" to succeed while DAEMON_PID lives; $2 names the server in
# messages. On an early exit or a timeout: says so with the log's last lines, stops the server, exits 1.
daemon_wait_ready() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "$NAME: $what did not start (exited early); log: $LOG_FILE" >&2
      daemon_log_tail
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$NAME: $what did not answer within ${timeout}s; log: $LOG_FILE" >&2
      daemon_log_tail
      cmd_stop >/dev/null
      exit 1
    fi
    sleep 0.2
  done
}
