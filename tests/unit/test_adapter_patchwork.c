/*
 * test_adapter_patchwork.c - adapters/patchwork.c against the byte-exact
 * Patchwork 3.1.3 answers: the event walk and its cursor, patch and
 * series checkouts, check histories reduced per (user, context) so the
 * result matches the patch's own combined `check`, runs of checks, and
 * the overlap dedup.
 */
#include "adapter_fixture.h"

static const char conf[] = "[source \"pw\"]\n"
                           "\ttype = patchwork\n"
                           "\turl = https://patchwork.example.com\n"
                           "\tproject = patchwork\n"
                           "\tsince = 2026-11-22T09:32:14\n"
                           "\tper-page = 30\n";

static struct adapter_source *src;

static void setup(void)
{
	src = fx_source(conf, "pw");
}

static void teardown(void)
{
	adapter_source_free(src);
}

TestSuite(adapter_patchwork, .init = setup, .fini = teardown);

Test(adapter_patchwork, begin_naive_since)
{
	struct adapter_output out;
	struct err err = ERR_INIT;
	adapter_output_init(&out);
	cr_assert_eq(src->adapter->begin(src, NULL, 1700000000, &out, &err), 0);
	cr_assert_str_eq(out.reqs[0].url,
	                 "https://patchwork.example.com/api/1.3/events/?project=patchwork"
	                 "&order=date&since=2026-11-22T09%3A32%3A14.000000&per_page=30",
	                 "pinned API version, oldest first, naive UTC (no Z: HTTP 500 on 3.1)");
	adapter_output_free(&out);
	err_free(&err);
}

static struct adapter_request events_req(json_t *seen)
{
	struct adapter_request r = {.url = "https://patchwork.example.com/api/1.3/events/",
	                            .kind = 1};
	r.ctx = json_pack("{s:o}", "seen", seen ? seen : json_object());
	return r;
}

Test(adapter_patchwork, event_page)
{
	struct fx_response fx;
	fx_load(&fx, "patchwork/events_forward_since.json",
	        "patchwork/_headers/events_forward_since.headers.txt",
	        "https://patchwork.example.com/api/1.3/events/");
	struct adapter_request req = events_req(NULL);
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	/* patches met in patch-created / check-created events */
	json_t *c = fx_obj(&out, "checkouts", "pw:patch/6");
	cr_assert_str_eq(
	    fx_str(c, "message_id"),
	    "9924bcb47b215fb06ca64e4517e5c629bd09b375.1795339881.git.stephen@that.guru",
	    "Message-ID without <>");
	cr_assert_str_eq(fx_str(c, "comment"), "[v2,1/3] tests: Address flake8 issue");
	cr_assert_str_eq(fx_str(c, "tree_name"), "patchwork");
	cr_assert_str_eq(fx_str(c, "git_repository_url"),
	                 "https://github.com/getpatchwork/patchwork.git");
	cr_assert_str_eq(
	    fx_str(json_array_get(json_object_get(c, "patchset_files"), 0), "url"),
	    "https://patchwork.example.com/project/patchwork/patch/"
	    "9924bcb47b215fb06ca64e4517e5c629bd09b375.1795339881.git.stephen@that.guru/mbox/");
	for (int p = 4; p <= 8; p++) {
		char id[32];
		snprintf(id, sizeof(id), "pw:patch/%d", p);
		cr_assert_not_null(fx_obj(&out, "checkouts", id), "%s", id);
	}
	cr_assert_eq(fx_count(&out, "checkouts"), 5);
	/* one check history per patch with new checks; series 4 completed */
	cr_assert_not_null(fx_req(&out, "/api/1.3/patches/8/checks/?per_page=250"));
	cr_assert_not_null(fx_req(&out, "/api/1.3/patches/4/checks/"));
	cr_assert_null(fx_req(&out, "/api/1.3/patches/1/checks/"), "patch 1 only changed state");
	size_t nchecks = 0;
	for (size_t i = 0; i < out.nreqs; i++)
		nchecks += strstr(out.reqs[i].url, "/checks/") != NULL;
	cr_assert_eq(nchecks, 5);
	cr_assert_not_null(fx_req(&out, "/api/1.3/series/4/"));
	cr_assert_null(fx_req(&out, "/events/"), "no rel=next: last page");
	cr_assert_str_eq(fx_str(out.cursor, "since"), "2026-11-22T09:32:30.805249");
	cr_assert_eq(json_object_size(json_object_get(out.cursor, "seen")), 27,
	             "every id inside the 2 minute window");

	/* the same page again: nothing new */
	struct adapter_request again =
	    events_req(json_deep_copy(json_object_get(out.cursor, "seen")));
	struct adapter_output out2;
	fx_parse(src, &again, &fx.r, &out2);
	cr_assert_eq(fx_count(&out2, "checkouts"), 0);
	cr_assert_eq(out2.nreqs, 0);
	adapter_output_free(&out2);
	json_decref(again.ctx);
	adapter_output_free(&out);
	fx_free(&fx);

	/* a page with rel=next: the next page is the next unit */
	fx_load(&fx, "patchwork/events_default_page1.json",
	        "patchwork/_headers/events_default_page1.headers.txt",
	        "https://patchwork.example.com/api/1.3/events/");
	fx_parse(src, &req, &fx.r, &out);
	struct adapter_request *next = fx_req(&out, "/events/?page=2");
	cr_assert_not_null(next);
	cr_assert(next->flags & ADAPTER_REQ_NEXT);
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);
}

