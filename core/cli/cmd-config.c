/*
 * cmd-config.c - `cifeed config`: check cifeed.conf, list every known key.
 *
 * The key list is generated from the same schema tables that validate the
 * file (core, serve, feed, topic, each source type, each bot), so it can
 * never disagree with what cifeed accepts.
 */
#include "adapter.h"
#include "bot.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct command cmd_config;

static void print_keys(const char *heading, const struct config_key *keys)
{
	if (!keys || !keys->name)
		return;
	printf("%s\n", heading);
	for (; keys->name; keys++)
		printf("    %-20s %-10s %s\n", keys->name, config_type_name(keys->type), keys->help);
}

static int run_keys(void)
{
	size_t n;
	const struct config_section *secs = config_sections(&n);
	for (size_t i = 0; i < n; i++) {
		char head[96];
		snprintf(head, sizeof(head), "[%s%s]", secs[i].name,
			 secs[i].subsection ? " \"NAME\"" : "");
		print_keys(head, secs[i].keys);
		if (!strcmp(secs[i].name, "source")) {
			for (size_t a = 0; a < adapters_count; a++) {
				snprintf(head, sizeof(head), "  with type = %s:", adapters[a]->name);
				print_keys(head, adapters[a]->config_keys);
			}
		} else if (!strcmp(secs[i].name, "bot")) {
			for (size_t b = 0; b < bots_count; b++) {
				snprintf(head, sizeof(head), "  [bot \"%s\"]:", bots[b]->name);
				print_keys(head, bots[b]->config_keys);
			}
		}
		printf("\n");
	}
	printf("Durations: seconds or with s/m/h/d/w (90d). Integers: k/m/g suffixes.\n");
	return EXIT_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *sub = argc > 1 ? argv[1] : "check";
	if (argc > 2)
		return cli_usage(&cmd_config, "unexpected argument '%s'", argv[2]);
	if (!strcmp(sub, "keys"))
		return run_keys();
	if (strcmp(sub, "check"))
		return cli_usage(&cmd_config, "unknown subcommand '%s' (check, keys)", sub);
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	const char **names;
	size_t nt = config_subsections(cli->cfg, "topic", &names);
	free(names);
	size_t ns = config_subsections(cli->cfg, "source", &names);
	free(names);
	size_t nb = config_subsections(cli->cfg, "bot", &names);
	free(names);
	printf("%s: ok (%zu topics, %zu sources, %zu bots)\n", cli->conf_path, nt, ns, nb);
	return EXIT_OK;
}

const struct command cmd_config = {
	.name = "config",
	.usage = "[check | keys]",
	.summary = "check cifeed.conf, or list every configuration key",
	.help = "config check (the default) validates DATADIR/cifeed.conf as `cifeed serve`\n"
		"would and names the file, section and key of the first problem (exit 4).\n"
		"config keys lists every section and key cifeed knows, with its type and\n"
		"meaning, including the keys of each source type and bot.\n",
	.run = run,
};
