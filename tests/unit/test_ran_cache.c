/*
 * test_ran_cache.c - the revision change log written by results_submit()
 * (migration 0060) and the /ran answer cache that reads it (ran_cache.h):
 * which revisions each kind of submission records, exact invalidation from
 * another connection, stale puts, the byte budget, LRU order, pruning.
 * Data: tests/e2e/data/ran-cache/ (see tests/e2e/data/README.md).
 */
#include "api.h"
#include "ingest.h"
#include "ran_cache.h"
#include "results.h"
#include "store.h"
#include "testutil.h"

#define A  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
#define B  "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3"
#define C  "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3"
#define D  "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3"
#define P  "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define P2 "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"

struct fx {
	char *dir, *db;
	struct store *w; /* the writer */
	struct results_writer *rw;
	struct store *r; /* a reader, as the HTTP loop's connection */
};

static void fx_open(struct fx *f)
{
	struct err e = ERR_INIT;
	struct buf p = BUF_INIT;
	f->dir = temp_dir();
	buf_addf(&p, "%s/t.db", f->dir);
	f->db = buf_detach(&p);
	cr_assert_eq(store_open(&f->w, f->db, 0, &e), 0, "%s", err_msg(&e));
	cr_assert_eq(results_writer_new(f->w, &f->rw, &e), 0, "%s", err_msg(&e));
	cr_assert_eq(store_open(&f->r, f->db, STORE_READONLY | STORE_NOCREATE, &e), 0, "%s",
	             err_msg(&e));
}

static void fx_close(struct fx *f)
{
	results_writer_free(f->rw);
	store_close(f->w);
	store_close(f->r);
	free(f->db);
	free(f->dir);
}

/* Ingest tests/e2e/data/ran-cache/NAME; returns the submission id. */
static int64_t submit(struct fx *f, const char *name)
{
	struct buf rel = BUF_INIT, data = BUF_INIT;
	buf_addf(&rel, "tests/e2e/data/ran-cache/%s", name);
	char *path = srcdir_path(rel.ptr);
	cr_assert_eq(buf_read_file(&data, path, 1 << 20), 0, "read %s", path);
	struct ingest_result res;
	struct err e = ERR_INIT;
	ingest_result_init(&res);
	cr_assert_eq(ingest_kcidb(f->w, f->rw, data.ptr, data.len, path, "test", &res, &e), 0,
	             "%s: %s", name, err_msg(&e));
	cr_assert_eq(res.duplicate, 0, "%s stored before", name);
	int64_t id = res.stats.submission_id;
	ingest_result_free(&res);
	buf_free(&rel);
	buf_free(&data);
	free(path);
	return id;
}

/* "commit:patchset;..." of the log rows of one submission, sorted. */
static char *logged(struct fx *f, int64_t seq)
{
	struct store_stmt *s;
	struct err e = ERR_INIT;
	struct buf out = BUF_INIT;
	cr_assert_eq(store_prepare(f->w, &s,
	                           "SELECT git_commit_hash, patchset_hash FROM revision_changes "
	                           "WHERE seq = ? ORDER BY 1, 2",
	                           &e),
	             0);
	store_bind_int(s, 1, seq);
	while (store_step(s, &e) == STORE_ROW)
		buf_addf(&out, "%s%.4s:%.4s", out.len ? ";" : "", store_col_text(s, 0, NULL),
		         store_col_text(s, 1, NULL));
	store_finalize(s);
	buf_addch(&out, 0);
	return buf_detach(&out);
}

#define expect_logged(f, seq, want)                                                                \
	do {                                                                                       \
		char *got_ = logged(f, seq);                                                       \
		cr_expect_str_eq(got_, want, "submission %lld logged %s, expected %s",             \
		                 (long long)(seq), got_, want);                                    \
		free(got_);                                                                        \
	} while (0)

Test(ran_cache, log_records_each_kind_of_change)
{
	struct fx f;
	fx_open(&f);
	/* four checkouts on three revisions + (D, "") */
	expect_logged(&f, submit(&f, "base.json"), "a0a1:;a0a1:5a5a;b0b1:;d0d1:");
	/* the same objects again (other bytes): nothing changed, nothing logged */
	expect_logged(&f, submit(&f, "base-again.json"), "");
	/* a new test: its build's revision only, found through the build */
	expect_logged(&f, submit(&f, "test-a.json"), "a0a1:");
	/* a field filled in on an existing test */
	expect_logged(&f, submit(&f, "fill-a.json"), "a0a1:");
	/* a build with a test on an existing checkout */
	expect_logged(&f, submit(&f, "build-b.json"), "b0b1:");
	/* a test whose build is unknown, then the build whose checkout is unknown: no revision */
	expect_logged(&f, submit(&f, "orphan-test.json"), "");
	expect_logged(&f, submit(&f, "orphan-build.json"), "");
	/* the checkout arrives: its revision now has a build and a test */
	expect_logged(&f, submit(&f, "orphan-checkout.json"), "c0c1:");
	/* a patchset hash filled in moves the checkout from (D, "") to (D, P2): both changed */
	expect_logged(&f, submit(&f, "patchset-fill.json"), "d0d1:;d0d1:6b6b");
	fx_close(&f);
}

