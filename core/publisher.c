/*
 * publisher.c - results to topic feeds: plan, render, write, commit (see publisher.h).
 *
 * The order of the three steps is what makes publishing exactly-once:
 * planned rows (and the next position) are committed before any branch of
 * the feed moves (the feeder may write packs earlier, while rendering, but
 * holds the branches), the feed's branch moves, and only then the rows
 * become 'published' and the position moves.  Rendering reads the store inside the planning
 * transaction so a message and its recorded high-water mark agree.
 */
#include "publisher.h"
#include "series.h"
#include "feed_reader.h"
#include "feed_writer.h"
#include "formats.h"
#include "kcidb.h"
#include "log.h"
#include "mime.h"
#include "results.h"

#include <jansson.h>
#include <pthread.h>
#include <nettle/sha2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ------------------------------------------------------------ topics */

void publisher_topics_free(struct topic *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		filter_free(t[i].filter);
		free(t[i].description);
		free(t[i].address);
	}
	free(t);
}

static char *topic_address(const struct config *cfg, const char *name)
{
	const char *a = config_get(cfg, "topic", name, "address");
	if (a && fmt_is_email(a))
		return xstrdup(a);
	const char *feed = config_get_str(cfg, "feed", NULL, "address", "cifeed@localhost");
	const char *at = strchr(feed, '@');
	struct buf b = BUF_INIT;
	/* NAME+topic-less default: the feed address with the topic as a sub-address */
	if (at && fmt_is_email(feed))
		buf_addf(&b, "%.*s+%s%s", (int)(at - feed), feed, name, at);
	if (!b.len || !fmt_is_email(b.ptr)) {
		buf_reset(&b);
		buf_adds(&b, fmt_is_email(feed) ? feed : "cifeed@localhost");
	}
	return buf_detach(&b);
}

int publisher_topics(const struct config *cfg, struct topic **out, size_t *n, struct err *err)
{
	const char **names;
	size_t nn = config_subsections(cfg, "topic", &names);
	struct topic *t = xcalloc(nn + 1, sizeof(*t));
	size_t k = 0;
	t[k].name = xstrdup("all");
	t[k].description = xstrdup(
	    config_get_str(cfg, "topic", "all", "description", "every CI result cifeed has"));
	t[k].address = topic_address(cfg, "all");
	k++;
	for (size_t i = 0; i < nn; i++) {
		if (!strcmp(names[i], "all")) {
			if (config_get(cfg, "topic", "all", "filter")) {
				free(names);
				publisher_topics_free(t, k);
				return err_set(
				    err, ERR_CONFIG,
				    "[topic \"all\"]: the implicit topic 'all' takes no filter");
			}
			continue;
		}
		t[k].name = xstrdup(names[i]);
		const char *f = config_get(cfg, "topic", names[i], "filter");
		if (!f) {
			free(names);
			err_set(err, ERR_CONFIG,
			        "[topic \"%s\"]: no filter (every topic needs one; "
			        "'all' is implicit)",
			        names[i]);
			publisher_topics_free(t, k + 1);
			return -1;
		}
		if (filter_parse(f, &t[k].filter, err) < 0) {
			err_prefix(err, "[topic \"%s\"] filter", names[i]);
			err->code = ERR_CONFIG;
			free(names);
			publisher_topics_free(t, k + 1);
			return -1;
		}
		t[k].description =
		    xstrdup(config_get_str(cfg, "topic", names[i], "description", names[i]));
		t[k].address = topic_address(cfg, names[i]);
		k++;
	}
	free(names);
	*out = t;
	*n = k;
	return 0;
}

/* ------------------------------------------------------------ SQL builder */

struct sqlb {
	struct buf sql;
	char **p; /* text parameters in order */
	size_t n;
};

static void sq(struct sqlb *q, const char *s)
{
	buf_adds(&q->sql, s);
}

static void sq_param(struct sqlb *q, const char *v)
{
	q->p = xrealloc(q->p, (q->n + 1) * sizeof(*q->p));
	q->p[q->n++] = v ? xstrdup(v) : NULL;
	buf_adds(&q->sql, "?");
}

static void sq_int(struct sqlb *q, int64_t v)
{
	char s[32];
	snprintf(s, sizeof(s), "%lld", (long long)v);
	buf_adds(&q->sql, "CAST(");
	sq_param(q, s);
	buf_adds(&q->sql, " AS INTEGER)");
}

/* "COL > lo AND COL <= hi": rows whose sequence number lies in (lo, hi]. */
static void sq_seq_range(struct sqlb *q, const char *col, int64_t lo, int64_t hi)
{
	buf_addf(&q->sql, "%s > ", col);
	sq_int(q, lo);
	buf_addf(&q->sql, " AND %s <= ", col);
	sq_int(q, hi);
}

static void sq_filter(struct sqlb *q, const struct filter *f, enum filter_level lv)
{
	struct filter_params fp = {0};
	buf_addch(&q->sql, '(');
	filter_to_sql(f, lv, &q->sql, &fp);
	buf_addch(&q->sql, ')');
	for (size_t i = 0; i < fp.n; i++) {
		q->p = xrealloc(q->p, (q->n + 1) * sizeof(*q->p));
		q->p[q->n++] = fp.v[i];
	}
	free(fp.v);
}

static void sq_free(struct sqlb *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->p[i]);
	free(q->p);
	buf_free(&q->sql);
	memset(q, 0, sizeof(*q));
}

/* "the build b (alias b, checkout alias c) is selected by the topic" */
static void sq_build_selected(struct sqlb *q, const struct filter *f)
{
	if (filter_is_empty(f)) {
		sq(q, "1");
		return;
	}
	sq(q, "(");
	sq_filter(q, f, FL_BUILD);
	sq(q, " OR EXISTS (SELECT 1 FROM tests t WHERE t.build_id = b.id AND ");
	sq_filter(q, f, FL_TEST);
	sq(q, "))");
}

/* ------------------------------------------------------------ units */

struct unit {
	char kind;     /* 'c', 'b', 't', 'i' */
	char *id;      /* checkout / build / build (orphan tests) / issue id */
	char *key;     /* "b:<id>" */
	char hash[25]; /* hex of sha256(topic \0 key), 96 bits */
	int64_t min_seq, max_seq;
	int64_t last_change; /* Unix seconds of the newest change */
	int final;           /* no more results expected */
	char *checkout_id;   /* 'b': the build's checkout, when that checkout is stored */
	int candidate;       /* changed in this pass */
	int root_needed;
	/* planning result */
	int64_t published_seq;
	int64_t revs;
	int plan;
};

