#!/usr/bin/env bash
# The transport around the adapters: compressed answers are accepted and
# decoded (stored objects identical to an uncompressed run, fewer bytes on
# the wire), a forward proxy from http_proxy is used, and the per-source
# poll metrics appear in `cifeed serve`'s /metrics.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start --gzip
cf init >/dev/null || fail init
conf_all_sources
cf poll --once --json >"$T/gz.json" 2>"$T/err" || fail "poll: $(cat "$T/err")"
export_to "$T/gz-export.json"
replay_log >"$T/log.json"
jq -e 'all(.[]; .accept_encoding | test("gzip"))' "$T/log.json" >/dev/null || fail "no Accept-Encoding: gzip"

# the same without compression: the same objects
rm -rf "$T/data"; cf init >/dev/null
kill "$RPID"; wait "$RPID" 2>/dev/null
replay_start --port "$RP" # the same URL: Gerrit's web links name it
conf_all_sources
cf poll --once --json >"$T/plain.json" 2>"$T/err" || fail "poll: $(cat "$T/err")"
export_to "$T/plain-export.json"
cmp -s "$T/gz-export.json" "$T/plain-export.json" || fail "compressed answers stored differently"

# through a forward proxy named by http_proxy
python3 "$SRCDIR/tests/replay/proxy.py" --port-file "$T/proxy.port" &
bg_track $!
wait_for test -s "$T/proxy.port"
rm -rf "$T/data"; cf init >/dev/null
source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:30:00
replay_reset_log
http_proxy="http://127.0.0.1:$(cat "$T/proxy.port")" NO_PROXY= no_proxy= cf poll --once >/dev/null 2>"$T/err" ||
	fail "poll through the proxy: $(cat "$T/err")"
replay_log >"$T/plog.json"
jq -e 'length > 0 and all(.[]; .via_proxy == "1")' "$T/plog.json" >/dev/null || fail "requests did not go through the proxy"

# metrics of a serve run, as the HTTP API renders them
rm -rf "$T/data"; cf init >/dev/null
source_conf pw patchwork "$RURL" project=patchwork since=2026-11-22T09:30:00 interval=1
replay_fault 503 /api/1.3/events/ 1
cf_bg serve 2>"$T/serve.log"
wait_for grep -q 'event=poll.cycle source=pw' "$T/serve.log"
curl -fsS "http://127.0.0.1:$(http_port)/metrics" >"$T/metrics" || fail "GET /metrics"
kill -TERM "$CF_PID"; wait "$CF_PID"
for m in 'cifeed_poll_requests_total{source="pw",code="200"}' 'cifeed_poll_requests_total{source="pw",code="503"}' \
	'cifeed_poll_errors_total{source="pw",kind="http_503"} 1' 'cifeed_poll_cycles_total{source="pw",result="ok"}' \
	'cifeed_poll_bytes_total{source="pw"}' 'cifeed_poll_objects_total{source="pw",type="test"}' \
	'cifeed_poll_last_success_timestamp_seconds{source="pw"}' 'cifeed_poll_cycle_seconds_count{source="pw"}'; do
	grep -qF "$m" "$T/metrics" || fail "missing metric $m: $(grep cifeed_poll "$T/metrics" | head -20)"
done
pass
