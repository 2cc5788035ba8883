/*
 * cmd-intake.c - `cifeed intake`: read the local archive sources once.
 *
 * Runs one pass of every configured source whose type reads local data
 * (adapter.h poll_local: public-inbox archives), the way `cifeed serve`
 * does on its interval, in the foreground.  Useful from cron, after a
 * mirror fetch, and in tests.
 */
#include "adapter.h"
#include "cli.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_intake;

static int run_one(struct cli *cli, const char *name, int explicit, int *ran, struct err *err)
{
	struct adapter_source *src;
	if (adapter_source_new(cli->cfg, name, &src, err) < 0)
		return -1;
	int rc = 0;
	if (!src->adapter->poll_local) {
		if (explicit)
			rc = err_set(err, ERR_USAGE,
				     "source %s (type %s) is polled over HTTP, not read locally", name,
				     src->adapter->name);
	} else if (!explicit && !config_get_bool(cli->cfg, "source", name, "enabled", 1)) {
		log_info("intake.skip", "source=%s reason=%s", name, "disabled");
	} else {
		static const volatile int no_stop = 0;
		rc = src->adapter->poll_local(src, cli->store, &no_stop, err);
		(*ran)++;
	}
	adapter_source_free(src);
	return rc;
}

static int run(struct cli *cli, int argc, char **argv)
{
	struct err err = ERR_INIT;
	if (getopt_long(argc, argv, "", (const struct option[]){ { NULL, 0, NULL, 0 } }, NULL) != -1)
		return cli_usage(&cmd_intake, NULL);
	if (cli_config(cli, &err) < 0 || cli_store(cli, STORE_BULK, &err) < 0)
		return cli_fail(&err);
	int status = EXIT_OK, ran = 0;
	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			if (run_one(cli, argv[i], 1, &ran, &err) < 0) {
				int st = cli_report(&err);
				status = st > status ? st : status;
				err_clear(&err);
			}
	} else {
		const char **names;
		size_t n = config_subsections(cli->cfg, "source", &names);
		for (size_t i = 0; i < n; i++)
			if (run_one(cli, names[i], 0, &ran, &err) < 0) {
				int st = cli_report(&err);
				status = st > status ? st : status;
				err_clear(&err);
			}
		free(names);
		if (!n)
			fprintf(stderr, "cifeed: no [source] sections in %s\n", cli->conf_path);
	}
	err_free(&err);
	return status;
}

const struct command cmd_intake = {
	.name = "intake",
	.usage = "[SOURCE...]",
	.summary = "read local archive sources (public-inbox) once",
	.help = "Reads every enabled source that lives on local disk (type public-inbox),\n"
		"or the named SOURCEs, from where the last read stopped: new messages of\n"
		"every epoch, removals, new epochs; a rewritten history is undone back to\n"
		"the common ancestor.  Messages and the per-epoch cursor are committed\n"
		"together every `batch` messages, so an interrupted run loses nothing and\n"
		"the next one stores nothing twice.  Counts are logged (event intake.done).\n\n"
		"Exit status: 0 done, 2 usage, 4 configuration error, 5 runtime failure.\n",
	.run = run,
};
