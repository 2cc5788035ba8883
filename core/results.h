/*
 * results.h - KCIDB objects in the store: merge-on-submit, export, lookups.
 *
 * results_submit() merges a validated v5.3 document into the store inside
 * the caller's open transaction (so a poller can commit its cursor in the
 * same transaction).  The merge rule (schema/merge-rule.md): the first
 * non-null value of a field wins; later submissions only fill fields that
 * are still missing; issues are kept per (id, version).  A row's `seq`
 * becomes the id of the submission that last added something to it.
 */
#ifndef CIFEED_RESULTS_H
#define CIFEED_RESULTS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "filter.h"
#include "kcidb.h"
#include "store.h"

struct results_writer;

/* Prepare the upsert statements once; reuse the writer for many submissions. */
int results_writer_new(struct store *st, struct results_writer **out, struct err *err);
void results_writer_free(struct results_writer *w);

struct submission_meta {
	const char *source;  /* "file:PATH", "stdin", "spool:NAME", "source:NAME" */
	const char *sha256;  /* hex digest of the submitted bytes, or NULL */
	const char *version; /* as submitted, e.g. "4.3" */
};

struct results_stats {
	int64_t submission_id;
	size_t counts[KCIDB_NTYPES];
	size_t created, updated, unchanged;
};

/* Must be called inside store_begin()/store_commit(). */
int results_submit(struct results_writer *w, json_t *doc, const struct submission_meta *meta,
		   struct results_stats *stats, struct err *err);

/*
 * A validated document flattened for results_submit_prepared(): every
 * field of every object as a scalar, nested values (misc, environment,
 * resource lists...) already serialised.  The expensive part (walking and
 * dumping JSON) can run on a worker thread, and the jansson document can be
 * freed before the rows are written, so only this compact form waits for
 * the database.
 */
struct results_value {
	unsigned char kind; /* RV_NULL, RV_TEXT, RV_INT, RV_REAL */
	size_t len;         /* RV_TEXT: bytes at text.ptr + off */
	union {
		size_t off;
		int64_t i;
		double d;
	} u;
};
enum { RV_NULL, RV_TEXT, RV_INT, RV_REAL };

struct results_prepared {
	size_t counts[KCIDB_NTYPES];
	struct results_value *vals; /* per type in order: counts[t] x nfields values */
	size_t nvals;
	struct buf text;            /* all strings, each NUL-terminated */
};

void results_prepare(json_t *doc, struct results_prepared *p);
void results_prepared_free(struct results_prepared *p);
int results_submit_prepared(struct results_writer *w, const struct results_prepared *p,
			    const struct submission_meta *meta, struct results_stats *stats,
			    struct err *err);

/*
 * Has a submission with this sha256 been stored?  Returns 1 and its id and
 * time, 0 when not, -1 on error.
 */
int results_find_submission(struct store *st, const char *sha256, int64_t *id, char **when,
			    struct err *err);

/*
 * Write the objects matching `filter` (NULL = all) as one kcidb-io v5.3
 * document to `out`: one object per line, objects ordered by id, so the
 * same store always gives byte-identical output.  A filter selects tests,
 * builds and checkouts that match directly plus every ancestor of a
 * selected object (so the output is self-contained), and the incidents of
 * selected builds and tests with their issues.
 */
int results_export(struct store *st, const struct filter *filter, FILE *out, struct err *err);

/* Build the JSON object of one row of `t`'s table (columns in field order). */
json_t *results_row_to_json(enum kcidb_type t, struct store_stmt *s, int first_col);
/*
 * Append the text of the same row's object, byte for byte what
 * kcidb_json_dump(results_row_to_json(t, s, first_col)) gives, written
 * straight from the columns: for a report with a few dozen objects the
 * generic dump is most of the rendering.  `obj` is that row's object when
 * the caller already built it (its parsed JSON columns are reused), else
 * NULL.  Stored JSON columns are copied as stored (the store keeps them as
 * kcidb_json_dump wrote them) unless the row's other reals need more digits.
 */
void results_row_text(enum kcidb_type t, struct store_stmt *s, int first_col, json_t *obj,
		      struct buf *out);
