/*
 * services.c - what `cifeed serve` runs (see daemon.h), in start order.
 */
#include "daemon.h"

extern const struct service service_spool, service_publisher, service_http, service_poller;

const struct service *const services[] = {
	&service_spool,
	&service_poller,
	&service_publisher,
	&service_http,
};
const size_t services_count = sizeof(services) / sizeof(*services);
