/*
 * botpass.h - one pass of a mail bot (bots/bot.h): decide, record, send.
 *
 * A pass, holding DATADIR/bots/NAME/lock (one pass per bot at a time,
 * across processes):
 *   1. mailbox   read new mail to the bot's From address (`mailbox`): copies
 *                of its own messages confirm sends; "stop" replies to its
 *                messages opt their sender (and the original recipient) out
 *   2. recover   messages a crash left 'sending' go back to 'recorded' (the
 *                end of data never left, nothing was accepted); 'submitted'
 *                ones are confirmed from the mailbox, or after confirm-wait
 *                resent, or, with no mailbox, marked 'unconfirmed'
 *   3. decide    every candidate - series dated within max-age (or since
 *                --since) without a final decision, plus pulls and replies
 *                carrying patches that intake saw (bot_mail) - goes through
 *                the rules below, in order; the first rule that applies is
 *                the decision and its reason
 *   4. plan      final decisions and the rendered messages ('planned') are
 *                written in ONE transaction
 *   5. record    planned messages are appended to the bot's outbox feed
 *                DATADIR/bots/NAME/outbox (or, in dry-run mode, to
 *                DATADIR/bots/NAME/dry-run), public-inbox v2, flushed; then
 *                marked 'recorded' (or 'dry-run')
 *   6. send      unless in dry-run mode: each 'recorded' (or due 'failed')
 *                message goes through SMTP (smtp.h) with the state machine
 *                of schema/migrations/0050_bots.sql
 *
 * Rules (reason codes, in order; WAIT is not final, the candidate comes back):
 *   pull            a [GIT PULL] / [PULL] mail                         SKIP
 *   reply           Re: mail carrying a patch, or a series whose first
 *                   message answers a message outside the series        SKIP
 *   automated       Auto-Submitted other than "no", or a bot header      SKIP
 *   bot-sender      From a known bot (botmsg.h) or an ignore-sender      SKIP
 *   rfc             an RFC series and `rfc` is off                       SKIP
 *   incomplete      parts missing: WAIT up to max-wait, then SKIP
 *   settling        a message arrived less than `settle` ago             WAIT
 *   (bot consider)  e.g. has-base                                        SKIP
 *   no-address      the author cannot be written to privately            SKIP
 *   opted-out       opt-out file, a "stop" reply, cifeed bot opt-out     SKIP
 *   already-nagged  this series already has a message                    SKIP
 *   version-nagged  another version has one (b4 change-id, else subject
 *   resend-nagged   stem + sender); RESEND wording for a RESEND          SKIP
 *   sender-period   the sender had one less than `period` ago, or posted
 *                   fewer than `period-series` series since              SKIP
 *   (bot check)     e.g. applies-at-tip                                  SKIP
 *   rate-limit      `rate-limit` messages planned in `rate-period`       WAIT
 *   (bot's SEND reason, e.g. no-base)                                    SEND
 * Decisions made earlier in the same pass count for the rules after them
 * (the sender and rate rules see this pass's messages), in the report too.
 *
 * Exactly once: the Message-ID is a function of (bot, series, recipient)
 * and the raw message is stored at planning, so a resend is byte-identical
 * and a receiver (or public-inbox) can drop a duplicate by Message-ID.  The
 * state 'submitted' is committed from curl's read callback just before the
 * end of data goes out, so a crash before it can never have delivered and
 * is resent, and a crash after it is the one window where the server may
 * have accepted the message without the answer being recorded:
 *   - with `mailbox` (and copy-self, the default), the copy sent to the
 *     bot's own address settles it: found -> 'sent'; not found after
 *     confirm-wait -> resent (at least once: a copy delayed longer than
 *     confirm-wait gives the recipient a second mail with the same id);
 *   - without, the message becomes 'unconfirmed' and is not resent (at most
 *     once: a crash in the ~1 RTT between the end of data and the answer
 *     can lose that one message).
 *
 * Threading: blocking (SQLite, git, SMTP); run it off the event loop.
 */
#ifndef CIFEED_BOTPASS_H
#define CIFEED_BOTPASS_H

#include <stddef.h>
#include <stdint.h>

#include "bot.h"
#include "buf.h"
#include "config.h"
#include "err.h"
#include "mail.h"
#include "patchmail.h"
#include "store.h"

/* The engine's settings of one [bot "NAME"] (BOT_MAIL_CONFIG_KEYS). */
struct bot_settings {
	int enabled, dry_run;
	char *from_name, *from_addr, *from_domain;
	char *smtp_url, *smtp_ca_file, *smtp_user, *smtp_password;
	int smtp_starttls;
	char *optout_file, *mailbox, *docs_url;
	int copy_self, rfc;
	int64_t confirm_wait, period, period_series, rate_limit, rate_period;
	int64_t settle, max_wait, max_age, max_delay, interval;
	const char **ignore; /* into the config */
	size_t nignore;
};

/*
 * Read the settings of bot `b` from a validated config.  With `for_mail`
 * (a real pass) `from` is required, `smtp` too unless in dry-run mode, and
 * the SMTP password is read (token file or environment) and registered as
 * a log secret.  Returns 0 or -1 with an ERR_CONFIG naming the key.
 */
int bot_settings_load(const struct bot *b, const struct config *cfg, int for_mail,
		      struct bot_settings *s, struct err *err);
void bot_settings_free(struct bot_settings *s);

/* DATADIR/bots/NAME[/sub] */
void botpass_dir(const char *datadir, const char *bot, const char *sub, struct buf *out);

/* One decision, as the report shows it (valid during the callback only). */
struct botpass_entry {
	const char *candidate; /* "series:<root msgid>" or "mail:<msgid>" */
	const char *msgid;     /* the series' root or the mail */
	const char *subject, *author_name, *author_email, *date;
	enum bot_verdict verdict;
	const char *reason, *detail;
	/* SEND */
	const char *to, *in_reply_to, *message_id, *message;
	int dry_run; /* the bot is in dry-run mode: recorded for review, never sent */
};

struct botpass_opts {
	const char *datadir;
	const struct config *cfg;
	int report_only;        /* --dry-run: decide and report, write and send nothing */
	int have_since;         /* consider series dated since `since` instead of max-age */
	int64_t since;
	int64_t now;            /* Unix seconds; 0 = the clock */
	const volatile int *stop; /* stop between messages when *stop */
	void (*report)(void *ctx, const struct botpass_entry *e);
	void *report_ctx;
};

struct botpass_stats {
	size_t considered, send, skip, wait;       /* decisions */
	size_t planned, recorded, dry_run;          /* messages */
	size_t sent, failed, rejected, unconfirmed, cancelled, expired;
	size_t recovered, confirmed, resent;        /* crash recovery */
	size_t replies, optouts;                    /* mailbox */
};

int botpass_run(struct store *st, const struct bot *b, const struct botpass_opts *o,
		struct botpass_stats *stats, struct err *err);

/*
 * Intake's hook (called by intake_add inside its transaction for every
 * message): remember pulls and replies that carry a patch, which intake does
 * not turn into series, so bots can account for them.  Idempotent.
 */
int botpass_observe(struct store *st, const struct mail *m, const struct patchmail *pm,
		    const char *source, struct err *err);

/* Record an opt-out (source "cli" or "reply"); idempotent. */
int botpass_optout_add(struct store *st, const char *bot, const char *addr, const char *source,
		       const char *msgid, struct err *err);

#endif
