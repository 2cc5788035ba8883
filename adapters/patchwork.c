/*
 * patchwork.c - Patchwork REST API 1.3: patches, series and their checks.
 * Mapping: schema/mapping-patchwork.md; upstream facts:
 * ../shared/reference/patchwork.md.
 *
 * The cycle walks the event feed oldest first,
 *   GET /api/1.3/events/?project=P&order=date&since=C-overlap&per_page=N
 * following Link rel=next; each page is a unit whose cursor is the last
 * event date on it (the naive UTC string as Patchwork wrote it), so pages
 * commit as they go.  Events already stored inside the overlap window are
 * skipped by id.  The categories that carry results:
 *   patch-created, patch-completed  -> a checkout for the patch (its
 *                                      Message-ID, mbox), tests attach here
 *   check-created                   -> GET /patches/{id}/checks/ (the full
 *                                      history: the event lacks the user's
 *                                      details and the description), then
 *                                      tests, reduced per (user, context)
 *   series-completed                -> GET /series/{id}/: a checkout for the
 *                                      series (cover letter's Message-ID,
 *                                      every patch's mbox in order)
 * Checks are reduced as Patchwork does (the newest check per user and
 * context is the state), with one twist forced by KCIDB's merge rule
 * (first value wins): each run of checks - pending ones up to the final
 * one - is one test, and a check after a final one starts a new test, so a
 * re-run that fails after a success is not lost.
 */
#include "adapter.h"
#include "formats.h"
#include "kit.h"

#include <stdlib.h>
#include <string.h>

enum { K_EVENTS = 1, K_CHECKS, K_SERIES };

struct pw {
	char *api; /* .../api/1.3 */
	char *project;
	char *since;
	int64_t overlap_us;
	int per_page;
	int series;
};

static const struct config_key pw_keys[] = {
    ADAPTER_HTTP_CONFIG_KEYS,
    {"project", CFG_STRING, "project link name or id (default: every project)"},
    {"since", CFG_STRING, "where the first poll starts: a date-time or a duration back (7d)"},
    {"overlap", CFG_DURATION, "re-read window behind the cursor (default 2m)"},
    {"per-page", CFG_INT, "events per page, 1-250 (default 100)"},
    {"series", CFG_BOOL, "a checkout per completed series (default true)"},
    {NULL, 0, NULL},
};

static void pw_fini(struct adapter_source *src)
{
	struct pw *p = src->priv;
	if (!p)
		return;
	free(p->api);
	free(p->project);
	free(p->since);
	free(p);
	src->priv = NULL;
}

static int pw_init(struct adapter_source *src, const struct config *cfg, struct err *err)
{
	struct pw *p = xcalloc(1, sizeof(*p));
	src->priv = p;
	const char *name = src->name;
	size_t l = strlen(src->url);
	if (l >= 8 && !strcmp(src->url + l - 8, "/api/1.3"))
		p->api = xstrdup(src->url);
	else {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/api/1.3", src->url); /* pinned: /api/ alone means "latest" */
		p->api = buf_detach(&b);
	}
	const char *proj = config_get(cfg, "source", name, "project");
	p->project = proj ? xstrdup(proj) : NULL;
	const char *since = config_get(cfg, "source", name, "since");
	if (kit_check_since(src, since, err) < 0)
		return -1;
	p->since = since ? xstrdup(since) : NULL;
	p->overlap_us = config_get_duration(cfg, "source", name, "overlap", 120) * 1000000;
	int64_t pp = config_get_int(cfg, "source", name, "per-page", 100);
	if (pp < 1 || pp > 250)
		return err_set(err, ERR_CONFIG,
		               "[source \"%s\"] per-page: %lld is not within 1-250", name,
		               (long long)pp);
	p->per_page = (int)pp;
	p->series = config_get_bool(cfg, "source", name, "series", 1);
	return 0;
}

/* Writes need "Authorization: Token KEY"; reads are anonymous but may use it. */
static void pw_auth(const struct adapter_source *src, const char *token, struct buf *line)
{
	(void)src;
	buf_addf(line, "Authorization: Token %s", token);
}

