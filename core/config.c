/*
 * config.c - cifeed.conf loading and validation (see config.h).
 */
#include "config.h"
#include "filter.h"
#include "formats.h"

#include "adapter.h"
#include "bot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ schema */

static const struct config_key core_keys[] = {
	{ "loglevel", CFG_STRING, "error, warn, info (default), debug or trace" },
	{ "origin", CFG_NAME, "KCIDB origin of objects cifeed itself creates (default cifeed)" },
	{ "max-submission", CFG_INT, "largest KCIDB submission accepted, bytes (default 512m)" },
	{ "database", CFG_PATH, "database location (default DATADIR/cifeed.db)" },
	{ NULL, 0, NULL },
};

static const struct config_key serve_keys[] = {
	{ "listen", CFG_LISTEN, "HTTP API address (default 127.0.0.1:8080)" },
	{ "spool", CFG_BOOL, "watch DATADIR/spool/kcidb/ (default true)" },
	{ "max-connections", CFG_INT, "concurrent HTTP connections (default 1024)" },
	{ "max-request-size", CFG_INT, "largest request body, bytes (default 1m)" },
	{ "max-headers", CFG_INT, "most request headers (default 100)" },
	{ "max-header-size", CFG_INT, "largest request line + headers, bytes (default 16k)" },
	{ "query-threads", CFG_INT,
	  "threads answering API lookups, each with its own read-only store connection; 0 "
	  "runs them on the event loop (default 2)" },
	{ "request-timeout", CFG_DURATION, "time to receive a whole request (default 10s)" },
	{ "inline-budget", CFG_INT,
	  "milliseconds a /api/v1/ran lookup may take on the event loop before it moves to a "
	  "query thread; 0 = always on the threads (default 2)" },
	{ "query-timeout", CFG_DURATION,
	  "longest an API lookup may run before it is stopped with a 503 (default 10s)" },
	{ "idle-timeout", CFG_DURATION, "keep-alive idle time (default 60s)" },
	{ "ran-cache-size", CFG_INT,
	  "memory for rendered /api/v1/ran answers per revision, bytes, least recently used "
	  "dropped first; 0 = no cache (default 256m)" },
	{ "ran-statuses", CFG_STRING, "statuses that count as already ran (default PASS FAIL DONE)" },
	{ "rate-limit", CFG_INT, "requests per second per client (default 0 = off)" },
	{ "publish-interval", CFG_DURATION,
	  "how often topics are published (default 30s); new results from the spool or "
	  "pollers are published within seconds anyway" },
	{ NULL, 0, NULL },
};

static const struct config_key feed_keys[] = {
	{ "name", CFG_STRING, "committer name of feed commits (default cifeed)" },
	{ "address", CFG_STRING, "feed e-mail address (default cifeed@localhost)" },
	{ "url", CFG_STRING, "public base URL of the feeds, used in links" },
	{ "epoch-size", CFG_INT,
	  "packed bytes per epoch before the next starts (default 1g, as public-inbox)" },
	{ "settle", CFG_DURATION, "quiet period before unfinished results go out (default 10m)" },
	{ NULL, 0, NULL },
};

static const struct config_key topic_keys[] = {
	{ "filter", CFG_FILTER, "which results the topic carries (filter language)" },
	{ "description", CFG_STRING, "one line shown by feed readers" },
	{ "address", CFG_STRING, "List-Id/To address of the topic" },
	{ NULL, 0, NULL },
};

static const struct config_key source_common_keys[] = {
	{ "type", CFG_NAME, "adapter: gitlab, gerrit, kernelci, patchwork, public-inbox" },
	{ "enabled", CFG_BOOL, "poll this source (default true)" },
	{ "interval", CFG_DURATION, "time between polls (default 300s)" },
	{ "url", CFG_URL, "base URL of the upstream" },
	{ "token-file", CFG_PATH, "file holding the API token" },
	{ "token-env", CFG_STRING, "environment variable holding the API token" },
	{ "ca-path", CFG_PATH, "CA bundle for TLS verification (default: system)" },
	{ "origin", CFG_NAME, "KCIDB origin for objects from this source" },
	{ NULL, 0, NULL },
};

