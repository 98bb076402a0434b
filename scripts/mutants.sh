#!/usr/bin/env bash
# Mutation testing of the protocol core (the paxos-core crate) with cargo-mutants: every mutant
# it generates (a replaced function body, a flipped comparison, a deleted branch...) is built and
# run against the fast tier (the core's own unit tests, the exact-output handler and membership
# tests, the textbook interleavings, the seeded cluster runs and their named mutants, the model
# checker's smoke tier), and must make one of them fail.
#
# Usage: bash scripts/mutants.sh [cargo-mutants flags]    e.g. --file paxos/core/src/acceptor.rs
#        bash scripts/mutants.sh --summary                 the table of today's mutants again (and
#                                                          the last run, even one cut short, merged
#                                                          into the record)
#        MUTANTS_OUT=target/mutants-b bash scripts/mutants.sh --file ...   a second run beside the
#                                                          first (its own output folder)
#        MUTANTS_TIER=full bash scripts/mutants.sh ...   with the smoke tier's 43 s wipe twin
#        bash scripts/mutants.sh --iterate ...            skip what earlier runs caught (or found
#                                                          unviable), as the tracked record
#                                                          paxos/core/mutants-verdicts.tsv holds
#        bash scripts/mutants.sh --recheck                 each mutant the record holds as missed
#                                                          or timed out, again, against the tests
#                                                          of HEAD (in a scratch worktree): its
#                                                          verdict replaces the earlier one
#                                                          (MUTANTS_RECHECK=missed: the missed
#                                                          ones only)
#        MUTANTS_CRATE=storage bash scripts/mutants.sh    the storage's recovery instead: the
#                                                          `paxos` crate's storage modules (the
#                                                          record format, open and recovery, group
#                                                          commit) against the storage tests (the
#                                                          crate's unit tests, `storage`,
#                                                          `storage_sim`, `storage_kill`); missed
#                                                          ones explained in
#                                                          paxos/src/storage/mutants-equivalent.txt
#        MUTANTS_CRATE=checker bash scripts/mutants.sh    the linearizability checker (the `checker`
#                                                          crate, an oracle with no dependency on
#                                                          `paxos`) against its own tests only;
#                                                          missed ones explained in
#                                                          checker/mutants-equivalent.txt
#
# Installs cargo-mutants from crates.io if missing. Writes target/mutants/mutants.out/ (caught.txt,
# missed.txt, unviable.txt, timeout.txt, one mutant a line), merges every verdict into the tracked
# record paxos/core/mutants-verdicts.tsv (so a series goes on from a fresh clone, and the README's
# figures can be checked), and prints the table of today's mutants: generated, not run yet,
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
    verdicts_file=paxos/core/mutants-verdicts.tsv
    scope=()
    timeout=180
    recheck_timeout=300
    ;;
storage)
    package=paxos
    test_packages=paxos
    tier=(--lib --test storage --test storage_sim --test storage_kill)
    equivalent_file=paxos/src/storage/mutants-equivalent.txt
    verdicts_file=paxos/src/storage/mutants-verdicts.tsv
    scope=(--file paxos/src/storage/format.rs --file paxos/src/storage/mod.rs --file paxos/src/storage/group.rs)
    timeout=180
    recheck_timeout=300
    ;;
checker)
    package=checker
    test_packages=checker
    tier=(--lib --test cli --test model --test kv --test verdicts --test html)
    equivalent_file=checker/mutants-equivalent.txt
    verdicts_file=checker/mutants-verdicts.tsv
    scope=()
    # The checker's tests take 3 s; a mutant that makes the search loop is cut off at 30 s.
    timeout=30
    recheck_timeout=60
    ;;
*)
    echo "MUTANTS_CRATE=$crate: expected core, storage or checker" >&2
    exit 2
    ;;
esac
out=${MUTANTS_OUT:-target/mutants$([ "$crate" = core ] || echo "-$crate")}
table_scope=("${scope[@]}")
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

# The table: every mutant of today's code (`cargo mutants --list`) with its latest verdict (see
# `verdicts`) and whether paxos/core/mutants-equivalent.txt explains it. A mutant whose code moved
# or changed since its run has a new name and counts as not run yet.
summary() {
    list_today
    verdicts summary "$out/today.txt"
}

