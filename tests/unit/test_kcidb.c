/*
 * test_kcidb.c - validation rules, upgrades, and the field tables against
 * the real kcidb-io schema export.
 */
#include "kcidb.h"
#include "testutil.h"

static int validate_text(const char *text, struct kcidb_errors *e)
{
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);
	cr_assert(doc, "bad test JSON: %s", je.text);
	int r = kcidb_validate_upgrade(doc, NULL, e);
	json_decref(doc);
	return r;
}

/* Wrap one object of a type into a v5.3 document. */
static int check_one(const char *plural, const char *obj, struct kcidb_errors *e)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "{\"version\":{\"major\":5,\"minor\":3},\"%s\":[%s]}", plural, obj);
	int r = validate_text(b.ptr, e);
	buf_free(&b);
	return r;
}

static void expect_invalid(const char *plural, const char *obj, const char *needle)
{
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(check_one(plural, obj, &e), -1, "accepted: %s", obj);
	cr_assert(strstr(buf_cstr(&e.text), needle), "error for %s lacks '%s': %s", obj, needle,
		  buf_cstr(&e.text));
	kcidb_errors_free(&e);
}

static void expect_valid(const char *plural, const char *obj)
{
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(check_one(plural, obj, &e), 0, "rejected %s: %s", obj, buf_cstr(&e.text));
	kcidb_errors_free(&e);
}

Test(kcidb, valid_fixtures_pass)
{
	const char *names[] = { "kcidb/kcidb-sample-full-v5.3.json",
				"kcidb/kcidb-sample-minimal-v5.3.json",
				"kcidb/kcidb-sample-partial-update-v5.3.json" };
	for (size_t i = 0; i < 3; i++) {
		char *p = fixture_path(names[i]);
		json_t *doc = load_json(p);
		struct kcidb_errors e = KCIDB_ERRORS_INIT;
		char ver[16];
		cr_assert_eq(kcidb_validate_upgrade(doc, ver, &e), 0, "%s: %s", p,
			     buf_cstr(&e.text));
		cr_assert_str_eq(ver, "5.3");
		kcidb_errors_free(&e);
		json_decref(doc);
		free(p);
	}
}

/* The invalid sample must fail with exactly the nine errors ajv reports. */
Test(kcidb, invalid_fixture_reports_each_error)
{
	char *p = fixture_path("kcidb/kcidb-sample-invalid-v5.3.json");
	json_t *doc = load_json(p);
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(kcidb_validate_upgrade(doc, NULL, &e), -1);
	const char *t = buf_cstr(&e.text);
	cr_assert_eq(e.count, 9, "expected 9 errors, got %zu:\n%s", e.count, t);
	const char *needles[] = {
		"builds[0] (id 'maestro:b1'): unknown field 'valid'",
		"builds[0] (id 'maestro:b1'): status: 'BUILD' is not one of",
		"git_commit_hash: '052d5343' must be a full commit hash",
		"git_repository_url: 'git://",
		"checkouts[0] (id '12345'): id: '12345' is not an id",
		"origin: 'Maestro' must match",
		"patchset_hash: is null",
		"path: 'ltp..sem01' is not a KCIDB test path",
		"start_time: 'yesterday' is not an RFC 3339 date-time",
	};
	for (size_t i = 0; i < sizeof(needles) / sizeof(*needles); i++)
		cr_assert(strstr(t, needles[i]), "missing '%s' in:\n%s", needles[i], t);
	kcidb_errors_free(&e);
	json_decref(doc);
	free(p);
}

Test(kcidb, submitter_guide_verbatim_is_rejected)
{
	char *p = fixture_path("kcidb/kcidb-sample-submitter-guide-verbatim.json");
	json_t *doc = load_json(p);
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(kcidb_validate_upgrade(doc, NULL, &e), -1);
	cr_assert(strstr(buf_cstr(&e.text), "unknown top-level field 'issue'"));
	cr_assert(strstr(buf_cstr(&e.text), "unknown top-level field 'incident'"));
	kcidb_errors_free(&e);
	json_decref(doc);
	free(p);
}

