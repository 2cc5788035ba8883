/*
 * main.c - `cifeed [-d DATADIR] [-v|-q] COMMAND [ARGS]`.
 *
 * Global options, the data directory, and dispatch to the command table.
 */
#include "cli.h"
#include "log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void main_usage(FILE *out)
{
	fprintf(out, "usage: cifeed [-d DATADIR] [-v | -q] COMMAND [ARGS]\n"
		     "       cifeed --version | --help | help COMMAND\n\n"
		     "CI results from every system, as structured public-inbox feeds.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < commands_count; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\nOptions:\n"
		     "  -d DATADIR   data directory (default $CIFEED_DIR, else ./cifeed-data)\n"
		     "  -v           more log output (repeat for trace)\n"
		     "  -q           errors only\n"
		     "  --version    print the version\n\n"
		     "Exit status: 0 success, 1 no/not found (queries), 2 usage, 3 input "
		     "rejected,\n4 configuration error, 5 runtime failure.\n"
		     "Run 'cifeed COMMAND --help' for a command's options.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < commands_count; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const char *datadir = NULL;
	int verbosity = 0, quiet = 0;
	static const struct option opts[] = {
		{ "datadir", required_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* A closed pipe (cifeed export | head) is not an error worth a signal death. */
	signal(SIGPIPE, SIG_IGN);
	const char *env_level = getenv("CIFEED_LOG");
	if (env_level && log_level_parse(env_level) >= 0)
		log_set_level((enum log_level)log_level_parse(env_level));

	/* '+': stop at the first non-option, the command name */
	while ((c = getopt_long(argc, argv, "+d:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			datadir = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'V':
			printf("cifeed %s\n", CIFEED_VERSION);
			return EXIT_OK;
		case 'h':
			main_usage(stdout);
			return EXIT_OK;
		default:
			main_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (quiet)
		log_set_level(LOG_ERROR);
	else if (verbosity)
		log_set_level(verbosity > 1 ? LOG_TRACE : LOG_DEBUG);

	if (optind >= argc) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (!strcmp(name, "help")) {
		if (optind + 1 < argc) {
			const struct command *cmd = find_command(argv[optind + 1]);
			if (!cmd) {
				fprintf(stderr, "cifeed: unknown command '%s'\n", argv[optind + 1]);
				return EXIT_USAGE;
			}
			cli_help(cmd);
			return EXIT_OK;
		}
		main_usage(stdout);
		return EXIT_OK;
	}
	const struct command *cmd = find_command(name);
	if (!cmd) {
		fprintf(stderr, "cifeed: '%s' is not a cifeed command; see 'cifeed --help'\n", name);
		return EXIT_USAGE;
	}

	if (cli_wants_help(argc - optind, argv + optind)) {
		cli_help(cmd);
		return EXIT_OK;
	}
	if (!datadir)
		datadir = getenv("CIFEED_DIR");
	if (!datadir || !*datadir)
		datadir = "./cifeed-data";
	cli.datadir = xstrdup(datadir);
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/cifeed.conf", datadir);
	cli.conf_path = buf_detach(&b);
	buf_addf(&b, "%s/cifeed.db", datadir);
	cli.db_path = buf_detach(&b);

	/* getopt state is global; each command parses its own argv from scratch */
	int cmd_argc = argc - optind;
	char **cmd_argv = argv + optind;
	optind = 0;
	int rc = cmd->run(&cli, cmd_argc, cmd_argv);
	if (cli.store)
		store_close(cli.store);
	config_free(cli.cfg);
	free(cli.datadir);
	free(cli.conf_path);
	free(cli.db_path);
	return rc;
}
