/*
 * adapter.h - source types: the upstreams cifeed polls.
 *
 * Each source type is one file in adapters/ exporting one
 * `const struct adapter`, listed in adapters/registry.c, in the manner of
 * curl's protocol handlers.  The core never names a source type; it looks
 * one up by the `type` key of a [source "NAME"] section and calls through
 * the table.  There are two kinds:
 *
 * HTTP sources (gitlab, gerrit, kernelci, patchwork) supply `begin` and
 * `parse`; the polling engine (core/poller.h) does all I/O.  A poll cycle:
 *
 *     begin(src, cursor, now)            -> the first request(s)
 *     for each request:
 *         GET it (curl multi on the libuv loop, retries, rate limits)
 *         parse(src, request, response)  -> KCIDB objects, follow-up
 *                                           requests, a cursor update
 *
 * `parse` is pure: it sees only its arguments (bytes in, objects and the
 * next requests and cursor out), never the network, the store, the clock
 * or a secret, so every adapter is tested from recorded fixtures and runs
 * on any worker thread.
 *
 * Units.  Requests are grouped into units, and a unit is committed in ONE
 * store transaction together with its cursor update: either every object a
 * unit produced and its cursor are stored, or neither is.  Each request
 * returned by `begin`, and each follow-up flagged ADAPTER_REQ_NEXT (the
 * next page of a listing), starts a new unit; any other follow-up belongs
 * to the unit of the response that asked for it (the jobs of a pipeline on
 * that page).  Units of one source run one after another, in the order
 * they were asked for; requests inside a unit run concurrently (subject to
 * the per-host limit).  A unit whose requests fail is not committed, and
 * the cycle stops there; the next cycle starts again from the committed
 * cursor, so adapters must produce the same objects again (objects are
 * deduplicated by id when stored).
 *
 * Cursors are JSON objects owned by the adapter.  A unit's cursor update
 * is shallow-merged into the source's cursor (the update's top-level keys
 * replace the old ones; a key set to JSON null is removed), so an adapter
 * walking several listings (GitLab projects) keeps one key per listing.
 *
 * Merge rule reminder (schema/merge-rule.md): the first non-null value of
 * a field wins.  An adapter must therefore emit a field only once it is
 * final (no status while a job runs) and must build each object from one
 * kind of response, so the stored result does not depend on the order in
 * which responses arrive.
 *
 * Local sources (public-inbox: a git archive on disk, no HTTP) supply
 * `poll_local` instead; it runs one cycle on a worker thread with its own
 * store connection and commits its objects and its cursor itself, in the
 * same transactions (sources_cursor_save() in core/sources.h).
 *
 * Configuration: the common source keys live in core/config.c
 * (type, enabled, interval, url, token-file, token-env, ca-path, origin);
 * an adapter lists its own keys in `config_keys` (HTTP adapters include
 * ADAPTER_HTTP_CONFIG_KEYS, the engine's tuning knobs) and digests them
 * once in `init`.
 */
#ifndef CIFEED_ADAPTER_H
#define CIFEED_ADAPTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "kcidb.h"

struct store;
struct adapter;

/*
 * One configured [source "NAME"], as adapters see it.  Built by
 * adapter_source_new(); immutable afterwards (parse runs on worker
 * threads), replaced as a whole when the configuration is reloaded.  The
 * token is deliberately not here: only `auth` ever sees it.
 */
struct adapter_source {
	char *name; /* the section name */
	const struct adapter *adapter;
	char *origin;      /* KCIDB origin of every object this source creates */
	char *url;         /* `url` without trailing '/', or NULL */
	int authenticated; /* token-file or token-env is configured */
	void *priv;        /* the adapter's digested configuration (init/fini) */
};

/* Request flags. */
enum {
	ADAPTER_REQ_NEXT = 1u << 0, /* starts a new unit (next page); else joins the current one */
	ADAPTER_REQ_OPTIONAL = 1u << 1, /* a 404/410 answer is passed to parse, not a failure */
	ADAPTER_REQ_RAW = 1u << 2,      /* the body is not JSON (no content-type check) */
};

