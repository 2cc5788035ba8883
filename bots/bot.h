/*
 * bot.h - bots that act on patch feeds.
 *
 * Each bot is one file in bots/ exporting one `const struct bot`, listed in
 * bots/registry.c, configured by a [bot "NAME"] section.
 */
#ifndef CIFEED_BOT_H
#define CIFEED_BOT_H

#include "config.h"

struct bot {
	const char *name;
	const struct config_key *config_keys; /* beyond enabled / dry-run */
};

extern const struct bot *const bots[];
extern const size_t bots_count;

const struct bot *bot_find(const char *name);
/* Config keys of a bot, or NULL for an unknown bot. */
const struct config_key *bot_config_keys(const char *name);

#endif
