/*
 * api_endpoints.c - the answers of the query API (see api.h).
 *
 * What and why: these functions turn a store connection and validated
 * parameters into the JSON documents of schema/api/.  They never see HTTP,
 * so `cifeed query ran`, `cifeed skip` and the server share them.  All SQL
 * is parameterized; the "ran" lookup is results_ran_each() (results.h)
 * with its rows sorted here, the
 * /results page is filter_to_sql() (filter.h) plus a rid cursor.
 */
#define _GNU_SOURCE 1 /* qsort_r */
#include "api.h"
#include "filter.h"
#include "formats.h"
#include "kcidb.h"
#include "series.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {"FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"};

int api_statuses_parse(const char *text, const char *out[8], struct err *err)
{
	size_t n = 0;
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != ' ' && *e != ',' && *e != '\t')
			e++;
		const char *hit = NULL;
		for (size_t i = 0; i < 6; i++)
			if (strlen(status_names[i]) == (size_t)(e - p) &&
			    !strncmp(status_names[i], p, (size_t)(e - p)))
				hit = status_names[i];
		if (!hit)
			return err_set(
			    err, ERR_CONFIG,
			    "ran-statuses: '%.*s' is not a KCIDB status (FAIL ERROR MISS "
			    "PASS DONE SKIP)",
			    (int)(e - p), p);
		int dup = 0;
		for (size_t i = 0; i < n; i++)
			dup |= out[i] == hit;
		if (!dup)
			out[n++] = hit;
		p = e;
	}
	if (!n)
		return err_set(err, ERR_CONFIG, "ran-statuses: no status given");
	out[n] = NULL;
	return 0;
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return 0;
	return 1;
}

