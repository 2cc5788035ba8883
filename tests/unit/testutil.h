/*
 * testutil.h - helpers shared by the criterion unit tests.
 */
#ifndef CIFEED_TESTUTIL_H
#define CIFEED_TESTUTIL_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

/* Path of a file under $FIXTURES (../shared/fixtures) or $SRCDIR. */
static inline char *fixture_path(const char *rel)
{
	const char *f = getenv("FIXTURES");
	cr_assert(f, "FIXTURES is not set");
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", f, rel);
	return buf_detach(&b);
}

static inline char *srcdir_path(const char *rel)
{
	const char *f = getenv("SRCDIR");
	cr_assert(f, "SRCDIR is not set");
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", f, rel);
	return buf_detach(&b);
}

static inline json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	cr_assert(j, "cannot load %s: %s", path, e.text);
	return j;
}

/* A fresh temporary directory (removed by the OS tmp cleaner; tests are small). */
static inline char *temp_dir(void)
{
	char tmpl[] = "/tmp/cifeed-unit.XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert(d);
	return xstrdup(d);
}

#endif
