/* test_skiplist.c — the arena and the concurrent skiplist: internal-key order over keys that
 * stress the prefix compare (short keys, zero bytes, shared prefixes), both directions, seek,
 * and one writer racing two readers that check order and completeness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memtable/arena.h"
#include "shale.h"
#include "memtable/skiplist.h"
#include "shale.h"
#include "testutil.h"
#include "util/ikey.h"

static sl_node *add(skiplist *s, const uint8_t *k, size_t klen, uint64_t seq, unsigned kind) {
  sl_node *n = skiplist_node_new(s, klen + IKEY_TRAILER, 0);
  assert_non_null(n);
  memcpy(sl_node_key(n), k, klen);
  put_fixed64(sl_node_key(n) + klen, ikey_pack(seq, kind));
  skiplist_insert(s, n);
  return n;
}

static void test_arena(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  assert_int_equal(arena_usage(&a), 0);
  for (int i = 1; i < 1000; i++) {
    uint8_t *p = arena_alloc_aligned(&a, (size_t)i % 37 + 1, 8);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 8, 0);
    memset(p, 0xab, (size_t)i % 37 + 1);
    assert_non_null(arena_alloc(&a, 3));
  }
  size_t small = arena_usage(&a);
  assert_true(small >= ARENA_BLOCK_SIZE && small < 2 * ARENA_BLOCK_SIZE);
  /* a large request gets its own block and the current block keeps serving small ones */
  uint8_t *big = arena_alloc_aligned(&a, 3 * ARENA_BLOCK_SIZE, 16);
  assert_non_null(big);
  assert_int_equal((uintptr_t)big % 16, 0);
  memset(big, 1, 3 * ARENA_BLOCK_SIZE);
  assert_true(arena_usage(&a) >= small + 3 * ARENA_BLOCK_SIZE);
  assert_true(arena_usage(&a) < small + 3 * ARENA_BLOCK_SIZE + 4096);
  /* overflowing sizes fail cleanly and leave the arena usable */
  assert_null(arena_alloc(&a, SIZE_MAX));
  assert_null(arena_alloc(&a, SIZE_MAX - 8));
  assert_non_null(arena_alloc(&a, 0));
  assert_non_null(arena_alloc(&a, 10));
  arena_destroy(&a);
  assert_int_equal(arena_usage(&a), 0);
}

/* Blocks come from the pool's stock, go back to it, and large requests stay private. */
static void test_arena_pool(void **state) {
  (void)state;
  arena_pool *pool;
  assert_int_equal(arena_pool_new(ARENA_BLOCK_SIZE, 2, 4, &pool), SHALE_OK);
  for (int round = 0; round < 3; round++) {
    arena a;
    arena_init_pooled(&a, pool);
    for (int i = 0; i < 18; i++) { /* three per block: six shared blocks, more than kept */
      uint8_t *p = arena_alloc_aligned(&a, ARENA_BLOCK_SIZE / 4, 16);
      assert_non_null(p);
      memset(p, round, ARENA_BLOCK_SIZE / 4);
    }
    uint8_t *big = arena_alloc_aligned(&a, 3 * ARENA_BLOCK_SIZE, 16);
    assert_non_null(big);
    memset(big, 2, 3 * ARENA_BLOCK_SIZE);
    arena_destroy(&a);
  }
  uint64_t from_stock, allocated;
  arena_pool_stats(pool, &from_stock, &allocated);
  assert_int_equal(from_stock + allocated, 3 * 6);
  assert_true(from_stock >= 2 * 4); /* rounds 2 and 3 start on the 4 blocks kept back */
  arena_pool_free(pool);
  /* a pool without a thread only recycles */
  assert_int_equal(arena_pool_new(ARENA_BLOCK_SIZE, 0, 1, &pool), SHALE_OK);
  arena a;
  arena_init_pooled(&a, pool);
  assert_non_null(arena_alloc(&a, 100));
  arena_destroy(&a);
  assert_non_null(arena_alloc(&a, 100)); /* the destroyed arena is usable again */
  arena_destroy(&a);
  arena_pool_stats(pool, &from_stock, &allocated);
  assert_int_equal(from_stock, 1);
  assert_int_equal(allocated, 1);
  arena_pool_free(pool);
}

