/*
 * ran_cache.h - rendered /api/v1/ran answers kept per revision.
 *
 * "Which tests already ran on this revision?" is asked before every test
 * run, many times for the same few revisions, while the answer changes
 * only when a submission touches that revision.  The cache keeps the
 * rendered answer (body + ETag) of a revision - (commit, patchset), "" for
 * no patches - in memory, bounded by a byte budget (least recently used
 * goes first), and drops exactly the revisions that changed:
 *
 *   ran_cache_sync() asks the store whether anything committed since the
 *   last call (store_data_version: a counter, no table read); when it did,
 *   it reads the revision change log (results.h, migration 0060) after the
 *   last seq it saw and drops those revisions.  The log is written by every
 *   writer of results, in the writer's transaction, whatever the process
 *   (the daemon's spool, its pollers, a separate `cifeed ingest`), so no
 *   in-process notification is needed and no answer outlives its data.
 *   A cifeed without the log cannot write such a database (it refuses a
 *   schema migration it does not know); SQL written by hand around
 *   results_submit() is not seen until the daemon restarts.
 *
 * An answer computed elsewhere (a query thread) is only kept when no change
 * was read meanwhile: ran_cache_tag() before the lookup, ran_cache_put()
 * with that tag after it; a put whose tag is older is refused (the answer
 * may predate a change already dropped), counted as `stale`.
 *
 * Threading and ownership: a cache belongs to one thread - the HTTP
 * service's event-loop thread - and is only ever used there, with that
 * thread's own store connection; it has no lock.  A hit hands out a
 * reference to the answer's bytes (no copy: the server writes them as they
 * are), released with ran_cache_release() on the same thread; a dropped
 * entry's bytes live until the last write sending them is done.  The byte
 * budget counts the entries, not answers still being written.
 */
#ifndef CIFEED_RAN_CACHE_H
#define CIFEED_RAN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

struct ran_cache;

struct ran_cache_stats {
	uint64_t hits, misses;
	uint64_t inserts;
	uint64_t invalidations; /* cached answers dropped because their revision changed */
	uint64_t evictions;     /* dropped to stay within the byte budget */
	uint64_t flushes;       /* everything dropped (log pruned past us, store error) */
	uint64_t stale;         /* puts refused: a change was read while the answer was made */
	uint64_t syncs;         /* change-log reads (the database had changed) */
	size_t bytes, entries, max_bytes;
};

/* An empty cache holding at most max_bytes (answers, keys and bookkeeping). */
struct ran_cache *ran_cache_new(size_t max_bytes);
void ran_cache_free(struct ran_cache *c);
/* A new budget (SIGHUP): evicts at once down to it; 0 empties the cache. */
void ran_cache_set_max(struct ran_cache *c, size_t max_bytes);
/* 0 for a NULL cache or one of size 0 ([serve] ran-cache-size = 0): do not consult it. */
int ran_cache_enabled(const struct ran_cache *c);

/*
 * Bring the cache up to date with `st` (the owner thread's read-only
 * connection, always the same one): returns 0, or -1 with err after
 * emptying the cache (answer from the store then; the next call retries).
 */
int ran_cache_sync(struct ran_cache *c, struct store *st, struct err *err);
/* The tag of answers computed from now on (after a successful sync). */
int64_t ran_cache_tag(const struct ran_cache *c);

struct ran_cache_hit {
	const char *body; /* valid until ran_cache_release(ref) */
	size_t len;
	const char *etag; /* valid until the next call on the cache */
	void *ref;
};
/*
 * The cached answer of (commit, patchset) - patchset NULL or "" for none.
 * Returns 1 with *hit set (release hit->ref when done with the body), or 0
 * (a miss).  Counts a hit or a miss.  Call ran_cache_sync() first.
 */
int ran_cache_get(struct ran_cache *c, const char *commit, const char *patchset,
                  struct ran_cache_hit *hit);
void ran_cache_release(void *ref);
/*
 * Keep an answer computed with ran_cache_tag() == tag.  The body is copied.
 * Returns 1 when kept, 0 when refused (stale tag, larger than the budget,
 * cache off).
 */
int ran_cache_put(struct ran_cache *c, const char *commit, const char *patchset, int64_t tag,
                  const char *body, size_t len, const char *etag);
void ran_cache_stats(const struct ran_cache *c, struct ran_cache_stats *out);

#endif
