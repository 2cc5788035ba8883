/*
 * test_patchid.c - patchid.c against git's own ids.
 *
 * Every vector in patches/patch-id/patch-id-vectors.txt (git 2.39.5:
 * --stable, --unstable, --verbatim per patch) must come out the same.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "patchid.h"

struct ids {
	struct patchid v[16];
	size_t n;
};

static void collect(const struct patchid *p, void *arg)
{
	struct ids *ids = arg;
	if (ids->n < 16)
		ids->v[ids->n] = *p;
	ids->n++;
}

static const char *fixtures(void)
{
	const char *f = getenv("FIXTURES");
	cr_assert(f, "FIXTURES is not set");
	return f;
}

Test(patchid, git_vectors)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/patches/patch-id/patch-id-vectors.txt", fixtures());
	FILE *fp = fopen(path, "r");
	cr_assert(fp, "cannot open %s", path);
	char line[1024];
	size_t checked = 0, nodiff = 0;
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char name[512], a[64], b[64], c[64];
		int k = sscanf(line, "%511s %63s %63s %63s", name, a, b, c);
		cr_assert(k >= 2, "bad vector line: %s", line);
		unsigned idx = 1;
		char *hash = strchr(name, '#');
		if (hash) {
			idx = (unsigned)atoi(hash + 1);
			*hash = '\0';
		}
		char file[4096];
		snprintf(file, sizeof(file), "%s/patches/%s", fixtures(), name);
		struct buf data = BUF_INIT;
		cr_assert(buf_read_file(&data, file, 1 << 20) == 0, "cannot read %s", file);
		if (!strcmp(a, "(no")) {
			struct ids ids = { .n = 0 };
			patchid_each(data.ptr, data.len, PATCHID_STABLE, collect, &ids);
			cr_expect_eq(ids.n, 0, "%s: expected no patch-id, got %zu", name, ids.n);
			nodiff++;
			buf_free(&data);
			continue;
		}
		cr_assert(k == 4);
		const char *want[3] = { a, b, c };
		enum patchid_mode modes[3] = { PATCHID_STABLE, PATCHID_UNSTABLE, PATCHID_VERBATIM };
		for (int m = 0; m < 3; m++) {
			struct ids ids = { .n = 0 };
			patchid_each(data.ptr, data.len, modes[m], collect, &ids);
			cr_assert(ids.n >= idx, "%s: only %zu patches, want #%u", name, ids.n, idx);
			cr_expect_str_eq(ids.v[idx - 1].id, want[m], "%s#%u mode %d", name, idx, m);
			checked++;
		}
		buf_free(&data);
	}
	fclose(fp);
	cr_expect_geq(checked, 3 * 25, "only %zu vectors checked", checked);
	cr_expect_geq(nodiff, 2);
}

Test(patchid, order_independence_and_first)
{
	char path[4096], out[41];
	const char *names[2] = { "multi-file.patch", "multi-file-reordered.patch" };
	char ids[2][41];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/patches/patch-id/%s", fixtures(), names[i]);
		struct buf data = BUF_INIT;
		cr_assert(buf_read_file(&data, path, 1 << 20) == 0);
		cr_assert(patchid_first(data.ptr, data.len, PATCHID_STABLE, ids[i]));
		buf_free(&data);
	}
	cr_expect_str_eq(ids[0], ids[1]);
	cr_expect_eq(patchid_first("no diff here\n", 13, PATCHID_STABLE, out), 0);
	cr_expect_eq(patchid_first("", 0, PATCHID_STABLE, out), 0);
}

/* Hand-made edge cases checked against git 2.39.5 are in the e2e test; here
 * only properties that need no git: whitespace and line numbers never count. */
Test(patchid, whitespace_and_line_numbers)
{
	const char *a = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n"
			"@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
	const char *b = "diff --git a/x b/x\nindex 3..4 100644\n--- a/x\n+++ b/x\n"
			"@@ -10,2 +10,2 @@\n  a\r\n-b \n+c\t\n-- \n2.39\n";
	char ia[41], ib[41], iv[41];
	cr_assert(patchid_first(a, strlen(a), PATCHID_STABLE, ia));
	cr_assert(patchid_first(b, strlen(b), PATCHID_STABLE, ib));
	cr_expect_str_eq(ia, ib);
	cr_assert(patchid_first(b, strlen(b), PATCHID_VERBATIM, iv));
	cr_expect_str_neq(ia, iv);
}
