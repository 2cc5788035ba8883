/*
 * httpd.c - HTTP/1.1 server: libuv sockets, libhttp-parser, our limits.
 *
 * What and why: the daemon serves its read-only API from the same loop as
 * its pollers, so the server must never block and must bound what any
 * client can make it hold: connections, bytes per request, header count,
 * time per request and per idle connection, requests per second.  The
 * parser (http_parser) tokenises the bytes; this file owns the connection
 * life cycle around it:
 *
 *   accept -> IDLE --first byte--> READING --message complete--> HANDLING
 *          (idle timer)            (request deadline)            (handler)
 *      ^                                                            |
 *      +---- keep-alive <---- WRITING (send deadline) <-- respond --+
 *
 * Any limit or parse error answers with a JSON error and a half-close;
 * the connection then drains briefly so the client sees the answer.
 * A connection is freed only once both its handles are closed and no
 * handler holds its request.
 */
#include "httpd.h"
#include "log.h"
#include "metrics.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_URL    8192
#define DRAIN_MS   2000
#define READ_CHUNK 65536
#define RATE_SLOTS 4096

enum conn_state { C_IDLE, C_READING, C_HANDLING, C_WRITING, C_DRAINING };

struct header {
	char *name, *value;
};

struct httpd_req {
	struct conn *c;
	enum http_method method;
	char *path, *query;
	struct header *h;
	size_t nh;
	struct buf body;
	uint64_t id;
	uint64_t t_start;
	const char *route;
};

struct conn {
	uv_tcp_t tcp; /* first: handle pointers cast back to the connection */
	uv_timer_t timer;
	struct httpd *srv;
	struct conn *prev, *next;
	http_parser parser;
	enum conn_state state;
	int open_handles;
	int closing;    /* uv_close called */
	int keep_alive; /* of the request being handled */
	int over_cap;
	char client[64];
	/* request being received */
	struct buf url;
	struct buf field, value; /* the header being received */
	int in_value;
	size_t header_bytes;
	int reject; /* status chosen by a callback (413, 431, 414) */
	const char *reject_msg;
	struct httpd_req req;
	struct buf pending; /* bytes received after a complete request */
	/* response being written */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct buf whead, wbody;
	/* or a body owned by the handler (httpd_respond_shared) */
	const char *wshared;
	size_t wshared_len;
	void (*wrelease)(void *arg);
	void *warg;
	int status;
};

struct rate_slot {
	char addr[64];
	double tokens;
	uint64_t last_ns;
};

struct httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct httpd_limits lim;
	httpd_handler_fn fn;
	void *arg;
	http_parser_settings settings;
	struct conn *conns;
	size_t nconns;
	int stopping, listener_open;
	int port;
	uint64_t next_id;
	struct rate_slot *rate;
	char *rbuf; /* one read buffer: libuv calls alloc_cb and read_cb back to back */
	char date[40];
	time_t date_t;
};

static uint64_t req_counter;

void httpd_limits_default(struct httpd_limits *lim)
{
	lim->max_connections = 1024;
	lim->max_body = 1 << 20;
	lim->max_headers = 100;
	lim->max_header_bytes = 16 << 10;
	lim->request_timeout_ms = 10000;
	lim->idle_timeout_ms = 60000;
	lim->rate_limit = 0;
}

const char *httpd_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Server Error";
	}
}

void httpd_error_json(struct buf *out, int status, const char *message)
{
	json_t *o = json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", message);
	if (!o) /* message was not UTF-8: never echo it */
		o = json_pack("{s:{s:i,s:s}}", "error", "status", status, "message",
		              httpd_status_text(status));
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	buf_adds(out, s);
	buf_addch(out, '\n');
	free(s);
	json_decref(o);
}

/* ------------------------------------------------------------ lifecycle */

static void conn_reset_request(struct conn *c)
{
	struct httpd_req *r = &c->req;
	for (size_t i = 0; i < r->nh; i++) {
		free(r->h[i].name);
		free(r->h[i].value);
	}
	free(r->h);
	free(r->path);
	free(r->query);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
	r->c = c;
	buf_reset(&c->url);
	buf_reset(&c->field);
	buf_reset(&c->value);
	c->in_value = 0;
	c->header_bytes = 0;
	c->reject = 0;
	c->reject_msg = NULL;
}

