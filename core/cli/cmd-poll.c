/*
 * cmd-poll.c - `cifeed poll`: poll sources in the foreground.
 *
 * --once runs one cycle per source and exits (cron, debugging); without
 * it the selected sources are polled until SIGINT/SIGTERM, like
 * `cifeed serve` does for all of them.  --status shows what the store
 * knows about each source without polling.
 */
#include "cli.h"
#include "log.h"
#include "poller.h"
#include "sources.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#ifdef __GLIBC__
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct command cmd_poll;

struct poll_run {
	uv_loop_t *loop;
	uv_signal_t sigint, sigterm, sighup;
	struct poller *p;
	struct cli *cli;
	int json;
	int stopped;
	size_t failed;
};

static void report(const struct poller_report *r, void *arg)
{
	struct poll_run *x = arg;
	if (!r->ok)
		x->failed++;
	if (x->json) {
		json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
		                      "source", r->source, "type", r->type, "ok", r->ok, "units",
		                      (json_int_t)r->units, "requests", (json_int_t)r->requests,
		                      "not_modified", (json_int_t)r->not_modified, "bytes",
		                      (json_int_t)r->bytes, "objects", (json_int_t)r->objects,
		                      "new", (json_int_t)r->created, "updated",
		                      (json_int_t)r->updated, "seconds", r->seconds);
		if (!r->ok)
			json_object_set_new(o, "error", json_string(r->error ? r->error : ""));
		char *s = json_dumps(o, JSON_COMPACT);
		struct buf red = BUF_INIT;
		log_redact(&red, s, strlen(s));
		printf("%s\n", red.ptr);
		buf_free(&red);
		free(s);
		json_decref(o);
	} else if (r->ok) {
		printf("%s: ok: %llu unit%s, %llu request%s (%llu not modified), %llu bytes, %llu "
		       "object%s (%llu new, %llu updated) in %.2fs\n",
		       r->source, (unsigned long long)r->units, r->units == 1 ? "" : "s",
		       (unsigned long long)r->requests, r->requests == 1 ? "" : "s",
		       (unsigned long long)r->not_modified, (unsigned long long)r->bytes,
		       (unsigned long long)r->objects, r->objects == 1 ? "" : "s",
		       (unsigned long long)r->created, (unsigned long long)r->updated, r->seconds);
	} else {
		struct buf red = BUF_INIT;
		const char *e = r->error ? r->error : "failed";
		log_redact(&red, e, strlen(e));
		printf("%s: FAILED after %llu committed unit%s: %s\n", r->source,
		       (unsigned long long)r->units, r->units == 1 ? "" : "s", red.ptr);
		buf_free(&red);
	}
	fflush(stdout);
}

