/*
 * http_client.h - HTTP GETs on the libuv loop: libcurl's multi interface
 * driven by libuv socket and timer callbacks.
 *
 * One client per loop holds one curl multi handle, so connections (and
 * HTTP/2 streams) are reused across requests to the same host; DNS runs in
 * curl's resolver threads.  Nothing here blocks: callbacks only move bytes
 * into buffers.  Every transfer has connect, total and low-speed timeouts,
 * a cap on the (decoded) body size, compressed responses accepted, TLS
 * verification always on (a CA file or directory may be given), redirects
 * never followed (a redirect is reported; credentials never travel to
 * another host), proxies from the usual environment variables (http_proxy,
 * https_proxy, no_proxy), and only http:// and https:// URLs.
 *
 * Ownership: the caller owns the options and may free them once http_get()
 * returns (everything is copied).  The result handed to the done callback
 * belongs to the client and is valid only during the callback.  A
 * transfer ends exactly once: with the done callback, or silently after
 * http_cancel().
 *
 * Thread: the loop thread only.
 */
#ifndef CIFEED_HTTP_CLIENT_H
#define CIFEED_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "err.h"

struct http_client;
struct http_transfer;

struct http_options {
	const char *url;
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	long connect_timeout_ms;    /* 0: 10 s */
	long timeout_ms;            /* whole transfer; 0: 60 s */
	long low_speed_time_s;      /* abort below low_speed_limit bytes/s for this long; 0: off */
	long low_speed_limit;       /* 0: 10 bytes/s */
	size_t max_body;            /* abort past this many (decoded) body bytes; 0: 64 MiB */
	const char *ca_path;        /* CA bundle file, or hashed directory; NULL: system */
	int ca_is_dir;              /* ca_path is a directory (decided once, off the loop) */
};

/* Why a transfer failed (also a metrics label: http_error_name()). */
enum http_error {
	HTTP_OK = 0,      /* an HTTP answer arrived (any status) */
	HTTP_E_RESOLVE,   /* DNS */
	HTTP_E_CONNECT,   /* refused, unreachable */
	HTTP_E_TIMEOUT,   /* total or connect timeout, or too slow (low-speed) */
	HTTP_E_RESET,     /* connection reset / closed mid-transfer */
	HTTP_E_TRUNCATED, /* body shorter than announced */
	HTTP_E_TOO_LARGE, /* body over max_body */
	HTTP_E_TLS,       /* handshake or certificate verification */
	HTTP_E_PROTOCOL,  /* malformed HTTP, bad encoding */
	HTTP_E_OTHER,
};

struct http_header {
	char *name;  /* lower-case */
	char *value; /* trimmed */
};

struct http_result {
	enum http_error error;
	long status;         /* HTTP status, 0 when none arrived */
	const char *message; /* what went wrong (curl's words plus context), "" when OK */
	const char *url;
	struct buf body;             /* decoded body; NUL-terminated */
	struct http_header *headers; /* of the final response */
	size_t nheaders;
	double seconds;      /* total time */
	uint64_t wire_bytes; /* bytes received on the wire (headers + possibly compressed body) */
};

typedef void (*http_done_cb)(struct http_transfer *t, const struct http_result *res, void *arg);

int http_client_new(uv_loop_t *loop, struct http_client **out, struct err *err);
/*
 * Cancel every transfer (no callbacks), close the loop handles and free
 * the client once they are closed; `closed` (may be NULL) is called then.
 */
void http_client_close(struct http_client *c, void (*closed)(void *), void *arg);
/* Transfers in progress. */
size_t http_client_active(const struct http_client *c);

/* Start a GET.  Returns 0 (cb will be called once) or -1 with err set. */
int http_get(struct http_client *c, const struct http_options *o, http_done_cb cb, void *arg,
             struct http_transfer **out, struct err *err);
/* Abort a transfer; its callback is never called. */
void http_cancel(struct http_transfer *t);

const char *http_error_name(enum http_error e);
/* A header of a result by (case-insensitive) name, or NULL. */
const char *http_result_header(const struct http_result *r, const char *name);

/*
 * Append `url` with secrets removed: user:password@ becomes [REDACTED]@ and
 * the values of query parameters that commonly carry credentials
 * (private_token, access_token, token, key, password, ...) become
 * [REDACTED].  Used for every URL that goes into a log line or an error.
 */
void http_url_redact(struct buf *out, const char *url);

/* "scheme://host:port" of an http(s) URL (default ports filled in), or NULL. */
char *http_url_origin(const char *url);

#endif
