#!/usr/bin/env bash
# t5000: `cifeed bot basenag --dry-run` explains every decision.  One
# real-looking message or series per skip rule (tests/data/bots/skip-rules.mbox,
# b4's own series (git and b4 send layouts), the linux-leds slice), and the
# report must give each the right verdict, rule and explanation.  Then a real
# pass in dry-run mode records the would-be mail in the dry-run feed, sends
# nothing and decides each series once.
source "$(dirname "$0")/lib.sh"

B4=$FIXTURES/patches/b4
cf init >/dev/null || fail init
cat "$SRCDIR/tests/data/bots/skip-rules.mbox" "$B4/series-nobase.mbox" >"$T/in.mbox"
cf ingest --format mbox "$T/in.mbox" >/dev/null 2>&1 || fail "ingest"
cf ingest --format mbox "$FIXTURES/mail/leds-recent.mbox" >/dev/null 2>&1 || fail "ingest leds"
for f in "$B4"/b4-send-output/000*.eml; do # b4 send's layout: base-commit + change-id
	cf ingest --format mbox "$f" >/dev/null 2>&1 || fail "ingest $f"
done

git clone -q "$B4/b4repo.bundle" "$T/b4repo" || fail clone
git -C "$T/b4repo" fetch -q origin 'refs/tags/*:refs/tags/*' || fail "fetch tags"
printf '# people who asked not to be mailed\n\nOtto Out <otto@example.com>  # asked in person\n*@opted.example\n' \
	>"$T/optout"

# --- the bot is disabled: a report still works, a real pass does not
expect_rc 4 cf bot basenag --since 2026-08-01 2>"$T/dis.err"
grep -q 'bot basenag is disabled' "$T/dis.err" || fail "disabled: $(cat "$T/dis.err")"

# --- just ingested: everything complete is settling (default settle 30m)
cf bot basenag --dry-run --since 2026-08-01 --json >"$T/r0.json" 2>/dev/null || fail "report 0"
python3 - "$T/r0.json" <<'PY' || fail "settling report"
import json, sys
r = {e["msgid"]: e for e in json.load(open(sys.argv[1]))}
e = r["20260802100000.1-nora@example.org"]
assert (e["verdict"], e["reason"]) == ("wait", "settling"), e
assert "waiting 30m" in e["detail"], e
PY

