/*
 * series.h - read patch series back out of the store.
 *
 * The read side of intake (intake.h), for `cifeed patches`, the feed
 * publisher and bots (basenag).  A series is found by the Message-ID of any
 * of its messages.  What a consumer gets:
 *   - identity: root Message-ID (the key), cover letter and first message
 *     (where a reply about the whole series belongs), version, total;
 *   - completeness: which positions 1..total arrived (`complete` when all);
 *   - who and what: author, subject, stem, date, list, RFC/RESEND/tags,
 *     `automated` (Auto-Submitted or bot headers on any message);
 *   - base information of every message, and `has_base` when any accepted
 *     form is present (base-commit, a ref, prerequisite-*, Based-on, b4's
 *     relaxed form);
 *   - trailers of every message and of the replies to them;
 *   - the other versions of the same series (same b4 change-id, or same
 *     author and subject stem).
 * Ownership: series_info_free() releases everything a series_info holds.
 */
#ifndef CIFEED_SERIES_H
#define CIFEED_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

struct series_patch {
	int64_t rid;
	char *msgid, *subject, *date, *patch_id, *kind; /* kind: "patch" or "cover" */
	int position;
};

struct series_trailer {
	char *key, *value, *email;
	char *source_msgid; /* the message that carried it */
	char *target_msgid; /* the patch or cover letter it applies to */
	int from_reply;
};

struct series_base {
	char *kind; /* "base-commit", "base-ref", "prerequisite-patch-id", ... */
	char *value;
	char *msgid; /* the message it was found in */
};

struct series_version {
	int64_t rid;
	char *root_msgid, *date;
	int version;
};

struct series_info {
	int64_t rid;
	char *root_msgid;  /* the key: cover letter, patch 1, or the single patch */
	char *cover_msgid; /* NULL when no cover letter was stored */
	char *first_msgid; /* cover letter, else the lowest-numbered patch stored */
	char *subject, *stem, *author_name, *author_email, *list_id, *date;
	char *change_id, *version_key, *tags, *patchset_hash;
	int version, total;
	int received; /* distinct positions 1..total stored */
	int complete; /* received == total */
	int rfc, resend, automated;
	int has_base;
	struct series_patch *patches; /* cover letter first, then by position */
	size_t npatches;
	struct series_trailer *trailers;
	size_t ntrailers;
	struct series_base *base;
	size_t nbase;
	struct series_version *versions; /* every version incl. this one, oldest first */
	size_t nversions;
};

/* The series containing the message `msgid`.  Returns 1 found, 0 not, -1 error. */
int series_get(struct store *st, const char *msgid, struct series_info *out, struct err *err);
int series_get_rid(struct store *st, int64_t rid, struct series_info *out, struct err *err);
void series_info_free(struct series_info *s);

/*
 * Series rids whose first message is dated at or after `since` (RFC 3339,
 * NULL = all), oldest first.  Caller frees *rids.
 */
int series_list(struct store *st, const char *since, int64_t **rids, size_t *n, struct err *err);

/*
 * Review summary of the series containing `msgid`, for feeds: one line per
 * distinct Acked-by / Reviewed-by / Tested-by person, e.g.
 *   "Reviewed-by: Jane Doe <jane@example.org>\n"
 * appended to out.  Returns the number of lines (0 for none or an unknown
 * msgid), -1 on error.
 */
int series_review_summary(struct store *st, const char *msgid, struct buf *out, struct err *err);

#endif
