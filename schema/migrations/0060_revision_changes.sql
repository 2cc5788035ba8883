-- 0060_revision_changes: which revisions each submission changed.
--
-- A revision is what `/api/v1/ran?commit=&patchset=` names: a
-- (git_commit_hash, COALESCE(patchset_hash, '')) pair of checkouts.  Every
-- submission that changes what such a lookup answers - a checkout of the
-- revision, a build of one of its checkouts, a test of one of those builds
-- (stored, or gaining a field under the merge rule), or a checkout whose
-- patchset hash is filled in and so moves from (commit, '') to
-- (commit, patchset) - adds one row per revision it changed, in the same
-- transaction as the objects (results_submit(), results.h).
--
-- Readers that keep answers (the HTTP service's /ran cache, core/ran_cache.h)
-- notice that the database changed, read the rows with `seq` above the last
-- one they saw, and drop exactly those revisions.  Submission ids grow in
-- commit order (one writer at a time), so "seq > last seen" never skips a
-- committed change.
--
-- The log is pruned by the writer: rows more than RESULTS_REVCHANGE_KEEP
-- submissions old are deleted and revision_changes_horizon records below
-- which seq rows may be missing, so a reader that fell further behind than
-- that drops everything instead of trusting a log with a hole.
CREATE TABLE revision_changes (
    seq             INTEGER NOT NULL,   -- submissions.id of the change
    git_commit_hash TEXT NOT NULL,
    patchset_hash   TEXT NOT NULL,      -- '' = no patches
    PRIMARY KEY (seq, git_commit_hash, patchset_hash)
);

CREATE TABLE revision_changes_horizon (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_below INTEGER NOT NULL       -- rows with seq < this may have been deleted
);
INSERT INTO revision_changes_horizon (id, pruned_below) VALUES (1, 0);
