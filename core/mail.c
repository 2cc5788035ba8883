/*
 * mail.c - RFC 5322 / MIME parsing for intake (see mail.h).
 *
 * Real list traffic is the input: folded and duplicated headers, RFC 2047
 * words split in the middle of a multi-byte character, quoted-printable
 * patches, base64 attachments, Latin-1 names, missing dates.  The parser
 * is a single pass over the bytes with no copies of the raw message; each
 * step degrades instead of failing (a defect bit records what went wrong)
 * because an archive must never stall on one bad message.  Base64 comes
 * from libsodium and charset conversion from iconv; the rest (header
 * grammar, quoted-printable, multipart walking) is mail-specific and small.
 */
#define _GNU_SOURCE /* memmem, timegm, strcasestr */
#include "mail.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MIME_MAX_DEPTH 16

/* ------------------------------------------------------------ UTF-8 */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return c ? 1 : 0;
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Append s as UTF-8, replacing invalid bytes (and NUL) with U+FFFD. Returns -1 if any. */
static int utf8_repair(const char *s, size_t n, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	int bad = 0;
	size_t i = 0, run = 0;
	buf_grow(out, n);
	while (i < n) {
		if (u[i] >= 0x20 && u[i] < 0x80) { /* fast path for ASCII runs */
			i++;
			continue;
		}
		size_t k = utf8_seq(u + i, n - i);
		if (u[i] == '\n' || u[i] == '\t' || u[i] == '\r' || (u[i] < 0x20 && u[i]))
			k = 1;
		if (k) {
			i += k;
			continue;
		}
		buf_add(out, s + run, i - run);
		buf_adds(out, "\xef\xbf\xbd");
		bad = 1;
		i++;
		run = i;
	}
	buf_add(out, s + run, i - run);
	return bad ? -1 : 0;
}

static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		if (u[i] && u[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(u + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

static void latin1_to_utf8(const char *s, size_t n, struct buf *out)
{
	buf_grow(out, n * 2);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!c)
			buf_adds(out, "\xef\xbf\xbd");
		else if (c < 0x80)
			buf_addch(out, (char)c);
		else {
			buf_addch(out, (char)(0xc0 | c >> 6));
			buf_addch(out, (char)(0x80 | (c & 0x3f)));
		}
	}
}

/* ------------------------------------------------------------ charsets */

static int is_utf8_name(const char *cs)
{
	return !strcasecmp(cs, "utf-8") || !strcasecmp(cs, "utf8") ||
	       !strcasecmp(cs, "us-ascii") || !strcasecmp(cs, "ascii") ||
	       !strcasecmp(cs, "ansi_x3.4-1968") || !strcasecmp(cs, "x-unknown") ||
	       !strcasecmp(cs, "unknown-8bit") || !strcasecmp(cs, "default");
}

/*
 * One converter per thread is cached (most messages share a charset); a
 * thread-specific key closes it when a reader thread exits.
 */
struct conv_cache {
	iconv_t cd;
	char name[64];
};

static pthread_key_t conv_key;
static pthread_once_t conv_once = PTHREAD_ONCE_INIT;

static void conv_free(void *p)
{
	struct conv_cache *c = p;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	free(c);
}

static void conv_key_init(void)
{
	pthread_key_create(&conv_key, conv_free);
}

static iconv_t converter(const char *cs)
{
	pthread_once(&conv_once, conv_key_init);
	struct conv_cache *c = pthread_getspecific(conv_key);
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->cd = (iconv_t)-1;
		pthread_setspecific(conv_key, c);
	}
	if (c->cd != (iconv_t)-1 && !strcasecmp(c->name, cs)) {
		iconv(c->cd, NULL, NULL, NULL, NULL);
		return c->cd;
	}
	if (strlen(cs) >= sizeof(c->name))
		return (iconv_t)-1;
	iconv_t cd = iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return cd;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	c->cd = cd;
	snprintf(c->name, sizeof(c->name), "%s", cs);
	return cd;
}

