#!/usr/bin/env bash
# t2005-feed-settle-serve.sh - results settle before they go out; `cifeed serve` publishes.
#
# With a long [feed] settle, only final builds (failed: no tests will follow)
# go out at once, with their checkout root; the rest waits until the origin
# marks the checkout's tests finished, or `publish --now`.  Then the daemon's
# publisher service picks up a spooled submission by itself, off the loop.
source "$(dirname "$0")/lib.sh"

cf init >/dev/null || fail "init"
cat >>"$T/data/cifeed.conf" <<EOF2
[serve]
	listen = 127.0.0.1:$(free_port)
	publish-interval = 1
[feed]
	address = ci@example.org
	settle = 1h
EOF2
subjects() { cf feed show all -n 100 --json | python3 -c 'import json,sys; [print(m["subject"]) for m in json.load(sys.stdin)["newest"]]'; }

cf ingest "$FIXTURES/kcidb/kcidb-sample-full-v5.3.json" >/dev/null || fail "ingest"
cf feed publish 2>"$T/p1.err" || fail "publish 1"
grep -q 'pending=[1-9]' "$T/p1.err" || { cat "$T/p1.err"; fail "nothing is waiting to settle"; }
subjects >"$T/s1.txt"
grep -q '^\[CI FAIL\] net-next main .* aarch64/fedora (redhat): build FAIL' "$T/s1.txt" ||
	{ cat "$T/s1.txt"; fail "the failed (final) build did not go out at once"; }
grep -q '^\[CI\] net-next main .*(redhat)' "$T/s1.txt" || fail "no checkout root for the failed build"
grep -q 'mainline' "$T/s1.txt" && fail "an unsettled build went out"

# the origin says its tests are done: the build is final now
cat >"$T/done.json" <<'EOF2'
{"version":{"major":5,"minor":3},"checkouts":[{"id":"maestro:65a3982ee98651d0fe82b010","origin":"maestro","origin_tests_finish_time":"2024-01-14T10:00:00+00:00"}]}
EOF2
cf ingest "$T/done.json" >/dev/null || fail "ingest done"
cf feed publish 2>"$T/p2.err" || fail "publish 2"
subjects >"$T/s2.txt"
grep -q '^\[CI FAIL\] mainline master .* x86_64/' "$T/s2.txt" || { cat "$T/s2.txt"; fail "finished build did not go out"; }
grep -q 'CI issue' "$T/s2.txt" && fail "the issue (not final) went out before settling"
cf feed publish --now 2>"$T/p3.err" || fail "publish --now"
subjects >"$T/s3.txt"
grep -q 'CI issue' "$T/s3.txt" || fail "--now did not publish the rest"
grep -q 'pending=0' "$T/p3.err" || fail "units still pending after --now"

# the daemon: a spooled submission ends up in the feed without a CLI pass,
# soon after it is stored, not at the next publish-interval (an hour here)
sed -i 's/settle = 1h/settle = 0/; s/publish-interval = 1$/publish-interval = 1h/' "$T/data/cifeed.conf"
before=$(subjects | wc -l)
"$CIFEED" -d "$T/data" serve 2>"$T/serve.err" &
bg_track $!
mkdir -p "$T/data/spool/kcidb"
python3 "$SRCDIR/tests/e2e/feedgen.py" "$T/gen" --checkouts 1 --builds 1 --tests 2 --rounds 1 || fail "gen"
wait_for grep -q 'event=serve.ready' "$T/serve.err"
# the start-up pass must be over first, or it could publish the file itself
U="http://$(git config -f "$T/data/cifeed.conf" serve.listen)"
startup_pass_done() {
	curl -s "$U/metrics" |
		awk '$1 == "cifeed_publish_pass_seconds_count" && $2 >= 1 { ok = 1 } END { exit !ok }'
}
wait_for startup_pass_done
cp "$T/gen-0.json" "$T/data/spool/kcidb/.tmp-x" && mv "$T/data/spool/kcidb/.tmp-x" "$T/data/spool/kcidb/x.json"
has_more() { [ "$(subjects | wc -l)" -gt "$before" ]; }
WAIT_SECS=30 wait_for has_more
grep -q 'event=publish.pass' "$T/serve.err" || { cat "$T/serve.err"; fail "no publish.pass log"; }
kill -TERM "${_pids[-1]}"
wait "${_pids[-1]}" || { cat "$T/serve.err"; fail "serve did not stop cleanly"; }
cf feed verify >/dev/null || fail "verify"
pass
