/*
 * test_adapter_kernelci.c - adapters/kernelci.c against the recorded
 * Maestro answers: URLs of both modes, node kinds (current and legacy
 * shapes), ids as Maestro submits them, naive timestamps made UTC, the
 * climb from a test to its kbuild, status rules for incomplete nodes,
 * unsorted pages and the cursor.
 */
#include "adapter_fixture.h"

static const char conf[] = "[source \"kci\"]\n"
                           "\ttype = kernelci\n"
                           "\turl = https://api.kernelci.example/latest\n"
                           "\tsince = 2024-01-01T00:00:00\n"
                           "\tpage-size = 2\n"
                           "\tfilter = kind=test\n"
                           "\tsuite-map = kselftest-exec=kselftest\n"
                           "[source \"kcin\"]\n"
                           "\ttype = kernelci\n"
                           "\tmode = nodes\n"
                           "\turl = https://api.kernelci.example/latest\n"
                           "\tpage-size = 50\n";

static struct adapter_source *ev, *nodes;

static void setup(void)
{
	ev = fx_source(conf, "kci");
	nodes = fx_source(conf, "kcin");
}

static void teardown(void)
{
	adapter_source_free(ev);
	adapter_source_free(nodes);
}

TestSuite(adapter_kernelci, .init = setup, .fini = teardown);

Test(adapter_kernelci, urls_and_origin)
{
	cr_assert_str_eq(ev->origin, "maestro", "the ids Maestro itself submits to KCIDB");
	struct adapter_output out;
	struct err err = ERR_INIT;
	adapter_output_init(&out);
	cr_assert_eq(ev->adapter->begin(ev, NULL, 1700000000, &out, &err), 0);
	cr_assert_str_eq(out.reqs[0].url,
	                 "https://api.kernelci.example/latest/events?recursive=true&"
	                 "from=2024-01-01T00%3A00%3A00.000000&kind=test&limit=2&offset=0");
	adapter_output_free(&out);
	json_t *cur = json_pack("{s:s}", "from", "2024-10-04T00:49:15.691000");
	adapter_output_init(&out);
	cr_assert_eq(nodes->adapter->begin(nodes, cur, 1700000000, &out, &err), 0);
	cr_assert_str_eq(out.reqs[0].url,
	                 "https://api.kernelci.example/latest/nodes?updated__gt="
	                 "2024-10-04T00%3A48%3A15.691000&limit=50&offset=0",
	                 "naive, as Maestro parses it, one minute of overlap");
	json_decref(cur);
	adapter_output_free(&out);
	err_free(&err);
}

static struct adapter_request list_req(int kind)
{
	struct adapter_request r = {.url = "https://api.kernelci.example/latest/x",
	                            .kind = (unsigned)kind};
	r.ctx = json_pack("{s:s, s:I, s:o}", "from", "2024-01-01T00:00:00.000000", "offset",
	                  (json_int_t)0, "seen", json_object());
	return r;
}