/* The combined state Patchwork shows for a patch, from our tests. */
static const char *combined(struct adapter_output *out, const char *prefix)
{
	int fail = 0, pending = 0, any = 0;
	size_t i;
	json_t *t;
	json_array_foreach (json_object_get(out->doc, "tests"), i, t) {
		if (strncmp(fx_str(t, "id"), prefix, strlen(prefix)))
			continue;
		any = 1;
		const char *st = fx_str(t, "status");
		if (!st)
			pending = 1;
		else if (!strcmp(st, "FAIL"))
			fail = 1;
	}
	return fail ? "fail" : (pending || !any) ? "pending" : "success";
}

Test(adapter_patchwork, checks_reduced_like_patchwork)
{
	struct fx_response fx;
	fx_load(&fx, "patchwork/patch_checks.json", "patchwork/_headers/patch_checks.headers.txt",
	        "https://patchwork.example.com/api/1.3/patches/3/checks/?per_page=250");
	struct adapter_request req = {.url = (char *)fx.r.url, .kind = 2};
	req.ctx = json_pack("{s:i}", "patch", 3);
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	/* build: pending (3) then fail (9) is one run, one test, FAIL */
	json_t *t = fx_obj(&out, "tests", "pw:patch/3/check/pw-ci/build/3");
	cr_assert_not_null(t);
	cr_assert_str_eq(fx_str(t, "status"), "FAIL");
	cr_assert_str_eq(fx_str(t, "path"), "build");
	cr_assert_str_eq(fx_str(t, "build_id"), "pw:patch/3/ci/pw-ci");
	cr_assert_str_eq(fx_str(t, "comment"), "Build failed: tox -e pep8 exited 1");
	cr_assert_str_eq(fx_str(t, "log_url"), "https://ci.patchwork.example.com/job/build/1003/");
	cr_assert_str_eq(fx_str(t, "start_time"), "2026-11-22T09:32:09.056115+00:00");
	cr_assert_float_eq(json_real_value(json_object_get(t, "duration")), 2.22658, 1e-6);
	cr_assert_null(fx_obj(&out, "tests", "pw:patch/3/check/pw-ci/build/9"),
	               "not a second test");
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "tests", "pw:patch/3/check/snowpatch/apply_patch/6"), "status"),
	    "PASS");
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "tests", "pw:patch/3/check/pw-ci/checkpatch/12"), "status"),
	    "PASS");
	cr_assert_eq(fx_count(&out, "tests"), 3);
	cr_assert_eq(fx_count(&out, "builds"), 2, "one per CI user");
	/* the same verdict as the patch's combined check (patch_detail.json) */
	struct buf d = BUF_INIT;
	fx_read(&d, "patchwork/patch_detail.json");
	json_t *detail = json_loads(d.ptr, 0, NULL);
	cr_assert_str_eq(combined(&out, "pw:patch/3/"), fx_str(detail, "check"));
	json_decref(detail);
	buf_free(&d);
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);

	/* patch 8: unit-tests still pending -> an open run: no status, no frozen details */
	fx_load(&fx, "patchwork/patch_checks_v2.json", NULL, "https://patchwork.example.com/x");
	struct adapter_request r8 = {.url = (char *)fx.r.url, .kind = 2};
	r8.ctx = json_pack("{s:i}", "patch", 8);
	fx_parse(src, &r8, &fx.r, &out);
	t = fx_obj(&out, "tests", "pw:patch/8/check/pw-ci/unit-tests/27");
	cr_assert_not_null(t);
	cr_assert_null(json_object_get(t, "status"));
	cr_assert_null(json_object_get(t, "comment"));
	cr_assert_null(json_object_get(t, "misc"));
	cr_assert_str_eq(combined(&out, "pw:patch/8/"), "pending");
	adapter_output_free(&out);

	/* a re-run after a final state is a new test: success (26), then pending, then fail */
	json_t *list = json_loads(fx.body.ptr, 0, NULL);
	json_t *again = json_deep_copy(json_array_get(list, 2)); /* checkpatch success, id 26 */
	json_object_set_new(again, "id", json_integer(40));
	json_object_set_new(again, "date", json_string("2026-11-22T10:00:00.000000"));
	json_object_set_new(again, "state", json_string("pending"));
	json_t *fail = json_deep_copy(again);
	json_object_set_new(fail, "id", json_integer(41));
	json_object_set_new(fail, "date", json_string("2026-11-22T10:05:00.000000"));
	json_object_set_new(fail, "state", json_string("fail"));
	json_object_set_new(fail, "description", json_string("2 style issues"));
	json_array_append_new(list, fail); /* out of order on purpose */
	json_array_append_new(list, again);
	char *s = json_dumps(list, 0);
	fx_set_body(&fx, s);
	free(s);
	fx_parse(src, &r8, &fx.r, &out);
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "tests", "pw:patch/8/check/pw-ci/checkpatch/26"), "status"),
	    "PASS");
	t = fx_obj(&out, "tests", "pw:patch/8/check/pw-ci/checkpatch/40");
	cr_assert_str_eq(fx_str(t, "status"), "FAIL");
	cr_assert_str_eq(fx_str(t, "comment"), "2 style issues");
	adapter_output_free(&out);
	json_decref(list);
	json_decref(r8.ctx);
	fx_free(&fx);
}

