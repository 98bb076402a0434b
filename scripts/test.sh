#!/usr/bin/env bash
# The tests, from a clean clone: installs the system packages the tests use (redis-cli, from
# Debian's redis-tools, for the client-compatibility test), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "installing redis-tools (redis-cli) for the client-compatibility test" >&2
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -q redis-tools >/dev/null 2>&1 || {
        $sudo_cmd apt-get update -q >/dev/null 2>&1
        $sudo_cmd apt-get install -y -q redis-tools >/dev/null
    }
fi

cargo test --workspace "$@"
