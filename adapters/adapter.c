/*
 * adapter.c - what every adapter shares (see adapter.h): building a source
 * from its [source "NAME"] section, the output of begin/parse, and reading
 * responses (headers, RFC 8288 Link, JSON with an optional XSSI prefix).
 *
 * Kept apart from the adapters themselves so that an adapter file holds
 * nothing but its upstream's mapping, and from the engine so that adapters
 * and their tests never link against the network code.
 */
#include "adapter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ sources */

char *adapter_default_origin(const char *name)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		int c = tolower(*p);
		buf_addch(&b,
		          (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_');
	}
	if (!b.len)
		buf_adds(&b, "source");
	return buf_detach(&b);
}

int adapter_source_new(const struct config *cfg, const char *name, struct adapter_source **out,
                       struct err *err)
{
	*out = NULL;
	const char *type = config_get(cfg, "source", name, "type");
	if (!type)
		return err_set(err, ERR_NOTFOUND, "%s: no [source \"%s\"] with a type", cfg->path,
		               name);
	const struct adapter *a = adapter_find(type);
	if (!a)
		return err_set(err, ERR_CONFIG,
		               "%s: [source \"%s\"] type: unknown source type '%s'", cfg->path,
		               name, type);
	struct adapter_source *src = xcalloc(1, sizeof(*src));
	src->name = xstrdup(name);
	src->adapter = a;
	const char *url = config_get(cfg, "source", name, "url");
	if (url) {
		size_t l = strlen(url);
		while (l && url[l - 1] == '/')
			l--;
		src->url = xstrndup(url, l);
		if (strncmp(src->url, "http://", 7) && strncmp(src->url, "https://", 8)) {
			err_set(err, ERR_CONFIG,
			        "%s: [source \"%s\"] url: '%s' is not an http:// or https:// URL",
			        cfg->path, name, url);
			goto fail;
		}
	} else if (a->begin) {
		err_set(err, ERR_CONFIG,
		        "%s: [source \"%s\"] url: missing (the base URL of the %s server)",
		        cfg->path, name, a->name);
		goto fail;
	}
	const char *origin = config_get(cfg, "source", name, "origin");
	if (origin)
		src->origin = xstrdup(origin);
	else if (a->default_origin)
		src->origin = xstrdup(a->default_origin);
	else
		src->origin = adapter_default_origin(name);
	if (!kcidb_origin_valid(src->origin)) {
		err_set(err, ERR_CONFIG,
		        "%s: [source \"%s\"] origin: '%s' is not a KCIDB origin ([a-z0-9_]+)",
		        cfg->path, name, src->origin);
		goto fail;
	}
	src->authenticated = config_get(cfg, "source", name, "token-file") ||
	                     config_get(cfg, "source", name, "token-env");
	if (a->init && a->init(src, cfg, err) < 0)
		goto fail;
	*out = src;
	return 0;
fail:
	adapter_source_free(src);
	return -1;
}

void adapter_source_free(struct adapter_source *src)
{
	if (!src)
		return;
	if (src->adapter && src->adapter->fini)
		src->adapter->fini(src);
	free(src->name);
	free(src->origin);
	free(src->url);
	free(src);
}

/* ------------------------------------------------------------------ output */

void adapter_output_init(struct adapter_output *out)
{
	memset(out, 0, sizeof(*out));
	out->doc = kcidb_doc_new();
}

void adapter_request_free(struct adapter_request *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->cache_key);
	json_decref(r->ctx);
	memset(r, 0, sizeof(*r));
}

void adapter_request_copy(struct adapter_request *dst, const struct adapter_request *src)
{
	*dst = *src;
	dst->url = xstrdup(src->url);
	dst->cache_key = src->cache_key ? xstrdup(src->cache_key) : NULL;
	dst->ctx = src->ctx ? json_deep_copy(src->ctx) : NULL;
}

void adapter_output_free(struct adapter_output *out)
{
	json_decref(out->doc);
	json_decref(out->cursor);
	for (size_t i = 0; i < out->nreqs; i++)
		adapter_request_free(&out->reqs[i]);
	free(out->reqs);
	buf_free(&out->notes);
	json_decref(out->links);
	memset(out, 0, sizeof(*out));
}

void adapter_link(struct adapter_output *out, const char *checkout_id, const char *how,
                  const char *value)
{
	if (!checkout_id || !how || !value || !*value)
		return;
	if (!out->links)
		out->links = json_array();
	json_array_append_new(out->links, json_pack("[sss]", checkout_id, how, value));
}

