/*
 * gitlab.c - GitLab REST v4: pipelines, jobs, test reports and commit
 * statuses of configured projects.  Mapping: schema/mapping-gitlab.md;
 * upstream facts: ../shared/reference/gitlab.md.
 *
 * Per project (and, with child-pipelines, a second listing of
 * source=parent_pipeline) the cycle walks
 *   GET /projects/:id/pipelines?updated_after=C-overlap&order_by=updated_at&sort=asc
 * page by page (Link rel=next / X-Next-Page); each page is a unit whose
 * cursor is the greatest updated_at seen, exactly as GitLab sent it.  For
 * every pipeline that is new or whose updated_at moved, the unit also
 * fetches its jobs (include_retried), then its commit statuses (external
 * CI; ids already seen as jobs are skipped so each build comes from one
 * kind of answer), and for finished pipelines the test report summary and,
 * when asked for (test-report), the full report.  The first page is a
 * conditional request (If-None-Match), which turns an idle cycle into one
 * 304.  Pipelines already processed at the same updated_at inside the
 * overlap window are skipped (the dedup set lives in the cursor).
 */
#include "adapter.h"
#include "formats.h"
#include "kit.h"

#include <stdlib.h>
#include <string.h>

enum { K_PIPELINES = 1, K_JOBS, K_STATUSES, K_SUMMARY, K_REPORT };

enum report_mode { REPORT_NONE, REPORT_SUMMARY, REPORT_FAILURES, REPORT_ALL };

struct gitlab {
	char *api;       /* base URL ending in /api/v4 */
	char **projects; /* as configured (id or path) */
	size_t nprojects;
	char *since;
	int64_t overlap_us;
	int per_page;
	enum report_mode report;
	int retried, statuses, child;
};

static const struct config_key gitlab_keys[] = {
    ADAPTER_HTTP_CONFIG_KEYS,
    {"project", CFG_STRING, "project id or path (group/project); repeat for several"},
    {"since", CFG_STRING, "where the first poll starts: a date-time or a duration back (7d)"},
    {"overlap", CFG_DURATION, "re-read window behind the cursor (default 5m)"},
    {"per-page", CFG_INT, "items per page, 1-100 (default 100)"},
    {"test-report", CFG_STRING,
     "none, summary, failures (default: full report when something failed) or all"},
    {"include-retried", CFG_BOOL, "also the jobs that were retried (default true)"},
    {"commit-statuses", CFG_BOOL, "external CI results on the pipeline's commit (default true)"},
    {"child-pipelines", CFG_BOOL, "also list source=parent_pipeline pipelines (default false)"},
    {NULL, 0, NULL},
};

/* ------------------------------------------------------------ config */

static void gitlab_fini(struct adapter_source *src)
{
	struct gitlab *g = src->priv;
	if (!g)
		return;
	free(g->api);
	kit_strv_free(g->projects);
	free(g->since);
	free(g);
	src->priv = NULL;
}

static int gitlab_init(struct adapter_source *src, const struct config *cfg, struct err *err)
{
	struct gitlab *g = xcalloc(1, sizeof(*g));
	src->priv = g;
	size_t l = strlen(src->url);
	if (l >= 7 && !strcmp(src->url + l - 7, "/api/v4"))
		g->api = xstrdup(src->url);
	else {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/api/v4", src->url);
		g->api = buf_detach(&b);
	}
	g->nprojects = kit_config_all(cfg, src, "project", &g->projects);
	if (!g->nprojects)
		return err_set(
		    err, ERR_CONFIG,
		    "[source \"%s\"] project: missing (a project id or group/project path)",
		    src->name);
	const char *since = config_get(cfg, "source", src->name, "since");
	if (kit_check_since(src, since, err) < 0)
		return -1;
	g->since = since ? xstrdup(since) : NULL;
	g->overlap_us = config_get_duration(cfg, "source", src->name, "overlap", 300) * 1000000;
	int64_t pp = config_get_int(cfg, "source", src->name, "per-page", 100);
	if (pp < 1 || pp > 100)
		return err_set(err, ERR_CONFIG,
		               "[source \"%s\"] per-page: %lld is not within 1-100", src->name,
		               (long long)pp);
	g->per_page = (int)pp;
	const char *rep = config_get_str(cfg, "source", src->name, "test-report", "failures");
	if (!strcmp(rep, "none"))
		g->report = REPORT_NONE;
	else if (!strcmp(rep, "summary"))
		g->report = REPORT_SUMMARY;
	else if (!strcmp(rep, "failures"))
		g->report = REPORT_FAILURES;
	else if (!strcmp(rep, "all"))
		g->report = REPORT_ALL;
	else
		return err_set(
		    err, ERR_CONFIG,
		    "[source \"%s\"] test-report: '%s' is not none, summary, failures or all",
		    src->name, rep);
	g->retried = config_get_bool(cfg, "source", src->name, "include-retried", 1);
	g->statuses = config_get_bool(cfg, "source", src->name, "commit-statuses", 1);
	g->child = config_get_bool(cfg, "source", src->name, "child-pipelines", 0);
	return 0;
}

