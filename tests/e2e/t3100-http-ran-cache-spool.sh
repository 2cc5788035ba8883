#!/usr/bin/env bash
# t3100: the /api/v1/ran answer cache (core/ran_cache.h) of a running `cifeed serve`
# while the daemon itself ingests from its spool.  Before every submission each
# revision's answer is cached (the second ask is a hit in /metrics); after it, every
# answer equals what the store says now, the revisions the submission changed (a new
# test, a field filled in, a new build, an orphan test whose checkout finally arrives, a
# checkout gaining its patchset hash) have a new body and ETag, and the others keep
# theirs (304 on If-None-Match).  Data: tests/e2e/data/ran-cache/.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ran_cache_lib.sh"

cf init >/dev/null 2>&1 || fail "init"
# lookups on the loop, as in production (a generous budget for sanitizers)
git config -f "$T/data/cifeed.conf" serve.inline-budget 1000
cf ingest "$RC_DATA/base.json" >/dev/null 2>&1 || fail "ingest base.json"
rc_serve
S="$T/data/spool/kcidb"
drop() { cp "$1" "$S/.$2.tmp" && mv "$S/.$2.tmp" "$S/$2"; }

# the base: an answer per revision, served from the cache on the second ask
rc_get a "$RC_A:"
[ "$(jq -r '[.tests[].test_id] | join(",")' "$T/a.json")" = "rc:tA1" ] || fail "base answer: $(cat "$T/a.json")"
rc_warm

# STEP FILE | the revisions whose answer it changes (tests/e2e/data/README.md)
steps=(
	"test-a.json|$RC_A:"
	"fill-a.json|$RC_A:"
	"null-status-a.json|"
	"build-b.json|$RC_B:"
	"orphan-test.json|"
	"orphan-build.json|"
	"orphan-checkout.json|$RC_C:"
	"patchset-fill.json|$RC_D: $RC_D:$RC_P2"
	"base-again.json|"
)
for st in "${steps[@]}"; do
	f=${st%%|*}
	rc_warm
	rc_remember
	drop "$RC_DATA/$f" "$f"
	wait_for test -f "$S/done/$f"
	# shellcheck disable=SC2086 # the list of changed revisions
	rc_check "$f" ${st#*|}
done

# what the answers say now, value by value
rc_get a "$RC_A:"
[ "$(jq -r '[.tests[] | .test_id + "=" + .status + "," + (.log_url // "-")] | join(" ")' "$T/a.json")" = \
	"rc:tA1=PASS,https://ci.example.org/rc/tA1.log rc:tA2=FAIL,-" ] || fail "A now: $(cat "$T/a.json")"
rc_get c "$RC_C:"
[ "$(jq -r '[.tests[].test_id] | join(",")' "$T/c.json")" = "rc:tX1" ] || fail "C now: $(cat "$T/c.json")"
rc_get d "$RC_D:"
rc_get dp "$RC_D:$RC_P2"
[ "$(jq -r .count "$T/d.json"):$(jq -r '[.tests[].test_id] | join(",")' "$T/dp.json")" = "0:rc:tD1" ] ||
	fail "D moved to its patchset: $(cat "$T/d.json") / $(cat "$T/dp.json")"

# the counters tell what happened: every change dropped answers, none went stale
[ "$(rc_metric cifeed_ran_cache_invalidations_total)" -ge 6 ] ||
	fail "invalidations: $(rc_metric cifeed_ran_cache_invalidations_total)"
[ "$(rc_metric cifeed_ran_cache_flushes_total)" = 0 ] || fail "the cache was flushed"
[ "$(rc_metric cifeed_ran_cache_entries)" -ge 6 ] || fail "entries: $(rc_metric cifeed_ran_cache_entries)"

kill -TERM "$SERVE"
wait "$SERVE" || fail "serve exited $?: $(tail -5 "$T/serve.log")"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
