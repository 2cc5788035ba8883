#!/usr/bin/env bash
# t2001-feed-public-inbox.sh - topic feeds as public-inbox, lei, httpd and git see them.
#
# Publishes the KCIDB sample (plus a late partial update) into three topics,
# then checks them with Debian's public-inbox 1.9: public-inbox-index with no
# error or duplicate warning, lei search by subject and body, threading under
# the tested patch (a v2 list archive written by public-inbox-mda) with
# `lei q -t`, public-inbox-httpd serving Atom and raw messages, mirrors made
# with `git clone --mirror` indexing to the same count, `git fsck --strict`.
source "$(dirname "$0")/lib.sh"

export PI_CONFIG="$HOME/.public-inbox/config"
mkdir -p "$HOME/.public-inbox" && : >"$PI_CONFIG"
git config -f "$PI_CONFIG" publicinboxmda.spamcheck none
trap 'lei daemon-kill >/dev/null 2>&1; cleanup' EXIT

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<'EOF'
[feed]
	name = cifeed CI
	address = ci@example.org
	settle = 0
[topic "fails"]
	filter = status:FAIL
	description = Failing tests
[topic "net"]
	filter = tree:net-next
EOF
FULL=$FIXTURES/kcidb/kcidb-sample-full-v5.3.json
cf ingest "$FULL" >/dev/null || fail "ingest full sample"
cf feed publish 2>"$T/pub1.err" || { cat "$T/pub1.err"; fail "publish"; }
cf ingest "$FIXTURES/kcidb/kcidb-sample-partial-update-v5.3.json" >/dev/null || fail "ingest update"
cf feed publish 2>"$T/pub2.err" || { cat "$T/pub2.err"; fail "second publish"; }
# a third pass with nothing new writes nothing
before=$(cf feed show all --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
cf feed publish 2>/dev/null || fail "idle publish"
after=$(cf feed show all --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
[ "$before" = "$after" ] || fail "an idle pass added messages ($before -> $after)"
[ "$after" -ge 6 ] || fail "expected at least 6 messages in 'all', got $after"

cf feed verify >"$T/verify.out" || { cat "$T/verify.out"; fail "feed verify"; }
F=$T/data/feeds

# --- public-inbox-index: no errors, no duplicates, every message indexed
for t in all fails net; do
	[ -f "$F/$t/inbox.lock" ] || fail "$t: no inbox.lock"
	[ "$(git --git-dir="$F/$t/git/0.git" symbolic-ref HEAD)" = refs/heads/master ] ||
		fail "$t: HEAD is not master"
	public-inbox-index -v "$F/$t" >"$T/idx-$t.out" 2>&1 || { cat "$T/idx-$t.out"; fail "index $t"; }
	if grep -Ei '^E:|duplicate|error|warn' "$T/idx-$t.out"; then fail "index $t complained"; fi
	want=$(cf feed show "$t" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
	got=$(sqlite3 "$F/$t/msgmap.sqlite3" 'SELECT COUNT(*) FROM msgmap')
	[ "$want" = "$got" ] || fail "$t: cifeed says $want messages, public-inbox indexed $got"
	for e in "$F/$t"/git/*.git; do
		git --git-dir="$e" fsck --strict --no-dangling >"$T/fsck.out" 2>&1 ||
			{ cat "$T/fsck.out"; fail "fsck $e"; }
	done
	note "$t: $got messages indexed"
done

# topic membership: fails holds only failing reports, net only net-next
sqlite3 "$F/fails/xap15/over.sqlite3" 'SELECT COUNT(*) FROM over WHERE num > 0' >/dev/null ||
	fail "over.sqlite3 unreadable"
cf feed show fails -n 100 >"$T/fails.txt"
grep -q 'PASS   <' "$T/fails.txt" && fail "fails topic holds a passing report"
cf feed show net -n 100 >"$T/net.txt"
grep -q mainline "$T/net.txt" && fail "net topic holds a mainline report"
grep -q net-next "$T/net.txt" || fail "net topic misses net-next"

# --- lei finds messages by subject and by body terms
lei q -I "$F/all" -f text 's:mainline' >"$T/lei-s.txt" 2>"$T/lei.err" || { cat "$T/lei.err"; fail "lei s:"; }
grep -q '^Subject: \[CI FAIL\] mainline master 052d534373b7' "$T/lei-s.txt" || fail "lei s: found nothing"
lei q -I "$F/all" -f text 'b:kselftest.exec.exec_execveat_Check_success_of_execveat_20_4096' >"$T/lei-b.txt" 2>>"$T/lei.err" ||
	fail "lei b:"
grep -q '^Subject: \[CI FAIL\] mainline' "$T/lei-b.txt" || fail "lei b: (test name) found nothing"
lei q -I "$F/fails" -f text 'b:execveat' >"$T/lei-f.txt" 2>>"$T/lei.err" || fail "lei b: fails"
grep -q '^Subject:' "$T/lei-f.txt" || fail "lei b: in topic fails found nothing"
# the late result is a follow-up threaded under the first report
grep -q '(update 1)' "$T/lei-s.txt" || fail "no follow-up for the late result"
lei q -I "$F/all" -t -f text 's:update' >"$T/lei-t.txt" 2>>"$T/lei.err" || fail "lei -t"
[ "$(grep -c '^Subject: \[CI' "$T/lei-t.txt")" -ge 3 ] || { cat "$T/lei-t.txt"; fail "follow-up not threaded with its report and root"; }

# --- threading under the patch, with the list archive that holds it
LIST=$T/list
public-inbox-init -V2 -L medium testlist "$LIST" http://127.0.0.1/testlist testlist@example.org ||
	fail "public-inbox-init"
cat >"$T/patch.eml" <<'EOF'
From: Dev Eloper <dev@example.org>
To: testlist@example.org
Subject: [PATCH] net: frobnicate the widget
Date: Sun, 14 Jan 2024 08:15:42 +0000
Message-ID: <20240114081542.1-0-dev@example.org>

The widget needs frobnication.

Signed-off-by: Dev Eloper <dev@example.org>
---
 net/widget.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/net/widget.c b/net/widget.c
--- a/net/widget.c
+++ b/net/widget.c
@@ -1,1 +1,1 @@
-int widget;
+int widget = 1;
EOF
ORIGINAL_RECIPIENT=testlist@example.org public-inbox-mda <"$T/patch.eml" || fail "mda"
public-inbox-index "$LIST" 2>/dev/null || fail "index list"
# lei threads within one index: gather both archives into one, then ask for the patch's thread
lei q -I "$LIST" -I "$F/net" -o "v2:$T/combined" 'rt:1970-01-01..' >/dev/null 2>>"$T/lei.err" ||
	{ cat "$T/lei.err"; fail "lei combine"; }
lei q -I "$T/combined" -t -f text 'm:20240114081542.1-0-dev@example.org' >"$T/thread.txt" 2>>"$T/lei.err" ||
	fail "lei thread"
grep -q '^Subject: \[PATCH\] net: frobnicate the widget' "$T/thread.txt" || fail "thread lacks the patch"
grep -q '^Subject: \[CI FAIL\] net-next main 052d534373b7 aarch64/fedora (redhat)' "$T/thread.txt" ||
	{ cat "$T/thread.txt"; fail "the result for the patch is not in the patch's thread"; }
grep -q '^In-Reply-To: <20240114081542.1-0-dev@example.org>' "$T/thread.txt" ||
	fail "no message replies to the patch directly"

# --- public-inbox-httpd: Atom and raw messages
PORT=$(free_port)
for t in all fails net; do
	git config -f "$PI_CONFIG" "publicinbox.$t.inboxdir" "$F/$t"
	git config -f "$PI_CONFIG" "publicinbox.$t.address" "$t@ci.example.org"
	git config -f "$PI_CONFIG" "publicinbox.$t.url" "http://127.0.0.1:$PORT/$t"
done
public-inbox-httpd -W0 -l "127.0.0.1:$PORT" -1 "$T/httpd.out" -2 "$T/httpd.err" &
bg_track $!
wait_for curl -fsS "http://127.0.0.1:$PORT/all/new.atom" -o /dev/null
curl -fsS "http://127.0.0.1:$PORT/fails/new.atom" -o "$T/fails.atom" || fail "atom"
python3 - "$T/fails.atom" <<'EOF' || fail "public-inbox Atom of topic fails"
import sys, xml.etree.ElementTree as ET
ns = {"a": "http://www.w3.org/2005/Atom"}
root = ET.parse(sys.argv[1]).getroot()
titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
# failing reports, and the checkout roots they thread under; nothing that passed
assert any(t.startswith("[CI FAIL]") for t in titles), titles
assert all(t.startswith("[CI FAIL]") or t.startswith("[CI] ") for t in titles), titles
EOF
mid=$(cf feed show all --json -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["newest"][0]["msgid"])')
curl -fsS "http://127.0.0.1:$PORT/all/$mid/raw" -o "$T/raw.eml" || fail "raw message"
cf feed show all "$mid" >"$T/stored.eml" || fail "feed show MSGID"
# /raw is mboxrd: a From_ line before, a blank line after
python3 - "$T/raw.eml" "$T/stored.eml" <<'EOF2' || fail "raw message differs from the stored one"
import sys
raw, stored = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert raw.startswith(b"From ") and raw[raw.index(b"\n") + 1:] == stored + b"\n"
EOF2

# cifeed's own Atom (for the HTTP API) is well-formed and agrees with the feed
cf feed show fails --atom --base-url "http://127.0.0.1:$PORT" >"$T/cifeed.atom" || fail "cifeed atom"
python3 - "$T/cifeed.atom" "$T/fails.atom" <<'EOF' || fail "cifeed Atom"
import sys, xml.etree.ElementTree as ET
ns = {"a": "http://www.w3.org/2005/Atom"}
mine = ET.parse(sys.argv[1]).getroot()
theirs = ET.parse(sys.argv[2]).getroot()
for req in ("a:id", "a:title", "a:updated"):
    assert mine.find(req, ns) is not None, req
t1 = sorted(e.findtext("a:title", namespaces=ns) for e in mine.findall("a:entry", ns))
t2 = sorted(e.findtext("a:title", namespaces=ns) for e in theirs.findall("a:entry", ns))
assert t1 == t2, (t1, t2)
for e in mine.findall("a:entry", ns):
    for req in ("a:id", "a:title", "a:updated", "a:author/a:name", "a:content"):
        assert e.find(req, ns) is not None, req
EOF

# --- mirrors: git clone --mirror of each epoch + public-inbox-index = same count
for t in all fails net; do
	M=$T/mirror-$t
	mkdir -p "$M/git"
	for e in "$F/$t"/git/*.git; do
		git clone -q --mirror "http://127.0.0.1:$PORT/$t/$(basename "$e" .git)" "$M/git/$(basename "$e")" ||
			fail "clone $t $(basename "$e")"
	done
	touch "$M/inbox.lock"
	public-inbox-index "$M" >/dev/null 2>&1 || fail "index mirror $t"
	a=$(sqlite3 "$F/$t/msgmap.sqlite3" 'SELECT COUNT(*) FROM msgmap')
	b=$(sqlite3 "$M/msgmap.sqlite3" 'SELECT COUNT(*) FROM msgmap')
	[ "$a" = "$b" ] || fail "mirror of $t indexed $b messages, origin $a"
done

# a concurrent public-inbox-index waits for the writer's inbox.lock (flock)
python3 - "$F/all/inbox.lock" <<'EOF' || fail "inbox.lock is not flock-compatible"
import fcntl, sys
with open(sys.argv[1], "r+") as f:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
EOF
pass
