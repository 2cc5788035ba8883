/*
 * test_bot_msg.c - bot mail without SMTP (botmsg.h): rendering and its
 * safety against hostile input, deterministic Message-IDs, "stop" replies,
 * opt-out files, bot senders; and smtp_url_is_loopback.
 * Fixtures: tests/data/bots/.
 */
#include "botmsg.h"
#include "mime.h"
#include "smtp.h"
#include "testutil.h"

static void load_mail(const char *name, struct mail *m)
{
	struct buf p = BUF_INIT, raw = BUF_INIT;
	buf_addf(&p, "tests/data/bots/%s", name);
	char *path = srcdir_path(p.ptr);
	cr_assert(buf_read_file(&raw, path, 1 << 20) == 0, "cannot read %s", path);
	mail_parse(raw.ptr, raw.len, m);
	free(path);
	buf_free(&p);
	buf_free(&raw);
}

Test(bot_msg, stop_replies)
{
	struct mail m;
	load_mail("stop-reply.eml", &m);
	cr_assert(botmsg_is_stop(&m), "\"STOP.\" above the quote is an opt-out");
	mail_free(&m);
	load_mail("quoted-stop.eml", &m);
	cr_assert(!botmsg_is_stop(&m), "\"stop\" only in the quote (and \"stopwatch\") is not");
	mail_free(&m);
	load_mail("outlook-reply.eml", &m);
	cr_assert(!botmsg_is_stop(&m), "text below -----Original Message----- is a quote");
	mail_free(&m);
	load_mail("subject-stop.eml", &m);
	cr_assert(botmsg_is_stop(&m), "Subject: Unsubscribe");
	mail_free(&m);
}

Test(bot_msg, msgid_is_deterministic)
{
	struct buf a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
	botmsg_msgid("basenag", "root@x", "nora@example.org", "bot.test", &a);
	botmsg_msgid("basenag", "root@x", "nora@example.org", "bot.test", &b);
	botmsg_msgid("basenag", "root@x", "sam@example.org", "bot.test", &c);
	cr_assert_str_eq(a.ptr, b.ptr);
	cr_assert_str_neq(a.ptr, c.ptr);
	cr_assert(mime_id_safe(a.ptr));
	cr_assert(strstr(a.ptr, ".basenag@bot.test") && strlen(a.ptr) == 32 + strlen(".basenag@bot.test"));
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
}

Test(bot_msg, render_is_private_and_safe)
{
	char *path = srcdir_path("tests/data/bots/hostile-series.json");
	json_t *j = load_json(path);
	free(path);
	struct buf out = BUF_INIT;
	struct err err = ERR_INIT;
	struct botmsg_in in = {
		.bot = "basenag",
		.from_name = "cifeed basenag",
		.from_addr = "bot@bot.test",
		.to_name = json_string_value(json_object_get(j, "name")),
		.to_addr = json_string_value(json_object_get(j, "email")),
		.subject = json_string_value(json_object_get(j, "subject")),
		.in_reply_to = json_string_value(json_object_get(j, "msgid")),
		.msgid = "0123.basenag@bot.test",
		.date = 1795339831,
		.body = "Hi,\n\n.a line starting with a dot\nJörg's text\n",
		.docs_url = "https://ci.example.org/basenag",
	};
	cr_assert(botmsg_render(&in, &out, &err) == 0, "%s", err_msg(&err));
	/* the header block: no injected field survives, one To, no Cc/Bcc */
	struct mime_msg mm;
	mime_parse(&mm, out.ptr, out.len);
	cr_assert_eq(mime_count(&mm, "Bcc"), 0);
	cr_assert_eq(mime_count(&mm, "Cc"), 0);
	cr_assert_eq(mime_count(&mm, "X-Evil"), 0);
	cr_assert_eq(mime_count(&mm, "X-Injected"), 0);
	cr_assert_eq(mime_count(&mm, "To"), 1);
	cr_assert_eq(mime_count(&mm, "In-Reply-To"), 0, "an unsafe Message-ID is left out");
	struct buf v = BUF_INIT;
	cr_assert(mime_get(&mm, "Auto-Submitted", 0, &v));
	cr_assert_str_eq(v.ptr, "auto-generated");
	buf_reset(&v);
	cr_assert(mime_get_decoded(&mm, "Subject", 0, &v));
	cr_assert(!strncmp(v.ptr, "Re: [PATCH] leds: x", 19), "%s", v.ptr);
	buf_reset(&v);
	cr_assert(mime_get(&mm, "Content-Transfer-Encoding", 0, &v));
	cr_assert_str_eq(v.ptr, "quoted-printable", "non-ASCII text needs no 8BITMIME");
	/* the body decodes to the text, the footer says bot and how to stop */
	struct mime_part *parts;
	size_t n = mime_parts(&mm, &parts);
	cr_assert_eq(n, 1);
	const char *b = parts[0].body.ptr;
	cr_assert(strstr(b, "J\xc3\xb6rg's text"));
	cr_assert(strstr(b, "\n-- \nI am a bot: basenag"));
	cr_assert(strstr(b, "reply \"stop\""));
	cr_assert(strstr(b, "https://ci.example.org/basenag"));
	mime_parts_free(parts, n);
	mime_msg_free(&mm);
	buf_free(&v);
	/* an unusable recipient is refused */
	buf_reset(&out);
	in.to_addr = "not an address";
	cr_assert(botmsg_render(&in, &out, &err) < 0);
	buf_free(&out);
	err_free(&err);
	json_decref(j);
}

