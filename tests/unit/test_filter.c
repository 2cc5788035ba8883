/*
 * test_filter.c - the filter language: parsing, errors, SQL semantics.
 */
#include "filter.h"
#include "results.h"
#include "store.h"
#include "testutil.h"

static struct filter *parse_ok(const char *text)
{
	struct filter *f;
	struct err e = ERR_INIT;
	cr_assert_eq(filter_parse(text, &f, &e), 0, "'%s': %s", text, err_msg(&e));
	err_free(&e);
	return f;
}

static void parse_bad(const char *text, const char *needle, size_t column)
{
	struct filter *f = NULL;
	struct err e = ERR_INIT;
	cr_assert_eq(filter_parse(text, &f, &e), -1, "accepted '%s'", text);
	cr_assert_eq(e.code, ERR_INVALID);
	cr_assert(strstr(err_msg(&e), needle), "'%s': '%s' not in: %s", text, needle, err_msg(&e));
	char col[32];
	snprintf(col, sizeof(col), "column %zu", column);
	cr_assert(strstr(err_msg(&e), col), "'%s': expected %s in: %s", text, col, err_msg(&e));
	err_free(&e);
}

Test(filter, groups_terms_negation_globs)
{
	struct filter *f = parse_ok("tree:net-next status:fail -test:ltp* OR origin:syzbot");
	cr_assert_eq(f->ngroups, 2);
	cr_assert_eq(f->groups[0].nterms, 3);
	cr_assert_eq(f->groups[0].terms[0].key, FK_TREE);
	cr_assert_str_eq(f->groups[0].terms[0].value, "net-next");
	cr_assert_str_eq(f->groups[0].terms[1].value, "FAIL"); /* statuses are upper-cased */
	cr_assert(f->groups[0].terms[2].negate);
	cr_assert(f->groups[0].terms[2].glob);
	cr_assert_eq(f->groups[0].terms[2].column, 27);
	cr_assert_eq(f->groups[1].terms[0].key, FK_ORIGIN);
	filter_free(f);
}

Test(filter, empty_matches_all)
{
	struct filter *f = parse_ok("   ");
	cr_assert(filter_is_empty(f));
	filter_free(f);
}

Test(filter, quoted_values)
{
	struct filter *f = parse_ok("author:\"Jane Doe\" config:x");
	cr_assert_str_eq(f->groups[0].terms[0].value, "Jane Doe");
	filter_free(f);
	char *argv[] = { "author:Jane Doe", "arch:arm64" };
	struct err e = ERR_INIT;
	cr_assert_eq(filter_parse_argv(2, argv, &f, &e), 0);
	cr_assert_str_eq(f->groups[0].terms[0].value, "Jane Doe");
	cr_assert_eq(f->groups[0].nterms, 2);
	filter_free(f);
}

Test(filter, errors_point_at_the_term)
{
	parse_bad("tree:net-next stauts:FAIL", "unknown key 'stauts'", 15);
	parse_bad("status:BROKEN", "unknown status", 1);
	parse_bad("tree:x OR", "'OR' needs a term", 8);
	parse_bad("OR tree:x", "'OR' needs a term", 1);
	parse_bad("tree:a OR OR tree:b", "'OR' needs a term", 11);
	parse_bad("tree:", "empty value", 1);
	parse_bad("justaword", "expected key:value", 1);
	parse_bad("author:\"open", "unterminated quote", 1);
	parse_bad("tree:a\r\nBcc:x", "control character", 7);
}

/* SQL semantics against a real store with a few objects. */
static struct store *seeded(void)
{
	char *d = temp_dir();
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/t.db", d);
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, p.ptr, 0, &e), 0, "%s", err_msg(&e));
	const char *doc =
		"{\"version\":{\"major\":5,\"minor\":3},"
		"\"checkouts\":[{\"id\":\"o:c1\",\"origin\":\"o\",\"tree_name\":\"net-next\","
		"\"git_commit_hash\":\"052d534373b7ed33712a63d5e17b2b6cdbce84fd\"},"
		"{\"id\":\"o:c2\",\"origin\":\"o\",\"tree_name\":\"mainline\"}],"
		"\"builds\":[{\"id\":\"o:b1\",\"origin\":\"o\",\"checkout_id\":\"o:c1\","
		"\"architecture\":\"x86_64\",\"status\":\"PASS\"},"
		"{\"id\":\"o:b2\",\"origin\":\"o\",\"checkout_id\":\"o:c2\",\"architecture\":\"arm64\"}],"
		"\"tests\":[{\"id\":\"o:t1\",\"origin\":\"o\",\"build_id\":\"o:b1\",\"path\":\"ltp\","
		"\"status\":\"FAIL\"},"
		"{\"id\":\"o:t2\",\"origin\":\"o\",\"build_id\":\"o:b1\",\"path\":\"ltp.sem01\","
		"\"status\":\"PASS\"},"
		"{\"id\":\"o:t3\",\"origin\":\"o\",\"build_id\":\"o:b1\",\"path\":\"ltpx\",\"status\":\"FAIL\"},"
		"{\"id\":\"o:t4\",\"origin\":\"o\",\"build_id\":\"o:b2\",\"path\":\"boot\"}]}";
	json_t *j = json_loads(doc, 0, NULL);
	struct results_writer *w;
	struct results_stats s;
	struct submission_meta m = { "test", NULL, "5.3" };
	cr_assert_eq(results_writer_new(st, &w, &e), 0);
	cr_assert_eq(store_begin(st, &e), 0);
	cr_assert_eq(results_submit(w, j, &m, &s, &e), 0, "%s", err_msg(&e));
	cr_assert_eq(store_commit(st, &e), 0);
	results_writer_free(w);
	json_decref(j);
	buf_free(&p);
	free(d);
	return st;
}

