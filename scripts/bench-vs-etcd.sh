#!/usr/bin/env bash
# Side by side in one run: this store and etcd 3.4 (Debian's etcd-server), three members each on
# loopback, fsync on for both, 100-byte values, closed-loop clients sending to the leader.
#   bash scripts/bench-vs-etcd.sh                 # 10 s per point
#   DURATION=3s CLIENTS=1,64 bash scripts/bench-vs-etcd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-1,16,64,256}
READ_CLIENTS=${READ_CLIENTS:-1,64}

source scripts/etcd-cluster.sh
ensure_etcd
cargo build --release -q -p paxos
paxos=target/release/paxos
work=$(mktemp -d -p "$PWD/target" bench-vs-etcd.XXXXXX)
pids=()
cleanup() {
    status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$status" != 0 ]; then echo "--- paxos cluster log:" >&2; tail -20 "$work/paxos.log" >&2; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$paxos" cluster --nodes 3 --data-dir "$work/paxos" --port 16379 >"$work/paxos.log" 2>&1 &
pids+=($!)
start_etcd "$work" 23790 23800
ours=127.0.0.1:16379,127.0.0.1:16380,127.0.0.1:16381
echo "etcd leader: $etcd_leader; $(etcd --version | head -1)" >&2

run() { "$paxos" bench --duration "$DURATION" "$@"; }
echo "## writes, etcd"; run --target etcd --addr "$etcd_leader" --clients "$CLIENTS" --json "$work/etcd-write.json"
echo "## writes, paxos"; run --addr "$ours" --leader --clients "$CLIENTS" --floor target --json "$work/paxos-write.json"
echo "## linearizable reads, etcd"; run --target etcd --addr "$etcd_leader" --workload read --clients "$READ_CLIENTS" --json "$work/etcd-read.json"
echo "## linearizable reads, paxos"; run --addr "$ours" --leader --workload read --clients "$READ_CLIENTS" --json "$work/paxos-read.json"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
load = lambda name: json.load(open(f"{work}/{name}.json"))
print("## ratios (paxos / etcd, same run)")
for kind in ("write", "read"):
    ours, theirs = load(f"paxos-{kind}"), load(f"etcd-{kind}")
    for a, b in zip(ours["rows"], theirs["rows"]):
        print(f"{kind:5} {a['clients']:>4} clients: {a['ops_per_sec']:>9.0f} vs {b['ops_per_sec']:>8.0f} ops/s = {a['ops_per_sec'] / max(b['ops_per_sec'], 1e-9):5.2f}x")
floor = load("paxos-write")["floor"]
single = next(r for r in load("paxos-write")["rows"] if r["clients"] == 1) if any(r["clients"] == 1 for r in load("paxos-write")["rows"]) else None
if floor and single:
    f = 2 * floor["rtt_us"] + floor["fdatasync_us"]
    print(f"single-client write p50 {single['p50_us']} us vs floor {f} us = {single['p50_us'] / f:.2f}x (target <= 1.5x)")
    print(f"  floor: 2 x {floor['rtt_us']} us round trip between processes on one core + {floor['fdatasync_us']} us fdatasync")
    if floor.get("rtt_across_cores_us"):
        g = 2 * floor["rtt_across_cores_us"] + floor["fdatasync_us"]
        print(f"  with the round trips across cores (2 x {floor['rtt_across_cores_us']} us): {g} us ({single['p50_us'] / g:.2f}x)")
PY