static int pw_begin(const struct adapter_source *src, const json_t *cursor, int64_t now,
                    struct adapter_output *out, struct err *err)
{
	const struct pw *p = src->priv;
	(void)err;
	int64_t us;
	const char *c = kit_str(cursor, "since");
	if (!c || kit_time_us(c, &us) < 0)
		kit_since(p->since, now, &us);
	else
		us -= p->overlap_us;
	/* naive UTC: an aware value makes Patchwork 3.1 fail with HTTP 500 */
	char since[40];
	kit_time_naive(us, 'T', 6, since);
	struct buf url = BUF_INIT;
	buf_addf(&url, "%s/events/?", p->api);
	if (p->project) {
		buf_adds(&url, "project=");
		kit_url_escape(&url, p->project);
		buf_addch(&url, '&');
	}
	buf_adds(&url, "order=date&since=");
	kit_url_escape(&url, since);
	buf_addf(&url, "&per_page=%d", p->per_page);
	json_t *seen = json_object_get(cursor, "seen");
	json_t *ctx = json_pack("{s:s?, s:o}", "since", c, "seen",
	                        seen ? json_deep_copy(seen) : json_object());
	adapter_request_add(out, K_EVENTS, ADAPTER_REQ_NEXT, ctx, "%s", url.ptr);
	buf_free(&url);
	return 0;
}

/* ------------------------------------------------------------ mapping */

static char *pid_str(const struct adapter_source *src, const char *what, json_int_t id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s:%s/%" JSON_INTEGER_FORMAT, src->origin, what, id);
	return buf_detach(&b);
}

static void set_project(json_t *co, const json_t *project)
{
	kit_set_str(co, "tree_name", kit_str(project, "link_name"));
	kit_set_https(co, "git_repository_url", kit_str(project, "scm_url"));
}

/* The checkout of a patch, from the short patch form every event carries. */
static json_t *patch_checkout(const struct adapter_source *src, const json_t *patch,
                              const json_t *project, json_int_t id)
{
	char *cid = pid_str(src, "patch", id);
	json_t *co = json_pack("{s:s}", "id", cid);
	free(cid);
	kit_set_email(co, "message_id", kit_str(patch, "msgid"));
	kit_set_str(co, "comment", kit_str(patch, "name"));
	set_project(co, project);
	const char *mbox = kit_str(patch, "mbox");
	if (mbox && fmt_is_uri(mbox)) {
		struct buf n = BUF_INIT;
		buf_addf(&n, "patch-%" JSON_INTEGER_FORMAT ".mbox", id);
		json_object_set_new(co, "patchset_files",
		                    json_pack("[{s:s, s:s}]", "name", n.ptr, "url", mbox));
		buf_free(&n);
	}
	json_t *m = json_pack("{s:I}", "patch_id", id);
	kit_copy(m, patch, "web_url");
	kit_copy(m, patch, "list_archive_url");
	kit_copy(m, patch, "date");
	kit_copy(m, patch, "msgid");
	if (kit_str(project, "link_name"))
		json_object_set_new(m, "project", json_string(kit_str(project, "link_name")));
	json_object_set_new(co, "misc", json_pack("{s:o}", "patchwork", m));
	return co;
}

static const char *check_status(const char *state)
{
	if (!state)
		return NULL;
	if (!strcmp(state, "success"))
		return "PASS";
	if (!strcmp(state, "fail") || !strcmp(state, "warning"))
		return "FAIL"; /* KCIDB has no warning; misc keeps the state */
	return NULL;           /* pending (or unknown): not final */
}

static const char *user_name(const json_t *check)
{
	const json_t *u = json_object_get(check, "user");
	const char *n = kit_str(u, "username");
	return n ? n : "unknown";
}

static int cmp_checks(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int64_t dx = 0, dy = 0;
	kit_time_us(kit_str(x, "date"), &dx);
	kit_time_us(kit_str(y, "date"), &dy);
	if (dx != dy)
		return dx < dy ? -1 : 1;
	json_int_t ix = 0, iy = 0;
	kit_int(x, "id", &ix);
	kit_int(y, "id", &iy);
	return ix < iy ? -1 : ix > iy;
}

