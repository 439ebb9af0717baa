#!/usr/bin/env bash
# `make deb`: the Debian packages libnginx-mod-http-ddbm and ddbm-tools,
# built by dpkg-buildpackage from debian/, into build/deb/.
#
# dpkg-buildpackage writes its results beside the source tree, so it runs
# on a copy in build/deb-work/ddbm-<version>/ (the files the build reads:
# not build/ or node_modules/), and the .debs are then moved to build/deb/.
# Its log is build/deb-work/build.log.
set -euo pipefail
cd "$(dirname "$0")/.."

work=build/deb-work
out=build/deb
version=$(dpkg-parsechangelog -S Version)
src=$work/ddbm-$version

rm -rf "$work" "$out"
mkdir -p "$src" "$out"
cp -r config Makefile README.md nginx.conf.example src tools doc debian \
    "$src/"

echo "deb: dpkg-buildpackage in $src (log: $work/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -uc -us) >"$work/build.log" 2>&1
then
    tail -n 40 "$work/build.log" >&2
    echo "deb: dpkg-buildpackage failed (log: $work/build.log)" >&2
    exit 1
fi
mv "$work"/*.deb "$out/"
rm -rf "$src"
ls -1 "$out"/*.deb
