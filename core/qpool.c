/*
 * qpool.c - reader threads with their own store connections (see qpool.h).
 *
 * A mutex-protected FIFO feeds the threads; finished jobs go on a second
 * list and one uv_async_t wakes the loop to complete them (libuv coalesces
 * wake-ups, so a busy pool costs one loop iteration per batch, not per job).
 * We keep our own threads instead of libuv's shared pool so slow ingest
 * work queued by other services never sits in front of a 1 ms lookup, and
 * so each thread keeps its connection and statement cache for its life.
 */
#include "qpool.h"
#include "log.h"

#include <git2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct qpool {
	uv_loop_t *loop;
	char *db_path;
	unsigned nthreads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct qpool_job *head, *tail; /* waiting */
	struct qpool_job *done;        /* finished, not yet completed on the loop */
	size_t pending;                /* loop thread only */
	unsigned exited;
	int stopping;
	uv_async_t async;
	struct store *loop_store; /* nthreads == 0, and qpool_run_here */
	struct err loop_err;
};

/* A reader's connection, opened on first use and kept; NULL with err when it cannot be. */
static struct store *reader_store(struct store **st, const char *db_path, struct err *err)
{
	if (!*st) {
		err_clear(err);
		if (store_open(st, db_path, STORE_READONLY | STORE_NOCREATE, err) < 0) {
			*st = NULL;
			log_error("qpool.store_open_failed", "error=%s", err_msg(err));
		}
	}
	return *st;
}

static void run_job(struct qpool_job *job, struct store **st, const char *db_path,
                    struct err *open_err)
{
	struct err err = ERR_INIT;
	if (reader_store(st, db_path, open_err)) {
		job->run(job, *st, &err);
	} else {
		err_set(&err, ERR_DB, "%s", err_msg(open_err));
		job->run(job, NULL, &err);
	}
	err_free(&err);
}

static void *thread_main(void *arg)
{
	struct qpool *p = arg;
	struct store *st = NULL;
	struct err open_err = ERR_INIT;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->head)
			break; /* stopping and nothing left */
		struct qpool_job *job = p->head;
		p->head = job->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		run_job(job, &st, p->db_path, &open_err);
		pthread_mutex_lock(&p->mu);
		job->next = p->done;
		p->done = job;
		uv_async_send(&p->async);
	}
	p->exited++;
	pthread_mutex_unlock(&p->mu);
	uv_async_send(&p->async);
	store_close(st);
	err_free(&open_err);
	return NULL;
}

static void pool_closed(uv_handle_t *h)
{
	struct qpool *p = h->data;
	git_libgit2_shutdown(); /* the threads are joined: their libgit2 state is freed */
	store_close(p->loop_store);
	err_free(&p->loop_err);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p->db_path);
	free(p);
}

static void async_cb(uv_async_t *a)
{
	struct qpool *p = a->data;
	pthread_mutex_lock(&p->mu);
	struct qpool_job *list = p->done;
	p->done = NULL;
	int all_exited = p->stopping && p->exited == p->nthreads;
	pthread_mutex_unlock(&p->mu);
	/* complete in submission order (the list is newest first) */
	struct qpool_job *rev = NULL;
	while (list) {
		struct qpool_job *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct qpool_job *n = rev->next;
		p->pending--;
		rev->done(rev);
		rev = n;
	}
	if (all_exited && !uv_is_closing((uv_handle_t *)&p->async)) {
		for (unsigned i = 0; i < p->nthreads; i++)
			pthread_join(p->threads[i], NULL);
		uv_close((uv_handle_t *)&p->async, pool_closed);
	}
}

unsigned qpool_threads(const struct qpool *p)
{
	return p->nthreads;
}

int qpool_start(struct qpool **out, uv_loop_t *loop, const char *db_path, unsigned nthreads,
                struct err *err)
{
	struct qpool *p = xcalloc(1, sizeof(*p));
	/*
	 * Jobs read feeds with libgit2, which keeps per-thread state freed by a
	 * thread-exit destructor; holding one reference for the pool's whole
	 * life keeps that destructor registered until every thread has exited
	 * (a job's own init/shutdown pair would otherwise drop it early).
	 */
	git_libgit2_init();
	p->loop = loop;
	p->db_path = xstrdup(db_path);
	p->nthreads = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	uv_async_init(loop, &p->async, async_cb);
	p->async.data = p;
	p->threads = xcalloc(nthreads ? nthreads : 1, sizeof(*p->threads));
	for (unsigned i = 0; i < nthreads; i++) {
		int r = pthread_create(&p->threads[i], NULL, thread_main, p);
		if (r != 0) {
			p->nthreads = i;
			qpool_stop(p);
			return err_set(err, ERR_INTERNAL, "cannot start query thread %u: %s", i,
			               strerror(r));
		}
	}
	*out = p;
	return 0;
}

void qpool_submit(struct qpool *p, struct qpool_job *job)
{
	p->pending++;
	if (!p->nthreads) {
		run_job(job, &p->loop_store, p->db_path, &p->loop_err);
		p->pending--;
		job->done(job);
		return;
	}
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int qpool_run_here(struct qpool *p, struct qpool_job *job)
{
	run_job(job, &p->loop_store, p->db_path, &p->loop_err);
	return p->loop_store ? 0 : -1;
}

struct store *qpool_loop_store(struct qpool *p, struct err *err)
{
	return reader_store(&p->loop_store, p->db_path, err);
}

size_t qpool_pending(const struct qpool *p)
{
	return p->pending;
}

void qpool_stop(struct qpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* async_cb joins the threads once they have all exited */
	uv_async_send(&p->async);
}