/* One test per run of checks of one (user, context): [first, last]. */
static void emit_run(const struct adapter_source *src, struct adapter_output *out, json_int_t patch,
                     const json_t *first, const json_t *last, json_t *builds)
{
	const char *user = user_name(first), *context = kit_str(first, "context");
	json_int_t fid = 0;
	kit_int(first, "id", &fid);
	char *co = pid_str(src, "patch", patch);
	struct buf bid = BUF_INIT, tid = BUF_INIT, path = BUF_INIT;
	buf_addf(&bid, "%s/ci/", co);
	kit_id_part(&bid, user);
	buf_addf(&tid, "%s/check/", co);
	kit_id_part(&tid, user);
	buf_addch(&tid, '/');
	kit_id_part(&tid, context);
	buf_addf(&tid, "/%" JSON_INTEGER_FORMAT, fid);
	kit_path_segment(&path, context);
	if (!json_object_get(builds, bid.ptr)) {
		/* one build per CI user of the patch */
		json_object_set_new(builds, bid.ptr, json_true());
		json_t *b =
		    json_pack("{s:s, s:s, s:s}", "id", bid.ptr, "checkout_id", co, "comment", user);
		json_t *bm = json_pack("{s:s}", "user", user);
		const json_t *u = json_object_get(first, "user");
		kit_copy(bm, u, "first_name");
		kit_copy(bm, u, "last_name");
		json_object_set_new(b, "misc", json_pack("{s:o}", "patchwork", bm));
		adapter_add(out, src, KCIDB_BUILD, b);
	}

	json_t *t =
	    json_pack("{s:s, s:s, s:s}", "id", tid.ptr, "build_id", bid.ptr, "path", path.ptr);
	kit_set_time(t, "start_time", kit_str(first, "date"));
	json_t *m =
	    json_pack("{s:s, s:s, s:I}", "user", user, "context", context, "first_check", fid);
	const char *st = check_status(kit_str(last, "state"));
	if (st) {
		/* the run is over: everything about its end is final */
		json_object_set_new(t, "status", json_string(st));
		int64_t a, z;
		if (kit_time_us(kit_str(first, "date"), &a) == 0 &&
		    kit_time_us(kit_str(last, "date"), &z) == 0 && z >= a)
			json_object_set_new(t, "duration", json_real((double)(z - a) / 1e6));
		kit_set_uri(t, "log_url", kit_str(last, "target_url"));
		kit_set_str(t, "comment", kit_str(last, "description"));
		json_int_t lid = 0;
		kit_int(last, "id", &lid);
		json_object_set_new(m, "final_check", json_integer(lid));
		json_object_set_new(m, "state", json_string(kit_str(last, "state")));
		json_object_set_new(t, "misc", json_pack("{s:o}", "patchwork", m));
	} else {
		json_decref(m); /* still pending: misc would freeze at this state */
	}
	adapter_add(out, src, KCIDB_TEST, t);
	free(co);
	buf_free(&bid);
	buf_free(&tid);
	buf_free(&path);
}

static void reduce_checks(const struct adapter_source *src, struct adapter_output *out,
                          json_int_t patch, json_t *checks)
{
	size_t n = json_array_size(checks);
	if (!n)
		return;
	json_t **v = xcalloc(n, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(checks, i);
		if (json_is_object(c) && kit_str(c, "context") && kit_str(c, "date") &&
		    json_is_integer(json_object_get(c, "id")))
			v[k++] = c;
	}
	qsort(v, k, sizeof(*v), cmp_checks);
	/* walk each (user, context) in date order; a final state closes a run */
	char *used = xcalloc(k ? k : 1, 1);
	json_t *builds = json_object();
	for (size_t i = 0; i < k; i++) {
		if (used[i])
			continue;
		const char *u = user_name(v[i]), *ctx = kit_str(v[i], "context");
		const json_t *first = NULL;
		for (size_t j = i; j < k; j++) {
			if (used[j] || strcmp(user_name(v[j]), u) ||
			    strcmp(kit_str(v[j], "context"), ctx))
				continue;
			used[j] = 1;
			if (!first)
				first = v[j];
			if (check_status(kit_str(v[j], "state"))) {
				emit_run(src, out, patch, first, v[j], builds);
				first = NULL;
			}
		}
		if (first) {
			/* the newest check is pending: an open run */
			const json_t *last = first;
			for (size_t j = i; j < k; j++)
				if (!strcmp(user_name(v[j]), u) &&
				    !strcmp(kit_str(v[j], "context"), ctx))
					last = v[j];
			emit_run(src, out, patch, first, last, builds);
		}
	}
	json_decref(builds);
	free(used);
	free(v);
}