static void stopped(void *arg)
{
	struct poll_run *x = arg;
	x->stopped = 1;
	x->p = NULL;
	uv_close((uv_handle_t *)&x->sigint, NULL);
	uv_close((uv_handle_t *)&x->sigterm, NULL);
	uv_close((uv_handle_t *)&x->sighup, NULL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct poll_run *x = h->data;
	log_info("poll.signal", "signal=%s", signum == SIGTERM ? "TERM" : "INT");
	if (x->p)
		poller_stop(x->p);
}

static void on_hup(uv_signal_t *h, int signum)
{
	struct poll_run *x = h->data;
	struct config *cfg;
	struct err err = ERR_INIT;
	(void)signum;
	if (!x->p)
		return;
	if (config_load(x->cli->conf_path, &cfg, &err) < 0) {
		log_error("config.reload_failed", "error=%s action=%s", err_msg(&err),
		          "keeping the running configuration");
		err_free(&err);
		return;
	}
	log_info("config.reloaded", "file=%s", x->cli->conf_path);
	poller_reload(x->p, cfg);
	config_free(x->cli->cfg);
	x->cli->cfg = cfg;
}

static int print_status(struct cli *cli, char **names, int n, int json)
{
	struct err err = ERR_INIT;
	const char **all;
	size_t total = config_subsections(cli->cfg, "source", &all);
	int status = EXIT_OK;
	for (size_t i = 0; i < total; i++) {
		const char *name = all[i];
		if (n) {
			int want = 0;
			for (int k = 0; k < n; k++)
				if (!strcmp(names[k], name))
					want = 1;
			if (!want)
				continue;
		}
		json_t *cursor = NULL;
		struct sources_state st;
		if (sources_cursor_load(cli->store, name, &cursor, &err) < 0 ||
		    sources_state_load(cli->store, name, &st, &err) < 0) {
			status = cli_fail(&err);
			err_clear(&err);
			continue;
		}
		const char *type = config_get(cli->cfg, "source", name, "type");
		int enabled = config_get_bool(cli->cfg, "source", name, "enabled", 1);
		char *cur = cursor ? json_dumps(cursor, JSON_COMPACT) : NULL;
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:b, s:I}", "source", name, "type",
			                      type ? type : "", "enabled", enabled, "failures",
			                      (json_int_t)st.failures);
			if (cursor)
				json_object_set(o, "cursor", cursor);
			if (st.last_ok_at)
				json_object_set_new(o, "last_ok", json_string(st.last_ok_at));
			if (st.last_error_at) {
				json_object_set_new(o, "last_error_at",
				                    json_string(st.last_error_at));
				json_object_set_new(
				    o, "last_error",
				    json_string(st.last_error ? st.last_error : ""));
			}
			if (st.next_poll_at)
				json_object_set_new(o, "next_poll_at",
				                    json_integer(st.next_poll_at));
			char *s = json_dumps(o, JSON_COMPACT);
			printf("%s\n", s);
			free(s);
			json_decref(o);
		} else {
			printf("%s (%s%s)\n", name, type ? type : "?", enabled ? "" : ", disabled");
			printf("  last ok:    %s\n", st.last_ok_at ? st.last_ok_at : "never");
			if (st.last_error_at)
				printf("  last error: %s %s\n", st.last_error_at,
				       st.last_error ? st.last_error : "");
			if (st.failures) {
				char when[32] = "now";
				if (st.next_poll_at > time(NULL)) {
					time_t t = (time_t)st.next_poll_at;
					struct tm tm;
					gmtime_r(&t, &tm);
					strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
				}
				printf("  failures:   %lld in a row, next attempt %s\n",
				       (long long)st.failures, when);
			}
			printf("  cursor:     %s\n", cur ? cur : "(none: not polled yet)");
		}
		free(cur);
		json_decref(cursor);
		sources_state_free(&st);
	}
	free(all);
	err_free(&err);
	return status;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, '1'},
	    {"json", no_argument, NULL, 'j'},
	    {"status", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	int once = 0, json = 0, status_only = 0, c;
	struct err err = ERR_INIT;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case '1':
			once = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			status_only = 1;
			break;
		default:
			return cli_usage(&cmd_poll, NULL);
		}
	}
	if (cli_store(cli, 0, &err) < 0)
		return cli_fail(&err);
	char **names = argv + optind;
	int n = argc - optind;
	for (int i = 0; i < n; i++)
		if (!config_get(cli->cfg, "source", names[i], "type"))
			return cli_usage(&cmd_poll, "no source named '%s' in %s", names[i],
			                 cli->conf_path);
	if (status_only)
		return print_status(cli, names, n, json);

	const char **only = NULL;
	if (n) {
		only = xcalloc((size_t)n + 1, sizeof(*only));
		for (int i = 0; i < n; i++)
			only[i] = names[i];
	}
	cli_long_running();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct poll_run x = {0};
	x.loop = &loop;
	x.cli = cli;
	x.json = json;
	uv_signal_init(&loop, &x.sigint);
	uv_signal_init(&loop, &x.sigterm);
	uv_signal_init(&loop, &x.sighup);
	x.sigint.data = x.sigterm.data = x.sighup.data = &x;
	uv_signal_start(&x.sigint, on_stop_signal, SIGINT);
	uv_signal_start(&x.sigterm, on_stop_signal, SIGTERM);
	if (!once)
		uv_signal_start(&x.sighup, on_hup, SIGHUP);
	struct poller_options o = {
	    .once = once, .only = only, .report = report, .stopped = stopped, .arg = &x};
	int rc = EXIT_OK;
	if (poller_start(&loop, cli->cfg, cli->db_path, &o, &x.p, &err) < 0) {
		rc = err.code == ERR_USAGE ? cli_usage(&cmd_poll, "%s", err_msg(&err))
		                           : cli_fail(&err);
		uv_close((uv_handle_t *)&x.sigint, NULL);
		uv_close((uv_handle_t *)&x.sigterm, NULL);
		uv_close((uv_handle_t *)&x.sighup, NULL);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(only);
	err_free(&err);
	if (rc == EXIT_OK && x.failed)
		rc = EXIT_FAILURE_;
	return rc;
}

const struct command cmd_poll = {
    .name = "poll",
    .usage = "[--once] [--json] [--status] [SOURCE...]",
    .summary = "poll upstream CI systems (all [source] sections, or the ones named)",
    .help = "Polls the sources of cifeed.conf ([source \"NAME\"] sections; all enabled ones\n"
            "unless names are given) and stores what they report. Each page of results\n"
            "is stored in one transaction together with the source's cursor, so an\n"
            "interrupted poll resumes where it stopped, with nothing lost or doubled.\n\n"
            "Without --once the sources are polled every `interval` until SIGINT or\n"
            "SIGTERM (SIGHUP reloads cifeed.conf); `cifeed serve` does the same for\n"
            "every source alongside its other services.\n\n"
            "Options:\n"
            "  --once     one cycle per source (all pages from its cursor), then exit;\n"
            "             one line per source on stdout\n"
            "  --json     with --once or --status: one JSON object per source\n"
            "  --status   show each source's cursor, last success and last error\n"
            "             without polling\n\n"
            "Logs (key=value on stderr) name the source and URL of every failure;\n"
            "tokens (token-file, token-env) are never shown. A failed source backs off\n"
            "exponentially (up to `backoff-max`) and honours Retry-After.\n\n"
            "Exit status: 0 every source polled, 2 usage (unknown source), 4 configuration\n"
            "error, 5 some source failed (--once).\n",
    .run = run,
};
