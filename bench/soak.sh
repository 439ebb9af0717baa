#!/usr/bin/env bash
# Soak: SOAK_REQUESTS (1,000,000) requests over every route against NGINX
# with the module (master + 2 workers, keep-alive) and DynamoDB Local, with
# DynamoDB faults injected at random; then the table is scanned and the
# invariants checked (README, "How the invariants hold").
#
#   make soak                 # or: SOAK_REQUESTS=20000 bash bench/soak.sh
#
# How the faults get in: every DynamoDB call goes to the internal location
# /_soak, whose upstream holds DynamoDB Local (weight SOAK_DIRECT_WEIGHT)
# and SOAK_FAKES scripted fakes (t/lib/DdbmFake.pm, weight 1 each; round
# robin per call).  A fake relays to DynamoDB Local, except that with
# probability SOAK_FAULT_P it answers a random fault instead (throttling,
# 500, commit-then-500, canceled transactions, silence, stalls, cut,
# chunked, dripped and garbage answers).  A fake is one Perl process that
# blocks while it relays, so only a share of the calls goes through fakes.
#
# The load: wrk with bench/soak/soak.lua, two lanes at once (see there):
# "mix" (2 threads; every route that must succeed, posts with and without
# Idempotency-Key, identical retries) and "denied" (1 thread; 401, 403,
# 404, 422: a 200 there is a violation).  Every POST answered 200 is
# written down (its text is unique, its key is in its text).  Each
# worker's VmRSS is sampled every SOAK_SAMPLE seconds against the requests
# served so far (stub_status).
#
# After the load, and once no request is in flight, bench/soak/check.py
# scans the table: acknowledged posts stored exactly once, one row per
# member per conversation at its latest message, no orphans, keys honoured,
# nothing stored by a non-member.  A worker crash (`exited on signal`), an
# [alert]/[emerg], a 200 where a denial was due, or any violation: exit 1.
#
# Environment: SOAK_REQUESTS (1000000), SOAK_FAULT_P (0.5), SOAK_FAKES (2),
# SOAK_DIRECT_WEIGHT (30: 2 fakes get 1/16 of the calls, so about 3% of
# the calls fault; with 1/8 and p=0.25 the fakes, relaying at ~85 ms a
# call on a busy 2-core machine, were busy 95% of the time and calls
# queued behind them timed out), SOAK_CONNECTIONS (mix lane, 32),
# SOAK_DENIED_CONNECTIONS
# (4), SOAK_SAMPLE (5), SOAK_MAX_SECONDS (10800: wrk's bound; a run cut
# by it fails, saying how many requests ran), SOAK_FAULTS (only these
# faults of DdbmFake's @RANDOM_FAULTS, comma separated), SOAK_KEEP=1
# keeps the work directory (it is kept anyway on failure), NGINX_BINARY,
# DDBM_MODULE.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

total=${SOAK_REQUESTS:-1000000}
fault_p=${SOAK_FAULT_P:-0.5}
nfakes=${SOAK_FAKES:-2}
direct_weight=${SOAK_DIRECT_WEIGHT:-30}
conns=${SOAK_CONNECTIONS:-32}
dconns=${SOAK_DENIED_CONNECTIONS:-4}
sample=${SOAK_SAMPLE:-5}
max_secs=${SOAK_MAX_SECONDS:-10800}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
module=${DDBM_MODULE:-$top/build/ngx_http_ddbm_module.so}
cli=$top/build/ddbm
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-soak.XXXXXX")
table=soak
run=r$(date +%s)

