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

# The table: every mutant's latest verdict, from the runs kept in $out (earlier runs of an
# --iterate series in earlier.tsv, the last run's outcomes.json), the recheck's verdicts on the
# missed and timed-out ones, and the equivalent mutants explained in $equivalent_file.
summary() {
    verdicts summary
}

# Keeps the verdicts of the last run before an --iterate run replaces its folder (cargo-mutants
# keeps only the one before): earlier.tsv holds every mutant's latest verdict of the series.
remember() {
    verdicts remember
}

# Every mutant's latest verdict (earlier.tsv, then the last run's outcomes.json); `summary` prints
# the table, `remember` writes them to earlier.tsv.
verdicts() {
    python3 - "$1" "$out" "$equivalent_file" <<'PY'
import json, os, sys
mode, out, equivalent_file = sys.argv[1], sys.argv[2], sys.argv[3]
verdicts = {}
earlier = os.path.join(out, "earlier.tsv")
if os.path.exists(earlier):
    for line in open(earlier):
        verdict, _, mutant = line.rstrip("\n").partition("\t")
        verdicts[mutant] = verdict
outcomes = os.path.join(out, "mutants.out", "outcomes.json")
if os.path.exists(outcomes):
    names = {"CaughtMutant": "caught", "MissedMutant": "missed", "Unviable": "unviable", "Timeout": "timeout"}
    for outcome in json.load(open(outcomes))["outcomes"]:
        mutant = outcome["scenario"]
        if isinstance(mutant, dict) and "Mutant" in mutant and outcome["summary"] in names:
            verdicts[mutant["Mutant"]["name"]] = names[outcome["summary"]]
if mode == "remember":
    os.makedirs(out, exist_ok=True)
    with open(earlier, "w") as file:
        for mutant, verdict in sorted(verdicts.items()):
            file.write(f"{verdict}\t{mutant}\n")
    sys.exit(0)
recheck = {}
recheck_file = os.path.join(out, "recheck.txt")
if os.path.exists(recheck_file):
    for line in open(recheck_file):
        verdict, _, mutant = line.rstrip("\n").partition(" ")
        recheck[mutant] = verdict
equivalent = set()
if os.path.exists(equivalent_file):
    for line in open(equivalent_file):
        if line.strip() and not line.startswith("#"):
            equivalent.add(line.split(" # ")[0].strip())
count = {"caught": 0, "missed": 0, "unviable": 0, "timeout": 0, "equivalent": 0, "since": 0}
unexplained = []
for mutant, verdict in sorted(verdicts.items()):
    if verdict == "timeout" and recheck.get(mutant) == "missed":
        verdict = "missed"  # the machine was busy, not the tests stuck
    count[verdict] += 1
    if verdict == "missed":
        if mutant in equivalent:
            count["equivalent"] += 1
        elif recheck.get(mutant) == "caught":
            count["since"] += 1
        else:
            unexplained.append(mutant)
generated = count["caught"] + count["missed"] + count["unviable"] + count["timeout"]
viable = count["caught"] + count["missed"] + count["timeout"] - count["equivalent"]
def share(caught):
    return f"{100 * caught / viable:.1f}%" if viable else "-"
print("| generated | caught | missed | of which equivalent | of which caught since | unviable | timed out "
      "| caught of viable by the runs | with the tests of today |")
print("|---|---|---|---|---|---|---|---|---|")
caught = count["caught"] + count["timeout"]
print(f"| {generated} | {count['caught']} | {count['missed']} | {count['equivalent']} | {count['since']} "
      f"| {count['unviable']} | {count['timeout']} | {share(caught)} | {share(caught + count['since'])} |")
print("(timed-out mutants count as caught: a test no longer finishes; caught since: --recheck)")
if unexplained:
    print(f"missed and not explained in {equivalent_file} nor caught by --recheck:")
    for mutant in unexplained:
        print(f"  {mutant}")
    sys.exit(1)
PY
}

if [ "${1:-}" = "--summary" ]; then
    summary
    exit
fi

# Each missed (or timed-out: the machine may have been busy) mutant of the last run, applied
# again to a scratch worktree of HEAD (its diff, as cargo-mutants wrote it; it applies with an
# offset if lines moved) and run against the tier: `caught` (a test fails or the tier no longer
# finishes within 300 s), `missed`, or `stale` (the diff no longer applies or no longer builds:
# the code it mutated has changed; run the file again). Records the verdicts in $out/recheck.txt.
# The worktree builds into the workspace's target folder: its crates live at another path, so
# their builds sit beside the checkout's, and the dependencies' are shared.
if [ "${1:-}" = "--recheck" ]; then
    dir="$out/mutants.out"
    root=$PWD
    scratch=$root/target/mutants-recheck
    tree=$scratch/tree
    mkdir -p "$scratch"
    git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    git worktree prune
    git worktree add --detach -q "$tree" HEAD
    python3 - "$dir" >"$scratch/list" <<'PY'
import json, sys
outcomes = json.load(open(sys.argv[1] + "/outcomes.json"))["outcomes"]
for outcome in outcomes:
    if outcome["summary"] in ("MissedMutant", "Timeout"):
        print(outcome["scenario"]["Mutant"]["name"] + "\t" + sys.argv[1] + "/" + outcome["diff_path"])
PY
    : >"$scratch/verdicts"
    while IFS=$'\t' read -r mutant diff; do
        git -C "$tree" checkout -q -- .
        if ! git -C "$tree" apply "$PWD/$diff" 2>/dev/null; then
            verdict=stale
        elif ! (cd "$tree" && CARGO_TARGET_DIR=$root/target cargo nextest run --no-run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
            verdict=stale
        elif (cd "$tree" && CARGO_TARGET_DIR=$root/target timeout 300 cargo nextest run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
            verdict=missed
        else
            verdict=caught
        fi
        echo "$verdict $mutant" | tee -a "$scratch/verdicts"
    done <"$scratch/list"
    git worktree remove --force "$tree"
    # The verdicts of this recheck replace earlier ones of the same mutants.
    touch "$out/recheck.txt"
    { grep -vFf <(cut -d' ' -f2- "$scratch/verdicts") "$out/recheck.txt" || true; cat "$scratch/verdicts"; } \
        >"$scratch/merged"
    mv "$scratch/merged" "$out/recheck.txt"
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
for argument in "$@"; do
    if [ "$argument" = --iterate ]; then remember; fi
done
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