struct unitset {
	struct unit **v;
	size_t n, cap; /* hash table of pointers */
	struct unit **list;
	size_t nlist, listcap;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct unit *units_find(struct unitset *u, const char *key)
{
	if (!u->cap)
		return NULL;
	for (size_t i = fnv(key) & (u->cap - 1);; i = (i + 1) & (u->cap - 1)) {
		if (!u->v[i])
			return NULL;
		if (!strcmp(u->v[i]->key, key))
			return u->v[i];
	}
}

static void unit_hash(const char *topic, const char *key, char out[25])
{
	struct sha256_ctx st;
	unsigned char h[SHA256_DIGEST_SIZE];
	sha256_init(&st);
	sha256_update(&st, strlen(topic) + 1, (const uint8_t *)topic);
	sha256_update(&st, strlen(key), (const uint8_t *)key);
	sha256_digest(&st, sizeof(h), h);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 12; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[24] = '\0';
}

static struct unit *units_get(struct unitset *u, const char *topic, char kind, const char *id)
{
	struct buf k = BUF_INIT;
	buf_addch(&k, kind);
	buf_addch(&k, ':');
	buf_adds(&k, id);
	struct unit *x = units_find(u, k.ptr);
	if (x) {
		buf_free(&k);
		return x;
	}
	if ((u->nlist + 1) * 2 > u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		struct unit **v = xcalloc(cap, sizeof(*v));
		for (size_t i = 0; i < u->nlist; i++) {
			size_t j = fnv(u->list[i]->key) & (cap - 1);
			while (v[j])
				j = (j + 1) & (cap - 1);
			v[j] = u->list[i];
		}
		free(u->v);
		u->v = v;
		u->cap = cap;
	}
	x = xcalloc(1, sizeof(*x));
	x->kind = kind;
	x->id = xstrdup(id);
	x->key = buf_detach(&k);
	unit_hash(topic, x->key, x->hash);
	x->min_seq = INT64_MAX;
	size_t j = fnv(x->key) & (u->cap - 1);
	while (u->v[j])
		j = (j + 1) & (u->cap - 1);
	u->v[j] = x;
	if (u->nlist == u->listcap) {
		u->listcap = u->listcap ? 2 * u->listcap : 256;
		u->list = xrealloc(u->list, u->listcap * sizeof(*u->list));
	}
	u->list[u->nlist++] = x;
	return x;
}

static void units_free(struct unitset *u)
{
	for (size_t i = 0; i < u->nlist; i++) {
		free(u->list[i]->id);
		free(u->list[i]->key);
		free(u->list[i]->checkout_id);
		free(u->list[i]);
	}
	free(u->list);
	free(u->v);
}

static int64_t parse_time(const char *s)
{
	int64_t t;
	int tz;
	if (s && fmt_parse_datetime(s, &t, &tz) == 0)
		return t;
	return 0;
}

static void unit_note(struct unit *x, int64_t minseq, int64_t maxseq, const char *updated)
{
	if (minseq < x->min_seq)
		x->min_seq = minseq;
	if (maxseq > x->max_seq)
		x->max_seq = maxseq;
	int64_t t = parse_time(updated);
	if (t > x->last_change)
		x->last_change = t;
}

/* ------------------------------------------------------------ Message-IDs */

/* The patch a checkout tested: KCIDB message_id, else a linked patch (cover letter first). */
struct patch_ref {
	char *msgid, *subject, *list_id;
	struct buf reviews; /* the series' Acked-by/Reviewed-by/Tested-by lines (series.h) */
};

/* An object of the unit being rendered and its kcidb.json text. */
struct obj_text {
	json_t *obj; /* borrowed: alive in the unit's document */
	char *text;
};

struct pctx {
	struct store *st;
	const struct topic *tp;
	const char *domain;
	const char *from_name, *from_addr;
	int64_t now;
	int64_t high; /* submission high-water mark of this pass */
	/* "SELECT <fields>" of each type, without and with a one-letter alias (built once) */
	char *select_sql[KCIDB_NTYPES][2];
	/*
	 * Issue versions read this pass, "version:id" -> object or null (absent):
	 * many incidents name the same few issues, and the pass's transaction
	 * does not change them.
	 */
	json_t *issue_cache;
	/*
	 * The last checkout rendered and the patch it tested: a checkout's
	 * builds are planned together, so most units reuse it (same reasoning).
	 */
	char *co_id;
	char co_root[25]; /* unit_hash of "c:<co_id>": the thread root of its builds */
	json_t *co;
	json_t *co_text; /* its kcidb.json text (a JSON string), once rendered */
	struct patch_ref co_patch;
	/* "version:id" -> the issue's kcidb.json text, as issue_cache */
	json_t *issue_texts;
	/*
	 * The kcidb.json text of each object the unit being rendered fetched,
	 * written from its row (results_row_text) as it was read.
	 */
	struct obj_text *texts;
	size_t ntexts, captexts;
};

/*
 * A pass runs the same few statements per unit: the store's statement cache
 * (store_prepare_cached) keeps them.  Each is run to its end and reset
 * before the next one is asked for, so eviction never hits one in use.
 */

static void checkout_forget(struct pctx *c);

static void texts_forget(struct pctx *c)
{
	for (size_t i = 0; i < c->ntexts; i++)
		free(c->texts[i].text);
	c->ntexts = 0;
}

/* Free what the pass cached (the statements stay in the store's cache). */
static void cache_free(struct pctx *c)
{
	for (int t = 0; t < KCIDB_NTYPES; t++)
		for (int a = 0; a < 2; a++) {
			free(c->select_sql[t][a]);
			c->select_sql[t][a] = NULL;
		}
	json_decref(c->issue_cache);
	c->issue_cache = NULL;
	json_decref(c->issue_texts);
	c->issue_texts = NULL;
	checkout_forget(c);
	texts_forget(c);
	free(c->texts);
	c->texts = NULL;
	c->captexts = 0;
}

static int sq_prepare(struct pctx *c, struct sqlb *q, struct store_stmt **s, struct err *err)
{
	if (store_prepare_cached(c->st, s, q->sql.ptr, err) < 0)
		return -1;
	for (size_t i = 0; i < q->n; i++)
		store_bind_text(*s, (int)i + 1, q->p[i], -1);
	return 0;
}

static void unit_msgid(const struct pctx *c, const char *hash, char kind, int64_t rev,
                       struct buf *out)
{
	buf_addf(out, "cifeed.%c.%s.%lld@%s", kind, hash, (long long)rev, c->domain);
}

/* ------------------------------------------------------------ rendering */

static const char *js(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Rows of type t selected by `q` (its columns must be the type's fields) into arr. */
static int fetch_objects(struct pctx *c, enum kcidb_type t, struct sqlb *q, json_t *arr,
                         struct err *err)
{
	struct store_stmt *s;
	if (sq_prepare(c, q, &s, err) < 0)
		return -1;
	int r;
	struct buf txt = BUF_INIT;
	while ((r = store_step(s, err)) == STORE_ROW) {
		json_t *o = results_row_to_json(t, s, 0);
		/* the report's JSON part, from the row: the generic dump costs far more */
		buf_reset(&txt);
		results_row_text(t, s, 0, o, &txt);
		if (c->ntexts == c->captexts) {
			c->captexts = c->captexts ? 2 * c->captexts : 32;
			c->texts = xrealloc(c->texts, c->captexts * sizeof(*c->texts));
		}
		c->texts[c->ntexts].obj = o;
		c->texts[c->ntexts++].text = buf_detach(&txt);
		json_array_append_new(arr, o);
	}
	buf_free(&txt);
	store_reset(s);
	return r < 0 ? -1 : 0;
}

/* "SELECT <fields of t>" into q; alias is NULL or the same letter for every use of t. */
static void select_cols(struct pctx *c, struct sqlb *q, enum kcidb_type t, const char *alias)
{
	char **sql = &c->select_sql[t][alias != NULL];
	if (!*sql) {
		struct buf cols = BUF_INIT;
		buf_adds(&cols, "SELECT ");
		results_columns(t, alias, &cols);
		*sql = buf_detach(&cols);
	}
	buf_adds(&q->sql, *sql);
}

static int fetch_by_id(struct pctx *c, enum kcidb_type t, const char *id, json_t **out,
                       struct err *err)
{
	struct sqlb q = {0};
	json_t *arr = json_array();
	select_cols(c, &q, t, NULL);
	buf_addf(&q.sql, " FROM %s WHERE id = ", kcidb_types[t].plural);
	sq_param(&q, id);
	int r = fetch_objects(c, t, &q, arr, err);
	sq_free(&q);
	*out = r == 0 && json_array_size(arr) ? json_incref(json_array_get(arr, 0)) : NULL;
	json_decref(arr);
	return r;
}

static int patch_find(struct pctx *c, json_t *checkout, struct patch_ref *p, struct err *err)
{
	memset(p, 0, sizeof(*p));
	if (!checkout)
		return 0;
	const char *mid = js(checkout, "message_id");
	struct store_stmt *s;
	if (mid && mime_id_safe(mid)) {
		p->msgid = xstrdup(mid);
		if (store_prepare_cached(
		        c->st, &s, "SELECT subject, list_id FROM patches WHERE msgid = ?", err) < 0)
			return -1;
		store_bind_text(s, 1, mid, -1);
		if (store_step(s, err) == STORE_ROW) {
			p->subject = store_col_dup(s, 0);
			p->list_id = store_col_dup(s, 1);
		}
		store_reset(s);
		return 0;
	}
	if (store_prepare_cached(
	        c->st, &s,
	        "SELECT pa.msgid, pa.subject, pa.list_id FROM checkout_patches cp JOIN "
	        "patches pa ON pa.rid = cp.patch_rid WHERE cp.checkout_id = ? "
	        "ORDER BY (pa.patch_id IS NULL) DESC, pa.date DESC, pa.rid DESC",
	        err) < 0)
		return -1;
	store_bind_text(s, 1, js(checkout, "id"), -1);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *m = store_col_text(s, 0, NULL);
		if (m && mime_id_safe(m)) {
			p->msgid = xstrdup(m);
			p->subject = store_col_dup(s, 1);
			p->list_id = store_col_dup(s, 2);
			break;
		}
	}
	store_reset(s);
	return r < 0 ? -1 : 0;
}

static int patch_of(struct pctx *c, json_t *checkout, struct patch_ref *p, struct err *err)
{
	if (patch_find(c, checkout, p, err) < 0)
		return -1;
	if (!p->msgid)
		return 0;
	return series_review_summary(c->st, p->msgid, &p->reviews, err) < 0 ? -1 : 0;
}

static void patch_free(struct patch_ref *p)
{
	buf_free(&p->reviews);
	free(p->msgid);
	free(p->subject);
	free(p->list_id);
}

static void checkout_forget(struct pctx *c)
{
	free(c->co_id);
	c->co_id = NULL;
	json_decref(c->co);
	c->co = NULL;
	json_decref(c->co_text);
	c->co_text = NULL;
	patch_free(&c->co_patch);
	memset(&c->co_patch, 0, sizeof(c->co_patch));
}

/*
 * Checkout `id` (a new reference, NULL if unknown) and the patch it tested
 * (borrowed from the pass's one-entry cache, valid until the next call).
 */
static int checkout_get(struct pctx *c, const char *id, json_t **co, const struct patch_ref **pref,
                        struct err *err)
{
	if (!c->co_id || strcmp(c->co_id, id)) {
		checkout_forget(c);
		if (fetch_by_id(c, KCIDB_CHECKOUT, id, &c->co, err) < 0 ||
		    (c->co && patch_of(c, c->co, &c->co_patch, err) < 0)) {
			checkout_forget(c);
			return -1;
		}
		c->co_id = xstrdup(id);
		struct buf k = BUF_INIT;
		buf_adds(&k, "c:");
		buf_adds(&k, id);
		unit_hash(c->tp->name, k.ptr, c->co_root);
		buf_free(&k);
	}
	*co = json_incref(c->co);
	*pref = &c->co_patch;
	return 0;
}

static int status_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int rx = kcidb_status_rank(js(x, "status")), ry = kcidb_status_rank(js(y, "status"));
	if (rx != ry)
		return ry - rx; /* worst first */
	const char *px = js(x, "path") ? js(x, "path") : js(x, "id");
	const char *py = js(y, "path") ? js(y, "path") : js(y, "id");
	int c = strcmp(px ? px : "", py ? py : "");
	return c ? c : strcmp(js(x, "id"), js(y, "id"));
}

/* "  KEY          VALUE\n" ("  %-12s %s\n" without printf: a report has dozens) */
static void line_kv(struct buf *b, const char *k, const char *v)
{
	if (!v || !*v)
		return;
	static const char pad[] = "            ";
	size_t kl = strlen(k);
	buf_add(b, "  ", 2);
	buf_add(b, k, kl);
	buf_add(b, pad, kl < 12 ? 12 - kl : 0);
	buf_addch(b, ' ');
	buf_adds(b, v);
	buf_addch(b, '\n');
}

static void excerpt(struct buf *b, const char *s, const char *indent)
{
	/* the first lines of a log excerpt, indented so it cannot pose as structure */
	int lines = 0;
	while (s && *s && lines < 8) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		buf_addf(b, "%s| %.*s\n", indent, (int)(n > 200 ? 200 : n), s);
		lines++;
		s = nl ? nl + 1 : NULL;
	}
}

static const char *short_commit(const char *c, char out[16])
{
	snprintf(out, 16, "%.12s", c ? c : "");
	return out;
}

/* The human summary and the KCIDB document of one unit message. */
struct rendered {
	char kind;
	char *key;
	char *unit_hash;
	int64_t rev;
	struct buf msgid;
	struct buf bytes;
};

struct counts {
	size_t n[8]; /* by rank + 1 (index 0 = no status) */
	size_t total;
};

static void count_tests(json_t *tests, struct counts *c)
{
	memset(c, 0, sizeof(*c));
	size_t i;
	json_t *t;
	json_array_foreach (tests, i, t) {
		int r = kcidb_status_rank(js(t, "status")); /* 1 (SKIP) .. 6 (FAIL), -1 none */
		c->n[r < 0 ? 0 : r]++;
		c->total++;
	}
}

static const char *const by_rank[] = {"SKIP", "DONE", "PASS", "MISS", "ERROR", "FAIL"};

static void counts_text(const struct counts *c, struct buf *b)
{
	int first = 1;
	for (int r = 6; r >= 1; r--) {
		if (!c->n[r])
			continue;
		buf_addf(b, "%s%zu %s", first ? "" : ", ", c->n[r], by_rank[r - 1]);
		first = 0;
	}
	if (c->n[0])
		buf_addf(b, "%s%zu without status", first ? "" : ", ", c->n[0]);
}

/*
 * Append JSON text as 7-bit ASCII: non-ASCII code points and DEL become \uXXXX
 * escapes (they can only occur inside strings), so the part needs no transfer
 * encoding and no sanitising can alter a value.
 */
