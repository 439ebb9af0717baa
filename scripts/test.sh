#!/usr/bin/env bash
# Runs every test suite; `make test` calls it after `make build`.
#
# Starts its own DynamoDB Local on a free loopback port, then runs, in one
# TAP::Harness run (the engine behind `prove`, so the output is prove's):
#   build/unit/test_*     compiled TAP programs     (like prove --exec '')
#   test/sdk/*.py         python3 TAP scripts       (like prove --exec python3)
#   test/cli/**/*.t, test/docker/**/*.t, test/deb/**/*.t,
#   test/valgrind/**/*.t  Perl (test/deb: the Debian packages, `make deb`)
#   t/**/*.t              Test::Nginx suites        (like prove -r t/)
# Missing directories are skipped.  Then a second pass runs the t/ suites
# again with nginx under valgrind memcheck (TEST_NGINX_USE_VALGRIND=1, see
# t/lib/DdbmValgrind.pm), same DynamoDB Local.  The last line sums both
# passes: "test.sh: N passed, N failed".  Exits non-zero if anything fails.
# DynamoDB Local and every nginx the suites started are stopped on exit,
# on failure and on INT/TERM/HUP.
#
# Environment:
#   TEST_NGINX_REAL=/path/to/test-nginx/lib  run t/ under the real
#                         Test::Nginx instead of our runner (t/runner)
#   TEST_NGINX_BINARY     nginx to test with (default /usr/sbin/nginx)
#   TEST_JOBS             parallel test files (default 1: the suites share
#                         one DynamoDB Local)
#   TEST_VERBOSE=1        print every TAP line
#   TEST_TIMEOUT          seconds for the normal pass before it is aborted
#                         (default 840)
#   TEST_FILES            run only these files (space separated)
#   TEST_VALGRIND=0       skip the valgrind pass (=only: run only it)
#   TEST_VALGRIND_TIMEOUT seconds for the valgrind pass (default 1500)
#   TEST_VALGRIND_NGINX_TIMEOUT  TEST_NGINX_TIMEOUT in that pass (30)
# shellcheck disable=SC2317  # functions called from traps
set -uo pipefail
set -m      # each background job in its own process group, so a signal
            # meant for this script does not hit the tests half-way and
            # cleanup() can stop a whole job tree at once

cd "$(dirname "$0")/.." || exit 1
root=$PWD

log() { echo "test.sh: $*"; }

run_id="ddbm-test-$$-$RANDOM"
rundir=$(mktemp -d "${TMPDIR:-/tmp}/ddbm-test.XXXXXX") || exit 1
ddb_pidfile=$rundir/ddb-local.pid
ddb_log=$rundir/ddb-local.log
job_pid=
preexisting_servroots=" $(cd t 2>/dev/null && echo servroot*) "