cat >>"$T/data/cifeed.conf" <<CONF
[bot "basenag"]
	settle = 0
	rate-limit = 1000
	opt-out-file = $T/optout
	guess-tree = $T/b4repo
	guess-ref = refs/tags/*
CONF
check_report() { # REPORT.json WANT: each "msgid|verdict|reason|detail fragment" line holds
	python3 - "$1" "$2" <<'PY'
import json, sys
r = {}
for e in json.load(open(sys.argv[1])):
    r.setdefault(e["msgid"], e)
bad = 0
for line in open(sys.argv[2]):
    mid, verdict, reason, frag = line.rstrip("\n").split("|")
    e = r.get(mid)
    if not e:
        print("missing from the report:", mid); bad += 1; continue
    if (e["verdict"], e["reason"]) != (verdict, reason) or frag not in (e["detail"] or ""):
        print("%s: got %s %s (%s), want %s %s (%s)" % (mid, e["verdict"], e["reason"],
              e["detail"], verdict, reason, frag)); bad += 1
for e in r.values():
    if not e["detail"]:
        print("no explanation:", e["msgid"]); bad += 1
sys.exit(1 if bad else 0)
PY
}

# --- real messages (b4's series from 2023, the leds slice), no rate limit in the way
cf bot basenag --dry-run --since 2000-01-01 --json >"$T/r0b.json" 2>/dev/null || fail "report real"
cat >"$T/want0" <<'EOF'
cover.1795339831.git.alice@example.org|skip|applies-at-tip|match refs/tags/v0.0
20260428104133.2858589-8-sashal@kernel.org|skip|reply|not in the archive
20260521-cros_ec-leds-hw-trigger-brightness-v1-1-6cd9d7c9671e@weissschuh.net|skip|rfc|an RFC series
20260417071106.21984-1-clamor95@gmail.com|send|no-base|in its 7 messages
20260428153611.142816-1-clamor95@gmail.com|skip|resend-nagged|RESENDs
20260510110804.33045-1-clamor95@gmail.com|skip|version-nagged|another version
20260506064847.37795-1-clamor95@gmail.com|skip|sender-period|clamor95@gmail.com gets
EOF
check_report "$T/r0b.json" "$T/want0" || fail "report on real messages"
python3 - "$T/r0b.json" <<'PY' || fail "has-base on the leds slice"
import json, sys
hb = [e for e in json.load(open(sys.argv[1])) if e["reason"] == "has-base" and e["date"] < "2026-08"]
assert len(hb) >= 60 and all(e["detail"].startswith("base-commit ") for e in hb), len(hb)
PY

# --- the crafted rules, with a rate limit of 2
git config -f "$T/data/cifeed.conf" bot.basenag.rate-limit 2
cf bot basenag --dry-run --since 2026-08-01 --json --messages >"$T/r1.json" 2>"$T/r1.err" ||
	{ cat "$T/r1.err"; fail "report"; }
cf bot basenag --dry-run --since 2026-08-01 >"$T/r1.txt" 2>/dev/null || fail "text report"
cat >"$T/want" <<'EOF'
20260801090000.GA1234@google.com|skip|pull|a pull request
20260801100000.1-ci@builder.example.com|skip|automated|Auto-Submitted
202608011100.lkp-fix-1@intel.com|skip|bot-sender|lkp@intel.com
20260801120000.999-rev@example.net|skip|reply|Re: [PATCH] leds: core: simplify locking
20260801130000.0-ina@example.com|wait|incomplete|2 of 3 patches arrived
20260801-relay-v1-1-abcdef@kernel.org|skip|no-address|devnull+
20260801150000.1-otto@example.com|skip|opted-out|optout:3
20260801160000.1-bea@example.com|skip|has-base|base-ref v7.1-rc1
20260801170000.1-rick@example.org|skip|rfc|an RFC series
20260801180000.1-ann@example.org|skip|reply|bug-report-42@example.net
20260802100000.1-nora@example.org|send|no-base|in its 1 message
20260803100000.1-nora@example.org|skip|version-nagged|another version
20260804100000.1-nora@example.org|skip|resend-nagged|RESENDs
20260805100000.1-nora@example.org|skip|sender-period|nora@example.org gets
20260806100000.1-sam@example.org|send|no-base|
20260807100000.1-tom@example.org|wait|rate-limit|rate-limit 2
EOF
check_report "$T/r1.json" "$T/want" || fail "report verdicts"
python3 - "$T/r1.json" <<'PY' || fail "the nag"
import json, sys
r = {e["msgid"]: e for e in json.load(open(sys.argv[1]))}
nora = r["20260802100000.1-nora@example.org"]
assert nora["to"] == "nora@example.org" and nora["in_reply_to"] == nora["msgid"], nora
m = nora["message"]
for h in ("To: Nora Neuling <nora@example.org>\n", "Subject: Re: [PATCH] leds: a fix\n",
          "In-Reply-To: <20260802100000.1-nora@example.org>\n",
          "References: <20260802100000.1-nora@example.org>\n",
          "Auto-Submitted: auto-generated\n", "Hi Nora,\n", "reply \"stop\""):
    assert h in m, ("message lacks", h)
assert "\nCc:" not in m and "linux-leds" not in m, "the nag is not private"
PY
# the text report says the same, one block per candidate with the rule's explanation
grep -q '^SKIP  pull  *2026-08-01T08:00:00Z <20260801090000.GA1234@google.com>' "$T/r1.txt" ||
	fail "text report: pull line"
grep -q '^      pull: a pull request, not a patch series' "$T/r1.txt" || fail "text report: why"
grep -q '^basenag: 17 considered: 2 send, 13 skip, 2 wait' "$T/r1.txt" ||
	fail "text report: summary $(grep considered "$T/r1.txt")"

# --- an incomplete series is given up after max-wait (2d)
cf bot basenag --dry-run --since 2026-08-01 --now 2030-01-01 --json >"$T/r2.json" 2>/dev/null ||
	fail "report --now"
echo '20260801130000.0-ina@example.com|skip|incomplete|gave up after 2d' >"$T/want2"
check_report "$T/r2.json" "$T/want2" || fail "incomplete after max-wait"

# --- when no tracked tip matches, the b4 series is nagged and the base b4
# finds (tags/v0.0, exact match) is mentioned
git config -f "$T/data/cifeed.conf" bot.basenag.guess-ref 'refs/heads/*'
git config -f "$T/data/cifeed.conf" bot.basenag.rate-limit 1000
cf bot basenag --dry-run --since 2023-01-01 --json --messages >"$T/r3.json" 2>/dev/null || fail "report 3"
python3 - "$T/r3.json" <<'PY' || fail "guessed base"
import json, sys
r = {e["msgid"]: e for e in json.load(open(sys.argv[1]))}
e = r["cover.1795339831.git.alice@example.org"]
assert (e["verdict"], e["reason"]) == ("send", "no-base"), e
assert "guessed base tags/v0.0 (fd64807aa19a, exact match)" in e["detail"], e
assert "tags/v0.0 (fd64807aa19a, exact match)" in e["message"], e["message"]
b = [x for x in r.values() if x["subject"].startswith("[PATCH 0/2] Demo cover title")]
assert b and b[0]["reason"] == "has-base", b
assert b[0]["detail"].startswith("base-commit 3a6e54deb4313d6f7400c65c56477f17d68b4d1a in <"), b
PY

# --- a real pass in dry-run mode: recorded for review in the dry-run feed, nothing sent
git config -f "$T/data/cifeed.conf" bot.basenag.rate-limit 2
git config -f "$T/data/cifeed.conf" bot.basenag.enabled true
git config -f "$T/data/cifeed.conf" bot.basenag.from 'cifeed basenag <basenag@ci.example.org>'
cf bot basenag --since 2026-08-01 >"$T/p1.out" 2>"$T/p1.err" || { cat "$T/p1.err"; fail "dry-run pass"; }
grep -q 'dry-run 2, sent 0' "$T/p1.out" || fail "dry-run pass: $(tail -1 "$T/p1.out")"
DR=$T/data/bots/basenag/dry-run
[ "$(git --git-dir="$DR/git/0.git" rev-list --count HEAD)" = 2 ] || fail "dry-run feed"
[ -e "$T/data/bots/basenag/outbox" ] && fail "an outbox in dry-run mode"
[ "$(sqlite3 "$T/data/cifeed.db" "SELECT group_concat(state) FROM bot_messages")" = "dry-run,dry-run" ] ||
	fail "states: $(sqlite3 "$T/data/cifeed.db" 'SELECT state FROM bot_messages')"
# decided once: a second pass considers only what waits (the incomplete
# series, the rate-limited one) and plans nothing
cf bot basenag --since 2026-08-01 >"$T/p2.out" 2>/dev/null || fail "second pass"
grep -q '^basenag: 2 considered: 0 send, 0 skip, 2 wait' "$T/p2.out" ||
	fail "second pass: $(grep considered "$T/p2.out")"
pass