int mail_to_utf8(const char *charset, const char *s, size_t len, struct buf *out)
{
	if (!charset || !*charset || is_utf8_name(charset)) {
		if (utf8_ok(s, len)) {
			buf_add(out, s, len);
			return 0;
		}
		/* mislabelled: 8-bit text that is not UTF-8 is nearly always Latin-1 */
		if (!charset || !*charset || strcasecmp(charset, "utf-8")) {
			latin1_to_utf8(s, len, out);
			return 0;
		}
		return utf8_repair(s, len, out);
	}
	/* Latin-1 labels are often Windows-1252 in practice; iconv knows both */
	iconv_t cd = converter(charset);
	if (cd == (iconv_t)-1) {
		if (utf8_ok(s, len)) {
			buf_add(out, s, len);
			return -1;
		}
		latin1_to_utf8(s, len, out);
		return -1;
	}
	int bad = 0;
	char *in = (char *)s;
	size_t inleft = len;
	struct buf tmp = BUF_INIT;
	while (inleft) {
		buf_grow(&tmp, inleft * 4 + 16);
		char *o = tmp.ptr + tmp.len;
		size_t oleft = tmp.cap - tmp.len - 1;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		tmp.len = (size_t)(o - tmp.ptr);
		tmp.ptr[tmp.len] = '\0';
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* EILSEQ / EINVAL: skip one byte and mark it */
			buf_adds(&tmp, "\xef\xbf\xbd");
			bad = 1;
			in++;
			inleft--;
			iconv(cd, NULL, NULL, NULL, NULL);
		}
	}
	if (utf8_repair(tmp.ptr ? tmp.ptr : "", tmp.len, out) < 0)
		bad = 1;
	buf_free(&tmp);
	return bad ? -1 : 0;
}

/* ------------------------------------------------------------ encodings */

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Quoted-printable body: "=\n" soft breaks, "=XX" escapes; bad escapes kept. */
static void qp_decode(const char *s, size_t n, struct buf *out)
{
	buf_grow(out, n);
	size_t i = 0, run = 0;
	while (i < n) {
		const char *eq = memchr(s + i, '=', n - i);
		if (!eq)
			break;
		i = (size_t)(eq - s);
		buf_add(out, s + run, i - run);
		if (i + 1 < n && s[i + 1] == '\n') {
			i += 2;
		} else if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 3;
		} else if (i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			buf_addch(out, (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2])));
			i += 3;
		} else {
			/* "=" followed by trailing blanks then a line end is a soft break too */
			size_t j = i + 1;
			while (j < n && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j < n && s[j] == '\n' && j > i + 1) {
				i = j + 1;
			} else if (i + 1 == n) {
				i++;
			} else {
				buf_addch(out, '=');
				i++;
			}
		}
		run = i;
	}
	buf_add(out, s + run, n - run);
}

