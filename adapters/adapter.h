/*
 * adapter.h - source types: the upstreams cifeed polls.
 *
 * Each source type is one file in adapters/ exporting one
 * `const struct adapter`, listed in adapters/registry.c.  The core never
 * names a source type; it looks them up by the `type` key of a
 * [source "NAME"] section.
 */
#ifndef CIFEED_ADAPTER_H
#define CIFEED_ADAPTER_H

#include "config.h"

struct adapter {
	const char *name;                     /* the `type` value, e.g. "gitlab" */
	const struct config_key *config_keys; /* keys beyond the common source keys */
};

extern const struct adapter *const adapters[];
extern const size_t adapters_count;

const struct adapter *adapter_find(const char *type);
/* Config keys specific to a source type, or NULL for an unknown type. */
const struct config_key *source_type_config_keys(const char *type);

#endif
