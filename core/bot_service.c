/*
 * bot_service.c - `cifeed serve` runs the enabled mail bots (bots/):
 * one pass per bot every [bot "NAME"] interval (default 5m), after intake
 * in the service order, off the event loop.
 *
 * A pass (botpass_run: SQLite, git, SMTP, all blocking) runs in
 * uv_queue_work with its own store connection and a configuration loaded on
 * the worker, so a SIGHUP reload never frees what the worker reads.  The
 * bots run one after another in one work item; a tick while a pass runs is
 * folded into the next one.  Stop sets the pass's stop flag (it ends after
 * the message in flight) and waits for the work to finish; whatever a kill
 * interrupts, the next pass recovers (core/botpass.h).
 */
#include "bot.h"
#include "botpass.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

struct bot_svc {
	struct daemon *d;
	uv_timer_t timer;
	uv_work_t work;
	int busy, closing, handle_open;
	volatile int stop;
	uint64_t interval_ms;
	struct store *store; /* the worker's connection */
	size_t errors;
};

static void schedule(struct bot_svc *s, uint64_t ms);

static void maybe_free(struct bot_svc *s)
{
	if (s->handle_open || s->busy)
		return;
	store_close(s->store);
	free(s);
}

static void count(const char *name, const char *bot, size_t n)
{
	struct buf l = BUF_INIT;
	buf_adds(&l, "bot=\"");
	metrics_label_escape(&l, bot);
	buf_addch(&l, '"');
	if (n)
		metrics_counter_add(name, l.ptr, n);
	buf_free(&l);
}

static void work_cb(uv_work_t *req)
{
	struct bot_svc *s = req->data;
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	s->errors = 0;
	if (!s->store && store_open(&s->store, s->d->db_path, STORE_NOCREATE, &err) < 0)
		goto out;
	if (config_load(s->d->conf_path, &cfg, &err) < 0)
		goto out;
	for (size_t i = 0; i < bots_count && !s->stop; i++) {
		const struct bot *b = bots[i];
		if (!config_get_bool(cfg, "bot", b->name, "enabled", 0))
			continue;
		struct botpass_opts o = { 0 };
		struct botpass_stats st;
		o.datadir = s->d->datadir;
		o.cfg = cfg;
		o.stop = &s->stop;
		if (botpass_run(s->store, b, &o, &st, &err) < 0) {
			log_error("bot.error", "bot=%s error=%s", b->name, err_msg(&err));
			count("cifeed_bot_errors_total", b->name, 1);
			s->errors++;
			err_clear(&err);
			continue;
		}
		count("cifeed_bot_sent_total", b->name, st.sent);
		count("cifeed_bot_failed_total", b->name, st.failed + st.rejected);
		count("cifeed_bot_decisions_total", b->name, st.send + st.skip);
		if (st.planned || st.sent || st.failed || st.optouts || st.recovered)
			log_info("bot.pass",
				 "bot=%s considered=%zu send=%zu skip=%zu wait=%zu planned=%zu "
				 "sent=%zu failed=%zu rejected=%zu opt_outs=%zu recovered=%zu",
				 b->name, st.considered, st.send, st.skip, st.wait, st.planned,
				 st.sent, st.failed, st.rejected, st.optouts, st.recovered);
	}
out:
	if (err.code != ERR_NONE) {
		log_error("bot.error", "error=%s", err_msg(&err));
		s->errors++;
	}
	err_free(&err);
	config_free(cfg);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct bot_svc *s = req->data;
	(void)status;
	s->busy = 0;
	if (s->closing) {
		maybe_free(s);
		return;
	}
	schedule(s, s->errors ? (s->interval_ms < 60000 ? s->interval_ms : 60000) : s->interval_ms);
}

static void timer_cb(uv_timer_t *t)
{
	struct bot_svc *s = t->data;
	if (s->closing || s->busy)
		return;
	s->busy = 1;
	s->work.data = s;
	uv_queue_work(s->d->loop, &s->work, work_cb, after_work_cb);
}

static void schedule(struct bot_svc *s, uint64_t ms)
{
	if (!s->closing)
		uv_timer_start(&s->timer, timer_cb, ms, 0);
}

/* the shortest interval of the enabled bots; 0 when none is enabled */
static uint64_t read_interval(const struct config *cfg)
{
	uint64_t ms = 0;
	for (size_t i = 0; i < bots_count; i++) {
		const char *n = bots[i]->name;
		if (!config_get_bool(cfg, "bot", n, "enabled", 0))
			continue;
		int64_t secs = config_get_duration(cfg, "bot", n, "interval", 300);
		uint64_t v = (uint64_t)(secs > 0 ? secs : 1) * 1000;
		if (!ms || v < ms)
			ms = v;
	}
	return ms;
}

static int bots_start(struct daemon *d, void **state, struct err *err)
{
	/* settings errors stop start-up, as a bad topic filter does */
	for (size_t i = 0; i < bots_count; i++) {
		if (!config_get_bool(d->cfg, "bot", bots[i]->name, "enabled", 0))
			continue;
		struct bot_settings set;
		if (bot_settings_load(bots[i], d->cfg, 1, &set, err) < 0)
			return -1;
		bot_settings_free(&set);
	}
	metrics_declare("cifeed_bot_sent_total", METRIC_COUNTER, "messages bots sent by SMTP");
	metrics_declare("cifeed_bot_failed_total", METRIC_COUNTER,
			"bot messages the SMTP server refused (retried or rejected)");
	metrics_declare("cifeed_bot_decisions_total", METRIC_COUNTER,
			"final bot decisions (send or skip)");
	metrics_declare("cifeed_bot_errors_total", METRIC_COUNTER, "failed bot passes");
	struct bot_svc *s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->interval_ms = read_interval(d->cfg);
	uv_timer_init(d->loop, &s->timer);
	s->timer.data = s;
	s->handle_open = 1;
	if (s->interval_ms)
		schedule(s, 0);
	log_info("bot.started", "interval_ms=%llu", (unsigned long long)s->interval_ms);
	*state = s;
	return 0;
}

static void closed(uv_handle_t *h)
{
	struct bot_svc *s = h->data;
	s->handle_open = 0;
	maybe_free(s);
}

static void bots_stop(struct daemon *d, void *state)
{
	(void)d;
	struct bot_svc *s = state;
	if (!s)
		return;
	s->closing = 1;
	s->stop = 1;
	uv_close((uv_handle_t *)&s->timer, closed);
}

static void bots_reload(struct daemon *d, void *state)
{
	struct bot_svc *s = state;
	if (!s)
		return;
	uint64_t old = s->interval_ms;
	s->interval_ms = read_interval(d->cfg);
	if (!s->busy && s->interval_ms && (!old || s->interval_ms < old))
		schedule(s, 0);
	else if (!s->interval_ms)
		uv_timer_stop(&s->timer);
}

const struct service service_bots = {
	.name = "bots",
	.start = bots_start,
	.stop = bots_stop,
	.reload = bots_reload,
};
