/*
 * sources.h - what the store keeps per polled source: its cursor, its HTTP
 * validators (ETags) and its health (failures, backoff, last error).
 *
 * Tables from schema/migrations/0010_sources.sql.  The cursor and the
 * validators are saved by whoever commits a source's objects, INSIDE that
 * same transaction (store_begin ... results_submit ... sources_cursor_save
 * ... store_commit): that is the whole crash-safety argument of polling.
 * The polling engine (poller.h) does this for HTTP sources; local sources
 * (adapter.h poll_local) call these themselves.
 *
 * All functions take the caller's store connection and return 0 (or 1 for
 * "found") or -1 with err set.
 */
#ifndef CIFEED_SOURCES_H
#define CIFEED_SOURCES_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* The committed cursor of `source` in *cursor (new reference), or NULL: returns 1 or 0. */
int sources_cursor_load(struct store *st, const char *source, json_t **cursor, struct err *err);
/* Replace the cursor (a JSON object); must run inside a write transaction. */
int sources_cursor_save(struct store *st, const char *source, const char *type,
                        const json_t *cursor, struct err *err);

/* A remembered HTTP validator (see adapter_request.cache_key). */
struct sources_validator {
	char *cache_key;
	char *url;
	char *etag;
	json_t *headers; /* [[name, value], ...] */
};

/* All validators of `source`; *v is an array of *n (free with sources_validators_free). */
int sources_validators_load(struct store *st, const char *source, struct sources_validator **v,
                            size_t *n, struct err *err);
void sources_validators_free(struct sources_validator *v, size_t n);
/* Insert or replace the validator under v->cache_key; inside a write transaction. */
int sources_validator_save(struct store *st, const char *source, const struct sources_validator *v,
                           struct err *err);

/* Health and backoff of a source. */
struct sources_state {
	int64_t failures;     /* consecutive failed cycles */
	int64_t next_poll_at; /* Unix seconds, 0 = whenever */
	char *last_ok_at;     /* RFC 3339 or NULL */
	char *last_error_at;
	char *last_error;
};

void sources_state_free(struct sources_state *s);
/* Returns 1 and fills *s, or 0 (s zeroed) when the source has no state yet. */
int sources_state_load(struct store *st, const char *source, struct sources_state *s,
                       struct err *err);
/*
 * Record the outcome of a cycle in its own short transaction: ok resets
 * failures and sets last_ok_at; otherwise failures+1 and the error.
 */
int sources_state_record(struct store *st, const char *source, int ok, const char *error,
                         int64_t next_poll_at, struct err *err);

#endif
