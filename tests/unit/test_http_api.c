/*
 * test_http_api.c - the answers of the query API without HTTP (api.h),
 * the ran-statuses parser and the store's statement cache.
 * Data: tests/e2e/data/http-revisions.json (see its README).
 */
#include "api.h"
#include "ingest.h"
#include "store.h"
#include "testutil.h"

#define A "1f0c9d2e3b4a5968778695a4b3c2d1e0f9a8b7c6"

static struct store *loaded(void)
{
	char *d = temp_dir();
	struct buf p = BUF_INIT, data = BUF_INIT;
	buf_addf(&p, "%s/t.db", d);
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, p.ptr, 0, &e), 0, "%s", err_msg(&e));
	char *f = srcdir_path("tests/e2e/data/http-revisions.json");
	cr_assert_eq(buf_read_file(&data, f, 1 << 20), 0);
	struct results_writer *w;
	struct ingest_result r;
	ingest_result_init(&r);
	cr_assert_eq(results_writer_new(st, &w, &e), 0);
	cr_assert_eq(ingest_kcidb(st, w, data.ptr, data.len, f, "test", &r, &e), 0, "%s",
	             err_msg(&e));
	results_writer_free(w);
	ingest_result_free(&r);
	buf_free(&data);
	buf_free(&p);
	free(f);
	free(d);
	return st;
}

static json_t *answer(struct buf *out)
{
	json_error_t je;
	json_t *j = json_loadb(out->ptr, out->len, 0, &je);
	cr_assert(j, "not JSON: %s: %s", je.text, out->ptr);
	return j;
}

static const char *paths(json_t *arr, const char *key, struct buf *b)
{
	size_t i;
	json_t *v;
	buf_reset(b);
	json_array_foreach (arr, i, v) {
		json_t *s = key ? json_object_get(v, key) : v;
		buf_addf(b, "%s%s", i ? "," : "", json_string_value(s));
	}
	return buf_cstr(b);
}

Test(http_api, statuses_parse)
{
	const char *st[8];
	struct err e = ERR_INIT;
	cr_assert_eq(api_statuses_parse("PASS, FAIL  DONE,PASS", st, &e), 0);
	cr_assert_str_eq(st[0], "PASS");
	cr_assert_str_eq(st[1], "FAIL");
	cr_assert_str_eq(st[2], "DONE");
	cr_assert_null(st[3]);
	cr_assert_eq(api_statuses_parse("PASS pass", st, &e), -1);
	cr_assert(strstr(err_msg(&e), "'pass'"), "%s", err_msg(&e));
	cr_assert_eq(api_statuses_parse(" , ", st, &e), -1);
	err_free(&e);
}

Test(http_api, ran_validate)
{
	struct err e = ERR_INIT;
	struct ran_query q = {0};
	cr_assert_eq(api_ran_validate(&q, &e), -1);
	q.commit = A;
	cr_assert_eq(api_ran_validate(&q, &e), 0);
	q.commit = "1F0C9D2E3B4A5968778695A4B3C2D1E0F9A8B7C6"; /* KCIDB hashes are lower-case */
	cr_assert_eq(api_ran_validate(&q, &e), -1);
	q.commit = A;
	q.patchset = "";
	cr_assert_eq(api_ran_validate(&q, &e), 0);
	q.patchset = "abc";
	cr_assert_eq(api_ran_validate(&q, &e), -1);
	q.patchset = NULL;
	q.test = "ltp\nx";
	cr_assert_eq(api_ran_validate(&q, &e), -1);
	cr_assert(strstr(err_msg(&e), "test"), "%s", err_msg(&e));
	q.test = "ltp' OR 1=1 --";
	cr_assert_eq(api_ran_validate(&q, &e), 0, "free text is data, not an error");
	err_free(&e);
}