/* Base64 (libsodium), ignoring line breaks and blanks. Returns -1 on garbage. */
static int b64_decode(const char *s, size_t n, struct buf *out)
{
	buf_grow(out, n / 4 * 3 + 4);
	size_t got = 0;
	const char *end = NULL;
	if (sodium_base642bin((unsigned char *)out->ptr + out->len, out->cap - out->len - 1, s, n,
			      " \t\r\n", &got, &end, sodium_base64_VARIANT_ORIGINAL) == 0) {
		out->len += got;
		out->ptr[out->len] = '\0';
		return 0;
	}
	/* missing or wrong padding: retry without it */
	struct buf clean = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		if (s[i] != '=' && !isspace((unsigned char)s[i]))
			buf_addch(&clean, s[i]);
	int rc = -1;
	if (clean.len % 4 == 1)
		clean.len--; /* a lone trailing sextet carries no byte */
	if (sodium_base642bin((unsigned char *)out->ptr + out->len, out->cap - out->len - 1,
			      clean.ptr ? clean.ptr : "", clean.len, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0) {
		out->len += got;
		rc = 0;
	} else if (end && end > clean.ptr) {
		size_t ok = (size_t)(end - clean.ptr) / 4 * 4;
		if (sodium_base642bin((unsigned char *)out->ptr + out->len,
				      out->cap - out->len - 1, clean.ptr, ok, NULL, &got, NULL,
				      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
			out->len += got;
	}
	out->ptr[out->len] = '\0';
	buf_free(&clean);
	return rc;
}

/* ------------------------------------------------------------ RFC 2047 */

/* Parse one encoded word at s: =?cs?E?text?=. Returns its length or 0. */
static size_t encoded_word(const char *s, const char *end, char *cs, size_t cs_sz, char *enc,
			   const char **text, size_t *text_len)
{
	if (end - s < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	const char *p = s + 2, *q = p;
	while (q < end && *q != '?' && *q != ' ' && *q != '\t')
		q++;
	if (q >= end || *q != '?' || q == p || (size_t)(q - p) >= cs_sz)
		return 0;
	memcpy(cs, p, (size_t)(q - p));
	cs[q - p] = '\0';
	char *star = strchr(cs, '*'); /* RFC 2231 language suffix */
	if (star)
		*star = '\0';
	if (q + 2 >= end || q[2] != '?')
		return 0;
	*enc = (char)toupper((unsigned char)q[1]);
	if (*enc != 'Q' && *enc != 'B')
		return 0;
	const char *t = q + 3, *te = t;
	while (te + 1 < end && !(te[0] == '?' && te[1] == '=')) {
		if (*te == ' ' || *te == '\t' || *te == '\n')
			return 0;
		te++;
	}
	if (te + 1 >= end)
		return 0;
	*text = t;
	*text_len = (size_t)(te - t);
	return (size_t)(te + 2 - s);
}

static void word_bytes(char enc, const char *t, size_t n, struct buf *raw)
{
	if (enc == 'B') {
		b64_decode(t, n, raw);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '_')
			buf_addch(raw, ' ');
		else if (t[i] == '=' && i + 2 < n && hexv(t[i + 1]) >= 0 && hexv(t[i + 2]) >= 0) {
			buf_addch(raw, (char)(hexv(t[i + 1]) << 4 | hexv(t[i + 2])));
			i += 2;
		} else
			buf_addch(raw, t[i]);
	}
}

static void plain_text(const char *s, size_t n, struct buf *out)
{
	if (utf8_ok(s, n))
		buf_add(out, s, n);
	else
		latin1_to_utf8(s, n, out);
}

void mail_decode_header(const char *value, size_t len, struct buf *out)
{
	const char *s = value, *end = value + len, *plain = value;
	struct buf raw = BUF_INIT; /* bytes of adjacent words in one charset */
	char cs[64], pending_cs[64] = "";
	int prev_word = 0;
	while (s < end) {
		const char *hit = memmem(s, (size_t)(end - s), "=?", 2);
		if (!hit)
			break;
		char enc;
		const char *t;
		size_t tl, wl = encoded_word(hit, end, cs, sizeof(cs), &enc, &t, &tl);
		if (!wl) {
			s = hit + 2;
			continue;
		}
		int gap_blank = 1;
		for (const char *b = plain; b < hit; b++)
			if (*b != ' ' && *b != '\t' && *b != '\n' && *b != '\r')
				gap_blank = 0;
		if (prev_word && gap_blank) {
			/* blanks between adjacent encoded words are dropped */
			if (strcasecmp(cs, pending_cs) && raw.len) {
				mail_to_utf8(pending_cs, raw.ptr, raw.len, out);
				buf_reset(&raw);
			}
		} else {
			if (raw.len) {
				mail_to_utf8(pending_cs, raw.ptr, raw.len, out);
				buf_reset(&raw);
			}
			plain_text(plain, (size_t)(hit - plain), out);
		}
		word_bytes(enc, t, tl, &raw);
		snprintf(pending_cs, sizeof(pending_cs), "%s", cs);
		prev_word = 1;
		s = plain = hit + wl;
	}
	if (raw.len)
		mail_to_utf8(pending_cs, raw.ptr, raw.len, out);
	plain_text(plain, (size_t)(end - plain), out);
	buf_free(&raw);
}

/* ------------------------------------------------------------ headers */

/* One line at s+i: its length without the line end (tl) and where the next starts. */
static void header_line(const char *s, size_t n, size_t i, size_t *tl, size_t *next)
{
	const char *line = s + i;
	const char *nl = memchr(line, '\n', n - i);
	size_t ll = nl ? (size_t)(nl - line) : n - i;
	*next = i + ll + (nl ? 1 : 0);
	*tl = ll && line[ll - 1] == '\r' ? ll - 1 : ll;
}

/*
 * Parse a header block at s; returns the offset of the body (after the
 * blank line).  A header and its continuation lines are joined in one
 * pass (the line breaks removed, the blanks kept), so folding costs linear
 * time however long a header is.
 */
static size_t parse_headers(const char *s, size_t n, struct mail_header **hs, size_t *nh,
			    unsigned *defects)
{
	size_t i = 0, cap = 0, tl, next;
	struct buf val = BUF_INIT;
	*hs = NULL;
	*nh = 0;
	while (i < n) {
		const char *line = s + i;
		header_line(s, n, i, &tl, &next);
		if (tl == 0) {
			buf_free(&val);
			return next; /* the blank line */
		}
		if (line[0] == ' ' || line[0] == '\t') {
			/* a continuation with no header before it: skip it */
			i = next;
			continue;
		}
		const char *colon = memchr(line, ':', tl);
		int name_ok = colon && colon > line;
		for (const char *c = line; name_ok && c < colon; c++)
			if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127)
				name_ok = 0;
		if (!name_ok) {
			if (i == 0 && tl >= 5 && !memcmp(line, "From ", 5)) {
				i = next; /* a stray mbox separator */
				continue;
			}
			*defects |= MAIL_DEFECT_NO_BODY;
			buf_free(&val);
			return i; /* body without a blank line */
		}
		if (*nh == cap) {
			cap = cap ? cap * 2 : 32;
			*hs = xrealloc(*hs, cap * sizeof(**hs));
		}
		struct mail_header *h = &(*hs)[(*nh)++];
		h->name = xstrndup(line, (size_t)(colon - line));
		const char *v = colon + 1;
		while (v < line + tl && (*v == ' ' || *v == '\t'))
			v++;
		buf_reset(&val);
		buf_add(&val, v, (size_t)(line + tl - v));
		i = next;
		while (i < n && (s[i] == ' ' || s[i] == '\t')) {
			header_line(s, n, i, &tl, &next);
			buf_add(&val, s + i, tl);
			i = next;
		}
		h->value = val.ptr ? xstrndup(val.ptr, val.len) : xstrdup("");
	}
	buf_free(&val);
	*defects |= MAIL_DEFECT_NO_BODY;
	return n;
}

static const char *hdr_get(const struct mail_header *h, size_t nh, const char *name)
{
	for (size_t i = 0; i < nh; i++)
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

const char *mail_header(const struct mail *m, const char *name)
{
	return hdr_get(m->h, m->nh, name);
}

size_t mail_header_count(const struct mail *m, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nh; i++)
		n += !strcasecmp(m->h[i].name, name);
	return n;
}

/* Strip surrounding blanks (including the folding blanks kept by unfolding). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

size_t mail_msgids(const char *value, char ***ids)
{
	size_t n = 0, cap = 0;
	*ids = NULL;
	if (!value)
		return 0;
	const char *p = value;
	for (;;) {
		const char *lt = strchr(p, '<');
		if (!lt)
			break;
		const char *gt = strchr(lt + 1, '>');
		if (!gt)
			break;
		const char *a = lt + 1, *b = gt;
		trim(&a, &b);
		int blank = 0;
		for (const char *c = a; c < b; c++)
			if (isspace((unsigned char)*c))
				blank = 1;
		if (b > a && !blank) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				*ids = xrealloc(*ids, cap * sizeof(char *));
			}
			(*ids)[n++] = xstrndup(a, (size_t)(b - a));
		}
		p = gt + 1;
	}
	if (!n) {
		/* a bare id (some clients omit the brackets): the first word with an @ */
		const char *a = value, *b;
		while (*a && isspace((unsigned char)*a))
			a++;
		b = a;
		while (*b && !isspace((unsigned char)*b))
			b++;
		if (b > a && memchr(a, '@', (size_t)(b - a))) {
			*ids = xmalloc(sizeof(char *));
			(*ids)[n++] = xstrndup(a, (size_t)(b - a));
		}
	}
	return n;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Remove quotes and backslash escapes of a display name, then RFC 2047-decode it. */
static char *display_name(const char *s, const char *e)
{
	trim(&s, &e);
	struct buf raw = BUF_INIT, out = BUF_INIT;
	for (const char *c = s; c < e; c++) {
		if (*c == '"')
			continue;
		if (*c == '\\' && c + 1 < e)
			c++;
		buf_addch(&raw, *c);
	}
	mail_decode_header(buf_cstr(&raw), raw.len, &out);
	buf_free(&raw);
	/* collapse blanks */
	struct buf clean = BUF_INIT;
	int sp = 0;
	for (size_t i = 0; i < out.len; i++) {
		char c = out.ptr[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			sp = clean.len > 0;
			continue;
		}
		if (sp)
			buf_addch(&clean, ' ');
		sp = 0;
		buf_addch(&clean, c);
	}
	buf_free(&out);
	if (!clean.len) {
		buf_free(&clean);
		return NULL;
	}
	return buf_detach(&clean);
}

void mail_address(const char *value, char **name, char **email)
{
	*name = *email = NULL;
	if (!value)
		return;
	const char *end = value + strlen(value);
	/* only the first address of a list; commas inside quotes do not count */
	int inq = 0;
	for (const char *c = value; c < end; c++) {
		if (*c == '\\' && c + 1 < end) {
			c++;
			continue;
		}
		if (*c == '"')
			inq = !inq;
		else if (*c == ',' && !inq) {
			const char *lt = memchr(value, '<', (size_t)(c - value));
			/* "Last, First <a@b>" without quotes: keep going when no address yet */
			if (lt || memchr(value, '@', (size_t)(c - value))) {
				end = c;
				break;
			}
		}
	}
	const char *lt = NULL, *gt = NULL;
	inq = 0;
	for (const char *c = value; c < end; c++) {
		if (*c == '\\' && c + 1 < end) {
			c++;
			continue;
		}
		if (*c == '"')
			inq = !inq;
		else if (*c == '<' && !inq && !lt)
			lt = c;
	}
	if (lt)
		gt = memchr(lt, '>', (size_t)(end - lt));
	if (lt && gt) {
		const char *a = lt + 1, *b = gt;
		trim(&a, &b);
		if (b > a)
			*email = xstrndup(a, (size_t)(b - a));
		*name = display_name(value, lt);
		return;
	}
	/* addr (Name) or a bare address */
	const char *lp = memchr(value, '(', (size_t)(end - value));
	const char *a = value, *b = lp ? lp : end;
	trim(&a, &b);
	if (b > a)
		*email = xstrndup(a, (size_t)(b - a));
	if (lp) {
		const char *rp = memchr(lp, ')', (size_t)(end - lp));
		*name = display_name(lp + 1, rp ? rp : end);
	}
}

/* ------------------------------------------------------------ dates */

static int month_index(const char *s, size_t n)
{
	static const char *m[] = { "jan", "feb", "mar", "apr", "may", "jun",
				   "jul", "aug", "sep", "oct", "nov", "dec" };
	if (n < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (!strncasecmp(s, m[i], 3))
			return i;
	return -1;
}

static int zone_name(const char *s, size_t n, int *mins)
{
	static const struct {
		const char *name;
		int hours;
	} z[] = { { "UT", 0 },	 { "UTC", 0 },	{ "GMT", 0 },  { "Z", 0 },    { "EST", -5 },
		  { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 }, { "MST", -7 }, { "MDT", -6 },
		  { "PST", -8 }, { "PDT", -7 } };
	for (size_t i = 0; i < sizeof(z) / sizeof(*z); i++)
		if (strlen(z[i].name) == n && !strncasecmp(s, z[i].name, n)) {
			*mins = z[i].hours * 60;
			return 0;
		}
	return -1;
}

int mail_parse_date(const char *s, int64_t *unix_secs, int *tz_minutes)
{
	/* tokens separated by blanks and commas; (comments) skipped */
	int day = -1, mon = -1, year = -1, hh = -1, mi = -1, ss = 0, zone = 0, have_zone = 0;
	const char *p = s;
	while (*p) {
		while (*p && (isspace((unsigned char)*p) || *p == ','))
			p++;
		if (!*p)
			break;
		if (*p == '(') {
			int depth = 0;
			for (; *p; p++) {
				if (*p == '(')
					depth++;
				else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
			}
			continue;
		}
		const char *t = p;
		while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != '(')
			p++;
		size_t n = (size_t)(p - t);
		if (memchr(t, ':', n) && hh < 0) {
			int a = -1, b = -1, c = 0;
			if (sscanf(t, "%d:%d:%d", &a, &b, &c) >= 2 && a >= 0 && a < 24 && b >= 0 &&
			    b < 60 && c >= 0 && c <= 60) {
				hh = a, mi = b, ss = c;
			}
			continue;
		}
		if ((*t == '+' || *t == '-') && n == 5 && isdigit((unsigned char)t[1]) && hh >= 0) {
			int v = atoi(t + 1);
			int mins = (v / 100) * 60 + v % 100;
			zone = *t == '-' ? -mins : mins;
			have_zone = 1;
			continue;
		}
		if (isdigit((unsigned char)*t)) {
			int v = atoi(t);
			if (day < 0 && n <= 2 && mon < 0)
				day = v;
			else if (year < 0 && (mon >= 0 || day >= 0))
				year = n <= 2 ? (v < 50 ? 2000 + v : 1900 + v) : (n == 3 ? 1900 + v : v);
			else if (day < 0 && n <= 2)
				day = v;
			continue;
		}
		int mo = month_index(t, n);
		if (mo >= 0 && mon < 0 && (n == 3 || (n > 3 && isalpha((unsigned char)t[3])))) {
			mon = mo;
			continue;
		}
		if (hh >= 0 && !have_zone && zone_name(t, n, &zone) == 0)
			have_zone = 1;
		/* day names and unknown words are ignored */
	}
	if (day < 1 || day > 31 || mon < 0 || year < 1970 || year > 9999 || hh < 0)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss == 60 ? 59 : ss;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*unix_secs = (int64_t)t - (int64_t)zone * 60;
	if (tz_minutes)
		*tz_minutes = zone;
	return 0;
}

/* ------------------------------------------------------------ MIME */

struct ctype {
	char type[64];    /* lower-case "text/plain" */
	char charset[64];
	char boundary[256];
	char name[256];   /* filename or name parameter */
};

/* Content-Type (or Content-Disposition) parameters. */
static void parse_params(const char *v, struct ctype *ct, int is_ctype)
{
	const char *p = v;
	if (is_ctype) {
		const char *e = p;
		while (*e && *e != ';' && !isspace((unsigned char)*e))
			e++;
		size_t n = (size_t)(e - p);
		if (n >= sizeof(ct->type))
			n = sizeof(ct->type) - 1;
		for (size_t i = 0; i < n; i++)
			ct->type[i] = (char)tolower((unsigned char)p[i]);
		ct->type[n] = '\0';
		p = e;
	}
	while (*p) {
		const char *semi = strchr(p, ';');
		if (!semi)
			break;
		p = semi + 1;
		while (isspace((unsigned char)*p))
			p++;
		const char *k = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		if (*p != '=')
			continue;
		const char *ke = p;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		p++;
		while (isspace((unsigned char)*p))
			p++;
		struct buf val = BUF_INIT;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				buf_addch(&val, *p);
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ';' && !isspace((unsigned char)*p))
				buf_addch(&val, *p++);
		}
		size_t kl = (size_t)(ke - k);
		char *dst = NULL;
		size_t dsz = 0;
		if (kl == 7 && !strncasecmp(k, "charset", 7))
			dst = ct->charset, dsz = sizeof(ct->charset);
		else if (kl == 8 && !strncasecmp(k, "boundary", 8))
			dst = ct->boundary, dsz = sizeof(ct->boundary);
		else if ((kl == 8 && !strncasecmp(k, "filename", 8)) ||
			 (kl == 4 && !strncasecmp(k, "name", 4)))
			dst = ct->name, dsz = sizeof(ct->name);
		if (dst && !dst[0])
			snprintf(dst, dsz, "%s", buf_cstr(&val));
		buf_free(&val);
	}
}

