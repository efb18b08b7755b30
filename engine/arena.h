/* arena.h: memory that lives and dies with one owner (a policy bundle, a mesh provider's compiled
 * state): blocks carved out of large chunks, all freed at once. Prefix mp_arena_. Internal to the
 * engine.
 *
 * Ownership: an mp_arena owns every block it handed out; mp_arena_free releases them all (the
 * mp_arena struct itself is its owner's, and is reusable afterwards). A failed allocation sets
 * oom, so a caller may make many and check once. */
#ifndef MP_ARENA_H
#define MP_ARENA_H

#include <stddef.h>

struct mp_arena_chunk;

typedef struct mp_arena {
	struct mp_arena_chunk *head;
	size_t chunk; /* bytes of the first chunk; 0: 16 KiB (each next one grows, arena.c) */
	size_t total; /* bytes of every chunk so far */
	int oom;      /* an allocation failed */
} mp_arena;

/* n zeroed bytes, 16-aligned (at least 16 for n = 0); NULL (and oom set) when out of memory. */
void *mp_arena_alloc(mp_arena *a, size_t n);
/* The same, not zeroed: for a block the caller writes whole (a copy, a file's bytes), so that
 * large ones are touched once. */
void *mp_arena_alloc_raw(mp_arena *a, size_t n);
/* A NUL-terminated copy of len bytes of s, of s, or of the formatted text (cut at 1 KiB). */
char *mp_arena_strn(mp_arena *a, const char *s, size_t len);
char *mp_arena_str(mp_arena *a, const char *s);
char *mp_arena_printf(mp_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every block; the pointers it handed out are invalid afterwards. */
void mp_arena_free(mp_arena *a);
/* Frees every block but keeps the arena's latest chunk for the next ones: scratch memory
 * reused, say, once per item, touches the same bytes each time. */
void mp_arena_reset(mp_arena *a);
/* Moves every block of from into to: they stay where they are, and are freed with to; from is
 * left empty (reusable). */
void mp_arena_adopt(mp_arena *to, mp_arena *from);

#endif
