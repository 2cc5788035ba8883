#!/usr/bin/env bash
# t3101: the /api/v1/ran answer cache of a running `cifeed serve` when another process
# writes the store: every submission of a separate `cifeed ingest` (no spool, no signal
# to the daemon) shows in the daemon's next answer, body and ETag; then `cifeed ingest`
# killed with SIGKILL at various points of a large submission: whatever it left (all of
# the submission or none of it, never a part) is exactly what the cached answer says,
# and the same submissions ingested in full show in the answers cached meanwhile.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ran_cache_lib.sh"

cf init >/dev/null 2>&1 || fail "init"
git config -f "$T/data/cifeed.conf" serve.inline-budget 1000
git config -f "$T/data/cifeed.conf" serve.spool false
cf ingest "$RC_DATA/base.json" >/dev/null 2>&1 || fail "ingest base.json"
rc_serve
rc_warm

steps=(
	"test-a.json|$RC_A:"
	"null-status-a.json|"
	"fill-a.json|$RC_A:"
	"orphan-test.json|"
	"orphan-build.json|"
	"orphan-checkout.json|$RC_C:"
	"build-b.json|$RC_B:"
	"patchset-fill.json|$RC_D: $RC_D:$RC_P2"
)
for st in "${steps[@]}"; do
	f=${st%%|*}
	rc_warm
	rc_remember
	cf ingest "$RC_DATA/$f" >"$T/ingest.out" 2>&1 || fail "ingest $f: $(cat "$T/ingest.out")"
	# shellcheck disable=SC2086 # the list of changed revisions
	rc_check "$f" ${st#*|}
done

# ---- SIGKILL during a large submission.  Each round has its own revision E (so no
# answer grows past one large submission): a checkout, a build and one test, cached;
# then 10,000 more tests for E's build from an ingest killed after DELAY seconds.
N=10000
rev_e() { printf 'e%039x' "$1"; }
small() { # I: E's checkout, build and first test
	jq -n --arg c "$(rev_e "$1")" --arg i "$1" '{version: {major: 5, minor: 3},
		checkouts: [{id: "rc:cE\($i)", origin: "rc", git_commit_hash: $c}],
		builds: [{id: "rc:bE\($i)", checkout_id: "rc:cE\($i)", origin: "rc", architecture: "x86_64"}],
		tests: [{id: "rc:tE\($i)", build_id: "rc:bE\($i)", origin: "rc", path: "boot",
			status: "PASS"}]}' >"$T/e$1.json"
}
big() { # I: N more tests for E's build
	jq -n --arg i "$1" --argjson n $N '{version: {major: 5, minor: 3},
		tests: [range($n) | {id: "rc:big\($i)-\(.)", build_id: "rc:bE\($i)", origin: "rc",
		path: "stress.case\(.)", status: "PASS", start_time: "2026-11-01T12:00:00Z"}]}' >"$T/big$1.json"
}
# check_e I: E's cached answer is the store's, all of the large submission or none of it
check_e() {
	local e
	e=$(rev_e "$1")
	rc_get "e$1" "$e:"
	curl -sf -o "$T/eref$1.json" "$U/api/v1/ran?commit=$e&origin=rc" || fail "reference lookup"
	diff <(rc_tests "$T/eref$1.json") <(rc_tests "$T/e$1.json") >"$T/diff" ||
		fail "round $1: stale answer for E: $(head -20 "$T/diff")"
	ecount=$(jq -r .count "$T/e$1.json")
	[ "$ecount" = 1 ] || [ "$ecount" = $((N + 1)) ] ||
		fail "round $1: E has $ecount tests (a part of a submission)"
}
# kill points from the measured length of one uninterrupted large ingest (on a copy),
# 5% to 95% of it and one well past its end, so kills land inside it on any machine
small 0
big 0
cp -a "$T/data" "$T/probe"
"$CIFEED" -d "$T/probe" ingest "$T/e0.json" >/dev/null 2>&1 || fail "probe ingest"
big_ms=$(run_ms "$CIFEED" -d "$T/probe" ingest "$T/big0.json") || fail "probe ingest big"
rm -rf "$T/probe"
committed=0 lost=0 i=0
for pct in 5 20 35 50 65 80 95 300; do
	delay_ms=$((big_ms * pct / 100))
	i=$((i + 1))
	small $i
	big $i
	cf ingest "$T/e$i.json" >"$T/ingest.out" 2>&1 || fail "ingest e$i: $(cat "$T/ingest.out")"
	rc_get "e$i-0" "$(rev_e $i):"
	h0=$(rc_hits)
	rc_get "e$i-0" "$(rev_e $i):"
	[ "$(rc_hits)" = $((h0 + 1)) ] || fail "round $i: E's answer is not cached"
	"$CIFEED" -d "$T/data" ingest "$T/big$i.json" >/dev/null 2>&1 &
	ip=$!
	sleep_ms "$delay_ms"
	kill -KILL $ip 2>/dev/null
	wait $ip 2>/dev/null
	check_e $i
	if [ "$ecount" = 1 ]; then
		lost=$((lost + 1))
	else
		committed=$((committed + 1))
		[ "$(cat "$T/e$i-0.etag")" != "$(cat "$T/e$i.etag")" ] || fail "round $i: new content, old ETag"
	fi
done
note "SIGKILL: $committed large submissions committed, $lost rolled back (ingest ${big_ms} ms)"
# both outcomes must have been seen, or the check above proved nothing about one of them
[ "$lost" -ge 1 ] || fail "no kill landed before a commit (ingest ${big_ms} ms)"
[ "$committed" -ge 1 ] || fail "no large submission committed (ingest ${big_ms} ms)"
# the same files again, uninterrupted: every one lands and shows in the cached answers
for j in $(seq $i); do
	check_e $j # cached again
	cf ingest "$T/big$j.json" >"$T/ingest.out" 2>&1 || fail "ingest big$j again: $(cat "$T/ingest.out")"
done
for j in $(seq $i); do
	check_e $j
	[ "$ecount" = $((N + 1)) ] || fail "round $j: E has $ecount tests after the full ingest"
done

kill -TERM "$SERVE"
wait "$SERVE" || fail "serve exited $?: $(tail -5 "$T/serve.log")"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