enum cte { CTE_IDENTITY, CTE_QP, CTE_BASE64 };

static enum cte parse_cte(const char *v)
{
	if (!v)
		return CTE_IDENTITY;
	while (isspace((unsigned char)*v))
		v++;
	if (!strncasecmp(v, "quoted-printable", 16))
		return CTE_QP;
	if (!strncasecmp(v, "base64", 6))
		return CTE_BASE64;
	return CTE_IDENTITY;
}

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcasecmp(s + a - b, suffix);
}

/* Does a leaf part carry text intake should read? */
static int wanted_leaf(const struct ctype *ct)
{
	if (!ct->type[0] || !strcmp(ct->type, "text/plain"))
		return 1;
	if (!strcmp(ct->type, "text/html") || !strcmp(ct->type, "text/enriched"))
		return 0;
	if (!strncmp(ct->type, "text/", 5))
		return 1;
	if (strstr(ct->type, "patch") || strstr(ct->type, "diff"))
		return 1;
	if (!strcmp(ct->type, "application/octet-stream") &&
	    (ends_with_ci(ct->name, ".patch") || ends_with_ci(ct->name, ".diff")))
		return 1;
	return 0;
}

/* Decode one leaf's content into out (UTF-8, ends with a newline). */
static void crlf_to_lf(struct buf *out, size_t from)
{
	size_t w = from;
	for (size_t r = from; r < out->len; r++) {
		if (out->ptr[r] == '\r' && r + 1 < out->len && out->ptr[r + 1] == '\n')
			continue;
		out->ptr[w++] = out->ptr[r];
	}
	out->len = w;
	if (out->ptr)
		out->ptr[w] = '\0';
	if (out->len > from && out->ptr[out->len - 1] != '\n')
		buf_addch(out, '\n');
}

