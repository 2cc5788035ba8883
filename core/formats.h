/*
 * formats.h - checks for the string formats cifeed accepts and emits.
 *
 * The checks mirror ajv-formats 3 in "full" mode, the validator the KCIDB
 * reference uses (see ../shared/reference/kcidb.md section 9), so anything
 * cifeed stores can be exported and pass ajv with the kcidb-io schema:
 *   uri        RFC 3986 absolute URI, ASCII only
 *   date-time  RFC 3339 with a mandatory zone ("T", "t" or one space between)
 *   email      dot-atom local part, a domain with at least one dot
 * plus UTF-8 helpers used wherever outside text is rendered.
 */
#ifndef CIFEED_FORMATS_H
#define CIFEED_FORMATS_H

#include <stddef.h>
#include <stdint.h>

int fmt_is_uri(const char *s);
int fmt_is_datetime(const char *s);
int fmt_is_email(const char *s);

/*
 * Parse an RFC 3339 date-time (as accepted by fmt_is_datetime, or without a
 * zone, which then means UTC) into Unix seconds.  Returns 0 or -1.
 */
int fmt_parse_datetime(const char *s, int64_t *unix_secs, int *tz_minutes);

/* 1 when s[0..len) is well-formed UTF-8 without NUL bytes. */
int utf8_valid(const char *s, size_t len);
/* Number of code points in well-formed UTF-8 (as JSON Schema maxLength counts). */
size_t utf8_length(const char *s, size_t len);
/* Length of the longest prefix of s[0..len) that does not split a UTF-8 sequence. */
size_t utf8_clip(const char *s, size_t len, size_t max_bytes);



/*
 * A command-line time: an RFC 3339 date-time, or a day "YYYY-MM-DD" (its
 * start, UTC).  Returns 0 or -1.
 */
int fmt_parse_date_arg(const char *s, int64_t *unix_secs);

/* Current UTC time as "2026-11-22T10:30:00Z" (out must hold 32 bytes). */
void fmt_now(char out[32]);
/* Unix seconds as RFC 3339 UTC "2026-11-22T10:30:00Z". */
void fmt_unix_rfc3339(int64_t secs, char out[32]);
#endif
