/*
 * cmd-ingest.c - `cifeed ingest`: store KCIDB submissions from files or stdin.
 *
 * Each file is one submission and one transaction.  Files are processed in
 * the order given; a rejected file does not stop the others, but makes the
 * exit status 3.
 */
#include "cli.h"
#include "ingest.h"
#include "intake_mbox.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_ingest;

static void print_stats(const char *name, const struct ingest_result *r)
{
	const struct results_stats *s = &r->stats;
	printf("%s: stored as submission %lld (KCIDB v%s): %zu checkouts, %zu builds, %zu tests, "
	       "%zu issues, %zu incidents; %zu new, %zu updated, %zu unchanged\n",
	       name, (long long)s->submission_id, r->version, s->counts[KCIDB_CHECKOUT],
	       s->counts[KCIDB_BUILD], s->counts[KCIDB_TEST], s->counts[KCIDB_ISSUE],
	       s->counts[KCIDB_INCIDENT], s->created, s->updated, s->unchanged);
}

struct progress {
	int quiet, show, status;
	size_t done, total, tests;
};

static void item_done(struct ingest_item *it, int rc, const struct err *err, void *arg)
{
	struct progress *pr = arg;
	if (rc < 0) {
		int st = cli_report(err);
		/* keep the most serious status: runtime failure over rejection */
		if (st > pr->status)
			pr->status = st;
	} else if (it->res.duplicate) {
		if (!pr->quiet)
			printf("%s: already stored as submission %lld; nothing changed\n", it->name,
			       (long long)it->res.dup_id);
	} else {
		pr->tests += it->res.stats.counts[KCIDB_TEST];
		if (!pr->quiet)
			print_stats(it->name, &it->res);
		log_debug("ingest.stored", "file=%s submission=%lld new=%zu", it->name,
			  (long long)it->res.stats.submission_id, it->res.stats.created);
	}
	pr->done++;
	if (pr->show)
		fprintf(stderr, "\ringest: %zu/%zu files, %zu tests", pr->done, pr->total,
			pr->tests);
}

/* --format mbox: patch mail (intake_mbox.h), one transaction per file */
static int ingest_mbox(struct cli *cli, int n, char **paths, int quiet)
{
	struct err err = ERR_INIT;
	int status = EXIT_OK;
	if (cli_store(cli, STORE_BULK, &err) < 0)
		return cli_fail(&err);
	for (int i = 0; i < n; i++) {
		struct intake_stats s;
		if (intake_mbox_file(cli->store, paths[i], &s, &err) < 0) {
			int st = cli_report(&err);
			status = st > status ? st : status;
			err_clear(&err);
			continue;
		}
		if (!quiet)
			printf("%s: %zu messages: %zu new patches, %zu new cover letters, %zu "
			       "replies, %zu new trailers, %zu other; %zu already stored, %zu "
			       "without Message-ID\n",
			       strcmp(paths[i], "-") ? paths[i] : "<stdin>", s.messages, s.patches,
			       s.covers, s.replies, s.trailers,
			       s.other, s.duplicates, s.no_msgid);
	}
	err_free(&err);
	return status;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "kcidb";
	int c;
	unsigned jobs = 0;
	struct progress pr = { 0 };
	struct err err = ERR_INIT;

	while ((c = getopt_long(argc, argv, "f:qj:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'q':
			pr.quiet = 1;
			break;
		case 'j':
			jobs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return cli_usage(&cmd_ingest, NULL);
		}
	}
	if (strcmp(format, "kcidb") && strcmp(format, "mbox"))
		return cli_usage(&cmd_ingest, "unknown format '%s' (known: kcidb, mbox)", format);
	if (optind >= argc)
		return cli_usage(&cmd_ingest, "no input; give files or '-' for stdin");
	if (!strcmp(format, "mbox"))
		return ingest_mbox(cli, argc - optind, argv + optind, pr.quiet);

	if (cli_store(cli, STORE_BULK, &err) < 0)
		return cli_fail(&err);
	size_t max = (size_t)config_get_int(cli->cfg, "core", NULL, "max-submission",
					    INGEST_DEFAULT_MAX);
	size_t n = (size_t)(argc - optind);
	struct ingest_item *items = xcalloc(n, sizeof(*items));
	struct buf *sources = xcalloc(n, sizeof(*sources));
	for (size_t i = 0; i < n; i++) {
		const char *path = argv[optind + (int)i];
		int is_stdin = !strcmp(path, "-");
		ingest_item_init(&items[i]);
		items[i].path = path;
		items[i].name = is_stdin ? "<stdin>" : path;
		if (is_stdin)
			buf_adds(&sources[i], "stdin");
		else
			buf_addf(&sources[i], "file:%s", path);
		items[i].source = sources[i].ptr;
	}
	pr.total = n;
	pr.show = cli_progress_enabled() && n > 1;
	ingest_items(cli->store, items, n, max, jobs, item_done, &pr);
	if (pr.show)
		fputc('\n', stderr);
	for (size_t i = 0; i < n; i++) {
		ingest_item_free(&items[i]);
		buf_free(&sources[i]);
	}
	free(items);
	free(sources);
	err_free(&err);
	return pr.status;
}

const struct command cmd_ingest = {
	.name = "ingest",
	.usage = "[--format kcidb|mbox] [-q] FILE...|-",
	.summary = "store KCIDB JSON submissions (v4.x, v5.0-v5.3) from files or stdin",
	.help = "Each FILE ('-' reads stdin) is one submission, validated and stored in one\n"
		"transaction: a file with any invalid object is rejected whole, with its\n"
		"errors naming the object and field, and nothing of it is written.\n"
		"Older schema versions are upgraded as KCIDB does. The same bytes submitted\n"
		"again change nothing; the same objects in a new submission merge per field\n"
		"(the first value of a field wins; see schema/merge-rule.md).\n\n"
		"With --format mbox, each FILE is an mbox (mboxrd, as lore and lei write)\n"
		"or a single message of patch mail: patches, cover letters, series,\n"
		"trailers and base information are stored in one transaction per file,\n"
		"and messages already stored (same Message-ID) change nothing.\n\n"
		"Options:\n"
		"  -f, --format FORMAT  kcidb (default) or mbox\n"
		"  -q, --quiet          print nothing for stored files\n"
		"  -j, --jobs N         threads parsing ahead (default: number of CPUs)\n\n"
		"Exit status: 0 all stored, 3 some file rejected, 5 runtime failure.\n",
	.run = run,
};
