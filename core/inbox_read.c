/*
 * inbox_read.c - public-inbox v2 archives into intake (see inbox_read.h).
 *
 * The walk mirrors public-inbox-index (SearchIdx::log2stack): commits of
 * `last..HEAD` per epoch, oldest first, one tree entry each.  The only
 * state is the per-epoch commit id in the source's cursor, advanced inside
 * the transaction that stored the messages, so crash safety needs nothing
 * more than "commit data and cursor together".  Rewrites are handled as the
 * indexer does: unindex back to the merge base, then continue.
 */
#include "inbox_read.h"
#include "log.h"
#include "mail.h"
#include "patchmail.h"
#include "sources.h"

#include <dirent.h>
#include <pthread.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_BATCH 1000

static int git_fail(struct err *err, const char *what, const char *where)
{
	const git_error *e = git_error_last();
	return err_set(err, ERR_IO, "%s: %s: %s", where, what, e && e->message ? e->message : "libgit2 error");
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Epoch numbers under dir/git, ascending. */
static int list_epochs(const char *dir, int **out, size_t *n, struct err *err)
{
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/git", dir);
	DIR *d = opendir(p.ptr);
	if (!d) {
		err_errno(err, ERR_INVALID, "%s: not a public-inbox v2 inbox (no git/ epochs)", dir);
		buf_free(&p);
		return -1;
	}
	buf_free(&p);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (end == de->d_name || strcmp(end, ".git") || v < 0 || v > 1000000 ||
		    de->d_name[0] == '-' || de->d_name[0] == '+')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = (int)v;
	}
	closedir(d);
	qsort(*out, *n, sizeof(**out), cmp_int);
	return 0;
}

struct reader {
	struct store *st;
	const struct inbox_read_opts *o;
	struct intake *in;
	json_t *cursor, *epochs; /* epochs is borrowed from cursor */
	struct inbox_read_stats *stats;
	git_repository *repo;
	int epoch;
	char where[4096];
	size_t pending; /* messages since the last commit */
};

/* The tree entry `m` or `d` of a commit: 'm', 'd' or 0. */
static int commit_entry(git_repository *repo, const git_oid *id, git_oid *blob, int *merge)
{
	git_commit *c;
	git_tree *t;
	int kind = 0;
	*merge = 0;
	if (git_commit_lookup(&c, repo, id) < 0)
		return -1;
	if (git_commit_parentcount(c) > 1) {
		*merge = 1;
		git_commit_free(c);
		return 0;
	}
	if (git_commit_tree(&t, c) == 0) {
		const git_tree_entry *e;
		if ((e = git_tree_entry_byname(t, "m")) &&
		    git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB)
			kind = 'm';
		else if ((e = git_tree_entry_byname(t, "d")) &&
			 git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB)
			kind = 'd';
		if (kind)
			git_oid_cpy(blob, git_tree_entry_id(e));
		git_tree_free(t);
	} else {
		kind = -1;
	}
	git_commit_free(c);
	return kind;
}

static int add_blob(struct reader *r, const git_oid *blob, struct err *err)
{
	git_blob *b;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), blob);
	if (git_blob_lookup(&b, r->repo, blob) < 0)
		return git_fail(err, "reading blob", r->where);
	int rc = intake_add(r->in, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), hex, r->epoch,
			    err);
	git_blob_free(b);
	r->pending++;
	return rc;
}

static int remove_blob(struct reader *r, const git_oid *blob, struct err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), blob);
	return intake_remove_blob(r->in, hex, err) < 0 ? -1 : 0;
}

/* Record the epoch's position and commit everything so far; then reopen. */
static int checkpoint(struct reader *r, const git_oid *commit, int reopen, struct err *err)
{
	char key[16], hex[GIT_OID_HEXSZ + 1];
	snprintf(key, sizeof(key), "%d", r->epoch);
	if (intake_flush(r->in, err) < 0)
		return -1;
	json_t *e = json_object();
	if (commit) {
		git_oid_tostr(hex, sizeof(hex), commit);
		json_object_set_new(e, "commit", json_string(hex));
	}
	json_t *old = json_object_get(r->epochs, key);
	json_int_t msgs = old ? json_integer_value(json_object_get(old, "messages")) : 0;
	json_object_set_new(e, "messages", json_integer(msgs + (json_int_t)r->pending));
	json_object_set_new(r->epochs, key, e);
	r->pending = 0;
	if (sources_cursor_save(r->st, r->o->source, r->o->type, r->cursor, err) < 0 ||
	    store_commit(r->st, err) < 0)
		return -1;
	if (reopen && store_begin(r->st, err) < 0)
		return -1;
	return 0;
}

