/*
 * kit.c - helpers shared by the adapters (see kit.h).
 */
#include "kit.h"
#include "formats.h"
#include "kcidb.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *kit_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int kit_int(const json_t *o, const char *key, json_int_t *out)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	const char *s = json_string_value(v);
	if (s && *s) {
		char *end;
		long long x = strtoll(s, &end, 10);
		if (*end == '\0') {
			*out = x;
			return 1;
		}
	}
	return 0;
}

char *kit_text(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf_detach(&b);
	}
	return NULL;
}

void kit_set_str(json_t *obj, const char *key, const char *v)
{
	if (v && *v && utf8_valid(v, strlen(v)))
		json_object_set_new(obj, key, json_string(v));
}

void kit_set_uri(json_t *obj, const char *key, const char *v)
{
	if (v && fmt_is_uri(v))
		json_object_set_new(obj, key, json_string(v));
}

void kit_set_https(json_t *obj, const char *key, const char *v)
{
	if (v && !strncmp(v, "https://", 8) && fmt_is_uri(v))
		json_object_set_new(obj, key, json_string(v));
}

void kit_set_commit(json_t *obj, const char *key, const char *v)
{
	if (!v || strlen(v) != 40)
		return;
	for (const char *p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return;
	json_object_set_new(obj, key, json_string(v));
}

void kit_set_email(json_t *obj, const char *key, const char *v)
{
	if (!v)
		return;
	size_t l = strlen(v);
	if (l >= 2 && v[0] == '<' && v[l - 1] == '>') {
		char *s = xstrndup(v + 1, l - 2);
		if (fmt_is_email(s))
			json_object_set_new(obj, key, json_string(s));
		free(s);
	} else if (fmt_is_email(v)) {
		json_object_set_new(obj, key, json_string(v));
	}
}

void kit_set_arch(json_t *obj, const char *key, const char *v)
{
	if (!v || !*v)
		return;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return;
	json_object_set_new(obj, key, json_string(v));
}

/* ------------------------------------------------------------ time */

int kit_time_us(const char *s, int64_t *us)
{
	if (!s)
		return -1;
	int64_t secs;
	if (fmt_parse_datetime(s, &secs, NULL) < 0)
		return -1;
	/* the fraction, which fmt_parse_datetime drops: after "YYYY-MM-DDTHH:MM:SS" */
	int64_t frac = 0;
	if (strlen(s) > 19 && s[19] == '.') {
		int digits = 0;
		for (const char *p = s + 20; isdigit((unsigned char)*p); p++) {
			if (digits < 6) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
		}
		while (digits++ < 6)
			frac *= 10;
	}
	*us = secs * 1000000 + frac;
	return 0;
}

static void civil(int64_t us, struct tm *tm, int64_t *frac_us)
{
	int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	*frac_us = us - secs * 1000000;
	time_t t = (time_t)secs;
	gmtime_r(&t, tm);
}

void kit_time_naive(int64_t us, char sep, int frac, char out[40])
{
	struct tm tm;
	int64_t f;
	civil(us, &tm, &f);
	int n = snprintf(out, 40, "%04d-%02d-%02d%c%02d:%02d:%02d", tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, sep, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (frac == 3)
		snprintf(out + n, 40 - (size_t)n, ".%03lld", (long long)(f / 1000));
	else if (frac == 6)
		snprintf(out + n, 40 - (size_t)n, ".%06lld", (long long)f);
}

void kit_time_rfc3339(int64_t us, char out[40])
{
	kit_time_naive(us, 'T', 3, out);
	strcat(out, "Z");
}

void kit_set_time(json_t *obj, const char *key, const char *v)
{
	if (!v || !*v)
		return;
	if (fmt_is_datetime(v) && v[10] == 'T') {
		json_object_set_new(obj, key, json_string(v));
		return;
	}
	int64_t us;
	if (kit_time_us(v, &us) < 0)
		return;
	/* naive (UTC by every upstream's definition) or an odd separator: rewrite */
	struct buf b = BUF_INIT;
	buf_add(&b, v, 10);
	buf_addch(&b, 'T');
	const char *p = v + 11;
	size_t l = 8;
	if (p[8] == '.') {
		l = 9;
		while (isdigit((unsigned char)p[l]))
			l++;
	}
	buf_add(&b, p, l);
	const char *zone = p + l;
	buf_adds(&b, *zone ? zone : "+00:00");
	if (fmt_is_datetime(b.ptr))
		json_object_set_new(obj, key, json_string(b.ptr));
	buf_free(&b);
}

int kit_since(const char *since, int64_t now, int64_t *us)
{
	int64_t secs;
	if (!since) {
		*us = (now - 7 * 86400) * 1000000;
		return 0;
	}
	if (config_parse_duration(since, &secs) == 0) {
		*us = (now - secs) * 1000000;
		return 0;
	}
	return kit_time_us(since, us);
}

int kit_check_since(const struct adapter_source *src, const char *since, struct err *err)
{
	int64_t us;
	if (since && kit_since(since, 0, &us) < 0)
		return err_set(err, ERR_CONFIG,
		               "[source \"%s\"] since: '%s' is neither a date-time "
		               "(2024-01-31T00:00:00Z) nor a duration back from now (7d)",
		               src->name, since);
	return 0;
}

/* ------------------------------------------------------------ text */

void kit_set_excerpt(json_t *obj, const char *key, const char *text, size_t len)
{
	if (!text || !len || !utf8_valid(text, len))
		return;
	size_t cps = utf8_length(text, len);
	const char *p = text;
	if (cps > 16384) {
		/* keep the end: logs and messages tell what went wrong last */
		size_t skip = cps - 16384;
		while (skip && p < text + len) {
			p++;
			while (p < text + len && ((unsigned char)*p & 0xc0) == 0x80)
				p++;
			skip--;
		}
	}
	json_object_set_new(obj, key, json_stringn(p, (size_t)(text + len - p)));
}

void kit_set_duration(json_t *obj, const char *key, const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		json_object_set_new(obj, key, json_integer(json_integer_value(v)));
	else if (json_is_real(v) && json_real_value(v) >= 0)
		json_object_set_new(obj, key, json_real(json_real_value(v)));
}

void kit_copy(json_t *to, const json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);
	if (v && !json_is_null(v))
		json_object_set(to, key, v);
}

static int path_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void segment(struct buf *out, const char *s, size_t len)
{
	size_t start = out->len;
	int run = 0;
	for (size_t i = 0; i < len; i++) {
		if (path_char((unsigned char)s[i])) {
			buf_addch(out, s[i]);
			run = 0;
		} else if (!run) {
			buf_addch(out, '_');
			run = 1;
		}
	}
	if (out->len == start)
		buf_addch(out, '_');
}

void kit_path_segment(struct buf *out, const char *s)
{
	segment(out, s ? s : "", s ? strlen(s) : 0);
}

void kit_path_dotted(struct buf *out, const char *s)
{
	if (!s || !*s) {
		buf_addch(out, '_');
		return;
	}
	const char *p = s;
	int first = 1;
	while (*p) {
		size_t l = strcspn(p, ".");
		if (l) {
			if (!first)
				buf_addch(out, '.');
			segment(out, p, l);
			first = 0;
		}
		p += l;
		if (*p == '.')
			p++;
	}
	if (first)
		buf_addch(out, '_');
}

void kit_id_part(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '%' || *p == '/' || *p < 0x20 || *p == 0x7f)
			buf_addf(out, "%%%02X", *p);
		else
			buf_addch(out, (char)*p);
	}
}