/* Free text from outside: UTF-8, no control characters, bounded. */
static int text_ok(const char *s, size_t max)
{
	size_t l = strlen(s);
	if (!l || l > max || !utf8_valid(s, l))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int api_ran_validate(const struct ran_query *q, struct err *err)
{
	if (!q->commit && !q->msgid && !q->patch_id)
		return err_set(err, ERR_INVALID,
		               "commit (or msgid or patch_id) is required to name the tested code");
	if (q->commit && !is_hex(q->commit, 40))
		return err_set(err, ERR_INVALID,
		               "commit must be a full 40-hex-digit lower-case commit hash");
	if (q->patchset && *q->patchset && !is_hex(q->patchset, 64))
		return err_set(err, ERR_INVALID,
		               "patchset must be a 64-hex-digit patchset hash (or empty for none)");
	if (q->patch_id && !is_hex(q->patch_id, 40))
		return err_set(err, ERR_INVALID, "patch_id must be 40 lower-case hex digits");
	struct {
		const char *name, *v;
	} free_text[] = {{"msgid", q->msgid}, {"test", q->test},     {"origin", q->origin},
	                 {"arch", q->arch},   {"config", q->config}, {"compiler", q->compiler}};
	for (size_t i = 0; i < sizeof(free_text) / sizeof(*free_text); i++)
		if (free_text[i].v && !text_ok(free_text[i].v, 1024))
			return err_set(err, ERR_INVALID,
			               "%s must be 1 to 1024 bytes of UTF-8 without control "
			               "characters",
			               free_text[i].name);
	return 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int dump_cb(const char *data, size_t size, void *arg)
{
	buf_add(arg, data, size);
	return 0;
}

/* Serialize straight into the answer buffer (jansson keeps insertion order). */
static void dump_to(struct buf *out, json_t *o)
{
	json_dump_callback(o, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	buf_addch(out, '\n');
}

static json_t *query_json(const struct ran_query *q)
{
	json_t *o = json_object();
	if (q->commit)
		json_object_set_new(o, "commit", json_string(q->commit));
	json_object_set_new(o, "patchset", json_string(q->patchset ? q->patchset : ""));
	if (q->msgid)
		json_object_set_new(o, "msgid", json_string(q->msgid));
	if (q->patch_id)
		json_object_set_new(o, "patch_id", json_string(q->patch_id));
	if (q->test)
		json_object_set_new(o, "test", json_string(q->test));
	if (q->origin)
		json_object_set_new(o, "origin", json_string(q->origin));
	return o;
}

/*
 * The ran answer is the hot path of the service (a CI asks it before every
 * test run), so it is written straight from the statement's columns into
 * the answer buffer, in the same document shape jansson would produce.
 * Strings go through results_json_string() (jansson's escaping; stored
 * values passed KCIDB validation, so they are UTF-8).  test_http_api.c
 * checks the output against a jansson-built document, byte for byte.
 */
static void json_str_add(struct buf *out, const char *s)
{
	if (s)
		results_json_string(s, strlen(s), out);
	else
		buf_adds(out, "null");
}

/*
 * Rows arrive unordered (sorting a handful of rows here is cheaper than
 * SQLite's sorter, which copies every record in and out): each row's JSON
 * goes to `rows`, its sort key (path, origin, test id, as SQLite's BINARY
 * collation orders them, NULL first) to `keys`, then the fragments are
 * emitted in key order.
 */
struct ran_frag {
	size_t off, len; /* JSON in acc->rows */
	size_t key;      /* "P<path>\0<origin>\0<id>\0" in acc->keys ('N' for a NULL path) */
};

struct ran_acc {
	struct buf rows, keys;
	struct ran_frag *f;
	size_t n, cap;
};

static void key_add(struct buf *k, const char *s)
{
	buf_adds(k, s ? s : "");
	buf_addch(k, 0);
}

static int ran_row_cb(const struct ran_view *v, void *arg)
{
	static const char *const keys[] = {
	    "{\"origin\":",  ",\"path\":",     ",\"status\":",      ",\"arch\":",
	    ",\"config\":",  ",\"compiler\":", ",\"start_time\":",  ",\"log_url\":",
	    ",\"test_id\":", ",\"build_id\":", ",\"checkout_id\":",
	};
	struct ran_acc *a = arg;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->f = xrealloc(a->f, a->cap * sizeof(*a->f));
	}
	struct ran_frag *f = &a->f[a->n++];
	const char *vals[] = {v->origin,  v->path,     v->status,     v->arch,
	                      v->config,  v->compiler, v->start_time, v->log_url,
	                      v->test_id, v->build_id, v->checkout_id};
	f->off = a->rows.len;
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		buf_adds(&a->rows, keys[i]);
		json_str_add(&a->rows, vals[i]);
	}
	buf_addch(&a->rows, '}');
	f->len = a->rows.len - f->off;
	f->key = a->keys.len;
	buf_addch(&a->keys, v->path ? 'P' : 'N');
	key_add(&a->keys, v->path);
	key_add(&a->keys, v->origin);
	key_add(&a->keys, v->test_id);
	return 0;
}

static int frag_cmp(const void *x, const void *y, void *arg)
{
	const char *k = arg;
	const char *p = k + ((const struct ran_frag *)x)->key;
	const char *q = k + ((const struct ran_frag *)y)->key;
	if (*p != *q)
		return *p == 'N' ? -1 : 1; /* NULL paths first, as SQLite sorts them */
	p++;
	q++;
	for (int i = 0; i < 3; i++) {
		int c = strcmp(p, q); /* byte order = SQLite's BINARY collation */
		if (c)
			return c;
		p += strlen(p) + 1;
		q += strlen(q) + 1;
	}
	return 0;
}

int api_ran(struct store *st, const struct ran_query *q_in, struct buf *out, struct err *err)
{
	struct ran_query q = *q_in;
	if (api_ran_validate(&q, err) < 0)
		return -1;
	q.limit = API_RAN_MAX + 1;
	q.unordered = 1;
	struct ran_acc acc = {BUF_INIT, BUF_INIT, NULL, 0, 0};
	buf_grow(&acc.rows, 16384);
	buf_grow(&acc.keys, 2048);
	for (;;) {
		if (results_ran_each(st, &q, ran_row_cb, &acc, err) < 0) {
			buf_free(&acc.rows);
			buf_free(&acc.keys);
			free(acc.f);
			return -1;
		}
		/*
		 * Cut off: the LIMIT kept whichever rows SQLite met first, not the
		 * first ones in order - ask again, sorted by SQLite this time.
		 */
		if (acc.n <= API_RAN_MAX || !q.unordered)
			break;
		q.unordered = 0;
		buf_reset(&acc.rows);
		buf_reset(&acc.keys);
		acc.n = 0;
	}
	if (acc.n > 1)
		qsort_r(acc.f, acc.n, sizeof(*acc.f), frag_cmp, acc.keys.ptr);
	size_t count = acc.n > API_RAN_MAX ? (size_t)API_RAN_MAX : acc.n;
	json_t *qj = query_json(&q);
	buf_grow(out, acc.rows.len + count + 256);
	buf_adds(out, "{\"query\":");
	json_dump_callback(qj, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(qj);
	buf_adds(out, ",\"tests\":[");
	for (size_t i = 0; i < count; i++) {
		if (i)
			buf_addch(out, ',');
		buf_add(out, acc.rows.ptr + acc.f[i].off, acc.f[i].len);
	}
	buf_addf(out, "],\"count\":%zu,\"truncated\":%s}\n", count,
	         acc.n > API_RAN_MAX ? "true" : "false");
	buf_free(&acc.rows);
	buf_free(&acc.keys);
	free(acc.f);
	return 0;
}

/* ---------------------------------------------------------------- skip */

struct path_ix {
	const char *path;
	struct ran_row *row;
};

static int cmp_path_ix(const void *a, const void *b)
{
	return strcmp(((const struct path_ix *)a)->path, ((const struct path_ix *)b)->path);
}

int api_skip_decide(struct store *st, const struct ran_query *q, const char *const *paths,
                    size_t npaths, struct skip_plan *plan, struct err *err)
{
	memset(plan, 0, sizeof(*plan));
	if (results_ran(st, q, &plan->rows, &plan->nrows, err) < 0)
		return -1;
	/* rows come ordered by path, origin, id: the first row of a path is its answer */
	struct path_ix *ix = xcalloc(plan->nrows ? plan->nrows : 1, sizeof(*ix));
	size_t nix = 0;
	for (size_t i = 0; i < plan->nrows; i++) {
		if (!plan->rows[i].path)
			continue;
		if (nix && !strcmp(ix[nix - 1].path, plan->rows[i].path))
			continue;
		ix[nix].path = plan->rows[i].path;
		ix[nix].row = &plan->rows[i];
		nix++;
	}
	/* SQLite orders by BINARY collation, as strcmp does, so ix is sorted already */
	plan->skip = xcalloc(npaths ? npaths : 1, sizeof(*plan->skip));
	for (size_t i = 0; i < npaths; i++) {
		struct path_ix key = {paths[i], NULL};
		struct path_ix *hit = nix ? bsearch(&key, ix, nix, sizeof(*ix), cmp_path_ix) : NULL;
		plan->skip[i] = hit ? hit->row : NULL;
	}
	free(ix);
	return 0;
}

void api_skip_plan_free(struct skip_plan *plan)
{
	results_ran_free(plan->rows, plan->nrows);
	free(plan->skip);
	memset(plan, 0, sizeof(*plan));
}

static int get_opt_string(json_t *obj, const char *key, const char **out, struct err *err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return err_set(err, ERR_INVALID, "\"%s\" contains a NUL character", key);
	return 0;
}

int api_skip(struct store *st, const char *body, size_t len, const char *const *statuses,
             struct buf *out, struct err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	struct ran_query q = {0};
	const char **paths = NULL;
	size_t npaths = 0;
	int rc = -1;

	if (!doc)
		return err_set(err, ERR_INVALID, "body is not valid JSON: %s at line %d column %d",
		               je.text, je.line, je.column);
	if (!json_is_object(doc)) {
		err_set(err, ERR_INVALID, "body must be a JSON object");
		goto done;
	}
	const char *key;
	json_t *v;
	json_object_foreach (doc, key, v) {
		static const char *const known[] = {"commit", "patchset", "msgid",  "patch_id",
		                                    "origin", "tests",    "require"};
		int ok = 0;
		for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			err_set(err, ERR_INVALID,
			        "unknown field \"%.64s\" (known: commit patchset msgid patch_id "
			        "origin tests require)",
			        key);
			goto done;
		}
	}
	if (get_opt_string(doc, "commit", &q.commit, err) < 0 ||
	    get_opt_string(doc, "patchset", &q.patchset, err) < 0 ||
	    get_opt_string(doc, "msgid", &q.msgid, err) < 0 ||
	    get_opt_string(doc, "patch_id", &q.patch_id, err) < 0 ||
	    get_opt_string(doc, "origin", &q.origin, err) < 0)
		goto done;
	json_t *req = json_object_get(doc, "require");
	if (req && !json_is_null(req)) {
		if (!json_is_object(req)) {
			err_set(err, ERR_INVALID, "\"require\" must be an object");
			goto done;
		}
		json_object_foreach (req, key, v) {
			if (strcmp(key, "arch") && strcmp(key, "config") &&
			    strcmp(key, "compiler")) {
				err_set(err, ERR_INVALID,
				        "unknown field \"require.%.64s\" (known: arch config "
				        "compiler)",
				        key);
				goto done;
			}
		}
		if (get_opt_string(req, "arch", &q.arch, err) < 0 ||
		    get_opt_string(req, "config", &q.config, err) < 0 ||
		    get_opt_string(req, "compiler", &q.compiler, err) < 0) {
			err_prefix(err, "require");
			goto done;
		}
	}
	json_t *tests = json_object_get(doc, "tests");
	if (!json_is_array(tests)) {
		err_set(err, ERR_INVALID, "\"tests\" must be an array of test paths");
		goto done;
	}
	if (json_array_size(tests) > API_SKIP_MAX_TESTS) {
		err_set(err, ERR_INVALID, "\"tests\" has %zu entries; at most %d are accepted",
		        json_array_size(tests), API_SKIP_MAX_TESTS);
		goto done;
	}
	if (api_ran_validate(&q, err) < 0)
		goto done;
	npaths = json_array_size(tests);
	paths = xcalloc(npaths ? npaths : 1, sizeof(*paths));
	for (size_t i = 0; i < npaths; i++) {
		json_t *t = json_array_get(tests, i);
		if (!json_is_string(t) || !text_ok(json_string_value(t), 1024) ||
		    strlen(json_string_value(t)) != json_string_length(t)) {
			err_set(err, ERR_INVALID,
			        "tests[%zu] must be a test path: 1 to 1024 bytes, no control "
			        "characters",
			        i);
			goto done;
		}
		paths[i] = json_string_value(t);
	}
	q.statuses = statuses;

	struct skip_plan plan;
	if (api_skip_decide(st, &q, paths, npaths, &plan, err) < 0)
		goto done;
	json_t *o = json_object(), *skip = json_array(), *run = json_array(), *sts = json_array();
	json_object_set_new(o, "query", query_json(&q));
	for (size_t i = 0; statuses[i]; i++)
		json_array_append_new(sts, json_string(statuses[i]));
	json_object_set_new(o, "statuses", sts);
	/* each plan entry once, in plan order */
	json_t *seen = json_object();
	for (size_t i = 0; i < npaths; i++) {
		if (json_object_get(seen, paths[i]))
			continue;
		json_object_set_new(seen, paths[i], json_true());
		const struct ran_row *r = plan.skip[i];
		if (!r) {
			json_array_append_new(run, json_string(paths[i]));
			continue;
		}
		json_t *e = json_object();
		json_object_set_new(e, "path", json_string(r->path));
		json_object_set_new(e, "origin", str_or_null(r->origin));
		json_object_set_new(e, "status", str_or_null(r->status));
		json_object_set_new(e, "log_url", str_or_null(r->log_url));
		json_object_set_new(e, "test_id", str_or_null(r->test_id));
		json_object_set_new(e, "arch", str_or_null(r->arch));
		json_object_set_new(e, "config", str_or_null(r->config));
		json_object_set_new(e, "compiler", str_or_null(r->compiler));
		json_object_set_new(e, "start_time", str_or_null(r->start_time));
		json_array_append_new(skip, e);
	}
	json_decref(seen);
	json_object_set_new(o, "skip", skip);
	json_object_set_new(o, "run", run);
	dump_to(out, o);
	json_decref(o);
	api_skip_plan_free(&plan);
	rc = 0;
done:
	free(paths);
	json_decref(doc);
	return rc;
}

/* ------------------------------------------------------------- results */

static int parse_cursor(const char *cursor, int64_t *rid, struct err *err)
{
	*rid = 0;
	if (!cursor || !*cursor)
		return 0;
	int64_t v = 0;
	const char *p = cursor;
	if (strlen(p) > 18)
		goto bad;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		v = v * 10 + (*p - '0');
	}
	*rid = v;
	return 0;
bad:
	return err_set(err, ERR_INVALID, "cursor is not one this server handed out");
}

