/*
 * kcidb.c - KCIDB v5.3 model: field tables, validation, upgrades (see kcidb.h).
 *
 * The field tables below mirror kcidb-io's v5.3 schema (the property lists,
 * `required` arrays and patterns); tests/unit/test_kcidb.c cross-checks them
 * against the exported JSON schema in ../shared/fixtures/kcidb/ so the two
 * cannot silently drift apart.
 */
#include "kcidb.h"
#include "formats.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V(maj, min) ((maj) * 100 + (min))

static const struct kcidb_field checkout_fields[] = {
	{ "id", KK_ID, KF_REQUIRED, 0 },
	{ "origin", KK_ORIGIN, KF_REQUIRED, 0 },
	{ "tree_name", KK_STRING, 0, 0 },
	{ "git_repository_url", KK_HTTPS_URI, 0, 0 },
	{ "git_commit_hash", KK_COMMIT, 0, 0 },
	{ "git_commit_name", KK_STRING, 0, 0 },
	{ "git_commit_tags", KK_STRINGS, KF_JSON, V(4, 5) },
	{ "git_commit_message", KK_STRING, 0, V(4, 5) },
	{ "git_repository_branch", KK_STRING, 0, 0 },
	{ "git_repository_branch_tip", KK_BOOL, 0, V(4, 5) },
	{ "patchset_files", KK_RESOURCES, KF_JSON, 0 },
	{ "patchset_hash", KK_PATCHSET_HASH, 0, 0 },
	{ "message_id", KK_EMAIL, 0, 0 },
	{ "comment", KK_STRING, 0, 0 },
	{ "start_time", KK_DATETIME, 0, 0 },
	{ "origin_builds_finish_time", KK_DATETIME, 0, V(5, 1) },
	{ "origin_tests_finish_time", KK_DATETIME, 0, V(5, 1) },
	{ "log_url", KK_URI, 0, 0 },
	{ "log_excerpt", KK_EXCERPT, 0, 0 },
	{ "valid", KK_BOOL, 0, 0 },
	{ "misc", KK_OBJECT, KF_JSON, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct kcidb_field build_fields[] = {
	{ "id", KK_ID, KF_REQUIRED, 0 },
	{ "checkout_id", KK_ID, KF_REQUIRED, 0 },
	{ "origin", KK_ORIGIN, KF_REQUIRED, 0 },
	{ "comment", KK_STRING, 0, 0 },
	{ "start_time", KK_DATETIME, 0, 0 },
	{ "duration", KK_NUMBER, 0, 0 },
	{ "architecture", KK_ARCH, 0, 0 },
	{ "command", KK_STRING, 0, 0 },
	{ "compiler", KK_STRING, 0, 0 },
	{ "input_files", KK_RESOURCES, KF_JSON, 0 },
	{ "output_files", KK_RESOURCES, KF_JSON, 0 },
	{ "config_name", KK_STRING, 0, 0 },
	{ "config_url", KK_URI, 0, 0 },
	{ "log_url", KK_URI, 0, 0 },
	{ "log_excerpt", KK_EXCERPT, 0, 0 },
	{ "status", KK_STATUS, 0, V(5, 0) },
	{ "misc", KK_OBJECT, KF_JSON, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct kcidb_field test_fields[] = {
	{ "id", KK_ID, KF_REQUIRED, 0 },
	{ "build_id", KK_ID, KF_REQUIRED, 0 },
	{ "origin", KK_ORIGIN, KF_REQUIRED, 0 },
	{ "path", KK_PATH, 0, 0 },
	{ "environment", KK_ENVIRONMENT, KF_JSON, 0 },
	{ "status", KK_STATUS, 0, 0 },
	{ "number", KK_MEASUREMENT, KF_JSON, V(4, 4) },
	{ "start_time", KK_DATETIME, 0, 0 },
	{ "duration", KK_NUMBER, 0, 0 },
	{ "output_files", KK_RESOURCES, KF_JSON, 0 },
	{ "input_files", KK_RESOURCES, KF_JSON, V(5, 3) },
	{ "log_url", KK_URI, 0, 0 },
	{ "log_excerpt", KK_EXCERPT, 0, 0 },
	{ "comment", KK_STRING, 0, 0 },
	{ "misc", KK_OBJECT, KF_JSON, 0 },
	{ NULL, 0, 0, 0 },
};

static const struct kcidb_field issue_fields[] = {
	{ "id", KK_ID, KF_REQUIRED, 0 },
	{ "version", KK_UINT, KF_REQUIRED, 0 },
	{ "origin", KK_ORIGIN, KF_REQUIRED, 0 },
	{ "report_url", KK_URI, 0, 0 },
	{ "report_subject", KK_STRING, 0, 0 },
	{ "culprit", KK_CULPRIT, KF_JSON, 0 },
	{ "comment", KK_STRING, 0, 0 },
	{ "misc", KK_OBJECT, KF_JSON, 0 },
	{ "categories", KK_PATHS, KF_JSON, V(5, 2) },
	{ NULL, 0, 0, 0 },
};

static const struct kcidb_field incident_fields[] = {
	{ "id", KK_ID, KF_REQUIRED, 0 },
	{ "origin", KK_ORIGIN, KF_REQUIRED, 0 },
	{ "issue_id", KK_ID, KF_REQUIRED, 0 },
	{ "issue_version", KK_UINT, KF_REQUIRED, 0 },
	{ "build_id", KK_ID, 0, 0 },
	{ "test_id", KK_ID, 0, 0 },
	{ "present", KK_BOOL, 0, 0 },
	{ "comment", KK_STRING, 0, 0 },
	{ "misc", KK_OBJECT, KF_JSON, 0 },
	{ NULL, 0, 0, 0 },
};

#define NF(a) (sizeof(a) / sizeof(*(a)) - 1)

const struct kcidb_type_info kcidb_types[KCIDB_NTYPES] = {
	{ "checkout", "checkouts", checkout_fields, NF(checkout_fields) },
	{ "build", "builds", build_fields, NF(build_fields) },
	{ "test", "tests", test_fields, NF(test_fields) },
	{ "issue", "issues", issue_fields, NF(issue_fields) },
	{ "incident", "incidents", incident_fields, NF(incident_fields) },
};

const struct kcidb_field *kcidb_field_find(enum kcidb_type t, const char *name)
{
	for (const struct kcidb_field *f = kcidb_types[t].fields; f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static const char *const statuses[] = { "FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP" };

int kcidb_status_rank(const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < 6; i++)
		if (!strcmp(s, statuses[i]))
			return 6 - i;
	return -1;
}

const char *kcidb_status_worst(const char *a, const char *b)
{
	return kcidb_status_rank(a) >= kcidb_status_rank(b) ? a : b;
}

int kcidb_status_valid(const char *s)
{
	return kcidb_status_rank(s) > 0;
}

static int path_component_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

int kcidb_path_valid(const char *s)
{
	/* ^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$ */
	if (!*s)
		return 1;
	for (;;) {
		const char *q = s;
		while (*s && (unsigned char)*s < 0x80 && path_component_char((unsigned char)*s))
			s++;
		if (s == q)
			return 0;
		if (!*s)
			return 1;
		if (*s != '.')
			return 0;
		s++;
	}
}

int kcidb_origin_valid(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

int kcidb_id_valid(const char *s)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s)
		return 0;
	for (const char *p = s; p < colon; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
			return 0;
	return 1;
}

static int hex_lower(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return 1;
}

static int arch_valid(const char *s)
{
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* compatible item: ^[^ \0]+(,[^ \0]+)*$ */
static int compatible_valid(const char *s)
{
	if (!*s)
		return 0;
	int prev_comma = 1;
	for (; *s; s++) {
		if (*s == ' ')
			return 0;
		if (*s == ',') {
			if (prev_comma)
				return 0;
			prev_comma = 1;
		} else {
			prev_comma = 0;
		}
	}
	return !prev_comma;
}

/* ------------------------------------------------------------ errors */

void kcidb_errors_free(struct kcidb_errors *e)
{
	buf_free(&e->text);
	e->count = 0;
}

/* Where an error is: "tests[3] (id maestro:x)" plus a field path. */
struct where {
	const char *plural;
	size_t index;
	const char *id;
};

static void show_value(struct buf *b, const json_t *v)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		size_t n = utf8_clip(s, len, 60);
		buf_addch(b, '\'');
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f)
				buf_addf(b, "\\x%02x", c);
			else
				buf_addch(b, c);
		}
		if (n < len)
			buf_addf(b, "...' (%zu bytes)", len);
		else
			buf_addch(b, '\'');
	} else if (json_is_null(v)) {
		buf_adds(b, "null");
	} else if (json_is_object(v)) {
		buf_adds(b, "an object");
	} else if (json_is_array(v)) {
		buf_adds(b, "an array");
	} else if (json_is_boolean(v)) {
		buf_adds(b, json_is_true(v) ? "true" : "false");
	} else if (json_is_integer(v)) {
		buf_addf(b, "%lld", (long long)json_integer_value(v));
	} else {
		buf_addf(b, "%g", json_real_value(v));
	}
}

static void add_error(struct kcidb_errors *e, const struct where *w, const char *field,
		      const json_t *value, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add_error(struct kcidb_errors *e, const struct where *w, const char *field,
		      const json_t *value, const char *fmt, ...)
{
	e->count++;
	if (e->count > e->limit)
		return;
	if (w && w->plural) {
		buf_addf(&e->text, "%s[%zu]", w->plural, w->index);
		if (w->id) {
			struct buf idb = BUF_INIT;
			json_t *tmp = json_string_nocheck(w->id);
			show_value(&idb, tmp);
			json_decref(tmp);
			buf_addf(&e->text, " (id %s)", idb.ptr);
			buf_free(&idb);
		}
		buf_adds(&e->text, ": ");
	}
	if (field)
		buf_addf(&e->text, "%s: ", field);
	if (value) {
		show_value(&e->text, value);
		buf_addch(&e->text, ' ');
	}
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&e->text, fmt, ap);
	va_end(ap);
	buf_addch(&e->text, '\n');
}

/* --------------------------------------------------------- validation */

static int string_ok(struct kcidb_errors *e, const struct where *w, const char *field,
		     const json_t *v)
{
	if (!json_is_string(v)) {
		add_error(e, w, field, v, "must be a string");
		return 0;
	}
	/* jansson only accepts valid UTF-8 and, without JSON_ALLOW_NUL, no \u0000. */
	if (memchr(json_string_value(v), '\0', json_string_length(v))) {
		add_error(e, w, field, NULL, "contains a NUL character");
		return 0;
	}
	return 1;
}

static void check_resources(struct kcidb_errors *e, const struct where *w, const char *field,
			    json_t *v)
{
	if (!json_is_array(v)) {
		add_error(e, w, field, v, "must be an array of {name, url}");
		return;
	}
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		char sub[96];
		snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
		if (!json_is_object(item)) {
			add_error(e, w, sub, item, "must be an object {name, url}");
			continue;
		}
		const char *k;
		json_t *x;
		json_object_foreach(item, k, x)
		{
			if (strcmp(k, "name") && strcmp(k, "url"))
				add_error(e, w, sub, NULL, "unknown field '%.40s'", k);
		}
		json_t *name = json_object_get(item, "name"), *url = json_object_get(item, "url");
		if (!name)
			add_error(e, w, sub, NULL, "name is required");
		else if (string_ok(e, w, sub, name) &&
			 (!json_string_length(name) || strchr(json_string_value(name), '/')))
			add_error(e, w, sub, name, "name must be non-empty and contain no '/'");
		if (!url)
			add_error(e, w, sub, NULL, "url is required");
		else if (string_ok(e, w, sub, url) && !fmt_is_uri(json_string_value(url)))
			add_error(e, w, sub, url, "url is not a valid URI");
	}
}

static void check_value(struct kcidb_errors *e, const struct where *w, const struct kcidb_field *f,
			json_t *v)
{
	const char *n = f->name;
	if (json_is_null(v)) {
		add_error(e, w, n, NULL, "is null (KCIDB forbids null; omit the field instead)");
		return;
	}
	switch (f->kind) {
	case KK_ID:
		if (string_ok(e, w, n, v) && !kcidb_id_valid(json_string_value(v)))
			add_error(e, w, n, v, "is not an id of the form 'origin:local-id' "
					      "(origin: lower-case letters, digits, '_')");
		break;
	case KK_ORIGIN:
		if (string_ok(e, w, n, v) && !kcidb_origin_valid(json_string_value(v)))
			add_error(e, w, n, v, "must match ^[a-z0-9_]+$");
		break;
	case KK_STRING:
		string_ok(e, w, n, v);
		break;
	case KK_EXCERPT:
		if (string_ok(e, w, n, v) &&
		    utf8_length(json_string_value(v), json_string_length(v)) > 16384)
			add_error(e, w, n, NULL, "is longer than 16384 characters");
		break;
	case KK_URI:
		if (string_ok(e, w, n, v) && !fmt_is_uri(json_string_value(v)))
			add_error(e, w, n, v, "is not a valid URI");
		break;
	case KK_HTTPS_URI:
		if (string_ok(e, w, n, v) && (strncmp(json_string_value(v), "https://", 8) ||
					      !fmt_is_uri(json_string_value(v))))
			add_error(e, w, n, v, "must be an https:// URL");
		break;
	case KK_COMMIT:
		if (string_ok(e, w, n, v) && !hex_lower(json_string_value(v), 40))
			add_error(e, w, n, v, "must be a full commit hash (40 lower-case hex digits)");
		break;
	case KK_PATCHSET_HASH:
		if (string_ok(e, w, n, v) && json_string_length(v) &&
		    !hex_lower(json_string_value(v), 64))
			add_error(e, w, n, v, "must be empty or 64 lower-case hex digits (sha256)");
		break;
	case KK_EMAIL:
		if (string_ok(e, w, n, v) && !fmt_is_email(json_string_value(v)))
			add_error(e, w, n, v, "is not a valid Message-ID (give it without <>)");
		break;
	case KK_DATETIME:
		if (string_ok(e, w, n, v) && !fmt_is_datetime(json_string_value(v)))
			add_error(e, w, n, v, "is not an RFC 3339 date-time with a time zone");
		break;
	case KK_BOOL:
		if (!json_is_boolean(v))
			add_error(e, w, n, v, "must be true or false");
		break;
	case KK_NUMBER:
		if (!json_is_number(v))
			add_error(e, w, n, v, "must be a number");
		break;
	case KK_UINT:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			add_error(e, w, n, v, "must be an integer >= 0");
		break;
	case KK_STATUS:
		if (string_ok(e, w, n, v) && !kcidb_status_valid(json_string_value(v)))
			add_error(e, w, n, v, "is not one of FAIL, ERROR, MISS, PASS, DONE, SKIP");
		break;
	case KK_PATH:
		if (string_ok(e, w, n, v) && !kcidb_path_valid(json_string_value(v)))
			add_error(e, w, n, v, "is not a KCIDB test path (dot-separated names of "
					      "[a-zA-Z0-9_-])");
		break;
	case KK_ARCH:
		if (string_ok(e, w, n, v) && !arch_valid(json_string_value(v)))
			add_error(e, w, n, v, "must match ^[a-z0-9_]*$");
		break;
	case KK_RESOURCES:
		check_resources(e, w, n, v);
		break;
	case KK_STRINGS:
	case KK_PATHS: {
		if (!json_is_array(v)) {
			add_error(e, w, n, v, "must be an array of strings");
			break;
		}
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item)
		{
			char sub[96];
			snprintf(sub, sizeof(sub), "%s[%zu]", n, i);
			if (string_ok(e, w, sub, item) && f->kind == KK_PATHS &&
			    !kcidb_path_valid(json_string_value(item)))
				add_error(e, w, sub, item, "is not a KCIDB path");
		}
		break;
	}
	case KK_OBJECT:
		if (!json_is_object(v))
			add_error(e, w, n, v, "must be an object");
		break;
	case KK_ENVIRONMENT: {
		if (!json_is_object(v)) {
			add_error(e, w, n, v, "must be an object");
			break;
		}
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			char sub[96];
			snprintf(sub, sizeof(sub), "environment.%.40s", k);
			if (!strcmp(k, "comment")) {
				string_ok(e, w, sub, x);
			} else if (!strcmp(k, "misc")) {
				if (!json_is_object(x))
					add_error(e, w, sub, x, "must be an object");
			} else if (!strcmp(k, "compatible")) {
				if (!json_is_array(x)) {
					add_error(e, w, sub, x, "must be an array of strings");
					continue;
				}
				size_t i;
				json_t *c;
				json_array_foreach(x, i, c)
				{
					char sub2[128];
					snprintf(sub2, sizeof(sub2), "%s[%zu]", sub, i);
					if (string_ok(e, w, sub2, c) &&
					    !compatible_valid(json_string_value(c)))
						add_error(e, w, sub2, c,
							  "must be comma-separated words without "
							  "spaces");
				}
			} else {
				add_error(e, w, n, NULL, "unknown field '%.40s'", k);
			}
		}
		break;
	}
	case KK_MEASUREMENT: {
		if (!json_is_object(v)) {
			add_error(e, w, n, v, "must be an object {value, unit, prefix}");
			break;
		}
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			if (!strcmp(k, "value")) {
				if (!json_is_number(x))
					add_error(e, w, "number.value", x, "must be a number");
			} else if (!strcmp(k, "unit")) {
				string_ok(e, w, "number.unit", x);
			} else if (!strcmp(k, "prefix")) {
				if (!json_is_string(x) || (strcmp(json_string_value(x), "metric") &&
							   strcmp(json_string_value(x), "binary")))
					add_error(e, w, "number.prefix", x,
						  "must be \"metric\" or \"binary\"");
			} else {
				add_error(e, w, n, NULL, "unknown field '%.40s'", k);
			}
		}
		if (!json_object_get(v, "value"))
			add_error(e, w, "number.value", NULL, "is required");
		break;
	}
	case KK_CULPRIT: {
		if (!json_is_object(v)) {
			add_error(e, w, n, v, "must be an object {code, tool, harness}");
			break;
		}
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			if (strcmp(k, "code") && strcmp(k, "tool") && strcmp(k, "harness"))
				add_error(e, w, n, NULL, "unknown field '%.40s'", k);
			else if (!json_is_boolean(x))
				add_error(e, w, n, x, "%s must be true or false", k);
		}
		break;
	}
	}
}

