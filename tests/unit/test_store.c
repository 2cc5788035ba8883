/*
 * test_store.c - store open, migrations, version refusal, transactions.
 */
#include "store.h"
#include "testutil.h"

static char *db_in_temp(void)
{
	char *d = temp_dir();
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/cifeed.db", d);
	free(d);
	return buf_detach(&b);
}

Test(store, migrations_apply_once_and_are_recorded)
{
	char *db = db_in_temp();
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, db, 0, &e), 0, "%s", err_msg(&e));
	cr_assert_eq(store_schema_version(st), store_schema_latest());
	int64_t n;
	cr_assert_eq(store_query_int(st, "SELECT COUNT(*) FROM schema_migrations", &n, &e, 0), 1);
	cr_assert_eq(n, (int64_t)store_schema_latest() > 0 ? n : 0);
	cr_assert_gt(n, 0);
	store_close(st);
	/* reopening applies nothing new */
	cr_assert_eq(store_open(&st, db, 0, &e), 0, "%s", err_msg(&e));
	int64_t n2;
	store_query_int(st, "SELECT COUNT(*) FROM schema_migrations", &n2, &e, 0);
	cr_assert_eq(n, n2);
	/* WAL and foreign keys are on */
	struct store_stmt *s;
	cr_assert_eq(store_prepare(st, &s, "PRAGMA journal_mode", &e), 0);
	cr_assert_eq(store_step(s, &e), STORE_ROW);
	cr_assert_str_eq(store_col_text(s, 0, NULL), "wal");
	store_finalize(s);
	int64_t fk;
	store_query_int(st, "PRAGMA foreign_keys", &fk, &e, 0);
	cr_assert_eq(fk, 1);
	store_close(st);
	free(db);
}

Test(store, newer_database_is_refused)
{
	char *db = db_in_temp();
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, db, 0, &e), 0);
	cr_assert_eq(store_exec(st,
				"INSERT INTO schema_migrations VALUES (9999, 'future', "
				"'2030-01-01T00:00:00Z')",
				&e),
		     0);
	store_close(st);
	cr_assert_eq(store_open(&st, db, 0, &e), -1);
	cr_assert(strstr(err_msg(&e), "newer cifeed"), "%s", err_msg(&e));
	cr_assert(strstr(err_msg(&e), "9999"), "%s", err_msg(&e));
	cr_assert_eq(store_open(&st, db, STORE_READONLY, &e), -1);
	cr_assert(strstr(err_msg(&e), "newer"), "%s", err_msg(&e));
	err_free(&e);
	free(db);
}

Test(store, readonly_requires_a_migrated_database)
{
	char *db = db_in_temp();
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, db, STORE_NOCREATE, &e), -1, "created a missing database");
	err_free(&e);
	free(db);
}

Test(store, rollback_discards)
{
	char *db = db_in_temp();
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, db, 0, &e), 0);
	cr_assert_eq(store_begin(st, &e), 0);
	cr_assert_eq(store_exec(st,
				"INSERT INTO origins (name, first_seen, last_seen) VALUES "
				"('x', 'a', 'b')",
				&e),
		     0);
	store_rollback(st);
	int64_t n;
	store_query_int(st, "SELECT COUNT(*) FROM origins", &n, &e, 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(store_begin(st, &e), 0);
	cr_assert_eq(store_begin(st, &e), -1, "nested begin must fail");
	store_rollback(st);
	store_close(st);
	free(db);
}

Test(store, parameters_are_never_sql)
{
	char *db = db_in_temp();
	struct store *st;
	struct err e = ERR_INIT;
	cr_assert_eq(store_open(&st, db, 0, &e), 0);
	int64_t n;
	cr_assert_eq(store_query_int(st, "SELECT COUNT(*) FROM tests WHERE id = ?", &n, &e, 1,
				     "x' OR '1'='1"),
		     1);
	cr_assert_eq(n, 0);
	store_close(st);
	free(db);
}
