#!/usr/bin/env bash
# examples/notes/run.sh: the notes application on 127.0.0.1:8081, in the
# foreground (Ctrl-C stops it), beside `make run` (which must be running:
# it provides DynamoDB Local on 127.0.0.1:8000 and the development key
# pair in run/jwt).  Creates the table ddbm-notes if it is not there.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)

nginx=${NGINX_BINARY:-/usr/sbin/nginx}
cli=$top/build/ddbm
dir=$top/run/notes
export DDBM_ENDPOINT=${DDBM_ENDPOINT:-http://127.0.0.1:8000}

if [ ! -f "$top/run/jwt/jwks.json" ]; then
    echo "notes: run/jwt/jwks.json is missing: start \`make run\` first" >&2
    exit 1
fi

if ! "$cli" --table ddbm-notes describe >/dev/null 2>&1; then
    "$cli" create-table examples/notes/table.json
fi

# the example as it is, with this checkout's module and key pair; the
# included files beside it (relative includes are read from there)
mkdir -p "$dir/logs" "$dir/tmp"
cp examples/notes/notes-http.conf examples/notes/notes-locations.conf "$dir/"
sed -e "s|^load_module .*|load_module $top/build/ngx_http_ddbm_module.so;|" \
    -e "s|^\( *ddbm_jwt_jwks \+\).*;|\1$top/run/jwt/jwks.json;|" \
    -e "s|^http {|http {\n    client_body_temp_path $dir/tmp/body;\n    proxy_temp_path $dir/tmp/proxy;|" \
    examples/notes/nginx.conf > "$dir/nginx.conf"
cat >> "$dir/nginx.conf" <<CONF

daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
CONF

"$nginx" -t -q -p "$dir" -c "$dir/nginx.conf"
echo "notes: http://127.0.0.1:8081/notes (error log: run/notes/logs/error.log)"
exec "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
