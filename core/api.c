/*
 * api.c - the `http` service of `cifeed serve`: routes, parameters, errors.
 *
 * What and why: httpd.c speaks HTTP; this file decides what each request
 * means.  A request is matched to a route (path, methods), its parameters
 * are decoded and checked strictly (unknown or repeated parameters are a
 * 400, so a typo never silently widens a query), and the store work is
 * handed to the query pool (qpool.h).  Two exceptions run on the loop, both
 * bounded: a /ran answer from the per-revision cache (ran_cache.h), and a
 * /ran lookup within [serve] inline-budget - one that overruns it moves to
 * the query threads.  The answers themselves come from api_endpoints.c.  Errors are JSON documents
 * (schema/api/error.json); store errors are logged with the request id and
 * answered with a generic 500 that never carries SQL.
 */
#include "api.h"
#include "daemon.h"
#include "feed_atom.h"
#include "feed_reader.h"
#include "formats.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "qpool.h"
#include "ran_cache.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_LISTEN        "127.0.0.1:8080"
#define DEFAULT_QUERY_THREADS 2
#define DEFAULT_INLINE_MS     2
#define DEFAULT_RAN_CACHE     ((int64_t)256 << 20)
#define CACHE_API             "Cache-Control: no-cache\r\n"

struct api {
	struct daemon *d;
	struct httpd *httpd;
	struct qpool *pool;
	const char *statuses[8];
	uint64_t query_timeout_ms;
	uint64_t inline_ms;
	char *listen;
	uint64_t started_ns;
	/* /ran answers per revision; loop thread only (ran_cache.h) */
	struct ran_cache *cache;
	struct ran_cache_stats published; /* counters already added to metrics */
	int cache_failing;                /* the last sync failed (logged once) */
	size_t jobs;                      /* alive: they point here */
	int stopped;                      /* http_stop ran: free with the last job */
};

static void api_free(struct api *a)
{
	ran_cache_free(a->cache);
	free(a->listen);
	free(a);
}

enum job_kind { J_RAN, J_SKIP, J_RESULTS, J_PATCH, J_HEALTH, J_TOPICS, J_ATOM };

struct qparam {
	char *k, *v;
};

struct api_job {
	struct qpool_job base; /* first: the pool hands this pointer back */
	struct api *api;
	struct httpd_req *req;
	enum job_kind kind;
	struct qparam *qp;
	size_t nqp;
	struct ran_query rq;
	char *msgid;
	char *feeds_dir, *topic, *base_url; /* feeds */
	const char *ctype;                  /* of a 200 answer; JSON when NULL */
	const char *statuses[8];
	uint64_t timeout_ms;
	int timed_out;
	uint64_t inline_ms; /* running on the loop with this budget; 0: on a query thread */
	int requeue;        /* the inline budget ran out: go to the query threads */
	size_t limit;
	int cacheable; /* a /ran answer the cache may keep, with this tag */
	int64_t cache_tag;
	struct buf out;
	char etag[36]; /* of out, hashed where the job ran (job_run) */
	struct err err;
	int status;
	/* healthz */
	double uptime, lag_p99;
	size_t conns, pending;
};

/* ------------------------------------------------------------ decoding */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) ('+' is a space in query strings); UTF-8 without NUL only. */
static int url_decode(const char *s, size_t n, int plus, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval((unsigned char)s[i + 1]),
			    lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			buf_addch(out, hi * 16 + lo);
			i += 2;
		} else if (plus && s[i] == '+') {
			buf_addch(out, ' ');
		} else {
			buf_addch(out, s[i]);
		}
	}
	if (memchr(out->ptr ? out->ptr : "", 0, out->len) || !utf8_valid(buf_cstr(out), out->len))
		return -1;
	return 0;
}

static void qparams_free(struct qparam *qp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(qp[i].k);
		free(qp[i].v);
	}
	free(qp);
}

