/*
 * kernelci.c - KernelCI Maestro: checkout, kbuild, job and test nodes.
 * Mapping: schema/mapping-kernelci.md; upstream facts:
 * ../shared/reference/kernelci-maestro.md.
 *
 * Two ways to follow Maestro (`mode`):
 *   events  GET /events?recursive=true&from=C-overlap&limit=N&offset=K
 *           (the event history: each event embeds its node's current state)
 *   nodes   GET /nodes?updated__gt=C-overlap&limit=N&offset=K
 *           (reconciliation, or after an outage longer than the 7-day event
 *           history)
 * Both return items in MongoDB's natural order, not sorted, so the cursor
 * (the greatest timestamp, the naive UTC string as Maestro wrote it) only
 * moves when the whole walk is stored; pages commit objects as they go.
 * Events and nodes already stored inside the overlap window are skipped.
 *
 * Ids are "maestro:<node id>" (the origin defaults to maestro), the ids
 * Maestro itself submits to KCIDB, so both copies merge.  Tests need the
 * kbuild they ran on: a test's ancestors are looked up with GET /node/{id}
 * (follow-up requests in the same unit) until a kbuild, or a checkout, for
 * which a "dummy" build is made as Maestro's own bridge does.  Timestamps
 * without a zone are UTC and written out with +00:00.
 */
#include "adapter.h"
#include "kit.h"

#include <stdlib.h>
#include <string.h>

enum { K_EVENTS = 1, K_NODES, K_PARENT, K_NODE };

struct kci {
	char *base;
	int events; /* mode */
	char *since;
	int64_t overlap_us;
	int limit;
	json_t *suites; /* job name -> KCIDB suite */
	char **filters; /* extra query parameters key=value */
};

static const struct config_key kci_keys[] = {
    ADAPTER_HTTP_CONFIG_KEYS,
    {"mode", CFG_STRING, "events (default: the event history) or nodes (updated__gt)"},
    {"since", CFG_STRING, "where the first poll starts: a date-time or a duration back (7d)"},
    {"overlap", CFG_DURATION, "re-read window behind the cursor (default 1m)"},
    {"page-size", CFG_INT, "items per request, 1-1000 (default 100)"},
    {"filter", CFG_STRING, "extra query parameter (kind=test, data.kernel_revision.tree=mainline)"},
    {"suite-map", CFG_STRING, "JOB=SUITE: test path name for a Maestro job (baseline=boot)"},
    {NULL, 0, NULL},
};

static void kci_fini(struct adapter_source *src)
{
	struct kci *k = src->priv;
	if (!k)
		return;
	free(k->base);
	free(k->since);
	json_decref(k->suites);
	kit_strv_free(k->filters);
	free(k);
	src->priv = NULL;
}

static int kci_init(struct adapter_source *src, const struct config *cfg, struct err *err)
{
	struct kci *k = xcalloc(1, sizeof(*k));
	src->priv = k;
	const char *name = src->name;
	k->base = xstrdup(src->url);
	const char *mode = config_get_str(cfg, "source", name, "mode", "events");
	if (!strcmp(mode, "events"))
		k->events = 1;
	else if (strcmp(mode, "nodes"))
		return err_set(err, ERR_CONFIG, "[source \"%s\"] mode: '%s' is not events or nodes",
		               name, mode);
	const char *since = config_get(cfg, "source", name, "since");
	if (kit_check_since(src, since, err) < 0)
		return -1;
	k->since = since ? xstrdup(since) : NULL;
	k->overlap_us = config_get_duration(cfg, "source", name, "overlap", 60) * 1000000;
	int64_t l = config_get_int(cfg, "source", name, "page-size", 100);
	if (l < 1 || l > 1000)
		return err_set(err, ERR_CONFIG,
		               "[source \"%s\"] page-size: %lld is not within 1-1000", name,
		               (long long)l);
	k->limit = (int)l;
	size_t nf = kit_config_all(cfg, src, "filter", &k->filters);
	for (size_t i = 0; i < nf; i++)
		if (!strchr(k->filters[i], '=') || k->filters[i][0] == '=')
			return err_set(err, ERR_CONFIG,
			               "[source \"%s\"] filter: '%s' is not KEY=VALUE", name,
			               k->filters[i]);
	k->suites = json_pack("{s:s}", "baseline", "boot");
	char **maps;
	size_t nm = kit_config_all(cfg, src, "suite-map", &maps);
	for (size_t i = 0; i < nm; i++) {
		char *eq = strchr(maps[i], '=');
		if (!eq || eq == maps[i] || !eq[1]) {
			kit_strv_free(maps);
			return err_set(err, ERR_CONFIG,
			               "[source \"%s\"] suite-map: '%s' is not JOB=SUITE", name,
			               maps[i]);
		}
		*eq = '\0';
		json_object_set_new(k->suites, maps[i], json_string(eq + 1));
	}
	kit_strv_free(maps);
	return 0;
}

