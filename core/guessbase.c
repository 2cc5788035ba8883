/*
 * guessbase.c - b4's base guessing with libgit2 (see guessbase.h).
 *
 * The unit of work is "how many of the series' blobs does this commit's
 * tree have": a tree lookup by path per blob, compared by prefix.  The tip
 * check runs it on every tracked ref; the search walks the tracked refs'
 * history newest first (revwalk sorted by commit time) over b4's window
 * and keeps the best commit, as find_base does.
 */
#include "guessbase.h"
#include "buf.h"

#include <ctype.h>
#include <git2.h>
#include <stdlib.h>
#include <string.h>

#define WALK_MAX 200000 /* commits looked at per repository and search */

struct gb_repo {
	char *path;
	git_repository *repo;
};

struct guessbase {
	struct gb_repo *r;
	size_t n;
	char **refs;
	size_t nrefs;
};

static int git_fail(struct err *err, const char *what, const char *path)
{
	const git_error *e = git_error_last();
	return err_set(err, ERR_IO, "guess-base: %s %s: %s", what, path,
		       e && e->message ? e->message : "libgit2 error");
}

/* ------------------------------------------------------------ blobs */

void guessbase_blobs_free(struct gb_blob *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].path);
		free(b[i].blob);
	}
	free(b);
}

static int all_zero(const char *s)
{
	for (; *s; s++)
		if (*s != '0')
			return 0;
	return 1;
}

static int hex_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 4 || n > 64)
		return 0;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

int guessbase_series_blobs(struct store *st, int64_t series_rid, struct gb_blob **out, size_t *n,
			   struct err *err)
{
	struct store_stmt *s;
	*out = NULL;
	*n = 0;
	if (store_prepare(st, &s,
			  "SELECT COALESCE(f.old_path, f.path), f.old_blob FROM patch_files f JOIN "
			  "patches p ON p.rid = f.patch_rid WHERE p.series_rid = ? AND p.kind = "
			  "'patch' ORDER BY p.position, p.rid, f.path",
			  err) < 0)
		return -1;
	store_bind_int(s, 1, series_rid);
	size_t cap = 0;
	char **seen = NULL;
	size_t nseen = 0;
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *path = store_col_text(s, 0, NULL), *blob = store_col_text(s, 1, NULL);
		if (!path)
			continue;
		int dup = 0;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = !strcmp(seen[i], path);
		if (dup)
			continue; /* only the first occurrence of a path is a pre-image */
		seen = xrealloc(seen, (nseen + 1) * sizeof(*seen));
		seen[nseen++] = xstrdup(path);
		if (!blob || all_zero(blob) || !hex_id(blob))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[*n].path = xstrdup(path);
		char *lb = xstrdup(blob);
		for (char *c = lb; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		(*out)[(*n)++].blob = lb;
	}
	store_finalize(s);
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	if (r < 0) {
		guessbase_blobs_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ repositories */

int guessbase_open(struct guessbase **out, const char *const *trees, size_t ntrees,
		   const char *const *refs, size_t nrefs, struct err *err)
{
	git_libgit2_init();
	struct guessbase *g = xcalloc(1, sizeof(*g));
	g->r = xcalloc(ntrees ? ntrees : 1, sizeof(*g->r));
	for (size_t i = 0; i < ntrees; i++) {
		g->r[i].path = xstrdup(trees[i]);
		g->n++;
		if (git_repository_open_ext(&g->r[i].repo, trees[i], GIT_REPOSITORY_OPEN_NO_SEARCH,
					    NULL) < 0) {
			git_fail(err, "cannot open repository", trees[i]);
			guessbase_close(g);
			return -1;
		}
	}
	static const char *const def[] = { "refs/heads/*", "refs/remotes/*" };
	if (!nrefs) {
		refs = def;
		nrefs = 2;
	}
	g->refs = xcalloc(nrefs, sizeof(*g->refs));
	for (size_t i = 0; i < nrefs; i++)
		g->refs[i] = xstrdup(refs[i]);
	g->nrefs = nrefs;
	*out = g;
	return 0;
}

void guessbase_close(struct guessbase *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++) {
		git_repository_free(g->r[i].repo);
		free(g->r[i].path);
	}
	free(g->r);
	for (size_t i = 0; i < g->nrefs; i++)
		free(g->refs[i]);
	free(g->refs);
	free(g);
	git_libgit2_shutdown();
}

void gb_result_free(struct gb_result *r)
{
	free(r->name);
	free(r->tree);
	memset(r, 0, sizeof(*r));
}

/* Blobs of b[] present in commit's tree (by prefix). */
static size_t count_matches(git_repository *repo, const git_commit *c, const struct gb_blob *b,
			    size_t n)
{
	git_tree *tree = NULL;
	size_t m = 0;
	if (git_commit_tree(&tree, c) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		git_tree_entry *e = NULL;
		if (git_tree_entry_bypath(&e, tree, b[i].path) < 0)
			continue;
		if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
			if (!strncmp(hex, b[i].blob, strlen(b[i].blob)))
				m++;
		}
		git_tree_entry_free(e);
	}
	git_tree_free(tree);
	(void)repo;
	return m;
}

