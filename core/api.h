/*
 * api.h - the read-only query API: what each endpoint answers.
 *
 * The HTTP side (routing, parameters, status codes, the `http` service of
 * `cifeed serve`) is api.c; the answers are computed here from a store
 * connection, so the CLI twins and the unit tests use the same code.  Every
 * answer is a JSON document described by a JSON Schema in schema/api/:
 *
 *   GET  /api/v1/ran       ran.json      api_ran()
 *   POST /api/v1/skip      skip.json     api_skip()
 *   GET  /api/v1/results   results.json  api_results()
 *   GET  /api/v1/patches/M patch.json    api_patch()
 *   GET  /healthz          healthz.json
 *   any error              error.json
 *
 * Each function appends one JSON document to `out` and returns 0, or -1
 * with err: ERR_INVALID for a bad request (the message is safe to show the
 * client), ERR_NOTFOUND for a missing patch, ERR_DB otherwise (logged, never
 * shown: it may contain SQL).
 */
#ifndef CIFEED_API_H
#define CIFEED_API_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "results.h"
#include "store.h"

/* Largest answers: rows of /ran, plan entries of /skip, page size of /results. */
#define API_RAN_MAX         100000
#define API_SKIP_MAX_TESTS  100000
#define API_RESULTS_DEFAULT 100
#define API_RESULTS_MAX     1000

/* Statuses that count as "already ran" for /skip unless configured ([serve] ran-statuses). */
#define API_RAN_STATUSES_DEFAULT "PASS FAIL DONE"

/*
 * Parse a ran-statuses list ("PASS FAIL DONE", commas or spaces) into a
 * NULL-terminated array of static KCIDB status names.  Returns 0 or -1
 * with err naming the bad word.
 */
int api_statuses_parse(const char *text, const char *out[8], struct err *err);

/* Check the fields of a ran query as the API and CLI accept them (ERR_INVALID). */
int api_ran_validate(const struct ran_query *q, struct err *err);

int api_ran(struct store *st, const struct ran_query *q, struct buf *out, struct err *err);

/*
 * Body: {"commit", "patchset", "msgid", "patch_id", "origin", "tests":[paths],
 *        "require":{"arch","config","compiler"}}
 * A plan entry is skipped when a test with exactly that path has a status in
 * `statuses` on the revision (and on a build meeting `require`); the first
 * such result (by origin, then test id) is reported.
 */
int api_skip(struct store *st, const char *body, size_t len, const char *const *statuses,
             struct buf *out, struct err *err);

/* The skip decision itself, shared with `cifeed skip` (paths need not be unique). */
struct skip_plan {
	struct ran_row **skip; /* per input path: the result that makes it skippable, or NULL */
	struct ran_row *rows;  /* owned */
	size_t nrows;
};
int api_skip_decide(struct store *st, const struct ran_query *q, const char *const *paths,
                    size_t npaths, struct skip_plan *plan, struct err *err);
void api_skip_plan_free(struct skip_plan *plan);

/*
 * Tests matching `filter` (filter.h language, NULL/"" = all) after the
 * opaque `cursor` (NULL = from the start), at most `limit`, in insertion
 * order, as a kcidb-io v5.3 document with their builds and checkouts.
 */
int api_results(struct store *st, const char *filter, const char *cursor, size_t limit,
                struct buf *out, struct err *err);

/* A mailing-list patch by Message-ID (without <>) with its linked checkouts and results. */
int api_patch(struct store *st, const char *msgid, struct buf *out, struct err *err);

#endif