Test(http_api, ran_answer)
{
	struct store *st = loaded();
	struct buf out = BUF_INIT, b = BUF_INIT;
	struct err e = ERR_INIT;
	struct ran_query q = {.commit = A};
	cr_assert_eq(api_ran(st, &q, &out, &e), 0, "%s", err_msg(&e));
	json_t *j = answer(&out);
	cr_assert_eq(json_integer_value(json_object_get(j, "count")), 9);
	cr_assert_str_eq(paths(json_object_get(j, "tests"), "path", &b),
	                 "boot,boot,kselftest.net,kselftest.net,ltp.fs.read,ltp.fs.read,"
	                 "ltp.fs.write,perf.bench,skipme");
	json_decref(j);
	/* LIKE's own metacharacters in a test prefix are literals */
	const char *lits[] = {"%", "_", "b_ot", "%oot", "\\"};
	for (size_t i = 0; i < sizeof(lits) / sizeof(*lits); i++) {
		q.test = lits[i];
		buf_reset(&out);
		cr_assert_eq(api_ran(st, &q, &out, &e), 0);
		j = answer(&out);
		cr_assert_eq(json_integer_value(json_object_get(j, "count")), 0, "test=%s",
		             lits[i]);
		json_decref(j);
	}
	q.test = "ltp.fs";
	buf_reset(&out);
	cr_assert_eq(api_ran(st, &q, &out, &e), 0);
	j = answer(&out);
	cr_assert_eq(json_integer_value(json_object_get(j, "count")), 3);
	json_decref(j);
	buf_free(&out);
	buf_free(&b);
	store_close(st);
}

Test(http_api, skip_decisions)
{
	struct store *st = loaded();
	struct buf out = BUF_INIT, b = BUF_INIT;
	struct err e = ERR_INIT;
	const char *st_default[] = {"PASS", "FAIL", "DONE", NULL};
	const char *body = "{\"commit\":\"" A "\",\"tests\":[\"new\",\"boot\",\"ltp.fs.write\","
	                   "\"kselftest.net\",\"new\",\"skipme\",\"pending\"]}";
	cr_assert_eq(api_skip(st, body, strlen(body), st_default, &out, &e), 0, "%s", err_msg(&e));
	json_t *j = answer(&out);
	cr_assert_str_eq(paths(json_object_get(j, "skip"), "path", &b), "boot,kselftest.net");
	cr_assert_str_eq(paths(json_object_get(j, "run"), NULL, &b),
	                 "new,ltp.fs.write,skipme,pending");
	/* kselftest.net: lab1 MISS does not count, lab2 PASS does */
	json_t *k = json_array_get(json_object_get(j, "skip"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(k, "origin")), "lab2");
	json_decref(j);

	const char *bad[] = {
	    "{\"commit\":\"" A "\"}",
	    "{\"commit\":\"" A "\",\"tests\":[\"\"]}",
	    "{\"commit\":\"" A "\",\"tests\":[],\"require\":[]}",
	    "{\"commit\":\"" A "\",\"tests\":[],\"x\":1}",
	    "{\"commit\":5,\"tests\":[]}",
	    "nope",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		buf_reset(&out);
		cr_assert_eq(api_skip(st, bad[i], strlen(bad[i]), st_default, &out, &e), -1,
		             "accepted %s", bad[i]);
		cr_assert_eq(e.code, ERR_INVALID, "%s: %s", bad[i], err_msg(&e));
		cr_assert_eq(out.len, 0);
	}
	err_free(&e);
	buf_free(&out);
	buf_free(&b);
	store_close(st);
}

