#!/usr/bin/env bash
# t2003-feed-hostile.sh - strings from outside never become header lines or MIME parts.
#
# KCIDB fields carrying CR/LF + "Bcc:", blank lines, multipart delimiter
# look-alikes, RFC 2047 look-alikes, bidi and control characters, NUL (in a
# patch subject), a 1 MB test name, and linked patches whose Message-ID, subject and
# List-Id are hostile (invalid UTF-8 included) are published; every stored
# message is then parsed by Python's email package (policy=default), an
# independent MIME parser, and by public-inbox-index.  The KCIDB part must
# carry the exact strings: the reindex round trip reproduces the export.
source "$(dirname "$0")/lib.sh"

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<'EOF2'
[feed]
	name = CI "bot" <x>
	address = ci@example.org
	settle = 0
[topic "fails"]
	filter = status:FAIL
	description = fails "quoted" <angle> & more
EOF2
python3 "$SRCDIR/tests/e2e/feedgen.py" "$T/gen" --checkouts 2 --builds 2 --tests 4 --rounds 2 \
	--seed 3 --hostile --huge-name 1048576 || fail "generate"
cf ingest "$T/gen-0.json" >/dev/null || fail "ingest 0"
# linked patches for checkout gen:c0 (it has no message_id): a hostile Message-ID
# (must be ignored), then one with a hostile subject and List-Id (invalid UTF-8)
DB=$T/data/cifeed.db
sqlite3 "$DB" <<'EOF2' || fail "insert patches"
INSERT INTO patches (msgid, list_id, author_name, author_email, subject, date, patch_id)
VALUES ('bad' || char(13) || char(10) || 'Bcc: victim@example.com', 'l', 'a', 'a@b', 's', '2024-01-01T00:00:00Z', NULL);
INSERT INTO patches (msgid, list_id, author_name, author_email, subject, date, patch_id)
VALUES ('good.patch@example.org', 'list' || char(13) || char(10) || 'Bcc: x@y',
        'Mallory', 'm@example.org',
        'fix' || CAST(X'FF' AS TEXT) || char(0) || 'after-nul' || char(13) || char(10) || 'Bcc: victim@example.com' || char(10) || char(10) || '--',
        '2024-01-02T00:00:00Z', '0123456789012345678901234567890123456789');
INSERT INTO checkout_patches (checkout_id, patch_rid, how)
SELECT 'gen:c0', rid, 'message_id' FROM patches;
EOF2
cf feed publish 2>"$T/pub.err" || { cat "$T/pub.err"; fail "publish"; }
cf ingest "$T/gen-1.json" >/dev/null || fail "ingest 1"
cf feed publish 2>>"$T/pub.err" || { cat "$T/pub.err"; fail "publish 2"; }
cf feed verify >"$T/verify.out" || { cat "$T/verify.out"; fail "verify"; }

export PI_CONFIG="$HOME/pi-config"
: >"$PI_CONFIG"
for t in all fails; do
	public-inbox-index "$T/data/feeds/$t" >"$T/idx.out" 2>&1 || { cat "$T/idx.out"; fail "index $t"; }
	if grep -Ei '^E:|duplicate|error|warn' "$T/idx.out"; then fail "index $t complained"; fi
done

# every stored message, parsed independently
python3 - "$T/data/feeds" "$T/gen-0.json" "$T/gen-1.json" <<'EOF2' || fail "independent MIME parse"
import email, email.policy, json, os, subprocess, sys

feeds = sys.argv[1]
objs = {}
for f in sys.argv[2:]:
    d = json.load(open(f))
    for k in ("checkouts", "builds", "tests", "issues"):
        for o in d.get(k, []):
            objs.setdefault((k, o["id"]), {}).update(o)
ALLOWED = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references",
           "list-id", "mime-version", "content-type", "x-ci-topic", "x-ci-unit", "x-ci-status",
           "x-ci-origin", "x-ci-tree", "x-ci-branch", "x-ci-repository", "x-ci-commit",
           "x-ci-checkout", "x-ci-build", "x-ci-arch", "x-ci-config", "x-ci-compiler",
           "x-ci-patch"}