static void put(struct ran_cache *c, const char *commit, const char *ps, const char *body)
{
	cr_assert_eq(ran_cache_put(c, commit, ps, ran_cache_tag(c), body, strlen(body), "\"e\""), 1,
	             "put %s:%s", commit, ps ? ps : "");
}

/* 1 with the body in *out (when out) if cached, else 0. */
static int has(struct ran_cache *c, const char *commit, const char *ps, char **out)
{
	struct ran_cache_hit h;
	if (!ran_cache_get(c, commit, ps, &h))
		return 0;
	if (out)
		*out = xstrndup(h.body, h.len);
	ran_cache_release(h.ref);
	return 1;
}

static void sync_ok(struct ran_cache *c, struct store *st)
{
	struct err e = ERR_INIT;
	cr_assert_eq(ran_cache_sync(c, st, &e), 0, "%s", err_msg(&e));
}

Test(ran_cache, sync_drops_exactly_the_changed_revisions)
{
	struct fx f;
	struct ran_cache_stats s;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	put(c, A, NULL, "A");
	put(c, A, P, "AP");
	put(c, B, "", "B");
	put(c, D, NULL, "D");

	/* nothing committed: a sync reads no log */
	sync_ok(c, f.r);
	ran_cache_stats(c, &s);
	cr_expect_eq(s.syncs, 0);

	/* another connection adds a test to (A, ""): only that answer goes */
	submit(&f, "test-a.json");
	sync_ok(c, f.r);
	cr_expect_eq(has(c, A, NULL, NULL), 0, "(A, \"\") must be dropped");
	cr_expect_eq(has(c, A, "", NULL), 0, "\"\" and no patchset are the same revision");
	cr_expect(has(c, A, P, NULL), "(A, P) did not change");
	cr_expect(has(c, B, NULL, NULL), "(B, \"\") did not change");
	ran_cache_stats(c, &s);
	cr_expect_eq(s.invalidations, 1);
	cr_expect_eq(s.syncs, 1);

	/* unchanged objects resubmitted: the database changed, no answer did */
	put(c, A, NULL, "A2");
	submit(&f, "base-again.json");
	sync_ok(c, f.r);
	cr_expect(has(c, A, NULL, NULL) && has(c, A, P, NULL) && has(c, B, NULL, NULL) &&
	          has(c, D, NULL, NULL));
	ran_cache_stats(c, &s);
	cr_expect_eq(s.invalidations, 1);
	cr_expect_eq(s.syncs, 2);

	/* the patchset hash of D's checkout filled in: (D, "") loses it */
	submit(&f, "patchset-fill.json");
	sync_ok(c, f.r);
	cr_expect_eq(has(c, D, NULL, NULL), 0);
	cr_expect(has(c, A, NULL, NULL) && has(c, B, NULL, NULL));
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, answer_computed_across_a_change_is_not_kept)
{
	struct fx f;
	struct ran_cache_stats s;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	int64_t tag = ran_cache_tag(c);
	cr_assert_geq(tag, 0);
	/* a query thread computes (A, "") while a submission changes it and the loop syncs */
	submit(&f, "test-a.json");
	sync_ok(c, f.r);
	cr_expect_eq(ran_cache_put(c, A, NULL, tag, "old", 3, "\"e\""), 0);
	ran_cache_stats(c, &s);
	cr_expect_eq(s.stale, 1);
	cr_expect_eq(has(c, A, NULL, NULL), 0);
	/* with the current tag it is kept */
	cr_expect_eq(ran_cache_put(c, A, NULL, ran_cache_tag(c), "new", 3, "\"e\""), 1);
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, pruned_log_flushes_everything)
{
	struct fx f;
	struct ran_cache_stats s;
	struct err e = ERR_INIT;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	put(c, A, NULL, "A");
	put(c, B, NULL, "B");
	/* a writer pruned rows this reader has not read yet (as after a long idle) */
	submit(&f, "build-b.json");
	cr_assert_eq(store_exec(f.w,
	                        "DELETE FROM revision_changes; "
	                        "UPDATE revision_changes_horizon SET pruned_below = 1000",
	                        &e),
	             0, "%s", err_msg(&e));
	sync_ok(c, f.r);
	ran_cache_stats(c, &s);
	cr_expect_eq(s.entries, 0, "a log with a hole must not be trusted");
	cr_expect_eq(s.flushes, 1);
	cr_expect_eq(ran_cache_tag(c), 999);
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, store_error_empties_and_refuses)
{
	struct fx f;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	put(c, A, NULL, "A");
	/* a store without the change log (as if the schema were older): no answer kept */
	struct err e = ERR_INIT;
	cr_assert_eq(store_exec(f.w, "DROP TABLE revision_changes", &e), 0, "%s", err_msg(&e));
	cr_expect_eq(ran_cache_sync(c, f.r, &e), -1);
	err_free(&e);
	cr_expect_eq(has(c, A, NULL, NULL), 0);
	cr_expect_eq(ran_cache_tag(c), -1);
	cr_expect_eq(ran_cache_put(c, A, NULL, ran_cache_tag(c), "A", 1, "\"e\""), 0);
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, budget_and_lru)
{
	struct fx f;
	struct ran_cache_stats s;
	fx_open(&f);
	struct ran_cache *c = ran_cache_new(0);
	sync_ok(c, f.r);
	cr_expect_eq(ran_cache_put(c, A, NULL, ran_cache_tag(c), "x", 1, "\"e\""), 0,
	             "size 0 is off");
	char body[1000];
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = 0;
	/* room for about four answers of 1 KB with their bookkeeping */
	ran_cache_set_max(c, 5000);
	char commit[41];
	for (int i = 0; i < 50; i++) {
		snprintf(commit, sizeof(commit), "%040x", i);
		put(c, commit, NULL, body);
		ran_cache_stats(c, &s);
		cr_assert_leq(s.bytes, 5000, "over budget after %d puts: %zu", i + 1, s.bytes);
		/* keep 0 recently used: it must survive every eviction */
		snprintf(commit, sizeof(commit), "%040x", 0);
		cr_assert(has(c, commit, NULL, NULL), "most recently used evicted at %d", i);
	}
	ran_cache_stats(c, &s);
	cr_expect_geq(s.entries, 3);
	cr_expect_eq(s.evictions, 50 - s.entries);
	snprintf(commit, sizeof(commit), "%040x", 1);
	cr_expect_eq(has(c, commit, NULL, NULL), 0, "the least recently used goes first");
	snprintf(commit, sizeof(commit), "%040x", 49);
	cr_expect(has(c, commit, NULL, NULL), "the newest stays");
	/* an answer larger than the whole budget is not kept, the rest is untouched */
	char *big = xcalloc(1, 6000);
	memset(big, 'y', 5999);
	size_t before = s.entries;
	cr_expect_eq(ran_cache_put(c, B, NULL, ran_cache_tag(c), big, 5999, "\"e\""), 0);
	ran_cache_stats(c, &s);
	cr_expect_eq(s.entries, before);
	free(big);
	/* a smaller budget evicts at once */
	ran_cache_set_max(c, 1500);
	ran_cache_stats(c, &s);
	cr_expect_leq(s.bytes, 1500);
	cr_expect_eq(s.entries, 1);
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, hit_outlives_drop)
{
	struct fx f;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	put(c, A, NULL, "answer of A");
	struct ran_cache_hit h;
	cr_assert_eq(ran_cache_get(c, A, NULL, &h), 1);
	/* the revision changes while the answer is being written */
	submit(&f, "test-a.json");
	sync_ok(c, f.r);
	cr_expect_eq(has(c, A, NULL, NULL), 0);
	/* the bytes in flight stay valid until released (ASan checks) */
	cr_expect_eq(h.len, 11);
	cr_expect_eq(memcmp(h.body, "answer of A", 11), 0);
	ran_cache_release(h.ref);
	/* a replaced answer likewise */
	put(c, A, NULL, "one");
	cr_assert_eq(ran_cache_get(c, A, NULL, &h), 1);
	put(c, A, NULL, "two");
	cr_expect_eq(memcmp(h.body, "one", 3), 0);
	ran_cache_release(h.ref);
	char *got = NULL;
	cr_expect(has(c, A, NULL, &got));
	cr_expect_str_eq(got, "two");
	free(got);
	ran_cache_free(c);
	fx_close(&f);
}

