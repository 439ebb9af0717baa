#!/usr/bin/env bash
# Soak: SOAK_REQUESTS (1,000,000) requests over every route against two
# NGINX instances with the module (each a master + 2 workers, keep-alive,
# its own ddbm_cache zone) on one table in DynamoDB Local, with DynamoDB
# faults injected at random and, for the middle third of the requests, the
# module's clock in whole seconds; then the table is scanned and the
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
# The instances: n1 and n2 under the work directory, each with its own
# conf, port, pid, logs and cache zone; both started with LD_PRELOAD of
# t/lib/ddbm_clock.c (built here) and DDBM_TEST_CLOCK_FILE: while that
# file exists (from 1/3 of the requests served to 2/3, or for
# SOAK_COARSE_SECONDS if that comes first) their gettimeofday() is in
# whole seconds, so conversations sharing a member plan the same
# microsecond, as two writers at once would.  Posts slow down a lot then
# (on this 2-core machine from ~125 to ~25 requests/s: every post to any
# conversation of a member within one second asks for that member's same
# few row keys, and the losers plan again), hence the time bound.
#
# The load: wrk with bench/soak/soak.lua, per instance two lanes at once
# (see there): "mix" (2 threads; every route that must succeed, posts with
# and without Idempotency-Key, identical retries of keyed and unkeyed
# posts) and "denied" (1 thread; 401, 403, 404, 422: a 200 there is a
# violation).  Both mix lanes post to the same conversations (three
# people, 61 conversations, 20 or more between each two), so the
# instances contend on the same records and rows.  Every POST answered
# 200 is written down (its text is unique, its key is in its text), and
# every unkeyed POST sent again.  Beside wrk, bench/soak/readback.py
# posts and at once reads back, as both members, through both instances
# (invariant 3).  Each worker's VmRSS is sampled every SOAK_SAMPLE
# seconds against the requests its instance served so far (stub_status).
#
# After the load, and once no request is in flight, bench/soak/check.py
# scans the table and checks invariants 1-6 (SPEC): acknowledged posts
# stored exactly once (an unkeyed post sent again may store a copy per
# sending, each answer matching one), one row per member per conversation
# at its latest message, no orphans, receipts of stored messages only,
# keys honoured, nothing stored by a non-member.  A worker crash (`exited
# on signal`), an [alert]/[emerg], a 200 where a denial was due, or any
# violation: exit 1.
#
# Environment: SOAK_REQUESTS (1000000), SOAK_FAULT_P (0.5), SOAK_FAKES (2),
# SOAK_DIRECT_WEIGHT (30: 2 fakes get 1/16 of the calls, so about 3% of
# the calls fault; with 1/8 and p=0.25 the fakes, relaying at ~85 ms a
# call on a busy 2-core machine, were busy 95% of the time and calls
# queued behind them timed out), SOAK_CONNECTIONS (mix lanes, 32),
# SOAK_DENIED_CONNECTIONS (4; both split over the two instances),
# SOAK_READBACK (read-your-write iterations: SOAK_REQUESTS/200),
# SOAK_COARSE_SECONDS (180), SOAK_SAMPLE (5), SOAK_MAX_SECONDS (10800: wrk's bound; a run cut by it
# fails, saying how many requests ran), SOAK_FAULTS (only these
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
readback=${SOAK_READBACK:-$((total / 200))}
coarse_secs=${SOAK_COARSE_SECONDS:-180}
max_secs=${SOAK_MAX_SECONDS:-10800}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
module=${DDBM_MODULE:-$top/build/ngx_http_ddbm_module.so}
cli=$top/build/ddbm
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-soak.XXXXXX")
table=soak
run=r$(date +%s)

