/*
 * cmd-patches.c - `cifeed patches`: the patches and series intake stored.
 *
 * Patches are selected with the filter language: list:, author:, file: and
 * msgid: match the patch itself; every other key (status:, tree:, test:,
 * origin:...) matches the results linked to it, so `status:FAIL` lists
 * the patches with a linked failing test and `-status:FAIL` those with
 * none.  Matching patches are shown grouped under their series.
 */
#include "cli.h"
#include "filter.h"
#include "formats.h"
#include "series.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_patches;

#define LIKE " LIKE ? ESCAPE '\\'"

/* the filter value as a LIKE pattern, lower-cased for case-insensitive keys */
static char *to_like(const char *v, int lower)
{
	char *l = xstrdup(v);
	if (lower)
		for (char *c = l; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	char *p = filter_like_pattern(l, "");
	free(l);
	return p;
}

static void param(struct filter_params *p, char *v)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(char *));
	p->v[p->n++] = v;
}

static void cmp(struct buf *sql, struct filter_params *p, const char *col,
		const struct filter_term *t)
{
	if (t->glob) {
		buf_addf(sql, "%s" LIKE, col);
		param(p, to_like(t->value, 0));
	} else {
		buf_addf(sql, "%s = ?", col);
		param(p, xstrdup(t->value));
	}
}

/* One term as a predicate on patches `pa`. */
static void term_sql(const struct filter_term *t, struct buf *sql, struct filter_params *p)
{
	if (t->negate)
		buf_adds(sql, "NOT ");
	switch (t->key) {
	case FK_LIST:
		buf_addch(sql, '(');
		cmp(sql, p, "pa.list_id", t);
		buf_addch(sql, ')');
		return;
	case FK_MSGID:
		/* the patch, or any patch of the series named by its root */
		buf_addch(sql, '(');
		cmp(sql, p, "pa.msgid", t);
		buf_adds(sql, " OR pa.series_rid IN (SELECT rid FROM series WHERE ");
		cmp(sql, p, "root_msgid", t);
		buf_adds(sql, "))");
		return;
	case FK_AUTHOR: {
		/* name or address, case-insensitively, as filter.c does for checkouts */
		char *g = to_like(t->value, 1);
		buf_adds(sql, "(lower(pa.author_email)" LIKE " OR lower(pa.author_name)" LIKE ")");
		param(p, xstrdup(g));
		param(p, g);
		return;
	}
	case FK_FILE:
		buf_adds(sql, "EXISTS (SELECT 1 FROM patch_files pf WHERE pf.patch_rid = pa.rid AND ");
		cmp(sql, p, "pf.path", t);
		buf_addch(sql, ')');
		return;
	default:
		break;
	}
	/* a results key: some linked checkout (build, test) matches */
	struct filter_term one = *t;
	one.negate = 0;
	struct filter_group g = { &one, 1 };
	struct filter f = { &g, 1, NULL };
	enum filter_level lv = FL_CHECKOUT;
	const char *joins = "";
	if (t->key == FK_ARCH || t->key == FK_CONFIG || t->key == FK_COMPILER ||
	    t->key == FK_STATUS) {
		lv = FL_BUILD;
		joins = " JOIN builds b ON b.checkout_id = c.id";
	}
	if (t->key == FK_TEST || t->key == FK_STATUS) {
		lv = FL_TEST;
		joins = " JOIN builds b ON b.checkout_id = c.id JOIN tests t ON t.build_id = b.id";
	}
	buf_addf(sql, "EXISTS (SELECT 1 FROM checkout_patches cp JOIN checkouts c ON c.id = "
		      "cp.checkout_id%s WHERE cp.patch_rid = pa.rid AND ",
		 joins);
	filter_to_sql(&f, lv, sql, p);
	buf_addch(sql, ')');
}

static void filter_sql(const struct filter *f, struct buf *sql, struct filter_params *p)
{
	if (!f || filter_is_empty(f)) {
		buf_adds(sql, "1 = 1");
		return;
	}
	buf_addch(sql, '(');
	for (size_t g = 0; g < f->ngroups; g++) {
		buf_adds(sql, g ? " OR (" : "(");
		for (size_t i = 0; i < f->groups[g].nterms; i++) {
			if (i)
				buf_adds(sql, " AND ");
			term_sql(&f->groups[g].terms[i], sql, p);
		}
		buf_addch(sql, ')');
	}
	buf_addch(sql, ')');
}

