/*
 * results.c - KCIDB objects in the store (see results.h).
 *
 * The SQL is generated from the field tables in kcidb.c, so adding a
 * schema field means one table row and one migration column.
 */
#include "results.h"
#include "formats.h"
#include "patchlink.h"
#include "jsonarena.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct results_writer {
	struct store *st;
	struct store_stmt *upsert[KCIDB_NTYPES];
	struct store_stmt *sub_insert, *sub_update, *origin_upsert;
	/* the revision change log (0060) */
	struct store_stmt *rc_insert, *rc_pre, *rc_checkout, *rc_build, *rc_prune, *rc_horizon;
	size_t f_co_patchset, f_build_checkout, f_test_build;
};

static int is_text_kind(enum kcidb_kind k)
{
	switch (k) {
	case KK_BOOL:
	case KK_NUMBER:
	case KK_UINT:
		return 0;
	default:
		return 1;
	}
}

void results_columns(enum kcidb_type t, const char *alias, struct buf *out)
{
	const struct kcidb_type_info *ti = &kcidb_types[t];
	for (size_t i = 0; i < ti->nfields; i++)
		buf_addf(out, "%s%s%s%s", i ? ", " : "", alias ? alias : "", alias ? "." : "",
			 ti->fields[i].name);
}

static void upsert_sql(enum kcidb_type t, struct buf *sql)
{
	const struct kcidb_type_info *ti = &kcidb_types[t];
	const char *tab = ti->plural;
	buf_addf(sql, "INSERT INTO %s (", tab);
	results_columns(t, NULL, sql);
	buf_adds(sql, ", seq, updated) VALUES (");
	for (size_t i = 0; i < ti->nfields + 2; i++)
		buf_adds(sql, i ? ", ?" : "?");
	buf_addf(sql, ") ON CONFLICT (%s) DO UPDATE SET ", t == KCIDB_ISSUE ? "id, version" : "id");
	/* first non-null value wins: only fill what is still missing */
	for (size_t i = 0; i < ti->nfields; i++) {
		const char *f = ti->fields[i].name;
		buf_addf(sql, "%s = COALESCE(%s.%s, excluded.%s), ", f, tab, f, f);
	}
	buf_adds(sql, "seq = excluded.seq, updated = excluded.updated WHERE ");
	int first = 1;
	for (size_t i = 0; i < ti->nfields; i++) {
		const struct kcidb_field *f = &ti->fields[i];
		if (f->flags & KF_REQUIRED)
			continue;
		buf_addf(sql, "%s(%s.%s IS NULL AND excluded.%s IS NOT NULL)", first ? "" : " OR ",
			 tab, f->name, f->name);
		first = 0;
	}
}

int results_writer_new(struct store *st, struct results_writer **out, struct err *err)
{
	struct results_writer *w = xcalloc(1, sizeof(*w));
	w->st = st;
	struct buf sql = BUF_INIT;
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		buf_reset(&sql);
		upsert_sql((enum kcidb_type)t, &sql);
		if (store_prepare(st, &w->upsert[t], sql.ptr, err) < 0)
			goto fail;
	}
	if (store_prepare(st, &w->sub_insert,
			  "INSERT INTO submissions (received_at, source, sha256, version) "
			  "VALUES (?, ?, ?, ?)",
			  err) < 0 ||
	    store_prepare(st, &w->sub_update,
			  "UPDATE submissions SET checkouts = ?, builds = ?, tests = ?, issues = ?, "
			  "incidents = ?, created = ?, updated = ?, unchanged = ? WHERE id = ?",
			  err) < 0 ||
	    store_prepare(st, &w->origin_upsert,
			  "INSERT INTO origins (name, first_seen, last_seen, objects) "
			  "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
			  "last_seen = excluded.last_seen, objects = origins.objects + "
			  "excluded.objects",
			  err) < 0 ||
	    store_prepare(st, &w->rc_insert,
			  "INSERT INTO revision_changes (seq, git_commit_hash, patchset_hash) "
			  "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			  err) < 0 ||
	    /* a checkout about to gain its patchset hash leaves the revision (commit, '') */
	    store_prepare(st, &w->rc_pre,
			  "SELECT git_commit_hash FROM checkouts WHERE id = ? AND "
			  "patchset_hash IS NULL AND git_commit_hash IS NOT NULL",
			  err) < 0 ||
	    store_prepare(st, &w->rc_checkout,
			  "SELECT git_commit_hash, COALESCE(patchset_hash, '') FROM checkouts "
			  "WHERE id = ? AND git_commit_hash IS NOT NULL",
			  err) < 0 ||
	    store_prepare(st, &w->rc_build,
			  "SELECT c.git_commit_hash, COALESCE(c.patchset_hash, '') FROM builds b "
			  "JOIN checkouts c ON c.id = b.checkout_id WHERE b.id = ? AND "
			  "c.git_commit_hash IS NOT NULL",
			  err) < 0 ||
	    store_prepare(st, &w->rc_prune, "DELETE FROM revision_changes WHERE seq < ?", err) <
		    0 ||
	    store_prepare(st, &w->rc_horizon,
			  "UPDATE revision_changes_horizon SET pruned_below = ? WHERE id = 1 AND "
			  "pruned_below < ?",
			  err) < 0)
		goto fail;
	w->f_co_patchset = (size_t)(kcidb_field_find(KCIDB_CHECKOUT, "patchset_hash") -
				    kcidb_types[KCIDB_CHECKOUT].fields);
	w->f_build_checkout = (size_t)(kcidb_field_find(KCIDB_BUILD, "checkout_id") -
				       kcidb_types[KCIDB_BUILD].fields);
	w->f_test_build =
		(size_t)(kcidb_field_find(KCIDB_TEST, "build_id") - kcidb_types[KCIDB_TEST].fields);
	buf_free(&sql);
	*out = w;
	return 0;
fail:
	buf_free(&sql);
	results_writer_free(w);
	return -1;
}

