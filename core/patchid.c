/*
 * patchid.c - `git patch-id --stable/--unstable/--verbatim` (see patchid.h).
 *
 * This is a line-by-line transcription of the state machine in git's
 * builtin/patch-id.c (get_one_patchid, scan_hunk_header, flush_one_hunk,
 * remove_space), described in ../shared/reference/patches-and-base-commit.md
 * section 3.  It deliberately keeps git's odd corners, because the point of
 * a patch-id is to equal git's: the line that ends a patch is consumed, a
 * section closed with nothing hashed still adds SHA-1("") in stable mode,
 * and "\ No newline" lines are hashed only in verbatim mode.
 */
#define _GNU_SOURCE /* memmem */
#include "patchid.h"

#include <nettle/sha1.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEXSZ 64 /* git's GIT_MAX_HEXSZ: index ids are kept up to this */

struct line {
	const char *p; /* the line, up to and including '\n', cut at the first NUL */
	size_t len;
};

struct reader {
	const char *text;
	size_t len, pos;
};

static int reader_next(struct reader *r, struct line *l)
{
	if (r->pos >= r->len)
		return 0;
	const char *s = r->text + r->pos;
	size_t rest = r->len - r->pos;
	const char *nl = memchr(s, '\n', rest);
	size_t whole = nl ? (size_t)(nl - s) + 1 : rest;
	r->pos += whole;
	/* git handles the line as a C string: it ends at the first NUL */
	const char *nul = memchr(s, '\0', whole);
	l->p = s;
	l->len = nul ? (size_t)(nul - s) : whole;
	return 1;
}

static int starts_with(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->len >= n && !memcmp(l->p, prefix, n);
}

