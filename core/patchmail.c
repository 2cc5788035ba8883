/*
 * patchmail.c - patches, trailers and base information in a mail (see
 * patchmail.h).
 *
 * Works on the decoded body from mail.c, line by line, in one pass per
 * concern.  Rules are those of the kernel's tools: subject prefixes as
 * git format-patch and b4 write them, trailers as git interpret-trailers
 * and b4 read them, base lines as git format-patch --base and b4 send write
 * them (patches-and-base-commit.md), file names from the diff headers git
 * apply reads.
 */
#include "patchmail.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ subject */

static const char *const reply_markers[] = { "re", "aw", "sv", "antw", "odp", "vs", NULL };
static const char *const fwd_markers[] = { "fwd", "fw", NULL };

/* "Re:" / "RE[2]:" at p; returns the length consumed or 0 */
static size_t marker(const char *p, const char *const *list)
{
	for (int i = 0; list[i]; i++) {
		size_t n = strlen(list[i]);
		if (strncasecmp(p, list[i], n))
			continue;
		const char *q = p + n;
		if (*q == '[') { /* Re[2]: */
			const char *e = q + 1;
			while (isdigit((unsigned char)*e))
				e++;
			if (*e != ']')
				continue;
			q = e + 1;
		}
		while (*q == ' ')
			q++;
		if (*q == ':')
			return (size_t)(q + 1 - p);
	}
	return 0;
}

static int all_digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* "v3" / "V3" -> 3 */
static int version_token(const char *t, size_t n, int *v)
{
	if (n >= 2 && (t[0] == 'v' || t[0] == 'V') && all_digits(t + 1, n - 1) && n < 8) {
		*v = atoi(t + 1);
		return 1;
	}
	return 0;
}

static void subject_token(struct pm_subject *s, const char *t, size_t n, struct buf *tags,
			  int *git_seen)
{
	int v;
	if (n >= 5 && !strncasecmp(t, "PATCH", 5)) {
		const char *r = t + 5;
		size_t rn = n - 5;
		if (rn && (*r == '-' || *r == '_'))
			r++, rn--;
		if (!rn || version_token(r, rn, &v)) {
			s->patch = 1;
			if (rn)
				s->version = v;
			return;
		}
	}
	if (n >= 3 && !strncasecmp(t, "RFC", 3)) {
		const char *r = t + 3;
		size_t rn = n - 3;
		if (rn && (*r == '-' || *r == '_'))
			r++, rn--;
		if (!rn || version_token(r, rn, &v)) {
			s->rfc = 1;
			if (rn)
				s->version = v;
			return;
		}
	}
	if (n == 6 && !strncasecmp(t, "RESEND", 6)) {
		s->resend = 1;
		return;
	}
	if (n == 4 && !strncasecmp(t, "PULL", 4)) {
		s->pull = 1;
		return;
	}
	if (n == 3 && !strncasecmp(t, "GIT", 3)) {
		*git_seen = 1;
		return;
	}
	if (version_token(t, n, &v)) {
		s->version = v;
		return;
	}
	const char *slash = memchr(t, '/', n);
	if (slash && all_digits(t, (size_t)(slash - t)) &&
	    all_digits(slash + 1, (size_t)(t + n - slash - 1)) && n < 16) {
		s->counter = atoi(t);
		s->total = atoi(slash + 1);
		return;
	}
	if (tags->len)
		buf_addch(tags, ' ');
	buf_add(tags, t, n);
}

void pm_subject_parse(const char *subject, struct pm_subject *s)
{
	memset(s, 0, sizeof(*s));
	s->version = 1;
	s->counter = -1;
	s->total = 1;
	struct buf tags = BUF_INIT;
	const char *p = subject ? subject : "";
	int git_seen = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t k;
		if ((k = marker(p, reply_markers))) {
			s->reply = 1;
			p += k;
			continue;
		}
		if ((k = marker(p, fwd_markers))) {
			s->forward = 1;
			p += k;
			continue;
		}
		if (*p != '[')
			break;
		const char *e = strchr(p, ']');
		if (!e)
			break;
		const char *t = p + 1;
		while (t < e) {
			while (t < e && (*t == ' ' || *t == ',' || *t == '\t'))
				t++;
			const char *te = t;
			while (te < e && *te != ' ' && *te != ',' && *te != '\t')
				te++;
			if (te > t)
				subject_token(s, t, (size_t)(te - t), &tags, &git_seen);
			t = te;
		}
		p = e + 1;
	}
	if (git_seen && !s->pull) {
		if (tags.len)
			buf_addch(&tags, ' ');
		buf_adds(&tags, "GIT");
	}
	const char *e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	s->stem = xstrndup(p, (size_t)(e - p));
	s->tags = buf_detach(&tags);
}

