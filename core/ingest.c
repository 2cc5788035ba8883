/*
 * ingest.c - KCIDB submission intake (see ingest.h).
 */
#include "ingest.h"
#include "jsonarena.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ingest_result_init(struct ingest_result *r)
{
	memset(r, 0, sizeof(*r));
	r->errors.limit = 20;
}

void ingest_result_free(struct ingest_result *r)
{
	kcidb_errors_free(&r->errors);
}

void ingest_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	static const char hex[] = "0123456789abcdef";
	crypto_hash_sha256(h, data, len);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = '\0';
}

static int rejection(struct err *err, const char *name, const struct ingest_result *res)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s: rejected, %zu error%s (nothing stored):\n", name, res->errors.count,
		 res->errors.count == 1 ? "" : "s");
	const char *p = buf_cstr(&res->errors.text);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		buf_adds(&b, "  ");
		buf_add(&b, p, l);
		buf_addch(&b, '\n');
		p += l + (nl ? 1 : 0);
	}
	if (res->errors.count > res->errors.limit)
		buf_addf(&b, "  ... and %zu more\n", res->errors.count - res->errors.limit);
	buf_rtrim(&b);
	err_set(err, ERR_INVALID, "%s", b.ptr);
	buf_free(&b);
	return -1;
}

int ingest_kcidb_parse(const char *data, size_t len, const char *name, json_t **doc,
		       struct ingest_result *res, struct err *err)
{
	json_error_t je;
	*doc = NULL;
	if (len == 0)
		return err_set(err, ERR_INVALID, "%s: rejected: empty input (expected KCIDB JSON)",
			       name);
	/*
	 * Duplicate keys are ambiguous (which value did the sender mean?), so
	 * they are an error.  NUL (\u0000) stays forbidden as KCIDB requires.
	 */
	json_t *d = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!d)
		return err_set(err, ERR_INVALID,
			       "%s:%d:%d: rejected: invalid JSON: %s (at byte %d)", name, je.line,
			       je.column, je.text, je.position);
	if (kcidb_validate_upgrade(d, res->version, &res->errors) < 0) {
		json_decref(d);
		return rejection(err, name, res);
	}
	*doc = d;
	return 0;
}

void ingest_item_init(struct ingest_item *it)
{
	memset(it, 0, sizeof(*it));
	ingest_result_init(&it->res);
}

void ingest_item_free(struct ingest_item *it)
{
	buf_free(&it->data);
	results_prepared_free(&it->prep);
	ingest_result_free(&it->res);
	err_free(&it->err);
}

int ingest_prepare(struct ingest_item *it, size_t max)
{
	it->prepared = 0;
	if (it->path) {
		if (buf_read_file(&it->data, it->path, max) < 0) {
			if (errno == EFBIG)
				return err_set(&it->err, ERR_INVALID,
					       "%s: rejected: larger than the %zu-byte limit "
					       "(core.max-submission)",
					       it->name, max);
			return err_errno(&it->err, ERR_IO, "%s", it->name);
		}
	} else if (it->data.len > max) {
		return err_set(&it->err, ERR_INVALID,
			       "%s: rejected: larger than the %zu-byte limit (core.max-submission)",
			       it->name, max);
	}
	ingest_sha256_hex(it->data.ptr ? it->data.ptr : "", it->data.len, it->sha256);
	/*
	 * Parse into an arena: the document is dropped in one free instead of
	 * hundreds of thousands (see jsonarena.h).  Everything jansson
	 * allocates until json_arena_enter(prev) belongs to the arena.
	 */
	json_arena_install();
	struct json_arena *arena = json_arena_new();
	struct json_arena *prev = json_arena_enter(arena);
	json_t *doc;
	int r = ingest_kcidb_parse(buf_cstr(&it->data), it->data.len, it->name, &doc, &it->res,
				   &it->err);
	if (r == 0)
		results_prepare(doc, &it->prep);
	json_arena_enter(prev);
	json_arena_free(arena); /* the flattened rows are all that is kept */
	if (r < 0)
		return -1;
	/* the raw bytes are no longer needed; free them early to bound memory */
	buf_free(&it->data);
	it->prepared = 1;
	return 0;
}

static void count_metrics(const struct ingest_result *res)
{
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "type=\"%s\"", kcidb_types[t].name);
		metrics_counter_add("cifeed_objects_ingested_total", labels, res->stats.counts[t]);
	}
	metrics_counter_add("cifeed_submissions_total", NULL, 1);
}

