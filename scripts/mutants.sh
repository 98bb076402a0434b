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
#        bash scripts/mutants.sh --recheck                 each mutant the last run missed, again,
#                                                          against the tests of HEAD (in a scratch
#                                                          worktree): the ones caught since are
#                                                          counted as such in the table
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
packages=()
for name in ${test_packages//,/ }; do packages+=(-p "$name"); done
# The tests run under nextest's `mutants` profile (.config/nextest.toml): the first failure ends
# the run at once, and the model's smoke tier runs last, so a caught mutant costs seconds. The
# profile leaves out the smoke tier's storage-loss twin (`recovery_is_safe_with_a_wipe`, 8.4M
# states, 43 s of the tier's 65 s) unless MUTANTS_TIER=full: leaving it out can only turn a caught
# mutant into a missed one, never the reverse, and every missed mutant is checked again (run
# recovery.rs with MUTANTS_TIER=full).
tier+=(--profile mutants)
if [ "${MUTANTS_TIER:-fast}" = full ]; then
    tier+=(--ignore-default-filter)
fi

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
    since=0
    unexplained=()
    if [ -f "$dir/missed.txt" ]; then
        while IFS= read -r mutant; do
            [ -n "$mutant" ] || continue
            if [ -f "$equivalent_file" ] && grep -qxF -- "$mutant" <(sed 's/ # .*//' "$equivalent_file"); then
                equivalent=$((equivalent + 1))
            elif [ -f "$dir/recheck.txt" ] && grep -qxF -- "caught $mutant" "$dir/recheck.txt"; then
                since=$((since + 1))
            else
                unexplained+=("$mutant")
            fi
        done <"$dir/missed.txt"
    fi
    generated=$((caught + missed + unviable + timeout))
    viable=$((caught + missed + timeout - equivalent))
    percent() { awk -v c="$1" -v v="$viable" 'BEGIN { if (v > 0) printf "%.1f%%", 100 * c / v; else printf "-" }'; }
    printf '| generated | caught | missed | of which equivalent | of which caught since | unviable | timed out | caught of viable by the run | with the tests of today |\n'
    printf '|---|---|---|---|---|---|---|---|---|\n'
    printf '| %d | %d | %d | %d | %d | %d | %d | %s | %s |\n' \
        "$generated" "$caught" "$missed" "$equivalent" "$since" "$unviable" "$timeout" \
        "$(percent $((caught + timeout)))" "$(percent $((caught + timeout + since)))"
    echo "(timed-out mutants count as caught: a test no longer finishes; caught since: --recheck)"
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

# Each missed mutant of the last run, applied again to a scratch worktree of HEAD (its diff, as
# cargo-mutants wrote it; it applies with an offset if lines moved) and run against the tier:
# `caught` (a test fails or the tier no longer finishes within 300 s), `missed`, or `stale` (the
# diff no longer applies or no longer builds: the code it mutated has changed; run the file
# again). Writes recheck.txt beside missed.txt.
if [ "${1:-}" = "--recheck" ]; then
    dir="$out/mutants.out"
    scratch=$PWD/target/mutants-recheck
    tree=$scratch/tree
    mkdir -p "$scratch"
    git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    git worktree prune
    git worktree add --detach -q "$tree" HEAD
    python3 - "$dir" >"$scratch/list" <<'PY'
import json, sys
outcomes = json.load(open(sys.argv[1] + "/outcomes.json"))["outcomes"]
for outcome in outcomes:
    if outcome["summary"] == "MissedMutant":
        print(outcome["scenario"]["Mutant"]["name"] + "\t" + sys.argv[1] + "/" + outcome["diff_path"])
PY
    : >"$dir/recheck.txt"
    while IFS=$'\t' read -r mutant diff; do
        git -C "$tree" checkout -q -- .
        if ! git -C "$tree" apply "$PWD/$diff" 2>/dev/null; then
            verdict=stale
        elif ! (cd "$tree" && CARGO_TARGET_DIR=$scratch/target cargo nextest run --no-run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
            verdict=stale
        elif (cd "$tree" && CARGO_TARGET_DIR=$scratch/target timeout 300 cargo nextest run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
            verdict=missed
        else
            verdict=caught
        fi
        echo "$verdict $mutant" | tee -a "$dir/recheck.txt"
    done <"$scratch/list"
    git worktree remove --force "$tree"
    summary
    exit
fi

for tool in cargo-mutants cargo-nextest; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "installing $tool (cargo install --locked $tool)" >&2
        cargo install --locked "$tool" >/dev/null
    fi
done

started=$SECONDS
# The unmutated tree must pass the tier first. cargo-mutants' own baseline would run only the
# mutated package's tests (27.1 ignores --test-package there), so the baseline is run here and
# cargo-mutants is told to skip its own, with fixed timeouts (the whole tier takes about 30 s in a
# debug build, a minute with the machine busy; a mutant that makes it run past 180 s is cut off and
# counted as caught).
echo "baseline: cargo nextest run ${packages[*]} ${tier[*]}" >&2
cargo nextest run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1 || {
    echo "the unmutated tree fails the tier: cargo nextest run ${packages[*]} ${tier[*]}" >&2
    exit 1
}
# Exit 2 means some mutants were missed: the table below says which; anything else is an error.
set +e
cargo mutants --package "$package" --test-package "$test_packages" --test-tool nextest --baseline skip \
    --gitignore true --timeout 180 --build-timeout 900 --output "$out" "${scope[@]}" "$@" -- "${tier[@]}"
status=$?
set -e
if [ "$status" != 0 ] && [ "$status" != 2 ] && [ "$status" != 3 ]; then
    echo "cargo mutants failed (exit $status)" >&2
    exit "$status"
fi

echo "$((SECONDS - started)) s"
summary
