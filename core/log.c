/*
 * log.c - structured key=value logging with secret redaction (see log.h).
 *
 * Lines are assembled in a buffer and written with one write(2) so that
 * lines from several threads (worker pools) never interleave.
 */
#include "log.h"
#include "buf.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static int out_fd = 2;
static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;

static const char *level_names[] = { "error", "warn", "info", "debug", "trace" };

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(*level_names); i++)
		if (!strcasecmp(s, level_names[i]))
			return (int)i;
	return -1;
}

int log_enabled(enum log_level lvl)
{
	return lvl <= cur_level;
}

void log_set_fd(int fd)
{
	out_fd = fd < 0 ? 2 : fd;
}

void log_secret_add(const char *secret)
{
	if (!secret || strlen(secret) < 4)
		return;
	pthread_mutex_lock(&secret_lock);
	for (size_t i = 0; i < nsecrets; i++) {
		if (!strcmp(secrets[i], secret)) {
			pthread_mutex_unlock(&secret_lock);
			return;
		}
	}
	secrets = xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	secrets[nsecrets++] = xstrdup(secret);
	pthread_mutex_unlock(&secret_lock);
}

void log_redact(struct buf *out, const char *s, size_t len)
{
	pthread_mutex_lock(&secret_lock);
	size_t i = 0;
	while (i < len) {
		int hit = 0;
		for (size_t k = 0; k < nsecrets; k++) {
			size_t sl = strlen(secrets[k]);
			if (sl <= len - i && !memcmp(s + i, secrets[k], sl)) {
				buf_adds(out, "[REDACTED]");
				i += sl;
				hit = 1;
				break;
			}
		}
		if (!hit)
			buf_addch(out, s[i++]);
	}
	pthread_mutex_unlock(&secret_lock);
}

static int needs_quote(const char *s)
{
	if (!*s)
		return 1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
			return 1;
	return 0;
}

void log_quote(struct buf *out, const char *s)
{
	if (!s) {
		buf_adds(out, "(null)");
		return;
	}
	if (!needs_quote(s)) {
		buf_adds(out, s);
		return;
	}
	buf_addch(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			buf_adds(out, "\\\"");
			break;
		case '\\':
			buf_adds(out, "\\\\");
			break;
		case '\n':
			buf_adds(out, "\\n");
			break;
		case '\r':
			buf_adds(out, "\\r");
			break;
		case '\t':
			buf_adds(out, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_addf(out, "\\x%02x", *p);
			else
				buf_addch(out, *p); /* UTF-8 passes through */
		}
	}
	buf_addch(out, '"');
}

/*
 * Format one conversion spec (already copied into `spec`, e.g. "%-5lld")
 * consuming the right argument type from ap.
 */
static void format_one(struct buf *out, const char *spec, char conv, const char *len,
		       va_list *ap)
{
	switch (conv) {
	case 'd':
	case 'i':
		if (!strcmp(len, "ll"))
			buf_addf(out, spec, va_arg(*ap, long long));
		else if (!strcmp(len, "l"))
			buf_addf(out, spec, va_arg(*ap, long));
		else if (!strcmp(len, "z"))
			buf_addf(out, spec, va_arg(*ap, ssize_t));
		else if (!strcmp(len, "j"))
			buf_addf(out, spec, va_arg(*ap, intmax_t));
		else
			buf_addf(out, spec, va_arg(*ap, int));
		break;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		if (!strcmp(len, "ll"))
			buf_addf(out, spec, va_arg(*ap, unsigned long long));
		else if (!strcmp(len, "l"))
			buf_addf(out, spec, va_arg(*ap, unsigned long));
		else if (!strcmp(len, "z"))
			buf_addf(out, spec, va_arg(*ap, size_t));
		else if (!strcmp(len, "j"))
			buf_addf(out, spec, va_arg(*ap, uintmax_t));
		else
			buf_addf(out, spec, va_arg(*ap, unsigned));
		break;
	case 'f':
	case 'g':
	case 'e':
	case 'F':
	case 'G':
	case 'E':
		buf_addf(out, spec, va_arg(*ap, double));
		break;
	case 'c':
		buf_addf(out, spec, va_arg(*ap, int));
		break;
	case 'p':
		buf_addf(out, spec, va_arg(*ap, void *));
		break;
	case 's': {
		/* Precision on %s (".*" or ".N") limits the raw string before quoting. */
		const char *s = va_arg(*ap, const char *);
		log_quote(out, s);
		break;
	}
	default:
		buf_adds(out, spec);
	}
}

static void format_kv(struct buf *out, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	for (const char *p = fmt; *p;) {
		if (*p != '%') {
			buf_addch(out, *p++);
			continue;
		}
		if (p[1] == '%') {
			buf_addch(out, '%');
			p += 2;
			continue;
		}
		char spec[32];
		size_t n = 0;
		spec[n++] = *p++;
		while (*p && strchr("-+ #0123456789.", *p) && n < sizeof(spec) - 4)
			spec[n++] = *p++;
		char len[3] = "";
		size_t ln = 0;
		while (*p && strchr("hlzjt", *p) && ln < 2) {
			len[ln++] = *p;
			spec[n++] = *p++;
		}
		len[ln] = '\0';
		if (!*p)
			break;
		char conv = *p++;
		spec[n++] = conv;
		spec[n] = '\0';
		format_one(out, spec, conv, len, &cp);
	}
	va_end(cp);
}

void log_vmsg(enum log_level lvl, const char *event, const char *fmt, va_list ap)
{
	if (!log_enabled(lvl))
		return;
	struct buf line = BUF_INIT, red = BUF_INIT;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	buf_addf(&line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		 level_names[lvl]);
	log_quote(&line, event);
	if (fmt && *fmt) {
		buf_addch(&line, ' ');
		format_kv(&line, fmt, ap);
	}
	log_redact(&red, line.ptr, line.len);
	buf_addch(&red, '\n');
	size_t off = 0;
	while (off < red.len) {
		ssize_t w = write(out_fd, red.ptr + off, red.len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	buf_free(&line);
	buf_free(&red);
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, event, fmt, ap);
	va_end(ap);
}
