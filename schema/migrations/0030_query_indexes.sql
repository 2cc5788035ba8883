-- 0030_query_indexes: indexes for the query API's lookups (schema/query-indexes.md).
--
-- "Which tests already ran on this revision?" names a revision as KCIDB
-- does, (git_commit_hash, patchset_hash), where a missing patchset hash and
-- "" both mean "no patches".  results_ran() therefore compares
-- COALESCE(patchset_hash, ''), which the two-column index of 0001 cannot
-- serve past its first column: every checkout of a popular base commit
-- (hundreds of patch series tested on one -rc) would be read to find one.
-- This expression index makes the revision one index seek.  SQLite uses it
-- when the query spells the same expression; PostgreSQL has expression
-- indexes with the same syntax.
CREATE INDEX checkouts_revision_exact
    ON checkouts (git_commit_hash, COALESCE(patchset_hash, ''));
