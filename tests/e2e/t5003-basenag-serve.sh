#!/usr/bin/env bash
# t5003: `cifeed serve` runs basenag (service "bots", after intake): the
# enabled bot's passes run on the daemon's worker every interval, deliver
# through the real MTA, and a restarted daemon sends nothing twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mta.sh"

mta_start
cf init >/dev/null || fail init
cf ingest --format mbox "$SRCDIR/tests/data/bots/skip-rules.mbox" >/dev/null 2>&1 || fail ingest
cat >>"$T/data/cifeed.conf" <<CONF
[serve]
	listen = 127.0.0.1:$(free_port)
[bot "basenag"]
	enabled = true
	dry-run = false
	from = cifeed basenag <$MTA_BOT>
	smtp = smtp://127.0.0.1:$MTA_PORT
	settle = 0
	interval = 1s
	max-age = 100000d
	rate-limit = 2
CONF
delivered() { mta_quiet; [ "$(mta_files all | wc -l)" = "$1" ]; }
cf_bg serve 2>"$T/serve1.log"
wait_for delivered 2
kill -TERM "$CF_PID"; wait "$CF_PID" || fail "serve exit status $?"
grep -q 'event=bot.pass bot=basenag .* sent=2' "$T/serve1.log" || fail "no pass logged"
# the rate limit (2 a day) holds across restarts: nothing more, nothing twice
cf_bg serve 2>"$T/serve2.log"
sleep 3
kill -TERM "$CF_PID"; wait "$CF_PID" || fail "serve exit status $?"
delivered 2 || fail "a restarted daemon sent more: $(mta_files all | wc -l)"
grep -q 'event=bot.error' "$T/serve1.log" "$T/serve2.log" && fail "bot errors in serve"
[ "$(sqlite3 "$T/data/cifeed.db" "SELECT group_concat(state) FROM bot_messages")" = "sent,sent" ] ||
	fail "states"
pass