static void series_request(const struct adapter_source *src, struct adapter_output *out,
                           json_int_t id)
{
	const struct pw *p = src->priv;
	adapter_request_add(out, K_SERIES, ADAPTER_REQ_OPTIONAL, NULL,
	                    "%s/series/%" JSON_INTEGER_FORMAT "/", p->api, id);
}

static int parse_events(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	const struct pw *p = src->priv;
	json_t *list = adapter_json(resp, NULL, err);
	if (!list)
		return -1;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(err, ERR_INVALID, "%s: expected a list of events", resp->url);
	}
	json_t *seen = json_deep_copy(json_object_get(req->ctx, "seen"));
	if (!json_is_object(seen)) {
		json_decref(seen);
		seen = json_object();
	}
	const char *since = kit_str(req->ctx, "since");
	char *last = since ? xstrdup(since) : NULL;
	int64_t last_us = INT64_MIN;
	if (last)
		kit_time_us(last, &last_us);
	json_t *checks_for = json_object(), *patches = json_object();
	size_t i;
	json_t *ev;
	json_array_foreach (list, i, ev) {
		json_int_t eid;
		const char *date = kit_str(ev, "date"), *cat = kit_str(ev, "category");
		int64_t us;
		if (!json_is_object(ev) || !kit_int(ev, "id", &eid) || !date || !cat ||
		    kit_time_us(date, &us) < 0) {
			adapter_note(out, "skipped an event without id, date or category");
			continue;
		}
		if (us > last_us) {
			last_us = us;
			free(last);
			last = xstrdup(date);
		}
		char key[32];
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, eid);
		if (json_object_get(seen, key))
			continue; /* already stored (overlap window) */
		json_object_set_new(seen, key, json_string(date));
		const json_t *pl = json_object_get(ev, "payload");
		const json_t *project = json_object_get(ev, "project");
		const json_t *patch = json_object_get(pl, "patch");
		json_int_t patch_id;
		if (!strcmp(cat, "patch-created") || !strcmp(cat, "patch-completed") ||
		    !strcmp(cat, "check-created")) {
			if (!kit_int(patch, "id", &patch_id))
				continue;
			char pk[32];
			snprintf(pk, sizeof(pk), "%" JSON_INTEGER_FORMAT, patch_id);
			if (!json_object_get(patches, pk)) {
				json_object_set_new(patches, pk, json_true());
				adapter_add(out, src, KCIDB_CHECKOUT,
				            patch_checkout(src, patch, project, patch_id));
			}
			if (!strcmp(cat, "check-created") && !json_object_get(checks_for, pk))
				json_object_set_new(checks_for, pk,
				                    json_pack("{s:I}", "patch", patch_id));
		} else if (!strcmp(cat, "series-completed") && p->series) {
			json_int_t sid;
			if (kit_int(json_object_get(pl, "series"), "id", &sid))
				series_request(src, out, sid);
		}
	}
	json_decref(list);
	/* one check history per patch and page, however many checks it got */
	const char *pk;
	json_t *ctx;
	json_object_foreach (checks_for, pk, ctx)
		adapter_request_add(out, K_CHECKS, ADAPTER_REQ_OPTIONAL, json_incref(ctx),
		                    "%s/patches/%s/checks/?per_page=250", p->api, pk);
	json_decref(checks_for);
	json_decref(patches);
	/* forget ids that fell out of the overlap window */
	json_t *pruned = json_object();
	const char *k;
	json_t *v;
	json_object_foreach (seen, k, v) {
		int64_t us;
		if (kit_time_us(json_string_value(v), &us) == 0 && us >= last_us - p->overlap_us)
			json_object_set(pruned, k, v);
	}
	json_decref(seen);
	char *next = adapter_link_next(resp);
	if (next) {
		json_t *nctx = json_pack("{s:s?, s:O}", "since", last, "seen", pruned);
		adapter_request_add(out, K_EVENTS, ADAPTER_REQ_NEXT, nctx, "%s", next);
		free(next);
	}
	/* oldest first: this page's end is a safe cursor */
	if (last)
		adapter_set_cursor(out, json_pack("{s:s, s:O}", "since", last, "seen", pruned));
	json_decref(pruned);
	free(last);
	return 0;
}

