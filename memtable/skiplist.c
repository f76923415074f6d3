/* skiplist.c — LevelDB's concurrent skiplist in C11 atomics. The writer fills a node
 * completely, then links it bottom-up with release stores; readers follow links with acquire
 * loads, so any node they reach is fully initialized. Nodes are never unlinked or moved. */
#include "memtable/skiplist.h"

#include <assert.h>
#include <stdalign.h>

#include "shale.h"

/* A search key split the way nodes store it, so each compare starts with one integer test. */
typedef struct target {
  const shale_comparator *cmp; /* the list's order; NULL: bytewise */
  uint64_t prefix;
  const uint8_t *ukey;
  size_t uklen;
  uint64_t trailer;
} target;

static inline uint64_t key_prefix(const uint8_t *k, size_t n) {
  uint8_t b[8] = {0};
  if (n) memcpy(b, k, n < 8 ? n : 8);
  uint64_t v;
  memcpy(&v, b, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline void target_of_node(target *t, const skiplist *s, const sl_node *n) {
  t->cmp = s->cmp;
  t->prefix = n->prefix;
  t->ukey = sl_node_key(n);
  t->uklen = sl_node_ukey_len(n);
  t->trailer = sl_node_trailer(n);
}

/* User-key order of n against t. Bytewise, equal zero-padded prefixes mean the first
 * min(8, lengths) bytes are equal, so only the rest needs memcmp; a comparator sees it all.
 * `custom` is a constant in each copy of the searches below (SL_SEARCH), so the bytewise
 * copy does not test for a comparator on every step. */
static inline int node_ukey_cmp(const sl_node *n, const target *t, int custom) {
  if (custom)
    return t->cmp->compare(t->cmp->arg, sl_node_key(n), sl_node_ukey_len(n), t->ukey, t->uklen);
  if (n->prefix != t->prefix) return n->prefix < t->prefix ? -1 : 1;
  size_t nl = sl_node_ukey_len(n), off = nl < t->uklen ? nl : t->uklen;
  if (off > 8) off = 8;
  return ukey_compare(sl_node_key(n) + off, nl - off, t->ukey + off, t->uklen - off);
}

/* Internal-key order of n against t: <0 when n sorts first. */
static inline int node_cmp(const sl_node *n, const target *t, int custom) {
  int c = node_ukey_cmp(n, t, custom);
  if (c) return c;
  uint64_t tr = sl_node_trailer(n);
  return tr > t->trailer ? -1 : tr < t->trailer;
}

static inline sl_node *load_next(const sl_node *x, int level) {
  return atomic_load_explicit(&((sl_node *)x)->next[level], memory_order_acquire);
}

static inline int top_level(const skiplist *s) {
  return atomic_load_explicit(&((skiplist *)s)->max_height, memory_order_relaxed) - 1;
}

/* Each search is written once and instantiated twice: bytewise and with a comparator. */
#define SL_SEARCH static inline __attribute__((always_inline))

/* First node >= t; fills prev[level] with the last node < t at each level when prev is set.
 * last_bigger skips re-comparing a node already known to be >= t one level up. */
SL_SEARCH sl_node *find_ge_as(const skiplist *s, const target *t, sl_node **prev, int custom) {
  sl_node *x = s->head, *last_bigger = NULL;
  int level = top_level(s);
  for (;;) {
    sl_node *next = load_next(x, level);
    if (next && next != last_bigger) {
      /* Start fetching both possible successors before the compare resolves: the search is
       * one dependent cache miss after another, and this overlaps two of them. */
      __builtin_prefetch(atomic_load_explicit(&next->next[level], memory_order_relaxed));
      if (level)
        __builtin_prefetch(atomic_load_explicit(&x->next[level - 1], memory_order_relaxed));
      if (node_cmp(next, t, custom) < 0) {
        x = next;
        continue;
      }
    }
    if (prev) prev[level] = x;
    if (level == 0) return next;
    last_bigger = next;
    level--;
  }
}

/* Separate functions, not two branches of one: sharing a body, GCC's register allocation
 * cost the bytewise loop an instruction a step (callgrind, fillrandom). */
static __attribute__((noinline)) sl_node *find_ge_bytewise(const skiplist *s, const target *t,
                                                           sl_node **prev) {
  return find_ge_as(s, t, prev, 0);
}

static __attribute__((noinline)) sl_node *find_ge_ordered(const skiplist *s, const target *t,
                                                          sl_node **prev) {
  return find_ge_as(s, t, prev, 1);
}

static inline sl_node *find_ge(const skiplist *s, const target *t, sl_node **prev) {
  return t->cmp ? find_ge_ordered(s, t, prev) : find_ge_bytewise(s, t, prev);
}

int skiplist_init(skiplist *s, arena *a) {
  s->arena = a;
  s->cmp = NULL;
  s->rng = 0x9e3779b97f4a7c15ull ^ (uintptr_t)s;
  atomic_init(&s->max_height, 1);
  size_t size = sizeof(sl_node) + SL_MAX_HEIGHT * sizeof(s->head->next[0]);
  s->head = arena_alloc_aligned(a, size, alignof(sl_node));
  if (!s->head) return SHALE_NOMEM;
  memset(s->head, 0, sizeof(sl_node));
  s->head->height = SL_MAX_HEIGHT;
  for (int i = 0; i < SL_MAX_HEIGHT; i++) atomic_init(&s->head->next[i], NULL);
  return SHALE_OK;
}

/* Height h with probability 4^-(h-1) * 3/4: xorshift64* is cheap and plenty random here. */
static int random_height(skiplist *s) {
  uint64_t x = s->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  uint64_t r = (x * 0x2545f4914f6cdd1dull) >> 32;
  int h = 1;
  while (h < SL_MAX_HEIGHT && (r & 3) == 0) {
    h++;
    r >>= 2;
  }
  return h;
}

sl_node *skiplist_node_new(skiplist *s, size_t iklen, size_t extra) {
  if (iklen < IKEY_TRAILER || iklen > UINT32_MAX) return NULL;
  int h = random_height(s);
  size_t head = sizeof(sl_node) + (size_t)h * sizeof(s->head->next[0]);
  if (extra > SIZE_MAX - head - iklen) return NULL;
  sl_node *n = arena_alloc_aligned(s->arena, head + iklen + extra, alignof(sl_node));
  if (!n) return NULL;
  n->prefix = 0;
  n->klen = (uint32_t)iklen;
  n->height = (uint8_t)h;
  n->flags = 0;
  n->unused = 0;
  return n;
}

void skiplist_insert(skiplist *s, sl_node *n) {
  n->prefix = key_prefix(sl_node_key(n), sl_node_ukey_len(n));
  target t;
  target_of_node(&t, s, n);
  sl_node *prev[SL_MAX_HEIGHT];
  sl_node *next = find_ge(s, &t, prev);
  assert(!next || node_cmp(next, &t, t.cmp != NULL) > 0);
  (void)next; /* read by the assert only */
  int top = top_level(s);
  if (n->height > top + 1) {
    for (int i = top + 1; i < n->height; i++) prev[i] = s->head;
    /* Readers that see the new height before the head's links find NULL and descend. */
    atomic_store_explicit(&s->max_height, n->height, memory_order_relaxed);
  }
  for (int i = 0; i < n->height; i++) {
    sl_node *succ = atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
    atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
    atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
  }
}

sl_node *skiplist_seek(const skiplist *s, const void *ukey, size_t uklen, uint64_t trailer) {
  target t = {s->cmp, key_prefix(ukey, uklen), ukey, uklen, trailer};
  return find_ge(s, &t, NULL);
}

sl_node *skiplist_first(const skiplist *s) { return load_next(s->head, 0); }

sl_node *skiplist_last(const skiplist *s) {
  sl_node *x = s->head;
  for (int level = top_level(s);;) {
    sl_node *next = load_next(x, level);
    if (next) {
      x = next;
    } else if (level == 0) {
      break;
    } else {
      level--;
    }
  }
  return x == s->head ? NULL : x;
}

SL_SEARCH sl_node *find_lt_as(const skiplist *s, const target *tp, int custom) {
  const target t = *tp;
  sl_node *x = s->head;
  for (int level = top_level(s);;) {
    sl_node *next = load_next(x, level);
    if (next && node_cmp(next, &t, custom) < 0) {
      x = next;
    } else if (level == 0) {
      break;
    } else {
      level--;
    }
  }
  return x == s->head ? NULL : x;
}

static __attribute__((noinline)) sl_node *find_lt_bytewise(const skiplist *s, const target *t) {
  return find_lt_as(s, t, 0);
}

static __attribute__((noinline)) sl_node *find_lt_ordered(const skiplist *s, const target *t) {
  return find_lt_as(s, t, 1);
}

static inline sl_node *find_lt(const skiplist *s, const target *t) {
  return t->cmp ? find_lt_ordered(s, t) : find_lt_bytewise(s, t);
}

sl_node *skiplist_seek_lt(const skiplist *s, const void *ukey, size_t uklen, uint64_t trailer) {
  target t = {s->cmp, key_prefix(ukey, uklen), ukey, uklen, trailer};
  return find_lt(s, &t);
}

sl_node *skiplist_prev(const skiplist *s, const sl_node *n) {
  target t;
  target_of_node(&t, s, n);
  return find_lt(s, &t);
}
