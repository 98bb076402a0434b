#!/usr/bin/env bash
# The tests, from a clean clone: installs the system packages the tests use, then runs every test of
# the workspace. redis-cli (Debian's redis-tools) checks client compatibility; chromium renders the
# HTML reports in a real headless browser; prometheus (with promtool) lints and scrapes the nodes'
# metrics; etcd-server, redis-server and redis-sentinel are the foreign systems chaos starts, breaks
# and is pointed at.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} for the tests" >&2
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        $sudo_cmd apt-get update -q >/dev/null 2>&1
        $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    }
fi

cargo test --workspace "$@"
