/*
 * poller.h - the polling engine: every [source "NAME"] polled on one libuv
 * loop, through the adapters of adapters/adapter.h.
 *
 * Scheduling: each source is polled every `interval` (default 300 s, with
 * +-10 % jitter so sources sharing a host spread out).  A poll cycle walks
 * the source from its committed cursor to the end of what the upstream has:
 * begin() gives the first request(s), parse() of each response gives
 * objects, follow-ups and cursor updates; units (a page and what it
 * spawned) commit one by one.  A failed cycle (network error, HTTP error,
 * unparseable answer, invalid objects, store failure) commits nothing more,
 * logs ONE line naming the source, the URL (secrets redacted) and what went
 * wrong, and the source backs off exponentially with jitter (from
 * min(interval, 30 s) up to `backoff-max`, default 1 h), never sooner than
 * a Retry-After or RateLimit-ResetTime the upstream asked for.
 *
 * Politeness: requests per host are limited (`host-concurrency`, the
 * smallest value among the sources of a host); Retry-After on 429/503
 * holds the whole host; GitLab-style RateLimit-Remaining/-Reset headers
 * spread the remaining quota until the reset when it runs low; conditional
 * requests (If-None-Match) are sent where the adapter asks for them.
 *
 * Crash safety: a unit's objects, its cursor update and the ETags of its
 * responses are written in ONE store transaction (core/sources.h); nothing
 * else is ever written for a unit.  Killing the process at any moment loses
 * at most uncommitted units, which the next cycle fetches again.
 *
 * Threads: the loop thread runs scheduling and HTTP (http_client.h);
 * parse() and validation run on the libuv thread pool; store work runs on
 * the pool too, serialized, with the engine's own store connection.
 * Local sources (poll_local) run on the pool with a connection each.
 *
 * Metrics (metrics.h), label source="NAME": cifeed_poll_cycles_total
 * {result}, cifeed_poll_requests_total{code}, cifeed_poll_errors_total
 * {kind}, cifeed_poll_bytes_total, cifeed_poll_wire_bytes_total,
 * cifeed_poll_not_modified_total, cifeed_poll_units_total,
 * cifeed_poll_objects_total{type}, cifeed_poll_cycle_seconds,
 * cifeed_poll_last_success_timestamp_seconds,
 * cifeed_poll_consecutive_failures.
 */
#ifndef CIFEED_POLLER_H
#define CIFEED_POLLER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"

struct poller;

/* What one source's cycle did (once mode report, and the cycle log line). */
struct poller_report {
	const char *source;
	const char *type;
	int ok;
	const char *error; /* when !ok */
	uint64_t units, requests, not_modified, bytes;
	uint64_t objects, created, updated;
	double seconds;
};

struct poller_options {
	int once;                /* one cycle per source, then stop by itself */
	const char *const *only; /* NULL-terminated source names to poll, or NULL for all */
	/* once mode: called for each source when its cycle ends */
	void (*report)(const struct poller_report *r, void *arg);
	/* called when the poller has stopped and freed itself (once mode or poller_stop) */
	void (*stopped)(void *arg);
	/* optional: called (loop thread) after a page's objects were committed
	   and created or changed something */
	void (*stored)(void *arg);
	void *arg;
};

/*
 * Start polling the enabled sources of cfg (copied; cfg may be freed).
 * db_path is the store to commit into (opened by the engine's workers).
 * Errors: a source that cannot be set up (bad key, unreadable token-file,
 * missing token environment variable) is ERR_CONFIG; in once mode an
 * unknown name in `only` is ERR_USAGE.
 */
int poller_start(uv_loop_t *loop, const struct config *cfg, const char *db_path,
                 const struct poller_options *o, struct poller **out, struct err *err);
/*
 * New configuration: sources whose sections changed are restarted, new ones
 * start, removed ones stop.  A source that cannot be set up is logged and
 * skipped; the others keep running.
 */
void poller_reload(struct poller *p, const struct config *cfg);
/*
 * Stop: cancel transfers (their units are not committed), let work already
 * handed to the store finish, close everything, then call o->stopped.
 */
void poller_stop(struct poller *p);
/* Cycles that failed so far (once mode exit status). */
size_t poller_failures(const struct poller *p);

#endif
