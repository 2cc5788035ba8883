#!/usr/bin/env bash
# t3000: every endpoint of the query API with curl against `cifeed serve`:
# answers checked value by value and validated with ajv against schema/api,
# ETag / If-None-Match, HEAD, and the error codes 400 404 405 415.
source "$(dirname "$0")/lib.sh"

A=1f0c9d2e3b4a5968778695a4b3c2d1e0f9a8b7c6
P=9e8d7c6b5a49382716f5e4d3c2b1a0998877665544332211ffeeddccbbaa0011
PID_HASH=0123456789abcdef0123456789abcdef01234567

cf init >/dev/null 2>&1 || fail "init"
cf ingest "$SRCDIR/tests/e2e/data/http-revisions.json" 2>/dev/null || fail "ingest"
# the patch index (intake fills it in production): one patch linked to checkout lab1:c2
sqlite3 "$T/data/cifeed.db" <<EOF || fail "patch rows"
INSERT INTO patches (msgid, list_id, author_name, author_email, subject, date, patch_id)
VALUES ('patch1@example.org', 'linux-leds.vger.kernel.org', 'Jane Dev', 'jane@example.org',
        '[PATCH] leds: fix a thing', '2026-11-01T09:00:00Z', '$PID_HASH');
INSERT INTO patch_files (patch_rid, path) SELECT rid, 'drivers/leds/leds-a.c' FROM patches;
INSERT INTO patch_files (patch_rid, path) SELECT rid, 'drivers/leds/Kconfig' FROM patches;
INSERT INTO checkout_patches (checkout_id, patch_rid, how) SELECT 'lab1:c2', rid, 'message_id' FROM patches;
EOF

# /ran lookups on the loop (a generous budget: sanitizers and a busy machine are slow)
git config -f "$T/data/cifeed.conf" serve.inline-budget 1000
"$CIFEED" -d "$T/data" serve 2>"$T/serve.log" &
SERVE=$!
bg_track $SERVE
U="http://127.0.0.1:$(http_port)"
wait_for curl -sf "$U/healthz"

# get NAME PATH [CURL ARGS]: body to $T/NAME.json, status to $T/NAME.code
get() {
	local name=$1 path=$2; shift 2
	curl -s -o "$T/$name.json" -w '%{http_code}' "$@" "$U$path" >"$T/$name.code" ||
		fail "curl $path"
}
code() { cat "$T/$1.code"; }
j() { jq -r "$2" "$T/$1.json"; }
expect_code() { [ "$(code "$1")" = "$2" ] || fail "$1: HTTP $(code "$1"), expected $2: $(cat "$T/$1.json")"; }

# ---- /healthz
get hz /healthz
expect_code hz 200
ajv_api healthz "$T/hz.json" >/dev/null || fail "healthz schema"
[ "$(j hz .status)" = ok ] || fail "healthz status"
[ "$(j hz .schema_version)" -ge 30 ] || fail "schema version $(j hz .schema_version)"

# ---- /api/v1/ran: commit without patches = lab1:c1 + lab2:c3 (patchset "")
get ran "/api/v1/ran?commit=$A"
expect_code ran 200
ajv_api ran "$T/ran.json" || fail "ran schema"
[ "$(j ran .count)" = 9 ] || fail "ran count $(j ran .count)"
[ "$(j ran '[.tests[].path] | join(",")')" = \
  "boot,boot,kselftest.net,kselftest.net,ltp.fs.read,ltp.fs.read,ltp.fs.write,perf.bench,skipme" ] ||
	fail "ran paths/order: $(j ran '[.tests[].path] | join(",")')"
[ "$(j ran '[.tests[] | select(.status == null)] | length')" = 0 ] || fail "unfinished test listed"
[ "$(j ran '.tests[] | select(.path=="kselftest.net" and .origin=="lab2") | .checkout_id')" = lab2:c3 ] ||
	fail "patchset \"\" not the same revision as no patchset"
[ "$(j ran '.tests[] | select(.path=="boot" and .arch=="arm64") | .status')" = FAIL ] || fail "arch"
[ "$(j ran '.tests[0].log_url')" = "https://ci.example.org/lab1/log/1" ] || fail "log_url"
[ "$(j ran '.tests[0].compiler')" = "gcc-12" ] || fail "compiler"
[ "$(j ran '.tests[0].start_time')" = "2026-11-01T12:01:00Z" ] || fail "start_time"