static void json_ascii(const char *s, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	while (*u) {
		uint32_t cp;
		size_t n = 1;
		if (*u < 0x7f) {
			/* a run of plain ASCII in one copy */
			const unsigned char *e = u + 1;
			while (*e && *e < 0x7f)
				e++;
			buf_add(out, u, (size_t)(e - u));
			u = e;
			continue;
		}
		if (*u == 0x7f) {
			buf_adds(out, "\\u007f");
			u++;
			continue;
		}
		/* jansson output is valid UTF-8 */
		if (*u >= 0xf0)
			cp = *u & 0x07, n = 4;
		else if (*u >= 0xe0)
			cp = *u & 0x0f, n = 3;
		else
			cp = *u & 0x1f, n = 2;
		for (size_t i = 1; i < n && u[i]; i++)
			cp = (cp << 6) | (u[i] & 0x3f);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			buf_addf(out, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
		} else {
			buf_addf(out, "\\u%04x", cp);
		}
		u += n;
	}
}

/*
 * One object of the JSON part: kcidb_json_dump, non-ASCII escaped (the
 * text written from its row when this unit fetched it).
 */
static void object_text(struct pctx *c, json_t *o, struct buf *out)
{
	for (size_t i = 0; i < c->ntexts; i++)
		if (c->texts[i].obj == o) {
			json_ascii(c->texts[i].text, out);
			return;
		}
	char *txt = kcidb_json_dump(o);
	json_ascii(txt, out);
	free(txt);
}

/*
 * The text of an object the pass caches (the current checkout, an issue):
 * rendered once, then copied into every report that carries it.
 */
static void cached_text(struct pctx *c, json_t *o, json_t **memo, struct buf *out)
{
	json_t *t = *memo;
	if (!t) {
		struct buf b = BUF_INIT;
		object_text(c, o, &b);
		t = *memo = json_stringn_nocheck(b.ptr, b.len);
		buf_free(&b);
	}
	buf_add(out, json_string_value(t), json_string_length(t));
}

/* "version:id": an issue row's key, for the pass's issue caches. */
static void issue_key(struct buf *k, const char *id, json_int_t version)
{
	buf_addf(k, "%lld:%s", (long long)version, id);
}

/* An issue's text, cached per (version, id): the key of an issue row. */
static void issue_text(struct pctx *c, json_t *o, struct buf *out)
{
	const char *id = js(o, "id");
	json_t *v = json_object_get(o, "version");
	if (!id || !json_is_integer(v)) {
		object_text(c, o, out);
		return;
	}
	struct buf key = BUF_INIT;
	issue_key(&key, id, json_integer_value(v));
	if (!c->issue_texts)
		c->issue_texts = json_object();
	json_t *memo = json_object_get(c->issue_texts, key.ptr);
	int fresh = !memo;
	cached_text(c, o, &memo, out);
	if (fresh)
		json_object_set_new(c->issue_texts, key.ptr, memo);
	buf_free(&key);
}

static void kcidb_part(struct pctx *c, json_t *doc, struct buf *out)
{
	/* one object per line, like `cifeed export`, so the part stays readable */
	buf_adds(out, "{\"version\":{\"major\":5,\"minor\":3}");
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		json_t *arr = json_object_get(doc, kcidb_types[t].plural);
		if (!json_array_size(arr))
			continue;
		buf_addch(out, ',');
		buf_addch(out, '\n');
		buf_addch(out, '"');
		buf_adds(out, kcidb_types[t].plural);
		buf_adds(out, "\":[");
		size_t i;
		json_t *o;
		json_array_foreach (arr, i, o) {
			if (i)
				buf_addch(out, ',');
			buf_addch(out, '\n');
			if (o == c->co)
				cached_text(c, o, &c->co_text, out);
			else if (t == KCIDB_ISSUE)
				issue_text(c, o, out);
			else
				object_text(c, o, out);
		}
		buf_adds(out, "\n]");
	}
	buf_adds(out, "\n}\n");
}

static void add_unique(json_t *arr, json_t *obj, const char *k1, const char *k2)
{
	size_t i;
	json_t *o;
	json_array_foreach (arr, i, o) {
		if (!strcmp(js(o, k1), js(obj, k1)) &&
		    (!k2 || json_integer_value(json_object_get(o, k2)) ==
		                json_integer_value(json_object_get(obj, k2))))
			return;
	}
	json_array_append(arr, obj);
}

/* Version `version` of issue `id` (borrowed from the pass's cache), *out NULL if unknown. */
static int issue_get(struct pctx *c, const char *id, json_int_t version, json_t **out,
                     struct err *err)
{
	struct buf key = BUF_INIT;
	issue_key(&key, id, version);
	if (!c->issue_cache)
		c->issue_cache = json_object();
	json_t *is = json_object_get(c->issue_cache, key.ptr);
	if (!is) {
		struct sqlb q = {0};
		json_t *arr = json_array();
		select_cols(c, &q, KCIDB_ISSUE, NULL);
		sq(&q, " FROM issues WHERE id = ");
		sq_param(&q, id);
		sq(&q, " AND version = ");
		sq_int(&q, version);
		int r = fetch_objects(c, KCIDB_ISSUE, &q, arr, err);
		sq_free(&q);
		if (r < 0) {
			json_decref(arr);
			buf_free(&key);
			return -1;
		}
		/* (id, version) is the key: at most one row */
		is = json_array_size(arr) ? json_incref(json_array_get(arr, 0)) : json_null();
		json_decref(arr);
		json_object_set_new(c->issue_cache, key.ptr, is);
	}
	buf_free(&key);
	*out = json_is_null(is) ? NULL : is;
	return 0;
}

/*
 * Incidents (changed since ps, or all when ps < 0) of a build and of its
 * selected tests - also tests reported in an earlier message - plus their issues.
 */
static int fetch_incidents(struct pctx *c, const char *build_id, int build_known, int64_t ps,
                           json_t *incidents, json_t *issues, struct err *err)
{
	struct sqlb q = {0};
	select_cols(c, &q, KCIDB_INCIDENT, "i");
	sq(&q, " FROM incidents i WHERE (");
	if (build_known) {
		sq(&q, "i.build_id = ");
		sq_param(&q, build_id);
		sq(&q, " OR ");
	}
	/* the joins (on unique keys, one row each) only feed the filter */
	sq(&q, c->tp->filter
	           ? "i.test_id IN (SELECT t.id FROM tests t LEFT JOIN builds b ON b.id = "
	             "t.build_id LEFT JOIN checkouts c ON c.id = b.checkout_id WHERE "
	             "t.build_id = "
	           : "i.test_id IN (SELECT t.id FROM tests t WHERE t.build_id = ");
	sq_param(&q, build_id);
	if (c->tp->filter) {
		sq(&q, " AND ");
		sq_filter(&q, c->tp->filter, FL_TEST);
	}
	sq(&q, "))");
	if (ps >= 0) {
		sq(&q, " AND i.seq > ");
		sq_int(&q, ps);
	}
	sq(&q, " ORDER BY i.id");
	size_t k;
	int r = fetch_objects(c, KCIDB_INCIDENT, &q, incidents, err);
	sq_free(&q);
	if (r < 0)
		return -1;
	json_t *inc;
	json_array_foreach (incidents, k, inc) {
		json_t *is;
		if (issue_get(c, js(inc, "issue_id"),
		              json_integer_value(json_object_get(inc, "issue_version")), &is,
		              err) < 0)
			return -1;
		if (is)
			add_unique(issues, is, "id", "version");
	}
	return 0;
}

struct msgparts {
	struct buf subject;
	struct buf text;
	json_t *doc;
	const char *status; /* worst status (static string) or NULL */
	json_t *checkout;   /* borrowed from doc, may be NULL */
	json_t *build;
	const char *checkout_id;
};

static void revision_block(struct buf *b, json_t *co, const struct patch_ref *p)
{
	if (!co)
		return;
	buf_adds(b, "Revision\n");
	line_kv(b, "tree:", js(co, "tree_name"));
	line_kv(b, "repository:", js(co, "git_repository_url"));
	line_kv(b, "branch:", js(co, "git_repository_branch"));
	if (js(co, "git_commit_hash")) {
		struct buf v = BUF_INIT;
		buf_adds(&v, js(co, "git_commit_hash"));
		if (js(co, "git_commit_name"))
			buf_addf(&v, " (%s)", js(co, "git_commit_name"));
		line_kv(b, "commit:", v.ptr);
		buf_free(&v);
	}
	const char *ph = js(co, "patchset_hash");
	if (ph && *ph)
		line_kv(b, "patchset:", ph);
	if (p && p->msgid) {
		struct buf v = BUF_INIT;
		buf_addf(&v, "<%s>", p->msgid);
		if (p->subject)
			buf_addf(&v, " %s", p->subject);
		line_kv(b, "patch:", v.ptr);
		buf_free(&v);
		/* review trailers of the patch's series, one per line under it */
		for (const char *l = buf_cstr(&p->reviews); *l;) {
			const char *nl = strchr(l, '\n');
			size_t n = nl ? (size_t)(nl - l) : strlen(l);
			char *line = xstrndup(l, n);
			line_kv(b, "", line);
			free(line);
			l += n + (nl ? 1 : 0);
		}
	}
	line_kv(b, "origin:", js(co, "origin"));
	line_kv(b, "checkout:", js(co, "id"));
	line_kv(b, "log:", js(co, "log_url"));
	if (js(co, "comment"))
		line_kv(b, "comment:", js(co, "comment"));
	buf_addch(b, '\n');
}

static void tests_block(struct buf *b, json_t *tests)
{
	size_t n = json_array_size(tests);
	if (!n)
		return;
	json_t **v = xmalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(tests, i);
	qsort(v, n, sizeof(*v), status_cmp);
	int in_fail = -1;
	for (size_t i = 0; i < n; i++) {
		const char *st = js(v[i], "status");
		int bad = kcidb_status_rank(st) >= kcidb_status_rank("MISS");
		if (bad != in_fail) {
			buf_adds(b, bad ? "Failures\n" : "Other results\n");
			in_fail = bad;
		}
		const char *path = js(v[i], "path");
		buf_addf(b, "  %-6s %s\n", st ? st : "-", path && *path ? path : js(v[i], "id"));
		if (bad) {
			if (js(v[i], "log_url"))
				buf_addf(b, "         log: %s\n", js(v[i], "log_url"));
			if (js(v[i], "log_excerpt"))
				excerpt(b, js(v[i], "log_excerpt"), "         ");
		}
		if (i + 1 < n && bad &&
		    kcidb_status_rank(js(v[i + 1], "status")) < kcidb_status_rank("MISS"))
			buf_addch(b, '\n');
	}
	buf_addch(b, '\n');
	free(v);
}

/*
 * A build unit (or the tests of an unknown build): `build` and its checkout
 * `co` as render_unit read them (new references, taken over; NULL if unknown).
 */