Test(ran_cache, keys_are_checked)
{
	struct fx f;
	fx_open(&f);
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	int64_t t = ran_cache_tag(c);
	cr_expect_eq(ran_cache_put(c, "abc", NULL, t, "x", 1, "\"e\""), 0);
	cr_expect_eq(ran_cache_put(c, A, "abc", t, "x", 1, "\"e\""), 0);
	cr_expect_eq(ran_cache_put(c, NULL, NULL, t, "x", 1, "\"e\""), 0);
	cr_expect_eq(has(c, "abc", NULL, NULL), 0);
	cr_expect_eq(ran_cache_put(c, A, P, t, "AP", 2, "\"e\""), 1);
	cr_expect_eq(has(c, A, NULL, NULL), 0, "(A, P) is not (A, \"\")");
	cr_expect_eq(has(c, A, P, NULL), 1);
	ran_cache_free(c);
	fx_close(&f);
}

/*
 * Many revisions through the table (it grows), then a cache on the real
 * answer: what api_ran computes, kept and compared after each change.
 */
Test(ran_cache, cached_answer_equals_fresh_answer)
{
	struct fx f;
	struct err e = ERR_INIT;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(64 << 20);
	sync_ok(c, f.r);
	char commit[41];
	for (int i = 0; i < 5000; i++) {
		snprintf(commit, sizeof(commit), "%040x", i);
		put(c, commit, NULL, "x");
	}
	for (int i = 0; i < 5000; i += 499) {
		snprintf(commit, sizeof(commit), "%040x", i);
		cr_assert(has(c, commit, NULL, NULL));
	}
	static const char *const steps[] = {"test-a.json", "fill-a.json", "null-status-a.json",
	                                    "build-b.json", "patchset-fill.json"};
	static const char *const revs[][2] = {{A, ""}, {A, P}, {B, ""}, {D, ""}, {D, P2}, {C, ""}};
	for (size_t k = 0; k <= sizeof(steps) / sizeof(*steps); k++) {
		for (size_t r = 0; r < sizeof(revs) / sizeof(*revs); r++) {
			struct ran_query q = {.commit = revs[r][0], .patchset = revs[r][1]};
			struct buf fresh = BUF_INIT;
			cr_assert_eq(api_ran(f.r, &q, &fresh, &e), 0, "%s", err_msg(&e));
			char *got = NULL;
			if (has(c, revs[r][0], revs[r][1], &got)) {
				cr_expect_str_eq(got, buf_cstr(&fresh),
				                 "stale answer for %.4s:%.4s "
				                 "after step %zu",
				                 revs[r][0], revs[r][1], k);
				free(got);
			} else {
				cr_assert_eq(ran_cache_put(c, revs[r][0], revs[r][1],
				                           ran_cache_tag(c), fresh.ptr, fresh.len,
				                           "\"e\""),
				             1);
			}
			buf_free(&fresh);
		}
		if (k < sizeof(steps) / sizeof(*steps)) {
			submit(&f, steps[k]);
			sync_ok(c, f.r);
		}
	}
	ran_cache_free(c);
	fx_close(&f);
}

