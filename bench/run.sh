#!/usr/bin/env bash
# Load benchmark: every API route through the module (ddbm_cache on, warm)
# against a plain NGINX proxy_pass of the same DynamoDB call(s) to the same
# backend, on two backends, in one run, printed as one markdown table:
#
#   local   DynamoDB Local (scripts/ddb-local.sh), warmed up first
#   canned  a separate NGINX (bench/canned.conf: its own master and worker,
#           so its CPU is not the module's) answering every call from
#           fixtures fetched from DynamoDB Local at the start of the run
#
#   make bench                # or: bash bench/run.sh [seconds per run]
#
# Per route and backend: req/s, p50/p99 latency (wrk --latency), the module
# NGINX worker's CPU per request (/proc utime+stime, one worker), DynamoDB
# calls per request (one access log line per call, in the module's internal
# location and in the baseline's alike), and the ratios to the baseline.
# The baseline and the module's runs of a route take turns, BENCH_ROUNDS
# times: each figure is the median of its rounds, each ratio the median of
# the rounds' ratios (a baseline and the module's run seconds apart), and
# the targets list every round's ratio too.  One 5 s run on a shared
# 2-core machine with DynamoDB Local's JVM beside it was seen to give a
# req/s ratio anywhere from 0.73 to 1.28 for the same build.  Token
# verification (ddbm_jwt, bench/jwt.sh's dev keys) off and on.  Then the
# worker's RSS before and after BENCH_RSS_REQUESTS
# requests (list messages, canned backend), and the targets, met or not;
# for the canned list routes, what parsing their page costs outside NGINX
# (build/parse-cost: yajl alone, and the module's whole rewrite).
# Figures are ratios to baselines measured in this run: the machines are
# shared and noisy, absolute figures are not comparable between runs.
#
# The reads (list_conversations, list_messages, user_short) are the
# routes nginx.conf.example declares (ddbm_route), with the schema and
# route text taken from its markers as t/lib/DdbmModule.pm takes them.
# Their C patterns are gone: the comparison of the two, run in turn in the
# same rounds, was measured before they were deleted and is recorded in
# bench/RESULTS.md; this script no longer makes it.
#
# Every answer is checked against the status its route must give
# (t/load/routes.lua; the baseline: 2xx), and the worker is watched: a
# worker that dies (`exited on signal` in the error log, or another worker
# pid) or an unexpected status is reported as a failure for that run, the
# other runs still happen, and the script exits 1.  A missed target is
# reported, not a failure.
#
# Environment: BENCH_SECONDS (5; or the first argument), BENCH_ROUNDS (3),
# BENCH_WARMUP (seconds before a run's first round, 2), BENCH_DDB_WARMUP (seconds of load
# on a fresh DynamoDB Local before anything is measured, 30),
# BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_BACKENDS ("local
# canned"), BENCH_ROUTES (only these routes, space separated),
# BENCH_RSS_REQUESTS (1000000; 0 skips the phase), NGINX_BINARY,
# DDBM_MODULE (the .so to measure: build/ngx_http_ddbm_module.so),
# BENCH_KEEP (set: keep the work directory, its logs and fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

secs=${1:-${BENCH_SECONDS:-5}}
warmup=${BENCH_WARMUP:-2}
rounds=${BENCH_ROUNDS:-3}
ddb_warmup=${BENCH_DDB_WARMUP:-30}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-16}
backends=${BENCH_BACKENDS:-local canned}
rss_requests=${BENCH_RSS_REQUESTS:-1000000}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
module=${DDBM_MODULE:-$top/build/ngx_http_ddbm_module.so}
cli=$top/build/ddbm
parse_cost=$top/build/parse-cost
lua=$top/t/load/routes.lua
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-bench.XXXXXX")
chmod 755 "$work"       # the canned backend's worker (nobody) reads fixtures
table=bench
started=$(date +%s)

command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }
[ -x "$cli" ] && [ -x "$parse_cost" ] && [ -f "$module" ] \
    || { echo "bench: run make build first" >&2; exit 1; }