static int render_build(struct pctx *c, struct unit *u, int64_t rev, int64_t ps,
                        struct msgparts *mp, const struct patch_ref *pref, json_t *build,
                        json_t *co, struct err *err)
{
	json_t *doc = mp->doc;
	const char *bid = u->id;
	json_t *tests = json_array(), *incidents = json_array(), *issues = json_array();
	struct sqlb q = {0};
	select_cols(c, &q, KCIDB_TEST, "t");
	/* the joins (on unique keys, one row each) only feed the filter */
	sq(&q, c->tp->filter ? " FROM tests t LEFT JOIN builds b ON b.id = t.build_id LEFT JOIN "
	                       "checkouts c ON c.id = b.checkout_id WHERE t.build_id = "
	                     : " FROM tests t WHERE t.build_id = ");
	sq_param(&q, bid);
	if (c->tp->filter) {
		sq(&q, " AND ");
		sq_filter(&q, c->tp->filter, FL_TEST);
	}
	if (ps >= 0) {
		sq(&q, " AND t.seq > ");
		sq_int(&q, ps);
	}
	sq(&q, " ORDER BY t.id");
	int r = fetch_objects(c, KCIDB_TEST, &q, tests, err);
	sq_free(&q);
	if (r == 0)
		r = fetch_incidents(c, bid, u->kind == 'b', ps, incidents, issues, err);
	if (r < 0) {
		json_decref(build);
		json_decref(co);
		json_decref(tests);
		json_decref(incidents);
		json_decref(issues);
		return -1;
	}
	if (co)
		json_array_append(json_object_get(doc, "checkouts"), co);
	if (build)
		json_array_append(json_object_get(doc, "builds"), build);
	json_object_set(doc, "tests", tests);
	json_object_set(doc, "issues", issues);
	json_object_set(doc, "incidents", incidents);
	mp->checkout = co;
	mp->build = build;
	mp->checkout_id = build ? js(build, "checkout_id") : NULL;

	struct counts cnt;
	count_tests(tests, &cnt);
	const char *worst = build ? js(build, "status") : NULL;
	size_t i;
	json_t *t;
	json_array_foreach (tests, i, t)
		worst = kcidb_status_worst(worst, js(t, "status"));
	mp->status = kcidb_status_rank(worst) > 0 ? by_rank[kcidb_status_rank(worst) - 1] : NULL;

	char sc[16];
	struct buf *s = &mp->subject;
	buf_addf(s, "[CI %s] ", mp->status ? mp->status : "RESULT");
	if (co) {
		if (js(co, "tree_name"))
			buf_addf(s, "%s ", js(co, "tree_name"));
		if (js(co, "git_repository_branch"))
			buf_addf(s, "%s ", js(co, "git_repository_branch"));
		if (js(co, "git_commit_hash"))
			buf_addf(s, "%s ", short_commit(js(co, "git_commit_hash"), sc));
	}
	if (build) {
		buf_addf(s, "%s/%s", js(build, "architecture") ? js(build, "architecture") : "-",
		         js(build, "config_name") ? js(build, "config_name") : "-");
		buf_addf(s, " (%s)", js(build, "origin"));
	} else {
		buf_addf(s, "tests of build %s", bid);
	}
	buf_adds(s, ": ");
	if (cnt.total) {
		buf_addf(s, "%zu test%s: ", cnt.total, cnt.total == 1 ? "" : "s");
		counts_text(&cnt, s);
	} else if (build) {
		buf_addf(s, "build %s", js(build, "status") ? js(build, "status") : "reported");
	}
	if (rev > 0)
		buf_addf(s, " (update %lld)", (long long)rev);

	struct buf *b = &mp->text;
	if (rev > 0)
		buf_addf(b, "Update %lld: results that arrived after the first report.\n\n",
		         (long long)rev);
	revision_block(b, co, pref);
	if (build) {
		buf_addf(b, "Build\n");
		line_kv(b, "id:", js(build, "id"));
		line_kv(b, "status:", js(build, "status"));
		line_kv(b, "arch:", js(build, "architecture"));
		line_kv(b, "config:", js(build, "config_name"));
		line_kv(b, "compiler:", js(build, "compiler"));
		line_kv(b, "origin:", js(build, "origin"));
		line_kv(b, "start:", js(build, "start_time"));
		line_kv(b, "log:", js(build, "log_url"));
		line_kv(b, "config url:", js(build, "config_url"));
		if (js(build, "log_excerpt") &&
		    kcidb_status_rank(js(build, "status")) >= kcidb_status_rank("MISS"))
			excerpt(b, js(build, "log_excerpt"), "  ");
		buf_addch(b, '\n');
	} else {
		buf_addf(b, "Tests of build %s (the build itself is not known yet)\n\n", bid);
	}
	if (cnt.total) {
		buf_addf(b, "Tests: %zu (", cnt.total);
		counts_text(&cnt, b);
		buf_adds(b, ")\n\n");
		tests_block(b, tests);
	}
	if (json_array_size(incidents)) {
		buf_adds(b, "Known issues\n");
		json_t *is;
		json_array_foreach (issues, i, is)
			buf_addf(b, "  %s v%lld %s\n", js(is, "id"),
			         (long long)json_integer_value(json_object_get(is, "version")),
			         js(is, "report_subject") ? js(is, "report_subject") : "");
		buf_addch(b, '\n');
	}
	json_decref(build);
	json_decref(co);
	json_decref(tests);
	json_decref(incidents);
	json_decref(issues);
	return 0;
}

static int render_checkout(struct pctx *c, struct unit *u, int64_t rev, struct msgparts *mp,
                           const struct patch_ref *pref, json_t *co, struct err *err)
{
	(void)c;
	(void)err;
	json_array_append(json_object_get(mp->doc, "checkouts"), co);
	mp->checkout = co;
	mp->checkout_id = u->id;
	char sc[16];
	struct buf *s = &mp->subject;
	buf_adds(s, "[CI] ");
	if (js(co, "tree_name"))
		buf_addf(s, "%s ", js(co, "tree_name"));
	if (js(co, "git_repository_branch"))
		buf_addf(s, "%s ", js(co, "git_repository_branch"));
	if (js(co, "git_commit_hash"))
		buf_addf(s, "%s ", short_commit(js(co, "git_commit_hash"), sc));
	buf_addf(s, "(%s): %s", js(co, "origin"), rev ? "checkout updated" : "results follow");
	if (js(co, "valid") && json_is_false(json_object_get(co, "valid")))
		buf_adds(s, " - checkout FAILED");
	if (rev > 0)
		buf_addf(s, " (update %lld)", (long long)rev);
	struct buf *b = &mp->text;
	buf_adds(b, rev ? "The checkout's record changed.\n\n"
	                : "Results for this revision follow as replies to this message.\n\n");
	revision_block(b, co, pref);
	line_kv(b, "valid:",
	        json_object_get(co, "valid")
	            ? (json_is_true(json_object_get(co, "valid")) ? "yes" : "no (checkout failed)")
	            : NULL);
	line_kv(b, "builds done:", js(co, "origin_builds_finish_time"));
	line_kv(b, "tests done:", js(co, "origin_tests_finish_time"));
	if (js(co, "log_excerpt"))
		excerpt(b, js(co, "log_excerpt"), "  ");
	return 0;
}

static int render_issue(struct pctx *c, struct unit *u, int64_t ps, struct msgparts *mp,
                        struct err *err)
{
	json_t *issues = json_object_get(mp->doc, "issues");
	json_t *incidents = json_object_get(mp->doc, "incidents");
	struct sqlb q = {0};
	select_cols(c, &q, KCIDB_ISSUE, NULL);
	sq(&q, " FROM issues WHERE id = ");
	sq_param(&q, u->id);
	if (ps >= 0) {
		sq(&q, " AND seq > ");
		sq_int(&q, ps);
	}
	sq(&q, " ORDER BY version");
	int r = fetch_objects(c, KCIDB_ISSUE, &q, issues, err);
	sq_free(&q);
	if (r < 0)
		return -1;
	/* incidents of this issue that no build or test message can carry */
	select_cols(c, &q, KCIDB_INCIDENT, "i");
	sq(&q, " FROM incidents i LEFT JOIN tests t ON t.id = i.test_id WHERE i.issue_id = ");
	sq_param(&q, u->id);
	sq(&q, " AND NOT EXISTS (SELECT 1 FROM builds b WHERE b.id = COALESCE(i.build_id, "
	       "t.build_id)) AND COALESCE(i.build_id, t.build_id) IS NULL");
	if (ps >= 0) {
		sq(&q, " AND i.seq > ");
		sq_int(&q, ps);
	}
	sq(&q, " ORDER BY i.id");
	r = fetch_objects(c, KCIDB_INCIDENT, &q, incidents, err);
	sq_free(&q);
	if (r < 0)
		return -1;
	json_t *last = json_array_get(issues, json_array_size(issues) - 1);
	buf_addf(&mp->subject, "[CI issue] %s", u->id);
	if (last && js(last, "report_subject"))
		buf_addf(&mp->subject, ": %s", js(last, "report_subject"));
	size_t i;
	json_t *is;
	buf_adds(&mp->text, "Issue\n");
	json_array_foreach (issues, i, is) {
		buf_addf(&mp->text, "  version %lld\n",
		         (long long)json_integer_value(json_object_get(is, "version")));
		line_kv(&mp->text, "report:", js(is, "report_url"));
		line_kv(&mp->text, "subject:", js(is, "report_subject"));
		line_kv(&mp->text, "origin:", js(is, "origin"));
		line_kv(&mp->text, "comment:", js(is, "comment"));
	}
	if (json_array_size(incidents))
		buf_addf(&mp->text, "\n%zu incident(s) without a known build or test.\n",
		         json_array_size(incidents));
	return 0;
}

static void x_header(struct buf *b, const char *name, const char *v)
{
	if (v && *v)
		mime_add_text(b, name, v);
}

/* Build the whole RFC 5322 message of a unit revision into r->bytes. */
static int render_unit(struct pctx *c, struct unit *u, int64_t rev, int64_t ps, struct rendered *r,
                       struct err *err)
{
	struct msgparts mp = {BUF_INIT, BUF_INIT, kcidb_doc_new(), NULL, NULL, NULL, NULL};
	texts_forget(c);
	/* a typical report is a few kB: start there rather than double up from 64 bytes */
	buf_grow(&r->bytes, 8000);
	buf_grow(&mp.text, 2048);
	for (int t = 0; t < KCIDB_NTYPES; t++)
		json_object_set_new(mp.doc, kcidb_types[t].plural, json_array());
	static const struct patch_ref no_patch;
	const struct patch_ref *pref = &no_patch;
	json_t *co = NULL;
	int rc = -1;
	const char *checkout_id = NULL;
	char *co_id_own = NULL;

	/* the checkout (for the patch link) first */
	json_t *build = NULL;
	if (u->kind == 'c') {
		checkout_id = u->id;
	} else if (u->kind == 'b') {
		if (fetch_by_id(c, KCIDB_BUILD, u->id, &build, err) < 0)
			goto out;
		if (build && js(build, "checkout_id"))
			checkout_id = co_id_own = xstrdup(js(build, "checkout_id"));
	}
	if (checkout_id && checkout_get(c, checkout_id, &co, &pref, err) < 0)
		goto out;

