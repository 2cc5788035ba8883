/*
 * kit.h - small helpers adapters use to turn upstream JSON into KCIDB
 * objects that always validate.
 *
 * Upstreams send anything: naive timestamps, http:// URLs, short hashes,
 * strings where numbers belong.  The kit_set_* setters only set a field
 * when the value is acceptable for its KCIDB format (and silently leave it
 * out otherwise: a missing field means "unknown", which is true), so an
 * adapter never has to reject a whole page for one odd value.
 *
 * Times: upstreams use RFC 3339 with a zone (GitLab), naive UTC with 'T'
 * (Maestro, Patchwork) or naive UTC with a space and nanoseconds (Gerrit).
 * kit_time_us() reads all of them as microseconds since the epoch,
 * kit_time_naive() writes them back the way such servers expect them in
 * query parameters.
 */
#ifndef CIFEED_ADAPTER_KIT_H
#define CIFEED_ADAPTER_KIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "buf.h"

/* String member of an object, or NULL (also for non-strings). */
const char *kit_str(const json_t *o, const char *key);
/* Integer member (a JSON integer, or a string of digits); returns 1 when found. */
int kit_int(const json_t *o, const char *key, json_int_t *out);
/* The member as text: strings as is, integers in decimal; NULL otherwise (caller frees). */
char *kit_text(const json_t *o, const char *key);

/* Setters: set only when v is acceptable for the KCIDB format. */
void kit_set_str(json_t *obj, const char *key, const char *v);    /* any non-empty string */
void kit_set_uri(json_t *obj, const char *key, const char *v);    /* format uri */
void kit_set_https(json_t *obj, const char *key, const char *v);  /* uri and https:// */
void kit_set_commit(json_t *obj, const char *key, const char *v); /* 40 lower-case hex */
void kit_set_email(json_t *obj, const char *key, const char *v);  /* format email; <> stripped */
void kit_set_arch(json_t *obj, const char *key, const char *v);   /* ^[a-z0-9_]*$ */
/* A time in any of the upstream forms, written as RFC 3339 UTC (naive = UTC). */
void kit_set_time(json_t *obj, const char *key, const char *v);
/* The last 16384 code points of text (KCIDB log_excerpt limit), when non-empty. */
void kit_set_excerpt(json_t *obj, const char *key, const char *text, size_t len);
/* A number (duration) when v is a JSON number >= 0. */
void kit_set_duration(json_t *obj, const char *key, const json_t *v);
/* Copy a member of `from` into `to` (same key) when present and not null. */
void kit_copy(json_t *to, const json_t *from, const char *key);

/*
 * Parse a timestamp (with or without zone, 'T' or ' ', any fraction) into
 * microseconds since the epoch.  Returns 0 or -1.
 */
int kit_time_us(const char *s, int64_t *us);
/* Write us as "YYYY-MM-DD<sep>HH:MM:SS" plus `frac` (0, 3 or 6) fraction digits. */
void kit_time_naive(int64_t us, char sep, int frac, char out[40]);
/* Write us as RFC 3339 UTC with milliseconds: "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void kit_time_rfc3339(int64_t us, char out[40]);

/*
 * The start of a listing: `since` is an RFC 3339 time, or a duration back
 * from now (7d, 12h, 3600); NULL means 7 days.  Returns 0 or -1.
 */
int kit_since(const char *since, int64_t now, int64_t *us);
/* Check a `since` value at configuration time (ERR_CONFIG naming source and key). */
int kit_check_since(const struct adapter_source *src, const char *since, struct err *err);

/*
 * A test path segment: [a-zA-Z0-9_-] kept, every other run of bytes
 * becomes one '_'; never empty.
 */
void kit_path_segment(struct buf *out, const char *s);
/* Like kit_path_segment but '.' separates segments (Java class names). */
void kit_path_dotted(struct buf *out, const char *s);
/* An id component: '%' and '/' (and control bytes) percent-encoded, the rest kept. */
void kit_id_part(struct buf *out, const char *s);
/* Percent-encode for a URL query value or path segment (RFC 3986 unreserved kept). */
void kit_url_escape(struct buf *out, const char *s);

/*
 * A URL that points at the next page: `url` with query parameter `name`
 * set to `value` (replaced when present, appended otherwise).
 */
char *kit_url_with_param(const char *url, const char *name, const char *value);

/* Read a multi-valued key of [source NAME] into a NULL-terminated array (caller frees array). */
size_t kit_config_all(const struct config *cfg, const struct adapter_source *src, const char *key,
                      char ***out);
void kit_strv_free(char **v);

#endif
