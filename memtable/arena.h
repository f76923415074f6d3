/* arena.h — the bump allocator behind a memtable. Entries are never freed one by one: the
 * whole arena goes when its memtable does, so allocation is a pointer bump in a large block
 * and memory use is one counter that flush scheduling can read from any thread. */
#ifndef SHALE_MEMTABLE_ARENA_H
#define SHALE_MEMTABLE_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One huge page: shared blocks of this size are allocated aligned to it (see arena.c). */
#define ARENA_BLOCK_SIZE ((size_t)2 << 20)
/* The smallest shared block a pool hands out. */
#define ARENA_MIN_BLOCK_SIZE ((size_t)4096)

struct arena_block;

/* A stock of shared blocks whose pages are already faulted in, for the arenas of one DB.
 * A fresh 2 MiB block costs the writer a page fault and the kernel zeroing the page (15% of
 * a sequential load); the pool's thread does that ahead of need on another core, and blocks
 * of destroyed arenas come back to it instead of to malloc. Thread-safe. */
typedef struct arena_pool arena_pool;

/* The shared block size for memtables of write_buffer bytes: a huge page, or for a smaller
 * buffer the power of two that holds it (at least ARENA_MIN_BLOCK_SIZE), so that a small
 * memtable neither holds nor zeroes a 2 MiB page it will never fill. */
size_t arena_block_size_for(size_t write_buffer);
/* Shared blocks of `block` bytes (ARENA_BLOCK_SIZE, or a power of two below it and at least
 * ARENA_MIN_BLOCK_SIZE). Keeps up to `ahead` fresh blocks ready (0: no thread, reuse only)
 * and holds at most `cap` blocks in all (reused ones included). Returns SHALE_OK, or
 * SHALE_INVALID for another block size, or SHALE_NOMEM. */
int arena_pool_new(size_t block, size_t ahead, size_t cap, arena_pool **out);
/* Stops the thread and frees every held block. REQUIRES: no arena still uses the pool. */
void arena_pool_free(arena_pool *p);
/* Blocks handed out from stock (prefaulted or reused), and blocks the arenas had to allocate
 * themselves because the stock was empty. */
void arena_pool_stats(arena_pool *p, uint64_t *from_stock, uint64_t *allocated);

/* Not thread-safe except arena_usage: one writer allocates (the memtable's writer). */
typedef struct arena {
  arena_pool *pool;           /* NULL: blocks come from malloc and go back to free */
  size_t block;               /* shared block size: the pool's, else ARENA_BLOCK_SIZE */
  uint8_t *ptr;               /* bump pointer in the current block */
  size_t left;                /* bytes left after ptr in the current block */
  struct arena_block *blocks; /* every block, newest first, freed by arena_destroy */
  _Atomic size_t usage;       /* bytes obtained from malloc, headers included */
  _Atomic size_t used;        /* bytes handed out (padding included): what fills a memtable */
} arena;

void arena_init(arena *a);
/* As arena_init, taking shared blocks from pool and returning them there (pool may be NULL). */
void arena_init_pooled(arena *a, arena_pool *pool);
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