/* A small write buffer gets small shared blocks: a 4 KiB memtable holds no 2 MiB page. */
static void test_arena_small_blocks(void **state) {
  (void)state;
  assert_int_equal(arena_block_size_for(0), ARENA_MIN_BLOCK_SIZE);
  assert_int_equal(arena_block_size_for(4096), 4096);
  assert_int_equal(arena_block_size_for(4097), 8192);
  assert_int_equal(arena_block_size_for(64 << 10), 64 << 10);
  assert_int_equal(arena_block_size_for(ARENA_BLOCK_SIZE), ARENA_BLOCK_SIZE);
  assert_int_equal(arena_block_size_for((size_t)64 << 20), ARENA_BLOCK_SIZE);
  arena_pool *pool;
  assert_int_equal(arena_pool_new(3000, 0, 1, &pool), SHALE_INVALID);
  assert_null(pool);
  assert_int_equal(arena_pool_new(2 * ARENA_BLOCK_SIZE, 0, 1, &pool), SHALE_INVALID);
  assert_int_equal(arena_pool_new(4096, 0, 2, &pool), SHALE_OK);
  for (int round = 0; round < 2; round++) {
    arena a;
    arena_init_pooled(&a, pool);
    uint8_t *p = arena_alloc_aligned(&a, 100, 8);
    assert_non_null(p);
    memset(p, round, 100);
    assert_int_equal(arena_usage(&a), 4096);
    /* what fits shares the block; more than a quarter block that does not fit gets a block
     * of its own, of its size, and the shared block stays current */
    uint8_t *q = arena_alloc_aligned(&a, 1024, 16);
    assert_non_null(q);
    assert_true(q > p && q + 1024 <= p + 4096);
    uint8_t *big = arena_alloc(&a, 3000);
    assert_non_null(big);
    memset(big, 3, 3000);
    assert_true(arena_usage(&a) > 4096 + 3000 && arena_usage(&a) < 4096 + 3000 + 64);
    uint8_t *r = arena_alloc(&a, 8);
    assert_true(r > q && r + 8 <= p + 4096);
    arena_destroy(&a);
  }
  uint64_t from_stock, allocated;
  arena_pool_stats(pool, &from_stock, &allocated);
  assert_int_equal(allocated, 1);
  assert_int_equal(from_stock, 1); /* the second round reused the first's block */
  arena_pool_free(pool);
}

typedef struct rkey {
  uint8_t b[12 + IKEY_TRAILER];
  size_t len; /* internal key length */
} rkey;

static int rkey_cmp(const void *x, const void *y) {
  const rkey *a = x, *b = y;
  return ikey_compare(a->b, a->len, b->b, b->len);
}

/* Short keys over a 4-letter alphabet with zero bytes: many equal prefixes and lengths. */
static void random_key(uint64_t *rng, rkey *k) {
  static const uint8_t alpha[] = {0, 1, 'a', 0xff};
  size_t n = tu_rand(rng) % 13;
  for (size_t i = 0; i < n; i++) k->b[i] = alpha[tu_rand(rng) % 4];
  put_fixed64(k->b + n, ikey_pack(tu_rand(rng) % 1000 + 1, KIND_PUT));
  k->len = n + IKEY_TRAILER;
}

static void check_node(const sl_node *n, const rkey *k) {
  assert_non_null(n);
  assert_int_equal(n->klen, k->len);
  assert_memory_equal(sl_node_key(n), k->b, k->len);
}

