#!/usr/bin/env bash
# Every injected upstream fault, across the four source types, while
# `cifeed serve` polls: the daemon keeps running, logs ONE line per failure
# naming the source, the URL and what went wrong, backs off exponentially,
# honours Retry-After, and once the faults are gone the store is exactly the
# store of a fault-free run (cifeed export compared byte for byte).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start

# the fault-free reference
cf init >/dev/null || fail init
conf_all_sources
cf poll --once >"$T/ref.out" 2>"$T/ref.err" || fail "reference poll: $(cat "$T/ref.out" "$T/ref.err")"
export_to "$T/ref.json"
[ "$(jq '.tests | length' "$T/ref.json")" -gt 50 ] || fail "reference store too small"
mv "$T/data" "$T/ref"

cf init >/dev/null || fail init
conf_all_sources interval=1 backoff-max=4 timeout=2 connect-timeout=2 low-speed-time=1 \
	max-response-size=4m
replay_reset_log
# kind path count extra...
replay_fault 500 /api/v4/projects/1/pipelines 3 exact=1
replay_fault 502 /changes/ 1 exact=1
replay_fault 429 /api/v4/projects/1/pipelines/47/jobs 1 retry_after=3
replay_fault reset /latest/events 1
replay_fault stall /api/1.3/events/ 1 seconds=4
replay_fault trickle /api/v4/projects/1/repository/commits/ 1 interval=0.5
replay_fault truncate /changes/gerrit~246332/revisions/ 1
replay_fault malformed /api/1.3/patches/3/checks/ 1
replay_fault huge /latest/node/ 1 mb=50
replay_fault wrong_type /api/v4/projects/21/pipelines/287/test_report 1 exact=1
injected=12

cf_bg serve 2>"$T/serve.log"
serve=$CF_PID
converged() {
	[ "$(curl -fsS "$RURL/_control/faults")" = "[]" ] || return 1
	cf export -o "$T/now.json" 2>/dev/null && cmp -s "$T/now.json" "$T/ref.json"
}
for i in $(seq 1 150); do converged && break; sleep 0.5; done
kill -0 "$serve" 2>/dev/null || fail "cifeed serve died: $(tail -5 "$T/serve.log")"
[ "$(curl -fsS "$RURL/_control/faults")" = "[]" ] || fail "faults not all hit: $(curl -fsS "$RURL/_control/faults")"
cmp -s "$T/now.json" "$T/ref.json" ||
	fail "store differs from the fault-free run: $(diff <(jq -S . "$T/ref.json") <(jq -S . "$T/now.json") | head -20)"

# one log line per failure, each naming source, URL and error
replay_log >"$T/log.json"
faulted=$(jq '[.[] | select(.fault != null)] | length' "$T/log.json")
[ "$faulted" = "$injected" ] || fail "$faulted faulted requests, injected $injected"
grep 'event=poll.failed' "$T/serve.log" >"$T/failed.log"
[ "$(wc -l <"$T/failed.log")" = "$injected" ] ||
	fail "$(wc -l <"$T/failed.log") failure lines for $injected failures: $(cat "$T/failed.log")"
grep -v 'source=[a-z]* type=[a-z]* url="\?http://127.0.0.1:[0-9]*/[^ ]* error=.* kind=[a-z_0-9]* failures=[0-9]* retry_in=[0-9]*s' \
	"$T/failed.log" && fail "a failure line lacks source, url, error or backoff"
expect_line() { # KIND URL-PART ERROR-PATTERN
	grep "kind=$1 " "$T/failed.log" | grep -F "$2" | grep -Eq "$3" ||
		fail "no '$1' line for $2 matching /$3/: $(cat "$T/failed.log")"
}
expect_line http_500 "/api/v4/projects/1/pipelines?" 'error="HTTP 500: <html>'
expect_line http_502 "/changes/?q=" 'error="HTTP 502'
expect_line http_429 "/pipelines/47/jobs" 'HTTP 429: Retry later \(server asks to retry after 3s\)'
expect_line reset "/latest/events?" 'error="connection reset or closed early: '
expect_line timeout "/api/1.3/events/?" 'error="timed out: (Operation timed out|Operation too slow)'
expect_line timeout "/repository/commits/" 'error="timed out: (Operation timed out|Operation too slow)'
expect_line truncated "/revisions/a669b899d3a6af2beee8e045c6a30dcad30fb577/patch" 'error="truncated body: '
expect_line parse "/api/1.3/patches/3/checks/" 'error="malformed JSON at line 1'
expect_line too_large "/latest/node/" 'larger than the 4194304-byte limit'
expect_line content_type "/pipelines/287/test_report" "expected JSON, got content type 'text/html"

# backoff: the three 500s on GitLab's listing came further and further apart
jq -r '[.[] | select(.path == "/api/v4/projects/1/pipelines")] | .[0:4] | map(.t_start) | @tsv' \
	"$T/log.json" >"$T/t.tsv"
read -r t1 t2 t3 t4 <"$T/t.tsv"
python3 - "$t1" "$t2" "$t3" "$t4" <<'PY' || fail "no exponential backoff: $(cat "$T/t.tsv")"
import sys
t = [float(x) for x in sys.argv[1:]]
g = [b - a for a, b in zip(t, t[1:])]
print("# gaps between failed attempts: %s" % ", ".join("%.2f" % x for x in g), file=sys.stderr)
# base 1 s (interval), equal jitter: [0.5,1], [1,2], [2,4]; the 429's 3 s hold may stretch one
sys.exit(0 if 0.45 <= g[0] and g[1] >= 0.95 and g[2] >= 1.9 and g[2] > g[0] else 1)
PY
# Retry-After: 3 held the host: the source's next request came >= 3 s later
python3 - "$T/log.json" <<'PY' || fail "Retry-After not honoured"
import json, sys
log = json.load(open(sys.argv[1]))
i = next(i for i, e in enumerate(log) if e["fault"] == "429")
t429 = log[i]["t"]
later = [e["t_start"] for e in log if e["t_start"] > t429 and e["path"].startswith("/api/v4/")]
gap = min(later) - t429
print("# first GitLab request after the 429: %.2fs later" % gap, file=sys.stderr)
sys.exit(0 if gap >= 2.9 else 1)
PY
# health is recorded and the last error kept
cf poll --status --json lab >"$T/st.json"
jq -e '.failures == 0 and (.last_error | test("test_report: expected JSON"))' "$T/st.json" >/dev/null || fail "status: $(cat "$T/st.json")"

kill -TERM "$serve"
for i in $(seq 1 100); do kill -0 "$serve" 2>/dev/null || break; sleep 0.1; done
kill -0 "$serve" 2>/dev/null && fail "serve did not stop on SIGTERM"
wait "$serve"; rc=$?
[ "$rc" = 0 ] || fail "serve exit status $rc: $(tail -5 "$T/serve.log")"
grep -q 'event=poll.stopped' "$T/serve.log" || fail "no poll.stopped line"
grep -E 'ERROR: AddressSanitizer|runtime error' "$T/serve.log" && fail "sanitizer report"
pass