# Lists today's mutants into $out/today.txt, once per run of this script (the code does not
# change during it).
listed=""
list_today() {
    [ -n "$listed" ] && return
    mkdir -p "$out"
    cargo mutants --package "$package" --list "${table_scope[@]}" >"$out/today.txt" 2>/dev/null || {
        echo "cargo mutants --list failed" >&2
        exit 1
    }
    listed=1
}

# Merges what the last run and its recheck found into the record $verdicts_file (see `verdicts`),
# keeping only today's mutants: a verdict of code that moved or changed since would otherwise
# stay under its old name, which a different mutant of the new code may take (and an --iterate
# run would skip that one as caught).
remember() {
    list_today
    verdicts remember "$out/today.txt"
}

# Every mutant's latest verdict: the tracked record $verdicts_file (every run so far), then the
# last run's outcomes in $out, then the recheck of that run's missed ones ($out/recheck.txt).
# `verdicts remember LIST` writes those of today's mutants (the ones LIST names) back to the
# record, and the caught and unviable ones to where an --iterate run of cargo-mutants reads what to
# skip; `verdicts summary LIST` prints the table.
verdicts() {
    python3 - "$1" "$out" "$equivalent_file" "$verdicts_file" "${2:-}" <<'PY'
import json, os, sys
mode, out, equivalent_file, verdicts_file, listing = sys.argv[1:6]
verdicts = {}
if os.path.exists(verdicts_file):
    for line in open(verdicts_file):
        if line.strip() and not line.startswith("#"):
            verdict, _, mutant = line.rstrip("\n").partition("\t")
            verdicts[mutant] = verdict
outcomes = os.path.join(out, "mutants.out", "outcomes.json")
if os.path.exists(outcomes):
    names = {"CaughtMutant": "caught", "MissedMutant": "missed", "Unviable": "unviable", "Timeout": "timeout"}
    for outcome in json.load(open(outcomes))["outcomes"]:
        mutant = outcome["scenario"]
        if isinstance(mutant, dict) and "Mutant" in mutant and outcome["summary"] in names:
            verdicts[mutant["Mutant"]["name"]] = names[outcome["summary"]]
recheck_file = os.path.join(out, "recheck.txt")
if os.path.exists(recheck_file):
    for line in open(recheck_file):
        verdict, _, mutant = line.rstrip("\n").partition(" ")
        if verdict == "stale":
            verdicts.pop(mutant, None)  # its code has changed: the mutant no longer exists
        else:
            verdicts[mutant] = verdict
if mode == "remember":
    today = {line.rstrip("\n") for line in open(listing) if line.strip()}
    verdicts = {mutant: verdict for mutant, verdict in verdicts.items() if mutant in today}
    with open(verdicts_file, "w") as file:
        file.write("# Every mutant's latest verdict in the runs of scripts/mutants.sh, written by it after each\n"
                   "# run: `bash scripts/mutants.sh --summary` prints the table of today's mutants from it.\n")
        for mutant, verdict in sorted(verdicts.items()):
            file.write(f"{verdict}\t{mutant}\n")
    os.makedirs(os.path.join(out, "mutants.out"), exist_ok=True)
    with open(os.path.join(out, "mutants.out", "previously_caught.txt"), "w") as file:
        for mutant, verdict in sorted(verdicts.items()):
            if verdict in ("caught", "unviable"):
                file.write(mutant + "\n")
    sys.exit(0)
current = [line.rstrip("\n") for line in open(listing) if line.strip()]
equivalent = set()
if os.path.exists(equivalent_file):
    for line in open(equivalent_file):
        if line.strip() and not line.startswith("#"):
            equivalent.add(line.split(" # ")[0].strip())
count = {"caught": 0, "missed": 0, "unviable": 0, "timeout": 0, "not run": 0}
unexplained, explained = [], 0
for mutant in current:
    verdict = verdicts.get(mutant, "not run")
    count[verdict] += 1
    if verdict == "missed":
        if mutant in equivalent:
            explained += 1
        else:
            unexplained.append(mutant)
viable = count["caught"] + count["missed"] + count["timeout"] - explained
caught = count["caught"] + count["timeout"]
print("| generated | not run yet | caught | timed out | missed | of which equivalent | unviable "
      "| caught of viable |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {len(current)} | {count['not run']} | {count['caught']} | {count['timeout']} | {count['missed']} "
      f"| {explained} | {count['unviable']} | {100 * caught / viable if viable else 0:.1f}% |")
print("(a timed-out mutant counts as caught: a test no longer finishes; --recheck runs it again)")
if unexplained:
    print(f"missed and not explained in {equivalent_file}:")
    for mutant in unexplained:
        print(f"  {mutant}")
    sys.exit(1)
PY
}

