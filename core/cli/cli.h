/*
 * cli.h - the `cifeed` command line: global context and command table.
 *
 * In tmux's manner every subcommand is one file cmd-NAME.c ending in a
 * `const struct command` (name, usage, summary, help, run), listed in
 * commands.c.  `cifeed [-d DATADIR] [-v|-q] COMMAND [ARGS]`.
 *
 * Exit statuses (err.h): 0 success, 1 "no"/not found for query-style
 * commands, 2 usage, 3 input rejected, 4 configuration error, 5 runtime
 * failure.
 */
#ifndef CIFEED_CLI_H
#define CIFEED_CLI_H

#include "config.h"
#include "err.h"
#include "store.h"

struct cli {
	char *datadir;   /* -d, $CIFEED_DIR, or ./cifeed-data */
	char *conf_path; /* DATADIR/cifeed.conf */
	char *db_path;   /* DATADIR/cifeed.db unless core.database says otherwise */
	struct config *cfg;
	struct store *store;
};

struct command {
	const char *name;
	const char *usage;   /* arguments after the command name */
	const char *summary; /* one line for `cifeed --help` */
	const char *help;    /* the full --help text after the usage line */
	int (*run)(struct cli *cli, int argc, char **argv);
};

extern const struct command *const commands[];
extern const size_t commands_count;

/* Load and validate DATADIR/cifeed.conf once. */
int cli_config(struct cli *cli, struct err *err);
/* Open (and migrate) the store once; needs an initialised DATADIR. */
int cli_store(struct cli *cli, unsigned flags, struct err *err);

/* Print the error (secrets redacted) as "cifeed: error: ..." and return its exit status. */
int cli_report(const struct err *err);
/* cli_report, then free the error (for `return cli_fail(&err);`). */
int cli_fail(struct err *err);
/* Print usage to stderr and return EXIT_USAGE. */
int cli_usage(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print the full help of a command to stdout. */
void cli_help(const struct command *cmd);
/* Does argv contain -h/--help before a "--"? */
int cli_wants_help(int argc, char **argv);

/* True when stderr is a terminal (progress display). */
int cli_progress_enabled(void);
/* Set up the process for a long run with worker threads (poll, serve). */
void cli_long_running(void);

#endif