void kit_url_escape(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			buf_addch(out, (char)*p);
		else
			buf_addf(out, "%%%02X", *p);
	}
}

char *kit_url_with_param(const char *url, const char *name, const char *value)
{
	struct buf b = BUF_INIT;
	const char *frag = strchr(url, '#');
	size_t ulen = frag ? (size_t)(frag - url) : strlen(url);
	const char *q = memchr(url, '?', ulen);
	size_t nl = strlen(name);
	if (!q) {
		buf_add(&b, url, ulen);
		buf_addf(&b, "?%s=", name);
		kit_url_escape(&b, value);
		return buf_detach(&b);
	}
	buf_add(&b, url, (size_t)(q + 1 - url));
	const char *p = q + 1, *end = url + ulen;
	int done = 0, first = 1;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if (!first)
			buf_addch(&b, '&');
		first = 0;
		if ((size_t)(e - p) >= nl + 1 && !strncmp(p, name, nl) && p[nl] == '=') {
			buf_addf(&b, "%s=", name);
			kit_url_escape(&b, value);
			done = 1;
		} else {
			buf_add(&b, p, (size_t)(e - p));
		}
		p = amp ? amp + 1 : end;
	}
	if (!done) {
		if (!first)
			buf_addch(&b, '&');
		buf_addf(&b, "%s=", name);
		kit_url_escape(&b, value);
	}
	return buf_detach(&b);
}

size_t kit_config_all(const struct config *cfg, const struct adapter_source *src, const char *key,
                      char ***out)
{
	const char **vals;
	size_t n = config_get_all(cfg, "source", src->name, key, &vals);
	*out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = xstrdup(vals[i]);
	free(vals);
	return n;
}

void kit_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