/* One GET the adapter wants made. */
struct adapter_request {
	char *url;      /* absolute; never carries a secret */
	unsigned kind;  /* adapter-defined: which parse step handles the answer */
	unsigned flags; /* ADAPTER_REQ_* */
	json_t *ctx;    /* adapter-defined context handed back to parse (owned), or NULL */
	/*
	 * Conditional requests: when set, the engine remembers the response's
	 * ETag under this key (per source, committed with the unit) and sends
	 * If-None-Match next time the same URL is asked for under the key.
	 * A 304 answer reaches parse with status 304, an empty body and the
	 * headers of the cached 200 response (Link, X-Next-Page...), so the
	 * adapter can keep walking without the body.
	 */
	char *cache_key;
};

struct adapter_header {
	const char *name;  /* lower-case */
	const char *value; /* surrounding whitespace removed */
};

/* The answer handed to parse (all of it owned by the engine). */
struct adapter_response {
	long status;      /* 2xx; 304 (see cache_key); 404/410 for optional requests */
	const char *url;  /* the URL requested */
	const char *body; /* NUL-terminated, len bytes (possibly with embedded NULs) */
	size_t len;
	const struct adapter_header *headers;
	size_t nheaders;
};

/* What begin and parse produce; the engine owns and frees it. */
struct adapter_output {
	json_t *doc;                  /* a KCIDB v5.3 document; add objects with adapter_add() */
	json_t *cursor;               /* cursor update for this unit (an object), or NULL */
	struct adapter_request *reqs; /* follow-up requests, in the order asked for */
	size_t nreqs;
	struct buf notes; /* warnings for the log, one per line (adapter_note) */
	json_t *links;    /* [[checkout_id, how, value], ...] (adapter_link) or NULL */
};

struct adapter {
	const char *name;                     /* the `type` value, e.g. "gitlab" */
	const struct config_key *config_keys; /* keys beyond the common source keys */
	const char *default_origin;           /* NULL: the source name folded to [a-z0-9_] */
	int max_host_requests;                /* concurrent requests per host (0: 2) */

	/*
	 * Read the adapter's keys of [source src->name] from cfg and keep what
	 * parse needs in src->priv.  ERR_CONFIG errors name the source and key.
	 * Optional.
	 */
	int (*init)(struct adapter_source *src, const struct config *cfg, struct err *err);
	void (*fini)(struct adapter_source *src);

	/*
	 * HTTP sources.  begin: the first request(s) of a cycle from the
	 * committed cursor (NULL before the first successful unit); `now` is
	 * Unix seconds, for defaults such as "start 7 days back".  parse: one
	 * response; it appends objects to out->doc, follow-ups to out->reqs and
	 * may set out->cursor.  Both return 0, or -1 with err set (ERR_INVALID
	 * for an answer that cannot be understood: the unit is not committed).
	 */
	int (*begin)(const struct adapter_source *src, const json_t *cursor, int64_t now,
	             struct adapter_output *out, struct err *err);
	int (*parse)(const struct adapter_source *src, const struct adapter_request *req,
	             const struct adapter_response *resp, struct adapter_output *out,
	             struct err *err);
	/*
	 * Credentials: write ONE header line ("Name: value", no CRLF) carrying
	 * `token` into `line`.  Called by the engine only, on the loop thread;
	 * the engine registers both the token and the line's value as log
	 * secrets.  NULL: the token is sent as "Authorization: Bearer TOKEN".
	 */
	void (*auth)(const struct adapter_source *src, const char *token, struct buf *line);

	/*
	 * Local sources: one poll cycle on a worker thread, with a store
	 * connection of its own.  Commit objects (results_submit) and the
	 * cursor (sources_cursor_save) in the same transactions; return
	 * promptly, with everything committed consistent, once *stop becomes
	 * non-zero (shutdown).  Returns 0, or -1 with err set (the engine logs
	 * it and backs off).
	 */
	int (*poll_local)(const struct adapter_source *src, struct store *st,
	                  const volatile int *stop, struct err *err);
};