void results_writer_free(struct results_writer *w)
{
	if (!w)
		return;
	for (int t = 0; t < KCIDB_NTYPES; t++)
		store_finalize(w->upsert[t]);
	store_finalize(w->sub_insert);
	store_finalize(w->sub_update);
	store_finalize(w->origin_upsert);
	store_finalize(w->rc_insert);
	store_finalize(w->rc_pre);
	store_finalize(w->rc_checkout);
	store_finalize(w->rc_build);
	store_finalize(w->rc_prune);
	store_finalize(w->rc_horizon);
	free(w);
}

static void bind_value(struct store_stmt *s, int idx, const struct results_prepared *p,
		       const struct results_value *v)
{
	switch (v->kind) {
	case RV_TEXT:
		store_bind_text(s, idx, p->text.ptr + v->u.off, (ptrdiff_t)v->len);
		break;
	case RV_INT:
		store_bind_int(s, idx, v->u.i);
		break;
	case RV_REAL:
		store_bind_double(s, idx, v->u.d);
		break;
	default:
		store_bind_null(s, idx);
	}
}

static void put_text(struct results_prepared *p, struct results_value *v, const char *s,
		     size_t len)
{
	v->kind = RV_TEXT;
	v->u.off = p->text.len;
	v->len = len;
	buf_add(&p->text, s, len);
	buf_addch(&p->text, '\0');
}

void results_prepare(json_t *doc, struct results_prepared *p)
{
	memset(p, 0, sizeof(*p));
	size_t total = 0;
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		p->counts[t] = json_array_size(json_object_get(doc, kcidb_types[t].plural));
		total += p->counts[t] * kcidb_types[t].nfields;
	}
	p->vals = xcalloc(total ? total : 1, sizeof(*p->vals));
	p->nvals = total;
	struct results_value *v = p->vals;
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		const struct kcidb_type_info *ti = &kcidb_types[t];
		json_t *arr = json_object_get(doc, ti->plural);
		size_t i;
		json_t *obj;
		json_array_foreach(arr, i, obj)
		{
			for (size_t k = 0; k < ti->nfields; k++, v++) {
				const struct kcidb_field *f = &ti->fields[k];
				json_t *x = json_object_get(obj, f->name);
				if (!x) {
					v->kind = RV_NULL;
				} else if (f->flags & KF_JSON) {
					char *txt = kcidb_json_dump(x);
					put_text(p, v, txt, strlen(txt));
					json_arena_release(txt); /* may live in an arena */
				} else if (f->kind == KK_BOOL) {
					v->kind = RV_INT;
					v->u.i = json_is_true(x);
				} else if (json_is_integer(x)) {
					v->kind = RV_INT;
					v->u.i = json_integer_value(x);
				} else if (json_is_real(x)) {
					v->kind = RV_REAL;
					v->u.d = json_real_value(x);
				} else {
					put_text(p, v, json_string_value(x), json_string_length(x));
				}
			}
		}
	}
}

void results_prepared_free(struct results_prepared *p)
{
	free(p->vals);
	buf_free(&p->text);
	memset(p, 0, sizeof(*p));
}

struct origin_count {
	const char *name;
	int64_t n;
};

static void origin_note(struct origin_count **oc, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*oc)[i].name, name)) {
			(*oc)[i].n++;
			return;
		}
	*oc = xrealloc(*oc, (*n + 1) * sizeof(**oc));
	(*oc)[*n].name = name;
	(*oc)[*n].n = 1;
	(*n)++;
}

int results_submit(struct results_writer *w, json_t *doc, const struct submission_meta *meta,
		   struct results_stats *stats, struct err *err)
{
	struct results_prepared p;
	results_prepare(doc, &p);
	int r = results_submit_prepared(w, &p, meta, stats, err);
	results_prepared_free(&p);
	return r;
}

/*
 * What a submission changed, for the revision change log (0060): ids of
 * changed rows as pointers into the prepared text (stable for the whole
 * submission), resolved to revisions once the rows are written - one
 * lookup per distinct checkout or build, never one per test.
 */
struct strvec {
	const char **v;
	size_t n, cap;
};