command -v wrk >/dev/null || { echo "soak: wrk is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "soak: python3 is needed" >&2; exit 1; }
command -v cc >/dev/null || { echo "soak: cc is needed (clock shim)" >&2; exit 1; }
[ -x "$cli" ] && [ -f "$module" ] \
    || { echo "soak: run make build first" >&2; exit 1; }

pids=()         # background helpers of ours, stopped at exit
status=1
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for i in 1 2; do
        [ -s "$work/n$i/nginx.pid" ] \
            && kill -QUIT "$(cat "$work/n$i/nginx.pid")" 2>/dev/null
    done
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
http_port1=$(bash scripts/free-port.sh "$ddb_port")
http_port2=$(bash scripts/free-port.sh "$ddb_port" "$http_port1")
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
# the clock shim (t/lib/ddbm_clock.c): whole seconds while the flag exists
cc -shared -fPIC -O2 -o "$work/ddbm_clock.so" t/lib/ddbm_clock.c -ldl
clock_flag=$work/clock.coarse
# the workers (user nobody) must reach their working directory
chmod 711 "$work"

# conf N PORT: instance N's nginx.conf, all of it under $work/nN
conf() {
    local d=$work/n$1
    mkdir -p "$d/logs" "$d/cores"
    chmod 711 "$d"
    chmod 1777 "$d/cores"
    cat > "$d/nginx.conf" <<CONF
load_module $work/ngx_http_ddbm_module.so;
worker_processes 2;
# a crashed worker leaves a core here (core_pattern permitting)
worker_rlimit_core 4g;
working_directory $d/cores;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    upstream dynamodb { server 127.0.0.1:$ddb_port; keepalive 64; }
    # DynamoDB Local, and the fakes that sometimes fault (per call)
    upstream soak_mix {
        server 127.0.0.1:$ddb_port weight=$direct_weight max_fails=0;
$fake_servers        keepalive 64;
    }
    ddbm_table $table;
    ddbm_endpoint_host 127.0.0.1:$ddb_port;
$(perl t/lib/DdbmExample.pm schema "$table")
    ddbm_credentials static local local;
    ddbm_identity \$http_x_soak_sub unsafe_client_supplied;
    ddbm_backend /_soak;
    # each instance its own zone, as two hosts would have
    ddbm_cache zone=soak$1:16m;
    server {
        listen 127.0.0.1:$2 backlog=1024;
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
        # the declared reads, as nginx.conf.example has them
        location = /api/message_groups {
$(perl t/lib/DdbmExample.pm route list_conversations)
        }
        location ~ ^/api/messages/(?<group>[^/]+)\$ {
$(perl t/lib/DdbmExample.pm route list_messages)
        }
        location = /api/messages { ddbm_pattern post_message; }
        location ~ ^/api/users/@(?<handle>[^/]+)/short\$ {
$(perl t/lib/DdbmExample.pm route user_short)
        }
        location = /setup/messages {
            ddbm_pattern post_message;
            ddbm_backend /_ddbm;
        }
    }
}
CONF
}
conf 1 "$http_port1"
conf 2 "$http_port2"
base1=http://127.0.0.1:$http_port1
base2=http://127.0.0.1:$http_port2
base=$base1

ulimit -c unlimited 2>/dev/null || true
masters=()
for i in 1 2; do
    # the master reads the shim's settings at start; its workers inherit
    env LD_PRELOAD="$work/ddbm_clock.so" DDBM_TEST_CLOCK_FILE="$clock_flag" \
        "$nginx" -p "$work/n$i" -c "$work/n$i/nginx.conf" \
        -e "$work/n$i/logs/error.log"
    for _ in $(seq 1 50); do
        [ -s "$work/n$i/nginx.pid" ] && break
        sleep 0.1
    done
    masters+=("$(cat "$work/n$i/nginx.pid")")
done

workers() {   # workers N: instance N's workers
    pgrep -P "${masters[$(($1 - 1))]}" | sort -n | tr '\n' ' '
}
for i in 1 2; do
    for _ in $(seq 1 50); do
        [ "$(workers "$i" | wc -w)" -eq 2 ] && break
        sleep 0.1
    done