static const struct config_key bot_common_keys[] = {
	{ "enabled", CFG_BOOL, "run this bot (default false)" },
	{ "dry-run", CFG_BOOL, "record but never send (default true)" },
	{ NULL, 0, NULL },
};

static const struct config_key *source_extra(const char *sub, const char *type)
{
	(void)sub;
	return type ? source_type_config_keys(type) : NULL;
}

static const struct config_key *bot_extra(const char *sub, const char *type)
{
	(void)type;
	return bot_config_keys(sub);
}

static const struct config_section sections[] = {
	{ "core", 0, core_keys, NULL },
	{ "serve", 0, serve_keys, NULL },
	{ "feed", 0, feed_keys, NULL },
	{ "topic", 1, topic_keys, NULL },
	{ "source", 1, source_common_keys, source_extra },
	{ "bot", 1, bot_common_keys, bot_extra },
};

const struct config_section *config_sections(size_t *n)
{
	*n = sizeof(sections) / sizeof(*sections);
	return sections;
}

const char *config_type_name(enum config_type t)
{
	switch (t) {
	case CFG_STRING:
		return "string";
	case CFG_BOOL:
		return "boolean";
	case CFG_INT:
		return "integer";
	case CFG_DURATION:
		return "duration";
	case CFG_PATH:
		return "path";
	case CFG_URL:
		return "url";
	case CFG_FILTER:
		return "filter";
	case CFG_LISTEN:
		return "host:port";
	case CFG_NAME:
		return "name";
	}
	return "?";
}

/* ------------------------------------------------------------ values */

int config_parse_bool(const char *s, int *out)
{
	static const char *t[] = { "true", "yes", "on", "1" }, *f[] = { "false", "no", "off", "0" };
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, t[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, f[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int config_parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return -1;
	int64_t mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1024LL * 1024 * 1024, end++;
	if (*end)
		return -1;
	if (v > INT64_MAX / mul || v < INT64_MIN / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int config_parse_duration(const char *s, int64_t *secs)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	int64_t mul = 1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	case 'w':
		mul = 7 * 86400;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > INT64_MAX / mul)
		return -1;
	*secs = v * mul;
	return 0;
}

static int valid_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	return *end == '\0' && colon[1] && port > 0 && port < 65536;
}

static int valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

static const char *type_hint(enum config_type t)
{
	switch (t) {
	case CFG_BOOL:
		return "is not a boolean (true/false)";
	case CFG_INT:
		return "is not an integer (suffixes k, m, g allowed)";
	case CFG_DURATION:
		return "is not a duration (e.g. 120, 90s, 5m, 2h, 90d)";
	case CFG_URL:
		return "is not a URL";
	case CFG_LISTEN:
		return "is not HOST:PORT";
	case CFG_NAME:
		return "is not a name of lower-case letters, digits, '_' and '-'";
	default:
		return "is not valid";
	}
}

static int check_value(const struct config_key *k, const char *v, struct err *err)
{
	int64_t i;
	int b;
	if (strchr(v, '\n') || strchr(v, '\r'))
		return err_set(err, ERR_CONFIG, "value contains a line break");
	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
		if (!utf8_valid(v, strlen(v)))
			return err_set(err, ERR_CONFIG, "value is not valid UTF-8");
		return 0;
	case CFG_BOOL:
		return config_parse_bool(v, &b) < 0 ? err_set(err, ERR_CONFIG, "%s", type_hint(k->type))
						     : 0;
	case CFG_INT:
		return config_parse_int(v, &i) < 0 ? err_set(err, ERR_CONFIG, "%s", type_hint(k->type))
						    : 0;
	case CFG_DURATION:
		return config_parse_duration(v, &i) < 0
			       ? err_set(err, ERR_CONFIG, "%s", type_hint(k->type))
			       : 0;
	case CFG_URL:
		return fmt_is_uri(v) ? 0 : err_set(err, ERR_CONFIG, "%s", type_hint(k->type));
	case CFG_LISTEN:
		return valid_listen(v) ? 0 : err_set(err, ERR_CONFIG, "%s", type_hint(k->type));
	case CFG_NAME:
		return valid_name(v) ? 0 : err_set(err, ERR_CONFIG, "%s", type_hint(k->type));
	case CFG_FILTER: {
		struct filter *f;
		if (filter_parse(v, &f, err) < 0)
			return -1;
		filter_free(f);
		return 0;
	}
	}
	return 0;
}