/* ------------------------------------------------------------ requests */

static void list_url(struct buf *url, const struct kci *k, const char *from, json_int_t offset)
{
	if (k->events) {
		buf_addf(url, "%s/events?recursive=true&from=", k->base);
		kit_url_escape(url, from);
	} else {
		buf_addf(url, "%s/nodes?updated__gt=", k->base);
		kit_url_escape(url, from);
	}
	for (char **f = k->filters; *f; f++) {
		const char *eq = strchr(*f, '=');
		buf_addch(url, '&');
		struct buf key = BUF_INIT;
		buf_add(&key, *f, (size_t)(eq - *f));
		kit_url_escape(url, key.ptr);
		buf_addch(url, '=');
		kit_url_escape(url, eq + 1);
		buf_free(&key);
	}
	buf_addf(url, "&limit=%d&offset=%" JSON_INTEGER_FORMAT, k->limit, offset);
}

static int kci_begin(const struct adapter_source *src, const json_t *cursor, int64_t now,
                     struct adapter_output *out, struct err *err)
{
	const struct kci *k = src->priv;
	(void)err;
	int64_t us;
	const char *c = kit_str(cursor, "from");
	if (!c || kit_time_us(c, &us) < 0)
		kit_since(k->since, now, &us);
	else
		us -= k->overlap_us;
	char from[40];
	kit_time_naive(us, 'T', 6, from); /* Maestro parses these with fromisoformat, as UTC */
	struct buf url = BUF_INIT;
	list_url(&url, k, from, 0);
	json_t *seen = json_object_get(cursor, "seen");
	json_t *ctx =
	    json_pack("{s:s, s:I, s:s?, s:o}", "from", from, "offset", (json_int_t)0, "cursor_from",
	              c, "seen", seen ? json_deep_copy(seen) : json_object());
	adapter_request_add(out, k->events ? K_EVENTS : K_NODES, ADAPTER_REQ_NEXT, ctx, "%s",
	                    url.ptr);
	buf_free(&url);
	return 0;
}

/* ------------------------------------------------------------ nodes */

static const char *node_id(const json_t *n)
{
	const char *id = kit_str(n, "id");
	return id ? id : kit_str(n, "_id"); /* very old documents */
}

enum nkind { N_OTHER, N_CHECKOUT, N_KBUILD, N_TEST };

static enum nkind node_kind(const json_t *n)
{
	const char *kind = kit_str(n, "kind");
	if (!kind)
		return N_OTHER;
	if (!strcmp(kind, "checkout"))
		return N_CHECKOUT;
	if (!strcmp(kind, "kbuild"))
		return N_KBUILD;
	if (!strcmp(kind, "job") || !strcmp(kind, "test"))
		return N_TEST;
	if (!strcmp(kind, "node")) {
		/* the old generic kind: the root is the checkout, the rest are tests */
		const json_t *path = json_object_get(n, "path");
		if (json_array_size(path) == 1 && kit_str(n, "parent") == NULL)
			return N_CHECKOUT;
		return N_TEST;
	}
	return N_OTHER; /* process, regression: not results */
}

static int done(const json_t *n)
{
	const char *st = kit_str(n, "state");
	return st && !strcmp(st, "done");
}

static char *mid(const struct adapter_source *src, const char *id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s:%s", src->origin, id);
	return buf_detach(&b);
}

