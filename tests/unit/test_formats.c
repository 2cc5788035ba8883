/*
 * test_formats.c - uri, date-time, email and UTF-8 checks (ajv-formats "full").
 */
#include "formats.h"
#include "testutil.h"

Test(formats, uri)
{
	const char *ok[] = { "https://git.kernel.org/pub/scm/linux.git", "http://a/b?c=d#e",
			     "mailto:x@y.org", "https://[::1]:8080/x", "file:///tmp/x",
			     "https://x.org/a%20b", "urn:isbn:123" };
	const char *bad[] = { "", "no scheme", "https://x y", "https://x.org/\xc3\xa9",
			      "1http://x", "https://x.org/%zz", "http:", "https://x.org/a\"b" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		cr_assert(fmt_is_uri(ok[i]), "rejected %s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert(!fmt_is_uri(bad[i]), "accepted %s", bad[i]);
}

Test(formats, datetime)
{
	const char *ok[] = { "2024-01-14T08:15:42.454000+00:00", "2024-02-29T00:00:00Z",
			     "2024-01-01 10:00:00z", "2016-12-31T23:59:60Z", "2024-01-01T10:00:00+0100" };
	const char *bad[] = { "yesterday", "2024-10-04T00:49:15.691000", "2023-02-29T00:00:00Z",
			      "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:00:00+25:00",
			      "2024-01-01T10:00:00.Z", "2024-01-01T12:00:60Z" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		cr_assert(fmt_is_datetime(ok[i]), "rejected %s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert(!fmt_is_datetime(bad[i]), "accepted %s", bad[i]);
	int64_t t;
	int tz;
	cr_assert_eq(fmt_parse_datetime("2024-01-01T11:00:00+01:00", &t, &tz), 0);
	cr_assert_eq(t, 1704103200);
	cr_assert_eq(tz, 60);
	cr_assert_eq(fmt_parse_datetime("2024-10-04T00:49:15.691000", &t, &tz), 0); /* naive = UTC */
	cr_assert_eq(t, 1728002955);
}

Test(formats, email)
{
	cr_assert(fmt_is_email("20240114081542.1-0-dev@example.org"));
	cr_assert(fmt_is_email("a_b@x.y"));
	cr_assert(!fmt_is_email("<x@y.org>"));
	cr_assert(!fmt_is_email("x@mail_host.example.org"));
	cr_assert(!fmt_is_email("x@localhost"));
	cr_assert(!fmt_is_email("x..y@a.org"));
}

Test(formats, utf8)
{
	cr_assert(utf8_valid("h\xc3\xa9llo", 6));
	cr_assert(!utf8_valid("\xc3", 1));
	cr_assert(!utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	cr_assert(!utf8_valid("\xc0\xaf", 2));     /* overlong */
	cr_assert(!utf8_valid("a\0b", 3));
	cr_assert_eq(utf8_length("h\xc3\xa9", 3), 2);
	cr_assert_eq(utf8_clip("\xc3\xa9\xc3\xa9", 4, 3), 2);
}
