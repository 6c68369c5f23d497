#!/usr/bin/env bash
# make fuzz: runs every libFuzzer harness (tests/fuzz/fuzz_*.c) for FUZZ_SECONDS each (default
# 60), starting from its corpus, with ASan and UBSan. Needs clang: installed from Debian when
# missing (make test never needs it; its suites replay the corpora with gcc). New inputs go to a
# scratch directory; a crash stops with the reproducer's path. Once a crash is fixed, copy the
# reproducer into tests/fuzz/corpus/<name>/ so every make test replays it.
#   make fuzz                        all harnesses, 60 s each
#   make fuzz FUZZ=expr FUZZ_SECONDS=600
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
ONLY=${FUZZ:-}
BUILD=${BUILD_FUZZ:-build-fuzz}

if ! command -v clang >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
    echo "fuzz: installing clang"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DCKEDA_FUZZ=ON >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    corpus=${name#fuzz_}
    [ -z "$ONLY" ] || [ "$ONLY" = "$corpus" ] || continue
    cmake --build "$BUILD" --target "$name" -j "$(nproc)" >/dev/null
    mkdir -p "$work/$corpus" "$work/$corpus-crashes"
    echo "fuzz: $corpus for ${SECONDS_EACH} s"
    if ! "$BUILD/tests/$name" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$corpus-crashes/" -print_final_stats=1 \
        "$work/$corpus" "tests/fuzz/corpus/$corpus" >"$work/$corpus.log" 2>&1; then
        tail -40 "$work/$corpus.log"
        keep=$(mktemp -d /tmp/ckeda-fuzz-XXXXXX)
        cp -r "$work/$corpus-crashes" "$keep/"
        echo "fuzz: $corpus FAILED; reproducers kept in $keep/$corpus-crashes" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$corpus.log" |
        sed "s/^/fuzz: $corpus /"
done
echo "fuzz: every harness ran clean"
