/*
 * cmd-feed.c - `cifeed feed list | show | verify | reindex | publish`: the topic feeds.
 */
#include "cli.h"
#include "feed_atom.h"
#include "feed_reader.h"
#include "formats.h"
#include "log.h"
#include "mime.h"
#include "feed_writer.h"
#include "publisher.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_feed;

static char *feeds_dir(struct cli *cli)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/feeds", cli->datadir);
	return buf_detach(&b);
}

static int topic_position(struct cli *cli, const char *name, int64_t *pos, int64_t *msgs)
{
	struct err err = ERR_INIT;
	struct store_stmt *s;
	*pos = *msgs = 0;
	if (store_prepare(cli->store, &s, "SELECT position, messages FROM feed_topics WHERE name = ?",
			  &err) < 0) {
		err_free(&err);
		return -1;
	}
	store_bind_text(s, 1, name, -1);
	if (store_step(s, &err) == STORE_ROW) {
		*pos = store_col_int(s, 0);
		*msgs = store_col_int(s, 1);
	}
	store_finalize(s);
	err_free(&err);
	return 0;
}

static int run_list(struct cli *cli, int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return cli_usage(&cmd_feed, "list: unknown argument '%s'", argv[i]);
	}
	struct err err = ERR_INIT;
	struct topic *tp;
	size_t n;
	if (cli_store(cli, STORE_READONLY, &err) < 0 || publisher_topics(cli->cfg, &tp, &n, &err) < 0)
		return cli_fail(&err);
	char *fd = feeds_dir(cli);
	json_t *arr = json_array();
	if (!json)
		printf("%-20s %8s %6s %10s  %s\n", "TOPIC", "MESSAGES", "EPOCHS", "POSITION", "FILTER");
	int rc = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		struct buf dir = BUF_INIT;
		buf_addf(&dir, "%s/%s", fd, tp[i].name);
		struct feed_inbox_info info = { 0 };
		if (feed_is_inbox(dir.ptr) && feed_inbox_info(dir.ptr, &info, &err) < 0) {
			buf_free(&dir);
			rc = cli_fail(&err);
			break;
		}
		int64_t pos, msgs;
		topic_position(cli, tp[i].name, &pos, &msgs);
		const char *ftext = tp[i].filter ? tp[i].filter->text : "";
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "topic", json_string(tp[i].name));
			json_object_set_new(o, "filter", json_string(ftext));
			json_object_set_new(o, "messages", json_integer((json_int_t)info.messages));
			json_object_set_new(o, "epochs", json_integer(info.epochs));
			json_object_set_new(o, "pack_bytes", json_integer((json_int_t)info.pack_bytes));
			json_object_set_new(o, "position", json_integer(pos));
			json_object_set_new(o, "path", json_string(dir.ptr));
			json_array_append_new(arr, o);
		} else {
			printf("%-20s %8zu %6d %10lld  %s\n", tp[i].name, info.messages, info.epochs,
			       (long long)pos, *ftext ? ftext : "(everything)");
		}
		feed_inbox_info_free(&info);
		buf_free(&dir);
	}
	if (json && rc == EXIT_OK) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	}
	json_decref(arr);
	free(fd);
	publisher_topics_free(tp, n);
	return rc;
}

struct show_ctx {
	size_t limit, n;
	const char *msgid; /* print this message raw */
	int found;
	json_t *arr;
};

static int show_cb(const struct feed_msg *fm, void *arg, struct err *err)
{
	(void)err;
	struct show_ctx *c = arg;
	struct mime_msg m;
	mime_parse(&m, fm->data, fm->len);
	struct mime_ids ids = { 0 };
	mime_msg_ids(&m, &ids);
	int stop = 0;
	if (c->msgid) {
		if (mime_ids_has(&ids, c->msgid)) {
			fwrite(fm->data, 1, fm->len, stdout);
			c->found = 1;
			stop = 1;
		}
	} else {
		struct buf subj = BUF_INIT, date = BUF_INIT, st = BUF_INIT;
		mime_get_decoded(&m, "Subject", 0, &subj);
		mime_get(&m, "Date", 0, &date);
		mime_get(&m, "X-CI-Status", 0, &st);
		if (c->arr) {
			json_t *o = json_object();
			json_object_set_new(o, "msgid", json_string(ids.n ? ids.v[0] : ""));
			json_object_set_new(o, "subject", json_string(buf_cstr(&subj)));
			json_object_set_new(o, "date", json_string(buf_cstr(&date)));
			json_object_set_new(o, "epoch", json_integer(fm->epoch));
			json_object_set_new(o, "commit", json_string(fm->commit));
			json_array_append_new(c->arr, o);
		} else {
			printf("%-31s %-6s <%s>\n  %s\n", buf_cstr(&date), st.len ? st.ptr : "-",
			       ids.n ? ids.v[0] : "?", buf_cstr(&subj));
		}
		buf_free(&subj);
		buf_free(&date);
		buf_free(&st);
		stop = ++c->n >= c->limit;
	}
	mime_ids_free(&ids);
	mime_msg_free(&m);
	return stop;
}

