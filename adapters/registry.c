/*
 * registry.c - the list of source types (see adapter.h).
 *
 * Adding a source type is adding its file and one line here.
 */
#include "adapter.h"

#include <string.h>

static const struct config_key no_keys[] = { { NULL, 0, NULL } };

extern const struct adapter adapter_gitlab, adapter_gerrit, adapter_kernelci, adapter_patchwork,
	adapter_public_inbox;

const struct adapter *const adapters[] = {
	&adapter_gitlab,
	&adapter_gerrit,
	&adapter_kernelci,
	&adapter_patchwork,
	&adapter_public_inbox,
};
const size_t adapters_count = sizeof(adapters) / sizeof(*adapters);

const struct adapter *adapter_find(const char *type)
{
	for (size_t i = 0; i < adapters_count; i++)
		if (!strcmp(adapters[i]->name, type))
			return adapters[i];
	return NULL;
}

const struct config_key *source_type_config_keys(const char *type)
{
	const struct adapter *a = adapter_find(type);
	if (!a)
		return NULL;
	return a->config_keys ? a->config_keys : no_keys;
}
