/*
 * test_mail_parse.c - mail.c and patchmail.c on the message files in
 * tests/unit/data/mail/ (RFC 2047, folding, quoted-printable, base64,
 * Latin-1, multipart, CRLF, duplicate and missing headers, broken MIME).
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "formats.h"
#include "mail.h"
#include "patchmail.h"

static void load(const char *name, struct mail *m, struct buf *raw)
{
	const char *src = getenv("SRCDIR");
	cr_assert(src, "SRCDIR is not set");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/unit/data/mail/%s", src, name);
	cr_assert(buf_read_file(raw, path, 1 << 20) == 0, "cannot read %s", path);
	mail_parse(raw->ptr, raw->len, m);
}

static void assert_utf8(const struct mail *m)
{
	cr_expect(utf8_valid(m->body.ptr, m->body.len), "body is not UTF-8");
	cr_expect(utf8_valid(m->subject, strlen(m->subject)), "subject is not UTF-8");
	if (m->from_name)
		cr_expect(utf8_valid(m->from_name, strlen(m->from_name)));
}

Test(mail, headers_rfc2047_folding)
{
	struct mail m;
	struct buf raw = BUF_INIT;
	load("plain-8bit.eml", &m, &raw);
	cr_expect_str_eq(m.message_id, "20231114-foo-v3-2@example.org");
	cr_expect_str_eq(m.in_reply_to, "20231114-foo-v3-0@example.org");
	cr_assert_eq(m.nreferences, 2);
	cr_expect_str_eq(m.references[0], "20231114-foo-v1-0@example.org");
	cr_expect_str_eq(m.references[1], "20231114-foo-v3-0@example.org");
	cr_expect_str_eq(m.from_name, "Jörg Müller");
	cr_expect_str_eq(m.from_email, "joerg@example.org");
	/* folded, and two adjacent encoded words joined without their blank */
	cr_expect_str_eq(m.subject, "[PATCH v3 2/5] leds: foo: fix the äö allocation");
	cr_expect_str_eq(m.list_id, "linux-leds.vger.kernel.org");
	cr_expect(m.has_date);
	cr_expect_eq(m.date, 1699996580); /* 2023-11-14 21:16:20 UTC */
	cr_expect_eq(m.date_tz, 60);
	cr_expect_eq(m.defects, 0);
	assert_utf8(&m);
	mail_free(&m);
	buf_free(&raw);
}

/* The same patch as 8bit, quoted-printable and a base64 attachment: one patch-id. */
Test(mail, transfer_encodings_give_one_patch_id)
{
	const char *files[] = { "plain-8bit.eml", "qp.eml", "multipart.eml" };
	char ids[3][41];
	for (int i = 0; i < 3; i++) {
		struct mail m;
		struct patchmail pm;
		struct buf raw = BUF_INIT;
		load(files[i], &m, &raw);
		patchmail_parse(&m, &pm);
		cr_assert(pm.patch_id[0], "%s: no patch-id", files[i]);
		memcpy(ids[i], pm.patch_id, 41);
		cr_expect(strstr(m.body.ptr, "/* x == y, 'café' stays */"), "%s: body not decoded",
			  files[i]);
		cr_expect(!strstr(m.body.ptr, "=3D"), "%s", files[i]);
		assert_utf8(&m);
		patchmail_free(&pm);
		mail_free(&m);
		buf_free(&raw);
	}
	cr_expect_str_eq(ids[0], ids[1]);
	cr_expect_str_eq(ids[0], ids[2]);
}

Test(mail, latin1_base64)
{
	struct mail m;
	struct buf raw = BUF_INIT;
	load("base64-latin1.eml", &m, &raw);
	/* converted for people, left as sent for patch-ids (git mailinfo does not re-code patches) */
	cr_expect(strstr(m.body.ptr, "Signed-off-by: Jörg Müller <joerg@example.org>"));
	cr_expect(strstr(m.body.ptr, "'café' stays"));
	cr_expect(memmem(m.octets.ptr, m.octets.len, "'caf\xe9' stays", 12) != NULL);
	assert_utf8(&m);
	mail_free(&m);
	buf_free(&raw);
}

Test(mail, multipart_selection)
{
	struct mail m;
	struct buf raw = BUF_INIT;
	load("multipart.eml", &m, &raw);
	cr_expect(m.multipart);
	cr_expect(strstr(m.body.ptr, "Tested-by: Tester <tester@example.org>"));
	cr_expect(strstr(m.body.ptr, "diff --git a/drivers/leds/leds-foo.c"));
	cr_expect(!strstr(m.body.ptr, "HTML must not be read"), "html alternative read");
	cr_expect(!strstr(m.body.ptr, "PGP SIGNATURE"), "signature read");
	cr_expect(!strstr(m.body.ptr, "multi-part message"), "preamble read");
	cr_expect(!strstr(m.body.ptr, "epilogue"), "epilogue read");
	cr_expect_eq(m.defects, 0);
	mail_free(&m);
	buf_free(&raw);
}

