/*
 * test_feed_writer.c - the libgit2 v2 writer against public-inbox's golden vector,
 * plus duplicates, removal, the Message-ID cache, epoch rollover and batches.
 */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feed_reader.h"
#include "feed_writer.h"

static char tmpdir[256];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_feed_writer.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	git_libgit2_init();
}

static void teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("cleanup failed");
	git_libgit2_shutdown();
}

TestSuite(feed_writer, .init = setup, .fini = teardown);

static void fixture(const char *rel, struct buf *b)
{
	char path[1024];
	const char *fx = getenv("FIXTURES");
	cr_assert(fx, "FIXTURES not set");
	snprintf(path, sizeof(path), "%s/public-inbox/%s", fx, rel);
	buf_reset(b);
	cr_assert_eq(buf_read_file(b, path, 1 << 20), 0, "read %s", path);
}

static struct feed_writer *open_w(const char *inbox, int64_t epoch_size)
{
	struct feed_writer *w = NULL;
	struct err err = ERR_INIT;
	struct feed_writer_opts o = {.name = "ci-results",
	                             .address = "ci-results@example.invalid",
	                             .epoch_size = epoch_size};
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
	return w;
}

static int add(struct feed_writer *w, const char *data, size_t len, char **mid)
{
	struct err err = ERR_INIT;
	int r = feed_writer_add(w, data, len, mid, &err);
	cr_assert(r >= 0, "%s", err_msg(&err));
	return r;
}

static void flush(struct feed_writer *w)
{
	struct err err = ERR_INIT;
	cr_assert_eq(feed_writer_flush(w, &err), 0, "%s", err_msg(&err));
}

/* git fsck --strict finds nothing wrong in an epoch */
static void fsck_ok(const char *gitdir)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "git --git-dir='%s' fsck --strict --no-dangling >/dev/null 2>&1",
	         gitdir);
	cr_assert_eq(system(cmd), 0, "git fsck --strict %s", gitdir);
}

/* commit ids of an epoch, oldest first */
static size_t history(const char *inbox, int epoch, char ids[][41], size_t max)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/git/%d.git", inbox, epoch);
	git_repository *r;
	cr_assert_eq(git_repository_open_bare(&r, path), 0);
	git_revwalk *rw;
	git_revwalk_new(&rw, r);
	git_revwalk_sorting(rw, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	cr_assert_eq(git_revwalk_push_ref(rw, "refs/heads/master"), 0);
	git_oid id;
	size_t n = 0;
	while (n < max && git_revwalk_next(&id, rw) == 0)
		git_oid_tostr(ids[n++], 41, &id);
	git_revwalk_free(rw);
	git_repository_free(r);
	return n;
}

