/*
 * mime.h - RFC 5322 / MIME messages: safe rendering and tolerant parsing.
 *
 * Rendering (feed messages, bot mail): every string that came from outside
 * goes through one of these calls, which make it impossible for the string
 * to add a header line, end the header block, or break the MIME structure:
 *   - header values are UTF-8-validated (bad bytes become U+FFFD), control
 *     characters become spaces, and anything that is not short printable
 *     ASCII is RFC 2047-encoded (UTF-8, "B"); lines are folded at 78 columns;
 *   - body text is sanitised (valid UTF-8, no NUL or control characters but
 *     TAB and LF) and sent 8bit when every line fits in 998 bytes,
 *     quoted-printable otherwise;
 *   - multipart boundaries are derived from a hash of the encoded parts and
 *     checked against every part, so no content can contain the delimiter.
 * Output always uses LF line endings (public-inbox stores LF).
 *
 * Parsing (feed reader, feed writer, verify): header fields with public-inbox's
 * header_raw semantics (unfolded, trimmed), RFC 2047 decoding, Message-ID
 * extraction, Content-Type parameters, and the leaf parts of a multipart tree
 * with their transfer encoding undone.  Parsing never fails on odd input: it
 * yields what it can, and callers decide what is an error.
 *
 * Ownership: a struct mime_msg points into the caller's bytes, which must
 * outlive it; mime_msg_free releases only the index.  Parts own their decoded
 * bodies.
 */
#ifndef CIFEED_MIME_H
#define CIFEED_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ------------------------------------------------------------ parsing */

struct mime_field {
	const char *name; /* points into the message */
	size_t name_len;
	const char *raw;  /* value as stored, after "Name:", folding kept */
	size_t raw_len;
	size_t off, len;  /* the whole field, with its line ending(s), in the message */
};

struct mime_msg {
	const char *data;
	size_t len;
	struct mime_field *fields;
	size_t nfields;
	size_t hdr_end;  /* offset of the blank line ending the header block (== len if none) */
	size_t body_off; /* first byte of the body */
	int crlf;        /* header lines end in CRLF */
};

/* Index the header block of data[0..len).  Never fails. */
void mime_parse(struct mime_msg *m, const char *data, size_t len);
void mime_msg_free(struct mime_msg *m);

/* Number of fields named `name` (case-insensitive). */
size_t mime_count(const struct mime_msg *m, const char *name);
/*
 * The nth (0-based) field named `name`, unfolded and trimmed like
 * public-inbox's header_raw: CR/LF + following blanks become one space.
 * Appends to out; returns 1 when found, 0 when not.
 */
int mime_get(const struct mime_msg *m, const char *name, size_t nth, struct buf *out);
/* header_raw unfolding of any raw value (trim; CR/LF + blanks -> one space). */
void mime_unfold(const char *s, size_t len, struct buf *out);
/* Like mime_get, then RFC 2047-decoded into UTF-8 (decoded CR/LF/NUL/TAB become spaces). */
int mime_get_decoded(const struct mime_msg *m, const char *name, size_t nth, struct buf *out);

/* RFC 2047 decoding of a header value (any charset iconv knows; bad input kept as is). */
void mime_decode_words(const char *s, size_t len, struct buf *out);

/* Every <id> in a header value, without the brackets. */
struct mime_ids {
	char **v;
	size_t n;
};
void mime_ids_extract(const char *value, size_t len, struct mime_ids *ids);
/* Message-IDs of a message (all Message-ID fields, in order, unique, max 244 bytes). */
void mime_msg_ids(const struct mime_msg *m, struct mime_ids *ids);
/* References then In-Reply-To ids, unique, excluding the message's own ids. */
void mime_msg_refs(const struct mime_msg *m, struct mime_ids *ids);
void mime_ids_add(struct mime_ids *ids, const char *id, size_t len);
int mime_ids_has(const struct mime_ids *ids, const char *id);
void mime_ids_free(struct mime_ids *ids);

/* First address of an address-list header: display name (decoded) and addr-spec. */
void mime_addr_parse(const char *value, size_t len, struct buf *name, struct buf *addr);

/*
 * A Content-Type parameter (lower-cased name, e.g. "boundary", "charset"),
 * unquoted.  Returns 1 when present.
 */
int mime_param(const char *value, size_t len, const char *param, struct buf *out);

