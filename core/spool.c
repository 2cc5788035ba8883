/*
 * spool.c - the spool directory service (see spool.h).
 */
#include "spool.h"
#include "daemon.h"
#include "fsutil.h"
#include "ingest.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESCAN_MS 30000
#define DEBOUNCE_MS 50

static int ready_name(const char *n)
{
	size_t l = strlen(n);
	if (n[0] == '.')
		return 0; /* in-progress writes and . / .. */
	if (l > 4 && !strcmp(n + l - 4, ".tmp"))
		return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir/sub/name, or name.1, name.2, ... if taken: never overwrite an earlier file. */
static char *pick_dest(const char *dir, const char *name, const char *sub)
{
	struct buf dst = BUF_INIT;
	buf_addf(&dst, "%s/%s/%s", dir, sub, name);
	for (int n = 1; access(dst.ptr, F_OK) == 0; n++) {
		buf_reset(&dst);
		buf_addf(&dst, "%s/%s/%s.%d", dir, sub, name, n);
	}
	return buf_detach(&dst);
}

static int move_to(const char *src, const char *dest, struct err *err)
{
	if (rename(src, dest) < 0)
		return err_errno(err, ERR_IO, "move %s to %s", src, dest);
	char *d = fs_dirname(dest);
	int r = fs_fsync_dir(d, err);
	free(d);
	return r;
}

/*
 * Ingest one spool file and move it.  For a rejected file the .err is
 * written before the file moves, so a crash in between leaves the file in
 * the spool to be judged again, never a failed/ file without its reason.
 */
static int handle_file(const char *dir, const char *name, struct store *st,
		       struct results_writer *w, size_t max, struct err *err)
{
	struct buf path = BUF_INIT, source = BUF_INIT;
	struct ingest_item it;
	struct err ierr = ERR_INIT;
	char *dest = NULL;
	int rc = 0;

	ingest_item_init(&it);
	buf_addf(&path, "%s/%s", dir, name);
	buf_addf(&source, "spool:%s", name);
	struct stat sb;
	if (stat(path.ptr, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out; /* vanished or not a file: not ours */
	it.path = path.ptr;
	it.name = name;
	it.source = source.ptr;
	ingest_prepare(&it, max);
	int r = ingest_commit(st, w, &it, &ierr);
	if (r == 0) {
		dest = pick_dest(dir, name, "done");
		if (move_to(path.ptr, dest, err) < 0) {
			rc = -1;
			goto out;
		}
		if (it.res.duplicate)
			log_info("spool.duplicate", "file=%s submission=%lld", name,
				 (long long)it.res.dup_id);
		else
			log_info("spool.ingested",
				 "file=%s submission=%lld tests=%zu new=%zu updated=%zu", name,
				 (long long)it.res.stats.submission_id,
				 it.res.stats.counts[KCIDB_TEST], it.res.stats.created,
				 it.res.stats.updated);
	} else if (ierr.code == ERR_INVALID) {
		dest = pick_dest(dir, name, "failed");
		struct buf errpath = BUF_INIT, msg = BUF_INIT;
		buf_addf(&errpath, "%s.err", dest);
		buf_addf(&msg, "%s\n", err_msg(&ierr));
		rc = fs_write_atomic(errpath.ptr, msg.ptr, msg.len, err);
		if (rc == 0)
			rc = move_to(path.ptr, dest, err);
		if (rc == 0)
			log_warn("spool.rejected", "file=%s errors=%zu moved_to=%s", name,
				 it.res.errors.count ? it.res.errors.count : (size_t)1, dest);
		buf_free(&errpath);
		buf_free(&msg);
	} else {
		/* transient (database busy, disk full...): leave it for the next scan */
		log_error("spool.retry_later", "file=%s error=%s", name, err_msg(&ierr));
	}
out:
	free(dest);
	ingest_item_free(&it);
	err_free(&ierr);
	buf_free(&path);
	buf_free(&source);
	return rc;
}

int spool_process_dir(const char *dir, struct store *st, size_t max, struct err *err)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return err_errno(err, ERR_IO, "open spool %s", dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (!ready_name(de->d_name) || !strcmp(de->d_name, "done") ||
		    !strcmp(de->d_name, "failed"))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dh);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	struct results_writer *w = NULL;
	int rc = 0;
	size_t handled = 0;
	if (n && results_writer_new(st, &w, err) < 0)
		rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (handle_file(dir, names[i], st, w, max, err) < 0)
			rc = -1;
		else
			handled++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	results_writer_free(w);
	return rc < 0 ? -1 : (int)handled;
}

/* ------------------------------------------------------------ service */

struct spool_svc {
	struct daemon *d;
	char *dir;
	size_t max;
	uv_fs_event_t watch;
	uv_timer_t timer;
	uv_work_t work;
	int busy, again, closing, open_handles;
	struct store *worker_store; /* opened lazily on the worker thread, reused */
	struct err werr;
	int wrc;
};

static void schedule(struct spool_svc *s, uint64_t ms);

/* Free once both handles are closed and no work is in flight. */
static void maybe_free(struct spool_svc *s)
{
	if (s->open_handles || s->busy)
		return;
	store_close(s->worker_store);
	err_free(&s->werr);
	free(s->dir);
	free(s);
}

static void work_cb(uv_work_t *req)
{
	struct spool_svc *s = req->data;
	err_clear(&s->werr);
	s->wrc = 0;
	if (!s->worker_store &&
	    store_open(&s->worker_store, s->d->db_path, STORE_NOCREATE, &s->werr) < 0) {
		s->wrc = -1;
		return;
	}
	s->wrc = spool_process_dir(s->dir, s->worker_store, s->max, &s->werr);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct spool_svc *s = req->data;
	s->busy = 0;
	if (status == 0 && s->wrc < 0)
		log_error("spool.error", "dir=%s error=%s", s->dir, err_msg(&s->werr));
	if (status == 0 && s->wrc > 0) /* files were handled: most likely stored */
		daemon_results_changed(s->d);
	if (s->closing) {
		maybe_free(s);
		return;
	}
	if (s->again || s->wrc > 0) {
		/* more may have arrived while we worked */
		s->again = 0;
		schedule(s, DEBOUNCE_MS);
	} else {
		schedule(s, s->wrc < 0 ? 5000 : RESCAN_MS);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct spool_svc *s = t->data;
	if (s->closing)
		return;
	if (s->busy) {
		s->again = 1;
		return;
	}
	s->busy = 1;
	s->work.data = s;
	uv_queue_work(s->d->loop, &s->work, work_cb, after_work_cb);
}

static void schedule(struct spool_svc *s, uint64_t ms)
{
	if (!s->closing)
		uv_timer_start(&s->timer, timer_cb, ms, 0);
}

static void fs_event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct spool_svc *s = h->data;
	(void)events;
	if (status < 0) {
		log_warn("spool.watch_error", "dir=%s error=%s", s->dir, uv_strerror(status));
		return;
	}
	if (filename && !ready_name(filename))
		return;
	if (s->busy)
		s->again = 1;
	else
		schedule(s, DEBOUNCE_MS);
}

static int spool_start(struct daemon *d, void **state, struct err *err)
{
	if (!config_get_bool(d->cfg, "serve", NULL, "spool", 1))
		return 0;
	struct spool_svc *s = xcalloc(1, sizeof(*s));
	struct buf dir = BUF_INIT;
	s->d = d;
	buf_addf(&dir, "%s/spool/kcidb", d->datadir);
	s->dir = buf_detach(&dir);
	s->max = (size_t)config_get_int(d->cfg, "core", NULL, "max-submission", INGEST_DEFAULT_MAX);
	const char *subs[] = { "done", "failed" };
	for (int i = 0; i < 2; i++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/%s", s->dir, subs[i]);
		int r = fs_mkdir_p(p.ptr, 0755, err);
		buf_free(&p);
		if (r < 0) {
			free(s->dir);
			free(s);
			return -1;
		}
	}
	uv_fs_event_init(d->loop, &s->watch);
	s->watch.data = s;
	int r = uv_fs_event_start(&s->watch, fs_event_cb, s->dir, 0);
	if (r < 0)
		log_warn("spool.no_watch", "dir=%s error=%s fallback=%s", s->dir, uv_strerror(r),
			 "rescan every 30s");
	uv_timer_init(d->loop, &s->timer);
	s->timer.data = s;
	s->open_handles = 2;
	schedule(s, 0); /* files that arrived while we were down */
	log_info("spool.watching", "dir=%s", s->dir);
	*state = s;
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct spool_svc *s = h->data;
	s->open_handles--;
	maybe_free(s);
}

static void spool_stop(struct daemon *d, void *state)
{
	struct spool_svc *s = state;
	(void)d;
	if (!s)
		return;
	s->closing = 1;
	uv_close((uv_handle_t *)&s->watch, handle_closed);
	uv_close((uv_handle_t *)&s->timer, handle_closed);
}

const struct service service_spool = {
	.name = "spool",
	.start = spool_start,
	.stop = spool_stop,
	.reload = NULL,
};
