/*
 * feed_reader.h - read public-inbox v2 inboxes (cifeed's feeds or anyone's).
 *
 * Reads git only (libgit2), never public-inbox's index files, so it works on
 * any mirror (`git clone --mirror` of the epochs plus an inbox.lock).  Takes
 * no lock: refs and packs are replaced atomically by writers, so a reader
 * sees the inbox as of some flush.  Messages come in public-inbox's order
 * (epoch 0 first, then commit order); messages removed by a later "d" commit
 * are left out, as public-inbox-index leaves them out.
 *
 * Ownership: message bytes passed to callbacks are valid during the call
 * only.  Returned structs are freed with their *_free function.
 */
#ifndef CIFEED_FEED_READER_H
#define CIFEED_FEED_READER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Highest N with INBOX/git/N.git present, or -1. */
int feed_epoch_newest(const char *inbox_dir);
/* 1 when dir looks like a v2 inbox (inbox.lock and git/0.git... present). */
int feed_is_inbox(const char *inbox_dir);

struct feed_msg {
	int epoch;
	char commit[41]; /* hex */
	char blob[41];   /* hex */
	int64_t commit_time; /* committer time (Unix seconds) */
	const char *data;
	size_t len;
};

enum feed_read_flags {
	FEED_READ_NEWEST_FIRST = 1 << 0, /* newest epoch and commit first (Atom) */
};

/*
 * Call cb for every live message.  cb returns 0 to go on, 1 to stop (then
 * feed_read returns 0), -1 to fail (err set by cb).
 */
typedef int (*feed_msg_cb)(const struct feed_msg *m, void *arg, struct err *err);
int feed_read(const char *inbox_dir, unsigned flags, feed_msg_cb cb, void *arg, struct err *err);

/* What an inbox holds. */
struct feed_inbox_info {
	int epochs;          /* number of epoch repositories */
	size_t messages;     /* live messages */
	size_t removed;      /* "d" commits */
	uint64_t pack_bytes; /* objects/pack/\*.pack of all epochs */
	int64_t newest_time; /* committer time of the newest commit, 0 when empty */
	char *description;   /* INBOX/description first line, or NULL */
};
int feed_inbox_info(const char *inbox_dir, struct feed_inbox_info *info, struct err *err);

/*
 * Bytes in an epoch's packs (GITDIR/objects/pack/\*.pack: what public-inbox's
 * rollover rule counts); their number in *packs when packs is not NULL.
 */
uint64_t feed_pack_bytes(const char *gitdir, size_t *packs);
void feed_inbox_info_free(struct feed_inbox_info *info);

/* Topics of a feeds directory (DATADIR/feeds): every subdirectory that is an inbox. */
struct feed_topic_info {
	char *name;
	struct feed_inbox_info info;
};
/* Sorted by name.  Returns 0 (an absent feeds_dir is an empty list) or -1. */
int feed_topics_list(const char *feeds_dir, struct feed_topic_info **out, size_t *n,
		     struct err *err);
void feed_topics_free(struct feed_topic_info *t, size_t n);

/*
 * Check an inbox the way public-inbox and git need it: inbox.lock, every
 * epoch's HEAD on an existing branch, linear history with one root per epoch,
 * every tree exactly one "m" or "d" blob entry, every object readable with
 * its hash verified, every message parseable with a Date and a Message-ID
 * unique in the inbox, MIME structure sound, all.git alternates complete.
 * When check_kcidb is set, messages with an application/json part must carry
 * a valid KCIDB document.  Problems are appended to `report`, one per line;
 * returns the number of problems, or -1 when the inbox cannot be read at all.
 */
int feed_verify(const char *inbox_dir, int check_kcidb, size_t *messages, struct buf *report,
		struct err *err);

#endif
