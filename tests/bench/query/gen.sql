-- gen.sql - fill a fresh cifeed store (cifeed init) with the query benchmark's data,
-- directly in SQL (no HTTP, no JSON): 10,000,000 tests.
--
--   250,000 checkouts: 200,000 commits tested without patches, and 50,000
--                      patched checkouts (patchset_hash set) on every 4th of
--                      those commits, so a revision lookup must tell
--                      (commit, "") from (commit, patchset) - the 0030 index
--   500,000 builds:    two per checkout (x86_64, arm64)
-- 10,000,000 tests:    twenty per build: paths in four suites, mostly PASS,
--                      some FAIL/SKIP/ERROR, one unfinished (NULL status)
-- A /api/v1/ran answer for a commit without patches lists 38 tests (~13 KB).
-- Ids are zero-padded so every index is appended in order.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1048576;
PRAGMA temp_store = MEMORY;
BEGIN;
INSERT INTO submissions (id, received_at, source, version, checkouts, builds, tests, created)
VALUES (1, '2026-11-01T00:00:00Z', 'bench:gen.sql', '5.3', 250000, 500000, 10000000, 10750000);
INSERT INTO origins (name, first_seen, last_seen, objects)
VALUES ('bench', '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z', 10750000);

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
INSERT INTO checkouts (rid, id, origin, tree_name, git_repository_url, git_commit_hash,
                       git_repository_branch, patchset_hash, start_time, seq, updated)
SELECT i, printf('bench:c%07d', i), 'bench', 'mainline',
       'https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git',
       CASE WHEN i <= 200000 THEN lower(hex(randomblob(20))) END, 'master',
       CASE WHEN i > 200000 THEN lower(hex(randomblob(32))) END,
       '2026-11-01T10:00:00Z', 1, '2026-11-01T00:00:00Z'
FROM n;
UPDATE checkouts SET git_commit_hash = (SELECT c.git_commit_hash FROM checkouts c
                                        WHERE c.rid = (checkouts.rid - 200000) * 4)
WHERE rid > 200000;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500000)
INSERT INTO builds (rid, id, checkout_id, origin, start_time, architecture, compiler,
                    config_name, status, seq, updated)
SELECT i, printf('bench:b%07d', i), printf('bench:c%07d', (i + 1) / 2), 'bench',
       '2026-11-01T11:00:00Z', CASE i % 2 WHEN 1 THEN 'x86_64' ELSE 'arm64' END, 'gcc-12',
       'defconfig', 'PASS', 1, '2026-11-01T00:00:00Z'
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000)
INSERT INTO tests (rid, id, build_id, origin, path, status, start_time, log_url, seq, updated)
SELECT i, printf('bench:t%08d', i), printf('bench:b%07d', (i - 1) / 20 + 1), 'bench',
       printf('%s.case%02d', CASE (i - 1) % 4 WHEN 0 THEN 'ltp.fs' WHEN 1 THEN 'kselftest.net'
                                              WHEN 2 THEN 'kunit.core' ELSE 'boot' END,
              (i - 1) % 20),
       CASE WHEN (i - 1) % 20 = 19 THEN NULL WHEN i % 17 = 0 THEN 'FAIL'
            WHEN i % 23 = 0 THEN 'SKIP' WHEN i % 29 = 0 THEN 'ERROR' ELSE 'PASS' END,
       '2026-11-01T12:00:00Z',
       printf('https://lava.example.org/scheduler/job/%d/log_file/plain', i),
       1, '2026-11-01T00:00:00Z'
FROM n;
-- The generated results count as published in the implicit topic "all": the
-- benchmark measures lookups, not the publisher's first pass over 500,000
-- builds.  Results ingested during the benchmark are published as usual.
INSERT INTO feed_topics (name, filter, position, messages) VALUES ('all', '', 1, 0);
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
