/*
 * feed_reader.c - walk the epochs of a public-inbox v2 inbox (see feed_reader.h).
 *
 * Messages are listed in two steps: first every commit's single tree entry
 * (cheap: commits and trees only) so removals ("d") are known, then the live
 * "m" blobs are read in the requested order.  The same walk serves verify.
 */
#define _GNU_SOURCE /* memmem */
#include "fsutil.h"
#include "feed_reader.h"
#include "kcidb.h"
#include "mime.h"

#include <dirent.h>
#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int feed_epoch_newest(const char *inbox_dir)
{
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/git", inbox_dir);
	DIR *d = opendir(p.ptr);
	buf_free(&p);
	if (!d)
		return -1;
	int max = -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long n = strtol(de->d_name, &end, 10);
		if (end != de->d_name && !strcmp(end, ".git") && n >= 0 && n < 1000000 && n > max)
			max = (int)n;
	}
	closedir(d);
	return max;
}

int feed_is_inbox(const char *inbox_dir)
{
	struct buf p = BUF_INIT;
	struct stat sb;
	buf_addf(&p, "%s/inbox.lock", inbox_dir);
	int ok = stat(p.ptr, &sb) == 0 && S_ISREG(sb.st_mode);
	buf_free(&p);
	return ok && feed_epoch_newest(inbox_dir) >= 0;
}

/* one commit's entry */
struct entry {
	int epoch;
	git_oid commit, blob;
	int64_t time;
	char kind; /* 'm', 'd' or 0 (something else) */
	int parents;
};

struct walk {
	struct entry *v;
	size_t n, cap;
	git_repository **repos;
	int nrepos;
};

static void walk_free(struct walk *w)
{
	for (int i = 0; i < w->nrepos; i++)
		git_repository_free(w->repos[i]);
	free(w->repos);
	free(w->v);
}

