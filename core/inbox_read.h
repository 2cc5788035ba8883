/*
 * inbox_read.h - incremental intake from a public-inbox v2 archive.
 *
 * Reads a local v2 inbox (inbox.lock + git/N.git epochs; a lore mirror made
 * with public-inbox-clone or `git clone --mirror`) with libgit2 and hands
 * every message to intake (intake.h), as public-inbox-index reads it
 * (../shared/reference/public-inbox-v2.md section 2): per epoch, the commits
 * after the last one read, oldest first, their single tree entry `m`
 * (a message: stored) or `d` (a removal: undone by blob id); merges and
 * other paths are ignored.
 *
 * Cursor: one commit id per epoch, kept in the source's cursor
 * (sources.h: {"epochs": {"0": {"commit": "<oid>", "messages": N}, ...}})
 * and saved in the SAME transaction as the messages read up to that commit,
 * every `batch` messages, so a kill -9 at any point loses and duplicates
 * nothing.  New epochs are picked up on every run.  A history rewrite (the
 * cursor commit is no longer an ancestor of the epoch's tip) is detected:
 * what the dropped commits added is undone back to the common ancestor,
 * then reading resumes from there; if the old commit is gone altogether,
 * the epoch is re-read and messages no longer in it are removed.
 */
#ifndef CIFEED_INBOX_READ_H
#define CIFEED_INBOX_READ_H

#include <stddef.h>

#include "err.h"
#include "intake.h"
#include "store.h"

struct inbox_read_stats {
	size_t epochs;    /* epochs looked at */
	size_t commits;   /* new commits walked */
	size_t rewrites;  /* epochs whose history was rewritten */
	struct intake_stats intake;
};

struct inbox_read_opts {
	const char *source;      /* [source "NAME"]: cursor key and intake source */
	const char *type;        /* recorded with the cursor ("public-inbox") */
	const char *dir;         /* the inbox directory */
	size_t batch;            /* messages per transaction (0: 1000) */
	const volatile int *stop; /* return early (everything committed) when *stop != 0 */
};

/* One pass over every epoch.  Returns 0, or -1 with err set. */
int inbox_read(struct store *st, const struct inbox_read_opts *o, struct inbox_read_stats *stats,
	       struct err *err);

#endif