Test(http_api, results_cursor_walks_every_test_once)
{
	struct store *st = loaded();
	struct buf out = BUF_INIT, ids = BUF_INIT, b = BUF_INIT;
	struct err e = ERR_INIT;
	char cursor[32] = "";
	int pages = 0;
	for (;;) {
		buf_reset(&out);
		cr_assert_eq(api_results(st, "", *cursor ? cursor : NULL, 5, &out, &e), 0, "%s",
		             err_msg(&e));
		json_t *j = answer(&out);
		json_t *tests = json_object_get(json_object_get(j, "results"), "tests");
		buf_addf(&ids, "%s%s", ids.len ? "," : "", paths(tests, "id", &b));
		pages++;
		json_t *nc = json_object_get(j, "next_cursor");
		if (json_is_null(nc)) {
			json_decref(j);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(nc));
		json_decref(j);
		cr_assert_lt(pages, 10);
	}
	cr_assert_eq(pages, 3);
	cr_assert_str_eq(ids.ptr, "lab1:t01,lab1:t02,lab1:t03,lab1:t04,lab1:t05,lab1:t06,lab1:t07,"
	                          "lab1:t08,lab1:t09,lab1:t10,lab1:t11,lab2:t12");
	cr_assert_eq(api_results(st, "stauts:FAIL", NULL, 5, &out, &e), -1);
	cr_assert_eq(e.code, ERR_INVALID);
	cr_assert_eq(api_results(st, "", "12abc", 5, &out, &e), -1);
	cr_assert_eq(api_results(st, "", NULL, 0, &out, &e), -1);
	cr_assert_eq(api_results(st, "", NULL, API_RESULTS_MAX + 1, &out, &e), -1);
	err_free(&e);
	buf_free(&out);
	buf_free(&ids);
	buf_free(&b);
	store_close(st);
}

Test(http_api, patch_not_found_and_found_by_checkout_message_id)
{
	struct store *st = loaded();
	struct buf out = BUF_INIT;
	struct err e = ERR_INIT;
	cr_assert_eq(api_patch(st, "nobody@example.org", &out, &e), -1);
	cr_assert_eq(e.code, ERR_NOTFOUND);
	/* no patch row, but checkout lab1:c2 names the message itself */
	cr_assert_eq(api_patch(st, "patch1@example.org", &out, &e), 0, "%s", err_msg(&e));
	json_t *j = answer(&out);
	cr_assert(json_is_null(json_object_get(j, "patch")));
	json_t *co = json_array_get(json_object_get(j, "checkouts"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(co, "how")), "message_id");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(co, "tests"), "total")), 2);
	json_decref(j);
	err_free(&e);
	buf_free(&out);
	store_close(st);
}

Test(http_api, statement_cache_reuses_and_evicts)
{
	struct store *st = loaded();
	struct err e = ERR_INIT;
	struct store_stmt *a, *a2, *s;
	cr_assert_eq(store_prepare_cached(st, &a, "SELECT COUNT(*) FROM tests", &e), 0);
	cr_assert_eq(store_step(a, &e), STORE_ROW);
	cr_assert_eq(store_col_int(a, 0), 12);
	/* handed out again, reset, still usable */
	cr_assert_eq(store_prepare_cached(st, &a2, "SELECT COUNT(*) FROM tests", &e), 0);
	cr_assert_eq(a, a2);
	cr_assert_eq(store_step(a2, &e), STORE_ROW);
	cr_assert_eq(store_col_int(a2, 0), 12);
	store_reset(a2);
	/* more distinct statements than the cache holds: the oldest is finalized */
	for (int i = 0; i < STORE_STMT_CACHE + 3; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		cr_assert_eq(store_prepare_cached(st, &s, sql, &e), 0);
		cr_assert_eq(store_step(s, &e), STORE_ROW);
		cr_assert_eq(store_col_int(s, 0), i);
		store_reset(s);
	}
	cr_assert_eq(store_prepare_cached(st, &a, "SELECT COUNT(*) FROM tests", &e), 0);
	cr_assert_eq(store_step(a, &e), STORE_ROW);
	store_reset(a);
	err_free(&e);
	store_close(st); /* finalizes every cached statement (ASan would see a leak) */
}