static int fetch_by_id(struct store *st, enum kcidb_type t, const char *id, json_t *arr,
                       struct err *err)
{
	struct buf sql = BUF_INIT;
	buf_adds(&sql, "SELECT ");
	results_columns(t, NULL, &sql);
	buf_addf(&sql, " FROM %s WHERE id = ?", kcidb_types[t].plural);
	struct store_stmt *s;
	int r = store_prepare_cached(st, &s, sql.ptr, err);
	buf_free(&sql);
	if (r < 0)
		return -1;
	store_bind_text(s, 1, id, -1);
	r = store_step(s, err);
	if (r == STORE_ROW)
		json_array_append_new(arr, results_row_to_json(t, s, 0));
	store_reset(s);
	return r < 0 ? -1 : 0;
}

int api_results(struct store *st, const char *ftext, const char *cursor, size_t limit,
                struct buf *out, struct err *err)
{
	struct filter *f = NULL;
	struct buf sql = BUF_INIT, where = BUF_INIT;
	struct filter_params fp = {0};
	int64_t after;
	int rc = -1;
	struct store_stmt *s = NULL;
	json_t *o = NULL;

	if (limit < 1 || limit > API_RESULTS_MAX)
		return err_set(err, ERR_INVALID, "limit must be between 1 and %d", API_RESULTS_MAX);
	if (parse_cursor(cursor, &after, err) < 0)
		return -1;
	if (filter_parse(ftext, &f, err) < 0) {
		err->code = ERR_INVALID;
		return -1;
	}
	filter_to_sql(f, FL_TEST, &where, &fp);
	buf_adds(&sql, "SELECT t.rid, ");
	results_columns(KCIDB_TEST, "t", &sql);
	buf_addf(&sql,
	         " FROM tests t LEFT JOIN builds b ON b.id = t.build_id"
	         " LEFT JOIN checkouts c ON c.id = b.checkout_id"
	         " WHERE t.rid > ? AND %s ORDER BY t.rid LIMIT ?",
	         where.ptr);
	if (store_prepare_cached(st, &s, sql.ptr, err) < 0)
		goto done;
	int idx = 1;
	store_bind_int(s, idx++, after);
	for (size_t i = 0; i < fp.n; i++)
		store_bind_text(s, idx++, fp.v[i], -1);
	store_bind_int(s, idx, (int64_t)limit + 1);

