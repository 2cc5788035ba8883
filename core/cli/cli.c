/*
 * cli.c - shared helpers of the command line (see cli.h).
 */
#include "cli.h"
#include "log.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_config(struct cli *cli, struct err *err)
{
	if (cli->cfg)
		return 0;
	struct stat st;
	if (stat(cli->datadir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, ERR_CONFIG,
			       "%s: not a cifeed data directory (run 'cifeed -d %s init' first)",
			       cli->datadir, cli->datadir);
	if (config_load(cli->conf_path, &cli->cfg, err) < 0)
		return -1;
	const char *lvl = config_get(cli->cfg, "core", NULL, "loglevel");
	if (lvl && log_level_parse(lvl) < 0)
		return err_set(err, ERR_CONFIG, "%s: [core] loglevel: '%s' is not a log level",
			       cli->conf_path, lvl);
	/* the command line and CIFEED_LOG win over the file */
	if (lvl && !getenv("CIFEED_LOG") && log_get_level() == LOG_INFO)
		log_set_level((enum log_level)log_level_parse(lvl));
	const char *db = config_get(cli->cfg, "core", NULL, "database");
	if (db) {
		free(cli->db_path);
		cli->db_path = xstrdup(db);
	}
	return 0;
}

int cli_store(struct cli *cli, unsigned flags, struct err *err)
{
	if (cli->store)
		return 0;
	if (cli_config(cli, err) < 0)
		return -1;
	return store_open(&cli->store, cli->db_path, flags | STORE_NOCREATE, err);
}

int cli_fail(struct err *err)
{
	int st = cli_report(err);
	err_free(err);
	return st;
}

int cli_report(const struct err *err)
{
	struct buf out = BUF_INIT;
	log_redact(&out, err_msg(err), strlen(err_msg(err)));
	fprintf(stderr, "cifeed: error: %s\n", out.ptr);
	buf_free(&out);
	int st = err_exit_status(err);
	return st == EXIT_OK ? EXIT_FAILURE_ : st;
}

int cli_usage(const struct command *cmd, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		fprintf(stderr, "cifeed %s: ", cmd->name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "usage: cifeed %s %s\n(see 'cifeed %s --help')\n", cmd->name, cmd->usage,
		cmd->name);
	return EXIT_USAGE;
}

void cli_help(const struct command *cmd)
{
	printf("usage: cifeed [-d DATADIR] %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->help && *cmd->help)
		printf("\n%s", cmd->help);
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	}
	return 0;
}

int cli_progress_enabled(void)
{
	return isatty(2);
}

void cli_long_running(void)
{
#ifdef __GLIBC__
	/*
	 * A long-running process with a thread pool: glibc would give each
	 * worker thread its own malloc arena (up to 8 per core) and keep their
	 * freed memory; two arenas keep peak RSS about 10 MB lower at 100
	 * polled sources (tests/bench/poll) for no measurable cost in speed.
	 */
	mallopt(M_ARENA_MAX, 2);
#endif
}
