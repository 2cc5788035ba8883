/*
 * intake.c - patch mail into the store (see intake.h).
 *
 * One message at a time: parse (mail.c), classify (patchmail.c), then a
 * handful of prepared INSERTs, all idempotent by Message-ID so overlapping
 * deliveries and re-reads after a crash or a history rewrite never
 * duplicate anything.  Work that spans messages (series completeness, the
 * patchset hash, links to checkouts) waits for intake_flush(), once per
 * batch, over the series the batch touched.
 */
#include "intake.h"
#include "botpass.h"
#include "formats.h"
#include "log.h"
#include "mail.h"
#include "patchlink.h"
#include "patchmail.h"

#include <ctype.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	S_SEL_PATCH,
	S_SEL_SERIES_ROOT,
	S_INS_SERIES,
	S_SEL_SERIES_RID,
	S_INS_PATCH,
	S_INS_FILE,
	S_INS_BASE,
	S_INS_TRAILER,
	S_INS_IMSG,
	S_INS_COMMIT,
	S_SEL_IMSG,
	S_NSTMT
};

static const char *const stmt_sql[S_NSTMT] = {
	[S_SEL_PATCH] = "SELECT rid, kind, version, total, author_email, series_rid FROM patches "
			"WHERE msgid = ?",
	[S_SEL_SERIES_ROOT] = "SELECT root_msgid FROM series WHERE rid = ?",
	[S_INS_SERIES] =
		"INSERT INTO series (root_msgid, version, total, subject, stem, author_name, "
		"author_email, list_id, date, change_id, version_key, rfc, resend, tags, "
		"automated, received, subject_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		"?, ?, ?, ?, ?) ON CONFLICT (root_msgid) DO UPDATE SET "
		"subject = CASE WHEN excluded.subject_position < series.subject_position THEN "
		"excluded.subject ELSE series.subject END, "
		"stem = CASE WHEN excluded.subject_position < series.subject_position THEN "
		"excluded.stem ELSE series.stem END, "
		"date = CASE WHEN excluded.subject_position < series.subject_position THEN "
		"excluded.date ELSE series.date END, "
		"version_key = CASE WHEN series.change_id IS NULL AND excluded.change_id IS NOT "
		"NULL THEN excluded.version_key WHEN series.change_id IS NULL AND "
		"excluded.subject_position < series.subject_position THEN excluded.version_key "
		"ELSE series.version_key END, "
		"change_id = COALESCE(series.change_id, excluded.change_id), "
		"author_name = COALESCE(series.author_name, excluded.author_name), "
		"author_email = COALESCE(series.author_email, excluded.author_email), "
		"list_id = COALESCE(series.list_id, excluded.list_id), "
		"rfc = CASE WHEN excluded.rfc > series.rfc THEN excluded.rfc ELSE series.rfc END, "
		"resend = CASE WHEN excluded.resend > series.resend THEN excluded.resend ELSE "
		"series.resend END, "
		"automated = CASE WHEN excluded.automated > series.automated THEN "
		"excluded.automated ELSE series.automated END, "
		"tags = COALESCE(series.tags, excluded.tags), "
		"subject_position = CASE WHEN excluded.subject_position < series.subject_position "
		"THEN excluded.subject_position ELSE series.subject_position END",
	[S_SEL_SERIES_RID] = "SELECT rid FROM series WHERE root_msgid = ?",
	[S_INS_PATCH] =
		"INSERT INTO patches (msgid, list_id, author_name, author_email, subject, date, "
		"patch_id, kind, series_rid, position, total, version, rfc, resend, tags, stem, "
		"in_reply_to, date_unix, change_id, automated, blob, source, received, raw_sha256) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		"ON CONFLICT (msgid) DO NOTHING",
	[S_INS_FILE] = "INSERT INTO patch_files (patch_rid, path, old_path, old_blob, new_blob) "
		       "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
	[S_INS_BASE] = "INSERT INTO patch_base (patch_rid, kind, value) VALUES (?, ?, ?) "
		       "ON CONFLICT DO NOTHING",
	[S_INS_TRAILER] = "INSERT INTO trailers (target_msgid, source_msgid, key, value, email, "
			  "from_reply) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
	[S_INS_IMSG] = "INSERT INTO intake_messages (source, epoch, blob, msgid) VALUES (?, ?, "
		       "?, ?) ON CONFLICT DO NOTHING",
	[S_INS_COMMIT] = "INSERT INTO patch_commits (patch_rid, commit_hash, source_msgid) "
			 "SELECT rid, ?, ? FROM patches WHERE series_rid = ? AND position = ? "
			 "AND kind = 'patch' ON CONFLICT DO NOTHING",
	[S_SEL_IMSG] = "SELECT msgid FROM intake_messages WHERE source = ? AND blob = ?",
};

