#!/usr/bin/env bash
# Builds the plain and the sanitizer (ASan+UBSan) trees and runs every suite through ctest,
# by label. The sanitizer tree runs everything but the end-to-end matrix: its e2e share is the
# smoke test (label e2e-smoke). Each suite prints its wall time; the last line sums them up.
#   SUITES="unit process"   run only these labels (default: all)
#   SKIP_SAN=1              skip the sanitizer tree (local iteration only; CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=${SUITES:-"unit process integration e2e"}
JOBS=$(nproc)
passed=0 failed=0 status=0
timings=()

build_tree() {
    local dir=$1 start=$SECONDS
    shift
    [ -f "$dir/CMakeCache.txt" ] || cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
    timings+=("build $dir: $((SECONDS - start)) s")
}

run_suite() {
    local dir=$1 label=$2 start=$SECONDS out rc=0 p f
    out=$(mktemp)
    echo "== suite $label ($dir)"
    ctest --test-dir "$dir" -L "^${label}\$" --output-on-failure --timeout 1800 2>&1 |
        tee "$out" || rc=$?
    if grep -q 'No tests were found' "$out"; then
        timings+=("suite $label ($dir): no tests")
        rm -f "$out"
        return 0
    fi
    read -r p f < <(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$out" |
        awk '{print $1-$2, $2}')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    [ "$rc" = 0 ] || status=1
    timings+=("suite $label ($dir): $((SECONDS - start)) s")
    echo "== suite $label ($dir): $((SECONDS - start)) s"
    rm -f "$out"
}

wants() { [[ " $SUITES " == *" $1 "* ]]; }

build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo
for s in unit process integration e2e; do
    wants "$s" && run_suite build "$s"
done
if [ "${SKIP_SAN:-0}" != 1 ]; then
    build_tree build-san -DCMAKE_BUILD_TYPE=Debug -DCKEDA_SANITIZE=ON
    for s in unit process integration; do
        wants "$s" && run_suite build-san "$s"
    done
    wants e2e && run_suite build-san e2e-smoke
fi

printf '%s\n' "${timings[@]}"
echo "tests: $passed passed, $failed failed"
exit $status
