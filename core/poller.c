/*
 * poller.c - the polling engine (see poller.h) and `cifeed serve`'s
 * service_poller.
 *
 * Shape, in the order a request travels:
 *   source timer -> start_cycle: load cursor + ETags (store job)
 *   -> adapter begin() -> units -> host queue (per-host limit, not-before)
 *   -> http_get -> on_http: classify, rate-limit headers, 304 from cache
 *   -> parse on the thread pool (adapter parse + KCIDB validation)
 *   -> after_parse: merge objects/cursor into the unit, queue follow-ups
 *   -> unit done -> commit job (objects + cursor + ETags, one transaction)
 *   -> next unit ... -> cycle done -> schedule (interval or backoff).
 * A failure anywhere ends the cycle: in-flight transfers are cancelled,
 * parse results still running are dropped when they come back, and the
 * source backs off.  Store work is one FIFO of jobs run one at a time on
 * the thread pool with the engine's own connection, so commits of
 * different sources never contend with each other inside this process.
 */
#include "poller.h"
#include "adapter.h"
#include "daemon.h"
#include "formats.h"
#include "http_client.h"
#include "kcidb.h"
#include "log.h"
#include "metrics.h"
#include "patchlink.h"
#include "results.h"
#include "sources.h"
#include "store.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* an idle source's health (last success) is written at most this often */
#define HEALTH_IDLE_MS            600000
#define DEFAULT_INTERVAL_S        300
#define DEFAULT_BACKOFF_MAX_S     3600
#define DEFAULT_TIMEOUT_S         60
#define DEFAULT_CONNECT_TIMEOUT_S 10
#define DEFAULT_LOW_SPEED_S       30
#define DEFAULT_MAX_RESPONSE      (64u << 20)
#define MAX_UNITS_PER_CYCLE       100000
#define MAX_RETRY_AFTER_S         (6 * 3600)
#define TOKEN_MAX                 4096
/*
 * Flow control.  Parsing is CPU-bound: running more parse jobs than there
 * are cores beside the loop's would only starve the loop thread, so they
 * are queued.  Requests wait (per host, before being sent) while too many
 * are in flight, too many answers wait to be parsed or too many units wait
 * for the store: memory stays bounded whatever the number of sources.
 */
#define MAX_INFLIGHT       32
#define MAX_PARSE_BACKLOG  8
#define MAX_COMMIT_BACKLOG 8

struct poller;
struct psource;

/* ------------------------------------------------------------ types */

struct phost {
	struct poller *p;
	struct phost *next;
	char *origin; /* scheme://host:port */
	int limit;
	int in_flight;
	uint64_t not_before; /* uv_now() ms */
	struct preq *wait_head, *wait_tail;
	uv_timer_t timer;
	int timer_armed;
};

struct punit {
	struct punit *next;
	struct adapter_request first;
	json_t *doc;          /* merged objects of the unit */
	json_t *links;        /* link keys [[checkout, how, value]] or NULL */
	json_t *cursor_delta; /* merged cursor updates, or NULL */
	struct sources_validator *vals;
	size_t nvals;
	int outstanding; /* requests not yet through after_parse */
};

struct pcycle {
	json_t *cursor; /* committed cursor, merged with every committed unit */
	struct sources_validator *vals;
	size_t nvals;
	struct punit *queue_head, *queue_tail; /* units not started yet */
	struct punit *cur;
	struct preq *reqs; /* every live request of the cycle */
	int failed, done;
	char *error;   /* first failure, one line */
	char *err_url; /* its URL, redacted */
	char *err_kind;
	int64_t retry_after_s; /* the upstream asked to wait at least this long */
	uint64_t started;      /* uv_hrtime */
	uint64_t units, requests, not_modified, bytes, wire, objects, created, updated;
	uint64_t nunits_started;
};

enum { SRC_IDLE, SRC_WAITING, SRC_LOADING, SRC_RUNNING, SRC_COMMITTING, SRC_LOCAL };

struct psource {
	struct poller *p;
	struct psource *next;
	struct adapter_source *src;
	char *fingerprint; /* config entries + token, to detect changes on reload */
	char *token;
	char *auth_line;
	char *url_origin;
	struct phost *host;
	/* knobs */
	int64_t interval_s, backoff_max_s;
	long timeout_ms, connect_timeout_ms, low_speed_s;
	size_t max_body;
	char *ca_path;
	int ca_is_dir;
	int conditional;
	int host_limit;
	/* schedule */
	uv_timer_t timer;
	int timer_open;
	int state;
	int retired;
	int64_t failures;
	int state_loaded;
	int64_t next_poll_at;    /* persisted backoff, Unix s */
	uint64_t ok_recorded_ms; /* uv_now() of the last success written to the store */
	int once_done;
	struct pcycle *cycle;
	int busy; /* async operations referring to this source */
	volatile int local_stop;
	char *labels; /* source="NAME" */
};

struct preq {
	struct psource *s;
	struct pcycle *cy;
	struct punit *u;
	struct preq *cnext, *cprev; /* in the cycle's list */
	struct preq *wnext;         /* in the host's wait queue, then the parse queue */
	int waiting, in_flight, parsing;
	int skip_parse; /* set on the loop: the cycle failed or the poller stops while queued */
	struct adapter_request req;
	struct http_transfer *t;
	int sent_inm; /* If-None-Match was sent (validator under req.cache_key) */
	/* response copy for parse */
	struct adapter_response resp;
	struct adapter_header *hdrs;
	char **hdr_strings;
	size_t nhdr_strings;
	struct buf body;
	uv_work_t work;
	struct adapter_output out;
	struct err err;
	int rc;
	size_t nobjects;
	char *etag;
};

struct sjob {
	struct sjob *next;
	struct poller *p;
	void (*work)(struct sjob *j, struct store *st);
	void (*done)(struct sjob *j);
	int rc;
	struct err err;
};

struct poller {
	uv_loop_t *loop;
	struct poller_options opt;
	char *db_path;
	struct http_client *http;
	int http_open;
	struct psource *sources;
	struct phost *hosts;
	int stopping;
	int open_handles; /* source timers + host timers */
	int works;        /* parse works and local works in flight */
	/* flow control */
	int inflight, commits_pending;
	int parse_running, parse_limit;
	size_t parse_queued;
	struct preq *parse_head, *parse_tail;
	size_t failures;
	uint64_t rng;
	/* serialized store jobs */
	struct sjob *sq_head, *sq_tail;
	int sq_busy;
	struct sjob *sq_cur;
	uv_work_t sq_work;
	struct store *sq_store;
	struct results_writer *sq_writer;
	int freed;
};

