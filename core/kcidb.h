/*
 * kcidb.h - the KCIDB I/O data model (kcidb-io schema v5.3).
 *
 * Documents are held as jansson values.  This module knows every object
 * type and field of the schema (as tables, so storage and export are driven
 * by the same description), validates documents, and upgrades older schema
 * versions in place the way kcidb-io does:
 *   v4.x -> v5: build `valid` -> `status` (true PASS, false FAIL); checkout
 *   `contacts` dropped; issue `build_valid`/`test_status` dropped; a test's
 *   `waived: true` becomes an incident of the synthetic issue `_:waived`.
 * Accepted input versions: 4.0-4.5 and 5.0-5.3.  Output is always 5.3.
 */
#ifndef CIFEED_KCIDB_H
#define CIFEED_KCIDB_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

#define KCIDB_MAJOR 5
#define KCIDB_MINOR 3

enum kcidb_type {
	KCIDB_CHECKOUT,
	KCIDB_BUILD,
	KCIDB_TEST,
	KCIDB_ISSUE,
	KCIDB_INCIDENT,
	KCIDB_NTYPES
};

/* How a field's value is checked and stored. */
enum kcidb_kind {
	KK_ID,            /* ^[a-z0-9_]+:[^\0]*$ */
	KK_ORIGIN,        /* ^[a-z0-9_]+$ */
	KK_STRING,        /* any string without NUL */
	KK_EXCERPT,       /* string, at most 16384 code points */
	KK_URI,           /* format uri */
	KK_HTTPS_URI,     /* format uri and ^https:// */
	KK_COMMIT,        /* ^[0-9a-f]{40}$ */
	KK_PATCHSET_HASH, /* ^$|^[0-9a-f]{64}$ */
	KK_EMAIL,         /* format email */
	KK_DATETIME,      /* format date-time */
	KK_BOOL,
	KK_NUMBER,
	KK_UINT,          /* integer >= 0 */
	KK_STATUS,        /* FAIL ERROR MISS PASS DONE SKIP */
	KK_PATH,          /* test path pattern */
	KK_ARCH,          /* ^[a-z0-9_]*$ */
	KK_RESOURCES,     /* [{name, url}] */
	KK_STRINGS,       /* [string] (git_commit_tags) */
	KK_PATHS,         /* [path] (issue categories) */
	KK_OBJECT,        /* free-form object (misc) */
	KK_ENVIRONMENT,   /* {comment, compatible[], misc} */
	KK_MEASUREMENT,   /* {value, unit, prefix} */
	KK_CULPRIT,       /* {code, tool, harness} */
};

#define KF_REQUIRED 1u
#define KF_JSON 2u /* stored as JSON text (nested value) */

struct kcidb_field {
	const char *name;
	enum kcidb_kind kind;
	unsigned flags;
	int since; /* first schema version with the field, major*100+minor; 0 = always */
};

struct kcidb_type_info {
	const char *name;   /* "checkout" */
	const char *plural; /* "checkouts": top-level key and table name */
	const struct kcidb_field *fields; /* schema order; terminated by name == NULL */
	size_t nfields;
};

extern const struct kcidb_type_info kcidb_types[KCIDB_NTYPES];

const struct kcidb_field *kcidb_field_find(enum kcidb_type t, const char *name);

/* Status priority: FAIL > ERROR > MISS > PASS > DONE > SKIP.  Unknown/NULL = -1. */
int kcidb_status_rank(const char *status);
/* The highest-priority of two statuses (either may be NULL). */
const char *kcidb_status_worst(const char *a, const char *b);
int kcidb_status_valid(const char *s);
int kcidb_path_valid(const char *s);
int kcidb_id_valid(const char *s);
int kcidb_origin_valid(const char *s);

/*
 * Validation errors: every problem is counted; the first `limit` are kept as
 * lines "checkouts[0] (id redhat:1): git_commit_hash: ..." in `text`.
 */
struct kcidb_errors {
	size_t count;
	size_t limit;
	struct buf text;
};

#define KCIDB_ERRORS_INIT { 0, 20, BUF_INIT }
void kcidb_errors_free(struct kcidb_errors *e);

/*
 * Validate `doc` and upgrade it in place to v5.3.  On success returns 0 and
 * stores the submitted version ("4.3") in version_out when given; on
 * failure returns -1 with every problem in errs.  `_timestamp` fields are
 * validated then removed (metadata is ignored on submission).
 */
int kcidb_validate_upgrade(json_t *doc, char version_out[16], struct kcidb_errors *errs);

/* Count objects of each type in a (validated) document. */
void kcidb_count(json_t *doc, size_t counts[KCIDB_NTYPES]);

/*
 * Dump a value the way cifeed stores and exports JSON (compact, key order
 * kept, reals at kcidb_json_precision(v) digits).
 */
char *kcidb_json_dump(const json_t *v);
/*
 * The printf precision kcidb_json_dump prints a value's reals with: the
 * largest that any real in it needs to round-trip (15..17), 0 without reals.
 * kcidb_real_precision is the same for one finite double.
 */
int kcidb_json_precision(const json_t *v);
int kcidb_real_precision(double d);

/* An empty v5.3 document {"version":{"major":5,"minor":3}}. */
json_t *kcidb_doc_new(void);

#endif
