/*
 * cmd-init.c - `cifeed init`: create a data directory.
 *
 * Idempotent: every part that already exists is left untouched, and a
 * second run says that nothing changed.
 */
#include "cli.h"
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct command cmd_init;

static int ensure_dir(const char *path, int *created, struct err *err)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return err_set(err, ERR_IO, "%s exists and is not a directory", path);
		return 0;
	}
	if (fs_mkdir_p(path, 0755, err) < 0)
		return -1;
	printf("created %s/\n", path);
	(*created)++;
	return 0;
}

static int run(struct cli *cli, int argc, char **argv)
{
	struct err err = ERR_INIT;
	int created = 0;
	if (argc > 1)
		return cli_usage(&cmd_init, "unexpected argument '%s'", argv[1]);

	static const char *const subdirs[] = { "", "/spool/kcidb/done", "/spool/kcidb/failed",
					       "/feeds" };
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s%s", cli->datadir, subdirs[i]);
		int r = ensure_dir(p.ptr, &created, &err);
		buf_free(&p);
		if (r < 0)
			return cli_fail(&err);
	}
	if (access(cli->conf_path, F_OK) < 0) {
		if (config_write_default(cli->conf_path, &err) < 0)
			return cli_fail(&err);
		printf("created %s\n", cli->conf_path);
		created++;
	}
	if (cli_config(cli, &err) < 0)
		return cli_fail(&err);
	int db_existed = access(cli->db_path, F_OK) == 0;
	if (store_open(&cli->store, cli->db_path, 0, &err) < 0)
		return cli_fail(&err);
	if (!db_existed) {
		printf("created %s (schema version %d)\n", cli->db_path,
		       store_schema_version(cli->store));
		created++;
	} else if (store_migrations_applied(cli->store)) {
		printf("upgraded %s: applied %d schema migration%s (now at %d)\n", cli->db_path,
		       store_migrations_applied(cli->store),
		       store_migrations_applied(cli->store) == 1 ? "" : "s",
		       store_schema_version(cli->store));
		created++;
	}
	if (!created)
		printf("%s is already initialised (schema version %d); nothing changed\n",
		       cli->datadir, store_schema_version(cli->store));
	return EXIT_OK;
}

const struct command cmd_init = {
	.name = "init",
	.usage = "",
	.summary = "create a data directory: cifeed.conf, the database, spool and feeds",
	.help = "Creates DATADIR (see -d) with a commented default cifeed.conf, the SQLite\n"
		"database with the current schema, spool/kcidb/{done,failed}/ and feeds/.\n"
		"Parts that exist are left untouched; running it again changes nothing.\n"
		"An existing database is migrated to the schema of this cifeed.\n",
	.run = run,
};