for tool in cargo-mutants cargo-nextest; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "installing $tool (cargo install --locked $tool)" >&2
        cargo install --locked "$tool" >/dev/null
    fi
done

# The checker's tier renders its HTML report in a headless browser (checker/tests/html.rs).
if [ "$crate" = checker ]; then
    source scripts/system-packages.sh
    need_commands chromium:chromium
fi

if [ "${1:-}" = "--summary" ]; then
    remember
    summary
    exit
fi

# Each mutant the record holds as missed (or timed out: the machine may have been busy), applied
# again to a scratch worktree of HEAD (its diff as cargo-mutants generates it from today's code)
# and run against the tier: `caught` (a test fails or the tier no longer finishes within
# $recheck_timeout s: 300, 60 for the checker), `missed`, or `stale` (today's code no longer has
# that mutant, or it no longer builds: run its file again). The verdicts go to $out/recheck.txt and
# into the record. The worktree builds into its own target folder, kept between rechecks: in the
# workspace's, its test binaries took the checkout's names, and a test run in the checkout during a
# recheck ran a mutant's binary.
if [ "${1:-}" = "--recheck" ]; then
    root=$PWD
    scratch=$root/target/mutants-recheck
    tree=$scratch/tree
    mkdir -p "$scratch/diffs"
    remember
    cargo mutants --package "$package" --list --json --diff "${table_scope[@]}" >"$scratch/listing.json"
    python3 - "$verdicts_file" "$scratch" "${MUTANTS_RECHECK:-missed,timeout}" >"$scratch/list" <<'PY'
import json, sys
verdicts_file, scratch, which = sys.argv[1:4]
diffs = {mutant["name"]: mutant["diff"] for mutant in json.load(open(scratch + "/listing.json"))}
for number, line in enumerate(open(verdicts_file)):
    verdict, _, mutant = line.rstrip("\n").partition("\t")
    if verdict in which.split(","):
        path = f"{scratch}/diffs/{number}.diff"
        open(path, "w").write(diffs.get(mutant, ""))
        print(f"{mutant}\t{path}")
PY
    git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    git worktree prune
    git worktree add --detach -q "$tree" HEAD
    : >"$scratch/verdicts"
    while IFS=$'\t' read -r mutant diff; do
        git -C "$tree" checkout -q -- .
        if [ ! -s "$diff" ] || ! patch -s -p0 -d "$tree" --no-backup-if-mismatch -i "$diff" >/dev/null 2>&1; then
            verdict=stale
        elif ! (cd "$tree" && CARGO_TARGET_DIR=$scratch/target cargo nextest run --no-run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
            verdict=stale
        elif (cd "$tree" && CARGO_TARGET_DIR=$scratch/target timeout "$recheck_timeout" cargo nextest run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1); then
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
    remember
    summary
    exit
fi

started=$SECONDS
# The unmutated tree must pass the tier first. cargo-mutants' own baseline would run only the
# mutated package's tests (27.1 ignores --test-package there), so the baseline is run here and
# cargo-mutants is told to skip its own, with fixed timeouts (the core's whole tier takes about 30 s
# in a debug build, a minute with the machine busy; a mutant that makes it run past $timeout s, 180
# there and 30 for the checker's 3 s, is cut off and counted as caught).
echo "baseline: cargo nextest run ${packages[*]} ${tier[*]}" >&2
cargo nextest run "${packages[@]}" "${tier[@]}" >/dev/null 2>&1 || {
    echo "the unmutated tree fails the tier: cargo nextest run ${packages[*]} ${tier[*]}" >&2
    exit 1
}
# What the last run and its recheck found goes into the record before cargo-mutants replaces the
# folder; the recheck belonged to that run.
remember
rm -f "$out/recheck.txt"
# Exit 2 means some mutants were missed: the table below says which; anything else is an error.
set +e
cargo mutants --package "$package" --test-package "$test_packages" --test-tool nextest --baseline skip \
    --gitignore true --timeout "$timeout" --build-timeout 900 --output "$out" "${scope[@]}" "$@" -- "${tier[@]}"
status=$?
set -e
if [ "$status" != 0 ] && [ "$status" != 2 ] && [ "$status" != 3 ]; then
    echo "cargo mutants failed (exit $status)" >&2
    exit "$status"
fi

echo "$((SECONDS - started)) s"
remember
summary
