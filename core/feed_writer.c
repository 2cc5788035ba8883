/*
 * feed_writer.c - public-inbox v2 writer on libgit2 (see feed_writer.h).
 *
 * Shape: one struct epoch per open git/N.git with a mempack backend on its
 * odb.  add() builds blob, tree and commit in memory and chains the commit on
 * the in-memory tip; a full batch is sealed - its mempack handed to a packer
 * thread (git_packbuilder + git_indexer), at most PACK_JOBS at once, finished
 * in the order sealed - and the branch moves (compare-and-swap) to the newest
 * commit whose pack is on disk; flush() packs the rest, moves the branch and
 * only then commits the Message-ID cache transaction.  The cache (SQLite,
 * private to the writer) maps Message-ID -> content hash and blob, and every
 * Message-ID of a message to its content hash, so duplicates are found
 * without reading the epochs; it is an index, not a source of truth, and
 * catches up from git on open.
 */
#define _GNU_SOURCE /* nftw */
#include "feed_writer.h"
#include "feed_reader.h"
#include "fsutil.h"
#include "log.h"
#include "mime.h"

#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <git2/sys/commit.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <nettle/sha2.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BATCH_DEFAULT     5000
#define MAX_PACKS_DEFAULT 32
/*
 * Batches packed at once.  Two: while rendering runs, the packer shares the
 * machine with it; once rendering ends, the last two batches still to pack
 * use two cores instead of queueing behind each other.
 */
#define PACK_JOBS 2

/* public-inbox Import.pm @UNWANTED_HEADERS + MDA.pm @BAD_HEADERS */
static const char *const unwanted[] = {
    "Bytes",
    "Lines",
    "Content-Length",
    "Status",
    "X-Status",
    "Delivered-To",
    "X-Original-To",
    "Approved",
    "Approve",
    "X-Approved",
    "X-Approve",
    "Urgent",
    "Return-Receipt-To",
    "Disposition-Notification-To",
    "X-Confirm-Reading-To",
    "X-PMRQC",
};

/*
 * A sealed batch: its own mempack (and an odb holding only that), packed and
 * indexed by a background thread through the epoch's second repository
 * handle while the next batch fills a fresh mempack.  Nothing in it is shared
 * with the writer's thread until pthread_join.
 */
struct packjob {
	pthread_t th;
	int running;
	git_repository *repo; /* the packer's own handle on the epoch */
	git_odb *odb;         /* holds only mempack */
	git_odb_backend *mempack;
	git_oid *objs;
	unsigned char *blob;
	size_t nobjs, capobjs;
	git_oid tip; /* the newest commit in the batch */
	const char *gitdir;
	/* results */
	int failed;
	char msg[256];
	size_t bytes;
	double build_ms, index_ms;
};

struct epoch {
	int n;
	git_repository *repo;
	git_odb *odb;  /* the epoch's on-disk objects (reads) */
	git_odb *wodb; /* the repository's odb while open: only the mempack (writes) */
	git_odb_backend *mempack;
	char *branch; /* "refs/heads/master" (HEAD's target) */
	git_oid tip;  /* in-memory tip (queued commits included) */
	git_oid base; /* the branch on disk (last moved by this writer, or at open) */
	git_oid done; /* newest commit whose batch is packed and indexed on disk */
	int has_tip, has_base, has_done;
	size_t queued;       /* commits in the batch being filled */
	git_oid *objs;       /* objects of the batch being filled (pack contents) */
	unsigned char *blob; /* objs[i] is a message blob */
	size_t nobjs, capobjs;
	/*
	 * Batches being packed: a ring, oldest first (job[job_head], then the
	 * next jobs_running - 1 slots).  Batches finish in the order sealed.
	 */
	struct packjob job[PACK_JOBS];
	unsigned job_head, jobs_running;
	uint64_t packed; /* bytes of objects/pack/\*.pack at open / last flush */
	uint64_t raw;    /* raw bytes added since open */
};

struct feed_writer {
	char *dir;
	struct feed_writer_opts o;
	char *name, *address;
	int lock_fd;
	struct epoch cur;
	git_treebuilder *tb;
	sqlite3 *db;
	sqlite3_stmt *q_get, *q_put, *q_del, *q_byblob, *q_tip, *q_hput, *q_hhas, *q_hdel;
	int in_tx;
	int hold;      /* feed_writer_hold: only feed_writer_flush moves a branch */
	size_t expect; /* feed_writer_expect: messages still to come, 0 unknown */
	int broken;    /* a batch failed to pack: its commits are lost, refuse to go on */
	struct feed_writer_stats st;
	int wrote; /* something was flushed: wake watchers on close */
};