/* PRIVATE-TOKEN works for personal, project and group access tokens. */
static void gitlab_auth(const struct adapter_source *src, const char *token, struct buf *line)
{
	(void)src;
	buf_addf(line, "PRIVATE-TOKEN: %s", token);
}

/* ------------------------------------------------------------ ids */

static char *id_of(const struct adapter_source *src, const char *fmt, json_int_t n)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s:", src->origin);
	buf_addf(&b, fmt, n);
	return buf_detach(&b);
}

static void project_url(struct buf *b, const struct gitlab *g, const char *project)
{
	buf_addf(b, "%s/projects/", g->api);
	kit_url_escape(b, project);
}

static int terminal(const char *status)
{
	return status && (!strcmp(status, "success") || !strcmp(status, "failed") ||
	                  !strcmp(status, "canceled") || !strcmp(status, "skipped"));
}

/* ------------------------------------------------------------ begin */

static void listing_key(struct buf *b, const char *project, int child)
{
	buf_addf(b, "project:%s%s", project, child ? ":child" : "");
}

static void list_request(const struct adapter_source *src, struct adapter_output *out,
                         const char *project, int child, json_t *state, int64_t now)
{
	const struct gitlab *g = src->priv;
	struct buf key = BUF_INIT, url = BUF_INIT;
	listing_key(&key, project, child);
	int64_t after_us;
	const char *c = kit_str(state, "updated_after");
	if (!c || kit_time_us(c, &after_us) < 0)
		kit_since(g->since, now, &after_us);
	else
		after_us -= g->overlap_us;
	char ts[40];
	kit_time_rfc3339(after_us, ts);
	project_url(&url, g, project);
	buf_adds(&url, "/pipelines?updated_after=");
	kit_url_escape(&url, ts);
	buf_addf(&url, "&order_by=updated_at&sort=asc&per_page=%d", g->per_page);
	if (child)
		buf_adds(&url, "&source=parent_pipeline");
	json_t *ctx =
	    json_pack("{s:s, s:s, s:b, s:o}", "listing", key.ptr, "project", project, "child",
	              child, "state", state ? json_deep_copy(state) : json_object());
	struct adapter_request *r =
	    adapter_request_add(out, K_PIPELINES, ADAPTER_REQ_NEXT, ctx, "%s", url.ptr);
	struct buf ck = BUF_INIT;
	buf_addf(&ck, "pipelines:%s", key.ptr);
	r->cache_key = buf_detach(&ck);
	buf_free(&key);
	buf_free(&url);
}