Test(kcidb, required_fields)
{
	expect_invalid("checkouts", "{\"id\":\"a:1\"}", "origin: is required");
	expect_invalid("builds", "{\"id\":\"a:1\",\"origin\":\"a\"}", "checkout_id: is required");
	expect_invalid("tests", "{\"id\":\"a:1\",\"origin\":\"a\"}", "build_id: is required");
	expect_invalid("issues", "{\"id\":\"a:1\",\"origin\":\"a\"}", "version: is required");
	expect_invalid("incidents", "{\"id\":\"a:1\",\"origin\":\"a\",\"issue_id\":\"a:2\"}",
		       "issue_version: is required");
}

Test(kcidb, id_and_origin_patterns)
{
	expect_invalid("checkouts", "{\"id\":\"nocolon\",\"origin\":\"a\"}", "is not an id");
	expect_invalid("checkouts", "{\"id\":\":x\",\"origin\":\"a\"}", "is not an id");
	expect_invalid("checkouts", "{\"id\":\"A:x\",\"origin\":\"a\"}", "is not an id");
	expect_invalid("checkouts", "{\"id\":\"a:x\",\"origin\":\"a-b\"}", "must match");
	expect_invalid("checkouts", "{\"id\":\"a:x\",\"origin\":\"b\"}",
		       "does not match the id's prefix");
	expect_valid("checkouts", "{\"id\":\"a_1:any thing: at/all\",\"origin\":\"a_1\"}");
}

Test(kcidb, status_enum)
{
	const char *ok[] = { "FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP" };
	for (int i = 0; i < 6; i++) {
		char o[128];
		snprintf(o, sizeof(o), "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\","
				       "\"status\":\"%s\"}",
			 ok[i]);
		expect_valid("tests", o);
	}
	expect_invalid("tests", "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"status\":\"pass\"}",
		       "is not one of");
	expect_invalid("builds",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"checkout_id\":\"a:2\",\"status\":\"BUILD\"}",
		       "is not one of");
}

Test(kcidb, hash_patterns)
{
	expect_invalid("checkouts",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"git_commit_hash\":"
		       "\"052D534373B7ED33712A63D5E17B2B6CDBCE84FD\"}",
		       "full commit hash");
	expect_valid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"git_commit_hash\":"
				  "\"052d534373b7ed33712a63d5e17b2b6cdbce84fd\",\"patchset_hash\":\"\"}");
	expect_invalid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"patchset_hash\":\"abc\"}",
		       "64 lower-case hex");
}

Test(kcidb, repository_url_must_be_https)
{
	expect_invalid("checkouts",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"git_repository_url\":\"http://x.org/r\"}",
		       "https://");
	expect_invalid("checkouts",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"git_repository_url\":\"https://x y\"}",
		       "https://");
	expect_valid("checkouts",
		     "{\"id\":\"a:1\",\"origin\":\"a\",\"git_repository_url\":\"https://x.org/r.git\"}");
}

Test(kcidb, test_path_pattern)
{
	const char *bad[] = { "ltp..sem01", ".ltp", "ltp.", "a b", "ltp/x", "é" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char o[160];
		snprintf(o, sizeof(o),
			 "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"path\":\"%s\"}",
			 bad[i]);
		expect_invalid("tests", o, "KCIDB test path");
	}
	expect_valid("tests", "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"path\":\"\"}");
	expect_valid("tests",
		     "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"path\":\"a-b.c_d.E9\"}");
}

Test(kcidb, nulls_and_unknown_keys)
{
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"comment\":null}",
		       "is null");
	expect_invalid("tests", "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"bogus\":1}",
		       "unknown field 'bogus'");
	expect_invalid("tests", "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"_x\":1}",
		       "unknown metadata field");
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(validate_text("{\"version\":{\"major\":5},\"extra\":[]}", &e), -1);
	cr_assert(strstr(buf_cstr(&e.text), "unknown top-level field 'extra'"));
	kcidb_errors_free(&e);
}

Test(kcidb, wrong_types)
{
	expect_invalid("builds",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"checkout_id\":\"a:2\",\"duration\":\"5\"}",
		       "must be a number");
	expect_invalid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"valid\":1}",
		       "must be true or false");
	expect_invalid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"misc\":[]}",
		       "must be an object");
	expect_invalid("checkouts", "{\"id\":42,\"origin\":\"a\"}", "must be a string");
	expect_invalid("issues", "{\"id\":\"a:1\",\"origin\":\"a\",\"version\":-1}", ">= 0");
	expect_invalid("issues", "{\"id\":\"a:1\",\"origin\":\"a\",\"version\":1.5}", ">= 0");
}

