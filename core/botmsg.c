/*
 * botmsg.c - bot mail without I/O (see botmsg.h): rendering, Message-IDs,
 * "stop" replies, opt-out lists, bot senders.
 *
 * Kept pure so every rule about what a bot writes and whom it leaves alone
 * is tested from files and strings, not through SMTP.
 */
#include "botmsg.h"
#include "formats.h"
#include "mime.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void botmsg_msgid(const char *bot, const char *root_msgid, const char *recipient,
		  const char *domain, struct buf *out)
{
	crypto_hash_sha256_state st;
	unsigned char h[32];
	crypto_hash_sha256_init(&st);
	const char *parts[] = { "cifeed-bot", bot, root_msgid, recipient };
	for (size_t i = 0; i < 4; i++)
		crypto_hash_sha256_update(&st, (const unsigned char *)parts[i], strlen(parts[i]) + 1);
	crypto_hash_sha256_final(&st, h);
	buf_addhex(out, h, 16);
	buf_addf(out, ".%s@%s", bot, domain && *domain ? domain : "localhost");
}

char *botmsg_addr_lower(const char *addr)
{
	char *s = xstrdup(addr ? addr : "");
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return s;
}

int botmsg_first_name(const char *display, struct buf *out)
{
	if (!display)
		return 0;
	while (*display == ' ' || *display == '"')
		display++;
	if (strpbrk(display, ",@()<>[]:;\"\\"))
		return 0;
	size_t n = strcspn(display, " ");
	if (!n || !display[n] || n > 40) /* one word: could be a nick or a surname */
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)display[i];
		if (!(isalpha(c) || c >= 0x80 || c == '-' || c == '\''))
			return 0;
	}
	if (!utf8_valid(display, n))
		return 0;
	buf_add(out, display, n);
	return 1;
}

int botmsg_render(const struct botmsg_in *in, struct buf *out, struct err *err)
{
	char date[40];
	if (!in->to_addr || !fmt_is_email(in->to_addr))
		return err_set(err, ERR_INVALID, "recipient '%s' is not a usable address",
			       in->to_addr ? in->to_addr : "");
	if (!in->from_addr || !fmt_is_email(in->from_addr))
		return err_set(err, ERR_CONFIG, "From address '%s' is not a usable address",
			       in->from_addr ? in->from_addr : "");
	if (mime_add_addr(out, "From", in->from_name, in->from_addr) < 0 ||
	    mime_add_addr(out, "To", in->to_name, in->to_addr) < 0)
		return err_set(err, ERR_INTERNAL, "address rendering failed");
	struct buf subj = BUF_INIT;
	const char *s = in->subject ? in->subject : "";
	if (strncasecmp(s, "re:", 3) != 0)
		buf_adds(&subj, "Re: ");
	buf_adds(&subj, s);
	mime_add_text(out, "Subject", subj.ptr);
	buf_free(&subj);
	mime_format_date(in->date, date);
	buf_addf(out, "Date: %s\n", date);
	const char *ids[1] = { in->msgid };
	mime_add_ids(out, "Message-ID", ids, 1);
	if (in->in_reply_to && mime_id_safe(in->in_reply_to)) {
		const char *r[1] = { in->in_reply_to };
		mime_add_ids(out, "In-Reply-To", r, 1);
		mime_add_ids(out, "References", r, 1);
	}
	buf_adds(out, "Auto-Submitted: auto-generated\n");
	buf_adds(out, "X-Auto-Response-Suppress: All\n");
	mime_add_text(out, "X-Cifeed-Bot", in->bot);

	struct buf body = BUF_INIT;
	buf_adds(&body, in->body ? in->body : "");
	buf_rtrim(&body);
	buf_addf(&body, "\n\n-- \nI am a bot: %s, run by cifeed. It writes once per series and\n"
			"at most once per sender in a long while.\n",
		 in->bot);
	if (in->docs_url && *in->docs_url)
		buf_addf(&body, "To stop these, reply \"stop\" or see:\n%s\n", in->docs_url);
	else
		buf_adds(&body, "To stop these, reply \"stop\".\n");
	mime_add_text_body(out, body.ptr, body.len);
	buf_free(&body);
	return 0;
}

/* ------------------------------------------------------------ stop replies */

static int is_word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

/* The word `w` (lower case) in s[0..len), case-insensitive, on word boundaries. */
static int has_word(const char *s, size_t len, const char *w)
{
	size_t wl = strlen(w);
	for (size_t i = 0; i + wl <= len; i++) {
		if (strncasecmp(s + i, w, wl))
			continue;
		if (i > 0 && is_word_char((unsigned char)s[i - 1]))
			continue;
		if (i + wl < len && is_word_char((unsigned char)s[i + wl]))
			continue;
		return 1;
	}
	return 0;
}

static const char *skip_re(const char *s)
{
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!strncasecmp(s, "re:", 3) || !strncasecmp(s, "aw:", 3) ||
		    !strncasecmp(s, "sv:", 3))
			s += 3;
		else
			return s;
	}
}

