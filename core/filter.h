/*
 * filter.h - the filter language of topics, queries and the API.
 *
 *   tree:net-next status:FAIL -test:ltp* OR origin:syzbot
 *
 * Space-separated `key:value` terms are ANDed into a group; the word `OR`
 * separates groups; a leading `-` negates a term; `*` in a value is a glob.
 * Values may be double-quoted to contain spaces (`author:"Jane Doe"`).
 * Keys and what they match:
 *   origin    the object's origin            tree      checkout tree_name
 *   repo      checkout git_repository_url    branch    checkout branch
 *   commit    checkout commit (a 4-39 hex-digit value matches as a prefix)
 *   arch      build architecture              config    build config_name
 *   compiler  build compiler                  status    the object's status
 *   test      test path, with its subtree (test:ltp matches ltp and ltp.*)
 *   list      List-Id of a linked patch       author    linked patch author
 *   file      file touched by a linked patch  msgid     checkout message_id
 *                                                       or a linked patch
 * Errors name the term and its column, e.g.
 *   "filter: unknown key 'stauts' at column 15 (term 'stauts:FAIL'); keys are ..."
 */
#ifndef CIFEED_FILTER_H
#define CIFEED_FILTER_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

enum filter_key {
	FK_ORIGIN,
	FK_TREE,
	FK_REPO,
	FK_BRANCH,
	FK_COMMIT,
	FK_ARCH,
	FK_CONFIG,
	FK_COMPILER,
	FK_STATUS,
	FK_TEST,
	FK_LIST,
	FK_AUTHOR,
	FK_FILE,
	FK_MSGID,
	FK_NKEYS
};

struct filter_term {
	enum filter_key key;
	char *value;   /* unquoted; globs keep their '*' */
	int negate;
	int glob;      /* value contains '*' */
	size_t column; /* 1-based position in the source text */
};

struct filter_group {
	struct filter_term *terms;
	size_t nterms;
};

struct filter {
	struct filter_group *groups; /* ORed */
	size_t ngroups;              /* 0 = match everything */
	char *text;                  /* the source, normalised */
};

const char *filter_key_name(enum filter_key k);

/* Parse `text` (NULL or blank = match all).  Returns 0 or -1 with err (ERR_INVALID). */
int filter_parse(const char *text, struct filter **out, struct err *err);
/* Parse several argv words as one filter (they are joined with spaces). */
int filter_parse_argv(int argc, char **argv, struct filter **out, struct err *err);
void filter_free(struct filter *f);
int filter_is_empty(const struct filter *f);
/* Does the filter use key k anywhere? */
int filter_uses(const struct filter *f, enum filter_key k);

/*
 * SQL compilation.  A level names the object a row stands for and the SQL
 * aliases of it and its ancestors: `t` (tests), `b` (builds), `c`
 * (checkouts).  The result is a boolean SQL expression with `?`
 * placeholders whose values are appended to params (in order).  Terms that
 * do not apply to a level (e.g. `test:` for a build) make a group false at
 * that level, so callers can select "objects matching directly" per level.
 */
enum filter_level { FL_CHECKOUT, FL_BUILD, FL_TEST };

struct filter_params {
	char **v;
	size_t n;
};

void filter_to_sql(const struct filter *f, enum filter_level level, struct buf *sql,
		   struct filter_params *params);
void filter_params_free(struct filter_params *p);

/*
 * A LIKE pattern (used with ESCAPE '\\', portable SQL) matching `v` then
 * `suffix`, where '*' is the only wildcard of both.  Caller frees.
 */
char *filter_like_pattern(const char *v, const char *suffix);

#endif