static const struct config_key *find_key(const struct config_key *keys, const char *name)
{
	for (; keys && keys->name; keys++)
		if (!strcmp(keys->name, name))
			return keys;
	return NULL;
}

static void list_keys(struct buf *b, const struct config_key *keys)
{
	for (; keys && keys->name; keys++)
		buf_addf(b, " %s", keys->name);
}

static void where(struct buf *b, const struct config *cfg, const struct config_entry *e)
{
	buf_addf(b, "%s: [%s", cfg->path, e->section);
	if (e->sub)
		buf_addf(b, " \"%s\"", e->sub);
	buf_addf(b, "] %s", e->key);
}

int config_validate(const struct config *cfg, struct err *err)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct config_entry *e = &cfg->e[i];
		const struct config_section *sec = NULL;
		for (size_t s = 0; s < sizeof(sections) / sizeof(*sections); s++)
			if (!strcmp(sections[s].name, e->section))
				sec = &sections[s];
		buf_reset(&b);
		where(&b, cfg, e);
		if (!sec) {
			err_set(err, ERR_CONFIG,
				"%s: unknown section '%s' (known: core serve feed topic source bot)",
				b.ptr, e->section);
			goto fail;
		}
		if (sec->subsection && !e->sub) {
			err_set(err, ERR_CONFIG, "%s: section needs a name, e.g. [%s \"NAME\"]", b.ptr,
				e->section);
			goto fail;
		}
		if (!sec->subsection && e->sub) {
			err_set(err, ERR_CONFIG, "%s: section [%s] takes no name", b.ptr, e->section);
			goto fail;
		}
		if (e->sub && (!*e->sub || !utf8_valid(e->sub, strlen(e->sub)) ||
			       strpbrk(e->sub, "/\\ \t") || e->sub[0] == '.')) {
			err_set(err, ERR_CONFIG,
				"%s: invalid name (no '/', '\\', spaces or leading '.')", b.ptr);
			goto fail;
		}
		const struct config_key *k = find_key(sec->keys, e->key);
		const struct config_key *extra = NULL;
		if (!k && sec->extra_keys) {
			const char *type = config_get(cfg, e->section, e->sub, "type");
			extra = sec->extra_keys(e->sub, type);
			k = find_key(extra, e->key);
			if (!k && !strcmp(e->section, "source") && !type) {
				err_set(err, ERR_CONFIG, "%s: the source has no 'type'", b.ptr);
				goto fail;
			}
		}
		if (!k) {
			struct buf known = BUF_INIT;
			list_keys(&known, sec->keys);
			list_keys(&known, extra);
			err_set(err, ERR_CONFIG, "%s: unknown key '%s' (known:%s)", b.ptr, e->key,
				known.ptr);
			buf_free(&known);
			goto fail;
		}
		if (!e->value) {
			err_set(err, ERR_CONFIG, "%s: missing value", b.ptr);
			goto fail;
		}
		if (check_value(k, e->value, err) < 0) {
			err_prefix(err, "%s: '%.80s'", b.ptr, e->value);
			err->code = ERR_CONFIG; /* a bad filter is a config error here */
			goto fail;
		}
		if (!strcmp(e->section, "source") && !strcmp(e->key, "type") &&
		    !source_type_config_keys(e->value)) {
			err_set(err, ERR_CONFIG, "%s: unknown source type '%s'", b.ptr, e->value);
			goto fail;
		}
		if (!strcmp(e->section, "bot") && !bot_config_keys(e->sub)) {
			err_set(err, ERR_CONFIG, "%s: unknown bot '%s'", b.ptr, e->sub);
			goto fail;
		}
	}
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	return -1;
}