/* Done with the answer's body, whoever owns it. */
static void conn_body_done(struct conn *c)
{
	buf_free(&c->wbody);
	if (c->wrelease) {
		void (*fn)(void *) = c->wrelease;
		c->wrelease = NULL;
		c->wshared = NULL;
		c->wshared_len = 0;
		fn(c->warg);
	}
}

static void conn_free(struct conn *c)
{
	struct httpd *h = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (!c->over_cap)
		h->nconns--;
	metrics_gauge_set("cifeed_http_connections", NULL, (double)h->nconns);
	conn_reset_request(c);
	buf_free(&c->url);
	buf_free(&c->field);
	buf_free(&c->value);
	buf_free(&c->pending);
	buf_free(&c->whead);
	conn_body_done(c);
	free(c);
	if (h->stopping && !h->conns && !h->listener_open) {
		free(h->rate);
		free(h->rbuf);
		free(h);
	}
}

static void conn_handle_closed(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	if (--c->open_handles == 0 && c->state != C_HANDLING)
		conn_free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void timer_cb(uv_timer_t *t);

static void conn_timer(struct conn *c, uint64_t ms)
{
	if (!c->closing)
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ------------------------------------------------------------ writing */

static void date_header(struct httpd *h, char *out, size_t n)
{
	time_t now = time(NULL);
	if (now != h->date_t) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(h->date, sizeof(h->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		h->date_t = now;
	}
	snprintf(out, n, "%s", h->date);
}

static void alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *b);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void process(struct conn *c, const char *data, size_t len);

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

/* After an error answer: half-close, read and discard for a moment, close. */
static void conn_drain(struct conn *c)
{
	c->state = C_DRAINING;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) < 0) {
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	conn_timer(c, DRAIN_MS);
}

static void observe(struct conn *c)
{
	struct httpd_req *r = &c->req;
	const char *route = r->route ? r->route : "other";
	char labels[128];
	double secs = (double)(uv_hrtime() - r->t_start) / 1e9;
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	metrics_observe("cifeed_http_request_duration_seconds", labels, secs);
	snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"", route, c->status);
	metrics_counter_add("cifeed_http_requests_total", labels, 1);
	log_debug("http.request", "id=%llu client=%s method=%s path=%s status=%d ms=%.3f",
	          (unsigned long long)r->id, c->client, http_method_str(r->method),
	          r->path ? r->path : "-", c->status, secs * 1000);
}

static void write_cb(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	buf_free(&c->whead);
	conn_body_done(c);
	if (c->over_cap) {
		conn_close(c);
		return;
	}
	if (c->state == C_WRITING && c->req.t_start)
		observe(c);
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	if (c->state == C_DRAINING || c->reject) {
		conn_drain(c);
		return;
	}
	if (!c->keep_alive || c->srv->stopping) {
		conn_close(c);
		return;
	}
	/* ready for the next request on this connection */
	conn_reset_request(c);
	c->state = C_IDLE;
	http_parser_pause(&c->parser, 0);
	if (c->pending.len) {
		struct buf p = c->pending;
		memset(&c->pending, 0, sizeof(c->pending));
		process(c, p.ptr, p.len);
		buf_free(&p);
		return;
	}
	conn_timer(c, c->srv->lim.idle_timeout_ms);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* Weak comparison of If-None-Match against our strong tag (RFC 9110 13.1.2). */
static int etag_matches(const char *inm, const char *tag)
{
	size_t tl = strlen(tag);
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		const char *e = p;
		if (*e == '"') {
			e = strchr(e + 1, '"');
			if (!e)
				return 0;
			e++;
		} else {
			while (*e && *e != ',')
				e++;
		}
		if ((size_t)(e - p) == tl && !memcmp(p, tag, tl))
			return 1;
		p = e;
	}
	return 0;
}

/*
 * SipHash-2-4 (libsodium's crypto_shorthash) of the body under a fixed key,
 * plus the length: 64 bits tell two versions of one resource apart (an ETag
 * is no integrity check) at half BLAKE2b's cost per byte, and the same
 * answer has the same ETag on every restart and every replica.
 */