/* ids of tests matching `text`, joined with spaces */
static char *match_tests(struct store *st, const char *text)
{
	struct filter *f = parse_ok(text);
	struct buf sql = BUF_INIT, out = BUF_INIT;
	struct filter_params params = { 0 };
	buf_adds(&sql, "SELECT t.id FROM tests t LEFT JOIN builds b ON b.id = t.build_id "
		       "LEFT JOIN checkouts c ON c.id = b.checkout_id WHERE ");
	filter_to_sql(f, FL_TEST, &sql, &params);
	buf_adds(&sql, " ORDER BY t.id");
	struct store_stmt *s;
	struct err e = ERR_INIT;
	cr_assert_eq(store_prepare(st, &s, sql.ptr, &e), 0, "%s: %s", sql.ptr, err_msg(&e));
	for (size_t i = 0; i < params.n; i++)
		store_bind_text(s, (int)i + 1, params.v[i], -1);
	while (store_step(s, &e) == STORE_ROW)
		buf_addf(&out, "%s%s", out.len ? " " : "", store_col_text(s, 0, NULL));
	store_finalize(s);
	filter_params_free(&params);
	filter_free(f);
	buf_free(&sql);
	return buf_detach(&out);
}

#define EXPECT(st, f, want)                                                            \
	do {                                                                           \
		char *got = match_tests(st, f);                                        \
		cr_assert_str_eq(got, want, "filter '%s'", f);                         \
		free(got);                                                             \
	} while (0)

Test(filter, sql_semantics)
{
	struct store *st = seeded();
	EXPECT(st, "", "o:t1 o:t2 o:t3 o:t4");
	EXPECT(st, "tree:net-next", "o:t1 o:t2 o:t3");
	EXPECT(st, "status:FAIL", "o:t1 o:t3");
	EXPECT(st, "test:ltp", "o:t1 o:t2");            /* subtree, not prefix */
	EXPECT(st, "test:ltp*", "o:t1 o:t2 o:t3");      /* glob */
	EXPECT(st, "-test:ltp", "o:t3 o:t4");
	EXPECT(st, "-status:FAIL", "o:t2 o:t4");        /* missing status counts as not FAIL */
	EXPECT(st, "arch:arm64 OR status:PASS", "o:t2 o:t4");
	EXPECT(st, "commit:052d5343", "o:t1 o:t2 o:t3"); /* hex prefix */
	EXPECT(st, "tree:net* -test:ltp.*", "o:t1 o:t3");
	EXPECT(st, "tree:\"'; DROP TABLE tests; --\"", "");
	EXPECT(st, "test:lt?", "");                      /* only * is special */
	EXPECT(st, "test:lt_", "");                      /* LIKE wildcards are literals */
	EXPECT(st, "test:%", "");
	EXPECT(st, "test:l*x", "o:t3");
	EXPECT(st, "status:*", "o:t1 o:t2 o:t3");
	store_close(st);
}

Test(filter, level_applicability)
{
	struct filter *f = parse_ok("test:ltp OR tree:x");
	struct buf sql = BUF_INIT;
	struct filter_params p = { 0 };
	filter_to_sql(f, FL_BUILD, &sql, &p);
	/* the test: group cannot match a build directly; tree: still can */
	cr_assert(strstr(sql.ptr, "(0)"), "%s", sql.ptr);
	cr_assert(strstr(sql.ptr, "c.tree_name"), "%s", sql.ptr);
	cr_assert_eq(p.n, 1);
	filter_params_free(&p);
	buf_free(&sql);
	filter_free(f);
}
