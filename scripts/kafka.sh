#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft: broker and controller in one JVM, installed by
# scripts/install-kafka.sh): start | stop | status | restart.
#
# Environment (all optional):
#   KAFKA_PORT             client (PLAINTEXT) port (9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (KAFKA_PORT + 1)
#   KAFKA_DATA_DIR         log segments, metadata, log file and PID file (.data/kafka)
#   KAFKA_PARTITIONS       default partitions of a created topic (2)
#   KAFKA_HEAP             JVM heap (-Xmx, 512m)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (90)
#   KAFKA_WATCH_PID        stop the broker when this process exits (tests)
#   KAFKA_DATA_DIR_TEMPORARY=1  with KAFKA_WATCH_PID: also delete the data dir then
# Topics are not created on first use (auto.create.topics.enable=false): a consumer of a topic that
# does not exist gets an error instead of an empty topic.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

IP=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA_DIR="${KAFKA_DATA_DIR:-.data/kafka}"
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$ROOT/$DATA_DIR"
LOG_FILE="$DATA_DIR/kafka.log"
PID_FILE="$DATA_DIR/kafka.pid"
WATCHDOG_PID_FILE="$DATA_DIR/watchdog.pid"
PROPERTIES="$DATA_DIR/server.properties"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
LIBS="$ROOT/.tools/kafka/libs"

NAME=kafka
# shellcheck source=lib/daemon.sh
source "$ROOT/scripts/lib/daemon.sh"

[[ "$PORT" =~ ^[0-9]+$ ]] || fail "KAFKA_PORT must be a port number, got '$PORT'"
[[ "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || fail "KAFKA_CONTROLLER_PORT must be a port number, got '$CONTROLLER_PORT'"

running_pid() { daemon_running_pid "kafka.Kafka $PROPERTIES"; }

# Ready once this start logged "Kafka Server started" and the client port accepts connections.
started() {
  tail -c +"$((DAEMON_LOG_OFFSET + 1))" "$LOG_FILE" 2>/dev/null | grep -q 'Kafka Server started' && port_in_use "$PORT"
}

write_properties() {
  cat >"$PROPERTIES" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$IP:$CONTROLLER_PORT
listeners=PLAINTEXT://$IP:$PORT,CONTROLLER://$IP:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$IP:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR/logs
metadata.log.dir=$DATA_DIR/metadata
num.partitions=${KAFKA_PARTITIONS:-2}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
}

JAVA=(java "-Xmx${KAFKA_HEAP:-512m}" -XX:+UseG1GC "-Dlog4j2.configurationFile=$ROOT/tools/kafka/log4j2.properties" -cp "$LIBS/*")

cmd_start() {
  local pid
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || fail "Kafka is not installed; run: npm run setup"
  command -v java >/dev/null 2>&1 || fail "java is not installed (the broker needs a JDK 17 or later)"
  if pid="$(running_pid)"; then
    if port_in_use "$PORT"; then
      log "already running at $IP:$PORT (pid $pid)"
      return 0
    fi
    fail "a broker (pid $pid) is running from $DATA_DIR but does not answer at $IP:$PORT; run: bash scripts/kafka.sh stop"
  fi
  rm -f "$PID_FILE"
  port_in_use "$PORT" && fail "port $PORT is already in use by another process; set KAFKA_PORT to a free port"
  port_in_use "$CONTROLLER_PORT" && fail "port $CONTROLLER_PORT is already in use; set KAFKA_CONTROLLER_PORT to a free port"

  mkdir -p "$DATA_DIR"
  write_properties
  # A new data dir is formatted once with a fresh cluster id; later starts reuse it (the topics and offsets stay).
  if [[ ! -f "$DATA_DIR/metadata/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)"
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPERTIES" >>"$LOG_FILE" 2>&1 ||
      fail "could not format $DATA_DIR (log: $LOG_FILE)"
  fi
  daemon_launch "${JAVA[@]}" kafka.Kafka "$PROPERTIES"
  pid="$DAEMON_PID"
  daemon_wait_ready "$START_TIMEOUT" "the Kafka broker at $IP:$PORT" started

  if [[ -n "${KAFKA_WATCH_PID:-}" ]]; then
    local delete_dir=""
    if [[ "${KAFKA_DATA_DIR_TEMPORARY:-0}" == 1 ]]; then delete_dir="$DATA_DIR"; fi
    daemon_start_watchdog "$pid" "$KAFKA_WATCH_PID" 15 "$delete_dir" >"$WATCHDOG_PID_FILE"
  fi
  log "ready at $IP:$PORT (pid $pid, data $DATA_DIR, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  daemon_stop_watchdog "$WATCHDOG_PID_FILE"
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running ($DATA_DIR)"
    return 0
  fi
  daemon_kill "$pid" 20
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running ($DATA_DIR)"
    return 3
  fi
  if port_in_use "$PORT"; then
    log "running at $IP:$PORT (pid $pid, data $DATA_DIR, log $LOG_FILE)"
  else
    log "pid $pid is running but does not answer at $IP:$PORT (log $LOG_FILE)"
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