static void strvec_push(struct strvec *sv, const char *s)
{
	if (!s) /* required ids: validated documents always have them */
		return;
	/* tests of one build usually arrive together: skip the repeat at once */
	if (sv->n && !strcmp(sv->v[sv->n - 1], s))
		return;
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 16;
		sv->v = xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void strvec_sort_uniq(struct strvec *sv)
{
	if (sv->n < 2)
		return;
	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
	size_t k = 1;
	for (size_t i = 1; i < sv->n; i++)
		if (strcmp(sv->v[i], sv->v[k - 1]))
			sv->v[k++] = sv->v[i];
	sv->n = k;
}

struct revchange {
	struct strvec checkouts;   /* changed checkouts and the checkouts of changed builds */
	struct strvec builds;      /* changed builds */
	struct strvec test_builds; /* builds of changed tests */
	struct buf revs;           /* "commit\0patchset\0" pairs */
	size_t nrevs;
};

static void revchange_free(struct revchange *rc)
{
	free(rc->checkouts.v);
	free(rc->builds.v);
	free(rc->test_builds.v);
	buf_free(&rc->revs);
}

static void rev_add(struct revchange *rc, const char *commit, const char *patchset)
{
	buf_adds(&rc->revs, commit);
	buf_addch(&rc->revs, 0);
	buf_adds(&rc->revs, patchset ? patchset : "");
	buf_addch(&rc->revs, 0);
	rc->nrevs++;
}

static const char *val_text(const struct results_prepared *p, const struct results_value *v)
{
	return v->kind == RV_TEXT ? p->text.ptr + v->u.off : NULL;
}

/* Run a one-id lookup returning (commit, patchset) rows into rc->revs. */
static int rev_lookup(struct store_stmt *s, const char *id, struct revchange *rc,
		      struct err *err)
{
	store_reset(s);
	store_bind_text(s, 1, id, -1);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW)
		rev_add(rc, store_col_text(s, 0, NULL),
			store_col_count(s) > 1 ? store_col_text(s, 1, NULL) : "");
	store_reset(s);
	return r < 0 ? -1 : 0;
}

static int cmp_rev(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = strcmp(x, y);
	return c ? c : strcmp(x + strlen(x) + 1, y + strlen(y) + 1);
}

/* Resolve the changed ids to revisions and log each revision once for `seq`. */
static int revchange_write(struct results_writer *w, struct revchange *rc, int64_t seq,
			   struct err *err)
{
	strvec_sort_uniq(&rc->builds);
	strvec_sort_uniq(&rc->test_builds);
	for (size_t i = 0; i < rc->test_builds.n; i++) {
		const char *b = rc->test_builds.v[i];
		/* a changed build brings its checkout_id along: no lookup needed */
		if (rc->builds.n && bsearch(&b, rc->builds.v, rc->builds.n, sizeof(char *), cmp_str))
			continue;
		if (rev_lookup(w->rc_build, b, rc, err) < 0)
			return -1;
	}
	strvec_sort_uniq(&rc->checkouts);
	for (size_t i = 0; i < rc->checkouts.n; i++)
		if (rev_lookup(w->rc_checkout, rc->checkouts.v[i], rc, err) < 0)
			return -1;
	if (!rc->nrevs)
		return 0;
	const char **revs = xcalloc(rc->nrevs, sizeof(*revs));
	const char *p = rc->revs.ptr;
	for (size_t i = 0; i < rc->nrevs; i++) {
		revs[i] = p;
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	qsort(revs, rc->nrevs, sizeof(*revs), cmp_rev);
	int r = 0;
	for (size_t i = 0; i < rc->nrevs && r == 0; i++) {
		if (i && !cmp_rev(&revs[i], &revs[i - 1]))
			continue;
		store_reset(w->rc_insert);
		store_bind_int(w->rc_insert, 1, seq);
		store_bind_text(w->rc_insert, 2, revs[i], -1);
		store_bind_text(w->rc_insert, 3, revs[i] + strlen(revs[i]) + 1, -1);
		r = store_step(w->rc_insert, err) < 0 ? -1 : 0;
	}
	store_reset(w->rc_insert);
	free(revs);
	if (r < 0)
		return -1;
	/* keep the log short: a reader further behind than this drops its whole cache */
	if (seq % 256 == 0 && seq > RESULTS_REVCHANGE_KEEP) {
		int64_t below = seq - RESULTS_REVCHANGE_KEEP;
		store_reset(w->rc_prune);
		store_bind_int(w->rc_prune, 1, below);
		if (store_step(w->rc_prune, err) < 0)
			return -1;
		store_reset(w->rc_horizon);
		store_bind_int(w->rc_horizon, 1, below);
		store_bind_int(w->rc_horizon, 2, below);
		if (store_step(w->rc_horizon, err) < 0)
			return -1;
	}
	return 0;
}

int results_submit_prepared(struct results_writer *w, const struct results_prepared *prep,
			    const struct submission_meta *meta, struct results_stats *stats,
			    struct err *err)
{
	struct store *st = w->st;
	char now[32];
	int64_t max_rid[KCIDB_NTYPES];
	struct origin_count *oc = NULL;
	size_t noc = 0, changed = 0, total = 0;
	struct buf sql = BUF_INIT;
	struct revchange rc;
	memset(&rc, 0, sizeof(rc));

	memset(stats, 0, sizeof(*stats));
	fmt_now(now);
	if (!store_in_transaction(st))
		return err_set(err, ERR_INTERNAL, "results_submit outside a transaction");

	for (int t = 0; t < KCIDB_NTYPES; t++) {
		buf_reset(&sql);
		buf_addf(&sql, "SELECT COALESCE(MAX(rid), 0) FROM %s", kcidb_types[t].plural);
		if (store_query_int(st, sql.ptr, &max_rid[t], err, 0) < 0)
			goto fail;
	}

