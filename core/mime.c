/*
 * mime.c - safe message rendering and tolerant parsing (see mime.h).
 *
 * Why hand-written: no Debian C library both renders and parses MIME with
 * the guarantees the feeds need (deterministic output, public-inbox's
 * header_raw semantics for commit metadata and content hashes), and the
 * surface is small.  Charset conversion uses iconv, base64 libsodium.
 */
#define _GNU_SOURCE /* memmem */
#include "mime.h"
#include "formats.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ID        244 /* public-inbox MAX_MID_SIZE (Xapian term limit) */
#define HDR_VALUE_MAX 998 /* longest header value we render, bytes */

/* ============================================================ parsing */

static int is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

void mime_parse(struct mime_msg *m, const char *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->data = data;
	m->len = len;
	size_t cap = 0, p = 0;
	m->hdr_end = len;
	m->body_off = len;
	while (p < len) {
		const char *nl = memchr(data + p, '\n', len - p);
		size_t eol = nl ? (size_t)(nl - data) : len; /* index of \n (or len) */
		size_t next = nl ? eol + 1 : len;
		size_t content_end = eol;
		if (content_end > p && data[content_end - 1] == '\r')
			content_end--;
		if (content_end == p) { /* blank line: end of header */
			m->hdr_end = p;
			m->body_off = next;
			if (eol > p)
				m->crlf = 1;
			return;
		}
		if (is_wsp((unsigned char)data[p])) {
			/* continuation of the previous field */
			if (m->nfields) {
				struct mime_field *f = &m->fields[m->nfields - 1];
				f->raw_len = content_end - (size_t)(f->raw - data);
				f->len = next - f->off;
			}
			p = next;
			continue;
		}
		const char *colon = memchr(data + p, ':', content_end - p);
		size_t nlen = colon ? (size_t)(colon - (data + p)) : 0;
		int ok = colon && nlen > 0;
		for (size_t i = 0; ok && i < nlen; i++) {
			unsigned char c = (unsigned char)data[p + i];
			if (c <= 32 || c >= 127)
				ok = 0;
		}
		if (!ok) { /* not a field: garbage line inside the header, skip it */
			if (p == 0 && len >= 5 && !memcmp(data, "From ", 5)) {
				p = next; /* mbox From_ line */
				continue;
			}
			p = next;
			continue;
		}
		if (m->nfields == cap) {
			cap = cap ? cap * 2 : 16;
			m->fields = xrealloc(m->fields, cap * sizeof(*m->fields));
		}
		struct mime_field *f = &m->fields[m->nfields++];
		f->name = data + p;
		f->name_len = nlen;
		f->raw = colon + 1;
		f->raw_len = content_end - (size_t)(colon + 1 - data);
		f->off = p;
		f->len = next - p;
		if (eol > content_end)
			m->crlf = 1;
		p = next;
	}
}

void mime_msg_free(struct mime_msg *m)
{
	free(m->fields);
	m->fields = NULL;
	m->nfields = 0;
}

static int name_is(const struct mime_field *f, const char *name)
{
	return strlen(name) == f->name_len && !strncasecmp(f->name, name, f->name_len);
}

size_t mime_count(const struct mime_msg *m, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nfields; i++)
		n += name_is(&m->fields[i], name);
	return n;
}

void mime_unfold(const char *s, size_t len, struct buf *out)
{
	size_t a = 0, b = len;
	while (a < b && isspace((unsigned char)s[a]))
		a++;
	while (b > a && isspace((unsigned char)s[b - 1]))
		b--;
	buf_grow(out, b - a);
	for (size_t i = a; i < b; i++) {
		if (s[i] == '\r' && i + 1 < b && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n') {
			buf_addch(out, ' ');
			while (i + 1 < b && is_wsp((unsigned char)s[i + 1]))
				i++;
			continue;
		}
		buf_addch(out, s[i]);
	}
}

int mime_get(const struct mime_msg *m, const char *name, size_t nth, struct buf *out)
{
	for (size_t i = 0; i < m->nfields; i++) {
		const struct mime_field *f = &m->fields[i];
		if (!name_is(f, name))
			continue;
		if (nth--)
			continue;
		mime_unfold(f->raw, f->raw_len, out);
		return 1;
	}
	return 0;
}

int mime_get_decoded(const struct mime_msg *m, const char *name, size_t nth, struct buf *out)
{
	struct buf raw = BUF_INIT, dec = BUF_INIT;
	int r = mime_get(m, name, nth, &raw);
	if (r) {
		mime_decode_words(raw.ptr, raw.len, &dec);
		for (size_t i = 0; i < dec.len; i++) {
			char c = dec.ptr[i];
			if (c == '\r')
				continue;
			buf_addch(out, c == '\0' || c == '\t' || c == '\n' ? ' ' : c);
		}
	}
	buf_free(&raw);
	buf_free(&dec);
	return r;
}

/* ------------------------------------------------------------ UTF-8 */

/* Decode one code point; returns its length, or 0 when s[0..] is not well-formed. */
static size_t utf8_one(const unsigned char *s, size_t len, uint32_t *cp)
{
	if (!len)
		return 0;
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n;
	uint32_t v, min;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static void add_replacement(struct buf *out)
{
	buf_add(out, "\xef\xbf\xbd", 3);
}

/* Valid UTF-8 with bad bytes replaced, everything else as is. */
static void utf8_fix(const char *s, size_t len, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_one(u + i, len - i, &cp);
		if (!n) {
			add_replacement(out);
			i++;
			continue;
		}
		buf_add(out, s + i, n);
		i += n;
	}
}