command -v wrk >/dev/null || { echo "soak: wrk is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "soak: python3 is needed" >&2; exit 1; }
[ -x "$cli" ] && [ -f "$module" ] \
    || { echo "soak: run make build first" >&2; exit 1; }

pids=()         # background helpers of ours, stopped at exit
status=1
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    [ -s "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
    bash scripts/ddb-local.sh stop "$work/ddb.pid" >/dev/null 2>&1 || true
    sleep 0.5
    if [ "$status" -eq 0 ] && [ "${SOAK_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "soak: evidence kept in $work" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "soak: $(date +%T) $*"; }

ddb_port=$(bash scripts/free-port.sh)
http_port=$(bash scripts/free-port.sh "$ddb_port")
DDB_LOCAL_WATCH_PID=$$ bash scripts/ddb-local.sh start "$ddb_port" \
    "$work/ddb.pid" "$work/ddb.log" >/dev/null

export DDBM_ENDPOINT=http://127.0.0.1:$ddb_port
"$cli" --table "$table" schema-load >/dev/null
"$cli" --table "$table" seed >/dev/null

# the fakes: each writes its port, then serves until we stop it
if [ -n "${SOAK_FAULTS:-}" ]; then
    export DDBM_FAKE_FAULTS=$SOAK_FAULTS     # only these faults
fi
fake_servers=""
for i in $(seq 1 "$nfakes"); do
    perl bench/soak/fake.pl "$ddb_port" "$work/fake$i.port" \
        "$work/fake$i.stats" 2>"$work/fake$i.log" &
    pids+=($!)
done
for i in $(seq 1 "$nfakes"); do
    for _ in $(seq 1 100); do
        [ -s "$work/fake$i.port" ] && break
        sleep 0.1
    done
    [ -s "$work/fake$i.port" ] || { echo "soak: fake $i did not start" >&2; exit 1; }
    fake_servers+="        server 127.0.0.1:$(cat "$work/fake$i.port") max_fails=0;
"
done

# the seeded users (ddbm seed): Cognito subs and handles
A=71c568d1-29bb-4ae1-92c5-057d12db82cb     # andrewbrown
B=8fa3c183-b83e-47b8-b41e-68081e5ff801     # bayko
L=7d62a217-66bb-4d2e-be24-ddb1b04128f9     # londo
G=5ae290ed-55d1-47a0-bc6d-fe2bc2700399     # andrewbrown + bayko

# a private copy: a rebuild under a running NGINX crashes its workers
cp "$module" "$work/ngx_http_ddbm_module.so"
mkdir -p "$work/logs" "$work/cores"
# the workers (user nobody) must reach their working directory
chmod 711 "$work"
chmod 1777 "$work/cores"
cat > "$work/nginx.conf" <<CONF
load_module $work/ngx_http_ddbm_module.so;
worker_processes 2;
# a crashed worker leaves a core here (core_pattern permitting)
worker_rlimit_core 4g;
working_directory $work/cores;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    upstream dynamodb { server 127.0.0.1:$ddb_port; keepalive 64; }
    # DynamoDB Local, and the fakes that sometimes fault (per call)
    upstream soak_mix {
        server 127.0.0.1:$ddb_port weight=$direct_weight max_fails=0;
$fake_servers        keepalive 64;
    }
    ddbm_table $table;
    ddbm_endpoint_host 127.0.0.1:$ddb_port;
    ddbm_credentials static local local;
    ddbm_identity \$http_x_soak_sub unsafe_client_supplied;
    ddbm_backend /_soak;
    server {
        listen 127.0.0.1:$http_port backlog=1024;
        keepalive_requests 100000;
        # DynamoDB Local takes any path: the fakes read theirs
        location = /_soak {
            internal;
            proxy_pass http://soak_mix/random/$fault_p/soak;
            proxy_http_version 1.1;
            proxy_pass_request_headers off;
            proxy_set_header Connection "";
            proxy_set_header Host \$ddbm_host;
            proxy_set_header Content-Type application/x-amz-json-1.0;
            proxy_set_header X-Amz-Target \$ddbm_target;
            proxy_set_header X-Amz-Date \$ddbm_date;
            proxy_set_header X-Amz-Security-Token \$ddbm_security_token;
            proxy_set_header Authorization \$ddbm_authorization;
            # a fault is the answer: never another server instead
            proxy_next_upstream off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 1m;
        }
        # set-up and checks, no faults
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
        location = /soak_status { stub_status; }
        location = /health { ddbm_pattern health; }
        location = /api/message_groups { ddbm_pattern list_conversations; }
        location /api/messages/ { ddbm_pattern list_messages; }
        location = /api/messages { ddbm_pattern post_message; }
        location ~ ^/api/users/@([^/]+)/short\$ { ddbm_pattern user_short \$1; }
        location = /setup/messages {
            ddbm_pattern post_message;
            ddbm_backend /_ddbm;
        }
    }
}
CONF
ulimit -c unlimited 2>/dev/null || true
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
for _ in $(seq 1 50); do
    [ -s "$work/nginx.pid" ] && break
    sleep 0.1
done
master=$(cat "$work/nginx.pid")
base=http://127.0.0.1:$http_port

workers() { pgrep -P "$master" | sort -n | tr '\n' ' '; }
for _ in $(seq 1 50); do
    [ "$(workers | wc -w)" -eq 2 ] && break
    sleep 0.1
done
workers_at_start=$(workers)

# start SENDER_SUB RECEIVER_HANDLE: a new conversation (no faults)
start() {
    curl -sf "$base/setup/messages" -H "X-Soak-Sub: $1" \
        -d "{\"message\":\"soak set-up\",\"handle\":\"$2\"}" \
        | sed -n 's/.*"message_group_uuid":"\([^"]*\)".*/\1/p'
}
members="" outsiders=""
add() {   # add GROUP MEMBER_SUB MEMBER_SUB OUTSIDER_SUB
    members+="$2:$1,$3:$1,"
    outsiders+="$4:$1,"
}
say "set-up: conversations (warms DynamoDB Local up)"
add "$G" "$A" "$B" "$L"
# the seeded conversation gets the module's record with a first post
curl -sf "$base/setup/messages" -H "X-Soak-Sub: $A" \
    -d "{\"message\":\"soak set-up\",\"message_group_uuid\":\"$G\"}" >/dev/null
for i in $(seq 1 40); do
    case $((i % 5)) in
        0|1|2) g=$(start "$A" bayko || true); add "$g" "$A" "$B" "$L" ;;
        3) g=$(start "$L" andrewbrown || true); add "$g" "$L" "$A" "$B" ;;
        4) g=$(start "$B" londo || true); add "$g" "$B" "$L" "$A" ;;
    esac
    [ -n "$g" ] || { echo "soak: could not start a conversation" >&2; exit 1; }