static void test_order_random(void **state) {
  (void)state;
  enum { N = 5000 };
  arena a;
  arena_init(&a);
  skiplist s;
  assert_int_equal(skiplist_init(&s, &a), SHALE_OK);
  assert_null(skiplist_first(&s));
  assert_null(skiplist_last(&s));
  rkey *keys = calloc(N, sizeof *keys);
  uint64_t rng = 42;
  size_t n = 0;
  for (size_t i = 0; i < N; i++) {
    random_key(&rng, &keys[n]);
    uint8_t *k = keys[n].b;
    size_t len = keys[n].len;
    sl_node *hit = skiplist_seek(&s, k, len - 8, get_fixed64(k + len - 8));
    if (hit && hit->klen == len && !memcmp(sl_node_key(hit), k, len)) continue; /* duplicate */
    add(&s, k, len - 8, ikey_seq(get_fixed64(k + len - 8)), KIND_PUT);
    n++;
  }
  qsort(keys, n, sizeof *keys, rkey_cmp);
  sl_iter it;
  sl_iter_init(&it, &s);
  size_t i = 0;
  for (sl_iter_seek_first(&it); sl_iter_valid(&it); sl_iter_next(&it))
    check_node(it.node, &keys[i++]);
  assert_int_equal(i, n);
  for (sl_iter_seek_last(&it); sl_iter_valid(&it); sl_iter_prev(&it))
    check_node(it.node, &keys[--i]);
  assert_int_equal(i, 0);
  /* seek: every stored key finds itself; a probe finds the first key >= it */
  for (i = 0; i < n; i++) {
    sl_iter_seek(&it, keys[i].b, keys[i].len - 8, get_fixed64(keys[i].b + keys[i].len - 8));
    check_node(it.node, &keys[i]);
  }
  for (int p = 0; p < 2000; p++) {
    rkey probe;
    random_key(&rng, &probe);
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (rkey_cmp(&keys[mid], &probe) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    sl_node *got = skiplist_seek(&s, probe.b, probe.len - 8, get_fixed64(probe.b + probe.len - 8));
    if (lo == n)
      assert_null(got);
    else
      check_node(got, &keys[lo]);
  }
  free(keys);
  arena_destroy(&a);
}

/* Concurrency: key i is a 4-byte big-endian bijective scramble of i, so readers can map every
 * key they meet back to its index and check that nothing published before their pass is missing. */
enum { CN = 20000, READERS = 2 };
#define SCRAMBLE 0x9e3779b1u

typedef struct race {
  skiplist s;
  _Atomic uint32_t published; /* keys [0, published) are inserted */
  _Atomic int done;
  uint32_t inverse;
  int passes[READERS];
} race;

static void race_key(uint32_t i, uint8_t k[4]) {
  uint32_t x = i * SCRAMBLE;
  k[0] = (uint8_t)(x >> 24), k[1] = (uint8_t)(x >> 16), k[2] = (uint8_t)(x >> 8), k[3] = (uint8_t)x;
}

static int reader_pass(race *r, uint8_t *seen, uint8_t mark) {
  uint32_t snap = atomic_load_explicit(&r->published, memory_order_acquire);
  const sl_node *prev = NULL;
  for (const sl_node *n = skiplist_first(&r->s); n; n = skiplist_next(n)) {
    if (n->klen != 4 + IKEY_TRAILER) return 0;
    if (prev && ikey_compare(sl_node_key(prev), prev->klen, sl_node_key(n), n->klen) >= 0) return 0;
    const uint8_t *k = sl_node_key(n);
    uint32_t x = (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 | (uint32_t)k[2] << 8 | k[3];
    uint32_t i = x * r->inverse;
    if (i >= CN) return 0;
    seen[i] = mark;
    prev = n;
  }
  for (uint32_t i = 0; i < snap; i++)
    if (seen[i] != mark) return 0;
  if (snap) { /* a published key is found by seek, and prev steps back to a smaller key */
    uint8_t k[4];
    race_key(snap - 1, k);
    const sl_node *n = skiplist_seek(&r->s, k, 4, ikey_pack(SEQ_MAX, KIND_SEEK));
    if (!n || memcmp(sl_node_key(n), k, 4)) return 0;
    const sl_node *p = skiplist_prev(&r->s, n);
    if (p && ikey_compare(sl_node_key(p), p->klen, sl_node_key(n), n->klen) >= 0) return 0;
  }
  return 1;
}

typedef struct reader_arg {
  race *r;
  int id;
  int ok;
} reader_arg;

static void *reader(void *p) {
  reader_arg *a = p;
  uint8_t *seen = calloc(CN, 1);
  uint8_t mark = 0;
  a->ok = 1;
  for (;;) {
    int last = atomic_load_explicit(&a->r->done, memory_order_acquire);
    if (++mark == 0) {
      memset(seen, 0, CN);
      mark = 1;
    }
    if (!reader_pass(a->r, seen, mark)) a->ok = 0;
    a->r->passes[a->id]++;
    if (last || !a->ok) break;
  }
  free(seen);
  return NULL;
}

static void test_concurrent_readers(void **state) {
  (void)state;
  static race r;
  arena a;
  arena_init(&a);
  assert_int_equal(skiplist_init(&r.s, &a), SHALE_OK);
  atomic_init(&r.published, 0);
  atomic_init(&r.done, 0);
  r.inverse = SCRAMBLE;
  for (int i = 0; i < 5; i++) r.inverse *= 2 - SCRAMBLE * r.inverse; /* Newton: SCRAMBLE^-1 */
  assert_int_equal((uint32_t)(SCRAMBLE * r.inverse), 1);
  reader_arg args[READERS];
  pthread_t th[READERS];
  for (int i = 0; i < READERS; i++) {
    args[i] = (reader_arg){&r, i, 0};
    r.passes[i] = 0;
    assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
  }
  for (uint32_t i = 0; i < CN; i++) {
    uint8_t k[4];
    race_key(i, k);
    add(&r.s, k, 4, i + 1, KIND_PUT);
    atomic_store_explicit(&r.published, i + 1, memory_order_release);
  }
  atomic_store_explicit(&r.done, 1, memory_order_release);
  for (int i = 0; i < READERS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_true(args[i].ok);
    assert_true(r.passes[i] >= 1);
  }
  arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arena),
      cmocka_unit_test(test_arena_pool),
      cmocka_unit_test(test_arena_small_blocks),
      cmocka_unit_test(test_order_random),
      cmocka_unit_test(test_concurrent_readers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
