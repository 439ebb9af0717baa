#!/bin/sh
# Prints nginx.conf.example as the image runs it: the module from the
# image's modules directory, DynamoDB Local as compose's "dynamodb-local"
# service, the API on port 8080 of the container, the access token keys
# in /etc/nginx/jwt/jwks.json (the image holds none: see entrypoint.sh).
#
#   docker/render-conf.sh nginx.conf.example > nginx.conf
set -eu
sed -e 's|^load_module .*|load_module modules/ngx_http_ddbm_module.so;|' \
    -e 's|127\.0\.0\.1:8000|dynamodb-local:8000|g' \
    -e 's|listen 127\.0\.0\.1:8080|listen 8080|' \
    -e 's|^\( *ddbm_jwt_jwks \+\).*;|\1/etc/nginx/jwt/jwks.json;|' \
    "$1"