static json_t *map_checkout(const struct adapter_source *src, const json_t *n)
{
	const json_t *kr = json_object_get(json_object_get(n, "data"), "kernel_revision");
	char *id = mid(src, node_id(n));
	json_t *co = json_pack("{s:s}", "id", id);
	free(id);
	kit_set_str(co, "tree_name", kit_str(kr, "tree"));
	kit_set_https(co, "git_repository_url", kit_str(kr, "url"));
	kit_set_commit(co, "git_commit_hash", kit_str(kr, "commit"));
	kit_set_str(co, "git_commit_name", kit_str(kr, "describe"));
	kit_set_str(co, "git_repository_branch", kit_str(kr, "branch"));
	json_t *tags = json_object_get(kr, "commit_tags");
	if (json_is_array(tags)) {
		json_t *t = json_array();
		size_t i;
		json_t *v;
		json_array_foreach (tags, i, v)
			if (json_is_string(v))
				json_array_append(t, v);
		json_object_set_new(co, "git_commit_tags", t);
	}
	kit_set_str(co, "git_commit_message", kit_str(kr, "commit_message"));
	json_t *tip = json_object_get(kr, "tip_of_branch");
	if (json_is_boolean(tip))
		json_object_set(co, "git_repository_branch_tip", tip);
	kit_set_time(co, "start_time", kit_str(n, "created"));
	/* like Maestro's own submissions: patches are not hashed */
	json_object_set_new(co, "patchset_hash", json_string(""));
	const char *result = kit_str(n, "result");
	if (done(n) && result)
		json_object_set_new(co, "valid", json_boolean(!strcmp(result, "pass")));
	return co;
}

static void add_artifacts(json_t *obj, const json_t *artifacts, const char *skip1,
                          const char *skip2)
{
	if (!json_is_object(artifacts))
		return;
	json_t *files = json_array();
	const char *name;
	json_t *url;
	json_object_foreach ((json_t *)artifacts, name, url) {
		if (!strcmp(name, skip1) || !strcmp(name, skip2) || !json_is_string(url))
			continue;
		json_t *tmp = json_object();
		kit_set_uri(tmp, "url", json_string_value(url));
		if (json_object_get(tmp, "url")) {
			struct buf nm = BUF_INIT;
			for (const char *p = name; *p; p++)
				buf_addch(&nm,
				          *p == '/' ? '_' : *p); /* resource names hold no '/' */
			if (nm.len)
				json_array_append_new(files,
				                      json_pack("{s:s, s:O}", "name", nm.ptr, "url",
				                                json_object_get(tmp, "url")));
			buf_free(&nm);
		}
		json_decref(tmp);
	}
	if (json_array_size(files))
		json_object_set_new(obj, "output_files", files);
	else
		json_decref(files);
}

static void misc_from(json_t *misc, const json_t *data, const char *const *keys)
{
	for (; *keys; keys++)
		kit_copy(misc, data, *keys);
}

static json_t *map_build(const struct adapter_source *src, const json_t *n)
{
	const json_t *data = json_object_get(n, "data");
	char *id = mid(src, node_id(n));
	const char *parent = kit_str(n, "parent");
	char *co = parent ? mid(src, parent) : NULL;
	if (!co) {
		free(id);
		return NULL;
	}
	json_t *b = json_pack("{s:s, s:s}", "id", id, "checkout_id", co);
	free(id);
	free(co);
	kit_set_str(b, "comment", kit_str(json_object_get(data, "kernel_revision"), "describe"));
	kit_set_time(b, "start_time", kit_str(n, "created"));
	kit_set_arch(b, "architecture", kit_str(data, "arch"));
	kit_set_str(b, "compiler", kit_str(data, "compiler"));
	kit_set_str(b, "config_name", kit_str(data, "defconfig"));
	const json_t *art = json_object_get(n, "artifacts");
	kit_set_uri(b, "config_url", kit_str(art, "_config"));
	kit_set_uri(b, "log_url", kit_str(art, "build_log"));
	add_artifacts(b, art, "build_log", "_config");
	const char *result = kit_str(n, "result");
	const char *code = kit_str(data, "error_code");
	if (done(n) && result) {
		const char *st;
		if (!strcmp(result, "pass"))
			st = "PASS";
		else if (!strcmp(result, "skip"))
			st = "SKIP";
		else if (code && !strcmp(code, "node_timeout"))
			st = "MISS"; /* the CI ran out of time, not the code */
		else if (!strcmp(result, "fail") && !code)
			st = "FAIL";
		else
			st = "ERROR"; /* incomplete, or failed with an infrastructure error code */
		json_object_set_new(b, "status", json_string(st));
	}
	static const char *const keys[] = {"platform",    "runtime",     "job_id",    "job_context",
	                                   "kernel_type", "config_full", "fragments", NULL};
	json_t *misc = json_object();
	misc_from(misc, data, keys);
	if (code && strcmp(code, "node_timeout")) {
		kit_copy(misc, data, "error_code");
		kit_copy(misc, data, "error_msg");
	}
	if (json_object_size(misc))
		json_object_set_new(b, "misc", misc);
	else
		json_decref(misc);
	return b;
}

