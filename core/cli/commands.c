/*
 * commands.c - the table of `cifeed` subcommands (one file each: cmd-*.c).
 */
#include "cli.h"

extern const struct command cmd_init, cmd_ingest, cmd_export, cmd_query, cmd_serve, cmd_patches,
	cmd_feed, cmd_skip, cmd_poll, cmd_config, cmd_bot;

const struct command *const commands[] = {
	&cmd_init, &cmd_ingest, &cmd_export, &cmd_query, &cmd_serve, &cmd_patches, &cmd_feed,
	&cmd_skip, &cmd_poll, &cmd_config, &cmd_bot,
};
const size_t commands_count = sizeof(commands) / sizeof(*commands);