Test(bot_msg, first_names)
{
	struct buf b = BUF_INIT;
	cr_assert(botmsg_first_name("Nora Neuling", &b));
	cr_assert_str_eq(b.ptr, "Nora");
	buf_reset(&b);
	cr_assert(botmsg_first_name("J\xc3\xb6rg M\xc3\xbcller", &b));
	cr_assert_str_eq(b.ptr, "J\xc3\xb6rg");
	buf_reset(&b);
	cr_assert(!botmsg_first_name("Neuling, Nora", &b), "Last, First is ambiguous");
	cr_assert(!botmsg_first_name("nora", &b), "one word");
	cr_assert(!botmsg_first_name("kernel test robot <x>", &b));
	cr_assert(!botmsg_first_name(NULL, &b));
	buf_free(&b);
}

Test(bot_msg, opt_out_file)
{
	struct bot_optlist l;
	struct err err = ERR_INIT;
	char *good = srcdir_path("tests/data/bots/optout-good.txt");
	char *bad = srcdir_path("tests/data/bots/optout-bad.txt");
	cr_assert(botmsg_optlist_read(good, &l, &err) == 0, "%s", err_msg(&err));
	cr_assert_eq(l.n, 3);
	cr_assert_eq(botmsg_optlist_match(&l, "nora@example.org"), 3);
	cr_assert_eq(botmsg_optlist_match(&l, "otto@example.com"), 4, "case-insensitive, Name <addr>");
	cr_assert_eq(botmsg_optlist_match(&l, "anyone@opted.example"), 5, "globs");
	cr_assert_eq(botmsg_optlist_match(&l, "sam@example.org"), 0);
	botmsg_optlist_free(&l);
	cr_assert(botmsg_optlist_read(bad, &l, &err) < 0);
	cr_assert(strstr(err_msg(&err), "optout-bad.txt:3: 'not an address' is not an address"),
		  "%s", err_msg(&err));
	cr_assert(botmsg_optlist_read("/nonexistent/optout", &l, &err) < 0, "a missing file fails safe");
	err_free(&err);
	free(good);
	free(bad);
}

Test(bot_msg, bot_senders)
{
	cr_assert(botmsg_bot_sender("lkp@intel.com", NULL, 0));
	cr_assert(botmsg_bot_sender("patchwork-bot+netdevbpf@kernel.org", NULL, 0));
	cr_assert(botmsg_bot_sender("syzbot+1234@syzkaller.appspotmail.com", NULL, 0));
	cr_assert(botmsg_bot_sender("no-reply@patchew.org", NULL, 0));
	cr_assert(!botmsg_bot_sender("nora@example.org", NULL, 0));
	const char *extra[] = { "*@ci.example.com" };
	cr_assert(botmsg_bot_sender("builder@ci.example.com", extra, 1));
	cr_assert(botmsg_undeliverable("devnull+jane.example.org@kernel.org"));
	cr_assert(!botmsg_undeliverable("jane@example.org"));
	cr_assert(botmsg_addr_match("*@Example.ORG", "nora@example.org"));
	cr_assert(!botmsg_addr_match("*@example.org", "nora@example.org.evil"));
}

Test(bot_msg, loopback)
{
	cr_assert(smtp_url_is_loopback("smtp://127.0.0.1:2525"));
	cr_assert(smtp_url_is_loopback("smtp://localhost"));
	cr_assert(smtp_url_is_loopback("smtp://[::1]:25"));
	cr_assert(!smtp_url_is_loopback("smtps://mail.example.org:465"));
	cr_assert(!smtp_url_is_loopback("smtp://127example.org"));
}
