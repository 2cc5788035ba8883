/*
 * ingest.c - KCIDB submission intake (see ingest.h).
 */
#include "ingest.h"
#include "log.h"
#include "metrics.h"

#include <sodium.h>
#include <string.h>

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
	crypto_hash_sha256(h, data, len);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int rejection(struct err *err, const char *name, const struct ingest_result *res)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s: rejected, %zu error%s (nothing stored):\n", name, res->errors.count,
		 res->errors.count == 1 ? "" : "s");
	/* indent each kept line */
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

int ingest_kcidb(struct store *st, struct results_writer *w, const char *data, size_t len,
		 const char *name, const char *source, struct ingest_result *res, struct err *err)
{
	char sha[65];
	json_t *doc = NULL;

	ingest_sha256_hex(data, len, sha);
	int r = results_find_submission(st, sha, &res->dup_id, NULL, err);
	if (r < 0)
		return -1;
	if (r == STORE_ROW) {
		res->duplicate = 1;
		return 0;
	}
	if (ingest_kcidb_parse(data, len, name, &doc, res, err) < 0)
		return -1;

	struct submission_meta meta = { source, sha, res->version };
	if (store_begin(st, err) < 0)
		goto fail;
	/* Re-check under the write lock: a concurrent ingest may have stored it. */
	r = results_find_submission(st, sha, &res->dup_id, NULL, err);
	if (r < 0)
		goto fail_tx;
	if (r == STORE_ROW) {
		store_rollback(st);
		res->duplicate = 1;
		json_decref(doc);
		return 0;
	}
	if (results_submit(w, doc, &meta, &res->stats, err) < 0)
		goto fail_tx;
	if (store_commit(st, err) < 0)
		goto fail_tx;
	json_decref(doc);
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "type=\"%s\"", kcidb_types[t].name);
		metrics_counter_add("cifeed_objects_ingested_total", labels, res->stats.counts[t]);
	}
	metrics_counter_add("cifeed_submissions_total", NULL, 1);
	return 0;
fail_tx:
	store_rollback(st);
fail:
	json_decref(doc);
	return err_prefix(err, "%s", name);
}