static void leaf_decode(const struct ctype *ct, enum cte cte, const char *s, size_t n,
			struct buf *out, struct buf *octets, unsigned *defects)
{
	struct buf dec = BUF_INIT;
	const char *data = s;
	size_t dlen = n;
	if (cte == CTE_QP) {
		qp_decode(s, n, &dec);
		data = buf_cstr(&dec), dlen = dec.len;
	} else if (cte == CTE_BASE64) {
		if (b64_decode(s, n, &dec) < 0)
			*defects |= MAIL_DEFECT_BAD_ENCODING;
		data = buf_cstr(&dec), dlen = dec.len;
	}
	size_t before = out->len, obefore = octets->len;
	if (mail_to_utf8(ct->charset[0] ? ct->charset : NULL, data, dlen, out) < 0)
		*defects |= MAIL_DEFECT_BAD_ENCODING;
	buf_add(octets, data, dlen);
	buf_free(&dec);
	/* CRLF to LF (base64 parts and CRLF mail) */
	crlf_to_lf(out, before);
	crlf_to_lf(octets, obefore);
}

/* Find the next delimiter line "--boundary" at or after s. */
static const char *find_delim(const char *s, const char *end, const char *bnd, size_t bl,
			      int *closing, const char **after)
{
	const char *p = s;
	while (p < end) {
		if ((size_t)(end - p) >= bl + 2 && p[0] == '-' && p[1] == '-' &&
		    !memcmp(p + 2, bnd, bl)) {
			const char *q = p + 2 + bl;
			int cl = 0;
			if (end - q >= 2 && q[0] == '-' && q[1] == '-')
				cl = 1, q += 2;
			while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q == end || *q == '\n') {
				*closing = cl;
				*after = q < end ? q + 1 : end;
				return p;
			}
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		p = nl + 1;
	}
	return NULL;
}

