/*
 * feed_atom.c - Atom 1.0 rendering of a topic feed (see feed_atom.h).
 *
 * Reads the newest messages with feed_read(FEED_READ_NEWEST_FIRST) and
 * writes the XML by hand: the document is small and fixed, and every value
 * goes through feed_xml_escape, so there is nothing a library would add.
 */
#include "feed_atom.h"
#include "feed_reader.h"
#include "formats.h"
#include "mime.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void feed_xml_escape(struct buf *out, const char *s, size_t len)
{
	struct buf clean = BUF_INIT;
	/* valid UTF-8, no control characters but TAB and LF (XML 1.0 Char) */
	mime_text_sanitize(s, len, &clean, 1);
	for (size_t i = 0; i < clean.len; i++) {
		unsigned char c = (unsigned char)clean.ptr[i];
		switch (c) {
		case '&':
			buf_adds(out, "&amp;");
			break;
		case '<':
			buf_adds(out, "&lt;");
			break;
		case '>':
			buf_adds(out, "&gt;");
			break;
		case '"':
			buf_adds(out, "&quot;");
			break;
		case '\'':
			buf_adds(out, "&#39;");
			break;
		case 0xef:
			/* U+FFFE and U+FFFF are not XML characters */
			if (i + 2 < clean.len && (unsigned char)clean.ptr[i + 1] == 0xbf &&
			    ((unsigned char)clean.ptr[i + 2] == 0xbe ||
			     (unsigned char)clean.ptr[i + 2] == 0xbf)) {
				i += 2;
				break;
			}
			/* fall through */
		default:
			buf_addch(out, (char)c);
		}
	}
	buf_free(&clean);
}

static void xml_s(struct buf *out, const char *s)
{
	feed_xml_escape(out, s, strlen(s));
}

/* RFC 3986 percent-encoding of everything but unreserved and a few safe characters. */
static void pct(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~!$&'()*+,;=:@", c))
			buf_addch(out, (char)c);
		else {
			buf_addch(out, '%');
			buf_addch(out, hex[c >> 4]);
			buf_addch(out, hex[c & 15]);
		}
	}
}

struct atom_ctx {
	struct buf entries;
	size_t limit, n;
	int64_t newest;
	const char *base; /* "BASE/TOPIC/" */
};

static void entry_time(const struct mime_msg *m, int64_t fallback, char out[32])
{
	struct buf v = BUF_INIT;
	int64_t t;
	int tz;
	if (!mime_get(m, "Date", 0, &v) || mime_date_parse(v.ptr, &t, &tz) < 0)
		t = fallback;
	buf_free(&v);
	fmt_unix_rfc3339(t, out);
}