void adapter_note(struct adapter_output *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&out->notes, fmt, ap);
	va_end(ap);
	buf_addch(&out->notes, '\n');
}

void adapter_add(struct adapter_output *out, const struct adapter_source *src, enum kcidb_type t,
                 json_t *obj)
{
	const char *key = kcidb_types[t].plural;
	json_t *arr = json_object_get(out->doc, key);
	if (!arr) {
		arr = json_array();
		json_object_set_new(out->doc, key, arr);
	}
	if (!json_object_get(obj, "origin"))
		json_object_set_new(obj, "origin", json_string(src->origin));
	json_array_append_new(arr, obj);
}

struct adapter_request *adapter_request_add(struct adapter_output *out, unsigned kind,
                                            unsigned flags, json_t *ctx, const char *fmt, ...)
{
	out->reqs = xrealloc(out->reqs, (out->nreqs + 1) * sizeof(*out->reqs));
	struct adapter_request *r = &out->reqs[out->nreqs++];
	memset(r, 0, sizeof(*r));
	struct buf url = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&url, fmt, ap);
	va_end(ap);
	r->url = buf_detach(&url);
	r->kind = kind;
	r->flags = flags;
	r->ctx = ctx;
	return r;
}

void adapter_set_cursor(struct adapter_output *out, json_t *cursor)
{
	json_decref(out->cursor);
	out->cursor = cursor;
}

/* ---------------------------------------------------------------- response */

const char *adapter_header(const struct adapter_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* Does the space-separated relation list [p, end) contain `want`? */
static int rel_has(const char *p, const char *end, const char *want)
{
	size_t wl = strlen(want);
	while (p < end) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		const char *s = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		if ((size_t)(p - s) == wl && !strncasecmp(s, want, wl))
			return 1;
	}
	return 0;
}

char *adapter_link_next(const struct adapter_response *r)
{
	/* Several Link headers may have been folded into one, comma-separated. */
	for (size_t h = 0; h < r->nheaders; h++) {
		if (strcasecmp(r->headers[h].name, "link"))
			continue;
		const char *p = r->headers[h].value;
		while (*p) {
			while (*p == ',' || isspace((unsigned char)*p))
				p++;
			if (*p != '<')
				break;
			const char *us = ++p;
			while (*p && *p != '>')
				p++;
			if (!*p)
				break;
			const char *ue = p++;
			int next = 0;
			/* parameters: ; name [= value | "quoted"] until ',' */
			while (*p && *p != ',') {
				while (*p == ';' || isspace((unsigned char)*p))
					p++;
				const char *ns = p;
				while (*p && *p != '=' && *p != ';' && *p != ',' &&
				       !isspace((unsigned char)*p))
					p++;
				size_t nl = (size_t)(p - ns);
				while (isspace((unsigned char)*p))
					p++;
				const char *vs = p, *ve = p;
				if (*p == '=') {
					p++;
					while (isspace((unsigned char)*p))
						p++;
					if (*p == '"') {
						vs = ++p;
						while (*p && *p != '"') {
							if (*p == '\\' && p[1])
								p++;
							p++;
						}
						ve = p;
						if (*p == '"')
							p++;
					} else {
						vs = p;
						while (*p && *p != ';' && *p != ',')
							p++;
						ve = p;
						while (ve > vs && isspace((unsigned char)ve[-1]))
							ve--;
					}
				}
				if (nl == 3 && !strncasecmp(ns, "rel", 3) &&
				    rel_has(vs, ve, "next"))
					next = 1;
				if (p == ns)
					p++; /* no progress: skip a stray byte */
			}
			if (next && ue > us)
				return xstrndup(us, (size_t)(ue - us));
		}
	}
	return NULL;
}

json_t *adapter_json(const struct adapter_response *r, const char *skip_prefix, struct err *err)
{
	const char *p = r->body ? r->body : "";
	size_t len = r->body ? r->len : 0;
	if (skip_prefix) {
		size_t pl = strlen(skip_prefix);
		if (len >= pl && !memcmp(p, skip_prefix, pl)) {
			p += pl;
			len -= pl;
		}
	}
	json_error_t je;
	json_t *v = json_loadb(p, len, 0, &je);
	if (!v)
		err_set(err, ERR_INVALID, "%s: malformed JSON at line %d column %d: %s", r->url,
		        je.line, je.column, je.text);
	return v;
}
