/*
 * buf.h - growable byte buffer, the one string type of cifeed.
 *
 * Modelled on git's strbuf: a buffer is always NUL-terminated (so ->ptr can
 * be handed to C string APIs) but may also hold binary data with embedded
 * NULs; ->len is authoritative.  A zero-initialised struct buf (BUF_INIT) is
 * a valid empty buffer, so buffers can live on the stack or inside other
 * structs without a constructor call.
 *
 * Allocation failure aborts the process (see xmalloc): cifeed cannot do
 * anything useful when the heap is exhausted, and checking every append
 * would drown the code in error paths that are never exercised.
 */
#ifndef CIFEED_BUF_H
#define CIFEED_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *ptr;  /* NUL-terminated; never NULL after the first append */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
};

#define BUF_INIT { NULL, 0, 0 }

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Grow so that at least `extra` more bytes fit (plus the NUL). */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, int c);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Shorten to `len` bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);
void buf_reset(struct buf *b);
/* Return the string (never NULL) and leave the buffer empty; the caller frees. */
char *buf_detach(struct buf *b);
void buf_free(struct buf *b);
/* The contents as a C string; "" for a buffer that never held anything. */
const char *buf_cstr(const struct buf *b);
/* Strip trailing ASCII whitespace. */
void buf_rtrim(struct buf *b);

/* Append `len` bytes as lower-case hex. */
void buf_addhex(struct buf *b, const unsigned char *data, size_t len);

/*
 * Read a whole file (or stdin when path is "-") into b, refusing files larger
 * than `max` bytes.  Returns 0, or -1 with errno set (EFBIG when too large).
 */
int buf_read_file(struct buf *b, const char *path, size_t max);

#endif
