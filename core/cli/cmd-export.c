/*
 * cmd-export.c - `cifeed export`: the store (or a filtered part) as KCIDB v5.3.
 */
#include "cli.h"
#include "fsutil.h"
#include "results.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct command cmd_export;

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "kcidb", *output = NULL;
	struct err err = ERR_INIT;
	struct filter *f = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "f:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		default:
			return cli_usage(&cmd_export, NULL);
		}
	}
	if (strcmp(format, "kcidb"))
		return cli_usage(&cmd_export, "unknown format '%s' (known: kcidb)", format);
	if (filter_parse_argv(argc - optind, argv + optind, &f, &err) < 0) {
		fprintf(stderr, "cifeed export: %s\n", err_msg(&err));
		err_free(&err);
		return EXIT_USAGE;
	}
	if (cli_store(cli, STORE_READONLY, &err) < 0) {
		filter_free(f);
		return cli_fail(&err);
	}

	FILE *out = stdout;
	struct buf tmp = BUF_INIT;
	if (output && strcmp(output, "-")) {
		/* write next to the target and rename: a reader never sees half a file */
		buf_addf(&tmp, "%s.tmp.%ld", output, (long)getpid());
		out = fopen(tmp.ptr, "w");
		if (!out) {
			err_errno(&err, ERR_IO, "%s", tmp.ptr);
			buf_free(&tmp);
			filter_free(f);
			return cli_fail(&err);
		}
	}
	int r = store_begin_read(cli->store, &err);
	if (r == 0) {
		r = results_export(cli->store, f, out, &err);
		store_rollback(cli->store);
	}
	if (out != stdout) {
		if (fflush(out) || fsync(fileno(out)) || ferror(out)) {
			if (r == 0)
				err_errno(&err, ERR_IO, "%s", tmp.ptr);
			r = -1;
		}
		fclose(out);
		if (r == 0 && rename(tmp.ptr, output) < 0)
			r = err_errno(&err, ERR_IO, "rename to %s", output);
		if (r < 0)
			unlink(tmp.ptr);
	}
	buf_free(&tmp);
	filter_free(f);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

const struct command cmd_export = {
	.name = "export",
	.usage = "[--format kcidb] [-o FILE] [FILTER...]",
	.summary = "write stored results as KCIDB v5.3 JSON (all, or those matching a filter)",
	.help = "Writes one kcidb-io v5.3 document, one object per line, ordered by id, so\n"
		"the same store always exports byte-identical output. With a FILTER, the\n"
		"tests, builds and checkouts matching it are written together with their\n"
		"parents (so the document is self-contained) and the incidents and issues\n"
		"of the selected builds and tests.\n\n"
		"Filter: space-separated key:value terms are ANDed, OR separates groups,\n"
		"-key:value negates, * globs. Keys: origin tree repo branch commit arch\n"
		"config compiler status test list author file msgid.\n"
		"  cifeed export tree:mainline status:FAIL OR origin:syzbot\n\n"
		"Options:\n"
		"  -o, --output FILE    write to FILE atomically (default stdout)\n",
	.run = run,
};