struct row {
	int64_t rid, series_rid;
};

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* files, own trailers and linked results of one patch */
static int patch_details(struct store *st, int64_t rid, json_t *o, struct err *err)
{
	struct store_stmt *s;
	json_t *files = json_array(), *links = json_array(), *counts = json_object();
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "linked", links);
	json_object_set_new(o, "results", counts);
	int r;
	if (store_prepare(st, &s, "SELECT path FROM patch_files WHERE patch_rid = ? ORDER BY path",
			  err) < 0)
		return -1;
	store_bind_int(s, 1, rid);
	while ((r = store_step(s, err)) == STORE_ROW)
		json_array_append_new(files, json_string(store_col_text(s, 0, NULL)));
	store_finalize(s);
	if (r < 0)
		return -1;
	if (store_prepare(st, &s,
			  "SELECT cp.checkout_id, cp.how, c.origin FROM checkout_patches cp LEFT "
			  "JOIN checkouts c ON c.id = cp.checkout_id WHERE cp.patch_rid = ? ORDER BY "
			  "cp.checkout_id",
			  err) < 0)
		return -1;
	store_bind_int(s, 1, rid);
	while ((r = store_step(s, err)) == STORE_ROW) {
		json_t *l = json_object();
		json_object_set_new(l, "checkout_id", jstr(store_col_text(s, 0, NULL)));
		json_object_set_new(l, "how", jstr(store_col_text(s, 1, NULL)));
		json_object_set_new(l, "origin", jstr(store_col_text(s, 2, NULL)));
		json_array_append_new(links, l);
	}
	store_finalize(s);
	if (r < 0)
		return -1;
	if (store_prepare(st, &s,
			  "SELECT t.status, COUNT(*) FROM checkout_patches cp JOIN builds b ON "
			  "b.checkout_id = cp.checkout_id JOIN tests t ON t.build_id = b.id WHERE "
			  "cp.patch_rid = ? AND t.status IS NOT NULL GROUP BY t.status ORDER BY "
			  "t.status",
			  err) < 0)
		return -1;
	store_bind_int(s, 1, rid);
	while ((r = store_step(s, err)) == STORE_ROW)
		json_object_set_new(counts, store_col_text(s, 0, NULL),
				    json_integer(store_col_int(s, 1)));
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

static json_t *trailer_json(const struct series_trailer *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "key", jstr(t->key));
	json_object_set_new(o, "value", jstr(t->value));
	json_object_set_new(o, "email", jstr(t->email));
	json_object_set_new(o, "from", jstr(t->source_msgid));
	json_object_set_new(o, "to", jstr(t->target_msgid));
	return o;
}