get ranp "/api/v1/ran?commit=$A&patchset=$P"
expect_code ranp 200
[ "$(j ranp '[.tests[].test_id] | join(",")')" = "lab1:t10,lab1:t11" ] || fail "patchset: $(cat "$T/ranp.json")"
get rant "/api/v1/ran?commit=$A&test=ltp"
[ "$(j rant '[.tests[].path] | unique | join(",")')" = "ltp.fs.read,ltp.fs.write" ] || fail "test subtree"
get rano "/api/v1/ran?commit=$A&origin=lab2"
[ "$(j rano '[.tests[].origin] | unique | join(",")'):$(j rano .count)" = "lab2:1" ] || fail "origin filter"
get ranm "/api/v1/ran?msgid=%3Cpatch1%40example.org%3E"
expect_code ranm 200
ajv_api ran "$T/ranm.json" >/dev/null || fail "ran msgid schema"
[ "$(j ranm '[.tests[].test_id] | join(",")'):$(j ranm .query.msgid)" = "lab1:t10,lab1:t11:patch1@example.org" ] ||
	fail "msgid lookup: $(cat "$T/ranm.json")"
get ranpid "/api/v1/ran?patch_id=$PID_HASH"
[ "$(j ranpid '[.tests[].test_id] | join(",")')" = "lab1:t10,lab1:t11" ] || fail "patch_id lookup"
get ran0 "/api/v1/ran?commit=0000000000000000000000000000000000000000"
expect_code ran0 200
[ "$(j ran0 .count):$(j ran0 '.tests|length')" = "0:0" ] || fail "unknown commit must be an empty answer"

# (never `curl | grep -q` under pipefail: grep's early exit makes curl fail)
curl -s -o "$T/m1" "$U/metrics"
grep -q '^cifeed_http_lookups_total{where="loop"} [1-9]' "$T/m1" ||
	fail "/ran lookups should be answered on the loop (inline-budget)"

# ETag / If-None-Match / HEAD
curl -s -D "$T/h1" -o /dev/null "$U/api/v1/ran?commit=$A"
etag=$(sed -n 's/^ETag: *//Ip' "$T/h1" | tr -d '\r')
[ -n "$etag" ] || fail "no ETag"
c=$(curl -s -o "$T/304" -w '%{http_code}' -H "If-None-Match: $etag" "$U/api/v1/ran?commit=$A")
[ "$c" = 304 ] && [ ! -s "$T/304" ] || fail "If-None-Match: got $c"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"other\", W/$etag" "$U/api/v1/ran?commit=$A")
[ "$c" = 304 ] || fail "weak/list If-None-Match: got $c"
c=$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "nope"' "$U/api/v1/ran?commit=$A")
[ "$c" = 200 ] || fail "stale If-None-Match: got $c"
[ "$(curl -s -D "$T/h2" -o "$T/headbody" -I "$U/api/v1/ran?commit=$A" -w '%{http_code}')" = 200 ] || fail "HEAD"
[ ! -s "$T/headbody" ] || true
grep -qi "^content-length: $(wc -c <"$T/ran.json")" "$T/h2" || fail "HEAD content-length"

# ---- POST /api/v1/skip
plan='"boot","ltp.fs.read","ltp.fs.write","kselftest.net","perf.bench","skipme","pending","new.test","boot"'
post() { # NAME BODY [CURL ARGS]
	local name=$1 body=$2; shift 2
	curl -s -o "$T/$name.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$body" "$@" "$U/api/v1/skip" >"$T/$name.code" || fail "curl skip"
}
post skip "{\"commit\":\"$A\",\"tests\":[$plan]}"
expect_code skip 200
ajv_api skip "$T/skip.json" || fail "skip schema"
[ "$(j skip '[.skip[].path] | join(",")')" = "boot,ltp.fs.read,kselftest.net,perf.bench" ] ||
	fail "skip list: $(j skip '[.skip[].path] | join(",")')"
[ "$(j skip '.run | join(",")')" = "ltp.fs.write,skipme,pending,new.test" ] || fail "run list: $(j skip '.run|join(",")')"
[ "$(j skip '.skip[] | select(.path=="kselftest.net") | .origin + " " + .status')" = "lab2 PASS" ] ||
	fail "MISS must not count as ran"
[ "$(j skip '.statuses | join(" ")')" = "PASS FAIL DONE" ] || fail "default statuses"
post skipa "{\"commit\":\"$A\",\"tests\":[$plan],\"require\":{\"arch\":\"arm64\"}}"
[ "$(j skipa '[.skip[].path] | join(",")')" = "boot,ltp.fs.read" ] || fail "require arch: $(cat "$T/skipa.json")"
[ "$(j skipa '.skip[0].status + .skip[0].arch')" = "FAILarm64" ] || fail "require arch row"
post skipp "{\"commit\":\"$A\",\"patchset\":\"$P\",\"tests\":[\"boot\",\"ltp.fs.write\"]}"
[ "$(j skipp '[.skip[].path] | join(",")')/$(j skipp '.run|join(",")')" = "boot/ltp.fs.write" ] || fail "skip patchset"
post skipm "{\"msgid\":\"patch1@example.org\",\"tests\":[\"boot\",\"x\"]}"
[ "$(j skipm '[.skip[].path] | join(",")')" = "boot" ] || fail "skip by msgid"
post skipe "{\"commit\":\"$A\",\"tests\":[]}"
[ "$(code skipe):$(j skipe '.skip|length'):$(j skipe '.run|length')" = "200:0:0" ] || fail "empty plan"

