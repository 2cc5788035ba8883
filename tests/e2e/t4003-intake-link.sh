#!/usr/bin/env bash
# t4003: results link to patches and series whatever arrives first.
#
# A b4 series (cover + 2 patches, b4/series-base.mbox) and KCIDB checkouts
# naming it by the cover letter's Message-ID, by patch 2's Message-ID and by
# the KCIDB patchset_hash (computed here with Python from the raw messages:
# sha256 over the sha256 of each patch mail, in order).  Some results are
# stored before the mail, some after.  `cifeed query ran --msgid` must answer
# for a patch and for the series; `cifeed patches` shows the links; a reply
# with Reviewed-by/Acked-by shows in the feed message of the linked results.
source "$(dirname "$0")/lib.sh"
MBOX="$FIXTURES/patches/b4/series-base.mbox"
COVER=cover.1795339831.git.alice@example.org
P1=41a483c7c74f77703c62ac4a9dd6d5b95f4b3d6a.1795339831.git.alice@example.org
P2=4f7fbd9a77bc5e527c1d47dc760467950d7b78ad.1795339831.git.alice@example.org

cf init >/dev/null || fail init
cat >>"$T/data/cifeed.conf" <<'EOC'
[feed]
	settle = 0
[topic "demo"]
	filter = origin:t
EOC