static json_t *series_json(struct store *st, const struct series_info *si, const int64_t *rids,
			   size_t nrids, struct err *err)
{
	json_t *o = json_object(), *a;
	json_object_set_new(o, "root", jstr(si->root_msgid));
	json_object_set_new(o, "subject", jstr(si->subject));
	json_object_set_new(o, "stem", jstr(si->stem));
	json_object_set_new(o, "version", json_integer(si->version));
	json_object_set_new(o, "total", json_integer(si->total));
	json_object_set_new(o, "received", json_integer(si->received));
	json_object_set_new(o, "complete", json_boolean(si->complete));
	json_object_set_new(o, "cover", jstr(si->cover_msgid));
	json_object_set_new(o, "first", jstr(si->first_msgid));
	a = json_object();
	json_object_set_new(a, "name", jstr(si->author_name));
	json_object_set_new(a, "email", jstr(si->author_email));
	json_object_set_new(o, "author", a);
	json_object_set_new(o, "date", jstr(si->date));
	json_object_set_new(o, "list", jstr(si->list_id));
	json_object_set_new(o, "rfc", json_boolean(si->rfc));
	json_object_set_new(o, "resend", json_boolean(si->resend));
	json_object_set_new(o, "tags", jstr(si->tags));
	json_object_set_new(o, "automated", json_boolean(si->automated));
	json_object_set_new(o, "change_id", jstr(si->change_id));
	json_object_set_new(o, "patchset_hash", jstr(si->patchset_hash));
	json_object_set_new(o, "has_base", json_boolean(si->has_base));
	a = json_array();
	for (size_t i = 0; i < si->nbase; i++) {
		json_t *b = json_object();
		json_object_set_new(b, "kind", jstr(si->base[i].kind));
		json_object_set_new(b, "value", jstr(si->base[i].value));
		json_object_set_new(b, "msgid", jstr(si->base[i].msgid));
		json_array_append_new(a, b);
	}
	json_object_set_new(o, "base", a);
	a = json_array();
	for (size_t i = 0; i < si->nversions; i++) {
		json_t *v = json_object();
		json_object_set_new(v, "version", json_integer(si->versions[i].version));
		json_object_set_new(v, "root", jstr(si->versions[i].root_msgid));
		json_object_set_new(v, "date", jstr(si->versions[i].date));
		json_array_append_new(a, v);
	}
	json_object_set_new(o, "versions", a);
	a = json_array();
	for (size_t i = 0; i < si->ntrailers; i++)
		json_array_append_new(a, trailer_json(&si->trailers[i]));
	json_object_set_new(o, "trailers", a);
	json_t *pa = json_array();
	json_object_set_new(o, "patches", pa);
	for (size_t i = 0; i < si->npatches; i++) {
		const struct series_patch *p = &si->patches[i];
		int wanted = 0;
		for (size_t k = 0; k < nrids; k++)
			wanted |= rids[k] == p->rid;
		if (!wanted)
			continue;
		json_t *po = json_object();
		json_object_set_new(po, "msgid", jstr(p->msgid));
		json_object_set_new(po, "kind", jstr(p->kind));
		json_object_set_new(po, "position", json_integer(p->position));
		json_object_set_new(po, "subject", jstr(p->subject));
		json_object_set_new(po, "date", jstr(p->date));
		json_object_set_new(po, "patch_id", jstr(p->patch_id));
		json_t *tr = json_array();
		for (size_t k = 0; k < si->ntrailers; k++)
			if (!strcmp(si->trailers[k].target_msgid, p->msgid))
				json_array_append_new(tr, trailer_json(&si->trailers[k]));
		json_object_set_new(po, "trailers", tr);
		json_t *bs = json_array();
		for (size_t k = 0; k < si->nbase; k++)
			if (!strcmp(si->base[k].msgid, p->msgid)) {
				json_t *b = json_object();
				json_object_set_new(b, "kind", jstr(si->base[k].kind));
				json_object_set_new(b, "value", jstr(si->base[k].value));
				json_array_append_new(bs, b);
			}
		json_object_set_new(po, "base", bs);
		if (patch_details(st, p->rid, po, err) < 0) {
			json_decref(o);
			return NULL;
		}
		json_array_append_new(pa, po);
	}
	return o;
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static void print_text(json_t *s)
{
	json_t *author = json_object_get(s, "author");
	printf("%s\n", json_string_value(json_object_get(s, "subject")));
	printf("  series <%s> v%lld, %lld/%lld patches%s%s%s\n",
	       json_string_value(json_object_get(s, "root")),
	       (long long)json_integer_value(json_object_get(s, "version")),
	       (long long)json_integer_value(json_object_get(s, "received")),
	       (long long)json_integer_value(json_object_get(s, "total")),
	       json_is_true(json_object_get(s, "complete")) ? ", complete" : ", incomplete",
	       json_is_string(json_object_get(s, "cover")) ? ", cover letter" : "",
	       json_is_true(json_object_get(s, "automated")) ? ", automated" : "");
	printf("  from %s <%s>, %s, list %s\n",
	       dash(json_string_value(json_object_get(author, "name"))),
	       dash(json_string_value(json_object_get(author, "email"))),
	       dash(json_string_value(json_object_get(s, "date"))),
	       dash(json_string_value(json_object_get(s, "list"))));
	json_t *base = json_object_get(s, "base");
	if (!json_array_size(base))
		printf("  base: none\n");
	size_t i;
	json_t *v;
	json_array_foreach(base, i, v)
		printf("  base: %s %s\n", json_string_value(json_object_get(v, "kind")),
		       json_string_value(json_object_get(v, "value")));
	json_t *vers = json_object_get(s, "versions");
	if (json_array_size(vers) > 1) {
		printf("  versions:");
		json_array_foreach(vers, i, v)
			printf(" v%lld <%s>", (long long)json_integer_value(json_object_get(v, "version")),
			       json_string_value(json_object_get(v, "root")));
		printf("\n");
	}
	/* review trailers; Signed-off-by, Link and Cc are in --json */
	json_array_foreach(json_object_get(s, "trailers"), i, v) {
		const char *k = json_string_value(json_object_get(v, "key"));
		if (strcmp(k, "Signed-off-by") && strcmp(k, "Link") && strcmp(k, "Cc"))
			printf("  %s: %s\n", k, json_string_value(json_object_get(v, "value")));
	}
	json_array_foreach(json_object_get(s, "patches"), i, v) {
		printf("  [%lld/%lld] <%s>\n", (long long)json_integer_value(json_object_get(v, "position")),
		       (long long)json_integer_value(json_object_get(s, "total")),
		       json_string_value(json_object_get(v, "msgid")));
		printf("        %s\n", json_string_value(json_object_get(v, "subject")));
		if (json_is_string(json_object_get(v, "patch_id")))
			printf("        patch-id %s\n", json_string_value(json_object_get(v, "patch_id")));
		size_t k;
		json_t *f;
		json_array_foreach(json_object_get(v, "files"), k, f)
			printf("        file %s\n", json_string_value(f));
		json_array_foreach(json_object_get(v, "linked"), k, f)
			printf("        linked %s (%s)\n", json_string_value(json_object_get(f, "checkout_id")),
			       json_string_value(json_object_get(f, "how")));
		const char *key;
		json_object_foreach(json_object_get(v, "results"), key, f)
			printf("        %s %lld\n", key, (long long)json_integer_value(f));
	}
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c, status = EXIT_FAILURE_;
	const char *since = NULL;
	int64_t since_unix = 0;
	struct err err = ERR_INIT;
	while ((c = getopt_long(argc, argv, "js:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 's':
			since = optarg;
			if (fmt_parse_date_arg(since, &since_unix) < 0)
				return cli_usage(&cmd_patches,
						 "--since: '%s' is not a date (YYYY-MM-DD or RFC 3339)",
						 since);
			break;
		default:
			return cli_usage(&cmd_patches, NULL);
		}
	}
	struct filter *f = NULL;
	if (filter_parse_argv(argc - optind, argv + optind, &f, &err) < 0) {
		fprintf(stderr, "cifeed: error: %s\n", err_msg(&err));
		err_free(&err);
		return EXIT_USAGE;
	}
	if (cli_store(cli, STORE_READONLY, &err) < 0) {
		filter_free(f);
		return cli_fail(&err);
	}
	struct buf sql = BUF_INIT;
	struct filter_params p = { 0 };
	buf_adds(&sql, "SELECT pa.rid, pa.series_rid FROM patches pa WHERE ");
	if (since)
		buf_addf(&sql, "pa.date_unix >= %lld AND ", (long long)since_unix);
	filter_sql(f, &sql, &p);
	buf_adds(&sql, " ORDER BY pa.date_unix, pa.rid");

	struct store *st = cli->store;
	struct store_stmt *s = NULL;
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	json_t *out = json_array();
	int r = store_begin_read(st, &err);
	if (r == 0)
		r = store_prepare(st, &s, sql.ptr, &err);
	if (r == 0) {
		for (size_t i = 0; i < p.n; i++)
			store_bind_text(s, (int)i + 1, p.v[i], -1);
		while ((r = store_step(s, &err)) == STORE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				rows = xrealloc(rows, cap * sizeof(*rows));
			}
			rows[n].rid = store_col_int(s, 0);
			rows[n].series_rid = store_col_int(s, 1);
			n++;
		}
		store_finalize(s);
	}
	/* one entry per series, in the order of its first matching patch */
	int64_t *rids = xcalloc(n ? n : 1, sizeof(*rids));
	for (size_t i = 0; r >= 0 && i < n; i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= rows[k].series_rid == rows[i].series_rid;
		if (seen)
			continue;
		size_t m = 0;
		for (size_t k = i; k < n; k++)
			if (rows[k].series_rid == rows[i].series_rid)
				rids[m++] = rows[k].rid;
		struct series_info si;
		int g = series_get_rid(st, rows[i].series_rid, &si, &err);
		if (g < 0) {
			r = -1;
			break;
		}
		if (g == 0)
			continue;
		json_t *o = series_json(st, &si, rids, m, &err);
		series_info_free(&si);
		if (!o) {
			r = -1;
			break;
		}
		json_array_append_new(out, o);
	}
	store_rollback(st);
	if (r < 0) {
		status = cli_fail(&err);
	} else {
		if (json) {
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
		} else {
			size_t i;
			json_t *v;
			json_array_foreach(out, i, v) {
				if (i)
					fputc('\n', stdout);
				print_text(v);
			}
		}
		status = json_array_size(out) ? EXIT_OK : EXIT_NO;
	}
	json_decref(out);
	free(rids);
	free(rows);
	buf_free(&sql);
	filter_params_free(&p);
	filter_free(f);
	err_free(&err);
	return status;
}

const struct command cmd_patches = {
	.name = "patches",
	.usage = "[--json] [--since DATE] [FILTER...]",
	.summary = "list the patches and series read from mailing lists",
	.help = "Lists the patches intake stored (cifeed ingest --format mbox, public-inbox\n"
		"sources), grouped by series: Message-ID, subject, author, date, series and\n"
		"version, position, completeness, base information (or none), patch-id,\n"
		"files touched, trailers (own and from replies), other versions, and the\n"
		"results linked to each patch.\n\n"
		"FILTER is the filter language (see cifeed query): list:, author:, file: and\n"
		"msgid: (a patch, or a series by its root Message-ID) match the patch; other\n"
		"keys (status:, tree:, test:, origin:, ...) match the results linked to it,\n"
		"and a negated one (-status:FAIL) means no linked result matches.\n\n"
		"Options:\n"
		"  --json          one JSON array of series objects, each with its matching\n"
		"                  patches (see schema/patches.md)\n"
		"  --since DATE    patches dated at or after DATE (YYYY-MM-DD or RFC 3339)\n\n"
		"Exit status: 0 something listed, 1 nothing matched, 2 usage.\n",
	.run = run,
};