Test(feed_writer, golden_vector_commit_ids)
{
	char inbox[512];
	snprintf(inbox, sizeof(inbox), "%s/ci-results", tmpdir);
	struct feed_writer *w = open_w(inbox, 0);
	struct buf b = BUF_INIT;
	static const char *const in[] = {"input/01-simple.eml", "input/02-zone.eml",
	                                 "input/03-received.eml", "input/04-dup-same.eml",
	                                 "input/05-dup-diff.eml"};
	int want[] = {FEED_ADDED, FEED_ADDED, FEED_ADDED, FEED_DUPLICATE, FEED_ADDED};
	char *mids[5];
	for (int i = 0; i < 5; i++) {
		fixture(in[i], &b);
		cr_assert_eq(add(w, b.ptr, b.len, &mids[i]), want[i], "%s", in[i]);
	}
	cr_assert_str_eq(mids[0], "build-1@ci.example.invalid");
	cr_assert_str_eq(mids[3], "build-1@ci.example.invalid");
	cr_assert_str_eq(mids[4], "20240101120000.oYAFIqoXFfU9D7gE4WpZ0cQbJIJ8ezmEPInjL9SnTAY@z");
	flush(w);

	/* commits 1-4 byte for byte (expected/commit-trees.txt) */
	fixture("expected/commit-trees.txt", &b);
	char ids[8][41];
	size_t n = history(inbox, 0, ids, 8);
	cr_assert_eq(n, 4);
	char *line = b.ptr;
	for (size_t i = 0; i < 4; i++) {
		cr_assert(!strncmp(line, ids[i], 40), "commit %zu: got %s, want %.40s", i + 1,
		          ids[i], line);
		line = strchr(line, '\n') + 1;
	}

	/* the stored blob of 05 has the generated Message-ID appended */
	struct buf want05 = BUF_INIT;
	fixture("expected/blob-05-dup-diff.eml", &want05);
	git_repository *r;
	char path[600];
	snprintf(path, sizeof(path), "%s/git/0.git", inbox);
	cr_assert_eq(git_repository_open_bare(&r, path), 0);
	git_oid blob;
	git_oid_fromstr(&blob, "b5e8413fcef03d7bf0508d0715a59597c929a845");
	git_blob *gb;
	cr_assert_eq(git_blob_lookup(&gb, r, &blob), 0);
	cr_assert_eq((size_t)git_blob_rawsize(gb), want05.len);
	cr_assert(!memcmp(git_blob_rawcontent(gb), want05.ptr, want05.len));
	git_blob_free(gb);

	/* removal of 03: a "d" commit naming the old blob, message "rm" */
	struct err err = ERR_INIT;
	cr_assert_eq(feed_writer_remove(w, "build-3@ci.example.invalid", &err), 1);
	cr_assert_eq(feed_writer_remove(w, "nope@x", &err), 0);
	flush(w);
	git_oid head;
	cr_assert_eq(git_reference_name_to_id(&head, r, "refs/heads/master"), 0);
	git_commit *c;
	cr_assert_eq(git_commit_lookup(&c, r, &head), 0);
	cr_assert_str_eq(git_commit_message(c), "rm\n");
	cr_assert_str_eq(git_commit_author(c)->name, "ci-results");
	cr_assert_str_eq(git_commit_committer(c)->email, "ci-results@example.invalid");
	git_tree *t;
	git_commit_tree(&t, c);
	cr_assert_eq(git_tree_entrycount(t), 1);
	cr_assert_str_eq(git_tree_entry_name(git_tree_entry_byindex(t, 0)), "d");
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(git_tree_entry_byindex(t, 0)));
	cr_assert_str_eq(hex, "c4e7fc3e9724713c38200a400e0d95859c0d4079");
	git_tree_free(t);
	git_commit_free(c);
	git_repository_free(r);
	feed_writer_close(w);

	/* inbox layout public-inbox needs */
	struct stat sb;
	snprintf(path, sizeof(path), "%s/inbox.lock", inbox);
	cr_assert_eq(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/all.git/objects/info/alternates", inbox);
	struct buf alt = BUF_INIT;
	cr_assert_eq(buf_read_file(&alt, path, 4096), 0);
	cr_assert_str_eq(alt.ptr, "../../git/0.git/objects\n");
	for (int i = 0; i < 5; i++)
		free(mids[i]);
	buf_free(&alt);
	buf_free(&b);
	buf_free(&want05);
}

static int count_cb(const struct feed_msg *m, void *arg, struct err *err)
{
	(void)m;
	(void)err;
	(*(size_t *)arg)++;
	return 0;
}

Test(feed_writer, cache_survives_reopen_and_rebuilds_from_git)
{
	char inbox[512], path[600];
	snprintf(inbox, sizeof(inbox), "%s/x", tmpdir);
	struct buf b = BUF_INIT;
	fixture("input/01-simple.eml", &b);
	struct feed_writer *w = open_w(inbox, 0);
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_ADDED);
	flush(w);
	feed_writer_close(w);

	w = open_w(inbox, 0);
	cr_assert(feed_writer_has(w, "build-1@ci.example.invalid"));
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_DUPLICATE);
	feed_writer_close(w);

	/* the cache is only an index: without it, open rebuilds it from the epochs */
	snprintf(path, sizeof(path), "%s/cifeed-mids.sqlite3", inbox);
	cr_assert_eq(unlink(path), 0);
	w = open_w(inbox, 0);
	cr_assert(feed_writer_has(w, "build-1@ci.example.invalid"));
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_DUPLICATE);
	feed_writer_close(w);
	buf_free(&b);
}

Test(feed_writer, unflushed_work_is_invisible)
{
	char inbox[512];
	snprintf(inbox, sizeof(inbox), "%s/y", tmpdir);
	struct buf b = BUF_INIT;
	fixture("input/02-zone.eml", &b);
	struct feed_writer *w = open_w(inbox, 0);
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_ADDED);
	feed_writer_close(w); /* no flush: as if the process died */
	w = open_w(inbox, 0);
	cr_assert(!feed_writer_has(w, "result-2@ci.example.invalid"));
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_ADDED);
	flush(w);
	feed_writer_close(w);
	size_t n = 0;
	struct err err = ERR_INIT;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0, "%s", err_msg(&err));
	cr_assert_eq(n, 1);
	buf_free(&b);
}

