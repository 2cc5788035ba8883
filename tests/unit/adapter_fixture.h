/*
 * adapter_fixture.h - test helpers shared by tests/unit/test_adapter_*.c:
 * load recorded responses (body + optional raw header file) from
 * $FIXTURES into a struct adapter_response, build sources from a config
 * written to a temporary directory, and run a parse step.
 *
 * Header-only (static functions) because each unit test is its own program.
 */
#ifndef CIFEED_TEST_ADAPTER_FIXTURE_H
#define CIFEED_TEST_ADAPTER_FIXTURE_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "buf.h"
#include "config.h"

struct fx_response {
	struct adapter_response r;
	struct buf body;
	struct buf hdrtext;
	struct adapter_header h[64];
};

static inline const char *fx_dir(void)
{
	const char *f = getenv("FIXTURES");
	cr_assert(f, "FIXTURES is not set");
	return f;
}

/* rel under $FIXTURES, or "local:rel" under $SRCDIR/tests/fixtures (constructed files). */
static inline void fx_read(struct buf *b, const char *rel)
{
	struct buf p = BUF_INIT;
	if (!strncmp(rel, "local:", 6)) {
		const char *src = getenv("SRCDIR");
		cr_assert(src, "SRCDIR is not set");
		buf_addf(&p, "%s/tests/fixtures/%s", src, rel + 6);
	} else {
		buf_addf(&p, "%s/%s", fx_dir(), rel);
	}
	cr_assert(buf_read_file(b, p.ptr, 256u << 20) == 0, "cannot read %s", p.ptr);
	buf_free(&p);
}

/* Maestro fixtures wrap the body as {"_source", "_note", "data"}. */
static inline void fx_unwrap_data(struct buf *b)
{
	json_t *w = json_loadb(b->ptr, b->len, 0, NULL);
	cr_assert(w && json_object_get(w, "data"), "not a wrapped fixture");
	char *s = json_dumps(json_object_get(w, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
	buf_reset(b);
	buf_adds(b, s);
	free(s);
	json_decref(w);
}

/* Parse a raw "HTTP/x NNN\r\nname: value\r\n..." header file into fx->h. */
static inline void fx_headers(struct fx_response *fx, const char *rel)
{
	fx_read(&fx->hdrtext, rel);
	char *p = fx->hdrtext.ptr;
	char *nl = strstr(p, "\n");
	cr_assert(nl);
	if (!strncmp(p, "HTTP/", 5)) {
		char *sp = strchr(p, ' ');
		fx->r.status = sp ? strtol(sp + 1, NULL, 10) : 200;
	}
	p = nl + 1;
	fx->r.nheaders = 0;
	while (*p) {
		nl = strchr(p, '\n');
		char *end = nl ? nl : p + strlen(p);
		char *e = end;
		if (e > p && e[-1] == '\r')
			e--;
		*e = '\0';
		if (e == p)
			break;
		char *colon = strchr(p, ':');
		if (colon && fx->r.nheaders < 64) {
			*colon = '\0';
			for (char *q = p; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			fx->h[fx->r.nheaders].name = p;
			fx->h[fx->r.nheaders].value = v;
			fx->r.nheaders++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	fx->r.headers = fx->h;
}

static inline void fx_load(struct fx_response *fx, const char *body_rel, const char *hdr_rel,
                           const char *url)
{
	memset(fx, 0, sizeof(*fx));
	fx->r.status = 200;
	if (body_rel)
		fx_read(&fx->body, body_rel);
	fx->r.body = buf_cstr(&fx->body);
	fx->r.len = fx->body.len;
	fx->r.url = url;
	fx->r.headers = fx->h;
	if (hdr_rel)
		fx_headers(fx, hdr_rel);
}

static inline void fx_set_body(struct fx_response *fx, const char *s)
{
	buf_reset(&fx->body);
	buf_adds(&fx->body, s);
	fx->r.body = fx->body.ptr;
	fx->r.len = fx->body.len;
}

static inline void fx_free(struct fx_response *fx)
{
	buf_free(&fx->body);
	buf_free(&fx->hdrtext);
}

/* Write `text` as a cifeed.conf in a fresh temp dir and load a source from it. */
static inline struct adapter_source *fx_source(const char *text, const char *name)
{
	char dir[] = "/tmp/cifeed-unit.XXXXXX";
	cr_assert(mkdtemp(dir));
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/cifeed.conf", dir);
	FILE *f = fopen(path.ptr, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	struct config *cfg;
	struct err err = ERR_INIT;
	cr_assert(config_load(path.ptr, &cfg, &err) == 0, "config: %s", err_msg(&err));
	struct adapter_source *src;
	cr_assert(adapter_source_new(cfg, name, &src, &err) == 0, "source: %s", err_msg(&err));
	config_free(cfg);
	unlink(path.ptr);
	rmdir(dir);
	buf_free(&path);
	err_free(&err);
	return src;
}

/* Find an object by id in out->doc[plural]; NULL when absent. */
static inline json_t *fx_obj(const struct adapter_output *out, const char *plural, const char *id)
{
	json_t *arr = json_object_get(out->doc, plural), *o;
	size_t i;
	json_array_foreach (arr, i, o) {
		const char *oid = json_string_value(json_object_get(o, "id"));
		if (oid && !strcmp(oid, id))
			return o;
	}
	return NULL;
}

static inline size_t fx_count(const struct adapter_output *out, const char *plural)
{
	return json_array_size(json_object_get(out->doc, plural));
}

static inline const char *fx_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Run one parse step into a fresh output; asserts success. */
static inline void fx_parse(const struct adapter_source *src, const struct adapter_request *req,
                            const struct adapter_response *resp, struct adapter_output *out)
{
	struct err err = ERR_INIT;
	adapter_output_init(out);
	int r = src->adapter->parse(src, req, resp, out, &err);
	cr_assert(r == 0, "parse failed: %s", err_msg(&err));
	err_free(&err);
}

/* The i-th follow-up request whose URL contains `needle`, or NULL. */
static inline struct adapter_request *fx_req(struct adapter_output *out, const char *needle)
{
	for (size_t i = 0; i < out->nreqs; i++)
		if (strstr(out->reqs[i].url, needle))
			return &out->reqs[i];
	return NULL;
}

/* Validate out->doc as KCIDB v5.3 (what the engine does before storing). */
static inline void fx_assert_valid(struct adapter_output *out)
{
	char ver[16];
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	json_t *copy = json_deep_copy(out->doc);
	int r = kcidb_validate_upgrade(copy, ver, &e);
	cr_assert(r == 0, "invalid KCIDB output (%zu errors):\n%s", e.count, buf_cstr(&e.text));
	kcidb_errors_free(&e);
	json_decref(copy);
}

#endif