	store_reset(w->sub_insert);
	store_bind_text(w->sub_insert, 1, now, -1);
	store_bind_text(w->sub_insert, 2, meta->source, -1);
	store_bind_text(w->sub_insert, 3, meta->sha256, -1);
	store_bind_text(w->sub_insert, 4, meta->version ? meta->version : "5.3", -1);
	if (store_step(w->sub_insert, err) < 0)
		goto fail;
	stats->submission_id = store_last_insert_id(st);

	const struct results_value *v = prep->vals;
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		const struct kcidb_type_info *ti = &kcidb_types[t];
		struct store_stmt *s = w->upsert[t];
		for (size_t i = 0; i < prep->counts[t]; i++, v += ti->nfields) {
			if (t == KCIDB_CHECKOUT && v[w->f_co_patchset].kind != RV_NULL &&
			    rev_lookup(w->rc_pre, val_text(prep, &v[0]), &rc, err) < 0)
				goto fail;
			store_reset(s);
			for (size_t k = 0; k < ti->nfields; k++)
				bind_value(s, (int)k + 1, prep, &v[k]);
			store_bind_int(s, (int)ti->nfields + 1, stats->submission_id);
			store_bind_text(s, (int)ti->nfields + 2, now, -1);
			if (store_step(s, err) < 0) {
				/* field 0 is the id of every type */
				err_prefix(err, "%s[%zu] (id %.80s)", ti->plural, i,
					   v[0].kind == RV_TEXT ? prep->text.ptr + v[0].u.off : "?");
				goto fail;
			}
			if (store_changes(st) > 0) {
				changed++;
				if (t == KCIDB_CHECKOUT)
					strvec_push(&rc.checkouts, val_text(prep, &v[0]));
				else if (t == KCIDB_BUILD) {
					strvec_push(&rc.builds, val_text(prep, &v[0]));
					strvec_push(&rc.checkouts,
						    val_text(prep, &v[w->f_build_checkout]));
				} else if (t == KCIDB_TEST)
					strvec_push(&rc.test_builds,
						    val_text(prep, &v[w->f_test_build]));
			}
			total++;
			/* origin is a required text field of every type */
			const struct kcidb_field *of = kcidb_field_find((enum kcidb_type)t, "origin");
			const struct results_value *ov = &v[of - ti->fields];
			if (ov->kind == RV_TEXT)
				origin_note(&oc, &noc, prep->text.ptr + ov->u.off);
		}
		stats->counts[t] = prep->counts[t];
	}

	for (int t = 0; t < KCIDB_NTYPES; t++) {
		int64_t created;
		char rid[32];
		snprintf(rid, sizeof(rid), "%lld", (long long)max_rid[t]);
		buf_reset(&sql);
		buf_addf(&sql, "SELECT COUNT(*) FROM %s WHERE rid > CAST(? AS INTEGER)",
			 kcidb_types[t].plural);
		if (store_query_int(st, sql.ptr, &created, err, 1, rid) < 0)
			goto fail;
		stats->created += (size_t)created;
	}
	stats->updated = changed - stats->created;
	stats->unchanged = total - changed;

	for (size_t i = 0; i < noc; i++) {
		store_reset(w->origin_upsert);
		store_bind_text(w->origin_upsert, 1, oc[i].name, -1);
		store_bind_text(w->origin_upsert, 2, now, -1);
		store_bind_text(w->origin_upsert, 3, now, -1);
		store_bind_int(w->origin_upsert, 4, oc[i].n);
		if (store_step(w->origin_upsert, err) < 0)
			goto fail;
	}

	store_reset(w->sub_update);
	for (int t = 0; t < KCIDB_NTYPES; t++)
		store_bind_int(w->sub_update, t + 1, (int64_t)stats->counts[t]);
	store_bind_int(w->sub_update, 6, (int64_t)stats->created);
	store_bind_int(w->sub_update, 7, (int64_t)stats->updated);
	store_bind_int(w->sub_update, 8, (int64_t)stats->unchanged);
	store_bind_int(w->sub_update, 9, stats->submission_id);
	if (store_step(w->sub_update, err) < 0)
		goto fail;
	/* results arriving after their patches: link the checkouts just stored */
	if (prep->counts[KCIDB_CHECKOUT] &&
	    patchlink_submission(st, stats->submission_id, err) < 0)
		goto fail;
	if (revchange_write(w, &rc, stats->submission_id, err) < 0)
		goto fail;
	revchange_free(&rc);
	free(oc);
	buf_free(&sql);
	return 0;
fail:
	revchange_free(&rc);
	free(oc);
	buf_free(&sql);
	return -1;
}

int results_find_submission(struct store *st, const char *sha256, int64_t *id, char **when,
			    struct err *err)
{
	struct store_stmt *s;
	if (store_prepare(st, &s,
			  "SELECT id, received_at FROM submissions WHERE sha256 = ? ORDER BY id LIMIT 1",
			  err) < 0)
		return -1;
	store_bind_text(s, 1, sha256, -1);
	int r = store_step(s, err);
	if (r == STORE_ROW) {
		if (id)
			*id = store_col_int(s, 0);
		if (when)
			*when = xstrdup(store_col_text(s, 1, NULL));
	}
	store_finalize(s);
	return r;
}

/* ------------------------------------------------------------- export */

