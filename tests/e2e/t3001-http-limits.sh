#!/usr/bin/env bash
# t3001: the server's limits against misbehaving clients (tests/e2e/httpprobe.py):
# 10,000 headers, oversized headers, URL and bodies, malformed requests,
# pipelining and keep-alive, the idle timeout, slowloris clients cut off at
# the request deadline while other clients keep being served, the
# connection cap and the per-client rate limit.
source "$(dirname "$0")/lib.sh"
PROBE="$SRCDIR/tests/e2e/httpprobe.py"

cf init >/dev/null 2>&1 || fail "init"
conf() { git config -f "$T/data/cifeed.conf" "serve.$1" "$2"; }
conf request-timeout 2
conf idle-timeout 2
conf max-connections 40
conf max-request-size 64k

start() {
	"$CIFEED" -d "$T/data" serve 2>>"$T/serve.log" &
	SERVE=$!
	bg_track $SERVE
	PORT=$(http_port)
	wait_for curl -sf "http://127.0.0.1:$PORT/healthz"
}
stop() {
	kill -TERM $SERVE
	wait $SERVE || fail "serve exited $? ($(tail -3 "$T/serve.log"))"
}

start
python3 "$PROBE" "$PORT" limits || fail "limits"
python3 "$PROBE" "$PORT" keepalive || fail "keep-alive"
python3 "$PROBE" "$PORT" idle 2 || fail "idle timeout"
python3 "$PROBE" "$PORT" slowloris 2 1 || fail "slowloris"
python3 "$PROBE" "$PORT" slowloris 2 30 || fail "30 slowloris clients"
python3 "$PROBE" "$PORT" cap 40 || fail "connection cap"
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
for r in headers_too_large body_too_large malformed request_timeout connection_cap target_too_long; do
	grep -q "^cifeed_http_rejected_total{reason=\"$r\"} [1-9]" "$T/metrics" || fail "no rejected metric for $r"
done
stop

conf rate-limit 5
start
python3 "$PROBE" "$PORT" rate 5 || fail "rate limit"
stop
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
