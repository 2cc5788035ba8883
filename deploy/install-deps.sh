#!/usr/bin/env bash
# install-deps.sh LIST... - install the Debian packages named in the given
# package lists that are not installed yet.  List lines: "PACKAGE [COMMAND]"
# ('#' comments); with a COMMAND, the package counts as present when that
# command is on PATH (e.g. Node.js and npm from another source).
# Used by deploy/demo.sh and tests/run.sh; needs root or sudo for apt-get.
set -euo pipefail
want=()
for list in "$@"; do
	while read -r pkg cmd _; do
		case "$pkg" in ''|'#'*) continue ;; esac
		case "$cmd" in '#'*) cmd="" ;; esac
		[ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1 && continue
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
			want+=("$pkg")
	done <"$list"
done
[ ${#want[@]} -eq 0 ] && exit 0
echo "installing: ${want[*]}" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# daemons some tests use (nginx, MTAs) must not start at install time
if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}"
