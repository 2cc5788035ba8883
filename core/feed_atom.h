/*
 * feed_atom.h - Atom 1.0 (RFC 4287) view of a topic feed, read from the feed itself.
 *
 * For the HTTP service (`GET /feeds/TOPIC/new.atom`) and tools.  The feed
 * (git) is the source, not the database, so any mirror can serve the same
 * document.  To list topics with message counts use feed_topics_list() in
 * feed_reader.h.
 *
 *   struct buf atom = BUF_INIT;
 *   if (feed_atom_render("/srv/cifeed/feeds", "net-fail", "https://ci.example.org/feeds",
 *                        50, &atom, &err) == 0)
 *           ... send atom.ptr (atom.len bytes) as application/atom+xml ...
 *
 * The document: <feed> with id/title/updated/link rel=self and alternate,
 * then one <entry> per message, newest first: id (RFC 2392 "mid:" URI of the
 * Message-ID), title (decoded Subject), author (From), updated and
 * published (Date, RFC 3339 UTC), link to BASE_URL/TOPIC/MSGID/ (the
 * public-inbox-httpd layout), category terms from X-CI-Status/X-CI-Origin,
 * and the text/plain part as <content type="text">.  Every string is
 * XML-escaped and stripped of characters XML 1.0 forbids; output is UTF-8.
 *
 * Blocking (reads git): call off the event loop.  Thread-safe (no shared
 * state).  Errors: ERR_NOTFOUND when the topic has no feed (an HTTP 404),
 * ERR_USAGE for an unsafe topic name ('/', leading '.'), ERR_IO otherwise.
 */
#ifndef CIFEED_FEED_ATOM_H
#define CIFEED_FEED_ATOM_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Default and maximum number of entries. */
#define FEED_ATOM_LIMIT_DEFAULT 50
#define FEED_ATOM_LIMIT_MAX 1000

/*
 * Append the Atom document of the newest `limit` messages (0 = default,
 * capped at FEED_ATOM_LIMIT_MAX) of FEEDS_DIR/TOPIC to `out`.  `base_url`
 * is the public URL under which TOPIC/ is served (no trailing slash needed);
 * NULL or "" gives relative links.  Returns 0 or -1 with err.
 */
int feed_atom_render(const char *feeds_dir, const char *topic, const char *base_url, size_t limit,
		     struct buf *out, struct err *err);

/* Escape text for XML 1.0 character data / attribute values (also drops forbidden characters). */
void feed_xml_escape(struct buf *out, const char *s, size_t len);

#endif