/* Split and decode a query string; only `allowed` keys, each at most once. */
static int parse_query(const char *q, const char *const *allowed, struct qparam **out, size_t *nout,
                       struct err *err)
{
	struct qparam *qp = NULL;
	size_t n = 0;
	struct buf k = BUF_INIT, v = BUF_INIT;
	const char *p = q;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len) {
			const char *eq = memchr(p, '=', len);
			size_t kl = eq ? (size_t)(eq - p) : len;
			buf_reset(&v);
			if (url_decode(p, kl, 1, &k) < 0 ||
			    (eq && url_decode(eq + 1, len - kl - 1, 1, &v) < 0)) {
				err_set(err, ERR_INVALID,
				        "query string: bad percent-encoding or not UTF-8 near "
				        "column %zu",
				        (size_t)(p - q) + 1);
				goto fail;
			}
			int ok = 0;
			for (size_t i = 0; allowed[i]; i++)
				ok |= !strcmp(allowed[i], buf_cstr(&k));
			if (!ok) {
				struct buf names = BUF_INIT;
				for (size_t i = 0; allowed[i]; i++)
					buf_addf(&names, "%s%s", i ? " " : "", allowed[i]);
				json_t *js = json_string(buf_cstr(&k));
				char *ks = json_dumps(js, JSON_ENCODE_ANY);
				err_set(err, ERR_INVALID, "unknown parameter %.80s (known: %s)",
				        ks ? ks : "?", names.ptr);
				free(ks);
				json_decref(js);
				buf_free(&names);
				goto fail;
			}
			for (size_t i = 0; i < n; i++)
				if (!strcmp(qp[i].k, buf_cstr(&k))) {
					err_set(err, ERR_INVALID, "parameter %s given twice",
					        qp[i].k);
					goto fail;
				}
			qp = xrealloc(qp, (n + 1) * sizeof(*qp));
			qp[n].k = xstrdup(buf_cstr(&k));
			qp[n].v = xstrdup(buf_cstr(&v));
			n++;
		}
		p += len + (amp ? 1 : 0);
	}
	buf_free(&k);
	buf_free(&v);
	*out = qp;
	*nout = n;
	return 0;
fail:
	buf_free(&k);
	buf_free(&v);
	qparams_free(qp, n);
	return -1;
}

static const char *qget(const struct api_job *j, const char *k)
{
	for (size_t i = 0; i < j->nqp; i++)
		if (!strcmp(j->qp[i].k, k))
			return j->qp[i].v;
	return NULL;
}

/* ------------------------------------------------------------ jobs */

static int status_of(const struct err *e)
{
	switch (e->code) {
	case ERR_USAGE:
	case ERR_INVALID:
		return 400;
	case ERR_NOTFOUND:
		return 404;
	default:
		return 500;
	}
}

/* GET /feeds/: the topics of DATADIR/feeds (schema/api/feeds.json). */
static int topics_json(struct api_job *j, struct buf *out, struct err *err)
{
	struct feed_topic_info *t;
	size_t n;
	if (feed_topics_list(j->feeds_dir, &t, &n, err) < 0)
		return -1;
	json_t *o = json_object(), *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		struct buf atom = BUF_INIT;
		char newest[32] = "";
		buf_addf(&atom, "/feeds/%s/new.atom", t[i].name);
		json_object_set_new(e, "name", json_string(t[i].name));
		json_object_set_new(e, "description",
		                    t[i].info.description ? json_string(t[i].info.description)
		                                          : json_null());
		json_object_set_new(e, "messages", json_integer((json_int_t)t[i].info.messages));
		json_object_set_new(e, "epochs", json_integer(t[i].info.epochs));
		if (t[i].info.newest_time)
			fmt_unix_rfc3339(t[i].info.newest_time, newest);
		json_object_set_new(e, "updated", *newest ? json_string(newest) : json_null());
		json_object_set_new(e, "atom", json_string(atom.ptr));
		buf_free(&atom);
		json_array_append_new(arr, e);
	}
	feed_topics_free(t, n);
	json_object_set_new(o, "topics", arr);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	buf_adds(out, s);
	buf_addch(out, '\n');
	free(s);
	json_decref(o);
	return 0;
}