static int run_show(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "atom", no_argument, NULL, 'a' },
		{ "base-url", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t limit = 20;
	int json = 0, atom = 0, c;
	const char *base = NULL;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (config_parse_int(optarg, &limit) < 0 || limit <= 0)
				return cli_usage(&cmd_feed, "--limit needs a positive number");
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			atom = 1;
			break;
		case 'b':
			base = optarg;
			break;
		default:
			return cli_usage(&cmd_feed, NULL);
		}
	}
	if (optind >= argc || argc - optind > 2)
		return cli_usage(&cmd_feed, "show needs TOPIC [MSGID]");
	const char *topic = argv[optind];
	struct err err = ERR_INIT;
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	if (strchr(topic, '/') || topic[0] == '.')
		return cli_usage(&cmd_feed, "invalid topic name '%s'", topic);
	char *fd = feeds_dir(cli);
	if (atom) {
		struct buf out = BUF_INIT;
		if (!base)
			base = config_get(cli->cfg, "feed", NULL, "url");
		int r = feed_atom_render(fd, topic, base, (size_t)limit, &out, &err);
		free(fd);
		if (r < 0) {
			buf_free(&out);
			return err.code == ERR_NOTFOUND ? (fprintf(stderr, "cifeed feed: %s\n",
								   err_msg(&err)),
							   err_free(&err), EXIT_NO)
							: cli_fail(&err);
		}
		fwrite(out.ptr, 1, out.len, stdout);
		buf_free(&out);
		return EXIT_OK;
	}
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/%s", fd, topic);
	free(fd);
	if (!feed_is_inbox(dir.ptr)) {
		fprintf(stderr, "cifeed feed: topic '%s' has no feed yet (%s)\n", topic, dir.ptr);
		buf_free(&dir);
		return EXIT_NO;
	}
	struct show_ctx sc = { (size_t)limit, 0, NULL, 0, NULL };
	struct buf mid = BUF_INIT;
	if (argc - optind == 2) {
		const char *m = argv[optind + 1];
		size_t l = strlen(m);
		if (m[0] == '<' && l > 2 && m[l - 1] == '>')
			buf_add(&mid, m + 1, l - 2);
		else
			buf_adds(&mid, m);
		sc.msgid = mid.ptr;
	}
	struct feed_inbox_info info;
	int rc = EXIT_OK;
	if (!sc.msgid) {
		if (feed_inbox_info(dir.ptr, &info, &err) < 0) {
			buf_free(&dir);
			buf_free(&mid);
			return cli_fail(&err);
		}
		if (json) {
			sc.arr = json_array();
		} else {
			printf("topic:       %s\npath:        %s\ndescription: %s\nmessages:    %zu\n"
			       "epochs:      %d\npack bytes:  %llu\n\nnewest messages:\n",
			       topic, dir.ptr, info.description ? info.description : "-",
			       info.messages, info.epochs, (unsigned long long)info.pack_bytes);
		}
	}
	if (feed_read(dir.ptr, FEED_READ_NEWEST_FIRST, show_cb, &sc, &err) < 0)
		rc = cli_fail(&err);
	else if (sc.msgid && !sc.found) {
		fprintf(stderr, "cifeed feed: no message <%s> in topic %s\n", sc.msgid, topic);
		rc = EXIT_NO;
	}
	if (!sc.msgid) {
		if (json && rc == EXIT_OK) {
			json_t *o = json_object();
			json_object_set_new(o, "topic", json_string(topic));
			json_object_set_new(o, "messages", json_integer((json_int_t)info.messages));
			json_object_set_new(o, "epochs", json_integer(info.epochs));
			json_object_set_new(o, "newest", sc.arr);
			sc.arr = NULL;
			char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			puts(s);
			free(s);
			json_decref(o);
		}
		json_decref(sc.arr);
		feed_inbox_info_free(&info);
	}
	buf_free(&dir);
	buf_free(&mid);
	return rc;
}

