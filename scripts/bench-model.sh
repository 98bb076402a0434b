#!/usr/bin/env bash
# The model checker's speed beside its anchor in one run: stateright's own Paxos example (built
# from the stateright crate this workspace depends on, `check-dfs 4`: 4 clients, unordered
# network), then our model at two small bounds, alternately, each on one core.
#   bash scripts/bench-model.sh            # 3 rounds
#   RUNS=5 bash scripts/bench-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}

cargo build --release -q -p model
model=target/release/model

# The anchor: the example shipped in the stateright package (its dev-dependencies come from
# crates.io), built in its own target directory.
manifest=$(cargo metadata --format-version 1 \
    | grep -o '"manifest_path":"[^"]*/stateright-0\.31\.0/Cargo\.toml"' | head -1 | cut -d'"' -f4)
if [ -z "$manifest" ]; then
    echo "error: stateright 0.31.0 is not in this workspace's dependencies" >&2
    exit 2
fi
anchor_dir=target/stateright-example
rm -rf "$anchor_dir/src"
mkdir -p "$anchor_dir"
cp -r "$(dirname "$manifest")" "$anchor_dir/src"
# A package of its own, not a member of this workspace (it sits inside it).
printf '\n[workspace]\n' >>"$anchor_dir/src/Cargo.toml"
CARGO_TARGET_DIR="$PWD/$anchor_dir/target" cargo build --release -q --example paxos \
    --manifest-path "$anchor_dir/src/Cargo.toml"
anchor=$anchor_dir/target/release/examples/paxos

# Both are timed by the CPU time of their process (user and system, one core): the anchor prints
# whole seconds only, and its reporter wakes once a second, so its wall time rounds up.
cpu_seconds() {
    local TIMEFORMAT='%U %S'
    if ! { time "$@" >"$anchor_dir/out" 2>&1; } 2>"$anchor_dir/time"; then
        echo "error: $* failed; its last lines:" >&2
        tail -5 "$anchor_dir/out" >&2
        exit 1
    fi
    awk '{ print $1 + $2 }' "$anchor_dir/time"
}
# The anchor prints "Done. states=N, unique=U, depth=D, sec=S".
run_anchor() {
    local seconds unique
    seconds=$(cpu_seconds taskset -c 0 "$anchor" check-dfs 4)
    unique=$(grep '^Done' "$anchor_dir/out" | sed 's/.*unique=\([0-9]*\),.*/\1/')
    echo "$unique $seconds"
}
# Ours prints "U unique states, N total, max depth D, S s, R unique states/s".
run_model() {
    local seconds unique
    seconds=$(cpu_seconds taskset -c 0 "$model" check --threads 1 "$@")
    unique=$(grep 'unique states,' "$anchor_dir/out" | cut -d' ' -f1)
    echo "$unique $seconds"
}

declare -a anchor_rates fifo_rates wipe_rates
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
printf '%-5s %-44s %12s %12s %14s\n' run case "unique" "CPU seconds" "unique/CPU-s"
for run in $(seq "$RUNS"); do
    read -r unique seconds < <(run_anchor)
    anchor_rates+=("$(rate "$unique" "$seconds")")
    printf '%-5s %-44s %12s %12.2f %14s\n' "$run" "stateright examples/paxos check-dfs 4" "$unique" "$seconds" "${anchor_rates[-1]}"
    read -r unique seconds < <(run_model --network ordered --crashes 1)
    fifo_rates+=("$(rate "$unique" "$seconds")")
    printf '%-5s %-44s %12s %12.2f %14s\n' "$run" "model check --network ordered --crashes 1" "$unique" "$seconds" "${fifo_rates[-1]}"
    read -r unique seconds < <(run_model --network ordered --crashes 1 --wipes 1)
    wipe_rates+=("$(rate "$unique" "$seconds")")
    printf '%-5s %-44s %12s %12.2f %14s\n' "$run" "model check ... --crashes 1 --wipes 1" "$unique" "$seconds" "${wipe_rates[-1]}"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
anchor_median=$(median "${anchor_rates[@]}")
echo
echo "medians of $RUNS runs, unique states per CPU-second (one core each):"
for pair in "ordered, 1 crash:fifo_rates" "ordered, 1 crash, 1 wipe:wipe_rates"; do
    name=${pair%%:*}
    declare -n rates=${pair##*:}
    ours=$(median "${rates[@]}")
    printf '  model (%s): %s, %.2fx the anchor (%s)\n' "$name" "$ours" "$(awk -v a="$ours" -v b="$anchor_median" 'BEGIN { print a / b }')" "$anchor_median"
done