static int git_fail(struct err *err, const char *what)
{
	const git_error *e = git_error_last();
	return err_set(err, ERR_IO, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

/* Collect every commit's entry, oldest first per epoch; problems go to report when given. */
static int walk_collect(const char *inbox, struct walk *w, struct buf *report, size_t *problems,
			struct err *err)
{
	int newest = feed_epoch_newest(inbox);
	w->nrepos = newest + 1;
	w->repos = xcalloc((size_t)(w->nrepos ? w->nrepos : 1), sizeof(*w->repos));
	for (int n = 0; n <= newest; n++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/git/%d.git", inbox, n);
		git_repository *repo;
		if (git_repository_open_bare(&repo, p.ptr) < 0) {
			if (report) {
				buf_addf(report, "epoch %d: cannot open %s\n", n, p.ptr);
				(*problems)++;
			}
			buf_free(&p);
			continue;
		}
		buf_free(&p);
		w->repos[n] = repo;
		git_oid head;
		if (git_reference_name_to_id(&head, repo, "HEAD") < 0) {
			if (report) {
				git_reference *h = NULL;
				const char *tgt = "?";
				if (git_reference_lookup(&h, repo, "HEAD") == 0 &&
				    git_reference_type(h) == GIT_REFERENCE_SYMBOLIC)
					tgt = git_reference_symbolic_target(h);
				buf_addf(report, "epoch %d: HEAD (%s) names no commit\n", n, tgt);
				git_reference_free(h);
				(*problems)++;
			}
			continue;
		}
		if (report) {
			git_reference *h = NULL;
			if (git_reference_lookup(&h, repo, "HEAD") == 0 &&
			    (git_reference_type(h) != GIT_REFERENCE_SYMBOLIC ||
			     strcmp(git_reference_symbolic_target(h), "refs/heads/master"))) {
				buf_addf(report, "epoch %d: HEAD is not refs/heads/master\n", n);
				(*problems)++;
			}
			git_reference_free(h);
		}
		git_revwalk *rw;
		if (git_revwalk_new(&rw, repo) < 0)
			return git_fail(err, "revwalk");
		git_revwalk_sorting(rw, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		git_revwalk_push(rw, &head);
		git_oid id;
		int r;
		while ((r = git_revwalk_next(&id, rw)) == 0) {
			git_commit *c;
			if (git_commit_lookup(&c, repo, &id) < 0) {
				git_revwalk_free(rw);
				if (report) {
					buf_addf(report, "epoch %d: commit %s unreadable: %s\n", n,
						 git_oid_tostr_s(&id), git_error_last()->message);
					(*problems)++;
					break;
				}
				return git_fail(err, "read commit");
			}
			if (w->n == w->cap) {
				w->cap = w->cap ? w->cap * 2 : 1024;
				w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
			}
			struct entry *e = &w->v[w->n++];
			memset(e, 0, sizeof(*e));
			e->epoch = n;
			git_oid_cpy(&e->commit, &id);
			e->time = (int64_t)git_commit_time(c);
			e->parents = (int)git_commit_parentcount(c);
			git_tree *t;
			if (git_commit_tree(&t, c) < 0) {
				git_commit_free(c);
				if (report) {
					buf_addf(report, "epoch %d: commit %s: tree unreadable\n", n,
						 git_oid_tostr_s(&id));
					(*problems)++;
					continue;
				}
				git_revwalk_free(rw);
				return git_fail(err, "read tree");
			}
			size_t ne = git_tree_entrycount(t);
			const git_tree_entry *te = ne == 1 ? git_tree_entry_byindex(t, 0) : NULL;
			const char *name = te ? git_tree_entry_name(te) : "";
			if (te && (!strcmp(name, "m") || !strcmp(name, "d")) &&
			    git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB) {
				e->kind = name[0];
				git_oid_cpy(&e->blob, git_tree_entry_id(te));
			} else if (report) {
				buf_addf(report,
					 "epoch %d: commit %s: tree must hold exactly one 100644 'm' "
					 "or 'd' entry (has %zu)\n",
					 n, git_oid_tostr_s(&id), ne);
				(*problems)++;
			}
			if (report && e->parents > 1) {
				buf_addf(report, "epoch %d: commit %s is a merge\n", n,
					 git_oid_tostr_s(&id));
				(*problems)++;
			}
			git_tree_free(t);
			git_commit_free(c);
		}
		git_revwalk_free(rw);
		if (r < 0 && r != GIT_ITEROVER) {
			if (report) {
				buf_addf(report, "epoch %d: history unreadable: %s\n", n,
					 git_error_last()->message);
				(*problems)++;
			} else {
				return git_fail(err, "walk history");
			}
		}
	}
	return 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Sorted list of blobs named by "d" entries. */
static git_oid *removed_set(const struct walk *w, size_t *n)
{
	git_oid *v = NULL;
	*n = 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].kind == 'd') {
			v = xrealloc(v, (*n + 1) * sizeof(*v));
			git_oid_cpy(&v[(*n)++], &w->v[i].blob);
		}
	if (*n)
		qsort(v, *n, sizeof(*v), oid_cmp);
	return v;
}

int feed_read(const char *inbox_dir, unsigned flags, feed_msg_cb cb, void *arg, struct err *err)
{
	struct walk w = { 0 };
	git_libgit2_init();
	int rc = walk_collect(inbox_dir, &w, NULL, NULL, err);
	size_t nrm = 0;
	git_oid *rm = rc == 0 ? removed_set(&w, &nrm) : NULL;
	for (size_t k = 0; rc == 0 && k < w.n; k++) {
		size_t i = flags & FEED_READ_NEWEST_FIRST ? w.n - 1 - k : k;
		struct entry *e = &w.v[i];
		if (e->kind != 'm' || (nrm && bsearch(&e->blob, rm, nrm, sizeof(*rm), oid_cmp)))
			continue;
		git_blob *b;
		if (git_blob_lookup(&b, w.repos[e->epoch], &e->blob) < 0) {
			rc = git_fail(err, "read message");
			err_prefix(err, "%s epoch %d blob %s", inbox_dir, e->epoch,
				   git_oid_tostr_s(&e->blob));
			break;
		}
		struct feed_msg m = { 0 };
		m.epoch = e->epoch;
		git_oid_tostr(m.commit, sizeof(m.commit), &e->commit);
		git_oid_tostr(m.blob, sizeof(m.blob), &e->blob);
		m.commit_time = e->time;
		m.data = git_blob_rawcontent(b);
		m.len = (size_t)git_blob_rawsize(b);
		int r = cb(&m, arg, err);
		git_blob_free(b);
		if (r < 0)
			rc = -1;
		if (r > 0)
			break;
	}
	free(rm);
	walk_free(&w);
	git_libgit2_shutdown();
	return rc;
}

/* ------------------------------------------------------------ info */

uint64_t feed_pack_bytes(const char *gitdir, size_t *packs)
{
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/objects/pack", gitdir);
	uint64_t total = fs_sum_sizes(p.ptr, ".pack", packs);
	buf_free(&p);
	return total;
}

int feed_inbox_info(const char *inbox_dir, struct feed_inbox_info *info, struct err *err)
{
	memset(info, 0, sizeof(*info));
	struct walk w = { 0 };
	git_libgit2_init();
	int rc = walk_collect(inbox_dir, &w, NULL, NULL, err);
	if (rc == 0) {
		info->epochs = w.nrepos;
		for (size_t i = 0; i < w.n; i++) {
			if (w.v[i].kind == 'm')
				info->messages++;
			else if (w.v[i].kind == 'd')
				info->removed++;
			if (w.v[i].time > info->newest_time)
				info->newest_time = w.v[i].time;
		}
		info->messages = info->messages >= info->removed ? info->messages - info->removed : 0;
		for (int n = 0; n < w.nrepos; n++) {
			struct buf p = BUF_INIT;
			buf_addf(&p, "%s/git/%d.git", inbox_dir, n);
			info->pack_bytes += feed_pack_bytes(p.ptr, NULL);
			buf_free(&p);
		}
		struct buf p = BUF_INIT, d = BUF_INIT;
		buf_addf(&p, "%s/description", inbox_dir);
		if (buf_read_file(&d, p.ptr, 4096) == 0 && d.len) {
			char *nl = memchr(d.ptr, '\n', d.len);
			if (nl)
				buf_truncate(&d, (size_t)(nl - d.ptr));
			info->description = buf_detach(&d);
		}
		buf_free(&p);
		buf_free(&d);
	}
	walk_free(&w);
	git_libgit2_shutdown();
	return rc;
}

void feed_inbox_info_free(struct feed_inbox_info *info)
{
	free(info->description);
	info->description = NULL;
}

static int topic_cmp(const void *a, const void *b)
{
	return strcmp(((const struct feed_topic_info *)a)->name,
		      ((const struct feed_topic_info *)b)->name);
}

int feed_topics_list(const char *feeds_dir, struct feed_topic_info **out, size_t *n,
		     struct err *err)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(feeds_dir);
	if (!d)
		return 0;
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/%s", feeds_dir, de->d_name);
		if (feed_is_inbox(p.ptr)) {
			*out = xrealloc(*out, (*n + 1) * sizeof(**out));
			struct feed_topic_info *t = &(*out)[*n];
			t->name = xstrdup(de->d_name);
			if (feed_inbox_info(p.ptr, &t->info, err) < 0) {
				free(t->name);
				rc = -1;
			} else {
				(*n)++;
			}
		}
		buf_free(&p);
	}
	closedir(d);
	if (rc < 0) {
		feed_topics_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), topic_cmp);
	return 0;
}