static int run_verify(struct cli *cli, int argc, char **argv)
{
	if (argc > 2)
		return cli_usage(&cmd_feed, "verify takes at most one TOPIC");
	struct err err = ERR_INIT;
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	char *fd = feeds_dir(cli);
	struct feed_topic_info *t = NULL;
	size_t n = 0;
	char **names = NULL;
	size_t nn = 0;
	if (argc == 2) {
		if (strchr(argv[1], '/') || argv[1][0] == '.')
			return cli_usage(&cmd_feed, "invalid topic name '%s'", argv[1]);
		names = xmalloc(sizeof(*names));
		names[nn++] = xstrdup(argv[1]);
	} else {
		if (feed_topics_list(fd, &t, &n, &err) < 0) {
			free(fd);
			return cli_fail(&err);
		}
		names = xcalloc(n + 1, sizeof(*names));
		for (size_t i = 0; i < n; i++)
			names[nn++] = xstrdup(t[i].name);
		feed_topics_free(t, n);
	}
	int bad = 0, rc = EXIT_OK;
	if (!nn)
		fprintf(stderr, "cifeed feed verify: no feeds under %s\n", fd);
	for (size_t i = 0; i < nn; i++) {
		struct buf dir = BUF_INIT, rep = BUF_INIT;
		buf_addf(&dir, "%s/%s", fd, names[i]);
		size_t msgs = 0;
		int p = feed_verify(dir.ptr, 1, &msgs, &rep, &err);
		if (p < 0) {
			fprintf(stderr, "cifeed feed verify: %s: %s\n", names[i], err_msg(&err));
			if (err.code == ERR_NOTFOUND)
				bad++;
			else
				rc = cli_fail(&err);
			err_clear(&err);
		} else if (p > 0) {
			printf("%s: %zu messages, %d problem%s\n", names[i], msgs, p, p == 1 ? "" : "s");
			fputs(buf_cstr(&rep), stdout);
			bad++;
		} else {
			printf("%s: ok, %zu messages\n", names[i], msgs);
		}
		buf_free(&dir);
		buf_free(&rep);
		free(names[i]);
	}
	free(names);
	free(fd);
	if (rc != EXIT_OK)
		return rc;
	return bad || !nn ? EXIT_NO : EXIT_OK;
}

static int run_reindex(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return cli_usage(&cmd_feed, "reindex takes no arguments");
	struct err err = ERR_INIT;
	if (cli_store(cli, 0, &err) < 0)
		return cli_fail(&err);
	struct reindex_stats rs;
	if (publisher_reindex(cli->store, cli->datadir, cli->cfg, &rs, &err) < 0)
		return cli_fail(&err);
	log_info("feed.reindexed", "messages=%zu submissions=%zu without_kcidb=%zu units=%zu",
		 rs.messages, rs.submissions, rs.skipped, rs.units);
	return EXIT_OK;
}

static int run_publish(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "now", no_argument, NULL, 'n' },
		{ "max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct publish_opts o = { 0 };
	int c;
	int64_t max = 0;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.topic = optarg;
			break;
		case 'n':
			o.no_settle = 1;
			break;
		case 'm':
			if (config_parse_int(optarg, &max) < 0 || max <= 0)
				return cli_usage(&cmd_feed, "--max needs a positive number");
			break;
		default:
			return cli_usage(&cmd_feed, NULL);
		}
	}
	if (optind < argc)
		return cli_usage(&cmd_feed, "publish: unexpected '%s'", argv[optind]);
	struct err err = ERR_INIT;
	if (cli_store(cli, 0, &err) < 0)
		return cli_fail(&err);
	o.datadir = cli->datadir;
	o.cfg = cli->cfg;
	o.max_messages = (size_t)max;
	struct publish_stats ps;
	int r = publisher_run(cli->store, &o, &ps, &err);
	log_info("feed.published", "topics=%zu messages=%zu followups=%zu recovered=%zu pending=%zu",
		 ps.topics, ps.messages, ps.followups, ps.existing, ps.pending);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

/* Queue one mboxrd message (From_ line excluded): unescape >From, drop the separator line. */
static int import_one(struct feed_writer *w, struct buf *m, size_t *added, size_t *dups,
		      struct err *err)
{
	if (!m->len)
		return 0;
	if (m->len >= 2 && m->ptr[m->len - 1] == '\n' && m->ptr[m->len - 2] == '\n')
		buf_truncate(m, m->len - 1);
	int r = feed_writer_add(w, m->ptr, m->len, NULL, err);
	if (r == FEED_ADDED)
		(*added)++;
	else if (r == FEED_DUPLICATE)
		(*dups)++;
	buf_reset(m);
	return r < 0 ? -1 : 0;
}