void httpd_etag(const char *body, size_t len, char out[36])
{
	static const unsigned char key[crypto_shorthash_KEYBYTES] = "cifeed-etag-v1!";
	unsigned char d[crypto_shorthash_BYTES];
	crypto_shorthash(d, (const unsigned char *)body, len, key);
	struct buf t = BUF_INIT;
	buf_addch(&t, '"');
	buf_addhex(&t, d, sizeof(d));
	buf_addf(&t, "-%zx\"", len);
	snprintf(out, 36, "%s", t.ptr);
	buf_free(&t);
}

/*
 * Write the answer: the body is `body` (taken) or, when body is NULL and
 * c->wrelease is set, the handler's c->wshared bytes.
 */
static void send_response(struct conn *c, int status, const char *ctype, struct buf *body,
                          const char *extra, int close_after, const char *given_etag)
{
	struct httpd *h = c->srv;
	struct httpd_req *r = &c->req;
	char date[40], etag[40] = "";
	int head = r->method == HTTP_HEAD;
	int shared = !body && c->wrelease;
	const char *bptr = shared ? c->wshared : body ? body->ptr : NULL;
	size_t blen = shared ? c->wshared_len : body ? body->len : 0;

	if (blen && status == 200 && (r->method == HTTP_GET || head)) {
		if (given_etag)
			snprintf(etag, sizeof(etag), "%s", given_etag);
		else
			httpd_etag(bptr, blen, etag);
		const char *inm = httpd_req_header(r, "If-None-Match");
		if (inm && etag_matches(inm, etag))
			status = 304;
	}
	c->status = status;
	if (close_after || h->stopping)
		c->keep_alive = 0;
	date_header(h, date, sizeof(date));
	buf_reset(&c->whead);
	buf_addf(&c->whead, "HTTP/1.1 %d %s\r\nServer: cifeed\r\nDate: %s\r\n", status,
	         httpd_status_text(status), date);
	if (status != 304 && status != 204) {
		if (ctype)
			buf_addf(&c->whead, "Content-Type: %s\r\n", ctype);
		buf_addf(&c->whead, "Content-Length: %zu\r\n", blen);
	}
	if (*etag)
		buf_addf(&c->whead, "ETag: %s\r\n", etag);
	if (extra)
		buf_adds(&c->whead, extra);
	buf_adds(&c->whead, c->keep_alive ? "" : "Connection: close\r\n");
	buf_adds(&c->whead, "\r\n");

	int with_body = !head && status != 304 && status != 204;
	if (!shared) {
		conn_body_done(c);
		if (body && with_body) {
			c->wbody = *body;
			memset(body, 0, sizeof(*body));
		} else if (body) {
			buf_free(body);
		}
		bptr = c->wbody.ptr;
		blen = c->wbody.len;
	} else if (!with_body) {
		conn_body_done(c); /* HEAD, 304: the handler's bytes are not needed */
		blen = 0;
	}
	uv_buf_t bufs[2] = {
	    uv_buf_init(c->whead.ptr, (unsigned)c->whead.len),
	    uv_buf_init((char *)bptr, (unsigned)blen),
	};
	c->wreq.data = c;
	if (c->state != C_DRAINING)
		c->state = C_WRITING;
	/* a client that does not read its answer is cut off like a slow sender */
	conn_timer(c, h->lim.request_timeout_ms);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, blen ? 2 : 1, write_cb) < 0) {
		buf_free(&c->whead);
		conn_body_done(c);
		conn_close(c);
	}
}

void httpd_respond_shared(struct httpd_req *r, int status, const char *content_type,
                          const char *body, size_t len, const char *extra_headers, const char *etag,
                          void (*release)(void *arg), void *arg)
{
	struct conn *c = r->c;
	if (c->state != C_HANDLING || c->closing) {
		release(arg);
		struct buf none = BUF_INIT;
		httpd_respond_etag(r, status, content_type, &none, extra_headers, NULL);
		return;
	}
	conn_body_done(c);
	c->wshared = body;
	c->wshared_len = len;
	c->wrelease = release;
	c->warg = arg;
	send_response(c, status, content_type, NULL, extra_headers, 0, etag);
}

