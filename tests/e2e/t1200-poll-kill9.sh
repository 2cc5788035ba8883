#!/usr/bin/env bash
# SIGKILL `cifeed serve` at random moments while it polls all four source
# types (24 trials; kills land at start-up, mid-walk, mid-commit, between
# cycles).  Each page commits with its cursor in one transaction, so after
# every kill the database is intact, and once polling completes the store is
# exactly that of an uninterrupted run (cifeed export compared byte for byte).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
TRIALS=${TRIALS:-24}

# slow answers stretch the first walk over seconds so kills land inside it
replay_delay 100
cf init >/dev/null || fail init
conf_all_sources
dur_ms=$(run_ms cf poll --once) || fail "reference poll: $(cf poll --once 2>&1 >/dev/null | tail -3)"
note "uninterrupted first poll: $dur_ms ms"
export_to "$T/ref.json"
mv "$T/data" "$T/ref"

cf init >/dev/null || fail init
conf_all_sources interval=1 backoff-max=2
units_before=0
progress=0
for trial in $(seq 1 "$TRIALS"); do
	cf_bg serve 2>>"$T/serve.log"
	pid=$CF_PID
	ms=$((50 + RANDOM % (dur_ms * 2 / 3 + 1)))
	sleep_ms "$ms"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	ok=$(sqlite3 "$T/data/cifeed.db" "pragma integrity_check" 2>&1)
	[ "$ok" = ok ] || fail "trial $trial: database damaged: $ok"
	units=$(sqlite3 "$T/data/cifeed.db" "select coalesce(sum(units), 0) from source_cursors")
	[ "$units" -gt "$units_before" ] && progress=$((progress + 1))
	units_before=$units
	# whatever is stored is whole: every build's checkout and every test's build is there
	orphans=$(sqlite3 "$T/data/cifeed.db" "select count(*) from builds b where not exists
		(select 1 from checkouts c where c.id = b.checkout_id)")
	[ "$orphans" = 0 ] || fail "trial $trial: $orphans builds without their checkout (half a page stored?)"
done
note "$TRIALS kills; $progress of them after some pages had been committed"
[ "$progress" -ge 3 ] || fail "the kills never let polling progress ($progress)"
grep -E 'ERROR: AddressSanitizer|runtime error' "$T/serve.log" && fail "sanitizer report"

# finish: the daemon runs to completion, then the store must be the reference
replay_delay 0
cf_bg serve 2>>"$T/serve.log"
pid=$CF_PID
for i in $(seq 1 120); do
	cf export -o "$T/now.json" 2>/dev/null && cmp -s "$T/now.json" "$T/ref.json" && break
	sleep 0.5
done
kill -TERM "$pid"; wait "$pid"
cmp -s "$T/now.json" "$T/ref.json" ||
	fail "store after kills differs: $(diff <(jq -S . "$T/ref.json") <(jq -S . "$T/now.json") | head -30)"
pass