static void source_schedule(struct psource *s, uint64_t delay_ms);
static void cycle_fail(struct psource *s, const char *kind, const char *url, int64_t retry_after,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void unit_start_next(struct psource *s);
static void host_pump(struct phost *h);
static void maybe_free_poller(struct poller *p);
static void source_release(struct psource *s);
static void cycle_finish(struct psource *s);

/* ------------------------------------------------------------ helpers */

static double rnd01(struct poller *p)
{
	/* xorshift64*: scheduling jitter, nothing secret */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return (double)((p->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static char *redacted(const char *url)
{
	struct buf b = BUF_INIT;
	http_url_redact(&b, url);
	return buf_detach(&b);
}

static void count(const struct psource *s, const char *name, const char *extra_label, uint64_t n)
{
	if (!extra_label) {
		metrics_counter_add(name, s->labels, n);
		return;
	}
	struct buf l = BUF_INIT;
	buf_addf(&l, "%s,%s", s->labels, extra_label);
	metrics_counter_add(name, l.ptr, n);
	buf_free(&l);
}

static void declare_metrics(void)
{
	metrics_declare("cifeed_poll_cycles_total", METRIC_COUNTER,
	                "Poll cycles of a source, by result (ok, error).");
	metrics_declare("cifeed_poll_requests_total", METRIC_COUNTER,
	                "HTTP requests made for a source, by status code or transport error.");
	metrics_declare("cifeed_poll_errors_total", METRIC_COUNTER,
	                "Failed poll cycles of a source, by kind of failure.");
	metrics_declare("cifeed_poll_bytes_total", METRIC_COUNTER,
	                "Response body bytes received for a source (decoded).");
	metrics_declare("cifeed_poll_wire_bytes_total", METRIC_COUNTER,
	                "Bytes received on the wire for a source (headers and encoded bodies).");
	metrics_declare("cifeed_poll_not_modified_total", METRIC_COUNTER,
	                "Conditional requests answered 304 Not Modified.");
	metrics_declare("cifeed_poll_units_total", METRIC_COUNTER,
	                "Units (pages with their follow-ups) committed for a source.");
	metrics_declare("cifeed_poll_objects_total", METRIC_COUNTER,
	                "KCIDB objects stored from a source, by type.");
	metrics_declare("cifeed_poll_cycle_seconds", METRIC_HISTOGRAM,
	                "Duration of poll cycles of a source.");
	metrics_declare("cifeed_poll_last_success_timestamp_seconds", METRIC_GAUGE,
	                "Unix time of the last successful poll cycle of a source.");
	metrics_declare("cifeed_poll_consecutive_failures", METRIC_GAUGE,
	                "Failed poll cycles of a source since its last success.");
}

/* ------------------------------------------------------------ store jobs */

static void sq_run(struct poller *p);

static void sq_work_cb(uv_work_t *w)
{
	struct poller *p = w->data;
	struct sjob *j = p->sq_cur;
	if (!p->sq_store &&
	    store_open(&p->sq_store, p->db_path, STORE_NOCREATE | STORE_LEAN, &j->err) < 0) {
		j->rc = -1;
		return;
	}
	j->work(j, p->sq_store);
}

static void sq_after_cb(uv_work_t *w, int status)
{
	struct poller *p = w->data;
	struct sjob *j = p->sq_cur;
	(void)status;
	p->sq_cur = NULL;
	/* still busy while done() runs: it may release the last source */
	j->done(j);
	p->sq_busy = 0;
	sq_run(p);
	maybe_free_poller(p);
}

static void sq_run(struct poller *p)
{
	if (p->sq_busy || !p->sq_head)
		return;
	struct sjob *j = p->sq_head;
	p->sq_head = j->next;
	if (!p->sq_head)
		p->sq_tail = NULL;
	p->sq_cur = j;
	p->sq_busy = 1;
	p->sq_work.data = p;
	uv_queue_work(p->loop, &p->sq_work, sq_work_cb, sq_after_cb);
}

static void sq_push(struct poller *p, struct sjob *j)
{
	j->p = p;
	j->next = NULL;
	if (p->sq_tail)
		p->sq_tail->next = j;
	else
		p->sq_head = j;
	p->sq_tail = j;
	sq_run(p);
}

/* ------------------------------------------------------------ hosts */

static void host_timer_cb(uv_timer_t *t)
{
	struct phost *h = t->data;
	h->timer_armed = 0;
	host_pump(h);
}

/*
 * Ask for the host's queue to be served from a fresh loop callback (at
 * once, or when the host's hold expires).  Never sending from inside other
 * callbacks keeps request lifetimes simple: a failure to send can never
 * free a request a caller still holds.
 */
static void host_kick(struct phost *h)
{
	if (!h || h->p->stopping || !h->wait_head) /* local sources have no host */
		return;
	uint64_t now = uv_now(h->p->loop);
	uint64_t delay = h->not_before > now ? h->not_before - now : 0;
	h->timer_armed = 1;
	uv_timer_start(&h->timer, host_timer_cb, delay, 0);
}

static struct phost *host_get(struct poller *p, const char *origin, int limit)
{
	for (struct phost *h = p->hosts; h; h = h->next)
		if (!strcmp(h->origin, origin)) {
			if (limit < h->limit)
				h->limit = limit;
			return h;
		}
	struct phost *h = xcalloc(1, sizeof(*h));
	h->p = p;
	h->origin = xstrdup(origin);
	h->limit = limit;
	uv_timer_init(p->loop, &h->timer);
	h->timer.data = h;
	p->open_handles++;
	h->next = p->hosts;
	p->hosts = h;
	return h;
}

/* Hold every request to the host until `until` (uv_now ms). */
static void host_hold(struct phost *h, uint64_t until)
{
	if (until > h->not_before)
		h->not_before = until;
}

static void host_remove_waiting(struct phost *h, struct preq *r)
{
	struct preq **pp = &h->wait_head, *prev = NULL;
	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->wnext;
	}
	if (!*pp)
		return;
	*pp = r->wnext;
	if (h->wait_tail == r)
		h->wait_tail = prev;
	r->wnext = NULL;
	r->waiting = 0;
}

static void req_send(struct preq *r);

static int admit(const struct poller *p)
{
	return p->inflight < MAX_INFLIGHT &&
	       p->parse_queued + (size_t)p->parse_running <
	           (size_t)p->parse_limit + MAX_PARSE_BACKLOG &&
	       p->commits_pending < MAX_COMMIT_BACKLOG;
}

/* Room again (a request answered, a parse or a commit done): serve the hosts. */
static void hosts_kick(struct poller *p)
{
	if (!admit(p))
		return;
	for (struct phost *h = p->hosts; h; h = h->next)
		if (h->wait_head && !h->timer_armed)
			host_kick(h);
}

static void host_pump(struct phost *h)
{
	struct poller *p = h->p;
	if (p->stopping)
		return;
	uint64_t now = uv_now(p->loop);
	if (h->wait_head && h->not_before > now) {
		host_kick(h);
		return;
	}
	while (h->wait_head && h->in_flight < h->limit && admit(p)) {
		struct preq *r = h->wait_head;
		h->wait_head = r->wnext;
		if (!h->wait_head)
			h->wait_tail = NULL;
		r->wnext = NULL;
		r->waiting = 0;
		req_send(r);
	}
}

/* ------------------------------------------------------------ requests */

static void req_unlink(struct preq *r)
{
	struct pcycle *cy = r->cy;
	if (r->cprev)
		r->cprev->cnext = r->cnext;
	else if (cy->reqs == r)
		cy->reqs = r->cnext;
	if (r->cnext)
		r->cnext->cprev = r->cprev;
	r->cnext = r->cprev = NULL;
}

static void req_free(struct preq *r)
{
	adapter_request_free(&r->req);
	adapter_output_free(&r->out);
	for (size_t i = 0; i < r->nhdr_strings; i++)
		free(r->hdr_strings[i]);
	free(r->hdr_strings);
	free(r->hdrs);
	buf_free(&r->body);
	err_free(&r->err);
	free(r->etag);
	free(r);
}

static const struct sources_validator *cycle_validator(struct pcycle *cy, const char *key)
{
	for (size_t i = 0; i < cy->nvals; i++)
		if (!strcmp(cy->vals[i].cache_key, key))
			return &cy->vals[i];
	return NULL;
}

static void unit_request_done(struct psource *s, struct punit *u);

static void on_http(struct http_transfer *t, const struct http_result *res, void *arg);

static void req_send(struct preq *r)
{
	struct psource *s = r->s;
	struct pcycle *cy = r->cy;
	const char *hdrs[6];
	size_t nh = 0;
	struct buf inm = BUF_INIT;
	const char *accept =
	    (r->req.flags & ADAPTER_REQ_RAW) ? "Accept: */*" : "Accept: application/json";
	hdrs[nh++] = accept;
	if (s->auth_line)
		hdrs[nh++] = s->auth_line;
	r->sent_inm = 0;
	if (s->conditional && r->req.cache_key) {
		const struct sources_validator *v = cycle_validator(cy, r->req.cache_key);
		if (v && !strcmp(v->url, r->req.url)) {
			buf_addf(&inm, "If-None-Match: %s", v->etag);
			hdrs[nh++] = inm.ptr;
			r->sent_inm = 1;
		}
	}
	hdrs[nh] = NULL;
	struct http_options o = {
	    .url = r->req.url,
	    .headers = hdrs,
	    .connect_timeout_ms = s->connect_timeout_ms,
	    .timeout_ms = s->timeout_ms,
	    .low_speed_time_s = s->low_speed_s,
	    .max_body = s->max_body,
	    .ca_path = s->ca_path,
	    .ca_is_dir = s->ca_is_dir,
	};
	struct err err = ERR_INIT;
	s->host->in_flight++;
	s->p->inflight++;
	r->in_flight = 1;
	cy->requests++;
	if (http_get(s->p->http, &o, on_http, r, &r->t, &err) < 0) {
		s->host->in_flight--;
		s->p->inflight--;
		r->in_flight = 0;
		char *u = redacted(r->req.url);
		req_unlink(r);
		req_free(r);
		cycle_fail(s, "internal", u, 0, "%s", err_msg(&err));
		free(u);
		buf_free(&inm);
		err_free(&err);
		cycle_finish(s); /* called from the host timer: a top-level callback */
		return;
	}
	buf_free(&inm);
	err_free(&err);
}

/* Queue a request of unit u on the source's host. */
static void req_dispatch(struct psource *s, struct punit *u, struct adapter_request *req)
{
	struct pcycle *cy = s->cycle;
	struct preq *r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->cy = cy;
	r->u = u;
	r->req = *req; /* ownership moves */
	memset(req, 0, sizeof(*req));
	r->cnext = cy->reqs;
	if (cy->reqs)
		cy->reqs->cprev = r;
	cy->reqs = r;
	u->outstanding++;
	char *origin = http_url_origin(r->req.url);
	if (!origin || strcmp(origin, s->url_origin)) {
		char *ru = redacted(r->req.url);
		free(origin);
		req_unlink(r);
		u->outstanding--;
		req_free(r);
		cycle_fail(s, "adapter", ru, 0,
		           "refusing a request outside the source's server (%s)", s->url_origin);
		free(ru);
		return;
	}
	free(origin);
	struct phost *h = s->host;
	r->waiting = 1;
	if (h->wait_tail)
		h->wait_tail->wnext = r;
	else
		h->wait_head = r;
	h->wait_tail = r;
	host_kick(h);
}

/* GitLab-style quota headers and Retry-After: hold the host; returns the wait in seconds. */
static int64_t rate_limit(struct psource *s, const struct http_result *res)
{
	struct phost *h = s->host;
	uint64_t now_ms = uv_now(s->p->loop);
	int64_t now = now_s(), wait = 0;
	const char *v;
	if (res->status == 429 || res->status == 503) {
		/* GitLab Runner's order: RateLimit-ResetTime, then Retry-After */
		if ((v = http_result_header(res, "ratelimit-resettime"))) {
			time_t t = curl_getdate(v, NULL);
			if (t > now)
				wait = (int64_t)t - now;
		}
		if (!wait && (v = http_result_header(res, "retry-after"))) {
			char *end;
			long long secs = strtoll(v, &end, 10);
			if (end != v && *end == '\0' && secs >= 0) {
				wait = secs;
			} else {
				time_t t = curl_getdate(v, NULL);
				if (t > now)
					wait = (int64_t)t - now;
			}
		}
		if (wait > MAX_RETRY_AFTER_S)
			wait = MAX_RETRY_AFTER_S;
		if (wait > 0)
			host_hold(h, now_ms + (uint64_t)wait * 1000);
		return wait;
	}
	const char *rem = http_result_header(res, "ratelimit-remaining");
	const char *lim = http_result_header(res, "ratelimit-limit");
	const char *rst = http_result_header(res, "ratelimit-reset");
	if (rem && lim && rst) {
		long long r = strtoll(rem, NULL, 10), l = strtoll(lim, NULL, 10);
		long long reset = strtoll(rst, NULL, 10);
		if (l > 0 && reset > now && r <= (l / 10 > 1 ? l / 10 : 1)) {
			/* spread what is left of the quota until the reset */
			uint64_t gap = (uint64_t)(reset - now) * 1000 / (uint64_t)(r + 1);
			host_hold(h, now_ms + gap);
			log_debug("poll.rate_limited",
			          "source=%s host=%s remaining=%lld reset_in=%llds", s->src->name,
			          h->origin, r, reset - now);
		}
	}
	return 0;
}

static int is_json_type(const char *ct)
{
	if (!ct)
		return 1; /* absent: let the parser judge */
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && !strncasecmp(ct, "application/json", 16))
		return 1;
	return n > 5 && !strncasecmp(ct + n - 5, "+json", 5);
}

static void body_snippet(struct buf *b, const char *body, size_t len)
{
	size_t n = 0;
	while (n < len && n < 160 && body[n] != '\n' && body[n] != '\r' && body[n])
		n++;
	n = utf8_clip(body, n, n);
	if (n)
		buf_addf(b, ": %.*s", (int)n, body);
}

static void parse_work_cb(uv_work_t *w);
static void parse_after_cb(uv_work_t *w, int status);

/* Start queued parse jobs while there are free slots. */
static void parse_pump(struct poller *p)
{
	while (p->parse_head && p->parse_running < p->parse_limit) {
		struct preq *r = p->parse_head;
		p->parse_head = r->wnext;
		if (!p->parse_head)
			p->parse_tail = NULL;
		r->wnext = NULL;
		p->parse_queued--;
		p->parse_running++;
		/* parse_after_cb drops the result then anyway: do not parse it */
		r->skip_parse = r->cy->failed || p->stopping;
		uv_queue_work(p->loop, &r->work, parse_work_cb, parse_after_cb);
	}
}

static void parse_enqueue(struct poller *p, struct preq *r)
{
	r->wnext = NULL;
	if (p->parse_tail)
		p->parse_tail->wnext = r;
	else
		p->parse_head = r;
	p->parse_tail = r;
	p->parse_queued++;
	parse_pump(p);
}

static void copy_response(struct preq *r, const struct http_result *res)
{
	const struct sources_validator *v =
	    res->status == 304 && r->sent_inm ? cycle_validator(r->cy, r->req.cache_key) : NULL;
	if (v) {
		size_t n = json_array_size(v->headers);
		r->hdrs = xcalloc(n + 1, sizeof(*r->hdrs));
		r->hdr_strings = xcalloc(2 * n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			json_t *pair = json_array_get(v->headers, i);
			const char *name = json_string_value(json_array_get(pair, 0));
			const char *value = json_string_value(json_array_get(pair, 1));
			if (!name || !value)
				continue;
			r->hdr_strings[r->nhdr_strings++] = xstrdup(name);
			r->hdr_strings[r->nhdr_strings++] = xstrdup(value);
			r->hdrs[r->resp.nheaders].name = r->hdr_strings[r->nhdr_strings - 2];
			r->hdrs[r->resp.nheaders].value = r->hdr_strings[r->nhdr_strings - 1];
			r->resp.nheaders++;
		}
	} else {
		r->hdrs = xcalloc(res->nheaders + 1, sizeof(*r->hdrs));
		r->hdr_strings = xcalloc(2 * res->nheaders + 1, sizeof(char *));
		for (size_t i = 0; i < res->nheaders; i++) {
			r->hdr_strings[r->nhdr_strings++] = xstrdup(res->headers[i].name);
			r->hdr_strings[r->nhdr_strings++] = xstrdup(res->headers[i].value);
			r->hdrs[i].name = r->hdr_strings[2 * i];
			r->hdrs[i].value = r->hdr_strings[2 * i + 1];
		}
		r->resp.nheaders = res->nheaders;
		buf_add(&r->body, res->body.ptr ? res->body.ptr : "", res->body.len);
	}
	r->resp.status = res->status;
	r->resp.url = r->req.url;
	r->resp.body = buf_cstr(&r->body);
	r->resp.len = r->body.len;
	r->resp.headers = r->hdrs;
}

static void on_http(struct http_transfer *t, const struct http_result *res, void *arg)
{
	struct preq *r = arg;
	struct psource *s = r->s;
	struct pcycle *cy = r->cy;
	(void)t;
	r->t = NULL;
	r->in_flight = 0;
	s->host->in_flight--;
	s->p->inflight--;
	host_kick(s->host);
	hosts_kick(s->p);

	char code[32];
	if (res->error == HTTP_OK)
		snprintf(code, sizeof(code), "code=\"%ld\"", res->status);
	else
		snprintf(code, sizeof(code), "code=\"%s\"", http_error_name(res->error));
	count(s, "cifeed_poll_requests_total", code, 1);
	count(s, "cifeed_poll_bytes_total", NULL, res->body.len);
	count(s, "cifeed_poll_wire_bytes_total", NULL, res->wire_bytes);
	cy->bytes += res->body.len;
	cy->wire += res->wire_bytes;

	char *ru = redacted(r->req.url);
	int64_t wait = res->error == HTTP_OK ? rate_limit(s, res) : 0;
	/* out of the cycle's list while we decide, so cancelling never frees it under us */
	req_unlink(r);
	if (res->error != HTTP_OK) {
		cycle_fail(s, http_error_name(res->error), ru, 0, "%s", res->message);
		goto out_fail;
	}
	long st = res->status;
	int ok = (st >= 200 && st < 300) ||
	         (st == 304 && r->sent_inm && cycle_validator(cy, r->req.cache_key)) ||
	         ((r->req.flags & ADAPTER_REQ_OPTIONAL) && (st == 404 || st == 410));
	if (!ok) {
		struct buf m = BUF_INIT, kind = BUF_INIT;
		buf_addf(&kind, "http_%ld", st);
		if (st >= 300 && st < 400) {
			const char *loc = http_result_header(res, "location");
			char *rl = loc ? redacted(loc) : NULL;
			buf_addf(&m,
			         "HTTP %ld redirect to %s (redirects are not followed; fix the "
			         "source url)",
			         st, rl ? rl : "(no Location)");
			free(rl);
		} else if (st == 304) {
			buf_adds(&m, "HTTP 304 without a conditional request");
		} else {
			buf_addf(&m, "HTTP %ld", st);
			body_snippet(&m, res->body.ptr ? res->body.ptr : "", res->body.len);
			if (wait > 0)
				buf_addf(&m, " (server asks to retry after %llds)",
				         (long long)wait);
		}
		cycle_fail(s, kind.ptr, ru, wait, "%s", m.ptr);
		buf_free(&m);
		buf_free(&kind);
		goto out_fail;
	}
	if (st >= 200 && st < 300 && !(r->req.flags & ADAPTER_REQ_RAW) &&
	    !is_json_type(http_result_header(res, "content-type"))) {
		cycle_fail(s, "content_type", ru, 0, "expected JSON, got content type '%s'",
		           http_result_header(res, "content-type"));
		goto out_fail;
	}
	if (st == 304) {
		cy->not_modified++;
		count(s, "cifeed_poll_not_modified_total", NULL, 1);
	}
	if (st == 200 && r->req.cache_key && s->conditional) {
		const char *etag = http_result_header(res, "etag");
		if (etag && *etag)
			r->etag = xstrdup(etag);
	}
	copy_response(r, res);
	/* back into the cycle's list: it is parsing now */
	r->cnext = cy->reqs;
	r->cprev = NULL;
	if (cy->reqs)
		cy->reqs->cprev = r;
	cy->reqs = r;
	r->parsing = 1;
	r->work.data = r;
	s->busy++;
	s->p->works++;
	adapter_output_init(&r->out);
	parse_enqueue(s->p, r);
	free(ru);
	return;
out_fail:
	free(ru);
	/* the cycle has failed: this request is finished */
	req_free(r);
	cycle_finish(s);
}

static void parse_work_cb(uv_work_t *w)
{
	struct preq *r = w->data;
	if (r->skip_parse)
		return;
	const struct adapter *a = r->s->src->adapter;
	r->rc = a->parse(r->s->src, &r->req, &r->resp, &r->out, &r->err);
	if (r->rc < 0)
		return;
	char ver[16];
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	e.limit = 3;
	if (kcidb_validate_upgrade(r->out.doc, ver, &e) < 0) {
		struct buf m = BUF_INIT;
		buf_adds(&m, buf_cstr(&e.text));
		buf_rtrim(&m);
		for (size_t i = 0; i < m.len; i++)
			if (m.ptr[i] == '\n')
				m.ptr[i] = ';';
		err_set(&r->err, ERR_INVALID, "adapter produced %zu invalid KCIDB field%s: %s",
		        e.count, e.count == 1 ? "" : "s", m.ptr);
		buf_free(&m);
		r->rc = -1;
	}
	kcidb_errors_free(&e);
	size_t counts[KCIDB_NTYPES];
	kcidb_count(r->out.doc, counts);
	for (int t = 0; t < KCIDB_NTYPES; t++)
		r->nobjects += counts[t];
}

/* Append every object array of `from` to `to`. */
static void doc_merge(json_t *to, json_t *from)
{
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		const char *key = kcidb_types[t].plural;
		json_t *src = json_object_get(from, key);
		if (!json_array_size(src))
			continue;
		json_t *dst = json_object_get(to, key);
		if (!dst) {
			json_object_set(to, key, src);
			continue;
		}
		json_array_extend(dst, src);
	}
}

static void parse_after_cb(uv_work_t *w, int status)
{
	struct preq *r = w->data;
	struct psource *s = r->s;
	struct pcycle *cy = r->cy;
	struct punit *u = r->u;
	struct poller *p = s->p;
	(void)status;
	r->parsing = 0;
	p->parse_running--;
	parse_pump(p);
	hosts_kick(p);
	p->works--;
	req_unlink(r);
	if (cy->failed || s->p->stopping) {
		req_free(r);
		s->busy--;
		cycle_finish(s);
		source_release(s);
		return;
	}
	if (r->rc < 0) {
		char *ru = redacted(r->req.url);
		/* the line names the URL already; drop it from the adapter's message */
		const char *m = err_msg(&r->err);
		size_t ul = strlen(r->req.url);
		if (!strncmp(m, r->req.url, ul) && !strncmp(m + ul, ": ", 2))
			m += ul + 2;
		cycle_fail(s, r->err.code == ERR_INVALID ? "parse" : "adapter", ru, 0, "%s", m);
		free(ru);
		req_free(r);
		s->busy--;
		cycle_finish(s);
		source_release(s);
		return;
	}
	if (r->out.notes.len) {
		char *ru = redacted(r->req.url);
		const char *np = r->out.notes.ptr;
		while (*np) {
			size_t l = strcspn(np, "\n");
			char *line = xstrndup(np, l);
			log_warn("poll.note", "source=%s url=%s note=%s", s->src->name, ru, line);
			free(line);
			np += l + (np[l] == '\n');
		}
		free(ru);
	}
	doc_merge(u->doc, r->out.doc);
	if (r->out.links) {
		if (!u->links)
			u->links = json_array();
		json_array_extend(u->links, r->out.links);
	}
	if (r->out.cursor) {
		if (!u->cursor_delta)
			u->cursor_delta = json_object();
		json_object_update(u->cursor_delta, r->out.cursor);
	}
	if (r->etag) {
		u->vals = xrealloc(u->vals, (u->nvals + 1) * sizeof(*u->vals));
		struct sources_validator *v = &u->vals[u->nvals++];
		v->cache_key = xstrdup(r->req.cache_key);
		v->url = xstrdup(r->req.url);
		v->etag = r->etag;
		r->etag = NULL;
		/* only what walking on after a 304 needs: never cookies or echoed headers */
		static const char *const keep[] = {"link",          "x-next-page",  "x-prev-page",
		                                   "x-page",        "x-per-page",   "x-total",
		                                   "x-total-pages", "content-type", NULL};
		v->headers = json_array();
		for (size_t i = 0; i < r->resp.nheaders; i++) {
			int k = 0;
			while (keep[k] && strcmp(keep[k], r->resp.headers[i].name))
				k++;
			if (!keep[k])
				continue;
			struct buf val = BUF_INIT;
			log_redact(&val, r->resp.headers[i].value,
			           strlen(r->resp.headers[i].value));
			json_array_append_new(v->headers, json_pack("[ss]", r->resp.headers[i].name,
			                                            val.ptr ? val.ptr : ""));
			buf_free(&val);
		}
	}
	for (size_t i = 0; i < r->out.nreqs && !cy->failed; i++) {
		struct adapter_request *f = &r->out.reqs[i];
		if (f->flags & ADAPTER_REQ_NEXT) {
			if (cy->nunits_started + 1 >= MAX_UNITS_PER_CYCLE) {
				char *ru = redacted(f->url);
				cycle_fail(s, "adapter", ru, 0,
				           "pagination did not end after %d pages",
				           MAX_UNITS_PER_CYCLE);
				free(ru);
				break;
			}
			struct punit *nu = xcalloc(1, sizeof(*nu));
			nu->first = *f;
			memset(f, 0, sizeof(*f));
			if (cy->queue_tail)
				cy->queue_tail->next = nu;
			else
				cy->queue_head = nu;
			cy->queue_tail = nu;
			cy->nunits_started++;
		} else {
			req_dispatch(s, u, f);
		}
	}
	req_free(r);
	s->busy--;
	if (!cy->failed)
		unit_request_done(s, u);
	else
		cycle_finish(s);
	source_release(s);
}

/* ------------------------------------------------------------ units */

static void unit_free(struct punit *u)
{
	if (!u)
		return;
	adapter_request_free(&u->first);
	json_decref(u->doc);
	json_decref(u->links);
	json_decref(u->cursor_delta);
	sources_validators_free(u->vals, u->nvals);
	free(u);
}

struct commit_job {
	struct sjob j;
	struct psource *s;
	char *source, *type;
	json_t *doc;
	json_t *links;
	json_t *cursor; /* full cursor to save, or NULL */
	struct sources_validator *vals;
	size_t nvals;
	struct results_stats stats;
	int submitted;
};

static void commit_work(struct sjob *j, struct store *st)
{
	struct commit_job *c = (struct commit_job *)j;
	struct poller *p = j->p;
	size_t counts[KCIDB_NTYPES], total = 0;
	kcidb_count(c->doc, counts);
	for (int t = 0; t < KCIDB_NTYPES; t++)
		total += counts[t];
	if (total && !p->sq_writer && results_writer_new(st, &p->sq_writer, &j->err) < 0) {
		j->rc = -1;
		return;
	}
	if (store_begin(st, &j->err) < 0) {
		j->rc = -1;
		return;
	}
	struct buf src = BUF_INIT;
	buf_addf(&src, "source:%s", c->source);
	struct submission_meta meta = {src.ptr, NULL, "5.3"};
	int r = 0;
	if (total) {
		r = results_submit(p->sq_writer, c->doc, &meta, &c->stats, &j->err);
		c->submitted = r == 0;
	}
	if (r == 0 && c->cursor)
		r = sources_cursor_save(st, c->source, c->type, c->cursor, &j->err);
	for (size_t i = 0; r == 0 && i < json_array_size(c->links); i++) {
		json_t *l = json_array_get(c->links, i);
		r = patchlink_add_key(st, json_string_value(json_array_get(l, 0)),
		                      json_string_value(json_array_get(l, 1)),
		                      json_string_value(json_array_get(l, 2)), &j->err);
	}
	for (size_t i = 0; r == 0 && i < c->nvals; i++)
		r = sources_validator_save(st, c->source, &c->vals[i], &j->err);
	if (r == 0)
		r = store_commit(st, &j->err);
	if (r < 0)
		store_rollback(st);
	buf_free(&src);
	j->rc = r;
}

static void commit_done(struct sjob *j)
{
	struct commit_job *c = (struct commit_job *)j;
	struct psource *s = c->s;
	struct pcycle *cy = s->cycle;
	s->busy--;
	s->state = SRC_RUNNING;
	s->p->commits_pending--;
	hosts_kick(s->p);
	if (j->rc == 0 && (c->stats.created || c->stats.updated) && s->p->opt.stored)
		s->p->opt.stored(s->p->opt.arg);
	if (j->rc < 0) {
		cycle_fail(s, "store", NULL, 0, "commit failed: %s", err_msg(&j->err));
	} else if (cy) {
		if (c->cursor) {
			json_decref(cy->cursor);
			cy->cursor = json_incref(c->cursor);
		}
		/* later requests of this cycle use the new validators */
		for (size_t i = 0; i < c->nvals; i++) {
			struct sources_validator *v = NULL;
			for (size_t k = 0; k < cy->nvals; k++)
				if (!strcmp(cy->vals[k].cache_key, c->vals[i].cache_key))
					v = &cy->vals[k];
			if (!v) {
				cy->vals = xrealloc(cy->vals, (cy->nvals + 1) * sizeof(*cy->vals));
				v = &cy->vals[cy->nvals++];
				memset(v, 0, sizeof(*v));
				v->cache_key = xstrdup(c->vals[i].cache_key);
			}
			free(v->url);
			free(v->etag);
			json_decref(v->headers);
			v->url = xstrdup(c->vals[i].url);
			v->etag = xstrdup(c->vals[i].etag);
			v->headers = json_incref(c->vals[i].headers);
		}
		cy->units++;
		count(s, "cifeed_poll_units_total", NULL, 1);
		if (c->submitted) {
			for (int t = 0; t < KCIDB_NTYPES; t++) {
				if (!c->stats.counts[t])
					continue;
				char l[40];
				snprintf(l, sizeof(l), "type=\"%s\"", kcidb_types[t].name);
				count(s, "cifeed_poll_objects_total", l, c->stats.counts[t]);
				cy->objects += c->stats.counts[t];
			}
			cy->created += c->stats.created;
			cy->updated += c->stats.updated;
		}
	}
	json_decref(c->doc);
	json_decref(c->links);
	json_decref(c->cursor);
	sources_validators_free(c->vals, c->nvals);
	err_free(&j->err);
	free(c->source);
	free(c->type);
	free(c);
	if (s->cycle && !s->cycle->failed && !s->p->stopping) {
		s->state = SRC_RUNNING;
		unit_start_next(s);
	} else {
		cycle_finish(s);
	}
	source_release(s);
}

static void unit_commit(struct psource *s, struct punit *u)
{
	struct pcycle *cy = s->cycle;
	size_t counts[KCIDB_NTYPES], total = 0;
	kcidb_count(u->doc, counts);
	for (int t = 0; t < KCIDB_NTYPES; t++)
		total += counts[t];
	json_t *cursor = NULL;
	if (u->cursor_delta) {
		cursor = cy->cursor ? json_deep_copy(cy->cursor) : json_object();
		const char *k;
		json_t *v;
		json_object_foreach (u->cursor_delta, k, v) {
			if (json_is_null(v))
				json_object_del(cursor, k);
			else
				json_object_set(cursor, k, v);
		}
		if (cy->cursor && json_equal(cursor, cy->cursor)) {
			json_decref(cursor);
			cursor = NULL;
		}
	}
	cy->cur = NULL;
	if (!total && !cursor && !u->nvals && !json_array_size(u->links)) {
		/* nothing to write: no transaction at all */
		unit_free(u);
		cy->units++;
		unit_start_next(s);
		return;
	}
	struct commit_job *c = xcalloc(1, sizeof(*c));
	c->j.work = commit_work;
	c->j.done = commit_done;
	c->s = s;
	c->source = xstrdup(s->src->name);
	c->type = xstrdup(s->src->adapter->name);
	c->doc = json_incref(u->doc);
	c->links = json_incref(u->links);
	c->cursor = cursor;
	c->vals = u->vals;
	c->nvals = u->nvals;
	u->vals = NULL;
	u->nvals = 0;
	unit_free(u);
	s->busy++;
	s->state = SRC_COMMITTING;
	s->p->commits_pending++;
	sq_push(s->p, &c->j);
}

static void unit_request_done(struct psource *s, struct punit *u)
{
	if (--u->outstanding > 0)
		return;
	unit_commit(s, u);
}

static void unit_start_next(struct psource *s)
{
	struct pcycle *cy = s->cycle;
	if (cy->failed || s->p->stopping) {
		cycle_finish(s);
		return;
	}
	struct punit *u = cy->queue_head;
	if (!u) {
		cy->done = 1;
		cycle_finish(s);
		return;
	}
	cy->queue_head = u->next;
	if (!cy->queue_head)
		cy->queue_tail = NULL;
	u->next = NULL;
	u->doc = kcidb_doc_new();
	cy->cur = u;
	struct adapter_request first = u->first;
	memset(&u->first, 0, sizeof(u->first));
	/* keep the unit alive while its first request is dispatched */
	u->outstanding++;
	req_dispatch(s, u, &first);
	adapter_request_free(&first);
	if (!cy->failed)
		unit_request_done(s, u);
	else
		cycle_finish(s);
}

/* ------------------------------------------------------------ cycles */

static void cycle_cancel_requests(struct psource *s)
{
	struct pcycle *cy = s->cycle;
	struct preq *r = cy->reqs, *next;
	for (; r; r = next) {
		next = r->cnext;
		if (r->parsing)
			continue; /* dropped when it comes back */
		if (r->waiting)
			host_remove_waiting(s->host, r);
		if (r->in_flight) {
			http_cancel(r->t);
			r->t = NULL;
			r->in_flight = 0;
			s->host->in_flight--;
			s->p->inflight--;
		}
		req_unlink(r);
		req_free(r);
	}
	host_kick(s->host);
	hosts_kick(s->p);
}

static void cycle_fail(struct psource *s, const char *kind, const char *url, int64_t retry_after,
                       const char *fmt, ...)
{
	struct pcycle *cy = s->cycle;
	if (!cy || cy->failed)
		return; /* one line per failure: the first one tells */
	cy->failed = 1;
	struct buf m = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&m, fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < m.len; i++)
		if (m.ptr[i] == '\n' || m.ptr[i] == '\r')
			m.ptr[i] = ' ';
	/* an upstream may echo credentials back: redact before the text goes anywhere */
	struct buf red = BUF_INIT;
	log_redact(&red, m.ptr, m.len);
	buf_free(&m);
	cy->error = buf_detach(&red);
	cy->err_url = url ? xstrdup(url) : NULL;
	cy->err_kind = xstrdup(kind ? kind : "other");
	cy->retry_after_s = retry_after;
	cycle_cancel_requests(s);
}