	o = json_object();
	json_t *tests = json_array(), *builds = json_array(), *checkouts = json_array();
	json_t *bseen = json_object(), *cseen = json_object();
	size_t n = 0;
	int64_t last = 0;
	int more = 0, r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		if (n == limit) {
			more = 1;
			break;
		}
		last = store_col_int(s, 0);
		json_array_append_new(tests, results_row_to_json(KCIDB_TEST, s, 1));
		n++;
	}
	store_reset(s);
	if (r < 0) {
		json_decref(tests);
		json_decref(builds);
		json_decref(checkouts);
		json_decref(bseen);
		json_decref(cseen);
		goto done;
	}
	/* the builds and checkouts of the page, so the document stands alone */
	size_t i;
	json_t *t;
	json_array_foreach (tests, i, t) {
		const char *bid = json_string_value(json_object_get(t, "build_id"));
		if (!bid || json_object_get(bseen, bid))
			continue;
		json_object_set_new(bseen, bid, json_true());
		size_t before = json_array_size(builds);
		if (fetch_by_id(st, KCIDB_BUILD, bid, builds, err) < 0)
			break;
		if (json_array_size(builds) == before)
			continue; /* a test may arrive before its build */
		const char *cid = json_string_value(
		    json_object_get(json_array_get(builds, before), "checkout_id"));
		if (!cid || json_object_get(cseen, cid))
			continue;
		json_object_set_new(cseen, cid, json_true());
		if (fetch_by_id(st, KCIDB_CHECKOUT, cid, checkouts, err) < 0)
			break;
	}
	json_decref(bseen);
	json_decref(cseen);
	if (err->code != ERR_NONE) {
		json_decref(tests);
		json_decref(builds);
		json_decref(checkouts);
		goto done;
	}
	json_object_set_new(o, "query", json_string(f->text ? f->text : ""));
	json_object_set_new(o, "count", json_integer((json_int_t)n));
	if (more) {
		char cur[32];
		snprintf(cur, sizeof(cur), "%lld", (long long)last);
		json_object_set_new(o, "next_cursor", json_string(cur));
	} else {
		json_object_set_new(o, "next_cursor", json_null());
	}
	json_t *doc = json_object();
	json_object_set_new(doc, "version", json_pack("{s:i,s:i}", "major", 5, "minor", 3));
	json_object_set_new(doc, "checkouts", checkouts);
	json_object_set_new(doc, "builds", builds);
	json_object_set_new(doc, "tests", tests);
	json_object_set_new(o, "results", doc);
	dump_to(out, o);
	rc = 0;
