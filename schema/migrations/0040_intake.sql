-- 0040_intake: patch series, versions, trailers, base information, link
-- keys and public-inbox cursors (core/intake.c, core/patchlink.c,
-- core/inbox_read.c).  Message-IDs are stored without <>.

-- A series: a cover letter and/or patches M/N of one submission, keyed by
-- the Message-ID of the message that starts it (cover letter, or patch 1,
-- or the single patch).  Versions of one series share version_key:
-- 'change-id:<b4 change-id>' or 'stem:<author email>:<lower-case stem>'.
CREATE TABLE series (
    rid             INTEGER PRIMARY KEY,
    root_msgid      TEXT NOT NULL UNIQUE,
    version         INTEGER NOT NULL DEFAULT 1,
    total           INTEGER NOT NULL DEFAULT 1,
    subject         TEXT,               -- of the cover letter, else of patch 1
    stem            TEXT,
    author_name     TEXT,
    author_email    TEXT,
    list_id         TEXT,
    date            TEXT,               -- RFC 3339 UTC of the first message
    change_id       TEXT,
    version_key     TEXT,
    rfc             INTEGER NOT NULL DEFAULT 0,
    resend          INTEGER NOT NULL DEFAULT 0,
    tags            TEXT,
    automated       INTEGER NOT NULL DEFAULT 0,
    patchset_hash   TEXT,               -- KCIDB patchset_hash over the patch blobs, when complete
    received        TEXT,               -- when intake first saw it
    subject_position INTEGER            -- position of the message subject/stem came from
);
CREATE INDEX series_version_key ON series (version_key);
CREATE INDEX series_author ON series (author_email);
CREATE INDEX series_patchset_hash ON series (patchset_hash);

-- What intake learned about each patch mail (rows of 0002's patches table
-- are patch mails and cover letters).
ALTER TABLE patches ADD COLUMN kind TEXT;            -- 'patch' | 'cover'
ALTER TABLE patches ADD COLUMN series_rid INTEGER REFERENCES series (rid);
ALTER TABLE patches ADD COLUMN position INTEGER;     -- M of [PATCH M/N]; 0 cover; 1 single patch
ALTER TABLE patches ADD COLUMN total INTEGER;        -- N of [PATCH M/N]; 1 single patch
ALTER TABLE patches ADD COLUMN version INTEGER;      -- vN, 1 when absent
ALTER TABLE patches ADD COLUMN rfc INTEGER;          -- 1: RFC
ALTER TABLE patches ADD COLUMN resend INTEGER;       -- 1: RESEND
ALTER TABLE patches ADD COLUMN tags TEXT;            -- other prefix tokens: 'net-next'
ALTER TABLE patches ADD COLUMN stem TEXT;            -- subject without prefixes
ALTER TABLE patches ADD COLUMN in_reply_to TEXT;
ALTER TABLE patches ADD COLUMN date_unix INTEGER;    -- Date: as Unix seconds
ALTER TABLE patches ADD COLUMN change_id TEXT;       -- b4 change-id: line
ALTER TABLE patches ADD COLUMN automated INTEGER;    -- Auto-Submitted (not 'no') or a bot header
ALTER TABLE patches ADD COLUMN blob TEXT;            -- archive blob id (public-inbox), if any
ALTER TABLE patches ADD COLUMN source TEXT;          -- 'source:NAME' or 'file:PATH'
ALTER TABLE patches ADD COLUMN received TEXT;        -- RFC 3339 UTC, when intake stored it
ALTER TABLE patches ADD COLUMN raw_sha256 TEXT;      -- of the raw message: KCIDB patchset_hash input
CREATE INDEX patches_series ON patches (series_rid, position);
CREATE INDEX patches_blob ON patches (blob);
CREATE INDEX patches_received ON patches (received);

-- Per-file details of the diff (pre-image blobs feed base guessing).
ALTER TABLE patch_files ADD COLUMN old_path TEXT;    -- renamed/copied from
ALTER TABLE patch_files ADD COLUMN old_blob TEXT;    -- abbreviated index line ids
ALTER TABLE patch_files ADD COLUMN new_blob TEXT;

-- Trailers, from the patch itself (source_msgid = target_msgid) or from
-- replies (source = the reply, target = the patch or cover letter it
-- answers; trailers on a cover letter apply to the whole series).
CREATE TABLE trailers (
    rid             INTEGER PRIMARY KEY,
    target_msgid    TEXT NOT NULL,
    source_msgid    TEXT NOT NULL,
    key             TEXT NOT NULL,      -- canonical: 'Reviewed-by'
    value           TEXT NOT NULL,
    email           TEXT,
    from_reply      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (target_msgid, source_msgid, key, value)
);
CREATE INDEX trailers_source ON trailers (source_msgid);

-- Base information found in a patch mail or cover letter.
CREATE TABLE patch_base (
    patch_rid       INTEGER NOT NULL REFERENCES patches (rid) ON DELETE CASCADE,
    kind            TEXT NOT NULL,      -- 'base-commit', 'base-ref', 'prerequisite-patch-id', ...
    value           TEXT NOT NULL,
    PRIMARY KEY (patch_rid, kind, value)
);

-- Commits a patch became once applied (b4 "ty" replies: "[M/N] subject" /
-- "commit: <sha>").
CREATE TABLE patch_commits (
    patch_rid       INTEGER NOT NULL REFERENCES patches (rid) ON DELETE CASCADE,
    commit_hash     TEXT NOT NULL,
    source_msgid    TEXT,
    PRIMARY KEY (patch_rid, commit_hash)
);
CREATE INDEX patch_commits_commit ON patch_commits (commit_hash);

-- Link keys a checkout offers beyond its KCIDB fields (an adapter knows
-- the patch-id, Change-Id or commit of what it tested).  how is one of
-- 'message_id', 'patchset_hash', 'patch_id', 'commit', 'change_id'.
CREATE TABLE checkout_link_keys (
    checkout_id     TEXT NOT NULL,
    how             TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (checkout_id, how, value)
);
CREATE INDEX checkout_link_keys_value ON checkout_link_keys (how, value);

-- Messages an archive source delivered, by blob, so `d` deletions and
-- history rewrites can undo exactly what they added.
CREATE TABLE intake_messages (
    source          TEXT NOT NULL,
    epoch           INTEGER NOT NULL,
    blob            TEXT NOT NULL,
    msgid           TEXT,
    PRIMARY KEY (source, blob)
);
CREATE INDEX intake_messages_msgid ON intake_messages (msgid);

-- Per-epoch position of a public-inbox source: the last commit whose
-- messages are stored (committed in the same transaction as they are).
CREATE TABLE inbox_cursors (
    source          TEXT NOT NULL,
    epoch           INTEGER NOT NULL,
    commit_oid      TEXT NOT NULL,
    messages        INTEGER NOT NULL DEFAULT 0,
    updated         TEXT NOT NULL,
    PRIMARY KEY (source, epoch)
);
