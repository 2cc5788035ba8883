#!/usr/bin/env bash
# t3005: GET /api/v1/patches/MSGID on mail ingested by intake: the patch, its
# series (completeness, base-commit, versions), the trailers that apply to
# it (its own and a reviewer's for the whole series) and the checkout that
# tested the series, linked by intake, with its results; ajv-validated.
source "$(dirname "$0")/lib.sh"

COVER=cover.1795339831.git.alice@example.org
P1=41a483c7c74f77703c62ac4a9dd6d5b95f4b3d6a.1795339831.git.alice@example.org
P2=4f7fbd9a77bc5e527c1d47dc760467950d7b78ad.1795339831.git.alice@example.org
cf init >/dev/null 2>&1 || fail "init"
cf ingest --format mbox "$FIXTURES/patches/b4/series-base.mbox" \
	"$SRCDIR/tests/e2e/data/series-review-reply.mbox" 2>/dev/null || fail "mbox ingest"
jq -n --arg cover "$COVER" '{
  version: {major: 5, minor: 3},
  checkouts: [{id: "lab9:s1", origin: "lab9", git_commit_hash: "aceed2ad8410e615cad45933efe5dbad584a5de0",
               patchset_hash: "", message_id: $cover, start_time: "2023-11-11T10:00:00Z"}],
  builds: [{id: "lab9:sb1", checkout_id: "lab9:s1", origin: "lab9", architecture: "x86_64", status: "PASS"}],
  tests: [{id: "lab9:st1", build_id: "lab9:sb1", origin: "lab9", path: "boot", status: "PASS"},
          {id: "lab9:st2", build_id: "lab9:sb1", origin: "lab9", path: "ltp", status: "FAIL"}]
}' >"$T/co.json"
cf ingest "$T/co.json" 2>/dev/null || fail "kcidb ingest"

cf_bg serve 2>"$T/serve.log"
U="http://127.0.0.1:$(http_port)"
wait_for curl -sf "$U/healthz"

get() { curl -s -o "$T/$1.json" -w '%{http_code}' "$U/api/v1/patches/$2"; }
j() { jq -r "$2" "$T/$1.json"; }
[ "$(get p1 "$P1")" = 200 ] || fail "patch 1: $(cat "$T/p1.json")"
ajv_api patch "$T/p1.json" || fail "patch schema"
[ "$(j p1 .patch.subject)" = "[PATCH 1/2] a: patch on old base" ] || fail "subject"
[ "$(j p1 .patch.patch_id)" = adf4b1fedda2027ea265491e57529b4087f66883 ] || fail "patch-id"
[ "$(j p1 '.series.root_msgid + " " + (.series.total|tostring) + " " + (.series.complete|tostring)')" = \
  "$COVER 2 true" ] || fail "series: $(j p1 .series)"
[ "$(j p1 '[.series.patches[].position] | map(tostring) | join(",")')" = "0,1,2" ] || fail "series patches"
[ "$(j p1 '.series.base[0].kind + " " + .series.base[0].value')" = \
  "base-commit fd64807aa19a4a0d9e8243124a0c84ebb1a27df7" ] || fail "base-commit"
# its own Signed-off-by and the reviewer's series-wide Reviewed-by (not patch 2's trailer)
[ "$(j p1 '[.trailers[] | .key + "=" + .email + "=" + (.from_reply|tostring)] | sort | join(" ")')" = \
  "Reviewed-by=bob@example.org=true Signed-off-by=alice@example.org=false" ] ||
	fail "trailers: $(j p1 .trailers)"
[ "$(j p1 '.checkouts[0].id + " " + (.checkouts[0].tests.total|tostring) + " " + (.checkouts[0].tests.by_status.FAIL|tostring)')" = \
  "lab9:s1 2 1" ] || fail "linked checkout: $(j p1 .checkouts)"

[ "$(get cv "%3C$COVER%3E")" = 200 ] || fail "cover letter"
ajv_api patch "$T/cv.json" >/dev/null || fail "cover schema"
[ "$(j cv '.patch.subject')" = "[PATCH 0/2] Two small changes" ] || fail "cover subject"
[ "$(j cv '[.trailers[].key] | join(",")')" = "Reviewed-by" ] || fail "cover trailers: $(j cv .trailers)"
[ "$(get p2 "$P2")" = 200 ] || fail "patch 2"
[ "$(j p2 '[.trailers[].key] | sort | join(",")')" = "Reviewed-by,Signed-off-by" ] || fail "patch 2 trailers"
[ "$(j p2 '.checkouts | length')" = 1 ] || fail "patch 2 tested with the series"
# the reply itself is no patch: 404, as is an unknown id
[ "$(get rv review-1@example.org)" = 404 ] || fail "reply is not a patch: $(cat "$T/rv.json")"
[ "$(get no nobody@example.org)" = 404 ] || fail "unknown"

# the ran lookup by the series' Message-ID finds the same results
curl -s "$U/api/v1/ran?msgid=$COVER" | jq -e '[.tests[].path] == ["boot","ltp"]' >/dev/null || fail "ran by msgid"
kill -TERM "$CF_PID"
wait "$CF_PID" || fail "serve exited $?"
! grep -E "AddressSanitizer|LeakSanitizer|runtime error" "$T/serve.log" || fail "sanitizer report"
pass