void mime_text_sanitize(const char *s, size_t len, struct buf *out, int keep_lines)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	buf_grow(out, len);
	while (i < len) {
		/* printable ASCII, the bulk of any text, is copied a run at a time */
		size_t run = i;
		while (run < len && u[run] >= 0x20 && u[run] < 0x7f)
			run++;
		if (run > i) {
			buf_add(out, s + i, run - i);
			i = run;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_one(u + i, len - i, &cp);
		if (!n) {
			add_replacement(out);
			i++;
			continue;
		}
		if (cp == '\r' || cp == 0) {
			/* dropped */
		} else if (cp == '\n' || cp == '\t') {
			buf_addch(out, keep_lines ? (char)cp : ' ');
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 ||
		           cp == 0x2029) {
			buf_addch(out, ' ');
		} else {
			buf_add(out, s + i, n);
		}
		i += n;
	}
}

/* ------------------------------------------------------------ RFC 2047 */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mime_base64_decode(const char *s, size_t len, struct buf *out)
{
	/* tolerant: skip anything outside the alphabet, stop at '=' */
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0, bad = 0;
	buf_grow(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '=')
			break;
		const char *p = c ? strchr(alpha, c) : NULL;
		if (!p) {
			if (!isspace((unsigned char)c))
				bad = 1;
			continue;
		}
		acc = (acc << 6) | (uint32_t)(p - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
	return bad ? -1 : 0;
}

void mime_qp_decode(const char *s, size_t len, struct buf *out)
{
	buf_grow(out, len);
	size_t i = 0;
	while (i < len) {
		/* strip trailing whitespace of each line (RFC 2045 6.7 rule 3) */
		const char *nl = memchr(s + i, '\n', len - i);
		size_t eol = nl ? (size_t)(nl - s) : len, end = eol;
		if (end > i && s[end - 1] == '\r')
			end--;
		while (end > i && is_wsp((unsigned char)s[end - 1]))
			end--;
		int soft = 0;
		for (size_t k = i; k < end; k++) {
			if (s[k] == '=') {
				if (k + 1 == end) {
					soft = 1;
					break;
				}
				int h = k + 2 < end ? hexval((unsigned char)s[k + 1]) : -1;
				int l = k + 2 < end ? hexval((unsigned char)s[k + 2]) : -1;
				if (h >= 0 && l >= 0) {
					buf_addch(out, (char)(h * 16 + l));
					k += 2;
					continue;
				}
			}
			buf_addch(out, s[k]);
		}
		if (nl && !soft)
			buf_addch(out, '\n');
		i = nl ? eol + 1 : len;
	}
}

static void charset_convert(const char *cs, const char *s, size_t len, struct buf *out)
{
	char name[64];
	size_t n = 0;
	for (; cs[n] && cs[n] != '*' && n < sizeof(name) - 1; n++)
		name[n] = (char)tolower((unsigned char)cs[n]);
	name[n] = '\0';
	if (!strcmp(name, "utf-8") || !strcmp(name, "utf8") || !strcmp(name, "us-ascii") ||
	    !strcmp(name, "ascii")) {
		utf8_fix(s, len, out);
		return;
	}
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		utf8_fix(s, len, out);
		return;
	}
	char *in = (char *)s;
	size_t inleft = len;
	while (inleft) {
		char tmp[1024];
		char *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		buf_add(out, tmp, sizeof(tmp) - oleft);
		if (r == (size_t)-1 && errno != E2BIG) {
			add_replacement(out); /* invalid or incomplete input byte */
			in++;
			inleft--;
		}
	}
	iconv_close(cd);
}

/* Try to decode one encoded word at s (which starts with "=?"); returns its length or 0. */
static size_t decode_word(const char *s, size_t len, struct buf *out)
{
	const char *end = s + len;
	const char *q1 = memchr(s + 2, '?', (size_t)(end - s - 2));
	if (!q1 || q1 == s + 2 || q1 + 3 >= end || q1[2] != '?')
		return 0;
	char enc = (char)toupper((unsigned char)q1[1]);
	if (enc != 'B' && enc != 'Q')
		return 0;
	const char *text = q1 + 3, *t = text;
	while (t + 1 < end && !(t[0] == '?' && t[1] == '='))
		t++;
	if (t + 1 >= end)
		return 0;
	for (const char *c = s + 2; c < q1; c++)
		if (isspace((unsigned char)*c))
			return 0;
	for (const char *c = text; c < t; c++)
		if (isspace((unsigned char)*c))
			return 0;
	char cs[64];
	size_t cl = (size_t)(q1 - (s + 2));
	if (cl >= sizeof(cs))
		return 0;
	memcpy(cs, s + 2, cl);
	cs[cl] = '\0';
	struct buf raw = BUF_INIT;
	if (enc == 'B') {
		mime_base64_decode(text, (size_t)(t - text), &raw);
	} else {
		for (const char *c = text; c < t; c++) {
			if (*c == '_')
				buf_addch(&raw, ' ');
			else if (*c == '=' && c + 2 < t && hexval((unsigned char)c[1]) >= 0 &&
			         hexval((unsigned char)c[2]) >= 0) {
				buf_addch(&raw, (char)(hexval((unsigned char)c[1]) * 16 +
				                       hexval((unsigned char)c[2])));
				c += 2;
			} else
				buf_addch(&raw, *c);
		}
	}
	charset_convert(cs, raw.ptr ? raw.ptr : "", raw.len, out);
	buf_free(&raw);
	return (size_t)(t + 2 - s);
}

