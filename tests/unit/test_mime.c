/*
 * test_mime.c - rendering cannot be broken by outside strings; parsing
 * reads back what rendering wrote; dates as public-inbox parses them.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

TestSuite(mime);

/* every line of a header block must be a field or a continuation */
static void assert_header_lines(const char *s)
{
	const char *p = s;
	while (*p) {
		const char *nl = strchr(p, '\n');
		cr_assert(nl, "unterminated line");
		size_t len = (size_t)(nl - p);
		cr_assert_leq(len, 998, "line longer than 998");
		if (p[0] != ' ' && p[0] != '\t') {
			const char *colon = memchr(p, ':', len);
			cr_assert(colon, "line without a field name: %.*s", (int)len, p);
		}
		for (size_t i = 0; i < len; i++)
			cr_assert((unsigned char)p[i] >= 32 && (unsigned char)p[i] < 127,
				  "raw byte 0x%02x in header", (unsigned char)p[i]);
		p = nl + 1;
	}
}

Test(mime, hostile_header_values_stay_one_field)
{
	struct buf h = BUF_INIT, dec = BUF_INIT;
	const char hostile[] = "ltp\r\nBcc: victim@example.com\r\n\r\nbody?\x00\xff\xfe=?utf-8?q?x?=";
	mime_add_textn(&h, "Subject", hostile, sizeof(hostile) - 1);
	assert_header_lines(h.ptr);
	struct mime_msg m;
	buf_addch(&h, '\n');
	mime_parse(&m, h.ptr, h.len);
	cr_assert_eq(m.nfields, 1);
	cr_assert_eq(mime_count(&m, "Bcc"), 0);
	cr_assert(mime_get_decoded(&m, "Subject", 0, &dec));
	/* CR/LF become spaces, NUL dropped, bad bytes U+FFFD, "=?" text kept literally */
	cr_assert(strstr(dec.ptr, "ltp Bcc: victim@example.com  body?"), "%s", dec.ptr);
	cr_assert(strstr(dec.ptr, "\xef\xbf\xbd"), "%s", dec.ptr);
	cr_assert(strstr(dec.ptr, "=?utf-8?q?x?="), "%s", dec.ptr);
	mime_msg_free(&m);
	buf_free(&h);
	buf_free(&dec);
}

