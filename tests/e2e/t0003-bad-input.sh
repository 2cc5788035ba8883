#!/usr/bin/env bash
# Hostile and broken submissions: each gets a clear error naming the file,
# exit 3, no crash under ASan/UBSan, and nothing is written.
source "$(dirname "$0")/lib.sh"
cf init >/dev/null || fail init
printf '%s' '{"version":{"major":5,"minor":3},"checkouts":[{"id":"ok:1","origin":"ok"}]}' >"$T/ok.json"
cf ingest -q "$T/ok.json" || fail "baseline"
snapshot() { cf export | sha256sum | cut -c1-64; sqlite3 "$T/data/cifeed.db" "select count(*) from submissions"; }
base=$(snapshot)

reject() { # FILE NEEDLE...: ingest must fail with exit 3 and every NEEDLE in stderr
	local f=$1; shift
	local out rc
	out=$(cf ingest "$f" 2>&1); rc=$?
	[ $rc = 3 ] || fail "$(basename "$f"): exit $rc (want 3): $out"
	echo "$out" | grep -qi "sanitizer\|runtime error" && fail "$(basename "$f"): sanitizer report: $out"
	echo "$out" | grep -qF "$(basename "$f")" || fail "$(basename "$f"): error does not name the file: $out"
	for n in "$@"; do echo "$out" | grep -qF -- "$n" || fail "$(basename "$f"): missing '$n' in: $out"; done
	[ "$(snapshot)" = "$base" ] || fail "$(basename "$f") changed the store"
}

: >"$T/empty.json";                           reject "$T/empty.json" "empty input"
head -c 40 "$FIXTURES/kcidb/kcidb-sample-full-v5.3.json" >"$T/trunc.json"
reject "$T/trunc.json" "invalid JSON" "trunc.json:"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/random.bin"; reject "$T/random.bin" "invalid JSON"
rm -f "$T/random.bin"
printf '{"version":{"major":5,"minor":3},"tests":[{"id":"a:1","origin":"a","build_id":"a:b","comment":null}]}' >"$T/null.json"
reject "$T/null.json" "tests[0] (id 'a:1'): comment: is null"
printf '{"version":{"major":5,"minor":3},"builds":[{"id":"a:1","origin":"a","checkout_id":7,"duration":"long"}]}' >"$T/types.json"
reject "$T/types.json" "checkout_id: 7 must be a string" "duration: 'long' must be a number"
printf '[1,2,3]' >"$T/array.json";            reject "$T/array.json" "must be a JSON object"
printf '{"version":{"major":5,"minor":3},"tests":{}}' >"$T/obj.json"; reject "$T/obj.json" "tests: an object must be an array"
printf '{"checkouts":[]}' >"$T/nover.json";   reject "$T/nover.json" "version: is required"
printf '{"version":{"major":5,"minor":3},"version":{"major":5}}' >"$T/dupkey.json"; reject "$T/dupkey.json" "duplicate"
# NUL as a raw byte and as \u0000
printf '{"version":{"major":5,"minor":3},"checkouts":[{"id":"a:\0x","origin":"a"}]}' >"$T/nul.json"
reject "$T/nul.json" "invalid JSON"
printf '{"version":{"major":5,"minor":3},"checkouts":[{"id":"a:\\u0000x","origin":"a"}]}' >"$T/nulesc.json"
reject "$T/nulesc.json" "invalid JSON"
# invalid UTF-8 in a string
printf '{"version":{"major":5,"minor":3},"checkouts":[{"id":"a:\xc3\x28","origin":"a"}]}' >"$T/utf8.json"
reject "$T/utf8.json" "invalid JSON"
# 10 MB strings: over the log_excerpt limit is rejected; as a comment it is legal KCIDB
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
big = "x" * (10 * 1024 * 1024)
json.dump({"version": {"major": 5, "minor": 3}, "tests": [{"id": "a:1", "origin": "a", "build_id": "a:b", "log_excerpt": big}]}, open(f"{t}/excerpt.json", "w"))
json.dump({"version": {"major": 5, "minor": 3}, "tests": [{"id": "big:1", "origin": "big", "build_id": "big:b", "comment": big}]}, open(f"{t}/comment.json", "w"))
# 100,000 errors: only the first 20 are printed, then a count
json.dump({"version": {"major": 5, "minor": 3}, "tests": [{"id": f"a:{i}", "origin": "a"} for i in range(100000)]}, open(f"{t}/many.json", "w"))
# CRLF and control characters in ids and names are data, not structure
json.dump({"version": {"major": 5, "minor": 3}, "checkouts": [{"id": "evil:x\r\nBcc: victim@example.org", "origin": "evil", "tree_name": "a\u001b[31mred"}]}, open(f"{t}/crlf.json", "w"))
PY
reject "$T/excerpt.json" "log_excerpt: is longer than 16384 characters"
reject "$T/many.json" "100000 errors" "... and 99980 more"
[ "$(cf ingest "$T/many.json" 2>&1 | grep -c '^  tests\[')" = 20 ] || fail "more than 20 errors printed"
cf ingest -q "$T/comment.json" || fail "a 10 MB comment is valid KCIDB and must be stored"
[ "$(sqlite3 "$T/data/cifeed.db" "select length(comment) from tests where id='big:1'")" = 10485760 ] || fail "10 MB comment truncated"
cf ingest -q "$T/crlf.json" || fail "CRLF in an id is legal KCIDB data"
cf export | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(c["id"]=="evil:x\r\nBcc: victim@example.org" for c in d["checkouts"])' \
	|| fail "CRLF id did not survive the round trip"
# a file over core.max-submission is refused before parsing
git config -f "$T/data/cifeed.conf" core.max-submission 1k
base=$(snapshot)
reject "$FIXTURES/kcidb/kcidb-sample-full-v5.3.json" "larger than the 1024-byte limit"
# a missing file is a runtime error (5), not a rejection
out=$(cf ingest "$T/nonexistent.json" 2>&1); rc=$?
[ $rc = 5 ] && echo "$out" | grep -q "nonexistent.json: No such file" || fail "missing file: $rc $out"
pass