static int gitlab_begin(const struct adapter_source *src, const json_t *cursor, int64_t now,
                        struct adapter_output *out, struct err *err)
{
	const struct gitlab *g = src->priv;
	(void)err;
	for (size_t i = 0; i < g->nprojects; i++) {
		for (int child = 0; child <= g->child; child++) {
			struct buf key = BUF_INIT;
			listing_key(&key, g->projects[i], child);
			list_request(src, out, g->projects[i], child,
			             json_object_get(cursor, key.ptr), now);
			buf_free(&key);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ pipelines */

/* https://host/group/project/-/pipelines/47 -> https://host/group/project */
static char *repo_url(const char *web_url)
{
	if (!web_url)
		return NULL;
	const char *p = strstr(web_url, "/-/pipelines/");
	if (!p)
		p = strstr(web_url, "/pipelines/");
	if (!p || p == web_url)
		return NULL;
	return xstrndup(web_url, (size_t)(p - web_url));
}

static json_t *pipeline_checkout(const struct adapter_source *src, const json_t *pl, json_int_t pid)
{
	json_t *co = json_object();
	char *id = id_of(src, "pipeline/%" JSON_INTEGER_FORMAT, pid);
	json_object_set_new(co, "id", json_string(id));
	free(id);
	kit_set_commit(co, "git_commit_hash", kit_str(pl, "sha"));
	json_object_set_new(co, "patchset_hash", json_string(""));
	const char *ref = kit_str(pl, "ref");
	json_t *misc = json_object();
	json_object_set_new(misc, "pipeline_id", json_integer(pid));
	kit_copy(misc, pl, "iid");
	kit_copy(misc, pl, "project_id");
	kit_copy(misc, pl, "source");
	kit_copy(misc, pl, "ref");
	kit_copy(misc, pl, "web_url");
	if (ref && !strncmp(ref, "refs/merge-requests/", 20)) {
		/* refs/merge-requests/<iid>/head|merge|train: the pipeline of an MR */
		char *end;
		long long iid = strtoll(ref + 20, &end, 10);
		if (end != ref + 20 && *end == '/') {
			json_object_set_new(misc, "merge_request_iid", json_integer(iid));
			json_object_set_new(misc, "merge_request_ref", json_string(end + 1));
		}
	} else {
		kit_set_str(co, "git_repository_branch", ref);
	}
	char *repo = repo_url(kit_str(pl, "web_url"));
	kit_set_https(co, "git_repository_url", repo);
	free(repo);
	kit_set_str(co, "comment", kit_str(pl, "name"));
	kit_set_time(co, "start_time", kit_str(pl, "created_at"));
	const char *status = kit_str(pl, "status");
	if (terminal(status)) {
		kit_set_time(co, "origin_builds_finish_time", kit_str(pl, "updated_at"));
		kit_set_time(co, "origin_tests_finish_time", kit_str(pl, "updated_at"));
	}
	json_object_set_new(co, "misc", json_pack("{s:o}", "gitlab", misc));
	return co;
}

static char *next_page_url(const struct adapter_response *resp)
{
	char *next = adapter_link_next(resp);
	if (next)
		return next;
	const char *xn = adapter_header(resp, "x-next-page");
	if (xn && *xn)
		return kit_url_with_param(resp->url, "page", xn);
	return NULL;
}

static void pipeline_children(const struct adapter_source *src, struct adapter_output *out,
                              const char *project, const json_t *pl, json_int_t pid)
{
	const struct gitlab *g = src->priv;
	struct buf base = BUF_INIT;
	project_url(&base, g, project);
	const char *status = kit_str(pl, "status");
	const char *sha = kit_str(pl, "sha");
	json_t *ctx =
	    json_pack("{s:s, s:I, s:s?, s:b, s:[]}", "project", project, "pipeline",
	              (json_int_t)pid, "sha", sha, "terminal", terminal(status), "job_ids");
	adapter_request_add(out, K_JOBS, 0, ctx,
	                    "%s/pipelines/%" JSON_INTEGER_FORMAT "/jobs?per_page=100%s", base.ptr,
	                    pid, g->retried ? "&include_retried=true" : "");
	if (terminal(status) && g->report != REPORT_NONE)
		adapter_request_add(
		    out, K_SUMMARY, ADAPTER_REQ_OPTIONAL,
		    json_pack("{s:s, s:I}", "project", project, "pipeline", (json_int_t)pid),
		    "%s/pipelines/%" JSON_INTEGER_FORMAT "/test_report_summary", base.ptr, pid);
	buf_free(&base);
}

static int parse_pipelines(const struct adapter_source *src, const struct adapter_request *req,
                           const struct adapter_response *resp, struct adapter_output *out,
                           struct err *err)
{
	const struct gitlab *g = src->priv;
	const char *listing = kit_str(req->ctx, "listing");
	const char *project = kit_str(req->ctx, "project");
	json_t *state = json_object_get(req->ctx, "state");
	json_t *seen_in = json_object_get(state, "seen");
	json_t *seen = seen_in ? json_deep_copy(seen_in) : json_object();
	const char *cur = kit_str(state, "updated_after");
	int64_t max_us = -1;
	char *max_s = cur ? xstrdup(cur) : NULL;
	if (cur)
		kit_time_us(cur, &max_us);

	if (resp->status == 200) {
		json_t *list = adapter_json(resp, NULL, err);
		if (!list) {
			json_decref(seen);
			free(max_s);
			return -1;
		}
		if (!json_is_array(list)) {
			json_decref(list);
			json_decref(seen);
			free(max_s);
			return err_set(err, ERR_INVALID, "%s: expected a list of pipelines",
			               resp->url);
		}
		size_t i;
		json_t *pl;
		json_array_foreach (list, i, pl) {
			json_int_t pid;
			const char *upd = kit_str(pl, "updated_at");
			int64_t us;
			if (!json_is_object(pl) || !kit_int(pl, "id", &pid) || !upd ||
			    kit_time_us(upd, &us) < 0) {
				adapter_note(out, "skipped a pipeline without id or updated_at");
				continue;
			}
			char key[32];
			snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, pid);
			const char *was = kit_str(seen, key);
			if (us > max_us) {
				max_us = us;
				free(max_s);
				max_s = xstrdup(upd);
			}
			if (was && !strcmp(was, upd))
				continue; /* already stored at this updated_at */
			json_object_set_new(seen, key, json_string(upd));
			adapter_add(out, src, KCIDB_CHECKOUT, pipeline_checkout(src, pl, pid));
			pipeline_children(src, out, project, pl, pid);
		}
		json_decref(list);
	}
	/* 304: the same page as a unit already committed; just walk on */

	/* forget what fell out of the overlap window */
	json_t *pruned = json_object();
	const char *k;
	json_t *v;
	json_object_foreach (seen, k, v) {
		int64_t us;
		if (json_is_string(v) && kit_time_us(json_string_value(v), &us) == 0 &&
		    us >= max_us - g->overlap_us)
			json_object_set(pruned, k, v);
	}
	json_decref(seen);
	json_t *nstate = json_object();
	if (max_s)
		json_object_set_new(nstate, "updated_after", json_string(max_s));
	json_object_set_new(nstate, "seen", pruned);
	free(max_s);

	char *next = next_page_url(resp);
	if (next) {
		json_t *ctx = json_deep_copy(req->ctx);
		json_object_set(ctx, "state", nstate);
		adapter_request_add(out, K_PIPELINES, ADAPTER_REQ_NEXT, ctx, "%s", next);
		free(next);
	}
	adapter_set_cursor(out, json_pack("{s:o}", listing, nstate));
	return 0;
}

/* ------------------------------------------------------------ jobs */

/* failure_reason values that blame the code under test rather than the CI. */
static const char *job_status(const char *status, const char *reason)
{
	if (!status)
		return NULL;
	if (!strcmp(status, "success"))
		return "PASS";
	if (!strcmp(status, "skipped"))
		return "SKIP";
	if (!strcmp(status, "canceled"))
		return "MISS";
	if (!strcmp(status, "failed")) {
		if (!reason || !strcmp(reason, "script_failure") ||
		    !strcmp(reason, "unknown_failure"))
			return "FAIL";
		if (!strcmp(reason, "job_execution_timeout"))
			return "ERROR";
		return "MISS"; /* runner, scheduler, infrastructure */
	}
	return NULL; /* created, pending, running, manual, ...: not final */
}

static json_t *job_build(const struct adapter_source *src, const json_t *job, json_int_t jid,
                         json_int_t pid)
{
	json_t *b = json_object();
	char *id = id_of(src, "job/%" JSON_INTEGER_FORMAT, jid);
	char *co = id_of(src, "pipeline/%" JSON_INTEGER_FORMAT, pid);
	json_object_set_new(b, "id", json_string(id));
	json_object_set_new(b, "checkout_id", json_string(co));
	free(id);
	free(co);
	kit_set_str(b, "comment", kit_str(job, "name"));
	const char *status = kit_str(job, "status");
	const char *st = job_status(status, kit_str(job, "failure_reason"));
	if (!st)
		return b; /* not final: identity only, the rest once it is */
	json_object_set_new(b, "status", json_string(st));
	kit_set_time(b, "start_time", kit_str(job, "started_at"));
	kit_set_duration(b, "duration", json_object_get(job, "duration"));
	const char *web = kit_str(job, "web_url");
	if (web) {
		struct buf raw = BUF_INIT;
		buf_addf(&raw, "%s/raw", web);
		kit_set_uri(b, "log_url", raw.ptr);
		buf_free(&raw);
	}
	json_t *misc = json_object();
	json_object_set_new(misc, "job_id", json_integer(jid));
	static const char *keys[] = {
	    "name", "stage",    "status",     "failure_reason", "allow_failure",   "web_url",
	    "ref",  "tag_list", "created_at", "finished_at",    "queued_duration", "coverage"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		kit_copy(misc, job, keys[i]);
	json_t *runner = json_object_get(job, "runner");
	if (json_is_object(runner))
		kit_copy(misc, runner, "description");
	json_object_set_new(b, "misc", json_pack("{s:o}", "gitlab", misc));
	return b;
}

static int parse_jobs(const struct adapter_source *src, const struct adapter_request *req,
                      const struct adapter_response *resp, struct adapter_output *out,
                      struct err *err)
{
	const struct gitlab *g = src->priv;
	json_int_t pid = json_integer_value(json_object_get(req->ctx, "pipeline"));
	json_t *list = adapter_json(resp, NULL, err);
	if (!list)
		return -1;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(err, ERR_INVALID, "%s: expected a list of jobs", resp->url);
	}
	json_t *ids = json_deep_copy(json_object_get(req->ctx, "job_ids"));
	if (!json_is_array(ids)) {
		json_decref(ids);
		ids = json_array();
	}
	size_t i;
	json_t *job;
	json_array_foreach (list, i, job) {
		json_int_t jid;
		if (!json_is_object(job) || !kit_int(job, "id", &jid)) {
			adapter_note(out, "skipped a job without id");
			continue;
		}
		/* the URL names the pipeline; a job's own pipeline field is only a copy */
		adapter_add(out, src, KCIDB_BUILD, job_build(src, job, jid, pid));
		json_array_append_new(ids, json_integer(jid));
	}
	json_decref(list);
	char *next = next_page_url(resp);
	if (next) {
		json_t *ctx = json_deep_copy(req->ctx);
		json_object_set_new(ctx, "job_ids", ids);
		adapter_request_add(out, K_JOBS, 0, ctx, "%s", next);
		free(next);
		return 0;
	}
	const char *sha = kit_str(req->ctx, "sha");
	if (g->statuses && sha) {
		struct buf u = BUF_INIT, shae = BUF_INIT;
		project_url(&u, g, kit_str(req->ctx, "project"));
		kit_url_escape(&shae, sha);
		json_t *ctx = json_pack("{s:I, s:o}", "pipeline", (json_int_t)pid, "job_ids", ids);
		adapter_request_add(
		    out, K_STATUSES, 0, ctx,
		    "%s/repository/commits/%s/statuses?pipeline_id=%" JSON_INTEGER_FORMAT
		    "&all=true&per_page=100",
		    u.ptr, shae.ptr, pid);
		buf_free(&u);
		buf_free(&shae);
	} else {
		json_decref(ids);
	}
	return 0;
}

/* ------------------------------------------------------------ statuses */

static const char *commit_status(const char *s)
{
	if (!s)
		return NULL;
	if (!strcmp(s, "success"))
		return "PASS";
	if (!strcmp(s, "failed"))
		return "FAIL";
	if (!strcmp(s, "canceled"))
		return "MISS";
	if (!strcmp(s, "skipped"))
		return "SKIP";
	return NULL;
}

static int in_ids(const json_t *ids, json_int_t id)
{
	size_t i;
	json_t *v;
	json_array_foreach (ids, i, v)
		if (json_integer_value(v) == id)
			return 1;
	return 0;
}

static int parse_statuses(const struct adapter_source *src, const struct adapter_request *req,
                          const struct adapter_response *resp, struct adapter_output *out,
                          struct err *err)
{
	json_int_t pid = json_integer_value(json_object_get(req->ctx, "pipeline"));
	const json_t *jobs = json_object_get(req->ctx, "job_ids");
	json_t *list = adapter_json(resp, NULL, err);
	if (!list)
		return -1;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(err, ERR_INVALID, "%s: expected a list of commit statuses",
		               resp->url);
	}
	size_t i;
	json_t *cs;
	json_array_foreach (list, i, cs) {
		json_int_t sid;
		if (!json_is_object(cs) || !kit_int(cs, "id", &sid))
			continue;
		if (in_ids(jobs, sid))
			continue; /* a GitLab CI job: already a build from the jobs list */
		json_t *b = json_object();
		char *id = id_of(src, "job/%" JSON_INTEGER_FORMAT, sid);
		char *co = id_of(src, "pipeline/%" JSON_INTEGER_FORMAT, pid);
		json_object_set_new(b, "id", json_string(id));
		json_object_set_new(b, "checkout_id", json_string(co));
		free(id);
		free(co);
		kit_set_str(b, "comment", kit_str(cs, "name"));
		const char *st = commit_status(kit_str(cs, "status"));
		if (st) {
			json_object_set_new(b, "status", json_string(st));
			kit_set_time(b, "start_time", kit_str(cs, "started_at"));
			int64_t a, z;
			if (kit_time_us(kit_str(cs, "started_at"), &a) == 0 &&
			    kit_time_us(kit_str(cs, "finished_at"), &z) == 0 && z >= a)
				json_object_set_new(b, "duration",
				                    json_real((double)(z - a) / 1e6));
			kit_set_uri(b, "log_url", kit_str(cs, "target_url"));
			json_t *misc = json_object();
			json_object_set_new(misc, "status_id", json_integer(sid));
			json_object_set_new(misc, "external", json_true());
			static const char *keys[] = {"name",       "status",     "description",
			                             "target_url", "ref",        "allow_failure",
			                             "coverage",   "created_at", "finished_at"};
			for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
				kit_copy(misc, cs, keys[k]);
			json_t *author = json_object_get(cs, "author");
			if (json_is_object(author))
				kit_copy(misc, author, "username");
			json_object_set_new(b, "misc", json_pack("{s:o}", "gitlab", misc));
		}
		adapter_add(out, src, KCIDB_BUILD, b);
	}
	json_decref(list);
	char *next = next_page_url(resp);
	if (next) {
		adapter_request_add(out, K_STATUSES, 0, json_deep_copy(req->ctx), "%s", next);
		free(next);
	}
	return 0;
}

/* ------------------------------------------------------------ test reports */

/* The build a suite's tests hang on: its job, or the pipeline's report build. */
static char *suite_build(const struct adapter_source *src, const json_t *builds, const char *suite,
                         json_int_t pid, struct adapter_output *out)
{
	json_int_t jid;
	if (kit_int(builds, suite, &jid))
		return id_of(src, "job/%" JSON_INTEGER_FORMAT, jid);
	char *bid = id_of(src, "pipeline/%" JSON_INTEGER_FORMAT "/report", pid);
	char *co = id_of(src, "pipeline/%" JSON_INTEGER_FORMAT, pid);
	json_t *b = json_pack("{s:s, s:s, s:s}", "id", bid, "checkout_id", co, "comment",
	                      "GitLab test report (no job recorded)");
	adapter_add(out, src, KCIDB_BUILD, b);
	free(co);
	return bid;
}

static const char *case_status(const char *s)
{
	if (!s)
		return NULL;
	if (!strcmp(s, "success"))
		return "PASS";
	if (!strcmp(s, "failed"))
		return "FAIL";
	if (!strcmp(s, "error"))
		return "ERROR";
	if (!strcmp(s, "skipped"))
		return "SKIP";
	return NULL;
}

static int parse_summary(const struct adapter_source *src, const struct adapter_request *req,
                         const struct adapter_response *resp, struct adapter_output *out,
                         struct err *err)
{
	const struct gitlab *g = src->priv;
	if (resp->status != 200)
		return 0; /* no report (404): nothing to say */
	json_int_t pid = json_integer_value(json_object_get(req->ctx, "pipeline"));
	json_t *sum = adapter_json(resp, NULL, err);
	if (!sum)
		return -1;
	json_t *suites = json_object_get(sum, "test_suites");
	if (!json_is_object(sum) || (suites && !json_is_array(suites))) {
		json_decref(sum);
		return err_set(err, ERR_INVALID, "%s: expected a test report summary", resp->url);
	}
	json_t *builds = json_object();
	json_int_t bad = 0;
	size_t i;
	json_t *s;
	json_array_foreach (suites, i, s) {
		const char *name = kit_str(s, "name");
		if (!name)
			continue;
		json_t *bids = json_object_get(s, "build_ids");
		if (json_array_size(bids) && json_is_integer(json_array_get(bids, 0)))
			json_object_set(builds, name, json_array_get(bids, 0));
		json_int_t f = 0, e = 0, p = 0, sk = 0, total = 0;
		kit_int(s, "failed_count", &f);
		kit_int(s, "error_count", &e);
		kit_int(s, "success_count", &p);
		kit_int(s, "skipped_count", &sk);
		kit_int(s, "total_count", &total);
		bad += f + e;
		json_t *se = json_object_get(s, "suite_error");
		int suite_err = se && !json_is_null(se);
		const char *st = f > 0                  ? "FAIL"
		                 : (e > 0 || suite_err) ? "ERROR"
		                 : p > 0                ? "PASS"
		                 : sk > 0               ? "SKIP"
		                                        : NULL;
		(void)total;
		char *bid = suite_build(src, builds, name, pid, out);
		struct buf tid = BUF_INIT, path = BUF_INIT;
		buf_addf(&tid, "%s:pipeline/%" JSON_INTEGER_FORMAT "/suite/", src->origin, pid);
		kit_id_part(&tid, name);
		kit_path_segment(&path, name);
		json_t *t =
		    json_pack("{s:s, s:s, s:s}", "id", tid.ptr, "build_id", bid, "path", path.ptr);
		if (st)
			json_object_set_new(t, "status", json_string(st));
		kit_set_duration(t, "duration", json_object_get(s, "total_time"));
		kit_set_str(t, "comment", name);
		json_t *misc = json_object();
		static const char *keys[] = {"total_count",   "success_count", "failed_count",
		                             "skipped_count", "error_count",   "build_ids",
		                             "suite_error"};
		for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
			kit_copy(misc, s, keys[k]);
		json_object_set_new(misc, "level", json_string("suite"));
		json_object_set_new(t, "misc", json_pack("{s:o}", "gitlab", misc));
		adapter_add(out, src, KCIDB_TEST, t);
		free(bid);
		buf_free(&tid);
		buf_free(&path);
	}
	json_decref(sum);
	if (g->report == REPORT_ALL || (g->report == REPORT_FAILURES && bad > 0)) {
		struct buf u = BUF_INIT;
		project_url(&u, g, kit_str(req->ctx, "project"));
		adapter_request_add(out, K_REPORT, ADAPTER_REQ_OPTIONAL,
		                    json_pack("{s:I, s:o}", "pipeline", pid, "builds", builds),
		                    "%s/pipelines/%" JSON_INTEGER_FORMAT "/test_report", u.ptr,
		                    pid);
		buf_free(&u);
	} else {
		json_decref(builds);
	}
	return 0;
}

/* system_output may be null, a string, an object or an array (all occur). */
static void output_text(struct buf *b, const json_t *v)
{
	if (json_is_string(v)) {
		buf_adds(b, json_string_value(v));
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach (v, i, x) {
			if (i)
				buf_addch(b, '\n');
			output_text(b, x);
		}
	} else if (v && !json_is_null(v)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		buf_adds(b, s);
		free(s);
	}
}

static int parse_report(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	if (resp->status != 200)
		return 0;
	json_int_t pid = json_integer_value(json_object_get(req->ctx, "pipeline"));
	const json_t *builds = json_object_get(req->ctx, "builds");
	json_t *rep = adapter_json(resp, NULL, err);
	if (!rep)
		return -1;
	json_t *suites = json_object_get(rep, "test_suites");
	if (!json_is_object(rep) || (suites && !json_is_array(suites))) {
		json_decref(rep);
		return err_set(err, ERR_INVALID, "%s: expected a test report", resp->url);
	}
	size_t i;
	json_t *s;
	json_array_foreach (suites, i, s) {
		const char *suite = kit_str(s, "name");
		json_t *cases = json_object_get(s, "test_cases");
		if (!suite || !json_is_array(cases))
			continue;
		char *bid = suite_build(src, builds, suite, pid, out);
		size_t k;
		json_t *c;
		json_array_foreach (cases, k, c) {
			const char *name = kit_str(c, "name");
			const char *cls = kit_str(c, "classname");
			if (!name)
				continue;
			struct buf tid = BUF_INIT, path = BUF_INIT, log = BUF_INIT;
			buf_addf(&tid, "%s:pipeline/%" JSON_INTEGER_FORMAT "/test/", src->origin,
			         pid);
			kit_id_part(&tid, suite);
			buf_addch(&tid, '/');
			kit_id_part(&tid, cls ? cls : "");
			buf_addch(&tid, '/');
			kit_id_part(&tid, name);
			kit_path_segment(&path, suite);
			if (cls && *cls) {
				buf_addch(&path, '.');
				kit_path_dotted(&path, cls);
			}
			buf_addch(&path, '.');
			kit_path_segment(&path, name);
			json_t *t = json_pack("{s:s, s:s, s:s}", "id", tid.ptr, "build_id", bid,
			                      "path", path.ptr);
			const char *st = case_status(kit_str(c, "status"));
			if (st)
				json_object_set_new(t, "status", json_string(st));
			kit_set_duration(t, "duration", json_object_get(c, "execution_time"));
			kit_set_str(t, "comment", name);
			output_text(&log, json_object_get(c, "system_output"));
			const char *stack = kit_str(c, "stack_trace");
			if (stack && *stack) {
				if (log.len)
					buf_addch(&log, '\n');
				buf_adds(&log, stack);
			}
			kit_set_excerpt(t, "log_excerpt", log.ptr, log.len);
			const char *att = kit_str(c, "attachment_url");
			json_t *files = json_array();
			if (att && fmt_is_uri(att))
				json_array_append_new(files, json_pack("{s:s, s:s}", "name",
				                                       "attachment", "url", att));
			if (json_array_size(files))
				json_object_set_new(t, "output_files", files);
			else
				json_decref(files);
			json_t *misc = json_pack("{s:s}", "suite", suite);
			kit_copy(misc, c, "classname");
			kit_copy(misc, c, "name");
			kit_copy(misc, c, "file");
			kit_copy(misc, c, "status");
			kit_copy(misc, c, "recent_failures");
			json_object_set_new(t, "misc", json_pack("{s:o}", "gitlab", misc));
			adapter_add(out, src, KCIDB_TEST, t);
			buf_free(&tid);
			buf_free(&path);
			buf_free(&log);
		}
		free(bid);
	}
	json_decref(rep);
	return 0;
}

static int gitlab_parse(const struct adapter_source *src, const struct adapter_request *req,
                        const struct adapter_response *resp, struct adapter_output *out,
                        struct err *err)
{
	switch (req->kind) {
	case K_PIPELINES:
		return parse_pipelines(src, req, resp, out, err);
	case K_JOBS:
		return parse_jobs(src, req, resp, out, err);
	case K_STATUSES:
		return parse_statuses(src, req, resp, out, err);
	case K_SUMMARY:
		return parse_summary(src, req, resp, out, err);
	case K_REPORT:
		return parse_report(src, req, resp, out, err);
	}
	return err_set(err, ERR_INTERNAL, "gitlab: unknown request kind %u", req->kind);
}

const struct adapter adapter_gitlab = {
    .name = "gitlab",
    .config_keys = gitlab_keys,
    .default_origin = NULL,
    .max_host_requests = 4,
    .init = gitlab_init,
    .fini = gitlab_fini,
    .begin = gitlab_begin,
    .parse = gitlab_parse,
    .auth = gitlab_auth,
};
