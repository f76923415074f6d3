/* memtable.c — entries and statistics of the write buffer. An entry is one skiplist node:
 * internal key, varint value length, value; for tombstones the 8-byte LE wall time of the
 * delete, and for range tombstones then a link to the one added before. Statistics are plain
 * counters kept by the single writer and published with relaxed atomics, so flush scheduling
 * and stats can read them without a lock. */
#include "memtable/memtable.h"

#include <stdlib.h>
#include <string.h>

#include "memtable/mem_rdel.h"
#include "shale.h"
#include "util/checksum.h"
#include "util/coding.h"

/* Written only by the writer (load + store, no read-modify-write needed); read by anyone. */
typedef struct mt_counters {
  _Atomic uint64_t entries, puts, tombstones, range_tombstones;
  _Atomic uint64_t min_seq, max_seq, min_tomb_seq, max_tomb_seq; /* min: UINT64_MAX if none */
  _Atomic uint64_t oldest_tomb_us, newest_tomb_us, key_bytes, value_bytes;
} mt_counters;

struct memtable {
  arena arena; /* both skiplists allocate here: one writer serializes them */
  skiplist points, ranges;
  _Atomic(memtable *) next;
  /* Newest range tombstone; each links the one added before it (range_older). Stored with
   * release by the writer after the skiplist insert, so a reader that sees a sequence sees
   * every range tombstone at or below it on this list. */
  _Atomic(sl_node *) range_newest;
  _Atomic(mem_rdel *) rdel; /* set once (compare-and-swap); freed with m */
  _Atomic int sealed;
  _Atomic uint64_t log_number;
  mt_counters st;
  /* Blocked bloom filter of the point keys (NULL: none): most gets of a large DB miss the
   * memtable, and a miss in a big skiplist costs tens of cache misses; the filter costs one. */
  _Atomic uint64_t *bloom;
  uint64_t bloom_blocks; /* 512-bit blocks */
  /* Point lookups by hash (NULL: none): chains of point entries, newest first, linked
   * through each node's last 8 payload bytes. A get that hits a big memtable then costs a
   * chain step or two instead of a skiplist descent of ~20 dependent cache misses. */
  _Atomic(sl_node *) *hash;
  uint64_t hash_mask;
  char pad[64]; /* keeps readers' refcount traffic off the writer's counter lines */
  _Atomic int refs;
};

static inline uint64_t ld(const _Atomic uint64_t *a) {
  return atomic_load_explicit((_Atomic uint64_t *)a, memory_order_relaxed);
}
static inline void st(_Atomic uint64_t *a, uint64_t v) {
  atomic_store_explicit(a, v, memory_order_relaxed);
}
static inline void st_add(_Atomic uint64_t *a, uint64_t d) { st(a, ld(a) + d); }
static inline void st_min(_Atomic uint64_t *a, uint64_t v) {
  if (v < ld(a)) st(a, v);
}
static inline void st_max(_Atomic uint64_t *a, uint64_t v) {
  if (v > ld(a)) st(a, v);
}

static void counters_init(mt_counters *c) {
  _Atomic uint64_t *all[] = {&c->entries,          &c->puts,         &c->tombstones,
                             &c->range_tombstones, &c->min_seq,      &c->max_seq,
                             &c->min_tomb_seq,     &c->max_tomb_seq, &c->oldest_tomb_us,
                             &c->newest_tomb_us,   &c->key_bytes,    &c->value_bytes};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) atomic_init(all[i], 0);
  atomic_init(&c->min_seq, UINT64_MAX);
  atomic_init(&c->min_tomb_seq, UINT64_MAX);
  atomic_init(&c->oldest_tomb_us, UINT64_MAX);
}

#define BLOOM_WORDS_PER_BLOCK 8
#define BLOOM_PROBES 5