static int parse_checks(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	json_int_t patch = json_integer_value(json_object_get(req->ctx, "patch"));
	if (resp->status != 200) {
		adapter_note(out,
		             "patch %" JSON_INTEGER_FORMAT " is gone (HTTP %ld); its checks "
		             "are skipped",
		             patch, resp->status);
		return 0;
	}
	json_t *list = adapter_json(resp, NULL, err);
	if (!list)
		return -1;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(err, ERR_INVALID, "%s: expected a list of checks", resp->url);
	}
	/* the history may span pages: gather it all, then reduce */
	json_t *acc = json_deep_copy(json_object_get(req->ctx, "checks"));
	if (!json_is_array(acc)) {
		json_decref(acc);
		acc = json_array();
	}
	json_array_extend(acc, list);
	json_decref(list);
	char *next = adapter_link_next(resp);
	if (next) {
		json_t *ctx = json_pack("{s:I, s:o}", "patch", patch, "checks", acc);
		adapter_request_add(out, K_CHECKS, ADAPTER_REQ_OPTIONAL, ctx, "%s", next);
		free(next);
		return 0;
	}
	reduce_checks(src, out, patch, acc);
	json_decref(acc);
	return 0;
}

static int parse_series(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	(void)req;
	if (resp->status != 200) {
		adapter_note(out, "a completed series is gone (HTTP %ld)", resp->status);
		return 0;
	}
	json_t *s = adapter_json(resp, NULL, err);
	if (!s)
		return -1;
	json_int_t sid;
	if (!json_is_object(s) || !kit_int(s, "id", &sid)) {
		json_decref(s);
		return err_set(err, ERR_INVALID, "%s: expected a series", resp->url);
	}
	char *id = pid_str(src, "series", sid);
	json_t *co = json_pack("{s:s}", "id", id);
	free(id);
	const json_t *cover = json_object_get(s, "cover_letter");
	const json_t *patches = json_object_get(s, "patches");
	const char *root = kit_str(cover, "msgid");
	if (!root)
		root = kit_str(json_array_get(patches, 0), "msgid");
	kit_set_email(co, "message_id", root);
	kit_set_str(co, "comment", kit_str(s, "name"));
	set_project(co, json_object_get(s, "project"));
	json_t *files = json_array(), *ids = json_array();
	size_t i;
	json_t *pt;
	json_array_foreach (patches, i, pt) {
		json_int_t pid;
		const char *mbox = kit_str(pt, "mbox");
		if (!kit_int(pt, "id", &pid))
			continue;
		json_array_append_new(ids, json_integer(pid));
		if (mbox && fmt_is_uri(mbox)) {
			struct buf n = BUF_INIT;
			buf_addf(&n, "%04zu-patch-%" JSON_INTEGER_FORMAT ".mbox", i + 1, pid);
			json_array_append_new(files,
			                      json_pack("{s:s, s:s}", "name", n.ptr, "url", mbox));
			buf_free(&n);
		}
	}
	if (json_array_size(files))
		json_object_set_new(co, "patchset_files", files);
	else
		json_decref(files);
	json_t *m = json_pack("{s:I, s:o}", "series_id", sid, "patch_ids", ids);
	static const char *keys[] = {"version", "total", "received_total", "web_url", "mbox",
	                             "date",    "name"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
		kit_copy(m, s, keys[k]);
	if (root)
		json_object_set_new(m, "cover_msgid", json_string(root));
	json_object_set_new(co, "misc", json_pack("{s:o}", "patchwork", m));
	adapter_add(out, src, KCIDB_CHECKOUT, co);
	json_decref(s);
	return 0;
}

static int pw_parse(const struct adapter_source *src, const struct adapter_request *req,
                    const struct adapter_response *resp, struct adapter_output *out,
                    struct err *err)
{
	switch (req->kind) {
	case K_EVENTS:
		return parse_events(src, req, resp, out, err);
	case K_CHECKS:
		return parse_checks(src, req, resp, out, err);
	case K_SERIES:
		return parse_series(src, req, resp, out, err);
	}
	return err_set(err, ERR_INTERNAL, "patchwork: unknown request kind %u", req->kind);
}

const struct adapter adapter_patchwork = {
    .name = "patchwork",
    .config_keys = pw_keys,
    .default_origin = NULL,
    .max_host_requests = 2,
    .init = pw_init,
    .fini = pw_fini,
    .begin = pw_begin,
    .parse = pw_parse,
    .auth = pw_auth,
};