static void job_run(struct qpool_job *qj, struct store *st, struct err *open_err)
{
	struct api_job *j = (struct api_job *)qj;
	int r = 0;
	if (j->kind == J_TOPICS || j->kind == J_ATOM) {
		/* feeds are read from git, not from the store */
		r = j->kind == J_ATOM ? feed_atom_render(j->feeds_dir, j->topic, j->base_url,
		                                         j->limit, &j->out, &j->err)
		                      : topics_json(j, &j->out, &j->err);
		if (r < 0 && j->err.code == ERR_USAGE)
			j->err.code = ERR_NOTFOUND; /* an unsafe name is no topic of ours */
		j->status = r < 0 ? status_of(&j->err) : 200;
		goto etag;
	}
	if (!st) {
		j->status = 503;
		err_set(&j->err, ERR_DB, "%s", err_msg(open_err));
		return;
	}
	store_set_deadline(st, j->inline_ms ? j->inline_ms : j->timeout_ms);
	switch (j->kind) {
	case J_RAN:
		r = api_ran(st, &j->rq, &j->out, &j->err);
		break;
	case J_SKIP: {
		size_t len;
		const char *body = httpd_req_body(j->req, &len);
		r = api_skip(st, body, len, j->statuses, &j->out, &j->err);
		break;
	}
	case J_RESULTS:
		r = api_results(st, qget(j, "q"), qget(j, "cursor"), j->limit, &j->out, &j->err);
		break;
	case J_PATCH:
		r = api_patch(st, j->msgid, &j->out, &j->err);
		break;
	case J_HEALTH: {
		int64_t n;
		r = store_query_int(st, "SELECT COUNT(*) FROM schema_migrations", &n, &j->err, 0);
		if (r >= 0) {
			json_t *o = json_object();
			json_object_set_new(o, "status", json_string("ok"));
			json_object_set_new(o, "version", json_string(CIFEED_VERSION));
			json_object_set_new(o, "schema_version",
			                    json_integer(store_schema_version(st)));
			json_object_set_new(o, "uptime_seconds", json_real(j->uptime));
			json_object_set_new(o, "http_connections",
			                    json_integer((json_int_t)j->conns));
			json_object_set_new(o, "queries_pending",
			                    json_integer((json_int_t)j->pending));
			json_object_set_new(o, "loop_lag_p99_seconds", json_real(j->lag_p99));
			char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
			                            JSON_REAL_PRECISION(6));
			buf_adds(&j->out, s);
			buf_addch(&j->out, '\n');
			free(s);
			json_decref(o);
			r = 0;
		}
		break;
	}
	case J_TOPICS:
	case J_ATOM:
		break; /* answered above */
	}
	j->status = r < 0 ? status_of(&j->err) : 200;
	if (r < 0 && store_timed_out(st) && j->inline_ms) {
		/* too long for the loop: the caller (h_ran) resets it for the query threads */
		j->requeue = 1;
	} else if (r < 0 && store_timed_out(st)) {
		j->status = 503;
		buf_reset(&j->out);
		err_set(&j->err, ERR_DB,
		        "the lookup ran longer than %llu ms ([serve] query-timeout)",
		        (unsigned long long)j->timeout_ms);
		j->timed_out = 1;
	}
	store_set_deadline(st, 0);
etag:
	/* only GET answers carry an ETag (POST /skip does not) */
	if (j->status == 200 && j->kind != J_SKIP)
		httpd_etag(j->out.ptr ? j->out.ptr : "", j->out.len, j->etag);
}

static void job_free(struct api_job *j)
{
	qparams_free(j->qp, j->nqp);
	free(j->msgid);
	free(j->feeds_dir);
	free(j->topic);
	free(j->base_url);
	buf_free(&j->out);
	err_free(&j->err);
	struct api *a = j->api;
	free(j);
	if (--a->jobs == 0 && a->stopped)
		api_free(a); /* the last lookup in flight at shutdown */
}

static void job_done(struct qpool_job *qj)
{
	struct api_job *j = (struct api_job *)qj;
	if (j->status == 200 && j->cacheable && j->api->cache)
		ran_cache_put(j->api->cache, j->rq.commit, j->rq.patchset, j->cache_tag,
		              j->out.ptr ? j->out.ptr : "", j->out.len, j->etag);
	if (j->status == 200) {
		httpd_respond_etag(j->req, 200, j->ctype ? j->ctype : "application/json", &j->out,
		                   CACHE_API, j->etag[0] ? j->etag : NULL);
	} else if (j->timed_out) {
		log_warn("http.query_timeout", "id=%llu path=%s query=%s",
		         (unsigned long long)httpd_req_id(j->req), httpd_req_path(j->req),
		         httpd_req_query(j->req));
		httpd_respond_error(j->req, 503, "Retry-After: 10\r\n",
		                    "%s: narrow the question (a commit, a tree, a status)",
		                    err_msg(&j->err));
	} else if (j->status >= 500) {
		/* the detail may hold SQL or paths: log it, never send it */
		log_error("http.error", "id=%llu path=%s error=%s",
		          (unsigned long long)httpd_req_id(j->req), httpd_req_path(j->req),
		          err_msg(&j->err));
		httpd_respond_error(j->req, j->status, NULL,
		                    "%s (request %llu; the server log has the details)",
		                    j->status == 503 ? "store unavailable" : "internal error",
		                    (unsigned long long)httpd_req_id(j->req));
	} else {
		httpd_respond_error(j->req, j->status, NULL, "%s", err_msg(&j->err));
	}
	job_free(j);
}

