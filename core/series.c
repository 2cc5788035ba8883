/*
 * series.c - patch series read from the store (see series.h).
 *
 * Plain SELECTs over what intake.c wrote; trailers given on a cover letter
 * or on any patch of the series count for the series, as b4 applies them.
 */
#include "series.h"

#include <stdlib.h>
#include <string.h>

void series_info_free(struct series_info *s)
{
	char **strs[] = {&s->root_msgid,   &s->cover_msgid, &s->first_msgid,  &s->subject,
	                 &s->stem,         &s->author_name, &s->author_email, &s->list_id,
	                 &s->date,         &s->change_id,   &s->version_key,  &s->tags,
	                 &s->patchset_hash};
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		free(*strs[i]);
	for (size_t i = 0; i < s->npatches; i++) {
		struct series_patch *p = &s->patches[i];
		free(p->msgid);
		free(p->subject);
		free(p->date);
		free(p->patch_id);
		free(p->kind);
	}
	free(s->patches);
	for (size_t i = 0; i < s->ntrailers; i++) {
		struct series_trailer *t = &s->trailers[i];
		free(t->key);
		free(t->value);
		free(t->email);
		free(t->source_msgid);
		free(t->target_msgid);
	}
	free(s->trailers);
	for (size_t i = 0; i < s->nbase; i++) {
		free(s->base[i].kind);
		free(s->base[i].value);
		free(s->base[i].msgid);
	}
	free(s->base);
	for (size_t i = 0; i < s->nversions; i++) {
		free(s->versions[i].root_msgid);
		free(s->versions[i].date);
	}
	free(s->versions);
	memset(s, 0, sizeof(*s));
}

static int prep(struct store *st, struct store_stmt **s, const char *sql, int64_t rid,
                struct err *err)
{
	if (store_prepare(st, s, sql, err) < 0)
		return -1;
	store_bind_int(*s, 1, rid);
	return 0;
}

#define GROW(arr, n, cap)                                                                          \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap)*2 : 8;                                               \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
	} while (0)

int series_get_rid(struct store *st, int64_t rid, struct series_info *o, struct err *err)
{
	struct store_stmt *s;
	int r;
	memset(o, 0, sizeof(*o));
	if (prep(
	        st, &s,
	        "SELECT rid, root_msgid, version, total, subject, stem, author_name, author_email, "
	        "list_id, date, change_id, version_key, rfc, resend, tags, automated, "
	        "patchset_hash FROM series WHERE rid = ?",
	        rid, err) < 0)
		return -1;
	r = store_step(s, err);
	if (r != STORE_ROW) {
		store_finalize(s);
		return r < 0 ? -1 : 0;
	}
	o->rid = store_col_int(s, 0);
	o->root_msgid = store_col_dup(s, 1);
	o->version = (int)store_col_int(s, 2);
	o->total = (int)store_col_int(s, 3);
	o->subject = store_col_dup(s, 4);
	o->stem = store_col_dup(s, 5);
	o->author_name = store_col_dup(s, 6);
	o->author_email = store_col_dup(s, 7);
	o->list_id = store_col_dup(s, 8);
	o->date = store_col_dup(s, 9);
	o->change_id = store_col_dup(s, 10);
	o->version_key = store_col_dup(s, 11);
	o->rfc = (int)store_col_int(s, 12);
	o->resend = (int)store_col_int(s, 13);
	o->tags = store_col_dup(s, 14);
	o->automated = (int)store_col_int(s, 15);
	o->patchset_hash = store_col_dup(s, 16);
	store_finalize(s);

	/* messages: cover letter first, then patches by position */
	size_t cap = 0;
	if (prep(st, &s,
	         "SELECT rid, msgid, subject, date, patch_id, kind, position, automated FROM "
	         "patches WHERE series_rid = ? ORDER BY position, rid",
	         rid, err) < 0)
		goto fail;
	int last_pos = -1;
	while ((r = store_step(s, err)) == STORE_ROW) {
		GROW(o->patches, o->npatches, cap);
		struct series_patch *p = &o->patches[o->npatches++];
		p->rid = store_col_int(s, 0);
		p->msgid = store_col_dup(s, 1);
		p->subject = store_col_dup(s, 2);
		p->date = store_col_dup(s, 3);
		p->patch_id = store_col_dup(s, 4);
		p->kind = store_col_dup(s, 5);
		p->position = (int)store_col_int(s, 6);
		o->automated |= (int)store_col_int(s, 7);
		if (!strcmp(p->kind, "cover") && !o->cover_msgid)
			o->cover_msgid = xstrdup(p->msgid);
		if (!o->first_msgid)
			o->first_msgid = xstrdup(p->msgid);
		if (p->position >= 1 && p->position <= o->total && p->position != last_pos &&
		    !strcmp(p->kind, "patch"))
			o->received++;
		last_pos = p->position;
	}
	store_finalize(s);
	if (r < 0)
		goto fail;
	o->complete = o->received == o->total;

	cap = 0;
	if (prep(st, &s,
	         "SELECT b.kind, b.value, p.msgid FROM patch_base b JOIN patches p ON p.rid = "
	         "b.patch_rid WHERE p.series_rid = ? ORDER BY p.position, p.rid, b.kind, b.value",
	         rid, err) < 0)
		goto fail;
	while ((r = store_step(s, err)) == STORE_ROW) {
		GROW(o->base, o->nbase, cap);
		struct series_base *b = &o->base[o->nbase++];
		b->kind = store_col_dup(s, 0);
		b->value = store_col_dup(s, 1);
		b->msgid = store_col_dup(s, 2);
	}
	store_finalize(s);
	if (r < 0)
		goto fail;
	o->has_base = o->nbase > 0;

	cap = 0;
	if (prep(st, &s,
	         "SELECT t.key, t.value, t.email, t.source_msgid, t.target_msgid, t.from_reply "
	         "FROM trailers t JOIN patches p ON p.msgid = t.target_msgid WHERE p.series_rid = "
	         "? ORDER BY p.position, t.rid",
	         rid, err) < 0)
		goto fail;
	while ((r = store_step(s, err)) == STORE_ROW) {
		GROW(o->trailers, o->ntrailers, cap);
		struct series_trailer *t = &o->trailers[o->ntrailers++];
		t->key = store_col_dup(s, 0);
		t->value = store_col_dup(s, 1);
		t->email = store_col_dup(s, 2);
		t->source_msgid = store_col_dup(s, 3);
		t->target_msgid = store_col_dup(s, 4);
		t->from_reply = (int)store_col_int(s, 5);
	}
	store_finalize(s);
	if (r < 0)
		goto fail;

	cap = 0;
	if (store_prepare(st, &s,
	                  "SELECT rid, root_msgid, date, version FROM series WHERE version_key = ? "
	                  "ORDER BY version, date, rid",
	                  err) < 0)
		goto fail;
	store_bind_text(s, 1, o->version_key ? o->version_key : "", -1);
	while ((r = store_step(s, err)) == STORE_ROW) {
		GROW(o->versions, o->nversions, cap);
		struct series_version *v = &o->versions[o->nversions++];
		v->rid = store_col_int(s, 0);
		v->root_msgid = store_col_dup(s, 1);
		v->date = store_col_dup(s, 2);
		v->version = (int)store_col_int(s, 3);
	}
	store_finalize(s);
	if (r < 0)
		goto fail;
	return 1;
fail:
	series_info_free(o);
	return -1;
}

