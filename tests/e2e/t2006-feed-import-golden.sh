#!/usr/bin/env bash
# t2006-feed-import-golden.sh - `cifeed feed import` reproduces public-inbox's own epoch.
#
# The golden vector's five input mails (../shared/fixtures/public-inbox), as
# one mboxrd file, imported under the identity public-inbox used: the four
# commits must equal expected/git-log-raw.txt byte for byte (message 04 is a
# silent duplicate, 05 gets a generated Message-ID), and public-inbox-index
# must number the articles as it did for its own epoch.
source "$(dirname "$0")/lib.sh"

PI=$FIXTURES/public-inbox
for f in "$PI"/input/0*.eml; do
	echo "From mboxrd@z Thu Jan  1 00:00:00 1970"
	sed -E 's/^(>*From )/>\1/' "$f"
	echo
done >"$T/in.mbox"
"$CIFEED" feed import --name ci-results --address ci-results@example.invalid "$T/inbox" "$T/in.mbox" \
	2>"$T/import.err" || { cat "$T/import.err"; fail "import"; }
grep -q 'added=4 duplicates=1' "$T/import.err" || { cat "$T/import.err"; fail "expected 4 added, 1 duplicate"; }
G=$T/inbox/git/0.git
git --git-dir="$G" log --format=raw --reverse master >"$T/log.txt"
# the first four commits of the golden epoch (the fifth is a removal made later)
python3 - "$PI/expected/git-log-raw.txt" >"$T/want.txt" <<'EOF2'
import sys
text = open(sys.argv[1]).read()
print(text[:text.index("\ncommit ", text.index("commit 06607f0c"))].rstrip("\n"))
EOF2
diff -u "$T/want.txt" "$T/log.txt" || fail "commits differ from public-inbox's"
git --git-dir="$G" cat-file blob "$(git --git-dir="$G" rev-parse master:m)" |
	cmp - "$PI/expected/blob-05-dup-diff.eml" || fail "blob 05 differs"

# importing again changes nothing: every message is a known duplicate
"$CIFEED" feed import --name ci-results --address ci-results@example.invalid "$T/inbox" "$T/in.mbox" \
	2>"$T/import2.err" || fail "second import"
grep -q 'added=0 duplicates=5' "$T/import2.err" || { cat "$T/import2.err"; fail "re-import added messages"; }

export PI_CONFIG="$HOME/pi-config"
: >"$PI_CONFIG"
public-inbox-index "$T/inbox" >"$T/idx.out" 2>&1 || { cat "$T/idx.out"; fail "index"; }
if grep -Ei '^E:|duplicate|error|warn' "$T/idx.out"; then fail "index complained"; fi
sqlite3 "$T/inbox/msgmap.sqlite3" 'SELECT num, mid FROM msgmap ORDER BY num' >"$T/msgmap.txt"
cat >"$T/msgmap.want" <<'EOF2'
1|build-1@ci.example.invalid
2|result-2@ci.example.invalid
3|build-3@ci.example.invalid
4|20240101120000.oYAFIqoXFfU9D7gE4WpZ0cQbJIJ8ezmEPInjL9SnTAY@z
EOF2
diff -u "$T/msgmap.want" "$T/msgmap.txt" || fail "article numbers differ"
pass