json_t *results_row_to_json(enum kcidb_type t, struct store_stmt *s, int first_col)
{
	const struct kcidb_type_info *ti = &kcidb_types[t];
	json_t *obj = json_object();
	for (size_t i = 0; i < ti->nfields; i++) {
		const struct kcidb_field *f = &ti->fields[i];
		int col = first_col + (int)i;
		enum store_type ty = store_col_type(s, col);
		if (ty == STORE_NULL)
			continue;
		json_t *v = NULL;
		if (f->flags & KF_JSON) {
			size_t len;
			const char *txt = store_col_text(s, col, &len);
			v = json_loadb(txt, len, JSON_DECODE_ANY, NULL);
		} else if (f->kind == KK_BOOL) {
			v = json_boolean(store_col_int(s, col));
		} else if (ty == STORE_INT && !is_text_kind(f->kind)) {
			v = json_integer(store_col_int(s, col));
		} else if (ty == STORE_REAL) {
			v = json_real(store_col_double(s, col));
		} else {
			size_t len;
			const char *txt = store_col_text(s, col, &len);
			v = json_stringn_nocheck(txt, len);
		}
		if (v)
			json_object_set_new_nocheck(obj, f->name, v);
	}
	return obj;
}

void results_json_string(const char *s, size_t len, struct buf *out)
{
	buf_grow(out, len + 2);
	buf_addch(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		buf_add(out, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': buf_adds(out, "\\\""); break;
		case '\\': buf_adds(out, "\\\\"); break;
		case '\b': buf_adds(out, "\\b"); break;
		case '\f': buf_adds(out, "\\f"); break;
		case '\n': buf_adds(out, "\\n"); break;
		case '\r': buf_adds(out, "\\r"); break;
		case '\t': buf_adds(out, "\\t"); break;
		default: buf_addf(out, "\\u%04X", ch); break;
		}
	}
	buf_add(out, s + run, len - run);
	buf_addch(out, '"');
}

/* A value through jansson itself, at the object's real precision (0: jansson's default). */
static void text_dump(const json_t *v, int precision, struct buf *out)
{
	size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
	if (precision)
		flags |= JSON_REAL_PRECISION(precision);
	char *txt = json_dumps(v, flags);
	if (txt)
		buf_adds(out, txt);
	free(txt);
}

void results_row_text(enum kcidb_type t, struct store_stmt *s, int first_col, json_t *obj,
		      struct buf *out)
{
	const struct kcidb_type_info *ti = &kcidb_types[t];
	enum { MAXF = 64 };
	if (ti->nfields > MAXF) {
		/* no KCIDB type is that wide; should one become so, the generic way */
		json_t *o = obj ? json_incref(obj) : results_row_to_json(t, s, first_col);
		char *txt = kcidb_json_dump(o);
		buf_adds(out, txt ? txt : "{}");
		free(txt);
		json_decref(o);
		return;
	}
	json_t *parsed[MAXF] = { 0 }; /* JSON columns parsed here (obj == NULL) */
	json_t *val[MAXF] = { 0 };
	int prec[MAXF] = { 0 };
	size_t nf = ti->nfields;

	/* pass 1: the precision kcidb_json_dump would choose for the whole object */
	int p = 0;
	for (size_t i = 0; i < nf; i++) {
		const struct kcidb_field *f = &ti->fields[i];
		int col = first_col + (int)i;
		enum store_type ty = store_col_type(s, col);
		if (ty == STORE_NULL)
			continue;
		if (f->flags & KF_JSON) {
			if (obj) {
				val[i] = json_object_get(obj, f->name);
			} else {
				size_t len;
				const char *txt = store_col_text(s, col, &len);
				val[i] = parsed[i] = json_loadb(txt, len, JSON_DECODE_ANY, NULL);
			}
			prec[i] = val[i] ? kcidb_json_precision(val[i]) : 0;
		} else if (f->kind != KK_BOOL && ty == STORE_REAL) {
			double d = store_col_double(s, col);
			prec[i] = isfinite(d) ? kcidb_real_precision(d) : -1; /* -1: dropped */
		}
		if (prec[i] > p)
			p = prec[i];
	}

	/* pass 2: the fields in order, as results_row_to_json sets them */
	buf_addch(out, '{');
	int first = 1;
	for (size_t i = 0; i < nf; i++) {
		const struct kcidb_field *f = &ti->fields[i];
		int col = first_col + (int)i;
		enum store_type ty = store_col_type(s, col);
		if (ty == STORE_NULL || ((f->flags & KF_JSON) && !val[i]) || prec[i] < 0)
			continue;
		if (!first)
			buf_addch(out, ',');
		first = 0;
		results_json_string(f->name, strlen(f->name), out);
		buf_addch(out, ':');
		if (f->flags & KF_JSON) {
			if (prec[i] == 0 || prec[i] == p) {
				/* as stored: kcidb_json_dump of this very value at this precision */
				size_t len;
				const char *txt = store_col_text(s, col, &len);
				buf_add(out, txt, len);
			} else {
				text_dump(val[i], p, out);
			}
		} else if (f->kind == KK_BOOL) {
			buf_adds(out, store_col_int(s, col) ? "true" : "false");
		} else if (ty == STORE_INT && !is_text_kind(f->kind)) {
			buf_addf(out, "%lld", (long long)store_col_int(s, col));
		} else if (ty == STORE_REAL) {
			json_t *r = json_real(store_col_double(s, col));
			text_dump(r, p, out);
			json_decref(r);
		} else {
			size_t len;
			const char *txt = store_col_text(s, col, &len);
			results_json_string(txt, len, out);
		}
	}
	buf_addch(out, '}');
	for (size_t i = 0; i < nf; i++)
		json_decref(parsed[i]);
}

