#!/usr/bin/env bash
# kill -9 at random moments of a large ingest leaves the whole submission or
# none of it; the next run completes it and nothing is duplicated.
source "$(dirname "$0")/lib.sh"
cf init >/dev/null || fail init
python3 "$SRCDIR/tests/bench/ingest/gen.py" "$T/gen" 1 60000 >/dev/null || fail "generator"
big="$T/gen/kcidb-0000.json"
want_tests=60000
tests_now() { sqlite3 "$T/data/cifeed.db" "select count(*) from tests"; }

# time one uninterrupted run, then spread the kills over 0..160% of it
dur_ms=$(run_ms cf ingest -q "$big") || fail "timing run"
note "uninterrupted ingest: $dur_ms ms"

seen_none=0 seen_all=0
for trial in 1 2 3 4 5 6 7 8; do
	rm -rf "$T/data" && cf init >/dev/null
	"$CIFEED" -d "$T/data" ingest -q "$big" &
	pid=$!
	# spread the kills over the run: parsing, writing, committing, after
	at=$(( dur_ms * trial * 16 / 80 + RANDOM % 50 ))
	sleep_ms "$at"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	n=$(tests_now)
	case "$n" in
		0) seen_none=$((seen_none + 1)) ;;
		"$want_tests") seen_all=$((seen_all + 1)) ;;
		*) fail "trial $trial: partial submission after kill -9: $n tests" ;;
	esac
	subs=$(sqlite3 "$T/data/cifeed.db" "select count(*) from submissions")
	[ "$subs" -le 1 ] || fail "trial $trial: $subs submissions"
	[ "$n" = 0 ] && [ "$subs" != 0 ] && fail "trial $trial: submission recorded without its objects"
	# the re-run completes it (or recognises it) without duplicates
	cf ingest -q "$big" || fail "trial $trial: re-run failed"
	[ "$(tests_now)" = "$want_tests" ] || fail "trial $trial: $(tests_now) tests after re-run"
	[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from submissions")" = 1 ] || fail "trial $trial: duplicate submission"
	sqlite3 "$T/data/cifeed.db" "pragma integrity_check" | grep -qx ok || fail "trial $trial: integrity"
done
note "kills before commit: $seen_none, after: $seen_all"
pass