# configured statuses: ERROR counts as ran, DONE does not
kill -TERM $SERVE; wait $SERVE || fail "serve exit $? (log: $(tail -5 "$T/serve.log"))"
git config -f "$T/data/cifeed.conf" serve.ran-statuses "PASS, FAIL ERROR"
# and every /ran lookup on the query threads instead of the loop: same answers
git config -f "$T/data/cifeed.conf" serve.inline-budget 0
"$CIFEED" -d "$T/data" serve 2>>"$T/serve.log" &
SERVE=$!
bg_track $SERVE
wait_for curl -sf "$U/healthz"
get ran2 "/api/v1/ran?commit=$A"
cmp -s "$T/ran.json" "$T/ran2.json" || fail "/ran on the query threads differs from /ran on the loop"
curl -s -o "$T/m2" "$U/metrics"
grep -q '^cifeed_http_lookups_total{where="threads"} [1-9]' "$T/m2" || fail "lookup not on threads"
post skipc "{\"commit\":\"$A\",\"tests\":[\"ltp.fs.write\",\"perf.bench\"]}"
[ "$(j skipc '[.skip[].path]|join(",")')/$(j skipc '.run|join(",")')/$(j skipc '.statuses|join(" ")')" = \
  "ltp.fs.write/perf.bench/PASS FAIL ERROR" ] || fail "ran-statuses config: $(cat "$T/skipc.json")"

# skip errors: 400 with a JSON error naming the problem, 415, 405
post bad1 '{"commit":"'$A'","tests":"boot"}'
expect_code bad1 400; ajv_api error "$T/bad1.json" >/dev/null || fail "error schema"
grep -q '"tests' "$T/bad1.json" || fail "message must name tests: $(cat "$T/bad1.json")"
post bad2 '{"commit":"'$A'","tests":[],"extra":1}'
expect_code bad2 400; grep -q 'unknown field' "$T/bad2.json" || fail "unknown field"
post bad3 '{"commit":"'$A'","tests":[1]}'
expect_code bad3 400; grep -q 'tests\[0\]' "$T/bad3.json" || fail "tests[0] named"
post bad4 '{"commit":"'$A'", "tests": ['
expect_code bad4 400; grep -q 'not valid JSON' "$T/bad4.json" || fail "truncated JSON"
post bad5 '{"tests":["a"]}'
expect_code bad5 400
post bad6 '{"commit":"'$A'","tests":["a"],"require":{"cpu":"x"}}'
expect_code bad6 400; grep -q 'require.cpu' "$T/bad6.json" || fail "require key"
post bad7 '[1,2]'
expect_code bad7 400
post bad8 '{"commit":"'$A'","commit":"'$A'","tests":[]}'
expect_code bad8 400
post bad9 '{"commit":"'$A'","tests":["a\u0000b"]}'
expect_code bad9 400
c=$(curl -s -o "$T/415.json" -w '%{http_code}' -d 'commit=x' "$U/api/v1/skip")
[ "$c" = 415 ] || fail "form body: $c"; ajv_api error "$T/415.json" >/dev/null || fail "415 schema"
c=$(curl -s -o "$T/empty.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$U/api/v1/skip")
[ "$c" = 400 ] || fail "empty body: $c"
get m405 /api/v1/skip
expect_code m405 405; ajv_api error "$T/m405.json" >/dev/null || fail "405 schema"
curl -s -D "$T/allow" -o /dev/null "$U/api/v1/skip"
grep -qi '^Allow: POST' "$T/allow" || fail "Allow header"
get m405b /api/v1/ran -X DELETE
expect_code m405b 405

# ---- /api/v1/results: a stable cursor over every test
: >"$T/ids"
cursor=""
pages=0
while :; do
	get page "/api/v1/results?limit=5${cursor:+&cursor=$cursor}"
	expect_code page 200
	ajv_api results "$T/page.json" >/dev/null || fail "results schema"
	jq '.results' "$T/page.json" >"$T/page-kcidb.json"
	ajv_kcidb "$T/page-kcidb.json" >/dev/null || fail "results page is not valid kcidb-io v5.3"
	j page '.results.tests[].id' >>"$T/ids"
	# every test's build and checkout is in the page
	[ "$(jq '[.results.builds[].id] as $b | [.results.tests[].build_id | select(. as $x | $b | index($x) | not)] | length' "$T/page.json")" = 0 ] ||
		fail "page lacks a build"
	pages=$((pages + 1))
	cursor=$(j page '.next_cursor // empty')
	[ -n "$cursor" ] || break
	[ $pages -lt 10 ] || fail "cursor loops"
