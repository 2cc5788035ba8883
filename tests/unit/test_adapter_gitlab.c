/*
 * test_adapter_gitlab.c - adapters/gitlab.c against the recorded GitLab
 * responses: the requests a cycle makes, the objects each answer becomes
 * (concrete ids, statuses and links from the fixtures), cursors, dedup
 * inside the overlap window, 304 walking, and bad answers.
 */
#include "adapter_fixture.h"

static const char conf[] = "[source \"lab\"]\n"
                           "\ttype = gitlab\n"
                           "\turl = https://gitlab.example.com/\n"
                           "\tproject = 1\n"
                           "\tproject = group/sub proj\n"
                           "\tsince = 2016-08-01T00:00:00Z\n"
                           "\tper-page = 2\n";

static struct adapter_source *src;

static void setup(void)
{
	src = fx_source(conf, "lab");
}

static void teardown(void)
{
	adapter_source_free(src);
}

TestSuite(adapter_gitlab, .init = setup, .fini = teardown);

Test(adapter_gitlab, config_errors)
{
	struct err err = ERR_INIT;
	char dir[] = "/tmp/cifeed-unit.XXXXXX";
	cr_assert(mkdtemp(dir));
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/c", dir);
	FILE *f = fopen(p.ptr, "w");
	fputs("[source \"x\"]\n\ttype = gitlab\n\turl = https://h\n\tper-page = 500\n"
	      "\tproject = 1\n[source \"y\"]\n\ttype = gitlab\n\turl = https://h\n"
	      "[source \"z\"]\n\ttype = gitlab\n\turl = https://h\n\tproject = 1\n"
	      "\tsince = yesterday\n",
	      f);
	fclose(f);
	struct config *cfg;
	cr_assert(config_load(p.ptr, &cfg, &err) == 0, "%s", err_msg(&err));
	struct adapter_source *s;
	cr_assert(adapter_source_new(cfg, "x", &s, &err) < 0);
	cr_assert(strstr(err_msg(&err), "per-page"), "%s", err_msg(&err));
	cr_assert(adapter_source_new(cfg, "y", &s, &err) < 0);
	cr_assert(strstr(err_msg(&err), "project: missing"), "%s", err_msg(&err));
	cr_assert(adapter_source_new(cfg, "z", &s, &err) < 0);
	cr_assert(strstr(err_msg(&err), "since"), "%s", err_msg(&err));
	cr_assert_eq(err.code, ERR_CONFIG);
	config_free(cfg);
	unlink(p.ptr);
	rmdir(dir);
	buf_free(&p);
	err_free(&err);
}

Test(adapter_gitlab, begin_lists_each_project)
{
	struct adapter_output out;
	struct err err = ERR_INIT;
	adapter_output_init(&out);
	cr_assert_str_eq(src->origin, "lab");
	cr_assert_eq(src->adapter->begin(src, NULL, 1700000000, &out, &err), 0);
	cr_assert_eq(out.nreqs, 2);
	cr_assert_str_eq(out.reqs[0].url,
	                 "https://gitlab.example.com/api/v4/projects/1/pipelines?updated_after="
	                 "2016-08-01T00%3A00%3A00.000Z&order_by=updated_at&sort=asc&per_page=2");
	cr_assert(out.reqs[0].flags & ADAPTER_REQ_NEXT, "each listing is its own unit");
	cr_assert_str_eq(out.reqs[0].cache_key, "pipelines:project:1");
	cr_assert(strstr(out.reqs[1].url, "/projects/group%2Fsub%20proj/pipelines?"),
	          "paths are URL-encoded: %s", out.reqs[1].url);
	adapter_output_free(&out);

	/* with a cursor: updated_after = cursor - 5 min overlap */
	json_t *cur =
	    json_pack("{s:{s:s}}", "project:1", "updated_after", "2016-08-12T10:09:56.223Z");
	adapter_output_init(&out);
	cr_assert_eq(src->adapter->begin(src, cur, 1700000000, &out, &err), 0);
	cr_assert(strstr(out.reqs[0].url, "updated_after=2016-08-12T10%3A04%3A56.223Z&"), "%s",
	          out.reqs[0].url);
	json_decref(cur);
	adapter_output_free(&out);
	err_free(&err);
}

