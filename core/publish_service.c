/*
 * publish_service.c - `cifeed serve`'s publisher: a publishing pass every
 * [serve] publish-interval (default 30s), off the event loop, and soon after
 * the spool or a poller stored results (at most one pass per
 * PUBLISH_NUDGE_MS then, so a long initial sync is published as it goes
 * without passes back to back).
 *
 * The pass (publisher_run: SQLite plus git packing) runs in uv_queue_work
 * with its own store connection and its own copy of the configuration
 * (loaded on the worker, so a SIGHUP reload never frees what the worker
 * reads).  One pass at a time; a timer tick during a pass is folded into
 * the next one.  Stop waits for the pass in flight: the position only moves
 * after the feed's ref, so even an abrupt exit loses nothing.
 */
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "publisher.h"

#include <stdlib.h>
#include <string.h>

#define PUBLISH_INTERVAL_DEFAULT 30
#define PUBLISH_NUDGE_MS         2000

struct pub_svc {
	struct daemon *d;
	uv_timer_t timer;
	uv_work_t work;
	int busy, closing, handle_open;
	int again; /* results changed during the pass in flight */
	uint64_t interval_ms;
	struct store *store; /* worker's connection, opened lazily */
	struct err werr;
	int wrc;
	struct publish_stats stats;
	double seconds;
};

static void schedule(struct pub_svc *s, uint64_t ms);

static void maybe_free(struct pub_svc *s)
{
	if (s->handle_open || s->busy)
		return;
	store_close(s->store);
	err_free(&s->werr);
	free(s);
}

static void work_cb(uv_work_t *req)
{
	struct pub_svc *s = req->data;
	struct config *cfg = NULL;
	uint64_t t0 = uv_hrtime();
	err_clear(&s->werr);
	s->wrc = -1;
	if (!s->store && store_open(&s->store, s->d->db_path, STORE_NOCREATE, &s->werr) < 0)
		return;
	if (config_load(s->d->conf_path, &cfg, &s->werr) < 0)
		return;
	struct publish_opts o = { 0 };
	o.datadir = s->d->datadir;
	o.cfg = cfg;
	s->wrc = publisher_run(s->store, &o, &s->stats, &s->werr);
	config_free(cfg);
	s->seconds = (double)(uv_hrtime() - t0) / 1e9;
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct pub_svc *s = req->data;
	s->busy = 0;
	if (status == 0) {
		if (s->wrc < 0) {
			log_error("publish.error", "error=%s", err_msg(&s->werr));
			metrics_counter_add("cifeed_publish_errors_total", "", 1);
		} else {
			metrics_counter_add("cifeed_published_messages_total", "",
					    s->stats.messages);
			metrics_gauge_set("cifeed_publish_pending_units", "",
					  (double)s->stats.pending);
			metrics_observe("cifeed_publish_pass_seconds", "", s->seconds);
			if (s->stats.messages)
				log_info("publish.pass", "messages=%zu followups=%zu pending=%zu "
							 "seconds=%.3f",
					 s->stats.messages, s->stats.followups, s->stats.pending,
					 s->seconds);
		}
	}
	if (s->closing) {
		maybe_free(s);
		return;
	}
	uint64_t next = s->wrc < 0 ? 5000 : s->interval_ms;
	if (s->again && next > PUBLISH_NUDGE_MS)
		next = PUBLISH_NUDGE_MS;
	s->again = 0;
	schedule(s, next);
}

static void timer_cb(uv_timer_t *t)
{
	struct pub_svc *s = t->data;
	if (s->closing || s->busy)
		return;
	s->busy = 1;
	s->work.data = s;
	uv_queue_work(s->d->loop, &s->work, work_cb, after_work_cb);
}

static void schedule(struct pub_svc *s, uint64_t ms)
{
	if (!s->closing)
		uv_timer_start(&s->timer, timer_cb, ms, 0);
}

static void read_interval(struct pub_svc *s)
{
	int64_t secs = config_get_duration(s->d->cfg, "serve", NULL, "publish-interval",
					   PUBLISH_INTERVAL_DEFAULT);
	s->interval_ms = (uint64_t)(secs > 0 ? secs : 1) * 1000;
}

static int pub_start(struct daemon *d, void **state, struct err *err)
{
	struct topic *tp;
	size_t n;
	/* a bad topic filter stops start-up with the config error */
	if (publisher_topics(d->cfg, &tp, &n, err) < 0)
		return -1;
	publisher_topics_free(tp, n);
	metrics_declare("cifeed_published_messages_total", METRIC_COUNTER,
			"feed messages appended by the publisher");
	metrics_declare("cifeed_publish_errors_total", METRIC_COUNTER, "failed publishing passes");
	metrics_declare("cifeed_publish_pending_units", METRIC_GAUGE,
			"result units waiting to settle after the last pass");
	metrics_declare("cifeed_publish_pass_seconds", METRIC_HISTOGRAM,
			"duration of a publishing pass");
	struct pub_svc *s = xcalloc(1, sizeof(*s));
	s->d = d;
	read_interval(s);
	uv_timer_init(d->loop, &s->timer);
	s->timer.data = s;
	s->handle_open = 1;
	schedule(s, 0);
	log_info("publish.started", "interval_ms=%llu", (unsigned long long)s->interval_ms);
	*state = s;
	return 0;
}

static void closed(uv_handle_t *h)
{
	struct pub_svc *s = h->data;
	s->handle_open = 0;
	maybe_free(s);
}

static void pub_stop(struct daemon *d, void *state)
{
	(void)d;
	struct pub_svc *s = state;
	if (!s)
		return;
	s->closing = 1;
	uv_close((uv_handle_t *)&s->timer, closed);
}

static void pub_reload(struct daemon *d, void *state)
{
	(void)d;
	struct pub_svc *s = state;
	if (s)
		read_interval(s);
}

/* New results: publish them soon rather than at the next interval. */
static void pub_results_changed(struct daemon *d, void *state)
{
	(void)d;
	struct pub_svc *s = state;
	if (!s || s->closing)
		return;
	if (s->busy) {
		s->again = 1;
		return;
	}
	if (uv_timer_get_due_in(&s->timer) > PUBLISH_NUDGE_MS)
		schedule(s, PUBLISH_NUDGE_MS);
}

const struct service service_publisher = {
    .name = "publisher",
    .start = pub_start,
    .stop = pub_stop,
    .reload = pub_reload,
    .results_changed = pub_results_changed,
};
