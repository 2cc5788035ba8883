#!/usr/bin/env bash
# Known tokens (token-file and token-env, for all four source types and
# their four ways of sending credentials) at the most verbose log level,
# through successes and failures - including an upstream that echoes the
# request's credentials back in an error body - appear in no output, no
# log, no error, no status and nowhere in the database.  The replay server
# checks that they were actually sent.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
GL=glpat-SECRETgitlab7f3a9c1e
GE=gerritHTTPpw-SECRET-51c0ffee
KC=eyJhbGciOiJIUzI1NiJ9.SECRETmaestro.x9
PW=0123456789abcdefSECRETpatchwork42
replay_start --gitlab-token "$GL" --gerrit-auth "ci-bot:$GE"
cf init >/dev/null || fail init
printf '%s\n' "$GL" >"$T/gitlab.token"
printf '%s' "$PW" >"$T/pw.token"
chmod 600 "$T/gitlab.token" "$T/pw.token"
export GERRIT_TOKEN="$GE" MAESTRO_TOKEN="$KC"
source_conf lab gitlab "$RURL" project=1 project=21 since=2016-01-01T00:00:00Z per-page=1 \
	test-report=all "token-file=$T/gitlab.token" interval=1 backoff-max=1
source_conf review gerrit "$RURL" since=2012-01-01T00:00:00Z per-page=3 username=ci-bot \
	token-env=GERRIT_TOKEN interval=1 backoff-max=1
source_conf kci kernelci "$RURL/latest" since=2023-01-01T00:00:00 token-env=MAESTRO_TOKEN \
	interval=1 backoff-max=1
source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:00:00 \
	"token-file=$T/pw.token" interval=1 backoff-max=1
B64=$(printf 'ci-bot:%s' "$GE" | base64 -w0)

# a hostile upstream echoes the credentials back, on every source
replay_fault echo /api/v4/ 1
replay_fault echo /a/changes/ 1
replay_fault echo /latest/ 1
replay_fault echo /api/1.3/ 1
cf -vv poll --once >"$T/once1.out" 2>"$T/once1.err" && fail "the echo faults did not fail the poll"
cf -vv poll --once >"$T/once2.out" 2>"$T/once2.err" || fail "poll: $(grep -v level=trace "$T/once2.err" | tail -5)"
grep -q 'level=trace' "$T/once2.err" || fail "not at the most verbose level"
grep -q 'event=http.request' "$T/once2.err" || fail "no request traces"
grep -q '\[REDACTED\]' "$T/once1.err" || fail "the echoed credentials were not redacted (or not echoed)"
cf_bg -vv serve 2>"$T/serve.err" >"$T/serve.out"
sleep 3
kill -TERM "$CF_PID"; wait "$CF_PID"
cf poll --status >"$T/status.out" 2>&1
cf poll --status --json >"$T/status.json" 2>&1
cf export -o "$T/export.json"
sqlite3 "$T/data/cifeed.db" .dump >"$T/db.dump"

# the tokens were used...
replay_log >"$T/rlog.json"
jq -e --arg t "$GL" 'any(.[]; .private_token == $t)' "$T/rlog.json" >/dev/null || fail "GitLab token not sent"
jq -e --arg t "Basic $B64" 'any(.[]; .authorization == $t)' "$T/rlog.json" >/dev/null || fail "Gerrit basic auth not sent"
jq -e --arg t "Bearer $KC" 'any(.[]; .authorization == $t)' "$T/rlog.json" >/dev/null || fail "Maestro bearer not sent"
jq -e --arg t "Token $PW" 'any(.[]; .authorization == $t)' "$T/rlog.json" >/dev/null || fail "Patchwork token not sent"
jq -e 'all(.[] | select(.path | startswith("/a/changes/") | not) | select(.path | startswith("/changes/")); false)' \
	"$T/rlog.json" >/dev/null || fail "authenticated Gerrit requests must use /a/"
# ...and are nowhere
for f in "$T"/once1.out "$T"/once1.err "$T"/once2.out "$T"/once2.err "$T"/serve.err "$T"/serve.out \
	"$T"/status.out "$T"/status.json "$T"/export.json "$T"/db.dump "$T"/data/cifeed.db*; do
	for s in "$GL" "$GE" "$KC" "$PW" "$B64"; do
		grep -aqF -- "$s" "$f" && fail "a token is in $f"
	done
done
note "$(grep -c REDACTED "$T/once1.err") redacted spots in the failing run"
pass
