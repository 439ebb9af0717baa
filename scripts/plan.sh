#!/usr/bin/env bash
# `make plan`: `ddbm plan` on nginx.conf.example as it is, with the module
# from this build.  NGINX loads the example's modules/ngx_http_ddbm_module.so
# relative to its prefix, so the prefix is a temporary directory with
# modules/ linked to build/, a development JWKS (the example's
# ddbm_jwt_jwks is read when the configuration loads; the copy names this
# one instead, as `make run` does) and the pid file (-g).  Arguments go to
# `ddbm plan` (e.g. --policy-only, --account ID).
#   NGINX_BINARY  the nginx to run (default /usr/sbin/nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

prefix=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-plan-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT

mkdir -p "$prefix/modules" "$prefix/logs"
ln -s "$top/build/ngx_http_ddbm_module.so" "$prefix/modules/"
"$top/build/ddbm" dev-keys --dir "$prefix/jwt" >/dev/null

sed -e "s|^\( *ddbm_jwt_jwks \+\).*;|\1$prefix/jwt/jwks.json;|" \
    nginx.conf.example > "$prefix/nginx.conf"

NGINX=${NGINX_BINARY:-/usr/sbin/nginx} "$top/build/ddbm" plan "$@" \
    -p "$prefix/" -g "pid $prefix/nginx.pid;" "$prefix/nginx.conf"