/* Undo what the commits reachable from `old` but not from `base` added. */
static int undo_range(struct reader *r, const git_oid *old, const git_oid *base, struct err *err)
{
	git_revwalk *w;
	if (git_revwalk_new(&w, r->repo) < 0 || git_revwalk_push(w, old) < 0 ||
	    (base && git_revwalk_hide(w, base) < 0))
		return git_fail(err, "walking rewritten history", r->where);
	git_oid id, blob;
	int rc = 0, merge;
	size_t n = 0;
	while (rc == 0 && git_revwalk_next(&id, w) == 0) {
		int k = commit_entry(r->repo, &id, &blob, &merge);
		if (k == 'm')
			rc = remove_blob(r, &blob, err);
		else if (k == 'd')
			rc = add_blob(r, &blob, err); /* a removal that no longer happened */
		n++;
	}
	git_revwalk_free(w);
	log_warn("intake.rewrite", "source=%s epoch=%d undone_commits=%zu", r->o->source, r->epoch,
		 n);
	return rc;
}

static int cmp_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* After a full re-read: remove the messages of this epoch that are gone. */
static int prune_unseen(struct reader *r, git_oid *seen, size_t nseen, struct err *err)
{
	qsort(seen, nseen, sizeof(*seen), cmp_oid);
	struct store_stmt *s;
	struct buf src = BUF_INIT;
	buf_addf(&src, "source:%s", r->o->source);
	if (store_prepare(r->st, &s,
			  "SELECT blob FROM intake_messages WHERE source = ? AND epoch = ?", err) < 0) {
		buf_free(&src);
		return -1;
	}
	store_bind_text(s, 1, src.ptr, -1);
	store_bind_int(s, 2, r->epoch);
	char **gone = NULL;
	size_t ngone = 0, cap = 0;
	int rc;
	while ((rc = store_step(s, err)) == STORE_ROW) {
		const char *hex = store_col_text(s, 0, NULL);
		git_oid id;
		if (!hex || git_oid_fromstr(&id, hex) < 0 ||
		    !bsearch(&id, seen, nseen, sizeof(*seen), cmp_oid)) {
			if (ngone == cap) {
				cap = cap ? cap * 2 : 16;
				gone = xrealloc(gone, cap * sizeof(*gone));
			}
			gone[ngone++] = xstrdup(hex ? hex : "");
		}
	}
	store_finalize(s);
	buf_free(&src);
	for (size_t i = 0; rc >= 0 && i < ngone; i++)
		if (intake_remove_blob(r->in, gone[i], err) < 0)
			rc = -1;
	for (size_t i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	return rc < 0 ? -1 : 0;
}

/*
 * The walk runs on a producer thread with its own repository handle: it
 * reads commits, trees and blobs (inflating packs is most of the cost) and
 * parses each message, while this thread writes the previous ones to the
 * store.  A bounded queue keeps memory flat.
 */
struct item {
	int kind; /* 'm', 'd', 0 (a commit without m/d), -1 (error: msg) */
	git_oid commit, blob;
	char *raw;
	size_t len;
	struct mail m;
	struct patchmail pm;
	int parsed, has_pm;
	char msg[512];
};

#define QUEUE_CAP 128

struct producer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t can_put, can_get;
	struct item ring[QUEUE_CAP];
	size_t head, count;
	int done, abort;
	const char *path;
	git_oid tip, base;
	int hide;
};

static void item_clear(struct item *it)
{
	if (it->parsed) {
		if (it->has_pm)
			patchmail_free(&it->pm);
		mail_free(&it->m);
	}
	free(it->raw);
	memset(it, 0, sizeof(*it));
}

/* Producer side: wait for room, then publish *it (moved into the ring). */
static int put(struct producer *q, struct item *it)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == QUEUE_CAP && !q->abort)
		pthread_cond_wait(&q->can_put, &q->mu);
	int ok = !q->abort;
	if (ok) {
		q->ring[(q->head + q->count) % QUEUE_CAP] = *it;
		q->count++;
		pthread_cond_signal(&q->can_get);
	}
	pthread_mutex_unlock(&q->mu);
	if (!ok)
		item_clear(it);
	memset(it, 0, sizeof(*it));
	return ok;
}

