#!/usr/bin/env bash
# Real Kafka (single-node KRaft) and InfluxDB 1.8 for dipwatch development and tests, without Docker.
#
#   deploy/local/services.sh up     [kafka|influxdb]   install on first use, start, wait until healthy
#   deploy/local/services.sh down   [kafka|influxdb]   stop what `up` started
#   deploy/local/services.sh status [kafka|influxdb]   print each service and whether it is healthy
#
# No service name means both. Everything (jars, binary, data, logs, pid files) lives in
# ${DIPWATCH_CACHE:-$HOME/.cache/dipwatch}, outside the repo; only the first `up` needs the network
# (Maven Central and the Go module proxy).
#
# Environment:
#   DIPWATCH_CACHE                   cache/data root            (default ~/.cache/dipwatch)
#   DIPWATCH_KAFKA_PORT              broker port on 127.0.0.1   (default 9092)
#   DIPWATCH_KAFKA_CONTROLLER_PORT   KRaft controller port      (default 9093)
#   DIPWATCH_KAFKA_VERSION           Kafka from Maven Central   (default 3.9.2)
#   DIPWATCH_KAFKA_HEAP              broker -Xmx                (default 512m)
#   DIPWATCH_INFLUX_PORT             HTTP port on 127.0.0.1     (default 8086)
#   DIPWATCH_INFLUX_RPC_PORT         backup/restore RPC port    (default 8088)
#   DIPWATCH_INFLUX_USER             admin user                 (default dipwatch)
#   DIPWATCH_INFLUX_PASSWORD         admin password             (default dipwatch-local)
#   DIPWATCH_INFLUX_GOTOOLCHAIN      Go toolchain(s) to build influxd with, tried in order
#                                    (default "local go1.21.13")
#   DIPWATCH_START_TIMEOUT           seconds to wait for each service to get healthy (default 90)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${DIPWATCH_CACHE:-$HOME/.cache/dipwatch}
RUN_DIR=$CACHE/run
LOG_DIR=$CACHE/logs
TIMEOUT=${DIPWATCH_START_TIMEOUT:-90}

