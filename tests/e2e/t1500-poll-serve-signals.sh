#!/usr/bin/env bash
# `cifeed serve` polls forever: SIGHUP reloads the sources (a new one
# starts, a removed one stops, a broken file is refused and the running
# configuration kept); what a poller stores is published within seconds,
# not at the next publish-interval; SIGTERM during a slow page stops at once
# and leaves that page uncommitted (whole or nothing); the next run finishes
# the job.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
cf init >/dev/null || fail init
git config -f "$T/data/cifeed.conf" serve.publish-interval 1h
source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:00:00 per-page=10 interval=1
cf_bg -v serve 2>"$T/serve.log" # -v: idle cycles are logged too
pid=$CF_PID
wait_for grep -q 'event=poll.cycle source=pw' "$T/serve.log"

# add a source: it starts without a restart
source_conf lab gitlab "$RURL" project=1 since=2016-01-01T00:00:00Z interval=1
kill -HUP "$pid"
wait_for grep -q 'event=poll.source_started source=lab' "$T/serve.log"
wait_for grep -q 'event=poll.cycle source=lab' "$T/serve.log"
# the pipelines lab stored reach the feed long before the hour is up
lab_line=$(grep -n 'event=poll.cycle source=lab' "$T/serve.log" | head -1 | cut -d: -f1)
published_after_lab() { tail -n +"$lab_line" "$T/serve.log" | grep -q 'event=publish.pass messages=[1-9]'; }
WAIT_SECS=30 wait_for published_after_lab
# an idle source's health is written at most every 10 minutes, not per cycle:
# three idle cycles of lab later (1 s apart) its last success time is the same
ok0=$(sqlite3 "$T/data/cifeed.db" "SELECT last_ok_at FROM source_state WHERE source = 'lab'")
[ -n "$ok0" ] || fail "no health recorded for lab"
idle_from=$(wc -l <"$T/serve.log")
idle_cycles() {
	[ "$(tail -n +"$idle_from" "$T/serve.log" | grep 'event=poll.cycle source=lab' |
		grep -c ' new=0 updated=0')" -ge 3 ]
}
WAIT_SECS=20 wait_for idle_cycles
ok1=$(sqlite3 "$T/data/cifeed.db" "SELECT last_ok_at FROM source_state WHERE source = 'lab'")
[ "$ok1" = "$ok0" ] || fail "idle cycles rewrote lab's health: $ok0 -> $ok1"
# a broken file is refused; polling goes on
cp "$T/data/cifeed.conf" "$T/good.conf"
printf '[source "bad"]\n\ttype = gitlab\n\tnot-a-key = 1\n' >>"$T/data/cifeed.conf"
kill -HUP "$pid"
wait_for grep -q 'event=config.reload_failed' "$T/serve.log"
grep 'event=config.reload_failed' "$T/serve.log" | grep -q "not-a-key" || fail "reload error does not name the key"
kill -0 "$pid" || fail "serve died on a bad config"
# remove pw: it stops
cp "$T/good.conf" "$T/data/cifeed.conf"
git config -f "$T/data/cifeed.conf" --remove-section source.pw
kill -HUP "$pid"
wait_for grep -q 'event=poll.source_stopped source=pw' "$T/serve.log"
n1=$(grep -c 'event=poll.cycle source=pw' "$T/serve.log")
sleep 2.5
n2=$(grep -c 'event=poll.cycle source=pw' "$T/serve.log")
[ "$n1" = "$n2" ] || fail "pw still polled after it was removed"
kill -TERM "$pid"; wait "$pid" || fail "serve exit status $?"

# SIGTERM in the middle of a slow page: the page is not stored, the exit is prompt
rm -rf "$T/data"; cf init >/dev/null
source_conf review gerrit "$RURL" since=2012-01-01T00:00:00Z per-page=100
replay_delay 3000
cf_bg serve 2>"$T/serve2.log"
pid=$CF_PID
wait_for grep -q 'event=poll.begin source=review\|event=poll.started' "$T/serve2.log"
sleep 1
start=$(date +%s%N)
kill -TERM "$pid"; wait "$pid" || fail "serve exit status $? after SIGTERM"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 2500 ] || fail "SIGTERM took $ms ms (a request in flight must be cancelled)"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from checkouts")" = 0 ] || fail "half a walk stored"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from source_cursors")" = 0 ] || fail "cursor without objects"
replay_delay 0
cf poll --once >/dev/null 2>&1 || fail "next run"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from checkouts")" -gt 0 ] || fail "next run stored nothing"
grep -E 'ERROR: AddressSanitizer|runtime error' "$T/serve.log" "$T/serve2.log" && fail "sanitizer report"
pass
