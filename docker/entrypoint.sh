#!/bin/sh
# The image's entrypoint: checks the access token keys before NGINX starts,
# then hands over to the official image's /docker-entrypoint.sh.
#
# The image holds no key: NGINX verifies tokens against
# /etc/nginx/jwt/jwks.json, which must be
#   - the user pool's JWKS, mounted there (read-only is fine), with
#     DDBM_JWT_ISSUER and DDBM_JWT_CLIENT_ID set to the pool's issuer URL
#     and app client id(s) (space separated); or
#   - for local development only, a throwaway key pair made at the first
#     start when DDBM_DEV_KEYS=yes-insecure-development-keys is set (then
#     `ddbm mint-token --dir /etc/nginx/jwt --handle H` in the container
#     mints tokens it accepts).  Anyone who can read the container can
#     mint tokens for any user: never in production.
# Without either, it refuses to start and says what to mount or set.
# Commands other than nginx (ddbm, sh...) are run without the check.
#
# DDBM_JWT_DIR, DDBM_NGINX_CONF and DDBM_NEXT_ENTRYPOINT move the key
# directory, the configuration and the next entrypoint (for the offline
# test, test/docker/docker.t).
set -eu

DEV_VALUE=yes-insecure-development-keys
jwt_dir=${DDBM_JWT_DIR:-/etc/nginx/jwt}
conf=${DDBM_NGINX_CONF:-/etc/nginx/nginx.conf}
next=${DDBM_NEXT_ENTRYPOINT:-/docker-entrypoint.sh}

say() { echo "ddbm-entrypoint: $*" >&2; }

refuse() {
    say "$@"
    say "refusing to start NGINX."
    exit 78    # EX_CONFIG: a restart policy will not fix it
}

case "${1:-}" in
nginx|nginx-debug) ;;
*) exec "$next" "$@" ;;
esac

dev=${DDBM_DEV_KEYS:-}

if [ -e "$jwt_dir/jwks.json" ]; then
    # a mounted key set, or the one made by an earlier start in dev mode
    if [ -e "$jwt_dir/private.pem" ]; then
        [ "$dev" = "$DEV_VALUE" ] \
            || refuse "$jwt_dir holds a development key pair" \
                      "(private.pem) but DDBM_DEV_KEYS is not" \
                      "$DEV_VALUE: mount the user pool's JWKS at" \
                      "$jwt_dir/jwks.json instead."
        say "WARNING: development token keys in $jwt_dir: anyone who can" \
            "read them can sign in as any user; never in production."
    fi

elif [ "$dev" = "$DEV_VALUE" ]; then
    say "WARNING: DDBM_DEV_KEYS=$DEV_VALUE: making a development key pair" \
        "in $jwt_dir; anyone who can read it can sign in as any user;" \
        "never in production."
    ddbm dev-keys --dir "$jwt_dir" >&2

elif [ -n "$dev" ]; then
    refuse "DDBM_DEV_KEYS is \"$dev\": to use throwaway development keys" \
           "set it to exactly $DEV_VALUE (and never in production)."

else
    refuse "no token keys: $jwt_dir/jwks.json does not exist." \
           "Mount your Cognito user pool's JWKS there" \
           "(https://cognito-idp.<region>.amazonaws.com/<pool id>/.well-known/jwks.json," \
           "e.g. -v \$PWD/jwks.json:$jwt_dir/jwks.json:ro) and set" \
           "DDBM_JWT_ISSUER and DDBM_JWT_CLIENT_ID; or, for local development" \
           "only, set DDBM_DEV_KEYS=$DEV_VALUE."
fi

if [ "$dev" != "$DEV_VALUE" ] && [ -z "${DDBM_JWT_ISSUER:-}" ]; then
    say "DDBM_JWT_ISSUER is not set: tokens must come from the" \
        "configuration's issuer (the development one, unless changed)."
fi

# the pool's issuer and client ids into the configuration (checked first:
# they are written into it with sed)
if [ -n "${DDBM_JWT_ISSUER:-}" ]; then
    case "$DDBM_JWT_ISSUER" in
    https://*[!A-Za-z0-9._~:/%+-]*|https://) ok=no ;;
    https://*) ok=yes ;;
    *) ok=no ;;
    esac
    [ "$ok" = yes ] \
        || refuse "DDBM_JWT_ISSUER must be an https:// URL" \
                  "(https://cognito-idp.<region>.amazonaws.com/<pool id>)."
    sed -i "s|^\( *ddbm_jwt_issuer \+\)[^;]*;|\1$DDBM_JWT_ISSUER;|" "$conf"
fi

if [ -n "${DDBM_JWT_CLIENT_ID:-}" ]; then
    [ -n "$(printf %s "$DDBM_JWT_CLIENT_ID" | tr -d ' ')" ] \
        || refuse "DDBM_JWT_CLIENT_ID is blank."
    case "$DDBM_JWT_CLIENT_ID" in
    *[!A-Za-z0-9_+\ -]*) refuse "DDBM_JWT_CLIENT_ID must be app client" \
                                "ids separated by spaces." ;;
    esac
    sed -i "s|^\( *ddbm_jwt_client_id \+\)[^;]*;|\1$DDBM_JWT_CLIENT_ID;|" \
        "$conf"
fi

exec "$next" "$@"