done:
	json_decref(o);
	filter_params_free(&fp);
	filter_free(f);
	buf_free(&sql);
	buf_free(&where);
	return rc;
}

/* --------------------------------------------------------------- patch */

static json_t *col_json(struct store_stmt *s, int c)
{
	if (store_col_type(s, c) == STORE_NULL)
		return json_null();
	if (store_col_type(s, c) == STORE_INT)
		return json_integer(store_col_int(s, c));
	size_t len;
	const char *t = store_col_text(s, c, &len);
	json_t *v = json_stringn(t, len);
	return v ? v : json_null();
}

/* Run `sql` with `param` bound to every `?`; each row becomes an object of `names`. */
static int rows_json(struct store *st, const char *sql, const char *param, const char *const *names,
                     json_t *arr, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare_cached(st, &s, sql, err) < 0)
		return -1;
	int np = 0;
	for (const char *c = sql; *c; c++)
		if (*c == '?')
			store_bind_text(s, ++np, param, -1);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		json_t *o = json_object();
		for (int c = 0; names[c]; c++)
			json_object_set_new(o, names[c], col_json(s, c));
		json_array_append_new(arr, o);
	}
	store_reset(s);
	return r < 0 ? -1 : 0;
}

static int status_counts(struct store *st, const char *sql, const char *checkout_id, json_t **out,
                         struct err *err)
{
	struct store_stmt *s;
	if (store_prepare_cached(st, &s, sql, err) < 0)
		return -1;
	store_bind_text(s, 1, checkout_id, -1);
	json_t *by = json_object();
	json_int_t total = 0;
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *stt = store_col_text(s, 0, NULL);
		json_int_t n = store_col_int(s, 1);
		json_object_set_new(by, stt ? stt : "null", json_integer(n));
		total += n;
	}
	store_reset(s);
	if (r < 0) {
		json_decref(by);
		return -1;
	}
	*out = json_pack("{s:I,s:o}", "total", total, "by_status", by);
	return 0;
}