/* incomplete: blame by error code, as kernelci-pipeline's send_kcidb.py does */
static const char *test_status(const json_t *n)
{
	const char *result = kit_str(n, "result");
	if (!done(n) || !result)
		return NULL;
	if (!strcmp(result, "pass"))
		return "PASS";
	if (!strcmp(result, "fail"))
		return "FAIL";
	if (!strcmp(result, "skip"))
		return "SKIP";
	if (!strcmp(result, "incomplete")) {
		static const char *const errored[] = {
		    "Canceled", "LAVATimeout", "MultinodeTimeout", "node_timeout", "Test", NULL};
		static const char *const missed[] = {"Bug",
		                                     "Configuration",
		                                     "Infrastructure",
		                                     "invalid_job_params",
		                                     "Job",
		                                     "job_generation_error",
		                                     "ObjectNotPersisted",
		                                     "RequestBodyTooLarge",
		                                     "submit_error",
		                                     "kbuild_internal_error",
		                                     NULL};
		const char *code = kit_str(json_object_get(n, "data"), "error_code");
		for (const char *const *c = errored; code && *c; c++)
			if (!strcmp(code, *c))
				return "ERROR";
		for (const char *const *c = missed; code && *c; c++)
			if (!strcmp(code, *c))
				return "MISS";
	}
	return NULL;
}