struct state_job {
	struct sjob j;
	struct psource *s;
	char *source;
	int ok;
	char *error;
	int64_t next_at;
};

static void state_work(struct sjob *j, struct store *st)
{
	struct state_job *x = (struct state_job *)j;
	j->rc = sources_state_record(st, x->source, x->ok, x->error, x->next_at, &j->err);
}

static void state_done(struct sjob *j)
{
	struct state_job *x = (struct state_job *)j;
	if (j->rc < 0)
		log_warn("poll.state_not_saved", "source=%s error=%s", x->source, err_msg(&j->err));
	x->s->busy--;
	source_release(x->s);
	err_free(&j->err);
	free(x->source);
	free(x->error);
	free(x);
}

static void record_state(struct psource *s, int ok, const char *error, int64_t next_at)
{
	struct state_job *x = xcalloc(1, sizeof(*x));
	x->j.work = state_work;
	x->j.done = state_done;
	x->s = s;
	x->source = xstrdup(s->src->name);
	x->ok = ok;
	x->error = error ? xstrdup(error) : NULL;
	x->next_at = next_at;
	s->busy++;
	sq_push(s->p, &x->j);
}

static void cycle_free(struct pcycle *cy)
{
	if (!cy)
		return;
	json_decref(cy->cursor);
	sources_validators_free(cy->vals, cy->nvals);
	struct punit *u = cy->queue_head, *n;
	for (; u; u = n) {
		n = u->next;
		unit_free(u);
	}
	unit_free(cy->cur);
	free(cy->error);
	free(cy->err_url);
	free(cy->err_kind);
	free(cy);
}