static int git_fail(struct err *err, const char *what)
{
	const git_error *e = git_error_last();
	return err_set(err, ERR_IO, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

/* ------------------------------------------------------------ cache */

static int db_fail(struct feed_writer *w, struct err *err, const char *what)
{
	return err_set(err, ERR_IO, "%s/cifeed-mids.sqlite3: %s: %s", w->dir, what,
	               sqlite3_errmsg(w->db));
}

static int db_exec(struct feed_writer *w, const char *sql, struct err *err)
{
	if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(w, err, sql);
	return 0;
}

static int db_open(struct feed_writer *w, struct err *err)
{
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/cifeed-mids.sqlite3", w->dir);
	int r = sqlite3_open_v2(p.ptr, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	buf_free(&p);
	if (r != SQLITE_OK)
		return db_fail(w, err, "open");
	sqlite3_busy_timeout(w->db, 10000);
	/* an older cache layout is dropped: it is rebuilt from the epochs */
	sqlite3_stmt *v;
	int version = 0;
	if (sqlite3_prepare_v2(w->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK &&
	    sqlite3_step(v) == SQLITE_ROW)
		version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	if (version != 2 &&
	    db_exec(w,
	            "DROP TABLE IF EXISTS mids; DROP TABLE IF EXISTS tips; DROP TABLE IF EXISTS "
	            "hashes; PRAGMA user_version = 2;",
	            err) < 0)
		return -1;
	/*
	 * mids:   the Message-ID each message is indexed under (unique per inbox)
	 * hashes: every Message-ID of every message with its content hash, for
	 *         public-inbox's "same id, same content = duplicate" rule
	 */
	if (db_exec(
	        w,
	        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	        /*
	         * A batch inserts a few random keys per message in one transaction;
	         * with the default 2 MB cache, dirty pages spill to the WAL and are
	         * read back long before the commit.  32 MB holds ~100,000 messages.
	         */
	        "PRAGMA cache_size=-32768;"
	        "CREATE TABLE IF NOT EXISTS hashes (mid TEXT NOT NULL, hash BLOB NOT NULL,"
	        " PRIMARY KEY (mid, hash)) WITHOUT ROWID;"
	        "CREATE INDEX IF NOT EXISTS hashes_hash ON hashes (hash);"
	        "CREATE TABLE IF NOT EXISTS mids (mid TEXT PRIMARY KEY, hash BLOB NOT NULL,"
	        " blob TEXT NOT NULL, epoch INTEGER NOT NULL);"
	        "CREATE INDEX IF NOT EXISTS mids_blob ON mids (blob);"
	        "CREATE TABLE IF NOT EXISTS tips (epoch INTEGER PRIMARY KEY, tip TEXT NOT NULL);",
	        err) < 0)
		return -1;
	if (sqlite3_prepare_v2(w->db, "SELECT hash, blob FROM mids WHERE mid = ?", -1, &w->q_get,
	                       NULL) ||
	    sqlite3_prepare_v2(
	        w->db, "INSERT OR REPLACE INTO mids (mid, hash, blob, epoch) VALUES (?,?,?,?)", -1,
	        &w->q_put, NULL) ||
	    sqlite3_prepare_v2(w->db, "DELETE FROM mids WHERE mid = ?", -1, &w->q_del, NULL) ||
	    sqlite3_prepare_v2(w->db, "SELECT mid FROM mids WHERE blob = ? LIMIT 1", -1,
	                       &w->q_byblob, NULL) ||
	    sqlite3_prepare_v2(w->db, "INSERT OR REPLACE INTO tips (epoch, tip) VALUES (?, ?)", -1,
	                       &w->q_tip, NULL) ||
	    sqlite3_prepare_v2(w->db, "INSERT OR IGNORE INTO hashes (mid, hash) VALUES (?, ?)", -1,
	                       &w->q_hput, NULL) ||
	    sqlite3_prepare_v2(w->db, "SELECT 1 FROM hashes WHERE mid = ? AND hash = ?", -1,
	                       &w->q_hhas, NULL) ||
	    sqlite3_prepare_v2(w->db, "DELETE FROM hashes WHERE hash = ?", -1, &w->q_hdel, NULL))
		return db_fail(w, err, "prepare");
	return 0;
}

static int tx_begin(struct feed_writer *w, struct err *err)
{
	if (w->in_tx)
		return 0;
	if (db_exec(w, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	w->in_tx = 1;
	return 0;
}

static int tx_commit(struct feed_writer *w, struct err *err)
{
	if (!w->in_tx)
		return 0;
	w->in_tx = 0;
	return db_exec(w, "COMMIT", err);
}

/* 1 known (hash/blob filled when given), 0 unknown */
static int cache_get(struct feed_writer *w, const char *mid, unsigned char hash[32], git_oid *blob)
{
	sqlite3_reset(w->q_get);
	sqlite3_bind_text(w->q_get, 1, mid, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(w->q_get) != SQLITE_ROW)
		return 0;
	if (hash) {
		const void *h = sqlite3_column_blob(w->q_get, 0);
		if (h && sqlite3_column_bytes(w->q_get, 0) == 32)
			memcpy(hash, h, 32);
		else
			memset(hash, 0, 32);
	}
	if (blob)
		git_oid_fromstr(blob, (const char *)sqlite3_column_text(w->q_get, 1));
	sqlite3_reset(w->q_get);
	return 1;
}

static int cache_put(struct feed_writer *w, const char *mid, const unsigned char hash[32],
                     const git_oid *blob, int epoch, struct err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), blob);
	sqlite3_reset(w->q_put);
	sqlite3_bind_text(w->q_put, 1, mid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(w->q_put, 2, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_text(w->q_put, 3, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(w->q_put, 4, epoch);
	if (sqlite3_step(w->q_put) != SQLITE_DONE)
		return db_fail(w, err, "insert");
	return 0;
}

static int cache_del(struct feed_writer *w, const char *mid, struct err *err)
{
	sqlite3_reset(w->q_del);
	sqlite3_bind_text(w->q_del, 1, mid, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(w->q_del) != SQLITE_DONE)
		return db_fail(w, err, "delete");
	return 0;
}

/* Record every id of a message with its content hash. */
static int hashes_put(struct feed_writer *w, const struct mime_ids *ids, const char *extra,
                      const unsigned char hash[32], struct err *err)
{
	for (size_t i = 0; i <= ids->n; i++) {
		const char *id = i < ids->n ? ids->v[i] : extra;
		if (!id)
			continue;
		sqlite3_reset(w->q_hput);
		sqlite3_bind_text(w->q_hput, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(w->q_hput, 2, hash, 32, SQLITE_TRANSIENT);
		if (sqlite3_step(w->q_hput) != SQLITE_DONE)
			return db_fail(w, err, "insert hash");
	}
	return 0;
}

/* Is there a message with this id among its ids and this content? */
static int hashes_has(struct feed_writer *w, const char *id, const unsigned char hash[32])
{
	sqlite3_reset(w->q_hhas);
	sqlite3_bind_text(w->q_hhas, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(w->q_hhas, 2, hash, 32, SQLITE_TRANSIENT);
	int r = sqlite3_step(w->q_hhas) == SQLITE_ROW;
	sqlite3_reset(w->q_hhas);
	return r;
}

/* Forget a removed message: its indexed id and its content's ids. */
static int cache_forget(struct feed_writer *w, const char *mid, struct err *err)
{
	unsigned char h[32];
	if (cache_get(w, mid, h, NULL)) {
		sqlite3_reset(w->q_hdel);
		sqlite3_bind_blob(w->q_hdel, 1, h, 32, SQLITE_TRANSIENT);
		if (sqlite3_step(w->q_hdel) != SQLITE_DONE)
			return db_fail(w, err, "delete hashes");
	}
	return cache_del(w, mid, err);
}

static int cache_tip(struct feed_writer *w, int epoch, const git_oid *tip, struct err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), tip);
	sqlite3_reset(w->q_tip);
	sqlite3_bind_int(w->q_tip, 1, epoch);
	sqlite3_bind_text(w->q_tip, 2, hex, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(w->q_tip) != SQLITE_DONE)
		return db_fail(w, err, "tip");
	return 0;
}

/* ------------------------------------------------------------ content hash */

/* SHA-256 by nettle: it uses the CPU's SHA extensions, ~5x libsodium's portable code */

static void dig_add(struct sha256_ctx *st, const void *p, size_t n)
{
	sha256_update(st, n, p);
}

static void dig_str(struct sha256_ctx *st, const char *s)
{
	dig_add(st, s, strlen(s));
}

/* ContentHash::digest_addr */
static void dig_addr(struct sha256_ctx *st, const char *h, const char *v, size_t len)
{
	struct buf b = BUF_INIT;
	int squeeze = 0;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == '"')
			continue;
		if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
			if (!squeeze)
				buf_addch(&b, ' ');
			squeeze = 1;
			continue;
		}
		squeeze = 0;
		buf_addch(&b, c);
	}
	/* s/@([a-z0-9\_\.\-\(\)]*([A-Z])\S*)/'@'.lc($1)/ge */
	for (size_t i = 0; i < b.len; i++) {
		if (b.ptr[i] != '@')
			continue;
		size_t k = i + 1;
		while (k < b.len && (islower((unsigned char)b.ptr[k]) ||
		                     isdigit((unsigned char)b.ptr[k]) || strchr("_.-()", b.ptr[k])))
			k++;
		if (k < b.len && isupper((unsigned char)b.ptr[k])) {
			while (k < b.len && !isspace((unsigned char)b.ptr[k])) {
				b.ptr[k] = (char)tolower((unsigned char)b.ptr[k]);
				k++;
			}
			i = k - 1;
		}
	}
	dig_str(st, h);
	dig_add(st, "", 1);
	dig_add(st, buf_cstr(&b), b.len);
	dig_add(st, "", 1);
	buf_free(&b);
}

static void strip_trailing_ws(struct buf *b)
{
	while (b->len && isspace((unsigned char)b->ptr[b->len - 1]))
		b->len--;
	if (b->ptr)
		b->ptr[b->len] = '\0';
}

static void crlf_to_lf(struct buf *b)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->ptr[i] == '\r' && i + 1 < b->len && b->ptr[i + 1] == '\n')
			continue;
		b->ptr[o++] = b->ptr[i];
	}
	buf_truncate(b, o);
}

static void content_digest(const struct mime_msg *m, struct sha256_ctx *st)
{
	struct mime_ids refs = {0};
	struct buf v = BUF_INIT;
	sha256_init(st);
	mime_msg_refs(m, &refs);
	for (size_t i = 0; i < refs.n; i++) {
		dig_add(st, "ref", 4);
		dig_str(st, refs.v[i]);
		dig_add(st, "", 1);
	}
	mime_ids_free(&refs);
	static const char *const senders[] = {"From", "Sender"};
	for (int h = 0; h < 2; h++) {
		size_t n = mime_count(m, senders[h]);
		for (size_t k = 0; k < n; k++) {
			buf_reset(&v);
			mime_get(m, senders[h], k, &v);
			struct buf d = BUF_INIT;
			mime_decode_words(buf_cstr(&v), v.len, &d);
			dig_addr(st, senders[h], buf_cstr(&d), d.len);
			buf_free(&d);
		}
		if (n)
			break;
	}
	static const char *const sd[] = {"Subject", "Date"};
	for (int h = 0; h < 2; h++)
		for (size_t k = 0; buf_reset(&v), mime_get(m, sd[h], k, &v); k++) {
			struct buf d = BUF_INIT;
			if (h == 0 && strstr(buf_cstr(&v), "=?"))
				mime_decode_words(v.ptr, v.len, &d);
			else
				buf_add(&d, buf_cstr(&v), v.len);
			dig_str(st, sd[h]);
			dig_add(st, "", 1);
			dig_add(st, buf_cstr(&d), d.len);
			dig_add(st, "", 1);
			buf_free(&d);
		}
	static const char *const tc[] = {"To", "Cc"};
	for (int h = 0; h < 2; h++)
		for (size_t k = 0; buf_reset(&v), mime_get(m, tc[h], k, &v); k++) {
			struct buf d = BUF_INIT;
			mime_decode_words(buf_cstr(&v), v.len, &d);
			dig_addr(st, tc[h], buf_cstr(&d), d.len);
			buf_free(&d);
		}
	buf_free(&v);

	struct mime_part *parts;
	size_t np = mime_parts(m, &parts);
	for (size_t i = 0; i < np; i++) {
		struct mime_part *p = &parts[i];
		struct buf hdr = BUF_INIT;
		buf_addf(&hdr, "%c%d:%s%c", 0, p->depth, p->idx, 0);
		dig_add(st, hdr.ptr, hdr.len);
		buf_free(&hdr);
		if (p->filename) {
			dig_add(st, "fn", 3);
			dig_str(st, p->filename);
			dig_add(st, "", 1);
		}
		if (p->description) {
			dig_add(st, "d", 2);
			dig_str(st, p->description);
			dig_add(st, "", 1);
		}
		dig_add(st, "b", 2);
		int html = strstr(p->ctype, "text/html") || strstr(p->ctype, "text/xhtml");
		int text = !html && (p->charset || !strncmp(p->ctype, "text/", 5));
		if (text) {
			struct buf s = BUF_INIT;
			if (p->charset && strcmp(p->charset, "utf-8") &&
			    strcmp(p->charset, "us-ascii")) {
				/* other charsets: let the RFC 2047 decoder's iconv path convert */
				struct buf enc = BUF_INIT;
				char *b64 = xmalloc(sodium_base64_ENCODED_LEN(
				    p->body.len, sodium_base64_VARIANT_ORIGINAL));
				sodium_bin2base64(b64,
				                  sodium_base64_ENCODED_LEN(
				                      p->body.len, sodium_base64_VARIANT_ORIGINAL),
				                  (const unsigned char *)p->body.ptr, p->body.len,
				                  sodium_base64_VARIANT_ORIGINAL);
				buf_addf(&enc, "=?%s?B?%s?=", p->charset, b64);
				free(b64);
				mime_decode_words(enc.ptr, enc.len, &s);
				buf_free(&enc);
			} else {
				buf_add(&s, p->body.ptr, p->body.len);
			}
			crlf_to_lf(&s);
			strip_trailing_ws(&s);
			dig_add(st, buf_cstr(&s), s.len);
			buf_free(&s);
		} else {
			dig_add(st, p->body.ptr, p->body.len);
		}
	}
	mime_parts_free(parts, np);
}

void feed_content_hash(const char *msg, size_t len, unsigned char out[32])
{
	struct mime_msg m;
	struct sha256_ctx st;
	mime_parse(&m, msg, len);
	content_digest(&m, &st);
	sha256_digest(&st, SHA256_DIGEST_SIZE, out);
	mime_msg_free(&m);
}

/* ------------------------------------------------------------ commit metadata */

/* MsgTime: Date first (author) / Received first (committer) */
static int received_time(const struct mime_msg *m, int64_t *t, int *tz)
{
	struct buf v = BUF_INIT;
	for (size_t k = 0; buf_reset(&v), mime_get(m, "Received", k, &v); k++) {
		const char *semi = strrchr(buf_cstr(&v), ';');
		if (mime_date_parse(semi ? semi + 1 : buf_cstr(&v), t, tz) == 0) {
			buf_free(&v);
			return 0;
		}
	}
	buf_free(&v);
	return -1;
}

static int date_time(const struct mime_msg *m, int64_t *t, int *tz)
{
	struct buf v = BUF_INIT;
	for (size_t k = 0; buf_reset(&v), mime_get(m, "Date", k, &v); k++)
		if (mime_date_parse(buf_cstr(&v), t, tz) == 0) {
			buf_free(&v);
			return 0;
		}
	buf_free(&v);
	return -1;
}

static void msg_datestamp(const struct mime_msg *m, int64_t *t, int *tz)
{
	if (date_time(m, t, tz) == 0 || received_time(m, t, tz) == 0)
		return;
	*t = (int64_t)time(NULL);
	*tz = 0;
}

static void msg_timestamp(const struct mime_msg *m, int64_t *t, int *tz)
{
	if (received_time(m, t, tz) == 0 || date_time(m, t, tz) == 0)
		return;
	*t = (int64_t)time(NULL);
	*tz = 0;
}

/* For git: no <>, no control characters, never empty (libgit2 refuses that). */
static char *sig_clean(const char *s, size_t len, const char *fallback)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '<' || c == '>' || c == '\r')
			continue;
		buf_addch(&b, (unsigned char)c < 32 ? ' ' : c);
	}
	struct buf t = BUF_INIT;
	size_t a = 0, e = b.len;
	while (a < e && b.ptr[a] == ' ')
		a++;
	while (e > a && b.ptr[e - 1] == ' ')
		e--;
	buf_add(&t, b.ptr ? b.ptr + a : "", e - a);
	buf_free(&b);
	if (!t.len)
		buf_adds(&t, fallback);
	return buf_detach(&t);
}

