/*
 * config.h - cifeed.conf: git-config syntax, read with libgit2.
 *
 * The whole file is loaded into memory once (config_load) and validated
 * against the registered schema: every section and key must be known and
 * every value must parse, otherwise the error names the file, the section
 * (with its subsection) and the key.  Typed getters then cannot fail on a
 * validated config except for programming errors.
 *
 * Sections:
 *   [core]            cifeed-wide settings (log level, origin name, limits)
 *   [serve]           the daemon: HTTP listen address, spool
 *   [feed]            feed identity and epoch size
 *   [topic "NAME"]    a filtered results feed
 *   [source "NAME"]   an upstream to poll; keys depend on `type`
 *   [bot "NAME"]      a bot; keys depend on the bot
 * Each module that owns keys declares them in a `struct config_section`
 * listed in config.c.
 */
#ifndef CIFEED_CONFIG_H
#define CIFEED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum config_type {
	CFG_STRING,   /* any single-line string */
	CFG_BOOL,     /* true/false/yes/no/on/off/1/0 */
	CFG_INT,      /* integer, k/m/g suffixes allowed */
	CFG_DURATION, /* seconds, or with s/m/h/d/w suffix: 90d */
	CFG_PATH,     /* file system path */
	CFG_URL,      /* http(s)/smtp(s) URL */
	CFG_FILTER,   /* a filter expression (filter.h) */
	CFG_LISTEN,   /* host:port */
	CFG_NAME,     /* lower-case identifier [a-z0-9_-]+ */
};

struct config_key {
	const char *name;
	enum config_type type;
	const char *help;
};

struct config_section {
	const char *name;
	int subsection;                /* 1: [name "SUB"] form required */
	const struct config_key *keys; /* terminated by {NULL} */
	/* for sections whose keys depend on the subsection (source type, bot name) */
	const struct config_key *(*extra_keys)(const char *sub, const char *type_value);
};

struct config_entry {
	char *section, *sub, *key, *value;
};

struct config {
	char *path;
	struct config_entry *e;
	size_t n;
};

/* Load and validate. A missing file is an ERR_CONFIG error. */
int config_load(const char *path, struct config **out, struct err *err);
/* Load without validation (for tools that show the raw file). */
int config_load_raw(const char *path, struct config **out, struct err *err);
void config_free(struct config *cfg);
int config_validate(const struct config *cfg, struct err *err);

/* The last value of a key (git semantics), or NULL. sub may be NULL. */
const char *config_get(const struct config *cfg, const char *section, const char *sub,
		       const char *key);
/* All values of a multi-valued key; returns the count, fills vals (caller frees the array). */
size_t config_get_all(const struct config *cfg, const char *section, const char *sub,
		      const char *key, const char ***vals);
const char *config_get_str(const struct config *cfg, const char *section, const char *sub,
			   const char *key, const char *def);
int config_get_bool(const struct config *cfg, const char *section, const char *sub,
		    const char *key, int def);
int64_t config_get_int(const struct config *cfg, const char *section, const char *sub,
		       const char *key, int64_t def);
/* Seconds. */
int64_t config_get_duration(const struct config *cfg, const char *section, const char *sub,
			    const char *key, int64_t def);

/* Names of the subsections of `section` in file order (caller frees the array only). */
size_t config_subsections(const struct config *cfg, const char *section, const char ***names);

/* Value parsers shared with command-line options. Return 0 or -1. */
int config_parse_bool(const char *s, int *out);
int config_parse_int(const char *s, int64_t *out);
int config_parse_duration(const char *s, int64_t *secs);

/* The registered sections (for `cifeed config keys`). */
const struct config_section *config_sections(size_t *n);
/* Human name of a value type ("duration", "boolean", ...). */
const char *config_type_name(enum config_type t);

/* Write the commented default cifeed.conf for `cifeed init` (O_EXCL). */
int config_write_default(const char *path, struct err *err);

#endif
