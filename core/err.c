/*
 * err.c - error reports that carry their context (see err.h).
 */
#include "err.h"

#include <errno.h>
#include <string.h>

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return -1;
	buf_reset(&e->msg);
	e->code = code;
	va_start(ap, fmt);
	buf_vaddf(&e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int err_errno(struct err *e, enum err_code code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	if (!e)
		return -1;
	buf_reset(&e->msg);
	e->code = code;
	va_start(ap, fmt);
	buf_vaddf(&e->msg, fmt, ap);
	va_end(ap);
	buf_addf(&e->msg, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	struct buf pre = BUF_INIT;
	va_list ap;
	if (!e)
		return -1;
	va_start(ap, fmt);
	buf_vaddf(&pre, fmt, ap);
	va_end(ap);
	buf_adds(&pre, ": ");
	buf_add(&pre, buf_cstr(&e->msg), e->msg.len);
	buf_free(&e->msg);
	e->msg = pre;
	if (e->code == ERR_NONE)
		e->code = ERR_INTERNAL;
	return -1;
}

const char *err_msg(const struct err *e)
{
	return e->msg.len ? e->msg.ptr : "unknown error";
}

void err_clear(struct err *e)
{
	e->code = ERR_NONE;
	buf_reset(&e->msg);
}

void err_free(struct err *e)
{
	buf_free(&e->msg);
	e->code = ERR_NONE;
}

int err_exit_status(const struct err *e)
{
	switch (e->code) {
	case ERR_NONE:
		return EXIT_OK;
	case ERR_USAGE:
		return EXIT_USAGE;
	case ERR_INVALID:
		return EXIT_REJECTED;
	case ERR_NOTFOUND:
		return EXIT_NO;
	case ERR_CONFIG:
		return EXIT_CONFIG;
	default:
		return EXIT_FAILURE_;
	}
}
