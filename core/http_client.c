/*
 * http_client.c - curl multi on a libuv loop (see http_client.h).
 *
 * The usual socket-action integration: curl tells us which sockets to
 * watch (socket callback -> one uv_poll_t per socket) and when to call it
 * back (timer callback -> one uv_timer_t); libuv tells curl when a socket
 * is ready or the timer fired (curl_multi_socket_action), and finished
 * transfers are collected with curl_multi_info_read.  The poll handle of a
 * socket is closed as soon as curl says REMOVE; curl may reuse the fd at
 * once, which is fine because uv_close() stops watching synchronously.
 */
#include "http_client.h"
#include "log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_MS      10000
#define DEFAULT_TIMEOUT_MS      60000
#define DEFAULT_MAX_BODY        (64u << 20)
#define DEFAULT_LOW_SPEED_LIMIT 10

struct http_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct http_transfer *active; /* doubly linked */
	size_t nactive;
	int closing;
	int open_handles; /* timer + socket polls not yet closed */
	struct sock_ctx *socks;
	void (*closed)(void *);
	void *closed_arg;
};

struct http_transfer {
	struct http_client *c;
	struct http_transfer *prev, *next;
	CURL *easy;
	struct curl_slist *hdrs;
	http_done_cb cb;
	void *arg;
	char *url;
	size_t max_body;
	int too_large;
	int header_done; /* a blank line ended the current header block */
	char errbuf[CURL_ERROR_SIZE];
	struct http_result res;
	struct buf msg;
};

struct sock_ctx {
	struct http_client *c;
	struct sock_ctx *prev, *next; /* every socket we watch, for closing */
	uv_poll_t poll;
	curl_socket_t fd;
	int closing;
};

static void maybe_free_client(struct http_client *c);

/* ------------------------------------------------------------ results */

const char *http_error_name(enum http_error e)
{
	static const char *names[] = {"ok",        "resolve",   "connect", "timeout",  "reset",
	                              "truncated", "too_large", "tls",     "protocol", "other"};
	return (size_t)e < sizeof(names) / sizeof(*names) ? names[e] : "other";
}

const char *http_result_header(const struct http_result *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

static void clear_headers(struct http_result *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

static enum http_error classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTP_E_RESOLVE;
	case CURLE_COULDNT_CONNECT:
		return HTTP_E_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_E_TIMEOUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return HTTP_E_RESET;
	case CURLE_PARTIAL_FILE:
		return HTTP_E_TRUNCATED;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_E_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return HTTP_E_TLS;
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return HTTP_E_PROTOCOL;
	default:
		return HTTP_E_OTHER;
	}
}