/* Filter SQL for the selected set of each type, as "WHERE ..." bodies. */
struct export_sel {
	struct buf tests, builds, checkouts;
	struct filter_params params_t, params_b, params_c;
};

static void bind_params(struct store_stmt *s, int *idx, const struct filter_params *p, int times)
{
	for (int k = 0; k < times; k++)
		for (size_t i = 0; i < p->n; i++)
			store_bind_text(s, (*idx)++, p->v[i], -1);
}

static int write_array(struct store *st, FILE *out, enum kcidb_type t, const char *sql,
		       const struct filter *f, const struct filter_params pt[3], const int reps[3],
		       int *first_array, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	int idx = 1;
	if (f) {
		/* parameter order: checkout-level, build-level, test-level groups as repeated */
		for (int k = 0; k < 3; k++)
			bind_params(s, &idx, &pt[k], reps[k]);
	}
	fprintf(out, "%s\n\"%s\":[", *first_array ? "" : ",", kcidb_types[t].plural);
	*first_array = 0;
	int r, n = 0;
	while ((r = store_step(s, err)) == STORE_ROW) {
		json_t *obj = results_row_to_json(t, s, 0);
		char *txt = kcidb_json_dump(obj);
		fprintf(out, "%s\n%s", n ? "," : "", txt);
		free(txt);
		json_decref(obj);
		n++;
	}
	store_finalize(s);
	if (r < 0)
		return -1;
	fputs(n ? "\n]" : "]", out);
	return 0;
}

int results_export(struct store *st, const struct filter *filter, FILE *out, struct err *err)
{
	const struct filter *f = filter_is_empty(filter) ? NULL : filter;
	struct buf ft = BUF_INIT, fb = BUF_INIT, fc = BUF_INIT, sql = BUF_INIT, cols = BUF_INIT;
	struct filter_params p[3] = { { 0 }, { 0 }, { 0 } }; /* checkout, build, test level */
	int first_array = 1, rc = -1;

	if (f) {
		filter_to_sql(f, FL_CHECKOUT, &fc, &p[0]);
		filter_to_sql(f, FL_BUILD, &fb, &p[1]);
		filter_to_sql(f, FL_TEST, &ft, &p[2]);
	}

	/* Selected tests T, builds B (direct or parent of T), checkouts C (direct or parent of B). */
	const char *TJOIN = " FROM tests t LEFT JOIN builds b ON b.id = t.build_id "
			    "LEFT JOIN checkouts c ON c.id = b.checkout_id";
	const char *BJOIN = " FROM builds b LEFT JOIN checkouts c ON c.id = b.checkout_id";
	struct buf selT = BUF_INIT, selB = BUF_INIT, selC = BUF_INIT;
	if (f) {
		buf_addf(&selT, "SELECT t.id%s WHERE %s", TJOIN, ft.ptr);
		buf_addf(&selB, "SELECT b.id%s WHERE %s OR b.id IN (SELECT t.build_id%s WHERE %s)",
			 BJOIN, fb.ptr, TJOIN, ft.ptr);
		buf_addf(&selC,
			 "SELECT c.id FROM checkouts c WHERE %s OR c.id IN (SELECT b.checkout_id FROM "
			 "builds b WHERE b.id IN (%s))",
			 fc.ptr, selB.ptr);
	}

	fputs("{\"version\":{\"major\":5,\"minor\":3},", out);

	/* checkouts: params = C + (B + T) */
	buf_reset(&cols);
	results_columns(KCIDB_CHECKOUT, NULL, &cols);
	buf_reset(&sql);
	buf_addf(&sql, "SELECT %s FROM checkouts", cols.ptr);
	if (f)
		buf_addf(&sql, " WHERE id IN (%s)", selC.ptr);
	buf_adds(&sql, " ORDER BY id");
	{
		int reps[3] = { 1, 1, 1 };
		if (write_array(st, out, KCIDB_CHECKOUT, sql.ptr, f, p, reps, &first_array, err) < 0)
			goto done;
	}

	/* builds: params = B + T */
	buf_reset(&cols);
	results_columns(KCIDB_BUILD, NULL, &cols);
	buf_reset(&sql);
	buf_addf(&sql, "SELECT %s FROM builds", cols.ptr);
	if (f)
		buf_addf(&sql, " WHERE id IN (%s)", selB.ptr);
	buf_adds(&sql, " ORDER BY id");
	{
		int reps[3] = { 0, 1, 1 };
		if (write_array(st, out, KCIDB_BUILD, sql.ptr, f, p, reps, &first_array, err) < 0)
			goto done;
	}

	/* tests: params = T */
	buf_reset(&cols);
	results_columns(KCIDB_TEST, NULL, &cols);
	buf_reset(&sql);
	buf_addf(&sql, "SELECT %s FROM tests", cols.ptr);
	if (f)
		buf_addf(&sql, " WHERE id IN (%s)", selT.ptr);
	buf_adds(&sql, " ORDER BY id");
	{
		int reps[3] = { 0, 0, 1 };
		if (write_array(st, out, KCIDB_TEST, sql.ptr, f, p, reps, &first_array, err) < 0)
			goto done;
	}

	/* issues referenced by selected incidents; incidents of selected builds/tests */
	struct buf selI = BUF_INIT;
	if (f)
		buf_addf(&selI,
			 "SELECT i.id FROM incidents i WHERE i.build_id IN (%s) OR i.test_id IN (%s)",
			 selB.ptr, selT.ptr);
	buf_reset(&cols);
	results_columns(KCIDB_ISSUE, NULL, &cols);
	buf_reset(&sql);
	buf_addf(&sql, "SELECT %s FROM issues", cols.ptr);
	if (f)
		buf_addf(&sql,
			 " WHERE EXISTS (SELECT 1 FROM incidents x WHERE x.issue_id = issues.id AND "
			 "x.issue_version = issues.version AND x.id IN (%s))",
			 selI.ptr);
	buf_adds(&sql, " ORDER BY id, version");
	{
		int reps[3] = { 0, 1, 2 }; /* selB (B+T) then selT (T) */
		if (write_array(st, out, KCIDB_ISSUE, sql.ptr, f, p, reps, &first_array, err) < 0) {
			buf_free(&selI);
			goto done;
		}
	}
	buf_reset(&cols);
	results_columns(KCIDB_INCIDENT, NULL, &cols);
	buf_reset(&sql);
	buf_addf(&sql, "SELECT %s FROM incidents", cols.ptr);
	if (f)
		buf_addf(&sql, " WHERE id IN (%s)", selI.ptr);
	buf_adds(&sql, " ORDER BY id");
	{
		int reps[3] = { 0, 1, 2 };
		if (write_array(st, out, KCIDB_INCIDENT, sql.ptr, f, p, reps, &first_array, err) <
		    0) {
			buf_free(&selI);
			goto done;
		}
	}
	buf_free(&selI);
	fputs("\n}\n", out);
	if (fflush(out) != 0 || ferror(out)) {
		err_errno(err, ERR_IO, "writing the export");
		goto done;
	}
	rc = 0;
done:
	buf_free(&ft);
	buf_free(&fb);
	buf_free(&fc);
	buf_free(&sql);
	buf_free(&cols);
	buf_free(&selT);
	buf_free(&selB);
	buf_free(&selC);
	for (int k = 0; k < 3; k++)
		filter_params_free(&p[k]);
	return rc;
}

