/*
 * public_inbox.c - source type `public-inbox`: a local public-inbox v2
 * archive (a lore mirror), read incrementally into patch intake.
 *
 *   [source "leds"]
 *           type = public-inbox
 *           path = /srv/lore/linux-leds
 *
 * A local source: poll_local runs one pass on a worker thread with its own
 * store connection (core/inbox_read.h does the walking; cursors per epoch
 * are committed with the messages they cover).
 */
#include "adapter.h"
#include "inbox_read.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct pi_conf {
	char *path;
	size_t batch;
};

static const struct config_key pi_keys[] = {
	{ "path", CFG_PATH, "the public-inbox v2 inbox directory (holds inbox.lock and git/N.git)" },
	{ "batch", CFG_INT, "messages per transaction (default 1000)" },
	{ NULL, 0, NULL },
};

static int pi_init(struct adapter_source *src, const struct config *cfg, struct err *err)
{
	const char *path = config_get(cfg, "source", src->name, "path");
	if (!path || !*path)
		return err_set(err, ERR_CONFIG,
			       "%s: [source \"%s\"] path: missing (the public-inbox v2 inbox directory)",
			       cfg->path, src->name);
	int64_t batch = config_get_int(cfg, "source", src->name, "batch", 1000);
	if (batch < 1 || batch > 1000000)
		return err_set(err, ERR_CONFIG,
			       "%s: [source \"%s\"] batch: %lld is out of range (1-1000000)",
			       cfg->path, src->name, (long long)batch);
	struct pi_conf *c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->batch = (size_t)batch;
	src->priv = c;
	return 0;
}

static void pi_fini(struct adapter_source *src)
{
	struct pi_conf *c = src->priv;
	if (c) {
		free(c->path);
		free(c);
	}
	src->priv = NULL;
}

static int pi_poll(const struct adapter_source *src, struct store *st, const volatile int *stop,
		   struct err *err)
{
	const struct pi_conf *c = src->priv;
	struct inbox_read_opts o = {
		.source = src->name,
		.type = "public-inbox",
		.dir = c->path,
		.batch = c->batch,
		.stop = stop,
	};
	struct inbox_read_stats s;
	if (inbox_read(st, &o, &s, err) < 0)
		return err_prefix(err, "source %s", src->name);
	log_info("intake.done",
		 "source=%s epochs=%zu commits=%zu messages=%zu patches=%zu covers=%zu "
		 "replies=%zu deleted=%zu rewrites=%zu",
		 src->name, s.epochs, s.commits, s.intake.messages, s.intake.patches,
		 s.intake.covers, s.intake.replies, s.intake.deleted, s.rewrites);
	return 0;
}

const struct adapter adapter_public_inbox = {
	.name = "public-inbox",
	.config_keys = pi_keys,
	.default_origin = "cifeed",
	.init = pi_init,
	.fini = pi_fini,
	.poll_local = pi_poll,
};
