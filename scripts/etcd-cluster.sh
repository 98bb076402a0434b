# Sourced by the bench scripts that run etcd beside this store: `ensure_etcd` installs it, and
# `start_etcd WORK CLIENT PEER` starts a three-member etcd cluster (e1..e3, data in
# WORK/etcd1..3, client URLs http://127.0.0.1:CLIENT+i, peer URLs http://127.0.0.1:PEER+i),
# appends the processes to the caller's `pids`, waits until the cluster is healthy and sets
# `etcd_leader` to the leader's client address (host:port).
# Installs Debian's etcd-server (etcd) and etcd-client (etcdctl, for start_etcd's health and
# leader checks) where either is missing: the test command installs the server only.
ensure_etcd() {
    local missing=() sudo_cmd=""
    command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
    command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} (Debian)" >&2
        [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get install -y -q "${missing[@]}" >/dev/null
    fi
}

start_etcd() {
    local work=$1 client=$2 peer=$3 cluster="" endpoints="" i
    for i in 1 2 3; do
        cluster+="${cluster:+,}e$i=http://127.0.0.1:$((peer + i))"
        endpoints+="${endpoints:+,}http://127.0.0.1:$((client + i))"
    done
    for i in 1 2 3; do
        etcd --name "e$i" --data-dir "$work/etcd$i" \
            --listen-client-urls "http://127.0.0.1:$((client + i))" --advertise-client-urls "http://127.0.0.1:$((client + i))" \
            --listen-peer-urls "http://127.0.0.1:$((peer + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((peer + i))" \
            --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token bench \
            --log-level error >"$work/etcd$i.log" 2>&1 &
        pids+=($!)
    done
    for _ in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints="$endpoints" endpoint health >/dev/null 2>&1 && break
        sleep 0.2
    done
    etcd_leader=$(ETCDCTL_API=3 etcdctl --endpoints="$endpoints" endpoint status -w json | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["Status"]["header"]["member_id"] == e["Status"]["leader"]:
        print(e["Endpoint"].replace("http://", ""))')
}