int botmsg_is_stop(const struct mail *m)
{
	const char *subj = skip_re(m->subject ? m->subject : "");
	size_t sl = strlen(subj);
	while (sl && (subj[sl - 1] == ' ' || subj[sl - 1] == '.' || subj[sl - 1] == '!'))
		sl--;
	if ((sl == 4 && !strncasecmp(subj, "stop", 4)) ||
	    (sl == 11 && !strncasecmp(subj, "unsubscribe", 11)))
		return 1;
	const char *b = buf_cstr(&m->body), *end = b + m->body.len;
	while (b < end) {
		const char *nl = memchr(b, '\n', (size_t)(end - b));
		size_t ll = nl ? (size_t)(nl - b) : (size_t)(end - b);
		const char *p = b;
		while (p < b + ll && (*p == ' ' || *p == '\t'))
			p++;
		size_t pl = ll - (size_t)(p - b);
		if ((pl && *p == '>') || (pl == 3 && !memcmp(p, "-- ", 3)) ||
		    (ll == 3 && !memcmp(b, "-- ", 3)) ||
		    (pl >= 5 && !strncasecmp(p, "-----", 5) && has_word(p, pl, "original")))
			break;
		/* "On <date>, <someone> wrote:" introduces the quote */
		if (pl >= 8 && p[pl - 1] == ':' && has_word(p, pl, "wrote"))
			break;
		if (has_word(b, ll, "stop"))
			return 1;
		b = nl ? nl + 1 : end;
	}
	return 0;
}

/* ------------------------------------------------------------ addresses */

int botmsg_addr_match(const char *pattern, const char *addr)
{
	/* iterative '*' glob, case-insensitive */
	const char *p = pattern, *a = addr, *star = NULL, *mark = NULL;
	while (*a) {
		if (*p == '*') {
			star = p++;
			mark = a;
		} else if (tolower((unsigned char)*p) == tolower((unsigned char)*a)) {
			p++;
			a++;
		} else if (star) {
			p = star + 1;
			a = ++mark;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static const char *const bot_senders[] = {
	"lkp@intel.com",                    /* kernel test robot (0-day) */
	"oliver.sang@intel.com",            /* its regression reports */
	"patchwork-bot*@kernel.org",        /* pwbot */
	"pr-tracker-bot@kernel.org",
	"bugbot@kernel.org",                /* bugspray */
	"no-reply@patchew.org",
	"syzbot*@syzkaller.appspotmail.com",
	"*noreply*@*",
	"*no-reply*@*",
	"*-bot@*",
	"*+bot@*",
	"mailer-daemon@*",
	"postmaster@*",
	NULL,
};

const char *botmsg_bot_sender(const char *addr, const char *const *extra, size_t n)
{
	if (!addr)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (botmsg_addr_match(extra[i], addr))
			return extra[i];
	for (size_t i = 0; bot_senders[i]; i++)
		if (botmsg_addr_match(bot_senders[i], addr))
			return bot_senders[i];
	return NULL;
}

const char *botmsg_undeliverable(const char *addr)
{
	static const char *const pats[] = { "devnull@*", "devnull+*@*", "nobody@*",
					    "*@localhost", "*@localhost.localdomain", NULL };
	for (size_t i = 0; pats[i]; i++)
		if (botmsg_addr_match(pats[i], addr))
			return pats[i];
	return NULL;
}

/* ------------------------------------------------------------ opt-out list */

void botmsg_optlist_free(struct bot_optlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->pat[i]);
	free(l->pat);
	free(l->line);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

/* an address pattern: addr-spec characters and '*', one '@' */
static int valid_pattern(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return 0;
	for (const char *c = s; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u <= 32 || u >= 127 || strchr("<>()[]\\,;:\"", u))
			return 0;
	}
	return 1;
}

int botmsg_optlist_read(const char *path, struct bot_optlist *l, struct err *err)
{
	struct buf b = BUF_INIT;
	memset(l, 0, sizeof(*l));
	if (buf_read_file(&b, path, 64u << 20) < 0) {
		err_errno(err, ERR_CONFIG, "opt-out file %s", path);
		buf_free(&b);
		return -1;
	}
	l->path = xstrdup(path);
	size_t lineno = 0, cap = 0;
	char *next = b.len ? b.ptr : NULL;
	while (next) {
		char *ln = next;
		char *nl = strchr(ln, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if (!nl && !*ln)
			break;
		char *hash = strchr(ln, '#');
		if (hash)
			*hash = '\0';
		char *s = ln;
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = strlen(s);
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
			s[--n] = '\0';
		if (!n)
			continue;
		char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
		if (lt && gt && !gt[1]) { /* "Name <addr>" */
			*gt = '\0';
			s = lt + 1;
		}
		if (!valid_pattern(s)) {
			err_set(err, ERR_CONFIG, "opt-out file %s:%zu: '%.80s' is not an address",
				path, lineno, s);
			buf_free(&b);
			botmsg_optlist_free(l);
			return -1;
		}
		if (l->n == cap) {
			cap = cap ? cap * 2 : 16;
			l->pat = xrealloc(l->pat, cap * sizeof(*l->pat));
			l->line = xrealloc(l->line, cap * sizeof(*l->line));
		}
		l->pat[l->n] = botmsg_addr_lower(s);
		l->line[l->n++] = lineno;
	}
	buf_free(&b);
	return 0;
}

size_t botmsg_optlist_match(const struct bot_optlist *l, const char *addr)
{
	for (size_t i = 0; addr && i < l->n; i++)
		if (botmsg_addr_match(l->pat[i], addr))
			return l->line[i];
	return 0;
}
