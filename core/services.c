/*
 * services.c - what `cifeed serve` runs (see daemon.h), in start order.
 * The bots come after intake so a pass sees what intake stored.
 */
#include "daemon.h"

extern const struct service service_spool, service_publisher, service_http, service_poller,
	service_bots;

const struct service *const services[] = {
	&service_spool,
	&service_poller,
	&service_publisher,
	&service_http,
	&service_bots,
};
const size_t services_count = sizeof(services) / sizeof(*services);
