/*
 * ran_cache.c - rendered /api/v1/ran answers per revision (see ran_cache.h).
 *
 * What and why: a hash table of revisions with a least-recently-used list
 * through the same entries, a byte budget, and a sync step that turns the
 * store's revision change log into exact invalidations.  The table is keyed
 * with SipHash under a random key (libsodium) so chosen commit hashes
 * cannot pile into one bucket.  Validity rests on two facts checked at
 * each request: the store's data version (did anyone commit?) and the log
 * rows after the last seq seen (what did they change?).
 */
#include "ran_cache.h"
#include "results.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_LEN   40
#define PATCHSET_LEN 64

/* An answer's bytes, shared by its entry and the writes sending it. */
struct body {
	unsigned refs;
	size_t len;
	char data[];
};

struct entry {
	struct entry *hnext;       /* bucket chain */
	struct entry *prev, *next; /* LRU list: head = most recent */
	uint64_t hash;
	size_t cost;
	struct body *body;
	char etag[36];
	char commit[COMMIT_LEN + 1];
	char patchset[PATCHSET_LEN + 1];
};

struct ran_cache {
	struct entry **buckets;
	size_t nbuckets;
	struct entry *head, *tail;
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct ran_cache_stats st;
	/* sync state */
	int synced;      /* the last sync succeeded: answers may be kept */
	int started;     /* seen and version hold values read from the store */
	int64_t version; /* store_data_version at the last sync */
	int64_t seen;    /* newest change-log seq applied */
};

static int key_ok(const char *commit, const char *patchset)
{
	size_t pl = patchset ? strlen(patchset) : 0;
	return commit && strlen(commit) == COMMIT_LEN && (pl == 0 || pl == PATCHSET_LEN);
}

static uint64_t key_hash(const struct ran_cache *c, const char *commit, const char *patchset)
{
	unsigned char in[COMMIT_LEN + 1 + PATCHSET_LEN], out[crypto_shorthash_BYTES];
	size_t pl = patchset ? strlen(patchset) : 0;
	memcpy(in, commit, COMMIT_LEN);
	in[COMMIT_LEN] = ':';
	memcpy(in + COMMIT_LEN + 1, patchset ? patchset : "", pl);
	crypto_shorthash(out, in, COMMIT_LEN + 1 + pl, c->key);
	uint64_t h;
	memcpy(&h, out, sizeof(h));
	return h;
}

int ran_cache_enabled(const struct ran_cache *c)
{
	return c && c->st.max_bytes > 0;
}

struct ran_cache *ran_cache_new(size_t max_bytes)
{
	if (sodium_init() < 0)
		abort(); /* libsodium cannot fail to initialise on a working system */
	struct ran_cache *c = xcalloc(1, sizeof(*c));
	c->nbuckets = 1024;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	randombytes_buf(c->key, sizeof(c->key));
	c->st.max_bytes = max_bytes;
	return c;
}

