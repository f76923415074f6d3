/* arena.c — blocks of ARENA_BLOCK_SIZE carved by a bump pointer. A request bigger than a
 * quarter block gets a block of its own, so large values neither waste the tail of the
 * current block nor force a new one for the small entries that follow. */
#include "memtable/arena.h"

#include <stdlib.h>
#include <sys/mman.h>

struct arena_block {
  struct arena_block *next;
  /* the block's bytes follow, aligned for any type */
  _Alignas(16) uint8_t data[];
};

void arena_init(arena *a) {
  a->ptr = NULL;
  a->left = 0;
  a->blocks = NULL;
  atomic_init(&a->usage, 0);
  atomic_init(&a->used, 0);
}

void arena_destroy(arena *a) {
  struct arena_block *b = a->blocks;
  while (b) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  arena_init(a);
}

/* Links a block of `total` bytes (header included) and counts it; returns its data. */
static uint8_t *link_block(arena *a, struct arena_block *b, size_t total) {
  b->next = a->blocks;
  a->blocks = b;
  size_t used = atomic_load_explicit(&a->usage, memory_order_relaxed);
  atomic_store_explicit(&a->usage, used + total, memory_order_relaxed);
  return b->data;
}

/* A request too big to share a block gets one of its own, of exactly its size. */
static uint8_t *own_block(arena *a, size_t n) {
  if (n > SIZE_MAX - sizeof(struct arena_block)) return NULL;
  struct arena_block *b = malloc(sizeof(struct arena_block) + n);
  return b ? link_block(a, b, sizeof(struct arena_block) + n) : NULL;
}

/* Shared blocks are aligned to their size so the kernel can back each with one huge page:
 * skiplist searches jump randomly across the arena, and TLB misses would double their cost. */
static uint8_t *shared_block(arena *a) {
  struct arena_block *b = aligned_alloc(ARENA_BLOCK_SIZE, ARENA_BLOCK_SIZE);
  if (!b) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(b, ARENA_BLOCK_SIZE, MADV_HUGEPAGE); /* advisory: failure only costs speed */
#endif
  return link_block(a, b, ARENA_BLOCK_SIZE);
}

static void count_used(arena *a, size_t n) {
  size_t used = atomic_load_explicit(&a->used, memory_order_relaxed);
  atomic_store_explicit(&a->used, used + n, memory_order_relaxed);
}

void *arena_alloc_aligned(arena *a, size_t n, size_t align) {
  if (n == 0) n = 1; /* a distinct non-NULL pointer, so NULL always means failure */
  size_t pad = (size_t)(-(uintptr_t)a->ptr) & (align - 1);
  if (n <= a->left && pad <= a->left - n) {
    count_used(a, pad + n);
    uint8_t *p = a->ptr + pad;
    a->ptr = p + n;
    a->left -= pad + n;
    return p;
  }
  uint8_t *p = n > ARENA_BLOCK_SIZE / 4 ? own_block(a, n) : shared_block(a);
  if (!p) return NULL;
  count_used(a, n + sizeof(struct arena_block));
  if (n > ARENA_BLOCK_SIZE / 4) return p;
  /* block data is 16-aligned, so no padding is needed at its start */
  a->ptr = p + n;
  a->left = ARENA_BLOCK_SIZE - sizeof(struct arena_block) - n;
  return p;
}