static struct api_job *job_new(struct api *a, struct httpd_req *req, enum job_kind kind)
{
	struct api_job *j = xcalloc(1, sizeof(*j));
	j->api = a;
	a->jobs++;
	j->base.run = job_run;
	j->base.done = job_done;
	j->req = req;
	j->kind = kind;
	memcpy(j->statuses, a->statuses, sizeof(j->statuses));
	j->timeout_ms = a->query_timeout_ms;
	return j;
}

/* ------------------------------------------------------------ handlers */

static int with_params(struct api_job *j, const char *const *allowed)
{
	if (parse_query(httpd_req_query(j->req), allowed, &j->qp, &j->nqp, &j->err) < 0) {
		httpd_respond_error(j->req, 400, NULL, "%s", err_msg(&j->err));
		job_free(j);
		return -1;
	}
	return 0;
}

/*
 * Answer j from the cache when it holds the revision, after checking that
 * nothing changed it since (ran_cache_sync).  Returns 1 when answered (j is
 * freed); 0 to look it up, with j marked to be kept afterwards.
 */
static int ran_lookup_cached(struct api *a, struct api_job *j)
{
	struct err err = ERR_INIT;
	struct store *st = qpool_loop_store(a->pool, &err);
	if (!st || ran_cache_sync(a->cache, st, &err) < 0) {
		if (!a->cache_failing)
			log_warn("http.ran_cache_unavailable", "error=%s action=%s", err_msg(&err),
			         "answering /ran from the store until the store can be read");
		a->cache_failing = 1;
		err_free(&err);
		return 0;
	}
	if (a->cache_failing)
		log_info("http.ran_cache_available", "action=%s", "caching /ran answers again");
	a->cache_failing = 0;
	struct ran_cache_hit hit;
	if (ran_cache_get(a->cache, j->rq.commit, j->rq.patchset, &hit)) {
		httpd_respond_shared(j->req, 200, "application/json", hit.body, hit.len, CACHE_API,
		                     hit.etag, ran_cache_release, hit.ref);
		job_free(j);
		return 1;
	}
	j->cacheable = 1;
	j->cache_tag = ran_cache_tag(a->cache);
	return 0;
}

static void h_ran(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const allowed[] = {"commit", "patchset", "msgid", "patch_id",
	                                      "test",   "origin",   NULL};
	(void)rest;
	struct api_job *j = job_new(a, req, J_RAN);
	if (with_params(j, allowed) < 0)
		return;
	j->rq.commit = qget(j, "commit");
	j->rq.patchset = qget(j, "patchset");
	j->rq.patch_id = qget(j, "patch_id");
	j->rq.test = qget(j, "test");
	j->rq.origin = qget(j, "origin");
	const char *m = qget(j, "msgid");
	if (m) {
		size_t l = strlen(m);
		j->msgid =
		    l >= 2 && m[0] == '<' && m[l - 1] == '>' ? xstrndup(m + 1, l - 2) : xstrdup(m);
		j->rq.msgid = j->msgid;
	}
	/* cheap checks on the loop: a bad request never waits in the queue */
	if (api_ran_validate(&j->rq, &j->err) < 0) {
		httpd_respond_error(req, 400, NULL, "%s", err_msg(&j->err));
		job_free(j);
		return;
	}
	/* the common question - a revision, nothing else - may be answered from the cache */
	if (ran_cache_enabled(a->cache) && j->rq.commit && !j->rq.msgid && !j->rq.patch_id &&
	    !j->rq.test && !j->rq.origin && ran_lookup_cached(a, j))
		return;
	/*
	 * A revision's lookup is a few index seeks and tens of rows: answer it
	 * right here, without two thread hand-offs, within a small budget; the
	 * rare revision with a huge answer moves to the query threads.
	 */
	/* (without query threads every lookup runs on the loop: no budget to overrun) */
	if (a->inline_ms && qpool_threads(a->pool)) {
		j->inline_ms = a->inline_ms;
		if (qpool_run_here(a->pool, &j->base) == 0 && !j->requeue) {
			metrics_counter_add("cifeed_http_lookups_total", "where=\"loop\"", 1);
			job_done(&j->base);
			return;
		}
		j->inline_ms = 0;
		j->requeue = 0;
		j->status = 0;
		buf_reset(&j->out);
		err_clear(&j->err);
	}
	metrics_counter_add("cifeed_http_lookups_total", "where=\"threads\"", 1);
	qpool_submit(a->pool, &j->base);
}

