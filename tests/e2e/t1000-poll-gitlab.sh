#!/usr/bin/env bash
# GitLab through the replay server: `cifeed poll --once` stores the recorded
# pipelines, jobs, commit statuses and test reports as KCIDB objects with the
# fixtures' ids, statuses and links; pages are walked with Link/X-Next-Page;
# an idle cycle is a single conditional request answered 304; the export
# validates with ajv.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
cf init >/dev/null || fail init
source_conf lab gitlab "$RURL" project=1 project=21 since=2016-01-01T00:00:00Z per-page=1 \
	test-report=all interval=60

out=$(cf poll --once 2>"$T/err") || fail "poll --once: $(cat "$T/err")"
echo "$out" | grep -q '^lab: ok: 3 units' || fail "unexpected report: $out"
export_to "$T/a.json"
ajv_kcidb "$T/a.json" >/dev/null || fail "export does not validate: $(ajv_kcidb "$T/a.json")"

# pipelines -> checkouts (pipelines_list.json, pipeline_single.json)
c=$(obj "$T/a.json" checkouts lab:pipeline/47)
[ -n "$c" ] || fail "no checkout for pipeline 47"
[ "$(jq -r .git_commit_hash <<<"$c")" = a91957a858320c0e17f3a0eca7cfacbff50ea29a ] || fail "47 sha: $c"
[ "$(jq -r .git_repository_branch <<<"$c")" = new-pipeline ] || fail "47 branch: $c"
[ "$(jq -r .git_repository_url <<<"$c")" = https://example.com/foo/bar ] || fail "47 repo: $c"
[ "$(jq -r .start_time <<<"$c")" = 2016-08-11T11:28:34.085Z ] || fail "47 start: $c"
[ "$(jq -r .misc.gitlab.iid <<<"$c")" = 12 ] || fail "47 iid: $c"
c=$(obj "$T/a.json" checkouts lab:pipeline/287)
[ "$(jq -r .git_commit_hash <<<"$c")" = 50f0acb76a40e34a4ff304f7347dcc6587da8a14 ] || fail "287: $c"
[ "$(jq -r .origin_tests_finish_time <<<"$c")" = 2022-09-21T01:05:50.185Z ] || fail "287 finished: $c"
[ "$(jq '.checkouts | length' "$T/a.json")" = 3 ] || fail "checkouts: $(jq -c '[.checkouts[].id]' "$T/a.json")"

# jobs -> builds (pipeline_jobs.json), commit statuses -> builds (commit_statuses.json)
b=$(obj "$T/a.json" builds lab:job/7)
[ "$(jq -r '[.status,.checkout_id,.log_url,.comment] | join(" ")' <<<"$b")" = \
	"FAIL lab:pipeline/47 https://example.com/foo/bar/-/jobs/7/raw teaspoon" ] || fail "job 7: $b"
[ "$(jq -r .status <<<"$(obj "$T/a.json" builds lab:job/6)")" = MISS ] || fail "job 6 (stuck_or_timeout_failure)"
b=$(obj "$T/a.json" builds lab:job/91)
[ "$(jq -r '[.comment, (.status // "none")] | join(" ")' <<<"$b")" = "bundler:audit none" ] || fail "status 91: $b"

# test report of pipeline 287 (pipeline_test_report.json + summary)
t=$(obj "$T/a.json" tests "lab:pipeline/287/test/Failing/MyClassOne/Error testcase 1")
[ "$(jq -r '[.status,.path] | join(" ")' <<<"$t")" = "ERROR Failing.MyClassOne.Error_testcase_1" ] || fail "case: $t"
[ "$(jq -r .status <<<"$(obj "$T/a.json" tests lab:pipeline/287/suite/test)")" = PASS ] || fail "suite"
[ "$(jq -r .build_id <<<"$(obj "$T/a.json" tests lab:pipeline/287/suite/test)")" = lab:job/66004 ] || fail "suite build"
[ "$(jq '.tests | length' "$T/a.json")" = 6 ] || fail "tests: $(jq '.tests | length' "$T/a.json")"

# paging: project 1 (2 pipelines, per-page 1) took two list requests, page 2 via Link
replay_log >"$T/log1.json"
[ "$(jq '[.[] | select(.path == "/api/v4/projects/1/pipelines")] | length' "$T/log1.json")" = 2 ] ||
	fail "project 1 pages: $(jq -c '[.[] | .query]' "$T/log1.json")"
jq -e '[.[] | select(.path == "/api/v4/projects/1/pipelines") | .query | test("page=2")] | any' \
	"$T/log1.json" >/dev/null || fail "no page 2 request"
jq -e 'all(.[]; .accept_encoding != null and (.user_agent | startswith("cifeed/")))' "$T/log1.json" \
	>/dev/null || fail "requests lack Accept-Encoding or User-Agent"

# cycles two and three: the cursor moved, then nothing changed -> only 304s
cf poll --once >/dev/null 2>&1 || fail "second poll"
replay_reset_log
out=$(cf poll --once 2>/dev/null) || fail "third poll"
echo "$out" | grep -q '(2 not modified), 0 bytes, 0 objects' || fail "idle cycle not conditional: $out"
replay_log >"$T/log3.json"
[ "$(jq 'length' "$T/log3.json")" = 2 ] || fail "idle cycle made $(jq length "$T/log3.json") requests"
jq -e 'all(.[]; .status == 304 and (.if_none_match | startswith("W/")))' "$T/log3.json" >/dev/null ||
	fail "idle requests: $(jq -c . "$T/log3.json")"
export_to "$T/b.json"
cmp -s "$T/a.json" "$T/b.json" || fail "re-polling changed the store"

# the cursor is GitLab's own updated_at string
cf poll --status --json lab >"$T/st.json" || fail "poll --status"
[ "$(jq -r '.cursor["project:1"].updated_after' "$T/st.json")" = 2016-08-12T10:09:56.223Z ] ||
	fail "cursor: $(cat "$T/st.json")"
pass
