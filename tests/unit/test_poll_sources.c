/*
 * test_poll_sources.c - per-source cursors, validators and health in the
 * store (core/sources.c): round trips, the transaction rule, and that a
 * rolled-back transaction leaves no cursor behind.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources.h"

static struct store *st;
static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/cifeed-unit.XXXXXX");
	cr_assert(mkdtemp(dir));
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/db", dir);
	struct err err = ERR_INIT;
	cr_assert(store_open(&st, p.ptr, 0, &err) == 0, "%s", err_msg(&err));
	buf_free(&p);
}

static void teardown(void)
{
	store_close(st);
	struct buf c = BUF_INIT;
	buf_addf(&c, "rm -rf '%s'", dir);
	cr_assert(system(c.ptr) == 0);
	buf_free(&c);
}

TestSuite(poll_sources, .init = setup, .fini = teardown);

Test(poll_sources, cursor_round_trip_and_transaction_rule)
{
	struct err err = ERR_INIT;
	json_t *c = NULL;
	cr_assert_eq(sources_cursor_load(st, "s", &c, &err), 0);
	cr_assert_null(c);
	json_t *cur = json_pack("{s:s, s:{s:i}}", "after", "2020-01-01 00:00:00", "seen", "12", 3);
	cr_assert_eq(sources_cursor_save(st, "s", "gerrit", cur, &err), -1,
	             "saving outside a transaction must be refused");
	cr_assert_eq(err.code, ERR_INTERNAL);
	err_clear(&err);

	cr_assert_eq(store_begin(st, &err), 0);
	cr_assert_eq(sources_cursor_save(st, "s", "gerrit", cur, &err), 0, "%s", err_msg(&err));
	store_rollback(st);
	cr_assert_eq(sources_cursor_load(st, "s", &c, &err), 0, "rolled back: no cursor");

	cr_assert_eq(store_begin(st, &err), 0);
	cr_assert_eq(sources_cursor_save(st, "s", "gerrit", cur, &err), 0);
	cr_assert_eq(sources_cursor_save(st, "s", "gerrit", cur, &err), 0);
	cr_assert_eq(store_commit(st, &err), 0);
	cr_assert_eq(sources_cursor_load(st, "s", &c, &err), 1);
	cr_assert(json_equal(c, cur));
	int64_t units = 0;
	cr_assert_eq(store_query_int(st, "SELECT units FROM source_cursors WHERE source = ?",
	                             &units, &err, 1, "s"),
	             1);
	cr_assert_eq(units, 2);
	json_decref(c);
	json_decref(cur);
	err_free(&err);
}

Test(poll_sources, validators_replace_per_key)
{
	struct err err = ERR_INIT;
	struct sources_validator v = {
	    "pipelines:1", "https://h/a?x=1", "W/\"e1\"",
	    json_pack("[[s,s]]", "link", "<https://h/a?page=2>; rel=next")};
	cr_assert_eq(store_begin(st, &err), 0);
	cr_assert_eq(sources_validator_save(st, "s", &v, &err), 0);
	v.url = "https://h/a?x=2";
	v.etag = "W/\"e2\"";
	cr_assert_eq(sources_validator_save(st, "s", &v, &err), 0);
	cr_assert_eq(store_commit(st, &err), 0);
	struct sources_validator *got;
	size_t n;
	cr_assert_eq(sources_validators_load(st, "s", &got, &n, &err), 0);
	cr_assert_eq(n, 1, "one row per cache key");
	cr_assert_str_eq(got[0].url, "https://h/a?x=2");
	cr_assert_str_eq(got[0].etag, "W/\"e2\"");
	cr_assert(json_equal(got[0].headers, v.headers));
	sources_validators_free(got, n);
	cr_assert_eq(sources_validators_load(st, "other", &got, &n, &err), 0);
	cr_assert_eq(n, 0);
	json_decref(v.headers);
	err_free(&err);
}

Test(poll_sources, health_counts_failures_and_resets)
{
	struct err err = ERR_INIT;
	struct sources_state s;
	cr_assert_eq(sources_state_load(st, "s", &s, &err), 0);
	cr_assert_eq(sources_state_record(st, "s", 0, "HTTP 502", 100, &err), 0);
	cr_assert_eq(sources_state_record(st, "s", 0, "HTTP 503", 200, &err), 0);
	cr_assert_eq(sources_state_load(st, "s", &s, &err), 1);
	cr_assert_eq(s.failures, 2);
	cr_assert_eq(s.next_poll_at, 200);
	cr_assert_str_eq(s.last_error, "HTTP 503");
	cr_assert_null(s.last_ok_at);
	sources_state_free(&s);
	cr_assert_eq(sources_state_record(st, "s", 1, NULL, 0, &err), 0);
	cr_assert_eq(sources_state_load(st, "s", &s, &err), 1);
	cr_assert_eq(s.failures, 0);
	cr_assert_not_null(s.last_ok_at);
	cr_assert_str_eq(s.last_error, "HTTP 503", "the last error is kept for diagnosis");
	sources_state_free(&s);
	err_free(&err);
}
