#!/usr/bin/env bash
# `make run`: DynamoDB Local on 127.0.0.1:8000 with the schema and the demo
# data, then NGINX with the module on 127.0.0.1:8080, in the foreground.
# Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

run=$top/run
ddb_port=${DDBM_RUN_DDB_PORT:-8000}
http_port=${DDBM_RUN_HTTP_PORT:-8080}
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
cli=$top/build/ddbm

mkdir -p "$run/logs" "$run/tmp"
rm -f "$run/nginx.pid"

nginx_pid=
cleanup() {
    trap - EXIT INT TERM
    echo
    echo "run: stopping"
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$nginx_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nginx_pid" 2>/dev/null || true
    fi
    bash scripts/ddb-local.sh stop "$run/ddb.pid" || true
}
trap cleanup EXIT
# Ctrl-C and SIGTERM are the normal way to stop: a clean exit
trap 'exit 0' INT TERM

for port in "$ddb_port" "$http_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "run: something already listens on 127.0.0.1:$port" >&2
        exit 1
    fi
done

echo "run: starting DynamoDB Local on 127.0.0.1:$ddb_port"
DDB_LOCAL_WATCH_PID=$$ bash scripts/ddb-local.sh start "$ddb_port" \
    "$run/ddb.pid" "$run/logs/dynamodb.log"

export DDBM_ENDPOINT=http://127.0.0.1:$ddb_port
"$cli" schema-load
"$cli" seed

# a development key pair standing in for a Cognito user pool: the module
# verifies tokens that `ddbm mint-token` signs with it
if [ ! -f "$run/jwt/jwks.json" ]; then
    mkdir -p "$run"
    "$cli" dev-keys --dir "$run/jwt"
fi

# nginx.conf.example as it is, with the module from this build, the ports
# chosen above and the runtime files under run/
sed -e "s|^load_module .*|load_module $top/build/ngx_http_ddbm_module.so;|" \
    -e "s|127.0.0.1:8000|127.0.0.1:$ddb_port|g" \
    -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$http_port|" \
    -e "s|^\( *ddbm_jwt_jwks \+\).*;|\1$run/jwt/jwks.json;|" \
    nginx.conf.example > "$run/nginx.conf"
cat >> "$run/nginx.conf" <<CONF

daemon off;
pid $run/nginx.pid;
error_log $run/logs/error.log info;
CONF
sed -i "s|^http {|http {\n    client_body_temp_path $run/tmp/body;\n    proxy_temp_path $run/tmp/proxy;|" "$run/nginx.conf"

"$nginx" -t -q -p "$run" -c "$run/nginx.conf"

"$nginx" -p "$run" -c "$run/nginx.conf" -e "$run/logs/error.log" &
nginx_pid=$!

for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$http_port/health" >/dev/null && break
    sleep 0.1
done

cat <<MSG

run: NGINX with ngx_http_ddbm_module on http://127.0.0.1:$http_port
     (error log: run/logs/error.log; Ctrl-C stops everything)

  curl -s http://127.0.0.1:$http_port/health

  # an access token for andrewbrown, signed with run/jwt/private.pem
  export DDBM_ENDPOINT=http://127.0.0.1:$ddb_port
  TOKEN=\$(build/ddbm mint-token --dir run/jwt --handle andrewbrown)

  curl -s http://127.0.0.1:$http_port/api/message_groups \\
       -H "Authorization: Bearer \$TOKEN"
  curl -s http://127.0.0.1:$http_port/api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399 \\
       -H "Authorization: Bearer \$TOKEN"
  curl -s http://127.0.0.1:$http_port/api/messages -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{"message":"hello from curl","message_group_uuid":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399"}'
  curl -s http://127.0.0.1:$http_port/api/users/@bayko/short \\
       -H "Authorization: Bearer \$TOKEN"
  curl -si http://127.0.0.1:$http_port/api/message_groups    # no token: 401 {}

MSG

wait "$nginx_pid"
