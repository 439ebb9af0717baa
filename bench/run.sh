#!/usr/bin/env bash
# Load benchmark: NGINX CPU per request of the module's routes against a
# plain proxy_pass of the same DynamoDB Query, measured in the same run on
# the same NGINX worker (wrk on loopback, bounded runs).
#
#   make bench                # or: bash bench/run.sh [seconds per run]
#
# Figures are ratios to the baseline measured in this run: the machines are
# shared and noisy, absolute times are not comparable between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

secs=${1:-10}
conns=${BENCH_CONNECTIONS:-16}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
cli=$top/build/ddbm
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-bench.XXXXXX")
table=bench

command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }

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

A=71c568d1-29bb-4ae1-92c5-057d12db82cb
G=5ae290ed-55d1-47a0-bc6d-fe2bc2700399

mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<CONF
load_module $top/build/ngx_http_ddbm_module.so;
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
        location = /_ddbm {
            internal;
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
            proxy_pass http://dynamodb/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /api/message_groups { ddbm_pattern list_conversations; }
        location /api/messages/ { ddbm_pattern list_messages; }
        location = /api/messages { ddbm_pattern post_message; }
    }
}
CONF
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
sleep 0.5
worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -n 1)

# one post, so the conversation has the module's record (3 calls a read)
curl -sf "http://127.0.0.1:$http_port/api/messages" -H "X-Bench-Sub: $A" \
    -d "{\"message\":\"bench\",\"message_group_uuid\":\"$G\"}" >/dev/null

cpu_ticks() {   # utime + stime of the worker, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$worker/stat"
}

# run NAME CALLS_PER_REQUEST PATH LUA
declare -A rps cpu_us
run() {
    local name=$1 calls=$2 path=$3 lua=$4 t0 t1 out n
    wrk -t1 -c"$conns" -d3s -s "bench/$lua" "http://127.0.0.1:$http_port$path" \
        >/dev/null    # warm-up (DynamoDB Local's JIT)
    t0=$(cpu_ticks)
    out=$(wrk -t1 -c"$conns" -d"${secs}s" -s "bench/$lua" \
              "http://127.0.0.1:$http_port$path")
    t1=$(cpu_ticks)
    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    rps[$name]=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    # ticks are 1/100 s (CLK_TCK): microseconds of worker CPU per request
    cpu_us[$name]=$(awk -v d=$((t1 - t0)) -v n="$n" -v c="$calls" \
        -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f %.1f", d * 1e6 / hz / n, d * 1e6 / hz / n / c }')
    printf '%-22s %8s req/s  %6s requests  %s non-2xx  CPU/request %s us, per DynamoDB call %s us\n' \
        "$name" "${rps[$name]}" "$n" "${non2xx:-0}" ${cpu_us[$name]}
}

BENCH_SUB=$A BENCH_GROUP=$G BENCH_TABLE=$table export BENCH_SUB BENCH_GROUP BENCH_TABLE
echo "bench: ${secs}s per run, $conns connections, one NGINX worker, DynamoDB Local"
run baseline_proxy_pass 1 /baseline baseline.lua
run list_messages 3 "/api/messages/$G" api.lua
run list_conversations 2 /api/message_groups api.lua

base=$(echo "${cpu_us[baseline_proxy_pass]}" | cut -d' ' -f2)
for r in list_messages list_conversations; do
    per_call=$(echo "${cpu_us[$r]}" | cut -d' ' -f2)
    awk -v a="$per_call" -v b="$base" -v r="$r" \
        'BEGIN { printf "ratio %-20s NGINX CPU per DynamoDB call = %.2f x plain proxy_pass\n", r, a / b }'
done