/* ---------------------------------------------------------------- ran */

void results_ran_free(struct ran_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ran_row *r = &rows[i];
		free(r->origin);
		free(r->path);
		free(r->status);
		free(r->arch);
		free(r->config);
		free(r->compiler);
		free(r->start_time);
		free(r->log_url);
		free(r->test_id);
		free(r->build_id);
		free(r->checkout_id);
	}
	free(rows);
}

int results_ran_each(struct store *st, const struct ran_query *q, results_ran_fn fn, void *arg,
		     struct err *err)
{
	struct buf sql = BUF_INIT;
	const char *params[40];
	int np = 0;
	char *glob = NULL;

	if (!q->commit && !q->msgid && !q->patch_id)
		return err_set(err, ERR_USAGE, "a commit, a Message-ID or a patch-id is required");
	buf_adds(&sql, "SELECT t.origin, t.path, t.status, b.architecture, b.config_name, "
		       "b.compiler, t.start_time, t.log_url, t.id, b.id, c.id "
		       "FROM checkouts c JOIN builds b ON b.checkout_id = c.id "
		       "JOIN tests t ON t.build_id = b.id WHERE t.status IS NOT NULL");
	if (q->commit) {
		buf_adds(&sql, " AND c.git_commit_hash = ? AND COALESCE(c.patchset_hash, '') = ?");
		params[np++] = q->commit;
		params[np++] = q->patchset ? q->patchset : "";
	}
	if (q->msgid) {
		/* a patch, or a series named by its root (cover letter or patch 1) */
		buf_adds(&sql, " AND (c.message_id = ? OR c.id IN (SELECT cp.checkout_id FROM "
			       "checkout_patches cp JOIN patches pa ON pa.rid = cp.patch_rid "
			       "WHERE pa.msgid = ?) OR c.id IN (SELECT cp.checkout_id FROM "
			       "checkout_patches cp JOIN patches pa ON pa.rid = cp.patch_rid "
			       "JOIN series se ON se.rid = pa.series_rid WHERE se.root_msgid = ?))");
		params[np++] = q->msgid;
		params[np++] = q->msgid;
		params[np++] = q->msgid;
	}
	if (q->patch_id) {
		buf_adds(&sql, " AND c.id IN (SELECT cp.checkout_id FROM checkout_patches cp JOIN "
			       "patches pa ON pa.rid = cp.patch_rid WHERE pa.patch_id = ?)");
		params[np++] = q->patch_id;
	}
	if (q->test && *q->test) {
		glob = filter_like_pattern(q->test, ".*");
		buf_adds(&sql, " AND (t.path = ? OR t.path LIKE ? ESCAPE '\\')");
		params[np++] = q->test;
		params[np++] = glob;
	}
	if (q->origin) {
		buf_adds(&sql, " AND t.origin = ?");
		params[np++] = q->origin;
	}
	if (q->arch) {
		buf_adds(&sql, " AND b.architecture = ?");
		params[np++] = q->arch;
	}
	if (q->config) {
		buf_adds(&sql, " AND b.config_name = ?");
		params[np++] = q->config;
	}
	if (q->compiler) {
		buf_adds(&sql, " AND b.compiler = ?");
		params[np++] = q->compiler;
	}
	if (q->statuses) {
		buf_adds(&sql, " AND t.status IN (");
		int k = 0;
		for (; q->statuses[k] && k < 16; k++) {
			buf_adds(&sql, k ? ", ?" : "?");
			params[np++] = q->statuses[k];
		}
		if (!k)
			buf_adds(&sql, "NULL");
		buf_addch(&sql, ')');
	}
	if (!q->unordered)
		buf_adds(&sql, " ORDER BY t.path, t.origin, t.id");
	if (q->limit)
		buf_adds(&sql, " LIMIT ?"); /* bound: one cached statement for every limit */