Test(adapter_kernelci, checkout_nodes_current_and_legacy)
{
	struct fx_response fx;
	fx_load(&fx, "maestro/nodes-list-checkouts-mainline.json", NULL,
	        "https://api.kernelci.example/latest/nodes");
	fx_unwrap_data(&fx.body);
	fx.r.body = fx.body.ptr;
	fx.r.len = fx.body.len;
	struct adapter_request req = list_req(2);
	struct adapter_output out;
	fx_parse(nodes, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *c = fx_obj(&out, "checkouts", "maestro:65a3982ee98651d0fe82b010");
	cr_assert_not_null(c);
	cr_assert_str_eq(fx_str(c, "git_commit_hash"), "052d534373b7ed33712a63d5e17b2b6cdbce84fd");
	cr_assert_str_eq(fx_str(c, "tree_name"), "mainline");
	cr_assert_str_eq(fx_str(c, "git_repository_branch"), "master");
	cr_assert_str_eq(fx_str(c, "git_commit_name"), "v6.7-9928-g052d534373b7");
	cr_assert_str_eq(fx_str(c, "git_repository_url"),
	                 "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git");
	cr_assert_str_eq(fx_str(c, "start_time"), "2024-01-14T08:15:42.454000+00:00",
	                 "naive timestamps are UTC");
	cr_assert_str_eq(fx_str(c, "patchset_hash"), "");
	cr_assert_null(json_object_get(c, "valid"), "result null: validity unknown");
	cr_assert_eq(fx_count(&out, "checkouts"), 2);
	/* 2 items < 50: last page; cursor = the newest `updated` as written */
	cr_assert_str_eq(fx_str(out.cursor, "from"), "2024-01-14T10:11:48.092000");
	cr_assert_eq(out.nreqs, 0);
	adapter_output_free(&out);
	fx_free(&fx);

	/* legacy shape: _id, generic kind "node", integer versions */
	fx_load(&fx, "maestro/nodes-list-parent-null-legacy.json", NULL,
	        "https://api.kernelci.example/latest/nodes");
	fx_unwrap_data(&fx.body);
	fx.r.body = fx.body.ptr;
	fx.r.len = fx.body.len;
	fx_parse(nodes, &req, &fx.r, &out);
	fx_assert_valid(&out);
	c = fx_obj(&out, "checkouts", "maestro:63c549319fb3b62c7626e7f9");
	cr_assert_not_null(c);
	cr_assert_str_eq(fx_str(c, "git_repository_branch"), "staging-mainline");
	cr_assert_str_eq(fx_str(c, "git_commit_hash"), "1385303d0d85c68473d8901d69c7153b03a3150b");
	cr_assert_not_null(fx_obj(&out, "checkouts", "maestro:63c549329fb3b62c7626e7fa"));
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);
}

/* One node of parents.json (constructed ancestors) as a /node answer. */
static void parent_answer(struct fx_response *fx, const char *id)
{
	fx_load(fx, "local:maestro/parents.json", NULL,
	        "https://api.kernelci.example/latest/node/x");
	json_t *w = json_loadb(fx->body.ptr, fx->body.len, 0, NULL);
	size_t i;
	json_t *n;
	json_array_foreach (json_object_get(w, "data"), i, n) {
		if (!strcmp(fx_str(n, "id"), id)) {
			char *s = json_dumps(n, 0);
			fx_set_body(fx, s);
			free(s);
		}
	}
	json_decref(w);
}

Test(adapter_kernelci, test_climbs_to_its_kbuild)
{
	/* an event without an embedded node: the node is fetched */
	struct fx_response fx;
	fx_load(&fx, "maestro/events-sample.json", NULL,
	        "https://api.kernelci.example/latest/events");
	fx_unwrap_data(&fx.body);
	fx.r.body = fx.body.ptr;
	fx.r.len = fx.body.len;
	struct adapter_request req = list_req(1);
	struct adapter_output out;
	fx_parse(ev, &req, &fx.r, &out);
	cr_assert_not_null(fx_req(&out, "/latest/node/65a1355ee98651d0fe81e412"));
	cr_assert_str_eq(fx_str(out.cursor, "from"), "2025-01-12T08:30:00.000000");
	adapter_output_free(&out);
	fx_free(&fx);

	/* the real kselftest node: its parent is not on the page -> GET /node/{parent} */
	fx_load(&fx, "maestro/node-test-kselftest-real.json", NULL,
	        "https://api.kernelci.example/latest/node/66ff3b8c0abcc4c8343d1c71");
	fx_unwrap_data(&fx.body);
	fx.r.body = fx.body.ptr;
	fx.r.len = fx.body.len;
	struct adapter_request nreq = {.url = (char *)fx.r.url, .kind = 4};
	fx_parse(ev, &nreq, &fx.r, &out);
	cr_assert_eq(fx_count(&out, "tests"), 0);
	struct adapter_request *p1 = fx_req(&out, "/node/66ff3b8b0abcc4c8343d1b8a");
	cr_assert_not_null(p1);
	struct adapter_request climb;
	adapter_request_copy(&climb, p1);
	adapter_output_free(&out);
	/* 66ff3b8b (test group) -> 66ff3a00 (job) -> 66ff3900 (kbuild) */
	const char *chain[] = {"66ff3b8b0abcc4c8343d1b8a", "66ff3a000abcc4c8343d1b00",
	                       "66ff39000abcc4c8343d1a00"};
	for (int i = 0; i < 3; i++) {
		struct fx_response pa;
		parent_answer(&pa, chain[i]);
		fx_parse(ev, &climb, &pa.r, &out);
		adapter_request_free(&climb);
		if (i < 2) {
			cr_assert_eq(out.nreqs, 1);
			cr_assert(strstr(out.reqs[0].url, chain[i + 1]));
			adapter_request_copy(&climb, &out.reqs[0]);
			adapter_output_free(&out);
		}
		fx_free(&pa);
	}
	fx_assert_valid(&out);
	json_t *t = fx_obj(&out, "tests", "maestro:66ff3b8c0abcc4c8343d1c71");
	cr_assert_not_null(t);
	cr_assert_str_eq(fx_str(t, "build_id"), "maestro:66ff39000abcc4c8343d1a00");
	cr_assert_str_eq(fx_str(t, "path"),
	                 "kselftest.exec_execveat_Check_success_of_execveat_20_4096",
	                 "path[2:], the repeated suite once, kselftest-exec mapped by suite-map");
	cr_assert_str_eq(fx_str(t, "status"), "PASS");
	cr_assert_str_eq(fx_str(t, "start_time"), "2024-10-04T00:49:15.691000+00:00");
	cr_assert_str_eq(
	    fx_str(t, "comment"),
	    "exec_execveat_Check_success_of_execveat_20_4096 on hp-14b-na0052xx-zork in "
	    "lava-collabora");
	json_t *env = json_object_get(t, "environment");
	cr_assert_str_eq(fx_str(env, "comment"), "Runtime: lava-collabora");
	cr_assert_str_eq(fx_str(json_object_get(env, "misc"), "platform"), "hp-14b-na0052xx-zork");
	adapter_output_free(&out);
	json_decref(req.ctx);
	fx_free(&fx);
}

