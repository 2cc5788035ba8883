/*
 * smtp.h - send one message by SMTP with libcurl, and say precisely how far
 * it got.
 *
 * smtp_send() runs one SMTP transaction (EHLO, STARTTLS when asked, AUTH
 * when a user is given, MAIL FROM, RCPT TO for every recipient, DATA) on a
 * blocking curl easy handle: call it off the event loop.  TLS verification
 * is always on (peer and host name); smtps:// is implicit TLS, smtp:// with
 * `starttls` refuses to go on without STARTTLS.  The message is given with
 * LF line ends; it goes out with CRLF and dot-stuffing (curl's).
 *
 * The outcome is one of three, which is what a crash-safe sender needs:
 *   SMTP_ACCEPTED  the server answered 2xx to the end of data
 *   SMTP_REFUSED   the server cannot have accepted it: a failure before the
 *                  end of data, or a 4xx/5xx answer to it (`permanent` for 5xx)
 *   SMTP_UNKNOWN   the end of data was (or may have been) sent and no answer
 *                  came (timeout, reset): the server may or may not have it
 * `before_eob` is called when curl has the whole message and BEFORE the end
 * of data ("CRLF . CRLF") goes out: the caller records "submitted" there.
 * If it returns -1 the transaction is aborted and the result is
 * SMTP_REFUSED (nothing can have been accepted).
 */
#ifndef CIFEED_SMTP_H
#define CIFEED_SMTP_H

#include <stddef.h>

#include "err.h"

struct smtp_opts {
	const char *url;      /* smtp://host[:port] or smtps://host[:port] */
	int starttls;         /* smtp://: require STARTTLS */
	const char *ca_file;  /* NULL: the system's CAs */
	const char *user;     /* NULL: no AUTH */
	const char *password; /* with user; never logged */
	long connect_timeout; /* seconds; 0 = 30 */
	long timeout;         /* whole transaction, seconds; 0 = 120 */
};

enum smtp_outcome { SMTP_ACCEPTED, SMTP_REFUSED, SMTP_UNKNOWN };

struct smtp_result {
	enum smtp_outcome outcome;
	int permanent;  /* SMTP_REFUSED with a 5xx answer */
	long code;      /* last SMTP reply code, 0 if none */
	char text[256]; /* what went wrong (curl's error buffer), or "" */
};

int smtp_send(const struct smtp_opts *o, const char *from, const char *const *rcpt, size_t nrcpt,
	      const char *msg, size_t len, int (*before_eob)(void *ctx), void *ctx,
	      struct smtp_result *res);

/* 1 when the URL's host is a loopback name or address. */
int smtp_url_is_loopback(const char *url);

#endif
