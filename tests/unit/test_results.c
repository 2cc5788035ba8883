/*
 * test_results.c - the merge rule (schema/merge-rule.md), submission
 * records, origins, and deterministic export.
 */
#include <math.h>
#include <stdint.h>

#include "ingest.h"
#include "results.h"
#include "store.h"
#include "testutil.h"

static struct store *fresh(void)
{
	char *d = temp_dir();
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/t.db", d);
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, p.ptr, 0, &e), 0, "%s", err_msg(&e));
	buf_free(&p);
	free(d);
	return st;
}

static struct ingest_result submit(struct store *st, const char *json)
{
	struct results_writer *w;
	struct err e = ERR_INIT;
	struct ingest_result r;
	ingest_result_init(&r);
	cr_assert_eq(results_writer_new(st, &w, &e), 0);
	cr_assert_eq(ingest_kcidb(st, w, json, strlen(json), "t", "test", &r, &e), 0, "%s",
		     err_msg(&e));
	results_writer_free(w);
	return r;
}

static char *col(struct store *st, const char *sql)
{
	struct store_stmt *s;
	struct err e = ERR_INIT;
	cr_assert_eq(store_prepare(st, &s, sql, &e), 0, "%s", err_msg(&e));
	cr_assert_eq(store_step(s, &e), STORE_ROW, "no row: %s", sql);
	const char *t = store_col_text(s, 0, NULL);
	char *r = t ? xstrdup(t) : xstrdup("(null)");
	store_finalize(s);
	return r;
}

#define DOC(objs) "{\"version\":{\"major\":5,\"minor\":3}," objs "}"

Test(results, first_value_wins_later_fills_missing)
{
	struct store *st = fresh();
	struct ingest_result r = submit(
		st, DOC("\"tests\":[{\"id\":\"o:t\",\"origin\":\"o\",\"build_id\":\"o:b\","
			"\"path\":\"boot\",\"status\":\"FAIL\"}]"));
	cr_assert_eq(r.stats.created, 1);
	ingest_result_free(&r);
	/* a conflicting status and a new duration: status stays, duration fills in */
	r = submit(st, DOC("\"tests\":[{\"id\":\"o:t\",\"origin\":\"o\",\"build_id\":\"o:b\","
			   "\"status\":\"PASS\",\"duration\":3.5}]"));
	cr_assert_eq(r.stats.created, 0);
	cr_assert_eq(r.stats.updated, 1);
	ingest_result_free(&r);
	char *s = col(st, "SELECT status FROM tests WHERE id = 'o:t'");
	cr_assert_str_eq(s, "FAIL");
	free(s);
	s = col(st, "SELECT duration FROM tests WHERE id = 'o:t'");
	cr_assert_str_eq(s, "3.5");
	free(s);
	s = col(st, "SELECT path FROM tests WHERE id = 'o:t'");
	cr_assert_str_eq(s, "boot"); /* absent in the 2nd submission: kept */
	free(s);
	/* a third submission with nothing new changes nothing, not even seq */
	char *seq_before = col(st, "SELECT seq FROM tests WHERE id = 'o:t'");
	r = submit(st, DOC("\"tests\":[{\"id\":\"o:t\",\"origin\":\"o\",\"build_id\":\"o:b\","
			   "\"status\":\"ERROR\"}]"));
	cr_assert_eq(r.stats.unchanged, 1);
	cr_assert_eq(r.stats.updated, 0);
	ingest_result_free(&r);
	char *seq_after = col(st, "SELECT seq FROM tests WHERE id = 'o:t'");
	cr_assert_str_eq(seq_before, seq_after);
	free(seq_before);
	free(seq_after);
	store_close(st);
}

