/* luapool.h: the memory of one Lua state, small blocks from size classes.
 *
 * A Lua state allocates and frees small blocks by the million (strings, tables, closures, a
 * table's parts: a 10,000-service bundle's DSL run makes ~2 M); malloc, realloc and free were a
 * tenth of a policy directory's load. Lua tells the allocator each block's size when it frees
 * or resizes it, so blocks of up to MP_LUAPOOL_SMALL bytes need no header: each is carved from
 * 64 KiB chunks in one of 16 classes (16, 32, ... 256 bytes) and a freed one goes on its class's
 * list for the next block of that class. Larger blocks are mp_malloc'd.
 *
 * The invariant that makes it work: a block of at most MP_LUAPOOL_SMALL bytes (as Lua knows its
 * size) is the pool's, a larger one mp_malloc's. Shrinking never fails: a small block shrunk
 * stays where it is (its class may be larger than the new size needs); a large block shrunk to a
 * small size moves into the pool, or, when no memory is left for that, stays where it is as a
 * "stray": an mp_malloc'd block the pool now owns (large blocks are at least 264 bytes, so the
 * stray's link to the next fits past any class's 256). Chunks and strays are freed together by
 * mp_luapool_release, after lua_close.
 *
 * Memory held: chunks only grow; what a class frees only that class reuses. So the pool is
 * bounded by the sum of each class's peak, which a hostile policy could drive towards 16 times
 * the state's cap by churning through the classes; mp_luapool_realloc refuses new chunks past
 * max (the sandbox passes twice its cap while it enforces the cap, 0 = none otherwise).
 *
 * Under AddressSanitizer, freed blocks and the unused tail of each chunk are poisoned, so a
 * block used after free or past its class is still reported (not one reused since: the pool has
 * no quarantine). One thread at a time, as its Lua state. */
#ifndef MP_LUAPOOL_H
#define MP_LUAPOOL_H

#include <stddef.h>

#define MP_LUAPOOL_SMALL   256
#define MP_LUAPOOL_CLASSES (MP_LUAPOOL_SMALL / 16)

typedef struct mp_luapool_link mp_luapool_link;

/* Zero-initialised; owns its chunks and strays until mp_luapool_release. */
typedef struct {
	mp_luapool_link *free[MP_LUAPOOL_CLASSES]; /* each class's freed blocks */
	char *next;                                /* the current chunk's first uncarved byte */
	size_t left;                               /* its bytes left to carve */
	mp_luapool_link *chunks, *strays;          /* every chunk and stray, to free */
	size_t held;                               /* bytes of the chunks */
} mp_luapool;

/* lua_Alloc's contract for one block: ptr NULL (then osize is Lua's type tag) or of osize bytes;
 * nsize 0 frees it (NULL returned). Otherwise a block of nsize bytes holding the first
 * min(osize, nsize) of ptr's, or NULL when a growth finds no memory (ptr then untouched), a new
 * chunk past max (0: no limit) included. A shrink never fails. */
void *mp_luapool_realloc(mp_luapool *p, void *ptr, size_t osize, size_t nsize, size_t max);

/* Frees every chunk and stray: after lua_close, when no block is in use. */
void mp_luapool_release(mp_luapool *p);

#endif