done
for _ in $(seq 1 200); do    # reads, so the JIT has seen them too
    # (faults too: an answer may be 5xx)
    curl -s "$base/api/messages/$G" -H "X-Soak-Sub: $A" >/dev/null || true
    curl -s "$base/api/message_groups" -H "X-Soak-Sub: $B" >/dev/null || true
done

requests_served() {   # client requests NGINX has read so far
    curl -sf "$base/soak_status" | awk 'NR == 3 { print $3 }'
}
active_connections() {
    curl -sf "$base/soak_status" | awk 'NR == 1 { print $3 }'
}

# RSS sampler: "seconds requests pid rss_kb pid rss_kb" every $sample s
sampler() {
    local t0=$SECONDS w line
    for _ in $(seq 1 $((max_secs / sample + 100))); do
        line="$((SECONDS - t0)) $(requests_served || echo -)"
        for w in $(workers); do
            line+=" $w $(awk '/^VmRSS/ { print $2 }' "/proc/$w/status" 2>/dev/null || echo 0)"
        done
        echo "$line" >> "$work/rss.log"
        [ -e "$work/sampler.stop" ] && return
        sleep "$sample"
    done
}
sampler &
pids+=($!)

mix_quota=$(( (total * 85 / 100 + 1) / 2 ))     # per thread (2)
denied_quota=$(( total - 2 * mix_quota ))       # one thread
lane_env=(SOAK_DIR="$work" SOAK_RUN="$run" SOAK_SUB_HEADER=X-Soak-Sub
          SOAK_MEMBERS="${members%,}" SOAK_OUTSIDERS="${outsiders%,}"
          SOAK_CREATE="$A:bayko,$A:londo,$B:andrewbrown,$B:londo,$L:andrewbrown,$L:bayko"
          SOAK_HANDLES=andrewbrown,bayko,londo SOAK_SUBS="$A,$B,$L")

say "load: $total requests ($((2 * mix_quota)) mix, $denied_quota denied)," \
    "$conns+$dconns connections, faults: $nfakes fakes of weight 1 vs" \
    "DynamoDB Local $direct_weight, p=$fault_p"
t_start=$(date +%s.%N)
env "${lane_env[@]}" SOAK_LANE=mix SOAK_QUOTA="$mix_quota" \
    wrk -t2 -c"$conns" -d"${max_secs}s" --timeout 30s -s bench/soak/soak.lua \
    "$base" > "$work/wrk-mix.out" 2>&1 &
wrk_mix=$!
pids+=($wrk_mix)
env "${lane_env[@]}" SOAK_LANE=denied SOAK_QUOTA="$denied_quota" \
    wrk -t1 -c"$dconns" -d"${max_secs}s" --timeout 30s -s bench/soak/soak.lua \
    "$base" > "$work/wrk-denied.out" 2>&1 &
wrk_denied=$!
pids+=($wrk_denied)

# wrk's threads stop at their quota, but wrk itself sleeps for -d: end it
# (SIGINT: it prints its summary) once all its threads are done
finished() {   # finished LANE THREADS PID
    local i
    kill -0 "$3" 2>/dev/null || return 0
    for i in $(seq 0 $(($2 - 1))); do
        [ -e "$work/done-$1-$i" ] || return 1
    done
    kill -INT "$3" 2>/dev/null || true
    return 0
}
last_report=$SECONDS
for _ in $(seq 1 $((max_secs + 60))); do
    m=0 d=0
    finished mix 2 "$wrk_mix" && m=1
    finished denied 1 "$wrk_denied" && d=1
    [ $m = 1 ] && [ $d = 1 ] && break
    if [ $((SECONDS - last_report)) -ge 60 ]; then
        last_report=$SECONDS
        say "progress: $(requests_served) requests served," \
            "workers $(workers)"
    fi
    sleep 1
done
wait "$wrk_mix" "$wrk_denied" 2>/dev/null || true
t_end=$(date +%s.%N)

# in flight: until the status request is the only connection (bounded;
# a hung call ends at proxy_read_timeout, retries in a few seconds)
for _ in $(seq 1 120); do
    [ "$(active_connections)" = 1 ] && break
    sleep 0.5
done
sleep 3
touch "$work/sampler.stop"
sleep $((sample + 1))
workers_at_end=$(workers)

say "load done; scanning the table"
set +e
python3 bench/soak/check.py --endpoint "$DDBM_ENDPOINT" --table "$table" \
    --dir "$work" --run "$run" > "$work/check.out" 2>&1
check_rc=$?
set -e

cat "$work/check.out"
set +e
python3 bench/soak/report.py --dir "$work" --nfakes "$nfakes" \
    --total "$total" --t-start "$t_start" --t-end "$t_end" \
    --workers-start "$workers_at_start" --workers-end "$workers_at_end" \
    --check-rc "$check_rc"
status=$?
set -e
exit "$status"
