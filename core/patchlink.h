/*
 * patchlink.h - link checkouts (results from any origin) to patches.
 *
 * A checkout is linked to a patch in `checkout_patches` with the way the
 * link was found (`how`):
 *   message_id     checkouts.message_id (or a link key) is the patch's
 *                  Message-ID, or the series' root (cover letter / patch 1):
 *                  then every patch of the series is linked
 *   patchset_hash  checkouts.patchset_hash equals the series' KCIDB
 *                  patchset hash (sha256 over the sha256 of each patch mail)
 *   patch_id       a link key equals the patch's `git patch-id --stable`
 *   commit         checkouts.git_commit_hash (or a key) is the commit the
 *                  patch became (b4 "Applied, thanks!" replies)
 *   change_id      a link key equals the patch's Gerrit Change-Id trailer
 *                  or the series' b4 change-id
 * Linking runs from both sides so the order of arrival does not matter:
 * results_submit() calls patchlink_submission() for the checkouts a
 * submission changed, and intake calls patchlink_series()
 * for what it stored (patchlink_patches_since).  Adapters that know more (Gerrit knows the patch-id
 * and Change-Id of a revision) add keys with patchlink_add_key().
 * All functions run inside the caller's transaction and are idempotent.
 */
#ifndef CIFEED_PATCHLINK_H
#define CIFEED_PATCHLINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Link the checkouts whose `seq` is this submission id. */
int patchlink_submission(struct store *st, int64_t submission_id, struct err *err);

/*
 * Record a link key for a checkout (how: "message_id", "patch_id",
 * "commit", "change_id", "patchset_hash") and link it to every matching
 * patch already stored.  The key is kept, so patches that arrive later are
 * linked too.
 */
int patchlink_add_key(struct store *st, const char *checkout_id, const char *how,
		      const char *value, struct err *err);

/* Link the patches stored after patches.rid `rid` (a batch) to existing checkouts. */
int patchlink_patches_since(struct store *st, int64_t rid, struct err *err);

/* Link every patch of a series to checkouts naming the series (root Message-ID, patchset hash). */
int patchlink_series(struct store *st, int64_t series_rid, struct err *err);
/* The same for n series at once (one statement per way of linking). */
int patchlink_series_set(struct store *st, const int64_t *rids, size_t n, struct err *err);

#endif