/* The hand-off writer of the ran answer must equal jansson's own rendering. */
Test(http_api, ran_writer_matches_jansson)
{
	struct store *st = loaded();
	struct err e = ERR_INIT;
	/* values that need escaping and non-ASCII text, straight into the store */
	cr_assert_eq(store_exec(st,
	                        "UPDATE tests SET log_url = 'https://x.example/a\"b\\c', "
	                        "path = 'boot' || char(9) || 'é€😀' WHERE id = 'lab1:t01'",
	                        &e),
	             0, "%s", err_msg(&e));
	struct ran_query q = {.commit = A};
	struct buf out = BUF_INIT;
	cr_assert_eq(api_ran(st, &q, &out, &e), 0, "%s", err_msg(&e));

	struct ran_row *rows;
	size_t n;
	cr_assert_eq(results_ran(st, &q, &rows, &n, &e), 0);
	json_t *o = json_object(), *arr = json_array();
	json_object_set_new(o, "query", json_pack("{s:s,s:s}", "commit", A, "patchset", ""));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, results_ran_row_json(&rows[i]));
	json_object_set_new(o, "tests", arr);
	json_object_set_new(o, "count", json_integer((json_int_t)n));
	json_object_set_new(o, "truncated", json_false());
	char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cr_assert_eq(out.len, strlen(want) + 1);
	cr_assert(!memcmp(out.ptr, want, strlen(want)), "\n got: %s\nwant: %s", out.ptr, want);
	cr_assert(strstr(want, "a\\\"b\\\\c") && strstr(want, "boot\\t"), "%s", want);
	free(want);
	json_decref(o);
	results_ran_free(rows, n);
	buf_free(&out);
	err_free(&e);
	store_close(st);
}

Test(http_api, deadline_interrupts_a_long_query)
{
	struct store *st = loaded();
	struct err e = ERR_INIT;
	struct store_stmt *s;
	cr_assert_eq(store_prepare(st, &s,
	                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	                           "WHERE i < 1000000000) SELECT COUNT(*) FROM n",
	                           &e),
	             0);
	store_set_deadline(st, 20);
	cr_assert_eq(store_step(s, &e), -1, "a billion rows in 20 ms?");
	cr_assert(store_timed_out(st));
	store_reset(s);
	store_finalize(s);
	/* the budget gone, the connection works as before */
	store_set_deadline(st, 0);
	cr_assert(!store_timed_out(st));
	int64_t n;
	cr_assert_eq(store_query_int(st, "SELECT COUNT(*) FROM tests", &n, &e, 0), 1);
	cr_assert_eq(n, 12);
	err_free(&e);
	store_close(st);
}

/*
 * More matches than an answer lists: the answer is the first API_RAN_MAX in
 * (path, origin, id) order, not whichever rows the store met first.  The
 * extra rows are inserted with paths falling as their rowids rise, so a scan
 * in rowid order meets the largest paths first.
 */
Test(http_api, truncated_ran_lists_the_first_tests_in_order)
{
	struct store *st = loaded();
	struct err e = ERR_INIT;
	cr_assert_eq(store_exec(st,
	                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	                        "WHERE i < 100005) INSERT INTO tests (id, build_id, origin, path, "
	                        "status, seq, updated) SELECT 'x:' || i, build_id, origin, 'zz.' || "
	                        "printf('%06d', 200000 - i), status, seq, updated FROM tests, n "
	                        "WHERE tests.id = 'lab1:t01'",
	                        &e),
	             0, "%s", err_msg(&e));
	struct ran_query q = {.commit = A};
	struct buf out = BUF_INIT;
	cr_assert_eq(api_ran(st, &q, &out, &e), 0, "%s", err_msg(&e));
	json_t *j = answer(&out);
	json_t *tests = json_object_get(j, "tests");
	cr_assert_eq(json_integer_value(json_object_get(j, "count")), API_RAN_MAX);
	cr_assert(json_is_true(json_object_get(j, "truncated")));
	cr_assert_eq(json_array_size(tests), API_RAN_MAX);
	/* 9 tests of the fixture (all before "zz."), then zz.099995 .. zz.199985 */
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tests, 0), "path")),
	                 "boot");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tests, 9), "path")),
	                 "zz.099995");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(tests, API_RAN_MAX - 1), "path")),
	    "zz.199985");
	json_decref(j);
	buf_free(&out);
	err_free(&e);
	store_close(st);
}
