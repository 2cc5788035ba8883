#!/usr/bin/env bash
# Ingest every valid fixture; reject invalid ones writing nothing; idempotent
# re-ingest; per-field merge; v4 upgrade; export validates with ajv; round trip
# ingest -> export -> ingest into an empty store -> export is byte-identical.
source "$(dirname "$0")/lib.sh"
K="$FIXTURES/kcidb"
cf init >/dev/null || fail init

counts() { sqlite3 "$T/data/cifeed.db" "select (select count(*) from checkouts)||' '||(select count(*) from builds)||' '||(select count(*) from tests)||' '||(select count(*) from issues)||' '||(select count(*) from incidents)||' '||(select count(*) from submissions)"; }

# each valid fixture, one at a time, with the object counts it declares
out=$(cf ingest "$K/kcidb-sample-full-v5.3.json") || fail "full sample rejected"
echo "$out" | grep -q "2 checkouts, 2 builds, 5 tests, 1 issues, 1 incidents; 11 new" || fail "full: $out"
[ "$(counts)" = "2 2 5 1 1 1" ] || fail "counts after full: $(counts)"
out=$(cf ingest "$K/kcidb-sample-minimal-v5.3.json") || fail "minimal sample rejected"
[ "$(counts)" = "3 3 6 2 2 2" ] || fail "counts after minimal: $(counts)"

# the partial update fills the missing status of one test and nothing else
before=$(sqlite3 "$T/data/cifeed.db" "select status is null from tests where id='maestro:65a3a1c0e98651d0fe82b204'")
[ "$before" = 1 ] || fail "test 204 should start without status"
out=$(cf ingest "$K/kcidb-sample-partial-update-v5.3.json") || fail "partial update rejected"
echo "$out" | grep -q "0 new, 1 updated, 0 unchanged" || fail "partial: $out"
[ "$(sqlite3 "$T/data/cifeed.db" "select status||' '||duration||' '||path from tests where id='maestro:65a3a1c0e98651d0fe82b204'")" = "PASS 33.2 kselftest.cpufreq" ] \
	|| fail "merge result wrong"

cf export >"$T/e1.json" || fail "export"
ajv_kcidb "$T/e1.json" >"$T/ajv.out" 2>&1 || { cat "$T/ajv.out"; fail "export does not validate with ajv"; }

# idempotent: the same files again change nothing at all
out=$(cf ingest "$K/kcidb-sample-full-v5.3.json" "$K/kcidb-sample-minimal-v5.3.json" "$K/kcidb-sample-partial-update-v5.3.json") || fail "re-ingest"
[ "$(echo "$out" | grep -c "already stored as submission")" = 3 ] || fail "re-ingest not recognised: $out"
[ "$(counts)" = "3 3 6 2 2 3" ] || fail "re-ingest changed the store: $(counts)"
cf export >"$T/e1b.json"
cmp -s "$T/e1.json" "$T/e1b.json" || fail "re-ingest changed the export"

# invalid fixtures: exit 3, every error named, nothing written
for f in kcidb-sample-invalid-v5.3.json kcidb-sample-submitter-guide-verbatim.json; do
	out=$(cf ingest "$K/$f" 2>&1); rc=$?
	[ $rc = 3 ] || fail "$f: exit $rc"
	echo "$out" | grep -q "$f: rejected" || fail "$f: message does not name the file: $out"
	echo "$out" | grep -q "nothing stored" || fail "$f: message does not say nothing was stored"
	[ "$(counts)" = "3 3 6 2 2 3" ] || fail "$f wrote something: $(counts)"
done
out=$(cf ingest "$K/kcidb-sample-invalid-v5.3.json" 2>&1)
for needle in "builds\[0\] (id 'maestro:b1'): unknown field 'valid'" \
	"builds\[0\] (id 'maestro:b1'): status: 'BUILD'" "git_commit_hash: '052d5343'" \
	"git_repository_url: 'git://" "id: '12345' is not an id" "origin: 'Maestro'" \
	"patchset_hash: is null" "path: 'ltp..sem01'" "start_time: 'yesterday'"; do
	echo "$out" | grep -q "$needle" || fail "invalid sample: missing error '$needle' in: $out"
done
[ "$(echo "$out" | grep -c '^  ')" = 9 ] || fail "expected exactly 9 errors: $out"

