/*
 * daemon.h - `cifeed serve`: one libuv loop hosting the services.
 *
 * The daemon owns the loop, the configuration (reloaded on SIGHUP), the
 * loop thread's store connection and the signal handling.  Each service
 * (spool watcher, pollers, HTTP API, publisher, bots) is a
 * `const struct service` listed in services.c, in the manner of the
 * command and adapter tables:
 *   start   set up handles on d->loop; return -1 with err to abort start-up
 *   stop    close handles and stop taking new work; work already queued
 *           finishes (uv_run returns once every handle is closed)
 *   reload  the configuration changed (d->cfg is already the new one)
 *   results_changed  (optional) another service committed new or changed
 *           results; called on the loop thread through
 *           daemon_results_changed(), so the publisher need not wait for
 *           its next interval
 * Services keep their state behind the `void **state` slot they are given.
 *
 * Invariant: nothing on the loop blocks.  Slow work (ingesting a large file,
 * packing git objects) goes to uv_queue_work with its own store connection.
 */
#ifndef CIFEED_DAEMON_H
#define CIFEED_DAEMON_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"
#include "store.h"

struct daemon {
	uv_loop_t *loop;
	const char *datadir;
	const char *conf_path;
	const char *db_path;
	struct config *cfg;  /* current configuration */
	struct store *store; /* the loop thread's connection; keep transactions short */
	int stopping;
	/* event-loop lag, measured by a timer that checks its own delay */
	uint64_t lag_samples;
	uint64_t lag_max_us;
	uint32_t lag_recent[8192]; /* the latest samples in microseconds (a ring) */
};

struct service {
	const char *name;
	int (*start)(struct daemon *d, void **state, struct err *err);
	void (*stop)(struct daemon *d, void *state);
	void (*reload)(struct daemon *d, void *state);
	void (*results_changed)(struct daemon *d, void *state);
};

extern const struct service *const services[];
extern const size_t services_count;

/* Run until SIGTERM/SIGINT.  cfg and store are owned by the daemon afterwards. */
int daemon_run(struct daemon *d, struct err *err);
/* Ask the daemon to stop (as SIGTERM does). */
void daemon_stop(struct daemon *d);
/*
 * A service committed new or changed results (loop thread only): every
 * running service's results_changed hook is called.
 */
void daemon_results_changed(struct daemon *d);
/*
 * Lag percentiles (0..100) in microseconds, pct[i] -> out[i], exact over the
 * samples taken since d->lag_samples was `since` (0: all), of which only the
 * latest 8192 are kept (about 160 s at one sample per 20 ms).  One sort for
 * all n: it runs on the loop.  Returns how many samples that was.
 */
size_t daemon_lag_percentiles(const struct daemon *d, uint64_t since, const double *pct,
                              uint64_t *out, size_t n);

#endif
