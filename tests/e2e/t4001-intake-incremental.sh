#!/usr/bin/env bash
# t4001: public-inbox source over time: new commits, a new epoch, a `d`
# removal, a rewritten history (old commits still there, then gone), and
# kill -9 at random moments.  After every step the store must equal what a
# fresh store reading the same archive in one go holds (nothing lost,
# nothing duplicated, nothing left from rewritten-away commits).
source "$(dirname "$0")/lib.sh"
E2E="$SRCDIR/tests/e2e"
MBOX="$FIXTURES/mail/leds-recent.mbox"
INBOX="$T/inbox"

conf() { # DATADIR
	"$CIFEED" -d "$1" init >/dev/null || fail "init $1"
	printf '[source "leds"]\n\ttype = public-inbox\n\tpath = %s\n\tbatch = 40\n' "$INBOX" \
		>>"$1/cifeed.conf"
}
snapshot() { # DATADIR OUT
	"$CIFEED" -d "$1" patches --json | python3 "$E2E/patches_norm.py" >"$2"
}
# compare the incremental store with a fresh read of the archive as it is now
check_fresh() { # LABEL
	rm -rf "$T/fresh" && conf "$T/fresh"
	"$CIFEED" -d "$T/fresh" poll --once 2>/dev/null || fail "$1: fresh intake"
	snapshot "$T/fresh" "$T/fresh.json"
	snapshot "$T/data" "$T/incr.json"
	cmp -s "$T/fresh.json" "$T/incr.json" ||
		{ diff "$T/fresh.json" "$T/incr.json" | head -20; fail "$1: incremental store differs from a fresh read"; }
	note "$1: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), "series,", sum(len(s["patches"]) for s in d), "patch mails")' "$T/incr.json")"
}
npatches() { cf patches --json | python3 -c 'import json,sys; print(sum(len(s["patches"]) for s in json.load(sys.stdin)))'; }

conf "$T/data"
python3 "$E2E/mkinbox.py" "$MBOX" "$INBOX" --only-first 500 >/dev/null || fail mkinbox
cf poll --once 2>/dev/null || fail "intake 1"
check_fresh "first 500"
n1=$(npatches)

# more commits on the same epoch
python3 "$E2E/mkinbox.py" "$MBOX" "$INBOX" --skip-first 500 --only-first 300 >/dev/null
cf poll --once 2>/dev/null || fail "intake 2"
check_fresh "800 in epoch 0"
n2=$(npatches)
[ "$n2" -gt "$n1" ] || fail "no new patches after appending ($n1 -> $n2)"

# a new epoch
python3 "$E2E/mkinbox.py" "$MBOX" "$INBOX" --skip-first 800 --only-first 300 --new-epoch >/dev/null
[ -d "$INBOX/git/1.git" ] || fail "no epoch 1"
cf poll --once 2>/dev/null || fail "intake 3"
check_fresh "epoch 1"
grep -q '"1"' <(sqlite3 "$T/data/cifeed.db" "SELECT cursor FROM source_cursors WHERE source = 'leds'") ||
	fail "no cursor for epoch 1"

# a `d` removal of a patch mail, as public-inbox-learn rm writes it
E1="$INBOX/git/1.git"
read -r victim vmsgid < <(python3 - "$E1" <<'EOP'
import email, re, subprocess, sys
repo = sys.argv[1]
for c in subprocess.run(['git', '-C', repo, 'rev-list', '--reverse', 'master'], capture_output=True,
                        text=True, check=True).stdout.split():
    m = email.message_from_bytes(subprocess.run(['git', '-C', repo, 'cat-file', 'blob', c + ':m'],
                                                capture_output=True, check=True).stdout)
    s = ' '.join(str(m.get('Subject', '')).split())
    if s.startswith('[PATCH') and ' 0/' not in s:
        print(c, re.search(r'<([^>]+)>', m['Message-ID']).group(1)); break
EOP
)
[ -n "$vmsgid" ] || fail "no patch mail in epoch 1"
blob=$(git -C "$E1" rev-parse "$victim:m")
tree=$(printf '100644 blob %s\td\n' "$blob" | git -C "$E1" mktree)
c=$(echo rm | GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x \
	git -C "$E1" commit-tree "$tree" -p master)
git -C "$E1" update-ref refs/heads/master "$c"
# make sure the victim is a patch mail stored before the removal
cf patches --json "msgid:$vmsgid" >/dev/null; had=$?
cf poll --once 2>/dev/null || fail "intake d"
cf patches --json "msgid:$vmsgid" >/dev/null; now=$?
[ "$now" = 1 ] || fail "message <$vmsgid> still listed after its removal"
note "d removal of <$vmsgid> (was listed: $([ $had = 0 ] && echo yes || echo no))"
check_fresh "after d"

# a rewritten history: drop the last 60 commits of epoch 1, add others
git -C "$E1" update-ref refs/heads/master master~60
python3 "$E2E/mkinbox.py" "$MBOX" "$INBOX" --skip-first 1100 --only-first 150 >/dev/null
cf poll --once 2>"$T/rw.log" || fail "intake after rewrite"
grep -q 'event=intake.rewrite source=leds epoch=1' "$T/rw.log" || fail "rewrite not detected: $(cat "$T/rw.log")"
check_fresh "rewrite (old commits present)"

# a rewrite whose old commits are gone from the repository
git -C "$E1" update-ref refs/heads/master master~30
python3 "$E2E/mkinbox.py" "$MBOX" "$INBOX" --skip-first 1250 --only-first 150 >/dev/null
git -C "$E1" reflog expire --expire=now --all && git -C "$E1" gc -q --prune=now
cf poll --once 2>"$T/rw2.log" || fail "intake after rewrite+gc"
grep -q 'action="re-read epoch"' "$T/rw2.log" || fail "lost history not detected: $(cat "$T/rw2.log")"
check_fresh "rewrite (old commits gone)"

# kill -9 at random moments during a long read; the finished store is exact
rm -rf "$T/data" && conf "$T/data"
# Kill points are fractions of how long a whole read takes here (timed on a
# scratch store), so they land inside the read on fast machines too.
rm -rf "$T/probe" && conf "$T/probe"
full=$(run_ms "$CIFEED" -d "$T/probe" poll --once) || fail "timing a whole read"
note "a whole read takes $full ms"
hits=0
for i in 1 2 3 4 5 6; do
	"$CIFEED" -d "$T/data" poll --once 2>/dev/null >/dev/null &
	pid=$!
	sleep_ms $((full * (5 + RANDOM % 56) / 100 / i)) # 5-60% of a read, shrinking
	kill -9 "$pid" 2>/dev/null && hits=$((hits + 1))
	wait "$pid" 2>/dev/null
done
[ "$hits" -ge 1 ] || fail "no kill hit a running intake"
note "kill -9 hit $hits running intakes"
cf poll --once 2>"$T/final.log" || { cat "$T/final.log"; fail "intake after kills"; }
check_fresh "after kill -9"

# two readers of the same source at once: serialised by the store, still exact
rm -rf "$T/data" && conf "$T/data"
"$CIFEED" -d "$T/data" poll --once >/dev/null 2>"$T/c1.log" &
p1=$!
"$CIFEED" -d "$T/data" poll --once >/dev/null 2>"$T/c2.log" &
p2=$!
wait "$p1" || { cat "$T/c1.log"; fail "concurrent reader 1"; }
wait "$p2" || { cat "$T/c2.log"; fail "concurrent reader 2"; }
check_fresh "two concurrent readers"
pass
