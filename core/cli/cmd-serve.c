/*
 * cmd-serve.c - `cifeed serve`: the daemon.
 */
#include "cli.h"
#include "daemon.h"
#include "log.h"

#include <stdio.h>
#ifdef __GLIBC__
#endif
#include <string.h>

extern const struct command cmd_serve;

static int run(struct cli *cli, int argc, char **argv)
{
	struct err err = ERR_INIT;
	if (argc > 1)
		return cli_usage(&cmd_serve, "unexpected argument '%s'", argv[1]);
	if (cli_store(cli, 0, &err) < 0)
		return cli_fail(&err);

	cli_long_running();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct daemon d = { 0 };
	d.loop = &loop;
	d.datadir = cli->datadir;
	d.conf_path = cli->conf_path;
	d.db_path = cli->db_path;
	d.cfg = cli->cfg;
	d.store = cli->store;
	cli->cfg = NULL; /* the daemon owns them now (SIGHUP replaces cfg) */
	cli->store = NULL;
	int r = daemon_run(&d, &err);
	uv_loop_close(&loop);
	config_free(d.cfg);
	store_close(d.store);
	return r < 0 ? cli_fail(&err) : EXIT_OK;
}

const struct command cmd_serve = {
	.name = "serve",
	.usage = "",
	.summary = "run the daemon: spool intake, polling, feeds, HTTP API, bots",
	.help = "Runs until SIGTERM or SIGINT, which stop it cleanly (work in progress\n"
		"commits whole or not at all). SIGHUP reloads cifeed.conf; an invalid\n"
		"file is reported and the running configuration kept.\n\n"
		"Spool: KCIDB files renamed into DATADIR/spool/kcidb/ are ingested and\n"
		"moved to done/, or to failed/ with a NAME.err file saying why.\n"
		"Logs are key=value lines on stderr.\n",
	.run = run,
};