/* extract_cmt_info: author name/email from From (Sender as fallback) */
static void author_of(const struct mime_msg *m, char **name, char **email)
{
	struct buf v = BUF_INIT, n = BUF_INIT, a = BUF_INIT;
	static const char *const hs[] = {"From", "Sender"};
	for (int h = 0; h < 2 && (!n.len || !a.len); h++) {
		buf_reset(&v);
		if (!mime_get(m, hs[h], 0, &v))
			continue;
		struct buf n2 = BUF_INIT, a2 = BUF_INIT;
		mime_addr_parse(v.ptr, v.len, &n2, &a2);
		if (!a.len && a2.len)
			buf_add(&a, a2.ptr, a2.len);
		if (!n.len) {
			if (n2.len && !(a2.len && !strcmp(n2.ptr, a2.ptr)))
				buf_add(&n, n2.ptr, n2.len);
			else if (a2.len) { /* Email::Address::XS name(): the local part */
				const char *at = strchr(a2.ptr, '@');
				buf_add(&n, a2.ptr, at ? (size_t)(at - a2.ptr) : a2.len);
			}
		}
		buf_free(&n2);
		buf_free(&a2);
	}
	*name = sig_clean(buf_cstr(&n), n.len, "unknown");
	*email = sig_clean(buf_cstr(&a), a.len, "unknown");
	buf_free(&v);
	buf_free(&n);
	buf_free(&a);
}

/* ------------------------------------------------------------ epochs */

static void note_object(struct epoch *e, const git_oid *id, int is_blob)
{
	if (e->nobjs == e->capobjs) {
		e->capobjs = e->capobjs ? e->capobjs * 2 : 4096;
		e->objs = xrealloc(e->objs, e->capobjs * sizeof(*e->objs));
		e->blob = xrealloc(e->blob, e->capobjs);
	}
	git_oid_cpy(&e->objs[e->nobjs], id);
	e->blob[e->nobjs++] = (unsigned char)is_blob;
}

/*
 * The writer's own pack settings, layered over the epoch's config for this
 * process only (INBOX/cifeed-writer.gitconfig): no delta search for a batch
 * pack.  A batch is packed while the next one is built; with deltas (even
 * git fast-import's one-object window) packing is the slower side and the
 * writer ran at half of fast-import's rate, without them at about its rate
 * (BENCHMARKS.md).  The price is disk until the epoch is repacked: batch
 * packs are about twice the size of a delta-compressed pack.  `git gc` and
 * the writer's own `git repack` do not read this file and delta-compress as
 * usual.  bigFileThreshold is the git setting (larger objects are stored
 * whole); libgit2 1.x reads its threshold from pack.deltaCacheSize, so both.
 */
