#!/usr/bin/env bash
# t4000: intake of real list traffic through a public-inbox v2 archive.
#
# leds-recent.mbox (1,400 messages of linux-leds) is written into a 3-epoch
# v2 inbox with git fast-import (tests/e2e/mkinbox.py), read by a
# `public-inbox` source, and compared with what Python's email package,
# grep and git derive on their own (tests/e2e/leds_expect.py): numbers of
# patches, cover letters, series and series with base information, each
# message's series, and `git mailinfo | git patch-id --stable` for every
# message.
source "$(dirname "$0")/lib.sh"
E2E="$SRCDIR/tests/e2e"
MBOX="$FIXTURES/mail/leds-recent.mbox"

python3 "$E2E/mkinbox.py" "$MBOX" "$T/inbox" --epochs 3 >/dev/null || fail "mkinbox"
[ "$(ls "$T/inbox/git" | wc -l)" = 3 ] || fail "expected 3 epochs"
[ "$(git -C "$T/inbox/git/1.git" rev-list --count master)" -gt 400 ] || fail "epoch 1 too small"

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<EOC
[source "leds"]
	type = public-inbox
	path = $T/inbox
	batch = 300
EOC
cf poll --once 2>"$T/intake.log" || { cat "$T/intake.log"; fail "intake"; }
grep -q 'event=intake.done source=leds epochs=3 commits=1400 messages=1400' "$T/intake.log" ||
	fail "intake log: $(cat "$T/intake.log")"

python3 "$E2E/leds_expect.py" "$MBOX" >"$T/expect.json" || fail "leds_expect.py"
cf patches --json >"$T/patches.json" || fail "cifeed patches"

python3 - "$T/expect.json" "$T/patches.json" <<'EOP' || fail "counts differ"
import json, sys
exp = json.load(open(sys.argv[1])); got = json.load(open(sys.argv[2]))
# the README's own figures for this slice keep the independent derivation honest
assert exp['messages'] == 1400, exp['messages']
assert exp['patches'] + exp['covers'] == 662, (exp['patches'], exp['covers'])
assert exp['base_commit_mails'] == 72, exp['base_commit_mails']
kinds = {'patch': 0, 'cover': 0}
roots = {}
for s in got:
    for p in s['patches']:
        kinds[p['kind']] += 1
        roots[p['msgid']] = s['root']
c = dict(patches=kinds['patch'], covers=kinds['cover'], series=len(got),
         series_base=sum(1 for s in got if s['has_base']))
e = {k: exp[k] for k in c}
print('cifeed', c, '\nexpect', e)
assert c == e, (c, e)
bad = [m for m, x in exp['mails'].items() if roots.get(m) != x['root']]
assert not bad, ('series membership differs', bad[:5])
# a series with base info has a base-commit line in this slice: all 72 are sha1s
assert sum(1 for s in got for b in s['base'] if b['kind'] == 'base-commit') == 72
# review trailers from replies, tied to the patch or cover letter they answer
want = set(tuple(x) for x in exp['reply_tags'])
have = set((t['to'], t['from'], t['key'].lower(), t['value'])
           for s in got for t in s['trailers'] if t['from'] != t['to'])
print('reply trailers: cifeed', len(have), 'expect', len(want))
assert len(want) > 50 and have == want, (sorted(want - have)[:3], sorted(have - want)[:3])
EOP

# patch-id: cifeed's (on the decoded body) against git mailinfo + git patch-id --stable
python3 - "$MBOX" "$T/patches.json" "$T" <<'EOP' || fail "patch-id differs from git"
import json, re, subprocess, sys
mbox, got, tmp = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
ids = {p['msgid']: p['patch_id'] for s in got for p in s['patches']}
data = open(mbox, 'rb').read()
checked = bad = 0
for raw in re.split(rb'(?m)^From [^\n]*\n', data)[1:]:
    raw = re.sub(rb'(?m)^>(>*From )', rb'\1', raw[:-1] if raw.endswith(b'\n\n') else raw)
    mid = re.search(rb'(?mi)^Message-ID:\s*<([^>]+)>', raw)
    mid = mid.group(1).decode() if mid else None
    if mid not in ids:
        continue
    subprocess.run(['git', 'mailinfo', tmp + '/msg', tmp + '/patch'], input=raw,
                   capture_output=True, check=True)
    out = subprocess.run(['git', 'patch-id', '--stable'], stdin=open(tmp + '/patch', 'rb'),
                         capture_output=True, check=True).stdout.split()
    want = out[0].decode() if out else None
    checked += 1
    if want != ids[mid]:
        bad += 1
        print('patch-id', mid, 'git', want, 'cifeed', ids[mid])
print('patch-id compared on', checked, 'patch mails,', bad, 'differ')
assert checked == 662 and bad == 0
assert sum(1 for v in ids.values() if v) > 500
EOP

# a second pass finds nothing new and changes nothing
cf patches --json >"$T/before.json"
cf poll --once 2>"$T/intake2.log" || fail "second intake"
grep -q 'commits=0 messages=0' "$T/intake2.log" || fail "second pass read again: $(cat "$T/intake2.log")"
cf patches --json | cmp -s - "$T/before.json" || fail "second pass changed the output"
pass