static void h_skip(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const allowed[] = {NULL};
	(void)rest;
	struct api_job *j = job_new(a, req, J_SKIP);
	if (with_params(j, allowed) < 0)
		return;
	const char *ct = httpd_req_header(req, "Content-Type");
	if (ct && strncasecmp(ct, "application/json", 16)) {
		httpd_respond_error(req, 415, NULL,
		                    "the test plan must be sent as application/json");
		job_free(j);
		return;
	}
	size_t len;
	httpd_req_body(req, &len);
	if (!len) {
		httpd_respond_error(req, 400, NULL,
		                    "empty body: send {\"commit\": ..., \"tests\": [...]}");
		job_free(j);
		return;
	}
	qpool_submit(a->pool, &j->base);
}

static void h_results(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const allowed[] = {"q", "cursor", "limit", NULL};
	(void)rest;
	struct api_job *j = job_new(a, req, J_RESULTS);
	if (with_params(j, allowed) < 0)
		return;
	const char *lim = qget(j, "limit");
	j->limit = API_RESULTS_DEFAULT;
	if (lim) {
		char *end;
		long v = strtol(lim, &end, 10);
		if (!*lim || *end || v < 1 || v > API_RESULTS_MAX) {
			httpd_respond_error(req, 400, NULL, "limit must be between 1 and %d",
			                    API_RESULTS_MAX);
			job_free(j);
			return;
		}
		j->limit = (size_t)v;
	}
	qpool_submit(a->pool, &j->base);
}

static void h_patch(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const allowed[] = {NULL};
	struct api_job *j = job_new(a, req, J_PATCH);
	if (with_params(j, allowed) < 0)
		return;
	struct buf m = BUF_INIT;
	if (!*rest || strchr(rest, '/') || url_decode(rest, strlen(rest), 0, &m) < 0) {
		httpd_respond_error(req, 400, NULL,
		                    "expected /api/v1/patches/MESSAGE-ID (percent-encoded, "
		                    "without <>)");
		buf_free(&m);
		job_free(j);
		return;
	}
	size_t l = m.len;
	j->msgid = l >= 2 && m.ptr[0] == '<' && m.ptr[l - 1] == '>' ? xstrndup(m.ptr + 1, l - 2)
	                                                            : xstrdup(m.ptr);
	buf_free(&m);
	qpool_submit(a->pool, &j->base);
}

static char *feeds_dir(struct api *a)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/feeds", a->d->datadir);
	return buf_detach(&b);
}

/* /feeds/ (the topic list) and /feeds/TOPIC/new.atom */
static void h_feeds(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const none[] = {NULL}, *const lim[] = {"limit", NULL};
	const char *slash = strchr(rest, '/');
	int list = !*rest;
	struct api_job *j = job_new(a, req, list ? J_TOPICS : J_ATOM);
	if (with_params(j, list ? none : lim) < 0)
		return;
	j->feeds_dir = feeds_dir(a);
	if (list) {
		qpool_submit(a->pool, &j->base);
		return;
	}
	if (!slash || strcmp(slash, "/new.atom") || slash == rest) {
		httpd_respond_error(req, 404, NULL,
		                    "no such feed document: feeds are at /feeds/TOPIC/new.atom");
		job_free(j);
		return;
	}
	struct buf t = BUF_INIT;
	if (url_decode(rest, (size_t)(slash - rest), 0, &t) < 0) {
		httpd_respond_error(req, 400, NULL, "topic name: bad percent-encoding");
		buf_free(&t);
		job_free(j);
		return;
	}
	j->topic = buf_detach(&t);
	const char *l = qget(j, "limit");
	j->limit = 0;
	if (l) {
		char *end;
		long v = strtol(l, &end, 10);
		if (!*l || *end || v < 1 || v > FEED_ATOM_LIMIT_MAX) {
			httpd_respond_error(req, 400, NULL, "limit must be between 1 and %d",
			                    FEED_ATOM_LIMIT_MAX);
			job_free(j);
			return;
		}
		j->limit = (size_t)v;
	}
	/* links: the public feed URL when configured, else where this server serves them */
	const char *base = config_get(a->d->cfg, "feed", NULL, "url");
	j->base_url = xstrdup(base ? base : "/feeds");
	j->ctype = "application/atom+xml; charset=utf-8";
	qpool_submit(a->pool, &j->base);
}

static void h_healthz(struct api *a, struct httpd_req *req, const char *rest)
{
	static const char *const allowed[] = {NULL};
	(void)rest;
	struct api_job *j = job_new(a, req, J_HEALTH);
	if (with_params(j, allowed) < 0)
		return;
	j->uptime = (double)(uv_hrtime() - a->started_ns) / 1e9;
	j->conns = httpd_connections(a->httpd);
	j->pending = qpool_pending(a->pool);
	static const double p99 = 99;
	uint64_t lag;
	daemon_lag_percentiles(a->d, 0, &p99, &lag, 1);
	j->lag_p99 = (double)lag / 1e6;
	qpool_submit(a->pool, &j->base);
}