static void check_object(struct kcidb_errors *e, enum kcidb_type t, json_t *obj, size_t index,
			 int version)
{
	const struct kcidb_type_info *ti = &kcidb_types[t];
	struct where w = { ti->plural, index, NULL };
	if (!json_is_object(obj)) {
		add_error(e, &w, NULL, obj, "must be an object");
		return;
	}
	json_t *id = json_object_get(obj, "id");
	if (json_is_string(id))
		w.id = json_string_value(id);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(obj, tmp, k, v)
	{
		if (k[0] == '_') {
			/* Metadata is ignored on submission; only _timestamp exists. */
			if (strcmp(k, "_timestamp"))
				add_error(e, &w, k, NULL, "unknown metadata field");
			else if (!json_is_string(v) || !fmt_is_datetime(json_string_value(v)))
				add_error(e, &w, k, v, "is not an RFC 3339 date-time");
			json_object_del(obj, k);
			continue;
		}
		const struct kcidb_field *f = kcidb_field_find(t, k);
		if (!f) {
			add_error(e, &w, NULL, NULL, "unknown field '%.60s' (not in KCIDB v%d.%d)", k,
				  version / 100, version % 100);
			continue;
		}
		if (f->since > version) {
			add_error(e, &w, k, NULL, "field needs schema v%d.%d but the data is v%d.%d",
				  f->since / 100, f->since % 100, version / 100, version % 100);
			continue;
		}
		check_value(e, &w, f, v);
	}
	for (const struct kcidb_field *f = ti->fields; f->name; f++)
		if ((f->flags & KF_REQUIRED) && !json_object_get(obj, f->name))
			add_error(e, &w, f->name, NULL, "is required");
	/* The origin must be the id's prefix (the KCIDB docs require it). */
	json_t *origin = json_object_get(obj, "origin");
	if (w.id && json_is_string(origin) && kcidb_id_valid(w.id)) {
		size_t ol = json_string_length(origin);
		if (strncmp(w.id, json_string_value(origin), ol) || w.id[ol] != ':')
			add_error(e, &w, "origin", origin, "does not match the id's prefix");
	}
}

