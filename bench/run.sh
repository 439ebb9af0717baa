#!/usr/bin/env bash
# Load benchmark: NGINX CPU per request, and per DynamoDB call, of every API
# route against a plain proxy_pass of a DynamoDB Query, measured in the
# same run on the same NGINX worker (wrk on loopback, bounded runs).
#
#   make bench                # or: bash bench/run.sh [seconds per run]
#
# Figures are ratios to the baseline measured in this run: the machines are
# shared and noisy, absolute times are not comparable between runs.
#
# Every answer is checked against the status its route must give
# (t/load/routes.lua), and the worker is watched: a worker that dies
# (`exited on signal` in the error log, or another worker pid) or an
# unexpected status is reported as a failure for that route, the other
# routes still run, and the script exits 1.
#
# Environment: BENCH_CONNECTIONS (16), BENCH_WARMUP (seconds, 3),
# BENCH_ROUTES (only these routes, space separated), NGINX_BINARY,
# DDBM_MODULE (the .so to measure: build/ngx_http_ddbm_module.so).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

secs=${1:-10}
conns=${BENCH_CONNECTIONS:-16}
warmup=${BENCH_WARMUP:-3}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
module=${DDBM_MODULE:-$top/build/ngx_http_ddbm_module.so}
cli=$top/build/ddbm
lua=$top/t/load/routes.lua
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-bench.XXXXXX")
table=bench

command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }
[ -x "$cli" ] && [ -f "$module" ] \
    || { echo "bench: run make build first" >&2; exit 1; }