/* kill -9 during a branch update leaves refs/heads/master.lock: the next writer clears it */
Test(feed_writer, stale_branch_lock_of_a_killed_writer)
{
	char inbox[512], lock[600];
	snprintf(inbox, sizeof(inbox), "%s/stale", tmpdir);
	struct buf a = BUF_INIT, b = BUF_INIT;
	fixture("input/01-simple.eml", &a);
	fixture("input/02-zone.eml", &b);
	struct feed_writer *w = open_w(inbox, 0);
	cr_assert_eq(add(w, a.ptr, a.len, NULL), FEED_ADDED);
	flush(w);
	feed_writer_close(w);
	snprintf(lock, sizeof(lock), "%s/git/0.git/refs/heads/master.lock", inbox);
	FILE *f = fopen(lock, "w");
	cr_assert(f);
	fputs("0123456789012345678901234567890123456789\n", f);
	fclose(f);

	w = open_w(inbox, 0);
	cr_assert_eq(add(w, b.ptr, b.len, NULL), FEED_ADDED);
	flush(w);
	feed_writer_close(w);
	cr_assert_eq(access(lock, F_OK), -1, "the stale lock is still there");
	char ids[4][41];
	cr_assert_eq(history(inbox, 0, ids, 4), 2);
	buf_free(&a);
	buf_free(&b);
}

Test(feed_writer, epoch_rollover_and_batches)
{
	char inbox[512];
	snprintf(inbox, sizeof(inbox), "%s/z", tmpdir);
	/* 30 kB epochs, auto-flush every 25 messages */
	struct feed_writer *w = NULL;
	struct err err = ERR_INIT;
	struct feed_writer_opts o = {
	    .name = "z", .address = "z@example.invalid", .epoch_size = 30000, .batch_max = 25};
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 300; i++) {
		buf_reset(&msg);
		buf_addf(&msg,
		         "From: Bot <bot@example.invalid>\nSubject: message %d\n"
		         "Date: Mon, 01 Jan 2024 10:%02d:00 +0000\nMessage-ID: "
		         "<m%d@example.invalid>\n\n",
		         i, i % 60, i);
		for (int k = 0; k < 40; k++)
			buf_addf(&msg, "line %d of message %d with some padding text %08x\n", k, i,
			         (unsigned)(i * 2654435761u + (unsigned)k));
		cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
	}
	flush(w);
	struct feed_writer_stats st;
	feed_writer_stats(w, &st);
	feed_writer_close(w);
	cr_assert_gt(st.epoch, 1, "expected several epochs, got %d", st.epoch);
	cr_assert_eq(feed_epoch_newest(inbox), st.epoch);
	/* every epoch is its own root history; all 300 messages read back in order */
	size_t total = 0;
	for (int e = 0; e <= st.epoch; e++) {
		char ids[400][41];
		total += history(inbox, e, ids, 400);
	}
	cr_assert_eq(total, 300);
	size_t n = 0;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0);
	cr_assert_eq(n, 300);
	struct buf rep = BUF_INIT;
	size_t msgs;
	cr_assert_eq(feed_verify(inbox, 0, &msgs, &rep, &err), 0, "%s", buf_cstr(&rep));
	cr_assert_eq(msgs, 300);
	/* reopening continues in the newest epoch, never an older one */
	w = NULL;
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0);
	buf_reset(&msg);
	buf_adds(
	    &msg,
	    "From: Bot <bot@example.invalid>\nSubject: late\n"
	    "Date: Mon, 01 Jan 2024 12:00:00 +0000\nMessage-ID: <late@example.invalid>\n\nx\n");
	cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
	cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_DUPLICATE);
	flush(w);
	feed_writer_stats(w, &st);
	feed_writer_close(w);
	cr_assert_geq(st.epoch, feed_epoch_newest(inbox) - 1);
	buf_free(&msg);
	buf_free(&rep);
}

static size_t packs_in(const char *gitdir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls '%s'/objects/pack/*.pack 2>/dev/null | wc -l", gitdir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	cr_assert(p);
	cr_assert_eq(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

Test(feed_writer, repacks_when_packs_pile_up)
{
	char inbox[512], gitdir[600];
	snprintf(inbox, sizeof(inbox), "%s/packs", tmpdir);
	snprintf(gitdir, sizeof(gitdir), "%s/git/0.git", inbox);
	struct feed_writer *w = NULL;
	struct err err = ERR_INIT;
	/* one flush per 5 messages, at most 3 packs */
	struct feed_writer_opts o = {
	    .name = "p", .address = "p@example.invalid", .batch_max = 5, .max_packs = 3};
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 60; i++) {
		buf_reset(&msg);
		buf_addf(
		    &msg,
		    "From: Bot <bot@example.invalid>\nSubject: m %d\n"
		    "Date: Mon, 01 Jan 2024 10:00:%02d +0000\nMessage-ID: <p%d@example.invalid>\n\n"
		    "body %d\n",
		    i, i % 60, i, i);
		cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
		cr_assert_leq(packs_in(gitdir), 3, "packs pile up after message %d", i);
	}
	flush(w);
	feed_writer_close(w);
	fsck_ok(gitdir);
	size_t n = 0;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0);
	cr_assert_eq(n, 60);
	buf_free(&msg);
}