void pm_subject_free(struct pm_subject *s)
{
	free(s->tags);
	free(s->stem);
	memset(s, 0, sizeof(*s));
}

const char *pm_kind_name(enum pm_kind k)
{
	static const char *n[] = { "other", "patch", "cover", "reply", "pull" };
	return n[k];
}

const char *pm_base_kind_name(enum pm_base_kind k)
{
	static const char *n[] = { "base-commit",	     "base-ref",
				   "prerequisite-patch-id", "prerequisite-change-id",
				   "prerequisite-message-id", "based-on",
				   "based-on-relaxed" };
	return n[k];
}

/* ------------------------------------------------------------ lines */

struct line {
	const char *p;
	size_t len; /* without the line end */
};

static int next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	if (*pos >= len)
		return 0;
	const char *s = text + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	l->p = s;
	l->len = n;
	while (l->len && (l->p[l->len - 1] == '\r'))
		l->len--;
	return 1;
}

static int line_starts(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->len >= n && !memcmp(l->p, prefix, n);
}

static int line_starts_ci(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->len >= n && !strncasecmp(l->p, prefix, n);
}

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/* ------------------------------------------------------------ trailers */

const char *const pm_trailer_keys[] = {
	"Signed-off-by", "Acked-by",   "Reviewed-by", "Tested-by",	"Reported-by",
	"Suggested-by",	 "Co-developed-by", "Fixes",   "Link",		"Closes",
	"Change-Id",	 "Cc",		"Requested-by", "Reviewed-and-tested-by", "Debugged-by",
	NULL,
};

static void add_trailer(struct patchmail *pm, const char *key, const char *v, size_t vn,
			size_t *cap)
{
	char *value = trimmed(v, vn);
	if (!*value) {
		free(value);
		return;
	}
	for (size_t i = 0; i < pm->ntrailers; i++)
		if (!strcmp(pm->trailers[i].key, key) && !strcmp(pm->trailers[i].value, value)) {
			free(value);
			return;
		}
	if (pm->ntrailers == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		pm->trailers = xrealloc(pm->trailers, *cap * sizeof(*pm->trailers));
	}
	struct pm_trailer *t = &pm->trailers[pm->ntrailers++];
	t->key = xstrdup(key);
	t->value = value;
	t->email = NULL;
	const char *lt = strchr(value, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt && gt > lt + 1 && memchr(lt, '@', (size_t)(gt - lt)))
		t->email = xstrndup(lt + 1, (size_t)(gt - lt - 1));
	else if (!strchr(value, ' ') && strchr(value, '@') && strcmp(key, "Link") &&
		 strcmp(key, "Closes"))
		t->email = xstrdup(value);
}

/* "Key: value" with a known key; returns the canonical key or NULL */
static const char *trailer_key(const struct line *l, size_t *vstart)
{
	const char *colon = memchr(l->p, ':', l->len);
	if (!colon || colon == l->p)
		return NULL;
	size_t kn = (size_t)(colon - l->p);
	for (int i = 0; pm_trailer_keys[i]; i++)
		if (strlen(pm_trailer_keys[i]) == kn && !strncasecmp(l->p, pm_trailer_keys[i], kn)) {
			*vstart = kn + 1;
			return pm_trailer_keys[i];
		}
	return NULL;
}

static void parse_trailers(const char *body, size_t len, int reply, struct patchmail *pm)
{
	size_t pos = 0, cap = 0, vs;
	struct line l;
	while (next_line(body, len, &pos, &l)) {
		if (!reply && (line_starts(&l, "diff --git ") || line_starts(&l, "Index: ") ||
			       (l.len == 3 && !memcmp(l.p, "---", 3))))
			break; /* the commit message ends here */
		if (reply && l.len == 3 && !memcmp(l.p, "-- ", 3))
			break; /* signature */
		if (!l.len || l.p[0] == '>' || l.p[0] == ' ' || l.p[0] == '\t')
			continue;
		const char *key = trailer_key(&l, &vs);
		if (key)
			add_trailer(pm, key, l.p + vs, l.len - vs, &cap);
	}
}

/* ------------------------------------------------------------ base info */

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return n > 0;
}