done
[ $pages = 3 ] || fail "12 tests by 5 should be 3 pages, got $pages"
[ "$(sort -u "$T/ids" | wc -l)" = 12 ] && [ "$(wc -l <"$T/ids")" = 12 ] || fail "pages repeat or miss tests"
sqlite3 "$T/data/cifeed.db" 'SELECT id FROM tests ORDER BY rid' | diff - "$T/ids" || fail "insertion order"

get rf "/api/v1/results?q=status%3AFAIL"
[ "$(j rf '[.results.tests[].id]|join(",")')/$(j rf .next_cursor)" = "lab1:t02,lab1:t08/null" ] || fail "status:FAIL: $(cat "$T/rf.json")"
get rf2 "/api/v1/results?q=arch:arm64+OR+origin:lab2"
[ "$(j rf2 '[.results.tests[].id]|join(",")')" = "lab1:t08,lab1:t09,lab2:t12" ] || fail "OR filter: $(j rf2 '[.results.tests[].id]|join(",")')"
get rf3 "/api/v1/results?q=msgid:patch1@example.org+-test:ltp*"
[ "$(j rf3 '[.results.tests[].id]|join(",")')" = "lab1:t10" ] || fail "msgid/negated glob filter"
get rbad "/api/v1/results?q=stauts:FAIL"
expect_code rbad 400; grep -q "unknown key 'stauts'" "$T/rbad.json" || fail "filter error: $(cat "$T/rbad.json")"
for bad in "limit=0" "limit=1001" "limit=x" "cursor=abc" "cursor=-1" "q=a&q=b" "page=2" "q=%zz" "q=%00"; do
	get rb "/api/v1/results?$bad"
	expect_code rb 400
	ajv_api error "$T/rb.json" >/dev/null || fail "error schema for $bad"
done

# ---- /api/v1/patches/MSGID
get pa "/api/v1/patches/patch1%40example.org"
expect_code pa 200
ajv_api patch "$T/pa.json" || fail "patch schema"
[ "$(j pa '.patch.subject')" = "[PATCH] leds: fix a thing" ] || fail "patch subject"
[ "$(j pa '[.files[].path]|join(",")')" = "drivers/leds/Kconfig,drivers/leds/leds-a.c" ] || fail "files"
[ "$(j pa '.checkouts[0].id + " " + .checkouts[0].how')" = "lab1:c2 message_id" ] || fail "linked checkout"
[ "$(j pa '.checkouts[0].tests.total'):$(j pa '.checkouts[0].tests.by_status.PASS')" = "2:2" ] || fail "test counts"
get pa2 "/api/v1/patches/%3Cpatch1@example.org%3E"
[ "$(j pa2 .msgid)" = "patch1@example.org" ] || fail "<> stripped"
get pa404 "/api/v1/patches/nobody@example.org"
expect_code pa404 404; ajv_api error "$T/pa404.json" >/dev/null || fail "404 schema"
get pa400 "/api/v1/patches/"
expect_code pa400 400

# ---- /metrics, 404
get ran "/api/v1/ran?commit=$A"
get met /metrics
expect_code met 200
for m in cifeed_http_requests_total cifeed_http_request_duration_seconds_bucket \
	cifeed_loop_lag_seconds cifeed_http_connections cifeed_objects_ingested_total; do
	grep -q "^$m" "$T/met.json" || [ $m = cifeed_objects_ingested_total ] || fail "metric $m missing"
done
grep -q 'cifeed_http_requests_total{route="ran",code="200"}' "$T/met.json" || fail "per-route counter"
grep -q '^cifeed_http_lookups_total{where="threads"} [1-9]' "$T/met.json" || fail "lookups counter"
grep -q 'cifeed_http_requests_total{route="skip",code="400"}' "$T/met.json" || fail "error counter"
grep -q '^# TYPE cifeed_http_request_duration_seconds histogram' "$T/met.json" || fail "histogram type"
curl -s -D "$T/mh" -o /dev/null "$U/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/mh" || fail "metrics type"
get nf /nope
expect_code nf 404; ajv_api error "$T/nf.json" >/dev/null || fail "404 schema"

# a clean stop: exit 0, nothing from the sanitizers
kill -TERM $SERVE
wait $SERVE || fail "serve exited $?"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
