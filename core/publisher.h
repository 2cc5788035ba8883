/*
 * publisher.h - results from the store to per-topic public-inbox v2 feeds.
 *
 * Topics: every [topic "NAME"] of cifeed.conf with its `filter` (filter.h),
 * plus the implicit topic `all` (no filter) that carries every object and is
 * what `feed reindex` rebuilds the store from.  A topic's feed lives in
 * DATADIR/feeds/NAME.
 *
 * A publishing pass, per topic:
 *   1. plan (one write transaction): find objects with seq > the topic's
 *      position that the filter selects, group them into units - a build
 *      with its tests and incidents ('b'), a checkout ('c', the thread root
 *      of its builds), tests whose build is unknown ('t'), an issue ('i',
 *      topic `all` only) - and keep the units that are settled: a build
 *      once its checkout's origin_tests_finish_time is set or the build did
 *      not pass (no tests will follow), any unit once it had no change for
 *      [feed] settle (default 10m).  Each settled unit change becomes one
 *      message: the first report (rev 0) or a follow-up (rev 1, 2...) with
 *      only what changed, threaded under the first report.  The planned
 *      messages are recorded and rendered in the same transaction.
 *   2. write: the feed writer appends the messages whose Message-ID the feed
 *      does not have yet (a pack per batch, written while step 1 still renders;
 *      no branch moves before step 1 has committed), off the event loop.
 *   3. commit: mark them published, record each unit's published seq and
 *      move the position (to just below the oldest unsettled change).
 * A crash between 1 and 3 leaves planned rows; the next pass writes those
 * first, and the deterministic Message-IDs (topic, unit, rev) tell which
 * already reached the feed, so nothing is lost and nothing is doubled.
 *
 * Messages (see mime.h for the safety rules): From the [feed] identity, To
 * the topic address, List-Id, Subject "[CI STATUS] tree branch commit:
 * arch/config (origin): counts", In-Reply-To/References to the checkout's
 * patch (KCIDB message_id, else a linked patch - the cover letter when the
 * series has one) and to the checkout root message, X-CI-* headers, a
 * text/plain summary (failures first, with log URLs) and an
 * application/json part (kcidb.json) holding the unit's KCIDB v5.3 objects.
 *
 * Changing a topic's filter applies from the topic's position on: what was
 * published stays, later changes are selected by the new filter (start a
 * new topic name to get a fresh feed of older results).  Message-IDs are
 * <cifeed.KIND.HASH.REV@DOMAIN> with DOMAIN from [feed] address, so keep
 * that address stable once feeds are published.
 *
 * Threading: publisher_run blocks (SQLite and git); run it off the loop.
 * It uses only the store connection it is given.
 */
#ifndef CIFEED_PUBLISHER_H
#define CIFEED_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "filter.h"
#include "store.h"

#define PUBLISH_SETTLE_DEFAULT 600 /* seconds */

struct topic {
	char *name;
	struct filter *filter; /* NULL for `all` */
	char *description;
	char *address; /* the topic's List-Id/To address */
};

/* Topics of a validated config: `all` first, then [topic] sections in file order. */
int publisher_topics(const struct config *cfg, struct topic **out, size_t *n, struct err *err);
void publisher_topics_free(struct topic *t, size_t n);

struct publish_opts {
	const char *datadir;     /* feeds go to DATADIR/feeds/TOPIC */
	const struct config *cfg;
	const char *topic;       /* only this topic; NULL = every topic */
	int no_settle;           /* publish unsettled units now */
	int64_t now;             /* Unix seconds; 0 = the clock */
	size_t max_messages;     /* per topic and pass; 0 = no limit */
};

struct publish_stats {
	size_t topics;     /* topics visited */
	size_t messages;   /* messages appended to feeds */
	size_t followups;  /* of which follow-ups (rev > 0) */
	size_t existing;   /* planned messages found already in the feed (crash recovery) */
	size_t pending;    /* units waiting to settle */
};

/* One publishing pass.  Returns 0, or -1 with err (what is published stays published). */
int publisher_run(struct store *st, const struct publish_opts *o, struct publish_stats *stats,
		  struct err *err);

struct reindex_stats {
	size_t messages;    /* feed messages read */
	size_t submissions; /* KCIDB documents merged */
	size_t skipped;     /* messages without a KCIDB part */
	size_t units;       /* publisher units recorded */
};

/*
 * Rebuild the results tables from the feeds alone: every KCIDB part of
 * DATADIR/feeds/all (in feed order) is validated and merged, then the
 * publisher state of every topic feed found is rebuilt from its
 * Message-IDs so the next pass publishes only what is new.  The results
 * tables must be empty (ERR_USAGE otherwise).  One transaction: all or
 * nothing.
 */
int publisher_reindex(struct store *st, const char *datadir, const struct config *cfg,
		      struct reindex_stats *stats, struct err *err);

#endif