/*
 * A JSON string literal of s[0..len) as jansson dumps it: '"', '\\' and
 * control characters escaped, UTF-8 and '/' kept.  s must be UTF-8, as every
 * string in the store is (KCIDB input is parsed by jansson).
 */
void results_json_string(const char *s, size_t len, struct buf *out);
/* "col1, col2, ..." of t's fields with alias prefix, for SELECTs. */
void results_columns(enum kcidb_type t, const char *alias, struct buf *out);

/* One test that ran on a revision (see results_ran). */
struct ran_row {
	char *origin, *path, *status, *arch, *config, *compiler, *start_time, *log_url;
	char *test_id, *build_id, *checkout_id;
};

struct ran_query {
	const char *commit;   /* required unless msgid/patch_id given */
	const char *patchset; /* NULL: no patches ("" or missing) */
	const char *test;     /* path prefix (subtree), NULL = all */
	const char *origin;   /* NULL = all */
	const char *msgid;    /* checkouts linked to this patch/series */
	const char *patch_id; /* checkouts linked to a patch with this patch-id */
	const char *arch;     /* build architecture, NULL = any */
	const char *config;   /* build config_name, NULL = any */
	const char *compiler; /* build compiler, NULL = any */
	const char *const *statuses; /* NULL-terminated (at most 16); NULL = any final status */
	size_t limit;         /* 0 = no limit */
	int unordered;        /* results_ran_each: rows in any order, the caller sorts */
};

/*
 * Tests with a final status for a revision, ordered by path, origin, id.
 * Every value is bound as a parameter.  The statement is cached on `st`
 * (store_prepare_cached), so repeated lookups on one connection skip the
 * SQL compile step.  Indexes serving it: schema/migrations/0030_query_indexes.sql.
 */
int results_ran(struct store *st, const struct ran_query *q, struct ran_row **rows, size_t *n,
		struct err *err);
void results_ran_free(struct ran_row *rows, size_t n);

/* A row as the statement holds it: valid during the callback only. */
struct ran_view {
	const char *origin, *path, *status, *arch, *config, *compiler, *start_time, *log_url;
	const char *test_id, *build_id, *checkout_id;
};
/* Return 0 to go on, -1 to stop with an error. */
typedef int (*results_ran_fn)(const struct ran_view *row, void *arg);
/*
 * The same lookup as results_ran, streaming: fn sees each row in order
 * without copies (the HTTP API writes its answer straight from them).
 */
int results_ran_each(struct store *st, const struct ran_query *q, results_ran_fn fn, void *arg,
		     struct err *err);
json_t *results_ran_row_json(const struct ran_row *r);

/*
 * The revision change log (schema/migrations/0060_revision_changes.sql).
 * results_submit() records, in the submission's own transaction, every
 * revision - (git_commit_hash, patchset_hash with "" for none), as
 * results_ran() names it - whose answer the submission may have changed:
 * the revisions of its changed checkouts (and the (commit, "") a checkout
 * leaves when its patchset hash is filled in), of the checkouts of its
 * changed builds, and of the builds of its changed tests (one lookup per
 * distinct build, not per test).  Unchanged objects record nothing.  Rows
 * older than RESULTS_REVCHANGE_KEEP submissions are pruned.
 *
 * Readers that keep answers use it to drop exactly what changed, whichever
 * process wrote it.
 */
#define RESULTS_REVCHANGE_KEEP 10000

typedef void (*results_revchange_fn)(const char *commit, const char *patchset, void *arg);
/* The newest seq in the log (0 when it is empty). */
int results_revchange_last(struct store *st, int64_t *seq, struct err *err);
/*
 * Call fn for each revision changed by a submission with seq > after (one
 * read snapshot, in seq order; a revision may come more than once).  *last
 * becomes the newest seq covered.  Returns 1, or 0 when rows after `after`
 * have been pruned (the caller must treat every revision as changed), or
 * -1 with err.  Statements are cached on st (store_prepare_cached).
 */
int results_revchanges_since(struct store *st, int64_t after, results_revchange_fn fn, void *arg,
			     int64_t *last, struct err *err);

#endif