static json_t *series_json(const struct series_info *si)
{
	json_t *o = json_object(), *pa = json_array(), *base = json_array(), *ver = json_array();
	json_object_set_new(o, "root_msgid", json_string(si->root_msgid));
	json_object_set_new(o, "cover_msgid", str_or_null(si->cover_msgid));
	json_object_set_new(o, "subject", str_or_null(si->subject));
	json_object_set_new(o, "author_name", str_or_null(si->author_name));
	json_object_set_new(o, "author_email", str_or_null(si->author_email));
	json_object_set_new(o, "list_id", str_or_null(si->list_id));
	json_object_set_new(o, "date", str_or_null(si->date));
	json_object_set_new(o, "version", json_integer(si->version));
	json_object_set_new(o, "total", json_integer(si->total));
	json_object_set_new(o, "received", json_integer(si->received));
	json_object_set_new(o, "complete", json_boolean(si->complete));
	json_object_set_new(o, "rfc", json_boolean(si->rfc));
	json_object_set_new(o, "resend", json_boolean(si->resend));
	json_object_set_new(o, "change_id", str_or_null(si->change_id));
	json_object_set_new(o, "patchset_hash", str_or_null(si->patchset_hash));
	json_object_set_new(o, "has_base", json_boolean(si->has_base));
	for (size_t i = 0; i < si->npatches; i++) {
		const struct series_patch *p = &si->patches[i];
		json_array_append_new(pa, json_pack("{s:s,s:s?,s:i,s:o,s:o,s:o}", "msgid", p->msgid,
		                                    "kind", p->kind, "position", p->position,
		                                    "subject", str_or_null(p->subject), "date",
		                                    str_or_null(p->date), "patch_id",
		                                    str_or_null(p->patch_id)));
	}
	for (size_t i = 0; i < si->nbase; i++)
		json_array_append_new(base, json_pack("{s:s,s:s,s:o}", "kind", si->base[i].kind,
		                                      "value", si->base[i].value, "msgid",
		                                      str_or_null(si->base[i].msgid)));
	for (size_t i = 0; i < si->nversions; i++)
		json_array_append_new(ver, json_pack("{s:s,s:i,s:o}", "root_msgid",
		                                     si->versions[i].root_msgid, "version",
		                                     si->versions[i].version, "date",
		                                     str_or_null(si->versions[i].date)));
	json_object_set_new(o, "patches", pa);
	json_object_set_new(o, "base", base);
	json_object_set_new(o, "versions", ver);
	return o;
}