void httpd_respond(struct httpd_req *r, int status, const char *content_type, struct buf *body,
                   const char *extra_headers)
{
	httpd_respond_etag(r, status, content_type, body, extra_headers, NULL);
}

void httpd_respond_etag(struct httpd_req *r, int status, const char *content_type, struct buf *body,
                        const char *extra_headers, const char *etag)
{
	struct conn *c = r->c;
	if (c->state != C_HANDLING) {
		log_error("http.bug", "event=%s", "respond outside of handling");
		if (body)
			buf_free(body);
		return;
	}
	if (c->closing) {
		/* the server stopped meanwhile: nothing to write to */
		if (body)
			buf_free(body);
		c->state = C_WRITING;
		if (c->open_handles == 0)
			conn_free(c);
		return;
	}
	send_response(c, status, content_type, body, extra_headers, 0, etag);
}

static void respond_errorv(struct conn *c, int status, const char *extra, int close_after,
                           const char *fmt, va_list ap)
{
	struct buf msg = BUF_INIT, body = BUF_INIT;
	buf_vaddf(&msg, fmt, ap);
	httpd_error_json(&body, status, msg.ptr);
	buf_free(&msg);
	send_response(c, status, "application/json", &body, extra, close_after, NULL);
	buf_free(&body);
}

void httpd_respond_error(struct httpd_req *r, int status, const char *extra_headers,
                         const char *fmt, ...)
{
	struct conn *c = r->c;
	if (c->state != C_HANDLING || c->closing) {
		struct buf none = BUF_INIT;
		httpd_respond(r, status, NULL, &none, NULL);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	respond_errorv(c, status, extra_headers, 0, fmt, ap);
	va_end(ap);
}

/* An error found while receiving: answer, then drain and close. */
static void reject(struct conn *c, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reject(struct conn *c, int status, const char *reason, const char *fmt, ...)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	metrics_counter_add("cifeed_http_rejected_total", labels, 1);
	log_info("http.rejected", "client=%s status=%d reason=%s", c->client, status, reason);
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reject = status;
	c->state = C_DRAINING;
	if (!c->req.t_start)
		c->req.t_start = uv_hrtime();
	c->req.route = "rejected";
	va_list ap;
	va_start(ap, fmt);
	respond_errorv(c, status, NULL, 1, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ rate limit */

static int rate_allow(struct httpd *h, const char *addr)
{
	if (!h->lim.rate_limit)
		return 1;
	if (!h->rate)
		h->rate = xcalloc(RATE_SLOTS, sizeof(*h->rate));
	uint64_t now = uv_hrtime();
	uint32_t hash = 2166136261u;
	for (const char *p = addr; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	double rate = h->lim.rate_limit;
	struct rate_slot *slot = NULL;
	for (int i = 0; i < 8; i++) {
		struct rate_slot *s = &h->rate[(hash + (uint32_t)i) % RATE_SLOTS];
		if (!strcmp(s->addr, addr)) {
			slot = s;
			break;
		}
		/* an empty slot, or one whose client has been quiet long enough to be full again */
		if (!slot && (!s->addr[0] || now - s->last_ns > 10ull * 1000000000))
			slot = s;
	}
	if (!slot)
		return 1; /* table crowded: fail open rather than punish a stranger */
	if (strcmp(slot->addr, addr)) {
		snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
		slot->tokens = rate;
		slot->last_ns = now;
	}
	slot->tokens += (double)(now - slot->last_ns) / 1e9 * rate;
	if (slot->tokens > rate)
		slot->tokens = rate;
	slot->last_ns = now;
	if (slot->tokens < 1)
		return 0;
	slot->tokens -= 1;
	return 1;
}

/* ------------------------------------------------------------ parsing */

static struct conn *conn_of(http_parser *p)
{
	return p->data;
}

static int too_big(struct conn *c, size_t more)
{
	c->header_bytes += more;
	if (c->header_bytes > c->srv->lim.max_header_bytes) {
		c->reject = 431;
		c->reject_msg = "request line and headers exceed the size limit";
		return 1;
	}
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = conn_of(p);
	c->state = C_READING;
	c->req.t_start = 0;
	/* the whole request must arrive within the deadline, however slowly it trickles */
	conn_timer(c, c->srv->lim.request_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->url.len + len > MAX_URL) {
		c->reject = 414;
		c->reject_msg = "request target too long";
		return 1;
	}
	if (too_big(c, len))
		return 1;
	buf_add(&c->url, at, len);
	return 0;
}

static void commit_header(struct conn *c)
{
	struct httpd_req *r = &c->req;
	r->h = xrealloc(r->h, (r->nh + 1) * sizeof(*r->h));
	r->h[r->nh].name = buf_detach(&c->field);
	r->h[r->nh].value = buf_detach(&c->value);
	r->nh++;
}

/* RFC 9110 5.1: a field name is a token; http_parser is lenient about it */
static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (too_big(c, len))
		return 1;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)at[i])) {
			c->reject = 400;
			c->reject_msg = "malformed request: invalid header field name";
			return 1;
		}
	if (c->in_value || !c->field.len) {
		if (c->in_value)
			commit_header(c);
		c->in_value = 0;
		if (c->req.nh + 1 > c->srv->lim.max_headers) {
			c->reject = 431;
			c->reject_msg = "too many header fields";
			return 1;
		}
	}
	buf_add(&c->field, at, len);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (too_big(c, len))
		return 1;
	c->in_value = 1;
	buf_add(&c->value, at, len);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = conn_of(p);
	if (c->in_value || c->field.len)
		commit_header(c);
	c->in_value = 0;
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->lim.max_body) {
		c->reject = 413;
		c->reject_msg = "request body exceeds the size limit";
		return -1; /* HPE_CB_headers_complete; -1 is not "skip body" (1) */
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->req.body.len + len > c->srv->lim.max_body) {
		c->reject = 413;
		c->reject_msg = "request body exceeds the size limit";
		return 1;
	}
	buf_add(&c->req.body, at, len);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = conn_of(p);
	c->state = C_HANDLING;
	uv_timer_stop(&c->timer);
	c->keep_alive = http_should_keep_alive(p);
	c->req.method = (enum http_method)p->method;
	c->req.t_start = uv_hrtime();
	http_parser_pause(p, 1); /* one request at a time; the rest waits in c->pending */
	return 0;
}

