/*
 * formats.c - format checks matching ajv-formats "full" mode (see formats.h).
 *
 * Hand-written recognisers instead of regex: POSIX regex cannot express
 * these patterns (no non-greedy, no case-insensitive classes per group) and a
 * small scanner is both faster and easier to read.
 */
#include "formats.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- uri */

static int is_unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_subdelim(int c)
{
	return c && strchr("!$&'()*+,;=", c) != NULL;
}

static int is_hex(int c)
{
	return isxdigit(c);
}

/* Consume one "unreserved / pct-encoded / sub-delims / extra" char; 0 if none. */
static size_t uri_char(const char *p, const char *extra)
{
	unsigned char c = (unsigned char)*p;
	if (c == '%')
		return is_hex((unsigned char)p[1]) && is_hex((unsigned char)p[2]) ? 3 : 0;
	if (c < 0x80 && (is_unreserved(c) || is_subdelim(c) || (c && strchr(extra, c))))
		return 1;
	return 0;
}

static const char *uri_span(const char *p, const char *extra)
{
	size_t n;
	while ((n = uri_char(p, extra)))
		p += n;
	return p;
}

/* IP-literal inside brackets: accept hex, ':' and '.' (IPv6, IPv4-mapped) or vX.Y */
static const char *uri_ip_literal(const char *p)
{
	const char *start = p;
	if (*p == 'v' || *p == 'V') {
		p++;
		if (!is_hex((unsigned char)*p))
			return NULL;
		while (is_hex((unsigned char)*p))
			p++;
		if (*p++ != '.')
			return NULL;
		const char *q = p;
		while (*p && (is_unreserved((unsigned char)*p) || is_subdelim(*p) || *p == ':'))
			p++;
		return p > q && *p == ']' ? p : NULL;
	}
	int colons = 0;
	while (*p && (is_hex((unsigned char)*p) || *p == ':' || *p == '.')) {
		colons += *p == ':';
		p++;
	}
	return p > start && colons >= 2 && *p == ']' ? p : NULL;
}

int fmt_is_uri(const char *s)
{
	const char *p = s;
	if (!isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p++ != ':')
		return 0;
	if (p[0] == '/' && p[1] == '/') {
		p += 2;
		/* authority: [userinfo@]host[:port] */
		const char *q = uri_span(p, ":");
		if (*q == '@')
			p = q + 1;
		if (*p == '[') {
			const char *e = uri_ip_literal(p + 1);
			if (!e)
				return 0;
			p = e + 1;
		} else {
			p = uri_span(p, "");
		}
		if (*p == ':') {
			p++;
			while (isdigit((unsigned char)*p))
				p++;
		}
		while (*p == '/')
			p = uri_span(p + 1, ":@");
	} else if (*p == '/') {
		/* path-absolute: "/" [ segment-nz *( "/" segment ) ] */
		p++;
		const char *q = uri_span(p, ":@");
		if (q > p) {
			p = q;
			while (*p == '/')
				p = uri_span(p + 1, ":@");
		}
	} else {
		/* path-rootless: at least one pchar */
		const char *q = uri_span(p, ":@");
		if (q == p)
			return 0;
		p = q;
		while (*p == '/')
			p = uri_span(p + 1, ":@");
	}
	if (*p == '?')
		p = uri_span(p + 1, ":@/?");
	if (*p == '#')
		p = uri_span(p + 1, ":@/?");
	return *p == '\0';
}

/* ---------------------------------------------------------- date-time */

static int digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	return 1;
}

