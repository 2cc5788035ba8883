#!/usr/bin/env bash
# install-deps.sh LIST... - install the Debian packages named in the given
# package lists (one per line, '#' comments) that are not installed yet.
# Used by deploy/demo.sh and tests/run.sh; needs root or sudo for apt-get.
set -euo pipefail
want=()
for list in "$@"; do
	while read -r pkg _; do
		case "$pkg" in ''|'#'*) continue ;; esac
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