static struct adapter_request list_req(json_t *state)
{
	struct adapter_request r = {0};
	r.url = "https://gitlab.example.com/api/v4/projects/1/pipelines?page=1";
	r.kind = 1;
	r.ctx = json_pack("{s:s, s:s, s:b, s:o}", "listing", "project:1", "project", "1", "child",
	                  0, "state", state ? state : json_object());
	return r;
}

Test(adapter_gitlab, pipelines_page)
{
	struct fx_response fx;
	fx_load(&fx, "gitlab/pipelines_list.json", "gitlab/_headers/pipelines_list.headers.txt",
	        "https://gitlab.example.com/api/v4/projects/1/pipelines?page=1");
	struct adapter_request req = list_req(NULL);
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);

	cr_assert_eq(fx_count(&out, "checkouts"), 2);
	json_t *c47 = fx_obj(&out, "checkouts", "lab:pipeline/47");
	cr_assert_not_null(c47);
	cr_assert_str_eq(fx_str(c47, "git_commit_hash"),
	                 "a91957a858320c0e17f3a0eca7cfacbff50ea29a");
	cr_assert_str_eq(fx_str(c47, "git_repository_branch"), "new-pipeline");
	cr_assert_str_eq(fx_str(c47, "git_repository_url"), "https://example.com/foo/bar");
	cr_assert_str_eq(fx_str(c47, "start_time"), "2016-08-11T11:28:34.085Z");
	cr_assert_str_eq(fx_str(c47, "patchset_hash"), "");
	cr_assert_str_eq(fx_str(c47, "comment"), "Build pipeline");
	cr_assert_str_eq(fx_str(c47, "origin"), "lab");
	cr_assert_null(json_object_get(c47, "origin_builds_finish_time"), "pending: not finished");
	json_t *gl = json_object_get(json_object_get(c47, "misc"), "gitlab");
	cr_assert_eq(json_integer_value(json_object_get(gl, "iid")), 12);
	cr_assert_str_eq(fx_str(gl, "source"), "push");
	cr_assert_str_eq(fx_str(fx_obj(&out, "checkouts", "lab:pipeline/48"), "git_commit_hash"),
	                 "eb94b618fb5865b26e80fdd8ae531b7a63ad851a");

	/* follow-ups: jobs of both (pending: no test report), next page as a new unit */
	struct adapter_request *j47 = fx_req(&out, "/pipelines/47/jobs?");
	cr_assert_not_null(j47);
	cr_assert(strstr(j47->url, "include_retried=true"));
	cr_assert_eq(j47->flags & ADAPTER_REQ_NEXT, 0, "jobs belong to the page's unit");
	cr_assert_not_null(fx_req(&out, "/pipelines/48/jobs?"));
	cr_assert_null(fx_req(&out, "test_report"));
	struct adapter_request *next = fx_req(&out, "page=2");
	cr_assert_not_null(next);
	cr_assert(next->flags & ADAPTER_REQ_NEXT);
	cr_assert_str_eq(
	    next->url,
	    "https://gitlab.example.com/api/v4/projects/1/pipelines?id=1&order_by="
	    "updated_at&page=2&per_page=2&sort=asc&updated_after=2016-08-11T00%3A00%3A00Z");
	cr_assert_null(next->cache_key, "only first pages are conditional");

	/* cursor: the greatest updated_at as GitLab wrote it, and the dedup set */
	json_t *st = json_object_get(out.cursor, "project:1");
	cr_assert_str_eq(fx_str(st, "updated_after"), "2016-08-12T10:09:56.223Z");
	json_t *seen = json_object_get(st, "seen");
	cr_assert_str_eq(fx_str(seen, "48"), "2016-08-12T10:09:56.223Z");
	cr_assert_null(json_object_get(seen, "47"), "47 is older than the overlap window");

	/* the same page again with that state: 48 unchanged -> skipped, 47 out of window -> again
	 */
	struct adapter_request req2 = list_req(json_deep_copy(st));
	struct adapter_output out2;
	fx_parse(src, &req2, &fx.r, &out2);
	cr_assert_null(fx_obj(&out2, "checkouts", "lab:pipeline/48"));
	cr_assert_null(fx_req(&out2, "/pipelines/48/"));
	cr_assert_not_null(fx_obj(&out2, "checkouts", "lab:pipeline/47"));
	cr_assert(json_equal(json_object_get(out2.cursor, "project:1"), st));

	/* 304: no body, cached headers -> nothing stored, the walk goes on */
	struct fx_response nm = fx;
	nm.r.status = 304;
	nm.r.body = "";
	nm.r.len = 0;
	struct adapter_output out3;
	fx_parse(src, &req2, &nm.r, &out3);
	cr_assert_eq(fx_count(&out3, "checkouts"), 0);
	cr_assert_eq(out3.nreqs, 1);
	cr_assert_not_null(fx_req(&out3, "page=2"));

	adapter_output_free(&out);
	adapter_output_free(&out2);
	adapter_output_free(&out3);
	json_decref(req.ctx);
	json_decref(req2.ctx);
	fx_free(&fx);
}