static uint64_t backoff_ms(struct psource *s, int64_t retry_after)
{
	int64_t base = s->interval_s < 30 ? s->interval_s : 30;
	if (base < 1)
		base = 1;
	double d = (double)base;
	for (int64_t i = 1; i < s->failures && d < (double)s->backoff_max_s; i++)
		d *= 2;
	if (d > (double)s->backoff_max_s)
		d = (double)s->backoff_max_s;
	/* "equal jitter": between half and all of the step */
	d = d / 2 + rnd01(s->p) * d / 2;
	if ((double)retry_after > d)
		d = (double)retry_after;
	return (uint64_t)(d * 1000);
}

/* The cycle ends once nothing of it is in flight any more. */
static void cycle_finish(struct psource *s)
{
	struct pcycle *cy = s->cycle;
	if (!cy)
		return;
	if (!cy->failed && !cy->done)
		return;
	if (cy->reqs)
		return; /* parse results still to come back */
	if (s->state == SRC_COMMITTING || s->state == SRC_LOCAL)
		return;
	struct poller *p = s->p;
	double secs = (double)(uv_hrtime() - cy->started) / 1e9;
	metrics_observe("cifeed_poll_cycle_seconds", s->labels, secs);
	struct poller_report rep = {
	    .source = s->src->name,
	    .type = s->src->adapter->name,
	    .ok = !cy->failed,
	    .error = cy->error,
	    .units = cy->units,
	    .requests = cy->requests,
	    .not_modified = cy->not_modified,
	    .bytes = cy->bytes,
	    .objects = cy->objects,
	    .created = cy->created,
	    .updated = cy->updated,
	    .seconds = secs,
	};
	uint64_t delay;
	if (cy->failed) {
		s->failures++;
		p->failures++;
		delay = backoff_ms(s, cy->retry_after_s);
		if (!p->stopping && !s->retired) {
			count(s, "cifeed_poll_cycles_total", "result=\"error\"", 1);
			char k[64];
			snprintf(k, sizeof(k), "kind=\"%s\"",
			         cy->err_kind ? cy->err_kind : "other");
			count(s, "cifeed_poll_errors_total", k, 1);
			metrics_gauge_set("cifeed_poll_consecutive_failures", s->labels,
			                  (double)s->failures);
			log_warn("poll.failed",
			         "source=%s type=%s url=%s error=%s kind=%s failures=%lld "
			         "retry_in=%.0fs units_committed=%llu",
			         s->src->name, s->src->adapter->name,
			         cy->err_url ? cy->err_url : "-", cy->error, cy->err_kind,
			         (long long)s->failures, (double)delay / 1000,
			         (unsigned long long)cy->units);
			struct buf e = BUF_INIT, red = BUF_INIT;
			buf_addf(&e, "%s%s%s", cy->err_url ? cy->err_url : "",
			         cy->err_url ? ": " : "", cy->error);
			log_redact(&red, e.ptr, e.len);
			record_state(s, 0, red.ptr, now_s() + (int64_t)(delay / 1000));
			buf_free(&e);
			buf_free(&red);
		}
	} else {
		int64_t had_failures = s->failures;
		s->failures = 0;
		int64_t iv = s->interval_s * 1000;
		delay = (uint64_t)((double)iv * (0.9 + 0.2 * rnd01(p)));
		uint64_t spent = (uint64_t)(secs * 1000);
		delay = delay > spent ? delay - spent : 0;
		count(s, "cifeed_poll_cycles_total", "result=\"ok\"", 1);
		metrics_gauge_set("cifeed_poll_last_success_timestamp_seconds", s->labels,
		                  (double)now_s());
		metrics_gauge_set("cifeed_poll_consecutive_failures", s->labels, 0);
		enum log_level lvl = cy->created || cy->updated ? LOG_INFO : LOG_DEBUG;
		log_msg(lvl, "poll.cycle",
		        "source=%s type=%s units=%llu requests=%llu not_modified=%llu bytes=%llu "
		        "objects=%llu new=%llu updated=%llu seconds=%.3f",
		        s->src->name, s->src->adapter->name, (unsigned long long)cy->units,
		        (unsigned long long)cy->requests, (unsigned long long)cy->not_modified,
		        (unsigned long long)cy->bytes, (unsigned long long)cy->objects,
		        (unsigned long long)cy->created, (unsigned long long)cy->updated, secs);
		/*
		 * Health is written when it changes (after failures, or new or
		 * changed objects) and otherwise every HEALTH_IDLE_MS: an idle
		 * source does not cost a synced write transaction per cycle.
		 * (Not cy->units: every cycle of an HTTP source has units, most of
		 * them with nothing to write.)
		 */
		uint64_t now_ms = uv_now(p->loop);
		if (!p->stopping && !s->retired &&
		    (had_failures || cy->created || cy->updated || !s->ok_recorded_ms ||
		     now_ms - s->ok_recorded_ms >= HEALTH_IDLE_MS)) {
			record_state(s, 1, NULL, 0);
			s->ok_recorded_ms = now_ms;
		}
	}
	if (p->opt.report && p->opt.once)
		p->opt.report(&rep, p->opt.arg);
	cycle_free(cy);
	s->cycle = NULL;
	s->state = SRC_IDLE;
	if (p->opt.once) {
		s->once_done = 1;
		int all = 1;
		for (struct psource *x = p->sources; x; x = x->next)
			if (!x->once_done && !x->retired)
				all = 0;
		if (all && !p->stopping)
			poller_stop(p);
		return;
	}
	if (!p->stopping && !s->retired)
		source_schedule(s, delay);
}