struct intake {
	struct store *st;
	char *source;
	struct store_stmt *s[S_NSTMT];
	struct intake_stats stats;
	int64_t *touched; /* series rids touched in this batch */
	size_t ntouched, cap;
	int64_t batch_rid; /* patches.rid before the batch */
	int batch_open;
	char now[32];
};

int intake_open(struct store *st, const char *source, struct intake **out, struct err *err)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	in->st = st;
	in->source = xstrdup(source);
	for (int i = 0; i < S_NSTMT; i++)
		if (store_prepare(st, &in->s[i], stmt_sql[i], err) < 0) {
			intake_close(in);
			return err_prefix(err, "intake");
		}
	*out = in;
	return 0;
}

void intake_close(struct intake *in)
{
	if (!in)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		if (in->s[i])
			store_finalize(in->s[i]);
	free(in->touched);
	free(in->source);
	free(in);
}

const struct intake_stats *intake_get_stats(const struct intake *in)
{
	return &in->stats;
}

/* sha256 hex (Nettle: hardware SHA where the CPU has it; this runs per patch mail) */
static void sha256_hex(const void *data, size_t len, char out[65])
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	static const char hx[] = "0123456789abcdef";
	sha256_init(&c);
	sha256_update(&c, len, data);
	sha256_digest(&c, sizeof(d), d);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
}

static void touch(struct intake *in, int64_t rid)
{
	for (size_t i = 0; i < in->ntouched; i++)
		if (in->touched[i] == rid)
			return;
	if (in->ntouched == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 64;
		in->touched = xrealloc(in->touched, in->cap * sizeof(*in->touched));
	}
	in->touched[in->ntouched++] = rid;
}

static int batch_start(struct intake *in, struct err *err)
{
	if (in->batch_open)
		return 0;
	if (store_query_int(in->st, "SELECT COALESCE(MAX(rid), 0) FROM patches", &in->batch_rid,
			    err, 0) < 0)
		return -1;
	fmt_now(in->now);
	in->batch_open = 1;
	return 0;
}

static void bind_opt(struct store_stmt *s, int i, const char *v)
{
	if (v)
		store_bind_text(s, i, v, -1);
	else
		store_bind_null(s, i);
}

struct known_patch {
	int found;
	int64_t rid, series_rid;
	int version, total;
	char kind[16];
	char *email;
};

static int lookup_patch(struct intake *in, const char *msgid, struct known_patch *k,
			struct err *err)
{
	struct store_stmt *s = in->s[S_SEL_PATCH];
	memset(k, 0, sizeof(*k));
	store_reset(s);
	store_bind_text(s, 1, msgid, -1);
	int r = store_step(s, err);
	if (r < 0)
		return -1;
	if (r == STORE_ROW) {
		k->found = 1;
		k->rid = store_col_int(s, 0);
		const char *kind = store_col_text(s, 1, NULL);
		snprintf(k->kind, sizeof(k->kind), "%s", kind ? kind : "");
		k->version = (int)store_col_int(s, 2);
		k->total = (int)store_col_int(s, 3);
		k->email = store_col_dup(s, 4);
		k->series_rid = store_col_type(s, 5) == STORE_NULL ? 0 : store_col_int(s, 5);
	}
	store_reset(s);
	return 0;
}

