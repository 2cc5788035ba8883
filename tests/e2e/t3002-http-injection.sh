#!/usr/bin/env bash
# t3002: SQL-injection (and GLOB/LIKE metacharacter) strings in every
# parameter of every endpoint: each answer is a correct empty answer (200)
# or a 400 for a value of the wrong shape, never a 500, never a database
# error in the body, and the store is unchanged afterwards.
source "$(dirname "$0")/lib.sh"

A=1f0c9d2e3b4a5968778695a4b3c2d1e0f9a8b7c6
cf init >/dev/null 2>&1 || fail "init"
cf ingest "$SRCDIR/tests/e2e/data/http-revisions.json" 2>/dev/null || fail "ingest"
DB="$T/data/cifeed.db"
snapshot() {
	sqlite3 "$DB" "SELECT (SELECT COUNT(*) FROM checkouts), (SELECT COUNT(*) FROM builds),
		(SELECT COUNT(*) FROM tests), (SELECT COUNT(*) FROM submissions),
		(SELECT group_concat(name) FROM sqlite_master); PRAGMA integrity_check;"
}
before=$(snapshot)

"$CIFEED" -d "$T/data" serve 2>"$T/serve.log" &
SERVE=$!
bg_track $SERVE
U="http://127.0.0.1:$(http_port)"
wait_for curl -sf "$U/healthz"

INJ=(
	"' OR '1'='1"
	"' OR 1=1 --"
	"\" OR \"\"=\""
	"'; DROP TABLE tests; --"
	"1'); DELETE FROM checkouts; --"
	"x' UNION SELECT id, id, id, id, id, id, id, id, id, id, id FROM tests --"
	"%"
	"*"
	"?"
	"[a-z]*"
	"_"
	"\\"
	"boot' --"
	"lab1'/*"
	"\$1"
	"?1"
	"; ATTACH DATABASE '/tmp/x' AS x; --"
	"$A' OR '1'='1"
)
enc() { jq -rn --arg v "$1" '$v|@uri'; }
n=0
mkdir "$T/errors"
# check NAME EXPECT: EXPECT is "empty" (200 with no results) or "empty|400"
check() {
	local name=$1 expect=$2 code
	code=$(cat "$T/code")
	n=$((n + 1))
	# what SQLite's messages look like (the echoed query itself may hold SELECT)
	if grep -qiE 'sqlite|syntax error|SQL logic error|near "|no such (table|column)|unrecognized token|constraint failed' "$T/out.json"; then
		fail "$name: database error leaked: $(cat "$T/out.json")"
	fi
	case "$code" in
	200)
		[ "$(jq -r "$3" "$T/out.json")" = 0 ] || fail "$name: not an empty answer: $(head -c 400 "$T/out.json")" ;;
	400)
		[ "$expect" = "empty|400" ] || fail "$name: 400 for a free-text value: $(cat "$T/out.json")"
		cp "$T/out.json" "$T/errors/$n.json" ;;
	*) fail "$name: HTTP $code: $(cat "$T/out.json")" ;;
	esac
}
get() { curl -s -o "$T/out.json" -w '%{http_code}' "$U$1" >"$T/code" || fail "curl $1"; }
post() { curl -s -o "$T/out.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "$U/api/v1/skip" >"$T/code" || fail "curl skip"; }

for v in "${INJ[@]}"; do
	e=$(enc "$v")
	js=$(jq -n --arg v "$v" '$v')
	# /api/v1/ran: hex-shaped parameters may be refused, free text must answer empty
	get "/api/v1/ran?commit=$e";                    check "ran commit=$v" "empty|400" .count
	get "/api/v1/ran?commit=$A&patchset=$e";        check "ran patchset=$v" "empty|400" .count
	get "/api/v1/ran?patch_id=$e";                  check "ran patch_id=$v" "empty|400" .count
	get "/api/v1/ran?msgid=$e";                     check "ran msgid=$v" empty .count
	# ('*' is the filter language's glob, in test= as in q=: such values may match)
	[[ "$v" == *'*'* ]] || { get "/api/v1/ran?commit=$A&test=$e"; check "ran test=$v" empty .count; }
	get "/api/v1/ran?commit=$A&origin=$e";          check "ran origin=$v" empty .count
	# /api/v1/skip: every field
	post "{\"commit\":$js,\"tests\":[\"boot\"]}";   check "skip commit=$v" "empty|400" '.skip|length'
	post "{\"commit\":\"$A\",\"patchset\":$js,\"tests\":[\"boot\"]}"; check "skip patchset" "empty|400" '.skip|length'
	post "{\"patch_id\":$js,\"tests\":[\"boot\"]}"; check "skip patch_id" "empty|400" '.skip|length'
	post "{\"msgid\":$js,\"tests\":[\"boot\"]}";    check "skip msgid=$v" empty '.skip|length'
	post "{\"commit\":\"$A\",\"origin\":$js,\"tests\":[\"boot\"]}"; check "skip origin=$v" empty '.skip|length'
	post "{\"commit\":\"$A\",\"tests\":[$js]}";     check "skip tests[]=$v" empty '.skip|length'
	for k in arch config compiler; do
		post "{\"commit\":\"$A\",\"tests\":[\"boot\"],\"require\":{\"$k\":$js}}"
		check "skip require.$k=$v" empty '.skip|length'
	done
	# /api/v1/results: inside filter values (quoted and bare) and as cursor/limit
	# ('*' is the filter language's glob, so those values legitimately match)
	if [[ "$v" != *'*'* ]]; then
		q=$(jq -rn --arg v "$v" '"origin:\"" + ($v|gsub("\"";"")) + "\""')
		get "/api/v1/results?q=$(enc "$q")";      check "results q=$q" "empty|400" .count
		get "/api/v1/results?q=$(enc "test:$v")"; check "results q=test:$v" "empty|400" .count
		get "/api/v1/results?q=$e";               check "results q=$v" "empty|400" .count
	fi
	get "/api/v1/results?cursor=$e";                 check "results cursor=$v" "empty|400" .count
	get "/api/v1/results?limit=$e";                  check "results limit=$v" "empty|400" .count
	# /api/v1/patches/ID
	get "/api/v1/patches/$e"
	[ "$(cat "$T/code")" = 404 ] || [ "$(cat "$T/code")" = 400 ] || fail "patches/$v: HTTP $(cat "$T/code")"
	! grep -qiE 'sqlite|syntax' "$T/out.json" || fail "patches/$v leaked"
	n=$((n + 1))
done
note "$n injection requests answered correctly; $(ls "$T/errors" | wc -l) were 400s"
ajv_api error "$T"/errors/*.json >/dev/null || fail "400 answers do not match schema/api/error.json"

# the same through the CLI twins
for v in "${INJ[@]}"; do
	[[ "$v" == *'*'* ]] || expect_rc 1 cf query ran --commit "$A" --test "$v" 2>/dev/null
	expect_rc 1 cf query ran --commit "$A" --origin "$v" 2>/dev/null
	out=$(printf '%s\n' "$v" | cf skip --commit "$A" --origin "$v" 2>/dev/null) || fail "cli skip"
	[ "$out" = "$v" ] || fail "cli skip: '$out'"
done

kill -TERM $SERVE
wait $SERVE || fail "serve exited $?"
! grep -q 'event=http.error' "$T/serve.log" || fail "a request failed inside: $(grep http.error "$T/serve.log" | head -3)"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
[ "$(snapshot)" = "$before" ] || fail "the store changed: $before / $(snapshot)"
pass