Test(kcidb, formats)
{
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"start_time\":"
		       "\"2024-10-04T00:49:15.691000\"}",
		       "date-time");
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"log_url\":\"not a url\"}",
		       "not a valid URI");
	expect_invalid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"message_id\":\"<x@y.org>\"}",
		       "Message-ID");
	expect_valid("checkouts", "{\"id\":\"a:1\",\"origin\":\"a\",\"message_id\":\"x.1@y.org\"}");
}

Test(kcidb, log_excerpt_limit_counts_characters)
{
	/* 16384 two-byte characters are fine; 16385 are not */
	struct buf ok = BUF_INIT, bad = BUF_INIT;
	buf_adds(&ok, "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"log_excerpt\":\"");
	for (int i = 0; i < 16384; i++)
		buf_adds(&ok, "\xc3\xa9");
	buf_adds(&bad, ok.ptr);
	buf_adds(&ok, "\"}");
	buf_adds(&bad, "x\"}");
	expect_valid("tests", ok.ptr);
	expect_invalid("tests", bad.ptr, "longer than 16384");
	buf_free(&ok);
	buf_free(&bad);
}

Test(kcidb, nested_objects)
{
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"number\":{\"unit\":\"s\"}}",
		       "number.value: is required");
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"number\":{\"value\":1,"
		       "\"prefix\":\"si\"}}",
		       "metric");
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"environment\":{"
		       "\"compatible\":[\"a b\"]}}",
		       "without spaces");
	expect_invalid("tests",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"build_id\":\"a:2\",\"output_files\":[{"
		       "\"name\":\"a/b\",\"url\":\"https://x.org/f\"}]}",
		       "no '/'");
	expect_invalid("issues",
		       "{\"id\":\"a:1\",\"origin\":\"a\",\"version\":0,\"culprit\":{\"code\":1}}",
		       "code must be true or false");
}

Test(kcidb, field_version_gates)
{
	/* input_files arrived in 5.3: a 5.2 document may not use it */
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(validate_text("{\"version\":{\"major\":5,\"minor\":2},\"tests\":[{\"id\":\"a:1\","
				   "\"origin\":\"a\",\"build_id\":\"a:2\",\"input_files\":[]}]}",
				   &e),
		     -1);
	cr_assert(strstr(buf_cstr(&e.text), "needs schema v5.3"));
	kcidb_errors_free(&e);
	cr_assert_eq(validate_text("{\"version\":{\"major\":6}}", &e), -1);
	cr_assert(strstr(buf_cstr(&e.text), "not supported"));
	kcidb_errors_free(&e);
}

Test(kcidb, error_limit_counts_the_rest)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"version\":{\"major\":5},\"tests\":[");
	for (int i = 0; i < 50; i++)
		buf_addf(&b, "%s{\"id\":\"a:%d\",\"origin\":\"a\"}", i ? "," : "", i);
	buf_adds(&b, "]}");
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(validate_text(b.ptr, &e), -1);
	cr_assert_eq(e.count, 50);
	size_t lines = 0;
	for (const char *p = buf_cstr(&e.text); *p; p++)
		lines += *p == '\n';
	cr_assert_eq(lines, 20, "kept %zu lines", lines);
	kcidb_errors_free(&e);
	buf_free(&b);
}

Test(kcidb, upgrade_v4)
{
	const char *v4 = "{\"version\":{\"major\":4,\"minor\":3},"
			 "\"checkouts\":[{\"id\":\"o:c\",\"origin\":\"o\",\"contacts\":[\"a@b.org\"]}],"
			 "\"builds\":[{\"id\":\"o:b1\",\"origin\":\"o\",\"checkout_id\":\"o:c\",\"valid\":true},"
			 "{\"id\":\"o:b2\",\"origin\":\"o\",\"checkout_id\":\"o:c\",\"valid\":false}],"
			 "\"tests\":[{\"id\":\"o:t1\",\"origin\":\"o\",\"build_id\":\"o:b1\",\"waived\":true,"
			 "\"status\":\"FAIL\"},{\"id\":\"o:t2\",\"origin\":\"o\",\"build_id\":\"o:b1\","
			 "\"waived\":false}],"
			 "\"issues\":[{\"id\":\"o:i\",\"origin\":\"o\",\"version\":1,\"build_valid\":false,"
			 "\"test_status\":\"FAIL\"}]}";
	json_t *doc = json_loads(v4, 0, NULL);
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	char ver[16];
	cr_assert_eq(kcidb_validate_upgrade(doc, ver, &e), 0, "%s", buf_cstr(&e.text));
	cr_assert_str_eq(ver, "4.3");
	json_t *b = json_object_get(doc, "builds");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "status")), "PASS");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 1), "status")), "FAIL");
	cr_assert_null(json_object_get(json_array_get(b, 0), "valid"));
	cr_assert_null(json_object_get(json_array_get(json_object_get(doc, "checkouts"), 0), "contacts"));
	json_t *issue0 = json_array_get(json_object_get(doc, "issues"), 0);
	cr_assert_null(json_object_get(issue0, "build_valid"));
	cr_assert_null(json_object_get(issue0, "test_status"));
	/* exactly one incident, for the waived test, of issue _:waived */
	json_t *inc = json_object_get(doc, "incidents");
	cr_assert_eq(json_array_size(inc), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inc, 0), "test_id")), "o:t1");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inc, 0), "issue_id")),
			 "_:waived");
	cr_assert_eq(json_array_size(json_object_get(doc, "issues")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "version"), "minor")), 3);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "version"), "major")), 5);
	kcidb_errors_free(&e);
	json_decref(doc);
}

