#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder of outside bytes (fuzz/: the RESP parser, peer frames,
# the write-ahead log's recovery scan, snapshots, the checker's history readers, scenario files),
# with cargo-fuzz and libFuzzer, each target for a given time, then a table per target: runs, runs
# per second, coverage (edges and features, as libFuzzer counts them), corpus size, and findings.
#
# Usage: bash scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]   (default: all six)
#
# Installs cargo-fuzz from crates.io if missing. Runs on the stable toolchain with
# `--sanitizer none` by default (fastest: Rust code without `unsafe` gains little from a
# sanitizer). `FUZZ_SANITIZER=address` runs under AddressSanitizer on the nightly toolchain
# (`rustup toolchain install nightly` when it is missing), which also checks the C++ of libFuzzer
# and the allocator paths; about a third of the speed. Seeds come from `cargo run --example seeds` (the project's own encoders) when a corpus is
# missing; what the fuzzer adds is merged back into fuzz/corpus/TARGET minimised (`-merge=1`), so
# the kept corpora grow only by inputs that reach new coverage. A crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script exit 1: turn it into a regression test (the corpus
# test, chaos/tests/fuzz_corpus.rs, runs every file of fuzz/corpus/ through the same properties).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(resp peer_frame wal snapshot history scenario)
fi
case "$seconds" in
    '' | *[!0-9]*) echo "error: SECONDS $seconds: expected a whole number of seconds per target" >&2; exit 2 ;;
esac
sanitizer=${FUZZ_SANITIZER:-none}
toolchain=()
case "$sanitizer" in
    none) ;;
    address)
        if ! rustup toolchain list | grep -q '^nightly'; then
            echo "installing the nightly toolchain (AddressSanitizer needs it)"
            rustup toolchain install nightly --profile minimal
        fi
        toolchain=(+nightly)
        ;;
    *) echo "error: FUZZ_SANITIZER $sanitizer: expected none or address" >&2; exit 2 ;;
esac

if ! command -v cargo-fuzz > /dev/null; then
    echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
if [ ! -d corpus ]; then
    cargo run -q --example seeds
fi

results=()
failed=0
for target in "${targets[@]}"; do
    log=$(mktemp)
    mkdir -p "corpus/$target" "artifacts/$target"
    grown=$(mktemp -d)
    status=0
    cargo "${toolchain[@]}" fuzz run -s "$sanitizer" "$target" "$grown" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 > "$log" 2>&1 || status=$?
    # Keep only what adds coverage to the kept corpus.
    cargo "${toolchain[@]}" fuzz run -s "$sanitizer" "$target" "corpus/$target" "$grown" -- -merge=1 > /dev/null 2>&1 || true
    rm -rf "$grown"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo 0)
    corpus=$(find "corpus/$target" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        finding="CRASH: $(ls -t "artifacts/$target" | head -1) (log: $log)"
        failed=1
    else
        finding="none"
        rm -f "$log"
    fi
    results+=("$(printf '| %-10s | %12s | %9s | %5s | %6s | %6s | %s |' "$target" "$runs" "$speed" "$cov" "$ft" "$corpus" "$finding")")
done

echo
echo "| target     |         runs |    runs/s |  cov. | feat. | corpus | findings |"
echo "|------------|--------------|-----------|-------|--------|--------|----------|"
printf '%s\n' "${results[@]}"
echo "($seconds s per target, $(date -u +%Y-%m-%d), sanitizer $sanitizer)"
exit $failed
