-- 0020_feeds: topics, their publish positions, settle state and published messages.
--
-- A topic's feed is DATADIR/feeds/NAME (public-inbox v2).  The publisher
-- groups changed results into units (a build with its tests and incidents;
-- a checkout; tests whose build is unknown; an issue) and publishes one
-- message per settled unit change.  Message-IDs are a function of
-- (topic, unit, rev), so the feed itself tells what was already published.
--
-- Invariant: position advances only after the feed's epoch ref has been
-- updated (planned rows are written first, the ref moves, then one
-- transaction marks them published and moves the position).

CREATE TABLE feed_topics (
    name             TEXT PRIMARY KEY,
    filter           TEXT NOT NULL,            -- normalised filter text at the last pass
    position         INTEGER NOT NULL DEFAULT 0, -- changes with seq <= position are published or
                                               -- recorded in feed_units.published_seq
    pending_position INTEGER,                  -- position to take once planned messages are in
    messages         INTEGER NOT NULL DEFAULT 0,
    updated          TEXT
);

-- Settle state per (topic, unit): how far the unit has been published.
CREATE TABLE feed_units (
    topic           TEXT NOT NULL,
    unit            TEXT NOT NULL,   -- hex hash of (topic, unit key); the key itself is in the Message-ID hash
    kind            TEXT NOT NULL,   -- 'b' build, 'c' checkout, 't' tests of an unknown build, 'i' issue
    published_seq   INTEGER NOT NULL, -- changes with seq <= this are in the feed
    revs            INTEGER NOT NULL, -- messages published for the unit (rev 0 = first report)
    PRIMARY KEY (topic, unit)
);

-- Every message the publisher planned or published.
CREATE TABLE feed_messages (
    topic           TEXT NOT NULL,
    msgid           TEXT NOT NULL,
    unit            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    unit_key        TEXT NOT NULL,   -- 'b:<build id>', 'c:<checkout id>', 't:<build id>', 'i:<issue id>'
    rev             INTEGER NOT NULL,
    covered_seq     INTEGER NOT NULL, -- the submission high-water mark the message was planned at
    state           TEXT NOT NULL,    -- 'planned' or 'published'
    created         TEXT NOT NULL,
    PRIMARY KEY (topic, msgid)
);
CREATE INDEX feed_messages_planned ON feed_messages (topic, state);
