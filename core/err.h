/*
 * err.h - error reports that carry their context.
 *
 * Functions that can fail return 0 on success or a negative value on
 * failure and fill a caller-provided `struct err`.  The message names what
 * failed and where (file, line, object id, URL); callers that add context
 * use err_prefix() so the final message reads outermost-first, e.g.
 *   "spool/x.json: tests[3] (id maestro:42): status: 'BUILD' is not ..."
 * The code classifies the failure so the CLI can map it to an exit status
 * without parsing messages.
 */
#ifndef CIFEED_ERR_H
#define CIFEED_ERR_H

#include "buf.h"

enum err_code {
	ERR_NONE = 0,
	ERR_USAGE,    /* bad command line or API misuse */
	ERR_INVALID,  /* input rejected (validation, parse error) */
	ERR_NOTFOUND, /* a named thing does not exist */
	ERR_CONFIG,   /* configuration file problem */
	ERR_IO,       /* file system or OS call failed */
	ERR_DB,       /* the store failed */
	ERR_NET,      /* network / upstream failure */
	ERR_INTERNAL, /* a bug */
};

struct err {
	enum err_code code;
	struct buf msg;
};

#define ERR_INIT { ERR_NONE, BUF_INIT }

/* Replace the message; always returns -1 so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errno)". */
int err_errno(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Put "context: " in front of the current message. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *err_msg(const struct err *e);
void err_clear(struct err *e);
void err_free(struct err *e);

/* Process exit statuses (documented in README and `cifeed --help`). */
enum exit_status {
	EXIT_OK = 0,
	EXIT_NO = 1,       /* query-style "no / not found" */
	EXIT_USAGE = 2,    /* bad usage */
	EXIT_REJECTED = 3, /* input rejected */
	EXIT_CONFIG = 4,   /* configuration error */
	EXIT_FAILURE_ = 5, /* runtime failure: I/O, database, network, bug */
};

int err_exit_status(const struct err *e);

#endif
