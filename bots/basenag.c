/*
 * basenag.c - bot `basenag`: a private, one-time tip to authors whose
 * series says nothing about the commit it was made against.
 *
 *   [bot "basenag"]
 *           enabled = true
 *           dry-run = true          # review DATADIR/bots/basenag/dry-run first
 *           from = cifeed basenag <basenag@ci.example.org>
 *           smtp = smtp://127.0.0.1:25
 *           guess-tree = /srv/git/linux    # optional, multi-valued
 *
 * Its own rules (the engine, core/botpass.h, does the rest):
 *   has-base        any accepted form of base information in any message of
 *                   the series (patches-and-base-commit.md section 2:
 *                   base-commit sha or ref, prerequisite-patch-id /
 *                   -change-id / -message-id, Based-on:, b4's relaxed
 *                   "based on <sha>") -> SKIP
 *   applies-at-tip  with guess-tree: every pre-image blob of the series
 *                   matches the tip of a tracked ref (b4's guess, step 3):
 *                   the missing base hurt nobody -> SKIP
 *   no-base         otherwise -> SEND, mentioning b4's best guess of the
 *                   base (steps 3-6) when the trees give one.
 * The wording follows the neutral draft of bot-etiquette.md.
 */
#include "bot.h"
#include "botmsg.h"
#include "formats.h"
#include "guessbase.h"

#include <stdlib.h>
#include <string.h>

#define LOOKBACK_DEFAULT (21 * 86400) /* b4 am --guess-lookback */

struct basenag {
	struct guessbase *gb; /* NULL without guess-tree */
	int64_t lookback;
};

static const struct config_key basenag_keys[] = {
	BOT_MAIL_CONFIG_KEYS,
	{ "guess-tree", CFG_PATH,
	  "local git tree for b4-style base guessing (multi-valued; none = no guessing)" },
	{ "guess-ref", CFG_STRING,
	  "ref glob of the tracked tips (multi-valued; default refs/heads/* refs/remotes/*)" },
	{ "guess-lookback", CFG_DURATION, "how far back before the series' date to look (default 21d)" },
	{ NULL, 0, NULL },
};

static int basenag_init(const struct config *cfg, void **priv, struct err *err)
{
	struct basenag *bn = xcalloc(1, sizeof(*bn));
	const char **trees = NULL, **refs = NULL;
	size_t nt = config_get_all(cfg, "bot", "basenag", "guess-tree", &trees);
	size_t nr = config_get_all(cfg, "bot", "basenag", "guess-ref", &refs);
	bn->lookback = config_get_duration(cfg, "bot", "basenag", "guess-lookback",
					   LOOKBACK_DEFAULT);
	int rc = 0;
	if (nt && guessbase_open(&bn->gb, trees, nt, refs, nr, err) < 0) {
		err_prefix(err, "%s: [bot \"basenag\"] guess-tree", cfg->path);
		err->code = ERR_CONFIG;
		free(bn);
		bn = NULL;
		rc = -1;
	}
	free(trees);
	free(refs);
	*priv = bn;
	return rc;
}

static void basenag_fini(void *priv)
{
	struct basenag *bn = priv;
	if (!bn)
		return;
	guessbase_close(bn->gb);
	free(bn);
}

static int basenag_consider(void *priv, struct store *st, const struct series_info *s,
			    struct bot_decision *d, struct err *err)
{
	(void)priv;
	(void)st;
	(void)err;
	if (s->has_base && s->nbase) {
		/* name the strongest form: a base-commit sha first */
		const struct series_base *b = &s->base[0];
		for (size_t i = 0; i < s->nbase; i++)
			if (!strcmp(s->base[i].kind, "base-commit")) {
				b = &s->base[i];
				break;
			}
		return bot_decide(d, BOT_SKIP, "has-base", "%s %s in <%s>%s", b->kind, b->value,
				  b->msgid,
				  !strcmp(b->kind, "base-ref") ? " (a ref, not a sha: present, not "
								 "missing)"
							       : "");
	}
	return bot_decide(d, BOT_SEND, "no-base",
			  "no base-commit, prerequisite-*, Based-on or \"based on <sha>\" line in "
			  "its %zu message%s",
			  s->npatches, s->npatches == 1 ? "" : "s");
}

