-- 0002_patches: mailing-list patches and their links to checkouts.
--
-- The minimal patch index the filter language needs (list:, author:,
-- file:, msgid:).  Intake (series, trailers, base info) extends it in
-- later migrations.  Message-IDs are stored without <>.

CREATE TABLE patches (
    rid             INTEGER PRIMARY KEY,
    msgid           TEXT NOT NULL UNIQUE,
    list_id         TEXT,               -- List-Id without <>, e.g. linux-leds.vger.kernel.org
    author_name     TEXT,
    author_email    TEXT,
    subject         TEXT,
    date            TEXT,               -- RFC 3339 UTC
    patch_id        TEXT                -- git patch-id --stable (40 hex), NULL for cover letters
);
CREATE INDEX patches_patch_id ON patches (patch_id);
CREATE INDEX patches_list_id ON patches (list_id);

-- Files a patch touches (from its diff).
CREATE TABLE patch_files (
    patch_rid       INTEGER NOT NULL REFERENCES patches (rid) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    PRIMARY KEY (patch_rid, path)
);
CREATE INDEX patch_files_path ON patch_files (path);

-- Which checkouts tested which patches, and how the link was made:
-- 'message_id', 'patchset_hash', 'patch_id', 'commit' or 'change_id'.
CREATE TABLE checkout_patches (
    checkout_id     TEXT NOT NULL,
    patch_rid       INTEGER NOT NULL REFERENCES patches (rid) ON DELETE CASCADE,
    how             TEXT NOT NULL,
    PRIMARY KEY (checkout_id, patch_rid)
);
CREATE INDEX checkout_patches_patch ON checkout_patches (patch_rid);