struct load_job {
	struct sjob j;
	struct psource *s;
	char *source;
	json_t *cursor;
	struct sources_validator *vals;
	size_t nvals;
	struct sources_state state;
	int want_state;
};

static void load_work(struct sjob *j, struct store *st)
{
	struct load_job *l = (struct load_job *)j;
	if (sources_cursor_load(st, l->source, &l->cursor, &j->err) < 0 ||
	    sources_validators_load(st, l->source, &l->vals, &l->nvals, &j->err) < 0 ||
	    (l->want_state && sources_state_load(st, l->source, &l->state, &j->err) < 0))
		j->rc = -1;
}

static void begin_cycle(struct psource *s, json_t *cursor, struct sources_validator *vals,
                        size_t nvals);

static void load_done(struct sjob *j)
{
	struct load_job *l = (struct load_job *)j;
	struct psource *s = l->s;
	s->busy--;
	if (l->want_state && j->rc == 0) {
		s->state_loaded = 1;
		s->failures = l->state.failures;
		s->next_poll_at = l->state.next_poll_at;
	}
	if (s->retired || s->p->stopping) {
		s->state = SRC_IDLE;
		json_decref(l->cursor);
		sources_validators_free(l->vals, l->nvals);
	} else if (j->rc < 0) {
		s->cycle = xcalloc(1, sizeof(*s->cycle));
		s->cycle->started = uv_hrtime();
		s->state = SRC_RUNNING;
		cycle_fail(s, "store", NULL, 0, "loading the cursor: %s", err_msg(&j->err));
		json_decref(l->cursor);
		sources_validators_free(l->vals, l->nvals);
		cycle_finish(s);
	} else if (l->want_state && !s->p->opt.once && s->next_poll_at > now_s()) {
		/* a backoff from before a restart is still running */
		int64_t wait = s->next_poll_at - now_s();
		log_info("poll.backoff_kept", "source=%s failures=%lld retry_in=%llds",
		         s->src->name, (long long)s->failures, (long long)wait);
		json_decref(l->cursor);
		sources_validators_free(l->vals, l->nvals);
		s->state = SRC_IDLE;
		source_schedule(s, (uint64_t)wait * 1000);
	} else {
		begin_cycle(s, l->cursor, l->vals, l->nvals);
	}
	sources_state_free(&l->state);
	err_free(&j->err);
	free(l->source);
	free(l);
	source_release(s);
}

