/*
 * test_feed_atom.c - Atom rendering and topic listing from a feed on disk.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_atom.h"
#include "feed_reader.h"
#include "feed_writer.h"

static char tmpdir[256];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_feed_atom.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("cleanup failed");
}

TestSuite(feed_atom, .init = setup, .fini = teardown);

static void write_topic(const char *name, int n)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/feeds/%s", tmpdir, name);
	struct feed_writer *w;
	struct err err = ERR_INIT;
	struct feed_writer_opts o = { .name = name, .address = "ci@example.org",
				      .description = "Net <fail> & friends" };
	cr_assert_eq(feed_writer_open(&w, dir, &o, &err), 0, "%s", err_msg(&err));
	for (int i = 0; i < n; i++) {
		struct buf m = BUF_INIT;
		buf_addf(&m,
			 "From: CI <ci@example.org>\nSubject: =?UTF-8?B?PHNjcmlwdD4=?= result %d & more\n"
			 "Date: Mon, 01 Jan 2024 10:%02d:00 +0000\nMessage-ID: <r%d@example.org>\n"
			 "X-CI-Status: FAIL\nContent-Type: text/plain; charset=utf-8\n\n"
			 "FAIL ltp.<b>x</b> \x01 %d\n",
			 i, i, i, i);
		cr_assert_geq(feed_writer_add(w, m.ptr, m.len, NULL, &err), 0);
		buf_free(&m);
	}
	cr_assert_eq(feed_writer_flush(w, &err), 0);
	feed_writer_close(w);
}

Test(feed_atom, newest_first_escaped_and_limited)
{
	write_topic("net-fail", 5);
	char feeds[512];
	snprintf(feeds, sizeof(feeds), "%s/feeds", tmpdir);
	struct buf out = BUF_INIT;
	struct err err = ERR_INIT;
	cr_assert_eq(feed_atom_render(feeds, "net-fail", "http://127.0.0.1:8080", 3, &out, &err),
		     0, "%s", err_msg(&err));
	const char *s = out.ptr;
	cr_assert(strstr(s, "<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
	cr_assert(strstr(s, "<title>Net &lt;fail&gt; &amp; friends</title>"), "%s", s);
	cr_assert(strstr(s, "<title>&lt;script&gt; result 4 &amp; more</title>"), "%s", s);
	cr_assert(!strstr(s, "<script>"));
	cr_assert(!strstr(s, "\x01"));
	cr_assert(strstr(s, "href=\"http://127.0.0.1:8080/net-fail/r4@example.org/\""), "%s", s);
	cr_assert(strstr(s, "<updated>2024-01-01T10:04:00Z</updated>"), "%s", s);
	cr_assert(strstr(s, "<category term=\"FAIL\"/>"));
	/* newest first, only 3 */
	const char *e4 = strstr(s, "result 4"), *e3 = strstr(s, "result 3"), *e2 = strstr(s, "result 2");
	cr_assert(e4 && e3 && e2 && e4 < e3 && e3 < e2);
	cr_assert_null(strstr(s, "result 1"));
	buf_reset(&out);
	cr_assert_eq(feed_atom_render(feeds, "nope", NULL, 0, &out, &err), -1);
	cr_assert_eq(err.code, ERR_NOTFOUND);
	cr_assert_eq(feed_atom_render(feeds, "../etc", NULL, 0, &out, &err), -1);
	cr_assert_eq(err.code, ERR_USAGE);
	buf_free(&out);
	err_free(&err);
}

Test(feed_atom, topics_list_counts)
{
	write_topic("b-topic", 2);
	write_topic("a-topic", 4);
	char feeds[512];
	snprintf(feeds, sizeof(feeds), "%s/feeds", tmpdir);
	struct feed_topic_info *t;
	size_t n;
	struct err err = ERR_INIT;
	cr_assert_eq(feed_topics_list(feeds, &t, &n, &err), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(t[0].name, "a-topic");
	cr_assert_eq(t[0].info.messages, 4);
	cr_assert_eq(t[1].info.messages, 2);
	cr_assert_eq(t[0].info.epochs, 1);
	cr_assert_str_eq(t[0].info.description, "Net <fail> & friends");
	feed_topics_free(t, n);
}