static struct entry **slot_of(struct ran_cache *c, uint64_t hash, const char *commit,
                              const char *patchset)
{
	struct entry **pp = &c->buckets[hash & (c->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct entry *e = *pp;
		if (e->hash == hash && !strcmp(e->commit, commit) &&
		    !strcmp(e->patchset, patchset ? patchset : ""))
			return pp;
	}
	return pp;
}

static void lru_unlink(struct ran_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct ran_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlink from the table and the list, and free. */
static void entry_drop(struct ran_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->st.bytes -= e->cost;
	c->st.entries--;
	ran_cache_release(e->body);
	free(e);
}

static void evict_to(struct ran_cache *c, size_t budget)
{
	while (c->tail && c->st.bytes > budget) {
		entry_drop(c, c->tail);
		c->st.evictions++;
	}
}

static void grow(struct ran_cache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < c->nbuckets; i++)
		for (struct entry *e = c->buckets[i], *next; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static void ran_cache_clear(struct ran_cache *c)
{
	while (c->head)
		entry_drop(c, c->head);
}

void ran_cache_free(struct ran_cache *c)
{
	if (!c)
		return;
	ran_cache_clear(c);
	free(c->buckets);
	free(c);
}

void ran_cache_set_max(struct ran_cache *c, size_t max_bytes)
{
	c->st.max_bytes = max_bytes;
	evict_to(c, max_bytes);
}

/* Drop one revision's answer (what a sync does for each changed revision). */
static void ran_cache_invalidate(struct ran_cache *c, const char *commit, const char *patchset)
{
	if (!key_ok(commit, patchset))
		return;
	struct entry **pp = slot_of(c, key_hash(c, commit, patchset), commit, patchset);
	if (*pp) {
		entry_drop(c, *pp);
		c->st.invalidations++;
	}
}

static void on_change(const char *commit, const char *patchset, void *arg)
{
	ran_cache_invalidate(arg, commit, patchset);
}

int ran_cache_sync(struct ran_cache *c, struct store *st, struct err *err)
{
	int64_t v;
	if (store_data_version(st, &v, err) < 0)
		goto fail;
	if (c->synced && c->started && v == c->version)
		return 0; /* nobody committed anything since the last look */
	if (!c->started) {
		/* nothing cached yet: start from the newest change */
		if (results_revchange_last(st, &c->seen, err) < 0)
			goto fail;
		c->started = 1;
	} else {
		int64_t last;
		int r = results_revchanges_since(st, c->seen, on_change, c, &last, err);
		if (r < 0)
			goto fail;
		c->st.syncs++;
		if (r == 0) { /* the log was pruned past us: trust nothing */
			ran_cache_clear(c);
			c->st.flushes++;
		}
		c->seen = last;
	}
	c->version = v;
	c->synced = 1;
	return 0;
fail:
	/* cannot tell what changed: keep nothing, start over next time */
	if (c->head)
		c->st.flushes++;
	ran_cache_clear(c);
	c->synced = 0;
	c->started = 0;
	return -1;
}

int64_t ran_cache_tag(const struct ran_cache *c)
{
	return c->synced ? c->seen : -1;
}

void ran_cache_release(void *ref)
{
	struct body *b = ref;
	if (--b->refs == 0)
		free(b);
}

int ran_cache_get(struct ran_cache *c, const char *commit, const char *patchset,
                  struct ran_cache_hit *hit)
{
	struct entry *e = NULL;
	if (key_ok(commit, patchset))
		e = *slot_of(c, key_hash(c, commit, patchset), commit, patchset);
	if (!e) {
		c->st.misses++;
		return 0;
	}
	c->st.hits++;
	if (c->head != e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
	e->body->refs++;
	hit->body = e->body->data;
	hit->len = e->body->len;
	hit->etag = e->etag;
	hit->ref = e->body;
	return 1;
}

int ran_cache_put(struct ran_cache *c, const char *commit, const char *patchset, int64_t tag,
                  const char *body, size_t len, const char *etag)
{
	if (!key_ok(commit, patchset) || !c->st.max_bytes)
		return 0;
	if (tag < 0 || !c->synced || tag != c->seen) {
		c->st.stale++;
		return 0;
	}
	/* what the entry really holds: struct, body, and malloc's bookkeeping for both */
	size_t cost = sizeof(struct entry) + len + 32;
	if (cost > c->st.max_bytes)
		return 0;
	uint64_t h = key_hash(c, commit, patchset);
	struct entry **pp = slot_of(c, h, commit, patchset);
	if (*pp)
		entry_drop(c, *pp); /* a newer answer of the same revision */
	evict_to(c, c->st.max_bytes - cost);
	struct entry *e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->cost = cost;
	e->body = xmalloc(sizeof(struct body) + len);
	e->body->refs = 1;
	e->body->len = len;
	memcpy(e->body->data, body, len);
	snprintf(e->etag, sizeof(e->etag), "%s", etag);
	memcpy(e->commit, commit, COMMIT_LEN + 1);
	snprintf(e->patchset, sizeof(e->patchset), "%s", patchset ? patchset : "");
	if (c->st.entries + 1 > c->nbuckets)
		grow(c);
	pp = &c->buckets[h & (c->nbuckets - 1)];
	e->hnext = *pp;
	*pp = e;
	lru_push_front(c, e);
	c->st.bytes += cost;
	c->st.entries++;
	c->st.inserts++;
	return 1;
}

void ran_cache_stats(const struct ran_cache *c, struct ran_cache_stats *out)
{
	*out = c->st;
}