Test(adapter_gitlab, merge_request_refs_and_odd_items)
{
	struct fx_response fx;
	fx_load(&fx, "local:gitlab/pipelines_mr_refs.json", NULL, "https://gitlab.example.com/x");
	struct adapter_request req = list_req(NULL);
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *c = fx_obj(&out, "checkouts", "lab:pipeline/901");
	json_t *gl = json_object_get(json_object_get(c, "misc"), "gitlab");
	cr_assert_eq(json_integer_value(json_object_get(gl, "merge_request_iid")), 42);
	cr_assert_str_eq(fx_str(gl, "merge_request_ref"), "head");
	cr_assert_null(json_object_get(c, "git_repository_branch"), "an MR ref is not a branch");
	cr_assert_str_eq(fx_str(c, "origin_tests_finish_time"), "2024-03-01T10:20:00.500Z");
	cr_assert_not_null(fx_req(&out, "/pipelines/901/test_report_summary"),
	                   "finished: its test report summary is fetched");
	cr_assert_null(fx_req(&out, "/pipelines/902/test_report_summary"), "running: not yet");
	json_t *c3 = fx_obj(&out, "checkouts", "lab:pipeline/903");
	cr_assert_null(json_object_get(c3, "git_commit_hash"), "not a full sha: left out");
	cr_assert_null(json_object_get(c3, "git_repository_url"),
	               "http:// is not a KCIDB repo URL");
	cr_assert_null(fx_obj(&out, "checkouts", "lab:pipeline/904"));
	cr_assert(strstr(buf_cstr(&out.notes), "without id or updated_at"), "the skip is noted");
	cr_assert_null(fx_req(&out, "/pipelines?"), "no Link, no X-Next-Page: last page");
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);
}