Test(results, partial_update_fixture_fills_status)
{
	struct store *st = fresh();
	struct buf full = BUF_INIT, part = BUF_INIT;
	char *p1 = fixture_path("kcidb/kcidb-sample-full-v5.3.json");
	char *p2 = fixture_path("kcidb/kcidb-sample-partial-update-v5.3.json");
	cr_assert_eq(buf_read_file(&full, p1, 1 << 24), 0);
	cr_assert_eq(buf_read_file(&part, p2, 1 << 24), 0);
	struct ingest_result r = submit(st, full.ptr);
	ingest_result_free(&r);
	char *s = col(st, "SELECT status FROM tests WHERE id = 'maestro:65a3a1c0e98651d0fe82b204'");
	cr_assert_str_eq(s, "(null)");
	free(s);
	r = submit(st, part.ptr);
	cr_assert_eq(r.stats.updated, 1);
	ingest_result_free(&r);
	s = col(st, "SELECT status || ' ' || duration FROM tests WHERE id = "
		    "'maestro:65a3a1c0e98651d0fe82b204'");
	cr_assert_str_eq(s, "PASS 33.2");
	free(s);
	buf_free(&full);
	buf_free(&part);
	free(p1);
	free(p2);
	store_close(st);
}

Test(results, issues_keep_every_version)
{
	struct store *st = fresh();
	struct ingest_result r = submit(
		st, DOC("\"issues\":[{\"id\":\"o:i\",\"origin\":\"o\",\"version\":1,\"comment\":\"a\"},"
			"{\"id\":\"o:i\",\"origin\":\"o\",\"version\":2,\"comment\":\"b\"}]"));
	cr_assert_eq(r.stats.created, 2);
	ingest_result_free(&r);
	char *s = col(st, "SELECT group_concat(version || comment, ',') FROM (SELECT * FROM issues "
			  "ORDER BY version)");
	cr_assert_str_eq(s, "1a,2b");
	free(s);
	store_close(st);
}

Test(results, same_bytes_are_a_duplicate)
{
	struct store *st = fresh();
	const char *d = DOC("\"checkouts\":[{\"id\":\"o:c\",\"origin\":\"o\"}]");
	struct ingest_result r = submit(st, d);
	cr_assert_eq(r.duplicate, 0);
	int64_t id = r.stats.submission_id;
	ingest_result_free(&r);
	r = submit(st, d);
	cr_assert_eq(r.duplicate, 1);
	cr_assert_eq(r.dup_id, id);
	ingest_result_free(&r);
	int64_t n;
	struct err e = ERR_INIT;
	store_query_int(st, "SELECT COUNT(*) FROM submissions", &n, &e, 0);
	cr_assert_eq(n, 1);
	store_close(st);
}

Test(results, submission_and_origin_records)
{
	struct store *st = fresh();
	struct ingest_result r = submit(
		st, DOC("\"checkouts\":[{\"id\":\"a:c\",\"origin\":\"a\"}],\"builds\":[{\"id\":\"b:x\","
			"\"origin\":\"b\",\"checkout_id\":\"a:c\"}],\"tests\":[{\"id\":\"b:t\","
			"\"origin\":\"b\",\"build_id\":\"b:x\"}]"));
	ingest_result_free(&r);
	char *s = col(st, "SELECT source || ' ' || version || ' ' || checkouts || builds || tests || "
			  "' ' || created FROM submissions");
	cr_assert_str_eq(s, "test 5.3 111 3");
	free(s);
	s = col(st, "SELECT group_concat(name || '=' || objects, ',') FROM (SELECT * FROM origins "
		    "ORDER BY name)");
	cr_assert_str_eq(s, "a=1,b=2");
	free(s);
	store_close(st);
}

Test(results, rejected_submission_writes_nothing)
{
	struct store *st = fresh();
	struct results_writer *w;
	struct err e = ERR_INIT;
	struct ingest_result r;
	ingest_result_init(&r);
	cr_assert_eq(results_writer_new(st, &w, &e), 0);
	const char *bad = DOC("\"checkouts\":[{\"id\":\"o:c\",\"origin\":\"o\"}],\"tests\":[{\"id\":"
			      "\"o:t\",\"origin\":\"o\",\"build_id\":\"o:b\",\"status\":\"OK\"}]");
	cr_assert_eq(ingest_kcidb(st, w, bad, strlen(bad), "bad.json", "test", &r, &e), -1);
	cr_assert_eq(e.code, ERR_INVALID);
	cr_assert(strstr(err_msg(&e), "bad.json: rejected, 1 error"), "%s", err_msg(&e));
	cr_assert(strstr(err_msg(&e), "tests[0] (id 'o:t'): status"), "%s", err_msg(&e));
	int64_t n;
	store_query_int(st, "SELECT (SELECT COUNT(*) FROM checkouts) + (SELECT COUNT(*) FROM "
			    "submissions)",
			&n, &e, 0);
	cr_assert_eq(n, 0);
	ingest_result_free(&r);
	results_writer_free(w);
	err_free(&e);
	store_close(st);
}