static void dispatch(struct conn *c)
{
	struct httpd *h = c->srv;
	struct httpd_req *r = &c->req;
	struct http_parser_url u;

	r->id = ++req_counter;
	uv_read_stop((uv_stream_t *)&c->tcp);
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url.ptr ? c->url.ptr : "", c->url.len,
	                          r->method == HTTP_CONNECT, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		reject(c, 400, "bad_target", "malformed request target");
		return;
	}
	r->path = xstrndup(c->url.ptr + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
	r->query =
	    (u.field_set & (1 << UF_QUERY))
	        ? xstrndup(c->url.ptr + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len)
	        : xstrdup("");
	if (r->path[0] != '/') {
		reject(c, 400, "bad_target", "request target must be an absolute path");
		return;
	}
	if (!rate_allow(h, c->client)) {
		metrics_counter_add("cifeed_http_rejected_total", "reason=\"rate_limit\"", 1);
		r->route = "rate_limited";
		struct buf body = BUF_INIT;
		httpd_error_json(&body, 429, "rate limit exceeded: slow down");
		send_response(c, 429, "application/json", &body, "Retry-After: 1\r\n", 0, NULL);
		buf_free(&body);
		return;
	}
	h->fn(r, h->arg);
}

/* Feed bytes to the parser; dispatch a complete request or reject errors. */
static void process(struct conn *c, const char *data, size_t len)
{
	size_t n = http_parser_execute(&c->parser, &c->srv->settings, data, len);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_PAUSED) {
		if (n < len)
			buf_add(&c->pending, data + n, len - n);
		dispatch(c);
		return;
	}
	if (e != HPE_OK) {
		if (c->reject) {
			const char *why = c->reject == 413   ? "body_too_large"
			                  : c->reject == 414 ? "target_too_long"
			                  : c->reject == 400 ? "malformed"
			                                     : "headers_too_large";
			reject(c, c->reject, why, "%s", c->reject_msg);
		} else {
			reject(c, 400, "malformed", "malformed request: %s",
			       http_errno_description(e));
		}
		return;
	}
	if (c->parser.upgrade) {
		reject(c, 400, "upgrade", "protocol upgrades are not supported");
		return;
	}
	if (c->state == C_IDLE)
		conn_timer(c, c->srv->lim.idle_timeout_ms);
	if (!uv_is_active((uv_handle_t *)&c->tcp))
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
	struct conn *c = hd->data;
	(void)suggested;
	b->base = c->srv->rbuf;
	b->len = READ_CHUNK;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = (struct conn *)s;
	if (nread < 0) {
		if (c->state == C_READING && nread == UV_EOF && !c->reject) {
			/* EOF in the middle of a request: nothing to answer */
			log_debug("http.incomplete", "client=%s", c->client);
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->closing || c->state == C_DRAINING)
		return;
	if (c->state == C_HANDLING || c->state == C_WRITING) {
		/* should not happen (reading is stopped), but never lose bytes */
		buf_add(&c->pending, b->base, (size_t)nread);
		return;
	}
	process(c, b->base, (size_t)nread);
}

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	switch (c->state) {
	case C_IDLE:
		conn_close(c);
		break;
	case C_READING:
		metrics_counter_add("cifeed_http_rejected_total", "reason=\"request_timeout\"", 1);
		log_info("http.timeout", "client=%s state=%s", c->client, "reading");
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reject = 408;
		c->state = C_DRAINING;
		c->req.t_start = uv_hrtime();
		c->req.route = "rejected";
		{
			struct buf body = BUF_INIT;
			httpd_error_json(&body, 408, "request not received in time");
			send_response(c, 408, "application/json", &body, NULL, 1, NULL);
			buf_free(&body);
		}
		break;
	case C_WRITING:
		log_info("http.timeout", "client=%s state=%s", c->client, "writing");
		conn_close(c);
		break;
	case C_DRAINING:
		conn_close(c);
		break;
	case C_HANDLING:
		break;
	}
}