	switch (u->kind) {
	case 'b':
	case 't':
		/* render_build takes over build and a reference to co */
		rc = render_build(c, u, rev, ps, &mp, pref, build, json_incref(co), err);
		build = NULL;
		break;
	case 'c':
		rc = co ? render_checkout(c, u, rev, &mp, pref, co, err)
		        : err_set(err, ERR_INTERNAL, "checkout %s vanished", u->id);
		break;
	case 'i':
		rc = render_issue(c, u, ps, &mp, err);
		break;
	}
	if (rc < 0)
		goto out;
	rc = -1;

	/* threading: patch -> checkout root -> unit's first report -> follow-ups */
	const char *refs[4];
	size_t nrefs = 0;
	struct buf root = BUF_INIT, first = BUF_INIT;
	if (pref->msgid)
		refs[nrefs++] = pref->msgid;
	if (u->kind != 'c' && checkout_id && co) {
		unit_msgid(c, c->co_root, 'c', 0, &root); /* co is the cached checkout */
		refs[nrefs++] = root.ptr;
	}
	if (rev > 0) {
		unit_msgid(c, u->hash, u->kind, 0, &first);
		refs[nrefs++] = first.ptr;
	}

	struct buf *m = &r->bytes;
	mime_add_addr(m, "From", c->from_name, c->from_addr);
	mime_add_addr(m, "To", c->tp->description, c->tp->address);
	mime_add_text(m, "Subject", mp.subject.ptr);
	char date[40];
	mime_format_date(c->now, date);
	buf_addf(m, "Date: %s\n", date);
	buf_addf(m, "Message-ID: <%s>\n", r->msgid.ptr);
	if (nrefs) {
		mime_add_ids(m, "In-Reply-To", &refs[nrefs - 1], 1);
		mime_add_ids(m, "References", refs, nrefs);
	}
	{
		/* List-Id: "description <topic.domain>" */
		struct buf lid = BUF_INIT, lbl = BUF_INIT;
		const char *at = strchr(c->tp->address, '@');
		buf_addf(&lbl, "%.*s.%s", (int)(at ? at - c->tp->address : 0), c->tp->address,
		         at ? at + 1 : "localhost");
		for (size_t i = 0; i < lbl.len; i++)
			if (lbl.ptr[i] == '+' || lbl.ptr[i] == '@')
				lbl.ptr[i] = '.';
		struct buf desc = BUF_INIT;
		mime_text_sanitize(c->tp->description, strlen(c->tp->description), &desc, 0);
		for (size_t i = 0; i < desc.len; i++)
			if (desc.ptr[i] == '<' || desc.ptr[i] == '>' || desc.ptr[i] == '"')
				desc.ptr[i] = ' ';
		buf_addf(&lid, "%s <%s>", buf_cstr(&desc), lbl.ptr);
		mime_add_text(m, "List-Id", lid.ptr);
		buf_free(&lid);
		buf_free(&lbl);
		buf_free(&desc);
	}
	x_header(m, "X-CI-Topic", c->tp->name);
	{
		char kind[2] = {u->kind, 0};
		buf_addf(m, "X-CI-Unit: %s %s %lld\n", kind, u->hash, (long long)rev);
	}
	x_header(m, "X-CI-Status", mp.status);
	json_t *anyco = mp.checkout ? mp.checkout : co;
	if (anyco) {
		x_header(m, "X-CI-Origin", js(anyco, "origin"));
		x_header(m, "X-CI-Tree", js(anyco, "tree_name"));
		x_header(m, "X-CI-Branch", js(anyco, "git_repository_branch"));
		x_header(m, "X-CI-Repository", js(anyco, "git_repository_url"));
		x_header(m, "X-CI-Commit", js(anyco, "git_commit_hash"));
		x_header(m, "X-CI-Checkout", js(anyco, "id"));
	}
	if (mp.build) {
		x_header(m, "X-CI-Build", js(mp.build, "id"));
		x_header(m, "X-CI-Arch", js(mp.build, "architecture"));
		x_header(m, "X-CI-Config", js(mp.build, "config_name"));
		x_header(m, "X-CI-Compiler", js(mp.build, "compiler"));
	}
	if (pref->msgid)
		buf_addf(m, "X-CI-Patch: <%s>\n", pref->msgid);

	buf_adds(&mp.text, "-- \nThis report was generated by cifeed. The KCIDB v5.3 objects it "
	                   "describes\nare attached as kcidb.json.\n");
	struct buf json = BUF_INIT;
	buf_grow(&json, 4096);
	kcidb_part(c, mp.doc, &json);
	struct mime_part_spec parts[2] = {
	    {"text/plain", NULL, NULL, mp.text.ptr, mp.text.len},
	    {"application/json", "kcidb.json", "KCIDB v5.3 objects", json.ptr, json.len},
	};
	mime_add_multipart(m, parts, 2);
	buf_free(&json);
	buf_free(&root);
	buf_free(&first);
	rc = 0;
out:
	texts_forget(c); /* the objects go with the document */
	json_decref(build);
	json_decref(co);
	free(co_id_own);
	json_decref(mp.doc);
	buf_free(&mp.subject);
	buf_free(&mp.text);
	return rc;
}

/* ------------------------------------------------------------ planning */

static int collect(struct pctx *c, struct sqlb *q, struct unitset *us, const char *topic, char kind,
                   struct err *err)
{
	struct store_stmt *s;
	if (sq_prepare(c, q, &s, err) < 0)
		return -1;
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		const char *id = store_col_text(s, 0, NULL);
		if (!id)
			continue;
		char k = kind;
		if (kind == 'b' && store_col_int(s, 4) == 0)
			k = 't'; /* tests whose build is not (yet) known */
		struct unit *u = units_get(us, topic, k, id);
		u->candidate = 1;
		unit_note(u, store_col_int(s, 1), store_col_int(s, 2), store_col_text(s, 3, NULL));
	}
	store_reset(s);
	return r < 0 ? -1 : 0;
}

/* Find units with changes in (P, H]. */
static int find_units(struct pctx *c, int64_t P, int64_t H, struct unitset *us, struct err *err)
{
	const struct filter *f = c->tp->filter;
	const char *tn = c->tp->name;
	struct sqlb q = {0};
	int r;

	/* builds whose own row changed */
	sq(&q, "SELECT b.id, b.seq, b.seq, b.updated, 1 FROM builds b LEFT JOIN checkouts c ON "
	       "c.id = b.checkout_id WHERE ");
	sq_seq_range(&q, "b.seq", P, H);
	sq(&q, " AND ");
	sq_build_selected(&q, f);
	r = collect(c, &q, us, tn, 'b', err);
	sq_free(&q);
	if (r < 0)
		return -1;

	/* tests that changed, by build (an unknown build makes a 't' unit) */
	if (f) {
		sq(&q, "SELECT t.build_id, MIN(t.seq), MAX(t.seq), MAX(t.updated), COUNT(b.id) "
		       "FROM tests t LEFT JOIN builds b ON b.id = t.build_id LEFT JOIN checkouts c "
		       "ON c.id = b.checkout_id WHERE ");
		sq_seq_range(&q, "t.seq", P, H);
		sq(&q, " AND ");
		sq_filter(&q, f, FL_TEST);
		sq(&q, " GROUP BY t.build_id");
	} else {
		/* no filter needs the joins per test: group first, look each build up once */
		sq(&q, "SELECT g.build_id, g.lo, g.hi, g.up, b.id IS NOT NULL FROM (SELECT "
		       "build_id, MIN(seq) AS lo, MAX(seq) AS hi, MAX(updated) AS up FROM tests "
		       "WHERE ");
		sq_seq_range(&q, "seq", P, H);
		sq(&q, " GROUP BY build_id) g LEFT JOIN builds b ON b.id = g.build_id");
	}
	r = collect(c, &q, us, tn, 'b', err);
	sq_free(&q);
	if (r < 0)
		return -1;

	/* incidents that changed, by the build they belong to (direct or via their test) */
	sq(&q,
	   "SELECT COALESCE(i.build_id, t.build_id) AS bid, MIN(i.seq), MAX(i.seq), "
	   "MAX(i.updated), COUNT(b.id) FROM incidents i LEFT JOIN tests t ON t.id = i.test_id "
	   "LEFT JOIN builds b ON b.id = COALESCE(i.build_id, t.build_id) LEFT JOIN checkouts c "
	   "ON c.id = b.checkout_id WHERE ");
	sq_seq_range(&q, "i.seq", P, H);
	if (f) {
		sq(&q, " AND b.id IS NOT NULL AND ");
		sq_build_selected(&q, f);
	}
	sq(&q, " GROUP BY bid");
	r = collect(c, &q, us, tn, 'b', err);
	sq_free(&q);
	if (r < 0)
		return -1;

	/* checkouts that changed and are selected (directly or through a build) */
	sq(&q, "SELECT c.id, c.seq, c.seq, c.updated, 1 FROM checkouts c WHERE ");
	sq_seq_range(&q, "c.seq", P, H);
	if (f) {
		sq(&q, " AND (");
		sq_filter(&q, f, FL_CHECKOUT);
		sq(&q, " OR EXISTS (SELECT 1 FROM builds b WHERE b.checkout_id = c.id AND ");
		sq_build_selected(&q, f);
		sq(&q, "))");
	}
	r = collect(c, &q, us, tn, 'c', err);
	sq_free(&q);
	if (r < 0)
		return -1;

	if (!f) {
		/* topic all: issues, and incidents no build or test can carry */
		sq(&q, "SELECT id, MIN(seq), MAX(seq), MAX(updated), 1 FROM issues WHERE ");
		sq_seq_range(&q, "seq", P, H);
		sq(&q, " GROUP BY id");
		r = collect(c, &q, us, tn, 'i', err);
		sq_free(&q);
		if (r < 0)
			return -1;
		sq(&q,
		   "SELECT i.issue_id, MIN(i.seq), MAX(i.seq), MAX(i.updated), 1 FROM incidents i "
		   "LEFT JOIN tests t ON t.id = i.test_id WHERE COALESCE(i.build_id, t.build_id) "
		   "IS NULL AND ");
		sq_seq_range(&q, "i.seq", P, H);
		sq(&q, " GROUP BY i.issue_id");
		r = collect(c, &q, us, tn, 'i', err);
		sq_free(&q);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* Is the unit final (no more results expected)? */
static int unit_final(struct pctx *c, struct unit *u, struct err *err)
{
	struct store_stmt *s;
	int r;
	if (u->kind == 'b') {
		if (store_prepare_cached(c->st, &s,
		                         "SELECT b.status, c.origin_tests_finish_time, c.id FROM "
		                         "builds b LEFT JOIN checkouts c ON c.id = b.checkout_id "
		                         "WHERE b.id = ?",
		                         err) < 0)
			return -1;
		store_bind_text(s, 1, u->id, -1);
		r = store_step(s, err);
		if (r == STORE_ROW) {
			const char *st = store_col_text(s, 0, NULL);
			free(u->checkout_id);
			u->checkout_id = store_col_dup(s, 2); /* for the root the planner adds */
			/* a build that did not pass gets no tests; a finished origin sends no more
			 */
			u->final = store_col_type(s, 1) != STORE_NULL ||
			           (st && kcidb_status_rank(st) >= kcidb_status_rank("MISS")) ||
			           (st && !strcmp(st, "SKIP"));
		}
		store_reset(s);
		return r < 0 ? -1 : 0;
	}
	if (u->kind == 'c') {
		if (store_prepare_cached(
		        c->st, &s,
		        "SELECT origin_tests_finish_time, valid FROM checkouts WHERE id = ?",
		        err) < 0)
			return -1;
		store_bind_text(s, 1, u->id, -1);
		r = store_step(s, err);
		if (r == STORE_ROW)
			u->final = store_col_type(s, 0) != STORE_NULL ||
			           (store_col_type(s, 1) != STORE_NULL && !store_col_int(s, 1));
		store_reset(s);
		return r < 0 ? -1 : 0;
	}
	return 0;
}

static int unit_state(struct pctx *c, struct unit *u, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare_cached(
	        c->st, &s,
	        "SELECT published_seq, revs FROM feed_units WHERE topic = ? AND unit = ?", err) < 0)
		return -1;
	store_bind_text(s, 1, c->tp->name, -1);
	store_bind_text(s, 2, u->hash, -1);
	int r = store_step(s, err);
	u->published_seq = -1;
	u->revs = 0;
	if (r == STORE_ROW) {
		u->published_seq = store_col_int(s, 0);
		u->revs = store_col_int(s, 1);
	}
	store_reset(s);
	return r < 0 ? -1 : 0;
}

static int kind_order(char k)
{
	return k == 'c' ? 0 : k == 'b' ? 1 : k == 't' ? 2 : 3;
}

static int unit_cmp(const void *a, const void *b)
{
	const struct unit *x = *(struct unit *const *)a, *y = *(struct unit *const *)b;
	if (kind_order(x->kind) != kind_order(y->kind))
		return kind_order(x->kind) - kind_order(y->kind);
	if (x->min_seq != y->min_seq)
		return x->min_seq < y->min_seq ? -1 : 1;
	return strcmp(x->key, y->key);
}

struct plan {
	struct rendered *v;
	size_t n, cap;
	int64_t next_position;
	int recovering; /* finishing what a crashed pass planned; nothing new planned */
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].unit_hash);
		buf_free(&p->v[i].msgid);
		buf_free(&p->v[i].bytes);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static struct rendered *plan_add(struct plan *p, struct unit *u, int64_t rev)
{
	if (p->n == p->cap) {
		/* geometric: a pass of 100,000 messages must not copy the array per message */
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	struct rendered *r = &p->v[p->n++];
	memset(r, 0, sizeof(*r));
	r->kind = u->kind;
	r->key = xstrdup(u->key);
	r->unit_hash = xstrdup(u->hash);
	r->rev = rev;
	return r;
}

static int record_planned(struct pctx *c, struct rendered *r, const char *now, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare_cached(
	        c->st, &s,
	        "INSERT INTO feed_messages (topic, msgid, unit, kind, unit_key, rev, "
	        "covered_seq, state, created) VALUES (?, ?, ?, ?, ?, CAST(? AS INTEGER), "
	        "CAST(? AS INTEGER), 'planned', ?) ON CONFLICT (topic, msgid) DO NOTHING",
	        err) < 0)
		return -1;
	char kind[2] = {r->kind, 0}, rev[32], hw[32];
	snprintf(rev, sizeof(rev), "%lld", (long long)r->rev);
	snprintf(hw, sizeof(hw), "%lld", (long long)c->high);
	store_bind_text(s, 1, c->tp->name, -1);
	store_bind_text(s, 2, r->msgid.ptr, -1);
	store_bind_text(s, 3, r->unit_hash, -1);
	store_bind_text(s, 4, kind, -1);
	store_bind_text(s, 5, r->key, -1);
	store_bind_text(s, 6, rev, -1);
	store_bind_text(s, 7, hw, -1);
	store_bind_text(s, 8, now, -1);
	int rc = store_step(s, err);
	store_reset(s);
	return rc < 0 ? -1 : 0;
}

