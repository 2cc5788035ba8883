-- 0001_kcidb: the KCIDB v5.3 object tables, origins and submissions.
--
-- Every kcidb-io v5.3 field has a column.  Scalars keep their JSON type
-- (TEXT, INTEGER 0/1 for booleans, a number for durations); nested values
-- (resource lists, tag lists, environment, number, culprit, categories,
-- misc) are stored as compact JSON text.  Column order follows the schema.
--
-- Every object table has:
--   rid      surrogate row key: insertion order, stable cursor for paging;
--   seq      id of the submission that last changed the row (publisher and
--            API "changed since" cursors);
--   updated  UTC time of that change (KCIDB's _timestamp, not exported).
-- No foreign keys between KCIDB objects: KCIDB allows a test to arrive
-- before its build.  The merge rule is in schema/merge-rule.md.

CREATE TABLE submissions (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,            -- UTC RFC 3339
    source      TEXT NOT NULL,            -- "file:PATH", "stdin", "spool:NAME", "source:NAME"
    sha256      TEXT,                     -- of the submitted bytes, when there were bytes
    version     TEXT NOT NULL,            -- schema version as submitted, e.g. "4.3", "5.3"
    checkouts   INTEGER NOT NULL DEFAULT 0,
    builds      INTEGER NOT NULL DEFAULT 0,
    tests       INTEGER NOT NULL DEFAULT 0,
    issues      INTEGER NOT NULL DEFAULT 0,
    incidents   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,   -- objects new to the store
    updated     INTEGER NOT NULL DEFAULT 0,   -- objects that gained fields
    unchanged   INTEGER NOT NULL DEFAULT 0    -- objects already fully known
);
CREATE INDEX submissions_sha256 ON submissions (sha256);

CREATE TABLE origins (
    name        TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    objects     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE checkouts (
    rid                         INTEGER PRIMARY KEY,
    id                          TEXT NOT NULL UNIQUE,
    origin                      TEXT NOT NULL,
    tree_name                   TEXT,
    git_repository_url          TEXT,
    git_commit_hash             TEXT,
    git_commit_name             TEXT,
    git_commit_tags             TEXT,     -- JSON array
    git_commit_message          TEXT,
    git_repository_branch       TEXT,
    git_repository_branch_tip   INTEGER,
    patchset_files              TEXT,     -- JSON resource list
    patchset_hash               TEXT,
    message_id                  TEXT,
    comment                     TEXT,
    start_time                  TEXT,
    origin_builds_finish_time   TEXT,
    origin_tests_finish_time    TEXT,
    log_url                     TEXT,
    log_excerpt                 TEXT,
    valid                       INTEGER,
    misc                        TEXT,     -- JSON object
    seq                         INTEGER NOT NULL,
    updated                     TEXT NOT NULL
);
CREATE INDEX checkouts_revision ON checkouts (git_commit_hash, patchset_hash);
CREATE INDEX checkouts_message_id ON checkouts (message_id);
CREATE INDEX checkouts_seq ON checkouts (seq);

CREATE TABLE builds (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    checkout_id     TEXT NOT NULL,
    origin          TEXT NOT NULL,
    comment         TEXT,
    start_time      TEXT,
    duration,                 -- no type: keeps integer vs real as submitted
    architecture    TEXT,
    command         TEXT,
    compiler        TEXT,
    input_files     TEXT,
    output_files    TEXT,
    config_name     TEXT,
    config_url      TEXT,
    log_url         TEXT,
    log_excerpt     TEXT,
    status          TEXT,
    misc            TEXT,
    seq             INTEGER NOT NULL,
    updated         TEXT NOT NULL
);
CREATE INDEX builds_checkout_id ON builds (checkout_id);
CREATE INDEX builds_seq ON builds (seq);

CREATE TABLE tests (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    build_id        TEXT NOT NULL,
    origin          TEXT NOT NULL,
    path            TEXT,
    environment     TEXT,     -- JSON {comment, compatible, misc}
    status          TEXT,
    number          TEXT,     -- JSON {value, unit, prefix}
    start_time      TEXT,
    duration,                 -- no type: keeps integer vs real as submitted
    output_files    TEXT,
    input_files     TEXT,
    log_url         TEXT,
    log_excerpt     TEXT,
    comment         TEXT,
    misc            TEXT,
    seq             INTEGER NOT NULL,
    updated         TEXT NOT NULL
);
CREATE INDEX tests_build_id ON tests (build_id);
CREATE INDEX tests_seq ON tests (seq);

CREATE TABLE issues (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    version         INTEGER NOT NULL,
    origin          TEXT NOT NULL,
    report_url      TEXT,
    report_subject  TEXT,
    culprit         TEXT,     -- JSON {code, tool, harness}
    comment         TEXT,
    misc            TEXT,
    categories      TEXT,     -- JSON array of paths
    seq             INTEGER NOT NULL,
    updated         TEXT NOT NULL,
    UNIQUE (id, version)
);
CREATE INDEX issues_seq ON issues (seq);

CREATE TABLE incidents (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    origin          TEXT NOT NULL,
    issue_id        TEXT NOT NULL,
    issue_version   INTEGER NOT NULL,
    build_id        TEXT,
    test_id         TEXT,
    present         INTEGER,
    comment         TEXT,
    misc            TEXT,
    seq             INTEGER NOT NULL,
    updated         TEXT NOT NULL
);
CREATE INDEX incidents_build_id ON incidents (build_id);
CREATE INDEX incidents_test_id ON incidents (test_id);
CREATE INDEX incidents_issue ON incidents (issue_id, issue_version);
CREATE INDEX incidents_seq ON incidents (seq);
