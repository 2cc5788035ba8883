/*
 * test_intake_link.c - link keys from adapters (patchlink_add_key): a
 * Gerrit change's patch-id and Change-Id find the mailing-list patch,
 * whether the key or the mail arrives first.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "intake.h"
#include "mbox.h"
#include "patchlink.h"
#include "store.h"

static struct store *st;
static char dbdir[] = "/tmp/cifeed-test-link-XXXXXX";

static void setup(void)
{
	cr_assert(mkdtemp(dbdir));
	char path[256];
	snprintf(path, sizeof(path), "%s/db", dbdir);
	struct err err = ERR_INIT;
	cr_assert(store_open(&st, path, 0, &err) == 0, "%s", err_msg(&err));
}

static void teardown(void)
{
	store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
	cr_expect(system(cmd) == 0);
}

static void ingest(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/patches/%s", getenv("FIXTURES"), rel);
	struct buf raw = BUF_INIT;
	cr_assert(buf_read_file(&raw, path, 1 << 20) == 0, "cannot read %s", path);
	struct err err = ERR_INIT;
	struct intake *in;
	cr_assert(intake_open(st, "test", &in, &err) == 0, "%s", err_msg(&err));
	cr_assert(store_begin(st, &err) == 0);
	struct mbox_iter it;
	mbox_iter_init(&it, raw.ptr, raw.len);
	const char *m;
	size_t n;
	while (mbox_next(&it, &m, &n))
		cr_assert(intake_add(in, m, n, NULL, -1, &err) == 0, "%s", err_msg(&err));
	cr_assert(intake_flush(in, &err) == 0, "%s", err_msg(&err));
	cr_assert(store_commit(st, &err) == 0);
	mbox_iter_free(&it);
	intake_close(in);
	buf_free(&raw);
}

static void key(const char *checkout, const char *how, const char *value)
{
	struct err err = ERR_INIT;
	cr_assert(store_begin(st, &err) == 0);
	cr_assert(patchlink_add_key(st, checkout, how, value, &err) == 0, "%s", err_msg(&err));
	cr_assert(store_commit(st, &err) == 0);
}

/* "msgid:how" of a checkout's links, sorted, space-separated */
static void links(const char *checkout, struct buf *out)
{
	struct store_stmt *s;
	struct err err = ERR_INIT;
	cr_assert(store_prepare(st, &s,
				"SELECT p.msgid, cp.how FROM checkout_patches cp JOIN patches p ON "
				"p.rid = cp.patch_rid WHERE cp.checkout_id = ? ORDER BY p.msgid",
				&err) == 0);
	store_bind_text(s, 1, checkout, -1);
	while (store_step(s, &err) == STORE_ROW)
		buf_addf(out, "%s%s:%s", out->len ? " " : "", store_col_text(s, 0, NULL),
			 store_col_text(s, 1, NULL));
	store_finalize(s);
}

TestSuite(link, .init = setup, .fini = teardown);

Test(link, patch_id_key_after_and_before_the_mail)
{
	/* patch 1 of b4/series-base.mbox has patch-id adf4b1fe... (patch-id-vectors.txt) */
	key("g:early", "patch_id", "adf4b1fedda2027ea265491e57529b4087f66883");
	ingest("b4/series-base.mbox");
	key("g:late", "patch_id", "adf4b1fedda2027ea265491e57529b4087f66883");
	key("g:none", "patch_id", "0000000000000000000000000000000000000000");
	struct buf a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
	links("g:early", &a);
	links("g:late", &b);
	links("g:none", &c);
	const char *want = "41a483c7c74f77703c62ac4a9dd6d5b95f4b3d6a.1795339831.git.alice@example.org:patch_id";
	cr_expect_str_eq(buf_cstr(&a), want);
	cr_expect_str_eq(buf_cstr(&b), want);
	cr_expect_str_eq(buf_cstr(&c), "");
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
}

Test(link, b4_change_id_links_the_series)
{
	key("g:cid", "change_id", "20261122-demo-series-4138cd434568");
	ingest("b4/b4-send-output/0001-a-tweak-v3.eml");
	ingest("b4/b4-send-output/0002-readme-x.eml");
	struct buf a = BUF_INIT;
	links("g:cid", &a);
	cr_expect_str_eq(buf_cstr(&a), "", "linked before the cover letter said the change-id");
	ingest("b4/b4-send-output/0000-demo-cover-title-for-demo-series.eml");
	buf_reset(&a);
	links("g:cid", &a);
	cr_expect_str_eq(buf_cstr(&a),
			 "20261122-demo-series-v1-0-50769dfa7ed6@example.org:change_id "
			 "20261122-demo-series-v1-1-50769dfa7ed6@example.org:change_id "
			 "20261122-demo-series-v1-2-50769dfa7ed6@example.org:change_id");
	buf_free(&a);
}

Test(link, unknown_kind_is_refused)
{
	struct err err = ERR_INIT;
	cr_assert(store_begin(st, &err) == 0);
	cr_expect(patchlink_add_key(st, "g:1", "colour", "blue", &err) < 0);
	cr_expect_eq(err.code, ERR_USAGE);
	store_rollback(st);
	err_free(&err);
}