Test(results, export_is_deterministic_and_ordered)
{
	struct store *st = fresh();
	struct ingest_result r = submit(
		st, DOC("\"tests\":[{\"id\":\"o:z\",\"origin\":\"o\",\"build_id\":\"o:b\"},"
			"{\"id\":\"o:a\",\"origin\":\"o\",\"build_id\":\"o:b\",\"duration\":1},"
			"{\"id\":\"o:m\",\"origin\":\"o\",\"build_id\":\"o:b\",\"duration\":1.0}]"));
	ingest_result_free(&r);
	char *buf1 = NULL, *buf2 = NULL;
	size_t l1, l2;
	struct err e = ERR_INIT;
	FILE *f = open_memstream(&buf1, &l1);
	cr_assert_eq(results_export(st, NULL, f, &e), 0, "%s", err_msg(&e));
	fclose(f);
	f = open_memstream(&buf2, &l2);
	cr_assert_eq(results_export(st, NULL, f, &e), 0);
	fclose(f);
	cr_assert_str_eq(buf1, buf2);
	const char *a = strstr(buf1, "\"o:a\""), *m = strstr(buf1, "\"o:m\""),
		   *z = strstr(buf1, "\"o:z\"");
	cr_assert(a && m && z && a < m && m < z, "not ordered by id:\n%s", buf1);
	/* integer and real durations keep their JSON type */
	cr_assert(strstr(buf1, "\"id\":\"o:a\",\"build_id\":\"o:b\",\"origin\":\"o\",\"duration\":1}"),
		  "%s", buf1);
	cr_assert(strstr(buf1, "\"duration\":1.0}"), "%s", buf1);
	free(buf1);
	free(buf2);
	store_close(st);
}