seen_huge = seen_hostile = seen_patch = 0
count = 0
for topic in sorted(os.listdir(feeds)):
    for epoch in sorted(os.listdir(os.path.join(feeds, topic, "git"))):
        gd = os.path.join(feeds, topic, "git", epoch)
        blobs = subprocess.run(["git", "--git-dir", gd, "log", "--format=", "--raw", "--no-abbrev", "master"],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        for line in blobs:
            if not line.strip():
                continue
            oid = line.split()[3]
            raw = subprocess.run(["git", "--git-dir", gd, "cat-file", "blob", oid],
                                 capture_output=True, check=True).stdout
            count += 1
            where = "%s/%s %s" % (topic, epoch, oid)
            assert b"\0" not in raw and b"\r" not in raw, where
            for l in raw.split(b"\n"):
                assert len(l) <= 998, (where, len(l))
            hdr = raw.split(b"\n\n", 1)[0]
            for l in hdr.split(b"\n"):
                assert all(32 <= c < 127 or c == 9 for c in l), (where, l[:80])
            m = email.message_from_bytes(raw, policy=email.policy.default)
            names = {k.lower() for k in m.keys()}
            assert names <= ALLOWED, (where, names - ALLOWED)
            assert m["Bcc"] is None and m.get_all("Message-ID") and len(m.get_all("Message-ID")) == 1, where
            assert m.is_multipart() and m.get_content_type() == "multipart/mixed", where
            parts = list(m.iter_parts())
            assert [p.get_content_type() for p in parts] == ["text/plain", "application/json"], \
                (where, [p.get_content_type() for p in parts])
            assert all(not p.is_multipart() for p in parts), where
            text = parts[0].get_content()
            assert "\r" not in text and "\0" not in text, where
            doc = json.loads(parts[1].get_content())
            assert doc["version"] == {"major": 5, "minor": 3}
            for k in ("checkouts", "builds", "tests", "issues"):
                for o in doc.get(k, []):
                    src = objs[(k, o["id"])]
                    for f, v in o.items():
                        if f in src and f != "status" and f != "duration":
                            assert src[f] == v, (where, k, o["id"], f)
                    if len(o.get("path", "")) > 1000000:
                        seen_huge += 1
                    if "Bcc: victim" in json.dumps(o):
                        seen_hostile += 1
            subj = str(m["Subject"])
            assert "\n" not in subj and "\r" not in subj, where
            refs = str(m.get("References", ""))
            assert "Bcc" not in refs and "bad" not in refs, (where, refs)
            if "good.patch@example.org" in refs:
                seen_patch += 1
                assert m["In-Reply-To"] is not None
                assert "Bcc: victim@example.com" in text  # inside the body, as text
assert count >= 10, count
assert seen_huge and seen_hostile and seen_patch, (seen_huge, seen_hostile, seen_patch)
print("parsed", count, "messages")
EOF2

# lei can search the hostile feed too
lei q -I "$T/data/feeds/all" -f text 's:tests' >"$T/lei.txt" 2>"$T/lei.err" || { cat "$T/lei.err"; fail "lei"; }
grep -q '^Subject:' "$T/lei.txt" || fail "lei found nothing"
lei daemon-kill >/dev/null 2>&1

# exact strings survive: reindex into an empty store gives the same export
cf export -o "$T/before.json" || fail "export"
mkdir -p "$T/m"
"$CIFEED" -d "$T/m/data" init >/dev/null || fail "init 2"
cp "$T/data/cifeed.conf" "$T/m/data/"
mkdir -p "$T/m/data/feeds" && cp -r "$T/data/feeds/." "$T/m/data/feeds/"
"$CIFEED" -d "$T/m/data" feed reindex 2>/dev/null || fail "reindex"
"$CIFEED" -d "$T/m/data" export -o "$T/after.json" || fail "export 2"
cmp "$T/before.json" "$T/after.json" || fail "hostile strings changed on the way through the feed"
pass
