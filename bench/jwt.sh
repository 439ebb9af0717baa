#!/usr/bin/env bash
# What access token verification costs one NGINX worker: requests per
# second and worker CPU per request on a location that only verifies the
# token (ddbm_jwt on; empty_gif), with the per-worker cache (every request
# but the first a hit) and without it (ddbm_jwt_cache 0: one RSA-2048
# verification per request), against the same location without ddbm_jwt.
# wrk on loopback, bounded runs, alternated so noise hits all alike; the
# figures that matter are the ratios, measured in the same run.
#
#   bash bench/jwt.sh [seconds per run] [rounds]      (default 5 s, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

secs=${1:-5}
rounds=${2:-3}
conns=${BENCH_CONNECTIONS:-16}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
cli=$top/build/ddbm
work=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-bench-jwt.XXXXXX")

command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }
[ -x "$cli" ] && [ -f "$top/build/ngx_http_ddbm_module.so" ] \
    || { echo "bench: run make cli module first" >&2; exit 1; }

cleanup() {
    local f
    for f in "$work"/*/nginx.pid; do
        [ -s "$f" ] && kill -QUIT "$(cat "$f")" 2>/dev/null
    done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# a private copy: a rebuild that rewrites build/*.so under a running NGINX
# crashes its workers (SIGBUS), which would pass for a module bug
cp "$top/build/ngx_http_ddbm_module.so" "$work/"

"$cli" dev-keys --dir "$work/keys" >/dev/null
token=$("$cli" mint-token --dir "$work/keys" \
        --sub 71c568d1-29bb-4ae1-92c5-057d12db82cb --ttl 3600)

# start NAME CACHE_SIZE: one nginx, one worker; prints its port
start() {
    local name=$1 cache=$2 port dir=$work/$1
    port=$(bash scripts/free-port.sh)
    mkdir -p "$dir/logs"
    cat > "$dir/nginx.conf" <<CONF
load_module $work/ngx_http_ddbm_module.so;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    ddbm_jwt_jwks $work/keys/jwks.json;
    ddbm_jwt_issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1;
    ddbm_jwt_client_id ddbmdevclient;
    ddbm_jwt_cache $cache;
    server {
        listen 127.0.0.1:$port backlog=1024;
        location = /jwt { ddbm_jwt on; empty_gif; }
        location = /plain { empty_gif; }
    }
}
CONF
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
    for _ in $(seq 1 50); do
        [ -s "$dir/nginx.pid" ] && break
        sleep 0.1
    done
    echo "$port"
}

port_cached=$(start cached 10000)
port_uncached=$(start uncached 0)

worker_of() {
    pgrep -P "$(cat "$work/$1/nginx.pid")" | head -n 1
}

cpu_ticks() {   # utime + stime of a worker, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# a quick check that the token is what the locations expect
code=$(curl -s -o /dev/null -w '%{http_code}' \
       -H "Authorization: Bearer $token" "http://127.0.0.1:$port_uncached/jwt")
[ "$code" = 200 ] || { echo "bench: the token got $code" >&2; exit 1; }

declare -A sum_rps sum_us

# run LABEL SERVER PATH
run() {
    local label=$1 server=$2 path=$3 port worker t0 t1 out n r non2xx
    port=$([ "$server" = cached ] && echo "$port_cached" || echo "$port_uncached")
    worker=$(worker_of "$server")
    t0=$(cpu_ticks "$worker")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" \
              -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path")
    t1=$(cpu_ticks "$worker" 2>/dev/null || true)
    # a worker that died: say so, rather than fail on its /proc entry
    if [ -z "$t1" ] || [ "$(worker_of "$server")" != "$worker" ] \
       || grep -q 'exited on signal' "$work/$server/logs/error.log"; then
        echo "bench: FAIL: $label: the NGINX worker $worker died:" >&2
        grep 'exited on signal' "$work/$server/logs/error.log" | head -n 3 >&2
        exit 1
    fi
    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    r=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    if [ -n "$non2xx" ]; then
        echo "bench: $label: $non2xx answers were not 2xx" >&2
        exit 1
    fi
    us=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
         'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
    printf '  %-28s %9s req/s   worker CPU %6s us/request\n' "$label" "$r" "$us"
    sum_rps[$label]=$(awk -v a="${sum_rps[$label]:-0}" -v b="$r" \
                      'BEGIN { print a + b }')
    sum_us[$label]=$(awk -v a="${sum_us[$label]:-0}" -v b="$us" \
                     'BEGIN { print a + b }')
}

echo "bench: ${secs}s per run, $rounds rounds, $conns connections, one NGINX worker each"

# warm-up: connections, the cache's one entry
wrk -t1 -c"$conns" -d1s -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port_cached/jwt" >/dev/null
wrk -t1 -c"$conns" -d1s -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port_uncached/jwt" >/dev/null

for i in $(seq 1 "$rounds"); do
    echo "round $i"
    run "no ddbm_jwt (baseline)" cached /plain
    run "ddbm_jwt, cache hit" cached /jwt
    run "ddbm_jwt, no cache (RSA)" uncached /jwt
done

avg() { awk -v s="$1" -v n="$rounds" 'BEGIN { printf "%.0f", s / n }'; }
avgf() { awk -v s="$1" -v n="$rounds" 'BEGIN { printf "%.1f", s / n }'; }

b="no ddbm_jwt (baseline)"; c="ddbm_jwt, cache hit"; u="ddbm_jwt, no cache (RSA)"
echo
echo "average over $rounds rounds:"
for l in "$b" "$c" "$u"; do
    printf '  %-28s %9s req/s   worker CPU %6s us/request\n' "$l" \
        "$(avg "${sum_rps[$l]}")" "$(avgf "${sum_us[$l]}")"
done
awk -v b="${sum_rps[$b]}" -v c="${sum_rps[$c]}" -v u="${sum_rps[$u]}" \
    -v bu="${sum_us[$b]}" -v cu="${sum_us[$c]}" -v uu="${sum_us[$u]}" -v n="$rounds" \
    'BEGIN {
        printf "ratio: cache hit / no cache = %.2f x the requests per second\n", c / u
        printf "ratio: cache hit / baseline = %.2f, no cache / baseline = %.2f\n", c / b, u / b
        printf "verification cost per request (worker CPU over the baseline): cached %.1f us, uncached %.1f us\n", (cu - bu) / n, (uu - bu) / n
    }'
