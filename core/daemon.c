/*
 * daemon.c - the serve loop: signals, reload, services (see daemon.h).
 */
#include "daemon.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct daemon_priv {
	struct daemon *d;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t lag_timer;
	uint64_t lag_expected;
	void **states;
	int started;
};

static struct daemon_priv *priv_of(uv_handle_t *h)
{
	return h->data;
}

#define LAG_INTERVAL_MS 20 /* 50 samples/s: a p99 over seconds means something */

static void lag_tick(uv_timer_t *t)
{
	struct daemon_priv *p = t->data;
	struct daemon *d = p->d;
	uint64_t now = uv_hrtime();
	uint64_t lag = now > p->lag_expected ? (now - p->lag_expected) / 1000 : 0; /* us */
	p->lag_expected = now + (uint64_t)LAG_INTERVAL_MS * 1000000;
	d->lag_recent[d->lag_samples % (sizeof(d->lag_recent) / sizeof(*d->lag_recent))] =
	    lag > UINT32_MAX ? UINT32_MAX : (uint32_t)lag;
	d->lag_samples++;
	if (lag > d->lag_max_us)
		d->lag_max_us = lag;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

size_t daemon_lag_percentiles(const struct daemon *d, uint64_t since, const double *pct,
                              uint64_t *out, size_t npct)
{
	size_t cap = sizeof(d->lag_recent) / sizeof(*d->lag_recent);
	for (size_t i = 0; i < npct; i++)
		out[i] = 0;
	if (since >= d->lag_samples)
		return 0;
	uint64_t have = d->lag_samples - since;
	size_t n = have < cap ? (size_t)have : cap;
	uint32_t *v = xmalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = d->lag_recent[(d->lag_samples - n + i) % cap];
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < npct; i++) {
		/* nearest rank */
		double rank = pct[i] / 100.0 * (double)n;
		size_t k = rank <= 1 ? 0 : (size_t)(rank + 0.999999) - 1;
		out[i] = v[k < n ? k : n - 1];
	}
	free(v);
	return n;
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void do_stop(struct daemon_priv *p)
{
	struct daemon *d = p->d;
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("serve.stopping", NULL);
	for (int i = p->started - 1; i >= 0; i--)
		if (services[i]->stop)
			services[i]->stop(d, p->states[i]);
	uv_close((uv_handle_t *)&p->sigterm, close_cb);
	uv_close((uv_handle_t *)&p->sigint, close_cb);
	uv_close((uv_handle_t *)&p->sighup, close_cb);
	uv_close((uv_handle_t *)&p->lag_timer, close_cb);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	log_info("serve.signal", "signal=%s", signum == SIGTERM ? "TERM" : "INT");
	do_stop(priv_of((uv_handle_t *)h));
}

static void on_hup(uv_signal_t *h, int signum)
{
	(void)signum;
	struct daemon_priv *p = priv_of((uv_handle_t *)h);
	struct daemon *d = p->d;
	struct config *cfg;
	struct err err = ERR_INIT;
	if (config_load(d->conf_path, &cfg, &err) < 0) {
		log_error("config.reload_failed", "error=%s action=%s", err_msg(&err),
		          "keeping the running configuration");
		err_free(&err);
		return;
	}
	config_free(d->cfg);
	d->cfg = cfg;
	log_info("config.reloaded", "file=%s", d->conf_path);
	for (int i = 0; i < p->started; i++)
		if (services[i]->reload)
			services[i]->reload(d, p->states[i]);
}

void daemon_stop(struct daemon *d)
{
	/* the priv struct is reachable from the signal handle stored in loop data */
	struct daemon_priv *p = d->loop->data;
	if (p)
		do_stop(p);
}

void daemon_results_changed(struct daemon *d)
{
	struct daemon_priv *p = d->loop->data;
	if (!p || d->stopping)
		return;
	for (int i = 0; i < p->started; i++)
		if (services[i]->results_changed)
			services[i]->results_changed(d, p->states[i]);
}

int daemon_run(struct daemon *d, struct err *err)
{
	struct daemon_priv p = {0};
	p.d = d;
	p.states = xcalloc(services_count + 1, sizeof(void *));
	d->loop->data = &p;

	uv_signal_init(d->loop, &p.sigterm);
	uv_signal_init(d->loop, &p.sigint);
	uv_signal_init(d->loop, &p.sighup);
	p.sigterm.data = p.sigint.data = p.sighup.data = &p;
	uv_signal_start(&p.sigterm, on_stop_signal, SIGTERM);
	uv_signal_start(&p.sigint, on_stop_signal, SIGINT);
	uv_signal_start(&p.sighup, on_hup, SIGHUP);
	uv_timer_init(d->loop, &p.lag_timer);
	p.lag_timer.data = &p;
	p.lag_expected = uv_hrtime() + (uint64_t)LAG_INTERVAL_MS * 1000000;
	uv_timer_start(&p.lag_timer, lag_tick, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
	/* the lag timer must not keep the loop alive on its own */
	uv_unref((uv_handle_t *)&p.lag_timer);

	int rc = 0;
	for (size_t i = 0; i < services_count; i++) {
		if (services[i]->start(d, &p.states[i], err) < 0) {
			err_prefix(err, "starting %s", services[i]->name);
			rc = -1;
			break;
		}
		p.started++;
		log_debug("serve.started", "service=%s", services[i]->name);
	}
	if (rc < 0)
		do_stop(&p);
	else
		log_info("serve.ready", "datadir=%s services=%zu", d->datadir, services_count);
	uv_run(d->loop, UV_RUN_DEFAULT);
	d->loop->data = NULL;
	free(p.states);
	if (rc == 0)
		log_info("serve.stopped", NULL);
	return rc;
}
