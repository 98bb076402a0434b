#!/usr/bin/env bash
# What the metrics cost: `paxos bench` writes against a local three-node cluster (release build,
# fsync on, 100-byte values, clients to the leader) without metrics and with them, the metrics
# scraped every second from every node as Prometheus would (one keep-alive-free GET per node per
# second from bash itself, no process forked per scrape); alternating, ROUNDS times each, so that
# the machine's drift falls on both. Prints each run, the medians, and the median of the rounds'
# own ratios (each round's two runs are minutes apart at most: the drift cancels).
#   bash scripts/bench-metrics.sh                  # 3 rounds, 64 clients, 10 s
#   ROUNDS=5 CLIENTS=256 DURATION=5s bash scripts/bench-metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-64}
DURATION=${DURATION:-10s}
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "error: ROUNDS $ROUNDS: expected a whole number from 1" >&2; exit 2 ;; esac

cargo build --release -q -p paxos
paxos=target/release/paxos
work=$(mktemp -d -p "$PWD/target" bench-metrics.XXXXXX)
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop; rm -rf "$work"' EXIT

port=17379
ours=127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))
declare -A results
for round in $(seq "$ROUNDS"); do
    for mode in off on; do
        rm -rf "$work/cluster"
        if [ "$mode" = on ]; then metrics_port=$((port + 2000)); else metrics_port=0; fi
        "$paxos" cluster --data-dir "$work/cluster" --port "$port" --metrics-port "$metrics_port" \
            >"$work/cluster.log" 2>&1 &
        pids+=($!)
        ready=no
        for _ in $(seq 200); do
            for i in 0 1 2; do
                if "$paxos" client --addr "127.0.0.1:$((port + i))" info 2>/dev/null | grep -q '^role:leader'; then
                    ready=yes
                fi
            done
            [ "$ready" = yes ] && break
            sleep 0.1
        done
        if [ "$ready" != yes ]; then
            echo "error: no leader within 20 s; the cluster's log:" >&2
            tail -20 "$work/cluster.log" >&2
            exit 1
        fi
        if [ "$mode" = on ]; then
            (
                scrape() {
                    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
                    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
                    while IFS= read -r -u 3 _; do :; done
                    exec 3<&-
                }
                while true; do
                    for i in 0 1 2; do scrape $((metrics_port + i)); done
                    sleep 1
                done
            ) &
            pids+=($!)
        fi
        line=$("$paxos" bench --addr "$ours" --leader --clients "$CLIENTS" --duration "$DURATION" 2>/dev/null | grep "^| $CLIENTS ")
        ops=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
        p99=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
        echo "round $round, metrics $mode: $ops writes/s, p99 $p99 ms"
        results[$mode]="${results[$mode]:-} $ops"
        if [ "$mode" = off ]; then last_off=$ops; else ratios="${ratios:-} $(awk -v on="$ops" -v off="$last_off" 'BEGIN {printf "%.4f", on / off}')"; fi
        stop
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
off=$(echo "${results[off]}" | median)
on=$(echo "${results[on]}" | median)
echo "medians over $ROUNDS rounds ($CLIENTS clients, $DURATION each): without metrics $off writes/s, with metrics scraped every second $on writes/s: $(awk -v on="$on" -v off="$off" 'BEGIN {printf "%.3f", on / off}')x"
echo "median of the rounds' ratios (with / without):$(echo "$ratios" | median)x (each:$ratios)"
