/*
 * registry.c - the list of bots (see bot.h).
 */
#include "bot.h"

#include <string.h>

extern const struct bot bot_basenag;

const struct bot *const bots[] = { &bot_basenag };
const size_t bots_count = sizeof(bots) / sizeof(*bots);

const struct bot *bot_find(const char *name)
{
	for (size_t i = 0; i < bots_count; i++)
		if (!strcmp(bots[i]->name, name))
			return bots[i];
	return NULL;
}

const struct config_key *bot_config_keys(const char *name)
{
	const struct bot *b = bot_find(name);
	return b ? b->config_keys : NULL;
}