/* The cache keeps its own counters; /metrics adds what is new since the last scrape. */
static void publish_cache_stats(struct api *a)
{
	struct ran_cache_stats s;
	ran_cache_stats(a->cache, &s);
	struct ran_cache_stats *p = &a->published;
	metrics_counter_add("cifeed_http_lookups_total", "where=\"cache\"", s.hits - p->hits);
	metrics_counter_add("cifeed_ran_cache_lookups_total", "result=\"hit\"", s.hits - p->hits);
	metrics_counter_add("cifeed_ran_cache_lookups_total", "result=\"miss\"",
	                    s.misses - p->misses);
	metrics_counter_add("cifeed_ran_cache_inserts_total", NULL, s.inserts - p->inserts);
	metrics_counter_add("cifeed_ran_cache_invalidations_total", NULL,
	                    s.invalidations - p->invalidations);
	metrics_counter_add("cifeed_ran_cache_evictions_total", NULL, s.evictions - p->evictions);
	metrics_counter_add("cifeed_ran_cache_flushes_total", NULL, s.flushes - p->flushes);
	metrics_counter_add("cifeed_ran_cache_stale_total", NULL, s.stale - p->stale);
	metrics_counter_add("cifeed_ran_cache_syncs_total", NULL, s.syncs - p->syncs);
	metrics_gauge_set("cifeed_ran_cache_bytes", NULL, (double)s.bytes);
	metrics_gauge_set("cifeed_ran_cache_entries", NULL, (double)s.entries);
	metrics_gauge_set("cifeed_ran_cache_max_bytes", NULL, (double)s.max_bytes);
	*p = s;
}

static void h_metrics(struct api *a, struct httpd_req *req, const char *rest)
{
	(void)rest;
	if (*httpd_req_query(req)) {
		httpd_respond_error(req, 400, NULL, "/metrics takes no parameters");
		return;
	}
	static const double pct[] = {50, 99};
	uint64_t lag[2];
	daemon_lag_percentiles(a->d, 0, pct, lag, 2);
	metrics_gauge_set("cifeed_loop_lag_seconds", "quantile=\"0.5\"", (double)lag[0] / 1e6);
	metrics_gauge_set("cifeed_loop_lag_seconds", "quantile=\"0.99\"", (double)lag[1] / 1e6);
	metrics_gauge_set("cifeed_loop_lag_seconds", "quantile=\"1\"",
	                  (double)a->d->lag_max_us / 1e6);
	metrics_gauge_set("cifeed_loop_lag_samples", NULL, (double)a->d->lag_samples);
	metrics_gauge_set("cifeed_http_queries_pending", NULL, (double)qpool_pending(a->pool));
	metrics_gauge_set("cifeed_uptime_seconds", NULL,
	                  (double)(uv_hrtime() - a->started_ns) / 1e9);
	if (a->cache)
		publish_cache_stats(a);
	struct buf out = BUF_INIT;
	metrics_render(&out);
	httpd_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", &out,
	              "Cache-Control: no-store\r\n");
	buf_free(&out);
}

#define M_GET  (1u << HTTP_GET | 1u << HTTP_HEAD)
#define M_POST (1u << HTTP_POST)

static const struct route {
	const char *path;
	int prefix; /* path is a prefix; the rest is handed to fn */
	const char *name;
	unsigned methods;
	const char *allow;
	void (*fn)(struct api *a, struct httpd_req *req, const char *rest);
} routes[] = {
    {"/api/v1/ran", 0, "ran", M_GET, "GET, HEAD", h_ran},
    {"/api/v1/skip", 0, "skip", M_POST, "POST", h_skip},
    {"/api/v1/results", 0, "results", M_GET, "GET, HEAD", h_results},
    {"/api/v1/patches/", 1, "patches", M_GET, "GET, HEAD", h_patch},
    {"/metrics", 0, "metrics", M_GET, "GET, HEAD", h_metrics},
    {"/healthz", 0, "healthz", M_GET, "GET, HEAD", h_healthz},
    {"/feeds/", 1, "feeds", M_GET, "GET, HEAD", h_feeds},
};