int ingest_commit(struct store *st, struct results_writer *w, struct ingest_item *it,
		  struct err *err)
{
	if (!it->prepared) {
		err_set(err, it->err.code ? it->err.code : ERR_INTERNAL, "%s", err_msg(&it->err));
		return -1;
	}
	int r = results_find_submission(st, it->sha256, &it->res.dup_id, NULL, err);
	if (r < 0)
		return err_prefix(err, "%s", it->name);
	if (r == STORE_ROW) {
		it->res.duplicate = 1;
		return 0;
	}
	struct submission_meta meta = { it->source, it->sha256, it->res.version };
	if (store_begin(st, err) < 0)
		return err_prefix(err, "%s", it->name);
	/* Re-check under the write lock: a concurrent ingest may have stored it. */
	r = results_find_submission(st, it->sha256, &it->res.dup_id, NULL, err);
	if (r == STORE_ROW) {
		store_rollback(st);
		it->res.duplicate = 1;
		return 0;
	}
	if (r < 0 || results_submit_prepared(w, &it->prep, &meta, &it->res.stats, err) < 0 ||
	    store_commit(st, err) < 0) {
		store_rollback(st);
		return err_prefix(err, "%s", it->name);
	}
	count_metrics(&it->res);
	return 0;
}

/* ------------------------------------------------------------ pipeline */

struct pipeline {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ingest_item *items;
	int *ready;
	size_t n, next, consumed, window;
	size_t max;
};

static void *worker(void *arg)
{
	struct pipeline *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->next < p->n && p->next >= p->consumed + p->window)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->next >= p->n) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		size_t i = p->next++;
		pthread_mutex_unlock(&p->lock);

		ingest_prepare(&p->items[i], p->max);

		pthread_mutex_lock(&p->lock);
		p->ready[i] = 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
}

int ingest_items(struct store *st, struct ingest_item *items, size_t n, size_t max_bytes,
		 unsigned threads,
		 void (*done)(struct ingest_item *it, int rc, const struct err *err, void *arg),
		 void *arg)
{
	struct results_writer *w = NULL;
	struct err err = ERR_INIT;
	int status = 0;

	if (results_writer_new(st, &w, &err) < 0) {
		for (size_t i = 0; i < n; i++)
			done(&items[i], -1, &err, arg);
		err_free(&err);
		return -1;
	}
	if (!threads) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c > 0 ? (unsigned)c : 1;
	}
	if (threads > n)
		threads = (unsigned)n;

	struct pipeline p = { .items = items, .n = n, .max = max_bytes };
	/* items prepared ahead of the commit point: bounds memory to a few documents */
	p.window = threads + 1;
	p.ready = xcalloc(n ? n : 1, sizeof(*p.ready));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	pthread_t *tids = xcalloc(threads ? threads : 1, sizeof(*tids));
	unsigned started = 0;
	for (unsigned t = 0; t < threads; t++)
		if (pthread_create(&tids[t], NULL, worker, &p) == 0)
			started++;
	for (size_t i = 0; i < n; i++) {
		if (!started) {
			/* no thread could be created: prepare inline */
			ingest_prepare(&items[i], max_bytes);
		} else {
			pthread_mutex_lock(&p.lock);
			while (!p.ready[i])
				pthread_cond_wait(&p.cond, &p.lock);
			pthread_mutex_unlock(&p.lock);
		}
		err_clear(&err);
		int rc = ingest_commit(st, w, &items[i], &err);
		if (rc < 0)
			status = -1;
		done(&items[i], rc, &err, arg);
		/* release the document now; the next ones are already being prepared */
		results_prepared_free(&items[i].prep);
		pthread_mutex_lock(&p.lock);
		p.consumed = i + 1;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	free(tids);
	free(p.ready);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	results_writer_free(w);
	err_free(&err);
	return status;
}

int ingest_kcidb(struct store *st, struct results_writer *w, const char *data, size_t len,
		 const char *name, const char *source, struct ingest_result *res, struct err *err)
{
	struct ingest_item it;
	ingest_item_init(&it);
	it.name = name;
	it.source = source;
	buf_add(&it.data, data, len);
	int r = ingest_prepare(&it, (size_t)-1);
	if (r < 0) {
		err_set(err, it.err.code, "%s", err_msg(&it.err));
	} else {
		r = ingest_commit(st, w, &it, err);
	}
	/* hand the outcome back; the caller owns res */
	ingest_result_free(res);
	*res = it.res;
	memset(&it.res, 0, sizeof(it.res));
	it.res.errors.limit = 20;
	ingest_item_free(&it);
	return r;
}
