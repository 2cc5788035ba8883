/*
 * filter.c - parser and SQL compiler of the filter language (see filter.h).
 */
#include "filter.h"
#include "kcidb.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_names[FK_NKEYS] = {
	[FK_ORIGIN] = "origin", [FK_TREE] = "tree",       [FK_REPO] = "repo",
	[FK_BRANCH] = "branch", [FK_COMMIT] = "commit",   [FK_ARCH] = "arch",
	[FK_CONFIG] = "config", [FK_COMPILER] = "compiler", [FK_STATUS] = "status",
	[FK_TEST] = "test",     [FK_LIST] = "list",       [FK_AUTHOR] = "author",
	[FK_FILE] = "file",     [FK_MSGID] = "msgid",
};

const char *filter_key_name(enum filter_key k)
{
	return k < FK_NKEYS ? key_names[k] : "?";
}

static void term_free(struct filter_term *t)
{
	free(t->value);
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	for (size_t g = 0; g < f->ngroups; g++) {
		for (size_t i = 0; i < f->groups[g].nterms; i++)
			term_free(&f->groups[g].terms[i]);
		free(f->groups[g].terms);
	}
	free(f->groups);
	free(f->text);
	free(f);
}

int filter_is_empty(const struct filter *f)
{
	return !f || f->ngroups == 0;
}

int filter_uses(const struct filter *f, enum filter_key k)
{
	for (size_t g = 0; f && g < f->ngroups; g++)
		for (size_t i = 0; i < f->groups[g].nterms; i++)
			if (f->groups[g].terms[i].key == k)
				return 1;
	return 0;
}

static int term_error(struct err *err, const char *text, size_t start, size_t len,
		      const char *fmt, const char *arg)
{
	struct buf msg = BUF_INIT;
	buf_adds(&msg, "filter: ");
	buf_addf(&msg, fmt, arg);
	buf_addf(&msg, " at column %zu (term '%.*s')\n  %s\n  %*s^", start + 1, (int)len,
		 text + start, text, (int)start, "");
	for (size_t i = 1; i < len && i < 80; i++)
		buf_addch(&msg, '~');
	err_set(err, ERR_INVALID, "%s", msg.ptr);
	buf_free(&msg);
	return -1;
}

static void group_add(struct filter_group *g, struct filter_term *t)
{
	g->terms = xrealloc(g->terms, (g->nterms + 1) * sizeof(*g->terms));
	g->terms[g->nterms++] = *t;
}

static struct filter_group *new_group(struct filter *f)
{
	f->groups = xrealloc(f->groups, (f->ngroups + 1) * sizeof(*f->groups));
	struct filter_group *g = &f->groups[f->ngroups++];
	g->terms = NULL;
	g->nterms = 0;
	return g;
}

