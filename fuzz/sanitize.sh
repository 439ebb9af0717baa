#!/usr/bin/env bash
# The sanitizer pass of `make test` (`make sanitize`): in one TAP::Harness
# run, against the ASan+UBSan build in BUILD_DIR (default build-asan):
#   BUILD_DIR/unit/test_*   the unit tests
#   BUILD_DIR/fuzz/fuzz_*   every corpus fuzz/corpus/<harness>/ replayed
#   test/cli/*.t            the CLI's tests with DDBM_CLI=BUILD_DIR/ddbm,
#                           against a DynamoDB Local of its own
#
#   fuzz/sanitize.sh [--replay-only] [BUILD_DIR]
#
# Any sanitizer report aborts the program, which fails its test file.
# Exits non-zero if anything fails.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
root=$PWD

replay_only=0
if [ "${1:-}" = --replay-only ]; then
    replay_only=1
    shift
fi
build=${1:-build-asan}

log() { echo "sanitize: $*"; }

# LeakSanitizer included; a report is an error exit, not a warning
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

files=()
if [ "$replay_only" = 0 ]; then
    for f in "$build"/unit/test_*; do
        [ -x "$f" ] && files+=("$f")
    done
fi
for f in "$build"/fuzz/fuzz_*; do
    [ -x "$f" ] && files+=("$f")
done

rundir=
ddb_pidfile=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$ddb_pidfile" ]; then
        bash scripts/ddb-local.sh stop "$ddb_pidfile" || rc=1
    fi
    [ -n "$rundir" ] && rm -rf "$rundir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ "$replay_only" = 0 ] && [ -d test/cli ]; then
    while IFS= read -r f; do files+=("$f"); done \
        < <(find test/cli -name '*.t' -type f | sort)

    rundir=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-sanitize.XXXXXX") || exit 1
    port=$(bash scripts/free-port.sh) || exit 1
    ddb_pidfile=$rundir/ddb-local.pid
    log "starting DynamoDB Local on 127.0.0.1:$port for the CLI's tests"
    if ! DDB_LOCAL_WATCH_PID=$$ bash scripts/ddb-local.sh start "$port" \
            "$ddb_pidfile" "$rundir/ddb-local.log" </dev/null; then
        log "DynamoDB Local did not start" >&2
        exit 1
    fi
    export TEST_NGINX_DDB_PORT=$port
    export DDBM_ENDPOINT=http://127.0.0.1:$port
    export DDBM_CLI=$root/$build/ddbm
fi

if [ "${#files[@]}" -eq 0 ]; then
    log "nothing built in $build" >&2
    exit 1
fi

read -r -d '' driver <<'PERL'
use strict;
use warnings;
use TAP::Harness;

my $harness = TAP::Harness->new({
    verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
    exec      => sub {
        my ($h, $file) = @_;
        return undef if $file =~ /\.t\z/;                  # Perl
        return [$file, "fuzz/corpus/$1"] if $file =~ m{/(fuzz_\w+)\z};
        return [$file];                                    # TAP program
    },
});
exit($harness->runtests(@ARGV)->all_passed ? 0 : 1);
PERL

log "${#files[@]} test files against $build"
perl -e "$driver" "${files[@]}"
rc=$?
[ "$rc" -eq 0 ] && log PASS || log FAIL
exit "$rc"
