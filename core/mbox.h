/*
 * mbox.h - split an mbox file into messages.
 *
 * Reads mboxrd, the format public-inbox, lei and lore's t.mbox.gz write:
 * a message starts at a "From " line at the beginning of a line, and body
 * lines that began with ">*From " carry one extra '>', removed here.
 * (mboxo files are read the same way; their "From " quoting cannot be
 * undone exactly, which only matters for lines that began with ">From ".)
 * The blank line that separates messages is not part of a message.  Input
 * without a leading "From " line is taken as one message (an .eml file).
 *
 * The iterator does not copy a message unless it has quoting to undo; the
 * returned pointer stays valid until the next call or mbox_iter_free().
 */
#ifndef CIFEED_MBOX_H
#define CIFEED_MBOX_H

#include <stddef.h>

#include "buf.h"

struct mbox_iter {
	const char *data;
	size_t len, pos;
	size_t index;    /* 1-based number of the last message returned */
	size_t offset;   /* byte offset of its "From " line in the file */
	struct buf copy; /* holds a message whose quoting was undone */
};

void mbox_iter_init(struct mbox_iter *it, const char *data, size_t len);
/* Next message: 1 and msg/len set, or 0 at the end. */
int mbox_next(struct mbox_iter *it, const char **msg, size_t *len);
void mbox_iter_free(struct mbox_iter *it);

#endif
