/*
 * sources.c - per-source cursors, validators and health (see sources.h).
 *
 * Plain portable SQL through the store interface; JSON is stored as the
 * compact text kcidb_json_dump() produces, so equal cursors compare equal.
 */
#include "sources.h"
#include "formats.h"
#include "kcidb.h"

#include <stdlib.h>
#include <string.h>

int sources_cursor_load(struct store *st, const char *source, json_t **cursor, struct err *err)
{
	struct store_stmt *s;
	*cursor = NULL;
	if (store_prepare(st, &s, "SELECT cursor FROM source_cursors WHERE source = ?", err) < 0)
		return -1;
	store_bind_text(s, 1, source, -1);
	int r = store_step(s, err);
	if (r == STORE_ROW) {
		size_t len;
		const char *txt = store_col_text(s, 0, &len);
		json_error_t je;
		*cursor = json_loadb(txt ? txt : "", txt ? len : 0, 0, &je);
		if (!*cursor || !json_is_object(*cursor)) {
			json_decref(*cursor);
			*cursor = NULL;
			r = err_set(err, ERR_DB,
			            "source %s: stored cursor is not a JSON object: %s", source,
			            je.text);
		}
	}
	store_finalize(s);
	return r < 0 ? -1 : r == STORE_ROW;
}

int sources_cursor_save(struct store *st, const char *source, const char *type,
                        const json_t *cursor, struct err *err)
{
	if (!store_in_transaction(st))
		return err_set(err, ERR_INTERNAL, "sources_cursor_save outside a transaction");
	char now[32];
	fmt_now(now);
	char *txt = kcidb_json_dump(cursor);
	struct store_stmt *s;
	int r =
	    store_prepare(st, &s,
	                  "INSERT INTO source_cursors (source, type, cursor, units, updated_at) "
	                  "VALUES (?, ?, ?, 1, ?) ON CONFLICT (source) DO UPDATE SET "
	                  "type = excluded.type, cursor = excluded.cursor, "
	                  "units = source_cursors.units + 1, updated_at = excluded.updated_at",
	                  err);
	if (r == 0) {
		store_bind_text(s, 1, source, -1);
		store_bind_text(s, 2, type, -1);
		store_bind_text(s, 3, txt, -1);
		store_bind_text(s, 4, now, -1);
		r = store_step(s, err) < 0 ? -1 : 0;
		store_finalize(s);
	}
	free(txt);
	return r;
}

void sources_validators_free(struct sources_validator *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].cache_key);
		free(v[i].url);
		free(v[i].etag);
		json_decref(v[i].headers);
	}
	free(v);
}

int sources_validators_load(struct store *st, const char *source, struct sources_validator **v,
                            size_t *n, struct err *err)
{
	struct store_stmt *s;
	*v = NULL;
	*n = 0;
	if (store_prepare(st, &s,
	                  "SELECT cache_key, url, etag, headers FROM source_http_cache "
	                  "WHERE source = ? ORDER BY cache_key",
	                  err) < 0)
		return -1;
	store_bind_text(s, 1, source, -1);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		struct sources_validator *x = &(*v)[(*n)++];
		x->cache_key = xstrdup(store_col_text(s, 0, NULL));
		x->url = xstrdup(store_col_text(s, 1, NULL));
		x->etag = xstrdup(store_col_text(s, 2, NULL));
		size_t len;
		const char *h = store_col_text(s, 3, &len);
		x->headers = json_loadb(h ? h : "[]", h ? len : 2, 0, NULL);
		if (!json_is_array(x->headers)) {
			json_decref(x->headers);
			x->headers = json_array();
		}
	}
	store_finalize(s);
	if (r < 0) {
		sources_validators_free(*v, *n);
		*v = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int sources_validator_save(struct store *st, const char *source, const struct sources_validator *v,
                           struct err *err)
{
	if (!store_in_transaction(st))
		return err_set(err, ERR_INTERNAL, "sources_validator_save outside a transaction");
	char now[32];
	fmt_now(now);
	char *h = kcidb_json_dump(v->headers);
	struct store_stmt *s;
	int r =
	    store_prepare(st, &s,
	                  "INSERT INTO source_http_cache (source, cache_key, url, etag, headers, "
	                  "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, cache_key) "
	                  "DO UPDATE SET url = excluded.url, etag = excluded.etag, "
	                  "headers = excluded.headers, updated_at = excluded.updated_at",
	                  err);
	if (r == 0) {
		store_bind_text(s, 1, source, -1);
		store_bind_text(s, 2, v->cache_key, -1);
		store_bind_text(s, 3, v->url, -1);
		store_bind_text(s, 4, v->etag, -1);
		store_bind_text(s, 5, h, -1);
		store_bind_text(s, 6, now, -1);
		r = store_step(s, err) < 0 ? -1 : 0;
		store_finalize(s);
	}
	free(h);
	return r;
}

void sources_state_free(struct sources_state *s)
{
	free(s->last_ok_at);
	free(s->last_error_at);
	free(s->last_error);
	memset(s, 0, sizeof(*s));
}

int sources_state_load(struct store *st, const char *source, struct sources_state *out,
                       struct err *err)
{
	struct store_stmt *s;
	memset(out, 0, sizeof(*out));
	if (store_prepare(st, &s,
	                  "SELECT failures, next_poll_at, last_ok_at, last_error_at, last_error "
	                  "FROM source_state WHERE source = ?",
	                  err) < 0)
		return -1;
	store_bind_text(s, 1, source, -1);
	int r = store_step(s, err);
	if (r == STORE_ROW) {
		out->failures = store_col_int(s, 0);
		out->next_poll_at = store_col_int(s, 1);
		out->last_ok_at = store_col_dup(s, 2);
		out->last_error_at = store_col_dup(s, 3);
		out->last_error = store_col_dup(s, 4);
	}
	store_finalize(s);
	return r < 0 ? -1 : r == STORE_ROW;
}

int sources_state_record(struct store *st, const char *source, int ok, const char *error,
                         int64_t next_poll_at, struct err *err)
{
	char now[32];
	fmt_now(now);
	int own = !store_in_transaction(st);
	if (own && store_begin(st, err) < 0)
		return -1;
	struct store_stmt *s;
	const char *sql =
	    ok ? "INSERT INTO source_state (source, failures, next_poll_at, last_ok_at) "
	         "VALUES (?, 0, ?, ?) ON CONFLICT (source) DO UPDATE SET failures = 0, "
	         "next_poll_at = excluded.next_poll_at, last_ok_at = excluded.last_ok_at"
	       : "INSERT INTO source_state (source, failures, next_poll_at, last_error_at, "
	         "last_error) VALUES (?, 1, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
	         "failures = source_state.failures + 1, next_poll_at = excluded.next_poll_at, "
	         "last_error_at = excluded.last_error_at, last_error = excluded.last_error";
	int r = store_prepare(st, &s, sql, err);
	if (r == 0) {
		store_bind_text(s, 1, source, -1);
		store_bind_int(s, 2, next_poll_at);
		store_bind_text(s, 3, now, -1);
		if (!ok)
			store_bind_text(s, 4, error ? error : "", -1);
		r = store_step(s, err) < 0 ? -1 : 0;
		store_finalize(s);
	}
	if (own) {
		if (r == 0)
			r = store_commit(st, err);
		if (r < 0)
			store_rollback(st);
	}
	return r;
}
