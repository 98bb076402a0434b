#!/usr/bin/env bash
# Several Paxos groups per node, side by side in one run: three-node clusters of this store with
# G = 1, 2 and 4 groups (`paxos init --groups G`), and etcd 3.4 (Debian's etcd-server), fsync on
# for all, 100-byte writes from closed-loop clients. The clusters run one at a time, in rounds
# that alternate them (this machine's speed drifts from one minute to the next: compare within a
# round, quote medians of the rounds).
#
# Our clients are spread over the three nodes (client i on node i mod 3), as clients of a
# multi-group cluster are: every node takes every request and hands it to its key's group's
# leader. `G=1 leader` is the one-group cluster with every client on its leader (no forwarding:
# its best case). etcd's clients go to its leader.
#
# Per point: writes/s, p50 and p99, and where the work went: fsyncs of the logs per 1,000 writes
# (summed over the three nodes, from INFO's wal_syncs) and the CPU seconds of the busiest node's
# process over all three (1/3 is even; a lone leader shows near 1/2 or more).
#
# And the slots: writes per committed slot (summed over the groups), from which a fit over the
# three clusters of ours splits the CPU per write into a cost per slot and a cost per write.
#
#   bash scripts/bench-groups.sh                       # 3 rounds, 5 s per point, 64 and 256 clients
#   ROUNDS=5 DURATION=10s CLIENTS=64,256 bash scripts/bench-groups.sh
#   DATA_DIR=/dev/shm bash scripts/bench-groups.sh     # logs in memory: fsync costs nothing
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-64,256}
DATA_DIR=${DATA_DIR:-$PWD/target}

source scripts/etcd-cluster.sh
ensure_etcd
if ! command -v redis-cli >/dev/null 2>&1; then
    echo "installing redis-tools (Debian)" >&2
    sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -q redis-tools >/dev/null
