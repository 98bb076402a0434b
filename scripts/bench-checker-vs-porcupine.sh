#!/usr/bin/env bash
# The checker beside Porcupine, in one run. Builds porcupine-driver (checker/benches/porcupine/,
# this project's own code calling Porcupine's public API) against the Porcupine source given by
# path, with Debian's golang-go (installed if missing), then runs the corpus benchmark (the 102
# Jepsen etcd histories, Porcupine in one process) and the scale benchmark (50 clients x 10 keys x
# 2,000 operations; Porcupine in a process per history, 60 s each) with it. Each prints both
# checkers' verdicts, times and peak memory, and fails on any verdict that differs.
#
#   bash scripts/bench-checker-vs-porcupine.sh PORCUPINE [--seeds N]
#
# PORCUPINE is a checkout of github.com/anishathalye/porcupine (a folder with porcupine.go) or a
# bare git folder of it (its HEAD is exported). Nothing of Porcupine is kept in this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    echo "usage: bash scripts/bench-checker-vs-porcupine.sh PORCUPINE [--seeds N]" >&2
    exit 2
fi
source_dir=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$source_dir/porcupine.go" ]; then
    porcupine=$(cd "$source_dir" && pwd)
elif git --git-dir="$source_dir" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    porcupine="$work/porcupine"
    mkdir -p "$porcupine"
    git --git-dir="$source_dir" archive HEAD | tar -x -C "$porcupine"
    echo "Porcupine $(git --git-dir="$source_dir" log -1 --format='%h (%cs)' HEAD)"
else
    echo "$source_dir: expected a Porcupine checkout (with porcupine.go) or its bare git folder" >&2
    exit 2
fi

if ! command -v go >/dev/null 2>&1; then
    echo "installing golang-go for the Porcupine driver" >&2
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -q --no-install-recommends golang-go >/dev/null 2>&1 || {
        $sudo_cmd apt-get update -q >/dev/null 2>&1
        $sudo_cmd apt-get install -y -q --no-install-recommends golang-go >/dev/null
    }
fi

target=${CARGO_TARGET_DIR:-$(pwd)/target}
mkdir -p "$target/porcupine-driver" "$work/driver"
cp checker/benches/porcupine/main.go "$work/driver/"
cat > "$work/driver/go.mod" <<MOD
module porcupine-driver

go 1.16

require github.com/anishathalye/porcupine v0.0.0

replace github.com/anishathalye/porcupine => $porcupine
MOD
(cd "$work/driver" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$work/cache" go build -o "$target/porcupine-driver/driver" .)
driver="$target/porcupine-driver/driver"
echo "built $driver with $(go version)"

echo "## the Jepsen etcd corpus"
cargo bench -q -p checker --bench corpus -- --porcupine "$driver"
echo
echo "## scale: 50 clients x 10 keys x 2,000 operations"
cargo bench -q -p checker --bench scale -- --porcupine "$driver" "$@"
