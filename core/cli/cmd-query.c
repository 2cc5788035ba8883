/*
 * cmd-query.c - `cifeed query ran`: which tests already ran on a revision.
 */
#include "cli.h"
#include "api.h"
#include "results.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_query;

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return 0;
	return 1;
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static int run_ran(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "commit", required_argument, NULL, 'c' },
		{ "patchset", required_argument, NULL, 'p' },
		{ "test", required_argument, NULL, 't' },
		{ "origin", required_argument, NULL, 'o' },
		{ "msgid", required_argument, NULL, 'm' },
		{ "patch-id", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct ran_query q = { 0 };
	int json = 0, c;
	struct err err = ERR_INIT;
	char *msgid = NULL;

	while ((c = getopt_long(argc, argv, "c:p:t:o:m:P:j", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			q.commit = optarg;
			break;
		case 'p':
			q.patchset = optarg;
			break;
		case 't':
			q.test = optarg;
			break;
		case 'o':
			q.origin = optarg;
			break;
		case 'm':
			q.msgid = optarg;
			break;
		case 'P':
			q.patch_id = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_usage(&cmd_query, NULL);
		}
	}
	if (optind < argc)
		return cli_usage(&cmd_query, "unexpected argument '%s'", argv[optind]);
	if (!q.commit && !q.msgid && !q.patch_id)
		return cli_usage(&cmd_query, "ran needs --commit SHA (or --msgid / --patch-id)");
	if (q.commit && !is_hex(q.commit, 40))
		return cli_usage(&cmd_query, "--commit must be a full 40-hex-digit commit hash");
	if (q.patchset && *q.patchset && !is_hex(q.patchset, 64))
		return cli_usage(&cmd_query,
				 "--patchset must be a 64-hex-digit patchset hash (or empty)");
	if (q.patch_id && !is_hex(q.patch_id, 40))
		return cli_usage(&cmd_query, "--patch-id must be 40 hex digits");
	if (q.msgid) {
		/* accept <id> as mail clients show it */
		size_t l = strlen(q.msgid);
		if (l >= 2 && q.msgid[0] == '<' && q.msgid[l - 1] == '>')
			q.msgid = msgid = strndup(q.msgid + 1, l - 2);
	}
	if (api_ran_validate(&q, &err) < 0) {
		int st = cli_usage(&cmd_query, "%s", err_msg(&err));
		err_free(&err);
		free(msgid);
		return st;
	}

	if (cli_store(cli, STORE_READONLY, &err) < 0) {
		free(msgid);
		return cli_fail(&err);
	}
	if (json) {
		/* the same document as GET /api/v1/ran (schema/api/ran.json) */
		struct buf out = BUF_INIT;
		if (api_ran(cli->store, &q, &out, &err) < 0) {
			free(msgid);
			buf_free(&out);
			return cli_fail(&err);
		}
		json_t *doc = json_loadb(out.ptr, out.len, 0, NULL);
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		int found = json_integer_value(json_object_get(doc, "count")) > 0;
		json_decref(doc);
		buf_free(&out);
		free(msgid);
		return found ? EXIT_OK : EXIT_NO;
	}
	struct ran_row *rows;
	size_t n;
	if (results_ran(cli->store, &q, &rows, &n, &err) < 0) {
		free(msgid);
		return cli_fail(&err);
	}
	if (n) {
		printf("%-6s %-12s %-40s %-10s %-24s %-18s %-26s %s\n", "STATUS", "ORIGIN", "TEST",
		       "ARCH", "CONFIG", "COMPILER", "START", "LOG");
		for (size_t i = 0; i < n; i++) {
			const struct ran_row *r = &rows[i];
			printf("%-6s %-12s %-40s %-10s %-24s %-18s %-26s %s\n", dash(r->status),
			       dash(r->origin), dash(r->path), dash(r->arch), dash(r->config),
			       dash(r->compiler), dash(r->start_time), dash(r->log_url));
		}
	} else {
		fprintf(stderr, "no test with a final status ran on that revision\n");
	}
	results_ran_free(rows, n);
	free(msgid);
	return n ? EXIT_OK : EXIT_NO;
}

static int run(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(&cmd_query, "which query? (ran)");
	if (!strcmp(argv[1], "ran"))
		return run_ran(cli, argc - 1, argv + 1);
	return cli_usage(&cmd_query, "unknown query '%s' (known: ran)", argv[1]);
}

const struct command cmd_query = {
	.name = "query",
	.usage = "ran (--commit SHA [--patchset HASH] | --msgid ID | --patch-id ID)\n"
		 "                 [--test PATH_PREFIX] [--origin ORIGIN] [--json]",
	.summary = "ask the store questions: which tests already ran on a revision",
	.help = "query ran lists the tests with a final status (any of FAIL ERROR MISS PASS\n"
		"DONE SKIP) on one revision, from every origin. A revision is KCIDB's\n"
		"(git_commit_hash, patchset_hash); without --patchset it is the commit with\n"
		"no patches (patchset hash \"\" or unknown). --msgid and --patch-id select\n"
		"checkouts linked to a mailing-list patch or series.\n\n"
		"Options:\n"
		"  --commit SHA        full 40-hex commit hash\n"
		"  --patchset HASH     64-hex patchset hash\n"
		"  --test PREFIX       a test path and everything below it (ltp matches ltp.*)\n"
		"  --origin ORIGIN     only results from this origin\n"
		"  --msgid ID          checkouts linked to this patch or series Message-ID\n"
		"  --patch-id ID       checkouts linked to a patch with this git patch-id\n"
		"  --json              JSON output for scripts\n\n"
		"Exit status: 0 tests found, 1 none, 2 usage.\n",
	.run = run,
};