/* Consumer side: 1 and *it, or 0 when the producer is done and the queue empty. */
static int get(struct producer *q, struct item *it)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == 0 && !q->done)
		pthread_cond_wait(&q->can_get, &q->mu);
	int ok = q->count > 0;
	if (ok) {
		*it = q->ring[q->head];
		q->head = (q->head + 1) % QUEUE_CAP;
		q->count--;
		pthread_cond_signal(&q->can_put);
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

static void produce_error(struct producer *q, const char *what)
{
	struct item it = { .kind = -1 };
	const git_error *e = git_error_last();
	snprintf(it.msg, sizeof(it.msg), "%s: %s", what, e && e->message ? e->message : "libgit2 error");
	put(q, &it);
}

static void *produce(void *arg)
{
	struct producer *q = arg;
	git_repository *repo = NULL;
	git_revwalk *w = NULL;
	if (git_repository_open_bare(&repo, q->path) < 0) {
		produce_error(q, "opening the epoch");
		goto done;
	}
	if (git_revwalk_new(&w, repo) < 0 ||
	    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(w, &q->tip) < 0 || (q->hide && git_revwalk_hide(w, &q->base) < 0)) {
		produce_error(q, "walking commits");
		goto done;
	}
	git_oid id;
	int merge;
	while (git_revwalk_next(&id, w) == 0) {
		struct item it;
		memset(&it, 0, sizeof(it));
		it.commit = id;
		it.kind = commit_entry(repo, &id, &it.blob, &merge);
		if (it.kind < 0) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), &id);
			produce_error(q, hex);
			goto done;
		}
		if (it.kind == 'm') {
			git_blob *b;
			if (git_blob_lookup(&b, repo, &it.blob) < 0) {
				produce_error(q, "reading blob");
				goto done;
			}
			it.len = (size_t)git_blob_rawsize(b);
			it.raw = xmalloc(it.len + 1);
			memcpy(it.raw, git_blob_rawcontent(b), it.len);
			it.raw[it.len] = '\0';
			git_blob_free(b);
			mail_parse(it.raw, it.len, &it.m);
			it.parsed = 1;
			if (it.m.message_id) {
				patchmail_parse(&it.m, &it.pm);
				it.has_pm = 1;
			}
		}
		if (!put(q, &it))
			break;
	}
done:
	git_revwalk_free(w);
	git_repository_free(repo);
	pthread_mutex_lock(&q->mu);
	q->done = 1;
	pthread_cond_signal(&q->can_get);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static int read_epoch(struct reader *r, struct err *err)
{
	char key[16];
	snprintf(key, sizeof(key), "%d", r->epoch);
	git_oid tip, old, base, last;
	int have_old = 0, hide = 0, rescan = 0, rc = -1;
	git_oid *seen = NULL;
	size_t nseen = 0, seencap = 0;
	struct producer *q = NULL;
	int started = 0;

	int e = git_reference_name_to_id(&tip, r->repo, "HEAD");
	if (e == GIT_ENOTFOUND || e == GIT_EUNBORNBRANCH)
		return 0; /* an empty (placeholder) epoch */
	if (e < 0)
		return git_fail(err, "resolving HEAD", r->where);
	const char *oldhex =
		json_string_value(json_object_get(json_object_get(r->epochs, key), "commit"));
	if (oldhex && git_oid_fromstr(&old, oldhex) == 0)
		have_old = 1;
	if (have_old && git_oid_equal(&old, &tip))
		return 0;

	if (store_begin(r->st, err) < 0)
		return -1;
	if (have_old) {
		git_commit *c;
		if (git_commit_lookup(&c, r->repo, &old) < 0) {
			/* the old history is gone (forced fetch + gc): re-read the epoch */
			rescan = 1;
			r->stats->rewrites++;
			log_warn("intake.rewrite", "source=%s epoch=%d old=%s action=%s", r->o->source,
				 r->epoch, oldhex, "re-read epoch");
		} else {
			git_commit_free(c);
			if (git_graph_descendant_of(r->repo, &tip, &old) == 1) {
				base = old;
				hide = 1;
			} else {
				r->stats->rewrites++;
				int mb = git_merge_base(&base, r->repo, &tip, &old);
				if (mb < 0 && mb != GIT_ENOTFOUND) {
					git_fail(err, "finding the merge base", r->where);
					goto out;
				}
				if (undo_range(r, &old, mb == 0 ? &base : NULL, err) < 0)
					goto out;
				hide = mb == 0;
			}
		}
	}

	q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->can_put, NULL);
	pthread_cond_init(&q->can_get, NULL);
	q->path = r->where;
	q->tip = tip;
	q->hide = hide;
	if (hide)
		q->base = base;
	if (pthread_create(&q->thread, NULL, produce, q) != 0) {
		err_set(err, ERR_INTERNAL, "%s: cannot start the reader thread", r->where);
		free(q);
		q = NULL;
		goto out;
	}
	started = 1;
	int stopped = 0;
	struct item it;
	while (get(q, &it)) {
		char hex[GIT_OID_HEXSZ + 1];
		int ie = 0;
		if (it.kind < 0) {
			err_set(err, ERR_IO, "%s: %s", r->where, it.msg);
			ie = -1;
		} else if (it.kind == 'm') {
			git_oid_tostr(hex, sizeof(hex), &it.blob);
			ie = intake_add_parsed(r->in, it.raw, it.len, &it.m, it.has_pm ? &it.pm : NULL,
					      hex, r->epoch, err);
			r->pending++;
			if (ie == 0 && rescan) {
				if (nseen == seencap) {
					seencap = seencap ? seencap * 2 : 1024;
					seen = xrealloc(seen, seencap * sizeof(*seen));
				}
				seen[nseen++] = it.blob;
			}
		} else if (it.kind == 'd') {
			ie = remove_blob(r, &it.blob, err);
		}
		r->stats->commits += it.kind >= 0;
		last = it.commit;
		item_clear(&it);
		if (ie < 0)
			goto out;
		if (!rescan && r->pending >= r->o->batch) {
			if (checkpoint(r, &last, 1, err) < 0)
				goto out;
			if (r->o->stop && *r->o->stop) {
				stopped = 1;
				break;
			}
		}
	}
	if (!stopped) {
		if (rescan && prune_unseen(r, seen, nseen, err) < 0)
			goto out;
		last = tip;
	}
	if (checkpoint(r, &last, 0, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		store_rollback(r->st);
	if (q) {
		if (started) {
			pthread_mutex_lock(&q->mu);
			q->abort = 1;
			pthread_cond_broadcast(&q->can_put);
			pthread_mutex_unlock(&q->mu);
			pthread_join(q->thread, NULL);
		}
		for (size_t i = 0; i < q->count; i++)
			item_clear(&q->ring[(q->head + i) % QUEUE_CAP]);
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->can_put);
		pthread_cond_destroy(&q->can_get);
		free(q);
	}
	free(seen);
	return rc;
}