cleanup() {
    local f
    for f in "$work/nginx.pid" "$work/canned.pid"; do
        [ -s "$f" ] && kill -QUIT "$(cat "$f")" 2>/dev/null
    done
    bash scripts/ddb-local.sh stop "$work/ddb.pid" >/dev/null 2>&1 || true
    sleep 0.5
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "bench: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM        # after the running command; EXIT cleans up

port() {    # a free loopback port none of the others took (the caller
            # adds it to ports: this runs in a subshell)
    bash scripts/free-port.sh "${ports[@]}"
}
ports=("$(bash scripts/free-port.sh)")
ddb_port=${ports[0]}
canned_port=$(port); ports+=("$canned_port")
record_port=$(port); ports+=("$record_port")
back_port=$(port); ports+=("$back_port")
p_record=$(port); ports+=("$p_record")
declare -A mport
for b in local canned; do
    for j in off on; do
        mport[$b-$j]=$(port); ports+=("${mport[$b-$j]}")
    done
done

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

# tokens for ddbm_jwt on, as bench/jwt.sh makes them
"$cli" dev-keys --dir "$work/keys" >/dev/null
tok() { "$cli" mint-token --dir "$work/keys" --sub "$1" --ttl 7200; }
tA=$(tok "$A"); tB=$(tok "$B"); tL=$(tok "$L")

# the canned backend (and its recorder, which proxies to DynamoDB Local)
mkdir -p "$work/fixtures" "$work/logs"
sed -e "s|@WORK@|$work|g" -e "s|@CANNED_PORT@|$canned_port|g" \
    -e "s|@RECORD_PORT@|$record_port|g" -e "s|@BACK_PORT@|$back_port|g" \
    -e "s|@DDB_PORT@|$ddb_port|g" bench/canned.conf > "$work/canned.conf"
"$nginx" -p "$work" -c "$work/canned.conf" -e "$work/canned-error.log"

# a private copy: a rebuild that rewrites build/*.so under a running NGINX
# crashes its workers (SIGBUS), which would pass for a module bug
cp "$module" "$work/ngx_http_ddbm_module.so"

# the declared schema and routes of nginx.conf.example
# (t/lib/DdbmExample.pm, as the suites take them), the schema's table this
# run's: the schema at http level, each route in a file the read
# locations include
mkdir -p "$work/routes"
perl "$top/t/lib/DdbmExample.pm" schema "$table" > "$work/schema.conf"
for r in list_conversations list_messages user_short; do
    perl "$top/t/lib/DdbmExample.pm" route "$r" > "$work/routes/$r.conf"
done

# server PORT UPSTREAM JWT CACHE: the API on PORT, its DynamoDB calls to
# UPSTREAM; JWT on: identity from a verified token, else from X-Bench-Sub
# shellcheck disable=SC2016  # NGINX variables, not the shell's
server() {
    local port=$1 up=$2 jwt=$3 cache=$4 identity='$http_x_bench_sub unsafe_client_supplied' auth=
    if [ "$jwt" = on ]; then
        identity='$ddbm_jwt_sub'
        auth='ddbm_jwt on;'
    fi
    cat <<CONF
    server {
        listen 127.0.0.1:$port backlog=1024;
        ddbm_identity $identity;
        ddbm_cache $cache;
        # one log line per DynamoDB call, buffered, in both the module's
        # internal location and the baseline, so both pay the same: the
        # number of calls per request is counted, not assumed
        location = /_ddbm {
            internal;
            log_subrequest on;
            access_log $work/logs/calls.log combined buffer=64k flush=1s;
            proxy_pass http://$up/;
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
        # the baseline: the client sends the DynamoDB call, NGINX proxies
        # it with the same keepalive pool and returns the answer as is
        location = /baseline {
            access_log $work/logs/calls.log combined buffer=64k flush=1s;
            proxy_pass http://$up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /health { ddbm_pattern health; }
        location = /api/messages { $auth ddbm_pattern post_message; }
        # the reads: nginx.conf.example's ddbm_route blocks
        location = /api/message_groups {
            $auth include $work/routes/list_conversations.conf;
        }
        location ~ ^/api/messages/(?<group>[^/]+)\$ {
            $auth include $work/routes/list_messages.conf;
        }
        location ~ ^/api/users/@(?<handle>[^/]+)/short\$ {
            include $work/routes/user_short.conf;
        }
    }
CONF
}

{
    cat <<CONF
load_module $work/ngx_http_ddbm_module.so;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    upstream local { server 127.0.0.1:$ddb_port; keepalive 64; }
    upstream canned { server 127.0.0.1:$canned_port; keepalive 64; }
    upstream record { server 127.0.0.1:$record_port; keepalive 64; }
    ddbm_table $table;
    ddbm_endpoint_host 127.0.0.1:$ddb_port;
    ddbm_credentials static local local;
    ddbm_jwt_jwks $work/keys/jwks.json;
    ddbm_jwt_issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1;
    ddbm_jwt_client_id ddbmdevclient;
    include $work/schema.conf;
CONF
    # one cache per backend: a canned transaction "succeeds" without
    # touching DynamoDB Local, so their records' revisions differ
    for b in local canned; do
        for j in off on; do
            server "${mport[$b-$j]}" "$b" "$j" "zone=$b:10m"
        done
    done
    # the set-up's server: no cache, so every call is made (and recorded)
    server "$p_record" record off off
    echo "}"
} > "$work/nginx.conf"
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
for _ in $(seq 1 50); do
    [ -s "$work/nginx.pid" ] && [ -s "$work/canned.pid" ] && break
    sleep 0.1
done
master=$(cat "$work/nginx.pid")
canned_master=$(cat "$work/canned.pid")

worker_now() {  # the worker's pid (the master runs one)
    pgrep -P "$master" | head -n 1
}
for _ in $(seq 1 50); do
    worker=$(worker_now) && [ -n "$worker" ] && break
    sleep 0.1
done

# ---- set-up, through the recorder (DynamoDB Local) -----------------------

R=http://127.0.0.1:$p_record
rec_at=0
# recorded: the record log's lines since the last call (the calls made
# since) into $new
new=
recorded() {
    local lines
    sleep 0.3                   # the recorder logs when its request ends
    lines=$(wc -l < "$work/record.log")
    new=$(tail -n +"$((rec_at + 1))" "$work/record.log" | head -n "$((lines - rec_at))")
    rec_at=$lines
}
post() {    # post SUB BODY: the answer
    curl -sf "$R/api/messages" -H "X-Bench-Sub: $1" -d "$2"
}
: > "$work/record.log"

# conversations of andrewbrown and bayko for the update-mode posts: one
# conversation under 16 writers at once answers some 503 (busy, by design)
groups=$G
for _ in $(seq 1 31); do
    g=$(post "$A" '{"message":"bench","handle":"bayko"}' \
        | sed -n 's/.*"message_group_uuid":"\([^"]*\)".*/\1/p')
    [ -n "$g" ] || { echo "bench: could not start a conversation" >&2; exit 1; }
    groups=$groups,$g
done
# posts to the seeded conversation (12 messages): the module's record, and
# a full page of 20 for the list of messages
for i in $(seq 1 9); do
    post "$([ $((i % 2)) = 0 ] && echo "$A" || echo "$B")" \
        "{\"message\":\"bench $i\",\"message_group_uuid\":\"$G\"}" >/dev/null \
        || { echo "bench: could not post to $G" >&2; exit 1; }
done
recorded

# the call(s) each route makes on its warm path, as the module sends them:
# the baselines' bodies (tab separated: fixture, target, body)
declare -A base_target base_body base_what base_fixture
take() {    # take NAME PATTERN WHAT: the last recorded call matching PATTERN
    local line
    recorded
    line=$(printf '%s\n' "$new" | grep -E "$2" | tail -n 1 || true)
    [ -n "$line" ] || { echo "bench: no recorded call for $1 ($2)" >&2; exit 1; }
    base_target[$1]=$(printf '%s' "$line" | cut -f2 | sed 's/^DynamoDB_20120810\.//')
    base_body[$1]=$(printf '%s' "$line" | cut -f3-)
    base_fixture[$1]=$(printf '%s' "$line" | cut -f1)
    base_what[$1]=$3
}
post "$A" "{\"message\":\"bench\",\"message_group_uuid\":\"$G\"}" >/dev/null
take post_update '^TransactWriteItems' 'TransactWriteItems (update)'
post "$L" '{"message":"bench","handle":"andrewbrown"}' >/dev/null
take post_create '^TransactWriteItems' 'TransactWriteItems (create)'
curl -sf "$R/health" >/dev/null
take health '^DescribeTable' 'DescribeTable'
curl -sf "$R/api/users/@bayko/short" >/dev/null
take user_short '^GetItem-USER#HANDLE#bayko' 'GetItem (cold path: warm is 0 calls)'
curl -sf "$R/api/message_groups" -H "X-Bench-Sub: $A" >/dev/null
take list_conversations '^Query-GRP#' 'Query GRP#'
curl -sf "$R/api/messages/$G" -H "X-Bench-Sub: $A" >/dev/null
take list_messages "^Query-MSG#$G" 'Query MSG#'
# every other call the routes make cold, for the canned backend's fixtures
# (one per operation and key, the first recorded): each conversation's
# record as the posts read it, whole, before the list of messages reads
# only what its checks need; a post by londo, who is in none of them, is
# refused (403) after that read and writes nothing
IFS=, read -r -a glist <<< "$groups"
for g in "${glist[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$R/api/messages" \
           -H "X-Bench-Sub: $L" -d "{\"message\":\"x\",\"message_group_uuid\":\"$g\"}")
    [ "$code" = 403 ] || { echo "bench: a non-member's post to $g: $code" >&2; exit 1; }
    curl -sf -o /dev/null "$R/api/messages/$g" -H "X-Bench-Sub: $B"
done
nobody=0badc0de-0000-4000-8000-000000000000
curl -s -o /dev/null "$R/api/message_groups" -H "X-Bench-Sub: $B"
curl -s -o /dev/null "$R/api/message_groups" -H "X-Bench-Sub: $L"
curl -s -o /dev/null "$R/api/message_groups" -H "X-Bench-Sub: $nobody"
curl -s -o /dev/null "$R/api/messages/$G" -H "X-Bench-Sub: $L"
curl -s -o /dev/null "$R/api/messages/$nobody" -H "X-Bench-Sub: $A"
curl -s -o /dev/null "$R/api/messages" -H "X-Bench-Sub: $L" \
    -d "{\"message\":\"x\",\"message_group_uuid\":\"$G\"}"
recorded

# the fixtures: each call's answer from DynamoDB Local, now that the data
# is complete (a 20-item page of the seeded conversation, ...); every
# transaction "succeeds"
echo '{}' > "$work/fixtures/TransactWriteItems.json"
nfix=0
while IFS=$'\t' read -r name target body; do
    case $name in TransactWriteItems|unknown) continue ;; esac
    [ -f "$work/fixtures/$name.json" ] && continue
    code=$(curl -s -o "$work/fixtures/$name.json" -w '%{http_code}' \
           "$DDBM_ENDPOINT/" -H "X-Amz-Target: $target" \
           -H 'Content-Type: application/x-amz-json-1.0' \
           -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20261126/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00' \
           --data-binary "$body")
    [ "$code" = 200 ] || { echo "bench: fixture $name: DynamoDB Local answered $code" >&2; exit 1; }
    nfix=$((nfix + 1))
done < "$work/record.log"
items=$(grep -o '"message_uuid"' "$work/fixtures/Query-MSG#$G.json" | wc -l)
echo "bench: $nfix fixtures from DynamoDB Local (the messages page: $items items)"

# ---- measuring -------------------------------------------------------------

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
    kill -0 "$canned_master" 2>/dev/null \
        || { echo "bench: FAIL: the canned backend is gone during $what" >&2; exit 1; }
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

ms() {  # wrk's latency (12.5us, 1.2ms, 1.05s) in milliseconds
    awk -v v="$1" 'BEGIN {
        u = v; sub(/^[0-9.]+/, "", u); x = v + 0
        if (u == "us") x /= 1000; else if (u == "s") x *= 1000;
        else if (u == "m") x *= 60000
        printf "%.2f", x }'
}

# run KEY URL SCRIPT [VAR=VALUE...]: warm-up (in the first round only),
# then the measured run; the figures go to rps, p50, p99, cpu, calls under
# KEY/rROUND
declare -A rps p50 p99 cpu calls
failures=()
round=1
run() {
    local key=$1/r$round url=$2 script=$3 out rc t0 t1 n c0 c1 line
    shift 3
    local -a envs=(LOAD_SUB_HEADER=X-Bench-Sub LOAD_THREADS="$threads"
                   LOAD_TAG="bench-$key" "$@")

    if [ "$round" -eq 1 ]; then
        rc=0
        env "${envs[@]}" wrk -t"$threads" -c"$conns" -d"${warmup}s" \
            --timeout 10s -s "$script" "$url" >/dev/null 2>&1 || rc=$?
        if crashed "$key (warm-up)"; then
            failures+=("$key: worker crash (warm-up)")
            return
        fi
    fi

    sleep 1.2                   # the calls log flushed
    c0=$(calls_logged)
    t0=$(cpu_ticks)
    rc=0
    out=$(env "${envs[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" \
              --timeout 10s --latency -s "$script" "$url" 2>&1) || rc=$?
    t1=$(cpu_ticks)
    if crashed "$key" || [ -z "$t0" ] || [ -z "$t1" ]; then
        failures+=("$key: worker crash")
        printf '%-36s CRASHED (no figures)\n' "$key"
        return
    fi
    sleep 1.2
    c1=$(calls_logged)

    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    line=$(echo "$out" | grep '^ddbm-load ' || true)
    if [ "$script" = "$top/bench/baseline.lua" ]; then
        # the backend's answer: anything but 2xx is a broken baseline
        if echo "$out" | grep -q 'Non-2xx\|Socket errors'; then
            failures+=("$key: $(echo "$out" | grep 'Non-2xx\|Socket errors' | tr -s ' ')")
        fi
    elif [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        failures+=("$key: unexpected statuses: ${line:-wrk exited with $rc}")
        echo "bench: FAIL: $key: ${line:-$out}" >&2
    fi
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        failures+=("$key: no request completed")
        return
    fi

    rps[$key]=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    p50[$key]=$(ms "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99[$key]=$(ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    calls[$key]=$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { printf "%.2f", c / n }')
    # ticks are 1/CLK_TCK s: microseconds of worker CPU per request
    cpu[$key]=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
    printf '%-36s %9s req/s %8s requests  p50 %7s ms  p99 %8s ms  %5s calls/req  CPU %7s us/req\n' \
        "$key" "${rps[$key]}" "$n" "${p50[$key]}" "${p99[$key]}" \
        "${calls[$key]}" "${cpu[$key]}"
}

baseline() {    # baseline KEY BACKEND ROUTE
    local -a extra=()
    [ "${base_target[$3]}" = TransactWriteItems ] && extra=(BASELINE_UNIQUE=1)
    run "$1" "http://127.0.0.1:${mport[$2-off]}/baseline" "$top/bench/baseline.lua" \
        BASELINE_TARGET="${base_target[$3]}" BASELINE_BODY="${base_body[$3]}" \
        "${extra[@]}"
}

wanted() {
    [ -z "${BENCH_ROUTES:-}" ] || [[ " $BENCH_ROUTES " == *" $1 "* ]]
}

# the routes: name, routes.lua route, jwt too (a baseline is the route's
# warm call, recorded above; the error routes have none), parameters where
# @AB@ @L@ are the callers (subs, or tokens with ddbm_jwt on)
routes=(
  "health               health               -   base"
  "user_short           user_short           -   base  LOAD_HANDLE=bayko"
  "list_conversations   list_conversations   jwt base  LOAD_SUBS=@AB@"
  "list_messages        list_messages        jwt base  LOAD_SUBS=@AB@ LOAD_GROUPS=$G"
  "post_update          post_update          jwt base  LOAD_SUBS=@AB@ LOAD_GROUPS=$groups"
  "post_create          post_create          jwt base  LOAD_SUBS=@L@ LOAD_HANDLE=andrewbrown"
  "401_no_identity      no_identity          -   -"
  "401_unknown_identity unknown_identity     -   -"
  "403_not_member_read  not_member_read      -   -     LOAD_SUBS=@L@ LOAD_GROUPS=$G"
  "403_not_member_post  not_member_post      -   -     LOAD_SUBS=@L@ LOAD_GROUPS=$G"
  "404_unknown_group    unknown_conversation -   -     LOAD_SUBS=@A@"
  "422_blank_message    blank_message        -   -     LOAD_SUBS=@A@ LOAD_GROUPS=$G"
)

# params JWT WORD...: the parameters with the callers filled in
params() {
    local jwt=$1 w
    shift
    for w in "$@"; do
        if [ "$jwt" = on ]; then
            w=${w//@AB@/Bearer $tA,Bearer $tB}
            w=${w//@A@/Bearer $tA}
            w=${w//@L@/Bearer $tL}
        else
            w=${w//@AB@/$A,$B}
            w=${w//@A@/$A}
            w=${w//@L@/$L}
        fi
        printf '%s\n' "$w"
    done
}

# median KEY: each figure of KEY, the median of its rounds (a round that
# failed has none), under KEY itself
median() {
    local k=$1 a r v
    for a in rps p50 p99 cpu calls; do
        declare -n fig=$a
        v=$(for r in $(seq 1 "$rounds"); do
                if [ -n "${fig[$k/r$r]:-}" ]; then echo "${fig[$k/r$r]}"; fi
            done | sort -g | awk '{ v[NR] = $1 } END {
                if (NR % 2) printf "%.2f", v[(NR + 1) / 2]
                else if (NR) printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        if [ -n "$v" ]; then
            fig["$k"]=$v
        fi
        unset -n fig
    done
}

echo "bench: $rounds rounds of ${secs}s per run (${warmup}s warm-up before the first), wrk -t$threads -c$conns, one module NGINX worker, ddbm_cache on; backends: $backends"
crashed "set-up" && failures+=("set-up: worker crash")

for backend in $backends; do
    if [ "$backend" = local ]; then
        # a fresh DynamoDB Local (a JVM) is several times slower than a warm
        # one: load it with the measured calls first
        each=$(( (ddb_warmup + 2) / 3 ))
        echo "bench: warming DynamoDB Local up (${each}s x 3)"
        for r in list_messages list_conversations post_update; do
            env BASELINE_TARGET="${base_target[$r]}" BASELINE_BODY="${base_body[$r]}" \
                BASELINE_UNIQUE="$([ "$r" = post_update ] && echo 1 || echo 0)" \
                LOAD_THREADS="$threads" \
                wrk -t"$threads" -c"$conns" -d"${each}s" --timeout 10s \
                -s bench/baseline.lua "http://127.0.0.1:${mport[local-off]}/baseline" \
                >/dev/null 2>&1 || true
        done
    fi
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086  # the parameters are words
        set -- $r
        name=$1 lroute=$2 jwt=$3 base=$4
        shift 4
        wanted "$name" || continue
        # the baseline and the module in turn, round after round: a drift
        # of the machine (or of DynamoDB Local's JVM) touches both alike
        for round in $(seq 1 "$rounds"); do
            [ "$base" = base ] && baseline "$backend/$name/baseline" "$backend" "$name"
            for j in off on; do
                [ "$j" = on ] && [ "$jwt" != jwt ] && continue
                hdr=()
                [ "$j" = on ] && hdr=(LOAD_SUB_HEADER=Authorization)
                mapfile -t ps < <(params "$j" "$@")
                run "$backend/$name/$j" "http://127.0.0.1:${mport[$backend-$j]}" \
                    "$lua" LOAD_ROUTE="$lroute" "${hdr[@]}" "${ps[@]}"
            done
        done
        round=1
        for v in baseline off on; do
            median "$backend/$name/$v"
        done
    done
done

# ---- memory: the worker's RSS over many requests ---------------------------

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$worker/status" 2>/dev/null || true; }
rss_before='' rss_after='' rss_done=0
if [ "$rss_requests" -gt 0 ]; then
    echo "bench: RSS: $rss_requests requests of list_messages, canned backend"
    renv=(LOAD_ROUTE=list_messages LOAD_SUB_HEADER=X-Bench-Sub LOAD_THREADS="$threads"
          LOAD_SUBS="$A,$B" LOAD_GROUPS="$G")
    env "${renv[@]}" wrk -t"$threads" -c"$conns" -d"${warmup}s" -s "$lua" \
        "http://127.0.0.1:${mport[canned-off]}" >/dev/null 2>&1 || true
    rss_before=$(rss_kb)
    rss_pid=$worker
    chunk=20
    while [ "$rss_done" -lt "$rss_requests" ]; do
        rc=0
        out=$(env "${renv[@]}" wrk -t"$threads" -c"$conns" -d"${chunk}s" \
                  --timeout 10s -s "$lua" "http://127.0.0.1:${mport[canned-off]}" 2>&1) || rc=$?
        n=$(echo "$out" | awk '/requests in/ { print $1 }')
        if crashed "RSS phase" || [ "$rc" -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ]; then
            failures+=("RSS phase: $(echo "$out" | grep '^ddbm-load ' || echo "wrk exited with $rc")")
            break
        fi
        rss_done=$((rss_done + n))
        # the last chunk just long enough (at this chunk's rate, +10%)
        chunk=$(awk -v left=$((rss_requests - rss_done)) -v n="$n" -v c="$chunk" \
                'BEGIN { s = int(left / (n / c) * 1.1) + 1; print (s < 30 ? s : 30) }')
    done
    [ "$worker" = "$rss_pid" ] && rss_after=$(rss_kb)
fi

# ---- the report ------------------------------------------------------------

ratio() {   # ratio A B: A / B, or "-" when either is missing
    awk -v a="${1:-}" -v b="${2:-}" \
        'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}

# per_round FIG KEY BASE: KEY's figure over BASE's, round by round (the
# two ran seconds apart), one per line
per_round() {
    local -n pr_fig=$1
    local r
    for r in $(seq 1 "$rounds"); do
        if [ -n "${pr_fig[$2/r$r]:-}" ] && [ -n "${pr_fig[$3/r$r]:-}" ]; then
            awk -v a="${pr_fig[$2/r$r]}" -v b="${pr_fig[$3/r$r]}" \
                'BEGIN { if (b + 0 > 0) printf "%.2f\n", a / b }'
        fi
    done
}

# pratio FIG KEY BASE: the median of the rounds' ratios, or "-"
pratio() {
    per_round "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.2f", v[(NR + 1) / 2]
        else if (NR) printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2
        else print "-" }'
}

echo
echo "| backend | route | ddbm_jwt | DynamoDB calls/req | req/s | p50 ms | p99 ms | worker CPU µs/req | req/s × base | p99 × base | CPU × base |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row() {     # row KEY BACKEND LABEL JWT BASEKEY
    local k=$1 b=$5
    if [ -z "${rps[$k]:-}" ]; then
        echo "| $2 | $3 | $4 | failed | | | | | | | |"
        return
    fi
    echo "| $2 | $3 | $4 | ${calls[$k]} | ${rps[$k]} | ${p50[$k]} | ${p99[$k]} | ${cpu[$k]} | $(pratio rps "$k" "$b") | $(pratio p99 "$k" "$b") | $(pratio cpu "$k" "$b") |"
}
for backend in $backends; do
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086
        set -- $r
        name=$1 jwt=$3 base=$4
        wanted "$name" || continue
        bk=-
        if [ "$base" = base ]; then
            bk=$backend/$name/baseline
            row "$bk" "$backend" "*proxy_pass: ${base_what[$name]}*" "-" -
        fi
        row "$backend/$name/off" "$backend" "$name" off "$bk"
        [ "$jwt" = jwt ] && row "$backend/$name/on" "$backend" "$name" on "$bk"
    done
done

echo
echo "Targets (the median of the $rounds rounds' ratios to the plain proxy_pass run just before, each round's ratio after it):"
target() {  # target LABEL VALUE OP LIMIT [ROUNDS]
    local v=$2 of=
    [ -n "${5:-}" ] && of="; rounds: $5"
    if [ "$v" = - ] || [ -z "$v" ]; then
        echo "- $1: not measured"
    elif awk -v v="$v" -v l="$4" -v op="$3" \
            'BEGIN { exit !(op == ">=" ? v >= l : op == "<" ? v < l : v <= l) }'; then
        echo "- $1: ${v} (limit $3 $4$of): met"
    else
        echo "- $1: ${v} (limit $3 $4$of): MISSED"
    fi
}
rtarget() { # rtarget LABEL FIG KEY BASE OP LIMIT: a ratio target
    target "$1" "$(pratio "$2" "$3" "$4")" "$5" "$6" \
        "$(per_round "$2" "$3" "$4" | tr '\n' ' ' | sed 's/ $//')"
}
for j in off on; do
    k=local/list_messages/$j
    rtarget "DynamoDB Local, list_messages, jwt $j: req/s × proxy" \
        rps "$k" local/list_messages/baseline ">=" 0.9
done
for backend in $backends; do
    for r in "${routes[@]}"; do
        # shellcheck disable=SC2086
        set -- $r
        name=$1 jwt=$3 base=$4
        if [ "$base" != base ] || ! wanted "$name"; then continue; fi
        for j in off on; do
            [ "$j" = on ] && [ "$jwt" != jwt ] && continue
            k=$backend/$name/$j b=$backend/$name/baseline
            [ "$backend" = canned ] && rtarget "canned, $name, jwt $j: CPU/request × proxy" \
                cpu "$k" "$b" "<=" 1.3
            rtarget "$backend, $name, jwt $j: p99 × proxy" p99 "$k" "$b" "<=" 1.2
        done
    done
done
# how much of the canned list routes' CPU the answer's parse is: the
# page each one read, through yajl alone and through the module's rewrite
# (bench/parse_cost.c), against the proxy's CPU per request of this run
if [[ " $backends " == *" canned "* ]]; then
    for name in list_conversations list_messages; do
        wanted "$name" || continue
        b=canned/$name/baseline
        [ -n "${cpu[$b]:-}" ] || continue
        page=messages
        [ "$name" = list_conversations ] && page=conversations
        pc=$("$parse_cost" "$work/fixtures/${base_fixture[$name]}.json" "$page" \
             | sed -n 's/^parse-cost //p')
        [ -n "$pc" ] || { failures+=("$name: parse-cost failed"); continue; }
        y=$(echo "$pc" | sed -n 's/.*yajl_us=\([0-9.]*\).*/\1/p')
        w=$(echo "$pc" | sed -n 's/.*rewrite_us=\([0-9.]*\).*/\1/p')
        echo "- canned, $name: the page's parse ($(echo "$pc" | cut -d' ' -f1-2)): yajl alone ${y} µs = $(ratio "$y" "${cpu[$b]}")× the proxy's CPU per request, the module's whole rewrite ${w} µs = $(ratio "$w" "${cpu[$b]}")× (the CPU target leaves 0.3× for all the module adds)"
    done
fi
if [ -n "$rss_before" ] && [ -n "$rss_after" ]; then
    growth=$(awk -v a="$rss_before" -v b="$rss_after" 'BEGIN { printf "%.2f", (b - a) * 100 / a }')
    echo
    echo "Worker RSS: $rss_before kB before, $rss_after kB after $rss_done requests (list_messages, canned): ${growth}% growth"
    target "RSS growth over $rss_done requests, %" "$growth" "<" 2
elif [ "$rss_requests" -gt 0 ]; then
    echo "- RSS growth: not measured (the worker changed or the phase failed)"
fi
echo
echo "bench: took $(( $(date +%s) - started ))s"

if [ "${#failures[@]}" -gt 0 ]; then
    echo "bench: FAILED:" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "bench: every run finished, no worker crash, every status as expected"