Test(adapter_patchwork, series_checkout)
{
	struct fx_response fx;
	fx_load(&fx, "patchwork/series_detail.json", NULL,
	        "https://patchwork.example.com/api/1.3/series/4/");
	struct adapter_request req = {.url = (char *)fx.r.url, .kind = 3};
	struct adapter_output out;
	fx_parse(src, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *c = fx_obj(&out, "checkouts", "pw:series/4");
	cr_assert_str_eq(fx_str(c, "message_id"), "cover.1795339881.git.stephen@that.guru",
	                 "the cover letter roots the series");
	cr_assert_str_eq(fx_str(c, "comment"), "Run pep8 checks through pre-commit");
	json_t *files = json_object_get(c, "patchset_files");
	cr_assert_eq(json_array_size(files), 3);
	cr_assert_str_eq(fx_str(json_array_get(files, 0), "name"), "0001-patch-6.mbox");
	cr_assert_str_eq(fx_str(json_array_get(files, 2), "name"), "0003-patch-8.mbox");
	json_t *m = json_object_get(json_object_get(c, "misc"), "patchwork");
	cr_assert_eq(json_integer_value(json_object_get(m, "version")), 2);
	cr_assert_eq(json_array_size(json_object_get(m, "patch_ids")), 3);
	adapter_output_free(&out);
	fx_free(&fx);
}