static int num(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

static int is_leap(int y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

struct dt {
	int y, mo, d, h, mi, s;
	int has_tz, tz_min; /* offset east of UTC in minutes */
};

/* Parse per ajv-formats date_time(); `need_tz` mirrors strictTimeZone. */
static int dt_parse(const char *s, struct dt *out, int need_tz)
{
	size_t len = strlen(s);
	if (len < 19 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		return 0;
	if (!(s[10] == 'T' || s[10] == 't' || s[10] == ' ' || s[10] == '\t' || s[10] == '\n' ||
	      s[10] == '\r' || s[10] == '\f' || s[10] == '\v'))
		return 0;
	out->y = num(s, 4);
	out->mo = num(s + 5, 2);
	out->d = num(s + 8, 2);
	if (out->mo < 1 || out->mo > 12 || out->d < 1 || out->d > days_in(out->y, out->mo))
		return 0;
	const char *t = s + 11;
	if (!digits(t, 2) || t[2] != ':' || !digits(t + 3, 2) || t[5] != ':' || !digits(t + 6, 2))
		return 0;
	out->h = num(t, 2);
	out->mi = num(t + 3, 2);
	out->s = num(t + 6, 2);
	const char *p = t + 8;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	out->has_tz = 0;
	out->tz_min = 0;
	if (*p == 'z' || *p == 'Z') {
		out->has_tz = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(p, 2))
			return 0;
		int th = num(p, 2), tm = 0;
		p += 2;
		if (*p == ':')
			p++;
		if (digits(p, 2)) {
			tm = num(p, 2);
			p += 2;
		} else if (p[-1] == ':') {
			return 0;
		}
		if (th > 23 || tm > 59)
			return 0;
		out->has_tz = 1;
		out->tz_min = sign * (th * 60 + tm);
	}
	if (*p)
		return 0;
	if (need_tz && !out->has_tz)
		return 0;
	if (out->h <= 23 && out->mi <= 59 && out->s < 60)
		return 1;
	/* leap second: only at 23:59:60 UTC */
	int sign = out->tz_min < 0 ? -1 : 1;
	int tzh = abs(out->tz_min) / 60, tzm = abs(out->tz_min) % 60;
	int utc_min = out->mi - tzm * sign;
	int utc_hr = out->h - tzh * sign - (utc_min < 0 ? 1 : 0);
	return (utc_hr == 23 || utc_hr == -1) && (utc_min == 59 || utc_min == -1) && out->s < 61;
}

int fmt_is_datetime(const char *s)
{
	struct dt d;
	return dt_parse(s, &d, 1);
}

static int64_t days_from_civil(int y, int m, int d)
{
	/* Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic calendar. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int fmt_parse_datetime(const char *s, int64_t *unix_secs, int *tz_minutes)
{
	struct dt d;
	if (!dt_parse(s, &d, 0))
		return -1;
	int64_t t = days_from_civil(d.y, d.mo, d.d) * 86400 + d.h * 3600 + d.mi * 60 + d.s;
	t -= (int64_t)d.tz_min * 60;
	if (unix_secs)
		*unix_secs = t;
	if (tz_minutes)
		*tz_minutes = d.tz_min;
	return 0;
}

/* -------------------------------------------------------------- email */

static int is_atext(int c)
{
	return c < 0x80 && (isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c)));
}

int fmt_is_email(const char *s)
{
	const char *p = s;
	/* local part: atext+ ("." atext+)* */
	for (;;) {
		const char *q = p;
		while (is_atext((unsigned char)*p))
			p++;
		if (p == q)
			return 0;
		if (*p != '.')
			break;
		p++;
	}
	if (*p++ != '@')
		return 0;
	/* domain: (label ".")+ label, label = alnum (alnum|-)* alnum */
	int labels = 0;
	for (;;) {
		const char *q = p;
		while (isalnum((unsigned char)*p) || *p == '-')
			p++;
		if (p == q || q[0] == '-' || p[-1] == '-' || (unsigned char)*q >= 0x80)
			return 0;
		labels++;
		if (*p != '.')
			break;
		p++;
	}
	return *p == '\0' && labels >= 2;
}

/* --------------------------------------------------------------- utf8 */

/* Length of the UTF-8 sequence at s (1..4), or 0 if malformed/truncated. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return c ? 1 : 0;
	size_t n;
	uint32_t cp;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* reject overlongs, surrogates and values past U+10FFFF */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

size_t utf8_clip(const char *s, size_t len, size_t max_bytes)
{
	if (len <= max_bytes)
		return len;
	size_t n = max_bytes;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

void fmt_unix_rfc3339(int64_t secs, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void fmt_now(char out[32])
{
	fmt_unix_rfc3339((int64_t)time(NULL), out);
}

int fmt_parse_date_arg(const char *s, int64_t *unix_secs)
{
	char day[32];
	if (fmt_parse_datetime(s, unix_secs, NULL) == 0)
		return 0;
	if (strlen(s) != 10)
		return -1;
	snprintf(day, sizeof(day), "%sT00:00:00Z", s);
	return fmt_parse_datetime(day, unix_secs, NULL);
}