cleanup() {
    [ -s "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
    bash scripts/ddb-local.sh stop "$work/ddb.pid" >/dev/null 2>&1 || true
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ddb_port=$(bash scripts/free-port.sh)
http_port=$(bash scripts/free-port.sh "$ddb_port")
DDB_LOCAL_WATCH_PID=$$ bash scripts/ddb-local.sh start "$ddb_port" \
    "$work/ddb.pid" "$work/ddb.log" >/dev/null

export DDBM_ENDPOINT=http://127.0.0.1:$ddb_port
"$cli" --table "$table" schema-load >/dev/null
"$cli" --table "$table" seed >/dev/null

# the seeded users (ddbm seed) and their conversation
A=71c568d1-29bb-4ae1-92c5-057d12db82cb     # andrewbrown
B=8fa3c183-b83e-47b8-b41e-68081e5ff801     # bayko
L=7d62a217-66bb-4d2e-be24-ddb1b04128f9     # londo, in no conversation yet
G=5ae290ed-55d1-47a0-bc6d-fe2bc2700399

# a private copy: a rebuild that rewrites build/*.so under a running NGINX
# crashes its workers (SIGBUS), which would pass for a module bug
cp "$module" "$work/ngx_http_ddbm_module.so"
mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
load_module $work/ngx_http_ddbm_module.so;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    upstream dynamodb { server 127.0.0.1:$ddb_port; keepalive 64; }
    ddbm_table $table;
    ddbm_endpoint_host 127.0.0.1:$ddb_port;
    ddbm_credentials static local local;
    ddbm_identity \$http_x_bench_sub;
    server {
        listen 127.0.0.1:$http_port;
        # one log line per DynamoDB call, buffered, in both the module's
        # internal location and the baseline, so both pay the same: the
        # number of calls per request is counted, not assumed
        location = /_ddbm {
            internal;
            log_subrequest on;
            access_log $work/logs/calls.log combined buffer=64k flush=1s;
            proxy_pass http://dynamodb/;
            proxy_http_version 1.1;
            proxy_pass_request_headers off;
            proxy_set_header Connection "";
            proxy_set_header Host \$ddbm_host;
            proxy_set_header Content-Type application/x-amz-json-1.0;
            proxy_set_header X-Amz-Target \$ddbm_target;
            proxy_set_header X-Amz-Date \$ddbm_date;
            proxy_set_header X-Amz-Security-Token \$ddbm_security_token;
            proxy_set_header Authorization \$ddbm_authorization;
            subrequest_output_buffer_size 1m;
        }
        # the baseline: the client sends a signed DynamoDB call, NGINX
        # proxies it with the same keepalive pool
        location = /baseline {
            access_log $work/logs/calls.log combined buffer=64k flush=1s;
            proxy_pass http://dynamodb/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /health { ddbm_pattern health; }
        location = /api/message_groups { ddbm_pattern list_conversations; }
        location /api/messages/ { ddbm_pattern list_messages; }
        location = /api/messages { ddbm_pattern post_message; }
        location ~ ^/api/users/@([^/]+)/short\$ { ddbm_pattern user_short \$1; }
    }
}
CONF
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
for _ in $(seq 1 50); do
    [ -s "$work/nginx.pid" ] && break
    sleep 0.1
done
master=$(cat "$work/nginx.pid")

worker_now() {  # the worker's pid (the master runs one)
    pgrep -P "$master" | head -n 1
}
for _ in $(seq 1 50); do
    worker=$(worker_now) && [ -n "$worker" ] && break
    sleep 0.1
done

# conversations of andrewbrown and bayko for the update-mode posts: one
# conversation under 16 writers at once answers some 503 (busy, by design)
groups=$G
for _ in $(seq 1 31); do
    g=$(curl -sf "http://127.0.0.1:$http_port/api/messages" -H "X-Bench-Sub: $A" \
            -d '{"message":"bench","handle":"bayko"}' \
        | sed -n 's/.*"message_group_uuid":"\([^"]*\)".*/\1/p')
    [ -n "$g" ] || { echo "bench: could not start a conversation" >&2; exit 1; }
    groups=$groups,$g
done
# one post, so the seeded conversation has the module's record (3 calls a
# read, as every conversation the module wrote)
curl -sf "http://127.0.0.1:$http_port/api/messages" -H "X-Bench-Sub: $A" \
    -d "{\"message\":\"bench\",\"message_group_uuid\":\"$G\"}" >/dev/null

cpu_ticks() {   # utime + stime of the worker, in clock ticks; empty if gone
    awk '{ print $14 + $15 }' "/proc/$worker/stat" 2>/dev/null || true
}

log_at=0
# crashed WHAT: true (and says so) when the worker died since the last call
# (`exited on signal` in the error log, or the master runs another worker);
# then follows the new worker
crashed() {
    local what=$1 size lines now
    size=$(stat -c %s "$work/logs/error.log")
    lines=$(tail -c +"$((log_at + 1))" "$work/logs/error.log" \
            | grep 'exited on signal' || true)
    log_at=$size
    now=$(worker_now || true)
    kill -0 "$master" 2>/dev/null \
        || { echo "bench: FAIL: the NGINX master is gone during $what" >&2; exit 1; }
    if [ -n "$lines" ] || [ "$now" != "$worker" ]; then
        echo "bench: FAIL: $what: the NGINX worker $worker died" \
             "($(echo "$lines" | grep -c 'exited on signal') x 'exited on signal';" \
             "worker now ${now:-none})" >&2
        [ -n "$lines" ] && echo "$lines" | head -n 3 | sed 's/^/    /' >&2
        for _ in $(seq 1 50); do
            now=$(worker_now || true)
            [ -n "$now" ] && break
            sleep 0.1
        done
        worker=$now
        return 0
    fi
    return 1
}

calls_logged() {    # DynamoDB calls logged so far (the buffer flushes at 1s)
    wc -l < "$work/logs/calls.log" 2>/dev/null || echo 0
}

# run NAME LUA_ROUTE PATH [VAR=VALUE...]: warm-up, then the measured run;
# LUA_ROUTE "baseline" is bench/baseline.lua, else a route of routes.lua
declare -A rps cpu_us calls
failures=()
run() {
    local name=$1 route=$2 path=$3 script out rc t0 t1 n c0 c1 line
    shift 3
    if [ "$route" = baseline ]; then
        script=$top/bench/baseline.lua
    else
        script=$lua
    fi
    # routes.lua reads its parameters from the environment
    local -a envs=(LOAD_ROUTE="$route" LOAD_SUB_HEADER=X-Bench-Sub
                   LOAD_THREADS=1 LOAD_TAG="bench-$name" "$@")

    rc=0
    env "${envs[@]}" wrk -t1 -c"$conns" -d"${warmup}s" --timeout 10s \
        -s "$script" "http://127.0.0.1:$http_port$path" >/dev/null 2>&1 || rc=$?
    if crashed "$name (warm-up)"; then
        failures+=("$name: worker crash (warm-up)")
        return
    fi

    sleep 1.2                   # the calls log flushed
    c0=$(calls_logged)
    t0=$(cpu_ticks)
    rc=0
    out=$(env "${envs[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s \
              -s "$script" "http://127.0.0.1:$http_port$path" 2>&1) || rc=$?
    t1=$(cpu_ticks)
    if crashed "$name" || [ -z "$t0" ] || [ -z "$t1" ]; then
        failures+=("$name: worker crash")
        printf '%-22s CRASHED (no figures)\n' "$name"
        return
    fi
    sleep 1.2
    c1=$(calls_logged)

    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    line=$(echo "$out" | grep '^ddbm-load ' || true)
    if [ "$route" = baseline ]; then
        # DynamoDB Local's answer: anything but 200 is a broken baseline
        if echo "$out" | grep -q 'Non-2xx'; then
            failures+=("$name: $(echo "$out" | grep 'Non-2xx')")
        fi
    elif [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        failures+=("$name: unexpected statuses: ${line:-wrk exited with $rc}")
        echo "bench: FAIL: $name: ${line:-$out}" >&2
    fi
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        failures+=("$name: no request completed")
        return
    fi

    rps[$name]=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    calls[$name]=$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { printf "%.2f", c / n }')
    # ticks are 1/CLK_TCK s: microseconds of worker CPU per request, and
    # per DynamoDB call when the route makes any
    cpu_us[$name]=$(awk -v d=$((t1 - t0)) -v n="$n" -v c="${calls[$name]}" \
        -v hz="$(getconf CLK_TCK)" \
        'BEGIN { r = d * 1e6 / hz / n;
                 if (c > 0) printf "%.1f %.1f", r, r / c;
                 else printf "%.1f -", r }')
    # shellcheck disable=SC2086  # cpu_us holds two fields
    printf '%-22s %8s req/s  %7s requests  %5s calls/request  CPU/request %s us, per DynamoDB call %s us\n' \
        "$name" "${rps[$name]}" "$n" "${calls[$name]}" ${cpu_us[$name]}
}

wanted() {
    [ -z "${BENCH_ROUTES:-}" ] || [[ " $BENCH_ROUTES " == *" $1 "* ]]
}

export BENCH_SUB=$A BENCH_GROUP=$G BENCH_TABLE=$table   # baseline.lua
echo "bench: ${secs}s per run (${warmup}s warm-up), $conns connections, one NGINX worker, DynamoDB Local"
crashed "set-up" && failures+=("set-up: worker crash")

run baseline_proxy_pass baseline /baseline
# name                  routes.lua route      parameters
routes=(
  "health               health"
  "user_short           user_short            LOAD_HANDLE=bayko"
  "list_conversations   list_conversations    LOAD_SUBS=$A,$B"
  "list_messages        list_messages         LOAD_SUBS=$A,$B LOAD_GROUPS=$G"
  "401_no_identity      no_identity"
  "401_unknown_identity unknown_identity"
  "403_not_member_read  not_member_read       LOAD_SUBS=$L LOAD_GROUPS=$G"
  "403_not_member_post  not_member_post       LOAD_SUBS=$L LOAD_GROUPS=$G"
  "404_unknown_group    unknown_conversation  LOAD_SUBS=$A"
  "422_blank_message    blank_message         LOAD_SUBS=$A LOAD_GROUPS=$G"
  "post_update          post_update           LOAD_SUBS=$A,$B LOAD_GROUPS=$groups"
  "post_create          post_create           LOAD_SUBS=$L LOAD_HANDLE=andrewbrown"
)
for r in "${routes[@]}"; do
    # shellcheck disable=SC2086  # the parameters are words
    set -- $r
    wanted "$1" || continue
    run "$1" "$2" / "${@:3}"
done

# the baseline again, after the routes: DynamoDB Local is warmer now and
# the ratios use the mean of both, so the order of the runs matters less
run baseline_again baseline /baseline
base=$(awk -v a="$(echo "${cpu_us[baseline_proxy_pass]:-}" | cut -d' ' -f2)" \
           -v b="$(echo "${cpu_us[baseline_again]:-}" | cut -d' ' -f2)" \
           'BEGIN { if (a > 0 && b > 0) printf "%.1f", (a + b) / 2 }')
[ -n "$base" ] && echo "baseline: $base us of NGINX CPU per DynamoDB call (mean of both runs)"
for r in "${routes[@]}"; do
    r=${r%% *}
    per_call=$(echo "${cpu_us[$r]:-}" | cut -d' ' -f2)
    if [ -z "$base" ] || [ -z "$per_call" ] || [ "$per_call" = - ]; then
        continue
    fi
    awk -v a="$per_call" -v b="$base" -v r="$r" \
        'BEGIN { printf "ratio %-20s NGINX CPU per DynamoDB call = %.2f x plain proxy_pass\n", r, a / b }'
done

if [ "${#failures[@]}" -gt 0 ]; then
    echo "bench: FAILED:" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "bench: every route finished, no worker crash, every status as expected"