static void walk_entity(const struct mail_header *h, size_t nh, const char *body, size_t n,
			struct buf *out, struct buf *octets, unsigned *defects, int depth,
			int *is_multipart);

static void walk_multipart(const struct ctype *ct, const char *s, size_t n, struct buf *out,
			   struct buf *octets, unsigned *defects, int depth)
{
	const char *end = s + n;
	size_t bl = strlen(ct->boundary);
	if (!bl) {
		*defects |= MAIL_DEFECT_BAD_MIME;
		return;
	}
	int closing = 0;
	const char *after;
	const char *d = find_delim(s, end, ct->boundary, bl, &closing, &after);
	if (!d) {
		*defects |= MAIL_DEFECT_BAD_MIME;
		/* no parts at all: read it as plain text rather than lose it */
		struct ctype plain = { .type = "text/plain" };
		leaf_decode(&plain, CTE_IDENTITY, s, n, out, octets, defects);
		return;
	}
	int alternative = !strcmp(ct->type, "multipart/alternative");
	while (!closing) {
		const char *part = after, *next_after;
		int next_closing = 0;
		const char *nd = find_delim(part, end, ct->boundary, bl, &next_closing, &next_after);
		const char *part_end = nd ? nd : end;
		if (!nd)
			*defects |= MAIL_DEFECT_BAD_MIME;
		/* the line break before the delimiter belongs to the delimiter */
		if (part_end > part && part_end[-1] == '\n')
			part_end--;
		if (part_end > part && part_end[-1] == '\r')
			part_end--;
		struct mail_header *ph;
		size_t pnh;
		unsigned pdef = 0;
		size_t off = parse_headers(part, (size_t)(part_end - part), &ph, &pnh, &pdef);
		if (pdef & MAIL_DEFECT_NO_BODY)
			off = (size_t)(part_end - part) < off ? (size_t)(part_end - part) : off;
		size_t before = out->len;
		int sub_mp = 0;
		walk_entity(ph, pnh, part + off, (size_t)(part_end - part) - off, out, octets,
			    defects, depth + 1, &sub_mp);
		for (size_t i = 0; i < pnh; i++) {
			free(ph[i].name);
			free(ph[i].value);
		}
		free(ph);
		if (alternative && out->len > before)
			break; /* the first readable alternative is enough */
		if (!nd)
			break;
		closing = next_closing;
		after = next_after;
	}
}

