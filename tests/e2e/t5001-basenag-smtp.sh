#!/usr/bin/env bash
# t5001: basenag against a real MTA.  The linux-leds slice is read by intake,
# then basenag passes run against Debian's exim4 on 127.0.0.1 delivering into
# local Maildirs (tests/e2e/mta.sh) while being SIGKILLed at random moments.
# Afterwards exactly the nags that a Python reading of the mbox expects
# (tests/e2e/basenag_expect.py, none of cifeed's code) have been delivered:
# one per expected author, in reply to the right message, no second copy of
# any; more passes change nothing; the outbox feed holds the same messages
# and public-inbox indexes it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mta.sh"

MBOX=$FIXTURES/mail/leds-recent.mbox
SINCE=2026-04-01
mta_start
cf init >/dev/null || fail init
cf ingest --format mbox "$MBOX" >/dev/null 2>&1 || fail ingest
cat >>"$T/data/cifeed.conf" <<CONF
[bot "basenag"]
	enabled = true
	dry-run = false
	from = cifeed basenag <$MTA_BOT>
	smtp = smtp://127.0.0.1:$MTA_PORT
	docs-url = https://ci.example.org/basenag
	settle = 0
	period = 365d
	rate-limit = 1000
	mailbox = $MTA/mail/bot
	confirm-wait = 3s
CONF
python3 "$SRCDIR/tests/e2e/basenag_expect.py" "$MBOX" "$SINCE" >"$T/expect.txt" || fail expect
want=$(wc -l <"$T/expect.txt")
[ "$want" -ge 20 ] || fail "expected nags: only $want"
note "expecting $want nags"

# --- passes killed with SIGKILL at random moments
kills=0
for i in $(seq 1 8); do
	cf_bg bot basenag --since "$SINCE" >>"$T/killed.out" 2>>"$T/killed.err"
	sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 2.5), 2))')"
	if kill -9 "$CF_PID" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$CF_PID" 2>/dev/null
done
note "$kills passes killed"

# --- then passes until nothing is left in flight (a 'submitted' message
# waits confirm-wait for its copy before it may be resent)
for i in $(seq 1 6); do
	cf bot basenag --since "$SINCE" >"$T/pass$i.out" 2>"$T/pass$i.err" ||
		{ cat "$T/pass$i.err"; fail "pass $i"; }
	left=$(sqlite3 "$T/data/cifeed.db" "SELECT COUNT(*) FROM bot_messages WHERE state NOT IN \
		('sent', 'rejected', 'unconfirmed', 'cancelled', 'expired')")
	[ "$left" = 0 ] && break
	sleep 4
done
[ "$left" = 0 ] || fail "$left messages still in flight: $(cf bot basenag status)"
note "after the kills: $(grep -ho 'recovered [0-9]*, confirmed [0-9]*, resent [0-9]*' "$T"/pass*.out | tr '\n' ' ')"
mta_quiet
# another pass reads the copies; nothing is left unconfirmed by the kills
cf bot basenag --since "$SINCE" >"$T/final.out" 2>&1 || fail "final pass"
bad=$(sqlite3 "$T/data/cifeed.db" "SELECT state, COUNT(*) FROM bot_messages WHERE state <> 'sent' GROUP BY state")
[ -z "$bad" ] || fail "messages not sent: $bad"

# --- exactly the expected nags, each once
python3 - "$T/expect.txt" $(mta_files all) <<'PY' || fail "deliveries differ"
import email, sys
want = set(tuple(l.split()) for l in open(sys.argv[1]))
got, ids = [], []
for f in sys.argv[2:]:
    m = email.message_from_binary_file(open(f, "rb"))
    to = m["Envelope-to"].strip().lower()
    irt = m["In-Reply-To"].strip().strip("<>")
    got.append((to, irt))
    ids.append(m["Message-ID"])
    assert m["Auto-Submitted"] == "auto-generated", f
    assert m["To"].lower().endswith("<%s>" % to) or m["To"].lower() == to, (f, m["To"])
    assert m["References"].strip().strip("<>") == irt, f
    assert m["Cc"] is None and m["Bcc"] is None, f
    body = m.get_payload(decode=True).decode()
    assert 'reply "stop"' in body and "https://ci.example.org/basenag" in body, f
    assert "\n-- \nI am a bot" in body, f
if len(ids) != len(set(ids)):
    sys.exit("a second copy: %d deliveries, %d Message-IDs" % (len(ids), len(set(ids))))
if len(got) != len(set(got)):
    sys.exit("duplicate (recipient, in-reply-to)")
if set(got) != want:
    print("missing:", sorted(want - set(got)), file=sys.stderr)
    print("unexpected:", sorted(set(got) - want), file=sys.stderr)
    sys.exit(1)
print("%d nags delivered, as expected" % len(got))
PY
[ "$(mta_files bot | wc -l)" -ge "$want" ] || fail "the bot's copies are missing"

# --- more passes: nothing new
cf bot basenag --since "$SINCE" >/dev/null 2>&1 || fail "rerun"
cf bot basenag >/dev/null 2>&1 || fail "rerun without --since"
mta_quiet
[ "$(mta_files all | wc -l)" = "$want" ] || fail "a rerun sent more mail"

# --- the outbox feed: every message, recorded before it was sent, indexable
OB=$T/data/bots/basenag/outbox
[ -f "$OB/inbox.lock" ] || fail "no outbox"
export PI_CONFIG="$HOME/.public-inbox/config"
mkdir -p "$HOME/.public-inbox" && : >"$PI_CONFIG"
public-inbox-index -v "$OB" >"$T/idx.out" 2>&1 || { cat "$T/idx.out"; fail "public-inbox-index"; }
if grep -Ei '^E:|duplicate|error|warn' "$T/idx.out"; then fail "public-inbox-index complained"; fi
n=$(sqlite3 "$OB/msgmap.sqlite3" 'SELECT COUNT(*) FROM msgmap')
[ "$n" = "$want" ] || fail "outbox holds $n messages, expected $want"
sqlite3 "$OB/msgmap.sqlite3" 'SELECT mid FROM msgmap ORDER BY mid' >"$T/outbox-ids"
for f in $(mta_files all); do sed -n 's/^Message-ID: <\(.*\)>$/\1/p' "$f"; done | sort >"$T/sent-ids"
sort -o "$T/outbox-ids" "$T/outbox-ids"
cmp -s "$T/outbox-ids" "$T/sent-ids" || fail "outbox and deliveries differ"
git --git-dir="$OB/git/0.git" fsck --strict --no-dangling >/dev/null 2>&1 || fail "outbox fsck"
# no dry-run feed: the bot was live
[ -e "$T/data/bots/basenag/dry-run" ] && fail "dry-run feed written by a live bot"

# --- decisions are recorded once per series; status lists every message
d=$(sqlite3 "$T/data/cifeed.db" "SELECT COUNT(*) FROM bot_decisions WHERE decision = 'send'")
[ "$d" = "$want" ] || fail "$d send decisions"
[ "$(cf bot basenag status | grep -c '^sent ')" = "$want" ] || fail "status"
pass