static int same_person(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

static int series_root(struct intake *in, int64_t rid, char **out, struct err *err)
{
	struct store_stmt *s = in->s[S_SEL_SERIES_ROOT];
	store_reset(s);
	store_bind_int(s, 1, rid);
	int r = store_step(s, err);
	if (r < 0)
		return -1;
	*out = r == STORE_ROW ? xstrdup(store_col_text(s, 0, NULL)) : NULL;
	store_reset(s);
	return 0;
}

/* The Message-ID that keys the series of a patch mail (see intake.h). */
static int series_key(struct intake *in, const struct mail *m, const struct patchmail *pm,
		      char **key, struct err *err)
{
	*key = NULL;
	if (pm->kind == PM_COVER || pm->subj.counter < 0) {
		*key = xstrdup(m->message_id);
		return 0;
	}
	size_t nc = m->nreferences + 1;
	for (size_t i = 0; i < nc && !*key; i++) {
		const char *c = i == 0 ? m->in_reply_to : m->references[m->nreferences - i];
		if (!c || !strcmp(c, m->message_id))
			continue;
		struct known_patch k;
		if (lookup_patch(in, c, &k, err) < 0)
			return -1;
		/*
		 * Same version, total and sender.  The version may differ for the
		 * message patch M>1 answers directly: some series tag each patch
		 * with its own revision ("[PATCH 06/10] [v4]"), while a v2 sent
		 * in reply to v1's thread answers with patch 1 or a cover letter.
		 */
		int vok = k.version == pm->subj.version || (i == 0 && pm->subj.counter > 1);
		if (k.found && k.series_rid && vok && k.total == pm->subj.total &&
		    same_person(k.email, m->from_email)) {
			if (series_root(in, k.series_rid, key, err) < 0) {
				free(k.email);
				return -1;
			}
		}
		free(k.email);
	}
	if (*key)
		return 0;
	/*
	 * Nothing stored answers the description: the message it answers is
	 * most likely the cover letter, still to come (lists deliver out of
	 * order).  Predict that key, unless a series already keyed so belongs
	 * to another sender or total, or to another version (v2 sent
	 * --in-reply-to v1's thread) - a patch M>1 of the same total still joins.
	 */
	const char *irt = m->in_reply_to;
	int own = !irt || !strcmp(irt, m->message_id);
	if (!own) {
		struct known_patch k;
		if (lookup_patch(in, irt, &k, err) < 0)
			return -1;
		free(k.email);
		if (k.found) {
			own = 1; /* a stored patch mail of another series: not our cover */
		} else {
			int64_t v = 0, t = 0;
			int r = store_query_int(in->st,
						"SELECT version * 1000000 + total FROM series WHERE "
						"root_msgid = ? AND (author_email IS NULL OR ? IS NULL OR "
						"lower(author_email) = lower(?))",
						&v, err, 3, irt, m->from_email, m->from_email);
			if (r < 0)
				return -1;
			int64_t exists = 0;
			if (store_query_int(in->st, "SELECT COUNT(*) FROM series WHERE root_msgid = ?",
					    &exists, err, 1, irt) < 0)
				return -1;
			t = (int64_t)pm->subj.version * 1000000 + pm->subj.total;
			if (exists && (r == 0 || (v != t && !(pm->subj.counter > 1 &&
							       v % 1000000 == pm->subj.total))))
				own = 1;
		}
	}
	*key = xstrdup(own ? m->message_id : irt);
	return 0;
}

static char *lower(const char *s)
{
	char *d = xstrdup(s ? s : "");
	for (char *c = d; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

static int upsert_series(struct intake *in, const struct mail *m, const struct patchmail *pm,
			 const char *key, const char *date, int position, int64_t *rid,
			 struct err *err)
{
	struct store_stmt *s = in->s[S_INS_SERIES];
	struct buf vkey = BUF_INIT;
	if (pm->change_id) {
		buf_addf(&vkey, "change-id:%s", pm->change_id);
	} else {
		char *e = lower(m->from_email), *st = lower(pm->subj.stem);
		buf_addf(&vkey, "stem:%s:%s", e, st);
		free(e);
		free(st);
	}
	store_reset(s);
	store_bind_text(s, 1, key, -1);
	store_bind_int(s, 2, pm->subj.version);
	store_bind_int(s, 3, pm->subj.total);
	store_bind_text(s, 4, m->subject, -1);
	store_bind_text(s, 5, pm->subj.stem, -1);
	bind_opt(s, 6, m->from_name);
	bind_opt(s, 7, m->from_email);
	bind_opt(s, 8, m->list_id);
	bind_opt(s, 9, date);
	bind_opt(s, 10, pm->change_id);
	store_bind_text(s, 11, vkey.ptr, -1);
	store_bind_int(s, 12, pm->subj.rfc);
	store_bind_int(s, 13, pm->subj.resend);
	bind_opt(s, 14, pm->subj.tags[0] ? pm->subj.tags : NULL);
	store_bind_int(s, 15, pm->automated);
	store_bind_text(s, 16, in->now, -1);
	store_bind_int(s, 17, position);
	buf_free(&vkey);
	if (store_step(s, err) < 0)
		return -1;
	struct store_stmt *q = in->s[S_SEL_SERIES_RID];
	store_reset(q);
	store_bind_text(q, 1, key, -1);
	int r = store_step(q, err);
	if (r < 0)
		return -1;
	if (r != STORE_ROW)
		return err_set(err, ERR_INTERNAL, "series %s vanished", key);
	*rid = store_col_int(q, 0);
	store_reset(q);
	touch(in, *rid);
	return 0;
}

static int add_trailer(struct intake *in, const char *target, const char *source,
		       const struct pm_trailer *t, int from_reply, struct err *err)
{
	struct store_stmt *s = in->s[S_INS_TRAILER];
	store_reset(s);
	store_bind_text(s, 1, target, -1);
	store_bind_text(s, 2, source, -1);
	store_bind_text(s, 3, t->key, -1);
	store_bind_text(s, 4, t->value, -1);
	bind_opt(s, 5, t->email);
	store_bind_int(s, 6, from_reply);
	if (store_step(s, err) < 0)
		return -1;
	in->stats.trailers += (size_t)store_changes(in->st);
	return 0;
}

static int store_patch(struct intake *in, const char *raw, size_t len, const struct mail *m,
		       const struct patchmail *pm, const char *blob, struct err *err)
{
	char date[32], sha[65];
	int has_date = m->has_date;
	if (has_date)
		fmt_unix_rfc3339(m->date, date);
	int position = pm->kind == PM_COVER ? 0 : pm->subj.counter < 0 ? 1 : pm->subj.counter;
	char *key;
	int64_t series_rid = 0;
	if (series_key(in, m, pm, &key, err) < 0)
		return -1;
	int r = upsert_series(in, m, pm, key, has_date ? date : NULL, position, &series_rid, err);
	free(key);
	if (r < 0)
		return -1;

	sha256_hex(raw, len, sha);
	struct store_stmt *s = in->s[S_INS_PATCH];
	store_reset(s);
	store_bind_text(s, 1, m->message_id, -1);
	bind_opt(s, 2, m->list_id);
	bind_opt(s, 3, m->from_name);
	bind_opt(s, 4, m->from_email);
	store_bind_text(s, 5, m->subject, -1);
	bind_opt(s, 6, has_date ? date : NULL);
	bind_opt(s, 7, pm->patch_id[0] ? pm->patch_id : NULL);
	store_bind_text(s, 8, pm->kind == PM_COVER ? "cover" : "patch", -1);
	store_bind_int(s, 9, series_rid);
	store_bind_int(s, 10, position);
	store_bind_int(s, 11, pm->subj.total);
	store_bind_int(s, 12, pm->subj.version);
	store_bind_int(s, 13, pm->subj.rfc);
	store_bind_int(s, 14, pm->subj.resend);
	bind_opt(s, 15, pm->subj.tags[0] ? pm->subj.tags : NULL);
	store_bind_text(s, 16, pm->subj.stem, -1);
	bind_opt(s, 17, m->in_reply_to);
	if (has_date)
		store_bind_int(s, 18, m->date);
	else
		store_bind_null(s, 18);
	bind_opt(s, 19, pm->change_id);
	store_bind_int(s, 20, pm->automated);
	bind_opt(s, 21, blob);
	store_bind_text(s, 22, in->source, -1);
	store_bind_text(s, 23, in->now, -1);
	store_bind_text(s, 24, sha, -1);
	if (store_step(s, err) < 0)
		return -1;
	if (store_changes(in->st) == 0) {
		in->stats.duplicates++;
		return 0;
	}
	int64_t rid = store_last_insert_id(in->st);
	if (pm->kind == PM_COVER)
		in->stats.covers++;
	else
		in->stats.patches++;

	for (size_t i = 0; i < pm->nfiles; i++) {
		const struct pm_file *f = &pm->files[i];
		struct store_stmt *fs = in->s[S_INS_FILE];
		store_reset(fs);
		store_bind_int(fs, 1, rid);
		store_bind_text(fs, 2, f->path, -1);
		bind_opt(fs, 3, f->old_path);
		bind_opt(fs, 4, f->old_blob);
		bind_opt(fs, 5, f->new_blob);
		if (store_step(fs, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < pm->nbase; i++) {
		struct store_stmt *bs = in->s[S_INS_BASE];
		store_reset(bs);
		store_bind_int(bs, 1, rid);
		store_bind_text(bs, 2, pm_base_kind_name(pm->base[i].kind), -1);
		store_bind_text(bs, 3, pm->base[i].value, -1);
		if (store_step(bs, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < pm->ntrailers; i++)
		if (add_trailer(in, m->message_id, m->message_id, &pm->trailers[i], 0, err) < 0)
			return -1;
	return 0;
}

/* Trailers a reviewer gives in a reply. */
static int review_trailer(const char *key)
{
	static const char *const k[] = { "Acked-by",	 "Reviewed-by",	 "Tested-by",
					 "Reported-by",	 "Suggested-by", "Reviewed-and-tested-by",
					 "Debugged-by", "Requested-by", NULL };
	for (int i = 0; k[i]; i++)
		if (!strcmp(key, k[i]))
			return 1;
	return 0;
}

/*
 * b4 "Applied, thanks!" replies list "[M/N] subject" followed by an indented
 * "commit: <sha>" line (or a URL ending in the sha).
 */
static int applied_commits(struct intake *in, const struct mail *m, int64_t series_rid,
			   struct err *err)
{
	const char *p = buf_cstr(&m->body), *end = p + m->body.len;
	int position = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (*p == '[') {
			int a, b;
			position = sscanf(p, "[%d/%d]", &a, &b) == 2 ? a : -1;
		} else if (position > 0 && (*p == ' ' || *p == '\t')) {
			const char *q = p;
			while (q < le && (*q == ' ' || *q == '\t'))
				q++;
			if (le - q > 8 && !strncmp(q, "commit: ", 8)) {
				/* the last run of 40 hex digits on the line */
				const char *sha = NULL;
				for (const char *h = le - 40; h >= q + 8; h--) {
					int ok = 1;
					for (int i = 0; i < 40 && ok; i++)
						ok = isxdigit((unsigned char)h[i]) &&
						     !isupper((unsigned char)h[i]);
					if (ok && (h + 40 == le || !isxdigit((unsigned char)h[40]))) {
						sha = h;
						break;
					}
				}
				if (sha) {
					struct store_stmt *s = in->s[S_INS_COMMIT];
					store_reset(s);
					store_bind_text(s, 1, sha, 40);
					store_bind_text(s, 2, m->message_id, -1);
					store_bind_int(s, 3, series_rid);
					store_bind_int(s, 4, position);
					if (store_step(s, err) < 0)
						return -1;
					if (store_changes(in->st))
						touch(in, series_rid);
				}
				position = -1;
			}
		} else {
			position = -1;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static int store_reply(struct intake *in, const struct mail *m, const struct patchmail *pm,
		       struct err *err)
{
	/* the patch it answers: the nearest ancestor that is a stored patch mail */
	const char *target = NULL;
	struct known_patch k = { 0 };
	size_t nc = m->nreferences + 1;
	for (size_t i = 0; i < nc && !target; i++) {
		const char *c = i == 0 ? m->in_reply_to : m->references[m->nreferences - i];
		if (!c)
			continue;
		if (lookup_patch(in, c, &k, err) < 0)
			return -1;
		free(k.email);
		if (k.found)
			target = c;
	}
	if (!target)
		target = m->in_reply_to; /* the patch may still arrive */
	if (!target)
		return 0;
	for (size_t i = 0; i < pm->ntrailers; i++)
		if (review_trailer(pm->trailers[i].key) &&
		    add_trailer(in, target, m->message_id, &pm->trailers[i], 1, err) < 0)
			return -1;
	if (k.found && k.series_rid) {
		if (pm->ntrailers)
			touch(in, k.series_rid);
		if (applied_commits(in, m, k.series_rid, err) < 0)
			return -1;
	}
	return 0;
}

int intake_add_parsed(struct intake *in, const char *raw, size_t len, const struct mail *mp,
		      const struct patchmail *pmp, const char *blob, int epoch, struct err *err)
{
	const struct mail *m = mp;
	int rc = 0;

	if (batch_start(in, err) < 0)
		return -1;
	in->stats.messages++;
	in->stats.bytes += len;
	if (!m->message_id || !pmp) {
		in->stats.no_msgid++;
		log_debug("intake.skip", "source=%s blob=%s reason=%s", in->source,
			  blob ? blob : "-", "no Message-ID");
		return 0;
	}
	const struct patchmail *pm = pmp;
	switch (pm->kind) {
	case PM_PATCH:
	case PM_COVER:
		rc = store_patch(in, raw, len, m, pm, blob, err);
		break;
	case PM_REPLY:
		in->stats.replies++;
		rc = store_reply(in, m, pm, err);
		break;
	default:
		in->stats.other++;
		break;
	}
	/* pulls and replies carrying patches are no series, but bots answer for them */
	if (rc == 0 && (pm->kind == PM_PULL || pm->kind == PM_REPLY))
		rc = botpass_observe(in->st, m, pm, in->source, err);
	if (rc == 0 && blob) {
		struct store_stmt *s = in->s[S_INS_IMSG];
		store_reset(s);
		store_bind_text(s, 1, in->source, -1);
		store_bind_int(s, 2, epoch);
		store_bind_text(s, 3, blob, -1);
		store_bind_text(s, 4, m->message_id, -1);
		if (store_step(s, err) < 0)
			rc = -1;
	}
	if (rc < 0)
		err_prefix(err, "message <%s>", m->message_id);
	return rc;
}

int intake_add(struct intake *in, const char *raw, size_t len, const char *blob, int epoch,
	       struct err *err)
{
	struct mail m;
	struct patchmail pm;
	mail_parse(raw, len, &m);
	if (!m.message_id) {
		int rc = intake_add_parsed(in, raw, len, &m, NULL, blob, epoch, err);
		mail_free(&m);
		return rc;
	}
	patchmail_parse(&m, &pm);
	int rc = intake_add_parsed(in, raw, len, &m, &pm, blob, epoch, err);
	patchmail_free(&pm);
	mail_free(&m);
	return rc;
}

static int exec_text(struct store *st, const char *sql, const char *a, const char *b,
		     struct err *err)
{
	struct store_stmt *s;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	store_bind_text(s, 1, a, -1);
	if (b)
		store_bind_text(s, 2, b, -1);
	int r = store_step(s, err);
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

int intake_remove_blob(struct intake *in, const char *blob, struct err *err)
{
	if (batch_start(in, err) < 0)
		return -1;
	struct store_stmt *s = in->s[S_SEL_IMSG];
	store_reset(s);
	store_bind_text(s, 1, in->source, -1);
	store_bind_text(s, 2, blob, -1);
	int r = store_step(s, err);
	if (r < 0)
		return -1;
	if (r != STORE_ROW) {
		store_reset(s);
		return 0;
	}
	char *msgid = xstrdup(store_col_text(s, 0, NULL));
	store_reset(s);

	struct known_patch k;
	int rc = -1;
	if (lookup_patch(in, msgid, &k, err) < 0)
		goto out;
	free(k.email);
	if (exec_text(in->st, "DELETE FROM trailers WHERE source_msgid = ?", msgid, NULL, err) < 0 ||
	    exec_text(in->st, "DELETE FROM patch_commits WHERE source_msgid = ?", msgid, NULL,
		      err) < 0 ||
	    exec_text(in->st, "DELETE FROM bot_mail WHERE msgid = ?", msgid, NULL, err) < 0)
		goto out;
	if (k.found) {
		char rid[32];
		snprintf(rid, sizeof(rid), "%lld", (long long)k.rid);
		static const char *const del[] = {
			"DELETE FROM patch_files WHERE patch_rid = CAST(? AS INTEGER)",
			"DELETE FROM patch_base WHERE patch_rid = CAST(? AS INTEGER)",
			"DELETE FROM patch_commits WHERE patch_rid = CAST(? AS INTEGER)",
			"DELETE FROM checkout_patches WHERE patch_rid = CAST(? AS INTEGER)",
			"DELETE FROM patches WHERE rid = CAST(? AS INTEGER)",
		};
		for (size_t i = 0; i < sizeof(del) / sizeof(*del); i++)
			if (exec_text(in->st, del[i], rid, NULL, err) < 0)
				goto out;
		if (k.series_rid) {
			char srid[32];
			snprintf(srid, sizeof(srid), "%lld", (long long)k.series_rid);
			if (exec_text(in->st,
				      "DELETE FROM series WHERE rid = CAST(? AS INTEGER) AND NOT "
				      "EXISTS (SELECT 1 FROM patches WHERE series_rid = series.rid)",
				      srid, NULL, err) < 0)
				goto out;
			if (store_changes(in->st) == 0)
				touch(in, k.series_rid);
			else
				for (size_t i = 0; i < in->ntouched; i++)
					if (in->touched[i] == k.series_rid)
						in->touched[i] = in->touched[--in->ntouched];
		}
	}
	if (exec_text(in->st, "DELETE FROM intake_messages WHERE source = ? AND blob = ?",
		      in->source, blob, err) < 0)
		goto out;
	in->stats.deleted++;
	rc = 1;
out:
	if (rc < 0)
		err_prefix(err, "removing blob %s (<%s>)", blob, msgid);
	free(msgid);
	return rc;
}

/*
 * KCIDB patchset_hash of every complete touched series: sha256 over
 * "<sha256 of patch mail>\n" in position order; NULL while incomplete.
 * One SELECT for the whole batch, one prepared UPDATE.
 */
static int series_finish(struct intake *in, struct err *err)
{
	struct buf sql = BUF_INIT, cat = BUF_INIT;
	buf_adds(&sql, "SELECT s.rid, s.total, p.position, p.raw_sha256 FROM series s LEFT JOIN "
		       "patches p ON p.series_rid = s.rid AND p.kind = 'patch' AND p.position "
		       "BETWEEN 1 AND s.total WHERE s.rid IN (");
	for (size_t i = 0; i < in->ntouched; i++)
		buf_addf(&sql, "%s%lld", i ? ", " : "", (long long)in->touched[i]);
	buf_adds(&sql, ") ORDER BY s.rid, p.position, p.rid");
	struct store_stmt *s = NULL, *u = NULL;
	int r = -1;
	if (store_prepare(in->st, &s, sql.ptr, err) < 0 ||
	    store_prepare(in->st, &u, "UPDATE series SET patchset_hash = ? WHERE rid = ?", err) < 0)
		goto out;
	int64_t cur = -1, total = 0, last = 0, have = 0;
	for (;;) {
		r = store_step(s, err);
		if (r < 0)
			goto out;
		int64_t rid = r == STORE_ROW ? store_col_int(s, 0) : -2;
		if (rid != cur && cur >= 0) {
			/* the previous series is complete: store its hash (or clear it) */
			char hash[65];
			int complete = total > 0 && have == total;
			if (complete)
				sha256_hex(cat.ptr, cat.len, hash);
			store_reset(u);
			if (complete)
				store_bind_text(u, 1, hash, -1);
			else
				store_bind_null(u, 1);
			store_bind_int(u, 2, cur);
			if (store_step(u, err) < 0) {
				r = -1;
				goto out;
			}
		}
		if (r != STORE_ROW)
			break;
		if (rid != cur) {
			cur = rid;
			total = store_col_int(s, 1);
			last = 0;
			have = 0;
			buf_reset(&cat);
		}
		if (store_col_type(s, 2) == STORE_NULL)
			continue;
		int64_t pos = store_col_int(s, 2);
		if (pos == last)
			continue; /* a duplicate position: the first one stored counts */
		last = pos;
		have++;
		const char *h = store_col_text(s, 3, NULL);
		buf_addf(&cat, "%s\n", h ? h : "");
	}
	r = patchlink_series_set(in->st, in->touched, in->ntouched, err);
out:
	if (s)
		store_finalize(s);
	if (u)
		store_finalize(u);
	buf_free(&sql);
	buf_free(&cat);
	return r < 0 ? -1 : 0;
}

int intake_flush(struct intake *in, struct err *err)
{
	if (!in->batch_open)
		return 0;
	if (in->ntouched && series_finish(in, err) < 0)
		return err_prefix(err, "intake: finishing %zu series", in->ntouched);
	if (patchlink_patches_since(in->st, in->batch_rid, err) < 0)
		return -1;
	in->ntouched = 0;
	in->batch_open = 0;
	return 0;
}
