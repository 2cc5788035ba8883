#!/usr/bin/env bash
# cifeed serve watches spool/kcidb/: files renamed into it are ingested and
# moved to done/, rejected ones to failed/ with NAME.err; files present at
# start-up are picked up; SIGTERM stops it cleanly; a second copy is a no-op.
source "$(dirname "$0")/lib.sh"
K="$FIXTURES/kcidb"
cf init >/dev/null || fail init
S="$T/data/spool/kcidb"
# a file waiting before the daemon starts
cp "$K/kcidb-sample-minimal-v5.3.json" "$S/.early.tmp" && mv "$S/.early.tmp" "$S/early.json"

cf_bg serve 2>"$T/serve.log"
pid=$CF_PID
wait_for test -f "$S/done/early.json"

drop() { cp "$1" "$S/.$2.tmp" && mv "$S/.$2.tmp" "$S/$2"; }
drop "$K/kcidb-sample-full-v5.3.json" full.json
drop "$K/kcidb-sample-invalid-v5.3.json" bad.json
wait_for test -f "$S/done/full.json"
wait_for test -f "$S/failed/bad.json.err"
[ -f "$S/failed/bad.json" ] || fail "rejected file not moved to failed/"
grep -q "bad.json: rejected, 9 errors" "$S/failed/bad.json.err" || fail ".err lacks the reason: $(cat "$S/failed/bad.json.err")"
grep -q "start_time: 'yesterday'" "$S/failed/bad.json.err" || fail ".err lacks the error list"
# a temp file is never touched while being written
printf '{"version":' >"$S/.partial.tmp"
sleep 1
[ -f "$S/.partial.tmp" ] || fail "an in-progress dot file was taken"
# the same bytes again: a no-op, still moved to done/ (under a new name)
drop "$K/kcidb-sample-full-v5.3.json" full.json
wait_for test -f "$S/done/full.json.1"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from submissions")" = 2 ] || fail "duplicate submission recorded"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from tests")" = 6 ] || fail "tests in store"
grep -q "event=spool.ingested file=full.json" "$T/serve.log" || fail "no key=value log line for the ingest"
grep -q "event=spool.rejected file=bad.json" "$T/serve.log" || fail "no log line for the rejection"
grep -q "event=spool.duplicate file=full.json" "$T/serve.log" || fail "no log line for the duplicate"

# while the daemon runs, the CLI can read (WAL) 
cf query ran --commit 052d534373b7ed33712a63d5e17b2b6cdbce84fd >/dev/null || fail "query while serving"

# SIGHUP with a broken config keeps running on the old one
cp "$T/data/cifeed.conf" "$T/conf.bak"
printf '[serve]\n\tbogus = 1\n' >>"$T/data/cifeed.conf"
kill -HUP $pid
wait_for grep -q "event=config.reload_failed" "$T/serve.log"
kill -0 $pid || fail "daemon died on a bad reload"
cp "$T/conf.bak" "$T/data/cifeed.conf"
kill -HUP $pid
wait_for grep -q "event=config.reloaded" "$T/serve.log"

kill -TERM $pid
wait $pid; rc=$?
[ $rc = 0 ] || fail "serve exited $rc on SIGTERM: $(tail -5 "$T/serve.log")"
grep -q "event=serve.stopped" "$T/serve.log" || fail "no clean stop logged"
grep -qi "sanitizer" "$T/serve.log" && fail "sanitizer report: $(cat "$T/serve.log")"

# SIGINT too
cf_bg serve 2>"$T/serve2.log"
pid=$CF_PID
wait_for grep -q "event=serve.ready" "$T/serve2.log"
kill -INT $pid
wait $pid || fail "serve exited $? on SIGINT"
pass