/* v4 -> v5 upgrade of one document, before v5 validation. */
static void upgrade_v4(json_t *doc, struct kcidb_errors *e)
{
	json_t *arr, *obj;
	size_t i;

	arr = json_object_get(doc, "checkouts");
	json_array_foreach(arr, i, obj)
	{
		if (json_is_object(obj))
			json_object_del(obj, "contacts");
	}

	arr = json_object_get(doc, "builds");
	json_array_foreach(arr, i, obj)
	{
		json_t *valid = json_is_object(obj) ? json_object_get(obj, "valid") : NULL;
		if (!valid)
			continue;
		if (!json_is_boolean(valid)) {
			struct where w = { "builds", i, NULL };
			add_error(e, &w, "valid", valid, "must be true or false");
		} else if (!json_object_get(obj, "status")) {
			json_object_set_new(obj, "status",
					    json_string(json_is_true(valid) ? "PASS" : "FAIL"));
		}
		json_object_del(obj, "valid");
	}

	arr = json_object_get(doc, "issues");
	json_array_foreach(arr, i, obj)
	{
		if (json_is_object(obj)) {
			json_object_del(obj, "build_valid");
			json_object_del(obj, "test_status");
		}
	}

	/* waived tests become incidents of the synthetic issue "_:waived" */
	int any_waived = 0;
	arr = json_object_get(doc, "tests");
	json_array_foreach(arr, i, obj)
	{
		json_t *waived = json_is_object(obj) ? json_object_get(obj, "waived") : NULL;
		if (!waived)
			continue;
		json_t *id = json_object_get(obj, "id"), *origin = json_object_get(obj, "origin");
		if (!json_is_boolean(waived)) {
			struct where w = { "tests", i, NULL };
			add_error(e, &w, "waived", waived, "must be true or false");
		} else if (json_is_true(waived) && json_is_string(id) && json_is_string(origin)) {
			json_t *incs = json_object_get(doc, "incidents");
			if (!incs) {
				incs = json_array();
				json_object_set_new(doc, "incidents", incs);
			}
			json_t *inc = json_object();
			struct buf iid = BUF_INIT;
			buf_addf(&iid, "%s:waived:%s", json_string_value(origin),
				 strchr(json_string_value(id), ':')
					 ? strchr(json_string_value(id), ':') + 1
					 : json_string_value(id));
			json_object_set_new(inc, "id", json_string(iid.ptr));
			json_object_set(inc, "origin", origin);
			json_object_set_new(inc, "issue_id", json_string("_:waived"));
			json_object_set_new(inc, "issue_version", json_integer(0));
			json_object_set(inc, "test_id", id);
			json_object_set_new(inc, "present", json_true());
			json_array_append_new(incs, inc);
			buf_free(&iid);
			any_waived = 1;
		}
		json_object_del(obj, "waived");
	}
	if (any_waived) {
		json_t *issues = json_object_get(doc, "issues");
		if (!issues) {
			issues = json_array();
			json_object_set_new(doc, "issues", issues);
		}
		json_t *issue = json_pack("{s:s, s:i, s:s, s:s}", "id", "_:waived", "version", 0,
					  "origin", "_", "comment",
					  "Test waived (upgraded from the KCIDB v4 'waived' field)");
		json_array_append_new(issues, issue);
	}
}