struct local_work {
	uv_work_t w;
	struct psource *s;
	int rc;
	struct err err;
};

static void local_work_cb(uv_work_t *w)
{
	struct local_work *lw = w->data;
	struct psource *s = lw->s;
	struct store *st = NULL;
	if (store_open(&st, s->p->db_path, STORE_NOCREATE, &lw->err) < 0) {
		lw->rc = -1;
		return;
	}
	lw->rc = s->src->adapter->poll_local(s->src, st, &s->local_stop, &lw->err);
	store_close(st);
}

static void local_after_cb(uv_work_t *w, int status)
{
	struct local_work *lw = w->data;
	struct psource *s = lw->s;
	(void)status;
	s->p->works--;
	s->busy--;
	s->state = SRC_RUNNING;
	if (lw->rc < 0)
		cycle_fail(s, "local", NULL, 0, "%s", err_msg(&lw->err));
	else
		s->cycle->done = 1;
	err_free(&lw->err);
	free(lw);
	cycle_finish(s);
	source_release(s);
}

static void start_cycle(struct psource *s)
{
	struct poller *p = s->p;
	if (p->stopping || s->retired || s->cycle)
		return;
	if (s->src->adapter->poll_local) {
		s->cycle = xcalloc(1, sizeof(*s->cycle));
		s->cycle->started = uv_hrtime();
		s->state = SRC_LOCAL;
		s->local_stop = 0;
		struct local_work *lw = xcalloc(1, sizeof(*lw));
		lw->s = s;
		lw->w.data = lw;
		s->busy++;
		p->works++;
		uv_queue_work(p->loop, &lw->w, local_work_cb, local_after_cb);
		return;
	}
	struct load_job *l = xcalloc(1, sizeof(*l));
	l->j.work = load_work;
	l->j.done = load_done;
	l->s = s;
	l->source = xstrdup(s->src->name);
	l->want_state = !s->state_loaded;
	s->busy++;
	s->state = SRC_LOADING;
	sq_push(p, &l->j);
}