/* 1 when the epoch's branch exists */
static int has_branch(const char *inbox, int epoch)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/git/%d.git", inbox, epoch);
	git_repository *r;
	if (git_repository_open_bare(&r, path) < 0)
		return 0;
	git_oid id;
	int ok = git_reference_name_to_id(&id, r, "refs/heads/master") == 0;
	git_repository_free(r);
	return ok;
}

static void padded_msg(struct buf *msg, const char *tag, int i)
{
	buf_reset(msg);
	buf_addf(msg,
	         "From: Bot <bot@example.invalid>\nSubject: %s %d\n"
	         "Date: Mon, 01 Jan 2024 10:%02d:00 +0000\nMessage-ID: <%s%d@example.invalid>\n\n",
	         tag, i, i % 60, tag, i);
	for (int k = 0; k < 40; k++)
		buf_addf(msg, "line %d of %s %d with some padding text %08x\n", k, tag, i,
		         (unsigned)(i * 2654435761u + (unsigned)k));
}

Test(feed_writer, held_batches_are_packed_but_invisible_until_flush)
{
	char inbox[512], gitdir[600];
	snprintf(inbox, sizeof(inbox), "%s/held", tmpdir);
	snprintf(gitdir, sizeof(gitdir), "%s/git/0.git", inbox);
	struct feed_writer *w = NULL;
	struct err err = ERR_INIT;
	/* a pack per 5 messages, a new epoch after ~30 kB */
	struct feed_writer_opts o = {
	    .name = "h", .address = "h@example.invalid", .epoch_size = 30000, .batch_max = 5};
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
	feed_writer_hold(w, 1);
	struct buf msg = BUF_INIT;
	int i = 0, r;
	for (;; i++) {
		cr_assert_lt(i, 1000, "a held writer never asked for a new epoch");
		padded_msg(&msg, "h", i);
		r = add(w, msg.ptr, msg.len, NULL);
		if (r == FEED_HELD)
			break;
		cr_assert_eq(r, FEED_ADDED);
		cr_assert(!has_branch(inbox, 0), "the branch moved while held (message %d)", i);
	}
	cr_assert_gt(i, 10);
	/* full batches were packed in the background all the same */
	cr_assert_geq(packs_in(gitdir), 1);
	cr_assert(!has_branch(inbox, 0));
	/* the refused message was not queued: adding it after the hold is released works */
	feed_writer_hold(w, 0);
	cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
	cr_assert(has_branch(inbox, 0), "rolling over publishes the old epoch");
	cr_assert_eq(feed_epoch_newest(inbox), 1);
	flush(w);
	feed_writer_close(w);
	char ids[1100][41];
	size_t total = history(inbox, 0, ids, 1100) + history(inbox, 1, ids, 1100);
	cr_assert_eq(total, (size_t)i + 1);
	size_t n = 0;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0, "%s", err_msg(&err));
	cr_assert_eq(n, (size_t)i + 1);
	fsck_ok(gitdir);
	buf_free(&msg);
}

Test(feed_writer, remove_a_message_whose_batch_is_being_packed)
{
	char inbox[512];
	snprintf(inbox, sizeof(inbox), "%s/inflight", tmpdir);
	struct feed_writer *w = NULL;
	struct err err = ERR_INIT;
	struct feed_writer_opts o = {.name = "f", .address = "f@example.invalid", .batch_max = 4};
	cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 6; i++) {
		padded_msg(&msg, "f", i);
		cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
	}
	/* f1 is in the first batch (sealed at the 4th message, packed on the side) */
	cr_assert_eq(feed_writer_remove(w, "f1@example.invalid", &err), 1, "%s", err_msg(&err));
	flush(w);
	feed_writer_close(w);
	size_t n = 0;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0, "%s", err_msg(&err));
	cr_assert_eq(n, 5);
	char ids[8][41];
	cr_assert_eq(history(inbox, 0, ids, 8), 7);
	buf_free(&msg);
}

