/*
 * ingest.h - take a KCIDB submission from bytes to the store.
 *
 * One submission (a file, stdin, a spool file) is parsed, validated,
 * upgraded to v5.3 and merged in ONE transaction: either every object is
 * stored or nothing is.  A submission whose bytes were stored before (same
 * sha256) is recognised and changes nothing.
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
	int duplicate;          /* 1: same bytes already stored as submission dup_id */
	int64_t dup_id;
	char version[16];       /* as submitted */
	struct results_stats stats;
	struct kcidb_errors errors;
};

void ingest_result_init(struct ingest_result *r);
void ingest_result_free(struct ingest_result *r);

/*
 * Ingest `len` bytes of KCIDB JSON.  `name` is used in messages (a path or
 * "<stdin>"), `source` is recorded with the submission ("file:x.json").
 * Returns 0 on success (including a duplicate), -1 with err set otherwise;
 * for rejected input err->code is ERR_INVALID and the message lists the
 * first errors (res->errors has them all counted).
 */
int ingest_kcidb(struct store *st, struct results_writer *w, const char *data, size_t len,
		 const char *name, const char *source, struct ingest_result *res, struct err *err);

/* Parse and validate only (no store): for the spool and for tests. */
int ingest_kcidb_parse(const char *data, size_t len, const char *name, json_t **doc,
		       struct ingest_result *res, struct err *err);

/* sha256 of data as 64 hex chars + NUL. */
void ingest_sha256_hex(const void *data, size_t len, char out[65]);

#endif
