/*
 * jsonarena.c - bump allocation for jansson documents (see jsonarena.h).
 *
 * Outside an arena, jansson's blocks are plain malloc blocks, so code that
 * frees json_dumps() results with free() keeps working.  Inside one, the
 * free function recognises arena blocks by address (an arena has few,
 * large chunks) and ignores them.
 */
#include "jsonarena.h"
#include "buf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define CHUNK (1u << 20)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct json_arena {
	struct chunk *head;
	size_t total;
};

static __thread struct json_arena *current;

static void *arena_alloc(struct json_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK ? n : CHUNK;
		c = xmalloc(sizeof(*c) + cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		a->total += cap;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static int arena_owns(const struct json_arena *a, const void *p)
{
	for (const struct chunk *c = a->head; c; c = c->next)
		if ((const char *)p >= (const char *)c->data &&
		    (const char *)p < (const char *)c->data + c->cap)
			return 1;
	return 0;
}

static void *jmalloc(size_t n)
{
	return current ? arena_alloc(current, n) : malloc(n);
}

static void jfree(void *p)
{
	if (!p || (current && arena_owns(current, p)))
		return; /* arena blocks go away with their arena */
	free(p);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
	json_set_alloc_funcs(jmalloc, jfree);
}

void json_arena_install(void)
{
	pthread_once(&once, install);
}

struct json_arena *json_arena_new(void)
{
	return xcalloc(1, sizeof(struct json_arena));
}

struct json_arena *json_arena_enter(struct json_arena *a)
{
	struct json_arena *prev = current;
	current = a;
	return prev;
}

void json_arena_free(struct json_arena *a)
{
	if (!a)
		return;
	struct chunk *c = a->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

size_t json_arena_size(const struct json_arena *a)
{
	return a ? a->total : 0;
}

void json_arena_release(void *p)
{
	jfree(p);
}
