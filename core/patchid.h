/*
 * patchid.h - `git patch-id` computed in C.
 *
 * A patch-id is a SHA-1 over a diff with whitespace, line numbers, `index`
 * lines, the commit message and the signature left out, so the same change
 * keeps its id across rebases, subject edits and mail transport.  This
 * module reproduces git's builtin/patch-id.c state machine exactly (see
 * ../shared/reference/patches-and-base-commit.md section 3), including its
 * quirks: any line starting with 40 hex digits (after an optional "commit "
 * or "From ") separates patches, hunk-less file sections are hashed into the
 * next section, and in stable mode every closed section's digest is added as
 * a little-endian 160-bit integer.
 *
 * Feed it the DECODED body of a mail (no quoted-printable, no base64):
 * what `git mailinfo` writes as its patch file.  Input may contain NUL
 * bytes; like git, a line counts only up to its first NUL.
 *
 * SHA-1 comes from Nettle (neither libsodium nor libgit2 exports a raw
 * SHA-1; libgit2's git_odb_hash prefixes an object header).
 */
#ifndef CIFEED_PATCHID_H
#define CIFEED_PATCHID_H

#include <stddef.h>

enum patchid_mode {
	PATCHID_STABLE,   /* --stable: order-independent sum of per-file digests */
	PATCHID_UNSTABLE, /* --unstable: one digest over the whole patch */
	PATCHID_VERBATIM, /* --verbatim: stable, whitespace kept */
};

#define PATCHID_HEXSZ 40

/* One patch found in the input, as `git patch-id` prints it. */
struct patchid {
	char id[PATCHID_HEXSZ + 1];     /* the patch-id, lower-case hex */
	char commit[PATCHID_HEXSZ + 1]; /* id of the preceding separator line, or 40 zeros */
};

/*
 * Compute the ids of every patch in text[0..len), in input order.  Calls
 * `cb` once per patch that hashed at least one byte (a cover letter gives
 * none).  Returns the number of patches.  Never fails.
 */
size_t patchid_each(const char *text, size_t len, enum patchid_mode mode,
		    void (*cb)(const struct patchid *p, void *arg), void *arg);

/*
 * The id of the first patch in text[0..len) in `out` (41 bytes).
 * Returns 1 when there is one, 0 when the text holds no diff.
 */
int patchid_first(const char *text, size_t len, enum patchid_mode mode, char out[PATCHID_HEXSZ + 1]);

#endif
