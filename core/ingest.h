/*
 * ingest.h - take KCIDB submissions from bytes to the store.
 *
 * One submission (a file, stdin, a spool file) is parsed, validated,
 * upgraded to v5.3 and merged in ONE transaction: either every object is
 * stored or nothing is.  A submission whose bytes were stored before (same
 * sha256) is recognised and changes nothing.
 *
 * Work is split in two so many files can be ingested fast:
 *   ingest_prepare()  read, checksum, parse, validate, serialise nested
 *                     values - pure CPU, safe on any thread;
 *   ingest_commit()   the transaction - on the thread that owns the store.
 * ingest_files() runs the prepare step of the next files on a thread pool
 * while the current one is written, committing strictly in input order.
 */
#ifndef CIFEED_INGEST_H
#define CIFEED_INGEST_H

#include <stddef.h>

#include "kcidb.h"
#include "results.h"
#include "store.h"

/* Refuse submissions larger than this (bytes); cifeed.conf core.max-submission. */
#define INGEST_DEFAULT_MAX (512u << 20)

struct ingest_result {
	int duplicate;    /* 1: same bytes already stored as submission dup_id */
	int64_t dup_id;
	char version[16]; /* as submitted */
	struct results_stats stats;
	struct kcidb_errors errors;
};

void ingest_result_init(struct ingest_result *r);
void ingest_result_free(struct ingest_result *r);

/* One submission on its way through the pipeline. */
struct ingest_item {
	const char *path;   /* file to read, "-" for stdin; NULL when data is given */
	const char *name;   /* for messages: the path or "<stdin>" */
	const char *source; /* recorded with the submission: "file:x.json", "spool:x" */
	struct buf data;    /* the bytes (read by ingest_prepare when path is set) */
	char sha256[65];
	struct results_prepared prep;
	struct ingest_result res;
	struct err err;     /* why prepare or commit failed */
	int prepared;       /* 1: ready to commit; 0: failed (see err) */
};

void ingest_item_init(struct ingest_item *it);
void ingest_item_free(struct ingest_item *it);
/* Read (if path), checksum, parse, validate.  Thread-safe.  Returns 0 or -1 (it->err). */
int ingest_prepare(struct ingest_item *it, size_t max_bytes);
/* Store a prepared item in one transaction (or notice it is a duplicate). */
int ingest_commit(struct store *st, struct results_writer *w, struct ingest_item *it,
		  struct err *err);

/*
 * Ingest n items in order with `threads` preparing ahead (0 = number of
 * CPUs).  `done` is called on the calling thread for every item, in order,
 * after its commit (or failure: rc < 0 and the error in *err).  Returns 0,
 * or -1 if any item failed.
 */
int ingest_items(struct store *st, struct ingest_item *items, size_t n, size_t max_bytes,
		 unsigned threads,
		 void (*done)(struct ingest_item *it, int rc, const struct err *err, void *arg),
		 void *arg);

/* Convenience for one in-memory submission (adapters, tests). */
int ingest_kcidb(struct store *st, struct results_writer *w, const char *data, size_t len,
		 const char *name, const char *source, struct ingest_result *res, struct err *err);

/* Parse and validate only (no store). */
int ingest_kcidb_parse(const char *data, size_t len, const char *name, json_t **doc,
		       struct ingest_result *res, struct err *err);

/* sha256 of data as 64 hex chars + NUL. */
void ingest_sha256_hex(const void *data, size_t len, char out[65]);

#endif