static void begin_cycle(struct psource *s, json_t *cursor, struct sources_validator *vals,
                        size_t nvals)
{
	struct pcycle *cy = xcalloc(1, sizeof(*cy));
	cy->started = uv_hrtime();
	cy->cursor = cursor;
	cy->vals = vals;
	cy->nvals = nvals;
	s->cycle = cy;
	s->state = SRC_RUNNING;
	struct adapter_output out;
	adapter_output_init(&out);
	struct err err = ERR_INIT;
	log_debug("poll.begin", "source=%s type=%s", s->src->name, s->src->adapter->name);
	if (s->src->adapter->begin(s->src, cursor, now_s(), &out, &err) < 0) {
		cycle_fail(s, "adapter", s->src->url, 0, "%s", err_msg(&err));
	} else {
		/* begin's objects/cursor (rare) go with the first unit; each request is a unit */
		for (size_t i = 0; i < out.nreqs; i++) {
			struct punit *u = xcalloc(1, sizeof(*u));
			u->first = out.reqs[i];
			memset(&out.reqs[i], 0, sizeof(out.reqs[i]));
			if (cy->queue_tail)
				cy->queue_tail->next = u;
			else
				cy->queue_head = u;
			cy->queue_tail = u;
			cy->nunits_started++;
		}
	}
	adapter_output_free(&out);
	err_free(&err);
	if (cy->failed)
		cycle_finish(s);
	else
		unit_start_next(s);
}

/* ------------------------------------------------------------ sources */

static void source_timer_cb(uv_timer_t *t)
{
	struct psource *s = t->data;
	s->state = SRC_IDLE;
	start_cycle(s);
}

static void source_schedule(struct psource *s, uint64_t delay_ms)
{
	if (!s->timer_open)
		return;
	s->state = SRC_WAITING;
	uv_timer_start(&s->timer, source_timer_cb, delay_ms, 0);
}

static void source_free(struct psource *s)
{
	adapter_source_free(s->src);
	if (s->token) {
		explicit_bzero(s->token, strlen(s->token));
		free(s->token);
	}
	if (s->auth_line) {
		explicit_bzero(s->auth_line, strlen(s->auth_line));
		free(s->auth_line);
	}
	free(s->fingerprint);
	free(s->url_origin);
	free(s->ca_path);
	free(s->labels);
	free(s);
}

static void source_timer_closed(uv_handle_t *h)
{
	struct psource *s = h->data;
	struct poller *p = s->p;
	s->timer_open = 0;
	p->open_handles--;
	/* frees the source and, when it was the last thing, the poller: touch neither after */
	if (s->retired)
		source_release(s);
	else
		maybe_free_poller(p);
}

/* Drop a retired source once nothing refers to it any more. */
static void source_release(struct psource *s)
{
	if (!s->retired || s->busy || s->timer_open || s->cycle)
		return;
	struct poller *p = s->p;
	struct psource **pp = &p->sources;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	source_free(s);
	maybe_free_poller(p);
}

static void source_retire(struct psource *s)
{
	if (s->retired)
		return;
	s->retired = 1;
	s->local_stop = 1;
	if (s->cycle && !s->cycle->failed) {
		s->cycle->failed = 1;
		s->cycle->error = xstrdup("stopped");
		s->cycle->err_kind = xstrdup("stopped");
		cycle_cancel_requests(s);
	}
	if (s->timer_open && !uv_is_closing((uv_handle_t *)&s->timer)) {
		uv_timer_stop(&s->timer);
		uv_close((uv_handle_t *)&s->timer, source_timer_closed);
	}
	cycle_finish(s);
}

static int read_token(const struct config *cfg, const char *name, char **out, struct err *err)
{
	const char *file = config_get(cfg, "source", name, "token-file");
	const char *env = config_get(cfg, "source", name, "token-env");
	*out = NULL;
	if (file) {
		struct stat sb;
		if (stat(file, &sb) < 0)
			return err_errno(err, ERR_CONFIG, "[source \"%s\"] token-file %s", name,
			                 file);
		if (sb.st_mode & S_IROTH)
			log_warn("poll.token_file_readable", "source=%s file=%s advice=%s", name,
			         file, "chmod o-r: anyone on this machine can read the token");
		struct buf b = BUF_INIT;
		if (buf_read_file(&b, file, TOKEN_MAX) < 0) {
			buf_free(&b);
			return err_errno(err, ERR_CONFIG, "[source \"%s\"] token-file %s", name,
			                 file);
		}
		buf_rtrim(&b);
		*out = buf_detach(&b);
	} else if (env) {
		const char *v = getenv(env);
		if (!v || !*v)
			return err_set(err, ERR_CONFIG,
			               "[source \"%s\"] token-env: the environment variable %s is "
			               "not set",
			               name, env);
		*out = xstrdup(v);
		while (**out &&
		       ((*out)[strlen(*out) - 1] == '\n' || (*out)[strlen(*out) - 1] == ' '))
			(*out)[strlen(*out) - 1] = '\0';
	} else {
		return 0;
	}
	if (!**out || strpbrk(*out, "\r\n") || strlen(*out) < 4) {
		free(*out);
		*out = NULL;
		return err_set(err, ERR_CONFIG,
		               "[source \"%s\"] the token is empty, shorter than 4 bytes or spans "
		               "several lines",
		               name);
	}
	log_secret_add(*out);
	return 0;
}

static char *fingerprint(const struct config *cfg, const char *name, const char *token)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct config_entry *e = &cfg->e[i];
		if (strcmp(e->section, "source") || !e->sub || strcmp(e->sub, name))
			continue;
		buf_addf(&b, "%s=%s\n", e->key, e->value ? e->value : "");
	}
	if (token)
		buf_addf(&b, "token=%s\n", token);
	return buf_detach(&b);
}

static int source_new(struct poller *p, const struct config *cfg, const char *name,
                      struct psource **out, struct err *err)
{
	struct psource *s = xcalloc(1, sizeof(*s));
	s->p = p;
	if (adapter_source_new(cfg, name, &s->src, err) < 0) {
		free(s);
		return -1;
	}
	if (read_token(cfg, name, &s->token, err) < 0) {
		adapter_source_free(s->src);
		free(s);
		return -1;
	}
	s->fingerprint = fingerprint(cfg, name, s->token);
	const struct adapter *a = s->src->adapter;
	s->interval_s = config_get_duration(cfg, "source", name, "interval", DEFAULT_INTERVAL_S);
	if (s->interval_s < 1)
		s->interval_s = 1;
	s->backoff_max_s =
	    config_get_duration(cfg, "source", name, "backoff-max", DEFAULT_BACKOFF_MAX_S);
	if (s->backoff_max_s < 1)
		s->backoff_max_s = 1;
	s->timeout_ms =
	    (long)config_get_duration(cfg, "source", name, "timeout", DEFAULT_TIMEOUT_S) * 1000;
	s->connect_timeout_ms = (long)config_get_duration(cfg, "source", name, "connect-timeout",
	                                                  DEFAULT_CONNECT_TIMEOUT_S) *
	                        1000;
	s->low_speed_s =
	    (long)config_get_duration(cfg, "source", name, "low-speed-time", DEFAULT_LOW_SPEED_S);
	int64_t mr = config_get_int(cfg, "source", name, "max-response-size", DEFAULT_MAX_RESPONSE);
	s->max_body = mr > 0 ? (size_t)mr : DEFAULT_MAX_RESPONSE;
	s->conditional = config_get_bool(cfg, "source", name, "conditional", 1);
	int64_t hl = config_get_int(cfg, "source", name, "host-concurrency",
	                            a->max_host_requests > 0 ? a->max_host_requests : 2);
	s->host_limit = hl < 1 ? 1 : hl > 64 ? 64 : (int)hl;
	const char *ca = config_get(cfg, "source", name, "ca-path");
	if (ca) {
		struct stat sb;
		if (stat(ca, &sb) < 0) {
			err_errno(err, ERR_CONFIG, "[source \"%s\"] ca-path %s", name, ca);
			source_free(s);
			return -1;
		}
		s->ca_path = xstrdup(ca);
		s->ca_is_dir = S_ISDIR(sb.st_mode);
	}
	if (s->src->url) {
		s->url_origin = http_url_origin(s->src->url);
		if (!s->url_origin) {
			err_set(err, ERR_CONFIG,
			        "[source \"%s\"] url: cannot tell the host of '%s'", name,
			        s->src->url);
			source_free(s);
			return -1;
		}
		if (s->token) {
			struct buf line = BUF_INIT;
			if (a->auth)
				a->auth(s->src, s->token, &line);
			else
				buf_addf(&line, "Authorization: Bearer %s", s->token);
			const char *colon = strchr(line.ptr, ':');
			if (colon) {
				const char *v = colon + 1;
				while (*v == ' ')
					v++;
				log_secret_add(v);
			}
			s->auth_line = buf_detach(&line);
		}
	}
	struct buf l = BUF_INIT;
	buf_adds(&l, "source=\"");
	metrics_label_escape(&l, name);
	buf_addch(&l, '"');
	s->labels = buf_detach(&l);
	*out = s;
	return 0;
}

