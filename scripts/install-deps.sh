#!/usr/bin/env bash
# Installs what ckeda's build and test suites need on a Debian machine, and nothing that is
# already there. Debian packages are listed one per line in scripts/deps/*.apt; Python packages
# in tests/**/requirements.txt. Package scripts must not start system services (the tests start
# their own servers on loopback), so a policy-rc.d forbids it for the duration of the install.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_wanted() {
    cat scripts/deps/*.apt | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u
}

apt_missing() {
    local pkg
    for pkg in $(apt_wanted); do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed' ||
            echo "$pkg"
    done
}

install_apt() {
    local missing policy=/usr/sbin/policy-rc.d had_policy=0
    missing=$(apt_missing)
    [ -n "$missing" ] || return 0
    echo "install-deps: apt-get install" $missing
    [ -e "$policy" ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        trap 'rm -f '"$policy" EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

install_pip() {
    local req
    for req in $(find tests bench -name requirements.txt 2>/dev/null | sort); do
        python3 -m pip install -q --disable-pip-version-check -r "$req"
    done
}

start=$(date +%s)
install_apt
install_pip
echo "install-deps: done in $(($(date +%s) - start)) s"