done
workers_at_start="1:$(workers 1)/2:$(workers 2)"

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
# 20 conversations between each two of the three: every inbox holds 40 or
# more, all posted to at once by both instances (under the coarse clock,
# rows of different conversations ask for the same key)
for i in $(seq 1 60); do
    case $((i % 6)) in
        0) g=$(start "$A" bayko || true); add "$g" "$A" "$B" "$L" ;;
        1) g=$(start "$B" andrewbrown || true); add "$g" "$B" "$A" "$L" ;;
        2) g=$(start "$L" andrewbrown || true); add "$g" "$L" "$A" "$B" ;;
        3) g=$(start "$A" londo || true); add "$g" "$A" "$L" "$B" ;;
        4) g=$(start "$B" londo || true); add "$g" "$B" "$L" "$A" ;;
        5) g=$(start "$L" bayko || true); add "$g" "$L" "$B" "$A" ;;
    esac
    [ -n "$g" ] || { echo "soak: could not start a conversation" >&2; exit 1; }
done
for _ in $(seq 1 100); do    # reads, so the JIT has seen them too
    # (faults too: an answer may be 5xx)
    for b in "$base1" "$base2"; do
        curl -s "$b/api/messages/$G" -H "X-Soak-Sub: $A" >/dev/null || true
        curl -s "$b/api/message_groups" -H "X-Soak-Sub: $B" >/dev/null || true
    done
done

status_of() {   # status_of N: instance N's stub_status
    curl -sf "$(eval echo "\$base$1")/soak_status"
}
requests_served() {   # client requests both instances have read so far
    local n1 n2
    n1=$(status_of 1 | awk 'NR == 3 { print $3 }') || return 1
    n2=$(status_of 2 | awk 'NR == 3 { print $3 }') || return 1
    echo $((n1 + n2))
}
active_connections() {   # both instances, the status requests included
    local c1 c2
    c1=$(status_of 1 | awk 'NR == 1 { print $3 }') || return 1
    c2=$(status_of 2 | awk 'NR == 1 { print $3 }') || return 1
    echo $((c1 + c2))
}

# RSS sampler, per instance: "seconds requests pid rss_kb pid rss_kb" in
# rss-N.log every $sample s (requests: that instance's)
sampler() {
    local t0=$SECONDS w line i
    for _ in $(seq 1 $((max_secs / sample + 100))); do
        for i in 1 2; do
            line="$((SECONDS - t0)) $(status_of "$i" \
                | awk 'NR == 3 { print $3 }' || echo -)"
            for w in $(workers "$i"); do
                line+=" $w $(awk '/^VmRSS/ { print $2 }' \
                    "/proc/$w/status" 2>/dev/null || echo 0)"
            done
            echo "$line" >> "$work/rss-$i.log"
        done
        [ -e "$work/sampler.stop" ] && return
        sleep "$sample"
    done
}
sampler &
pids+=($!)

mix_quota=$(( (total * 85 / 100 + 3) / 4 ))     # per thread (2 x 2)
denied_quota=$(( (total - 4 * mix_quota + 1) / 2 ))   # per thread (2 x 1)
mconns=$(( conns / 2 > 2 ? conns / 2 : 2 ))
dconns2=$(( dconns / 2 > 1 ? dconns / 2 : 1 ))
creates="$A:bayko,$A:londo,$B:andrewbrown,$B:londo,$L:andrewbrown,$L:bayko"
lane_env=(SOAK_DIR="$work" SOAK_RUN="$run" SOAK_SUB_HEADER=X-Soak-Sub
          SOAK_MEMBERS="${members%,}" SOAK_OUTSIDERS="${outsiders%,}"
          SOAK_CREATE="$creates"
          SOAK_HANDLES=andrewbrown,bayko,londo SOAK_SUBS="$A,$B,$L")

say "load: $((4 * mix_quota + 2 * denied_quota)) requests" \
    "($((4 * mix_quota)) mix, $((2 * denied_quota)) denied)" \
    "over 2 instances," \
    "$((2 * mconns))+$((2 * dconns2)) connections, faults: $nfakes fakes" \
    "of weight 1 vs DynamoDB Local $direct_weight, p=$fault_p;" \
    "$readback read-back iterations; coarse clock from 1/3 to 2/3" \
    "(at most ${coarse_secs}s)"
