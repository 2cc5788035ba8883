#!/usr/bin/env bash
# t5002: the send-state machine, window by window, against a real MTA
# (exim4 on 127.0.0.1, tests/e2e/mta.sh).  The pass kills itself with SIGKILL
# at each point (CIFEED_TEST_CRASH): after planning, after the outbox flush,
# in 'sending', in 'submitted' (before the end of data) and after the server
# accepted.  With the bot's mailbox (copy-self) every case ends with exactly
# one delivery; without it, the documented at-most-once edge shows: a crash
# after the end of data is 'unconfirmed' and never resent.  Then: an
# unreachable server (retried later), a recipient the MTA refuses (rejected,
# never retried), a "stop" reply and the opt-out list.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mta.sh"

mta_start
NORA=20260802100000.1-nora@example.org

setup() { # DIR MAILBOX(yes|no)
	rm -rf "$T/data"
	cf init >/dev/null || fail init
	cf ingest --format mbox "$SRCDIR/tests/data/bots/skip-rules.mbox" >/dev/null 2>&1 || fail ingest
	cat >>"$T/data/cifeed.conf" <<CONF
[bot "basenag"]
	enabled = true
	dry-run = false
	from = cifeed basenag <$MTA_BOT>
	smtp = smtp://127.0.0.1:$MTA_PORT
	settle = 0
	rate-limit = 1
	confirm-wait = 2s
	opt-out-file = $T/optout
CONF
	printf '# opted out by mail\notto@example.com\n' >"$T/optout"
	[ "$2" = yes ] && git config -f "$T/data/cifeed.conf" bot.basenag.mailbox "$MTA/mail/bot"
	true
}
state() { sqlite3 "$T/data/cifeed.db" "SELECT state FROM bot_messages WHERE candidate = 'series:$NORA'"; }
copies() { # deliveries of the nag to Nora so far
	mta_quiet
	grep -l "^In-Reply-To: <$NORA>" $(mta_files all) /dev/null 2>/dev/null | wc -l
}
run() { cf bot basenag --since 2026-08-01 >>"$T/run.out" 2>>"$T/run.err"; }

for mb in yes no; do
	for point in planned recorded sending submitted accepted; do
		rm -rf "$MTA/mail/all" "$MTA/mail/bot"
		setup "$T/data" "$mb"
		CIFEED_TEST_CRASH=$point cf bot basenag --since 2026-08-01 >"$T/crash.out" 2>&1
		rc=$?
		[ "$rc" = 137 ] || { cat "$T/crash.out"; fail "$point/$mb: not killed (exit $rc)"; }
		at=$(state)
		# recover: passes until the message is settled (confirm-wait 2s)
		for i in 1 2 3 4; do
			run || { cat "$T/run.err"; fail "$point/$mb: pass after the crash"; }
			case "$(state)" in sent | unconfirmed) break ;; esac
			sleep 2.5
		done
		n=$(copies)
		final=$(state)
		note "crash at $point (mailbox $mb): state then '$at', now '$final', $n delivered"
		case "$mb/$point" in
		no/accepted)
			# accepted, then killed before 'sent': at most once, not resent
			[ "$final/$n" = "unconfirmed/1" ] || fail "$point/$mb: $final with $n copies" ;;
		no/submitted)
			# killed before the end of data: never accepted, and not resent (the edge)
			[ "$final/$n" = "unconfirmed/0" ] || fail "$point/$mb: $final with $n copies" ;;
		*)
			[ "$final/$n" = "sent/1" ] || fail "$point/$mb: $final with $n copies" ;;
		esac
		# the outbox holds it exactly once in every case
		c=$(git --git-dir="$T/data/bots/basenag/outbox/git/0.git" log --format=%H | wc -l)
		[ "$c" = 1 ] || fail "$point/$mb: $c outbox commits"
	done
done

# --- an unreachable server: 'failed', retried by a later pass
rm -rf "$MTA/mail/all" "$MTA/mail/bot"
setup "$T/data" yes
port=$(free_port)
git config -f "$T/data/cifeed.conf" bot.basenag.smtp "smtp://127.0.0.1:$port"
run || fail "pass against nothing"
[ "$(state)" = failed ] || fail "unreachable: state $(state)"
git config -f "$T/data/cifeed.conf" bot.basenag.smtp "smtp://127.0.0.1:$MTA_PORT"
run || fail "pass"
[ "$(state)" = failed ] || fail "retried before its time"
cf bot basenag --since 2026-08-01 --now 2099-01-01 >/dev/null 2>&1 || fail "pass later"
# by then it is older than max-delay: a stale nag is dropped, not sent
[ "$(state)" = expired ] || fail "stale: state $(state)"
[ "$(copies)" = 0 ] || fail "a stale nag was sent"