/* The writer prunes the log every 256 submissions, keeping RESULTS_REVCHANGE_KEEP. */
Test(ran_cache, writer_prunes_and_readers_notice)
{
	struct fx f;
	struct ran_cache_stats s;
	struct err e = ERR_INIT;
	int64_t n;
	fx_open(&f);
	submit(&f, "base.json");
	struct ran_cache *c = ran_cache_new(1 << 20);
	sync_ok(c, f.r);
	put(c, B, NULL, "B");
	/* jump the submission ids: the next one is a multiple of 256 past the window */
	int64_t next = 256 * (RESULTS_REVCHANGE_KEEP / 256 + 2);
	struct buf sql = BUF_INIT;
	buf_addf(&sql,
	         "INSERT INTO submissions (id, received_at, source, version) "
	         "VALUES (%lld, '2026-11-01T00:00:00Z', 'test', '5.3')",
	         (long long)next - 1);
	cr_assert_eq(store_exec(f.w, sql.ptr, &e), 0, "%s", err_msg(&e));
	buf_free(&sql);
	cr_assert_eq(submit(&f, "test-a.json"), next);
	cr_assert_eq(
	    store_query_int(f.w, "SELECT COUNT(*) FROM revision_changes WHERE seq = 1", &n, &e, 0),
	    1);
	cr_expect_eq(n, 0, "rows older than the window are pruned");
	cr_assert_eq(
	    store_query_int(f.w, "SELECT pruned_below FROM revision_changes_horizon", &n, &e, 0),
	    1);
	cr_expect_eq(n, next - RESULTS_REVCHANGE_KEEP);
	expect_logged(&f, next, "a0a1:");
	/* this reader last read seq 1: it cannot know what the pruned rows said */
	sync_ok(c, f.r);
	ran_cache_stats(c, &s);
	cr_expect_eq(s.entries, 0);
	cr_expect_eq(s.flushes, 1);
	cr_expect_eq(ran_cache_tag(c), next);
	ran_cache_free(c);
	fx_close(&f);
}