static int run_import(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "address", required_argument, NULL, 'A' },
		{ "epoch-size", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	struct feed_writer_opts wo = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			wo.name = optarg;
			break;
		case 'A':
			wo.address = optarg;
			break;
		case 'E':
			if (config_parse_int(optarg, &wo.epoch_size) < 0 || wo.epoch_size <= 0)
				return cli_usage(&cmd_feed, "--epoch-size needs a positive size");
			break;
		default:
			return cli_usage(&cmd_feed, NULL);
		}
	}
	if (argc - optind < 1 || argc - optind > 2 || !wo.name || !wo.address)
		return cli_usage(&cmd_feed, "import needs --name, --address, INBOX_DIR [MBOX]");
	const char *dir = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : "-";
	FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct err err = ERR_INIT;
	if (!in) {
		err_errno(&err, ERR_IO, "%s", path);
		return cli_fail(&err);
	}
	struct feed_writer *w = NULL;
	if (feed_writer_open(&w, dir, &wo, &err) < 0) {
		if (in != stdin)
			fclose(in);
		return cli_fail(&err);
	}
	struct buf m = BUF_INIT;
	char *line = NULL;
	size_t cap = 0, added = 0, dups = 0;
	ssize_t n;
	int rc = 0, in_msg = 0;
	while (rc == 0 && (n = getline(&line, &cap, in)) > 0) {
		if (!strncmp(line, "From ", 5)) {
			rc = import_one(w, &m, &added, &dups, &err);
			in_msg = 1;
			continue;
		}
		if (!in_msg)
			continue;
		const char *p = line;
		size_t k = 0;
		while (p[k] == '>')
			k++;
		if (k && !strncmp(p + k, "From ", 5))
			p++, n--; /* mboxrd: one '>' less */
		buf_add(&m, p, (size_t)n);
	}
	if (rc == 0 && ferror(in))
		rc = err_errno(&err, ERR_IO, "read %s", path);
	if (rc == 0)
		rc = import_one(w, &m, &added, &dups, &err);
	if (rc == 0)
		rc = feed_writer_flush(w, &err);
	feed_writer_close(w);
	free(line);
	buf_free(&m);
	if (in != stdin)
		fclose(in);
	if (rc < 0)
		return cli_fail(&err);
	log_info("feed.imported", "inbox=%s added=%zu duplicates=%zu", dir, added, dups);
	return EXIT_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(&cmd_feed, "a subcommand is required");
	const char *sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "list"))
		return run_list(cli, argc, argv);
	if (!strcmp(sub, "show"))
		return run_show(cli, argc, argv);
	if (!strcmp(sub, "verify"))
		return run_verify(cli, argc, argv);
	if (!strcmp(sub, "reindex"))
		return run_reindex(cli, argc, argv);
	if (!strcmp(sub, "publish"))
		return run_publish(cli, argc, argv);
	if (!strcmp(sub, "import"))
		return run_import(cli, argc, argv);
	return cli_usage(&cmd_feed, "unknown subcommand '%s'", sub);
}

const struct command cmd_feed = {
	.name = "feed",
	.usage = "list [--json] | show TOPIC [MSGID] [-n N] [--json | --atom [--base-url URL]] | verify [TOPIC] | reindex | "
		 "publish [-t TOPIC] [--now] [--max N] | import --name N --address A DIR [MBOX]",
	.summary = "the per-topic public-inbox v2 feeds: list, show, verify, reindex, publish, import",
	.help = "Each topic ([topic \"NAME\"] with a filter, plus the implicit 'all') is a\n"
		"public-inbox v2 inbox under DATADIR/feeds/NAME that lei, public-inbox-httpd,\n"
		"mail readers and plain git can use.\n\n"
		"  list            topics, messages in each feed, epochs, publish position\n"
		"  show TOPIC      the feed's size and newest messages (-n N, --json);\n"
		"                  with a MSGID, that message exactly as stored; --atom\n"
		"                  the Atom 1.0 feed of the newest N (links under\n"
		"                  --base-url, default [feed] url)\n"
		"  verify [TOPIC]  check every epoch: objects, history shape, each message's\n"
		"                  structure and KCIDB part, unique Message-IDs (exit 1 when\n"
		"                  a problem is found)\n"
		"  reindex         rebuild the results tables of an EMPTY store from\n"
		"                  feeds/all alone (and the publisher state from every feed)\n"
		"  publish         one publishing pass (what `cifeed serve` does every\n"
		"                  [serve] publish-interval): --topic T only that topic,\n"
		"                  --now ignore [feed] settle, --max N messages per topic\n"
		"  import          append the messages of an mboxrd file (or stdin) to the\n"
		"                  public-inbox v2 inbox DIR with the writer cifeed uses\n"
		"                  (public-inbox's duplicate and Message-ID rules), e.g. to\n"
		"                  build an archive or to measure the writer\n",
	.run = run,
};
