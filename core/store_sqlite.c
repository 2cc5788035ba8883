/*
 * store_sqlite.c - the embedded SQLite backend of the store (see store.h).
 *
 * LIKE is case-sensitive, as in PostgreSQL, so the portable filter SQL
 * means the same on both (and a prefix LIKE can use an index).
 * WAL journal (readers never block the writer), foreign keys on, a busy
 * timeout so the daemon and a CLI command can share the file, and
 * synchronous=FULL so a committed transaction survives power loss, not just
 * a killed process: the feed writer trusts committed cursors.
 */
#include "store_backend.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int sq_accepts(const char *location)
{
	/* Anything that is not a URL with a scheme of another backend. */
	return !strstr(location, "://") || !strncmp(location, "sqlite://", 9) ||
	       !strncmp(location, "file:", 5);
}

static sqlite3 *db_of(struct store *st)
{
	return st->impl;
}

static int sq_fail(struct store *st, struct err *err, const char *what)
{
	return err_set(err, ERR_DB, "%s: %s", what, sqlite3_errmsg(db_of(st)));
}

static int sq_exec(struct store *st, const char *sql, struct err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db_of(st), sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, ERR_DB, "%s", msg ? msg : sqlite3_errmsg(db_of(st)));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int sq_has_table(struct store *st, const char *name, struct err *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db_of(st),
			       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &s,
			       NULL) != SQLITE_OK)
		return sq_fail(st, err, "catalog");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(st, err, "catalog");
}

static int sq_open(struct store *st, const char *location, unsigned flags, struct err *err)
{
	sqlite3 *db = NULL;
	if (!strncmp(location, "sqlite://", 9))
		location += 9;
	int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
	if (flags & STORE_READONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_NOCREATE) ? 0 : SQLITE_OPEN_CREATE);
	int rc = sqlite3_open_v2(location, &db, oflags, NULL);
	if (rc != SQLITE_OK) {
		err_set(err, ERR_DB, "cannot open database: %s",
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	st->impl = db;
	sqlite3_busy_timeout(db, 10000);
	sqlite3_extended_result_codes(db, 1);
	const char *pragmas = (flags & STORE_READONLY)
				      ? "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
					"PRAGMA case_sensitive_like=ON;"
				      : "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
					"PRAGMA synchronous=FULL; PRAGMA case_sensitive_like=ON;";
	if (sq_exec(st, pragmas, err) < 0) {
		sqlite3_close(db);
		return -1;
	}
	if (flags & STORE_BULK)
		sq_exec(st, "PRAGMA cache_size=-65536; PRAGMA synchronous=NORMAL;", err);
	else if (flags & STORE_LEAN)
		sq_exec(st, "PRAGMA cache_size=-2048;", err);
	else
		sq_exec(st, "PRAGMA cache_size=-16384;", err);
	/*
	 * Readers (the API's query threads, CLI queries) map the file: pages come
	 * straight from the OS page cache instead of a read() copy into each
	 * connection's cache, which is most of a lookup's cost on a large store.
	 * SQLite caps the size at its compile-time limit; WAL frames are still read
	 * normally, so readers beside a writer stay correct.
	 */
	if (flags & STORE_READONLY)
		sq_exec(st, "PRAGMA mmap_size=17179869184;", err);
	return 0;
}

static void sq_close(struct store *st)
{
	/* sqlite3_close_v2 defers if a statement leaked; that is a bug to surface in ASan runs. */
	sqlite3_close_v2(db_of(st));
}

static int sq_prepare(struct store *st, struct store_stmt *s, const char *sql, struct err *err)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v3(db_of(st), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK)
		return sq_fail(st, err, "prepare");
	s->impl = stmt;
	return 0;
}

static int sq_bind_text(struct store_stmt *s, int idx, const char *text, ptrdiff_t len)
{
	return sqlite3_bind_text(s->impl, idx, text, (int)(len < 0 ? -1 : len), SQLITE_TRANSIENT) ==
			       SQLITE_OK
		       ? 0
		       : -1;
}

