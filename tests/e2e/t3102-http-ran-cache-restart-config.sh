#!/usr/bin/env bash
# t3102: what the /api/v1/ran answer cache must never carry over: two daemons on two
# data directories holding different results for the same revisions answer each from
# its own store; a daemon restarted after an ingest it did not see answers from the
# store, not from what it had cached; [serve] ran-cache-size = 0 turns the cache off
# (right answers, no hits) and SIGHUP turns it back on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ran_cache_lib.sh"

D1=$T/data D2=$T/data2
cf init >/dev/null 2>&1 || fail "init 1"
"$CIFEED" -d "$D2" init >/dev/null 2>&1 || fail "init 2"
git config -f "$D2/cifeed.conf" serve.listen "127.0.0.1:$(free_port)"
for d in "$D1" "$D2"; do
	git config -f "$d/cifeed.conf" serve.inline-budget 1000
	git config -f "$d/cifeed.conf" serve.spool false
	"$CIFEED" -d "$d" ingest "$RC_DATA/base.json" >/dev/null 2>&1 || fail "ingest base into $d"
done
# the second store knows more about A and B
"$CIFEED" -d "$D2" ingest "$RC_DATA/test-a.json" "$RC_DATA/build-b.json" >/dev/null 2>&1 ||
	fail "ingest into $D2"

rc_serve "$D1"
S1=$SERVE U1=$U
rc_warm
rc_serve "$D2"
S2=$SERVE U2=$U
rc_warm
for rev in "$RC_A:" "$RC_B:"; do
	s=$(rc_short "$rev")
	U=$U1 rc_get "one-$s" "$rev"
	U=$U2 rc_get "two-$s" "$rev"
	[ "$(jq -r .count "$T/one-$s.json"):$(jq -r .count "$T/two-$s.json")" = "1:2" ] ||
		fail "$s: the two daemons should answer from their own stores: $(jq -c .tests "$T/one-$s.json") / $(jq -c .tests "$T/two-$s.json")"
	[ "$(cat "$T/one-$s.etag")" != "$(cat "$T/two-$s.etag")" ] || fail "$s: one ETag for two answers"
done

# ---- restart: the first daemon stops with A and B cached, the store changes meanwhile
U=$U1
rc_remember
kill -TERM "$S1"
wait "$S1" || fail "serve 1 exited $?"
cf ingest "$RC_DATA/test-a.json" "$RC_DATA/build-b.json" >/dev/null 2>&1 || fail "ingest while stopped"
rc_serve "$D1"
S1=$SERVE
# shellcheck disable=SC2086
rc_check "restart" "$RC_A:" "$RC_B:"
for rev in "$RC_A:" "$RC_B:"; do
	s=$(rc_short "$rev")
	cmp -s "$T/after-$s.json" "$T/two-$s.json" || fail "$s: same data, different answers"
	[ "$(cat "$T/after-$s.etag")" = "$(cat "$T/two-$s.etag")" ] || fail "$s: same answer, different ETags"
done

# ---- ran-cache-size = 0: no cache, still right
git config -f "$D1/cifeed.conf" serve.ran-cache-size 0
kill -HUP "$S1"
wait_for grep -q "event=config.reloaded" "$T/serve.log"
[ "$(rc_metric cifeed_ran_cache_max_bytes)" = 0 ] || fail "max bytes after reload: $(rc_metric cifeed_ran_cache_max_bytes)"
[ "$(rc_metric cifeed_ran_cache_entries)" = 0 ] || fail "a size of 0 must empty the cache"
h0=$(rc_hits)
m0=$(rc_metric 'cifeed_ran_cache_lookups_total{result="miss"}')
rc_remember
cf ingest "$RC_DATA/fill-a.json" >/dev/null 2>&1 || fail "ingest fill-a"
rc_check "cache off" "$RC_A:"
[ "$(rc_hits)" = "$h0" ] || fail "hits with the cache off: $h0 -> $(rc_hits)"
# off means not consulted at all (no sync, no miss), not looked up and ignored
m1=$(rc_metric 'cifeed_ran_cache_lookups_total{result="miss"}')
[ "$m1" = "$m0" ] || fail "misses with the cache off: $m0 -> $m1"
# and back on: answers are cached again
git config -f "$D1/cifeed.conf" serve.ran-cache-size 1048576
kill -HUP "$S1"
reloads() { [ "$(grep -c "event=config.reloaded" "$T/serve.log")" -ge "$1" ]; }
wait_for reloads 2
[ "$(rc_metric cifeed_ran_cache_max_bytes)" = 1048576 ] || fail "max bytes after the second reload"
rc_warm
# an unknown or negative size is refused with the file and key named, the daemon keeps running
git config -f "$D1/cifeed.conf" serve.ran-cache-size -1
kill -HUP "$S1"
wait_for grep -q "reload_failed.*ran-cache-size" "$T/serve.log"
kill -0 "$S1" || fail "daemon died on a bad ran-cache-size"
[ "$(rc_metric cifeed_ran_cache_max_bytes)" = 1048576 ] || fail "a rejected reload changed the size"

for p in "$S1" "$S2"; do
	kill -TERM "$p"
	wait "$p" || fail "serve exited $?: $(tail -5 "$T/serve.log")"
done
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
