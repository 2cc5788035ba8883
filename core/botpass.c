/*
 * botpass.c - a mail bot's pass: mailbox, recovery, decisions, outbox,
 * SMTP (see botpass.h for the rules and the exactly-once argument).
 *
 * Shape: the decisions are made in memory inside one read transaction (the
 * rules read series, history and opt-outs; a bot's check may take seconds
 * of git work, so no write lock is held meanwhile), then written in one
 * write transaction.  Every later step is a state change of one message row
 * committed on its own, in the order that makes a crash at any point
 * recoverable: planned -> (feed flush) -> recorded -> sending -> submitted
 * (from curl's read callback, before the end of data) -> sent.
 *
 * CIFEED_TEST_CRASH=<point> makes the process SIGKILL itself at one of the
 * points planned, recorded, sending, submitted, accepted (tests only: the
 * e2e tests prove each window recovers without loss or duplicates).
 */
#include "botpass.h"
#include "botmsg.h"
#include "feed_writer.h"
#include "formats.h"
#include "fsutil.h"
#include "log.h"
#include "mbox.h"
#include "smtp.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAILBOX_MSG_MAX (16u << 20)

static void crash_point(const char *point)
{
	const char *want = getenv("CIFEED_TEST_CRASH");
	if (want && !strcmp(want, point)) {
		log_warn("bot.test_crash", "point=%s", point);
		raise(SIGKILL);
	}
}

/* ------------------------------------------------------------ decisions */

void bot_decision_init(struct bot_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = BOT_SKIP;
	d->reason = "";
}

void bot_decision_free(struct bot_decision *d)
{
	buf_free(&d->detail);
	buf_free(&d->note);
}

int bot_decide(struct bot_decision *d, enum bot_verdict v, const char *reason, const char *fmt,
	       ...)
{
	va_list ap;
	d->verdict = v;
	d->reason = reason;
	buf_reset(&d->detail);
	va_start(ap, fmt);
	buf_vaddf(&d->detail, fmt, ap);
	va_end(ap);
	return 0;
}

/* ------------------------------------------------------------ settings */