static void walk_entity(const struct mail_header *h, size_t nh, const char *body, size_t n,
			struct buf *out, struct buf *octets, unsigned *defects, int depth,
			int *is_multipart)
{
	struct ctype ct;
	memset(&ct, 0, sizeof(ct));
	const char *ctv = hdr_get(h, nh, "Content-Type");
	if (ctv)
		parse_params(ctv, &ct, 1);
	if (!ct.name[0]) {
		const char *cd = hdr_get(h, nh, "Content-Disposition");
		if (cd)
			parse_params(cd, &ct, 0);
	}
	enum cte cte = parse_cte(hdr_get(h, nh, "Content-Transfer-Encoding"));
	if (!strncmp(ct.type, "multipart/", 10)) {
		*is_multipart = 1;
		if (depth >= MIME_MAX_DEPTH) {
			*defects |= MAIL_DEFECT_BAD_MIME;
			return;
		}
		walk_multipart(&ct, body, n, out, octets, defects, depth);
		return;
	}
	if (!strcmp(ct.type, "message/rfc822") || !wanted_leaf(&ct))
		return;
	leaf_decode(&ct, cte, body, n, out, octets, defects);
}

/* ------------------------------------------------------------ message */

static char *decoded_header(const char *v)
{
	if (!v)
		return NULL;
	struct buf raw = BUF_INIT, out = BUF_INIT;
	mail_decode_header(v, strlen(v), &raw);
	/* folding removed, control characters to spaces, runs of blanks collapsed */
	int sp = 0;
	for (size_t i = 0; i < raw.len; i++) {
		unsigned char c = (unsigned char)raw.ptr[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c < 0x20 || c == 0x7f) {
			sp = out.len > 0;
			continue;
		}
		if (sp)
			buf_addch(&out, ' ');
		sp = 0;
		buf_addch(&out, (char)c);
	}
	buf_free(&raw);
	return buf_detach(&out);
}

