/*
 * mbox.c - mboxrd splitting (see mbox.h).
 */
#define _GNU_SOURCE /* memmem */
#include "mbox.h"

#include <string.h>

void mbox_iter_init(struct mbox_iter *it, const char *data, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->data = data;
	it->len = len;
}

void mbox_iter_free(struct mbox_iter *it)
{
	buf_free(&it->copy);
}

/* Start of the next line beginning with "From " after `from`, or len. */
static size_t next_from(const struct mbox_iter *it, size_t from)
{
	if (from >= it->len)
		return it->len;
	const char *hit = memmem(it->data + from, it->len - from, "\nFrom ", 6);
	return hit ? (size_t)(hit - it->data) + 1 : it->len;
}

int mbox_next(struct mbox_iter *it, const char **msg, size_t *len)
{
	const char *d = it->data;
	if (it->pos >= it->len)
		return 0;
	size_t start = it->pos;
	if (it->len - start >= 5 && !memcmp(d + start, "From ", 5)) {
		const char *nl = memchr(d + start, '\n', it->len - start);
		it->offset = start;
		start = nl ? (size_t)(nl - d) + 1 : it->len;
	} else if (it->index == 0) {
		/* no mbox separator: the whole input is one message */
		it->offset = 0;
		it->pos = it->len;
		it->index = 1;
		*msg = d;
		*len = it->len;
		return 1;
	}
	size_t end = next_from(it, start ? start - 1 : 0);
	it->pos = end;
	size_t n = end - start;
	/* drop the separating blank line */
	if (end < it->len && n >= 1 && d[start + n - 1] == '\n' &&
	    (n == 1 || d[start + n - 2] == '\n'))
		n--;
	else if (end == it->len && n >= 2 && d[start + n - 1] == '\n' && d[start + n - 2] == '\n')
		n--;
	it->index++;
	/* undo mboxrd quoting: ">From " -> "From ", ">>From " -> ">From " */
	const char *m = d + start;
	int quoted = 0;
	if (n >= 6 && !memcmp(m, ">", 1)) {
		size_t k = 0;
		while (k < n && m[k] == '>')
			k++;
		if (n - k >= 5 && !memcmp(m + k, "From ", 5))
			quoted = 1;
	}
	if (!quoted && memmem(m, n, "\n>", 2)) {
		const char *p = m, *e = m + n;
		while ((p = memmem(p, (size_t)(e - p), "\n>", 2))) {
			p++;
			const char *q = p;
			while (q < e && *q == '>')
				q++;
			if ((size_t)(e - q) >= 5 && !memcmp(q, "From ", 5)) {
				quoted = 1;
				break;
			}
		}
	}
	if (!quoted) {
		*msg = m;
		*len = n;
		return 1;
	}
	buf_reset(&it->copy);
	const char *p = m, *e = m + n;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl + 1 : e;
		const char *q = p;
		while (q < le && *q == '>')
			q++;
		if (q > p && (size_t)(le - q) >= 5 && !memcmp(q, "From ", 5))
			p++;
		buf_add(&it->copy, p, (size_t)(le - p));
		p = le;
	}
	*msg = buf_cstr(&it->copy);
	*len = it->copy.len;
	return 1;
}