Test(mime, long_values_fold_and_round_trip)
{
	struct buf v = BUF_INIT, h = BUF_INIT, dec = BUF_INIT;
	for (int i = 0; i < 40; i++)
		buf_addf(&v, "word%d ", i);
	buf_adds(&v, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
	mime_add_text(&h, "X-CI-Tree", v.ptr);
	assert_header_lines(h.ptr);
	buf_addch(&h, '\n');
	struct mime_msg m;
	mime_parse(&m, h.ptr, h.len);
	cr_assert(mime_get_decoded(&m, "X-CI-Tree", 0, &dec));
	buf_rtrim(&v);
	cr_assert_str_eq(dec.ptr, v.ptr);
	mime_msg_free(&m);

	/* plain ASCII folds at spaces and unfolds to the same text */
	buf_reset(&h);
	buf_reset(&dec);
	buf_reset(&v);
	for (int i = 0; i < 30; i++)
		buf_addf(&v, "%stoken%d", i ? " " : "", i);
	mime_add_text(&h, "Subject", v.ptr);
	cr_assert(strchr(h.ptr, '\n') < h.ptr + h.len - 1, "expected folding: %s", h.ptr);
	assert_header_lines(h.ptr);
	buf_addch(&h, '\n');
	mime_parse(&m, h.ptr, h.len);
	mime_get(&m, "Subject", 0, &dec);
	cr_assert_str_eq(dec.ptr, v.ptr);
	mime_msg_free(&m);

	/* a megabyte value is clipped, not emitted as a megabyte header */
	buf_reset(&h);
	char *big = malloc(1 << 20);
	memset(big, 'A', 1 << 20);
	mime_add_textn(&h, "X-CI-Test", big, 1 << 20);
	cr_assert_lt(h.len, 4096);
	assert_header_lines(h.ptr);
	free(big);
	buf_free(&v);
	buf_free(&h);
	buf_free(&dec);
}

Test(mime, addresses)
{
	struct buf h = BUF_INIT, n = BUF_INIT, a = BUF_INIT;
	cr_assert_eq(mime_add_addr(&h, "From", "Bad \"Guy\" <x@evil>\r\nBcc: y@z", "ci@example.org"),
		     0);
	assert_header_lines(h.ptr);
	buf_addch(&h, '\n');
	struct mime_msg m;
	mime_parse(&m, h.ptr, h.len);
	struct buf v = BUF_INIT;
	mime_get(&m, "From", 0, &v);
	mime_addr_parse(v.ptr, v.len, &n, &a);
	cr_assert_str_eq(a.ptr, "ci@example.org");
	cr_assert_str_eq(n.ptr, "Bad \"Guy\" <x@evil> Bcc: y@z");
	cr_assert_eq(mime_add_addr(&h, "To", "x", "not an address"), -1);
	mime_msg_free(&m);
	buf_free(&h);
	buf_free(&n);
	buf_free(&a);
	buf_free(&v);
}

Test(mime, ids)
{
	struct buf h = BUF_INIT;
	const char *ids[] = { "a@b", "bad id@x", "c<d>@e", "ok.2@host" };
	cr_assert_eq(mime_add_ids(&h, "References", ids, 4), 2);
	cr_assert_str_eq(h.ptr, "References: <a@b>\n <ok.2@host>\n");
	struct mime_ids got = { 0 };
	mime_ids_extract(h.ptr, h.len, &got);
	cr_assert_eq(got.n, 2);
	cr_assert_str_eq(got.v[1], "ok.2@host");
	mime_ids_free(&got);
	buf_free(&h);
}

Test(mime, dates_like_public_inbox)
{
	int64_t t;
	int tz;
	cr_assert_eq(mime_date_parse("Mon, 01 Jan 2024 11:00:00 +0100", &t, &tz), 0);
	cr_assert_eq(t, 1704103200);
	cr_assert_eq(tz, 60);
	cr_assert_eq(mime_date_parse("1 Jan 24 10:00 GMT", &t, &tz), 0);
	cr_assert_eq(t, 1704103200);
	cr_assert_eq(mime_date_parse("Tue, 2 Jan 2024 03:30:00 -0500 (EST)", &t, &tz), 0);
	cr_assert_eq(t, 1704184200);
	cr_assert_eq(tz, -300);
	cr_assert_eq(mime_date_parse("Mon, 01 Jan 2024 10:00:00 EDT", &t, &tz), 0);
	cr_assert_eq(tz, -240);
	cr_assert_eq(mime_date_parse("yesterday", &t, &tz), -1);
	cr_assert_eq(mime_date_parse("Mon, 31 Feb 2024 10:00:00 +0000", &t, &tz), -1);
	char out[40];
	mime_format_date(1704103200, out);
	cr_assert_str_eq(out, "Mon, 01 Jan 2024 10:00:00 +0000");
}

Test(mime, multipart_boundary_cannot_collide)
{
	/* parts full of delimiter look-alikes, long lines, NUL and bad UTF-8 */
	struct buf text = BUF_INIT, json = BUF_INIT, msg = BUF_INIT;
	buf_adds(&text, "--cifeed=_\n--\n----\n--cifeed=_000000000000000000000000--\nFAIL\tx\n");
	buf_add(&text, "nul\0here \xc3\x28 end\n", 17);
	for (int i = 0; i < 3000; i++)
		buf_addch(&text, (char)('a' + i % 26));
	buf_adds(&text, "\n");
	buf_adds(&json, "{\"tests\":[{\"path\":\"x\"}]}");
	struct mime_part_spec ps[2] = {
		{ "text/plain", NULL, NULL, text.ptr, text.len },
		{ "application/json", "kcidb.json", "KCIDB objects", json.ptr, json.len },
	};
	buf_adds(&msg, "Subject: t\n");
	mime_add_multipart(&msg, ps, 2);
	struct mime_msg m;
	mime_parse(&m, msg.ptr, msg.len);
	struct mime_part *parts;
	size_t n = mime_parts(&m, &parts);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(parts[0].ctype, "text/plain");
	cr_assert_str_eq(parts[0].idx, "1");
	cr_assert_eq(parts[0].depth, 1);
	cr_assert(strstr(parts[0].body.ptr, "--cifeed=_000000000000000000000000--\nFAIL\tx\n"));
	cr_assert(strstr(parts[0].body.ptr, "nulhere \xef\xbf\xbd( end"));
	cr_assert_str_eq(parts[1].ctype, "application/json");
	cr_assert_str_eq(parts[1].filename, "kcidb.json");
	cr_assert_str_eq(parts[1].description, "KCIDB objects");
	cr_assert_str_eq(parts[1].body.ptr, "{\"tests\":[{\"path\":\"x\"}]}");
	/* no raw line of the message is longer than 78 (QP soft breaks) */
	const char *p = msg.ptr;
	while (*p) {
		const char *nl = strchr(p, '\n');
		cr_assert_leq((size_t)(nl - p), 78);
		p = nl + 1;
	}
	mime_parts_free(parts, n);
	mime_msg_free(&m);
	buf_free(&text);
	buf_free(&json);
	buf_free(&msg);
}

Test(mime, decode_words)
{
	struct buf out = BUF_INIT;
	const char *in = "=?UTF-8?B?R3LDvMOf?= =?iso-8859-1?q?_K=F6ln?= plain =?bogus";
	mime_decode_words(in, strlen(in), &out);
	cr_assert_str_eq(out.ptr, "Grüß Köln plain =?bogus");
	buf_free(&out);
}