static void handle(struct httpd_req *req, void *arg)
{
	struct api *a = arg;
	const char *path = httpd_req_path(req);
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		const struct route *r = &routes[i];
		size_t pl = strlen(r->path);
		if (r->prefix ? strncmp(path, r->path, pl) : strcmp(path, r->path))
			continue;
		httpd_req_set_route(req, r->name);
		enum http_method m = httpd_req_method(req);
		if (m > 31 || !(r->methods & (1u << m))) {
			char allow[64];
			snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
			httpd_respond_error(req, 405, allow, "%s is not allowed here (allowed: %s)",
			                    httpd_req_method_name(req), r->allow);
			return;
		}
		r->fn(a, req, path + pl);
		return;
	}
	httpd_req_set_route(req, "not_found");
	httpd_respond_error(req, 404, NULL, "no such endpoint: %s", path);
}

/* ------------------------------------------------------------ service */

static int read_limits(const struct config *cfg, struct httpd_limits *lim, const char *st[8],
                       unsigned *threads, uint64_t *qtimeout_ms, uint64_t *inline_ms,
                       size_t *cache_bytes, struct err *err)
{
	httpd_limits_default(lim);
	int64_t v;
	lim->max_connections = (size_t)config_get_int(cfg, "serve", NULL, "max-connections",
	                                              (int64_t)lim->max_connections);
	lim->max_body =
	    (size_t)config_get_int(cfg, "serve", NULL, "max-request-size", (int64_t)lim->max_body);
	lim->max_headers =
	    (size_t)config_get_int(cfg, "serve", NULL, "max-headers", (int64_t)lim->max_headers);
	lim->max_header_bytes = (size_t)config_get_int(cfg, "serve", NULL, "max-header-size",
	                                               (int64_t)lim->max_header_bytes);
	lim->request_timeout_ms =
	    (uint64_t)config_get_duration(cfg, "serve", NULL, "request-timeout", 10) * 1000;
	lim->idle_timeout_ms =
	    (uint64_t)config_get_duration(cfg, "serve", NULL, "idle-timeout", 60) * 1000;
	v = config_get_int(cfg, "serve", NULL, "rate-limit", 0);
	struct {
		const char *key;
		int64_t v, min, max;
	} checks[] = {
	    {"max-connections", (int64_t)lim->max_connections, 1, 1000000},
	    {"max-request-size", (int64_t)lim->max_body, 0, (int64_t)1 << 30},
	    {"max-headers", (int64_t)lim->max_headers, 1, 100000},
	    {"max-header-size", (int64_t)lim->max_header_bytes, 256, 1 << 24},
	    {"request-timeout", (int64_t)lim->request_timeout_ms / 1000, 1, 3600},
	    {"idle-timeout", (int64_t)lim->idle_timeout_ms / 1000, 1, 86400},
	    {"query-timeout", config_get_duration(cfg, "serve", NULL, "query-timeout", 10), 1,
	     3600},
	    {"inline-budget",
	     config_get_int(cfg, "serve", NULL, "inline-budget", DEFAULT_INLINE_MS), 0, 1000},
	    {"rate-limit", v, 0, 1000000},
	    {"query-threads",
	     config_get_int(cfg, "serve", NULL, "query-threads", DEFAULT_QUERY_THREADS), 0, 64},
	    {"ran-cache-size",
	     config_get_int(cfg, "serve", NULL, "ran-cache-size", DEFAULT_RAN_CACHE), 0,
	     (int64_t)1 << 40},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++)
		if (checks[i].v < checks[i].min || checks[i].v > checks[i].max)
			return err_set(err, ERR_CONFIG,
			               "%s: [serve] %s = %lld is out of range (%lld to %lld)",
			               cfg->path, checks[i].key, (long long)checks[i].v,
			               (long long)checks[i].min, (long long)checks[i].max);
	lim->rate_limit = (unsigned)v;
	*qtimeout_ms =
	    (uint64_t)config_get_duration(cfg, "serve", NULL, "query-timeout", 10) * 1000;
	*inline_ms =
	    (uint64_t)config_get_int(cfg, "serve", NULL, "inline-budget", DEFAULT_INLINE_MS);
	*threads =
	    (unsigned)config_get_int(cfg, "serve", NULL, "query-threads", DEFAULT_QUERY_THREADS);
	*cache_bytes =
	    (size_t)config_get_int(cfg, "serve", NULL, "ran-cache-size", DEFAULT_RAN_CACHE);
	if (api_statuses_parse(
	        config_get_str(cfg, "serve", NULL, "ran-statuses", API_RAN_STATUSES_DEFAULT), st,
	        err) < 0)
		return err_prefix(err, "%s: [serve]", cfg->path);
	return 0;
}