/*
 * With the expected count given, batches shrink toward the end (each sealed
 * once it holds what is still to come, never below batch_max / 8): 80, 60,
 * 30, 15, 10 and the last 5 at flush - six packs, where the unhinted writer
 * makes three (80, 80, 40).  Batches sealed back to back are packed
 * two at a time; every message must still be there, in order, fsck-clean.
 */
Test(feed_writer, expected_count_shrinks_the_last_batches)
{
	for (int hinted = 0; hinted <= 1; hinted++) {
		char inbox[512], gitdir[600];
		snprintf(inbox, sizeof(inbox), "%s/expect%d", tmpdir, hinted);
		snprintf(gitdir, sizeof(gitdir), "%s/git/0.git", inbox);
		struct feed_writer *w = NULL;
		struct err err = ERR_INIT;
		struct feed_writer_opts o = {
		    .name = "x", .address = "x@example.invalid", .batch_max = 80};
		cr_assert_eq(feed_writer_open(&w, inbox, &o, &err), 0, "%s", err_msg(&err));
		if (hinted)
			feed_writer_expect(w, 200);
		struct buf msg = BUF_INIT;
		for (int i = 0; i < 200; i++) {
			padded_msg(&msg, "x", i);
			cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
		}
		flush(w);
		struct feed_writer_stats st;
		feed_writer_stats(w, &st);
		feed_writer_close(w);
		cr_assert_eq(st.packs, hinted ? 6u : 3u, "hinted=%d: %zu packs", hinted, st.packs);
		cr_assert_eq(packs_in(gitdir), hinted ? 6 : 3);
		char ids[210][41];
		cr_assert_eq(history(inbox, 0, ids, 210), 200);
		size_t n = 0;
		cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0, "%s", err_msg(&err));
		cr_assert_eq(n, 200);
		fsck_ok(gitdir);
		buf_free(&msg);
	}
}

/* The name of the largest pack of an epoch (its checksum names its content). */
static void largest_pack(const char *gitdir, char name[128])
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "ls -S '%s/objects/pack/' | grep '[.]pack$' | head -1", gitdir);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	name[0] = '\0';
	cr_assert(fgets(name, 128, p), "no pack in %s", gitdir);
	pclose(p);
}

/*
 * A daemon adds a small pack per pass to an epoch holding one big pack:
 * folding the small ones must leave the big one as it is (a geometric
 * repack), not rewrite the whole epoch each time packs pile up.
 */
Test(feed_writer, repacking_small_packs_leaves_the_big_one_alone)
{
	char inbox[512], gitdir[600];
	snprintf(inbox, sizeof(inbox), "%s/geometric", tmpdir);
	snprintf(gitdir, sizeof(gitdir), "%s/git/0.git", inbox);
	struct err err = ERR_INIT;
	struct buf msg = BUF_INIT;
	struct feed_writer *w = NULL;
	struct feed_writer_opts big = {.name = "g", .address = "g@example.invalid"};
	cr_assert_eq(feed_writer_open(&w, inbox, &big, &err), 0, "%s", err_msg(&err));
	for (int i = 0; i < 200; i++) {
		padded_msg(&msg, "big", i);
		cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
	}
	flush(w);
	feed_writer_close(w);
	char before[128], after[128];
	largest_pack(gitdir, before);
	/*
	 * then one pass of 2 messages at a time, at most 6 packs (a geometric
	 * progression of 16 small packs takes ~log2(16) packs beside the big one)
	 */
	struct feed_writer_opts small = {
	    .name = "g", .address = "g@example.invalid", .max_packs = 6};
	for (int pass = 0; pass < 16; pass++) {
		cr_assert_eq(feed_writer_open(&w, inbox, &small, &err), 0, "%s", err_msg(&err));
		for (int k = 0; k < 2; k++) {
			padded_msg(&msg, "small", pass * 2 + k);
			cr_assert_eq(add(w, msg.ptr, msg.len, NULL), FEED_ADDED);
		}
		flush(w);
		feed_writer_close(w);
		cr_assert_leq(packs_in(gitdir), 6, "packs pile up after pass %d", pass);
	}
	largest_pack(gitdir, after);
	cr_assert_str_eq(after, before, "the big pack was rewritten");
	size_t n = 0;
	cr_assert_eq(feed_read(inbox, 0, count_cb, &n, &err), 0, "%s", err_msg(&err));
	cr_assert_eq(n, 232);
	fsck_ok(gitdir);
	buf_free(&msg);
}
