/*
 * patchmail.h - what a mail says about patches: subject prefix, kind,
 * trailers, base information, files touched, patch-id.
 *
 * patchmail_parse() reads one parsed message (mail.h) and classifies it:
 *   PM_COVER   "[PATCH ... 0/N]" cover letter
 *   PM_PATCH   "[PATCH ...]" or "[RFC ...]" submission (with or without a diff)
 *   PM_PULL    "[GIT PULL]" / "[PULL ...]" request
 *   PM_REPLY   "Re:"/"Aw:"/"Sv:"... answer; its trailers (Acked-by...) apply
 *              to the message it answers (In-Reply-To)
 *   PM_OTHER   anything else (bot reports, discussion, "Fwd:")
 * Detection rules follow ../shared/reference/patches-and-base-commit.md
 * section 2: base lines are matched at column 0 of the decoded body (never
 * in quoted text), in the git layout (after the diff / in the cover letter)
 * and the b4 layout (after "---"), plus prerequisite-*, Based-on: and b4's
 * relaxed "based on <sha>" fallback.
 *
 * Everything here is pure: no store, no I/O.  A struct patchmail owns its
 * strings; patchmail_free() releases them.
 */
#ifndef CIFEED_PATCHMAIL_H
#define CIFEED_PATCHMAIL_H

#include <stddef.h>

#include "mail.h"
#include "patchid.h"

/* The bracketed subject prefix: "Re: [PATCH net-next v3 2/7] leds: foo". */
struct pm_subject {
	int reply;     /* Re:/Aw:/Sv:/Antw:/Odp: marker in front */
	int forward;   /* Fwd:/Fw: marker in front */
	int patch;     /* a PATCH token (PATCH, PATCHv2, PATCH-v2 ...) */
	int rfc;       /* RFC token */
	int resend;    /* RESEND token */
	int pull;      /* PULL or GIT PULL */
	int version;   /* vN, 1 when absent */
	int counter;   /* M of M/N, -1 when absent */
	int total;     /* N of M/N, 1 when absent */
	char *tags;    /* other tokens in brackets, space-separated ("net-next"), "" if none */
	char *stem;    /* the subject without markers and bracket prefixes */
};

/* Parse a decoded subject.  Always succeeds; pm_subject_free() after. */
void pm_subject_parse(const char *subject, struct pm_subject *s);
void pm_subject_free(struct pm_subject *s);

enum pm_kind { PM_OTHER, PM_PATCH, PM_COVER, PM_REPLY, PM_PULL };
const char *pm_kind_name(enum pm_kind k);

/* A trailer line: "Reviewed-by: Jane Doe <jane@example.org>". */
struct pm_trailer {
	char *key;   /* canonical spelling, e.g. "Reviewed-by" */
	char *value; /* the rest of the line, trimmed */
	char *email; /* address for person trailers (value's <...>), else NULL */
};

/* Trailer keys intake records (canonical spellings), NULL-terminated. */
extern const char *const pm_trailer_keys[];

enum pm_base_kind {
	PM_BASE_COMMIT,           /* base-commit: <40 or 64 hex> */
	PM_BASE_REF,              /* base-commit: v6.9-rc1 (present, not a sha) */
	PM_BASE_PREREQ_PATCH_ID,  /* prerequisite-patch-id: */
	PM_BASE_PREREQ_CHANGE_ID, /* prerequisite-change-id: */
	PM_BASE_PREREQ_MESSAGE_ID,/* prerequisite-message-id: */
	PM_BASE_BASED_ON,         /* Based-on: <msgid> (QEMU/Patchew) */
	PM_BASE_RELAXED,          /* "based on ... <sha>" (b4's fallback) */
};
const char *pm_base_kind_name(enum pm_base_kind k);

struct pm_base {
	enum pm_base_kind kind;
	char *value; /* sha, ref, patch-id, change-id or Message-ID (without <>) */
};

/* One file section of the diff. */
struct pm_file {
	char *path;     /* post-image path (pre-image for a deletion) */
	char *old_path; /* pre-image path when renamed/copied, else NULL */
	char *old_blob; /* abbreviated pre-image blob id of the index line, or NULL */
	char *new_blob;
};

struct patchmail {
	struct pm_subject subj;
	enum pm_kind kind;
	int has_diff;                /* a "diff --git" (or ---/+++/@@) section */
	char patch_id[PATCHID_HEXSZ + 1]; /* git patch-id --stable of the body, "" if none */
	struct pm_trailer *trailers;
	size_t ntrailers;
	struct pm_base *base;
	size_t nbase;
	char *change_id;             /* b4 "change-id:" line, or NULL */
	struct pm_file *files;
	size_t nfiles;
	int automated;               /* Auto-Submitted other than "no", or an X-Patchwork-Bot header */
};

/* Classify and extract.  Always succeeds; patchmail_free() after. */
void patchmail_parse(const struct mail *m, struct patchmail *pm);
void patchmail_free(struct patchmail *pm);

/* Does it carry an accepted form of base information (any kind above)? */
int patchmail_has_base(const struct patchmail *pm);

#endif
