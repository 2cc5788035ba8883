#!/usr/bin/env bash
# t3004: /feeds/ and /feeds/TOPIC/new.atom on a real public-inbox v2 inbox
# (the golden vector public-inbox 1.9 wrote), the Atom parsed by a real
# feed parser (Debian's python3-feedparser) and checked well-formed by
# xmllint; ETag, limit, unknown and unsafe topic names.
source "$(dirname "$0")/lib.sh"
PI="$FIXTURES/public-inbox"

cf init >/dev/null 2>&1 || fail "init"
inbox="$T/data/feeds/ci-results"
mkdir -p "$inbox/git"
git clone -q --mirror "$PI/ci-results-epoch0.bundle" "$inbox/git/0.git" || fail "clone bundle"
touch "$inbox/inbox.lock"
echo "CI results & <friends>" >"$inbox/description"
mkdir -p "$T/data/feeds/not-an-inbox"

"$CIFEED" -d "$T/data" serve 2>"$T/serve.log" &
SERVE=$!
bg_track $SERVE
U="http://127.0.0.1:$(http_port)"
wait_for curl -sf "$U/healthz"

curl -s -o "$T/feeds.json" -w '%{http_code}' "$U/feeds/" >"$T/code"
[ "$(cat "$T/code")" = 200 ] || fail "/feeds/: $(cat "$T/code")"
ajv_api feeds "$T/feeds.json" >/dev/null || fail "feeds schema"
[ "$(jq -r '[.topics[] | .name + ":" + (.messages|tostring) + ":" + .atom] | join(" ")' "$T/feeds.json")" = \
  "ci-results:3:/feeds/ci-results/new.atom" ] || fail "topic list: $(cat "$T/feeds.json")"
[ "$(jq -r '.topics[0].description' "$T/feeds.json")" = "CI results & <friends>" ] || fail "description"

curl -s -D "$T/h" -o "$T/feed.atom" "$U/feeds/ci-results/new.atom" || fail "atom"
grep -qi '^content-type: application/atom+xml' "$T/h" || fail "atom content type: $(cat "$T/h")"
xmllint --noout "$T/feed.atom" || fail "atom is not well-formed XML"
/usr/bin/python3 - "$T/feed.atom" <<'PY' || fail "feedparser"
import sys, feedparser
d = feedparser.parse(open(sys.argv[1], "rb").read())
assert not d.bozo, "feedparser: %r" % d.bozo_exception
assert d.version == "atom10", d.version
assert d.feed.title == "CI results & <friends>", d.feed.title
assert any(l.rel == "self" and l.href.endswith("/feeds/ci-results/new.atom") for l in d.feed.links), d.feed.links
titles = [e.title for e in d.entries]
# public-inbox's order reversed: newest first; message 03 was removed with `learn rm`
assert titles == ["[CI] kernel build #1: FAIL", "Re: [PATCH v2 1/3] foo: fix bar handling",
                  "[CI] kernel build #1: PASS"], titles
e = d.entries[1]
assert e.id == "mid:result-2@ci.example.invalid", e.id
assert e.author_detail.email == "ci@example.invalid", e.author_detail
assert e.updated_parsed[:6] == (2024, 1, 1, 10, 0, 0), e.updated_parsed
assert "see https://ci.example.invalid/r/2" in e.summary, e.summary
print("feedparser: atom10, %d entries" % len(d.entries))
PY
etag=$(sed -n 's/^ETag: *//Ip' "$T/h" | tr -d '\r')
c=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/feeds/ci-results/new.atom")
[ "$c" = 304 ] || fail "atom If-None-Match: $c"
curl -s "$U/feeds/ci-results/new.atom?limit=1" | /usr/bin/python3 -c '
import sys, feedparser
d = feedparser.parse(sys.stdin.buffer.read())
assert not d.bozo and len(d.entries) == 1, (d.bozo, len(d.entries))' || fail "limit=1"

code() { curl -s -o "$T/e.json" -w '%{http_code}' "$@"; }
for p in "/feeds/nope/new.atom" "/feeds/not-an-inbox/new.atom" "/feeds/..%2F..%2Fetc/new.atom" \
	"/feeds/.git/new.atom" "/feeds/ci-results/" "/feeds/ci-results/old.atom" "/feeds//new.atom"; do
	c=$(code "$U$p")
	[ "$c" = 404 ] || fail "$p: $c"
	ajv_api error "$T/e.json" >/dev/null || fail "$p: error schema"
done
for p in "/feeds/ci-results/new.atom?limit=0" "/feeds/ci-results/new.atom?limit=1001" \
	"/feeds/ci-results/new.atom?x=1" "/feeds/?limit=3" "/feeds/%ff/new.atom"; do
	c=$(code "$U$p")
	[ "$c" = 400 ] || fail "$p: $c"
done
[ "$(code -X POST "$U/feeds/")" = 405 ] || fail "POST /feeds/"

kill -TERM $SERVE
wait $SERVE || fail "serve exited $?"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
