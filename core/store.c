/*
 * store.c - backend dispatch and schema migrations (see store.h).
 *
 * Migrations live in schema/migrations/NNNN_name.sql and are compiled into
 * the binary.  The applied versions are recorded in the `schema_migrations`
 * table (portable, unlike SQLite's user_version), each migration runs in its
 * own transaction together with its record, so a crash mid-upgrade leaves
 * the database at the previous version.
 */
#include "store_backend.h"
#include "formats.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct store_backend *const backends[] = {
	&store_backend_sqlite,
};

int store_schema_latest(void)
{
	int v = 0;
	for (size_t i = 0; i < store_migrations_count; i++)
		if (store_migrations[i].version > v)
			v = store_migrations[i].version;
	return v;
}

static int read_version(struct store *st, int *out, struct err *err)
{
	int64_t v = 0;
	if (store_exec(st,
		       "CREATE TABLE IF NOT EXISTS schema_migrations ("
		       " version INTEGER PRIMARY KEY,"
		       " name TEXT NOT NULL,"
		       " applied_at TEXT NOT NULL)",
		       err) < 0)
		return -1;
	if (store_query_int(st, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &v, err,
			    0) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* Read-only open: the schema must be exactly what this binary knows. */
static int read_version_ro(struct store *st, int *out, struct err *err)
{
	int64_t max = 0, count = 0;
	int r = st->backend->has_table(st, "schema_migrations", err);
	if (r <= 0) {
		*out = 0;
		return r;
	}
	if (store_query_int(st, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &max,
			    err, 0) < 0 ||
	    store_query_int(st, "SELECT COUNT(*) FROM schema_migrations", &count, err, 0) < 0)
		return -1;
	/* report "older" as a lower version so the caller's message fits */
	*out = (size_t)count < store_migrations_count && max <= store_schema_latest()
		       ? (int)max - 1
		       : (int)max;
	return 0;
}

/*
 * Apply every compiled-in migration the database has not recorded, in
 * version order.  Versions are a set, not a counter: migrations written on
 * different branches may land in any order and each is applied exactly
 * once.  A recorded version this binary does not know means the database
 * was written by a newer cifeed: refuse rather than guess.
 */
static int migrate(struct store *st, struct err *err)
{
	int cur;
	if (read_version(st, &cur, err) < 0)
		return -1;
	struct store_stmt *q;
	if (store_prepare(st, &q, "SELECT version FROM schema_migrations ORDER BY version", err) < 0)
		return -1;
	int *applied = NULL;
	size_t napplied = 0;
	int r;
	while ((r = store_step(q, err)) == STORE_ROW) {
		int v = (int)store_col_int(q, 0);
		int known = 0;
		for (size_t i = 0; i < store_migrations_count; i++)
			known |= store_migrations[i].version == v;
		if (!known) {
			store_finalize(q);
			free(applied);
			return err_set(err, ERR_DB,
				       "database has schema migration %04d, unknown to this cifeed "
				       "(it knows up to %d): it was written by a newer cifeed; "
				       "upgrade cifeed",
				       v, store_schema_latest());
		}
		applied = xrealloc(applied, (napplied + 1) * sizeof(*applied));
		applied[napplied++] = v;
	}
	store_finalize(q);
	if (r < 0) {
		free(applied);
		return -1;
	}
	/* migrations are compiled in sorted order (embed.cmake sorts file names) */
	for (size_t i = 0; i < store_migrations_count; i++) {
		const struct store_migration *m = &store_migrations[i];
		int done = 0;
		for (size_t k = 0; k < napplied; k++)
			done |= applied[k] == m->version;
		if (done)
			continue;
		struct store_stmt *ins = NULL;
		if (store_begin(st, err) < 0)
			goto fail;
		if (store_exec(st, m->sql, err) < 0 ||
		    store_prepare(st, &ins,
				  "INSERT INTO schema_migrations (version, name, applied_at) "
				  "VALUES (?, ?, ?)",
				  err) < 0) {
			store_rollback(st);
			err_prefix(err, "schema migration %04d_%s", m->version, m->name);
			goto fail;
		}
		char now[32];
		fmt_now(now);
		store_bind_int(ins, 1, m->version);
		store_bind_text(ins, 2, m->name, -1);
		store_bind_text(ins, 3, now, -1);
		r = store_step(ins, err);
		store_finalize(ins);
		if (r < 0 || store_commit(st, err) < 0) {
			store_rollback(st);
			err_prefix(err, "schema migration %04d_%s", m->version, m->name);
			goto fail;
		}
		st->migrations_applied++;
	}
	free(applied);
	st->schema_version = store_schema_latest();
	return 0;
fail:
	free(applied);
	return -1;
}

int store_open(struct store **out, const char *location, unsigned flags, struct err *err)
{
	const struct store_backend *be = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (backends[i]->accepts(location)) {
			be = backends[i];
			break;
		}
	if (!be)
		return err_set(err, ERR_CONFIG, "%s: no store backend handles this location",
			       location);
	struct store *st = xcalloc(1, sizeof(*st));
	st->backend = be;
	st->flags = flags;
	if (be->open(st, location, flags, err) < 0) {
		free(st);
		return -1;
	}
	int r;
	if (flags & STORE_READONLY) {
		r = read_version_ro(st, &st->schema_version, err);
		if (r == 0 && st->schema_version > store_schema_latest())
			r = err_set(err, ERR_DB,
				    "database schema version %d is newer than this cifeed (knows "
				    "up to %d)",
				    st->schema_version, store_schema_latest());
		else if (r == 0 && st->schema_version < store_schema_latest())
			r = err_set(err, ERR_DB,
				    "the database schema is older than this cifeed; run 'cifeed "
				    "init' once to upgrade it");
	} else {
		r = migrate(st, err);
	}
	if (r < 0) {
		err_prefix(err, "%s", location);
		be->close(st);
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

static void cache_drop(struct store_cached *c)
{
	store_finalize(c->stmt);
	free(c->sql);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->in_tx)
		store_rollback(st);
	for (size_t i = 0; i < st->ncache; i++)
		cache_drop(&st->cache[i]);
	st->backend->close(st);
	free(st);
}

int store_schema_version(struct store *st)
{
	return st->schema_version;
}

int store_migrations_applied(const struct store *st)
{
	return st->migrations_applied;
}

const char *store_backend_name(const struct store *st)
{
	return st->backend->name;
}

int store_begin(struct store *st, struct err *err)
{
	if (st->in_tx)
		return err_set(err, ERR_INTERNAL, "store_begin: transaction already open");
	if (st->backend->exec(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	st->in_tx = 1;
	return 0;
}

int store_begin_read(struct store *st, struct err *err)
{
	if (st->in_tx)
		return err_set(err, ERR_INTERNAL, "store_begin_read: transaction already open");
	if (st->backend->exec(st, "BEGIN", err) < 0)
		return -1;
	st->in_tx = 1;
	return 0;
}

int store_commit(struct store *st, struct err *err)
{
	if (!st->in_tx)
		return err_set(err, ERR_INTERNAL, "store_commit: no transaction open");
	if (st->backend->exec(st, "COMMIT", err) < 0)
		return -1;
	st->in_tx = 0;
	return 0;
}

void store_rollback(struct store *st)
{
	struct err e = ERR_INIT;
	if (!st->in_tx)
		return;
	st->backend->exec(st, "ROLLBACK", &e);
	st->in_tx = 0;
	err_free(&e);
}

int store_in_transaction(struct store *st)
{
	return st->in_tx;
}

int store_exec(struct store *st, const char *sql, struct err *err)
{
	return st->backend->exec(st, sql, err);
}

int store_prepare(struct store *st, struct store_stmt **out, const char *sql, struct err *err)
{
	struct store_stmt *s = xcalloc(1, sizeof(*s));
	s->st = st;
	if (st->backend->prepare(st, s, sql, err) < 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int store_prepare_cached(struct store *st, struct store_stmt **out, const char *sql,
			 struct err *err)
{
	for (size_t i = st->ncache; i-- > 0;) {
		if (strcmp(st->cache[i].sql, sql))
			continue;
		struct store_cached hit = st->cache[i];
		/* move to the most-recently-used end */
		memmove(&st->cache[i], &st->cache[i + 1], (st->ncache - i - 1) * sizeof(hit));
		st->cache[st->ncache - 1] = hit;
		store_reset(hit.stmt);
		*out = hit.stmt;
		return 0;
	}
	struct store_stmt *s;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	if (st->ncache == STORE_STMT_CACHE) {
		cache_drop(&st->cache[0]);
		memmove(&st->cache[0], &st->cache[1], (STORE_STMT_CACHE - 1) * sizeof(st->cache[0]));
		st->ncache--;
	}
	st->cache[st->ncache].sql = xstrdup(sql);
	st->cache[st->ncache].stmt = s;
	st->ncache++;
	*out = s;
	return 0;
}

int store_bind_text(struct store_stmt *s, int idx, const char *text, ptrdiff_t len)
{
	if (!text)
		return s->st->backend->bind_null(s, idx);
	return s->st->backend->bind_text(s, idx, text, len);
}

int store_bind_int(struct store_stmt *s, int idx, int64_t v)
{
	return s->st->backend->bind_int(s, idx, v);
}

int store_bind_double(struct store_stmt *s, int idx, double v)
{
	return s->st->backend->bind_double(s, idx, v);
}

int store_bind_null(struct store_stmt *s, int idx)
{
	return s->st->backend->bind_null(s, idx);
}

int store_step(struct store_stmt *s, struct err *err)
{
	return s->st->backend->step(s, err);
}

void store_reset(struct store_stmt *s)
{
	s->st->backend->reset(s);
}

void store_finalize(struct store_stmt *s)
{
	if (!s)
		return;
	s->st->backend->finalize(s);
	free(s);
}

int store_col_count(struct store_stmt *s)
{
	return s->st->backend->col_count(s);
}

enum store_type store_col_type(struct store_stmt *s, int col)
{
	return s->st->backend->col_type(s, col);
}

const char *store_col_text(struct store_stmt *s, int col, size_t *len)
{
	return s->st->backend->col_text(s, col, len);
}

char *store_col_dup(struct store_stmt *s, int col)
{
	const char *t = store_col_text(s, col, NULL);
	return t ? xstrdup(t) : NULL;
}

int64_t store_col_int(struct store_stmt *s, int col)
{
	return s->st->backend->col_int(s, col);
}

double store_col_double(struct store_stmt *s, int col)
{
	return s->st->backend->col_double(s, col);
}

void store_set_deadline(struct store *st, uint64_t ms)
{
	st->timed_out = 0;
	st->deadline_ns = 0;
	if (ms) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		st->deadline_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec +
				  ms * 1000000u;
	}
	if (st->backend->set_deadline)
		st->backend->set_deadline(st);
}

int store_timed_out(const struct store *st)
{
	return st->timed_out;
}

int store_data_version(struct store *st, int64_t *v, struct err *err)
{
	static int64_t fallback; /* "changed" every time */
	if (st->backend->data_version)
		return st->backend->data_version(st, v, err);
	*v = __atomic_add_fetch(&fallback, 1, __ATOMIC_RELAXED);
	return 0;
}

int64_t store_changes(struct store *st)
{
	return st->backend->changes(st);
}

int64_t store_last_insert_id(struct store *st)
{
	return st->backend->last_insert_id(st);
}

int store_query_int(struct store *st, const char *sql, int64_t *out, struct err *err, int nparams,
		    ...)
{
	struct store_stmt *s;
	va_list ap;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	va_start(ap, nparams);
	for (int i = 0; i < nparams; i++)
		store_bind_text(s, i + 1, va_arg(ap, const char *), -1);
	va_end(ap);
	int r = store_step(s, err);
	*out = 0;
	if (r == STORE_ROW)
		*out = store_col_int(s, 0);
	store_finalize(s);
	return r;
}