static int sq_bind_int(struct store_stmt *s, int idx, int64_t v)
{
	return sqlite3_bind_int64(s->impl, idx, v) == SQLITE_OK ? 0 : -1;
}

static int sq_bind_double(struct store_stmt *s, int idx, double v)
{
	return sqlite3_bind_double(s->impl, idx, v) == SQLITE_OK ? 0 : -1;
}

static int sq_bind_null(struct store_stmt *s, int idx)
{
	return sqlite3_bind_null(s->impl, idx) == SQLITE_OK ? 0 : -1;
}

static int sq_step(struct store_stmt *s, struct err *err)
{
	int rc = sqlite3_step(s->impl);
	if (rc == SQLITE_ROW)
		return STORE_ROW;
	if (rc == SQLITE_DONE)
		return STORE_DONE;
	err_set(err, ERR_DB, "%s (in: %.120s)", sqlite3_errmsg(db_of(s->st)),
		sqlite3_sql(s->impl));
	sqlite3_reset(s->impl);
	return -1;
}

static void sq_reset(struct store_stmt *s)
{
	sqlite3_reset(s->impl);
	sqlite3_clear_bindings(s->impl);
}

static void sq_finalize(struct store_stmt *s)
{
	sqlite3_finalize(s->impl);
}

static int sq_col_count(struct store_stmt *s)
{
	return sqlite3_column_count(s->impl);
}

static enum store_type sq_col_type(struct store_stmt *s, int col)
{
	switch (sqlite3_column_type(s->impl, col)) {
	case SQLITE_INTEGER:
		return STORE_INT;
	case SQLITE_FLOAT:
		return STORE_REAL;
	case SQLITE_TEXT:
		return STORE_TEXT;
	case SQLITE_BLOB:
		return STORE_BLOB;
	default:
		return STORE_NULL;
	}
}

static const char *sq_col_text(struct store_stmt *s, int col, size_t *len)
{
	const char *t = (const char *)sqlite3_column_text(s->impl, col);
	if (len)
		*len = t ? (size_t)sqlite3_column_bytes(s->impl, col) : 0;
	return t;
}

static int64_t sq_col_int(struct store_stmt *s, int col)
{
	return sqlite3_column_int64(s->impl, col);
}

static double sq_col_double(struct store_stmt *s, int col)
{
	return sqlite3_column_double(s->impl, col);
}

/* Progress handler: a non-zero return interrupts the running statement. */
static int sq_progress(void *arg)
{
	struct store *st = arg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec < st->deadline_ns)
		return 0;
	st->timed_out = 1;
	return 1;
}

static void sq_set_deadline(struct store *st)
{
	/* checked every few thousand VM steps: ~ every 10-50 us of work */
	sqlite3_progress_handler(db_of(st), st->deadline_ns ? 4000 : 0,
				 st->deadline_ns ? sq_progress : NULL, st);
}

/*
 * PRAGMA data_version changes when another connection commits; it starts a
 * read transaction (the WAL index header in shared memory) but reads no
 * table page.
 */
static int sq_data_version(struct store *st, int64_t *v, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare_cached(st, &s, "PRAGMA data_version", err) < 0)
		return -1;
	int r = store_step(s, err);
	*v = r == STORE_ROW ? store_col_int(s, 0) : 0;
	store_reset(s);
	return r < 0 ? -1 : 0;
}

static int64_t sq_changes(struct store *st)
{
	return sqlite3_changes(db_of(st));
}

static int64_t sq_last_insert_id(struct store *st)
{
	return sqlite3_last_insert_rowid(db_of(st));
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.accepts = sq_accepts,
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.has_table = sq_has_table,
	.prepare = sq_prepare,
	.bind_text = sq_bind_text,
	.bind_int = sq_bind_int,
	.bind_double = sq_bind_double,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.reset = sq_reset,
	.finalize = sq_finalize,
	.col_count = sq_col_count,
	.col_type = sq_col_type,
	.col_text = sq_col_text,
	.col_int = sq_col_int,
	.col_double = sq_col_double,
	.data_version = sq_data_version,
	.changes = sq_changes,
	.last_insert_id = sq_last_insert_id,
	.set_deadline = sq_set_deadline,
};