/* ------------------------------------------------------------ curl callbacks */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_transfer *t = ud;
	size_t n = size * nmemb;
	if (t->res.body.len + n > t->max_body) {
		t->too_large = 1;
		return 0; /* aborts with CURLE_WRITE_ERROR */
	}
	buf_add(&t->res.body, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_transfer *t = ud;
	size_t n = size * nmemb, len = n;
	while (len && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
		len--;
	if (len >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		/* a new response (after 1xx or an auth round): forget the previous headers */
		clear_headers(&t->res);
		t->header_done = 0;
		return n;
	}
	if (len == 0) {
		t->header_done = 1;
		return n;
	}
	if ((ptr[0] == ' ' || ptr[0] == '\t') && t->res.nheaders) {
		/* obsolete line folding: continue the previous value */
		struct http_header *h = &t->res.headers[t->res.nheaders - 1];
		struct buf v = BUF_INIT;
		buf_adds(&v, h->value);
		buf_addch(&v, ' ');
		size_t i = 0;
		while (i < len && (ptr[i] == ' ' || ptr[i] == '\t'))
			i++;
		buf_add(&v, ptr + i, len - i);
		free(h->value);
		h->value = buf_detach(&v);
		return n;
	}
	const char *colon = memchr(ptr, ':', len);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - ptr);
	const char *v = colon + 1, *ve = ptr + len;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	t->res.headers = xrealloc(t->res.headers, (t->res.nheaders + 1) * sizeof(*t->res.headers));
	struct http_header *h = &t->res.headers[t->res.nheaders++];
	h->name = xstrndup(ptr, nl);
	for (char *p = h->name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	h->value = xstrndup(v, (size_t)(ve - v));
	return n;
}

/* ------------------------------------------------------------ loop glue */

static void check_done(struct http_client *c);

static void sock_closed(uv_handle_t *h)
{
	struct sock_ctx *s = h->data;
	struct http_client *c = s->c;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
	c->open_handles--;
	maybe_free_client(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sock_ctx *s = h->data;
	struct http_client *c = s->c;
	int flags = 0, running;
	if (c->closing || s->closing)
		return;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_ctx *s = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s && !s->closing) {
			s->closing = 1;
			uv_poll_stop(&s->poll);
			if (!c->closing)
				curl_multi_assign(c->multi, fd, NULL);
			uv_close((uv_handle_t *)&s->poll, sock_closed);
		}
		return 0;
	}
	if (c->closing)
		return 0;
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		s->fd = fd;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		c->open_handles++;
		s->next = c->socks;
		if (c->socks)
			c->socks->prev = s;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void on_timer(uv_timer_t *h)
{
	struct http_client *c = h->data;
	int running;
	if (c->closing)
		return;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	(void)multi;
	if (c->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else /* 0 too: never call socket_action from inside a curl callback */
		uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ------------------------------------------------------------ transfers */

static void unlink_transfer(struct http_transfer *t)
{
	struct http_client *c = t->c;
	if (t->prev)
		t->prev->next = t->next;
	else
		c->active = t->next;
	if (t->next)
		t->next->prev = t->prev;
	c->nactive--;
}

static void free_transfer(struct http_transfer *t)
{
	if (t->easy) {
		if (t->c->multi)
			curl_multi_remove_handle(t->c->multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->hdrs);
	clear_headers(&t->res);
	buf_free(&t->res.body);
	buf_free(&t->msg);
	free(t->url);
	free(t);
}

static void finish(struct http_transfer *t, CURLcode rc)
{
	struct http_result *r = &t->res;
	long status = 0;
	double secs = 0;
	curl_off_t hdr = 0, body = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &secs);
	curl_easy_getinfo(t->easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
	long hsize = 0;
	curl_easy_getinfo(t->easy, CURLINFO_HEADER_SIZE, &hsize);
	hdr = hsize;
	r->status = status;
	r->seconds = secs;
	r->wire_bytes = (uint64_t)(hdr + body);
	r->url = t->url;
	r->error = classify(rc);
	if (t->too_large) {
		r->error = HTTP_E_TOO_LARGE;
		buf_addf(&t->msg, "response body larger than the %zu-byte limit", t->max_body);
	} else if (rc == CURLE_FILESIZE_EXCEEDED) {
		buf_addf(&t->msg, "response body larger than the %zu-byte limit (Content-Length)",
		         t->max_body);
	} else if (rc != CURLE_OK) {
		static const char *what[] = {"",
		                             "cannot resolve the host",
		                             "cannot connect",
		                             "timed out",
		                             "connection reset or closed early",
		                             "truncated body",
		                             "body too large",
		                             "TLS failure",
		                             "malformed HTTP",
		                             "transfer failed"};
		buf_addf(&t->msg, "%s: %s", what[r->error],
		         t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
		buf_rtrim(&t->msg);
	}
	r->message = buf_cstr(&t->msg);
	if (log_enabled(LOG_TRACE)) {
		struct buf u = BUF_INIT;
		http_url_redact(&u, t->url);
		log_trace("http.response",
		          "url=%s status=%ld error=%s bytes=%zu wire=%llu time=%.3f", u.ptr, status,
		          http_error_name(r->error), r->body.len, (unsigned long long)r->wire_bytes,
		          secs);
		for (size_t i = 0; i < r->nheaders; i++)
			log_trace("http.header", "url=%s name=%s value=%s", u.ptr,
			          r->headers[i].name, r->headers[i].value);
		buf_free(&u);
	}
	unlink_transfer(t);
	http_done_cb cb = t->cb;
	void *arg = t->arg;
	cb(t, r, arg);
	free_transfer(t);
}

static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct http_transfer *t = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t)
			finish(t, m->data.result);
	}
}

int http_client_new(uv_loop_t *loop, struct http_client **out, struct err *err)
{
	static int global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(err, ERR_INTERNAL, "curl_global_init failed");
		global_done = 1;
	}
	struct http_client *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->multi = curl_multi_init();
	if (!c->multi) {
		free(c);
		return err_set(err, ERR_INTERNAL, "curl_multi_init failed");
	}
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*out = c;
	return 0;
}

size_t http_client_active(const struct http_client *c)
{
	return c->nactive;
}

int http_get(struct http_client *c, const struct http_options *o, http_done_cb cb, void *arg,
             struct http_transfer **out, struct err *err)
{
	if (c->closing)
		return err_set(err, ERR_INTERNAL, "http client is closing");
	struct http_transfer *t = xcalloc(1, sizeof(*t));
	t->c = c;
	t->cb = cb;
	t->arg = arg;
	t->url = xstrdup(o->url);
	t->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	t->easy = curl_easy_init();
	if (!t->easy) {
		free(t->url);
		free(t);
		return err_set(err, ERR_INTERNAL, "curl_easy_init failed");
	}
	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_path)
		curl_easy_setopt(e, o->ca_is_dir ? CURLOPT_CAPATH : CURLOPT_CAINFO, o->ca_path);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can decode */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cifeed/" CIFEED_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	                 o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (o->low_speed_time_s > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
		                 o->low_speed_limit > 0 ? o->low_speed_limit
		                                        : DEFAULT_LOW_SPEED_LIMIT);
	}
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body);
	for (const char *const *h = o->headers; h && *h; h++)
		t->hdrs = curl_slist_append(t->hdrs, *h);
	if (t->hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdrs);
	if (log_enabled(LOG_TRACE)) {
		struct buf u = BUF_INIT, names = BUF_INIT;
		http_url_redact(&u, t->url);
		for (const char *const *h = o->headers; h && *h; h++) {
			const char *colon = strchr(*h, ':');
			buf_addf(&names, "%s%.*s", names.len ? "," : "",
			         (int)(colon ? colon - *h : (ptrdiff_t)strlen(*h)), *h);
		}
		log_trace("http.request", "method=GET url=%s headers=%s", u.ptr, buf_cstr(&names));
		buf_free(&u);
		buf_free(&names);
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		t->easy = NULL;
		curl_easy_cleanup(e);
		free_transfer(t);
		return err_set(err, ERR_INTERNAL, "curl_multi_add_handle failed");
	}
	t->next = c->active;
	if (c->active)
		c->active->prev = t;
	c->active = t;
	c->nactive++;
	if (out)
		*out = t;
	return 0;
}