void mime_decode_words(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	int prev_word = 0;
	size_t ws_out = 0;
	while (i < len) {
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?') {
			size_t mark = out->len;
			size_t n = decode_word(s + i, len - i, out);
			if (n) {
				if (prev_word && ws_out < mark) {
					/* whitespace between two encoded words is dropped */
					memmove(out->ptr + ws_out, out->ptr + mark,
					        out->len - mark);
					buf_truncate(out, out->len - (mark - ws_out));
				}
				i += n;
				prev_word = 1;
				ws_out = out->len;
				continue;
			}
		}
		if (!is_wsp((unsigned char)s[i]) && s[i] != '\r' && s[i] != '\n')
			prev_word = 0;
		buf_addch(out, s[i]);
		i++;
	}
}

/* ------------------------------------------------------------ ids */

void mime_ids_add(struct mime_ids *ids, const char *id, size_t len)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len; i++)
		if (id[i] != '\n' && id[i] != '\t' && id[i] != '\r')
			buf_addch(&b, id[i]);
	if (b.len > MAX_ID)
		buf_truncate(&b, MAX_ID);
	const char *v = buf_cstr(&b);
	if (mime_ids_has(ids, v)) {
		buf_free(&b);
		return;
	}
	ids->v = xrealloc(ids->v, (ids->n + 1) * sizeof(*ids->v));
	ids->v[ids->n++] = b.ptr ? buf_detach(&b) : xstrdup("");
}

int mime_ids_has(const struct mime_ids *ids, const char *id)
{
	for (size_t i = 0; i < ids->n; i++)
		if (!strcmp(ids->v[i], id))
			return 1;
	return 0;
}

void mime_ids_free(struct mime_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->v[i]);
	free(ids->v);
	ids->v = NULL;
	ids->n = 0;
}

void mime_ids_extract(const char *value, size_t len, struct mime_ids *ids)
{
	size_t i = 0;
	while (i < len) {
		const char *lt = memchr(value + i, '<', len - i);
		if (!lt)
			break;
		size_t a = (size_t)(lt - value) + 1;
		const char *gt = memchr(value + a, '>', len - a);
		if (!gt)
			break;
		size_t b = (size_t)(gt - value);
		if (b > a)
			mime_ids_add(ids, value + a, b - a);
		i = b + 1;
	}
}

void mime_msg_ids(const struct mime_msg *m, struct mime_ids *ids)
{
	struct buf v = BUF_INIT;
	for (size_t k = 0; mime_get(m, "Message-ID", k, &v); k++) {
		mime_ids_extract(v.ptr, v.len, ids);
		buf_reset(&v);
	}
	buf_free(&v);
}

void mime_msg_refs(const struct mime_msg *m, struct mime_ids *ids)
{
	struct mime_ids own = {0}, all = {0}, addrs = {0};
	struct buf v = BUF_INIT;
	mime_msg_ids(m, &own);
	static const char *const hs[] = {"References", "In-Reply-To"};
	for (int h = 0; h < 2; h++)
		for (size_t k = 0; mime_get(m, hs[h], k, &v); k++) {
			mime_ids_extract(v.ptr, v.len, &all);
			buf_reset(&v);
		}
	/* public-inbox ignores ids that are really addresses of To/From/Cc */
	static const char *const as[] = {"To", "From", "Cc"};
	for (int h = 0; h < 3; h++)
		for (size_t k = 0; mime_get(m, as[h], k, &v); k++) {
			struct buf name = BUF_INIT, addr = BUF_INIT;
			mime_addr_parse(v.ptr, v.len, &name, &addr);
			if (addr.len)
				mime_ids_add(&addrs, addr.ptr, addr.len);
			buf_free(&name);
			buf_free(&addr);
			buf_reset(&v);
		}
	for (size_t i = 0; i < all.n; i++)
		if (!mime_ids_has(&own, all.v[i]) && !mime_ids_has(&addrs, all.v[i]) &&
		    strcmp(all.v[i], "y") && strcmp(all.v[i], "n"))
			mime_ids_add(ids, all.v[i], strlen(all.v[i]));
	buf_free(&v);
	mime_ids_free(&own);
	mime_ids_free(&all);
	mime_ids_free(&addrs);
}

/* ------------------------------------------------------------ addresses */

static void trim_into(const char *s, size_t len, struct buf *out)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	buf_add(out, s, len);
}