static int atom_entry(const struct feed_msg *fm, void *arg, struct err *err)
{
	(void)err;
	struct atom_ctx *c = arg;
	struct mime_msg m;
	mime_parse(&m, fm->data, fm->len);
	struct buf subj = BUF_INIT, from = BUF_INIT, name = BUF_INIT, addr = BUF_INIT,
		   v = BUF_INIT;
	struct mime_ids ids = { 0 };
	mime_msg_ids(&m, &ids);
	if (!mime_get_decoded(&m, "Subject", 0, &subj) || !subj.len)
		buf_adds(&subj, "(no subject)");
	if (mime_get(&m, "From", 0, &from))
		mime_addr_parse(from.ptr, from.len, &name, &addr);
	char when[32];
	entry_time(&m, fm->commit_time, when);
	int64_t t;
	int tz;
	buf_reset(&v);
	if (mime_get(&m, "Date", 0, &v) && mime_date_parse(v.ptr, &t, &tz) == 0) {
		if (t > c->newest)
			c->newest = t;
	} else if (fm->commit_time > c->newest) {
		c->newest = fm->commit_time;
	}
	struct buf *e = &c->entries;
	const char *mid = ids.n ? ids.v[0] : fm->blob;
	buf_adds(e, "<entry>\n<id>mid:");
	struct buf enc = BUF_INIT;
	pct(&enc, mid);
	xml_s(e, enc.ptr);
	buf_adds(e, "</id>\n<title>");
	feed_xml_escape(e, subj.ptr, subj.len);
	buf_adds(e, "</title>\n<author><name>");
	if (name.len)
		feed_xml_escape(e, name.ptr, name.len);
	else if (addr.len)
		feed_xml_escape(e, addr.ptr, addr.len);
	else
		buf_adds(e, "unknown");
	buf_adds(e, "</name>");
	if (addr.len && fmt_is_email(buf_cstr(&addr))) {
		buf_adds(e, "<email>");
		feed_xml_escape(e, addr.ptr, addr.len);
		buf_adds(e, "</email>");
	}
	buf_addf(e, "</author>\n<updated>%s</updated>\n<published>%s</published>\n", when, when);
	buf_adds(e, "<link rel=\"alternate\" type=\"text/html\" href=\"");
	xml_s(e, c->base);
	xml_s(e, enc.ptr);
	buf_adds(e, "/\"/>\n");
	static const char *const cats[] = { "X-CI-Status", "X-CI-Origin", "X-CI-Tree" };
	for (int k = 0; k < 3; k++) {
		buf_reset(&v);
		if (mime_get_decoded(&m, cats[k], 0, &v) && v.len) {
			buf_adds(e, "<category term=\"");
			feed_xml_escape(e, v.ptr, v.len);
			buf_adds(e, "\"/>\n");
		}
	}
	/* the first text/plain part is the summary people read */
	struct mime_part *parts;
	size_t np = mime_parts(&m, &parts);
	for (size_t i = 0; i < np; i++) {
		if (strcmp(parts[i].ctype, "text/plain"))
			continue;
		buf_adds(e, "<content type=\"text\">");
		feed_xml_escape(e, parts[i].body.ptr, parts[i].body.len);
		buf_adds(e, "</content>\n");
		break;
	}
	mime_parts_free(parts, np);
	buf_adds(e, "</entry>\n");
	buf_free(&enc);
	buf_free(&subj);
	buf_free(&from);
	buf_free(&name);
	buf_free(&addr);
	buf_free(&v);
	mime_ids_free(&ids);
	mime_msg_free(&m);
	return ++c->n >= c->limit ? 1 : 0;
}

int feed_atom_render(const char *feeds_dir, const char *topic, const char *base_url, size_t limit,
		     struct buf *out, struct err *err)
{
	if (!topic || !*topic || strchr(topic, '/') || topic[0] == '.')
		return err_set(err, ERR_USAGE, "feed: invalid topic name '%s'", topic ? topic : "");
	struct buf dir = BUF_INIT, base = BUF_INIT;
	buf_addf(&dir, "%s/%s", feeds_dir, topic);
	if (!feed_is_inbox(dir.ptr)) {
		buf_free(&dir);
		return err_set(err, ERR_NOTFOUND, "feed: no topic '%s'", topic);
	}
	if (!limit)
		limit = FEED_ATOM_LIMIT_DEFAULT;
	if (limit > FEED_ATOM_LIMIT_MAX)
		limit = FEED_ATOM_LIMIT_MAX;
	if (base_url && *base_url) {
		buf_adds(&base, base_url);
		if (base.ptr[base.len - 1] != '/')
			buf_addch(&base, '/');
	}
	struct buf tpct = BUF_INIT;
	pct(&tpct, topic);
	buf_addf(&base, "%s/", tpct.ptr);
	struct atom_ctx c = { BUF_INIT, limit, 0, 0, base.ptr };
	struct feed_inbox_info info;
	int rc = feed_read(dir.ptr, FEED_READ_NEWEST_FIRST, atom_entry, &c, err);
	if (rc == 0)
		rc = feed_inbox_info(dir.ptr, &info, err);
	if (rc == 0) {
		char upd[32];
		fmt_unix_rfc3339(c.newest, upd);
		buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
			      "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<id>");
		if (base_url && *base_url)
			xml_s(out, base.ptr);
		else {
			buf_adds(out, "urn:x-cifeed:topic:");
			xml_s(out, tpct.ptr);
		}
		buf_adds(out, "</id>\n<title>");
		xml_s(out, info.description ? info.description : topic);
		buf_addf(out, "</title>\n<updated>%s</updated>\n", upd);
		buf_adds(out, "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
		xml_s(out, base.ptr);
		buf_adds(out, "new.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
		xml_s(out, base.ptr);
		buf_adds(out, "\"/>\n<generator>cifeed</generator>\n");
		buf_add(out, buf_cstr(&c.entries), c.entries.len);
		buf_adds(out, "</feed>\n");
		feed_inbox_info_free(&info);
	}
	if (rc < 0)
		err_prefix(err, "feed %s", topic);
	buf_free(&c.entries);
	buf_free(&tpct);
	buf_free(&dir);
	buf_free(&base);
	return rc;
}