/* ------------------------------------------------------------ loading */

struct load_ctx {
	struct config *cfg;
};

static int collect(const git_config_entry *ge, void *payload)
{
	struct config *cfg = ((struct load_ctx *)payload)->cfg;
	const char *name = ge->name;
	const char *first = strchr(name, '.'), *last = strrchr(name, '.');
	if (!first)
		return 0;
	cfg->e = xrealloc(cfg->e, (cfg->n + 1) * sizeof(*cfg->e));
	struct config_entry *e = &cfg->e[cfg->n++];
	e->section = xstrndup(name, (size_t)(first - name));
	e->sub = last > first ? xstrndup(first + 1, (size_t)(last - first - 1)) : NULL;
	e->key = xstrdup(last + 1);
	e->value = ge->value ? xstrdup(ge->value) : NULL;
	return 0;
}

int config_load_raw(const char *path, struct config **out, struct err *err)
{
	git_config *gc = NULL;
	if (access(path, R_OK) < 0)
		return err_errno(err, ERR_CONFIG, "%s", path);
	git_libgit2_init();
	if (git_config_open_ondisk(&gc, path) < 0) {
		const git_error *ge = git_error_last();
		err_set(err, ERR_CONFIG, "%s: %s", path, ge ? ge->message : "cannot parse");
		git_libgit2_shutdown();
		return -1;
	}
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	struct load_ctx ctx = { cfg };
	int r = git_config_foreach(gc, collect, &ctx);
	git_config_free(gc);
	git_libgit2_shutdown();
	if (r < 0) {
		config_free(cfg);
		return err_set(err, ERR_CONFIG, "%s: cannot read configuration", path);
	}
	*out = cfg;
	return 0;
}

int config_load(const char *path, struct config **out, struct err *err)
{
	if (config_load_raw(path, out, err) < 0)
		return -1;
	if (config_validate(*out, err) < 0) {
		config_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->e[i].section);
		free(cfg->e[i].sub);
		free(cfg->e[i].key);
		free(cfg->e[i].value);
	}
	free(cfg->e);
	free(cfg->path);
	free(cfg);
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

const char *config_get(const struct config *cfg, const char *section, const char *sub,
		       const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; cfg && i < cfg->n; i++) {
		const struct config_entry *e = &cfg->e[i];
		if (!strcmp(e->section, section) && same(e->sub, sub) && !strcmp(e->key, key))
			v = e->value;
	}
	return v;
}

size_t config_get_all(const struct config *cfg, const char *section, const char *sub,
		      const char *key, const char ***vals)
{
	size_t n = 0;
	*vals = NULL;
	for (size_t i = 0; cfg && i < cfg->n; i++) {
		const struct config_entry *e = &cfg->e[i];
		if (!strcmp(e->section, section) && same(e->sub, sub) && !strcmp(e->key, key) &&
		    e->value) {
			*vals = xrealloc(*vals, (n + 1) * sizeof(**vals));
			(*vals)[n++] = e->value;
		}
	}
	return n;
}

const char *config_get_str(const struct config *cfg, const char *section, const char *sub,
			   const char *key, const char *def)
{
	const char *v = config_get(cfg, section, sub, key);
	return v ? v : def;
}

int config_get_bool(const struct config *cfg, const char *section, const char *sub,
		    const char *key, int def)
{
	const char *v = config_get(cfg, section, sub, key);
	int b;
	return v && config_parse_bool(v, &b) == 0 ? b : def;
}