static void bloom_add(memtable *m, uint64_t h) {
  _Atomic uint64_t *blk = m->bloom + (h >> 32) % m->bloom_blocks * BLOOM_WORDS_PER_BLOCK;
  for (int i = 0; i < BLOOM_PROBES; i++) {
    unsigned bit = (unsigned)(h >> (i * 9)) & 511;
    _Atomic uint64_t *w = blk + (bit >> 6);
    /* one writer: a load and a store, no read-modify-write */
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed) | (UINT64_C(1) << (bit & 63));
    atomic_store_explicit(w, v, memory_order_relaxed);
  }
}

static int bloom_may_hold(const memtable *m, uint64_t h) {
  if (!m->bloom) return 1;
  _Atomic uint64_t *blk = m->bloom + (h >> 32) % m->bloom_blocks * BLOOM_WORDS_PER_BLOCK;
  for (int i = 0; i < BLOOM_PROBES; i++) {
    unsigned bit = (unsigned)(h >> (i * 9)) & 511;
    if (!(atomic_load_explicit(blk + (bit >> 6), memory_order_relaxed) >> (bit & 63) & 1)) return 0;
  }
  return 1;
}

/* The bloom filter uses the hash's low 45 bits and its high 32 pick the block; the bucket
 * comes from the middle so chains and filter blocks are not correlated. */
static inline uint64_t bucket_of(const memtable *m, uint64_t h) { return (h >> 16) & m->hash_mask; }

static void hash_add(memtable *m, sl_node *n, uint64_t h, uint8_t *link) {
  _Atomic(sl_node *) *b = &m->hash[bucket_of(m, h)];
  sl_node *head = atomic_load_explicit(b, memory_order_relaxed); /* the writer's own */
  memcpy(link, &head, sizeof head);
  atomic_store_explicit(b, n, memory_order_release); /* n and its link fully written */
}

/* One bucket per expected entry, rounded up to a power of two. */
static int hash_init(memtable *m, size_t expected_entries) {
  m->hash = NULL;
  m->hash_mask = 0;
  if (expected_entries < MEMTABLE_INDEX_MIN_ENTRIES) return SHALE_OK;
  uint64_t n = MEMTABLE_INDEX_MIN_ENTRIES;
  while (n < expected_entries) n *= 2;
  m->hash = calloc(n, sizeof *m->hash);
  m->hash_mask = n - 1;
  return m->hash ? SHALE_OK : SHALE_NOMEM;
}

void memtable_set_comparator(memtable *m, const shale_comparator *cmp) {
  m->points.cmp = m->ranges.cmp = cmp;
}

const shale_comparator *memtable_comparator(const memtable *m) { return m->points.cmp; }

int memtable_new(memtable **out) { return memtable_new_sized(out, 0); }

int memtable_new_sized(memtable **out, size_t expected_entries) {
  return memtable_new_pooled(out, expected_entries, NULL);
}

/* Bits of the bloom filter per expected entry: with BLOOM_PROBES probes in one 512-bit block,
 * about 1% false positives while the memtable holds what was expected. */
#define BLOOM_BITS_PER_ENTRY 16

int memtable_new_pooled(memtable **out, size_t expected_entries, arena_pool *pool) {
  *out = NULL;
  memtable *m = malloc(sizeof *m);
  if (!m) return SHALE_NOMEM;
  m->bloom_blocks = expected_entries < MEMTABLE_INDEX_MIN_ENTRIES
                        ? 0
                        : expected_entries / (512 / BLOOM_BITS_PER_ENTRY);
  m->bloom = NULL;
  if (m->bloom_blocks) {
    m->bloom = calloc(m->bloom_blocks * BLOOM_WORDS_PER_BLOCK, sizeof(uint64_t));
    if (!m->bloom) {
      free(m);
      return SHALE_NOMEM;
    }
  }
  arena_init_pooled(&m->arena, pool);
  if (hash_init(m, expected_entries) != SHALE_OK ||
      skiplist_init(&m->points, &m->arena) != SHALE_OK ||
      skiplist_init(&m->ranges, &m->arena) != SHALE_OK)
    goto fail;
  atomic_init(&m->next, NULL);
  atomic_init(&m->range_newest, NULL);
  atomic_init(&m->rdel, NULL);
  atomic_init(&m->sealed, 0);
  atomic_init(&m->log_number, 0);
  counters_init(&m->st);
  atomic_init(&m->refs, 1);
  *out = m;
  return SHALE_OK;
fail:
  arena_destroy(&m->arena);
  free((void *)m->hash);
  free((void *)m->bloom);
  free(m);
  return SHALE_NOMEM;
}

