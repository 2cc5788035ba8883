/*
 * store_backend.h - what a store backend implements (see store.h).
 *
 * In the manner of curl's protocol handlers, a backend is a table of
 * function pointers.  store.c dispatches through it and never names SQLite.
 */
#ifndef CIFEED_STORE_BACKEND_H
#define CIFEED_STORE_BACKEND_H

#include "store.h"

struct store_backend {
	const char *name;
	/* Does this backend handle `location`? (e.g. "postgresql://...") */
	int (*accepts)(const char *location);
	int (*open)(struct store *st, const char *location, unsigned flags, struct err *err);
	void (*close)(struct store *st);
	int (*exec)(struct store *st, const char *sql, struct err *err);
	/* 1 if a table exists, 0 if not, -1 on error (catalogs differ per backend) */
	int (*has_table)(struct store *st, const char *name, struct err *err);
	int (*prepare)(struct store *st, struct store_stmt *s, const char *sql, struct err *err);
	int (*bind_text)(struct store_stmt *s, int idx, const char *text, ptrdiff_t len);
	int (*bind_int)(struct store_stmt *s, int idx, int64_t v);
	int (*bind_double)(struct store_stmt *s, int idx, double v);
	int (*bind_null)(struct store_stmt *s, int idx);
	int (*step)(struct store_stmt *s, struct err *err);
	void (*reset)(struct store_stmt *s);
	void (*finalize)(struct store_stmt *s);
	int (*col_count)(struct store_stmt *s);
	enum store_type (*col_type)(struct store_stmt *s, int col);
	const char *(*col_text)(struct store_stmt *s, int col, size_t *len);
	int64_t (*col_int)(struct store_stmt *s, int col);
	double (*col_double)(struct store_stmt *s, int col);
	int64_t (*changes)(struct store *st);
	int64_t (*last_insert_id)(struct store *st);
	/* optional: interrupt statements once st->deadline_ns (CLOCK_MONOTONIC) passes */
	void (*set_deadline)(struct store *st);
	/* optional: see store_data_version() */
	int (*data_version)(struct store *st, int64_t *v, struct err *err);
};

struct store {
	const struct store_backend *backend;
	void *impl;        /* backend connection */
	int in_tx;
	int schema_version;
	int migrations_applied; /* by this open */
	unsigned flags;
	/* store_prepare_cached: SQL text -> statement, most recently used last */
	struct store_cached {
		char *sql;
		struct store_stmt *stmt;
	} cache[STORE_STMT_CACHE];
	size_t ncache;
	uint64_t deadline_ns; /* 0: none */
	int timed_out;
};

struct store_stmt {
	struct store *st;
	void *impl;        /* backend statement */
};

extern const struct store_backend store_backend_sqlite;

/* Compiled-in migrations (generated from schema/migrations/ at build time). */
struct store_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