# a batch with one bad file stores the good ones and exits 3
printf '%s' '{"version":{"major":5,"minor":3},"checkouts":[{"id":"x:1","origin":"x"}]}' >"$T/good.json"
expect_rc 3 cf ingest -q "$T/good.json" "$K/kcidb-sample-invalid-v5.3.json" 2>/dev/null
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from checkouts where id='x:1'")" = 1 ] || fail "good file of a mixed batch not stored"

# stdin
printf '%s' '{"version":{"major":5,"minor":3},"checkouts":[{"id":"x:2","origin":"x"}]}' | cf ingest - | grep -q "<stdin>: stored" || fail "stdin"
[ "$(sqlite3 "$T/data/cifeed.db" "select source from submissions order by id desc limit 1")" = stdin ] || fail "stdin source"

# KCIDB v4 is upgraded: valid -> status, waived -> incident of _:waived, contacts dropped
cat >"$T/v4.json" <<'J'
{"version":{"major":4,"minor":3},
 "checkouts":[{"id":"old:c","origin":"old","contacts":["a@example.org"],"git_repository_url":"https://git.example.org/r.git"}],
 "builds":[{"id":"old:b","origin":"old","checkout_id":"old:c","valid":false}],
 "tests":[{"id":"old:t","origin":"old","build_id":"old:b","path":"boot","status":"FAIL","waived":true}]}
J
out=$(cf ingest "$T/v4.json") || fail "v4 rejected"
echo "$out" | grep -q "KCIDB v4.3" || fail "v4 version not reported: $out"
[ "$(sqlite3 "$T/data/cifeed.db" "select status from builds where id='old:b'")" = FAIL ] || fail "valid->status"
[ "$(sqlite3 "$T/data/cifeed.db" "select issue_id||' '||test_id||' '||present from incidents where test_id='old:t'")" = "_:waived old:t 1" ] || fail "waived->incident"

# round trip: export -> empty store -> export is byte-identical, and ajv-valid
cf export >"$T/a.json"
mkdir -p "$T/d2"
"$CIFEED" -d "$T/d2" init >/dev/null
"$CIFEED" -d "$T/d2" ingest -q "$T/a.json" || fail "re-ingest of the export"
"$CIFEED" -d "$T/d2" export >"$T/b.json"
cmp "$T/a.json" "$T/b.json" || fail "round trip is not byte-identical"
ajv_kcidb "$T/a.json" >"$T/ajv.out" 2>&1 || { cat "$T/ajv.out"; fail "round-trip export invalid"; }

# filtered exports are self-contained and valid
cf export status:FAIL >"$T/f1.json" || fail "filtered export"
ajv_kcidb "$T/f1.json" >"$T/ajv.out" 2>&1 || { cat "$T/ajv.out"; fail "filtered export invalid"; }
python3 - "$T/f1.json" <<'PY' || fail "filtered export content"
import json, sys
d = json.load(open(sys.argv[1]))
tests = {t["id"] for t in d["tests"]}
assert tests == {"maestro:65a3a1c0e98651d0fe82b201", "old:t"}, tests
builds = {b["id"] for b in d["builds"]}
# failing builds match directly; parents of failing tests come along
assert builds == {"maestro:65a39f00e98651d0fe82b100", "redhat:build-987", "old:b"}, builds
checkouts = {c["id"] for c in d["checkouts"]}
assert checkouts == {"maestro:65a3982ee98651d0fe82b010", "redhat:1234567890", "old:c"}, checkouts
assert {i["id"] for i in d["incidents"]} == {"maestro:incident-1", "old:waived:t"}, d["incidents"]
assert {i["id"] for i in d["issues"]} == {"maestro:issue-exec-execveat", "_:waived"}, d["issues"]
PY
cf export tree:mainline test:kselftest -o "$T/f2.json" || fail "export -o"
python3 -c "
import json,sys; d=json.load(open('$T/f2.json'))
assert sorted(t['path'] for t in d['tests'])==['kselftest.cpufreq','kselftest.exec.exec_execveat_Check_success_of_execveat_20_4096'], d['tests']
assert [c['id'] for c in d['checkouts']]==['maestro:65a3982ee98651d0fe82b010']" || fail "tree+test filter"
ls "$T"/f2.json.tmp.* 2>/dev/null && fail "export -o left a temporary file"
out=$(cf export 'stauts:FAIL' 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "unknown key 'stauts'" || fail "bad filter: $rc $out"
pass
