#!/usr/bin/env bash
# Sourced by the scripts that run tests (test.sh, mutants.sh): installs, with Debian's apt-get, the
# commands the tests need that this machine lacks, so that they run from a fresh clone with nothing
# installed by hand.
#
# Usage: need_commands COMMAND:PACKAGE ...    e.g. need_commands chromium:chromium promtool:prometheus

need_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    echo "installing ${missing[*]} for the tests" >&2
    local sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        $sudo_cmd apt-get update -q >/dev/null 2>&1
        $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    }
}
