/*
 * qpool.h - store lookups off the event loop: a pool of reader threads
 * (and, for bounded lookups, qpool_run_here() on the loop itself).
 *
 * Each thread owns one read-only connection to the store (STORE_READONLY,
 * opened on first use and kept, with its cached statements), so lookups
 * run in parallel beside the loop and beside the writer (SQLite WAL lets
 * readers read a consistent snapshot while a transaction commits).  A job's
 * run() is called on a pool thread with that connection, then its done()
 * on the loop thread.  With zero threads, run() is called on the loop
 * itself with a read-only connection of the loop's own (measured in
 * BENCHMARKS.md: the pool keeps the loop responsive while a slow query or
 * an ingest is busy).
 *
 * Ownership: jobs belong to the caller; the pool only links them.  A job
 * submitted after qpool_stop() is still run and completed.
 */
#ifndef CIFEED_QPOOL_H
#define CIFEED_QPOOL_H

#include <stddef.h>
#include <uv.h>

#include "err.h"
#include "store.h"

struct qpool;

struct qpool_job {
	/*
	 * On a pool thread, or on the loop for qpool_run_here() and a pool of 0
	 * threads: st is NULL when the store could not be opened (err says why).
	 */
	void (*run)(struct qpool_job *job, struct store *st, struct err *err);
	/* on the loop, after run */
	void (*done)(struct qpool_job *job);
	struct qpool_job *next; /* the pool's */
};

int qpool_start(struct qpool **out, uv_loop_t *loop, const char *db_path, unsigned nthreads,
                struct err *err);
void qpool_submit(struct qpool *p, struct qpool_job *job);
/* The pool's threads; 0 means qpool_submit() runs each job on the loop at once. */
unsigned qpool_threads(const struct qpool *p);
/*
 * Run job->run right here on the loop thread with the loop's own read-only
 * connection (done() is not called).  For lookups that are nearly always
 * short: the caller bounds them with store_set_deadline() and hands the
 * rare long one to qpool_submit() instead.  Returns 0, or -1 when the
 * loop's connection cannot be opened (then run() got st = NULL).
 */
int qpool_run_here(struct qpool *p, struct qpool_job *job);
/*
 * The loop thread's own read-only connection (the one qpool_run_here uses),
 * opened on first use; NULL with err when it cannot be opened.  Loop thread
 * only; the pool keeps it.
 */
struct store *qpool_loop_store(struct qpool *p, struct err *err);
/* Jobs submitted and not yet done. */
size_t qpool_pending(const struct qpool *p);
/*
 * Finish the queued jobs, stop the threads and free the pool once its loop
 * handle is closed.  `p` must not be used afterwards.
 */
void qpool_stop(struct qpool *p);

#endif
