#!/usr/bin/env bash
# t2002-feed-reindex-roundtrip.sh - the feed is the archive: store -> feeds ->
# mirror (git clone --mirror) -> empty store via `feed reindex` -> identical export.
#
# Results arrive in three rounds (late tests, late statuses as partial objects,
# issues and incidents, checkout completion) with a publish after each, so the
# feeds hold first reports and follow-ups; a small epoch-size forces several
# epochs.  After reindex, a publish pass adds nothing (no duplicates).
source "$(dirname "$0")/lib.sh"

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<'EOF2'
[feed]
	address = results@ci.example.org
	settle = 0
	epoch-size = 40k
[topic "fails"]
	filter = status:FAIL OR status:ERROR
EOF2
python3 "$SRCDIR/tests/e2e/feedgen.py" "$T/gen" --checkouts 12 --builds 3 --tests 6 --rounds 3 --seed 7 ||
	fail "generate"
for r in 0 1 2; do
	cf ingest "$T/gen-$r.json" >/dev/null || fail "ingest round $r"
	cf feed publish 2>"$T/pub-$r.err" || { cat "$T/pub-$r.err"; fail "publish round $r"; }
done
grep -q 'followups=[1-9]' "$T/pub-1.err" || { cat "$T/pub-1.err"; fail "round 1 made no follow-ups"; }
cf feed verify >"$T/verify.out" || { cat "$T/verify.out"; fail "verify"; }
# verify checks object hashes even in a process whose writer turned libgit2's
# check off: a copy whose newest message blob is a loose object holding other
# bytes under the same id must fail
C="$T/corrupt"
cp -a "$T/data" "$C"
g="$C/feeds/all/git/0.git"
mkdir "$T/packs0"
mv "$g"/objects/pack/pack-* "$T/packs0/"
for pk in "$T/packs0"/*.pack; do git --git-dir="$g" unpack-objects -q <"$pk" || fail "unpack $pk"; done
blob=$(git --git-dir="$g" rev-parse master:m) || fail "no blob"
python3 - "$g/objects/${blob:0:2}/${blob:2}" <<'EOF2' || fail "write the bad object"
import os, sys, zlib
body = b"From: x@example.org\nSubject: not what the id says\nMessage-ID: <other@x>\n\nother\n"
os.chmod(sys.argv[1], 0o644)
open(sys.argv[1], "wb").write(zlib.compress(b"blob %d\0" % len(body) + body))
EOF2
if "$CIFEED" -d "$C" feed verify all >"$T/verify-bad.out" 2>&1; then
	cat "$T/verify-bad.out"
	fail "verify passed a blob whose content does not match its id"
fi
grep -q "$blob" "$T/verify-bad.out" || { cat "$T/verify-bad.out"; fail "verify did not name the bad blob"; }
epochs=$(ls -d "$T/data/feeds/all/git/"*.git | wc -l)
[ "$epochs" -ge 2 ] || fail "expected several epochs, got $epochs"
alt=$(cat "$T/data/feeds/all/all.git/objects/info/alternates")
for e in $(seq 0 $((epochs - 1))); do
	grep -qx "../../git/$e.git/objects" <<<"$alt" || fail "all.git alternates lack epoch $e"
done
cf export -o "$T/before.json" || fail "export"

# a mirror holds git only: clone every epoch, add inbox.lock
M=$T/mirror
mkdir -p "$M/data"
"$CIFEED" -d "$M/data" init >/dev/null || fail "init mirror"
cp "$T/data/cifeed.conf" "$M/data/cifeed.conf"
for t in all fails; do
	mkdir -p "$M/data/feeds/$t/git"
	for e in "$T/data/feeds/$t/git/"*.git; do
		git clone -q --mirror "$e" "$M/data/feeds/$t/git/$(basename "$e")" || fail "clone $e"
	done
	touch "$M/data/feeds/$t/inbox.lock"
done
"$CIFEED" -d "$M/data" feed reindex 2>"$T/reindex.err" || { cat "$T/reindex.err"; fail "reindex"; }
"$CIFEED" -d "$M/data" export -o "$T/after.json" || fail "export after reindex"
cmp "$T/before.json" "$T/after.json" || { diff "$T/before.json" "$T/after.json" | head -20; fail "export differs after reindex"; }
ajv_kcidb "$T/after.json" >/dev/null || fail "reindexed export is not valid KCIDB"

# the rebuilt store knows what the feeds hold: publishing adds nothing
"$CIFEED" -d "$M/data" feed publish 2>"$T/repub.err" || { cat "$T/repub.err"; fail "publish after reindex"; }
grep -q 'messages=0 ' "$T/repub.err" || { cat "$T/repub.err"; fail "publish after reindex wrote messages"; }
"$CIFEED" -d "$M/data" feed verify >/dev/null || fail "verify mirror"

# new results on the rebuilt store are follow-ups, not repeats
cat >"$T/late.json" <<'EOF2'
{"version":{"major":5,"minor":3},"tests":[{"id":"gen:t0_0_1","build_id":"gen:b0_0","origin":"gen","misc":{"late":true}}]}
EOF2
"$CIFEED" -d "$M/data" ingest "$T/late.json" >/dev/null || fail "late ingest"
"$CIFEED" -d "$M/data" feed publish --topic all 2>"$T/late.err" || fail "late publish"
grep -q 'messages=1 followups=1' "$T/late.err" || { cat "$T/late.err"; fail "late result was not one follow-up"; }
"$CIFEED" -d "$M/data" feed verify all >/dev/null || fail "verify after late follow-up"

# reindex refuses a store that already has results
expect_rc 2 "$CIFEED" -d "$M/data" feed reindex 2>/dev/null
pass