	struct store_stmt *s;
	if (store_prepare_cached(st, &s, sql.ptr, err) < 0) {
		buf_free(&sql);
		free(glob);
		return -1;
	}
	for (int i = 0; i < np; i++)
		store_bind_text(s, i + 1, params[i], -1);
	if (q->limit)
		store_bind_int(s, np + 1, (int64_t)q->limit);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *v[11];
		for (int c = 0; c < 11; c++)
			v[c] = store_col_text(s, c, NULL);
		struct ran_view row = { v[0], v[1], v[2], v[3], v[4],  v[5],
					v[6], v[7], v[8], v[9], v[10] };
		if (fn(&row, arg) < 0) {
			r = err_set(err, ERR_INTERNAL, "results_ran: the row callback failed");
			break;
		}
	}
	store_reset(s); /* cached: release the read snapshot, keep the statement */
	buf_free(&sql);
	free(glob);
	return r < 0 ? -1 : 0;
}

struct ran_collect {
	struct ran_row *rows;
	size_t n, cap;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int collect_row(const struct ran_view *v, void *arg)
{
	struct ran_collect *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->rows = xrealloc(c->rows, c->cap * sizeof(*c->rows));
	}
	struct ran_row *row = &c->rows[c->n++];
	row->origin = dup_or_null(v->origin);
	row->path = dup_or_null(v->path);
	row->status = dup_or_null(v->status);
	row->arch = dup_or_null(v->arch);
	row->config = dup_or_null(v->config);
	row->compiler = dup_or_null(v->compiler);
	row->start_time = dup_or_null(v->start_time);
	row->log_url = dup_or_null(v->log_url);
	row->test_id = dup_or_null(v->test_id);
	row->build_id = dup_or_null(v->build_id);
	row->checkout_id = dup_or_null(v->checkout_id);
	return 0;
}

int results_ran(struct store *st, const struct ran_query *q, struct ran_row **rows, size_t *n,
		struct err *err)
{
	struct ran_collect c = { 0 };
	int r = results_ran_each(st, q, collect_row, &c, err);
	if (r < 0) {
		results_ran_free(c.rows, c.n);
		c.rows = NULL;
		c.n = 0;
	}
	*rows = c.rows;
	*n = c.n;
	return r;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

json_t *results_ran_row_json(const struct ran_row *r)
{
	json_t *o = json_object();
	set_str(o, "origin", r->origin);
	set_str(o, "path", r->path);
	set_str(o, "status", r->status);
	set_str(o, "arch", r->arch);
	set_str(o, "config", r->config);
	set_str(o, "compiler", r->compiler);
	set_str(o, "start_time", r->start_time);
	set_str(o, "log_url", r->log_url);
	set_str(o, "test_id", r->test_id);
	set_str(o, "build_id", r->build_id);
	set_str(o, "checkout_id", r->checkout_id);
	return o;
}

/* ------------------------------------------------------ revision log */

int results_revchange_last(struct store *st, int64_t *seq, struct err *err)
{
	return store_query_int(st, "SELECT COALESCE(MAX(seq), 0) FROM revision_changes", seq, err,
			       0) < 0
		       ? -1
		       : 0;
}

int results_revchanges_since(struct store *st, int64_t after, results_revchange_fn fn, void *arg,
			     int64_t *last, struct err *err)
{
	struct store_stmt *h, *s;
	int64_t horizon = 0;
	int r, complete;

	*last = after;
	if (store_prepare_cached(st, &h,
				 "SELECT pruned_below FROM revision_changes_horizon WHERE id = 1",
				 err) < 0 ||
	    store_prepare_cached(st, &s,
				 "SELECT seq, git_commit_hash, patchset_hash FROM revision_changes "
				 "WHERE seq > ? ORDER BY seq",
				 err) < 0)
		return -1;
	/* one snapshot: the horizon read must cover any pruning the scan saw */
	if (store_begin_read(st, err) < 0)
		return -1;
	r = store_step(h, err);
	if (r == STORE_ROW)
		horizon = store_col_int(h, 0);
	store_reset(h);
	if (r < 0)
		goto fail;
	store_bind_int(s, 1, after);
	while ((r = store_step(s, err)) == STORE_ROW) {
		fn(store_col_text(s, 1, NULL), store_col_text(s, 2, NULL), arg);
		*last = store_col_int(s, 0); /* ORDER BY seq: the last row is the newest */
	}
	store_reset(s);
	if (r < 0)
		goto fail;
	if (store_commit(st, err) < 0)
		return -1;
	/* rows in (after, horizon) may be gone: the log cannot vouch for them */
	complete = horizon <= after + 1;
	if (!complete && horizon - 1 > *last)
		*last = horizon - 1;
	return complete;
fail:
	store_rollback(st);
	return -1;
}