/* One leaf part of a message (the message itself when not multipart). */
struct mime_part {
	char *ctype;       /* lower-case "type/subtype" ("text/plain" when missing) */
	char *charset;     /* lower-case, or NULL */
	char *filename;    /* from Content-Disposition / Content-Type name, or NULL */
	char *description; /* Content-Description, or NULL */
	struct buf body;   /* transfer encoding undone (base64, quoted-printable) */
	int depth;         /* 0 for a single-part message, 1.. inside multiparts */
	char idx[64];      /* public-inbox part index: "1", "2", "1.2" ... */
};

/*
 * The leaf parts of `m`, depth-first in document order (at most 1000 parts,
 * nesting at most 20 levels, like public-inbox).  Returns the number of parts.
 */
size_t mime_parts(const struct mime_msg *m, struct mime_part **parts);
void mime_parts_free(struct mime_part *parts, size_t n);

/* Transfer decodings (also used for parts). */
void mime_qp_decode(const char *s, size_t len, struct buf *out);
int mime_base64_decode(const char *s, size_t len, struct buf *out);

/*
 * An RFC 5322 date ("Mon, 01 Jan 2024 11:00:00 +0100", with public-inbox's
 * tolerance for obsolete zones and 2-digit years) to Unix seconds and the
 * zone in minutes east of UTC.  Returns 0, or -1 when unparseable.
 */
int mime_date_parse(const char *s, int64_t *t, int *tz_minutes);

/* ------------------------------------------------------------ rendering */

/*
 * Make outside text safe for a body: invalid UTF-8 becomes U+FFFD, CR and
 * NUL are dropped, other control characters (and DEL) become spaces; LF and
 * TAB are kept only when keep_lines is set (else they become spaces).
 */
void mime_text_sanitize(const char *s, size_t len, struct buf *out, int keep_lines);

/*
 * Append "Name: value\n".  The value is sanitised as one line and
 * RFC 2047-encoded when it is not plain printable ASCII (or contains "=?",
 * or a word too long to fold); folded at 78 columns either way.
 */
void mime_add_text(struct buf *out, const char *name, const char *value);
/* Same for a value with explicit length (may contain NUL, bad UTF-8...). */
void mime_add_textn(struct buf *out, const char *name, const char *value, size_t len);
/*
 * Append "Name: display <addr>\n".  `display` may be anything (quoted or
 * encoded as needed); `addr` must be a plain addr-spec (fmt_is_email) or the
 * call returns -1 and appends nothing.
 */
int mime_add_addr(struct buf *out, const char *name, const char *display, const char *addr);
/*
 * Append a header of message ids: "Name: <a>\n" or, for several, folded
 * "<a>\n <b>".  Ids that are not safe (space, <, >, control, non-ASCII,
 * longer than 244 bytes) are skipped; returns the number written (nothing is
 * appended when 0).
 */
size_t mime_add_ids(struct buf *out, const char *name, const char *const *ids, size_t n);
/* 1 when `id` can be written inside <> as a Message-ID. */
int mime_id_safe(const char *id);
/* RFC 5322 date "Mon, 01 Jan 2024 10:00:00 +0000" of Unix seconds (UTC). */
void mime_format_date(int64_t t, char out[40]);

/* One part of a multipart body. */
struct mime_part_spec {
	const char *ctype;       /* "text/plain" or "application/json" ... */
	const char *filename;    /* NULL, or a safe ASCII file name for Content-Disposition */
	const char *description; /* NULL, or outside text for Content-Description */
	const char *body;        /* UTF-8 text (sanitised here) */
	size_t len;
};

/*
 * Append the MIME headers (MIME-Version, Content-Type with boundary), the
 * blank line and a multipart/mixed body with these parts.  Each part is
 * declared charset=utf-8 and sent 8bit or quoted-printable (lines longer
 * than 998 bytes); the boundary is chosen so no part contains it.
 */
void mime_add_multipart(struct buf *out, const struct mime_part_spec *parts, size_t n);

/*
 * Append the MIME headers, the blank line and a single text/plain body
 * (charset=utf-8): 7bit when the sanitised text is ASCII with short lines,
 * quoted-printable otherwise, so it passes any SMTP server (no 8BITMIME
 * needed).  For mail written to people (bot messages).
 */
void mime_add_text_body(struct buf *out, const char *text, size_t len);

#endif
