/*
 * intake_mbox.h - import an mbox file (or one .eml message) into intake.
 *
 * `cifeed ingest --format mbox FILE` runs this: the whole file in one
 * transaction, so it is stored completely or not at all, and importing it
 * again changes nothing (messages are keyed by Message-ID).
 */
#ifndef CIFEED_INTAKE_MBOX_H
#define CIFEED_INTAKE_MBOX_H

#include "err.h"
#include "intake.h"
#include "store.h"

/* path "-" reads stdin.  stats may be NULL.  Returns 0 or -1 with err. */
int intake_mbox_file(struct store *st, const char *path, struct intake_stats *stats,
		     struct err *err);

#endif