Test(kcidb, v4_git_url_cannot_be_upgraded)
{
	struct kcidb_errors e = KCIDB_ERRORS_INIT;
	cr_assert_eq(validate_text("{\"version\":{\"major\":4},\"checkouts\":[{\"id\":\"o:c\",\"origin\":"
				   "\"o\",\"git_repository_url\":\"git://x.org/r\"}]}",
				   &e),
		     -1);
	cr_assert(strstr(buf_cstr(&e.text), "https://"));
	kcidb_errors_free(&e);
}

/* Our field tables must list exactly the schema's properties and required keys. */
Test(kcidb, field_tables_match_schema_export)
{
	char *p = fixture_path("kcidb/kcidb-io.schema.v5.3.json");
	json_t *schema = load_json(p);
	json_t *defs = json_object_get(schema, "$defs");
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		const struct kcidb_type_info *ti = &kcidb_types[t];
		json_t *def = json_object_get(defs, ti->name);
		cr_assert(def, "schema has no $defs/%s", ti->name);
		json_t *props = json_object_get(def, "properties");
		const char *k;
		json_t *v;
		size_t nprops = 0;
		json_object_foreach(props, k, v)
		{
			if (k[0] == '_')
				continue;
			nprops++;
			cr_assert(kcidb_field_find((enum kcidb_type)t, k), "%s.%s missing from table",
				  ti->name, k);
		}
		cr_assert_eq(nprops, ti->nfields, "%s: schema has %zu fields, table %zu", ti->name,
			     nprops, ti->nfields);
		json_t *req = json_object_get(def, "required");
		size_t nreq = 0;
		for (const struct kcidb_field *f = ti->fields; f->name; f++)
			nreq += (f->flags & KF_REQUIRED) != 0;
		cr_assert_eq(json_array_size(req), nreq, "%s: required lists differ", ti->name);
		size_t i;
		json_array_foreach(req, i, v)
		{
			const struct kcidb_field *f =
				kcidb_field_find((enum kcidb_type)t, json_string_value(v));
			cr_assert(f && (f->flags & KF_REQUIRED), "%s.%s should be required", ti->name,
				  json_string_value(v));
		}
	}
	json_decref(schema);
	free(p);
}

Test(kcidb, status_priority)
{
	cr_assert_str_eq(kcidb_status_worst("PASS", "FAIL"), "FAIL");
	cr_assert_str_eq(kcidb_status_worst("MISS", "ERROR"), "ERROR");
	cr_assert_str_eq(kcidb_status_worst("SKIP", "DONE"), "DONE");
	cr_assert_str_eq(kcidb_status_worst(NULL, "SKIP"), "SKIP");
}

Test(kcidb, dump_keeps_short_reals)
{
	json_t *v = json_pack("{s:f, s:f}", "a", 12.7, "b", 61.0);
	char *s = kcidb_json_dump(v);
	cr_assert_str_eq(s, "{\"a\":12.7,\"b\":61.0}");
	free(s);
	json_decref(v);
	v = json_real(0.1 + 0.2);
	s = kcidb_json_dump(v);
	cr_assert_eq(strtod(s, NULL), 0.1 + 0.2, "not exact: %s", s);
	free(s);
	json_decref(v);
}