/* path[2:] (path[1:] under a checkout), repeated first name once, jobs -> suites */
static char *test_path(const struct kci *k, const json_t *n, int checkout_child)
{
	const json_t *path = json_object_get(n, "path");
	size_t len = json_array_size(path), first = checkout_child ? 1 : 2;
	const char *names[64];
	size_t nn = 0;
	for (size_t i = first; i < len && nn < 64; i++) {
		const char *s = json_string_value(json_array_get(path, i));
		if (s)
			names[nn++] = s;
	}
	size_t start = 0;
	if (nn >= 2 && !strcmp(names[0], names[1]))
		start = 1;
	struct buf b = BUF_INIT;
	const char *prev = NULL;
	for (size_t i = start; i < nn; i++) {
		const char *s = kit_str(k->suites, names[i]);
		s = s ? s : names[i];
		if (i == start + 1 && prev && !strcmp(prev, s))
			continue; /* ['tast', 'tast', ...] after mapping */
		if (b.len)
			buf_addch(&b, '.');
		kit_path_dotted(&b, s);
		prev = s;
	}
	if (!b.len) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static json_t *map_test(const struct adapter_source *src, const json_t *n, const char *build_id,
                        int checkout_child)
{
	const struct kci *k = src->priv;
	const json_t *data = json_object_get(n, "data");
	char *path = test_path(k, n, checkout_child);
	if (!path)
		return NULL;
	char *id = mid(src, node_id(n));
	json_t *t = json_pack("{s:s, s:s, s:s}", "id", id, "build_id", build_id, "path", path);
	free(id);
	free(path);
	const char *st = test_status(n);
	if (st)
		json_object_set_new(t, "status", json_string(st));
	kit_set_time(t, "start_time", kit_str(n, "created"));
	const char *platform = kit_str(data, "platform"), *runtime = kit_str(data, "runtime");
	struct buf c = BUF_INIT;
	buf_addf(&c, "%s", kit_str(n, "name") ? kit_str(n, "name") : "test");
	if (platform)
		buf_addf(&c, " on %s", platform);
	if (runtime)
		buf_addf(&c, " in %s", runtime);
	kit_set_str(t, "comment", c.ptr);
	buf_free(&c);
	json_t *env_misc = json_object();
	static const char *const env_keys[] = {"platform", "job_id", "job_context", "device", NULL};
	misc_from(env_misc, data, env_keys);
	json_t *env = json_object();
	if (runtime) {
		struct buf r = BUF_INIT;
		buf_addf(&r, "Runtime: %s", runtime);
		json_object_set_new(env, "comment", json_string(r.ptr));
		buf_free(&r);
	}
	if (json_object_size(env_misc))
		json_object_set_new(env, "misc", env_misc);
	else
		json_decref(env_misc);
	if (json_object_size(env))
		json_object_set_new(t, "environment", env);
	else
		json_decref(env);
	const json_t *art = json_object_get(n, "artifacts");
	const char *log = kit_str(art, "lava_log");
	kit_set_uri(t, "log_url", log ? log : kit_str(art, "test_log"));
	add_artifacts(t, art, "lava_log", "test_log");
	json_t *misc = json_object();
	static const char *const keys[] = {
	    "test_source", "test_revision", "compiler", "kernel_type", "arch", "runtime", NULL};
	misc_from(misc, data, keys);
	if (st && strcmp(st, "PASS")) {
		kit_copy(misc, data, "error_code");
		kit_copy(misc, data, "error_msg");
	}
	kit_copy(misc, n, "kind");
	if (json_object_size(misc))
		json_object_set_new(t, "misc", misc);
	else
		json_decref(misc);
	return t;
}

/* The dummy build of tests that hang off a checkout (send_kcidb.py's ids). */
static char *dummy_build(const struct adapter_source *src, struct adapter_output *out,
                         const json_t *checkout, const char *arch)
{
	struct buf id = BUF_INIT;
	buf_addf(&id, "%s:dummy_%s", src->origin, node_id(checkout));
	if (arch && *arch)
		buf_addf(&id, "_%s", arch);
	char *co = mid(src, node_id(checkout));
	json_t *b = json_pack("{s:s, s:s, s:s}", "id", id.ptr, "checkout_id", co, "comment",
	                      "Dummy build for tests hanging from checkout");
	kit_set_time(b, "start_time", kit_str(checkout, "created"));
	kit_set_arch(b, "architecture", arch);
	adapter_add(out, src, KCIDB_BUILD, b);
	free(co);
	return buf_detach(&id);
}

/*
 * Emit the waiting tests once their build is known: `anc` is the kbuild or
 * checkout reached by climbing from them.
 */
static void emit_waiting(const struct adapter_source *src, struct adapter_output *out,
                         const json_t *waiting, const json_t *anc)
{
	int is_checkout = node_kind(anc) == N_CHECKOUT;
	size_t i;
	json_t *t;
	json_array_foreach (waiting, i, t) {
		char *bid = is_checkout ? dummy_build(src, out, anc,
		                                      kit_str(json_object_get(t, "data"), "arch"))
		                        : mid(src, node_id(anc));
		json_t *obj = map_test(src, t, bid, is_checkout);
		if (obj)
			adapter_add(out, src, KCIDB_TEST, obj);
		else
			adapter_note(out, "test node %s has no usable path; skipped", node_id(t));
		free(bid);
	}
}

/*
 * Climb from `parent` for `waiting` tests through the nodes of this page.
 * Returns 1 when a kbuild or checkout was reached (tests emitted), else 0
 * with *target set to the first ancestor that is not on the page (NULL
 * when the chain ends without one).
 */
static int climb_page(const struct adapter_source *src, struct adapter_output *out,
                      const json_t *page, const char *parent, json_t *waiting, const char **target)
{
	for (int depth = 0; parent && depth < 16; depth++) {
		const json_t *p = json_object_get(page, parent);
		if (!p)
			break;
		enum nkind nk = node_kind(p);
		if (nk == N_KBUILD || nk == N_CHECKOUT) {
			emit_waiting(src, out, waiting, p);
			return 1;
		}
		parent = kit_str(p, "parent");
	}
	*target = parent;
	return 0;
}

static void climb_request(const struct adapter_source *src, struct adapter_output *out,
                          const char *target, json_t *waiting, json_int_t depth)
{
	const struct kci *k = src->priv;
	struct buf pe = BUF_INIT;
	kit_url_escape(&pe, target);
	adapter_request_add(out, K_PARENT, ADAPTER_REQ_OPTIONAL,
	                    json_pack("{s:O, s:I}", "waiting", waiting, "depth", depth),
	                    "%s/node/%s", k->base, pe.ptr);
	buf_free(&pe);
}

static void note_orphans(struct adapter_output *out, const json_t *waiting)
{
	size_t i;
	json_t *t;
	json_array_foreach (waiting, i, t)
		adapter_note(out, "test node %s has no kbuild or checkout above it; skipped",
		             node_id(t));
}

static void map_nodes(const struct adapter_source *src, struct adapter_output *out, json_t *nodes)
{
	/* index the page so parents on it resolve without requests */
	json_t *page = json_object();
	size_t i;
	json_t *n;
	json_array_foreach (nodes, i, n)
		if (node_id(n))
			json_object_set(page, node_id(n), n);
	json_t *groups = json_object(); /* parent id -> tests waiting on it */
	json_array_foreach (nodes, i, n) {
		switch (node_kind(n)) {
		case N_CHECKOUT:
			adapter_add(out, src, KCIDB_CHECKOUT, map_checkout(src, n));
			break;
		case N_KBUILD: {
			json_t *b = map_build(src, n);
			if (b)
				adapter_add(out, src, KCIDB_BUILD, b);
			else
				adapter_note(out, "kbuild node %s has no parent; skipped",
				             node_id(n));
			break;
		}
		case N_TEST: {
			const char *parent = kit_str(n, "parent");
			if (!parent) {
				adapter_note(out, "test node %s has no parent; skipped",
				             node_id(n));
				break;
			}
			json_t *g = json_object_get(groups, parent);
			if (!g) {
				g = json_array();
				json_object_set_new(groups, parent, g);
			}
			json_array_append(g, n);
			break;
		}
		default:
			break;
		}
	}
	/* one look-up per ancestor missing from the page, however many tests wait on it */
	json_t *targets = json_object();
	const char *parent;
	json_t *g;
	json_object_foreach (groups, parent, g) {
		const char *target = NULL;
		if (climb_page(src, out, page, parent, g, &target))
			continue;
		if (!target) {
			note_orphans(out, g);
			continue;
		}
		json_t *w = json_object_get(targets, target);
		if (!w)
			json_object_set_new(targets, target, json_array());
		json_array_extend(json_object_get(targets, target), g);
	}
	json_object_foreach (targets, parent, g)
		climb_request(src, out, parent, g, 0);
	json_decref(targets);
	json_decref(groups);
	json_decref(page);
}

/* ------------------------------------------------------------ parse */

static int parse_list(const struct adapter_source *src, const struct adapter_request *req,
                      const struct adapter_response *resp, struct adapter_output *out,
                      struct err *err)
{
	const struct kci *k = src->priv;
	int events = req->kind == K_EVENTS;
	json_t *body = adapter_json(resp, NULL, err);
	if (!body)
		return -1;
	json_t *items = json_is_array(body) ? body : json_object_get(body, "items");
	if (!json_is_array(items)) {
		json_decref(body);
		return err_set(err, ERR_INVALID, "%s: expected a list of %s", resp->url,
		               events ? "events" : "nodes");
	}
	json_t *seen = json_deep_copy(json_object_get(req->ctx, "seen"));
	if (!json_is_object(seen)) {
		json_decref(seen);
		seen = json_object();
	}
	const char *top = kit_str(req->ctx, "top");
	char *new_top = top ? xstrdup(top) : NULL;
	int64_t top_us = INT64_MIN;
	if (new_top)
		kit_time_us(new_top, &top_us);
	json_t *nodes = json_array(), *fetch = json_array();
	size_t i;
	json_t *it;
	json_array_foreach (items, i, it) {
		const char *key = events ? kit_str(it, "id") : node_id(it);
		const char *ts = events ? kit_str(it, "timestamp") : kit_str(it, "updated");
		int64_t us;
		if (!key || !ts || kit_time_us(ts, &us) < 0) {
			adapter_note(out, "skipped an item without id or time");
			continue;
		}
		if (us > top_us) {
			top_us = us;
			free(new_top);
			new_top = xstrdup(ts);
		}
		const char *was = kit_str(seen, key);
		if (was && !strcmp(was, ts))
			continue;
		json_object_set_new(seen, key, json_string(ts));
		if (!events) {
			json_array_append(nodes, it);
			continue;
		}
		json_t *node = json_object_get(it, "node");
		if (json_is_object(node)) {
			json_array_append(nodes, node);
		} else {
			/* no recursive=true on this server: fetch the node itself */
			const char *nid = kit_str(json_object_get(it, "data"), "id");
			if (nid)
				json_array_append_new(fetch, json_string(nid));
		}
	}
	size_t n = json_array_size(items);
	json_decref(body);
	map_nodes(src, out, nodes);
	json_decref(nodes);
	json_array_foreach (fetch, i, it) {
		struct buf e = BUF_INIT;
		kit_url_escape(&e, json_string_value(it));
		adapter_request_add(out, K_NODE, ADAPTER_REQ_OPTIONAL, NULL, "%s/node/%s", k->base,
		                    e.ptr);
		buf_free(&e);
	}
	json_decref(fetch);
	json_int_t offset = json_integer_value(json_object_get(req->ctx, "offset"));
	if ((int)n >= k->limit) {
		json_t *ctx = json_deep_copy(req->ctx);
		json_object_set_new(ctx, "offset", json_integer(offset + (json_int_t)n));
		json_object_set_new(ctx, "seen", seen);
		if (new_top)
			json_object_set_new(ctx, "top", json_string(new_top));
		struct buf url = BUF_INIT;
		list_url(&url, k, kit_str(req->ctx, "from"), offset + (json_int_t)n);
		adapter_request_add(out, req->kind, ADAPTER_REQ_NEXT, ctx, "%s", url.ptr);
		buf_free(&url);
		free(new_top);
		return 0;
	}
	/* the walk is complete: the cursor is the newest timestamp seen */
	const char *c = new_top ? new_top : kit_str(req->ctx, "cursor_from");
	if (!c)
		c = kit_str(req->ctx, "from");
	int64_t c_us = 0;
	kit_time_us(c, &c_us);
	json_t *pruned = json_object();
	const char *key;
	json_t *v;
	json_object_foreach (seen, key, v) {
		int64_t us;
		if (kit_time_us(json_string_value(v), &us) == 0 && us >= c_us - k->overlap_us)
			json_object_set(pruned, key, v);
	}
	json_decref(seen);
	adapter_set_cursor(out, json_pack("{s:s, s:o}", "from", c, "seen", pruned));
	free(new_top);
	return 0;
}

static int parse_parent(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	const struct kci *k = src->priv;
	json_t *waiting = json_object_get(req->ctx, "waiting");
	if (resp->status != 200) {
		size_t i;
		json_t *t;
		json_array_foreach (waiting, i, t)
			adapter_note(out, "test node %s: an ancestor is gone (HTTP %ld); skipped",
			             node_id(t), resp->status);
		return 0;
	}
	(void)k;
	json_t *p = adapter_json(resp, NULL, err);
	if (!p)
		return -1;
	if (!json_is_object(p)) {
		json_decref(p);
		return err_set(err, ERR_INVALID, "%s: expected a node", resp->url);
	}
	enum nkind nk = node_kind(p);
	json_int_t depth = json_integer_value(json_object_get(req->ctx, "depth"));
	if (nk == N_KBUILD || nk == N_CHECKOUT) {
		emit_waiting(src, out, waiting, p);
	} else if (kit_str(p, "parent") && depth < 16) {
		climb_request(src, out, kit_str(p, "parent"), waiting, depth + 1);
	} else {
		note_orphans(out, waiting);
	}
	json_decref(p);
	return 0;
}

static int parse_node(const struct adapter_source *src, const struct adapter_request *req,
                      const struct adapter_response *resp, struct adapter_output *out,
                      struct err *err)
{
	(void)req;
	if (resp->status != 200) {
		adapter_note(out, "the node of an event is gone (HTTP %ld)", resp->status);
		return 0;
	}
	json_t *n = adapter_json(resp, NULL, err);
	if (!n)
		return -1;
	if (!json_is_object(n)) {
		json_decref(n);
		return err_set(err, ERR_INVALID, "%s: expected a node", resp->url);
	}
	json_t *list = json_pack("[O]", n);
	map_nodes(src, out, list);
	json_decref(list);
	json_decref(n);
	return 0;
}

static int kci_parse(const struct adapter_source *src, const struct adapter_request *req,
                     const struct adapter_response *resp, struct adapter_output *out,
                     struct err *err)
{
	switch (req->kind) {
	case K_EVENTS:
	case K_NODES:
		return parse_list(src, req, resp, out, err);
	case K_PARENT:
		return parse_parent(src, req, resp, out, err);
	case K_NODE:
		return parse_node(src, req, resp, out, err);
	}
	return err_set(err, ERR_INTERNAL, "kernelci: unknown request kind %u", req->kind);
}

const struct adapter adapter_kernelci = {
    .name = "kernelci",
    .config_keys = kci_keys,
    .default_origin = "maestro",
    .max_host_requests = 4,
    .init = kci_init,
    .fini = kci_fini,
    .begin = kci_begin,
    .parse = kci_parse,
    .auth = NULL, /* reads are anonymous; a token is sent as Bearer */
};
