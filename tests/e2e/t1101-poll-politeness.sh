#!/usr/bin/env bash
# Politeness: never more requests in flight to one host than its
# host-concurrency (the smallest among its sources), several in flight
# when allowed; a GitLab quota running low (RateLimit-Remaining/-Reset)
# spreads the remaining requests until the reset.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
cf init >/dev/null || fail init
conf_all_sources host-concurrency=3
source_conf lab2 gitlab "$RURL" project=1 since=2016-01-01T00:00:00Z per-page=1 host-concurrency=2
replay_delay 150
cf poll --once >/dev/null 2>"$T/err" || fail "poll: $(cat "$T/err")"
replay_log >"$T/log.json"
max=$(python3 - "$T/log.json" <<'PY'
import json, sys
ev = []
for e in json.load(open(sys.argv[1])):
    ev += [(e["t_start"], 1), (e["t"], -1)]
cur = top = 0
for _, d in sorted(ev, key=lambda x: (x[0], x[1])):
    cur += d; top = max(top, cur)
print(top)
PY
)
[ "$max" = 2 ] || fail "at most 2 requests in flight to the host (lab2 asks for 2), saw $max"

# quota: 1 request left, reset in 4 s -> the next ones wait ~2 s each
rm -rf "$T/data"; cf init >/dev/null
source_conf lab gitlab "$RURL" project=1 since=2016-01-01T00:00:00Z per-page=1
replay_delay 0
curl -fsS "$RURL/_control/config?gitlab_remaining=1&gitlab_reset_in=4" >/dev/null
replay_reset_log
cf -v poll --once >/dev/null 2>"$T/rl.err" || fail "poll: $(cat "$T/rl.err")"
grep -q 'event=poll.rate_limited' "$T/rl.err" || fail "no rate-limit log line"
replay_log >"$T/rl.json"
python3 - "$T/rl.json" <<'PY' || fail "requests not spread while the quota is low"
import json, sys
t = [e["t_start"] for e in json.load(open(sys.argv[1]))]
gaps = [b - a for a, b in zip(t, t[1:])]
print("# gaps with 1 request left, reset in 4 s: %s" % ", ".join("%.2f" % g for g in gaps), file=sys.stderr)
sys.exit(0 if len(gaps) >= 2 and min(gaps) >= 1.4 else 1)
PY
curl -fsS "$RURL/_control/config?gitlab_remaining=" >/dev/null
pass