void mime_addr_parse(const char *value, size_t len, struct buf *name, struct buf *addr)
{
	/* the first address: up to a ',' outside quotes, <> and comments */
	size_t end = 0;
	int q = 0, angle = 0, paren = 0;
	for (; end < len; end++) {
		char c = value[end];
		if (q) {
			if (c == '\\' && end + 1 < len)
				end++;
			else if (c == '"')
				q = 0;
			continue;
		}
		if (c == '"')
			q = 1;
		else if (c == '<')
			angle++;
		else if (c == '>' && angle)
			angle--;
		else if (c == '(')
			paren++;
		else if (c == ')' && paren)
			paren--;
		else if (c == ',' && !angle && !paren)
			break;
	}
	struct buf phrase = BUF_INIT, comment = BUF_INIT, spec = BUF_INIT;
	const char *lt = NULL, *gt = NULL;
	q = 0;
	for (size_t i = 0; i < end; i++) {
		char c = value[i];
		if (q) {
			if (c == '\\' && i + 1 < end)
				c = value[++i];
			else if (c == '"') {
				q = 0;
				continue;
			}
			buf_addch(&phrase, c);
			continue;
		}
		if (c == '"') {
			q = 1;
			continue;
		}
		if (c == '<' && !lt) {
			lt = value + i;
			const char *g = memchr(lt, '>', end - i);
			if (g) {
				gt = g;
				i = (size_t)(g - value);
			}
			continue;
		}
		if (c == '(') {
			int depth = 1;
			size_t k = i + 1;
			for (; k < end && depth; k++) {
				if (value[k] == '(')
					depth++;
				else if (value[k] == ')')
					depth--;
				if (depth)
					buf_addch(&comment, value[k]);
			}
			i = k - 1;
			continue;
		}
		buf_addch(&phrase, c);
	}
	if (lt && gt) {
		trim_into(lt + 1, (size_t)(gt - lt - 1), &spec);
	} else {
		/* no angle brackets: the phrase is the address */
		trim_into(phrase.ptr ? phrase.ptr : "", phrase.len, &spec);
		buf_reset(&phrase);
	}
	struct buf ph = BUF_INIT;
	trim_into(phrase.ptr ? phrase.ptr : "", phrase.len, &ph);
	/* collapse whitespace runs like Email::Address::XS */
	struct buf disp = BUF_INIT;
	if (ph.len) {
		mime_decode_words(ph.ptr, ph.len, &disp);
	} else if (comment.len) {
		struct buf c2 = BUF_INIT;
		trim_into(comment.ptr, comment.len, &c2);
		mime_decode_words(buf_cstr(&c2), c2.len, &disp);
		buf_free(&c2);
	}
	if (name) {
		for (size_t i = 0; i < disp.len; i++) {
			char c = disp.ptr[i];
			if (isspace((unsigned char)c)) {
				while (i + 1 < disp.len && isspace((unsigned char)disp.ptr[i + 1]))
					i++;
				c = ' ';
			}
			buf_addch(name, c);
		}
	}
	if (addr)
		buf_add(addr, spec.ptr ? spec.ptr : "", spec.len);
	buf_free(&phrase);
	buf_free(&comment);
	buf_free(&spec);
	buf_free(&ph);
	buf_free(&disp);
}

/* ------------------------------------------------------------ params */

int mime_param(const char *value, size_t len, const char *param, struct buf *out)
{
	size_t plen = strlen(param), i = 0;
	int q = 0;
	/* skip the type itself */
	while (i < len && value[i] != ';')
		i++;
	while (i < len) {
		if (value[i] != ';') {
			i++;
			continue;
		}
		i++;
		while (i < len && isspace((unsigned char)value[i]))
			i++;
		size_t ns = i;
		while (i < len && value[i] != '=' && value[i] != ';' &&
		       !isspace((unsigned char)value[i]))
			i++;
		size_t nl = i - ns;
		while (i < len && isspace((unsigned char)value[i]))
			i++;
		if (i >= len || value[i] != '=')
			continue;
		i++;
		while (i < len && isspace((unsigned char)value[i]))
			i++;
		int match = nl == plen && !strncasecmp(value + ns, param, plen);
		struct buf v = BUF_INIT;
		if (i < len && value[i] == '"') {
			q = 1;
			for (i++; i < len && q; i++) {
				if (value[i] == '\\' && i + 1 < len)
					buf_addch(&v, value[++i]);
				else if (value[i] == '"')
					q = 0;
				else
					buf_addch(&v, value[i]);
			}
		} else {
			size_t vs = i;
			while (i < len && value[i] != ';' && !isspace((unsigned char)value[i]))
				i++;
			buf_add(&v, value + vs, i - vs);
		}
		if (match) {
			buf_add(out, v.ptr ? v.ptr : "", v.len);
			buf_free(&v);
			return 1;
		}
		buf_free(&v);
	}
	return 0;
}

/* ------------------------------------------------------------ parts */

#define PARTS_MAX 1000
#define NEST_MAX  20

struct parts_ctx {
	struct mime_part *v;
	size_t n, cap;
};

static char *lower_dup(const char *s, size_t len)
{
	char *r = xstrndup(s, len);
	for (char *c = r; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return r;
}

static void add_leaf(struct parts_ctx *ctx, const struct mime_msg *m, const char *ctv, size_t ctl,
                     int depth, const char *idx)
{
	if (ctx->n >= PARTS_MAX)
		return;
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 4;
		ctx->v = xrealloc(ctx->v, ctx->cap * sizeof(*ctx->v));
	}
	struct mime_part *p = &ctx->v[ctx->n++];
	memset(p, 0, sizeof(*p));
	size_t tl = 0;
	while (tl < ctl && ctv[tl] != ';')
		tl++;
	struct buf t = BUF_INIT, tmp = BUF_INIT;
	trim_into(ctv, tl, &t);
	p->ctype = t.len ? lower_dup(t.ptr, t.len) : xstrdup("text/plain");
	buf_free(&t);
	if (mime_param(ctv, ctl, "charset", &tmp))
		p->charset = lower_dup(tmp.ptr ? tmp.ptr : "", tmp.len);
	buf_reset(&tmp);
	struct buf cd = BUF_INIT;
	if ((mime_get(m, "Content-Disposition", 0, &cd) &&
	     mime_param(cd.ptr, cd.len, "filename", &tmp)) ||
	    mime_param(ctv, ctl, "name", &tmp)) {
		struct buf d = BUF_INIT;
		mime_decode_words(buf_cstr(&tmp), tmp.len, &d);
		p->filename = buf_detach(&d);
	}
	buf_free(&cd);
	buf_reset(&tmp);
	if (mime_get_decoded(m, "Content-Description", 0, &tmp))
		p->description = buf_detach(&tmp);
	buf_reset(&tmp);
	const char *body = m->data + m->body_off;
	size_t blen = m->len - m->body_off;
	mime_get(m, "Content-Transfer-Encoding", 0, &tmp);
	const char *cte = buf_cstr(&tmp);
	if (!strcasecmp(cte, "base64"))
		mime_base64_decode(body, blen, &p->body);
	else if (!strcasecmp(cte, "quoted-printable"))
		mime_qp_decode(body, blen, &p->body);
	else
		buf_add(&p->body, body, blen);
	if (!p->body.ptr)
		buf_adds(&p->body, "");
	buf_free(&tmp);
	p->depth = depth;
	snprintf(p->idx, sizeof(p->idx), "%s", idx);
}

