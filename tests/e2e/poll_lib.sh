# poll_lib.sh - helpers for the polling tests (t1000-t1999); source after lib.sh.
#
#   replay_start [ARGS...]      start tests/replay/replay.py; sets $RP (port), $RURL
#   replay_fault KIND PATH [COUNT] [EXTRA]   inject a fault (see replay.py)
#   replay_clear / replay_log / replay_reset_log / replay_delay MS
#   source_conf NAME TYPE URL KEY=VALUE...   append a [source] section to cifeed.conf
#   export_to FILE              cifeed export (objects only, stable order)
#   jget FILE EXPR              jq -r on a file, fails when jq fails
#   obj FILE TYPE ID            one object of an export as compact JSON ("" if absent)

: "${FIXTURES:?}"
REPLAY="$SRCDIR/tests/replay/replay.py"

replay_start() {
	rm -f "$T/replay.port"
	python3 "$REPLAY" --fixtures "$FIXTURES" --local "$SRCDIR/tests/fixtures" \
		--port-file "$T/replay.port" "$@" 2>>"$T/replay.log" &
	RPID=$!
	bg_track "$RPID"
	wait_for test -s "$T/replay.port"
	RP=$(cat "$T/replay.port")
	RURL="http://127.0.0.1:$RP"
}

_rctl() { curl -fsS "${RCTL_URL:-$RURL}/_control/$1" ${2:+-G} ${2:+--data-urlencode "$2"} "${@:3}"; }
replay_fault() { # KIND PATH [COUNT] [k=v ...]
	local kind=$1 path=$2 count=${3:-1}; shift 3 2>/dev/null || shift $#
	local args=(-G --data-urlencode "kind=$kind" --data-urlencode "path=$path" --data-urlencode "count=$count")
	local kv
	for kv in "$@"; do args+=(--data-urlencode "$kv"); done
	curl -fsS "${RCTL_URL:-$RURL}/_control/fault" "${args[@]}" >/dev/null || fail "replay_fault $kind"
}
replay_clear() { curl -fsS "${RCTL_URL:-$RURL}/_control/clear" >/dev/null || fail replay_clear; }
replay_log() { curl -fsS "${RCTL_URL:-$RURL}/_control/log"; }
replay_reset_log() { curl -fsS "${RCTL_URL:-$RURL}/_control/reset_log" >/dev/null; }
replay_delay() { curl -fsS "${RCTL_URL:-$RURL}/_control/config?delay_ms=$1" >/dev/null; }

source_conf() { # NAME TYPE URL key=value...
	local name=$1 type=$2 url=$3 kv; shift 3
	{
		printf '[source "%s"]\n\ttype = %s\n\turl = %s\n' "$name" "$type" "$url"
		for kv in "$@"; do printf '\t%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
	} >>"$T/data/cifeed.conf"
}

export_to() { cf export -o "$1" || fail "export to $1"; }
jget() { jq -r "$2" "$1" || fail "jq '$2' on $1"; }
obj() { jq -c --arg id "$3" ".$2[] | select(.id == \$id)" "$1"; }

# The four sources over the replay server, as the fixtures are laid out.
conf_all_sources() {
	source_conf lab gitlab "$RURL" project=1 project=21 since=2016-01-01T00:00:00Z \
		per-page=1 test-report=all "$@"
	source_conf review gerrit "$RURL" since=2012-01-01T00:00:00Z per-page=3 "$@"
	source_conf kci kernelci "$RURL/latest" since=2023-01-01T00:00:00 page-size=3 "$@"
	source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:00:00 per-page=10 "$@"
}
