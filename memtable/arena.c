/* arena.c — shared blocks (ARENA_BLOCK_SIZE, or the smaller size of the pool's) carved by a
 * bump pointer. A request bigger than a quarter block gets a block of its own, so large values
 * neither waste the tail of the current block nor force a new one for the small entries that
 * follow. Shared blocks may come from, and go back to, an arena_pool. */
#include "memtable/arena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shale.h"
#include "util/thread_annotations.h"

struct arena_block {
  struct arena_block *next;
  bool shared; /* of the arena's block size: may go back to its pool */
  /* the block's bytes follow, aligned for any type */
  _Alignas(16) uint8_t data[];
};

/* The fields a pool's mu guards, reached only through pool_held(). */
typedef struct pool_state {
  struct arena_block *stock;
  size_t count; /* blocks in stock */
  uint64_t from_stock, allocated;
  bool stop;
} pool_state;

struct arena_pool {
  sh_mutex mu;
  pool_state under_mu;
  pthread_cond_t want;      /* the stock fell below `ahead`, or stop */
  size_t block, ahead, cap; /* set before the thread starts, read-only after */
  bool has_thread;          /* written and read by the thread that makes and frees the pool */
  pthread_t thread;
};

static inline pool_state *pool_held(arena_pool *p) SH_REQUIRES(p->mu) { return &p->under_mu; }

/* Full-size blocks are aligned to their size so the kernel can back each with one huge page:
 * skiplist searches jump randomly across the arena, and TLB misses would double their cost.
 * Smaller ones are plain malloc: a huge page would be mostly zeroed for nothing. */
static struct arena_block *new_shared_block(size_t size) {
  if (size < ARENA_BLOCK_SIZE) {
    struct arena_block *b = malloc(size);
    if (b) b->shared = true;
    return b;
  }
  struct arena_block *b = aligned_alloc(ARENA_BLOCK_SIZE, ARENA_BLOCK_SIZE);
  if (!b) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(b, ARENA_BLOCK_SIZE, MADV_HUGEPAGE); /* advisory: failure only costs speed */
#endif
  b->shared = true;
  return b;
}

size_t arena_block_size_for(size_t write_buffer) {
  size_t size = ARENA_MIN_BLOCK_SIZE;
  while (size < write_buffer && size < ARENA_BLOCK_SIZE) size *= 2;
  return size;
}

/* Takes the page faults (and the kernel's zeroing) now, on the pool's thread. */
static void prefault(struct arena_block *b, size_t size) {
  volatile uint8_t *p = (volatile uint8_t *)b;
  for (size_t off = 4096; off < size; off += 4096) p[off] = 0;
}

static void *pool_main(void *arg) {
  arena_pool *p = arg;
  sh_mutex_lock(&p->mu);
  for (;;) {
    pool_state *st = pool_held(p);
    while (!st->stop && st->count >= p->ahead) sh_cond_wait(&p->want, &p->mu);
    if (st->stop) break;
    sh_mutex_unlock(&p->mu);
    struct arena_block *b = new_shared_block(p->block);
    if (b) prefault(b, p->block);
    sh_mutex_lock(&p->mu);
    if (!b) break; /* out of memory: arenas allocate for themselves */
    st = pool_held(p);
    b->next = st->stock;
    st->stock = b;
    st->count++;
  }
  sh_mutex_unlock(&p->mu);
  return NULL;
}

int arena_pool_new(size_t block, size_t ahead, size_t cap, arena_pool **out) {
  *out = NULL;
  if (block != arena_block_size_for(block)) return SHALE_INVALID;
  arena_pool *p = calloc(1, sizeof *p);
  if (!p) return SHALE_NOMEM;
  p->block = block;
  p->ahead = ahead < cap ? ahead : cap;
  p->cap = cap;
  sh_mutex_init(&p->mu);
  pthread_cond_init(&p->want, NULL);
  /* Without the thread the pool still recycles blocks; a failed start only costs speed. */
  p->has_thread = p->ahead && pthread_create(&p->thread, NULL, pool_main, p) == 0;
  *out = p;
  return SHALE_OK;
}

void arena_pool_free(arena_pool *p) {
  if (!p) return;
  sh_mutex_lock(&p->mu);
  pool_held(p)->stop = true;
  pthread_cond_signal(&p->want);
  sh_mutex_unlock(&p->mu);
  if (p->has_thread) pthread_join(p->thread, NULL);
  sh_mutex_lock(&p->mu); /* the thread is gone: held for the rule on the stock */
  struct arena_block *stock = pool_held(p)->stock;
  pool_held(p)->stock = NULL;
  sh_mutex_unlock(&p->mu);
  while (stock) {
    struct arena_block *next = stock->next;
    free(stock);
    stock = next;
  }
  pthread_cond_destroy(&p->want);
  sh_mutex_destroy(&p->mu);
  free(p);
}

void arena_pool_stats(arena_pool *p, uint64_t *from_stock, uint64_t *allocated) {
  sh_mutex_lock(&p->mu);
  const pool_state *st = pool_held(p);
  if (from_stock) *from_stock = st->from_stock;
  if (allocated) *allocated = st->allocated;
  sh_mutex_unlock(&p->mu);
}

static struct arena_block *pool_take(arena_pool *p) {
  sh_mutex_lock(&p->mu);
  pool_state *st = pool_held(p);
  struct arena_block *b = st->stock;
  if (b) {
    st->stock = b->next;
    st->count--;
    st->from_stock++;
  } else {
    st->allocated++;
  }
  if (st->count < p->ahead) pthread_cond_signal(&p->want);
  sh_mutex_unlock(&p->mu);
  return b ? b : new_shared_block(p->block);
}

/* Keeps b for the next arena if the pool has room; else frees it. */
static void pool_give(arena_pool *p, struct arena_block *b) {
  sh_mutex_lock(&p->mu);
  pool_state *st = pool_held(p);
  bool keep = st->count < p->cap;
  if (keep) {
    b->next = st->stock;
    st->stock = b;
    st->count++;
  }
  sh_mutex_unlock(&p->mu);
  if (!keep) free(b);
}

void arena_init_pooled(arena *a, arena_pool *pool) {
  a->pool = pool;
  a->block = pool ? pool->block : ARENA_BLOCK_SIZE;
  a->ptr = NULL;
  a->left = 0;
  a->blocks = NULL;
  atomic_init(&a->usage, 0);
  atomic_init(&a->used, 0);
}

void arena_init(arena *a) { arena_init_pooled(a, NULL); }

void arena_destroy(arena *a) {
  struct arena_block *b = a->blocks;
  while (b) {
    struct arena_block *next = b->next;
    if (a->pool && b->shared)
      pool_give(a->pool, b);
    else
      free(b);
    b = next;
  }
  arena_init_pooled(a, a->pool);
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
  if (!b) return NULL;
  b->shared = false;
  return link_block(a, b, sizeof(struct arena_block) + n);
}

static uint8_t *shared_block(arena *a) {
  struct arena_block *b = a->pool ? pool_take(a->pool) : new_shared_block(a->block);
  return b ? link_block(a, b, a->block) : NULL;
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
  uint8_t *p = n > a->block / 4 ? own_block(a, n) : shared_block(a);
  if (!p) return NULL;
  count_used(a, n + sizeof(struct arena_block));
  if (n > a->block / 4) return p;
  /* block data is 16-aligned, so no padding is needed at its start */
  a->ptr = p + n;
  a->left = a->block - sizeof(struct arena_block) - n;
  return p;
}