/* Every row of `t` written by results_row_text equals the generic dump. */
static size_t rows_text_match(struct store *st, enum kcidb_type t)
{
	struct buf sql = BUF_INIT, direct = BUF_INIT, reuse = BUF_INIT;
	buf_adds(&sql, "SELECT ");
	results_columns(t, NULL, &sql);
	buf_addf(&sql, " FROM %s ORDER BY id", kcidb_types[t].plural);
	struct store_stmt *s;
	struct err e = ERR_INIT;
	cr_assert_eq(store_prepare(st, &s, sql.ptr, &e), 0, "%s", err_msg(&e));
	size_t n = 0;
	while (store_step(s, &e) == STORE_ROW) {
		json_t *o = results_row_to_json(t, s, 0);
		char *want = kcidb_json_dump(o);
		buf_reset(&direct);
		buf_reset(&reuse);
		results_row_text(t, s, 0, NULL, &direct);
		results_row_text(t, s, 0, o, &reuse);
		cr_assert_str_eq(direct.ptr, want, "%s row %zu", kcidb_types[t].plural, n);
		cr_assert_str_eq(reuse.ptr, want, "%s row %zu (object given)", kcidb_types[t].plural,
				 n);
		free(want);
		json_decref(o);
		n++;
	}
	store_finalize(s);
	buf_free(&sql);
	buf_free(&direct);
	buf_free(&reuse);
	return n;
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A JSON string literal of random text: controls, quotes, '/', UTF-8 of 2-4 bytes. */
static void random_json_string(uint64_t *x, struct buf *b)
{
	static const char *const atoms[] = {
		"a", "Z", " ", "/", "\\\"", "\\\\", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0001",
		"\\u001f", "\\u000b", "\\u007f", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
		"\\ud83d\\ude00", "<", "&", "'", "--", "=?utf-8?q?x?=", "\\u00e9"
	};
	buf_addch(b, '"');
	size_t len = rng_next(x) % 12;
	for (size_t i = 0; i < len; i++)
		buf_adds(b, atoms[rng_next(x) % (sizeof(atoms) / sizeof(*atoms))]);
	buf_addch(b, '"');
}

/* A finite real: short decimals, ones needing 16-17 digits, huge, tiny, -0. */
static void random_real(uint64_t *x, struct buf *b)
{
	static const char *const fixed[] = { "12.7", "0.30000000000000004", "1e300", "-0.0",
					     "5.0", "2.5e-308", "0.1", "123456789.125",
					     "1.7976931348623157e308", "3.141592653589793" };
	uint64_t r = rng_next(x);
	if (r % 3) {
		buf_adds(b, fixed[r % (sizeof(fixed) / sizeof(*fixed))]);
	} else {
		double d;
		do {
			uint64_t bits = rng_next(x);
			memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		size_t at = b->len;
		buf_addf(b, "%.17g", d);
		if (!strpbrk(b->ptr + at, ".e"))
			buf_adds(b, ".0");
	}
}

Test(results, row_text_is_the_generic_dump_byte_for_byte)
{
	struct store *st = fresh();
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct buf doc = BUF_INIT;
	buf_adds(&doc, "{\"version\":{\"major\":5,\"minor\":3},\"checkouts\":[");
	for (int i = 0; i < 40; i++) {
		buf_addf(&doc, "%s{\"id\":\"o:c%d\",\"origin\":\"o\",\"tree_name\":", i ? "," : "", i);
		random_json_string(&x, &doc);
		buf_addf(&doc, ",\"valid\":%s,\"misc\":{\"r\":", i % 2 ? "true" : "false");
		random_real(&x, &doc);
		buf_adds(&doc, ",\"s\":");
		random_json_string(&x, &doc);
		buf_adds(&doc, "}}");
	}
	buf_adds(&doc, "],\"builds\":[");
	for (int i = 0; i < 40; i++) {
		buf_addf(&doc, "%s{\"id\":\"o:b%d\",\"origin\":\"o\",\"checkout_id\":\"o:c%d\",", i ? "," : "",
			 i, i);
		buf_adds(&doc, "\"duration\":");
		random_real(&x, &doc);
		buf_adds(&doc, ",\"comment\":");
		random_json_string(&x, &doc);
		if (i % 3)
			buf_adds(&doc, ",\"misc\":{\"list\":[1,2.5,null,true,\"x\"]}");
		buf_adds(&doc, "}");
	}
	buf_adds(&doc, "],\"tests\":[");
	for (int i = 0; i < 300; i++) {
		buf_addf(&doc,
			 "%s{\"id\":\"o:t%d\",\"origin\":\"o\",\"build_id\":\"o:b%d\",\"path\":"
			 "\"a.b%d\",\"comment\":",
			 i ? "," : "", i, i % 40, i);
		random_json_string(&x, &doc);
		buf_adds(&doc, ",\"status\":\"PASS\",\"duration\":");
		random_real(&x, &doc);
		buf_adds(&doc, ",\"number\":{\"value\":");
		random_real(&x, &doc);
		buf_adds(&doc, ",\"unit\":\"s\"},\"environment\":{\"comment\":");
		random_json_string(&x, &doc);
		buf_adds(&doc, ",\"misc\":{\"rack\":");
		if (i % 2)
			random_real(&x, &doc);
		else
			buf_addf(&doc, "%d", i);
		buf_adds(&doc, "}},\"log_excerpt\":");
		random_json_string(&x, &doc);
		buf_adds(&doc, "}");
	}
	buf_adds(&doc, "],\"issues\":[{\"id\":\"o:i\",\"version\":1,\"origin\":\"o\",\"culprit\":"
		       "{\"code\":true,\"tool\":false},\"report_subject\":\"\\u0002 \\u00e9\"}],"
		       "\"incidents\":[{\"id\":\"o:n\",\"origin\":\"o\",\"issue_id\":\"o:i\","
		       "\"issue_version\":1,\"test_id\":\"o:t1\",\"present\":true}]}");
	struct ingest_result r = submit(st, doc.ptr);
	ingest_result_free(&r);
	cr_assert_eq(rows_text_match(st, KCIDB_CHECKOUT), 40);
	cr_assert_eq(rows_text_match(st, KCIDB_BUILD), 40);
	cr_assert_eq(rows_text_match(st, KCIDB_TEST), 300);
	cr_assert_eq(rows_text_match(st, KCIDB_ISSUE), 1);
	cr_assert_eq(rows_text_match(st, KCIDB_INCIDENT), 1);
	buf_free(&doc);
	store_close(st);
}
