# ran_cache_lib.sh - helpers for the /api/v1/ran answer cache tests (t3100-t3102);
# source after lib.sh.  Data: tests/e2e/data/ran-cache/ (see tests/e2e/data/README.md).
#
#   REVS                        the revisions of the data, as COMMIT:PATCHSET
#   rc_serve [DIR]              start `cifeed serve` on DIR (default $T/data) in the
#                               background, wait until it answers; sets $U and $SERVE
#   rc_get NAME REV [CURL ARGS] GET /api/v1/ran for REV: body $T/NAME.json, ETag
#                               $T/NAME.etag, status $T/NAME.code
#   rc_hits / rc_metric NAME    a counter of the running daemon's /metrics
#   rc_warm                     ask every revision twice and check the second asks were
#                               answered from the cache: the state every check starts from
#   rc_check STEP CHANGED...    after a submission: every revision's answer equals what
#                               the store says now (an uncacheable lookup of the same
#                               tests); the CHANGED revisions have a new body and ETag, the
#                               others the same bytes, ETag and 304 on If-None-Match
#   rc_remember                 keep every revision's current answer for rc_check

RC_DATA="$SRCDIR/tests/e2e/data/ran-cache"
RC_A=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3
RC_B=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3
RC_C=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3
RC_D=d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3
RC_P=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
RC_P2=6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b
REVS="$RC_A: $RC_A:$RC_P $RC_B: $RC_C: $RC_D: $RC_D:$RC_P2"

# short name of a revision for messages and file names: first 4 digits of each part
rc_short() { local c=${1%%:*} p=${1#*:}; echo "${c:0:4}${p:+-${p:0:4}}"; }
rc_query() { local c=${1%%:*} p=${1#*:}; echo "commit=$c${p:+&patchset=$p}"; }

rc_serve() {
	local dir=${1:-$T/data}
	"$CIFEED" -d "$dir" serve 2>>"$T/serve.log" &
	SERVE=$!
	bg_track "$SERVE"
	U="http://127.0.0.1:$(git config -f "$dir/cifeed.conf" serve.listen | sed 's/.*://')"
	wait_for curl -sf "$U/healthz"
}

rc_get() {
	local name=$1 rev=$2; shift 2
	curl -s -D "$T/$name.h" -o "$T/$name.json" -w '%{http_code}' "$@" \
		"$U/api/v1/ran?$(rc_query "$rev")" >"$T/$name.code" || fail "curl /ran $(rc_short "$rev")"
	sed -n 's/^ETag: *//Ip' "$T/$name.h" | tr -d '\r' >"$T/$name.etag"
}

rc_metric() {
	curl -s -o "$T/metrics.txt" "$U/metrics" || fail "curl /metrics"
	local v
	v=$(awk -v m="$1" '$1 == m { print $2 }' "$T/metrics.txt")
	echo "${v:-0}"
}
rc_hits() { rc_metric 'cifeed_ran_cache_lookups_total{result="hit"}'; }

rc_warm() {
	local rev h0 h1 n=0
	for rev in $REVS; do rc_get warm "$rev"; done
	h0=$(rc_hits)
	for rev in $REVS; do
		rc_get warm "$rev"
		[ "$(cat "$T/warm.code")" = 200 ] || fail "warm $(rc_short "$rev"): HTTP $(cat "$T/warm.code")"
		n=$((n + 1))
	done
	h1=$(rc_hits)
	[ $((h1 - h0)) = $n ] ||
		fail "the second ask of each of $n revisions should be a cache hit: $((h1 - h0)) hits"
}

rc_remember() {
	local rev s
	for rev in $REVS; do
		s=$(rc_short "$rev")
		rc_get "before-$s" "$rev"
	done
}

# the tests of an answer and its count, without the query it echoes
rc_tests() { jq -S '{tests, count, truncated}' "$1"; }

rc_check() {
	local step=$1 rev s c changed p; shift
	for rev in $REVS; do
		s=$(rc_short "$rev")
		rc_get "after-$s" "$rev"
		[ "$(cat "$T/after-$s.code")" = 200 ] || fail "$step: $s: HTTP $(cat "$T/after-$s.code")"
		# what the store says now: with origin= the lookup is never cached (every test
		# of the data has origin rc)
		c=${rev%%:*} p=${rev#*:}
		curl -sf -o "$T/ref-$s.json" "$U/api/v1/ran?commit=$c${p:+&patchset=$p}&origin=rc" ||
			fail "$step: reference lookup of $s"
		diff <(rc_tests "$T/ref-$s.json") <(rc_tests "$T/after-$s.json") >"$T/diff-$s" ||
			fail "$step: stale /ran answer for $s: $(cat "$T/diff-$s")"
		changed=0
		for c in "$@"; do [ "$c" = "$rev" ] && changed=1; done
		if [ $changed = 1 ]; then
			! cmp -s "$T/before-$s.json" "$T/after-$s.json" ||
				fail "$step: the answer for $s should have changed"
			[ "$(cat "$T/before-$s.etag")" != "$(cat "$T/after-$s.etag")" ] ||
				fail "$step: $s has new content under its old ETag $(cat "$T/after-$s.etag")"
			rc_get "inm-$s" "$rev" -H "If-None-Match: $(cat "$T/before-$s.etag")"
			[ "$(cat "$T/inm-$s.code")" = 200 ] ||
				fail "$step: If-None-Match with the old ETag of $s: HTTP $(cat "$T/inm-$s.code")"
		else
			cmp -s "$T/before-$s.json" "$T/after-$s.json" ||
				fail "$step: the answer for $s changed: $(diff "$T/before-$s.json" "$T/after-$s.json")"
			[ "$(cat "$T/before-$s.etag")" = "$(cat "$T/after-$s.etag")" ] ||
				fail "$step: the ETag of $s changed with the same content"
			rc_get "inm-$s" "$rev" -H "If-None-Match: $(cat "$T/before-$s.etag")"
			[ "$(cat "$T/inm-$s.code")" = 304 ] ||
				fail "$step: If-None-Match with the ETag of $s: HTTP $(cat "$T/inm-$s.code")"
		fi
	done
}
