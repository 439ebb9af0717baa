#!/usr/bin/env bash
# Runs each libFuzzer harness for a while and prints, per harness, the
# executions, the seconds and the crashes; `make fuzz` calls it.
#
#   fuzz/run.sh BUILD_DIR SECONDS HARNESS...
#
# Each harness starts from its committed seeds (fuzz/corpus/<harness>) and
# a working corpus in BUILD_DIR/corpus/<harness> that grows between runs;
# a crashing input is written to BUILD_DIR/crashes/<harness>/ (commit it
# into fuzz/corpus/<harness>/ with the fix).  libFuzzer stops a harness at
# its first crash.  Exits non-zero if any harness crashed.
#
# Environment: FUZZ_ARGS, extra libFuzzer options (e.g. -jobs=2).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

build=$1
seconds=$2
shift 2

rc=0
summary=()

for h in "$@"; do
    work=$build/corpus/$h
    crashes=$build/crashes/$h
    log=$build/logs/$h.log
    mkdir -p "$work" "$crashes" "$build/logs"
    before=$(find "$crashes" -type f | wc -l)

    echo "fuzz: $h for ${seconds}s (log: $log)"
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of options
    "$build/$h" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$crashes/" -rss_limit_mb=2048 -timeout=10 \
        ${FUZZ_ARGS:-} "$work" "fuzz/corpus/$h" >"$log" 2>&1
    status=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" \
            | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" \
           | tail -n 1)
    after=$(find "$crashes" -type f | wc -l)
    found=$((after - before))
    if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
        found=1     # died without an artifact: still a failure
    fi
    [ "$found" -ne 0 ] && rc=1

    line=$(printf '%-18s executions %12s  seconds %6s  crashes %d' \
           "$h" "${execs:-?}" "${secs:-$seconds}" "$found")
    echo "fuzz: $line"
    [ "$found" -ne 0 ] && grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz_assert)' \
        "$log" | sed 's/^/fuzz:   /'
    summary+=("$line")
done

echo
printf 'fuzz: %s\n' "${summary[@]}"
exit "$rc"