void memtable_ref(memtable *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void memtable_unref(memtable *m) {
  /* acq_rel: every holder's reads happen before the free by whoever drops the last ref */
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  /* before the arena: the index points into it */
  mem_rdel_free(atomic_load_explicit(&m->rdel, memory_order_acquire));
  arena_destroy(&m->arena);
  free((void *)m->hash);
  free((void *)m->bloom);
  free(m);
}

static void account(memtable *m, uint64_t seq, unsigned kind, size_t klen, size_t vlen,
                    uint64_t now_us) {
  mt_counters *c = &m->st;
  st_add(&c->entries, 1);
  st_add(&c->key_bytes, klen);
  st_add(&c->value_bytes, vlen);
  st_min(&c->min_seq, seq);
  st_max(&c->max_seq, seq);
  if (kind == KIND_PUT) {
    st_add(&c->puts, 1);
    return;
  }
  st_add(kind == KIND_DEL ? &c->tombstones : &c->range_tombstones, 1);
  st_min(&c->min_tomb_seq, seq);
  st_max(&c->max_tomb_seq, seq);
  st_min(&c->oldest_tomb_us, now_us);
  st_max(&c->newest_tomb_us, now_us);
}

int memtable_add(memtable *m, uint64_t seq, unsigned kind, const void *key, size_t klen,
                 const void *val, size_t vlen, uint64_t now_us) {
  if (kind != KIND_PUT && kind != KIND_DEL && kind != KIND_RANGE_DEL) return SHALE_INVALID;
  if (klen > UINT32_MAX - IKEY_TRAILER) return SHALE_INVALID;
  int tomb = kind != KIND_PUT, hashed = m->hash && kind != KIND_RANGE_DEL;
  uint64_t h = hashed || m->bloom ? hash64(key, klen) : 0;
  if (hashed) __builtin_prefetch(&m->hash[bucket_of(m, h)]); /* its miss overlaps the descent */
  size_t extra = varint_length(vlen) + (tomb ? 8 : 0) +
                 (kind == KIND_RANGE_DEL || hashed ? sizeof(sl_node *) : 0);
  if (vlen > SIZE_MAX - extra) return SHALE_NOMEM;
  skiplist *s = kind == KIND_RANGE_DEL ? &m->ranges : &m->points;
  sl_node *n = skiplist_node_new(s, klen + IKEY_TRAILER, extra + vlen);
  if (!n) return SHALE_NOMEM;
  uint8_t *p = sl_node_key(n);
  if (klen) memcpy(p, key, klen);
  put_fixed64(p + klen, ikey_pack(seq, kind));
  p += klen + IKEY_TRAILER;
  p += put_varint64(p, vlen);
  if (vlen) memcpy(p, val, vlen);
  if (tomb) {
    put_fixed64(p + vlen, now_us);
    n->flags = SL_TIME;
  }
  uint8_t *link = p + vlen + (tomb ? 8 : 0); /* see node_link */
  if (kind == KIND_RANGE_DEL) { /* link the previous one; the writer's own field: relaxed */
    sl_node *older = atomic_load_explicit(&m->range_newest, memory_order_relaxed);
    memcpy(link, &older, sizeof older);
  }
  if (m->bloom && kind != KIND_RANGE_DEL) bloom_add(m, h);
  skiplist_insert(s, n);
  if (hashed) hash_add(m, n, h, link);
  if (kind == KIND_RANGE_DEL) atomic_store_explicit(&m->range_newest, n, memory_order_release);
  account(m, seq, kind, klen, vlen, now_us);
  return SHALE_OK;
}

static const uint8_t *node_value(const sl_node *n, size_t *vlen) {
  const uint8_t *p = sl_node_extra(n);
  uint64_t v = 0;
  p = get_varint64(p, p + 10, &v); /* written by memtable_add: never truncated */
  *vlen = (size_t)v;
  return p;
}

/* The link after a node's payload (value, then a tombstone's time): to the range tombstone
 * added before, or the next entry of a hash chain. Written before the node is published. */
static const sl_node *node_link(const sl_node *n) {
  size_t vlen;
  const uint8_t *v = node_value(n, &vlen);
  const sl_node *next;
  memcpy(&next, v + vlen + (ikey_kind(sl_node_trailer(n)) != KIND_PUT ? 8 : 0), sizeof next);
  return next;
}

/* The newest entry of key at or below seq. The whole chain is read rather than trusting
 * insertion order to be sequence order; chains are a node or two long. */
static sl_node *hash_find(memtable *m, uint64_t h, const void *key, size_t klen, uint64_t seq) {
  sl_node *best = NULL;
  uint64_t best_tr = 0;
  sl_node *n = atomic_load_explicit(&m->hash[bucket_of(m, h)], memory_order_acquire);
  while (n) {
    if (sl_node_ukey_len(n) == klen && memcmp(sl_node_key(n), key, klen) == 0) {
      uint64_t tr = sl_node_trailer(n);
      if (ikey_seq(tr) <= seq && tr > best_tr) {
        best = n;
        best_tr = tr;
      }
    }
    n = (sl_node *)node_link(n);
  }
  return best;
}

int memtable_get(memtable *m, const void *key, size_t klen, uint64_t seq, unsigned *kind,
                 const void **val, size_t *vlen, uint64_t *found_seq) {
  if (!klen) key = "";
  if (seq > SEQ_MAX) seq = SEQ_MAX;
  uint64_t h = m->bloom || m->hash ? hash64(key, klen) : 0;
  if (!bloom_may_hold(m, h)) return 0;
  sl_node *n;
  if (m->hash) {
    n = hash_find(m, h, key, klen, seq);
  } else { /* KIND_SEEK is the highest kind: lands on the newest entry with sequence <= seq */
    n = skiplist_seek(&m->points, key, klen, ikey_pack(seq, KIND_SEEK));
    if (n && (sl_node_ukey_len(n) != klen || memcmp(sl_node_key(n), key, klen) != 0)) n = NULL;
  }
  if (!n) return 0;
  uint64_t tr = sl_node_trailer(n);
  *kind = ikey_kind(tr);
  *found_seq = ikey_seq(tr);
  *val = node_value(n, vlen);
  return 1;
}

size_t memtable_bytes(const memtable *m) { return arena_used(&m->arena) + sizeof *m; }

uint64_t memtable_count(const memtable *m) { return ld(&m->st.entries); }

uint64_t memtable_range_count(const memtable *m) { return ld(&m->st.range_tombstones); }

static inline uint64_t min_or_zero(const _Atomic uint64_t *a) {
  uint64_t v = ld(a);
  return v == UINT64_MAX ? 0 : v;
}

void memtable_get_stats(const memtable *m, memtable_stats *out) {
  const mt_counters *c = &m->st;
  out->entries = ld(&c->entries);
  out->puts = ld(&c->puts);
  out->tombstones = ld(&c->tombstones);
  out->range_tombstones = ld(&c->range_tombstones);
  out->min_seq = min_or_zero(&c->min_seq);
  out->max_seq = ld(&c->max_seq);
  out->min_tomb_seq = min_or_zero(&c->min_tomb_seq);
  out->max_tomb_seq = ld(&c->max_tomb_seq);
  out->oldest_tomb_us = min_or_zero(&c->oldest_tomb_us);
  out->newest_tomb_us = ld(&c->newest_tomb_us);
  out->key_bytes = ld(&c->key_bytes);
  out->value_bytes = ld(&c->value_bytes);
}

const sl_node *memtable_range_newest(const memtable *m) {
  return atomic_load_explicit(&((memtable *)m)->range_newest, memory_order_acquire);
}

const sl_node *memtable_range_older(const sl_node *t) { return node_link(t); }

void memtable_range_tomb(const sl_node *t, const uint8_t **begin, size_t *blen, const void **end,
                         size_t *elen, uint64_t *seq) {
  *begin = sl_node_key(t);
  *blen = sl_node_ukey_len(t);
  *seq = ikey_seq(sl_node_trailer(t));
  *end = node_value(t, elen);
}

mem_rdel *memtable_rdel_get(const memtable *m) {
  return atomic_load_explicit(&((memtable *)m)->rdel, memory_order_acquire);
}

mem_rdel *memtable_rdel_publish(memtable *m, mem_rdel *x) {
  mem_rdel *expected = NULL;
  if (atomic_compare_exchange_strong_explicit(&m->rdel, &expected, x, memory_order_acq_rel,
                                              memory_order_acquire))
    return x;
  return expected;
}

void memtable_seal(memtable *m, memtable *older) {
  atomic_store_explicit(&m->next, older, memory_order_release);
  atomic_store_explicit(&m->sealed, 1, memory_order_release);
}

memtable *memtable_next(const memtable *m) {
  return atomic_load_explicit(&((memtable *)m)->next, memory_order_acquire);
}

int memtable_sealed(const memtable *m) {
  return atomic_load_explicit(&((memtable *)m)->sealed, memory_order_acquire);
}

void memtable_set_log_number(memtable *m, uint64_t n) {
  atomic_store_explicit(&m->log_number, n, memory_order_relaxed);
}

uint64_t memtable_log_number(const memtable *m) {
  return atomic_load_explicit(&((memtable *)m)->log_number, memory_order_relaxed);
}

void memtable_iter_init(memtable_iter *it, memtable *m) { sl_iter_init(&it->it, &m->points); }

void memtable_range_iter_init(memtable_iter *it, memtable *m) { sl_iter_init(&it->it, &m->ranges); }

void memtable_iter_seek_first(memtable_iter *it) { sl_iter_seek_first(&it->it); }
void memtable_iter_seek_last(memtable_iter *it) { sl_iter_seek_last(&it->it); }

void memtable_iter_seek(memtable_iter *it, const uint8_t *ikey, size_t iklen) {
  size_t uklen = iklen - IKEY_TRAILER;
  sl_iter_seek(&it->it, ikey, uklen, get_fixed64(ikey + uklen));
}

void memtable_iter_seek_before(memtable_iter *it, const uint8_t *ikey, size_t iklen) {
  size_t ul = iklen - IKEY_TRAILER;
  it->it.node =
      skiplist_seek_lt(it->it.list, ul ? (const void *)ikey : "", ul, get_fixed64(ikey + ul));
}

void memtable_iter_next(memtable_iter *it) { sl_iter_next(&it->it); }
void memtable_iter_prev(memtable_iter *it) { sl_iter_prev(&it->it); }
int memtable_iter_valid(const memtable_iter *it) { return sl_iter_valid(&it->it); }

const uint8_t *memtable_iter_key(const memtable_iter *it, size_t *iklen) {
  *iklen = it->it.node->klen;
  return sl_node_key(it->it.node);
}

const void *memtable_iter_value(const memtable_iter *it, size_t *vlen) {
  return node_value(it->it.node, vlen);
}

uint64_t memtable_iter_time_us(const memtable_iter *it) {
  if (!(it->it.node->flags & SL_TIME)) return 0;
  size_t vlen;
  const uint8_t *v = node_value(it->it.node, &vlen);
  return get_fixed64(v + vlen);
}