extern const struct adapter *const adapters[];
extern const size_t adapters_count;

const struct adapter *adapter_find(const char *type);
/* Config keys specific to a source type, or NULL for an unknown type. */
const struct config_key *source_type_config_keys(const char *type);

/*
 * The engine's per-source knobs, shared by every HTTP adapter: put
 * ADAPTER_HTTP_CONFIG_KEYS at the top of the adapter's config_keys.
 */
/* clang-format off */
#define ADAPTER_HTTP_CONFIG_KEYS \
	{ "timeout", CFG_DURATION, "longest time for one request (default 60s)" }, \
	{ "connect-timeout", CFG_DURATION, "longest time to connect (default 10s)" }, \
	{ "low-speed-time", CFG_DURATION, \
	  "abort a transfer slower than 10 bytes/s for this long (default 30s)" }, \
	{ "max-response-size", CFG_INT, "largest response body, bytes (default 64m)" }, \
	{ "backoff-max", CFG_DURATION, "longest wait after repeated failures (default 1h)" }, \
	{ "host-concurrency", CFG_INT, "requests in flight per host (default per type)" }, \
	{ "conditional", CFG_BOOL, "send If-None-Match where the API honours it (default true)" }
/* clang-format on */

/* ------------------------------------------------------------------ sources */

/*
 * Build the source [source "NAME"] of a validated cfg: common keys (url,
 * origin), then the adapter's init.  Returns 0 or -1 with err set
 * (ERR_CONFIG; ERR_NOTFOUND when there is no such section).
 */
int adapter_source_new(const struct config *cfg, const char *name, struct adapter_source **out,
                       struct err *err);
void adapter_source_free(struct adapter_source *src);
/* The source name folded to a KCIDB origin: lower-case, [^a-z0-9_] -> '_'. */
char *adapter_default_origin(const char *source_name);

/* ------------------------------------------------------------------ output */

void adapter_output_init(struct adapter_output *out);
void adapter_output_free(struct adapter_output *out);
/*
 * Append a KCIDB object of type t (reference stolen).  "origin" is set to
 * the source's origin when the object has none.
 */
void adapter_add(struct adapter_output *out, const struct adapter_source *src, enum kcidb_type t,
                 json_t *obj);
/*
 * Ask for a follow-up GET (printf-style URL).  ctx is stolen (may be NULL).
 * Returns the request so the caller can set cache_key.
 */
struct adapter_request *adapter_request_add(struct adapter_output *out, unsigned kind,
                                            unsigned flags, json_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/*
 * A link key of a checkout (core/patchlink.h: how = "patch_id", "change_id",
 * "message_id", "commit"), stored with the unit so the checkout is linked to
 * matching mailing-list patches, now or when they arrive.
 */
void adapter_link(struct adapter_output *out, const char *checkout_id, const char *how,
                  const char *value);
/* Record a warning the engine logs with the source and URL (something skipped). */
void adapter_note(struct adapter_output *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Replace out->cursor (reference stolen). */
void adapter_set_cursor(struct adapter_output *out, json_t *cursor);
void adapter_request_free(struct adapter_request *r);
/* Deep copy (the engine keeps requests beyond the output they came in). */
void adapter_request_copy(struct adapter_request *dst, const struct adapter_request *src);

/* ---------------------------------------------------------------- response */

/* The value of a header (name case-insensitive), or NULL. */
const char *adapter_header(const struct adapter_response *r, const char *name);
/*
 * The URL of the Link header's rel="next" target (RFC 8288), newly
 * allocated, or NULL when there is none.
 */
char *adapter_link_next(const struct adapter_response *r);
/*
 * Parse the body as JSON (after skipping `skip_prefix` if the body starts
 * with it, e.g. Gerrit's ")]}'").  Errors are ERR_INVALID naming the URL,
 * line and column.
 */
json_t *adapter_json(const struct adapter_response *r, const char *skip_prefix, struct err *err);

#endif