/* Find "--boundary" at a line start from pos; returns offset of the line or len. */
static size_t find_delim(const char *s, size_t len, size_t pos, const char *bd, size_t bl,
                         int *closing, size_t *after)
{
	while (pos < len) {
		int at_line = pos == 0 || s[pos - 1] == '\n';
		if (at_line && len - pos >= bl + 2 && s[pos] == '-' && s[pos + 1] == '-' &&
		    !memcmp(s + pos + 2, bd, bl)) {
			size_t e = pos + 2 + bl;
			*closing = len - e >= 2 && s[e] == '-' && s[e + 1] == '-';
			if (*closing)
				e += 2;
			/* only whitespace may follow on the delimiter line */
			size_t k = e;
			while (k < len && is_wsp((unsigned char)s[k]))
				k++;
			if (k >= len || s[k] == '\n' || s[k] == '\r') {
				if (k < len && s[k] == '\r')
					k++;
				if (k < len && s[k] == '\n')
					k++;
				*after = k;
				return pos;
			}
		}
		const char *nl = memchr(s + pos, '\n', len - pos);
		if (!nl)
			break;
		pos = (size_t)(nl - s) + 1;
	}
	return len;
}

static void walk(struct parts_ctx *ctx, const char *data, size_t len, int depth, const char *idx,
                 int sub)
{
	struct mime_msg m;
	/* a part that starts with a blank line has no header */
	if (sub && len && (data[0] == '\n' || (len > 1 && data[0] == '\r' && data[1] == '\n'))) {
		memset(&m, 0, sizeof(m));
		m.data = data;
		m.len = len;
		m.body_off = data[0] == '\n' ? 1 : 2;
	} else {
		mime_parse(&m, data, len);
	}
	struct buf ct = BUF_INIT, bd = BUF_INIT;
	mime_get(&m, "Content-Type", 0, &ct);
	int multipart = ct.len >= 10 && !strncasecmp(ct.ptr, "multipart/", 10);
	if (!multipart || depth >= NEST_MAX || !mime_param(ct.ptr, ct.len, "boundary", &bd) ||
	    !bd.len) {
		add_leaf(ctx, &m, buf_cstr(&ct), ct.len, depth, idx);
		goto out;
	}
	const char *body = data + m.body_off;
	size_t blen = len - m.body_off, after = 0;
	int closing = 0;
	size_t pos = find_delim(body, blen, 0, bd.ptr, bd.len, &closing, &after);
	if (pos >= blen || closing) { /* no parts: treat as a leaf */
		add_leaf(ctx, &m, buf_cstr(&ct), ct.len, depth, idx);
		goto out;
	}
	int k = 0;
	while (!closing && ctx->n < PARTS_MAX) {
		size_t start = after, next_after = 0;
		int next_closing = 0;
		size_t end =
		    find_delim(body, blen, start, bd.ptr, bd.len, &next_closing, &next_after);
		size_t pend = end;
		/* the line break before the delimiter belongs to it */
		if (end < blen || (end == blen && 0)) {
			if (pend > start && body[pend - 1] == '\n')
				pend--;
			if (pend > start && body[pend - 1] == '\r')
				pend--;
		}
		char sidx[64];
		snprintf(sidx, sizeof(sidx), "%s%s%d", idx, *idx ? "." : "", ++k);
		walk(ctx, body + start, pend - start, depth + 1, sidx, 1);
		if (end >= blen)
			break;
		closing = next_closing;
		after = next_after;
	}
out:
	buf_free(&ct);
	buf_free(&bd);
	if (m.fields)
		mime_msg_free(&m);
}

size_t mime_parts(const struct mime_msg *m, struct mime_part **parts)
{
	struct parts_ctx ctx = {0};
	struct buf ct = BUF_INIT, bd = BUF_INIT;
	mime_get(m, "Content-Type", 0, &ct);
	int multipart = ct.len >= 10 && !strncasecmp(ct.ptr, "multipart/", 10) &&
	                mime_param(ct.ptr, ct.len, "boundary", &bd) && bd.len;
	if (!multipart)
		add_leaf(&ctx, m, buf_cstr(&ct), ct.len, 0, "1");
	else
		walk(&ctx, m->data, m->len, 0, "", 0);
	buf_free(&ct);
	buf_free(&bd);
	*parts = ctx.v;
	return ctx.n;
}

void mime_parts_free(struct mime_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(parts[i].ctype);
		free(parts[i].charset);
		free(parts[i].filename);
		free(parts[i].description);
		buf_free(&parts[i].body);
	}
	free(parts);
}

/* ------------------------------------------------------------ dates */