int filter_parse(const char *text, struct filter **out, struct err *err)
{
	struct filter *f = xcalloc(1, sizeof(*f));
	const char *s = text ? text : "";
	size_t n = strlen(s);
	struct filter_group *cur = NULL;
	size_t i = 0;
	size_t last_or = 0;
	int pending_or = 0;

	f->text = xstrdup(s);
	for (size_t k = 0; k < n; k++) {
		if ((unsigned char)s[k] < 0x20 && s[k] != '\t') {
			char tmp[8];
			snprintf(tmp, sizeof(tmp), "0x%02x", (unsigned char)s[k]);
			term_error(err, s, k, 1, "control character %s", tmp);
			goto fail;
		}
	}
	while (i < n) {
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if (i >= n)
			break;
		size_t start = i;
		/* scan a word, honouring double quotes */
		int inq = 0;
		while (i < n && (inq || !isspace((unsigned char)s[i]))) {
			if (s[i] == '"')
				inq = !inq;
			i++;
		}
		size_t wlen = i - start;
		if (inq) {
			term_error(err, s, start, wlen, "%s", "unterminated quote");
			goto fail;
		}
		if (wlen == 2 && !strncmp(s + start, "OR", 2)) {
			if (!cur || pending_or) {
				term_error(err, s, start, 2, "%s", "'OR' needs a term on both sides");
				goto fail;
			}
			pending_or = 1;
			last_or = start;
			continue;
		}
		struct filter_term t = { 0 };
		t.column = start + 1;
		size_t p = start;
		if (s[p] == '-') {
			t.negate = 1;
			p++;
		}
		const char *colon = memchr(s + p, ':', i - p);
		if (!colon) {
			term_error(err, s, start, wlen, "%s",
				   "expected key:value (keys: origin tree repo branch commit arch "
				   "config compiler status test list author file msgid)");
			goto fail;
		}
		size_t klen = (size_t)(colon - (s + p));
		int key = -1;
		for (int k = 0; k < FK_NKEYS; k++)
			if (strlen(key_names[k]) == klen && !strncmp(key_names[k], s + p, klen))
				key = k;
		if (key < 0) {
			char kb[64];
			snprintf(kb, sizeof(kb), "%.*s", (int)(klen < 40 ? klen : 40), s + p);
			term_error(err, s, start, wlen,
				   "unknown key '%s' (keys: origin tree repo branch commit arch config "
				   "compiler status test list author file msgid)",
				   kb);
			goto fail;
		}
		t.key = (enum filter_key)key;
		/* value: strip one pair of surrounding quotes, drop inner quote chars */
		struct buf v = BUF_INIT;
		for (const char *q = colon + 1; q < s + i; q++)
			if (*q != '"')
				buf_addch(&v, *q);
		if (!v.len) {
			buf_free(&v);
			term_error(err, s, start, wlen, "%s", "empty value");
			goto fail;
		}
		t.value = buf_detach(&v);
		t.glob = strchr(t.value, '*') != NULL;
		if (t.key == FK_STATUS) {
			for (char *c = t.value; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			if (!t.glob && !kcidb_status_valid(t.value)) {
				free(t.value);
				term_error(err, s, start, wlen, "%s",
					   "unknown status (FAIL ERROR MISS PASS DONE SKIP)");
				goto fail;
			}
		}
		if (!cur || pending_or)
			cur = new_group(f);
		pending_or = 0;
		group_add(cur, &t);
	}
	if (pending_or) {
		term_error(err, s, last_or, 2, "%s", "'OR' needs a term on both sides");
		goto fail;
	}
	*out = f;
	return 0;
fail:
	filter_free(f);
	return -1;
}

int filter_parse_argv(int argc, char **argv, struct filter **out, struct err *err)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < argc; i++) {
		if (i)
			buf_addch(&b, ' ');
		/* an argument with a space came quoted from the shell: keep it one value */
		const char *colon = strchr(argv[i], ':');
		if (colon && strchr(argv[i], ' ') && !strchr(argv[i], '"')) {
			buf_add(&b, argv[i], (size_t)(colon - argv[i]) + 1);
			buf_addf(&b, "\"%s\"", colon + 1);
		} else {
			buf_adds(&b, argv[i]);
		}
	}
	int r = filter_parse(buf_cstr(&b), out, err);
	buf_free(&b);
	return r;
}

/* ---------------------------------------------------------------- SQL */

static void param_add(struct filter_params *p, char *v)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = v;
}