unsigned mail_parse(const char *raw, size_t len, struct mail *m)
{
	memset(m, 0, sizeof(*m));
	size_t off = parse_headers(raw, len, &m->h, &m->nh, &m->defects);

	char **ids;
	size_t n = mail_msgids(mail_header(m, "Message-ID"), &ids);
	if (n) {
		m->message_id = ids[0];
		for (size_t i = 1; i < n; i++)
			free(ids[i]);
		free(ids);
	} else {
		m->defects |= MAIL_DEFECT_NO_MSGID;
	}
	n = mail_msgids(mail_header(m, "In-Reply-To"), &ids);
	if (n) {
		m->in_reply_to = ids[0];
		for (size_t i = 1; i < n; i++)
			free(ids[i]);
		free(ids);
	}
	m->nreferences = mail_msgids(mail_header(m, "References"), &m->references);

	const char *from = mail_header(m, "From");
	if (!from)
		from = mail_header(m, "Sender");
	mail_address(from, &m->from_name, &m->from_email);
	char *s = decoded_header(mail_header(m, "Subject"));
	m->subject = s ? s : xstrdup("");

	const char *date = mail_header(m, "Date");
	if (date && mail_parse_date(date, &m->date, &m->date_tz) == 0)
		m->has_date = 1;
	else
		m->defects |= MAIL_DEFECT_BAD_DATE;

	const char *lid = mail_header(m, "List-Id");
	if (lid) {
		n = mail_msgids(lid, &ids);
		if (n) {
			m->list_id = ids[0];
			for (size_t i = 1; i < n; i++)
				free(ids[i]);
			free(ids);
		} else {
			const char *a = lid, *b = lid + strlen(lid);
			trim(&a, &b);
			if (b > a)
				m->list_id = xstrndup(a, (size_t)(b - a));
		}
	}
	const char *as = mail_header(m, "Auto-Submitted");
	if (as) {
		const char *a = as, *b = as;
		while (*a && isspace((unsigned char)*a))
			a++;
		b = a;
		while (*b && !isspace((unsigned char)*b) && *b != ';' && *b != '(')
			b++;
		m->auto_submitted = xstrndup(a, (size_t)(b - a));
		for (char *c = m->auto_submitted; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}

	walk_entity(m->h, m->nh, raw + off, len - off, &m->body, &m->octets, &m->defects, 0,
		    &m->multipart);
	if (!m->body.ptr)
		buf_adds(&m->body, "");
	if (!m->octets.ptr)
		buf_adds(&m->octets, "");
	return m->defects;
}

void mail_free(struct mail *m)
{
	for (size_t i = 0; i < m->nh; i++) {
		free(m->h[i].name);
		free(m->h[i].value);
	}
	free(m->h);
	free(m->message_id);
	free(m->in_reply_to);
	free_ids(m->references, m->nreferences);
	free(m->from_name);
	free(m->from_email);
	free(m->subject);
	free(m->list_id);
	free(m->auto_submitted);
	buf_free(&m->body);
	buf_free(&m->octets);
	memset(m, 0, sizeof(*m));
}
