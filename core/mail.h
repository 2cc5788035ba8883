/*
 * mail.h - RFC 5322 / MIME messages as intake needs them.
 *
 * mail_parse() takes the raw bytes of one message (LF or CRLF line ends,
 * no mbox "From " line) and never fails on bad mail: whatever cannot be
 * understood is left out and counted in ->defects, so one broken message
 * never stops an archive.  What it gives:
 *   - every header, unfolded, in order (duplicates kept; the getters take
 *     the first occurrence, as public-inbox and git do);
 *   - the usual fields decoded: Message-ID / In-Reply-To / References
 *     without <>, From split into name and address (RFC 2047 words decoded,
 *     quotes removed), Subject decoded to UTF-8 with folding removed, Date
 *     as Unix seconds and zone, List-Id without <>, Auto-Submitted;
 *   - the body: text parts (text/plain, text/x-patch, text/x-diff and
 *     other text types except HTML, the first text/plain of an alternative)
 *     with their Content-Transfer-Encoding undone (quoted-printable,
 *     base64) and their charset converted to UTF-8 (iconv), concatenated in
 *     order.  This is what `git mailinfo` hands to `git am`, so patch-ids
 *     and trailers are computed on it.  Invalid UTF-8 left after conversion
 *     becomes U+FFFD, so everything a struct mail holds is valid UTF-8.
 *
 * Ownership: a struct mail owns all its strings; mail_free() releases them.
 * The raw input is not referenced after mail_parse() returns.
 */
#ifndef CIFEED_MAIL_H
#define CIFEED_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct mail_header {
	char *name;  /* as written, e.g. "Message-Id" */
	char *value; /* unfolded raw value (not RFC 2047 decoded), leading blanks removed */
};

enum mail_defect {
	MAIL_DEFECT_NO_MSGID = 1 << 0,   /* no usable Message-ID */
	MAIL_DEFECT_BAD_DATE = 1 << 1,   /* Date missing or unparseable */
	MAIL_DEFECT_BAD_MIME = 1 << 2,   /* unterminated multipart, missing boundary... */
	MAIL_DEFECT_BAD_ENCODING = 1 << 3, /* bad base64/QP, unknown charset, invalid UTF-8 */
	MAIL_DEFECT_NO_BODY = 1 << 4,    /* header without the blank line and body */
};

struct mail {
	struct mail_header *h;
	size_t nh;

	char *message_id;   /* first Message-ID, without <>; NULL if none */
	char *in_reply_to;  /* first id of In-Reply-To, without <>; NULL if none */
	char **references;  /* References ids in order (oldest first), without <> */
	size_t nreferences;
	char *from_name;    /* decoded display name, or NULL */
	char *from_email;   /* address as written (lower-cased domain not enforced), or NULL */
	char *subject;      /* decoded, unfolded, blanks collapsed; "" when absent */
	int has_date;
	int64_t date;       /* Unix seconds (UTC) */
	int date_tz;        /* zone of the Date header in minutes east of UTC */
	char *list_id;      /* List-Id address without <> and without the phrase */
	char *auto_submitted; /* Auto-Submitted value (lower-cased token), NULL if absent */

	struct buf body;    /* decoded text, UTF-8, LF line ends */
	struct buf octets;  /* the same parts before charset conversion (as git mailinfo
			     * leaves a patch): patch-ids are computed on these bytes */
	int multipart;      /* 1 when the top-level Content-Type is multipart/ */
	unsigned defects;   /* enum mail_defect bits */
};

/* Parse raw[0..len).  Always fills *m (mail_free it); returns m->defects. */
unsigned mail_parse(const char *raw, size_t len, struct mail *m);
void mail_free(struct mail *m);

/* The first header `name` (case-insensitive), raw unfolded value, or NULL. */
const char *mail_header(const struct mail *m, const char *name);
/* How many headers named `name`. */
size_t mail_header_count(const struct mail *m, const char *name);

/*
 * Decode RFC 2047 encoded words in a header value into UTF-8, appending to
 * out.  Whitespace between adjacent encoded words is dropped; raw 8-bit
 * text is kept when it is UTF-8 and read as Latin-1 otherwise.
 */
void mail_decode_header(const char *value, size_t len, struct buf *out);

/*
 * Convert `len` bytes in `charset` to UTF-8, appending to out.  Unknown
 * charsets and invalid sequences are repaired (U+FFFD).  Returns 0 when the
 * text converted cleanly, -1 when something had to be repaired.
 */
int mail_to_utf8(const char *charset, const char *s, size_t len, struct buf *out);

/* Parse an RFC 5322 date (obsolete forms too).  Returns 0 or -1. */
int mail_parse_date(const char *s, int64_t *unix_secs, int *tz_minutes);

/*
 * Extract the ids in `<...>` tokens of a Message-ID-like header value, in
 * order.  A value with no brackets counts as one bare id.  Returns the
 * number of ids; *ids is an array of malloc'ed strings (caller frees each
 * and the array).
 */
size_t mail_msgids(const char *value, char ***ids);

/*
 * Split an address header value ("Name <a@b>", "a@b (Name)", "a@b") into
 * the decoded display name (NULL when none) and the address (NULL when
 * none).  Caller frees both.
 */
void mail_address(const char *value, char **name, char **email);

#endif