static int glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *mark = NULL;
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			mark = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++mark;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

int guessbase_tip_match(struct guessbase *g, const struct gb_blob *b, size_t n,
			struct gb_result *r, struct err *err)
{
	memset(r, 0, sizeof(*r));
	r->total = n;
	if (!n)
		return 0;
	for (size_t i = 0; i < g->n; i++) {
		git_reference_iterator *it = NULL;
		git_reference *ref;
		if (git_reference_iterator_new(&it, g->r[i].repo) < 0)
			return git_fail(err, "cannot list refs of", g->r[i].path);
		int found = 0;
		while (!found && git_reference_next(&ref, it) == 0) {
			const char *name = git_reference_name(ref);
			int want = 0;
			for (size_t k = 0; k < g->nrefs && !want; k++)
				want = glob_match(g->refs[k], name);
			git_object *obj = NULL;
			if (want && git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0) {
				size_t m = count_matches(g->r[i].repo, (git_commit *)obj, b, n);
				if (m == n) {
					found = 1;
					r->found = r->exact = 1;
					r->matched = m;
					git_oid_tostr(r->commit, sizeof(r->commit),
						      git_object_id(obj));
					r->name = xstrdup(name);
					r->tree = xstrdup(g->r[i].path);
				}
			}
			git_object_free(obj);
			git_reference_free(ref);
		}
		git_reference_iterator_free(it);
		if (found)
			return 1;
	}
	return 0;
}

static char *describe_all(git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	git_describe_result *dr = NULL;
	git_buf out = { 0 };
	char *name = NULL;
	git_describe_options o;
	git_describe_format_options f;
	git_describe_options_init(&o, GIT_DESCRIBE_OPTIONS_VERSION);
	git_describe_format_options_init(&f, GIT_DESCRIBE_FORMAT_OPTIONS_VERSION);
	o.describe_strategy = GIT_DESCRIBE_ALL;
	if (git_commit_lookup(&c, repo, id) == 0 &&
	    git_describe_commit(&dr, (git_object *)c, &o) == 0 &&
	    git_describe_format(&out, dr, &f) == 0)
		name = xstrdup(out.ptr);
	git_buf_dispose(&out);
	git_describe_result_free(dr);
	git_commit_free(c);
	return name;
}

static int search_repo(struct guessbase *g, struct gb_repo *gr, const struct gb_blob *b, size_t n,
		       int64_t until, int64_t since, struct gb_result *best, struct err *err)
{
	git_revwalk *w = NULL;
	if (git_revwalk_new(&w, gr->repo) < 0)
		return git_fail(err, "cannot walk", gr->path);
	git_revwalk_sorting(w, GIT_SORT_TIME);
	for (size_t k = 0; k < g->nrefs; k++)
		git_revwalk_push_glob(w, g->refs[k]); /* no match is not an error */
	git_oid id;
	size_t walked = 0;
	int first = 1;
	while (git_revwalk_next(&id, w) == 0 && walked++ < WALK_MAX) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, gr->repo, &id) < 0)
			continue;
		int64_t t = (int64_t)git_commit_time(c);
		if (t > until) { /* after the series' day */
			git_commit_free(c);
			continue;
		}
		if (!first && t < since) {
			git_commit_free(c);
			break;
		}
		first = 0;
		size_t m = count_matches(gr->repo, c, b, n);
		git_commit_free(c);
		if (m > 0 && m > best->matched) {
			best->found = 1;
			best->matched = m;
			best->exact = m == n;
			git_oid_tostr(best->commit, sizeof(best->commit), &id);
			free(best->tree);
			best->tree = xstrdup(gr->path);
			free(best->name);
			best->name = describe_all(gr->repo, &id);
			if (best->exact)
				break;
		}
	}
	git_revwalk_free(w);
	return 0;
}

int guessbase_find(struct guessbase *g, const struct gb_blob *b, size_t n, int64_t date,
		   int64_t lookback, struct gb_result *r, struct err *err)
{
	memset(r, 0, sizeof(*r));
	r->total = n;
	if (!n)
		return 0;
	/* b4: --until=<YYYY-MM-DD> of the series' date, i.e. the end of that day (UTC) */
	int64_t until = date - (date % 86400) + 86399;
	int64_t since = until - 86399 - lookback;
	for (size_t i = 0; i < g->n && !r->exact; i++)
		if (search_repo(g, &g->r[i], b, n, until, since, r, err) < 0)
			return -1;
	return r->found ? 1 : 0;
}
