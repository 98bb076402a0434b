#!/usr/bin/env bash
# Mutation testing of the protocol core (the paxos-core crate) with cargo-mutants: every mutant
# it generates (a replaced function body, a flipped comparison, a deleted branch...) is built and
# run against the fast tier (the core's own unit tests, the exact-output handler and membership
# tests, the textbook interleavings, the seeded cluster runs and their named mutants, the model
# checker's smoke tier), and must make one of them fail.
#
# Usage: bash scripts/mutants.sh [cargo-mutants flags]    e.g. --file paxos/core/src/acceptor.rs
#        bash scripts/mutants.sh --summary                 the table of the last run again
#        MUTANTS_OUT=target/mutants-b bash scripts/mutants.sh --file ...   a second run beside the
#                                                          first (its own output folder)
#        MUTANTS_TIER=full bash scripts/mutants.sh ...   with the smoke tier's 43 s wipe twin
#        bash scripts/mutants.sh --iterate ...            skip what the last run already caught
#        MUTANTS_CRATE=storage bash scripts/mutants.sh    the storage's recovery instead: the
#                                                          `paxos` crate's storage modules (the
#                                                          record format, open and recovery, group
#                                                          commit) against the storage tests (the
#                                                          crate's unit tests, `storage`,
#                                                          `storage_sim`, `storage_kill`); missed
#                                                          ones explained in
#                                                          paxos/src/storage/mutants-equivalent.txt
#
# Installs cargo-mutants from crates.io if missing. Writes target/mutants/mutants.out/ (caught.txt,
# missed.txt, unviable.txt, timeout.txt, one mutant a line) and prints the table: generated,
# caught, missed, unviable, timed out, and the share of viable mutants caught. A missed mutant that
# no test can catch because it changes no behaviour is listed in paxos/core/mutants-equivalent.txt
# (the mutant as missed.txt names it, then " # " and why); it is left out of the share. The whole
# core takes hours on two cores: run it in the background, or one file at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

crate=${MUTANTS_CRATE:-core}
case "$crate" in
core)
    package=paxos-core
    test_packages=paxos-core,paxos,model
    tier=(--lib --test handlers --test membership --test interleavings --test cluster --test mutants --test smoke)
    equivalent_file=paxos/core/mutants-equivalent.txt
    scope=()
    ;;
storage)
    package=paxos
    test_packages=paxos
    tier=(--lib --test storage --test storage_sim --test storage_kill)
    equivalent_file=paxos/src/storage/mutants-equivalent.txt
    scope=(--file paxos/src/storage/format.rs --file paxos/src/storage/mod.rs --file paxos/src/storage/group.rs)
    ;;
*)
    echo "MUTANTS_CRATE=$crate: expected core or storage" >&2
    exit 2
    ;;
esac
out=${MUTANTS_OUT:-target/mutants$([ "$crate" = core ] || echo "-$crate")}
# Files named on the command line replace the crate's default scope.
for argument in "$@"; do
    if [ "$argument" = --file ] || [[ "$argument" == --file=* ]]; then scope=(); fi
done


summary() {
    dir="$out/mutants.out"
    count() {
        local lines=0
        if [ -f "$dir/$1" ]; then lines=$(grep -c . "$dir/$1" || true); fi
        echo "${lines:-0}"
    }
    caught=$(count caught.txt)
    missed=$(count missed.txt)
    unviable=$(count unviable.txt)
    timeout=$(count timeout.txt)
    equivalent=0
    unexplained=()
    if [ -f "$dir/missed.txt" ]; then
        while IFS= read -r mutant; do
            [ -n "$mutant" ] || continue
            if [ -f "$equivalent_file" ] && grep -qxF -- "$mutant" <(sed 's/ # .*//' "$equivalent_file"); then
                equivalent=$((equivalent + 1))
            else
                unexplained+=("$mutant")
            fi
        done <"$dir/missed.txt"
    fi
    generated=$((caught + missed + unviable + timeout))
    viable=$((caught + missed + timeout - equivalent))
    printf '| generated | caught | missed | of which equivalent | unviable | timed out | caught of viable |\n'
    printf '|---|---|---|---|---|---|---|\n'
    if [ "$viable" -gt 0 ]; then
        share=$(awk -v c="$((caught + timeout))" -v v="$viable" 'BEGIN { printf "%.1f%%", 100 * c / v }')
    else
        share="-"
    fi
    printf '| %d | %d | %d | %d | %d | %d | %s |\n' \
        "$generated" "$caught" "$missed" "$equivalent" "$unviable" "$timeout" "$share"
    echo "(timed-out mutants count as caught: a test no longer finishes)"
    if [ ${#unexplained[@]} -gt 0 ]; then
        echo "missed and not explained in $equivalent_file:"
        printf '  %s\n' "${unexplained[@]}"
        exit 1
    fi
}

if [ "${1:-}" = "--summary" ]; then
    summary
    exit
fi

if ! command -v cargo-mutants >/dev/null 2>&1; then
    echo "installing cargo-mutants (cargo install --locked cargo-mutants)" >&2
    cargo install --locked cargo-mutants >/dev/null
fi

# The smoke tier's storage-loss twin (`recovery_is_safe_with_a_wipe`, 8.4M states) is 43 of the
# tier's 65 s: it is skipped unless MUTANTS_TIER=full. Skipping it can only turn a caught mutant
# into a missed one, never the reverse, and every missed mutant is triaged by hand against the full
# tier; run recovery.rs with MUTANTS_TIER=full.
if [ "$crate" = core ] && [ "${MUTANTS_TIER:-fast}" != full ]; then
    tier+=(-- --skip recovery_is_safe_with_a_wipe)
fi
started=$SECONDS
# The unmutated tree must pass the tier first. cargo-mutants' own baseline would run only the
# mutated package's tests (27.1 ignores --test-package there), so the baseline is run here and
# cargo-mutants is told to skip its own, with fixed timeouts (the tier takes about a minute in a
# debug build, 90 s with the machine busy; a mutant that makes it run past 180 s is cut off and
# counted as caught).
packages=()
for name in ${test_packages//,/ }; do packages+=(-p "$name"); done
echo "baseline: cargo test ${packages[*]} ${tier[*]}" >&2
cargo test -q "${packages[@]}" "${tier[@]}" >/dev/null
# Exit 2 means some mutants were missed: the table below says which; anything else is an error.
set +e
cargo mutants --package "$package" --test-package "$test_packages" --baseline skip --gitignore true \
    --timeout 180 --build-timeout 900 --output "$out" "${scope[@]}" "$@" -- "${tier[@]}"
status=$?
set -e
if [ "$status" != 0 ] && [ "$status" != 2 ] && [ "$status" != 3 ]; then
    echo "cargo mutants failed (exit $status)" >&2
    exit "$status"
fi

echo "$((SECONDS - started)) s"
summary