static const char *const months[] = {"january",   "february", "march",    "april",
                                     "may",       "june",     "july",     "august",
                                     "september", "october",  "november", "december"};

static int month_of(const char *s, size_t len)
{
	char low[16];
	if (len >= sizeof(low))
		return -1;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	low[len] = '\0';
	for (int i = 0; i < 12; i++)
		if (!strcmp(low, months[i]) || (len == 3 && !strncmp(low, months[i], 3)))
			return i;
	return -1;
}

static const struct {
	const char *name;
	int minutes;
} obsolete_tz[] = {
    {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300}, {"MST", -420}, {"MDT", -360},
    {"PST", -480}, {"PDT", -420}, {"UT", 0},     {"GMT", 0},    {"Z", 0},
};

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int mdays(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m];
}

static size_t digits(const char *s, size_t i, size_t len)
{
	size_t k = i;
	while (k < len && isdigit((unsigned char)s[k]))
		k++;
	return k - i;
}

static size_t spaces(const char *s, size_t i, size_t len)
{
	size_t k = i;
	while (k < len && isspace((unsigned char)s[k]))
		k++;
	return k - i;
}

/* "MM" part: two digits, or an optional space and one digit */
static int two(const char *s, size_t *i, size_t len, int *out)
{
	size_t k = *i;
	if (k + 1 < len && isdigit((unsigned char)s[k]) && isdigit((unsigned char)s[k + 1])) {
		*out = (s[k] - '0') * 10 + (s[k + 1] - '0');
		*i = k + 2;
		return 1;
	}
	if (k < len && s[k] == ' ' && k + 1 < len && isdigit((unsigned char)s[k + 1])) {
		*out = s[k + 1] - '0';
		*i = k + 2;
		return 1;
	}
	if (k < len && isdigit((unsigned char)s[k])) {
		*out = s[k] - '0';
		*i = k + 1;
		return 1;
	}
	return 0;
}

static int date_at(const char *s, size_t i, size_t len, int64_t *t, int *tz)
{
	size_t n = digits(s, i, len);
	if (!n || n > 9)
		return 0;
	int dd = atoi(s + i);
	i += n;
	if (i < len && s[i] == ',')
		i++;
	if (!(n = spaces(s, i, len)))
		return 0;
	i += n;
	size_t ms = i;
	while (i < len && isalpha((unsigned char)s[i]))
		i++;
	if (i == ms)
		return 0;
	int mon = month_of(s + ms, i - ms);
	if (!(n = spaces(s, i, len)))
		return 0;
	i += n;
	n = digits(s, i, len);
	if (n < 2 || n > 4)
		return 0;
	int64_t yyyy = atoi(s + i);
	i += n;
	if (n <= 3) {
		yyyy += 1900;
		if (yyyy < 1950)
			yyyy += 100;
	}
	if (!(n = spaces(s, i, len)))
		return 0;
	i += n;
	n = digits(s, i, len);
	if (!n || n > 9)
		return 0;
	int hh = atoi(s + i);
	i += n;
	if (i >= len || (s[i] != ':' && s[i] != '.'))
		return 0;
	i++;
	int mm, ss = 0;
	if (!two(s, &i, len, &mm))
		return 0;
	if (i < len && (s[i] == ':' || s[i] == '.')) {
		size_t save = i++;
		if (!two(s, &i, len, &ss))
			i = save;
	}
	if (!(n = spaces(s, i, len)))
		return 0;
	i += n;
	int sign = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		sign = s[i++] == '-' ? -1 : 1;
	while (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	int tzh = 0, tzm = 0;
	n = digits(s, i, len);
	if (n) {
		if (n > 6)
			return 0;
		char tzs[8];
		memcpy(tzs, s + i, n);
		tzs[n] = '\0';
		if (n == 1)
			tzh = atoi(tzs);
		else if (n == 2)
			tzm = atoi(tzs);
		else {
			tzm = atoi(tzs + n - 2);
			tzs[n - 2] = '\0';
			tzh = atoi(tzs);
		}
		i += n;
	} else {
		size_t a = i;
		while (i < len && isalpha((unsigned char)s[i]))
			i++;
		int found = 0;
		for (size_t k = 0; k < sizeof(obsolete_tz) / sizeof(*obsolete_tz); k++)
			if (strlen(obsolete_tz[k].name) == i - a &&
			    !strncmp(obsolete_tz[k].name, s + a, i - a)) {
				int v = obsolete_tz[k].minutes;
				sign = v < 0 ? -1 : 1;
				tzh = abs(v) / 60;
				tzm = abs(v) % 60;
				found = 1;
			}
		if (!found)
			return 0;
	}
	if (i < len && !isspace((unsigned char)s[i]))
		return 0;
	/* the pattern matched; now the values must make a date (else: no date at all) */
	if (mon < 0)
		return -1;
	if (dd < 1 || dd > mdays((int)yyyy, mon) || hh > 23 || mm > 59 || ss > 59)
		return -1;
	int64_t ts = days_from_civil(yyyy, (unsigned)mon + 1, (unsigned)dd) * 86400 + hh * 3600 +
	             mm * 60 + ss;
	if (ts < 0)
		return -1;
	while (tzm >= 60) {
		tzm -= 60;
		tzh++;
	}
	if (!sign)
		sign = 1;
	int64_t off = sign * (tzm * 60 + (int64_t)tzh * 3600);
	ts -= off;
	int zone = tzh * 100 + tzm;
	*t = ts;
	*tz = zone >= 1400 ? 0 : sign * (tzh * 60 + tzm);
	return 1;
}

int mime_date_parse(const char *s, int64_t *t, int *tz_minutes)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]) || (i && isdigit((unsigned char)s[i - 1])))
			continue;
		int r = date_at(s, i, len, t, tz_minutes);
		if (r > 0)
			return 0;
		if (r < 0)
			return -1;
	}
	return -1;
}

