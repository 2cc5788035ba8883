/*
 * smtp.c - one SMTP transaction through libcurl (see smtp.h).
 *
 * curl does the protocol (EHLO, STARTTLS, AUTH, pipelining rules,
 * dot-stuffing, the end-of-data marker); this file adds the one thing a
 * crash-safe sender needs that curl does not give: a hook between "curl has
 * the whole message" and "the end of data is on the wire".  The read
 * callback hands out the message and, when curl asks for more after the
 * last byte, calls before_eob and only then returns 0, after which curl
 * appends CRLF.CRLF.  No size is announced (CURLOPT_INFILESIZE stays
 * unset), so curl always comes back for that final read.
 */
#include "smtp.h"
#include "buf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct upload {
	struct buf data; /* CRLF */
	size_t off;
	int (*before_eob)(void *);
	void *ctx;
	int eob_called, aborted;
};

static size_t read_cb(char *dst, size_t size, size_t nitems, void *p)
{
	struct upload *u = p;
	size_t room = size * nitems, left = u->data.len - u->off;
	if (left) {
		size_t n = left < room ? left : room;
		memcpy(dst, u->data.ptr + u->off, n);
		u->off += n;
		return n;
	}
	if (!u->eob_called) {
		u->eob_called = 1;
		if (u->before_eob && u->before_eob(u->ctx) < 0) {
			u->aborted = 1;
			return CURL_READFUNC_ABORT;
		}
	}
	return 0;
}

int smtp_url_is_loopback(const char *url)
{
	CURLU *h = curl_url();
	char *host = NULL;
	int r = 0;
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		r = !strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) ||
		    !strcmp(host, "[::1]");
	}
	curl_free(host);
	curl_url_cleanup(h);
	return r;
}

int smtp_send(const struct smtp_opts *o, const char *from, const char *const *rcpt, size_t nrcpt,
	      const char *msg, size_t len, int (*before_eob)(void *ctx), void *ctx,
	      struct smtp_result *res)
{
	memset(res, 0, sizeof(*res));
	res->outcome = SMTP_REFUSED;
	struct upload u = { BUF_INIT, 0, before_eob, ctx, 0, 0 };
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			buf_addch(&u.data, '\r');
		buf_addch(&u.data, msg[i]);
	}
	if (!u.data.len || u.data.ptr[u.data.len - 1] != '\n')
		buf_adds(&u.data, "\r\n");

	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(res->text, sizeof(res->text), "curl_easy_init failed");
		buf_free(&u.data);
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rl = NULL;
	for (size_t i = 0; i < nrcpt; i++) {
		struct buf r = BUF_INIT;
		buf_addf(&r, "<%s>", rcpt[i]);
		rl = curl_slist_append(rl, r.ptr);
		buf_free(&r);
	}
	struct buf mf = BUF_INIT;
	buf_addf(&mf, "<%s>", from);
	int is_smtps = !strncasecmp(o->url, "smtps://", 8);
	curl_easy_setopt(c, CURLOPT_URL, o->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, mf.ptr);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rl);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout ? o->connect_timeout : 30L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout ? o->timeout : 120L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	if (!is_smtps && o->starttls)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (o->user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	res->code = code;
	if (rc == CURLE_OK) {
		res->outcome = SMTP_ACCEPTED;
	} else if (u.aborted || !u.eob_called) {
		/* the end of data never went out: nothing can have been accepted */
		res->outcome = SMTP_REFUSED;
		res->permanent = code >= 500 && code < 600;
	} else if (code >= 400 && code < 600 && rc != CURLE_OPERATION_TIMEDOUT) {
		/* an answer to the end of data: a refusal */
		res->outcome = SMTP_REFUSED;
		res->permanent = code >= 500;
	} else {
		res->outcome = SMTP_UNKNOWN;
	}
	if (rc != CURLE_OK) {
		struct buf t = BUF_INIT;
		buf_addf(&t, "%s%s%s (smtp %ld)", curl_easy_strerror(rc), *errbuf ? ": " : "",
			 errbuf, code);
		size_t n = t.len < sizeof(res->text) - 1 ? t.len : sizeof(res->text) - 1;
		memcpy(res->text, t.ptr, n);
		res->text[n] = '\0';
		buf_free(&t);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(rl);
	buf_free(&mf);
	buf_free(&u.data);
	return res->outcome == SMTP_ACCEPTED ? 0 : -1;
}