PSH=$(python3 - "$MBOX" <<'EOP'
import hashlib, re, sys
data = open(sys.argv[1], 'rb').read()
msgs = [re.sub(rb'(?m)^>(>*From )', rb'\1', p[:-1] if p.endswith(b'\n\n') else p)
        for p in re.split(rb'(?m)^From [^\n]*\n', data)[1:]]
pos = {}
for m in msgs:
    s = re.search(rb'(?m)^Subject: \[PATCH (\d+)/\d+\]', m)
    if s and s.group(1) != b'0':
        pos[int(s.group(1))] = hashlib.sha256(m).hexdigest()
print(hashlib.sha256(''.join(pos[k] + '\n' for k in sorted(pos)).encode()).hexdigest())
EOP
)
[ ${#PSH} = 64 ] || fail "patchset hash: $PSH"

kcidb() { # ID MSGID PATCHSET STATUS -> a submission with one checkout, build, test
	python3 - "$@" <<'EOP'
import json, sys
cid, mid, psh, st = sys.argv[1:5]
co = {"id": "t:" + cid, "origin": "t", "git_commit_hash": "fd64807aa19a4a0d9e8243124a0c84ebb1a27df7",
      "tree_name": "demo", "valid": True}
if mid != "-": co["message_id"] = mid
if psh != "-": co["patchset_hash"] = psh
print(json.dumps({"version": {"major": 5, "minor": 3}, "checkouts": [co],
  "builds": [{"id": "t:b" + cid, "checkout_id": "t:" + cid, "origin": "t", "status": "PASS",
              "architecture": "x86_64"}],
  "tests": [{"id": "t:t" + cid, "build_id": "t:b" + cid, "origin": "t", "status": st,
             "path": "boot." + cid}]}))
EOP
}
ran() { cf query ran --json --msgid "$1" | python3 -c 'import json,sys; print(" ".join(sorted(r["checkout_id"] for r in json.load(sys.stdin)["tests"])))'; }

# results first: by the cover letter, by patch 2, by patchset hash
kcidb 1 "$COVER" - PASS >"$T/k1.json"
kcidb 2 "$P2" - FAIL >"$T/k2.json"
kcidb 3 - "$PSH" PASS >"$T/k3.json"
cf ingest -q "$T/k1.json" "$T/k2.json" "$T/k3.json" || fail "ingest results"
expect_rc 1 cf query ran --msgid "$P1" >/dev/null

# then the mail
cf ingest --format mbox "$MBOX" >"$T/in.out" || fail "ingest mbox"
grep -q '3 messages: 2 new patches, 1 new cover letters' "$T/in.out" || fail "mbox: $(cat "$T/in.out")"
[ "$(ran "$P1")" = "t:1 t:3" ] || fail "ran --msgid patch 1: $(ran "$P1")"
[ "$(ran "$P2")" = "t:1 t:2 t:3" ] || fail "ran --msgid patch 2: $(ran "$P2")"
[ "$(ran "$COVER")" = "t:1 t:2 t:3" ] || fail "ran --msgid series: $(ran "$COVER")"

# results after the mail: linked as they are stored
kcidb 4 "$P1" - PASS >"$T/k4.json"
cf ingest -q "$T/k4.json" || fail "ingest k4"
[ "$(ran "$P1")" = "t:1 t:3 t:4" ] || fail "ran --msgid patch 1 after: $(ran "$P1")"
[ "$(ran "$COVER")" = "t:1 t:2 t:3 t:4" ] || fail "ran --msgid series after: $(ran "$COVER")"

cf patches --json "msgid:$P1" >"$T/p1.json" || fail "patches msgid"
python3 - "$T/p1.json" "$PSH" <<'EOP' || fail "patches --json links"
import json, sys
d = json.load(open(sys.argv[1])); psh = sys.argv[2]
assert len(d) == 1 and len(d[0]['patches']) == 1, d
s, p = d[0], d[0]['patches'][0]
assert s['complete'] and s['total'] == 2 and s['received'] == 2, s
assert s['patchset_hash'] == psh, (s['patchset_hash'], psh)
assert s['has_base'] and s['base'][0]['value'] == 'fd64807aa19a4a0d9e8243124a0c84ebb1a27df7', s['base']
links = {l['checkout_id']: l['how'] for l in p['linked']}
assert links == {'t:1': 'message_id', 't:3': 'patchset_hash', 't:4': 'message_id'}, links
assert p['results'] == {'PASS': 3}, p['results']
assert p['files'] == ['a.c'], p['files']
EOP
# filters over linked results
cf patches --json status:FAIL | grep -q "\"$P2\"" || fail "status:FAIL does not list patch 2"
cf patches --json status:FAIL | grep -q "\"msgid\": \"$P1\"" && fail "status:FAIL lists patch 1"
cf patches --json -- -status:FAIL | grep -q "\"msgid\": \"$P1\"" || fail "-status:FAIL misses patch 1"
expect_rc 1 cf patches 'author:nobody@example.org'
expect_rc 2 cf patches 'nokey:x'

# a reply with review trailers, then the feed message of the linked results shows them
cat >"$T/reply.eml" <<EOM
From: Bob Reviewer <bob@example.org>
To: alice@example.org
Subject: Re: [PATCH 1/2] a: patch on old base
Date: Sat, 11 Nov 2023 09:00:00 +0000
Message-Id: <reply-1@example.org>
In-Reply-To: <$P1>
References: <$COVER> <$P1>

> Signed-off-by: Alice Dev <alice@example.org>
> Reviewed-by: Quoted Person <quoted@example.org>

Looks good.

Reviewed-by: Bob Reviewer <bob@example.org>
Acked-by: Carol Maintainer <carol@example.org>

-- 
Tested-by: Signature Line <sig@example.org>
EOM
cf ingest --format mbox "$T/reply.eml" >/dev/null || fail "ingest reply"
cf patches --json "msgid:$COVER" >"$T/s.json"
python3 - "$T/s.json" <<'EOP' || fail "reply trailers"
import json, sys
s = json.load(open(sys.argv[1]))[0]
got = sorted((t['key'], t['value'], t['to']) for t in s['trailers'] if t['from'] == 'reply-1@example.org')
assert got == [('Acked-by', 'Carol Maintainer <carol@example.org>', '41a483c7c74f77703c62ac4a9dd6d5b95f4b3d6a.1795339831.git.alice@example.org'),
               ('Reviewed-by', 'Bob Reviewer <bob@example.org>', '41a483c7c74f77703c62ac4a9dd6d5b95f4b3d6a.1795339831.git.alice@example.org')], got
EOP
cf feed publish 2>"$T/pub.err" || { cat "$T/pub.err"; fail "feed publish"; }
epoch=$(find "$T/data/feeds" -path '*demo*' -name 0.git | head -1)
[ -n "$epoch" ] || fail "no feed epoch for topic demo: $(find "$T/data/feeds" -maxdepth 3)"
git -C "$epoch" log -p --format= master >"$T/feed.txt" || fail "reading the feed"
grep -q "patch:.*<$P1>" "$T/feed.txt" || fail "feed message not tied to patch 1"
grep -q '^+ *Reviewed-by: Bob Reviewer <bob@example.org>' "$T/feed.txt" || fail "no Reviewed-by in the feed summary"
grep -q '^+ *Acked-by: Carol Maintainer <carol@example.org>' "$T/feed.txt" || fail "no Acked-by in the feed summary"
grep -q 'Quoted Person\|Signature Line' "$T/feed.txt" && fail "quoted or signature trailers leaked"
pass