# alive PID: exists and is not a zombie
alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Stops nginx processes our suites left behind (a runner killed before its
# END block): only those whose environment carries this run's marker, or,
# when the environment is unreadable (nginx's master process overwrites it
# with its title), whose server root appeared during this run.
stop_stray_nginx() {
    local pf pid dir cmd env_ok
    for pf in "$root"/t/servroot*/logs/nginx.pid; do
        [ -s "$pf" ] || continue
        pid=$(tr -dc '0-9' <"$pf")
        [ -n "$pid" ] && alive "$pid" || continue
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        [[ "$cmd" == *nginx* ]] || continue
        dir=${pf%/logs/nginx.pid}
        env_ok=0
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null \
                | grep -qx "DDBM_TEST_RUN=$run_id"; then
            env_ok=1
        elif ! tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null \
                | grep -q '^DDBM_TEST_RUN=' \
             && [[ "$preexisting_servroots" != *" ${dir##*/} "* ]]; then
            env_ok=1
        fi
        [ "$env_ok" = 1 ] || continue
        log "stopping stray nginx $pid ($dir)"
        kill -QUIT "$pid" 2>/dev/null
        for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL -- "-$pid" "$pid" 2>/dev/null
    done
}

# group_alive PGID: a live (non-zombie) process is left in that group
group_alive() {
    local p
    for p in $(pgrep -g "$1" 2>/dev/null); do
        alive "$p" && return 0
    done
    return 1
}

# stops the running job's whole process group (the test runners in it stop
# their nginx on TERM) and waits for all of it
stop_job() {
    [ -n "$job_pid" ] || return 0
    if group_alive "$job_pid"; then
        kill -TERM -- "-$job_pid" 2>/dev/null
        for _ in $(seq 1 150); do
            group_alive "$job_pid" || break
            sleep 0.1
        done
        group_alive "$job_pid" && kill -KILL -- "-$job_pid" 2>/dev/null
    fi
    wait "$job_pid" 2>/dev/null
    job_pid=
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_job
    stop_stray_nginx
    bash scripts/ddb-local.sh stop "$ddb_pidfile" || rc=1
    rm -rf "$rundir"
    exit "$rc"
}
on_signal() {
    echo >&2
    log "interrupted by SIG$1, cleaning up" >&2
    exit $((128 + $2))
}
trap cleanup EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# runs "$@" as a background job (own process group) and waits for it, so
# signals reach this script at once and cleanup() can stop the job; stdin
# is /dev/null, as a background job must not read the terminal
run_job() {
    "$@" </dev/null &
    job_pid=$!
    wait "$job_pid"
    local rc=$?
    job_pid=
    return $rc
}

# ------------------------------------------------------------ environment

# old server roots of runs that are over (kept after failures)
for d in t/servroot_*; do
    [ -d "$d" ] || continue
    p=${d##*_}
    [[ "$p" =~ ^[0-9]+$ ]] && ! alive "$p" && rm -rf "$d"
done

export DDBM_TEST_RUN=$run_id
export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_MODULE=${TEST_NGINX_MODULE:-$root/build/ngx_http_ddbm_module.so}
export DDBM_CLI=$root/build/ddbm
export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-10}
export TEST_NGINX_RANDOMIZE=1   # the real Test::Nginx: random port/servroot
if [ -n "${TEST_NGINX_REAL:-}" ]; then
    [ -f "$TEST_NGINX_REAL/Test/Nginx/Socket.pm" ] || {
        log "TEST_NGINX_REAL=$TEST_NGINX_REAL has no Test/Nginx/Socket.pm" >&2
        exit 1
    }
    runner_lib=$(cd "$TEST_NGINX_REAL" && pwd)
else
    runner_lib=$root/t/runner
fi
export PERL5LIB="$runner_lib:$root/t/lib${PERL5LIB:+:$PERL5LIB}"
unset TEST_NGINX_PORT TEST_NGINX_SERVER_PORT TEST_NGINX_SERVROOT \
      TEST_NGINX_CLIENT_PORT

[ -x "$TEST_NGINX_BINARY" ] || command -v "$TEST_NGINX_BINARY" >/dev/null \
    || { log "nginx not found: $TEST_NGINX_BINARY" >&2; exit 1; }
[ -f "$TEST_NGINX_MODULE" ] || log "warning: $TEST_NGINX_MODULE not built"
# both passes test a copy: a `make build` meanwhile (the checkout is
# shared) must not rewrite the .so under a starting nginx
if [ -f "$TEST_NGINX_MODULE" ]; then
    cp "$TEST_NGINX_MODULE" "$rundir/" || exit 1
    TEST_NGINX_MODULE=$rundir/${TEST_NGINX_MODULE##*/}
fi
[ -x "$DDBM_CLI" ] || log "warning: $DDBM_CLI not built"

# ------------------------------------------------------------- test files

files=()
if [ -n "${TEST_FILES:-}" ]; then
    read -r -a files <<<"$TEST_FILES"
else
    for f in build/unit/test_*; do
        [ -f "$f" ] && [ -x "$f" ] && files+=("$f")
    done
    for f in test/sdk/*.py; do
        [ -f "$f" ] && files+=("$f")
    done
    for d in test/cli test/docker test/deb test/valgrind; do
        [ -d "$d" ] || continue
        while IFS= read -r f; do files+=("$f"); done \
            < <(find "$d" -name '*.t' -type f | sort)
    done
    while IFS= read -r f; do files+=("$f"); done \
        < <(find t -path 't/servroot*' -prune -o -name '*.t' -type f -print \
            | sort)
fi
if [ "${#files[@]}" -eq 0 ]; then
    log "no test files found" >&2
    exit 1
fi

# ---------------------------------------------------------- DynamoDB Local

TEST_NGINX_DDB_PORT=$(bash scripts/free-port.sh) || exit 1
export TEST_NGINX_DDB_PORT
export DDBM_ENDPOINT=http://127.0.0.1:$TEST_NGINX_DDB_PORT
log "starting DynamoDB Local on 127.0.0.1:$TEST_NGINX_DDB_PORT"
if ! DDB_LOCAL_WATCH_PID=$$ run_job bash scripts/ddb-local.sh start \
        "$TEST_NGINX_DDB_PORT" "$ddb_pidfile" "$ddb_log"; then
    log "DynamoDB Local did not start" >&2
    exit 1
fi

# ------------------------------------------------------------------- run

log "runner: $runner_lib; ${#files[@]} test files"
read -r -d '' driver <<'PERL'
use strict;
use warnings;
use TAP::Harness;

my $harness = TAP::Harness->new({
    verbosity => $ENV{TEST_VERBOSE} ? 1 : 0,
    jobs      => $ENV{TEST_JOBS} || 1,
    exec      => sub {
        my ($h, $file) = @_;
        # Debian's python3: python3-botocore is installed for it
        return [$ENV{DDBM_PYTHON} || '/usr/bin/python3', $file]
            if $file =~ /\.py\z/;
        return undef if $file =~ /\.t\z/;    # Perl
        return [$file];                      # a compiled TAP program
    },
});
my $agg = $harness->runtests(@ARGV);

my ($passed, $failed) = (0, 0);
for my $desc ($agg->descriptions) {
    my ($p) = $agg->parsers($desc);
    my $f = scalar(my @f = $p->failed);
    $f = 1 if !$f && $p->has_problems;    # bad plan, exit code, crash
    $passed += scalar(my @p = $p->passed);
    $failed += $f;
}
# the counts of this pass, for the summary of both (see below)
open my $out, '>', $ENV{DDBM_PASS_COUNTS} or die "$ENV{DDBM_PASS_COUNTS}: $!";
print $out "$passed $failed\n";
close $out;
exit($agg->all_passed ? 0 : 1);
PERL

total_passed=0
total_failed=0
rc=0

# run_pass NAME TIMEOUT FILE...: one TAP::Harness run; adds its counts
run_pass() {
    local name=$1 limit=$2 r p f start=$SECONDS
    shift 2
    local counts=$rundir/counts.$name
    rm -f "$counts"
    log "$name pass: $# test files"
    DDBM_PASS_COUNTS=$counts run_job timeout --kill-after=30 "$limit" \
        perl -e "$driver" "$@"
    r=$?
    if [ "$r" -eq 124 ] || [ "$r" -eq 137 ]; then
        log "$name pass aborted: it took longer than ${limit}s" >&2
    fi
    if read -r p f 2>/dev/null <"$counts"; then
        total_passed=$((total_passed + p))
        total_failed=$((total_failed + f))
    else
        p=0 f=1
        total_failed=$((total_failed + 1))
    fi
    [ "$r" -eq 0 ] && [ "$f" -eq 0 ] || { r=1; rc=1; }
    log "$name pass: $p ok, $f not ok, $((SECONDS - start))s" \
        "($([ "$r" -eq 0 ] && echo PASS || echo FAIL))"
}

start=$SECONDS
if [ "${TEST_VALGRIND:-1}" != only ]; then
    run_pass normal "${TEST_TIMEOUT:-840}" "${files[@]}"
fi

# the valgrind pass: the Test::Nginx suites (and their plain Perl tests)
vg_files=()
for f in "${files[@]}"; do
    [[ "$f" == t/*.t ]] && vg_files+=("$f")
done
if [ "${TEST_VALGRIND:-1}" != 0 ] && [ "${#vg_files[@]}" -gt 0 ]; then
    vg_counts=$rundir/valgrind-counts
    : >"$vg_counts"
    if ! command -v valgrind >/dev/null; then
        log "valgrind pass: valgrind is not installed" \
            "(apt-get install valgrind)" >&2
        total_failed=$((total_failed + 1))
        rc=1
    else
        # valgrind makes nginx many times slower: longer client and
        # start/stop waits (the runner also scales each block's timeout)
        TEST_NGINX_USE_VALGRIND=1 \
        TEST_NGINX_VALGRIND_COUNTS=$vg_counts \
        TEST_NGINX_TIMEOUT=${TEST_VALGRIND_NGINX_TIMEOUT:-30} \
            run_pass valgrind "${TEST_VALGRIND_TIMEOUT:-1500}" \
                "${vg_files[@]}"
        vg_total=0
        while read -r vf vn; do
            [ -n "$vn" ] || continue
            log "valgrind: $vn error(s) in $vf"
            vg_total=$((vg_total + vn))
        done <"$vg_counts"
        for f in "${vg_files[@]}"; do
            grep -q "^$f " "$vg_counts" \
                || log "valgrind: $f ran no nginx under valgrind"
        done
        [ -z "${TEST_NGINX_REAL:-}" ] \
            || log "valgrind: the real Test::Nginx prints valgrind's" \
                   "reports (above) without checking them"
        log "valgrind: $vg_total error(s) in total"
    fi
fi

echo
echo "test.sh: $total_passed passed, $total_failed failed"
if [ "$rc" -eq 0 ]; then
    log "PASS ($((SECONDS - start))s)"
else
    log "FAIL ($((SECONDS - start))s)"
fi
exit "$rc"
