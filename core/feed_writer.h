/*
 * feed_writer.h - append RFC 5322 messages to a public-inbox v2 inbox (libgit2).
 *
 * The writer produces exactly what public-inbox's own V2Writable produces
 * for the same input and identity (commit ids included; see
 * ../shared/reference/public-inbox-v2.md and the golden vector test):
 *   INBOX/inbox.lock            flock(LOCK_EX) held from open to close
 *   INBOX/git/N.git             bare epochs, HEAD -> refs/heads/master,
 *                               one commit per message, tree = single "m"
 *   INBOX/all.git               objects/info/alternates listing every epoch
 *   INBOX/description           when opts.description is given
 *   INBOX/cifeed-mids.sqlite3   the writer's Message-ID cache (see below)
 * Messages are stored as given except that the headers public-inbox drops
 * (Bytes, Lines, Content-Length, Status, X-Status, Delivered-To, Approved ...)
 * are removed.  Message-ID handling follows public-inbox: a new first
 * Message-ID is used as is; a known id with the same content hash is a
 * silent duplicate; otherwise another unused id of the message, else a
 * generated <YYYYmmddHHMMSS.HASH@z> appended as an extra Message-ID header.
 *
 * Bulk: objects go to an in-memory pack (git_mempack); a batch (opts.batch_max
 * messages, or what is queued at feed_writer_flush) is written as ONE pack
 * through git_indexer.  Packing runs on background threads while the next
 * batch is built (at most two batches in flight, packed at once and finished
 * in the order sealed), so a long run uses every core of a small machine.
 * The branch moves with a compare-and-swap against the tip the writer last
 * saw (a concurrent writer makes it fail, never lose data), only ever to a
 * commit whose pack is on disk: when a full batch is sealed, to the newest
 * packed commit (unless held, see feed_writer_hold), and at feed_writer_flush
 * to the tip.  fsync is on, so a flushed batch is durable before
 * feed_writer_flush returns.  Epochs roll over when packed bytes + 0.4 x raw
 * bytes added reach opts.epoch_size (public-inbox's rule; default 1 GiB
 * packed), never appending to an older epoch.
 *
 * Each batch adds one pack; when an epoch would hold more than
 * opts.max_packs packs the writer runs `git repack --geometric=2 -d` on it
 * (under the lock, with no batch in flight): the small packs are folded and
 * the big ones left alone, so a daemon publishing every few seconds neither
 * leaves thousands of packs nor rewrites a whole epoch every max_packs
 * passes; `git repack -a -d` only if that still leaves too many.
 *
 * Crash safety: the branch only moves to commits whose packs are on disk (at
 * a sealed batch unless held, and at feed_writer_flush), so a crash leaves at
 * most unreferenced packs, or a branch moved to a fully packed batch.  The Message-ID cache is a rebuildable index of the epochs,
 * committed at feed_writer_flush: it records each epoch's tip, and open
 * catches up from git whatever was committed but not cached (after a crash,
 * or by another writer such as public-inbox itself).
 *
 * Threading: blocking file and git I/O; call it off the event loop
 * (uv_queue_work).  A writer is used by one thread at a time (it starts its
 * own packer threads).  One writer per inbox at a time (the flock enforces it
 * across processes; feed_writer_open blocks until the lock is free).
 * Any RFC 5322 message can be written (CI results, a bot's outbox...).
 */
#ifndef CIFEED_FEED_WRITER_H
#define CIFEED_FEED_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* public-inbox's rotation threshold: 1 GiB of packed data per epoch */
#define FEED_EPOCH_SIZE_DEFAULT (1024LL * 1024 * 1024)

struct feed_writer_opts {
	const char *name;        /* inbox name: committer name (required) */
	const char *address;     /* inbox address: committer e-mail (required) */
	const char *description; /* written to INBOX/description when not NULL */
	int64_t epoch_size;      /* packed bytes per epoch; 0 = FEED_EPOCH_SIZE_DEFAULT */
	size_t batch_max;        /* a pack per this many messages; 0 = 5000 */
	size_t max_packs;        /* `git repack -a -d` an epoch with more packs; 0 = 32 */
};

struct feed_writer;

/*
 * Create the inbox if needed, take the lock (waits), open the newest epoch
 * and bring the Message-ID cache up to date with the epochs.
 */
int feed_writer_open(struct feed_writer **out, const char *inbox_dir,
                     const struct feed_writer_opts *opts, struct err *err);

enum feed_add_status {
	FEED_ADDED = 0,     /* queued for the next flush */
	FEED_DUPLICATE = 1, /* same Message-ID and content already in the inbox: dropped */
	FEED_HELD = 2,      /* held and the message needs a new epoch: nothing queued */
};

/*
 * Queue one message (LF line endings expected; CRLF is stored as given).
 * Returns FEED_ADDED, FEED_DUPLICATE or FEED_HELD, or -1 with err.  When
 * msgid_out is given it receives the Message-ID the message is stored under
 * (caller frees).  May seal a batch (batch_max) or flush and roll over to a
 * new epoch by itself, unless held.
 */
int feed_writer_add(struct feed_writer *w, const char *msg, size_t len, char **msgid_out,
                    struct err *err);

/*
 * While held (on = 1), no branch moves before feed_writer_flush: full batches
 * are still packed in the background, but a message that needs a new epoch
 * is refused with FEED_HELD (flush or release the hold, then add it again).
 * For a caller whose own bookkeeping must commit before the feed shows
 * anything (the publisher writes while it is still rendering).
 */
void feed_writer_hold(struct feed_writer *w, int on);

/*
 * The caller will add about n more messages (0: unknown, the default).
 * Batches then shrink toward the end - a batch is also sealed once it holds
 * as many messages as are still to come, but never below batch_max / 8 - so
 * the last packs, which nothing else overlaps, are small: a long run ends
 * soon after its last message is added instead of a full batch later.
 */
void feed_writer_expect(struct feed_writer *w, size_t n);

/* 1 when a message with this Message-ID (no <>) is in the inbox or queued. */
int feed_writer_has(struct feed_writer *w, const char *msgid);

/*
 * Queue the removal of a message (public-inbox-learn rm: a commit whose tree
 * is a single "d" entry naming the message's blob, message "rm").  Returns 1
 * when queued, 0 when no message has that id, -1 on error.
 */
int feed_writer_remove(struct feed_writer *w, const char *msgid, struct err *err);

/*
 * Write the queued objects as one pack, move the branch (compare-and-swap),
 * then record the new tip in the cache.  A no-op when nothing is queued.
 */
int feed_writer_flush(struct feed_writer *w, struct err *err);

/* Counters since open. */
struct feed_writer_stats {
	size_t added, duplicates, removed, flushes, packs;
	int epoch;          /* current (newest) epoch number */
	uint64_t raw_bytes; /* message bytes added */
};
void feed_writer_stats(const struct feed_writer *w, struct feed_writer_stats *st);

/*
 * Release everything and the lock.  Queued but unflushed messages are
 * discarded: call feed_writer_flush first.
 */
void feed_writer_close(struct feed_writer *w);

/*
 * public-inbox's content hash (ContentHash::content_digest, SHA-256) of a
 * message: what decides whether a message with a known Message-ID is a
 * duplicate.  For tests and tools.
 */
void feed_content_hash(const char *msg, size_t len, unsigned char out[32]);

#endif
