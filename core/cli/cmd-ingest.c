/*
 * cmd-ingest.c - `cifeed ingest`: store KCIDB submissions from files or stdin.
 *
 * Each file is one submission and one transaction.  Files are processed in
 * the order given; a rejected file does not stop the others, but makes the
 * exit status 3.
 */
#include "cli.h"
#include "ingest.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
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

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "kcidb";
	int quiet = 0, c;
	struct err err = ERR_INIT;

	while ((c = getopt_long(argc, argv, "f:q", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return cli_usage(&cmd_ingest, NULL);
		}
	}
	if (strcmp(format, "kcidb"))
		return cli_usage(&cmd_ingest, "unknown format '%s' (known: kcidb)", format);
	if (optind >= argc)
		return cli_usage(&cmd_ingest, "no input; give files or '-' for stdin");

	if (cli_store(cli, STORE_BULK, &err) < 0)
		return cli_fail(&err);
	size_t max = (size_t)config_get_int(cli->cfg, "core", NULL, "max-submission",
					    INGEST_DEFAULT_MAX);
	struct results_writer *w;
	if (results_writer_new(cli->store, &w, &err) < 0)
		return cli_fail(&err);

	int status = EXIT_OK, progress = cli_progress_enabled() && argc - optind > 1;
	size_t nfiles = (size_t)(argc - optind), done = 0, tests = 0;
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		int is_stdin = !strcmp(path, "-");
		const char *name = is_stdin ? "<stdin>" : path;
		struct buf data = BUF_INIT, source = BUF_INIT;
		struct ingest_result res;
		ingest_result_init(&res);
		if (buf_read_file(&data, path, max) < 0) {
			if (errno == EFBIG)
				err_set(&err, ERR_INVALID,
					"%s: rejected: larger than the %zu-byte limit "
					"(core.max-submission)",
					name, max);
			else
				err_errno(&err, ERR_IO, "%s", name);
			status = cli_fail(&err);
			err_clear(&err);
		} else {
			if (is_stdin)
				buf_adds(&source, "stdin");
			else
				buf_addf(&source, "file:%s", path);
			if (ingest_kcidb(cli->store, w, data.ptr, data.len, name, source.ptr, &res,
					 &err) < 0) {
				int st = cli_fail(&err);
				/* keep the most serious status: runtime failure over rejection */
				if (st > status)
					status = st;
				err_clear(&err);
			} else if (res.duplicate) {
				if (!quiet)
					printf("%s: already stored as submission %lld; nothing "
					       "changed\n",
					       name, (long long)res.dup_id);
			} else {
				tests += res.stats.counts[KCIDB_TEST];
				if (!quiet)
					print_stats(name, &res);
				log_debug("ingest.stored", "file=%s submission=%lld new=%zu",
					  name, (long long)res.stats.submission_id,
					  res.stats.created);
			}
		}
		done++;
		if (progress)
			fprintf(stderr, "\ringest: %zu/%zu files, %zu tests", done, nfiles, tests);
		ingest_result_free(&res);
		buf_free(&data);
		buf_free(&source);
	}
	if (progress)
		fputc('\n', stderr);
	results_writer_free(w);
	err_free(&err);
	return status;
}

const struct command cmd_ingest = {
	.name = "ingest",
	.usage = "[--format kcidb] [-q] FILE...|-",
	.summary = "store KCIDB JSON submissions (v4.x, v5.0-v5.3) from files or stdin",
	.help = "Each FILE ('-' reads stdin) is one submission, validated and stored in one\n"
		"transaction: a file with any invalid object is rejected whole, with its\n"
		"errors naming the object and field, and nothing of it is written.\n"
		"Older schema versions are upgraded as KCIDB does. The same bytes submitted\n"
		"again change nothing; the same objects in a new submission merge per field\n"
		"(the first value of a field wins; see schema/merge-rule.md).\n\n"
		"Options:\n"
		"  -f, --format kcidb   input format (default kcidb)\n"
		"  -q, --quiet          print nothing for stored files\n\n"
		"Exit status: 0 all stored, 3 some file rejected, 5 runtime failure.\n",
	.run = run,
};