void http_cancel(struct http_transfer *t)
{
	if (!t)
		return;
	unlink_transfer(t);
	free_transfer(t);
}

static void timer_closed(uv_handle_t *h)
{
	struct http_client *c = h->data;
	c->open_handles--;
	maybe_free_client(c);
}

static void maybe_free_client(struct http_client *c)
{
	if (!c->closing || c->open_handles)
		return;
	void (*closed)(void *) = c->closed;
	void *arg = c->closed_arg;
	free(c);
	if (closed)
		closed(arg);
}

void http_client_close(struct http_client *c, void (*closed)(void *), void *arg)
{
	if (!c || c->closing)
		return;
	while (c->active)
		http_cancel(c->active);
	c->closing = 1;
	c->closed = closed;
	c->closed_arg = arg;
	/* closes cached connections; curl reports their sockets as REMOVE */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	for (struct sock_ctx *s = c->socks; s; s = s->next) {
		if (!s->closing) {
			s->closing = 1;
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, sock_closed);
		}
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* ------------------------------------------------------------ URLs */

static int secret_param(const char *name, size_t len)
{
	static const char *names[] = {"private_token", "access_token", "token",    "key",
	                              "api_key",       "apikey",       "password", "passwd",
	                              "secret",        "auth",         "sig",      "signature"};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strlen(names[i]) == len && !strncasecmp(name, names[i], len))
			return 1;
	return 0;
}

void http_url_redact(struct buf *out, const char *url)
{
	if (!url) {
		buf_adds(out, "(none)");
		return;
	}
	const char *scheme_end = strstr(url, "://");
	const char *p = url;
	if (scheme_end) {
		const char *auth = scheme_end + 3;
		size_t alen = strcspn(auth, "/?#");
		const char *at = memchr(auth, '@', alen);
		buf_add(out, url, (size_t)(auth - url));
		if (at) {
			buf_adds(out, "[REDACTED]@");
			p = at + 1;
		} else {
			p = auth;
		}
	}
	const char *q = strchr(p, '?');
	if (!q) {
		buf_adds(out, p);
		return;
	}
	buf_add(out, p, (size_t)(q + 1 - p));
	p = q + 1;
	while (*p) {
		size_t plen = strcspn(p, "&#");
		const char *eq = memchr(p, '=', plen);
		if (eq && secret_param(p, (size_t)(eq - p))) {
			buf_add(out, p, (size_t)(eq + 1 - p));
			buf_adds(out, "[REDACTED]");
		} else {
			buf_add(out, p, plen);
		}
		p += plen;
		if (*p == '#') {
			buf_adds(out, p);
			break;
		}
		if (*p == '&')
			buf_addch(out, *p++);
	}
}

char *http_url_origin(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end)
		return NULL;
	size_t sl = (size_t)(scheme_end - url);
	int https = sl == 5 && !strncasecmp(url, "https", 5);
	if (!https && !(sl == 4 && !strncasecmp(url, "http", 4)))
		return NULL;
	const char *auth = scheme_end + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *x = auth; x < auth + alen; x++)
		if (*x == '@')
			at = x;
	const char *host = at ? at + 1 : auth;
	size_t hlen = (size_t)(auth + alen - host);
	if (!hlen)
		return NULL;
	struct buf b = BUF_INIT;
	buf_adds(&b, https ? "https://" : "http://");
	for (size_t i = 0; i < hlen; i++)
		buf_addch(&b, tolower((unsigned char)host[i]));
	/* a port is present unless the authority ends in "]" (IPv6) or has no ':' after it */
	const char *lastcolon = NULL;
	for (size_t i = 0; i < hlen; i++)
		if (host[i] == ':')
			lastcolon = host + i;
	int has_port = lastcolon && !memchr(lastcolon, ']', (size_t)(host + hlen - lastcolon));
	if (!has_port)
		buf_adds(&b, https ? ":443" : ":80");
	return buf_detach(&b);
}