int64_t config_get_int(const struct config *cfg, const char *section, const char *sub,
		       const char *key, int64_t def)
{
	const char *v = config_get(cfg, section, sub, key);
	int64_t i;
	return v && config_parse_int(v, &i) == 0 ? i : def;
}

int64_t config_get_duration(const struct config *cfg, const char *section, const char *sub,
			    const char *key, int64_t def)
{
	const char *v = config_get(cfg, section, sub, key);
	int64_t i;
	return v && config_parse_duration(v, &i) == 0 ? i : def;
}

size_t config_subsections(const struct config *cfg, const char *section, const char ***names)
{
	size_t n = 0;
	*names = NULL;
	for (size_t i = 0; cfg && i < cfg->n; i++) {
		const struct config_entry *e = &cfg->e[i];
		if (strcmp(e->section, section) || !e->sub)
			continue;
		int seen = 0;
		for (size_t k = 0; k < n; k++)
			if (!strcmp((*names)[k], e->sub))
				seen = 1;
		if (seen)
			continue;
		*names = xrealloc(*names, (n + 1) * sizeof(**names));
		(*names)[n++] = e->sub;
	}
	return n;
}

/* ------------------------------------------------------------ default */

static const char default_conf[] =
	"# cifeed.conf - configuration of one cifeed data directory.\n"
	"#\n"
	"# git-config syntax: [section] or [section \"name\"], then key = value.\n"
	"# Unknown sections or keys are errors, so typos never go unnoticed.\n"
	"# `cifeed <command> --help` documents each command; README.md the rest.\n"
	"\n"
	"[core]\n"
	"\t# loglevel = info\n"
	"\t# origin = cifeed\n"
	"\t# max-submission = 512m\n"
	"\n"
	"[serve]\n"
	"\t# The HTTP API is read-only and listens on loopback unless told otherwise.\n"
	"\t# listen = 127.0.0.1:8080\n"
	"\t# Ingest KCIDB files dropped (write, then rename) into DATADIR/spool/kcidb/.\n"
	"\t# spool = true\n"
	"\n"
	"[feed]\n"
	"\t# Identity of the feed commits and the From: of feed messages.\n"
	"\t# name = cifeed\n"
	"\t# address = cifeed@localhost\n"
	"\n"
	"# Topics: each is a public-inbox v2 feed under DATADIR/feeds/NAME/.\n"
	"# An implicit topic \"all\" carries every result.\n"
	"#\n"
	"# [topic \"net-fail\"]\n"
	"#\tfilter = tree:net-next status:FAIL\n"
	"\n"
	"# Sources: upstream APIs to poll. Tokens come from a file or the\n"
	"# environment, never from this file, and are never logged.\n"
	"#\n"
	"# [source \"cki\"]\n"
	"#\ttype = gitlab\n"
	"#\turl = https://gitlab.com\n"
	"#\tproject = cki-project/kernel-ark\n"
	"#\ttoken-file = /etc/cifeed/gitlab.token\n"
	"#\tinterval = 120\n"
	"#\n"
	"# [source \"lkml\"]\n"
	"#\ttype = public-inbox\n"
	"#\tpath = /srv/lore/lkml\n"
	"\n"
	"# Bots act on patch feeds; they start disabled and in dry-run mode.\n"
	"#\n"
	"# [bot \"basenag\"]\n"
	"#\tenabled = false\n"
	"#\tdry-run = true\n"
	"#\tsmtp = smtp://127.0.0.1:25\n";

int config_write_default(const char *path, struct err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_errno(err, ERR_IO, "%s", path);
	size_t len = sizeof(default_conf) - 1, off = 0;
	while (off < len) {
		ssize_t w = write(fd, default_conf + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_errno(err, ERR_IO, "%s", path);
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return err_errno(err, ERR_IO, "%s", path);
	return 0;
}