void filter_params_free(struct filter_params *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

char *filter_like_pattern(const char *v, const char *suffix)
{
	struct buf b = BUF_INIT;
	for (int pass = 0; pass < 2; pass++) {
		for (const char *c = pass ? suffix : v; c && *c; c++) {
			if (*c == '*')
				buf_addch(&b, '%');
			else if (*c == '%' || *c == '_' || *c == '\\') {
				buf_addch(&b, '\\');
				buf_addch(&b, *c);
			} else
				buf_addch(&b, *c);
		}
	}
	return buf_detach(&b);
}

#define LIKE " LIKE ? ESCAPE '\\'"

/* column compare: equality, or LIKE when the value has '*' */
static void cmp(struct buf *sql, struct filter_params *p, const char *col,
		const struct filter_term *t)
{
	if (t->glob) {
		buf_addf(sql, "%s" LIKE, col);
		param_add(p, filter_like_pattern(t->value, ""));
	} else {
		buf_addf(sql, "%s = ?", col);
		param_add(p, xstrdup(t->value));
	}
}

static int is_hex_prefix(const char *v)
{
	size_t n = strlen(v);
	if (n < 4 || n >= 40)
		return 0;
	for (; *v; v++)
		if (!isdigit((unsigned char)*v) && !(*v >= 'a' && *v <= 'f'))
			return 0;
	return 1;
}

/* The SQL of one term, or 0 when the term does not apply at this level. */
static int term_sql(const struct filter_term *t, enum filter_level lv, struct buf *sql,
		    struct filter_params *p)
{
	const char *own = lv == FL_TEST ? "t" : lv == FL_BUILD ? "b" : "c";
	char col[64];
	switch (t->key) {
	case FK_ORIGIN:
		snprintf(col, sizeof(col), "%s.origin", own);
		cmp(sql, p, col, t);
		return 1;
	case FK_TREE:
		cmp(sql, p, "c.tree_name", t);
		return 1;
	case FK_REPO:
		cmp(sql, p, "c.git_repository_url", t);
		return 1;
	case FK_BRANCH:
		cmp(sql, p, "c.git_repository_branch", t);
		return 1;
	case FK_COMMIT:
		if (!t->glob && is_hex_prefix(t->value)) {
			buf_adds(sql, "c.git_commit_hash" LIKE);
			param_add(p, filter_like_pattern(t->value, "*"));
		} else {
			cmp(sql, p, "c.git_commit_hash", t);
		}
		return 1;
	case FK_ARCH:
	case FK_CONFIG:
	case FK_COMPILER:
		if (lv == FL_CHECKOUT)
			return 0;
		cmp(sql, p,
		    t->key == FK_ARCH     ? "b.architecture"
		    : t->key == FK_CONFIG ? "b.config_name"
					  : "b.compiler",
		    t);
		return 1;
	case FK_STATUS:
		if (lv == FL_CHECKOUT)
			return 0;
		snprintf(col, sizeof(col), "%s.status", own);
		cmp(sql, p, col, t);
		return 1;
	case FK_TEST:
		if (lv != FL_TEST)
			return 0;
		/* the path itself or anything below it */
		buf_addch(sql, '(');
		cmp(sql, p, "t.path", t);
		buf_adds(sql, " OR t.path" LIKE ")");
		param_add(p, filter_like_pattern(t->value, ".*"));
		return 1;
	case FK_MSGID:
		buf_addch(sql, '(');
		cmp(sql, p, "c.message_id", t);
		buf_adds(sql, " OR EXISTS (SELECT 1 FROM checkout_patches cp JOIN patches pa ON "
			      "pa.rid = cp.patch_rid WHERE cp.checkout_id = c.id AND ");
		cmp(sql, p, "pa.msgid", t);
		buf_adds(sql, "))");
		return 1;
	case FK_LIST:
		buf_adds(sql, "EXISTS (SELECT 1 FROM checkout_patches cp JOIN patches pa ON "
			      "pa.rid = cp.patch_rid WHERE cp.checkout_id = c.id AND ");
		cmp(sql, p, "pa.list_id", t);
		buf_addch(sql, ')');
		return 1;
	case FK_AUTHOR: {
		/* name or address, case-insensitively; a bare word matches inside either */
		buf_adds(sql, "EXISTS (SELECT 1 FROM checkout_patches cp JOIN patches pa ON "
			      "pa.rid = cp.patch_rid WHERE cp.checkout_id = c.id AND "
			      "(lower(pa.author_email)" LIKE " OR lower(pa.author_name)" LIKE "))");
		struct buf lv2 = BUF_INIT;
		for (const char *c = t->value; *c; c++)
			buf_addch(&lv2, tolower((unsigned char)*c));
		char *g = filter_like_pattern(lv2.ptr, "");
		param_add(p, xstrdup(g));
		param_add(p, g);
		buf_free(&lv2);
		return 1;
	}
	case FK_FILE:
		buf_adds(sql, "EXISTS (SELECT 1 FROM checkout_patches cp JOIN patch_files pf ON "
			      "pf.patch_rid = cp.patch_rid WHERE cp.checkout_id = c.id AND ");
		cmp(sql, p, "pf.path", t);
		buf_addch(sql, ')');
		return 1;
	case FK_NKEYS:
		break;
	}
	return 0;
}

void filter_to_sql(const struct filter *f, enum filter_level level, struct buf *sql,
		   struct filter_params *params)
{
	if (filter_is_empty(f)) {
		buf_adds(sql, "1");
		return;
	}
	buf_addch(sql, '(');
	for (size_t g = 0; g < f->ngroups; g++) {
		if (g)
			buf_adds(sql, " OR ");
		buf_addch(sql, '(');
		const struct filter_group *grp = &f->groups[g];
		int applicable = 1;
		size_t mark = sql->len, pmark = params->n;
		for (size_t i = 0; i < grp->nterms && applicable; i++) {
			const struct filter_term *t = &grp->terms[i];
			if (i)
				buf_adds(sql, " AND ");
			/* COALESCE: a missing field is "does not match", also under NOT */
			buf_adds(sql, t->negate ? "NOT COALESCE(" : "COALESCE(");
			if (!term_sql(t, level, sql, params))
				applicable = 0;
			buf_adds(sql, ", 0)");
		}
		if (!applicable) {
			buf_truncate(sql, mark);
			while (params->n > pmark)
				free(params->v[--params->n]);
			buf_addch(sql, '0');
		}
		buf_addch(sql, ')');
	}
	buf_addch(sql, ')');
}
