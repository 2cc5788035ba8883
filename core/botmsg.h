/*
 * botmsg.h - the pure parts of bot mail: rendering a message, its
 * deterministic Message-ID, recognising "stop" replies, opt-out lists and
 * bot senders.  No store, no I/O except reading an opt-out file.
 *
 * Rendering follows ../shared/reference/bot-etiquette.md section 2: To the
 * author only, "Re:" subject, In-Reply-To and References the cover letter
 * or first patch, Auto-Submitted: auto-generated (RFC 3834), and a footer
 * saying it is a bot and how to opt out.  Every string that came from mail
 * goes through mime.h, so nothing from outside can add a header or break
 * the message.  Output uses LF line endings (the outbox feed stores LF;
 * SMTP converts to CRLF).
 */
#ifndef CIFEED_BOTMSG_H
#define CIFEED_BOTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "mail.h"

/*
 * Message-ID (without <>) of bot `bot`'s message about the series rooted at
 * `root_msgid` to `recipient`: "<32 hex>.<bot>@<domain>", the hex being a
 * SHA-256 of the three.  The same inputs always give the same id, so a
 * resend after a crash carries the id of the first attempt.
 */
void botmsg_msgid(const char *bot, const char *root_msgid, const char *recipient,
		  const char *domain, struct buf *out);

struct botmsg_in {
	const char *bot;         /* bot name, for the footer and X-Cifeed-Bot */
	const char *from_name;   /* display name of From, may be NULL */
	const char *from_addr;   /* plain addr-spec */
	const char *to_name;     /* author's display name, may be NULL */
	const char *to_addr;     /* author's address (checked with fmt_is_email) */
	const char *subject;     /* subject of the message answered */
	const char *in_reply_to; /* its Message-ID, without <> */
	const char *msgid;       /* botmsg_msgid() */
	int64_t date;            /* Unix seconds */
	const char *body;        /* the bot's text (UTF-8, LF) */
	const char *docs_url;    /* may be NULL */
};

/* Render the whole message.  Returns 0, or -1 (err) for an unusable address. */
int botmsg_render(const struct botmsg_in *in, struct buf *out, struct err *err);

/*
 * "Hi <first name>," material: the first word of a display name when the
 * name looks like "First Last" (no comma, no @, letters); else nothing is
 * appended and 0 is returned (the caller says "Hello,").
 */
int botmsg_first_name(const char *display, struct buf *out);

/*
 * Is this reply an opt-out?  1 when the subject, once "Re:" markers are
 * removed, is "stop" or "unsubscribe", or when the word "stop" (any case)
 * stands in the text written above the quoted part: lines before the first
 * quote ("> ..."), "On ... wrote:" line, "-----Original Message-----" or
 * signature separator.
 */
int botmsg_is_stop(const struct mail *m);

/* An opt-out list: addresses or "*" globs (case-insensitive), with their line. */
struct bot_optlist {
	char *path;
	char **pat;
	size_t *line;
	size_t n;
};

/*
 * Read an opt-out file in korgalore's bozofilter format: one address per
 * line ("Name <addr>" is accepted too), "#" starts a comment, blank lines
 * are ignored, "*" matches any run of characters ("*@example.org").  A line
 * that is not an address is an error naming the file and line: a bot must
 * not guess what an opt-out meant.
 */
int botmsg_optlist_read(const char *path, struct bot_optlist *l, struct err *err);
/* The line (>= 1) of the first entry matching addr, or 0. */
size_t botmsg_optlist_match(const struct bot_optlist *l, const char *addr);
void botmsg_optlist_free(struct bot_optlist *l);

/* Case-insensitive match of an address against a pattern with "*" globs. */
int botmsg_addr_match(const char *pattern, const char *addr);

/*
 * Is `addr` a known bot sender (0-day, patchwork-bot, bugbot, patchew,
 * syzbot, AUTOSEL-style noreply addresses...) or one of extra[0..n)?
 * Returns the matching pattern, or NULL.
 */
const char *botmsg_bot_sender(const char *addr, const char *const *extra, size_t n);

/*
 * Addresses that cannot reach the author privately (B4 Relay's devnull+,
 * noreply): returns the pattern, or NULL.
 */
const char *botmsg_undeliverable(const char *addr);

/* Lower-cased copy of an address. */
char *botmsg_addr_lower(const char *addr);

#endif
