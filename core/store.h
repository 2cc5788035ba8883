/*
 * store.h - the one interface to cifeed's database.
 *
 * The store is a thin, backend-neutral SQL layer: modules keep their own
 * portable SQL (the subset SQLite and PostgreSQL share: `?` placeholders,
 * INSERT ... ON CONFLICT ... DO UPDATE, COALESCE, no backend-specific
 * functions) and run it through these calls.  A backend is a
 * `const struct store_backend` (see store_backend.h), chosen by the
 * location string given to store_open(); SQLite is the embedded default and
 * the only backend today.
 *
 * Schema: numbered migrations from schema/migrations/ are compiled into the
 * binary and applied inside one transaction each when the store is opened.
 * A database whose schema is newer than the binary is refused.
 *
 * Threading: a struct store is used by one thread at a time.  Other threads
 * open their own connection (SQLite WAL lets readers run beside one writer).
 *
 * Ownership: statements belong to the store that prepared them and must be
 * finalized before store_close().  Text returned by store_col_text() is valid
 * until the next step/reset/finalize of that statement.
 */
#ifndef CIFEED_STORE_H
#define CIFEED_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;
struct store_stmt;

enum store_flags {
	STORE_READONLY = 1 << 0,  /* open without write access; no migrations */
	STORE_NOCREATE = 1 << 1,  /* fail if the database does not exist */
	STORE_BULK = 1 << 2,      /* bulk-load tuning (bigger cache, NORMAL sync) */
	STORE_LEAN = 1 << 3,      /* small cache: long-lived connections writing small
				     transactions (a daemon's worker), where memory matters more */
};

/* step results */
enum { STORE_DONE = 0, STORE_ROW = 1 };

/* column types as reported by store_col_type() */
enum store_type { STORE_NULL, STORE_INT, STORE_REAL, STORE_TEXT, STORE_BLOB };

/*
 * Open the store at `location` (a file path for SQLite) and bring its schema
 * up to date.  Returns 0 or -1 with err set.
 */
int store_open(struct store **out, const char *location, unsigned flags, struct err *err);
void store_close(struct store *st);

/* Schema version the database is at / this binary knows. */
int store_schema_version(struct store *st);
int store_schema_latest(void);
/* How many migrations this open applied (0 when the schema was current). */
int store_migrations_applied(const struct store *st);
/* Name of the backend ("sqlite"). */
const char *store_backend_name(const struct store *st);

/* Transactions.  begin takes the write lock at once (BEGIN IMMEDIATE). */
int store_begin(struct store *st, struct err *err);
/* A read transaction: one consistent snapshot for several SELECTs. */
int store_begin_read(struct store *st, struct err *err);
int store_commit(struct store *st, struct err *err);
/* Roll back if a transaction is open; never fails from the caller's view. */
void store_rollback(struct store *st);
int store_in_transaction(struct store *st);

/* Run one or more statements without results. */
int store_exec(struct store *st, const char *sql, struct err *err);

int store_prepare(struct store *st, struct store_stmt **out, const char *sql, struct err *err);
/*
 * Like store_prepare, but the statement is kept by the store, keyed by its
 * SQL text, and handed out again by later calls with the same text: hot
 * lookups (the HTTP API) skip the compile step.  The store owns it: never
 * finalize it; call store_reset() when done so its bindings and read lock
 * are released.  At most STORE_STMT_CACHE statements are kept (least
 * recently used goes first); all are finalized by store_close().
 */
#define STORE_STMT_CACHE 32
int store_prepare_cached(struct store *st, struct store_stmt **out, const char *sql,
			 struct err *err);
/*
 * Bind parameters (1-based).  Text is copied; len < 0 means NUL-terminated.
 * NULL text binds SQL NULL.
 */
int store_bind_text(struct store_stmt *s, int idx, const char *text, ptrdiff_t len);
int store_bind_int(struct store_stmt *s, int idx, int64_t v);
int store_bind_double(struct store_stmt *s, int idx, double v);
int store_bind_null(struct store_stmt *s, int idx);
/* STORE_ROW, STORE_DONE, or -1 with err set. */
int store_step(struct store_stmt *s, struct err *err);
/* Ready the statement for another run; bindings are cleared. */
void store_reset(struct store_stmt *s);
void store_finalize(struct store_stmt *s);

int store_col_count(struct store_stmt *s);
enum store_type store_col_type(struct store_stmt *s, int col);
const char *store_col_text(struct store_stmt *s, int col, size_t *len);
/* A malloc'd copy of a text column, or NULL when it is NULL. */
char *store_col_dup(struct store_stmt *s, int col);
int64_t store_col_int(struct store_stmt *s, int col);
double store_col_double(struct store_stmt *s, int col);

/*
 * A time budget for what runs next on this connection: once `ms`
 * milliseconds from now have passed, a running store_step() stops and
 * fails (ERR_DB) and store_timed_out() says so until the next call.
 * 0 removes the budget.  For readers answering outside requests (the
 * API), so one expensive filter cannot hold a query thread for minutes.
 */
void store_set_deadline(struct store *st, uint64_t ms);
int store_timed_out(const struct store *st);

/*
 * A number that differs between two calls on this connection whenever any
 * other connection (any process) committed a change in between: a cheap
 * "did the database change?" for readers that keep answers (SQLite's
 * PRAGMA data_version, no table is read).  A backend without it reports a
 * new number on every call, which is always correct, only slower.
 */
int store_data_version(struct store *st, int64_t *v, struct err *err);

/* Rows changed by the last INSERT/UPDATE/DELETE on this connection. */
int64_t store_changes(struct store *st);
/* Id of the last inserted row (SQLite rowid / PostgreSQL needs RETURNING). */
int64_t store_last_insert_id(struct store *st);

/*
 * Convenience: run `sql` with `nparams` text params and return the first
 * column of the first row as an integer in *out (0 when no row).
 * Returns 1 when a row was found, 0 when none, -1 on error.
 */
int store_query_int(struct store *st, const char *sql, int64_t *out, struct err *err, int nparams,
		    ...);

#endif
