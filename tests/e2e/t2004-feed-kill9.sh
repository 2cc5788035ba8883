#!/usr/bin/env bash
# t2004-feed-kill9.sh - kill -9 at any point of publishing: no duplicate, no loss.
#
# Publishing passes are killed at random moments (planning, rendering,
# packing, ref update, the final commit) over and over, across two ingest
# rounds; then one pass runs to the end.  Each feed must hold every unit
# revision exactly once (unique Message-IDs, public-inbox-index without
# duplicate warnings, as many messages as the publisher recorded), and the
# feeds alone must rebuild the same store (nothing lost).
source "$(dirname "$0")/lib.sh"

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<'EOF2'
[feed]
	address = ci@example.org
	settle = 0
	epoch-size = 150k
[topic "fails"]
	filter = status:FAIL
EOF2
python3 "$SRCDIR/tests/e2e/feedgen.py" "$T/gen" --checkouts 40 --builds 4 --tests 5 --rounds 3 --seed 11 ||
	fail "generate"

kills=0
# Kill points are drawn as a fraction of how long the same pass takes when
# left alone (timed on a copy of the data directory just before), so the
# kills land inside the pass on fast and slow machines alike.
crash_publish() { # N: N killed passes at random points
	local i pid full
	for i in $(seq 1 "$1"); do
		rm -rf "$T/probe" && cp -a "$T/data" "$T/probe"
		full=$(run_ms "$CIFEED" -d "$T/probe" feed publish) || fail "timing a publishing pass"
		cf_bg feed publish 2>>"$T/killed.err"
		pid=$CF_PID
		sleep_ms $((full * (5 + RANDOM % 76) / 100)) # 5-80% of the pass
		if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
		wait "$pid" 2>/dev/null
	done
}
for r in 0 1 2; do
	cf ingest "$T/gen-$r.json" >/dev/null || fail "ingest $r"
	crash_publish 6
done
note "killed $kills publishing passes"
[ "$kills" -ge 6 ] || fail "too few passes were killed mid-way ($kills)"
cf feed publish 2>"$T/final.err" || { cat "$T/final.err"; fail "final publish"; }
cf feed publish 2>"$T/idle.err" || fail "idle publish"
grep -q 'messages=0 ' "$T/idle.err" || { cat "$T/idle.err"; fail "nothing left should mean no message"; }

cf feed verify >"$T/verify.out" || { cat "$T/verify.out"; fail "verify (duplicates?)"; }
DB=$T/data/cifeed.db
[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM feed_messages WHERE state = 'planned'")" = 0 ] ||
	fail "planned messages left behind"
[ "$(sqlite3 "$DB" "SELECT COUNT(*) FROM feed_topics WHERE pending_position IS NOT NULL")" = 0 ] ||
	fail "a topic still has a pending position"
export PI_CONFIG="$HOME/pi-config"
: >"$PI_CONFIG"
for t in all fails; do
	F=$T/data/feeds/$t
	public-inbox-index "$F" >"$T/idx.out" 2>&1 || { cat "$T/idx.out"; fail "index $t"; }
	if grep -Ei '^E:|duplicate|error|warn' "$T/idx.out"; then fail "index $t complained"; fi
	indexed=$(sqlite3 "$F/msgmap.sqlite3" 'SELECT COUNT(*) FROM msgmap')
	recorded=$(sqlite3 "$DB" "SELECT COUNT(*) FROM feed_messages WHERE topic = '$t' AND state = 'published'")
	revs=$(sqlite3 "$DB" "SELECT SUM(revs) FROM feed_units WHERE topic = '$t'")
	commits=0
	for e in "$F"/git/*.git; do
		commits=$((commits + $(git --git-dir="$e" rev-list --count master)))
		git --git-dir="$e" fsck --strict --no-dangling >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck $e"; }
	done
	note "$t: $commits commits, $indexed indexed, $recorded recorded, $revs unit revisions"
	[ "$commits" = "$indexed" ] && [ "$indexed" = "$recorded" ] && [ "$recorded" = "$revs" ] ||
		fail "$t: commits/indexed/recorded/revisions disagree"
done

# nothing lost: the feeds alone rebuild the same store
cf export -o "$T/before.json" || fail "export"
"$CIFEED" -d "$T/m" init >/dev/null || fail "init 2"
cp "$T/data/cifeed.conf" "$T/m/"
cp -r "$T/data/feeds/." "$T/m/feeds/"
"$CIFEED" -d "$T/m" feed reindex 2>/dev/null || fail "reindex"
"$CIFEED" -d "$T/m" export -o "$T/after.json" || fail "export 2"
cmp "$T/before.json" "$T/after.json" || fail "results lost between store and feeds"
pass
