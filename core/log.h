/*
 * log.h - structured `key=value` log lines on stderr.
 *
 * Every line looks like
 *   ts=2026-11-22T10:30:00.123Z level=info event=ingest.done file=x.json tests=12
 * The format string is printf-like and should itself be a list of
 * `key=%conv` pairs.  Each %s argument is quoted when it needs to be (spaces,
 * quotes, '=', control or non-ASCII bytes are escaped) so a value from outside
 * can never forge another key or another line.  Supported conversions: the
 * usual d i u x o c s f g e p with h/l/ll/z/j lengths, flags, width, precision.
 *
 * Secrets (tokens, passwords) registered with log_secret_add() are replaced
 * by "[REDACTED]" in every line before it is written, whatever path they
 * took into the message.
 */
#ifndef CIFEED_LOG_H
#define CIFEED_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug", "trace"; -1 if unknown. */
int log_level_parse(const char *s);
int log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *event, const char *fmt, va_list ap);

#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_trace(ev, ...) log_msg(LOG_TRACE, ev, __VA_ARGS__)

/* Register a secret that must never be written (copied; min length 4). */
void log_secret_add(const char *secret);
/* Replace every registered secret in s (len bytes) in place-safe manner into out. */
struct buf;
void log_redact(struct buf *out, const char *s, size_t len);

/* Redirect output (tests); NULL restores stderr. Not thread-safe to change. */
void log_set_fd(int fd);

/* Format a value as it would appear in a log line (quoted when needed). */
void log_quote(struct buf *out, const char *s);

#endif
