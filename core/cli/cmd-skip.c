/*
 * cmd-skip.c - `cifeed skip`: filter a test plan down to what has not run.
 *
 * The command-line twin of POST /api/v1/skip: the plan (one test path per
 * line) comes on stdin, the same JSON request is built and answered by
 * api_skip(), so the CLI and the server can never disagree.
 */
#include "api.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_skip;

#define PLAN_MAX (64u << 20)

static void set_opt(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"commit", required_argument, NULL, 'c'},
	    {"patchset", required_argument, NULL, 'p'},
	    {"msgid", required_argument, NULL, 'm'},
	    {"patch-id", required_argument, NULL, 'P'},
	    {"origin", required_argument, NULL, 'o'},
	    {"arch", required_argument, NULL, 'a'},
	    {"config", required_argument, NULL, 'C'},
	    {"compiler", required_argument, NULL, 'K'},
	    {"statuses", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *commit = NULL, *patchset = NULL, *msgid = NULL, *patch_id = NULL,
	           *origin = NULL, *arch = NULL, *config = NULL, *compiler = NULL,
	           *statuses_text = NULL;
	int json = 0, c;
	struct err err = ERR_INIT;

	while ((c = getopt_long(argc, argv, "c:p:m:P:o:a:C:K:s:j", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			commit = optarg;
			break;
		case 'p':
			patchset = optarg;
			break;
		case 'm':
			msgid = optarg;
			break;
		case 'P':
			patch_id = optarg;
			break;
		case 'o':
			origin = optarg;
			break;
		case 'a':
			arch = optarg;
			break;
		case 'C':
			config = optarg;
			break;
		case 'K':
			compiler = optarg;
			break;
		case 's':
			statuses_text = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_usage(&cmd_skip, NULL);
		}
	}
	if (optind < argc)
		return cli_usage(&cmd_skip, "unexpected argument '%s' (the plan comes on stdin)",
		                 argv[optind]);
	if (!commit && !msgid && !patch_id)
		return cli_usage(&cmd_skip, "skip needs --commit SHA (or --msgid / --patch-id)");
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	const char *statuses[8];
	if (!statuses_text)
		statuses_text = config_get_str(cli->cfg, "serve", NULL, "ran-statuses",
		                               API_RAN_STATUSES_DEFAULT);
	if (api_statuses_parse(statuses_text, statuses, &err) < 0) {
		int st = cli_usage(&cmd_skip, "%s", err_msg(&err));
		err_free(&err);
		return st;
	}

	/* the plan: one path per line; blank lines and # comments ignored */
	struct buf plan = BUF_INIT;
	if (buf_read_file(&plan, "-", PLAN_MAX) < 0) {
		if (errno == EFBIG)
			err_set(&err, ERR_INVALID, "the test plan is larger than %u bytes",
			        PLAN_MAX);
		else
			err_errno(&err, ERR_IO, "reading the test plan from stdin");
		buf_free(&plan);
		return cli_fail(&err);
	}
	json_t *req = json_object(), *tests = json_array();
	size_t lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(plan.ptr ? plan.ptr : (char[]){0}, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t l = strlen(line);
		while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
			line[--l] = 0;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		json_t *s = json_string(line);
		if (!s) {
			json_decref(req);
			json_decref(tests);
			buf_free(&plan);
			err_set(&err, ERR_INVALID, "test plan line %zu is not valid UTF-8", lineno);
			return cli_fail(&err);
		}
		json_array_append_new(tests, s);
	}
	buf_free(&plan);
	set_opt(req, "commit", commit);
	set_opt(req, "patchset", patchset);
	if (msgid) {
		size_t l = strlen(msgid);
		if (l >= 2 && msgid[0] == '<' && msgid[l - 1] == '>')
			json_object_set_new(req, "msgid", json_stringn(msgid + 1, l - 2));
		else
			set_opt(req, "msgid", msgid);
	}
	set_opt(req, "patch_id", patch_id);
	set_opt(req, "origin", origin);
	if (arch || config || compiler) {
		json_t *r = json_object();
		set_opt(r, "arch", arch);
		set_opt(r, "config", config);
		set_opt(r, "compiler", compiler);
		json_object_set_new(req, "require", r);
	}
	json_object_set_new(req, "tests", tests);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);

	struct buf out = BUF_INIT;
	int r = cli_store(cli, STORE_READONLY, &err);
	if (r == 0)
		r = api_skip(cli->store, body, strlen(body), statuses, &out, &err);
	free(body);
	if (r < 0) {
		buf_free(&out);
		if (err.code == ERR_INVALID) {
			err.code = ERR_USAGE; /* a bad option value, said in the API's words */
			int st = cli_usage(&cmd_skip, "%s", err_msg(&err));
			err_free(&err);
			return st;
		}
		return cli_fail(&err);
	}
	json_t *doc = json_loadb(out.ptr, out.len, 0, NULL);
	size_t nskip = json_array_size(json_object_get(doc, "skip"));
	size_t nrun = json_array_size(json_object_get(doc, "run"));
	if (json) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		size_t i;
		json_t *p;
		json_array_foreach (json_object_get(doc, "run"), i, p)
			puts(json_string_value(p));
	}
	fprintf(stderr, "cifeed skip: %zu already ran (skip), %zu to run\n", nskip, nrun);
	json_decref(doc);
	buf_free(&out);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILURE_;
}

const struct command cmd_skip = {
    .name = "skip",
    .usage = "(--commit SHA [--patchset HASH] | --msgid ID | --patch-id ID)\n"
             "                [--origin ORIGIN] [--arch A] [--config C] [--compiler C]\n"
             "                [--statuses \"PASS FAIL DONE\"] [--json] < plan.txt",
    .summary = "print the tests of a plan that have not already run on a revision",
    .help = "Reads a test plan on stdin - one KCIDB test path per line; blank lines\n"
            "and lines starting with '#' are ignored - and prints, in plan order and\n"
            "once each, the paths still to run. A path counts as already run when a\n"
            "test with exactly that path has one of the ran statuses on the revision\n"
            "(KCIDB's commit + patchset hash; --msgid/--patch-id: the checkouts linked\n"
            "to that patch), from any origin unless --origin is given, on a build\n"
            "matching --arch/--config/--compiler when given.\n\n"
            "The same answer as POST /api/v1/skip on `cifeed serve`; --json prints that\n"
            "document (schema/api/skip.json).\n\n"
            "Options:\n"
            "  --commit SHA        full 40-hex commit hash\n"
            "  --patchset HASH     64-hex patchset hash (default: no patches)\n"
            "  --msgid ID          checkouts linked to this patch or series Message-ID\n"
            "  --patch-id ID       checkouts linked to a patch with this git patch-id\n"
            "  --origin ORIGIN     only count results from this origin\n"
            "  --arch, --config, --compiler   only count results of matching builds\n"
            "  --statuses LIST     statuses that count as already ran (default: [serve]\n"
            "                      ran-statuses in cifeed.conf, else PASS FAIL DONE)\n"
            "  --json              the full answer as JSON\n\n"
            "A summary (N already ran, M to run) goes to stderr.\n"
            "Exit status: 0 success, 2 usage, 4 configuration, 5 failure.\n",
    .run = run,
};