/* git's sane ctype: isspace is exactly space, \t, \n, \r; isalpha is ASCII letters */
static int git_isspace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int git_isalpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* get_oid_hex: 40 hex digits at p (within end); fills 20 raw bytes */
static int get_oid_hex(const char *p, const char *end, unsigned char oid[20])
{
	if (end - p < 40)
		return -1;
	for (int i = 0; i < 20; i++) {
		int a = hexval((unsigned char)p[2 * i]), b = hexval((unsigned char)p[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		oid[i] = (unsigned char)(a << 4 | b);
	}
	return 0;
}

static size_t digits_span(const char *s, const char *end)
{
	size_t n = 0;
	while (s + n < end && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/* atoi over a digit run (git's atoi on a string that starts with digits) */
static int digits_value(const char *s, const char *end)
{
	long v = 0;
	size_t n = digits_span(s, end);
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > 1000000000L)
			v = 1000000000L; /* atoi overflow is undefined; clamp instead */
	}
	return (int)v;
}

/* char at s if within the line, else NUL (git reads the string's terminator) */
static char at(const char *s, const char *end)
{
	return s < end ? *s : '\0';
}

/* scan_hunk_header: "@@ -a,b +c,d @@"; sets before and after as git does */
static void scan_hunk_header(const struct line *l, int *before, int *after)
{
	const char *end = l->p + l->len;
	const char *q = l->p + 4, *r;
	size_t n = digits_span(q, end);
	if (at(q + n, end) == ',') {
		q += n + 1;
		*before = digits_value(q, end);
		n = digits_span(q, end);
	} else {
		*before = 1;
	}
	if (n == 0 || at(q + n, end) != ' ' || at(q + n + 1, end) != '+')
		return;
	r = q + n + 2;
	n = digits_span(r, end);
	if (at(r + n, end) == ',') {
		r += n + 1;
		*after = digits_value(r, end);
	} else {
		*after = 1;
	}
}

struct state {
	enum patchid_mode mode;
	int stable, verbatim;
	struct sha1_ctx ctx;
	unsigned char result[20];
};

static void flush_one_hunk(struct state *s)
{
	unsigned char hash[SHA1_DIGEST_SIZE];
	unsigned carry = 0;
	sha1_digest(&s->ctx, sizeof(hash), hash); /* also re-initialises ctx */
	for (int i = 0; i < 20; i++) {
		carry += (unsigned)s->result[i] + hash[i];
		s->result[i] = (unsigned char)carry;
		carry >>= 8;
	}
}

static void hash_line(struct state *s, const struct line *l, size_t *patchlen)
{
	if (s->verbatim) {
		sha1_update(&s->ctx, l->len, (const uint8_t *)l->p);
		*patchlen += l->len;
		return;
	}
	/* remove_space(): hash the line without whitespace, in runs */
	const char *p = l->p, *end = l->p + l->len;
	while (p < end) {
		const char *q = p;
		while (q < end && !git_isspace((unsigned char)*q))
			q++;
		if (q > p) {
			sha1_update(&s->ctx, (size_t)(q - p), (const uint8_t *)p);
			*patchlen += (size_t)(q - p);
		}
		while (q < end && git_isspace((unsigned char)*q))
			q++;
		p = q;
	}
}

/*
 * get_one_patchid(): hash one patch; returns the bytes hashed.  *found_next
 * says whether a separator line ended it (its oid in next_oid).
 */
static size_t get_one_patchid(struct reader *rd, struct state *s, unsigned char next_oid[20],
			      int *found_next)
{
	size_t patchlen = 0;
	int before = -1, after = -1, diff_is_binary = 0;
	char pre_oid[MAX_HEXSZ + 1] = "", post_oid[MAX_HEXSZ + 1] = "";
	struct line l;

	*found_next = 0;
	sha1_init(&s->ctx);
	memset(s->result, 0, sizeof(s->result));

	while (reader_next(rd, &l)) {
		const char *end = l.p + l.len;
		const char *p = l.p;

		/* Possibly skip over the prefix added by "log" or "format-patch" */
		if (starts_with(&l, "commit ")) {
			p = l.p + 7;
		} else if (starts_with(&l, "From ")) {
			p = l.p + 5;
		} else if (starts_with(&l, "\\ ") && l.len > 12) {
			if (s->verbatim)
				sha1_update(&s->ctx, l.len, (const uint8_t *)l.p);
			continue;
		}

		if (!get_oid_hex(p, end, next_oid)) {
			*found_next = 1;
			break;
		}

		/* Ignore commit comments */
		if (!patchlen && !starts_with(&l, "diff "))
			continue;

		/* Parsing diff header? */
		if (before == -1) {
			if (starts_with(&l, "GIT binary patch") || starts_with(&l, "Binary files")) {
				diff_is_binary = 1;
				before = 0;
				sha1_update(&s->ctx, strlen(pre_oid), (const uint8_t *)pre_oid);
				sha1_update(&s->ctx, strlen(post_oid), (const uint8_t *)post_oid);
				if (s->stable)
					flush_one_hunk(s);
				continue;
			} else if (starts_with(&l, "index ")) {
				const char *v = l.p + 6;
				const char *o1 = memmem(v, (size_t)(end - v), "..", 2);
				if (o1) {
					const char *o2 = memchr(o1, ' ', (size_t)(end - o1));
					if (!o2)
						o2 = end - 1;
					size_t n1 = (size_t)(o1 - v);
					const char *b = o1 + 2;
					size_t n2 = o2 > b ? (size_t)(o2 - b) : 0;
					if (n1 > MAX_HEXSZ)
						n1 = MAX_HEXSZ;
					if (n2 > MAX_HEXSZ)
						n2 = MAX_HEXSZ;
					memcpy(pre_oid, v, n1);
					pre_oid[n1] = '\0';
					memcpy(post_oid, b, n2);
					post_oid[n2] = '\0';
				}
				continue;
			} else if (starts_with(&l, "--- ")) {
				before = after = 1;
			} else if (!git_isalpha((unsigned char)at(l.p, end))) {
				break;
			}
		}

		if (diff_is_binary) {
			if (starts_with(&l, "diff ")) {
				diff_is_binary = 0;
				before = -1;
			}
			continue;
		}

		/* Looking for a valid hunk header? */
		if (before == 0 && after == 0) {
			if (starts_with(&l, "@@ -")) {
				scan_hunk_header(&l, &before, &after);
				continue;
			}
			/* Split at the end of the patch. */
			if (!starts_with(&l, "diff "))
				break;
			/* Else we're parsing another header. */
			if (s->stable)
				flush_one_hunk(s);
			before = after = -1;
		}

		/* If we get here, we're inside a hunk. */
		char c0 = at(l.p, end);
		if (c0 == '-' || c0 == ' ')
			before--;
		if (c0 == '+' || c0 == ' ')
			after--;

		hash_line(s, &l, &patchlen);
	}

	if (!*found_next)
		memset(next_oid, 0, 20);
	flush_one_hunk(s);
	return patchlen;
}

static void hex(const unsigned char *raw, char out[PATCHID_HEXSZ + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 20; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[PATCHID_HEXSZ] = '\0';
}

size_t patchid_each(const char *text, size_t len, enum patchid_mode mode,
		    void (*cb)(const struct patchid *p, void *arg), void *arg)
{
	struct reader rd = { text, len, 0 };
	struct state s;
	unsigned char oid[20] = { 0 }, next[20];
	size_t count = 0;

	memset(&s, 0, sizeof(s));
	s.mode = mode;
	s.verbatim = mode == PATCHID_VERBATIM;
	s.stable = mode != PATCHID_UNSTABLE;
	/* git loops until EOF: at least one call even for empty input */
	do {
		int found_next;
		size_t patchlen = get_one_patchid(&rd, &s, next, &found_next);
		if (patchlen) {
			struct patchid p;
			hex(s.result, p.id);
			hex(oid, p.commit);
			count++;
			if (cb)
				cb(&p, arg);
		}
		memcpy(oid, next, sizeof(oid));
	} while (rd.pos < rd.len);
	return count;
}

struct first_arg {
	char *out;
	int found;
};

static void take_first(const struct patchid *p, void *arg)
{
	struct first_arg *a = arg;
	if (!a->found) {
		memcpy(a->out, p->id, PATCHID_HEXSZ + 1);
		a->found = 1;
	}
}

int patchid_first(const char *text, size_t len, enum patchid_mode mode, char out[PATCHID_HEXSZ + 1])
{
	struct first_arg a = { out, 0 };
	out[0] = '\0';
	patchid_each(text, len, mode, take_first, &a);
	return a.found;
}