KAFKA_VERSION=${DIPWATCH_KAFKA_VERSION:-3.9.2}
KAFKA_PORT=${DIPWATCH_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${DIPWATCH_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP=${DIPWATCH_KAFKA_HEAP:-512m}
KAFKA_HOME=$CACHE/kafka
KAFKA_CONF=$KAFKA_HOME/config/server.properties
KAFKA_LOG=$LOG_DIR/kafka.log

INFLUX_VERSION=v1.8.10
INFLUX_PORT=${DIPWATCH_INFLUX_PORT:-8086}
INFLUX_RPC_PORT=${DIPWATCH_INFLUX_RPC_PORT:-8088}
INFLUX_USER=${DIPWATCH_INFLUX_USER:-dipwatch}
INFLUX_PASSWORD=${DIPWATCH_INFLUX_PASSWORD:-dipwatch-local}
# The local Go builds influxd v1.8.10 as is (checked with go1.26.8: no GOTOOLCHAIN needed).
# go1.21.13 from the module proxy is only a fallback, in case a newer Go breaks its old dependencies.
INFLUX_GOTOOLCHAIN=${DIPWATCH_INFLUX_GOTOOLCHAIN:-local go1.21.13}
INFLUX_HOME=$CACHE/influxdb
INFLUX_CONF=$INFLUX_HOME/influxdb.conf
INFLUX_LOG=$LOG_DIR/influxdb.log
INFLUX_URL=http://127.0.0.1:$INFLUX_PORT

die() {
  printf 'services.sh: %s\n' "$*" >&2
  exit 1
}

# Progress goes to stderr so stdout stays one status line per service.
progress() { printf '==> %s\n' "$*" >&2; }

report() { printf '%-9s %-15s %s\n' "$1" "$2" "$3"; }

need() { command -v "$1" >/dev/null 2>&1 || die "$2"; }

# Fills @KEY@ placeholders of a template; the quoted replacement keeps '&' and '/' in paths literal.
render() {
  local tmpl=$1 out=$2 text kv
  shift 2
  text=$(<"$tmpl")
  for kv in "$@"; do
    text=${text//"@${kv%%=*}@"/"${kv#*=}"}
  done
  printf '%s\n' "$text" >"$out.tmp"
  mv "$out.tmp" "$out"
}

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# The string that identifies our process in /proc/<pid>/cmdline: guards against a reused pid.
marker() {
  case $1 in
    kafka) printf '%s' "$KAFKA_CONF" ;;
    influxdb) printf '%s' "$INFLUX_CONF" ;;
  esac
}

# Prints the pid of the service if the pid file points at a live process that is ours.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(marker "$1")" || return 1
  printf '%s\n' "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Last error-looking line of a log, to make a one-line failure reason useful.
last_error() {
  local line
  line=$(grep -E 'ERROR|FATAL|Exception|Error|error|panic' "$1" 2>/dev/null | tail -n 1 | cut -c1-200) || true
  [[ -n $line ]] && printf ': %s' "$line"
  return 0
}

# nohup + setsid: the service outlives this script and is not hit by a Ctrl-C or job kill aimed at
# the caller. setsid does not fork here (we are not a group leader), so $! is the service's pid.
# 9>&- : the service must not inherit the lock fd, or it would hold the lock for its whole life.
start_bg() {
  local svc=$1 log=$2
  shift 2
  printf '\n--- %s: started by services.sh at %s\n' "$svc" "$(date '+%F %T')" >>"$log"
  if command -v setsid >/dev/null 2>&1; then
    nohup setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
  else
    nohup "$@" >>"$log" 2>&1 </dev/null 9>&- &
  fi
  printf '%s\n' "$!" >"$(pid_file "$svc")"
}

# Polls a health check until it passes; fails fast if the process dies.
wait_healthy() {
  local svc=$1 check=$2 log=$3 deadline=$((SECONDS + TIMEOUT)) pid
  until "$check"; do
    pid=$(running_pid "$svc") || die "$svc: exited during startup$(last_error "$log") (log: $log)"
    ((SECONDS < deadline)) ||
      die "$svc: not healthy after ${TIMEOUT}s, still running as pid $pid (log: $log; stop with: $0 down $svc)"
    sleep 1
  done
}

stop_svc() {
  local svc=$1 addr=$2 pid i
  if ! pid=$(running_pid "$svc"); then
    rm -f "$(pid_file "$svc")"
    report "$svc" "$addr" "down (was not running)"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # Kafka's clean shutdown takes a few seconds; a clean stop spares it log recovery on next start.
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    report "$svc" "$addr" "stopped (killed after 60s)"
  else
    report "$svc" "$addr" "stopped"
  fi
  rm -f "$(pid_file "$svc")"
}

# ---------------------------------------------------------------- kafka

kafka_java() {
  java "-Xmx$KAFKA_HEAP" -cp "$KAFKA_HOME/libs/*" \
    "-Dlog4j.configuration=file:$KAFKA_HOME/config/log4j.properties" "$@"
}

kafka_install() {
  local libs=$KAFKA_HOME/libs stamp=$KAFKA_HOME/libs/.installed-$KAFKA_VERSION log=$LOG_DIR/kafka-install.log
  [[ -f $stamp ]] && return 0
  need mvn "kafka: mvn not found (needed once, to fetch Kafka from Maven Central)"
  progress "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $libs (first use only)"
  rm -rf "$libs" "$KAFKA_HOME/build"
  mkdir -p "$KAFKA_HOME/build"
  # Run Maven on a copy in the cache so no target/ directory appears in the repo.
  cp "$HERE/kafka/pom.xml" "$KAFKA_HOME/build/pom.xml"
  (cd "$KAFKA_HOME/build" && mvn -B -q "-Dkafka.version=$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$libs") >"$log" 2>&1 ||
    die "kafka: Maven could not fetch Kafka $KAFKA_VERSION (log: $log)"
  compgen -G "$libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null ||
    die "kafka: Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $libs (log: $log)"
  touch "$stamp"
  progress "kafka: installed ($(find "$libs" -name '*.jar' | wc -l) jars)"
}

kafka_configure() {
  mkdir -p "$KAFKA_HOME/config" "$KAFKA_HOME/data"
  # Rendered on every start so port changes via the environment take effect.
  render "$HERE/kafka/server.properties.tmpl" "$KAFKA_CONF" \
    "PORT=$KAFKA_PORT" "CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "DATA_DIR=$KAFKA_HOME/data"
  render "$HERE/kafka/log4j.properties.tmpl" "$KAFKA_HOME/config/log4j.properties" "LOG_FILE=$KAFKA_LOG"
}

# KRaft storage must be formatted exactly once; reformatting would throw away topics and offsets.
kafka_format() {
  local id_file=$KAFKA_HOME/cluster.id cluster_id
  [[ -f $KAFKA_HOME/data/meta.properties ]] && return 0
  if [[ ! -s $id_file ]]; then
    kafka_java kafka.tools.StorageTool random-uuid >"$id_file.tmp" 2>>"$KAFKA_LOG" ||
      die "kafka: StorageTool random-uuid failed$(last_error "$KAFKA_LOG") (log: $KAFKA_LOG)"
    mv "$id_file.tmp" "$id_file"
  fi
  cluster_id=$(tr -d '[:space:]' <"$id_file")
  progress "kafka: formatting KRaft storage (cluster id $cluster_id)"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONF" >>"$KAFKA_LOG" 2>&1 ||
    die "kafka: StorageTool format failed$(last_error "$KAFKA_LOG") (log: $KAFKA_LOG)"
}

# Healthy = the broker answers a Metadata request listing itself and a live controller. A raw
# request from the stdlib takes milliseconds, where a JVM-based TopicCommand takes seconds.
kafka_healthy() {
  port_open "$KAFKA_PORT" || return 1
  command -v python3 >/dev/null 2>&1 || return 0
  python3 - "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys

port = int(sys.argv[1])
client = b"dipwatch-health"
# Metadata v1: api_key 3, version 1, correlation id 7, client id; empty topic list = no topics.
body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
    s.settimeout(2)
    s.sendall(struct.pack(">i", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(1)
        buf += chunk
pos = 4
(corr,) = struct.unpack_from(">i", buf, pos); pos += 4
(nbrokers,) = struct.unpack_from(">i", buf, pos); pos += 4
for _ in range(nbrokers):
    pos += 4  # node id
    (hlen,) = struct.unpack_from(">h", buf, pos); pos += 2 + hlen
    pos += 4  # port
    (rlen,) = struct.unpack_from(">h", buf, pos); pos += 2 + max(rlen, 0)
(controller,) = struct.unpack_from(">i", buf, pos)
sys.exit(0 if corr == 7 and nbrokers >= 1 and controller >= 0 else 1)
PY
}

# A service this script is about to start needs both its ports free.
# ports_free NAME PORT SECOND_PORT SECOND_LABEL SECOND_PORT_VARIABLE
ports_free() {
  port_open "$2" && die "$1: 127.0.0.1:$2 is already taken by a process this script did not start"
  port_open "$3" && die "$1: $4 port 127.0.0.1:$3 is already taken (set $5)"
  return 0  # not port_open's status: under set -e a last failing test would end the script
}

# One status line for a service: down, up, or unhealthy as its own function words it.
# service_status NAME ADDR HEALTHY_FN UNHEALTHY_FN [UP_NOTE]
service_status() {
  local pid
  if ! pid=$(running_pid "$1"); then
    report "$1" "$2" down
    return 1
  fi
  if "$3"; then
    report "$1" "$2" "up (pid $pid${5:-})"
  else
    report "$1" "$2" "$("$4" "$pid")"
    return 1
  fi
}

# `up` is split in start (install, launch) and finish (wait, report) so both services boot in parallel.
KAFKA_STATE=up
kafka_start() {
  local addr=127.0.0.1:$KAFKA_PORT
  if running_pid kafka >/dev/null; then
    KAFKA_STATE="up (already running)"
    return 0
  fi
  need java "kafka: java not found (Kafka $KAFKA_VERSION needs Java 11+)"
  ports_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" controller DIPWATCH_KAFKA_CONTROLLER_PORT
  kafka_install
  kafka_configure
  kafka_format
  progress "kafka: starting broker on $addr (log: $KAFKA_LOG)"
  start_bg kafka "$KAFKA_LOG" java "-Xmx$KAFKA_HEAP" -cp "$KAFKA_HOME/libs/*" \
    "-Dlog4j.configuration=file:$KAFKA_HOME/config/log4j.properties" \
    -Djava.awt.headless=true kafka.Kafka "$KAFKA_CONF"
}

kafka_finish() {
  wait_healthy kafka kafka_healthy "$KAFKA_LOG"
  report kafka "127.0.0.1:$KAFKA_PORT" "$KAFKA_STATE"
}

kafka_unhealthy() { printf 'unhealthy (pid %s, log: %s)' "$1" "$KAFKA_LOG"; }
kafka_status() { service_status kafka "127.0.0.1:$KAFKA_PORT" kafka_healthy kafka_unhealthy; }

# ---------------------------------------------------------------- influxdb

influx_install() {
  local bin=$INFLUX_HOME/bin/influxd stamp=$INFLUX_HOME/bin/.installed-$INFLUX_VERSION
  local log=$LOG_DIR/influxdb-install.log tc
  [[ -x $bin && -f $stamp ]] && return 0
  need go "influxdb: go not found (needed once, to build influxd from the Go module proxy)"
  mkdir -p "$INFLUX_HOME/bin"
  : >"$log"
  for tc in $INFLUX_GOTOOLCHAIN; do
    progress "influxdb: building influxd $INFLUX_VERSION with go install, GOTOOLCHAIN=$tc (first use only, takes minutes)"
    if GOBIN=$INFLUX_HOME/bin GOTOOLCHAIN=$tc \
      go install "github.com/influxdata/influxdb/cmd/influxd@$INFLUX_VERSION" >>"$log" 2>&1; then
      printf 'GOTOOLCHAIN=%s\n' "$tc" >"$stamp"
      progress "influxdb: installed $bin"
      return 0
    fi
    progress "influxdb: build with GOTOOLCHAIN=$tc failed (log: $log)"
  done
  die "influxdb: could not build influxd $INFLUX_VERSION with any of: $INFLUX_GOTOOLCHAIN (log: $log)"
}

influx_configure() {
  mkdir -p "$INFLUX_HOME/meta" "$INFLUX_HOME/data" "$INFLUX_HOME/wal"
  render "$HERE/influxdb/influxdb.conf.tmpl" "$INFLUX_CONF" \
    "DIR=$INFLUX_HOME" "HTTP_PORT=$INFLUX_PORT" "RPC_PORT=$INFLUX_RPC_PORT"
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" || true; }

influx_ping() { [[ $(http_code "$INFLUX_URL/ping") == 204 ]]; }

influx_auth_ok() {
  [[ $(http_code -u "$INFLUX_USER:$INFLUX_PASSWORD" -G "$INFLUX_URL/query" \
    --data-urlencode 'q=SHOW DATABASES') == 200 ]]
}

influx_healthy() { influx_ping && influx_auth_ok; }

# With auth on and no user yet, 1.8 accepts exactly one unauthenticated statement: creating an admin.
influx_ensure_user() {
  local pw
  influx_auth_ok && return 0
  # Only a server without users says this to an anonymous query; otherwise our password is wrong.
  curl -s --max-time 3 -G "$INFLUX_URL/query" --data-urlencode 'q=SHOW USERS' | grep -q 'create admin user first' ||
    die "influxdb: cannot log in as $INFLUX_USER: the password differs from the one the user was created with (DIPWATCH_INFLUX_PASSWORD), or another admin exists"
  pw=${INFLUX_PASSWORD//\\/\\\\}
  pw=${pw//\'/\\\'}
  progress "influxdb: creating admin user $INFLUX_USER"
  http_code -XPOST "$INFLUX_URL/query" \
    --data-urlencode "q=CREATE USER \"$INFLUX_USER\" WITH PASSWORD '$pw' WITH ALL PRIVILEGES" >/dev/null
  influx_auth_ok || die "influxdb: created user $INFLUX_USER but cannot log in with it (log: $INFLUX_LOG)"
}

# influxdb-client only queries through Flux, so make sure /api/v2/query really works.
influx_check_flux() {
  local code
  code=$(http_code -XPOST "$INFLUX_URL/api/v2/query" \
    -H "Authorization: Token $INFLUX_USER:$INFLUX_PASSWORD" \
    -H 'Content-Type: application/vnd.flux' -H 'Accept: application/csv' \
    --data 'buckets()')
  [[ $code == 200 ]] || die "influxdb: Flux query on /api/v2/query returned HTTP $code (is flux-enabled set?)"
}

INFLUX_NOTE=
influx_start() {
  local addr=127.0.0.1:$INFLUX_PORT
  # influxdb-client sends "Authorization: Token user:password", which 1.8 splits on ' ' and ':'.
  [[ $INFLUX_PASSWORD != *[[:space:]:]* && $INFLUX_USER != *[[:space:]:]* ]] ||
    die "influxdb: DIPWATCH_INFLUX_USER/PASSWORD must not contain spaces or ':' (used as Token user:password)"
  if running_pid influxdb >/dev/null; then
    INFLUX_NOTE="already running, "
    return 0
  fi
  need curl "influxdb: curl not found (used for health checks)"
  ports_free influxdb "$INFLUX_PORT" "$INFLUX_RPC_PORT" RPC DIPWATCH_INFLUX_RPC_PORT
  influx_install
  influx_configure
  progress "influxdb: starting influxd on $addr (log: $INFLUX_LOG)"
  start_bg influxdb "$INFLUX_LOG" "$INFLUX_HOME/bin/influxd" run -config "$INFLUX_CONF"
}

influx_finish() {
  wait_healthy influxdb influx_ping "$INFLUX_LOG"
  influx_ensure_user
  influx_check_flux
  report influxdb "127.0.0.1:$INFLUX_PORT" "up (${INFLUX_NOTE}user $INFLUX_USER)"
}

influx_unhealthy() {
  if influx_ping; then
    printf 'unhealthy: ping ok but login as %s fails (pid %s)' "$INFLUX_USER" "$1"
  else
    printf 'unhealthy (pid %s, log: %s)' "$1" "$INFLUX_LOG"
  fi
}
influx_status() {
  service_status influxdb "127.0.0.1:$INFLUX_PORT" influx_healthy influx_unhealthy ", user $INFLUX_USER"
}

# ---------------------------------------------------------------- main

usage() {
  printf 'usage: %s up|down|status [kafka|influxdb]...\n' "$0" >&2
  exit 2
}

main() {
  local cmd=${1:-} svc rc=0
  local -a services=()
  [[ -n $cmd ]] || usage
  shift
  for svc in "$@"; do
    case $svc in
      kafka) services+=(kafka) ;;
      influxdb | influx) services+=(influxdb) ;;
      *) die "unknown service '$svc' (expected kafka or influxdb)" ;;
    esac
  done
  ((${#services[@]})) || services=(kafka influxdb)

  mkdir -p "$RUN_DIR" "$LOG_DIR"
  case $cmd in
    up | down)
      # Several people/terminals share one cache: serialise installs and starts.
      if command -v flock >/dev/null 2>&1; then
        exec 9>"$RUN_DIR/lock"
        flock -w 900 9 || die "another services.sh up/down holds $RUN_DIR/lock"
      fi
      if [[ $cmd == up ]]; then
        for svc in "${services[@]}"; do
          case $svc in
            kafka) kafka_start ;;
            influxdb) influx_start ;;
          esac
        done
      fi
      for svc in "${services[@]}"; do
        case $cmd:$svc in
          up:kafka) kafka_finish ;;
          up:influxdb) influx_finish ;;
          down:kafka) stop_svc kafka "127.0.0.1:$KAFKA_PORT" ;;
          down:influxdb) stop_svc influxdb "127.0.0.1:$INFLUX_PORT" ;;
        esac
      done
      ;;
    status)
      for svc in "${services[@]}"; do
        case $svc in
          kafka) kafka_status || rc=1 ;;
          influxdb) influx_status || rc=1 ;;
        esac
      done
      return "$rc"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