static int basenag_check(void *priv, struct store *st, const struct series_info *s,
			 struct bot_decision *d, struct err *err)
{
	struct basenag *bn = priv;
	if (!bn->gb)
		return 0;
	struct gb_blob *b = NULL;
	size_t n = 0;
	struct gb_result r;
	int rc = -1;
	memset(&r, 0, sizeof(r));
	if (guessbase_series_blobs(st, s->rid, &b, &n, err) < 0)
		return -1;
	if (!n) { /* only new files, or no index lines: nothing to go on */
		rc = 0;
		goto out;
	}
	int t = guessbase_tip_match(bn->gb, b, n, &r, err);
	if (t < 0)
		goto out;
	if (t == 1) {
		bot_decide(d, BOT_SKIP, "applies-at-tip",
			   "all %zu pre-image blob%s match %s (%.12s): it applies there as is, "
			   "the missing base hurt nobody",
			   n, n == 1 ? "" : "s", r.name, r.commit);
		rc = 0;
		goto out;
	}
	gb_result_free(&r);
	int64_t date = 0;
	int tz;
	if (!s->date || fmt_parse_datetime(s->date, &date, &tz) < 0)
		date = 0;
	int f = date ? guessbase_find(bn->gb, b, n, date, bn->lookback, &r, err) : 0;
	if (f < 0)
		goto out;
	if (f == 1) {
		if (r.exact)
			buf_addf(&d->note, "%s (%.12s, exact match)", r.name ? r.name : r.commit,
				 r.commit);
		else
			buf_addf(&d->note, "%s (%.12s, best guess, %zu/%zu blobs matched)",
				 r.name ? r.name : r.commit, r.commit, r.matched, r.total);
		buf_addf(&d->detail, "; guessed base %s", d->note.ptr);
	}
	rc = 0;
out:
	gb_result_free(&r);
	guessbase_blobs_free(b, n);
	return rc;
}

static int basenag_render(void *priv, const struct series_info *s, const struct bot_decision *d,
			  struct buf *body, struct err *err)
{
	(void)priv;
	(void)err;
	struct buf first = BUF_INIT;
	if (botmsg_first_name(s->author_name, &first))
		buf_addf(body, "Hi %s,\n\n", first.ptr);
	else
		buf_adds(body, "Hello,\n\n");
	buf_free(&first);
	buf_addf(body, "Thanks for the %s. One small tip: it doesn't say which commit it\n"
		       "was based on, so reviewers and CI systems have to guess where it\n"
		       "applies.\n\n",
		 s->total > 1 || s->cover_msgid ? "series" : "patch");
	if (d->note.len)
		buf_addf(body, "Judging by the blob ids of its index lines, it seems to apply to\n"
			       "%s.\n\n",
			 d->note.ptr);
	buf_adds(body, "Adding --base=<commit> (or --base=auto, if your branch tracks an\n"
		       "upstream) to \"git format-patch\" appends a line such as\n\n"
		       "    base-commit: <40-hex sha>\n\n"
		       "to the cover letter or the first patch. \"b4 prep\" / \"b4 send\" do\n"
		       "this for you. Details:\n"
		       "https://git-scm.com/docs/git-format-patch#_base_tree_information\n\n"
		       "This is a one-time note and there is no need to resend.\n");
	return 0;
}

const struct bot bot_basenag = {
	.name = "basenag",
	.summary = "a private one-time tip to authors of series without base-commit information",
	.config_keys = basenag_keys,
	.init = basenag_init,
	.fini = basenag_fini,
	.consider = basenag_consider,
	.check = basenag_check,
	.render = basenag_render,
};