/*
 * Step 2 on a thread of its own, overlapped with rendering: the feeder
 * appends each message as soon as it is rendered, so object creation and
 * packing (feed_writer packs on a further thread) run beside the rendering
 * instead of after it.  The feed is held (feed_writer_hold) until the
 * planning transaction has committed: before that no branch may move, or a
 * crash could leave in the feed a message whose plan was never recorded.
 * The plan array is only read under the mutex (rendering reallocates it);
 * a rendered message's buffers are not touched by the renderer again.
 */
struct feeder {
	pthread_t th;
	int started, start_error;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct plan *p;
	size_t ready;   /* p->v[0..ready) are rendered */
	size_t written; /* p->v[0..written) are in the writer: their bytes may go */
	size_t freed;   /* the renderer freed the bytes of p->v[0..freed) */
	int waiting;    /* the feeder waits for a message */
	int finished;   /* rendering is over: ready is final */
	int committed;  /* the plan is committed: branches may move, flush at the end */
	int abort;      /* the pass failed: stop, flush nothing */
	const char *dir;
	struct feed_writer_opts wo;
	const char *topic;
	size_t expect; /* messages the plan holds (set before the feeder starts) */
	/* results, read after join */
	int rc;
	struct err err;
	size_t messages, followups, existing;
};

static void feeder_rendered(struct feeder *f, size_t n);

/*
 * Render the planned-but-unpublished messages of a topic (after a crash, or
 * just planned), handing each to the feeder (when given) as it is done.
 */
static int render_planned(struct pctx *c, struct plan *p, struct feeder *f, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare(
	        c->st, &s,
	        "SELECT m.msgid, m.unit, m.kind, m.unit_key, m.rev, m.covered_seq, "
	        "COALESCE(u.published_seq, -1) FROM feed_messages m LEFT JOIN feed_units u "
	        "ON u.topic = m.topic AND u.unit = m.unit WHERE m.topic = ? AND m.state = "
	        "'planned' ORDER BY CASE m.kind WHEN 'c' THEN 0 WHEN 'b' THEN 1 WHEN 't' "
	        "THEN 2 ELSE 3 END, m.rowid",
	        err) < 0)
		return -1;
	store_bind_text(s, 1, c->tp->name, -1);
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		/* the unit as planned: its key and its hash (unit_hash) are recorded */
		const char *key = store_col_text(s, 3, NULL);
		struct unit one = {.kind = key[0], .id = (char *)key + 2, .key = (char *)key};
		snprintf(one.hash, sizeof(one.hash), "%s", store_col_text(s, 1, NULL));
		struct unit *u = &one;
		/* the feeder reads p->v under its mutex: growing the array moves it */
		if (f)
			pthread_mutex_lock(&f->mu);
		struct rendered *x = plan_add(p, u, store_col_int(s, 4));
		if (f)
			pthread_mutex_unlock(&f->mu);
		buf_adds(&x->msgid, store_col_text(s, 0, NULL));
		int64_t high = store_col_int(s, 5);
		if (high > c->high)
			c->high = high;
		int64_t ps = x->rev > 0 ? store_col_int(s, 6) : -1;
		if (render_unit(c, u, x->rev, ps, x, err) < 0) {
			err_prefix(err, "render %s", key);
			r = -1;
			break;
		}
		if (f)
			feeder_rendered(f, p->n);
	}
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

