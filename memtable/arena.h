/* arena.h — the bump allocator behind a memtable. Entries are never freed one by one: the
 * whole arena goes when its memtable does, so allocation is a pointer bump in a large block
 * and memory use is one counter that flush scheduling can read from any thread. */
#ifndef SHALE_MEMTABLE_ARENA_H
#define SHALE_MEMTABLE_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One huge page: shared blocks are allocated aligned to it (see arena.c). */
#define ARENA_BLOCK_SIZE ((size_t)2 << 20)

struct arena_block;

/* Not thread-safe except arena_usage: one writer allocates (the memtable's writer). */
typedef struct arena {
  uint8_t *ptr;               /* bump pointer in the current block */
  size_t left;                /* bytes left after ptr in the current block */
  struct arena_block *blocks; /* every block, newest first, freed by arena_destroy */
  _Atomic size_t usage;       /* bytes obtained from malloc, headers included */
  _Atomic size_t used;        /* bytes handed out (padding included): what fills a memtable */
} arena;

void arena_init(arena *a);
void arena_destroy(arena *a);

/* Returns n bytes aligned to align (a power of two <= 16), or NULL when malloc fails or the
 * size overflows; the arena stays usable after a failure. Memory lives until arena_destroy. */
void *arena_alloc_aligned(arena *a, size_t n, size_t align);

/* Unaligned bytes, for payloads that are only read through memcpy-style accessors. */
static inline void *arena_alloc(arena *a, size_t n) { return arena_alloc_aligned(a, n, 1); }

/* Bytes handed out, so a memtable is "full" by its entries, not by the size of its first
 * block; any thread (relaxed: an estimate for scheduling, not a fence). */
static inline size_t arena_used(const arena *a) {
  return atomic_load_explicit(&((arena *)a)->used, memory_order_relaxed);
}
/* Bytes held by the arena; any thread (relaxed: an estimate for scheduling, not a fence). */
static inline size_t arena_usage(const arena *a) {
  return atomic_load_explicit(&((arena *)a)->usage, memory_order_relaxed);
}

#endif /* SHALE_MEMTABLE_ARENA_H */