Test(adapter_kernelci, kbuild_and_incomplete_statuses)
{
	struct fx_response fx;
	parent_answer(&fx, "66ff39000abcc4c8343d1a00");
	json_t *kb = json_loads(fx.body.ptr, 0, NULL);
	/* a page of variants of the kbuild and of a test below it (derived from the fixture) */
	json_t *timeout = json_deep_copy(kb), *infra = json_deep_copy(kb),
	       *running = json_deep_copy(kb);
	json_object_set_new(timeout, "id", json_string("66ff39000abcc4c8343d1a01"));
	json_object_set_new(timeout, "result", json_string("incomplete"));
	json_object_set_new(json_object_get(timeout, "data"), "error_code",
	                    json_string("node_timeout"));
	json_object_set_new(infra, "id", json_string("66ff39000abcc4c8343d1a02"));
	json_object_set_new(infra, "result", json_string("fail"));
	json_object_set_new(json_object_get(infra, "data"), "error_code",
	                    json_string("Infrastructure"));
	json_object_set_new(running, "id", json_string("66ff39000abcc4c8343d1a03"));
	json_object_set_new(running, "state", json_string("running"));
	json_t *test = json_pack(
	    "{s:s, s:s, s:s, s:[s,s,s], s:s, s:s, s:s, s:{s:s}, s:s, s:s}", "id",
	    "66ff3c000abcc4c8343d1d00", "kind", "test", "name", "t1", "path", "checkout",
	    "kbuild-gcc-12-x86", "baseline-x86", "parent", "66ff39000abcc4c8343d1a00", "state",
	    "done", "result", "incomplete", "data", "error_code", "Infrastructure", "created",
	    "2024-10-04T00:50:00.000000", "updated", "2024-10-04T00:51:00.000000");
	json_t *test2 = json_deep_copy(test);
	json_object_set_new(test2, "id", json_string("66ff3c000abcc4c8343d1d01"));
	json_object_set_new(json_object_get(test2, "data"), "error_code",
	                    json_string("LAVATimeout"));
	json_t *page = json_pack("{s:[O,O,O,O,O,O], s:i}", "items", kb, timeout, infra, running,
	                         test, test2, "total", 6);
	char *s = json_dumps(page, 0);
	fx_set_body(&fx, s);
	free(s);
	struct adapter_request req = list_req(2);
	struct adapter_output out;
	fx_parse(nodes, &req, &fx.r, &out);
	fx_assert_valid(&out);
	json_t *b = fx_obj(&out, "builds", "maestro:66ff39000abcc4c8343d1a00");
	cr_assert_str_eq(fx_str(b, "status"), "PASS");
	cr_assert_str_eq(fx_str(b, "checkout_id"), "maestro:66ff38000abcc4c8343d1900");
	cr_assert_str_eq(fx_str(b, "architecture"), "x86_64");
	cr_assert_str_eq(fx_str(b, "compiler"), "gcc-12");
	cr_assert_str_eq(fx_str(b, "config_name"), "x86_64_defconfig");
	cr_assert_str_eq(fx_str(b, "log_url"),
	                 "https://storage.kernelci.org/staging/kbuild-gcc-12-x86/build.log");
	cr_assert_str_eq(fx_str(b, "config_url"),
	                 "https://storage.kernelci.org/staging/kbuild-gcc-12-x86/.config");
	cr_assert_str_eq(fx_str(json_array_get(json_object_get(b, "output_files"), 0), "name"),
	                 "kernel");
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "builds", "maestro:66ff39000abcc4c8343d1a01"), "status"), "MISS",
	    "node_timeout: the CI's fault");
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "builds", "maestro:66ff39000abcc4c8343d1a02"), "status"), "ERROR");
	cr_assert_null(
	    json_object_get(fx_obj(&out, "builds", "maestro:66ff39000abcc4c8343d1a03"), "status"),
	    "not done: no status yet");
	/* the tests' kbuild is on the same page: no look-up */
	cr_assert_eq(out.nreqs, 0);
	json_t *t = fx_obj(&out, "tests", "maestro:66ff3c000abcc4c8343d1d00");
	cr_assert_str_eq(fx_str(t, "status"), "MISS", "incomplete + Infrastructure");
	cr_assert_str_eq(fx_str(t, "path"), "baseline-x86");
	cr_assert_str_eq(
	    fx_str(fx_obj(&out, "tests", "maestro:66ff3c000abcc4c8343d1d01"), "status"), "ERROR",
	    "incomplete + LAVATimeout");
	adapter_output_free(&out);
	json_decref(page);
	json_decref(kb);
	json_decref(timeout);
	json_decref(infra);
	json_decref(running);
	json_decref(test);
	json_decref(test2);
	json_decref(req.ctx);
	fx_free(&fx);
}