# --- a recipient the MTA refuses: rejected, never retried
rm -rf "$MTA/mail/all" "$MTA/mail/bot"
setup "$T/data" yes
echo "nora@example.org" >"$MTA/reject"
run || fail "pass (rejected)"
: >"$MTA/reject"
[ "$(state)" = rejected ] || fail "refused: state $(state)"
grep -q 'RCPT failed: 550' <(cf bot basenag status) || fail "status lacks the SMTP answer"
run || fail "pass after rejection"
[ "$(state)" = rejected ] && [ "$(copies)" = 0 ] || fail "a rejected message was retried"

# --- "stop": Nora answers the nag, Sam is then never written to
rm -rf "$MTA/mail/all" "$MTA/mail/bot"
setup "$T/data" yes
git config -f "$T/data/cifeed.conf" bot.basenag.rate-limit 10
git config -f "$T/data/cifeed.conf" bot.basenag.period 1s
git config -f "$T/data/cifeed.conf" bot.basenag.period-series 0
run || fail "pass (stop)"
[ "$(copies)" = 1 ] || fail "no nag to answer"
nag_id=$(sqlite3 "$T/data/cifeed.db" "SELECT msgid FROM bot_messages WHERE candidate = 'series:$NORA'")
cat >"$T/stop.eml" <<EOF
From: Nora Neuling <nora@example.org>
To: cifeed basenag <$MTA_BOT>
Subject: Re: Re: [PATCH] leds: a fix
Date: Sun, 22 Nov 2026 12:00:00 +0000
Message-ID: <stop-1@example.org>
In-Reply-To: <$nag_id>
References: <20260802100000.1-nora@example.org> <$nag_id>

Stop, please.

On Sun, 22 Nov 2026, cifeed basenag wrote:
> To stop these, reply "stop".
EOF
curl -sS "smtp://127.0.0.1:$MTA_PORT" --mail-from nora@example.org --mail-rcpt "$MTA_BOT" \
	-T "$T/stop.eml" || fail "sending the stop reply"
# an auto-reply quoting "stop" changes nothing
sed -e 's/^Message-ID: .*/Message-ID: <ooo-1@example.org>/' -e 's/^Stop, please./I am out of the office./' \
	-e 's/^From: .*/From: Sam Second <sam@example.org>/' -e '/^Subject:/a Auto-Submitted: auto-replied' \
	"$T/stop.eml" >"$T/ooo.eml"
curl -sS "smtp://127.0.0.1:$MTA_PORT" --mail-from sam@example.org --mail-rcpt "$MTA_BOT" \
	-T "$T/ooo.eml" || fail "sending the auto-reply"
mta_quiet
# Nora's "another fix" would now be due (period 1s), but she said stop
sleep 1.1
run || fail "pass after stop"
grep -q 'replies 2, opt-outs 1' "$T/run.out" || fail "stop reply not read: $(tail -1 "$T/run.out")"
[ "$(sqlite3 "$T/data/cifeed.db" "SELECT address || ' ' || source || ' ' || msgid FROM bot_optouts")" = \
	"nora@example.org reply stop-1@example.org" ] || fail "opt-out not recorded"
[ "$(sqlite3 "$T/data/cifeed.db" "SELECT action FROM bot_inbox WHERE msgid = 'ooo-1@example.org'")" = \
	auto-reply ] || fail "auto-reply not recognised"
cf bot basenag --dry-run --since 2026-08-01 --json >"$T/after.json" 2>/dev/null || fail report
python3 - "$T/after.json" <<'PY' || fail "opted-out after stop"
import json, sys
r = {e["msgid"]: e for e in json.load(open(sys.argv[1]))}
e = r["20260805100000.1-nora@example.org"]
assert e["reason"] == "opted-out" and 'replied "stop" (<stop-1@example.org>)' in e["detail"], e
PY
# and by hand, then through the file
cf bot basenag opt-out sam@example.org >/dev/null || fail "opt-out by hand"
expect_rc 2 cf bot basenag opt-out not-an-address
printf 'bogus line\n' >"$T/optout"
git config -f "$T/data/cifeed.conf" bot.basenag.opt-out-file "$T/optout"
expect_rc 4 cf bot basenag --since 2026-08-01 2>"$T/bad.err"
grep -q "optout:1: 'bogus line' is not an address" "$T/bad.err" || fail "bad opt-out file: $(cat "$T/bad.err")"
pass