void bot_settings_free(struct bot_settings *s)
{
	char **strs[] = { &s->from_name,    &s->from_addr,   &s->from_domain, &s->smtp_url,
			  &s->smtp_ca_file, &s->smtp_user,   &s->optout_file, &s->mailbox,
			  &s->docs_url };
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		free(*strs[i]);
	if (s->smtp_password) {
		memset(s->smtp_password, 0, strlen(s->smtp_password));
		free(s->smtp_password);
	}
	free(s->ignore);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int bot_settings_load(const struct bot *b, const struct config *cfg, int for_mail,
		      struct bot_settings *s, struct err *err)
{
	const char *n = b->name;
	memset(s, 0, sizeof(*s));
	s->enabled = config_get_bool(cfg, "bot", n, "enabled", 0);
	s->dry_run = config_get_bool(cfg, "bot", n, "dry-run", 1);
	s->smtp_url = dup_or_null(config_get(cfg, "bot", n, "smtp"));
	s->smtp_ca_file = dup_or_null(config_get(cfg, "bot", n, "smtp-ca-file"));
	s->smtp_user = dup_or_null(config_get(cfg, "bot", n, "smtp-user"));
	s->optout_file = dup_or_null(config_get(cfg, "bot", n, "opt-out-file"));
	s->mailbox = dup_or_null(config_get(cfg, "bot", n, "mailbox"));
	s->docs_url = dup_or_null(config_get(cfg, "bot", n, "docs-url"));
	s->copy_self = config_get_bool(cfg, "bot", n, "copy-self", s->mailbox != NULL);
	s->rfc = config_get_bool(cfg, "bot", n, "rfc", 0);
	s->confirm_wait = config_get_duration(cfg, "bot", n, "confirm-wait", 600);
	s->period = config_get_duration(cfg, "bot", n, "period", 90 * 86400);
	s->period_series = config_get_int(cfg, "bot", n, "period-series", 5);
	s->rate_limit = config_get_int(cfg, "bot", n, "rate-limit", 25);
	s->rate_period = config_get_duration(cfg, "bot", n, "rate-period", 86400);
	s->settle = config_get_duration(cfg, "bot", n, "settle", 1800);
	s->max_wait = config_get_duration(cfg, "bot", n, "max-wait", 2 * 86400);
	s->max_age = config_get_duration(cfg, "bot", n, "max-age", 7 * 86400);
	s->max_delay = config_get_duration(cfg, "bot", n, "max-delay", 2 * 86400);
	s->interval = config_get_duration(cfg, "bot", n, "interval", 300);
	s->nignore = config_get_all(cfg, "bot", n, "ignore-sender", &s->ignore);
	const char *where = cfg->path;

	if (s->rate_limit < 0 || s->period_series < 0)
		goto range;
	if (s->rate_period <= 0 || s->interval <= 0)
		goto range;

	const char *from = config_get(cfg, "bot", n, "from");
	if (from) {
		char *name = NULL, *addr = NULL;
		mail_address(from, &name, &addr);
		if (!addr || !fmt_is_email(addr)) {
			free(name);
			free(addr);
			err_set(err, ERR_CONFIG,
				"%s: [bot \"%s\"] from: '%s' has no usable address "
				"(\"Name <user@example.org>\")",
				where, n, from);
			goto fail;
		}
		s->from_name = name;
		s->from_addr = addr;
	} else if (!for_mail) {
		s->from_name = xstrdup(n);
		s->from_addr = xstrdup("bot@localhost.invalid");
	} else {
		err_set(err, ERR_CONFIG, "%s: [bot \"%s\"] from: missing (the bot's From address)",
			where, n);
		goto fail;
	}
	s->from_domain = xstrdup(strrchr(s->from_addr, '@') + 1);
	for (size_t i = 0; i < s->nignore; i++)
		if (!strchr(s->ignore[i], '@')) {
			err_set(err, ERR_CONFIG,
				"%s: [bot \"%s\"] ignore-sender: '%s' is not an address pattern",
				where, n, s->ignore[i]);
			goto fail;
		}

	if (s->smtp_url && strncasecmp(s->smtp_url, "smtp://", 7) &&
	    strncasecmp(s->smtp_url, "smtps://", 8)) {
		err_set(err, ERR_CONFIG, "%s: [bot \"%s\"] smtp: '%s' is not an smtp:// or smtps:// URL",
			where, n, s->smtp_url);
		goto fail;
	}
	int loop = s->smtp_url && smtp_url_is_loopback(s->smtp_url);
	s->smtp_starttls = config_get_bool(cfg, "bot", n, "smtp-starttls", !loop);
	if (for_mail && !s->dry_run && !s->smtp_url) {
		err_set(err, ERR_CONFIG,
			"%s: [bot \"%s\"] smtp: missing (needed to send; dry-run = true sends nothing)",
			where, n);
		goto fail;
	}
	const char *tf = config_get(cfg, "bot", n, "smtp-token-file");
	const char *te = config_get(cfg, "bot", n, "smtp-token-env");
	if ((tf || te) && !s->smtp_user) {
		err_set(err, ERR_CONFIG, "%s: [bot \"%s\"] smtp-user: missing (a token is configured)",
			where, n);
		goto fail;
	}
	if (s->smtp_user && s->smtp_url && !strncasecmp(s->smtp_url, "smtp://", 7) &&
	    !s->smtp_starttls && !loop) {
		err_set(err, ERR_CONFIG,
			"%s: [bot \"%s\"] smtp-starttls: refusing to send the SMTP password in "
			"clear text to %s",
			where, n, s->smtp_url);
		goto fail;
	}
	if (for_mail && s->smtp_user) {
		struct buf tok = BUF_INIT;
		if (tf) {
			if (buf_read_file(&tok, tf, 65536) < 0) {
				err_errno(err, ERR_CONFIG, "%s: [bot \"%s\"] smtp-token-file %s", where,
					  n, tf);
				buf_free(&tok);
				goto fail;
			}
		} else if (te) {
			const char *v = getenv(te);
			if (!v) {
				err_set(err, ERR_CONFIG,
					"%s: [bot \"%s\"] smtp-token-env: $%s is not set", where, n,
					te);
				goto fail;
			}
			buf_adds(&tok, v);
		}
		buf_rtrim(&tok);
		s->smtp_password = buf_detach(&tok);
		if (strlen(s->smtp_password) >= 4)
			log_secret_add(s->smtp_password);
	}
	return 0;
range:
	err_set(err, ERR_CONFIG, "%s: [bot \"%s\"]: rate-limit, period-series must be >= 0 and "
				 "rate-period, interval > 0",
		where, n);
fail:
	bot_settings_free(s);
	return -1;
}

void botpass_dir(const char *datadir, const char *bot, const char *sub, struct buf *out)
{
	buf_addf(out, "%s/bots/%s", datadir, bot);
	if (sub)
		buf_addf(out, "/%s", sub);
}

/* ------------------------------------------------------------ small SQL helpers */

static int exec_args(struct store *st, struct err *err, const char *sql, const char *fmt, ...)
{
	/* fmt: one letter per parameter, s = text (NULL ok), i = int64 */
	struct store_stmt *s;
	if (store_prepare(st, &s, sql, err) < 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 's')
			store_bind_text(s, i + 1, va_arg(ap, const char *), -1);
		else
			store_bind_int(s, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	int r = store_step(s, err);
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

static void now_text(int64_t now, char out[32])
{
	fmt_unix_rfc3339(now, out);
}

/* ------------------------------------------------------------ observe */

int botpass_observe(struct store *st, const struct mail *m, const struct patchmail *pm,
		    const char *source, struct err *err)
{
	const char *kind = NULL;
	if (pm->kind == PM_PULL)
		kind = "pull";
	else if (pm->kind == PM_REPLY && pm->subj.patch && pm->has_diff)
		kind = "reply";
	if (!kind || !m->message_id)
		return 0;
	char date[32] = "", now[32];
	if (m->has_date)
		fmt_unix_rfc3339(m->date, date);
	fmt_now(now);
	int automated = pm->automated;
	return exec_args(st, err,
			 "INSERT INTO bot_mail (msgid, kind, subject, author_name, author_email, "
			 "date, in_reply_to, automated, list_id, source, received) VALUES (?, ?, ?, "
			 "?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msgid) DO NOTHING",
			 "sssssssisss", m->message_id, kind, m->subject,
			 m->from_name, m->from_email, *date ? date : NULL, m->in_reply_to,
			 (int64_t)automated, m->list_id, source, now);
}

int botpass_optout_add(struct store *st, const char *bot, const char *addr, const char *source,
		       const char *msgid, struct err *err)
{
	char now[32];
	fmt_now(now);
	char *low = botmsg_addr_lower(addr);
	int r = exec_args(st, err,
			  "INSERT INTO bot_optouts (bot, address, source, msgid, added) VALUES (?, ?, "
			  "?, ?, ?) ON CONFLICT (bot, address) DO NOTHING",
			  "sssss", bot, low, source, msgid, now);
	free(low);
	return r;
}

/* ------------------------------------------------------------ the pass */

struct plan {
	char *candidate, *reason, *detail;
	int send;
	/* send */
	char *root, *in_reply_to, *version_key, *recipient, *msgid, *raw;
};

/* A message decided in this pass (for the sender, version and rate rules). */
struct pending {
	char *recipient, *version_key, *root, *msgid;
};

struct pass {
	struct store *st;
	const struct bot *b;
	void *priv;
	struct bot_settings set;
	const struct botpass_opts *o;
	struct botpass_stats *stats;
	int64_t now;
	struct bot_optlist opt;
	const char *eff; /* SQL predicate on bot_messages.state: messages that count */
	struct plan *plans;
	size_t nplans, capplans;
	struct pending *pend;
	size_t npend;
	int64_t rate_used;
	int lock_fd;
};

static void plan_free(struct plan *p)
{
	free(p->candidate);
	free(p->reason);
	free(p->detail);
	free(p->root);
	free(p->in_reply_to);
	free(p->version_key);
	free(p->recipient);
	free(p->msgid);
	free(p->raw);
}

static struct plan *plan_new(struct pass *p)
{
	if (p->nplans == p->capplans) {
		p->capplans = p->capplans ? p->capplans * 2 : 32;
		p->plans = xrealloc(p->plans, p->capplans * sizeof(*p->plans));
	}
	struct plan *pl = &p->plans[p->nplans++];
	memset(pl, 0, sizeof(*pl));
	return pl;
}

static void lock_release(struct pass *p)
{
	if (p->lock_fd >= 0) {
		flock(p->lock_fd, LOCK_UN);
		close(p->lock_fd);
		p->lock_fd = -1;
	}
}

static int lock_take(struct pass *p, struct err *err)
{
	struct buf dir = BUF_INIT, path = BUF_INIT;
	botpass_dir(p->o->datadir, p->b->name, NULL, &dir);
	int rc = -1;
	if (fs_mkdir_p(dir.ptr, 0755, err) < 0)
		goto out;
	buf_addf(&path, "%s/lock", dir.ptr);
	p->lock_fd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (p->lock_fd < 0) {
		err_errno(err, ERR_IO, "%s", path.ptr);
		goto out;
	}
	if (flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			err_set(err, ERR_IO, "%s: another pass of bot %s is running", path.ptr,
				p->b->name);
		else
			err_errno(err, ERR_IO, "%s", path.ptr);
		close(p->lock_fd);
		p->lock_fd = -1;
		goto out;
	}
	rc = 0;
out:
	buf_free(&dir);
	buf_free(&path);
	return rc;
}

/* --- opt-outs --- */

/* 1 and a description when addr has opted out. */
static int opted_out(struct pass *p, const char *addr, struct buf *why, struct err *err)
{
	size_t line = botmsg_optlist_match(&p->opt, addr);
	if (line) {
		buf_addf(why, "%s is listed in %s:%zu", addr, p->opt.path, line);
		return 1;
	}
	struct store_stmt *s;
	if (store_prepare(p->st, &s,
			  "SELECT source, msgid, added FROM bot_optouts WHERE bot = ? AND address = ?",
			  err) < 0)
		return -1;
	store_bind_text(s, 1, p->b->name, -1);
	store_bind_text(s, 2, addr, -1);
	int r = store_step(s, err);
	if (r == STORE_ROW) {
		const char *src = store_col_text(s, 0, NULL), *mid = store_col_text(s, 1, NULL);
		if (!strcmp(src, "reply"))
			buf_addf(why, "%s replied \"stop\" (<%s>) on %s", addr, mid ? mid : "?",
				 store_col_text(s, 2, NULL));
		else
			buf_addf(why, "%s was opted out by hand (cifeed bot %s opt-out) on %s", addr,
				 p->b->name, store_col_text(s, 2, NULL));
	}
	store_finalize(s);
	return r < 0 ? -1 : r == STORE_ROW;
}

/* --- candidates --- */

struct cand {
	int64_t series_rid; /* 0: a bot_mail row */
	char *msgid, *kind, *subject, *author_name, *author_email, *date;
	int automated;
	char *in_reply_to;
};

static void cand_free(struct cand *c)
{
	free(c->msgid);
	free(c->kind);
	free(c->subject);
	free(c->author_name);
	free(c->author_email);
	free(c->date);
	free(c->in_reply_to);
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->date ? x->date : "", y->date ? y->date : "");
	if (c)
		return c;
	if (x->series_rid != y->series_rid)
		return x->series_rid < y->series_rid ? -1 : 1;
	return strcmp(x->msgid, y->msgid);
}

/* A zeroed candidate appended to *v (n used, *cap allocated). */
static struct cand *cand_add(struct cand **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	struct cand *c = &(*v)[(*n)++];
	memset(c, 0, sizeof(*c));
	return c;
}

static int load_candidates(struct pass *p, struct cand **out, size_t *n, struct err *err)
{
	char lower[32];
	int64_t lb = p->o->have_since ? p->o->since : p->now - p->set.max_age;
	fmt_unix_rfc3339(lb, lower);
	/* --dry-run --since re-examines decided candidates too: an audit of that period */
	int all = p->o->report_only && p->o->have_since;
	struct buf sql = BUF_INIT;
	buf_adds(&sql, "SELECT s.rid, s.root_msgid, s.date FROM series s WHERE s.date >= ?");
	if (!all)
		buf_adds(&sql, " AND NOT EXISTS (SELECT 1 FROM bot_decisions d WHERE d.bot = ? AND "
			       "d.candidate = 'series:' || s.root_msgid)");
	struct store_stmt *s;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int r;
	if (store_prepare(p->st, &s, sql.ptr, err) < 0)
		goto fail;
	store_bind_text(s, 1, lower, -1);
	if (!all)
		store_bind_text(s, 2, p->b->name, -1);
	while ((r = store_step(s, err)) == STORE_ROW) {
		struct cand *c = cand_add(out, n, &cap);
		c->series_rid = store_col_int(s, 0);
		c->msgid = store_col_dup(s, 1);
		c->date = store_col_dup(s, 2);
	}
	store_finalize(s);
	if (r < 0)
		goto fail;
	buf_reset(&sql);
	buf_adds(&sql, "SELECT m.msgid, m.kind, m.subject, m.author_name, m.author_email, m.date, "
		       "m.automated, m.in_reply_to FROM bot_mail m WHERE m.date >= ?");
	if (!all)
		buf_adds(&sql, " AND NOT EXISTS (SELECT 1 FROM bot_decisions d WHERE d.bot = ? AND "
			       "d.candidate = 'mail:' || m.msgid)");
	if (store_prepare(p->st, &s, sql.ptr, err) < 0)
		goto fail;
	store_bind_text(s, 1, lower, -1);
	if (!all)
		store_bind_text(s, 2, p->b->name, -1);
	while ((r = store_step(s, err)) == STORE_ROW) {
		struct cand *c = cand_add(out, n, &cap);
		c->msgid = store_col_dup(s, 0);
		c->kind = store_col_dup(s, 1);
		c->subject = store_col_dup(s, 2);
		c->author_name = store_col_dup(s, 3);
		c->author_email = store_col_dup(s, 4);
		c->date = store_col_dup(s, 5);
		c->automated = (int)store_col_int(s, 6);
		c->in_reply_to = store_col_dup(s, 7);
	}
	store_finalize(s);
	if (r < 0)
		goto fail;
	buf_free(&sql);
	if (*n)
		qsort(*out, *n, sizeof(**out), cand_cmp);
	return 0;
fail:
	buf_free(&sql);
	for (size_t i = 0; i < *n; i++)
		cand_free(&(*out)[i]);
	free(*out);
	*out = NULL;
	*n = 0;
	return -1;
}

/* --- series rules --- */

/* Unix time of an RFC 3339 column value, or 0. */
static int64_t unix_of(const char *s)
{
	int64_t t = 0;
	int tz;
	if (!s || fmt_parse_datetime(s, &t, &tz) < 0)
		return 0;
	return t;
}

/* In-Reply-To of the series' first message; *kind: 0 none, 1 in series, 2 other series, 3 other known mail, 4 unknown. */
static int first_reply(struct pass *p, const struct series_info *si, char **target, int *kind,
		       struct err *err)
{
	*target = NULL;
	*kind = 0;
	const char *first = si->cover_msgid ? si->cover_msgid : si->first_msgid;
	if (!first)
		return 0;
	struct store_stmt *s;
	if (store_prepare(p->st, &s, "SELECT in_reply_to FROM patches WHERE msgid = ?", err) < 0)
		return -1;
	store_bind_text(s, 1, first, -1);
	int r = store_step(s, err);
	if (r == STORE_ROW)
		*target = store_col_dup(s, 0);
	store_finalize(s);
	if (r < 0)
		return -1;
	if (!*target)
		return 0;
	if (store_prepare(p->st, &s, "SELECT series_rid FROM patches WHERE msgid = ?", err) < 0)
		return -1;
	store_bind_text(s, 1, *target, -1);
	r = store_step(s, err);
	if (r == STORE_ROW)
		*kind = store_col_int(s, 0) == si->rid ? 1 : 2;
	store_finalize(s);
	if (r < 0)
		return -1;
	if (*kind)
		return 0;
	int64_t known = 0;
	r = store_query_int(p->st,
			    "SELECT COUNT(*) FROM intake_messages WHERE msgid = ?", &known, err, 1,
			    *target);
	if (r < 0)
		return -1;
	if (!known) {
		r = store_query_int(p->st, "SELECT COUNT(*) FROM trailers WHERE source_msgid = ?",
				    &known, err, 1, *target);
		if (r < 0)
			return -1;
	}
	*kind = known ? 3 : 4;
	return 0;
}

/* first and last time intake stored a message of the series */
static int series_received(struct pass *p, int64_t rid, int64_t *first, int64_t *last,
			   struct err *err)
{
	struct store_stmt *s;
	*first = *last = 0;
	if (store_prepare(p->st, &s,
			  "SELECT MIN(received), MAX(received) FROM patches WHERE series_rid = ?",
			  err) < 0)
		return -1;
	store_bind_int(s, 1, rid);
	int r = store_step(s, err);
	if (r == STORE_ROW) {
		*first = unix_of(store_col_text(s, 0, NULL));
		*last = unix_of(store_col_text(s, 1, NULL));
	}
	store_finalize(s);
	return r < 0 ? -1 : 0;
}

/* The earliest counting message matching `col` = value, or none (returns 1 when found). */
static int history(struct pass *p, const char *col, const char *value, char **msgid,
		   char **root, char **state, int64_t *planned, int newest, struct err *err)
{
	struct buf sql = BUF_INIT;
	buf_addf(&sql,
		 "SELECT msgid, root_msgid, state, planned_unix FROM bot_messages WHERE bot = ? "
		 "AND %s = ? AND %s ORDER BY planned_unix %s, rid %s",
		 col, p->eff, newest ? "DESC" : "ASC", newest ? "DESC" : "ASC");
	struct store_stmt *s;
	int r = store_prepare(p->st, &s, sql.ptr, err);
	buf_free(&sql);
	if (r < 0)
		return -1;
	store_bind_text(s, 1, p->b->name, -1);
	store_bind_text(s, 2, value, -1);
	r = store_step(s, err);
	if (r == STORE_ROW) {
		*msgid = store_col_dup(s, 0);
		*root = store_col_dup(s, 1);
		*state = store_col_dup(s, 2);
		*planned = store_col_int(s, 3);
	}
	store_finalize(s);
	return r < 0 ? -1 : r == STORE_ROW;
}

static void fmt_duration(int64_t secs, char out[32])
{
	if (secs % 86400 == 0)
		snprintf(out, 32, "%lldd", (long long)(secs / 86400));
	else if (secs % 3600 == 0)
		snprintf(out, 32, "%lldh", (long long)(secs / 3600));
	else if (secs % 60 == 0)
		snprintf(out, 32, "%lldm", (long long)(secs / 60));
	else
		snprintf(out, 32, "%llds", (long long)secs);
}

static int eval_series(struct pass *p, struct series_info *si, struct bot_decision *d,
		       struct err *err)
{
	const char *addr = si->author_email ? si->author_email : "";
	char *low = botmsg_addr_lower(addr);
	char *target = NULL;
	int rc = -1, tkind;
	struct buf why = BUF_INIT;
	char when[32], dur[32];

	if (si->automated) {
		bot_decide(d, BOT_SKIP, "automated",
			   "a message of the series carries Auto-Submitted (not \"no\") or a bot "
			   "header: never answer machines");
		goto done;
	}
	const char *bs = botmsg_bot_sender(low, p->set.ignore, p->set.nignore);
	if (bs || !strcmp(low, p->set.from_addr)) {
		bot_decide(d, BOT_SKIP, "bot-sender", "%s is a bot sender (%s)", addr,
			   bs ? bs : "the bot itself");
		goto done;
	}
	if (first_reply(p, si, &target, &tkind, err) < 0)
		goto out;
	if (tkind == 2 || tkind == 3) {
		bot_decide(d, BOT_SKIP, "reply",
			   "its first message answers <%s>, %s: not a new top-level series", target,
			   tkind == 2 ? "a patch of another series" : "a message outside the series");
		goto done;
	}
	if (si->rfc && !p->set.rfc) {
		bot_decide(d, BOT_SKIP, "rfc", "an RFC series (set rfc = true to answer RFCs)");
		goto done;
	}
	int64_t first_rx, last_rx;
	if (series_received(p, si->rid, &first_rx, &last_rx, err) < 0)
		goto out;
	int root_stored = 0;
	for (size_t i = 0; i < si->npatches; i++)
		root_stored |= !strcmp(si->patches[i].msgid, si->root_msgid);
	int cover_missing = tkind == 4 && !si->cover_msgid && si->total > 1;
	if (!root_stored || !si->complete || cover_missing) {
		if (!root_stored || cover_missing)
			buf_addf(&why, "the cover letter <%s> has not arrived",
				 !root_stored ? si->root_msgid : target);
		else
			buf_addf(&why, "%d of %d patches arrived", si->received, si->total);
		fmt_duration(p->set.max_wait, dur);
		if (first_rx && p->now - first_rx >= p->set.max_wait)
			bot_decide(d, BOT_SKIP, "incomplete", "%s; gave up after %s", why.ptr, dur);
		else
			bot_decide(d, BOT_WAIT, "incomplete", "%s; waiting (at most %s)", why.ptr,
				   dur);
		goto done;
	}
	if (tkind == 4) {
		bot_decide(d, BOT_SKIP, "reply",
			   "its first message answers <%s>, which is not in the archive: not a new "
			   "top-level series",
			   target);
		goto done;
	}
	if (last_rx && p->now - last_rx < p->set.settle) {
		fmt_unix_rfc3339(last_rx, when);
		fmt_duration(p->set.settle, dur);
		bot_decide(d, BOT_WAIT, "settling", "last message stored at %s; waiting %s for more",
			   when, dur);
		goto done;
	}
	if (p->b->consider(p->priv, p->st, si, d, err) < 0)
		goto out;
	if (d->verdict != BOT_SEND)
		goto done;
	const char *und = botmsg_undeliverable(low);
	if (!fmt_is_email(addr) || und) {
		bot_decide(d, BOT_SKIP, "no-address", "'%s' cannot be written to privately%s%s",
			   addr, und ? ": " : "", und ? und : "");
		goto done;
	}
	buf_reset(&why);
	int o = opted_out(p, low, &why, err);
	if (o < 0)
		goto out;
	if (o) {
		bot_decide(d, BOT_SKIP, "opted-out", "%s", why.ptr);
		goto done;
	}
	/* series and versions: this pass first, then the history */
	for (size_t i = 0; i < p->npend; i++) {
		struct pending *pe = &p->pend[i];
		if (!strcmp(pe->root, si->root_msgid)) {
			bot_decide(d, BOT_SKIP, "already-nagged", "<%s> answers it in this pass",
				   pe->msgid);
			goto done;
		}
		if (si->version_key && pe->version_key && !strcmp(pe->version_key, si->version_key)) {
			bot_decide(d, BOT_SKIP, si->resend ? "resend-nagged" : "version-nagged",
				   "%s <%s> was answered in this pass (<%s>)",
				   si->resend ? "the series this RESENDs," : "another version,",
				   pe->root, pe->msgid);
			goto done;
		}
	}
	char *hm = NULL, *hr = NULL, *hs = NULL;
	int64_t hp = 0;
	int h = history(p, "root_msgid", si->root_msgid, &hm, &hr, &hs, &hp, 0, err);
	if (h == 0 && si->version_key)
		h = history(p, "version_key", si->version_key, &hm, &hr, &hs, &hp, 0, err);
	if (h < 0)
		goto out;
	if (h) {
		fmt_unix_rfc3339(hp, when);
		if (!strcmp(hr, si->root_msgid))
			bot_decide(d, BOT_SKIP, "already-nagged", "<%s> (%s, planned %s) answers it",
				   hm, hs, when);
		else
			bot_decide(d, BOT_SKIP, si->resend ? "resend-nagged" : "version-nagged",
				   "%s <%s> was answered by <%s> (%s, planned %s)",
				   si->resend ? "the series this RESENDs," : "another version,", hr,
				   hm, hs, when);
		free(hm);
		free(hr);
		free(hs);
		goto done;
	}
	/* one per sender per period (and period-series more series) */
	for (size_t i = 0; i < p->npend; i++)
		if (!strcmp(p->pend[i].recipient, low)) {
			bot_decide(d, BOT_SKIP, "sender-period",
				   "%s gets <%s> in this pass (one per sender per period)", low,
				   p->pend[i].msgid);
			goto done;
		}
	h = history(p, "recipient", low, &hm, &hr, &hs, &hp, 1, err);
	if (h < 0)
		goto out;
	if (h) {
		int64_t since_n = 0;
		char since[32];
		fmt_unix_rfc3339(hp, since);
		fmt_duration(p->set.period, dur);
		int r = store_query_int(p->st,
					"SELECT COUNT(*) FROM series WHERE lower(author_email) = ? AND "
					"date > ? AND root_msgid <> ?",
					&since_n, err, 3, low, since, si->root_msgid);
		int hold = p->now - hp < p->set.period || since_n < p->set.period_series;
		if (r >= 0 && hold)
			bot_decide(d, BOT_SKIP, "sender-period",
				   "%s got <%s> on %s; next after %s and %lld more series (%lld "
				   "so far)",
				   low, hm, since, dur, (long long)p->set.period_series,
				   (long long)since_n);
		free(hm);
		free(hr);
		free(hs);
		if (r < 0)
			goto out;
		if (hold)
			goto done;
	}
	if (p->b->check && p->b->check(p->priv, p->st, si, d, err) < 0)
		goto out;
	if (d->verdict != BOT_SEND)
		goto done;
	if (p->rate_used + (int64_t)p->npend >= p->set.rate_limit) {
		fmt_duration(p->set.rate_period, dur);
		bot_decide(d, BOT_WAIT, "rate-limit",
			   "%lld messages in the last %s (rate-limit %lld); trying again later",
			   (long long)(p->rate_used + (int64_t)p->npend), dur,
			   (long long)p->set.rate_limit);
		goto done;
	}
done:
	rc = 0;
out:
	free(low);
	free(target);
	buf_free(&why);
	return rc;
}

/* Render the message for a SEND decision on a series. */
static int render(struct pass *p, const struct series_info *si, const struct bot_decision *d,
		  const char *low, struct buf *msgid, struct buf *raw, struct err *err)
{
	struct buf body = BUF_INIT;
	if (p->b->render(p->priv, si, d, &body, err) < 0) {
		buf_free(&body);
		return -1;
	}
	botmsg_msgid(p->b->name, si->root_msgid, low, p->set.from_domain, msgid);
	struct botmsg_in in = {
		.bot = p->b->name,
		.from_name = p->set.from_name,
		.from_addr = p->set.from_addr,
		.to_name = si->author_name,
		.to_addr = si->author_email,
		.subject = si->subject,
		.in_reply_to = si->first_msgid,
		.msgid = msgid->ptr,
		.date = p->now,
		.body = body.ptr,
		.docs_url = p->set.docs_url,
	};
	int r = botmsg_render(&in, raw, err);
	buf_free(&body);
	return r;
}

static void report(struct pass *p, const struct cand *c, const struct series_info *si,
		   const struct bot_decision *d, const struct plan *pl, const char *cand_key)
{
	switch (d->verdict) {
	case BOT_SEND:
		p->stats->send++;
		break;
	case BOT_SKIP:
		p->stats->skip++;
		break;
	case BOT_WAIT:
		p->stats->wait++;
		break;
	}
	log_debug("bot.decision", "bot=%s candidate=%s verdict=%s reason=%s detail=%s",
		  p->b->name, cand_key,
		  d->verdict == BOT_SEND ? "send" : d->verdict == BOT_SKIP ? "skip" : "wait",
		  d->reason, buf_cstr(&d->detail));
	if (!p->o->report)
		return;
	struct botpass_entry e = {
		.candidate = cand_key,
		.msgid = si ? si->root_msgid : c->msgid,
		.subject = si ? si->subject : c->subject,
		.author_name = si ? si->author_name : c->author_name,
		.author_email = si ? si->author_email : c->author_email,
		.date = si ? si->date : c->date,
		.verdict = d->verdict,
		.reason = d->reason,
		.detail = buf_cstr(&d->detail),
		.dry_run = p->set.dry_run,
	};
	if (pl && pl->send) {
		e.to = pl->recipient;
		e.in_reply_to = pl->in_reply_to;
		e.message_id = pl->msgid;
		e.message = pl->raw;
	}
	p->o->report(p->o->report_ctx, &e);
}

static int decide_all(struct pass *p, struct err *err)
{
	struct cand *cs = NULL;
	size_t n = 0;
	int rc = -1;
	if (store_begin_read(p->st, err) < 0)
		return -1;
	{
		/* the rate window: messages planned within rate-period that count */
		char lb[32], dr[2] = { p->set.dry_run ? '1' : '0', 0 };
		snprintf(lb, sizeof(lb), "%lld", (long long)(p->now - p->set.rate_period));
		if (store_query_int(p->st,
				    "SELECT COUNT(*) FROM bot_messages WHERE bot = ? AND "
				    "planned_unix > CAST(? AS INTEGER) AND state NOT IN "
				    "('cancelled', 'expired') AND (dry_run = 0 OR ? = '1')",
				    &p->rate_used, err, 3, p->b->name, lb, dr) < 0)
			goto out;
	}
	if (load_candidates(p, &cs, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct cand *c = &cs[i];
		struct bot_decision d;
		struct series_info si;
		struct buf key = BUF_INIT;
		int have_si = 0;
		bot_decision_init(&d);
		p->stats->considered++;
		if (!c->series_rid) {
			buf_addf(&key, "mail:%s", c->msgid);
			if (!strcmp(c->kind, "pull"))
				bot_decide(&d, BOT_SKIP, "pull",
					   "a pull request, not a patch series");
			else
				bot_decide(&d, BOT_SKIP, "reply",
					   "a reply (\"%s\") that carries a patch: not a new "
					   "top-level series",
					   c->subject ? c->subject : "");
		} else {
			int g = series_get_rid(p->st, c->series_rid, &si, err);
			if (g < 0) {
				buf_free(&key);
				bot_decision_free(&d);
				goto out;
			}
			if (g == 0) { /* removed meanwhile */
				buf_free(&key);
				bot_decision_free(&d);
				p->stats->considered--;
				continue;
			}
			have_si = 1;
			buf_addf(&key, "series:%s", si.root_msgid);
			if (eval_series(p, &si, &d, err) < 0) {
				series_info_free(&si);
				buf_free(&key);
				bot_decision_free(&d);
				goto out;
			}
		}
		struct plan *pl = NULL;
		if (d.verdict != BOT_WAIT) {
			pl = plan_new(p);
			pl->candidate = xstrdup(key.ptr);
			pl->reason = xstrdup(d.reason);
			pl->detail = xstrdup(buf_cstr(&d.detail));
			pl->send = d.verdict == BOT_SEND;
		}
		if (pl && pl->send) {
			struct buf mid = BUF_INIT, raw = BUF_INIT;
			char *low = botmsg_addr_lower(si.author_email);
			if (render(p, &si, &d, low, &mid, &raw, err) < 0) {
				free(low);
				buf_free(&mid);
				buf_free(&raw);
				series_info_free(&si);
				buf_free(&key);
				bot_decision_free(&d);
				goto out;
			}
			pl->root = xstrdup(si.root_msgid);
			pl->in_reply_to = xstrdup(si.first_msgid);
			pl->version_key = dup_or_null(si.version_key);
			pl->recipient = low;
			pl->msgid = buf_detach(&mid);
			pl->raw = buf_detach(&raw);
			p->pend = xrealloc(p->pend, (p->npend + 1) * sizeof(*p->pend));
			p->pend[p->npend++] = (struct pending){ pl->recipient, pl->version_key,
								pl->root, pl->msgid };
		}
		report(p, c, have_si ? &si : NULL, &d, pl, key.ptr);
		if (have_si)
			series_info_free(&si);
		buf_free(&key);
		bot_decision_free(&d);
	}
	rc = 0;
out:
	store_rollback(p->st);
	for (size_t i = 0; i < n; i++)
		cand_free(&cs[i]);
	free(cs);
	return rc;
}

/* --- plan: decisions and messages in one transaction --- */

static int plan_commit(struct pass *p, struct err *err)
{
	char now[32];
	now_text(p->now, now);
	if (!p->nplans)
		return 0;
	if (store_begin(p->st, err) < 0)
		return -1;
	for (size_t i = 0; i < p->nplans; i++) {
		struct plan *pl = &p->plans[i];
		if (exec_args(p->st, err,
			      "INSERT INTO bot_decisions (bot, candidate, decision, reason, detail, "
			      "message_id, decided) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, "
			      "candidate) DO NOTHING",
			      "sssssss", p->b->name, pl->candidate, pl->send ? "send" : "skip",
			      pl->reason, pl->detail, pl->msgid, now) < 0)
			goto fail;
		if (!pl->send)
			continue;
		if (exec_args(p->st, err,
			      "INSERT INTO bot_messages (bot, msgid, candidate, root_msgid, "
			      "in_reply_to, version_key, recipient, state, dry_run, raw, planned, "
			      "planned_unix) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?) ON "
			      "CONFLICT (msgid) DO NOTHING",
			      "sssssssissi", p->b->name, pl->msgid, pl->candidate, pl->root,
			      pl->in_reply_to, pl->version_key, pl->recipient,
			      (int64_t)p->set.dry_run, pl->raw, now, p->now) < 0)
			goto fail;
		if (store_changes(p->st))
			p->stats->planned++;
	}
	if (store_commit(p->st, err) < 0)
		goto fail;
	crash_point("planned");
	return 0;
fail:
	store_rollback(p->st);
	return err_prefix(err, "bot %s: recording decisions", p->b->name);
}

/* --- record: planned messages into the outbox (or dry-run) feed --- */

static int record_feed(struct pass *p, int dry, struct err *err)
{
	struct store_stmt *s;
	int64_t *rids = NULL;
	size_t n = 0;
	int rc = -1;
	struct feed_writer *w = NULL;
	struct buf dir = BUF_INIT, name = BUF_INIT, desc = BUF_INIT;
	if (store_prepare(p->st, &s,
			  "SELECT rid, msgid, raw FROM bot_messages WHERE bot = ? AND state = "
			  "'planned' AND dry_run = ? ORDER BY rid",
			  err) < 0)
		return -1;
	store_bind_text(s, 1, p->b->name, -1);
	store_bind_int(s, 2, dry);
	int r = 0, bad = 0;
	while (!bad && (r = store_step(s, err)) == STORE_ROW) {
		if (!w) {
			botpass_dir(p->o->datadir, p->b->name, dry ? "dry-run" : "outbox", &dir);
			buf_addf(&name, "cifeed %s", p->b->name);
			buf_addf(&desc, dry ? "Mail the cifeed bot %s would have sent (dry-run)"
					    : "Mail sent by the cifeed bot %s",
				 p->b->name);
			struct feed_writer_opts fo = { .name = name.ptr,
						       .address = p->set.from_addr,
						       .description = desc.ptr };
			if (feed_writer_open(&w, dir.ptr, &fo, err) < 0) {
				w = NULL;
				bad = 1;
				break;
			}
		}
		size_t len;
		const char *raw = store_col_text(s, 2, &len);
		if (feed_writer_add(w, raw, len, NULL, err) < 0) {
			bad = 1;
			break;
		}
		rids = xrealloc(rids, (n + 1) * sizeof(*rids));
		rids[n++] = store_col_int(s, 0);
	}
	store_finalize(s);
	if (bad || r < 0)
		goto out;
	if (!n) {
		rc = 0;
		goto out;
	}
	if (feed_writer_flush(w, err) < 0)
		goto out;
	crash_point("recorded");
	char now[32];
	now_text(p->now, now);
	if (store_begin(p->st, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (exec_args(p->st, err,
			      "UPDATE bot_messages SET state = ?, recorded = ? WHERE rid = ? AND "
			      "state = 'planned'",
			      "ssi", dry ? "dry-run" : "recorded", now, rids[i]) < 0) {
			store_rollback(p->st);
			goto out;
		}
	if (store_commit(p->st, err) < 0)
		goto out;
	if (dry)
		p->stats->dry_run += n;
	else
		p->stats->recorded += n;
	rc = 0;
out:
	if (w)
		feed_writer_close(w);
	if (rc < 0)
		err_prefix(err, "bot %s: writing %s", p->b->name, dir.len ? dir.ptr : "the outbox");
	free(rids);
	buf_free(&dir);
	buf_free(&name);
	buf_free(&desc);
	return rc;
}

/* --- send --- */

struct sending {
	struct pass *p;
	int64_t rid;
	int failed;
	struct err err;
};

static int set_state(struct pass *p, int64_t rid, const char *state, const char *error,
		     const char *reply, struct err *err)
{
	char now[32];
	now_text(p->now, now);
	int fin = !strcmp(state, "sent") || !strcmp(state, "rejected") ||
		  !strcmp(state, "cancelled") || !strcmp(state, "expired") ||
		  !strcmp(state, "unconfirmed");
	return exec_args(p->st, err,
			 "UPDATE bot_messages SET state = ?, last_error = COALESCE(?, last_error), "
			 "smtp_reply = COALESCE(?, smtp_reply), finished = CASE WHEN ? = 1 THEN ? "
			 "ELSE finished END WHERE rid = ?",
			 "sssisi", state, error, reply, (int64_t)fin, now, rid);
}

static int before_eob(void *ctx)
{
	struct sending *sd = ctx;
	int64_t now = (int64_t)time(NULL);
	if (exec_args(sd->p->st, &sd->err,
		      "UPDATE bot_messages SET state = 'submitted', submitted_unix = ? WHERE rid = ?",
		      "ii", now, sd->rid) < 0) {
		sd->failed = 1;
		return -1; /* abort: nothing is accepted, the row stays 'sending' */
	}
	crash_point("submitted");
	return 0;
}

static int64_t backoff(int64_t attempts)
{
	int64_t d = 300;
	for (int64_t i = 1; i < attempts && d < 6 * 3600; i++)
		d *= 2;
	return d > 6 * 3600 ? 6 * 3600 : d;
}

static int send_one(struct pass *p, int64_t rid, const char *msgid, const char *raw, size_t len,
		    const char *rcpt, int64_t attempts, int *stop_sending, struct err *err)
{
	if (exec_args(p->st, err,
		      "UPDATE bot_messages SET state = 'sending', attempts = attempts + 1 WHERE rid "
		      "= ?",
		      "i", rid) < 0)
		return -1;
	crash_point("sending");
	static int curl_ready;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = 1;
	}
	struct smtp_opts so = {
		.url = p->set.smtp_url,
		.starttls = p->set.smtp_starttls,
		.ca_file = p->set.smtp_ca_file,
		.user = p->set.smtp_user,
		.password = p->set.smtp_password,
	};
	const char *rl[2] = { rcpt, p->set.from_addr };
	size_t nr = p->set.copy_self && p->set.mailbox ? 2 : 1;
	struct sending sd = { p, rid, 0, ERR_INIT };
	struct smtp_result res;
	smtp_send(&so, p->set.from_addr, rl, nr, raw, len, before_eob, &sd, &res);
	if (sd.failed) {
		err_set(err, ERR_DB, "%s", err_msg(&sd.err));
		err_free(&sd.err);
		return -1;
	}
	err_free(&sd.err);
	char code[16];
	snprintf(code, sizeof(code), "%ld", res.code);
	int r = 0;
	p->now = (int64_t)time(NULL) > p->now ? (int64_t)time(NULL) : p->now;
	switch (res.outcome) {
	case SMTP_ACCEPTED:
		crash_point("accepted");
		r = set_state(p, rid, "sent", NULL, code, err);
		p->stats->sent++;
		log_info("bot.sent", "bot=%s msgid=%s to=%s smtp=%ld", p->b->name, msgid, rcpt,
			 res.code);
		break;
	case SMTP_REFUSED:
		if (res.permanent) {
			r = set_state(p, rid, "rejected", res.text, code, err);
			p->stats->rejected++;
			log_warn("bot.rejected", "bot=%s msgid=%s to=%s error=%s", p->b->name, msgid,
				 rcpt, res.text);
		} else {
			r = exec_args(p->st, err,
				      "UPDATE bot_messages SET state = 'failed', next_attempt = ?, "
				      "last_error = ?, smtp_reply = ? WHERE rid = ?",
				      "issi", p->now + backoff(attempts + 1), res.text, code, rid);
			p->stats->failed++;
			log_warn("bot.send_failed", "bot=%s msgid=%s to=%s attempt=%lld error=%s",
				 p->b->name, msgid, rcpt, (long long)(attempts + 1), res.text);
			/* no answer at all: the server is unreachable, try the rest later */
			if (res.code == 0)
				*stop_sending = 1;
		}
		break;
	case SMTP_UNKNOWN:
		if (p->set.mailbox && p->set.copy_self) {
			r = exec_args(p->st, err,
				      "UPDATE bot_messages SET last_error = ? WHERE rid = ?", "si",
				      res.text, rid); /* stays 'submitted': the mailbox will tell */
		} else {
			r = set_state(p, rid, "unconfirmed", res.text, code, err);
			p->stats->unconfirmed++;
		}
		log_warn("bot.send_unknown", "bot=%s msgid=%s to=%s error=%s", p->b->name, msgid,
			 rcpt, res.text);
		*stop_sending = 1;
		break;
	}
	return r;
}

static int send_due(struct pass *p, struct err *err)
{
	int stop_sending = 0;
	int64_t last = 0;
	struct buf why = BUF_INIT;
	while (!stop_sending && !(p->o->stop && *p->o->stop)) {
		struct store_stmt *s;
		if (store_prepare(p->st, &s,
				  "SELECT rid, msgid, raw, recipient, attempts, planned_unix FROM "
				  "bot_messages WHERE bot = ? AND dry_run = 0 AND rid > ? AND (state "
				  "= 'recorded' OR (state = 'failed' AND next_attempt <= ?)) ORDER BY "
				  "rid LIMIT 1",
				  err) < 0)
			goto fail;
		store_bind_text(s, 1, p->b->name, -1);
		store_bind_int(s, 2, last);
		store_bind_int(s, 3, p->now);
		int r = store_step(s, err);
		if (r != STORE_ROW) {
			store_finalize(s);
			if (r < 0)
				goto fail;
			break;
		}
		int64_t rid = store_col_int(s, 0), attempts = store_col_int(s, 4),
			planned = store_col_int(s, 5);
		char *msgid = store_col_dup(s, 1), *rcpt = store_col_dup(s, 3);
		size_t len;
		const char *raw0 = store_col_text(s, 2, &len);
		char *raw = xstrndup(raw0, len);
		store_finalize(s);
		last = rid;
		buf_reset(&why);
		int o = opted_out(p, rcpt, &why, err);
		if (o > 0) {
			r = set_state(p, rid, "cancelled", why.ptr, NULL, err);
			p->stats->cancelled++;
		} else if (o == 0 && p->now - planned > p->set.max_delay) {
			r = set_state(p, rid, "expired", "not sent within max-delay", NULL, err);
			p->stats->expired++;
		} else if (o == 0) {
			r = send_one(p, rid, msgid, raw, len, rcpt, attempts, &stop_sending, err);
		} else {
			r = -1;
		}
		free(msgid);
		free(rcpt);
		free(raw);
		if (r < 0)
			goto fail;
	}
	buf_free(&why);
	return 0;
fail:
	buf_free(&why);
	return err_prefix(err, "bot %s: sending", p->b->name);
}

/* --- recovery --- */

static int recover(struct pass *p, struct err *err)
{
	int64_t n = 0;
	struct store_stmt *s;
	/* 'sending': the end of data never left, so nothing was accepted */
	if (exec_args(p->st, err,
		      "UPDATE bot_messages SET state = 'recorded', last_error = 'interrupted before "
		      "the end of data; resending' WHERE bot = ? AND state = 'sending'",
		      "s", p->b->name) < 0)
		return -1;
	n = store_changes(p->st);
	if (n) {
		p->stats->recovered += (size_t)n;
		log_warn("bot.recovered", "bot=%s state=sending messages=%lld action=resend",
			 p->b->name, (long long)n);
	}
	/* 'submitted': the server may have it */
	if (store_prepare(p->st, &s,
			  "SELECT rid, msgid, submitted_unix FROM bot_messages WHERE bot = ? AND "
			  "state = 'submitted' ORDER BY rid",
			  err) < 0)
		return -1;
	store_bind_text(s, 1, p->b->name, -1);
	int64_t *rids = NULL, *when = NULL;
	size_t k = 0;
	int r;
	while ((r = store_step(s, err)) == STORE_ROW) {
		rids = xrealloc(rids, (k + 1) * sizeof(*rids));
		when = xrealloc(when, (k + 1) * sizeof(*when));
		rids[k] = store_col_int(s, 0);
		when[k++] = store_col_int(s, 2);
	}
	store_finalize(s);
	for (size_t i = 0; r >= 0 && i < k; i++) {
		if (p->set.mailbox && p->set.copy_self) {
			if (p->now - when[i] < p->set.confirm_wait)
				continue; /* its copy may still be on the way */
			r = exec_args(p->st, err,
				      "UPDATE bot_messages SET state = 'recorded', last_error = "
				      "'no copy in the mailbox after confirm-wait; resending' WHERE "
				      "rid = ? AND state = 'submitted'",
				      "i", rids[i]);
			p->stats->resent++;
			log_warn("bot.recovered", "bot=%s state=submitted rid=%lld action=resend",
				 p->b->name, (long long)rids[i]);
		} else {
			r = set_state(p, rids[i], "unconfirmed",
				      "interrupted after the end of data; not resent (at most once)",
				      NULL, err);
			p->stats->unconfirmed++;
			log_warn("bot.recovered",
				 "bot=%s state=submitted rid=%lld action=unconfirmed", p->b->name,
				 (long long)rids[i]);
		}
	}
	free(rids);
	free(when);
	return r < 0 ? -1 : 0;
}

/* --- the bot's mailbox --- */

/* 1: handled (caller may mark it seen), 0: nothing to do, -1: error */
static int inbox_one(struct pass *p, const char *raw, size_t len, struct err *err)
{
	struct mail m;
	mail_parse(raw, len, &m);
	int rc = 0;
	if (!m.message_id)
		goto out;
	int64_t seen = 0;
	if (store_query_int(p->st, "SELECT COUNT(*) FROM bot_inbox WHERE bot = ? AND msgid = ?",
			    &seen, err, 2, p->b->name, m.message_id) < 0) {
		rc = -1;
		goto out;
	}
	if (seen) {
		rc = 1;
		goto out;
	}
	char now[32];
	now_text(p->now, now);
	char *from = m.from_email ? botmsg_addr_lower(m.from_email) : NULL;
	const char *action = "ignored";
	char *recipient = NULL, *answered = NULL;
	if (store_begin(p->st, err) < 0) {
		free(from);
		rc = -1;
		goto out;
	}
	int64_t own = 0;
	if (store_query_int(p->st, "SELECT COUNT(*) FROM bot_messages WHERE bot = ? AND msgid = ?",
			    &own, err, 2, p->b->name, m.message_id) < 0)
		goto fail;
	if (own) {
		action = "copy";
		if (exec_args(p->st, err,
			      "UPDATE bot_messages SET state = 'sent', finished = ?, last_error = "
			      "'confirmed by the copy in the mailbox' WHERE bot = ? AND msgid = ? AND "
			      "state IN ('submitted', 'unconfirmed')",
			      "sss", now, p->b->name, m.message_id) < 0)
			goto fail;
		if (store_changes(p->st)) {
			p->stats->confirmed++;
			log_info("bot.confirmed", "bot=%s msgid=%s", p->b->name, m.message_id);
		}
	} else {
		/* a reply to one of our messages? */
		size_t nref = m.nreferences + (m.in_reply_to ? 1 : 0);
		for (size_t i = 0; i < nref && !recipient; i++) {
			const char *id = i < m.nreferences ? m.references[i] : m.in_reply_to;
			struct store_stmt *s;
			if (store_prepare(p->st, &s,
					  "SELECT recipient FROM bot_messages WHERE bot = ? AND "
					  "msgid = ?",
					  err) < 0)
				goto fail;
			store_bind_text(s, 1, p->b->name, -1);
			store_bind_text(s, 2, id, -1);
			int r = store_step(s, err);
			if (r == STORE_ROW) {
				recipient = store_col_dup(s, 0);
				answered = xstrdup(id);
			}
			store_finalize(s);
			if (r < 0)
				goto fail;
		}
		int automated = m.auto_submitted && strcmp(m.auto_submitted, "no");
		int stop = botmsg_is_stop(&m);
		if (automated) {
			action = "auto-reply";
		} else if (stop && (recipient || nref == 0) && from) {
			action = "stop";
			if (botpass_optout_add(p->st, p->b->name, from, "reply", m.message_id, err) <
				    0 ||
			    (recipient && strcmp(recipient, from) &&
			     botpass_optout_add(p->st, p->b->name, recipient, "reply",
						m.message_id, err) < 0))
				goto fail;
			p->stats->optouts++;
			log_info("bot.opt_out", "bot=%s from=%s recipient=%s reply=%s", p->b->name,
				 from, recipient ? recipient : "-", m.message_id);
		} else if (recipient) {
			log_info("bot.reply", "bot=%s from=%s msgid=%s answers=%s", p->b->name,
				 from ? from : "-", m.message_id, answered);
		}
		if (recipient)
			p->stats->replies++;
	}
	if (exec_args(p->st, err,
		      "INSERT INTO bot_inbox (bot, msgid, action, from_addr, seen) VALUES (?, ?, ?, "
		      "?, ?) ON CONFLICT (bot, msgid) DO NOTHING",
		      "sssss", p->b->name, m.message_id, action, from, now) < 0)
		goto fail;
	if (store_commit(p->st, err) < 0)
		goto fail;
	rc = 1;
	free(from);
	free(recipient);
	free(answered);
	goto out;
fail:
	store_rollback(p->st);
	free(from);
	free(recipient);
	free(answered);
	rc = -1;
out:
	mail_free(&m);
	return rc;
}

static int inbox_maildir(struct pass *p, const char *dir, struct err *err)
{
	struct buf nd = BUF_INIT, f = BUF_INIT, to = BUF_INIT, msg = BUF_INIT;
	buf_addf(&nd, "%s/new", dir);
	DIR *d = opendir(nd.ptr);
	int rc = 0;
	if (!d) {
		if (errno != ENOENT)
			rc = err_errno(err, ERR_IO, "mailbox %s", nd.ptr);
		goto out;
	}
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&f);
		buf_reset(&msg);
		buf_addf(&f, "%s/%s", nd.ptr, names[i]);
		if (buf_read_file(&msg, f.ptr, MAILBOX_MSG_MAX) < 0) {
			if (errno == ENOENT)
				continue; /* taken by someone else meanwhile */
			log_warn("bot.mailbox", "bot=%s file=%s error=%s", p->b->name, f.ptr,
				 strerror(errno));
			continue;
		}
		int r = inbox_one(p, msg.ptr, msg.len, err);
		if (r < 0) {
			rc = -1;
			break;
		}
		/* seen: new/NAME -> cur/NAME:2,S (maildir's "read") */
		buf_reset(&to);
		buf_addf(&to, "%s/cur/%s%s", dir, names[i], strchr(names[i], ':') ? "" : ":2,S");
		if (rename(f.ptr, to.ptr) < 0 && errno != ENOENT)
			log_warn("bot.mailbox", "bot=%s file=%s error=%s", p->b->name, f.ptr,
				 strerror(errno));
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
out:
	buf_free(&nd);
	buf_free(&f);
	buf_free(&to);
	buf_free(&msg);
	return rc;
}

static int inbox_mbox(struct pass *p, const char *path, struct err *err)
{
	struct buf data = BUF_INIT;
	if (buf_read_file(&data, path, 1u << 30) < 0) {
		int e = errno;
		buf_free(&data);
		if (e == ENOENT)
			return 0;
		errno = e;
		return err_errno(err, ERR_IO, "mailbox %s", path);
	}
	struct mbox_iter it;
	const char *m;
	size_t len;
	int rc = 0;
	mbox_iter_init(&it, data.ptr, data.len);
	while (mbox_next(&it, &m, &len))
		if (inbox_one(p, m, len, err) < 0) {
			rc = -1;
			break;
		}
	mbox_iter_free(&it);
	buf_free(&data);
	return rc;
}

static int inbox(struct pass *p, struct err *err)
{
	struct stat sb;
	if (!p->set.mailbox)
		return 0;
	int r;
	if (stat(p->set.mailbox, &sb) == 0 && S_ISDIR(sb.st_mode))
		r = inbox_maildir(p, p->set.mailbox, err);
	else
		r = inbox_mbox(p, p->set.mailbox, err);
	return r < 0 ? err_prefix(err, "bot %s", p->b->name) : 0;
}

/* ------------------------------------------------------------ run */

int botpass_run(struct store *st, const struct bot *b, const struct botpass_opts *o,
		struct botpass_stats *stats, struct err *err)
{
	struct pass p;
	memset(&p, 0, sizeof(p));
	memset(stats, 0, sizeof(*stats));
	p.st = st;
	p.b = b;
	p.o = o;
	p.stats = stats;
	p.lock_fd = -1;
	p.now = o->now ? o->now : (int64_t)time(NULL);
	int rc = -1, inited = 0;
	if (!o->report_only && !config_get_bool(o->cfg, "bot", b->name, "enabled", 0))
		return err_set(err, ERR_CONFIG,
			       "%s: bot %s is disabled: set [bot \"%s\"] enabled = true (dry-run = "
			       "true keeps it from sending), or use --dry-run for a report",
			       o->cfg->path, b->name, b->name);
	if (bot_settings_load(b, o->cfg, !o->report_only, &p.set, err) < 0)
		return -1;
	p.eff = p.set.dry_run ? "state NOT IN ('cancelled', 'expired')"
			      : "state NOT IN ('cancelled', 'expired', 'dry-run')";
	if (b->init(o->cfg, &p.priv, err) < 0)
		goto out;
	inited = 1;
	if (p.set.optout_file && botmsg_optlist_read(p.set.optout_file, &p.opt, err) < 0)
		goto out;
	if (!o->report_only) {
		if (lock_take(&p, err) < 0)
			goto out;
		if (inbox(&p, err) < 0 || recover(&p, err) < 0)
			goto out;
	}
	if (decide_all(&p, err) < 0)
		goto out;
	if (!o->report_only) {
		if (plan_commit(&p, err) < 0)
			goto out;
		/* planned rows of earlier, interrupted passes are recorded here too */
		if (record_feed(&p, 1, err) < 0 || record_feed(&p, 0, err) < 0)
			goto out;
		if (!p.set.dry_run && send_due(&p, err) < 0)
			goto out;
	}
	rc = 0;
out:
	lock_release(&p);
	if (inited && b->fini)
		b->fini(p.priv);
	botmsg_optlist_free(&p.opt);
	for (size_t i = 0; i < p.nplans; i++)
		plan_free(&p.plans[i]);
	free(p.plans);
	free(p.pend);
	bot_settings_free(&p.set);
	return rc;
}