Test(adapter_gitlab, jobs_then_statuses)
{
	struct fx_response fx;
	fx_load(&fx, "gitlab/pipeline_jobs.json", NULL,
	        "https://gitlab.example.com/api/v4/projects/1/pipelines/47/jobs");
	struct adapter_request req = {.url = (char *)fx.r.url, .kind = 2};
	req.ctx = json_pack("{s:s, s:i, s:s, s:b, s:[]}", "project", "1", "pipeline", 47, "sha",
	                    "a91957a858320c0e17f3a0eca7cfacbff50ea29a", "terminal", 0, "job_ids");
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *b6 = fx_obj(&out, "builds", "lab:job/6"), *b7 = fx_obj(&out, "builds", "lab:job/7");
	cr_assert_str_eq(fx_str(b6, "checkout_id"), "lab:pipeline/47",
	                 "the URL's pipeline, not the job's copy (6)");
	cr_assert_str_eq(fx_str(b6, "status"), "MISS", "stuck_or_timeout_failure blames the CI");
	cr_assert_str_eq(fx_str(b7, "status"), "FAIL", "script_failure blames the code");
	cr_assert_str_eq(fx_str(b7, "comment"), "teaspoon");
	cr_assert_str_eq(fx_str(b7, "log_url"), "https://example.com/foo/bar/-/jobs/7/raw");
	cr_assert_str_eq(fx_str(b7, "start_time"), "2015-12-24T17:54:27.722Z");
	cr_assert_float_eq(json_real_value(json_object_get(b7, "duration")), 0.173, 1e-9);
	json_t *gl = json_object_get(json_object_get(b7, "misc"), "gitlab");
	cr_assert_str_eq(fx_str(gl, "stage"), "test");
	cr_assert_str_eq(fx_str(gl, "failure_reason"), "script_failure");

	struct adapter_request *sr = fx_req(&out, "/statuses?");
	cr_assert_not_null(sr);
	cr_assert_str_eq(sr->url, "https://gitlab.example.com/api/v4/projects/1/repository/commits/"
	                          "a91957a858320c0e17f3a0eca7cfacbff50ea29a/statuses?pipeline_id=47"
	                          "&all=true&per_page=100");
	cr_assert_eq(json_array_size(json_object_get(sr->ctx, "job_ids")), 2);

	/* statuses: ids already seen as jobs are skipped; others become builds */
	struct fx_response fs;
	fx_load(&fs, "gitlab/commit_statuses.json", NULL, sr->url);
	json_array_append_new(json_object_get(sr->ctx, "job_ids"), json_integer(90));
	struct adapter_output out2;
	fx_parse(src, sr, &fs.r, &out2);
	fx_assert_valid(&out2);
	cr_assert_null(fx_obj(&out2, "builds", "lab:job/90"), "90 came from the jobs list");
	json_t *b91 = fx_obj(&out2, "builds", "lab:job/91");
	cr_assert_str_eq(fx_str(b91, "comment"), "bundler:audit");
	cr_assert_str_eq(fx_str(b91, "checkout_id"), "lab:pipeline/47");
	cr_assert_null(json_object_get(b91, "status"), "pending: not final");
	cr_assert_null(json_object_get(b91, "misc"), "volatile details wait for the final state");
	adapter_output_free(&out);
	adapter_output_free(&out2);
	json_decref(req.ctx);
	fx_free(&fx);
	fx_free(&fs);
}