int inbox_read(struct store *st, const struct inbox_read_opts *o, struct inbox_read_stats *stats,
	       struct err *err)
{
	struct reader r = { .st = st, .o = o, .stats = stats };
	struct inbox_read_opts opts = *o;
	struct stat sb;
	struct buf p = BUF_INIT;
	int *epochs = NULL, rc = -1;
	size_t nepochs = 0;

	memset(stats, 0, sizeof(*stats));
	if (!opts.batch)
		opts.batch = DEFAULT_BATCH;
	r.o = &opts;
	buf_addf(&p, "%s/inbox.lock", o->dir);
	if (stat(p.ptr, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		buf_free(&p);
		return err_set(err, ERR_INVALID, "%s: not a public-inbox v2 inbox (no inbox.lock)",
			       o->dir);
	}
	buf_free(&p);
	if (list_epochs(o->dir, &epochs, &nepochs, err) < 0)
		return -1;
	git_libgit2_init();
	if (sources_cursor_load(st, o->source, &r.cursor, err) < 0)
		goto out;
	if (!r.cursor)
		r.cursor = json_object();
	r.epochs = json_object_get(r.cursor, "epochs");
	if (!json_is_object(r.epochs)) {
		r.epochs = json_object();
		json_object_set_new(r.cursor, "epochs", r.epochs);
	}
	struct buf src = BUF_INIT;
	buf_addf(&src, "source:%s", o->source);
	int oi = intake_open(st, src.ptr, &r.in, err);
	buf_free(&src);
	if (oi < 0)
		goto out;
	for (size_t i = 0; i < nepochs; i++) {
		if (o->stop && *o->stop)
			break;
		r.epoch = epochs[i];
		snprintf(r.where, sizeof(r.where), "%s/git/%d.git", o->dir, r.epoch);
		if (git_repository_open_bare(&r.repo, r.where) < 0) {
			git_fail(err, "opening the epoch", r.where);
			goto out;
		}
		stats->epochs++;
		int e = read_epoch(&r, err);
		git_repository_free(r.repo);
		r.repo = NULL;
		if (e < 0)
			goto out;
	}
	rc = 0;
out:
	if (r.in) {
		stats->intake = *intake_get_stats(r.in);
		intake_close(r.in);
	}
	json_decref(r.cursor);
	free(epochs);
	git_libgit2_shutdown();
	return rc;
}
