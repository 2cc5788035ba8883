/*
 * intake.h - store patch mail: patches, series, versions, trailers, base
 * information, applied commits; link them to results.
 *
 * An intake session writes messages from one source (an mbox file, a
 * public-inbox archive) into the store INSIDE the caller's transaction, so
 * a reader can commit its archive cursor together with the messages it
 * produced (exactly-once across crashes).  Every message is idempotent by
 * Message-ID: the same message delivered twice changes nothing.
 *
 * What is stored per message kind (patchmail.h):
 *   cover/patch  a `patches` row, its files, base lines and own trailers,
 *                and its series (created or extended; see series.h)
 *   reply        its review trailers (Acked-by, Reviewed-by, Tested-by...)
 *                tied to the patch or cover letter it answers, and the
 *                commits of a b4 "Applied, thanks!" reply
 *   other/pull   nothing but the archive bookkeeping
 * Series assembly: a cover letter (0/N) or a patch without counter starts
 * a series keyed by its Message-ID; patch M/N joins the series of the
 * nearest message it answers (In-Reply-To, then References newest first)
 * that is a patch mail of the same version (any version for the direct
 * parent of M>1), total and author; failing that it predicts the series of
 * its In-Reply-To (the cover letter still to come), unless that key is a
 * stored patch mail or a series of another total or sender, or of another
 * version (a patch M>1 with the same total still joins it), in which case
 * (or without In-Reply-To) it starts its own.
 *
 * intake_flush() finishes the batch inside the same transaction: series
 * patchset hashes for completed series and links to already-stored
 * checkouts (patchlink.h).  Call it before committing.
 */
#ifndef CIFEED_INTAKE_H
#define CIFEED_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct intake;

struct intake_stats {
	size_t messages;   /* messages handed to intake_add */
	size_t patches;    /* new patch rows (PATCH and RFC) */
	size_t covers;     /* new cover letters */
	size_t replies;    /* replies read */
	size_t trailers;   /* new trailer rows (own and from replies) */
	size_t other;      /* other mail (discussion, bots, pulls) */
	size_t duplicates; /* patch mails whose Message-ID was already stored */
	size_t no_msgid;   /* messages skipped for lack of a Message-ID */
	size_t deleted;    /* messages removed (public-inbox `d`, rewrites) */
	size_t bytes;      /* raw bytes read */
};

/*
 * Start a session for `source` ("source:lkml", "file:x.mbox"): prepares
 * the statements.  The store must stay open until intake_close().
 */
int intake_open(struct store *st, const char *source, struct intake **out, struct err *err);
void intake_close(struct intake *in);

/*
 * Store one raw message (no mbox From line).  `blob` is its archive blob id
 * (NULL for mbox files) and `epoch` its public-inbox epoch (-1 if none).
 * Must run inside a transaction.  Bad mail is never an error (it is stored
 * as well as it can be, or skipped and counted); -1 means the store failed.
 */
int intake_add(struct intake *in, const char *raw, size_t len, const char *blob, int epoch,
	       struct err *err);

/*
 * The same with the message already parsed (mail_parse, patchmail_parse;
 * pm NULL when the mail has no Message-ID), so readers can parse on
 * another thread while this one writes.
 */
struct mail;
struct patchmail;
int intake_add_parsed(struct intake *in, const char *raw, size_t len, const struct mail *m,
		      const struct patchmail *pm, const char *blob, int epoch, struct err *err);

/*
 * Undo a message by its archive blob id (public-inbox `d`, or a commit
 * dropped by a history rewrite): its patch row, files, base lines and the
 * trailers it contributed go.  Returns 1 removed, 0 unknown blob, -1 error.
 */
int intake_remove_blob(struct intake *in, const char *blob, struct err *err);

/* Finish the batch (patchset hashes, links to checkouts).  Inside the transaction. */
int intake_flush(struct intake *in, struct err *err);

const struct intake_stats *intake_get_stats(const struct intake *in);

#endif