/* ------------------------------------------------------------ accept */

static void peer_name(uv_tcp_t *t, char *out, size_t n)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	snprintf(out, n, "unknown");
	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, out, n);
	else if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, out, n);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct httpd *h = server->data;
	if (status < 0) {
		log_warn("http.accept_error", "error=%s", uv_strerror(status));
		return;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	c->srv = h;
	c->req.c = c;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		c->over_cap = 1;
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(&c->tcp, c->client, sizeof(c->client));
	if (h->nconns >= h->lim.max_connections || h->stopping) {
		/* over the cap: say so and hang up, without counting it */
		c->over_cap = 1;
		metrics_counter_add("cifeed_http_rejected_total", "reason=\"connection_cap\"", 1);
		struct buf body = BUF_INIT;
		httpd_error_json(&body, 503, "too many connections");
		c->req.method = HTTP_GET;
		send_response(c, 503, "application/json", &body, "Retry-After: 1\r\n", 1, NULL);
		buf_free(&body);
		return;
	}
	h->nconns++;
	metrics_gauge_set("cifeed_http_connections", NULL, (double)h->nconns);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = C_IDLE;
	conn_timer(c, h->lim.idle_timeout_ms);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static int resolve(const char *listen, struct sockaddr_storage *ss, int *port, struct err *err)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return err_set(err, ERR_CONFIG, "listen address '%s' is not HOST:PORT", listen);
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 0 || p > 65535)
		return err_set(err, ERR_CONFIG, "listen address '%s': bad port", listen);
	char host[256];
	size_t hl = (size_t)(colon - listen);
	if (hl >= sizeof(host))
		return err_set(err, ERR_CONFIG, "listen address '%s': host too long", listen);
	memcpy(host, listen, hl);
	host[hl] = 0;
	*port = (int)p;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = 0;
		if (uv_ip6_addr(host + 1, (int)p, (struct sockaddr_in6 *)ss) == 0)
			return 0;
	} else if (!strcmp(host, "localhost")) {
		return uv_ip4_addr("127.0.0.1", (int)p, (struct sockaddr_in *)ss) == 0 ? 0 : -1;
	} else if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) == 0) {
		return 0;
	}
	return err_set(err, ERR_CONFIG,
	               "listen address '%s': host must be an IP address ([::1] for IPv6) or "
	               "localhost",
	               listen);
}