static int topic_row(struct pctx *c, int64_t *position, int64_t *pending, struct err *err)
{
	struct store_stmt *s;
	const char *ftext = c->tp->filter ? c->tp->filter->text : "";
	if (store_prepare(
	        c->st, &s,
	        "INSERT INTO feed_topics (name, filter) VALUES (?, ?) ON CONFLICT (name) DO "
	        "UPDATE SET filter = excluded.filter",
	        err) < 0)
		return -1;
	store_bind_text(s, 1, c->tp->name, -1);
	store_bind_text(s, 2, ftext, -1);
	int r = store_step(s, err);
	store_finalize(s);
	if (r < 0)
		return -1;
	if (store_prepare(c->st, &s,
	                  "SELECT position, pending_position FROM feed_topics WHERE name = ?",
	                  err) < 0)
		return -1;
	store_bind_text(s, 1, c->tp->name, -1);
	r = store_step(s, err);
	*position = 0;
	*pending = -1;
	if (r == STORE_ROW) {
		*position = store_col_int(s, 0);
		if (store_col_type(s, 1) != STORE_NULL)
			*pending = store_col_int(s, 1);
	}
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

/* Step 1: decide and record what to publish; render it.  Runs in one write transaction. */
static int plan_topic(struct pctx *c, const struct publish_opts *o, int64_t settle, struct plan *p,
                      struct publish_stats *stats, struct err *err)
{
	int64_t P, pending;
	char now[32];
	fmt_unix_rfc3339(c->now, now);
	if (topic_row(c, &P, &pending, err) < 0)
		return -1;
	if (pending >= 0) {
		/* a crash left planned messages: finish them before planning more */
		p->next_position = pending;
		p->recovering = 1;
		return 0;
	}
	if (store_query_int(c->st, "SELECT COALESCE(MAX(id), 0) FROM submissions", &c->high, err,
	                    0) < 0)
		return -1;
	int64_t H = c->high;
	p->next_position = H;
	if (H <= P)
		return 0;
	struct unitset us = {0};
	int rc = -1;
	if (find_units(c, P, H, &us, err) < 0)
		goto out;
	if (us.nlist)
		qsort(us.list, us.nlist, sizeof(*us.list), unit_cmp);
	/* roots: a build's checkout message must exist before the build's */
	size_t nl = us.nlist;
	for (size_t i = 0; i < nl; i++) {
		struct unit *u = us.list[i];
		if (unit_state(c, u, err) < 0 || unit_final(c, u, err) < 0)
			goto out;
	}
	size_t planned = 0;
	for (size_t i = 0; i < us.nlist; i++) {
		struct unit *u = us.list[i];
		if (!u->candidate || u->plan || u->max_seq <= u->published_seq)
			continue; /* a root added below, or already in the feed */
		int settled =
		    o->no_settle || u->final || u->root_needed || c->now - u->last_change >= settle;
		if (!settled || (o->max_messages && planned >= o->max_messages)) {
			if (u->min_seq - 1 < p->next_position)
				p->next_position = u->min_seq - 1;
			stats->pending++;
			continue;
		}
		if (u->kind == 'b' && u->checkout_id) {
			/* the checkout root must be (or be about to be) there; unit_final found it
			 */
			struct unit *root = units_get(&us, c->tp->name, 'c', u->checkout_id);
			if (!root->candidate && !root->plan && unit_state(c, root, err) < 0)
				goto out; /* (not a candidate of this pass: is it published?) */
			if (!root->plan && root->revs == 0) {
				root->plan = 1;
				root->root_needed = 1;
				struct rendered *r = plan_add(p, root, 0);
				unit_msgid(c, root->hash, 'c', 0, &r->msgid);
				planned++;
			}
		}
		if (u->plan)
			continue;
		u->plan = 1;
		struct rendered *r = plan_add(p, u, u->revs);
		unit_msgid(c, u->hash, u->kind, u->revs, &r->msgid);
		planned++;
	}
	/* record; the caller renders what is recorded (the path recovery takes too) */
	for (size_t i = 0; i < p->n; i++)
		if (record_planned(c, &p->v[i], now, err) < 0)
			goto out;
	int64_t next = p->next_position;
	plan_free(p);
	p->next_position = next;
	rc = 0;
out:
	units_free(&us);
	return rc;
}

/* ------------------------------------------------------------ run */

static int set_pending(struct store *st, const char *topic, int64_t pos, struct err *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%lld", (long long)pos);
	struct store_stmt *s;
	if (store_prepare(
	        st, &s,
	        "UPDATE feed_topics SET pending_position = CAST(? AS INTEGER) WHERE name = ?",
	        err) < 0)
		return -1;
	store_bind_text(s, 1, v, -1);
	store_bind_text(s, 2, topic, -1);
	int r = store_step(s, err);
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

/*
 * Step 3: the feed has them; record it and move the position.  The plan is
 * exactly the topic's 'planned' rows (render_planned renders all of them),
 * so two set statements record it, not two statements per message.
 */
static int commit_topic(struct pctx *c, const struct plan *p, struct err *err)
{
	struct store *st = c->st;
	char now[32], pos[32], hw[32], n[32];
	fmt_unix_rfc3339(c->now, now);
	snprintf(pos, sizeof(pos), "%lld", (long long)p->next_position);
	snprintf(hw, sizeof(hw), "%lld", (long long)c->high);
	snprintf(n, sizeof(n), "%zu", p->n);
	struct {
		const char *sql;
		const char *v[4]; /* ?1, ?2 ... */
	} step[] = {
	    /* "WHERE" before ON CONFLICT: SQLite's rule for INSERT ... SELECT upserts */
	    {"INSERT INTO feed_units (topic, unit, kind, published_seq, revs) SELECT topic, "
	     "unit, kind, CAST(?1 AS INTEGER), rev + 1 FROM feed_messages WHERE topic = ?2 AND "
	     "state = 'planned' ON CONFLICT (topic, unit) DO UPDATE SET published_seq = "
	     "MAX(feed_units.published_seq, excluded.published_seq), revs = "
	     "MAX(feed_units.revs, excluded.revs)",
	     {hw, c->tp->name}},
	    {"UPDATE feed_messages SET state = 'published' WHERE topic = ?1 AND state = 'planned'",
	     {c->tp->name}},
	    {"UPDATE feed_topics SET position = MAX(position, CAST(?1 AS INTEGER)), "
	     "pending_position = NULL, messages = messages + CAST(?2 AS INTEGER), updated = ?3 "
	     "WHERE name = ?4",
	     {pos, n, now, c->tp->name}},
	};
	if (store_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(step) / sizeof(*step); i++) {
		struct store_stmt *s;
		if (store_prepare(st, &s, step[i].sql, err) < 0)
			goto fail;
		for (int k = 0; k < 4 && step[i].v[k]; k++)
			store_bind_text(s, k + 1, step[i].v[k], -1);
		int r = store_step(s, err);
		store_finalize(s);
		if (r < 0)
			goto fail;
	}
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

static char *mid_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (at && fmt_is_email(addr))
		return xstrdup(at + 1);
	return xstrdup("cifeed.invalid");
}

static void *feeder_run(void *arg);

/* Message n-1 is rendered; the first one starts the feeder (no feed is opened for nothing). */
static void feeder_rendered(struct feeder *f, size_t n)
{
	if (!f->started && !f->start_error) {
		int e = pthread_create(&f->th, NULL, feeder_run, f);
		if (e)
			f->start_error = e;
		else
			f->started = 1;
	}
	pthread_mutex_lock(&f->mu);
	f->ready = n;
	if (f->waiting) /* a wake-up per message costs the renderer a system call */
		pthread_cond_signal(&f->cv);
	size_t written = f->written;
	pthread_mutex_unlock(&f->mu);
	/* the feeder is past these for good: no lock needed to free them */
	for (; f->freed < written; f->freed++)
		buf_free(&f->p->v[f->freed].bytes);
}

/* Wait until message i is rendered (1), or there is none / the pass failed (0). */
static int feeder_next(struct feeder *f, size_t i, struct rendered *out)
{
	pthread_mutex_lock(&f->mu);
	while (i >= f->ready && !f->finished && !f->abort) {
		f->waiting = 1;
		pthread_cond_wait(&f->cv, &f->mu);
		f->waiting = 0;
	}
	int ok = !f->abort && i < f->ready;
	if (ok)
		*out = f->p->v[i]; /* a shallow copy: the buffers stay where they are */
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/*
 * Message i is in the writer (or was there already): the renderer may drop
 * its bytes (feeder_rendered), so a pass holds what is rendered but not yet
 * written, not every message.  The renderer frees them: buffers freed on
 * the thread that allocated them stay cheap to reuse.
 */
static void feeder_done(struct feeder *f, size_t i)
{
	pthread_mutex_lock(&f->mu);
	f->written = i + 1;
	pthread_mutex_unlock(&f->mu);
}

/* Wait for the plan's commit (1) or the pass's failure (0). */
static int feeder_wait_commit(struct feeder *f)
{
	pthread_mutex_lock(&f->mu);
	while (!f->committed && !f->abort)
		pthread_cond_wait(&f->cv, &f->mu);
	int ok = f->committed && !f->abort;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void *feeder_run(void *arg)
{
	struct feeder *f = arg;
	struct feed_writer *w = NULL;
	struct err *err = &f->err;
	int r = feed_writer_open(&w, f->dir, &f->wo, err);
	if (r == 0) {
		feed_writer_hold(w, 1);
		feed_writer_expect(w, f->expect);
	}
	struct rendered x;
	for (size_t i = 0; r == 0 && feeder_next(f, i, &x); i++) {
		if (feed_writer_has(w, x.msgid.ptr)) {
			f->existing++;
			feeder_done(f, i);
			continue;
		}
		char *mid = NULL;
		int a = feed_writer_add(w, x.bytes.ptr, x.bytes.len, &mid, err);
		if (a == FEED_HELD) {
			/* a new epoch: the old one's branch moves, so the plan must be in */
			if (!feeder_wait_commit(f))
				break;
			feed_writer_hold(w, 0);
			a = feed_writer_add(w, x.bytes.ptr, x.bytes.len, &mid, err);
		}
		if (a < 0) {
			r = -1;
		} else if (a == FEED_ADDED) {
			if (strcmp(mid, x.msgid.ptr))
				log_warn("publish.msgid_changed", "topic=%s want=%s got=%s",
				         f->topic, x.msgid.ptr, mid);
			f->messages++;
			if (x.rev > 0)
				f->followups++;
		}
		free(mid);
		if (a >= 0)
			feeder_done(f, i);
	}
	if (r == 0 && feeder_wait_commit(f)) {
		r = feed_writer_flush(w, err); /* moves the branches, held or not */
	} else if (r == 0) {
		r = -1; /* the pass failed: what was queued is dropped with the writer */
		err_set(err, ERR_IO, "publishing pass abandoned");
	}
	feed_writer_close(w);
	f->rc = r;
	return NULL;
}

static void feeder_signal(struct feeder *f, int *flag)
{
	pthread_mutex_lock(&f->mu);
	*flag = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Wait for the feeder; 0 when it wrote and flushed everything, else -1 with err. */
static int feeder_join(struct feeder *f, struct publish_stats *stats, struct err *err)
{
	if (f->start_error)
		return err_set(err, ERR_IO, "feed writer thread: %s", strerror(f->start_error));
	if (!f->started)
		return 0;
	pthread_join(f->th, NULL);
	f->started = 0;
	stats->messages += f->messages;
	stats->followups += f->followups;
	stats->existing += f->existing;
	if (f->rc < 0)
		return err_set(err, f->err.code ? f->err.code : ERR_IO, "%s", err_msg(&f->err));
	return 0;
}

/*
 * One topic: plan, write the feed, move the position.  Returns 0 when done,
 * 1 when it only finished what a crashed pass had planned (the caller runs
 * it again to publish what is new), -1 with err.
 */
static int publish_topic(struct store *st, const struct publish_opts *o, const struct topic *tp,
                         struct publish_stats *stats, struct err *err)
{
	const struct config *cfg = o->cfg;
	struct pctx c = {0};
	c.st = st;
	c.tp = tp;
	c.from_name = config_get_str(cfg, "feed", NULL, "name", "cifeed");
	c.from_addr = config_get_str(cfg, "feed", NULL, "address", "cifeed@localhost");
	if (!fmt_is_email(c.from_addr))
		c.from_addr = "cifeed@localhost";
	char *domain = mid_domain(c.from_addr);
	c.domain = domain;
	c.now = o->now ? o->now : (int64_t)time(NULL);
	int64_t settle = config_get_duration(cfg, "feed", NULL, "settle", PUBLISH_SETTLE_DEFAULT);
	struct plan p = {0};
	int rc = -1;
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/feeds/%s", o->datadir, tp->name);
	struct feeder f = {
	    .p = &p,
	    .dir = dir.ptr,
	    .topic = tp->name,
	    .wo = {.name = tp->name,
	           .address = tp->address,
	           .description = tp->description,
	           .epoch_size = config_get_int(cfg, "feed", NULL, "epoch-size", 0)},
	    .err = ERR_INIT,
	};
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);

	/* step 1: plan (and render) in one write transaction; step 2 starts meanwhile */
	if (store_begin(st, err) < 0)
		goto out;
	if (plan_topic(&c, o, settle, &p, stats, err) < 0) {
		store_rollback(st);
		goto out;
	}
	int64_t next = p.next_position;
	int64_t planned = 0;
	if (store_query_int(st,
	                    "SELECT COUNT(*) FROM feed_messages WHERE topic = ? AND state = "
	                    "'planned'",
	                    &planned, err, 1, tp->name) < 0) {
		store_rollback(st);
		goto out;
	}
	f.expect = (size_t)planned;
	log_debug("publish.planned", "topic=%s messages=%lld", tp->name, (long long)planned);
	int r = render_planned(&c, &p, &f, err);
	feeder_signal(&f, &f.finished);
	log_debug("publish.rendered", "topic=%s messages=%zu", tp->name, p.n);
	if (r < 0 || set_pending(st, tp->name, next, err) < 0 || store_commit(st, err) < 0) {
		store_rollback(st);
		goto out;
	}
	p.next_position = next;
	/* the plan is in: the feed may show it */
	feeder_signal(&f, &f.committed);
	if (feeder_join(&f, stats, err) < 0)
		goto out;

	/* step 3 */
	if (commit_topic(&c, &p, err) < 0)
		goto out;
	if (p.n)
		log_info("publish.topic", "topic=%s messages=%zu position=%lld recovered=%d",
		         tp->name, p.n, (long long)p.next_position, p.recovering);
	rc = p.recovering ? 1 : 0;
out:
	if (f.started) {
		/* a failed pass: the feeder drops what it queued, nothing reaches the feed */
		feeder_signal(&f, &f.abort);
		struct err ignored = ERR_INIT;
		feeder_join(&f, stats, &ignored);
		err_free(&ignored);
	}
	pthread_mutex_destroy(&f.mu);
	pthread_cond_destroy(&f.cv);
	err_free(&f.err);
	buf_free(&dir);
	if (rc < 0)
		err_prefix(err, "topic %s", tp->name);
	plan_free(&p);
	cache_free(&c);
	free(domain);
	return rc;
}

int publisher_run(struct store *st, const struct publish_opts *o, struct publish_stats *stats,
                  struct err *err)
{
	struct topic *tp;
	size_t n;
	memset(stats, 0, sizeof(*stats));
	if (publisher_topics(o->cfg, &tp, &n, err) < 0)
		return -1;
	int rc = 0, found = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (o->topic && strcmp(o->topic, tp[i].name))
			continue;
		found = 1;
		stats->topics++;
		/* after finishing a crashed pass's plan, go on with what is new */
		do
			rc = publish_topic(st, o, &tp[i], stats, err);
		while (rc == 1);
	}
	if (rc == 0 && o->topic && !found)
		rc = err_set(err, ERR_NOTFOUND, "no topic '%s' in %s", o->topic,
		             o->cfg->path ? o->cfg->path : "the configuration");
	publisher_topics_free(tp, n);
	return rc;
}

/* ------------------------------------------------------------ reindex */

struct rx_ctx {
	struct store *st;
	struct results_writer *w;
	struct reindex_stats *stats;
	const char *topic;
};

static int reindex_msg(const struct feed_msg *fm, void *arg, struct err *err)
{
	struct rx_ctx *x = arg;
	struct mime_msg m;
	mime_parse(&m, fm->data, fm->len);
	struct mime_ids ids = {0};
	mime_msg_ids(&m, &ids);
	struct mime_part *parts;
	size_t np = mime_parts(&m, &parts);
	int rc = 0, found = 0;
	x->stats->messages++;
	for (size_t i = 0; i < np && rc == 0; i++) {
		if (strcmp(parts[i].ctype, "application/json"))
			continue;
		json_error_t je;
		json_t *doc = json_loadb(parts[i].body.ptr, parts[i].body.len, 0, &je);
		struct kcidb_errors ke = KCIDB_ERRORS_INIT;
		char version[16];
		if (!doc) {
			rc = err_set(err, ERR_INVALID, "line %d: %s", je.line, je.text);
		} else if (kcidb_validate_upgrade(doc, version, &ke) < 0) {
			rc = err_set(err, ERR_INVALID, "%zu KCIDB errors: %s", ke.count,
			             buf_cstr(&ke.text));
		} else {
			char sha[65];
			unsigned char h[32];
			crypto_hash_sha256(h, (const unsigned char *)parts[i].body.ptr,
			                   parts[i].body.len);
			for (int k = 0; k < 32; k++)
				snprintf(sha + 2 * k, 3, "%02x", h[k]);
			struct buf src = BUF_INIT;
			buf_addf(&src, "feed:%s:%s", x->topic, ids.n ? ids.v[0] : fm->blob);
			struct submission_meta meta = {src.ptr, sha, version};
			struct results_stats rs;
			rc = results_submit(x->w, doc, &meta, &rs, err);
			buf_free(&src);
			if (rc == 0)
				x->stats->submissions++;
		}
		if (rc < 0)
			err_prefix(err, "epoch %d commit %.12s <%s> part %s", fm->epoch, fm->commit,
			           ids.n ? ids.v[0] : "?", parts[i].idx);
		kcidb_errors_free(&ke);
		json_decref(doc);
		found = 1;
	}
	if (!found)
		x->stats->skipped++;
	mime_parts_free(parts, np);
	mime_ids_free(&ids);
	mime_msg_free(&m);
	return rc;
}

struct units_ctx {
	struct store *st;
	const char *topic;
	struct store_stmt *unit, *msg;
	int64_t high;
	size_t n;
	struct reindex_stats *stats;
};

static int reindex_units(const struct feed_msg *fm, void *arg, struct err *err)
{
	struct units_ctx *x = arg;
	struct mime_msg m;
	mime_parse(&m, fm->data, fm->len);
	struct buf v = BUF_INIT;
	int rc = 0;
	char kind[2] = {0}, hash[25] = {0};
	long long rev = -1;
	x->n++;
	if (mime_get(&m, "X-CI-Unit", 0, &v) &&
	    sscanf(v.ptr, "%1s %24s %lld", kind, hash, &rev) == 3 && rev >= 0 &&
	    strlen(hash) == 24) {
		struct mime_ids ids = {0};
		mime_msg_ids(&m, &ids);
		char hw[32], revs[32], revn[32], now[32];
		snprintf(hw, sizeof(hw), "%lld", (long long)x->high);
		snprintf(revs, sizeof(revs), "%lld", rev + 1);
		snprintf(revn, sizeof(revn), "%lld", rev);
		fmt_now(now);
		store_reset(x->unit);
		store_bind_text(x->unit, 1, x->topic, -1);
		store_bind_text(x->unit, 2, hash, -1);
		store_bind_text(x->unit, 3, kind, -1);
		store_bind_text(x->unit, 4, hw, -1);
		store_bind_text(x->unit, 5, revs, -1);
		if (store_step(x->unit, err) < 0)
			rc = -1;
		if (rc == 0 && ids.n) {
			struct buf key = BUF_INIT;
			buf_addf(&key, "%s:?", kind); /* the unit key is only known by its hash */
			store_reset(x->msg);
			store_bind_text(x->msg, 1, x->topic, -1);
			store_bind_text(x->msg, 2, ids.v[0], -1);
			store_bind_text(x->msg, 3, hash, -1);
			store_bind_text(x->msg, 4, kind, -1);
			store_bind_text(x->msg, 5, key.ptr, -1);
			store_bind_text(x->msg, 6, revn, -1);
			store_bind_text(x->msg, 7, hw, -1);
			store_bind_text(x->msg, 8, now, -1);
			if (store_step(x->msg, err) < 0)
				rc = -1;
			buf_free(&key);
		}
		mime_ids_free(&ids);
		x->stats->units++;
	}
	buf_free(&v);
	mime_msg_free(&m);
	return rc;
}

int publisher_reindex(struct store *st, const char *datadir, const struct config *cfg,
                      struct reindex_stats *stats, struct err *err)
{
	memset(stats, 0, sizeof(*stats));
	int64_t have = 0;
	if (store_query_int(
	        st,
	        "SELECT (SELECT COUNT(*) FROM checkouts) + (SELECT COUNT(*) FROM builds) + "
	        "(SELECT COUNT(*) FROM tests) + (SELECT COUNT(*) FROM issues) + "
	        "(SELECT COUNT(*) FROM incidents) + (SELECT COUNT(*) FROM feed_units)",
	        &have, err, 0) < 0)
		return -1;
	if (have)
		return err_set(
		    err, ERR_USAGE,
		    "the store already holds %lld objects; reindex rebuilds into an empty "
		    "store (use a new data directory with the same feeds/)",
		    (long long)have);
	struct buf all = BUF_INIT, feeds = BUF_INIT;
	buf_addf(&feeds, "%s/feeds", datadir);
	buf_addf(&all, "%s/all", feeds.ptr);
	if (!feed_is_inbox(all.ptr)) {
		buf_free(&all);
		buf_free(&feeds);
		return err_set(err, ERR_NOTFOUND, "%s/feeds/all: no feed to reindex from", datadir);
	}
	struct results_writer *w = NULL;
	struct feed_topic_info *topics = NULL;
	size_t nt = 0;
	int rc = -1;
	if (store_begin(st, err) < 0)
		goto out;
	if (results_writer_new(st, &w, err) < 0)
		goto fail;
	struct rx_ctx x = {st, w, stats, "all"};
	if (feed_read(all.ptr, 0, reindex_msg, &x, err) < 0)
		goto fail;

	/* publisher state: every unit revision the feeds hold is published */
	int64_t high = 0;
	if (store_query_int(st, "SELECT COALESCE(MAX(id), 0) FROM submissions", &high, err, 0) < 0)
		goto fail;
	if (feed_topics_list(feeds.ptr, &topics, &nt, err) < 0)
		goto fail;
	for (size_t i = 0; i < nt; i++) {
		struct units_ctx u = {st, topics[i].name, NULL, NULL, high, 0, stats};
		struct buf dir = BUF_INIT;
		buf_addf(&dir, "%s/%s", feeds.ptr, topics[i].name);
		int r = store_prepare(
		    st, &u.unit,
		    "INSERT INTO feed_units (topic, unit, kind, published_seq, revs) "
		    "VALUES (?, ?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER)) ON "
		    "CONFLICT (topic, unit) DO UPDATE SET revs = MAX(feed_units.revs, "
		    "excluded.revs)",
		    err);
		if (r == 0)
			r = store_prepare(
			    st, &u.msg,
			    "INSERT INTO feed_messages (topic, msgid, unit, kind, "
			    "unit_key, rev, covered_seq, state, created) VALUES (?, ?, ?, "
			    "?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER), 'published', ?) "
			    "ON CONFLICT (topic, msgid) DO NOTHING",
			    err);
		if (r == 0)
			r = feed_read(dir.ptr, 0, reindex_units, &u, err);
		store_finalize(u.unit);
		store_finalize(u.msg);
		buf_free(&dir);
		if (r < 0) {
			err_prefix(err, "feeds/%s", topics[i].name);
			goto fail;
		}
		struct store_stmt *s;
		char hw[32], n[32];
		snprintf(hw, sizeof(hw), "%lld", (long long)high);
		snprintf(n, sizeof(n), "%zu", u.n);
		const char *ftext = config_get(cfg, "topic", topics[i].name, "filter");
		if (store_prepare(
		        st, &s,
		        "INSERT INTO feed_topics (name, filter, position, messages, updated) "
		        "VALUES (?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER), ?) ON CONFLICT "
		        "(name) DO UPDATE SET position = excluded.position, messages = "
		        "excluded.messages, pending_position = NULL",
		        err) < 0)
			goto fail;
		char now[32];
		fmt_now(now);
		store_bind_text(s, 1, topics[i].name, -1);
		store_bind_text(s, 2, ftext ? ftext : "", -1);
		store_bind_text(s, 3, hw, -1);
		store_bind_text(s, 4, n, -1);
		store_bind_text(s, 5, now, -1);
		r = store_step(s, err);
		store_finalize(s);
		if (r < 0)
			goto fail;
	}
	results_writer_free(w);
	w = NULL;
	if (store_commit(st, err) < 0)
		goto out;
	rc = 0;
	goto out;
fail:
	store_rollback(st);
out:
	results_writer_free(w);
	feed_topics_free(topics, nt);
	buf_free(&all);
	buf_free(&feeds);
	return rc;
}
