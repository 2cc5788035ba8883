/*
 * test_intake_base.c - base information in the git and b4 layouts, on the
 * real `git format-patch --base` and `b4 send` output in
 * ../shared/fixtures/patches (see its README for how each was made).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mail.h"
#include "mbox.h"
#include "patchmail.h"

#define BASE "aceed2ad8410e615cad45933efe5dbad584a5de0"
#define PRE1 "63b673c79b66d3d9ce49feb72019bd9e015b05a7"
#define PRE2 "966ee7d337767cb47daaca23b8f78bde703e7ee7"

/* "kind=value kind=value" of the base lines of one message */
static void base_of(const char *rel, int nth, struct buf *out, char **change_id, int *kind)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/patches/%s", getenv("FIXTURES"), rel);
	struct buf raw = BUF_INIT;
	cr_assert(buf_read_file(&raw, path, 1 << 20) == 0, "cannot read %s", path);
	struct mbox_iter it;
	mbox_iter_init(&it, raw.ptr, raw.len);
	const char *msg;
	size_t n;
	int i = 0, found = 0;
	while (mbox_next(&it, &msg, &n)) {
		if (i++ != nth)
			continue;
		struct mail m;
		struct patchmail pm;
		mail_parse(msg, n, &m);
		patchmail_parse(&m, &pm);
		for (size_t k = 0; k < pm.nbase; k++)
			buf_addf(out, "%s%s=%s", k ? " " : "", pm_base_kind_name(pm.base[k].kind),
				 pm.base[k].value);
		if (change_id)
			*change_id = pm.change_id ? strdup(pm.change_id) : NULL;
		if (kind)
			*kind = pm.kind;
		patchmail_free(&pm);
		mail_free(&m);
		found = 1;
	}
	mbox_iter_free(&it);
	buf_free(&raw);
	cr_assert(found, "%s has no message %d", rel, nth);
}

static void expect_base(const char *rel, int nth, const char *want)
{
	struct buf got = BUF_INIT;
	base_of(rel, nth, &got, NULL, NULL);
	cr_expect_str_eq(buf_cstr(&got), want, "%s#%d", rel, nth);
	buf_free(&got);
}

Test(base, git_layouts)
{
	expect_base("format-patch/base-cover/0000-cover-letter.patch", 0, "base-commit=" BASE);
	for (int i = 1; i <= 3; i++) {
		static const char *f[] = { NULL, "0001-a-change-line2.patch",
					   "0002-README-add-world.patch", "0003-b-add-new-file.patch" };
		char rel[256];
		snprintf(rel, sizeof(rel), "format-patch/base-cover/%s", f[i]);
		expect_base(rel, 0, "");
		snprintf(rel, sizeof(rel), "format-patch/base-nocover/%s", f[i]);
		expect_base(rel, 0, i == 1 ? "base-commit=" BASE : "");
		snprintf(rel, sizeof(rel), "format-patch/nobase-nocover/%s", f[i]);
		expect_base(rel, 0, "");
	}
	expect_base("format-patch/base-single/0001-b-add-new-file.patch", 0,
		    "base-commit=" BASE " prerequisite-patch-id=" PRE1 " prerequisite-patch-id=" PRE2);
	expect_base("format-patch/base-prereq-cover/0000-cover-letter.patch", 0,
		    "base-commit=" BASE " prerequisite-patch-id=" PRE1);
	expect_base("format-patch/base-prereq-nocover/0001-README-add-world.patch", 0,
		    "base-commit=" BASE " prerequisite-patch-id=" PRE1);
}

Test(base, b4_layouts)
{
	char *cid = NULL;
	int kind;
	struct buf got = BUF_INIT;
	base_of("b4/b4-send-output/0000-demo-cover-title-for-demo-series.eml", 0, &got, &cid, &kind);
	cr_expect_str_eq(got.ptr, "base-commit=3a6e54deb4313d6f7400c65c56477f17d68b4d1a");
	cr_expect_str_eq(cid, "20261122-demo-series-4138cd434568");
	cr_expect_eq(kind, PM_COVER);
	free(cid);
	buf_reset(&got);
	base_of("b4/b4-send-output/single-patch-b4.eml", 0, &got, &cid, &kind);
	cr_expect(!strncmp(buf_cstr(&got), "base-commit=", 12), "single b4 patch: '%s'", got.ptr);
	cr_expect(cid != NULL, "single b4 patch: no change-id");
	cr_expect_eq(kind, PM_PATCH);
	free(cid);
	buf_free(&got);
	expect_base("b4/series-base.mbox", 0, "base-commit=fd64807aa19a4a0d9e8243124a0c84ebb1a27df7");
	expect_base("b4/series-base.mbox", 1, "");
	expect_base("b4/series-nobase.mbox", 0, "");
	expect_base("b4/single-patch-base.mbox", 0,
		    "base-commit=fd64807aa19a4a0d9e8243124a0c84ebb1a27df7");
}