/* Trailers that apply to `msgid`: its own, and those given to the whole series. */
static json_t *trailers_json(const struct series_info *si, const char *msgid)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < si->ntrailers; i++) {
		const struct series_trailer *t = &si->trailers[i];
		if (strcmp(t->target_msgid, msgid) &&
		    !(si->cover_msgid && !strcmp(t->target_msgid, si->cover_msgid)))
			continue;
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:o,s:s,s:s,s:b}", "key", t->key, "value", t->value,
		                   "email", str_or_null(t->email), "source_msgid", t->source_msgid,
		                   "target_msgid", t->target_msgid, "from_reply", t->from_reply));
	}
	return arr;
}

int api_patch(struct store *st, const char *msgid, struct buf *out, struct err *err)
{
	static const char *const patch_cols[] = {
	    "msgid", "list_id", "author_name", "author_email", "subject", "date", "patch_id", NULL};
	static const char *const file_cols[] = {"path", NULL};
	static const char *const co_cols[] = {"id",
	                                      "origin",
	                                      "tree_name",
	                                      "git_repository_url",
	                                      "git_repository_branch",
	                                      "git_commit_hash",
	                                      "patchset_hash",
	                                      "start_time",
	                                      "how",
	                                      NULL};
	json_t *patches = json_array(), *files = json_array(), *cos = json_array();
	json_t *o = NULL;
	int rc = -1;

	if (!text_ok(msgid, 998)) {
		err_set(err, ERR_INVALID,
		        "Message-ID must be 1 to 998 bytes of UTF-8 without control characters");
		goto done;
	}
	if (rows_json(st,
	              "SELECT msgid, list_id, author_name, author_email, subject, date, patch_id "
	              "FROM patches WHERE msgid = ?",
	              msgid, patch_cols, patches, err) < 0 ||
	    rows_json(st,
	              "SELECT pf.path FROM patch_files pf JOIN patches pa ON pa.rid = pf.patch_rid "
	              "WHERE pa.msgid = ? ORDER BY pf.path",
	              msgid, file_cols, files, err) < 0)
		goto done;
	/* the series it belongs to (intake), when known */
	struct series_info si;
	int have_series = series_get(st, msgid, &si, err);
	if (have_series < 0)
		goto done;
	/*
	 * Checkouts linked through the patch index to this message or, for a
	 * series, to any of its messages (a checkout of the whole series tested
	 * each patch), or naming the message themselves.
	 */
	struct buf sql = BUF_INIT, in = BUF_INIT;
	size_t nmsg = have_series ? si.npatches + 1 : 1;
	for (size_t i = 0; i < nmsg; i++)
		buf_adds(&in, i ? ", ?" : "?");
	buf_addf(&sql,
	         "SELECT c.id, c.origin, c.tree_name, c.git_repository_url, "
	         "c.git_repository_branch, c.git_commit_hash, c.patchset_hash, c.start_time, "
	         "l.how FROM (SELECT cp.checkout_id AS cid, MIN(cp.how) AS how "
	         "FROM checkout_patches cp JOIN patches pa ON pa.rid = cp.patch_rid "
	         "WHERE pa.msgid IN (%s) GROUP BY cp.checkout_id "
	         "UNION SELECT id, 'message_id' FROM checkouts WHERE message_id = ? "
	         "AND id NOT IN (SELECT cp.checkout_id FROM checkout_patches cp JOIN "
	         "patches pa ON pa.rid = cp.patch_rid WHERE pa.msgid IN (%s))) l "
	         "JOIN checkouts c ON c.id = l.cid ORDER BY c.start_time, c.id",
	         buf_cstr(&in), buf_cstr(&in));
	buf_free(&in);
	struct store_stmt *cs = NULL;
	int r = nmsg > 400 ? err_set(err, ERR_INVALID, "series too large to list")
	                   : store_prepare_cached(st, &cs, sql.ptr, err);
	buf_free(&sql);
	if (r == 0) {
		int idx = 1;
		for (int rep = 0; rep < 2; rep++) {
			store_bind_text(cs, idx++, msgid, -1);
			for (size_t i = 0; have_series && i < si.npatches; i++)
				store_bind_text(cs, idx++, si.patches[i].msgid, -1);
			if (!rep)
				store_bind_text(cs, idx++, msgid, -1);
		}
		while ((r = store_step(cs, err)) == STORE_ROW) {
			json_t *co = json_object();
			for (int c = 0; co_cols[c]; c++)
				json_object_set_new(co, co_cols[c], col_json(cs, c));
			json_array_append_new(cos, co);
		}
		store_reset(cs);
	}
	if (r < 0) {
		if (have_series)
			series_info_free(&si);
		goto done;
	}
	json_t *series = have_series ? series_json(&si) : json_null();
	json_t *trailers = have_series ? trailers_json(&si, msgid) : json_array();
	if (have_series)
		series_info_free(&si);
	if (!json_array_size(patches) && !json_array_size(cos) && !have_series) {
		json_decref(series);
		json_decref(trailers);
		err_set(err, ERR_NOTFOUND, "no patch or checkout with Message-ID <%s>", msgid);
		goto done;
	}
	size_t i;
	json_t *co;
	json_array_foreach (cos, i, co) {
		const char *cid = json_string_value(json_object_get(co, "id"));
		json_t *b, *t;
		if (status_counts(st,
		                  "SELECT status, COUNT(*) FROM builds WHERE checkout_id = ? "
		                  "GROUP BY status ORDER BY status",
		                  cid, &b, err) < 0) {
			json_decref(series);
			json_decref(trailers);
			goto done;
		}
		json_object_set_new(co, "builds", b);
		if (status_counts(st,
		                  "SELECT t.status, COUNT(*) FROM builds b JOIN tests t ON "
		                  "t.build_id = b.id WHERE b.checkout_id = ? GROUP BY t.status "
		                  "ORDER BY t.status",
		                  cid, &t, err) < 0) {
			json_decref(series);
			json_decref(trailers);
			goto done;
		}
		json_object_set_new(co, "tests", t);
	}
	o = json_object();
	json_object_set_new(o, "msgid", json_string(msgid));
	json_object_set(o, "patch",
	                json_array_size(patches) ? json_array_get(patches, 0) : json_null());
	json_object_set(o, "files", files);
	json_object_set_new(o, "series", series);
	json_object_set_new(o, "trailers", trailers);
	json_object_set(o, "checkouts", cos);
	dump_to(out, o);
	rc = 0;
done:
	json_decref(o);
	json_decref(patches);
	json_decref(files);
	json_decref(cos);
	return rc;
}