fi
cargo build --release -q -p paxos
paxos=target/release/paxos
[ -d "$DATA_DIR" ] || { echo "DATA_DIR=$DATA_DIR: expected a directory" >&2; exit 2; }
work=$(mktemp -d -p "$DATA_DIR" bench-groups.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# G=1, 2, 4 on ports 17379.., 17479.., 17579..; each waits until every group has a leader.
start_paxos() { # groups port
    "$paxos" cluster --nodes 3 --groups "$1" --data-dir "$work/g$1" --port "$2" --metrics-port 0 \
        >"$work/g$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do
        led=$(redis-cli -p "$2" INFO 2>/dev/null | grep -c '^group[0-9]*:.*leader=n' || true)
        [ "$led" = "$1" ] && return 0
        sleep 0.1
    done
    echo "the cluster of $1 groups has no leader in every group" >&2
    exit 1
}
start_paxos 1 17379
start_paxos 2 17479
start_paxos 4 17579
sleep 3 # the balancer spreads the leaders (one check a second)

start_etcd "$work" 24790 24800
echo "etcd leader: $etcd_leader; $(etcd --version | head -1); $(nproc) cores" >&2
echo "leaders of the 4 groups: $(redis-cli -p 17579 INFO | tr -d '\r' | sed -n 's/^\(group[0-9]*\):.*leader=\(n[0-9]*\).*/\1=\2/p' | tr '\n' ' ')" >&2

# The CPU seconds (user + system) of each `paxos node` process of the cluster of G groups.
cpu() { # groups
    local pid
    for node in 1 2 3; do
        pid=$(pgrep -f "node --data-dir $work/g$1/node-$node" | head -1)
        awk -v ticks="$(getconf CLK_TCK)" '{ printf "%.3f ", ($14 + $15) / ticks }' "/proc/$pid/stat"
    done
}
syncs() { # port
    local total=0
    for node in 0 1 2; do
        total=$((total + $(redis-cli -p $(($1 + node)) INFO | tr -d '\r' | sed -n 's/^wal_syncs://p')))
    done
    echo "$total"
}
# The slots committed so far, summed over the groups (as node 1 knows them).
slots() { # port
    redis-cli -p "$1" INFO | tr -d '\r' | awk -F'committed_slot[:=]' '
        /^group[0-9]+:/ { split($2, v, ","); groups += v[1]; seen = 1 }
        /^committed_slot:/ { top = $2 }
        END { print (seen ? groups : top) + 0 }'
}
point() { # name groups port [bench flags...]
    local name=$1 groups=$2 port=$3
    shift 3
    local before_cpu before_syncs before_slots
    before_cpu=$(cpu "$groups"); before_syncs=$(syncs "$port"); before_slots=$(slots "$port")
    "$paxos" bench --duration "$DURATION" --clients "$CLIENTS" --json "$work/point.json" "$@" >/dev/null
    echo "$name|$before_cpu|$(cpu "$groups")|$before_syncs|$(syncs "$port")|$before_slots|$(slots "$port")|$(tr -d '\n' <"$work/point.json")" >>"$work/points"
}
for round in $(seq "$ROUNDS"); do
    echo "round $round of $ROUNDS" >&2
    point "G=1 leader" 1 17379 --addr 127.0.0.1:17379,127.0.0.1:17380,127.0.0.1:17381 --leader
    point "G=1" 1 17379 --addr 127.0.0.1:17379,127.0.0.1:17380,127.0.0.1:17381
    point "G=2" 2 17479 --addr 127.0.0.1:17479,127.0.0.1:17480,127.0.0.1:17481
    point "G=4" 4 17579 --addr 127.0.0.1:17579,127.0.0.1:17580,127.0.0.1:17581
    "$paxos" bench --target etcd --addr "$etcd_leader" --duration "$DURATION" --clients "$CLIENTS" \
        --json "$work/point.json" >/dev/null
    echo "etcd|||||||$(tr -d '\n' <"$work/point.json")" >>"$work/points"
done

python3 - "$work/points" <<'PY'
import json, statistics, sys
points = {}
for line in open(sys.argv[1]):
    name, cpu0, cpu1, syncs0, syncs1, slots0, slots1, report = line.rstrip("\n").split("|", 7)
    rows = json.loads(report)["rows"]
    for row in rows:
        entry = {"ops": row["ops_per_sec"], "p50": row["p50_us"], "p99": row["p99_us"]}
        points.setdefault((name, row["clients"]), []).append(entry)
    if cpu0:
        used = [b - a for a, b in zip(map(float, cpu0.split()), map(float, cpu1.split()))]
        share = max(used) / sum(used) if sum(used) else 0
        fsyncs = int(syncs1) - int(syncs0)
        count = sum(row["ops"] for row in rows)
        slots = int(slots1) - int(slots0)
        points.setdefault((name, "work"), []).append(
            {"share": share, "cpu": sum(used), "fsyncs": fsyncs, "writes": count, "slots": slots})
names = ["G=1 leader", "G=1", "G=2", "G=4", "etcd"]
clients = sorted({c for (_, c) in points if c != "work"})
print("| cluster | clients | writes/s (median) | p50 ms | p99 ms | × G=1 (same round, median) |")
print("|---|---|---|---|---|---|")
for c in clients:
    base = [p["ops"] for p in points[("G=1", c)]]
    for name in names:
        runs = points.get((name, c), [])
        if not runs:
            continue
        ratio = statistics.median(r["ops"] / b for r, b in zip(runs, base))
        print(f"| {name} | {c} | {statistics.median(r['ops'] for r in runs):,.0f} | "
              f"{statistics.median(r['p50'] for r in runs) / 1000:.2f} | {statistics.median(r['p99'] for r in runs) / 1000:.2f} | {ratio:.2f}× |")
print()
print("| cluster | busiest node's share of the CPU | CPU s per 1,000 writes | fsyncs per 1,000 writes | writes per slot |")
print("|---|---|---|---|---|")
fit = []
for name in names[:-1]:
    work = points.get((name, "work"), [])
    per = [w for w in work if w["writes"] > 0 and w["slots"] > 0]
    if not per:
        continue
    share = statistics.median(w["share"] for w in work)
    cpu = statistics.median(1000 * w["cpu"] / w["writes"] for w in per)
    fs = statistics.median(1000 * w["fsyncs"] / w["writes"] for w in per)
    batch = statistics.median(w["writes"] / w["slots"] for w in per)
    print(f"| {name} | {share:.2f} | {cpu:.3f} | {fs:.0f} | {batch:.1f} |")
    if name != "G=1 leader":
        fit += [(w["slots"] / w["writes"], w["cpu"] / w["writes"]) for w in per]
# CPU per write = per_slot * slots per write + per_write, least squares over every point of
# G = 1, 2 and 4 (the same clients and keys; what differs is how many writes share a slot).
if len({round(x, 6) for x, _ in fit}) > 1:
    n = len(fit)
    mx, my = sum(x for x, _ in fit) / n, sum(y for _, y in fit) / n
    per_slot = sum((x - mx) * (y - my) for x, y in fit) / sum((x - mx) ** 2 for x, _ in fit)
    per_write = my - per_slot * mx
    print()
    print(f"fit over G=1, 2, 4 ({n} points): {per_slot * 1e6:.0f} µs of CPU per slot and "
          f"{per_write * 1e6:.1f} µs per write, summed over the three nodes")
PY
