/*
 * registry.c - the list of bots (see bot.h).
 */
#include "bot.h"

#include <string.h>

static const struct config_key no_keys[] = { { NULL, 0, NULL } };

const struct bot *const bots[] = { NULL };
const size_t bots_count = 0;

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
	if (!b)
		return NULL;
	return b->config_keys ? b->config_keys : no_keys;
}