Test(mail, crlf_duplicate_and_missing_headers)
{
	struct mail m;
	struct buf raw = BUF_INIT;
	load("crlf-dupid-nodate.eml", &m, &raw);
	cr_expect_str_eq(m.message_id, "20231114-foo-v3-2@example.org");
	cr_expect_eq(mail_header_count(&m, "message-id"), 2);
	cr_expect(!m.has_date);
	cr_expect(m.defects & MAIL_DEFECT_BAD_DATE);
	cr_expect(!strchr(m.body.ptr, '\r'), "CR left in the body");
	cr_expect_str_eq(m.subject, "[PATCH v3 2/5] leds: foo: fix the äö allocation");
	struct patchmail pm;
	patchmail_parse(&m, &pm);
	cr_expect(pm.patch_id[0]);
	patchmail_free(&pm);
	mail_free(&m);
	buf_free(&raw);
}

Test(mail, broken_mail_degrades)
{
	struct mail m;
	struct buf raw = BUF_INIT;
	load("broken.eml", &m, &raw);
	cr_expect_str_eq(m.message_id, "no-brackets@example.org");
	cr_expect_str_eq(m.from_name, "Broken, Sender");
	cr_expect_str_eq(m.from_email, "broken@example.org");
	cr_expect(m.defects & MAIL_DEFECT_BAD_MIME);
	cr_expect(m.defects & MAIL_DEFECT_BAD_DATE);
	cr_expect(m.defects & MAIL_DEFECT_BAD_ENCODING);
	cr_expect(strstr(m.subject, "tail"));
	cr_expect(strstr(m.body.ptr, "hello world"), "decodable base64 prefix lost");
	assert_utf8(&m);
	mail_free(&m);
	buf_free(&raw);
}

Test(mail, patchmail_fields)
{
	struct mail m;
	struct patchmail pm;
	struct buf raw = BUF_INIT;
	load("plain-8bit.eml", &m, &raw);
	patchmail_parse(&m, &pm);
	cr_expect_eq(pm.kind, PM_PATCH);
	cr_expect_eq(pm.subj.version, 3);
	cr_expect_eq(pm.subj.counter, 2);
	cr_expect_eq(pm.subj.total, 5);
	cr_expect_str_eq(pm.subj.stem, "leds: foo: fix the äö allocation");
	cr_assert_eq(pm.ntrailers, 2);
	cr_expect_str_eq(pm.trailers[0].key, "Reviewed-by");
	cr_expect_str_eq(pm.trailers[0].email, "some@example.org");
	cr_expect_str_eq(pm.trailers[1].key, "Signed-off-by");
	cr_assert_eq(pm.nbase, 2);
	cr_expect_eq(pm.base[0].kind, PM_BASE_COMMIT);
	cr_expect_str_eq(pm.base[0].value, "aceed2ad8410e615cad45933efe5dbad584a5de0");
	cr_expect_eq(pm.base[1].kind, PM_BASE_PREREQ_PATCH_ID);
	cr_assert_eq(pm.nfiles, 1);
	cr_expect_str_eq(pm.files[0].path, "drivers/leds/leds-foo.c");
	cr_expect_str_eq(pm.files[0].old_blob, "1234567");
	cr_expect_str_eq(pm.files[0].new_blob, "89abcde");
	patchmail_free(&pm);
	mail_free(&m);
	buf_free(&raw);
}

Test(mail, subject_prefixes)
{
	const char *src = getenv("SRCDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/unit/data/subjects.txt", src);
	FILE *fp = fopen(path, "r");
	cr_assert(fp, "cannot open %s", path);
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *f[4] = { line, NULL, NULL, NULL };
		for (int i = 1; i < 4; i++) {
			f[i] = strchr(f[i - 1], '|');
			cr_assert(f[i], "bad line: %s", line);
			*f[i]++ = '\0';
		}
		int v[9];
		cr_assert(sscanf(f[1], "%d %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4],
				 &v[5], &v[6], &v[7], &v[8]) == 9);
		struct pm_subject s;
		pm_subject_parse(f[0], &s);
		int got[9] = { s.reply, s.forward, s.patch, s.rfc, s.resend, s.pull, s.version,
			       s.counter, s.total };
		for (int i = 0; i < 9; i++)
			cr_expect_eq(got[i], v[i], "'%s': field %d is %d, want %d", f[0], i, got[i], v[i]);
		cr_expect_str_eq(s.tags, f[2], "'%s' tags", f[0]);
		cr_expect_str_eq(s.stem, f[3], "'%s' stem", f[0]);
		pm_subject_free(&s);
		n++;
	}
	fclose(fp);
	cr_expect_geq(n, 10);
}
