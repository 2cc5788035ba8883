/*
 * guessbase.h - which commit a series applies to, from the pre-image blob
 * ids of its `index` lines: b4's --guess-base (LoreSeries.find_base, see
 * ../shared/reference/patches-and-base-commit.md section 4) with libgit2.
 *
 * Blobs: for every file of every patch of the series in order, the
 * pre-image path and the abbreviated pre-image blob id; only the first
 * occurrence of a path counts (later patches see an earlier patch's
 * output) and all-zero ids (new files) are left out.  A blob matches a
 * commit when the commit's tree has a blob at that path whose id starts
 * with the abbreviated id.
 *
 * Two questions:
 *   guessbase_tip_match  step 3 against the current tips of the tracked
 *                        refs: when every blob matches one tip, the series
 *                        applies there as is (the missing base hurt nobody)
 *   guessbase_find       steps 3-6: the newest commit on or before the
 *                        series' day, then the commits of the lookback
 *                        window (newest first) with the fewest mismatches,
 *                        stopping at an exact match; named like
 *                        `git describe --all` ("tags/v0.0", "heads/master")
 * b4 tests only the commits that add or remove a mismatched blob (and their
 * parents); this tests every commit of the window, a superset, so whatever
 * b4 finds in the window is found here too.
 *
 * Threading: blocking git I/O, call it off the event loop.  A struct
 * guessbase holds open repositories; one thread at a time.
 */
#ifndef CIFEED_GUESSBASE_H
#define CIFEED_GUESSBASE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct gb_blob {
	char *path; /* pre-image path */
	char *blob; /* abbreviated blob id (hex) */
};

/* The blobs of a stored series (patch_files of its patches, by position). */
int guessbase_series_blobs(struct store *st, int64_t series_rid, struct gb_blob **out, size_t *n,
			   struct err *err);
void guessbase_blobs_free(struct gb_blob *b, size_t n);

struct guessbase;

/*
 * Open the git repositories `trees` (paths to a work tree or a bare
 * repository).  `refs` are ref globs naming the tracked tips
 * (e.g. "refs/heads/X"); none means every ref under refs/heads/ and refs/remotes/.
 */
int guessbase_open(struct guessbase **out, const char *const *trees, size_t ntrees,
		   const char *const *refs, size_t nrefs, struct err *err);
void guessbase_close(struct guessbase *g);

struct gb_result {
	int found;      /* a commit with at least one matching blob */
	int exact;      /* every blob matched */
	size_t matched; /* blobs matched at `commit` */
	size_t total;   /* blobs looked for */
	char commit[41];
	char *name;     /* ref (tip_match) or describe --all name (find); NULL if unnamed */
	char *tree;     /* the repository it was found in */
};
void gb_result_free(struct gb_result *r);

/* Returns 1 when a tracked tip matches every blob (r filled), 0 when none, -1 on error. */
int guessbase_tip_match(struct guessbase *g, const struct gb_blob *b, size_t n,
			struct gb_result *r, struct err *err);

/*
 * b4's search around `date` (Unix seconds) with `lookback` seconds.
 * Returns 1 when some commit matches at least one blob (r filled; r->exact
 * tells whether all did), 0 when nothing matched, -1 on error.
 */
int guessbase_find(struct guessbase *g, const struct gb_blob *b, size_t n, int64_t date,
		   int64_t lookback, struct gb_result *r, struct err *err);

#endif