/* Give a set-up source its loop handles and its host, and put it on the list. */
static void source_attach(struct poller *p, struct psource *s)
{
	if (s->url_origin)
		s->host = host_get(p, s->url_origin, s->host_limit);
	uv_timer_init(p->loop, &s->timer);
	s->timer.data = s;
	s->timer_open = 1;
	p->open_handles++;
	s->next = p->sources;
	p->sources = s;
}

static int wanted(const struct poller *p, const char *name)
{
	if (!p->opt.only)
		return 1;
	for (const char *const *n = p->opt.only; *n; n++)
		if (!strcmp(*n, name))
			return 1;
	return 0;
}

/* ------------------------------------------------------------ poller */

static void http_closed(void *arg)
{
	struct poller *p = arg;
	p->http_open = 0;
	p->http = NULL;
	maybe_free_poller(p);
}

static void host_timer_closed(uv_handle_t *h)
{
	struct phost *x = h->data;
	struct poller *p = x->p;
	p->open_handles--;
	maybe_free_poller(p);
}

static void maybe_free_poller(struct poller *p)
{
	if (!p->stopping || p->freed)
		return;
	if (p->sources || p->open_handles || p->works || p->sq_busy || p->sq_head || p->http_open)
		return;
	p->freed = 1;
	results_writer_free(p->sq_writer);
	store_close(p->sq_store);
	struct phost *h = p->hosts, *n;
	for (; h; h = n) {
		n = h->next;
		free(h->origin);
		free(h);
	}
	free(p->db_path);
	void (*stopped)(void *) = p->opt.stopped;
	void *arg = p->opt.arg;
	free(p);
	if (stopped)
		stopped(arg);
}

int poller_start(uv_loop_t *loop, const struct config *cfg, const char *db_path,
                 const struct poller_options *o, struct poller **out, struct err *err)
{
	declare_metrics();
	*out = NULL;
	struct poller *p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->opt = *o;
	p->rng = (uint64_t)uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	unsigned ncpu = uv_available_parallelism();
	/*
	 * Leave a core to the loop, and a thread of libuv's pool (4 unless
	 * UV_THREADPOOL_SIZE says otherwise) to the store commits and the
	 * other services, or parse jobs could hold every pool thread.
	 */
	const char *ps = getenv("UV_THREADPOOL_SIZE");
	long pool = ps && atol(ps) > 0 ? atol(ps) : 4;
	long lim = ncpu > 2 ? (long)ncpu - 1 : 1;
	if (lim > pool - 1)
		lim = pool > 1 ? pool - 1 : 1;
	p->parse_limit = (int)lim;
	if (o->only) {
		for (const char *const *n = o->only; *n; n++)
			if (!config_get(cfg, "source", *n, "type")) {
				free(p);
				return err_set(err, ERR_USAGE, "no source named '%s' in %s", *n,
				               cfg->path);
			}
	}
	/* set every source up before touching the loop, so a bad one changes nothing */
	struct psource *ready = NULL;
	const char **names;
	size_t n = config_subsections(cfg, "source", &names);
	for (size_t i = 0; i < n; i++) {
		if (!wanted(p, names[i]))
			continue;
		if (!config_get_bool(cfg, "source", names[i], "enabled", 1) && !o->only)
			continue;
		struct psource *s;
		if (source_new(p, cfg, names[i], &s, err) < 0) {
			free(names);
			while (ready) {
				struct psource *x = ready;
				ready = x->next;
				source_free(x);
			}
			free(p);
			return -1;
		}
		s->next = ready;
		ready = s;
	}
	free(names);
	if (http_client_new(loop, &p->http, err) < 0) {
		while (ready) {
			struct psource *x = ready;
			ready = x->next;
			source_free(x);
		}
		free(p);
		return -1;
	}
	p->http_open = 1;
	p->db_path = xstrdup(db_path);
	size_t nsources = 0;
	while (ready) {
		struct psource *x = ready;
		ready = x->next;
		source_attach(p, x);
		nsources++;
	}
	*out = p;
	log_info("poll.started", "sources=%zu once=%d", nsources, o->once);
	for (struct psource *s = p->sources; s; s = s->next)
		start_cycle(s);
	if (!p->sources && o->once)
		poller_stop(p);
	return 0;
}

void poller_reload(struct poller *p, const struct config *cfg)
{
	if (p->stopping)
		return;
	const char **names;
	size_t n = config_subsections(cfg, "source", &names);
	/* retire sources that are gone, disabled or changed */
	for (struct psource *s = p->sources, *next; s; s = next) {
		next = s->next;
		if (s->retired)
			continue;
		int keep = 0;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(names[i], s->src->name) || !wanted(p, names[i]))
				continue;
			if (!config_get_bool(cfg, "source", names[i], "enabled", 1))
				break;
			char *tok = NULL;
			struct err e = ERR_INIT;
			if (read_token(cfg, names[i], &tok, &e) == 0) {
				char *fp = fingerprint(cfg, names[i], tok);
				keep = !strcmp(fp, s->fingerprint);
				free(fp);
			}
			if (tok) {
				explicit_bzero(tok, strlen(tok));
				free(tok);
			}
			err_free(&e);
			break;
		}
		if (!keep) {
			log_info("poll.source_stopped", "source=%s reason=%s", s->src->name,
			         "configuration changed or removed");
			source_retire(s);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!wanted(p, names[i]) || !config_get_bool(cfg, "source", names[i], "enabled", 1))
			continue;
		int have = 0;
		for (struct psource *s = p->sources; s; s = s->next)
			if (!s->retired && !strcmp(s->src->name, names[i]))
				have = 1;
		if (have)
			continue;
		struct psource *s;
		struct err err = ERR_INIT;
		if (source_new(p, cfg, names[i], &s, &err) < 0) {
			log_error("poll.source_invalid", "source=%s error=%s action=%s", names[i],
			          err_msg(&err), "not polled until the configuration is fixed");
			err_free(&err);
			continue;
		}
		source_attach(p, s);
		log_info("poll.source_started", "source=%s type=%s", names[i],
		         s->src->adapter->name);
		start_cycle(s);
	}
	free(names);
}

void poller_stop(struct poller *p)
{
	if (p->stopping)
		return;
	p->stopping = 1;
	for (struct psource *s = p->sources, *next; s; s = next) {
		next = s->next;
		source_retire(s);
	}
	for (struct phost *h = p->hosts; h; h = h->next) {
		uv_timer_stop(&h->timer);
		uv_close((uv_handle_t *)&h->timer, host_timer_closed);
	}
	if (p->http_open)
		http_client_close(p->http, http_closed, p);
	maybe_free_poller(p);
}

size_t poller_failures(const struct poller *p)
{
	return p->failures;
}

/* ------------------------------------------------------------ service */

struct poll_svc {
	struct daemon *d;
	struct poller *p;
	uint64_t lag_mark; /* lag sample count at the last reload */
};

/*
 * The event loop's lag since the last reload (or start) - over at most the
 * latest 8192 samples, which `samples` counts - for the log.
 */
static void log_lag(struct poll_svc *x, const char *event)
{
	struct daemon *d = x->d;
	static const double pct[] = {50, 99, 100};
	uint64_t v[3], all99;
	size_t n = daemon_lag_percentiles(d, x->lag_mark, pct, v, 3);
	daemon_lag_percentiles(d, 0, &pct[1], &all99, 1);
	log_info(event,
	         "loop_lag_p50_us=%llu loop_lag_p99_us=%llu loop_lag_max_us=%llu samples=%zu "
	         "process_loop_lag_p99_us=%llu",
	         (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2], n,
	         (unsigned long long)all99);
	x->lag_mark = d->lag_samples;
}

static void svc_stopped(void *arg)
{
	struct poll_svc *x = arg;
	log_lag(x, "poll.stopped");
	free(x);
}

static void svc_stored(void *arg)
{
	struct poll_svc *x = arg;
	daemon_results_changed(x->d);
}

static int svc_start(struct daemon *d, void **state, struct err *err)
{
	struct poll_svc *x = xcalloc(1, sizeof(*x));
	x->d = d;
	struct poller_options o = {0};
	o.stopped = svc_stopped;
	o.stored = svc_stored;
	o.arg = x;
	if (poller_start(d->loop, d->cfg, d->db_path, &o, &x->p, err) < 0) {
		free(x);
		return -1;
	}
	*state = x;
	return 0;
}

static void svc_stop(struct daemon *d, void *state)
{
	struct poll_svc *x = state;
	(void)d;
	if (x && x->p)
		poller_stop(x->p);
}

static void svc_reload(struct daemon *d, void *state)
{
	struct poll_svc *x = state;
	if (x && x->p) {
		log_lag(x, "poll.reloading");
		poller_reload(x->p, d->cfg);
	}
}

const struct service service_poller = {
    .name = "poller",
    .start = svc_start,
    .stop = svc_stop,
    .reload = svc_reload,
};
