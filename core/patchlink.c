/*
 * patchlink.c - checkout <-> patch links (see patchlink.h).
 *
 * Each way of linking is one INSERT ... SELECT over the link keys, so the
 * database does the matching with its indexes and a repeated run inserts
 * nothing (ON CONFLICT DO NOTHING on checkout_patches' primary key).
 */
#include "patchlink.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"

static int run(struct store *st, const char *sql, int nint, const int64_t *ints, int ntext,
	       const char *const *texts, struct err *err)
{
	struct store_stmt *s;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	int k = 1;
	for (int i = 0; i < nint; i++)
		store_bind_int(s, k++, ints[i]);
	for (int i = 0; i < ntext; i++)
		store_bind_text(s, k++, texts[i], -1);
	int r = store_step(s, err);
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

#define LINK_INSERT "INSERT INTO checkout_patches (checkout_id, patch_rid, how) "
#define NO_DUP " ON CONFLICT DO NOTHING"

int patchlink_submission(struct store *st, int64_t sub, struct err *err)
{
	static const char *const q[] = {
		/* the patch (or cover letter) named by message_id */
		LINK_INSERT "SELECT c.id, p.rid, 'message_id' FROM checkouts c JOIN patches p "
			    "ON p.msgid = c.message_id WHERE c.seq = ?" NO_DUP,
		/* every patch of the series whose root it names */
		LINK_INSERT "SELECT c.id, p.rid, 'message_id' FROM checkouts c JOIN series s ON "
			    "s.root_msgid = c.message_id JOIN patches p ON p.series_rid = s.rid "
			    "WHERE c.seq = ?" NO_DUP,
		LINK_INSERT "SELECT c.id, p.rid, 'patchset_hash' FROM checkouts c JOIN series s ON "
			    "s.patchset_hash = c.patchset_hash JOIN patches p ON p.series_rid = "
			    "s.rid WHERE c.seq = ? AND c.patchset_hash <> ''" NO_DUP,
		LINK_INSERT "SELECT c.id, pc.patch_rid, 'commit' FROM checkouts c JOIN "
			    "patch_commits pc ON pc.commit_hash = c.git_commit_hash WHERE c.seq = ?" NO_DUP,
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(*q); i++)
		if (run(st, q[i], 1, &sub, 0, NULL, err) < 0)
			return err_prefix(err, "linking submission %lld to patches", (long long)sub);
	return 0;
}

/* Link keys of one checkout (checkout_id = ?) or of all checkouts (NULL). */
static int link_keys(struct store *st, const char *checkout_id, struct err *err)
{
	static const char *const q[] = {
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'message_id' FROM checkout_link_keys k "
			    "JOIN patches p ON p.msgid = k.value WHERE k.how = 'message_id' AND "
			    "k.checkout_id = ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'message_id' FROM checkout_link_keys k "
			    "JOIN series s ON s.root_msgid = k.value JOIN patches p ON p.series_rid "
			    "= s.rid WHERE k.how = 'message_id' AND k.checkout_id = ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'patch_id' FROM checkout_link_keys k "
			    "JOIN patches p ON p.patch_id = k.value WHERE k.how = 'patch_id' AND "
			    "k.checkout_id = ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'patchset_hash' FROM checkout_link_keys "
			    "k JOIN series s ON s.patchset_hash = k.value JOIN patches p ON "
			    "p.series_rid = s.rid WHERE k.how = 'patchset_hash' AND k.checkout_id = "
			    "?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, pc.patch_rid, 'commit' FROM checkout_link_keys "
			    "k JOIN patch_commits pc ON pc.commit_hash = k.value WHERE k.how = "
			    "'commit' AND k.checkout_id = ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'change_id' FROM checkout_link_keys k "
			    "JOIN trailers t ON t.key = 'Change-Id' AND t.value = k.value AND "
			    "t.source_msgid = t.target_msgid JOIN patches p ON p.msgid = "
			    "t.target_msgid WHERE k.how = 'change_id' AND k.checkout_id = ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'change_id' FROM checkout_link_keys k "
			    "JOIN series s ON s.change_id = k.value JOIN patches p ON p.series_rid "
			    "= s.rid WHERE k.how = 'change_id' AND k.checkout_id = ?" NO_DUP,
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(*q); i++)
		if (run(st, q[i], 0, NULL, 1, &checkout_id, err) < 0)
			return -1;
	return 0;
}

int patchlink_add_key(struct store *st, const char *checkout_id, const char *how,
		      const char *value, struct err *err)
{
	static const char *const known[] = { "message_id", "patch_id", "commit", "change_id",
					     "patchset_hash" };
	int ok = 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
		ok |= !strcmp(how, known[i]);
	if (!ok)
		return err_set(err, ERR_USAGE, "unknown link key kind '%s'", how);
	if (!value || !*value)
		return 0;
	const char *t[3] = { checkout_id, how, value };
	if (run(st,
		"INSERT INTO checkout_link_keys (checkout_id, how, value) VALUES (?, ?, ?)" NO_DUP,
		0, NULL, 3, t, err) < 0 ||
	    link_keys(st, checkout_id, err) < 0)
		return err_prefix(err, "linking checkout %s by %s", checkout_id, how);
	return 0;
}

int patchlink_patches_since(struct store *st, int64_t rid, struct err *err)
{
	static const char *const q[] = {
		LINK_INSERT "SELECT c.id, p.rid, 'message_id' FROM patches p JOIN checkouts c ON "
			    "c.message_id = p.msgid WHERE p.rid > ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'message_id' FROM patches p JOIN "
			    "checkout_link_keys k ON k.how = 'message_id' AND k.value = p.msgid "
			    "WHERE p.rid > ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'patch_id' FROM patches p JOIN "
			    "checkout_link_keys k ON k.how = 'patch_id' AND k.value = p.patch_id "
			    "WHERE p.rid > ?" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'change_id' FROM patches p JOIN trailers "
			    "t ON t.target_msgid = p.msgid AND t.source_msgid = p.msgid AND t.key = "
			    "'Change-Id' JOIN checkout_link_keys k ON k.how = 'change_id' AND "
			    "k.value = t.value WHERE p.rid > ?" NO_DUP,
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(*q); i++)
		if (run(st, q[i], 1, &rid, 0, NULL, err) < 0)
			return err_prefix(err, "linking patches after %lld", (long long)rid);
	return 0;
}

int patchlink_series_set(struct store *st, const int64_t *rids, size_t n, struct err *err)
{
	static const char *const q[] = {
		LINK_INSERT "SELECT c.id, p.rid, 'message_id' FROM series s JOIN checkouts c ON "
			    "c.message_id = s.root_msgid JOIN patches p ON p.series_rid = s.rid "
			    "WHERE s.rid IN (%s)" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'message_id' FROM series s JOIN "
			    "checkout_link_keys k ON k.how = 'message_id' AND k.value = s.root_msgid "
			    "JOIN patches p ON p.series_rid = s.rid WHERE s.rid IN (%s)" NO_DUP,
		LINK_INSERT "SELECT c.id, p.rid, 'patchset_hash' FROM series s JOIN checkouts c ON "
			    "c.patchset_hash = s.patchset_hash JOIN patches p ON p.series_rid = s.rid "
			    "WHERE s.rid IN (%s) AND s.patchset_hash IS NOT NULL" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'patchset_hash' FROM series s JOIN "
			    "checkout_link_keys k ON k.how = 'patchset_hash' AND k.value = "
			    "s.patchset_hash JOIN patches p ON p.series_rid = s.rid WHERE s.rid IN (%s)" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, p.rid, 'change_id' FROM series s JOIN "
			    "checkout_link_keys k ON k.how = 'change_id' AND k.value = s.change_id "
			    "JOIN patches p ON p.series_rid = s.rid WHERE s.rid IN (%s)" NO_DUP,
		LINK_INSERT "SELECT c.id, pc.patch_rid, 'commit' FROM patches p JOIN patch_commits "
			    "pc ON pc.patch_rid = p.rid JOIN checkouts c ON c.git_commit_hash = "
			    "pc.commit_hash WHERE p.series_rid IN (%s)" NO_DUP,
		LINK_INSERT "SELECT k.checkout_id, pc.patch_rid, 'commit' FROM patches p JOIN "
			    "patch_commits pc ON pc.patch_rid = p.rid JOIN checkout_link_keys k ON "
			    "k.how = 'commit' AND k.value = pc.commit_hash WHERE p.series_rid IN (%s)" NO_DUP,
	};
	if (!n)
		return 0;
	/* the rids are numbers: written into the SQL, one statement per way for the whole set */
	struct buf list = BUF_INIT, sql = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_addf(&list, "%s%lld", i ? ", " : "", (long long)rids[i]);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(q) / sizeof(*q); i++) {
		buf_reset(&sql);
		buf_addf(&sql, q[i], list.ptr);
		if (run(st, sql.ptr, 0, NULL, 0, NULL, err) < 0)
			rc = err_prefix(err, "linking %zu series", n);
	}
	buf_free(&list);
	buf_free(&sql);
	return rc;
}

int patchlink_series(struct store *st, int64_t rid, struct err *err)
{
	return patchlink_series_set(st, &rid, 1, err);
}