static const char writer_gitconfig[] =
    "# cifeed feed writer: pack settings for its own batches only (see feed_writer.c)\n"
    "[pack]\n\tbigFileThreshold = 1\n\tdeltaCacheSize = 1\n";

static int writer_config(struct feed_writer *w, git_repository *repo, struct err *err)
{
	struct buf p = BUF_INIT, have = BUF_INIT;
	buf_addf(&p, "%s/cifeed-writer.gitconfig", w->dir);
	int rc = 0;
	if ((buf_read_file(&have, p.ptr, 65536) < 0 || have.len != sizeof(writer_gitconfig) - 1 ||
	     memcmp(have.ptr, writer_gitconfig, have.len)) &&
	    fs_write_atomic(p.ptr, writer_gitconfig, sizeof(writer_gitconfig) - 1, err) < 0)
		rc = -1;
	git_config *cfg = NULL;
	if (rc == 0 && (git_repository_config(&cfg, repo) < 0 ||
	                git_config_add_file_ondisk(cfg, p.ptr, GIT_CONFIG_LEVEL_APP, repo, 1) < 0))
		rc = git_fail(err, "writer pack settings");
	git_config_free(cfg);
	buf_free(&p);
	buf_free(&have);
	return rc;
}

/* `git repack ARG -d -q` on an epoch; 0 on success, else the exit status. */
static int git_repack(const char *gitdir, const char *how)
{
	char *argv[] = {"git",       "--git-dir", (char *)gitdir, "repack",
	                (char *)how, "-d",        "-q",           NULL};
	pid_t pid;
	int st = -1;
	if (posix_spawnp(&pid, "git", NULL, NULL, argv, environ) == 0) {
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	return st;
}

/*
 * Many small packs slow every reader down: fold them with git itself
 * (libgit2 has no repack).  First geometrically (--geometric=2 rolls the
 * small packs into one and leaves the big ones alone, so a daemon adding a
 * pack per pass does not rewrite a 1 GiB epoch every max_packs passes);
 * only if that still leaves too many, everything into one pack (-a).
 * Failure only costs speed, so it is logged.
 */
static void maybe_repack(struct feed_writer *w, const char *gitdir, size_t coming)
{
	size_t n, after;
	feed_pack_bytes(gitdir, &n);
	if (n + coming <= w->o.max_packs)
		return;
	const char *how = "--geometric=2";
	int st = git_repack(gitdir, how);
	feed_pack_bytes(gitdir, &after);
	if (st == 0 && after + coming > w->o.max_packs) {
		how = "-a";
		st = git_repack(gitdir, how);
		feed_pack_bytes(gitdir, &after);
	}
	if (st != 0)
		log_warn("feed.repack_failed", "epoch=%s packs=%zu how=%s status=%d", gitdir, n,
		         how, st);
	else
		log_info("feed.repacked", "epoch=%s packs=%zu after=%zu how=%s", gitdir, n, after,
		         how);
}

static void job_discard(struct packjob *j)
{
	if (j->running) {
		pthread_join(j->th, NULL);
		j->running = 0;
	}
	if (j->mempack)
		git_mempack_reset(j->mempack);
	git_odb_free(j->odb);
	j->odb = NULL;
	j->mempack = NULL;
}

static void epoch_close(struct epoch *e)
{
	for (unsigned k = 0; k < PACK_JOBS; k++) {
		job_discard(&e->job[k]);
		git_repository_free(e->job[k].repo);
		free(e->job[k].objs);
		free(e->job[k].blob);
	}
	e->jobs_running = 0;
	if (e->mempack && e->wodb)
		git_mempack_reset(e->mempack);
	git_repository_free(e->repo);
	git_odb_free(e->wodb);
	git_odb_free(e->odb);
	free(e->objs);
	free(e->blob);
	free(e->branch);
	memset(e, 0, sizeof(*e));
	e->n = -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Remove a directory tree (an epoch left half-made by a killed writer); quiet. */
static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * git init DIR/NAME as a bare repository built aside (DIR/.new-NAME) and
 * renamed into place: a kill -9 inside git_repository_init must not leave a
 * DIR/NAME that is not a repository (no later open could use it).
 */
static int init_aside(const char *dir, const char *name, struct err *err)
{
	struct buf tmp = BUF_INIT, fin = BUF_INIT;
	buf_addf(&tmp, "%s/.new-%s", dir, name);
	buf_addf(&fin, "%s/%s", dir, name);
	rm_tree(tmp.ptr); /* left by a killed writer */
	git_repository *r = NULL;
	git_repository_init_options io;
	git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	io.initial_head = "master";
	int rc = 0;
	if (git_repository_init_ext(&r, tmp.ptr, &io) < 0)
		rc = git_fail(err, tmp.ptr);
	git_repository_free(r);
	if (rc == 0 && rename(tmp.ptr, fin.ptr) < 0)
		rc = err_errno(err, ERR_IO, "rename %s", tmp.ptr);
	if (rc == 0)
		rc = fs_fsync_dir(dir, err);
	buf_free(&tmp);
	buf_free(&fin);
	return rc;
}

static int write_alternates(struct feed_writer *w, int newest, struct err *err)
{
	struct buf p = BUF_INIT, want = BUF_INIT, have = BUF_INIT;
	buf_addf(&p, "%s/all.git", w->dir);
	struct stat sb;
	buf_adds(&p, "/HEAD");
	int have_head = stat(p.ptr, &sb) == 0;
	buf_truncate(&p, p.len - 5);
	if (!have_head) {
		/* all.git holds only config and alternates: a half-made one is made again */
		rm_tree(p.ptr);
		if (init_aside(w->dir, "all.git", err) < 0) {
			buf_free(&p);
			return -1;
		}
	}
	for (int n = newest; n >= 0; n--)
		buf_addf(&want, "../../git/%d.git/objects\n", n);
	buf_addf(&p, "/objects/info");
	int rc = fs_mkdir_p(p.ptr, 0755, err);
	buf_adds(&p, "/alternates");
	if (rc == 0 && (buf_read_file(&have, p.ptr, 1 << 20) < 0 || have.len != want.len ||
	                memcmp(have.ptr, want.ptr, want.len)))
		rc = fs_write_atomic(p.ptr, want.ptr, want.len, err);
	buf_free(&p);
	buf_free(&want);
	buf_free(&have);
	return rc;
}

static int epoch_open(struct feed_writer *w, int n, int create, struct err *err)
{
	struct epoch *e = &w->cur;
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/git/%d.git", w->dir, n);
	e->n = n;
	struct stat sb;
	int exists = stat(p.ptr, &sb) == 0;
	if (!exists && !create) {
		buf_free(&p);
		return err_set(err, ERR_NOTFOUND, "%s/git/%d.git: no such epoch", w->dir, n);
	}
	if (exists) {
		/* never re-init an existing epoch (public-inbox-v2.md pitfall 3) */
		if (git_repository_open_bare(&e->repo, p.ptr) < 0) {
			git_fail(err, p.ptr);
			goto fail;
		}
	} else {
		struct buf gdir = BUF_INIT, name = BUF_INIT;
		buf_addf(&gdir, "%s/git", w->dir);
		buf_addf(&name, "%d.git", n);
		int ok = init_aside(gdir.ptr, name.ptr, err) == 0;
		buf_free(&gdir);
		buf_free(&name);
		if (!ok)
			goto fail;
		if (git_repository_open_bare(&e->repo, p.ptr) < 0) {
			git_fail(err, p.ptr);
			goto fail;
		}
		log_info("feed.epoch_new", "inbox=%s epoch=%d", w->dir, n);
	}
	git_reference *head = NULL;
	if (git_reference_lookup(&head, e->repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC)
		e->branch = xstrdup(git_reference_symbolic_target(head));
	else
		e->branch = xstrdup("refs/heads/master");
	git_reference_free(head);
	{
		/*
		 * A branch lock left by a writer killed mid-update: we hold
		 * inbox.lock, so no other writer can own it, and the update it
		 * guarded never happened (the ref moves by renaming the lock).
		 * Left in place it would refuse every later update.
		 */
		struct buf lk = BUF_INIT;
		buf_addf(&lk, "%s/%s.lock", p.ptr, e->branch);
		if (unlink(lk.ptr) == 0)
			log_warn("feed.stale_lock", "inbox=%s epoch=%d removed=%s", w->dir, n,
			         lk.ptr);
		buf_free(&lk);
	}
	if (git_reference_name_to_id(&e->base, e->repo, e->branch) == 0) {
		e->has_base = e->has_tip = 1;
		git_oid_cpy(&e->tip, &e->base);
	}
	/*
	 * Writes go to an odb holding only the mempack: git_odb_write would
	 * otherwise look for every new object on disk and, not finding it,
	 * rescan the pack directory - per object.  Reads use e->odb.
	 */
	if (git_repository_odb(&e->odb, e->repo) < 0 || git_mempack_new(&e->mempack) < 0 ||
	    git_odb_new(&e->wodb) < 0 || git_odb_add_backend(e->wodb, e->mempack, 999) < 0) {
		git_fail(err, "mempack");
		goto fail;
	}
	git_repository_set_odb(e->repo, e->wodb);
	if (writer_config(w, e->repo, err) < 0)
		goto fail;
	/* each packer's own handle: libgit2 objects are not shared across threads */
	for (unsigned k = 0; k < PACK_JOBS; k++) {
		if (git_repository_open_bare(&e->job[k].repo, p.ptr) < 0) {
			git_fail(err, p.ptr);
			goto fail;
		}
		if (writer_config(w, e->job[k].repo, err) < 0)
			goto fail;
	}
	e->packed = feed_pack_bytes(p.ptr, NULL);
	buf_free(&p);
	if (!exists && write_alternates(w, n, err) < 0)
		return -1;
	return 0;
fail:
	buf_free(&p);
	return -1;
}

/* ------------------------------------------------------------ cache sync */

/* The Message-ID a message is indexed under, given what is already known. */
static int pick_indexed_mid(struct feed_writer *w, const struct mime_ids *ids, const char **mid)
{
	if (!ids->n)
		return 0;
	if (!cache_get(w, ids->v[0], NULL, NULL)) {
		*mid = ids->v[0];
		return 1;
	}
	for (size_t i = ids->n - 1; i >= 1; i--)
		if (!cache_get(w, ids->v[i], NULL, NULL)) {
			*mid = ids->v[i];
			return 1;
		}
	return 0;
}

static int sync_commit(struct feed_writer *w, git_repository *repo, int epoch, const git_oid *id,
                       struct err *err)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_blob *b = NULL;
	int rc = 0;
	if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0) {
		rc = git_fail(err, "read commit");
		goto out;
	}
	const git_tree_entry *te = git_tree_entry_byname(t, "m");
	int del = 0;
	if (!te) {
		te = git_tree_entry_byname(t, "d");
		del = 1;
	}
	if (!te || git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		goto out;
	const git_oid *bid = git_tree_entry_id(te);
	if (del) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), bid);
		sqlite3_reset(w->q_byblob);
		sqlite3_bind_text(w->q_byblob, 1, hex, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(w->q_byblob) == SQLITE_ROW) {
			char *mid = xstrdup((const char *)sqlite3_column_text(w->q_byblob, 0));
			sqlite3_reset(w->q_byblob);
			rc = cache_forget(w, mid, err);
			free(mid);
		}
		sqlite3_reset(w->q_byblob);
		goto out;
	}
	if (git_blob_lookup(&b, repo, bid) < 0) {
		rc = git_fail(err, "read blob");
		goto out;
	}
	struct mime_msg m;
	mime_parse(&m, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
	struct mime_ids ids = {0};
	mime_msg_ids(&m, &ids);
	const char *mid;
	if (pick_indexed_mid(w, &ids, &mid)) {
		struct sha256_ctx st;
		unsigned char h[32];
		content_digest(&m, &st);
		sha256_digest(&st, SHA256_DIGEST_SIZE, h);
		rc = cache_put(w, mid, h, bid, epoch, err);
		if (rc == 0)
			rc = hashes_put(w, &ids, NULL, h, err);
	}
	mime_ids_free(&ids);
	mime_msg_free(&m);
out:
	git_blob_free(b);
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

/* Index whatever the epochs hold beyond the cached tips. */
static int cache_sync(struct feed_writer *w, int newest, struct err *err)
{
	for (int n = 0; n <= newest; n++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/git/%d.git", w->dir, n);
		git_repository *repo = NULL;
		git_oid tip, cached;
		int have_cached = 0, rc = 0;
		if (git_repository_open_bare(&repo, p.ptr) < 0) {
			buf_free(&p);
			continue; /* a missing or broken epoch is tolerated, as by public-inbox */
		}
		buf_free(&p);
		if (git_reference_name_to_id(&tip, repo, "HEAD") < 0) {
			git_repository_free(repo);
			continue; /* empty epoch */
		}
		sqlite3_stmt *q;
		sqlite3_prepare_v2(w->db, "SELECT tip FROM tips WHERE epoch = ?", -1, &q, NULL);
		sqlite3_bind_int(q, 1, n);
		if (sqlite3_step(q) == SQLITE_ROW &&
		    git_oid_fromstr(&cached, (const char *)sqlite3_column_text(q, 0)) == 0)
			have_cached = 1;
		sqlite3_finalize(q);
		if (have_cached && git_oid_equal(&tip, &cached)) {
			git_repository_free(repo);
			continue;
		}
		if (tx_begin(w, err) < 0) {
			git_repository_free(repo);
			return -1;
		}
		git_revwalk *rw;
		git_revwalk_new(&rw, repo);
		git_revwalk_sorting(rw, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		git_revwalk_push(rw, &tip);
		if (have_cached) {
			if (git_graph_descendant_of(repo, &tip, &cached) == 1) {
				git_revwalk_hide(rw, &cached);
			} else {
				/* history rewritten under us: re-index the epoch from scratch */
				log_warn("feed.epoch_rewritten", "inbox=%s epoch=%d", w->dir, n);
				sqlite3_stmt *d;
				sqlite3_prepare_v2(w->db, "DELETE FROM mids WHERE epoch = ?", -1,
				                   &d, NULL);
				sqlite3_bind_int(d, 1, n);
				sqlite3_step(d);
				sqlite3_finalize(d);
			}
		}
		git_oid id;
		size_t count = 0;
		while (rc == 0 && git_revwalk_next(&id, rw) == 0) {
			rc = sync_commit(w, repo, n, &id, err);
			count++;
		}
		git_revwalk_free(rw);
		if (rc == 0)
			rc = cache_tip(w, n, &tip, err);
		git_repository_free(repo);
		if (rc < 0)
			return -1;
		if (count)
			log_info("feed.cache_sync", "inbox=%s epoch=%d commits=%zu", w->dir, n,
			         count);
	}
	return tx_commit(w, err);
}

/* ------------------------------------------------------------ open / close */

int feed_writer_open(struct feed_writer **out, const char *inbox_dir,
                     const struct feed_writer_opts *opts, struct err *err)
{
	if (!opts || !opts->name || !opts->address)
		return err_set(err, ERR_USAGE, "feed_writer_open: name and address are required");
	git_libgit2_init();
	/* a flushed batch must be on disk before the caller's position advances */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	/*
	 * Trees and commits are built from ids this writer just created; the
	 * existence checks of strict creation would only repeat lookups (and the
	 * ref update would look for the tip on disk before the pack is indexed).
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/*
	 * The packer reads every object back from the writer's own mempack; a
	 * hash check on each read would SHA-1 every message a second time.  Git
	 * itself does not check on read either; `feed verify` turns it on.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	struct feed_writer *w = xcalloc(1, sizeof(*w));
	w->dir = xstrdup(inbox_dir);
	w->o = *opts;
	w->name = sig_clean(opts->name, strlen(opts->name), "cifeed");
	w->address = sig_clean(opts->address, strlen(opts->address), "cifeed@localhost");
	w->o.name = w->name;
	w->o.address = w->address;
	w->o.description = NULL;
	if (!w->o.epoch_size)
		w->o.epoch_size = FEED_EPOCH_SIZE_DEFAULT;
	if (!w->o.batch_max)
		w->o.batch_max = BATCH_DEFAULT;
	if (!w->o.max_packs)
		w->o.max_packs = MAX_PACKS_DEFAULT;
	w->lock_fd = -1;
	w->cur.n = -1;

	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/git", inbox_dir);
	if (fs_mkdir_p(p.ptr, 0755, err) < 0)
		goto fail;
	buf_reset(&p);
	buf_addf(&p, "%s/inbox.lock", inbox_dir);
	w->lock_fd = open(p.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (w->lock_fd < 0) {
		err_errno(err, ERR_IO, "%s", p.ptr);
		goto fail;
	}
	while (flock(w->lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			err_errno(err, ERR_IO, "flock %s", p.ptr);
			goto fail;
		}
	}
	if (opts->description) {
		struct buf d = BUF_INIT, have = BUF_INIT;
		buf_reset(&p);
		buf_addf(&p, "%s/description", inbox_dir);
		buf_addf(&d, "%s\n", opts->description);
		if ((buf_read_file(&have, p.ptr, 65536) < 0 || have.len != d.len ||
		     memcmp(have.ptr, d.ptr, d.len)) &&
		    fs_write_atomic(p.ptr, d.ptr, d.len, err) < 0) {
			buf_free(&d);
			buf_free(&have);
			goto fail;
		}
		buf_free(&d);
		buf_free(&have);
	}
	if (db_open(w, err) < 0)
		goto fail;
	int newest = feed_epoch_newest(inbox_dir);
	if (newest >= 0 && cache_sync(w, newest, err) < 0)
		goto fail;
	/*
	 * The newest epoch, even when full: the first message added rolls over
	 * (never an empty epoch when every message turns out to be there).
	 */
	int n = newest < 0 ? 0 : newest;
	if (epoch_open(w, n, 1, err) < 0)
		goto fail;
	if (write_alternates(w, n, err) < 0)
		goto fail;
	if (git_treebuilder_new(&w->tb, w->cur.repo, NULL) < 0) {
		git_fail(err, "treebuilder");
		goto fail;
	}
	w->st.epoch = n;
	buf_free(&p);
	*out = w;
	return 0;
fail:
	err_prefix(err, "feed %s", inbox_dir);
	buf_free(&p);
	feed_writer_close(w);
	return -1;
}

void feed_writer_close(struct feed_writer *w)
{
	if (!w)
		return;
	git_treebuilder_free(w->tb);
	if (w->cur.n >= 0)
		epoch_close(&w->cur);
	if (w->db) {
		if (w->in_tx)
			sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_finalize(w->q_get);
		sqlite3_finalize(w->q_put);
		sqlite3_finalize(w->q_del);
		sqlite3_finalize(w->q_byblob);
		sqlite3_finalize(w->q_tip);
		sqlite3_finalize(w->q_hput);
		sqlite3_finalize(w->q_hhas);
		sqlite3_finalize(w->q_hdel);
		sqlite3_close(w->db);
	}
	if (w->lock_fd >= 0) {
		/* like public-inbox: a byte written on unlock wakes inotify watchers */
		if (w->wrote && pwrite(w->lock_fd, ".", 1, 0) < 0)
			log_warn("feed.lock_touch", "inbox=%s error=%s", w->dir, strerror(errno));
		flock(w->lock_fd, LOCK_UN);
		close(w->lock_fd);
	}
	free(w->name);
	free(w->address);
	free(w->dir);
	free(w);
	git_libgit2_shutdown();
}

void feed_writer_hold(struct feed_writer *w, int on)
{
	w->hold = on ? 1 : 0;
}

void feed_writer_expect(struct feed_writer *w, size_t n)
{
	w->expect = n;
}

void feed_writer_stats(const struct feed_writer *w, struct feed_writer_stats *st)
{
	*st = w->st;
}

/* ------------------------------------------------------------ writing */

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* The packer thread: one pack of exactly the batch's objects, then its index. */
static void *job_run(void *arg)
{
	struct packjob *j = arg;
	git_buf pack = {0};
	git_indexer *idx = NULL;
	git_indexer_progress prog;
	git_indexer_options io;
	git_indexer_options_init(&io, GIT_INDEXER_OPTIONS_VERSION);
	struct buf packdir = BUF_INIT;
	buf_addf(&packdir, "%sobjects/pack", j->gitdir);
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *what = "build pack";
	git_packbuilder *pb = NULL;
	int r = git_packbuilder_new(&pb, j->repo);
	if (r == 0)
		git_packbuilder_set_threads(pb, 0);
	for (size_t i = 0; r == 0 && i < j->nobjs; i++)
		r = git_packbuilder_insert(pb, &j->objs[i], j->blob[i] ? "m" : NULL);
	if (r == 0)
		r = git_packbuilder_write_buf(&pack, pb);
	git_packbuilder_free(pb);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r == 0) {
		what = "write pack";
		if (mkdir(packdir.ptr, 0755) < 0 && errno != EEXIST) {
			snprintf(j->msg, sizeof(j->msg), "mkdir %s: %s", packdir.ptr,
			         strerror(errno));
			j->failed = 1;
		} else {
			r = git_indexer_new(&idx, packdir.ptr, 0, NULL, &io);
			if (r == 0)
				r = git_indexer_append(idx, pack.ptr, pack.size, &prog);
			if (r == 0)
				r = git_indexer_commit(idx, &prog);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	if (r < 0) {
		const git_error *e = git_error_last();
		snprintf(j->msg, sizeof(j->msg), "%s: %s", what,
		         e && e->message ? e->message : "libgit2 error");
		j->failed = 1;
	}
	j->bytes = pack.size;
	j->build_ms = ms_between(&t0, &t1);
	j->index_ms = ms_between(&t1, &t2);
	git_indexer_free(idx);
	git_buf_dispose(&pack);
	buf_free(&packdir);
	return NULL;
}

/*
 * Wait for the oldest batch being packed (if any).  Its pack is then on disk
 * and e->done names its newest commit; the branch has not moved yet.
 */
static int job_finish(struct feed_writer *w, struct err *err)
{
	struct epoch *e = &w->cur;
	if (!e->jobs_running)
		return 0;
	struct packjob *j = &e->job[e->job_head];
	job_discard(j); /* joins the thread; the objects are in the pack now */
	e->job_head = (e->job_head + 1) % PACK_JOBS;
	e->jobs_running--;
	if (j->failed) {
		w->broken = 1;
		return err_set(err, ERR_IO, "%s", j->msg);
	}
	log_debug("feed.pack",
	          "inbox=%s epoch=%d objects=%zu bytes=%zu build_ms=%.1f index_ms=%.1f", w->dir,
	          e->n, j->nobjs, j->bytes, j->build_ms, j->index_ms);
	git_odb_refresh(e->odb);
	git_oid_cpy(&e->done, &j->tip);
	e->has_done = 1;
	w->st.packs++;
	return 0;
}

/* Wait for every batch being packed, oldest first. */
static int jobs_finish_all(struct feed_writer *w, struct err *err)
{
	while (w->cur.jobs_running)
		if (job_finish(w, err) < 0)
			return -1;
	return 0;
}

/*
 * Seal the batch being filled: hand its mempack to a packer thread and give
 * the repository a fresh one.  A packer slot must be free.
 */
static int job_start(struct feed_writer *w, struct err *err)
{
	struct epoch *e = &w->cur;
	if (!e->queued)
		return 0;
	struct packjob *j = &e->job[(e->job_head + e->jobs_running) % PACK_JOBS];
	git_odb_backend *mp = NULL;
	git_odb *odb = NULL;
	if (git_mempack_new(&mp) < 0)
		return git_fail(err, "mempack");
	if (git_odb_new(&odb) < 0 || git_odb_add_backend(odb, mp, 999) < 0) {
		git_fail(err, "mempack");
		mp->free(mp); /* the odb owns a backend only once it is added */
		git_odb_free(odb);
		return -1;
	}
	/* the batch's objects and their list go to the job; the writer gets the fresh ones */
	j->odb = e->wodb;
	j->mempack = e->mempack;
	e->wodb = odb;
	e->mempack = mp;
	git_repository_set_odb(e->repo, e->wodb);
	git_repository_set_odb(j->repo, j->odb);
	git_oid *objs = j->objs;
	unsigned char *blob = j->blob;
	size_t cap = j->capobjs;
	j->objs = e->objs;
	j->blob = e->blob;
	j->capobjs = e->capobjs;
	j->nobjs = e->nobjs;
	e->objs = objs;
	e->blob = blob;
	e->capobjs = cap;
	e->nobjs = 0;
	e->queued = 0;
	git_oid_cpy(&j->tip, &e->tip);
	j->gitdir = git_repository_path(e->repo);
	j->failed = 0;
	j->msg[0] = '\0';
	int r = pthread_create(&j->th, NULL, job_run, j);
	if (r != 0) {
		w->broken = 1;
		return err_set(err, ERR_IO, "packer thread: %s", strerror(r));
	}
	j->running = 1;
	e->jobs_running++;
	return 0;
}

/* A packed commit the branch has not moved to yet. */
static int epoch_unpublished(const struct epoch *e)
{
	return e->has_done && !(e->has_base && git_oid_equal(&e->done, &e->base));
}

/*
 * Move the branch to the newest packed commit (compare-and-swap against the
 * tip this writer last saw), then fold packs when they pile up.  Only while
 * no batch is being packed: `git repack -a -d` drops unreachable objects.
 */
static int publish_done(struct feed_writer *w, struct err *err)
{
	struct epoch *e = &w->cur;
	if (!epoch_unpublished(e))
		return 0;
	git_reference *ref = NULL;
	int r;
	if (e->has_base)
		r = git_reference_create_matching(&ref, e->repo, e->branch, &e->done, 1, &e->base,
		                                  "cifeed: append");
	else
		r = git_reference_create(&ref, e->repo, e->branch, &e->done, 0, "cifeed: create");
	git_reference_free(ref);
	if (r < 0)
		return git_fail(err, "update branch (another writer?)");
	git_oid_cpy(&e->base, &e->done);
	e->has_base = 1;
	w->st.flushes++;
	w->wrote = 1;
	return 0;
}

/* A batch is full: publish what is packed, start packing this one. */
static int epoch_seal(struct feed_writer *w, struct err *err)
{
	struct epoch *e = &w->cur;
	const char *gitdir = git_repository_path(e->repo);
	/* every packer busy: wait for the oldest */
	if (e->jobs_running == PACK_JOBS && job_finish(w, err) < 0)
		return -1;
	if (!w->hold) {
		if (publish_done(w, err) < 0)
			return -1;
		/*
		 * The packs being written and the one about to be count: never more
		 * than max_packs.  `git repack -a -d` drops what no branch reaches,
		 * so it runs only with every batch packed and published.
		 */
		size_t packs;
		feed_pack_bytes(gitdir, &packs);
		if (packs + e->jobs_running + 1 > w->o.max_packs) {
			if (jobs_finish_all(w, err) < 0 || publish_done(w, err) < 0)
				return -1;
			maybe_repack(w, gitdir, 1);
		}
	}
	return job_start(w, err);
}

static int epoch_flush(struct feed_writer *w, struct err *err)
{
	struct epoch *e = &w->cur;
	if (w->broken)
		return err_set(err, ERR_IO, "an earlier batch failed to pack");
	int pending = e->queued || e->jobs_running || epoch_unpublished(e);
	if (!pending)
		return tx_commit(w, err);
	if ((e->jobs_running == PACK_JOBS && job_finish(w, err) < 0) || job_start(w, err) < 0 ||
	    jobs_finish_all(w, err) < 0 || publish_done(w, err) < 0)
		return -1;
	const char *gitdir = git_repository_path(e->repo);
	maybe_repack(w, gitdir, 0);
	e->packed = feed_pack_bytes(gitdir, NULL);
	if (cache_tip(w, e->n, &e->tip, err) < 0)
		return -1;
	return tx_commit(w, err);
}

int feed_writer_flush(struct feed_writer *w, struct err *err)
{
	if (epoch_flush(w, err) < 0)
		return err_prefix(err, "feed %s: epoch %d", w->dir, w->cur.n);
	return 0;
}

static int rollover(struct feed_writer *w, struct err *err)
{
	if (feed_writer_flush(w, err) < 0)
		return -1;
	int n = w->cur.n + 1;
	git_treebuilder_free(w->tb);
	w->tb = NULL;
	epoch_close(&w->cur);
	if (epoch_open(w, n, 1, err) < 0 || write_alternates(w, n, err) < 0)
		return -1;
	if (git_treebuilder_new(&w->tb, w->cur.repo, NULL) < 0)
		return git_fail(err, "treebuilder");
	w->st.epoch = n;
	return 0;
}

static int commit_entry(struct feed_writer *w, const char *path, const git_oid *blob,
                        const char *aname, const char *amail, int64_t at, int atz, int64_t ct,
                        int ctz, const char *message, struct err *err)
{
	struct epoch *e = &w->cur;
	git_oid tree, commit;
	git_signature *author = NULL, *committer = NULL;
	int rc = -1;
	git_treebuilder_clear(w->tb);
	if (git_treebuilder_insert(NULL, w->tb, path, blob, GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree, w->tb) < 0) {
		git_fail(err, "write tree");
		goto out;
	}
	note_object(e, &tree, 0);
	if (git_signature_new(&author, aname, amail, at < 0 ? 0 : at, atz) < 0 ||
	    git_signature_new(&committer, w->name, w->address, ct < 0 ? 0 : ct, ctz) < 0) {
		git_fail(err, "signature");
		goto out;
	}
	const git_oid *parents[1] = {&e->tip};
	if (git_commit_create_from_ids(&commit, e->repo, NULL, author, committer, NULL, message,
	                               &tree, e->has_tip ? 1 : 0, parents) < 0) {
		git_fail(err, "write commit");
		goto out;
	}
	note_object(e, &commit, 0);
	git_oid_cpy(&e->tip, &commit);
	e->has_tip = 1;
	e->queued++;
	rc = 0;
out:
	git_signature_free(author);
	git_signature_free(committer);
	return rc;
}

/* The message without public-inbox's unwanted headers into out; 0 (out untouched) if none. */
static int drop_unwanted(const struct mime_msg *m, struct buf *out)
{
	size_t pos = 0, dropped = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		const struct mime_field *f = &m->fields[i];
		int drop = 0;
		for (size_t k = 0; k < sizeof(unwanted) / sizeof(*unwanted); k++)
			if (strlen(unwanted[k]) == f->name_len &&
			    !strncasecmp(unwanted[k], f->name, f->name_len))
				drop = 1;
		if (!drop)
			continue;
		buf_add(out, m->data + pos, f->off - pos);
		pos = f->off + f->len;
		dropped++;
	}
	if (!dropped)
		return 0;
	buf_add(out, m->data + pos, m->len - pos);
	return 1;
}

/* digest2mid: <YYYYmmddHHMMSS.base64url(sha256)@z> */
static char *digest2mid(struct sha256_ctx *st, const struct mime_msg *m)
{
	struct sha256_ctx copy = *st;
	unsigned char h[32];
	sha256_digest(&copy, SHA256_DIGEST_SIZE, h);
	char b64[64];
	sodium_bin2base64(b64, sizeof(b64), h, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	int64_t t;
	int tz;
	msg_datestamp(m, &t, &tz);
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char ts[32];
	strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s.%s@z", ts, b64);
	return buf_detach(&b);
}

/*
 * Eml::header_set('Message-ID', @cur, "<new>"): existing Message-ID fields are
 * rewritten in place (unfolded), the new one appended at the end of the header.
 */
static void append_mid(const struct mime_msg *m, const char *mid, struct buf *out)
{
	const char *eol = m->crlf ? "\r\n" : "\n";
	size_t pos = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		const struct mime_field *f = &m->fields[i];
		if (!(f->name_len == 10 && !strncasecmp(f->name, "Message-ID", 10)))
			continue;
		buf_add(out, m->data + pos, f->off - pos);
		struct buf v = BUF_INIT;
		mime_unfold(f->raw, f->raw_len, &v);
		buf_addf(out, "Message-ID: %s%s", buf_cstr(&v), eol);
		buf_free(&v);
		pos = f->off + f->len;
	}
	size_t hend = m->hdr_end;
	if (hend > m->len)
		hend = m->len;
	buf_add(out, m->data + pos, hend - pos);
	buf_addf(out, "Message-ID: <%s>%s", mid, eol);
	buf_add(out, m->data + hend, m->len - hend);
}

int feed_writer_has(struct feed_writer *w, const char *msgid)
{
	return cache_get(w, msgid, NULL, NULL);
}

int feed_writer_add(struct feed_writer *w, const char *msg, size_t len, char **msgid_out,
                    struct err *err)
{
	struct mime_msg m;
	struct buf clean = BUF_INIT, final = BUF_INIT;
	struct mime_ids ids = {0};
	char *gen = NULL, *aname = NULL, *amail = NULL;
	const char *mid = NULL;
	int rc = -1;
	struct sha256_ctx dig;
	unsigned char hash[32];

	if (msgid_out)
		*msgid_out = NULL;
	if (w->broken)
		return err_set(err, ERR_IO, "feed %s: an earlier batch failed to pack", w->dir);
	/* the message as given, unless it has headers public-inbox drops */
	const char *src = msg;
	size_t slen = len;
	mime_parse(&m, msg, len);
	if (drop_unwanted(&m, &clean)) {
		mime_msg_free(&m);
		mime_parse(&m, clean.ptr, clean.len);
		src = clean.ptr;
		slen = clean.len;
	}
	mime_msg_ids(&m, &ids);
	content_digest(&m, &dig);
	struct sha256_ctx fin = dig;
	sha256_digest(&fin, SHA256_DIGEST_SIZE, hash);

	if (tx_begin(w, err) < 0)
		goto out;
	if (ids.n && !cache_get(w, ids.v[0], NULL, NULL)) {
		mid = ids.v[0];
	} else {
		for (size_t i = 0; i < ids.n; i++) {
			if (hashes_has(w, ids.v[i], hash)) {
				w->st.duplicates++;
				if (msgid_out)
					*msgid_out = xstrdup(ids.v[i]);
				rc = FEED_DUPLICATE;
				goto out;
			}
		}
		for (size_t i = ids.n ? ids.n - 1 : 0; i >= 1 && !mid; i--)
			if (!cache_get(w, ids.v[i], NULL, NULL))
				mid = ids.v[i];
		if (!mid) {
			/* v2_num_for_harder: a generated id, deterministic when possible */
			gen = digest2mid(&dig, &m);
			if (cache_get(w, gen, NULL, NULL)) {
				struct buf v = BUF_INIT;
				for (size_t k = 0; buf_reset(&v), mime_get(&m, "Received", k, &v);
				     k++) {
					dig_str(&dig, "Received: ");
					dig_add(&dig, buf_cstr(&v), v.len);
				}
				buf_free(&v);
				for (unsigned salt = 0;; salt++) {
					free(gen);
					gen = digest2mid(&dig, &m);
					if (!cache_get(w, gen, NULL, NULL))
						break;
					char s[32];
					snprintf(s, sizeof(s), "%u", salt);
					dig_str(&dig, s);
					log_warn("feed.mid_fallback", "inbox=%s mid=%s", w->dir,
					         gen);
				}
			}
			mid = gen;
			append_mid(&m, gen, &final);
		}
	}
	const char *data = final.len ? final.ptr : src;
	size_t dlen = final.len ? final.len : slen;

	/* epoch rollover: public-inbox counts packed + 0.4 x raw bytes */
	if (w->cur.has_tip &&
	    (double)w->cur.packed + 0.4 * (double)(w->cur.raw + dlen) >= (double)w->o.epoch_size) {
		if (w->hold) {
			/* rolling over moves the old epoch's branch: not while held */
			rc = FEED_HELD;
			goto out;
		}
		char *keep = xstrdup(mid);
		if (gen)
			free(gen);
		gen = keep;
		mid = gen;
		if (rollover(w, err) < 0)
			goto out;
		if (tx_begin(w, err) < 0)
			goto out;
	}

	git_oid blob;
	if (git_blob_create_from_buffer(&blob, w->cur.repo, data, dlen) < 0) {
		git_fail(err, "write blob");
		goto out;
	}
	note_object(&w->cur, &blob, 1);
	int64_t at, ct;
	int atz, ctz;
	msg_datestamp(&m, &at, &atz);
	msg_timestamp(&m, &ct, &ctz);
	author_of(&m, &aname, &amail);
	struct buf subj = BUF_INIT;
	if (!mime_get_decoded(&m, "Subject", 0, &subj) || !subj.len) {
		buf_reset(&subj);
		buf_adds(&subj, "(no subject)");
	}
	buf_addch(&subj, '\n');
	int r = commit_entry(w, "m", &blob, aname, amail, at, atz, ct, ctz, subj.ptr, err);
	buf_free(&subj);
	if (r < 0)
		goto out;
	if (cache_put(w, mid, hash, &blob, w->cur.n, err) < 0 ||
	    hashes_put(w, &ids, gen, hash, err) < 0)
		goto out;
	w->cur.raw += dlen;
	w->st.raw_bytes += dlen;
	w->st.added++;
	if (msgid_out)
		*msgid_out = xstrdup(mid);
	rc = FEED_ADDED;
	if (w->expect)
		w->expect--;
	int seal = w->cur.queued >= w->o.batch_max ||
	           (w->expect && w->cur.queued >= w->o.batch_max / 8 && w->cur.queued >= w->expect);
	if (seal && epoch_seal(w, err) < 0) {
		err_prefix(err, "feed %s: epoch %d", w->dir, w->cur.n);
		rc = -1;
	}
out:
	if (rc < 0 && msgid_out) {
		free(*msgid_out);
		*msgid_out = NULL;
	}
	free(gen);
	free(aname);
	free(amail);
	mime_ids_free(&ids);
	mime_msg_free(&m);
	buf_free(&clean);
	buf_free(&final);
	return rc;
}

int feed_writer_remove(struct feed_writer *w, const char *msgid, struct err *err)
{
	git_oid blob;
	if (!cache_get(w, msgid, NULL, &blob))
		return 0;
	if (w->broken)
		return err_set(err, ERR_IO, "feed %s: an earlier batch failed to pack", w->dir);
	/* the blob may be in a batch being packed: let it reach the disk first */
	if (jobs_finish_all(w, err) < 0 || tx_begin(w, err) < 0)
		return -1;
	/* the blob may live in an older epoch: make sure this epoch can name it */
	int64_t now = (int64_t)time(NULL);
	if (!git_odb_exists(w->cur.odb, &blob) && !git_odb_exists(w->cur.wodb, &blob)) {
		/* copy the object so the "d" tree is complete within this epoch */
		struct buf p = BUF_INIT;
		sqlite3_stmt *q;
		int epoch = -1;
		sqlite3_prepare_v2(w->db, "SELECT epoch FROM mids WHERE mid = ?", -1, &q, NULL);
		sqlite3_bind_text(q, 1, msgid, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) == SQLITE_ROW)
			epoch = sqlite3_column_int(q, 0);
		sqlite3_finalize(q);
		buf_addf(&p, "%s/git/%d.git", w->dir, epoch);
		git_repository *old = NULL;
		git_blob *b = NULL;
		git_oid copy;
		int ok = git_repository_open_bare(&old, p.ptr) == 0 &&
		         git_blob_lookup(&b, old, &blob) == 0 &&
		         git_blob_create_from_buffer(&copy, w->cur.repo, git_blob_rawcontent(b),
		                                     (size_t)git_blob_rawsize(b)) == 0;
		git_blob_free(b);
		git_repository_free(old);
		buf_free(&p);
		if (!ok)
			return git_fail(err, "copy removed blob");
		note_object(&w->cur, &copy, 1);
	}
	if (commit_entry(w, "d", &blob, w->name, w->address, now, 0, now, 0, "rm\n", err) < 0)
		return -1;
	if (cache_forget(w, msgid, err) < 0)
		return -1;
	w->st.removed++;
	return 1;
}