static void listener_closed(uv_handle_t *hd)
{
	struct httpd *h = hd->data;
	h->listener_open = 0;
	if (!h->conns) {
		free(h->rate);
		free(h->rbuf);
		free(h);
	}
}

int httpd_start(struct httpd **out, uv_loop_t *loop, const char *listen,
                const struct httpd_limits *lim, httpd_handler_fn fn, void *arg, struct err *err)
{
	struct sockaddr_storage ss;
	int port, r;
	memset(&ss, 0, sizeof(ss));
	if (resolve(listen, &ss, &port, err) < 0)
		return -1;
	if (sodium_init() < 0)
		return err_set(err, ERR_INTERNAL, "libsodium failed to initialise");
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->rbuf = xmalloc(READ_CHUNK);
	h->loop = loop;
	h->lim = *lim;
	h->fn = fn;
	h->arg = arg;
	h->settings.on_message_begin = on_message_begin;
	h->settings.on_url = on_url;
	h->settings.on_header_field = on_header_field;
	h->settings.on_header_value = on_header_value;
	h->settings.on_headers_complete = on_headers_complete;
	h->settings.on_body = on_body;
	h->settings.on_message_complete = on_message_complete;
	uv_tcp_init(loop, &h->listener);
	h->listener.data = h;
	h->listener_open = 1;
	if ((r = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&h->listener, 511, on_connection)) < 0) {
		err_set(err, ERR_CONFIG, "listen on %s: %s", listen, uv_strerror(r));
		/* freed by the close callback when the daemon's loop winds down */
		h->stopping = 1;
		uv_close((uv_handle_t *)&h->listener, listener_closed);
		*out = NULL;
		return -1;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen) == 0)
		h->port =
		    ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
		                                      : ((struct sockaddr_in *)&bound)->sin_port);
	metrics_declare("cifeed_http_requests_total", METRIC_COUNTER,
	                "HTTP requests answered, by route and status code");
	metrics_declare("cifeed_http_request_duration_seconds", METRIC_HISTOGRAM,
	                "time from a complete request to its answer written, by route");
	metrics_declare("cifeed_http_connections", METRIC_GAUGE, "open HTTP connections");
	metrics_declare("cifeed_http_rejected_total", METRIC_COUNTER,
	                "requests and connections refused by a limit, by reason");
	metrics_gauge_set("cifeed_http_connections", NULL, 0);
	*out = h;
	return 0;
}

void httpd_set_limits(struct httpd *h, const struct httpd_limits *lim)
{
	h->lim = *lim;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

size_t httpd_connections(const struct httpd *h)
{
	return h->nconns;
}

void httpd_stop(struct httpd *h)
{
	if (!h || h->stopping)
		return;
	h->stopping = 1;
	uv_close((uv_handle_t *)&h->listener, listener_closed);
	for (struct conn *c = h->conns, *next; c; c = next) {
		next = c->next;
		if (c->state == C_IDLE || c->state == C_READING || c->state == C_DRAINING)
			conn_close(c);
		else
			c->keep_alive = 0; /* finish the answer, then close */
	}
}

/* ------------------------------------------------------------ accessors */

enum http_method httpd_req_method(const struct httpd_req *r)
{
	return r->method;
}

const char *httpd_req_method_name(const struct httpd_req *r)
{
	return http_method_str(r->method);
}

const char *httpd_req_path(const struct httpd_req *r)
{
	return r->path ? r->path : "/";
}

const char *httpd_req_query(const struct httpd_req *r)
{
	return r->query ? r->query : "";
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < r->nh; i++)
		if (!strcasecmp(r->h[i].name, name))
			v = r->h[i].value;
	return v;
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.ptr ? r->body.ptr : "";
}

const char *httpd_req_client(const struct httpd_req *r)
{
	return r->c->client;
}

uint64_t httpd_req_id(const struct httpd_req *r)
{
	return r->id;
}

void httpd_req_set_route(struct httpd_req *r, const char *route)
{
	r->route = route;
}
