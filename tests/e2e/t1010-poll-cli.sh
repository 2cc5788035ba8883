#!/usr/bin/env bash
# cifeed poll on the command line: --help, exit statuses (2 unknown source,
# 4 configuration errors named by file/section/key, 5 a failed source),
# --status before and after polling, --json reports, disabled sources.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
cf poll --help | grep -q -- '--once' || fail "--help"
cf init >/dev/null || fail init
out=$(cf poll --once) || fail "no sources is fine"
[ -z "$out" ] || fail "no sources, yet: $out"
replay_start
source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:30:00
source_conf off gitlab "$RURL" project=1 enabled=false
expect_rc 2 cf poll --once nosuch 2>"$T/e"
grep -q "no source named 'nosuch'" "$T/e" || fail "unknown source message: $(cat "$T/e")"
cf poll --status >"$T/st0" || fail "status"
grep -q 'cursor:     (none: not polled yet)' "$T/st0" || fail "status before polling: $(cat "$T/st0")"
cf poll --once --json >"$T/j" || fail "poll --json"
[ "$(jq -s 'length' "$T/j")" = 1 ] || fail "a disabled source was polled: $(cat "$T/j")"
jq -e '.source == "pw" and .ok and .units > 0 and .new > 0' "$T/j" >/dev/null || fail "json: $(cat "$T/j")"
cf poll --once off >"$T/o" || fail "naming a disabled source polls it: $(cat "$T/o")"
grep -q '^off: ok' "$T/o" || fail "off: $(cat "$T/o")"
cf poll --status --json pw | jq -e '.cursor.since == "2026-11-22T09:32:30.805249" and .failures == 0' >/dev/null ||
	fail "status json"

# configuration errors: exit 4, naming what and where
cp "$T/data/cifeed.conf" "$T/good.conf"
bad() { # LINES... appended to a fresh copy; expect exit 4 and a message matching $PAT
	cp "$T/good.conf" "$T/data/cifeed.conf"
	printf '%b' "$1" >>"$T/data/cifeed.conf"
	expect_rc 4 cf poll --once 2>"$T/e"
	grep -Eq "$2" "$T/e" || fail "config error message for '$1': $(cat "$T/e")"
}
bad '[source "g"]\n\ttype = gitlab\n\turl = http://x\n' 'source "g".*project: missing'
bad '[source "g"]\n\ttype = gitlab\n\turl = ftp://x\n\tproject = 1\n' "url.*not an http"
bad '[source "g"]\n\ttype = gitlab\n\turl = http://x\n\tproject = 1\n\ttoken-env = CIFEED_NO_SUCH_VAR\n' 'CIFEED_NO_SUCH_VAR is not set'
bad '[source "g"]\n\ttype = gitlab\n\turl = http://x\n\tproject = 1\n\ttoken-file = /nonexistent/t\n' 'token-file /nonexistent/t'
bad '[source "g"]\n\ttype = gerrit\n\turl = http://x\n\tper-page = 9999\n' 'per-page: 9999'
bad '[source "g"]\n\ttype = kernelci\n\turl = http://x\n\tmode = stream\n' "mode: 'stream'"
bad '[source "g"]\n\ttype = patchwork\n\turl = http://x\n\tsince = yesterday\n' "since: 'yesterday'"
bad '[source "g"]\n\ttype = gitlab\n\turl = http://x\n\tproject = 1\n\ttimeout = soon\n' 'timeout.*duration'
bad '[source "g"]\n\ttype = nosuchtype\n\turl = http://x\n' "unknown source type 'nosuchtype'"

# a failing source: exit 5, the others still polled
cp "$T/good.conf" "$T/data/cifeed.conf"
source_conf dead gitlab "http://127.0.0.1:$(free_port)" project=1 connect-timeout=2
expect_rc 5 cf poll --once >"$T/o" 2>"$T/e"
grep -q '^dead: FAILED after 0 committed units: cannot connect' "$T/o" || fail "dead: $(cat "$T/o")"
grep -q '^pw: ok' "$T/o" || fail "pw not polled beside a failing source"
pass