/* ============================================================ rendering */

static int plain_ascii(const char *s, size_t len)
{
	size_t word = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return 0;
		if (c == '=' && i + 1 < len && s[i + 1] == '?')
			return 0;
		word = c == ' ' ? 0 : word + 1;
		if (word > 70)
			return 0;
	}
	return 1;
}

/* Clip to HDR_VALUE_MAX bytes at a character boundary, marking the cut. */
static void clip_value(struct buf *v)
{
	if (v->len <= HDR_VALUE_MAX)
		return;
	size_t keep = utf8_clip(v->ptr, v->len, HDR_VALUE_MAX - 3);
	buf_truncate(v, keep);
	buf_adds(v, "\xe2\x80\xa6"); /* ... */
}

static void fold_plain(struct buf *out, size_t col, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t a = i;
		while (i < len && s[i] == ' ')
			i++;
		while (i < len && s[i] != ' ')
			i++;
		size_t tok = i - a;
		if (a > 0 && col + tok > 78 && s[a] == ' ') {
			buf_addch(out, '\n');
			col = 0;
		}
		buf_add(out, s + a, tok);
		col += tok;
	}
}

/* Encoded words for s, each at most 75 columns, lines folded; col = current column. */
static void encode_words(struct buf *out, size_t col, const char *s, size_t len)
{
	size_t i = 0;
	do {
		size_t avail; /* base64 characters that fit on this line */
		if (col + 1 + 12 + 8 > 76) {
			buf_addch(out, '\n');
			col = 0;
		}
		avail = 76 - col - 1 - 12;
		if (avail > 60)
			avail = 60; /* an encoded word is at most 75 characters */
		size_t bytes = avail / 4 * 3;
		size_t take = utf8_clip(s + i, len - i, bytes);
		if (!take && i < len)
			take = len - i < bytes ? len - i : bytes;
		char b64[128];
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)s + i, take,
		                  sodium_base64_VARIANT_ORIGINAL);
		buf_addf(out, " =?UTF-8?B?%s?=", b64);
		col += 1 + 12 + strlen(b64);
		i += take;
		if (i < len) {
			buf_addch(out, '\n');
			col = 0;
		}
	} while (i < len);
}

void mime_add_textn(struct buf *out, const char *name, const char *value, size_t len)
{
	struct buf v = BUF_INIT, t = BUF_INIT;
	mime_text_sanitize(value, len, &v, 0);
	trim_into(buf_cstr(&v), v.len, &t);
	clip_value(&t);
	buf_adds(out, name);
	buf_addch(out, ':');
	if (plain_ascii(buf_cstr(&t), t.len)) {
		buf_addch(out, ' ');
		fold_plain(out, strlen(name) + 2, buf_cstr(&t), t.len);
	} else {
		encode_words(out, strlen(name) + 1, buf_cstr(&t), t.len);
	}
	buf_addch(out, '\n');
	buf_free(&v);
	buf_free(&t);
}

void mime_add_text(struct buf *out, const char *name, const char *value)
{
	mime_add_textn(out, name, value ? value : "", value ? strlen(value) : 0);
}

static int is_atext_phrase(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == ' ' || strchr("!#$%&'*+-/=?^_`{|}~", c))
			continue;
		return 0;
	}
	return !(len >= 2 && strstr(s, "=?"));
}

int mime_add_addr(struct buf *out, const char *name, const char *display, const char *addr)
{
	if (!addr || !fmt_is_email(addr))
		return -1;
	struct buf v = BUF_INIT, t = BUF_INIT;
	mime_text_sanitize(display ? display : "", display ? strlen(display) : 0, &v, 0);
	trim_into(buf_cstr(&v), v.len, &t);
	if (t.len > 200)
		buf_truncate(&t, utf8_clip(t.ptr, t.len, 200));
	buf_adds(out, name);
	buf_addch(out, ':');
	if (!t.len) {
		buf_addf(out, " %s\n", addr);
	} else if (is_atext_phrase(t.ptr, t.len) && t.len + strlen(addr) + strlen(name) < 70) {
		buf_addf(out, " %s <%s>\n", t.ptr, addr);
	} else if (plain_ascii(t.ptr, t.len) && t.len + strlen(addr) + strlen(name) < 66) {
		buf_adds(out, " \"");
		for (size_t i = 0; i < t.len; i++) {
			if (t.ptr[i] == '"' || t.ptr[i] == '\\')
				buf_addch(out, '\\');
			buf_addch(out, t.ptr[i]);
		}
		buf_addf(out, "\" <%s>\n", addr);
	} else {
		encode_words(out, strlen(name) + 1, t.ptr, t.len);
		buf_addf(out, "\n <%s>\n", addr);
	}
	buf_free(&v);
	buf_free(&t);
	return 0;
}

int mime_id_safe(const char *id)
{
	size_t n = strlen(id);
	if (!n || n > MAX_ID)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 32 || c >= 127 || c == '<' || c == '>' || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

size_t mime_add_ids(struct buf *out, const char *name, const char *const *ids, size_t n)
{
	size_t written = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ids[i] || !mime_id_safe(ids[i]))
			continue;
		if (!written)
			buf_addf(out, "%s: <%s>", name, ids[i]);
		else
			buf_addf(out, "\n <%s>", ids[i]);
		written++;
	}
	if (written)
		buf_addch(out, '\n');
	return written;
}

