#!/usr/bin/env bash
# t4002: `cifeed ingest --format mbox` on bad input: clear errors naming the
# file, the right exit status, nothing half written, no crash (ASan/UBSan);
# one bad file does not stop the good ones; re-importing changes nothing.
source "$(dirname "$0")/lib.sh"
cf init >/dev/null || fail init
B4="$FIXTURES/patches/b4"

count() { sqlite3 "$T/data/cifeed.db" "SELECT (SELECT COUNT(*) FROM patches) || ' ' || (SELECT COUNT(*) FROM series) || ' ' || (SELECT COUNT(*) FROM trailers)"; }

# missing file, a directory: errors naming them, nothing stored
expect_rc 5 cf ingest --format mbox "$T/nope.mbox" 2>"$T/e1"
grep -q "nope.mbox" "$T/e1" || fail "missing file not named: $(cat "$T/e1")"
mkdir "$T/dir"
expect_rc 3 cf ingest --format mbox "$T/dir" 2>"$T/e2"
grep -q "not a regular file" "$T/e2" || fail "directory: $(cat "$T/e2")"
expect_rc 2 cf ingest --format nosuch x 2>/dev/null

# empty file, random bytes, a truncated message, NULs, an endless header, deep folding:
# accepted without a crash and without inventing patches
: >"$T/empty.mbox"
head -c 200000 /dev/urandom >"$T/random.mbox"
head -c 5000 "$FIXTURES/mail/leds-recent.mbox" >"$T/truncated.mbox"
printf 'From x\nSubject: [PATCH] \000nul\nMessage-Id: <nul@x>\n\n\000\000diff --git a/a b/a\n' >"$T/nul.mbox"
python3 -c 'import sys; sys.stdout.write("From x\nMessage-Id: <long@x>\nSubject: [PATCH] " + "x" * 300000 + "\n" + "X-H: y\n" * 20000 + "\nbody\n")' >"$T/huge.mbox"
# a header folded over 200,000 lines (must be linear, not quadratic)
python3 -c 'import sys; sys.stdout.write("From x\nMessage-Id: <fold@x>\nSubject: [PATCH] a\n" + " b\n" * 200000 + "\nbody\n")' >"$T/folded.mbox"
for f in empty random truncated nul huge folded; do
	cf ingest --format mbox "$T/$f.mbox" >"$T/$f.out" 2>"$T/$f.err" ||
		{ cat "$T/$f.err"; fail "$f.mbox was not accepted"; }
done
before=$(count)
note "after bad files: patches/series/trailers = $before"

# a good mbox next to a bad path: the good one is stored, the exit status says 5
expect_rc 5 cf ingest --format mbox "$T/nope2.mbox" "$B4/series-base.mbox" >"$T/mixed.out" 2>/dev/null
grep -q 'series-base.mbox: 3 messages: 2 new patches, 1 new cover letters' "$T/mixed.out" ||
	fail "good file next to a bad one: $(cat "$T/mixed.out")"
after=$(count)
[ "$after" != "$before" ] || fail "nothing stored from the good file"

# the same again: nothing changes
cf ingest --format mbox "$B4/series-base.mbox" "$B4/b4-send-output/"*.eml >"$T/again.out" || fail again
grep -q 'series-base.mbox: 3 messages: 0 new patches, 0 new cover letters.*3 already stored' "$T/again.out" ||
	fail "re-import: $(cat "$T/again.out")"
cf ingest --format mbox "$B4/b4-send-output/"*.eml >/dev/null || fail "b4 again"
[ "$(count)" = "$(cf ingest --format mbox "$B4/b4-send-output/"*.eml >/dev/null; count)" ] || fail "re-import changed counts"

# b4 layout: the change-id keys the versions, base info found in the cover
cf patches --json msgid:20261122-demo-series-v1-0-50769dfa7ed6@example.org >"$T/b4.json" || fail "b4 series"
python3 - "$T/b4.json" <<'EOP' || fail "b4 series fields"
import json, sys
s = json.load(open(sys.argv[1]))[0]
assert s['change_id'] == '20261122-demo-series-4138cd434568', s['change_id']
assert s['complete'] and s['total'] == 2 and s['cover'], s
assert [b['kind'] for b in s['base']] == ['base-commit'], s['base']
EOP
# stdin works too
cf ingest --format mbox - <"$B4/single-patch-base.mbox" >"$T/stdin.out" || fail "stdin"
grep -q '<stdin>: 1 messages: 1 new patches' "$T/stdin.out" || fail "stdin: $(cat "$T/stdin.out")"
pass
