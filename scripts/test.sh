#!/usr/bin/env bash
# The tests, from a clean clone: installs the system packages the tests use, then runs every test of
# the workspace. redis-cli (Debian's redis-tools) checks client compatibility; chromium renders the
# HTML reports in a real headless browser; prometheus (with promtool) lints and scrapes the nodes'
# metrics; etcd-server, redis-server and redis-sentinel are the foreign systems chaos starts, breaks
# and is pointed at.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/system-packages.sh
need_commands redis-cli:redis-tools chromium:chromium promtool:prometheus etcd:etcd-server \
    redis-server:redis-server redis-sentinel:redis-sentinel

cargo test --workspace "$@"