Test(adapter_gitlab, test_report_summary_and_cases)
{
	struct fx_response fx;
	fx_load(&fx, "gitlab/pipeline_test_report_summary.json", NULL,
	        "https://gitlab.example.com/api/v4/projects/21/pipelines/287/test_report_summary");
	struct adapter_request req = {.url = (char *)fx.r.url, .kind = 4};
	req.ctx = json_pack("{s:s, s:i}", "project", "21", "pipeline", 287);
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *t = fx_obj(&out, "tests", "lab:pipeline/287/suite/test");
	cr_assert_not_null(t);
	cr_assert_str_eq(fx_str(t, "status"), "PASS", "3351 passed, 12 skipped, none failed");
	cr_assert_str_eq(fx_str(t, "build_id"), "lab:job/66004", "the suite's build_ids[0]");
	cr_assert_str_eq(fx_str(t, "path"), "test");
	cr_assert_null(fx_req(&out, "test_report"), "test-report=failures and nothing failed");
	adapter_output_free(&out);

	/* the full report */
	struct fx_response fr;
	fx_load(&fr, "gitlab/pipeline_test_report.json", NULL,
	        "https://gitlab.example.com/api/v4/projects/21/pipelines/287/test_report");
	struct adapter_request rr = {.url = (char *)fr.r.url, .kind = 5};
	rr.ctx = json_pack("{s:i, s:{s:i}}", "pipeline", 287, "builds", "Failing", 66010);
	fx_parse(src, &rr, &fr.r, &out);
	fx_assert_valid(&out);
	cr_assert_eq(fx_count(&out, "tests"), 5);
	json_t *e1 =
	    fx_obj(&out, "tests", "lab:pipeline/287/test/Failing/MyClassOne/Error testcase 1");
	cr_assert_not_null(e1);
	cr_assert_str_eq(fx_str(e1, "status"), "ERROR");
	cr_assert_str_eq(fx_str(e1, "path"), "Failing.MyClassOne.Error_testcase_1");
	cr_assert_str_eq(fx_str(e1, "build_id"), "lab:job/66010");
	cr_assert_str_eq(fx_str(e1, "log_excerpt"),
	                 "Failed test\njava.lang.Exception: Stack trace\nat "
	                 "java.base/java.lang.Thread.dumpStack(Thread.java:1383)");
	cr_assert_str_eq(fx_str(json_array_get(json_object_get(e1, "output_files"), 0), "url"),
	                 "http://foo.bar");
	json_t *e2 =
	    fx_obj(&out, "tests", "lab:pipeline/287/test/Failing/MyClass/Error testcase 2");
	cr_assert_str_eq(fx_str(e2, "log_excerpt"),
	                 "{\"message\":\"Failed test\",\"type\":\"MultipleExceptionError\"}",
	                 "system_output as an object");
	json_t *e3 =
	    fx_obj(&out, "tests", "lab:pipeline/287/test/Failing/MyClass/Error testcase 3");
	cr_assert_str_eq(fx_str(e3, "log_excerpt"), "Failed test a\nFailed test b",
	                 "system_output as an array");
	json_t *ok =
	    fx_obj(&out, "tests", "lab:pipeline/287/test/Succes suite/MyClass/Succesfull testcase");
	cr_assert_str_eq(fx_str(ok, "status"), "PASS");
	cr_assert_str_eq(fx_str(ok, "path"), "Succes_suite.MyClass.Succesfull_testcase");
	cr_assert_str_eq(fx_str(ok, "build_id"), "lab:pipeline/287/report",
	                 "no job known for this suite: the pipeline's report build");
	cr_assert_not_null(fx_obj(&out, "builds", "lab:pipeline/287/report"));
	adapter_output_free(&out);
	json_decref(req.ctx);
	json_decref(rr.ctx);
	fx_free(&fx);
	fx_free(&fr);
}

Test(adapter_gitlab, bad_answers)
{
	struct fx_response fx;
	struct err err = ERR_INIT;
	struct adapter_output out;
	struct adapter_request req = list_req(NULL);
	fx_load(&fx, "gitlab/error_400_validation.json", NULL, "https://gitlab.example.com/x");
	adapter_output_init(&out);
	cr_assert_eq(src->adapter->parse(src, &req, &fx.r, &out, &err), -1,
	             "an object, not a list");
	cr_assert_eq(err.code, ERR_INVALID);
	cr_assert(strstr(err_msg(&err), "https://gitlab.example.com/x"));
	adapter_output_free(&out);
	fx_set_body(&fx, "[{\"id\": 1, \"updated_at\": ");
	adapter_output_init(&out);
	cr_assert_eq(src->adapter->parse(src, &req, &fx.r, &out, &err), -1, "truncated JSON");
	cr_assert(strstr(err_msg(&err), "malformed JSON"));
	adapter_output_free(&out);
	fx_free(&fx);
	fx_load(&fx, "gitlab/_headers/rate_limited_429.body.txt", NULL,
	        "https://gitlab.example.com/x");
	adapter_output_init(&out);
	cr_assert_eq(src->adapter->parse(src, &req, &fx.r, &out, &err), -1, "plain text");
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);
	err_free(&err);
}