void feed_topics_free(struct feed_topic_info *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		feed_inbox_info_free(&t[i].info);
	}
	free(t);
}

/* ------------------------------------------------------------ verify */

/* A string set (open addressing) for Message-ID uniqueness over a whole inbox. */
struct strset {
	char **v;
	size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int strset_has(const struct strset *set, const char *s)
{
	if (!set->cap)
		return 0;
	for (size_t i = str_hash(s) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (!set->v[i])
			return 0;
		if (!strcmp(set->v[i], s))
			return 1;
	}
}

static void strset_add(struct strset *set, const char *s)
{
	if ((set->n + 1) * 2 > set->cap) {
		struct strset big = { xcalloc(set->cap ? set->cap * 2 : 1024, sizeof(char *)),
				      set->cap ? set->cap * 2 : 1024, 0 };
		for (size_t i = 0; i < set->cap; i++)
			if (set->v[i]) {
				size_t k = str_hash(set->v[i]) & (big.cap - 1);
				while (big.v[k])
					k = (k + 1) & (big.cap - 1);
				big.v[k] = set->v[i];
				big.n++;
			}
		free(set->v);
		*set = big;
	}
	size_t k = str_hash(s) & (set->cap - 1);
	while (set->v[k]) {
		if (!strcmp(set->v[k], s))
			return;
		k = (k + 1) & (set->cap - 1);
	}
	set->v[k] = xstrdup(s);
	set->n++;
}

static void strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->v[i]);
	free(set->v);
}