static int http_start(struct daemon *d, void **state, struct err *err)
{
	struct api *a = xcalloc(1, sizeof(*a));
	struct httpd_limits lim;
	unsigned threads;
	size_t cache_bytes;
	a->d = d;
	a->started_ns = uv_hrtime();
	if (read_limits(d->cfg, &lim, a->statuses, &threads, &a->query_timeout_ms, &a->inline_ms,
	                &cache_bytes, err) < 0) {
		free(a);
		return -1;
	}
	a->cache = ran_cache_new(cache_bytes);
	a->listen = xstrdup(config_get_str(d->cfg, "serve", NULL, "listen", DEFAULT_LISTEN));
	metrics_declare("cifeed_loop_lag_seconds", METRIC_GAUGE,
	                "event-loop lag percentiles since start (quantile 1 is the maximum)");
	metrics_declare("cifeed_loop_lag_samples", METRIC_GAUGE, "loop lag measurements taken");
	metrics_declare("cifeed_http_queries_pending", METRIC_GAUGE,
	                "API lookups queued or running on the query threads");
	metrics_declare("cifeed_uptime_seconds", METRIC_GAUGE, "seconds since the daemon started");
	metrics_declare("cifeed_http_lookups_total", METRIC_COUNTER,
	                "/api/v1/ran lookups answered from the answer cache, on the loop (within "
	                "inline-budget) or on the query threads");
	metrics_declare("cifeed_ran_cache_lookups_total", METRIC_COUNTER,
	                "/api/v1/ran revision lookups that found their answer cached (hit) or not");
	metrics_declare("cifeed_ran_cache_inserts_total", METRIC_COUNTER,
	                "/api/v1/ran answers stored in the cache");
	metrics_declare("cifeed_ran_cache_invalidations_total", METRIC_COUNTER,
	                "cached /api/v1/ran answers dropped because a submission changed their "
	                "revision");
	metrics_declare("cifeed_ran_cache_evictions_total", METRIC_COUNTER,
	                "cached answers dropped to stay within [serve] ran-cache-size");
	metrics_declare("cifeed_ran_cache_flushes_total", METRIC_COUNTER,
	                "times the whole cache was dropped (store unreadable, change log pruned "
	                "past it)");
	metrics_declare("cifeed_ran_cache_stale_total", METRIC_COUNTER,
	                "answers not cached because a change was read while they were computed");
	metrics_declare("cifeed_ran_cache_syncs_total", METRIC_COUNTER,
	                "reads of the revision change log after the database changed");
	metrics_declare("cifeed_ran_cache_bytes", METRIC_GAUGE,
	                "memory held by cached /api/v1/ran answers");
	metrics_declare("cifeed_ran_cache_entries", METRIC_GAUGE, "revisions with a cached answer");
	metrics_declare("cifeed_ran_cache_max_bytes", METRIC_GAUGE, "[serve] ran-cache-size");
	if (qpool_start(&a->pool, d->loop, d->db_path, threads, err) < 0) {
		api_free(a);
		return -1;
	}
	if (httpd_start(&a->httpd, d->loop, a->listen, &lim, handle, a, err) < 0) {
		qpool_stop(a->pool);
		api_free(a);
		return -1;
	}
	log_info("http.listening", "address=%s port=%d query_threads=%u", a->listen,
	         httpd_port(a->httpd), threads);
	*state = a;
	return 0;
}

static void http_stop(struct daemon *d, void *state)
{
	struct api *a = state;
	(void)d;
	if (!a)
		return;
	httpd_stop(a->httpd);
	qpool_stop(a->pool);
	/* jobs still on the query threads finish later and point here */
	a->stopped = 1;
	if (!a->jobs)
		api_free(a);
}

static void http_reload(struct daemon *d, void *state)
{
	struct api *a = state;
	struct httpd_limits lim;
	const char *st[8];
	unsigned threads;
	uint64_t qt, inl;
	size_t cache_bytes;
	struct err err = ERR_INIT;
	if (read_limits(d->cfg, &lim, st, &threads, &qt, &inl, &cache_bytes, &err) < 0) {
		log_error("http.reload_failed", "error=%s action=%s", err_msg(&err),
		          "keeping the running limits");
		err_free(&err);
		return;
	}
	httpd_set_limits(a->httpd, &lim);
	memcpy(a->statuses, st, sizeof(st));
	a->query_timeout_ms = qt;
	a->inline_ms = inl;
	ran_cache_set_max(a->cache, cache_bytes);
	const char *listen = config_get_str(d->cfg, "serve", NULL, "listen", DEFAULT_LISTEN);
	if (strcmp(listen, a->listen))
		log_warn("http.listen_unchanged", "running=%s configured=%s action=%s", a->listen,
		         listen, "restart cifeed serve to move the listener");
}

const struct service service_http = {
    .name = "http",
    .start = http_start,
    .stop = http_stop,
    .reload = http_reload,
};
