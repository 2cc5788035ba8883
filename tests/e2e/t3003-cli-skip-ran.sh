#!/usr/bin/env bash
# t3003: the CLI twins of the API: `cifeed skip` and `cifeed query ran`
# (--msgid, --patch-id) give the same answers as the server, with the
# documented exit statuses and usage errors.
source "$(dirname "$0")/lib.sh"

A=1f0c9d2e3b4a5968778695a4b3c2d1e0f9a8b7c6
P=9e8d7c6b5a49382716f5e4d3c2b1a0998877665544332211ffeeddccbbaa0011
PID_HASH=0123456789abcdef0123456789abcdef01234567
cf init >/dev/null 2>&1 || fail "init"
cf ingest "$SRCDIR/tests/e2e/data/http-revisions.json" 2>/dev/null || fail "ingest"
sqlite3 "$T/data/cifeed.db" "
INSERT INTO patches (msgid, subject, patch_id) VALUES ('patch1@example.org', '[PATCH] x', '$PID_HASH');
INSERT INTO checkout_patches (checkout_id, patch_rid, how) SELECT 'lab1:c2', rid, 'patch_id' FROM patches;
" || fail "patch rows"

printf '%s\n' "# plan for the nightly run" boot ltp.fs.read "ltp.fs.write   " "" kselftest.net \
	perf.bench skipme pending new.test boot >"$T/plan.txt"
cf skip --commit "$A" <"$T/plan.txt" >"$T/run.txt" 2>"$T/err" || fail "skip rc $?"
printf 'ltp.fs.write\nskipme\npending\nnew.test\n' | diff - "$T/run.txt" || fail "cifeed skip output"
grep -q '4 already ran (skip), 4 to run' "$T/err" || fail "summary: $(cat "$T/err")"
cf skip --commit "$A" --arch arm64 <"$T/plan.txt" >"$T/run-arm.txt" 2>/dev/null || fail "skip --arch"
[ "$(paste -sd, "$T/run-arm.txt")" = "ltp.fs.write,kselftest.net,perf.bench,skipme,pending,new.test" ] ||
	fail "skip --arch: $(paste -sd, "$T/run-arm.txt")"
cf skip --commit "$A" --statuses "ERROR SKIP" <"$T/plan.txt" >"$T/run-st.txt" 2>/dev/null || fail "skip --statuses"
[ "$(paste -sd, "$T/run-st.txt")" = "boot,ltp.fs.read,kselftest.net,perf.bench,pending,new.test" ] ||
	fail "skip --statuses: $(paste -sd, "$T/run-st.txt")"
git config -f "$T/data/cifeed.conf" serve.ran-statuses "DONE"
cf skip --commit "$A" <"$T/plan.txt" >"$T/run-done.txt" 2>/dev/null || fail "skip with ran-statuses"
grep -qx perf.bench "$T/run-done.txt" && fail "configured ran-statuses ignored"
git config -f "$T/data/cifeed.conf" --unset serve.ran-statuses
cf skip --msgid '<patch1@example.org>' <"$T/plan.txt" 2>/dev/null >"$T/run-m.txt" || fail "skip --msgid"
[ "$(paste -sd, "$T/run-m.txt")" = "ltp.fs.write,kselftest.net,perf.bench,skipme,pending,new.test" ] ||
	fail "skip --msgid: $(paste -sd, "$T/run-m.txt")"
: | cf skip --commit "$A" >"$T/empty.txt" 2>/dev/null || fail "empty plan"
[ ! -s "$T/empty.txt" ] || fail "empty plan printed something"

# --json is the API's document; compare with the server's answer
cf skip --commit "$A" --json <"$T/plan.txt" >"$T/cli.json" 2>/dev/null || fail "skip --json"
ajv_api skip "$T/cli.json" >/dev/null || fail "skip --json schema"
cf query ran --msgid patch1@example.org --json >"$T/ranm.json" || fail "query ran --msgid"
ajv_api ran "$T/ranm.json" >/dev/null || fail "ran --json schema"
[ "$(jq -r '[.tests[].test_id]|join(",")' "$T/ranm.json")" = "lab1:t10,lab1:t11" ] || fail "ran --msgid"
cf query ran --patch-id "$PID_HASH" >"$T/ranp.txt" || fail "query ran --patch-id"
[ "$(grep -c lab1 "$T/ranp.txt")" = 2 ] || fail "ran --patch-id table: $(cat "$T/ranp.txt")"
cf query ran --commit "$A" --patchset "$P" --json | jq -e '.count == 2' >/dev/null || fail "ran --patchset"

"$CIFEED" -d "$T/data" serve 2>"$T/serve.log" &
bg_track $!
U="http://127.0.0.1:$(http_port)"
wait_for curl -sf "$U/healthz"
body=$(grep -v '^#' "$T/plan.txt" | sed 's/ *$//' | grep . | jq -R . | jq -sc --arg c "$A" '{commit: $c, tests: .}')
curl -s -H 'Content-Type: application/json' -d "$body" "$U/api/v1/skip" | jq -S . >"$T/api.json"
jq -S . "$T/cli.json" | diff - "$T/api.json" || fail "cifeed skip --json differs from POST /api/v1/skip"
curl -s "$U/api/v1/ran?msgid=patch1%40example.org" | jq -S . >"$T/api-ran.json"
jq -S . "$T/ranm.json" | diff - "$T/api-ran.json" || fail "query ran --json differs from GET /api/v1/ran"

# exit statuses and usage errors
expect_rc 1 cf query ran --commit 0000000000000000000000000000000000000000 2>/dev/null
expect_rc 2 cf query ran --commit xyz 2>/dev/null
expect_rc 2 cf query ran --patch-id 123 2>/dev/null
expect_rc 2 cf skip </dev/null 2>/dev/null
expect_rc 2 cf skip --commit xyz </dev/null 2>/dev/null
expect_rc 2 cf skip --commit "$A" extra </dev/null 2>/dev/null
expect_rc 2 cf skip --commit "$A" --statuses "PASS BOGUS" </dev/null 2>"$T/e"
grep -q "BOGUS" "$T/e" || fail "bad status not named"
printf 'ok\n\xff\xfe\n' | cf skip --commit "$A" >/dev/null 2>"$T/e"
[ $? = 3 ] || fail "invalid UTF-8 plan must be rejected (3)"
grep -q "line 2" "$T/e" || fail "bad plan line not named: $(cat "$T/e")"
cf skip --help >"$T/help.txt" || fail "skip --help"
grep -q 'plan' "$T/help.txt" || fail "skip --help text"
pass
