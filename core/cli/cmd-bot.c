/*
 * cmd-bot.c - `cifeed bot`: run a mail bot's pass, audit its decisions,
 * show its messages, record opt-outs.
 *
 * The report is the operator's audit trail: one entry per candidate with
 * the verdict (SEND / SKIP / WAIT), the rule that decided it and one line
 * saying why, plus, for SEND, whom it writes and in reply to what.  The
 * same entries are printed by a real pass, so what --dry-run shows is what
 * the pass does (the pass itself is core/botpass.c).
 */
#include "bot.h"
#include "botpass.h"
#include "cli.h"
#include "formats.h"
#include "log.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_bot;

struct reason_count {
	const char *verdict;
	char *reason;
	size_t n;
};

struct rep {
	int json, messages;
	json_t *arr;
	struct reason_count *rc;
	size_t nrc;
};

static const char *verdict_name(enum bot_verdict v)
{
	return v == BOT_SEND ? "send" : v == BOT_SKIP ? "skip" : "wait";
}

static void count_reason(struct rep *r, const char *verdict, const char *reason)
{
	for (size_t i = 0; i < r->nrc; i++)
		if (!strcmp(r->rc[i].verdict, verdict) && !strcmp(r->rc[i].reason, reason)) {
			r->rc[i].n++;
			return;
		}
	r->rc = xrealloc(r->rc, (r->nrc + 1) * sizeof(*r->rc));
	r->rc[r->nrc++] = (struct reason_count){ verdict, xstrdup(reason), 1 };
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* one line of outside text: control characters become spaces */
static void put_line(const char *s)
{
	for (const char *c = s ? s : ""; *c; c++)
		fputc((unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c, stdout);
}

static void on_entry(void *ctx, const struct botpass_entry *e)
{
	struct rep *r = ctx;
	const char *v = verdict_name(e->verdict);
	count_reason(r, v, e->reason);
	if (r->json) {
		json_t *o = json_object();
		json_object_set_new(o, "candidate", json_string(e->candidate));
		json_object_set_new(o, "msgid", jstr(e->msgid));
		json_object_set_new(o, "subject", jstr(e->subject));
		json_object_set_new(o, "author_name", jstr(e->author_name));
		json_object_set_new(o, "author_email", jstr(e->author_email));
		json_object_set_new(o, "date", jstr(e->date));
		json_object_set_new(o, "verdict", json_string(v));
		json_object_set_new(o, "reason", json_string(e->reason));
		json_object_set_new(o, "detail", jstr(e->detail));
		if (e->verdict == BOT_SEND) {
			json_object_set_new(o, "to", jstr(e->to));
			json_object_set_new(o, "in_reply_to", jstr(e->in_reply_to));
			json_object_set_new(o, "message_id", jstr(e->message_id));
			json_object_set_new(o, "dry_run", json_boolean(e->dry_run));
			if (r->messages)
				json_object_set_new(o, "message", jstr(e->message));
		}
		json_array_append_new(r->arr, o);
		return;
	}
	printf("%-4s  %-15s %-20s <", e->verdict == BOT_SEND ? "SEND"
				      : e->verdict == BOT_SKIP ? "SKIP"
							       : "WAIT",
	       e->reason, e->date ? e->date : "-");
	put_line(e->msgid);
	printf(">\n      ");
	put_line(e->subject);
	printf("\n      from ");
	if (e->author_name && *e->author_name) {
		put_line(e->author_name);
		printf(" <");
		put_line(e->author_email);
		printf(">");
	} else {
		put_line(e->author_email ? e->author_email : "?");
	}
	printf("\n      %s: ", e->reason);
	put_line(e->detail);
	putchar('\n');
	if (e->verdict == BOT_SEND) {
		printf("      -> %s in reply to <%s>, Message-ID <%s>%s\n", e->to, e->in_reply_to,
		       e->message_id,
		       e->dry_run ? " (dry-run mode: recorded for review, not sent)" : "");
		if (r->messages && e->message)
			printf("----- message -----\n%s----- end -----\n", e->message);
	}
}

static volatile int stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int run_pass(struct cli *cli, const struct bot *b, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' }, { "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },    { "messages", no_argument, NULL, 'm' },
		{ "now", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	struct botpass_opts o = { 0 };
	struct rep r = { 0 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.report_only = 1;
			break;
		case 's':
			if (fmt_parse_date_arg(optarg, &o.since) < 0)
				return cli_usage(&cmd_bot, "--since: '%s' is not a date", optarg);
			o.have_since = 1;
			break;
		case 'j':
			r.json = 1;
			break;
		case 'm':
			r.messages = 1;
			break;
		case 't':
			if (fmt_parse_date_arg(optarg, &o.now) < 0)
				return cli_usage(&cmd_bot, "--now: '%s' is not a date", optarg);
			break;
		default:
			return cli_usage(&cmd_bot, NULL);
		}
	}
	if (optind < argc)
		return cli_usage(&cmd_bot, "unexpected argument '%s'", argv[optind]);
	struct err err = ERR_INIT;
	if (cli_store(cli, o.report_only ? STORE_READONLY : 0, &err) < 0)
		return cli_fail(&err);
	o.datadir = cli->datadir;
	o.cfg = cli->cfg;
	o.report = on_entry;
	o.report_ctx = &r;
	o.stop = &stop_flag;
	if (r.json)
		r.arr = json_array();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct botpass_stats st;
	int rc = botpass_run(cli->store, b, &o, &st, &err);
	if (r.json) {
		json_dumpf(r.arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(r.arr);
	}
	FILE *sum = r.json ? stderr : stdout;
	if (rc == 0) {
		fprintf(sum, "%s%s: %zu considered: %zu send, %zu skip, %zu wait", r.json ? "" : "\n",
			b->name, st.considered, st.send, st.skip, st.wait);
		for (size_t i = 0; i < r.nrc; i++)
			fprintf(sum, "%s%s %s %zu", i ? ", " : " (", r.rc[i].verdict,
				r.rc[i].reason, r.rc[i].n);
		fprintf(sum, "%s\n", r.nrc ? ")" : "");
		if (!o.report_only)
			fprintf(sum,
				"%s: planned %zu, recorded %zu, dry-run %zu, sent %zu, failed %zu, "
				"rejected %zu, unconfirmed %zu, cancelled %zu, expired %zu; recovered "
				"%zu, confirmed %zu, resent %zu; replies %zu, opt-outs %zu\n",
				b->name, st.planned, st.recorded, st.dry_run, st.sent, st.failed,
				st.rejected, st.unconfirmed, st.cancelled, st.expired, st.recovered,
				st.confirmed, st.resent, st.replies, st.optouts);
		log_info("bot.pass", "bot=%s considered=%zu send=%zu skip=%zu wait=%zu sent=%zu "
				     "failed=%zu",
			 b->name, st.considered, st.send, st.skip, st.wait, st.sent, st.failed);
	}
	for (size_t i = 0; i < r.nrc; i++)
		free(r.rc[i].reason);
	free(r.rc);
	return rc < 0 ? cli_fail(&err) : EXIT_OK;
}

static int status(struct cli *cli, const struct bot *b, int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	if (argc > (json ? 2 : 1))
		return cli_usage(&cmd_bot, "status takes only --json");
	struct err err = ERR_INIT;
	if (cli_store(cli, STORE_READONLY, &err) < 0)
		return cli_fail(&err);
	struct store_stmt *s;
	json_t *msgs = json_array(), *opts = json_array();
	int r = store_prepare(cli->store, &s,
			      "SELECT msgid, recipient, state, attempts, planned, finished, "
			      "last_error, candidate FROM bot_messages WHERE bot = ? ORDER BY rid",
			      &err);
	if (r == 0) {
		store_bind_text(s, 1, b->name, -1);
		while ((r = store_step(s, &err)) == STORE_ROW) {
			json_t *o = json_object();
			static const char *const k[] = { "message_id", "to",       "state",
							 "attempts",   "planned",  "finished",
							 "last_error", "candidate" };
			for (int i = 0; i < 8; i++)
				json_object_set_new(
					o, k[i],
					i == 3 ? json_integer(store_col_int(s, i))
					       : jstr(store_col_text(s, i, NULL)));
			json_array_append_new(msgs, o);
		}
		store_finalize(s);
	}
	if (r >= 0)
		r = store_prepare(cli->store, &s,
				  "SELECT address, source, msgid, added FROM bot_optouts WHERE bot = ? "
				  "ORDER BY added, address",
				  &err);
	if (r >= 0) {
		store_bind_text(s, 1, b->name, -1);
		while ((r = store_step(s, &err)) == STORE_ROW) {
			json_t *o = json_object();
			json_object_set_new(o, "address", jstr(store_col_text(s, 0, NULL)));
			json_object_set_new(o, "source", jstr(store_col_text(s, 1, NULL)));
			json_object_set_new(o, "msgid", jstr(store_col_text(s, 2, NULL)));
			json_object_set_new(o, "added", jstr(store_col_text(s, 3, NULL)));
			json_array_append_new(opts, o);
		}
		store_finalize(s);
	}
	int st = EXIT_OK;
	if (r < 0) {
		st = cli_fail(&err);
	} else if (json) {
		json_t *o = json_pack("{s:s, s:O, s:O}", "bot", b->name, "messages", msgs,
				      "opt_outs", opts);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		size_t i;
		json_t *v;
		printf("%s: %zu messages, %zu opt-outs\n", b->name, json_array_size(msgs),
		       json_array_size(opts));
		json_array_foreach(msgs, i, v) {
			printf("%-11s <%s> to %s, attempts %lld, planned %s",
			       json_string_value(json_object_get(v, "state")),
			       json_string_value(json_object_get(v, "message_id")),
			       json_string_value(json_object_get(v, "to")),
			       (long long)json_integer_value(json_object_get(v, "attempts")),
			       json_string_value(json_object_get(v, "planned")));
			const char *e = json_string_value(json_object_get(v, "last_error"));
			if (e) {
				printf(": ");
				put_line(e);
			}
			putchar('\n');
		}
		json_array_foreach(opts, i, v)
			printf("opt-out     %s (%s%s%s) %s\n",
			       json_string_value(json_object_get(v, "address")),
			       json_string_value(json_object_get(v, "source")),
			       json_object_get(v, "msgid") && json_is_string(json_object_get(v, "msgid"))
				       ? " <"
				       : "",
			       json_is_string(json_object_get(v, "msgid"))
				       ? json_string_value(json_object_get(v, "msgid"))
				       : "",
			       json_string_value(json_object_get(v, "added")));
	}
	json_decref(msgs);
	json_decref(opts);
	return st;
}

static int opt_out(struct cli *cli, const struct bot *b, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(&cmd_bot, "opt-out needs at least one address");
	for (int i = 1; i < argc; i++)
		if (!fmt_is_email(argv[i]))
			return cli_usage(&cmd_bot, "opt-out: '%s' is not an address", argv[i]);
	struct err err = ERR_INIT;
	if (cli_store(cli, 0, &err) < 0 || store_begin(cli->store, &err) < 0)
		return cli_fail(&err);
	for (int i = 1; i < argc; i++)
		if (botpass_optout_add(cli->store, b->name, argv[i], "cli", NULL, &err) < 0) {
			store_rollback(cli->store);
			return cli_fail(&err);
		}
	if (store_commit(cli->store, &err) < 0)
		return cli_fail(&err);
	printf("%s: %d address%s opted out\n", b->name, argc - 1, argc == 2 ? "" : "es");
	return EXIT_OK;
}

static int list_bots(struct cli *cli)
{
	struct err err = ERR_INIT;
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	for (size_t i = 0; i < bots_count; i++) {
		const struct bot *b = bots[i];
		int en = config_get_bool(cli->cfg, "bot", b->name, "enabled", 0);
		int dry = config_get_bool(cli->cfg, "bot", b->name, "dry-run", 1);
		printf("%-10s %-8s %-8s %s\n", b->name, en ? "enabled" : "disabled",
		       dry ? "dry-run" : "live", b->summary);
	}
	return EXIT_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return list_bots(cli);
	const struct bot *b = bot_find(argv[1]);
	if (!b)
		return cli_usage(&cmd_bot, "unknown bot '%s'", argv[1]);
	if (argc >= 3 && !strcmp(argv[2], "status"))
		return status(cli, b, argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[2], "opt-out"))
		return opt_out(cli, b, argc - 2, argv + 2);
	return run_pass(cli, b, argc - 1, argv + 1);
}

const struct command cmd_bot = {
	.name = "bot",
	.usage = "[NAME [--dry-run] [--since DATE] [--json] [--messages] [--now DATE] | NAME status "
		 "[--json] | NAME opt-out ADDRESS...]",
	.summary = "run a mail bot (basenag), audit its decisions, record opt-outs",
	.help = "Without arguments, lists the bots and whether they are enabled and live.\n\n"
		"cifeed bot NAME runs one pass of the bot: it reads replies in its mailbox,\n"
		"recovers messages a crash interrupted, decides about every new series,\n"
		"records the messages it will send in DATADIR/bots/NAME/outbox (or, while\n"
		"[bot] dry-run = true, in DATADIR/bots/NAME/dry-run, and sends nothing),\n"
		"then sends them by SMTP.  The bot must be enabled ([bot \"NAME\"] enabled).\n"
		"Every decision is printed: SEND, SKIP or WAIT (considered again next pass),\n"
		"the rule that decided it and why.  Rules, in order: pull, reply, automated,\n"
		"bot-sender, rfc, incomplete, settling, has-base, no-address, opted-out,\n"
		"already-nagged, version-nagged, resend-nagged, sender-period,\n"
		"applies-at-tip, rate-limit (see core/botpass.h).\n\n"
		"Options:\n"
		"  --dry-run       decide and print only: nothing is written or sent\n"
		"                  (works while the bot is disabled)\n"
		"  --since DATE    consider series dated at or after DATE (YYYY-MM-DD or RFC\n"
		"                  3339) instead of the last max-age; with --dry-run, series\n"
		"                  already decided are examined again (an audit)\n"
		"  --json          the decisions as a JSON array (summary on stderr)\n"
		"  --messages      print the full messages a SEND writes\n"
		"  --now DATE      decide as if it were DATE (audits, tests)\n\n"
		"cifeed bot NAME status [--json]   the bot's messages with their send state,\n"
		"                                  and its recorded opt-outs\n"
		"cifeed bot NAME opt-out ADDR...   never write to these addresses again\n\n"
		"Exit status: 0 success, 2 usage, 4 configuration (e.g. the bot is disabled),\n"
		"5 runtime failure (database, outbox, another pass running).\n",
	.run = run,
};
