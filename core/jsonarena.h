/*
 * jsonarena.h - bump allocation for short-lived jansson documents.
 *
 * Parsing a 10,000-test KCIDB file makes ~300,000 small jansson
 * allocations; freeing them one by one cost more than parsing.  With
 * json_arena_install() jansson allocates through cifeed's functions: while
 * a thread has an arena active (json_arena_enter) every jansson allocation
 * of that thread comes from the arena, and the whole document is released
 * at once by json_arena_free().  Outside an arena jansson uses malloc as
 * usual, so the rest of the program is unaffected.
 *
 * Rules: a value allocated in an arena must not be referenced after the
 * arena is freed (never json_object_set an arena value into a longer-lived
 * document), and must not be json_decref'd or free()d outside its arena
 * (drop the arena instead).  Strings jansson returns (json_dumps) while an
 * arena is active live in that arena.  Outside arenas nothing changes:
 * json_dumps results are still released with free().
 */
#ifndef CIFEED_JSONARENA_H
#define CIFEED_JSONARENA_H

#include <stddef.h>

struct json_arena;

/* Route jansson's allocations through cifeed (idempotent; call before any jansson use). */
void json_arena_install(void);
struct json_arena *json_arena_new(void);
/* Make `a` the current thread's arena (NULL: back to malloc). Returns the previous one. */
struct json_arena *json_arena_enter(struct json_arena *a);
void json_arena_free(struct json_arena *a);
/* Release memory jansson returned (json_dumps): free() outside arenas, nothing inside. */
void json_arena_release(void *p);
/* Bytes held by an arena (for tests and memory accounting). */
size_t json_arena_size(const struct json_arena *a);

#endif