t_start=$(date +%s.%N)
wrk_pids=()
for i in 1 2; do
    env "${lane_env[@]}" SOAK_LANE=mix SOAK_NAME="mix$i" \
        SOAK_QUOTA="$mix_quota" \
        wrk -t2 -c"$mconns" -d"${max_secs}s" --timeout 30s \
        -s bench/soak/soak.lua "$(eval echo "\$base$i")" \
        > "$work/wrk-mix$i.out" 2>&1 &
    wrk_pids+=($!)
    pids+=($!)
    env "${lane_env[@]}" SOAK_LANE=denied SOAK_NAME="denied$i" \
        SOAK_QUOTA="$denied_quota" \
        wrk -t1 -c"$dconns2" -d"${max_secs}s" --timeout 30s \
        -s bench/soak/soak.lua "$(eval echo "\$base$i")" \
        > "$work/wrk-denied$i.out" 2>&1 &
    wrk_pids+=($!)
    pids+=($!)
done
# wrk_pids: mix1 denied1 mix2 denied2
python3 bench/soak/readback.py --base "$base1" --base "$base2" \
    --dir "$work" --run "$run" --members "${members%,}" \
    --creates "$creates" --subs "andrewbrown=$A,bayko=$B,londo=$L" \
    --iterations "$readback" > "$work/readback.out" 2>&1 &
readback_pid=$!
pids+=($readback_pid)

# wrk's threads stop at their quota, but wrk itself sleeps for -d: end it
# (SIGINT: it prints its summary) once all its threads are done
finished() {   # finished NAME THREADS PID
    local i
    kill -0 "$3" 2>/dev/null || return 0
    for i in $(seq 0 $(($2 - 1))); do
        [ -e "$work/done-$1-$i" ] || return 1
    done
    kill -INT "$3" 2>/dev/null || true
    return 0
}
# the coarse clock: on at a third of the requests, off at two thirds or
# after $coarse_secs s
# set_clock on|off: the flag, and when (epoch, requests served)
set_clock() {
    if [ "$1" = on ]; then touch "$clock_flag"; else rm -f "$clock_flag"; fi
    echo "$1 $(date +%s.%N) $served" >> "$work/clock.log"
    say "coarse clock $1 at $served requests served"
}
clock_state=before
served0=$(requests_served || echo 0)
last_report=$SECONDS
for _ in $(seq 1 $((max_secs + 60))); do
    left=0
    finished mix1 2 "${wrk_pids[0]}" || left=1
    finished denied1 1 "${wrk_pids[1]}" || left=1
    finished mix2 2 "${wrk_pids[2]}" || left=1
    finished denied2 1 "${wrk_pids[3]}" || left=1
    [ $left = 0 ] && break
    served=$(( $(requests_served || echo "$served0") - served0 ))
    if [ $clock_state = before ] && [ "$served" -ge $((total / 3)) ]; then
        set_clock on
        clock_state=on
        coarse_since=$SECONDS
    elif [ $clock_state = on ] && { [ "$served" -ge $((2 * total / 3)) ] \
            || [ $((SECONDS - coarse_since)) -ge "$coarse_secs" ]; }; then
        set_clock off
        clock_state=after
    fi
    if [ $((SECONDS - last_report)) -ge 60 ]; then
        last_report=$SECONDS
        say "progress: $served requests served," \
            "workers $(workers 1)/ $(workers 2)"
    fi
    sleep 1
done
served=$(( $(requests_served || echo "$served0") - served0 ))
[ $clock_state = on ] && set_clock off
wait "${wrk_pids[@]}" 2>/dev/null || true
touch "$work/readback.stop"
wait "$readback_pid" 2>/dev/null || true
t_end=$(date +%s.%N)

# in flight: until the status requests are the only connections (bounded;
# a hung call ends at proxy_read_timeout, retries in a few seconds)
for _ in $(seq 1 120); do
    [ "$(active_connections)" = 2 ] && break
    sleep 0.5
done
sleep 3
touch "$work/sampler.stop"
sleep $((sample + 1))
workers_at_end="1:$(workers 1)/2:$(workers 2)"

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