static void verify_message(const char *data, size_t len, const char *where, int check_kcidb,
			   struct strset *all_ids, struct buf *report, size_t *problems)
{
	struct mime_msg m;
	mime_parse(&m, data, len);
	if (m.hdr_end >= len && len) {
		buf_addf(report, "%s: no blank line after the header\n", where);
		(*problems)++;
	}
	if (memchr(data, '\0', len)) {
		buf_addf(report, "%s: NUL byte in the message\n", where);
		(*problems)++;
	}
	struct buf v = BUF_INIT;
	int64_t t;
	int tz;
	if (!mime_get(&m, "Date", 0, &v) || mime_date_parse(v.ptr, &t, &tz) < 0) {
		buf_addf(report, "%s: no parseable Date\n", where);
		(*problems)++;
	}
	buf_reset(&v);
	if (!mime_get(&m, "From", 0, &v)) {
		buf_addf(report, "%s: no From\n", where);
		(*problems)++;
	}
	struct mime_ids ids = { 0 };
	mime_msg_ids(&m, &ids);
	if (!ids.n) {
		buf_addf(report, "%s: no Message-ID (public-inbox-index would skip it)\n", where);
		(*problems)++;
	} else {
		/* indexed under the first unused id, like public-inbox-index */
		const char *use = NULL;
		if (!strset_has(all_ids, ids.v[0]))
			use = ids.v[0];
		for (size_t i = ids.n - 1; !use && i >= 1; i--)
			if (!strset_has(all_ids, ids.v[i]))
				use = ids.v[i];
		if (!use) {
			buf_addf(report, "%s: duplicate Message-ID <%s>\n", where, ids.v[0]);
			(*problems)++;
		} else {
			strset_add(all_ids, use);
		}
	}
	mime_ids_free(&ids);
	buf_reset(&v);
	if (mime_get(&m, "Content-Type", 0, &v) && !strncasecmp(v.ptr, "multipart/", 10)) {
		struct buf bd = BUF_INIT, close = BUF_INIT;
		if (!mime_param(v.ptr, v.len, "boundary", &bd) || !bd.len) {
			buf_addf(report, "%s: multipart without a boundary\n", where);
			(*problems)++;
		} else {
			buf_addf(&close, "\n--%s--", bd.ptr);
			if (!memmem(data, len, close.ptr, close.len)) {
				buf_addf(report, "%s: multipart not closed\n", where);
				(*problems)++;
			}
		}
		buf_free(&bd);
		buf_free(&close);
	}
	buf_free(&v);
	if (check_kcidb) {
		struct mime_part *parts;
		size_t np = mime_parts(&m, &parts);
		for (size_t i = 0; i < np; i++) {
			if (strcmp(parts[i].ctype, "application/json"))
				continue;
			json_error_t je;
			json_t *doc = json_loadb(parts[i].body.ptr, parts[i].body.len, 0, &je);
			struct kcidb_errors ke = KCIDB_ERRORS_INIT;
			if (!doc) {
				buf_addf(report, "%s: part %s: JSON: %s (line %d)\n", where,
					 parts[i].idx, je.text, je.line);
				(*problems)++;
			} else if (kcidb_validate_upgrade(doc, NULL, &ke) < 0) {
				buf_addf(report, "%s: part %s: not valid KCIDB: %s", where,
					 parts[i].idx, buf_cstr(&ke.text));
				(*problems)++;
			}
			kcidb_errors_free(&ke);
			json_decref(doc);
		}
		mime_parts_free(parts, np);
	}
	mime_msg_free(&m);
}