int series_get(struct store *st, const char *msgid, struct series_info *out, struct err *err)
{
	int64_t rid = 0;
	int r = store_query_int(st,
	                        "SELECT COALESCE((SELECT series_rid FROM patches WHERE msgid = ?), "
	                        "(SELECT rid FROM series WHERE root_msgid = ?))",
	                        &rid, err, 2, msgid, msgid);
	if (r < 0)
		return -1;
	if (r == 0 || rid == 0) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return series_get_rid(st, rid, out, err);
}

int series_list(struct store *st, const char *since, int64_t **rids, size_t *n, struct err *err)
{
	struct store_stmt *s;
	*rids = NULL;
	*n = 0;
	if (store_prepare(st, &s,
	                  "SELECT rid FROM series WHERE ? IS NULL OR date >= ? ORDER BY date, rid",
	                  err) < 0)
		return -1;
	if (since) {
		store_bind_text(s, 1, since, -1);
		store_bind_text(s, 2, since, -1);
	}
	size_t cap = 0;
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		GROW(*rids, *n, cap);
		(*rids)[(*n)++] = store_col_int(s, 0);
	}
	store_finalize(s);
	if (r < 0) {
		free(*rids);
		*rids = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

static const char series_review_sql[] =
    "SELECT t.key, t.value FROM trailers t JOIN patches p ON p.msgid = "
    "t.target_msgid WHERE p.series_rid = (SELECT COALESCE((SELECT series_rid "
    "FROM patches WHERE msgid = ?), (SELECT rid FROM series WHERE root_msgid = "
    "?))) AND t.key IN ('Acked-by', 'Reviewed-by', 'Tested-by') GROUP BY "
    "t.key, t.value ORDER BY CASE t.key WHEN 'Acked-by' THEN 1 WHEN "
    "'Reviewed-by' THEN 2 ELSE 3 END, MIN(t.rid)";

static int series_review_run(struct store_stmt *s, const char *msgid, struct buf *out,
                             struct err *err)
{
	store_bind_text(s, 1, msgid, -1);
	store_bind_text(s, 2, msgid, -1);
	int r, lines = 0;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *v = store_col_text(s, 1, NULL);
		/* values came from mail: keep each on one line, whatever it holds */
		buf_addf(out, "%s: ", store_col_text(s, 0, NULL));
		for (const char *c = v ? v : ""; *c; c++)
			buf_addch(out, (*c == '\n' || *c == '\r') ? ' ' : *c);
		buf_addch(out, '\n');
		lines++;
	}
	return r < 0 ? -1 : lines;
}

int series_review_summary(struct store *st, const char *msgid, struct buf *out, struct err *err)
{
	/* cached: a publishing pass asks once per checkout it renders */
	struct store_stmt *s;
	if (store_prepare_cached(st, &s, series_review_sql, err) < 0)
		return -1;
	int r = series_review_run(s, msgid, out, err);
	store_reset(s);
	return r;
}