void mime_format_date(int64_t t, char out[40])
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
	         mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quoted-printable (RFC 2045 6.7), lines at most 76 columns. */
static void qp_encode(const char *s, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			buf_addch(out, '\n');
			col = 0;
			continue;
		}
		int last = i + 1 == len || s[i + 1] == '\n';
		/* a leading '-' is encoded so no QP line can look like a delimiter */
		int enc = c == '=' || c < 32 || c > 126 || ((c == ' ' || c == '\t') && last) ||
		          (c == '-' && col == 0);
		if (c == '\t' && !last)
			enc = 0;
		size_t w = enc ? 3 : 1;
		if (col + w > 75) {
			buf_adds(out, "=\n");
			col = 0;
		}
		if (enc) {
			buf_addch(out, '=');
			buf_addch(out, hex[c >> 4]);
			buf_addch(out, hex[c & 15]);
		} else {
			buf_addch(out, (char)c);
		}
		col += w;
	}
}

/* 8bit is fine while every line stays within RFC 5322's 998 characters. */
static int lines_short(const char *s, size_t len)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			col = 0;
		else if (++col > 998)
			return 0;
	}
	return 1;
}

void mime_add_multipart(struct buf *out, const struct mime_part_spec *parts, size_t n)
{
	struct buf *enc = xcalloc(n ? n : 1, sizeof(*enc));
	int *qp = xcalloc(n ? n : 1, sizeof(int));
	/*
	 * The boundary only has to be deterministic and absent from the parts
	 * (checked below), not secret: BLAKE2b, several times faster than
	 * libsodium's portable SHA-256, on every byte of every report.
	 */
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	for (size_t i = 0; i < n; i++) {
		struct buf clean = BUF_INIT;
		mime_text_sanitize(parts[i].body ? parts[i].body : "", parts[i].len, &clean, 1);
		if (!clean.len || clean.ptr[clean.len - 1] != '\n')
			buf_addch(&clean, '\n');
		if (lines_short(clean.ptr, clean.len)) {
			enc[i] = clean; /* taken over as is */
		} else {
			qp[i] = 1;
			qp_encode(clean.ptr, clean.len, &enc[i]);
			buf_free(&clean);
		}
		crypto_generichash_update(&st, (const unsigned char *)enc[i].ptr, enc[i].len);
	}
	unsigned char h[32];
	crypto_generichash_final(&st, h, sizeof(h));
	/* a boundary no part contains: hash-derived, re-derived on the (absurd) collision */
	struct buf bd = BUF_INIT;
	for (unsigned salt = 0;; salt++) {
		buf_reset(&bd);
		buf_adds(&bd, "cifeed=_");
		buf_addhex(&bd, h, 12);
		if (salt)
			buf_addf(&bd, "_%u", salt);
		int clash = 0;
		for (size_t i = 0; i < n && !clash; i++)
			clash = memmem(enc[i].ptr, enc[i].len, bd.ptr, bd.len) != NULL;
		if (!clash)
			break;
		crypto_generichash(h, sizeof(h), h, sizeof(h), NULL, 0);
	}
	buf_adds(out, "MIME-Version: 1.0\n");
	buf_addf(out, "Content-Type: multipart/mixed;\n boundary=\"%s\"\n\n", bd.ptr);
	buf_adds(out, "This is a multi-part message in MIME format.\n");
	for (size_t i = 0; i < n; i++) {
		buf_addf(out, "\n--%s\n", bd.ptr);
		buf_addf(out, "Content-Type: %s; charset=utf-8\n", parts[i].ctype);
		if (parts[i].filename && mime_id_safe(parts[i].filename))
			buf_addf(out, "Content-Disposition: inline; filename=\"%s\"\n",
			         parts[i].filename);
		else
			buf_adds(out, "Content-Disposition: inline\n");
		if (parts[i].description)
			mime_add_text(out, "Content-Description", parts[i].description);
		buf_addf(out, "Content-Transfer-Encoding: %s\n\n",
		         qp[i] ? "quoted-printable" : "8bit");
		/* the part's final line break belongs to the next delimiter */
		buf_add(out, enc[i].ptr, enc[i].len - 1);
		buf_free(&enc[i]);
	}
	buf_addf(out, "\n--%s--\n", bd.ptr);
	buf_free(&bd);
	free(enc);
	free(qp);
}

void mime_add_text_body(struct buf *out, const char *text, size_t len)
{
	struct buf clean = BUF_INIT;
	mime_text_sanitize(text ? text : "", text ? len : 0, &clean, 1);
	if (!clean.len || clean.ptr[clean.len - 1] != '\n')
		buf_addch(&clean, '\n');
	int ascii = lines_short(clean.ptr, clean.len);
	for (size_t i = 0; ascii && i < clean.len; i++)
		ascii = (unsigned char)clean.ptr[i] < 0x80;
	buf_adds(out, "MIME-Version: 1.0\n");
	buf_adds(out, "Content-Type: text/plain; charset=utf-8\n");
	buf_addf(out, "Content-Transfer-Encoding: %s\n\n", ascii ? "7bit" : "quoted-printable");
	if (ascii)
		buf_add(out, clean.ptr, clean.len);
	else
		qp_encode(clean.ptr, clean.len, out);
	buf_free(&clean);
}