int feed_verify(const char *inbox_dir, int check_kcidb, size_t *messages, struct buf *report,
		struct err *err)
{
	size_t problems = 0;
	struct walk w = { 0 };
	struct stat sb;
	struct buf p = BUF_INIT;
	*messages = 0;
	buf_addf(&p, "%s/inbox.lock", inbox_dir);
	if (stat(p.ptr, &sb) < 0) {
		buf_addf(report, "%s: missing (public-inbox would not see a v2 inbox)\n", p.ptr);
		problems++;
	}
	int newest = feed_epoch_newest(inbox_dir);
	if (newest < 0) {
		buf_free(&p);
		return err_set(err, ERR_NOTFOUND, "%s: no epochs (git/0.git)", inbox_dir);
	}
	for (int n = 0; n <= newest; n++) {
		buf_reset(&p);
		buf_addf(&p, "%s/git/%d.git", inbox_dir, n);
		if (stat(p.ptr, &sb) < 0) {
			buf_addf(report, "epoch %d: missing\n", n);
			problems++;
		}
	}
	/* all.git alternates, when present, must list every epoch */
	struct buf alt = BUF_INIT;
	buf_reset(&p);
	buf_addf(&p, "%s/all.git/objects/info/alternates", inbox_dir);
	if (buf_read_file(&alt, p.ptr, 1 << 20) == 0) {
		for (int n = 0; n <= newest; n++) {
			char line[64];
			snprintf(line, sizeof(line), "../../git/%d.git/objects", n);
			if (!strstr(buf_cstr(&alt), line)) {
				buf_addf(report, "all.git: alternates lack epoch %d\n", n);
				problems++;
			}
		}
	}
	buf_free(&alt);
	buf_free(&p);

	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	if (walk_collect(inbox_dir, &w, report, &problems, err) < 0) {
		walk_free(&w);
		git_libgit2_shutdown();
		return -1;
	}
	int last_epoch = -1;
	for (size_t i = 0; i < w.n; i++) {
		struct entry *e = &w.v[i];
		if (e->epoch != last_epoch) {
			if (e->parents != 0) {
				buf_addf(report, "epoch %d: first commit %s has a parent\n", e->epoch,
					 git_oid_tostr_s(&e->commit));
				problems++;
			}
			last_epoch = e->epoch;
		}
	}
	size_t nrm = 0;
	git_oid *rm = removed_set(&w, &nrm);
	struct strset all_ids = { 0 };
	for (size_t i = 0; i < w.n; i++) {
		struct entry *e = &w.v[i];
		if (!e->kind)
			continue;
		git_blob *b;
		char where[128];
		snprintf(where, sizeof(where), "epoch %d commit %.12s", e->epoch,
			 git_oid_tostr_s(&e->commit));
		if (git_blob_lookup(&b, w.repos[e->epoch], &e->blob) < 0) {
			buf_addf(report, "%s: blob %s unreadable: %s\n", where,
				 git_oid_tostr_s(&e->blob), git_error_last()->message);
			problems++;
			continue;
		}
		if (e->kind == 'm' && !(nrm && bsearch(&e->blob, rm, nrm, sizeof(*rm), oid_cmp))) {
			verify_message(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), where,
				       check_kcidb, &all_ids, report, &problems);
			(*messages)++;
		}
		git_blob_free(b);
	}
	strset_free(&all_ids);
	free(rm);
	walk_free(&w);
	git_libgit2_shutdown();
	return (int)(problems > 1000000 ? 1000000 : problems);
}
