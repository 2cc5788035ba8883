/*
 * bot.h - bots that answer patch series by private mail.
 *
 * Each bot is one file in bots/ exporting one `const struct bot`, listed in
 * bots/registry.c, configured by a [bot "NAME"] section, in the manner of
 * curl's protocol handlers: the engine (core/botpass.h) never names a bot.
 *
 * The engine owns everything every mail bot must get right, so a bot cannot
 * get it wrong: which series are candidates, the structural skip rules
 * (replies, pulls, bot mail, Auto-Submitted mail, RFCs, incomplete or
 * still-arriving series), opt-outs, one message per sender per period and
 * per series whatever its version, the global rate limit, the "I am a bot"
 * footer, the outbox feed written before any SMTP, and the send-state
 * machine.  A bot supplies only what is its own:
 *
 *   consider  cheap content rules on a complete series that passed the
 *             structural rules (basenag: "has base information")
 *   check     expensive rules, run only for a series every other rule
 *             would answer (basenag: guess-base against local git trees)
 *   render    the text of the message, greeting to sign-off; the engine
 *             adds the headers and the footer
 *
 * A decision is SEND or SKIP with a short rule code ("has-base") and one
 * line of detail for the dry-run report; WAIT (not final: the candidate is
 * considered again on the next pass) is the engine's.
 *
 * Threading: a bot's hooks run on the thread running the pass (a worker in
 * `cifeed serve`), with the pass's store connection; `priv` is the bot's
 * own digested configuration from init, freed by fini.
 */
#ifndef CIFEED_BOT_H
#define CIFEED_BOT_H

#include "buf.h"
#include "config.h"
#include "err.h"
#include "series.h"
#include "store.h"

enum bot_verdict { BOT_SEND, BOT_SKIP, BOT_WAIT };

struct bot_decision {
	enum bot_verdict verdict;
	const char *reason; /* rule code (static string): "has-base", "opted-out" ... */
	struct buf detail;  /* one line for people: why */
	struct buf note;    /* SEND: what the bot found worth saying (e.g. a guessed base) */
};

void bot_decision_init(struct bot_decision *d);
void bot_decision_free(struct bot_decision *d);
/* Set verdict and reason, replace the detail (printf). Returns 0. */
int bot_decide(struct bot_decision *d, enum bot_verdict v, const char *reason, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

struct bot {
	const char *name;
	const char *summary; /* one line: what it sends and why */
	/* beyond enabled / dry-run: BOT_MAIL_CONFIG_KEYS (the engine's) + the bot's own */
	const struct config_key *config_keys;
	/* digest [bot "NAME"] (already validated); *priv is handed to every hook */
	int (*init)(const struct config *cfg, void **priv, struct err *err);
	void (*fini)(void *priv);
	int (*consider)(void *priv, struct store *st, const struct series_info *s,
			struct bot_decision *d, struct err *err);
	/* optional; NULL means no expensive rules */
	int (*check)(void *priv, struct store *st, const struct series_info *s,
		     struct bot_decision *d, struct err *err);
	/*
	 * Append the text/plain body (UTF-8, LF) up to but not including the
	 * signature separator; `d` is the SEND decision (its note included).
	 */
	int (*render)(void *priv, const struct series_info *s, const struct bot_decision *d,
		      struct buf *body, struct err *err);
};

/*
 * The engine's configuration keys, shared by every mail bot (documented in
 * core/botpass.h); a bot's config_keys start with them.
 */
#define BOT_MAIL_CONFIG_KEYS                                                                     \
	{ "from", CFG_STRING, "From: of the bot's mail, \"Name <address>\" (required to send)" }, \
	{ "smtp", CFG_URL, "SMTP server, smtp://host:port or smtps://host:port" },               \
	{ "smtp-starttls", CFG_BOOL,                                                             \
	  "require STARTTLS on smtp:// (default true, false for a loopback host)" },              \
	{ "smtp-ca-file", CFG_PATH, "CA bundle for the SMTP server's certificate (default: system)" }, \
	{ "smtp-user", CFG_STRING, "SMTP AUTH user name" },                                      \
	{ "smtp-token-file", CFG_PATH, "file holding the SMTP AUTH password" },                  \
	{ "smtp-token-env", CFG_STRING, "environment variable holding the SMTP AUTH password" }, \
	{ "opt-out-file", CFG_PATH, "addresses never to mail, one per line, # comments" },      \
	{ "mailbox", CFG_PATH,                                                                   \
	  "Maildir or mbox receiving mail to the From address: \"stop\" replies, own copies" },  \
	{ "copy-self", CFG_BOOL,                                                                 \
	  "also send each message to the From address to confirm it (default true with mailbox)" }, \
	{ "confirm-wait", CFG_DURATION,                                                          \
	  "how long an unconfirmed send may take to show up in the mailbox (default 10m)" },    \
	{ "period", CFG_DURATION, "at most one message per sender per period (default 90d)" },   \
	{ "period-series", CFG_INT,                                                              \
	  "... and not before the sender posted this many more series (default 5)" },            \
	{ "rate-limit", CFG_INT, "at most this many messages per rate-period (default 25)" },     \
	{ "rate-period", CFG_DURATION, "window of the rate limit (default 1d)" },                \
	{ "rfc", CFG_BOOL, "answer RFC series too (default false)" },                            \
	{ "settle", CFG_DURATION, "quiet time after a series' last message (default 30m)" },     \
	{ "max-wait", CFG_DURATION, "give up on an incomplete series after this (default 2d)" }, \
	{ "max-age", CFG_DURATION, "ignore series dated before now minus this (default 7d)" },   \
	{ "max-delay", CFG_DURATION, "never send a message planned longer ago (default 2d)" },   \
	{ "interval", CFG_DURATION, "time between passes in cifeed serve (default 5m)" },        \
	{ "docs-url", CFG_URL, "page explaining the bot and how to opt out (footer)" },          \
	{ "ignore-sender", CFG_STRING,                                                           \
	  "more bot senders to leave alone (address, * globs; multi-valued)" }

extern const struct bot *const bots[];
extern const size_t bots_count;

const struct bot *bot_find(const char *name);
/* Config keys of a bot, or NULL for an unknown bot. */
const struct config_key *bot_config_keys(const char *name);

#endif
