-- 0010_sources: polled sources, their cursors and per-source polling state.
--
-- A cursor is the adapter's own JSON object (see adapters/adapter.h); it is
-- written in the same transaction as the objects the polled pages produced,
-- so a crash never separates the two.  HTTP validators (ETags) are written
-- in that transaction too: a cached ETag always describes an answer whose
-- objects are stored.  Sources are keyed by their [source "NAME"].

CREATE TABLE source_cursors (
    source      TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    cursor      TEXT NOT NULL,        -- JSON object, adapter-defined
    units       INTEGER NOT NULL DEFAULT 0, -- units (pages) committed so far
    updated_at  TEXT NOT NULL         -- UTC RFC 3339
);

-- One remembered validator per (source, adapter cache key): replaced when
-- the URL under that key changes, so the table stays as small as the
-- number of listings a source walks.
CREATE TABLE source_http_cache (
    source      TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    url         TEXT NOT NULL,        -- the URL the validator belongs to (never a secret)
    etag        TEXT NOT NULL,
    headers     TEXT NOT NULL,        -- JSON [[name, value], ...] of the 200 answer
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, cache_key)
);

-- Health and backoff: survives restarts so a failing upstream is not
-- hammered by a daemon that keeps restarting.
CREATE TABLE source_state (
    source          TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL DEFAULT 0,  -- consecutive failed cycles
    next_poll_at    INTEGER,                     -- Unix seconds: not before (backoff, Retry-After)
    last_ok_at      TEXT,
    last_error_at   TEXT,
    last_error      TEXT                         -- one line, secrets redacted
);