Test(adapter_kernelci, full_page_asks_for_the_next)
{
	struct fx_response fx;
	fx_load(&fx, "maestro/nodes-list-kunit.json", NULL,
	        "https://api.kernelci.example/latest/events");
	fx_unwrap_data(&fx.body);
	/* as events (unsorted, recursive): two items = page-size 2 -> next page at offset 2 */
	json_t *w = json_loads(fx.body.ptr, 0, NULL), *evs = json_array();
	size_t i;
	json_t *n;
	json_array_foreach (json_object_get(w, "items"), i, n)
		json_array_append_new(
		    evs, json_pack("{s:s, s:s, s:{s:s}, s:O}", "id", i ? "e2" : "e1", "timestamp",
		                   fx_str(n, "updated"), "data", "id", fx_str(n, "id"), "node", n));
	char *s = json_dumps(evs, 0);
	fx_set_body(&fx, s);
	free(s);
	struct adapter_request req = list_req(1);
	struct adapter_output out;
	fx_parse(ev, &req, &fx.r, &out);
	struct adapter_request *next = fx_req(&out, "offset=2");
	cr_assert_not_null(next);
	cr_assert(next->flags & ADAPTER_REQ_NEXT);
	cr_assert_null(out.cursor, "unsorted: no cursor before the walk ends");
	cr_assert_str_eq(fx_str(next->ctx, "top"), "2024-01-12T12:49:33.996000");
	/* the time_test_cases node's parent is not on the page: climbing */
	cr_assert_not_null(fx_req(&out, "/node/65a1355ee98651d0fe81e40f"));
	/* the same events again: already stored */
	json_object_set(req.ctx, "seen", json_object_get(next->ctx, "seen"));
	adapter_output_free(&out);
	fx_parse(ev, &req, &fx.r, &out);
	cr_assert_null(fx_req(&out, "/node/"));
	adapter_output_free(&out);
	json_decref(w);
	json_decref(evs);
	json_decref(req.ctx);
	fx_free(&fx);
}
