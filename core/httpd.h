/*
 * httpd.h - a small HTTP/1.1 server on a libuv loop.
 *
 * Request parsing is libhttp-parser's (Node's original parser: small,
 * fuzzed for a decade, no allocation of its own); everything around it is
 * ours, so every limit is enforced here and nowhere else:
 *   max_connections   connections beyond it get a 503 and are closed
 *   max_body          a larger Content-Length (or chunked body) gets a 413
 *   max_headers       more header fields get a 431
 *   max_header_bytes  request line + headers larger than this get a 431
 *   request_timeout   a request must arrive whole (first byte to last) in
 *                     this time, or it gets a 408: slowloris clients that
 *                     dribble a header a second are cut off at the limit
 *   idle_timeout      an idle keep-alive connection is closed after it
 *   rate_limit        requests per second per client address (token
 *                     bucket, burst of one second); beyond it a 429
 * After an error response the connection is half-closed and drained for a
 * moment (as nginx's lingering close does) so the client reads the answer
 * instead of a reset.
 *
 * Keep-alive and pipelining: one request per connection is handled at a
 * time; bytes that arrive behind it wait in the connection until its
 * response is written.
 *
 * The handler is called on the loop for each complete request and must
 * answer it exactly once with httpd_respond() - at once or later (after
 * work on another thread): the request stays valid until then, even if the
 * client goes away meanwhile.  GET and HEAD answers with status 200 get a
 * strong ETag (SipHash of the body and its length); a matching If-None-Match turns them
 * into 304 Not Modified.  HEAD answers carry no body.
 *
 * Metrics (metrics.h): cifeed_http_requests_total{route,code},
 * cifeed_http_request_duration_seconds{route} (request complete to
 * response written), cifeed_http_connections (gauge),
 * cifeed_http_rejected_total{reason}.
 */
#ifndef CIFEED_HTTPD_H
#define CIFEED_HTTPD_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "err.h"

struct httpd;
struct httpd_req;

struct httpd_limits {
	size_t max_connections;
	size_t max_body;
	size_t max_headers;
	size_t max_header_bytes;
	uint64_t request_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned rate_limit; /* 0 = off */
};

/* The defaults documented in cifeed.conf ([serve] keys). */
void httpd_limits_default(struct httpd_limits *lim);

typedef void (*httpd_handler_fn)(struct httpd_req *req, void *arg);

/*
 * Listen on `listen` ("127.0.0.1:8080", "[::1]:8080", "localhost:8080";
 * port 0 picks a free port, see httpd_port).  Returns 0 or -1 with err.
 */
int httpd_start(struct httpd **out, uv_loop_t *loop, const char *listen,
                const struct httpd_limits *lim, httpd_handler_fn fn, void *arg, struct err *err);
/* New limits apply to new requests (SIGHUP). */
void httpd_set_limits(struct httpd *h, const struct httpd_limits *lim);
/*
 * Stop listening, close idle connections, let answers in progress finish
 * (their connections close after the write).  The server frees itself once
 * every handle is closed; `h` must not be used after this call.
 */
void httpd_stop(struct httpd *h);
int httpd_port(const struct httpd *h);
size_t httpd_connections(const struct httpd *h);

/* ---- the request (valid until httpd_respond) ---- */
enum http_method httpd_req_method(const struct httpd_req *r);
const char *httpd_req_method_name(const struct httpd_req *r);
/* Path as received (percent-encoded), without the query; "/" at least. */
const char *httpd_req_path(const struct httpd_req *r);
/* Raw query string after '?', or "". */
const char *httpd_req_query(const struct httpd_req *r);
/* Last value of a header (case-insensitive name), or NULL. */
const char *httpd_req_header(const struct httpd_req *r, const char *name);
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
/* Client address as text ("127.0.0.1"). */
const char *httpd_req_client(const struct httpd_req *r);
/* A per-process request number for logs and error messages. */
uint64_t httpd_req_id(const struct httpd_req *r);
/* Name the route for metrics labels (a static string; default "other"). */
void httpd_req_set_route(struct httpd_req *r, const char *route);

/*
 * Answer the request.  `body` is taken (left empty); NULL means no body.
 * `extra_headers` is zero or more complete "Name: value\r\n" lines.
 */
void httpd_respond(struct httpd_req *r, int status, const char *content_type, struct buf *body,
                   const char *extra_headers);
/*
 * The strong ETag httpd_respond would compute for `body` ("\"<16 hex>-<len hex>\"");
 * thread-safe, so a worker can hash a large answer off the loop and hand it
 * to httpd_respond_etag().
 */
void httpd_etag(const char *body, size_t len, char out[36]);
/* httpd_respond with the body's ETag already computed (NULL: compute it). */
void httpd_respond_etag(struct httpd_req *r, int status, const char *content_type, struct buf *body,
                        const char *extra_headers, const char *etag);
/*
 * httpd_respond_etag with a body the server does not own (a cached answer):
 * `body` must stay valid until release(arg) is called - on the loop, once
 * the answer is written or the connection is gone, at once when no body is
 * sent (HEAD, 304 Not Modified).  `etag` (NULL: computed) is copied.
 */
void httpd_respond_shared(struct httpd_req *r, int status, const char *content_type,
                          const char *body, size_t len, const char *extra_headers, const char *etag,
                          void (*release)(void *arg), void *arg);
/* Answer with the JSON error document {"error":{"status":N,"message":"..."}}. */
void httpd_respond_error(struct httpd_req *r, int status, const char *extra_headers,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Append the JSON error document to out (shared with the API). */
void httpd_error_json(struct buf *out, int status, const char *message);

const char *httpd_status_text(int status);

#endif