static void add_base(struct patchmail *pm, enum pm_base_kind k, const char *v, size_t n,
		     size_t *cap)
{
	if (n && v[0] == '<' && v[n - 1] == '>')
		v++, n -= 2;
	if (!n)
		return;
	char *value = xstrndup(v, n);
	if (k == PM_BASE_COMMIT || k == PM_BASE_PREREQ_PATCH_ID || k == PM_BASE_RELAXED)
		for (char *c = value; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	for (size_t i = 0; i < pm->nbase; i++)
		if (pm->base[i].kind == k && !strcmp(pm->base[i].value, value)) {
			free(value);
			return;
		}
	if (pm->nbase == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		pm->base = xrealloc(pm->base, *cap * sizeof(*pm->base));
	}
	pm->base[pm->nbase].kind = k;
	pm->base[pm->nbase++].value = value;
}

/* the first blank-separated word after `skip` bytes of the line */
static void word_after(const struct line *l, size_t skip, const char **w, size_t *n)
{
	const char *p = l->p + skip, *e = l->p + l->len;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	const char *q = p;
	while (q < e && *q != ' ' && *q != '\t')
		q++;
	*w = p;
	*n = (size_t)(q - p);
}

/* case-insensitive search within a line */
static const char *line_find_ci(const char *p, const char *e, const char *needle)
{
	size_t n = strlen(needle);
	for (; p + n <= e; p++)
		if (!strncasecmp(p, needle, n))
			return p;
	return NULL;
}

static void parse_base(const char *body, size_t len, struct patchmail *pm)
{
	size_t pos = 0, cap = 0, n;
	const char *w;
	struct line l;
	int have_strict = 0;
	struct { const char *p; size_t n; } relaxed = { NULL, 0 };
	while (next_line(body, len, &pos, &l)) {
		if (!l.len || l.p[0] == '>')
			continue;
		if (line_starts_ci(&l, "base-commit:")) {
			word_after(&l, 12, &w, &n);
			if (n && is_hex(w, n) && (n == 40 || n == 64))
				add_base(pm, PM_BASE_COMMIT, w, n, &cap);
			else if (n)
				add_base(pm, PM_BASE_REF, w, n, &cap);
			have_strict = 1;
		} else if (line_starts_ci(&l, "prerequisite-patch-id:")) {
			word_after(&l, 22, &w, &n);
			add_base(pm, PM_BASE_PREREQ_PATCH_ID, w, n, &cap);
			have_strict = 1;
		} else if (line_starts_ci(&l, "prerequisite-change-id:")) {
			word_after(&l, 23, &w, &n);
			add_base(pm, PM_BASE_PREREQ_CHANGE_ID, w, n, &cap);
			have_strict = 1;
		} else if (line_starts_ci(&l, "prerequisite-message-id:")) {
			word_after(&l, 24, &w, &n);
			add_base(pm, PM_BASE_PREREQ_MESSAGE_ID, w, n, &cap);
			have_strict = 1;
		} else if (line_starts_ci(&l, "Based-on:")) {
			word_after(&l, 9, &w, &n);
			add_base(pm, PM_BASE_BASED_ON, w, n, &cap);
			have_strict = 1;
		} else if (line_starts(&l, "change-id:") && !pm->change_id) {
			word_after(&l, 10, &w, &n);
			if (n)
				pm->change_id = xstrndup(w, n);
		} else if (!relaxed.p && !line_starts(&l, "diff ") && l.p[0] != '+' &&
			   l.p[0] != '-') {
			const char *e = l.p + l.len;
			const char *b = line_find_ci(l.p, e, "based on ");
			for (const char *q = b ? b + 9 : e; q + 40 <= e; q++) {
				if (is_hex(q, 40) && (q == l.p || !isxdigit((unsigned char)q[-1])) &&
				    (q + 40 == e || !isxdigit((unsigned char)q[40]))) {
					relaxed.p = q;
					relaxed.n = 40;
					break;
				}
			}
		}
	}
	if (!have_strict && relaxed.p)
		add_base(pm, PM_BASE_RELAXED, relaxed.p, relaxed.n, &cap);
}

int patchmail_has_base(const struct patchmail *pm)
{
	return pm->nbase > 0;
}

/* ------------------------------------------------------------ files */

/* A diff path: "a/x", "\"a/x y\"", "x\t2026-..." -> "x" (prefix `strip` removed). */
static char *diff_path(const char *p, size_t n, int strip_prefix)
{
	struct buf b = BUF_INIT;
	if (n && p[0] == '"') {
		for (size_t i = 1; i < n && p[i] != '"'; i++) {
			if (p[i] == '\\' && i + 1 < n) {
				i++;
				char c = p[i];
				if (c >= '0' && c <= '7' && i + 2 < n) {
					buf_addch(&b, (char)((c - '0') << 6 | (p[i + 1] - '0') << 3 |
							     (p[i + 2] - '0')));
					i += 2;
					continue;
				}
				buf_addch(&b, c == 'n' ? '\n' : c == 't' ? '\t' : c);
				continue;
			}
			buf_addch(&b, p[i]);
		}
	} else {
		size_t e = 0;
		while (e < n && p[e] != '\t')
			e++;
		while (e && p[e - 1] == ' ')
			e--;
		buf_add(&b, p, e);
	}
	char *s = buf_detach(&b);
	if (!strcmp(s, "/dev/null")) {
		free(s);
		return NULL;
	}
	if (strip_prefix) {
		char *slash = strchr(s, '/');
		if (slash && slash - s <= 2) { /* a/ b/ i/ w/ c/ o/ */
			char *t = xstrdup(slash + 1);
			free(s);
			return t;
		}
	}
	return s;
}

struct file_state {
	struct patchmail *pm;
	size_t cap;
	char *a, *b, *from, *to, *oldb, *newb; /* of the current section */
	int open;
};

static void file_flush(struct file_state *fs)
{
	if (!fs->open)
		return;
	char *path = fs->to ? fs->to : fs->b ? fs->b : fs->a ? fs->a : fs->from;
	char *old = fs->from ? fs->from : fs->a;
	if (path) {
		struct patchmail *pm = fs->pm;
		int dup = 0;
		for (size_t i = 0; i < pm->nfiles; i++)
			if (!strcmp(pm->files[i].path, path))
				dup = 1;
		if (!dup) {
			if (pm->nfiles == fs->cap) {
				fs->cap = fs->cap ? fs->cap * 2 : 8;
				pm->files = xrealloc(pm->files, fs->cap * sizeof(*pm->files));
			}
			struct pm_file *f = &pm->files[pm->nfiles++];
			f->path = xstrdup(path);
			f->old_path = old && strcmp(old, path) ? xstrdup(old) : NULL;
			f->old_blob = fs->oldb ? xstrdup(fs->oldb) : NULL;
			f->new_blob = fs->newb ? xstrdup(fs->newb) : NULL;
		}
	}
	free(fs->a);
	free(fs->b);
	free(fs->from);
	free(fs->to);
	free(fs->oldb);
	free(fs->newb);
	fs->a = fs->b = fs->from = fs->to = fs->oldb = fs->newb = NULL;
	fs->open = 0;
}

/* "diff --git a/x b/x": split in the middle when both halves name the same path */
static void git_header_paths(struct file_state *fs, const struct line *l)
{
	const char *p = l->p + 11;
	size_t n = l->len - 11;
	if (n && p[0] == '"')
		return; /* quoted: the ---/+++ or rename lines will say */
	if (n % 2 == 1) {
		size_t h = n / 2;
		if (p[h] == ' ' && n > 4 && !memcmp(p + 2, p + h + 3, h - 2)) {
			fs->a = diff_path(p, h, 1);
			fs->b = diff_path(p + h + 1, n - h - 1, 1);
		}
	}
}

static void parse_files(const char *body, size_t len, struct patchmail *pm)
{
	struct file_state fs = { .pm = pm };
	size_t pos = 0;
	struct line l;
	int in_hunk = 0, old_left = 0, new_left = 0;
	while (next_line(body, len, &pos, &l)) {
		if (in_hunk && (old_left > 0 || new_left > 0)) {
			char c = l.len ? l.p[0] : ' ';
			if (c == '-' || c == ' ')
				old_left--;
			if (c == '+' || c == ' ')
				new_left--;
			if (c == '\\')
				continue;
			if (c != '-' && c != '+' && c != ' ')
				in_hunk = 0, old_left = new_left = 0;
			continue;
		}
		if (line_starts(&l, "diff --git ")) {
			file_flush(&fs);
			fs.open = 1;
			pm->has_diff = 1;
			git_header_paths(&fs, &l);
			in_hunk = 0;
			continue;
		}
		if (line_starts(&l, "--- ")) {
			/* a non-git diff starts with ---/+++/@@ */
			size_t save = pos;
			struct line l2, l3;
			if (!fs.open || in_hunk) {
				if (!(next_line(body, len, &pos, &l2) && line_starts(&l2, "+++ ") &&
				      next_line(body, len, &pos, &l3) && line_starts(&l3, "@@ -"))) {
					pos = save;
					continue;
				}
				pos = save;
				file_flush(&fs);
				fs.open = 1;
				pm->has_diff = 1;
			}
			char *a = diff_path(l.p + 4, l.len - 4, 1);
			if (a) {
				free(fs.a);
				fs.a = a;
			}
			continue;
		}
		if (!fs.open)
			continue;
		if (line_starts(&l, "+++ ")) {
			char *b = diff_path(l.p + 4, l.len - 4, 1);
			free(fs.b);
			fs.b = b;
			continue;
		}
		if (line_starts(&l, "rename from ") || line_starts(&l, "copy from ")) {
			size_t k = l.p[0] == 'r' ? 12 : 10;
			free(fs.from);
			fs.from = diff_path(l.p + k, l.len - k, 0);
			continue;
		}
		if (line_starts(&l, "rename to ") || line_starts(&l, "copy to ")) {
			size_t k = l.p[0] == 'r' ? 10 : 8;
			free(fs.to);
			fs.to = diff_path(l.p + k, l.len - k, 0);
			continue;
		}
		if (line_starts(&l, "index ")) {
			const char *v = l.p + 6, *e = l.p + l.len;
			const char *dots = NULL;
			for (const char *q = v; q + 1 < e; q++)
				if (q[0] == '.' && q[1] == '.') {
					dots = q;
					break;
				}
			if (dots) {
				const char *ne = dots + 2;
				while (ne < e && *ne != ' ')
					ne++;
				free(fs.oldb);
				free(fs.newb);
				fs.oldb = xstrndup(v, (size_t)(dots - v));
				fs.newb = xstrndup(dots + 2, (size_t)(ne - dots - 2));
			}
			continue;
		}
		if (line_starts(&l, "@@ -")) {
			/* count the hunk so that "--- " removal lines are not read as headers */
			const char *q = l.p + 4, *e = l.p + l.len;
			int a = 1, b = 1;
			while (q < e && isdigit((unsigned char)*q))
				q++;
			if (q < e && *q == ',')
				a = atoi(q + 1);
			const char *plus = memchr(q, '+', (size_t)(e - q));
			if (plus) {
				q = plus + 1;
				while (q < e && isdigit((unsigned char)*q))
					q++;
				if (q < e && *q == ',')
					b = atoi(q + 1);
			}
			in_hunk = 1;
			old_left = a;
			new_left = b;
			continue;
		}
	}
	file_flush(&fs);
}

/* ------------------------------------------------------------ message */

void patchmail_parse(const struct mail *m, struct patchmail *pm)
{
	memset(pm, 0, sizeof(*pm));
	pm_subject_parse(m->subject, &pm->subj);
	const char *body = buf_cstr(&m->body);
	size_t len = m->body.len;

	parse_files(body, len, pm);
	/* git computes patch-ids on the patch as mailinfo leaves it: not re-coded */
	if (pm->has_diff && patchid_first(buf_cstr(&m->octets), m->octets.len, PATCHID_STABLE,
					  pm->patch_id) != 1)
		pm->patch_id[0] = '\0';

	const struct pm_subject *s = &pm->subj;
	if (s->reply)
		pm->kind = PM_REPLY;
	else if (s->forward)
		pm->kind = PM_OTHER;
	else if (s->pull)
		pm->kind = PM_PULL;
	else if (s->patch || s->rfc)
		pm->kind = s->counter == 0 ? PM_COVER : PM_PATCH;
	else
		pm->kind = PM_OTHER;

	parse_trailers(body, len, pm->kind == PM_REPLY, pm);
	parse_base(body, len, pm);

	if (m->auto_submitted && strcmp(m->auto_submitted, "no"))
		pm->automated = 1;
	if (mail_header(m, "X-Patchwork-Bot"))
		pm->automated = 1;
}

void patchmail_free(struct patchmail *pm)
{
	pm_subject_free(&pm->subj);
	for (size_t i = 0; i < pm->ntrailers; i++) {
		free(pm->trailers[i].key);
		free(pm->trailers[i].value);
		free(pm->trailers[i].email);
	}
	free(pm->trailers);
	for (size_t i = 0; i < pm->nbase; i++)
		free(pm->base[i].value);
	free(pm->base);
	free(pm->change_id);
	for (size_t i = 0; i < pm->nfiles; i++) {
		free(pm->files[i].path);
		free(pm->files[i].old_path);
		free(pm->files[i].old_blob);
		free(pm->files[i].new_blob);
	}
	free(pm->files);
	memset(pm, 0, sizeof(*pm));
}