int kcidb_validate_upgrade(json_t *doc, char version_out[16], struct kcidb_errors *errs)
{
	size_t before = errs->count;
	if (!json_is_object(doc)) {
		add_error(errs, NULL, NULL, doc, "the submission must be a JSON object");
		return -1;
	}
	json_t *ver = json_object_get(doc, "version");
	json_t *maj = json_object_get(ver, "major"), *min = json_object_get(ver, "minor");
	if (!json_is_object(ver)) {
		add_error(errs, NULL, "version", ver, "is required: {\"major\": 5, \"minor\": 3}");
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(ver, k, v)
	{
		if (strcmp(k, "major") && strcmp(k, "minor"))
			add_error(errs, NULL, "version", NULL, "unknown field '%.40s'", k);
	}
	if (!json_is_integer(maj) || (json_integer_value(maj) != 4 && json_integer_value(maj) != 5)) {
		add_error(errs, NULL, "version.major", maj,
			  "is not supported (cifeed accepts KCIDB v4.x and v5.0-v5.3)");
		return -1;
	}
	int major = (int)json_integer_value(maj);
	int minor = 0;
	if (min) {
		int max_minor = major == 4 ? 5 : KCIDB_MINOR;
		if (!json_is_integer(min) || json_integer_value(min) < 0 ||
		    json_integer_value(min) > max_minor) {
			add_error(errs, NULL, "version.minor", min,
				  "is not supported for major %d (0..%d)", major, max_minor);
			return -1;
		}
		minor = (int)json_integer_value(min);
	}
	if (version_out)
		snprintf(version_out, 16, "%d.%d", major, minor);

	json_object_foreach(doc, k, v)
	{
		int known = !strcmp(k, "version");
		for (int t = 0; t < KCIDB_NTYPES; t++)
			if (!strcmp(k, kcidb_types[t].plural)) {
				known = 1;
				if (!json_is_array(v))
					add_error(errs, NULL, k, v, "must be an array");
			}
		if (!known)
			add_error(errs, NULL, NULL, NULL,
				  "unknown top-level field '%.60s' (expected version, checkouts, "
				  "builds, tests, issues, incidents)",
				  k);
	}
	if (errs->count > before)
		return -1;

	if (major == 4)
		upgrade_v4(doc, errs);

	/* v4 data is checked with the v5.3 rules after the upgrade; "since" must allow v4.x fields */
	int version = V(major, minor);
	for (int t = 0; t < KCIDB_NTYPES; t++) {
		json_t *arr = json_object_get(doc, kcidb_types[t].plural);
		size_t i;
		json_t *obj;
		json_array_foreach(arr, i, obj)
		{
			check_object(errs, (enum kcidb_type)t, obj,
				     i, major == 4 ? (t == KCIDB_BUILD ? V(5, 0) : version) : version);
		}
	}
	if (errs->count > before)
		return -1;
	json_object_set_new(ver, "major", json_integer(KCIDB_MAJOR));
	json_object_set_new(ver, "minor", json_integer(KCIDB_MINOR));
	return 0;
}

void kcidb_count(json_t *doc, size_t counts[KCIDB_NTYPES])
{
	for (int t = 0; t < KCIDB_NTYPES; t++)
		counts[t] = json_array_size(json_object_get(doc, kcidb_types[t].plural));
}

/* Smallest printf precision (15..17) that reproduces d exactly. */
int kcidb_real_precision(double d)
{
	char tmp[40];
	for (int p = 15; p < 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*g", p, d);
		if (strtod(tmp, NULL) == d)
			return p;
	}
	return 17;
}

int kcidb_json_precision(const json_t *v)
{
	int p = 0;
	if (json_is_real(v)) {
		double d = json_real_value(v);
		return isfinite(d) ? kcidb_real_precision(d) : 0;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x)
		{
			int q = kcidb_json_precision(x);
			if (q > p)
				p = q;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			int q = kcidb_json_precision(x);
			if (q > p)
				p = q;
		}
	}
	return p;
}

char *kcidb_json_dump(const json_t *v)
{
	/*
	 * jansson prints reals with one fixed precision per dump; 17 digits is
	 * exact but turns 12.7 into 12.699999999999999.  Use the shortest
	 * precision that still round-trips every real in the value.
	 */
	int p = kcidb_json_precision(v);
	size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;
	if (p)
		flags |= JSON_REAL_PRECISION(p);
	return json_dumps(v, flags);
}

json_t *kcidb_doc_new(void)
{
	return json_pack("{s:{s:i,s:i}}", "version", "major", KCIDB_MAJOR, "minor", KCIDB_MINOR);
}
