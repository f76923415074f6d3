/* skiplist.h — the ordered index of a memtable: an arena-backed skiplist of internal keys.
 * One writer at a time (the caller serializes inserts); readers never lock and never wait.
 * Each node is one allocation: header, tower of next links, then the internal key and the
 * caller's payload, so a search touches one cache line per node in the common case. */
#ifndef SHALE_MEMTABLE_SKIPLIST_H
#define SHALE_MEMTABLE_SKIPLIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "memtable/arena.h"
#include "util/ikey.h"

#define SL_MAX_HEIGHT 12 /* with branching 4, plenty for 4^12 = 16M entries per memtable */

/* Node flags, owned by the memtable. (A per-entry dirty bit once lived here; nothing read
 * it, and dead spans, engine/dead_spans.h, are what lets reads skip deleted entries.) */
enum { SL_TIME = 1 };

/* Thread-safety: every field but next[] is written before the node is published (the
 * release store that links it at level 0) and never changes afterwards, so readers that
 * reach a node through an acquire load may read them freely. */
typedef struct sl_node {
  uint64_t prefix; /* user key's first 8 bytes, big-endian, zero-padded: most compares end here */
  uint32_t klen;   /* internal key length: user key + IKEY_TRAILER */
  uint8_t height;
  uint8_t flags;
  uint16_t unused;
  _Atomic(struct sl_node *) next[]; /* height links; the internal key follows them */
} sl_node;

typedef struct skiplist {
  arena *arena;
  const shale_comparator *cmp; /* user-key order; NULL (skiplist_init's): bytewise */
  sl_node *head;               /* sentinel of height SL_MAX_HEIGHT; its key is never compared */
  _Atomic int max_height;      /* readers load it relaxed; a stale value only costs a level */
  uint64_t rng;                /* writer's PRNG state for tower heights */
} skiplist;

/* Allocates the head from a; nodes live as long as a. Returns SHALE_OK or SHALE_NOMEM. */
int skiplist_init(skiplist *s, arena *a);

/* Allocates an unlinked node with a random height and room for an internal key of iklen
 * bytes followed by extra payload bytes, or NULL on OOM. The caller fills the key (user key
 * then 8-byte LE trailer) and payload, then calls skiplist_insert. REQUIRES: the writer. */
sl_node *skiplist_node_new(skiplist *s, size_t iklen, size_t extra);

/* Links n. REQUIRES: the writer; no entry with an equal internal key is in the list. */
void skiplist_insert(skiplist *s, sl_node *n);

static inline uint8_t *sl_node_key(const sl_node *n) { return (uint8_t *)(n->next + n->height); }
static inline size_t sl_node_ukey_len(const sl_node *n) { return n->klen - IKEY_TRAILER; }
static inline uint64_t sl_node_trailer(const sl_node *n) {
  return get_fixed64(sl_node_key(n) + n->klen - IKEY_TRAILER);
}
/* The payload after the key (unaligned). */
static inline uint8_t *sl_node_extra(const sl_node *n) { return sl_node_key(n) + n->klen; }

/* Readers: safe at any time, concurrently with the writer. Each returns NULL at an end. */
/* First node >= (ukey, trailer) in internal-key order. */
sl_node *skiplist_seek(const skiplist *s, const void *ukey, size_t uklen, uint64_t trailer);
sl_node *skiplist_first(const skiplist *s);
sl_node *skiplist_last(const skiplist *s);
/* Last node < n: a search from the head, O(log n), since nodes have no back links. */
sl_node *skiplist_prev(const skiplist *s, const sl_node *n);
/* The last node before (ukey, trailer), found in one search: unlike seek then prev, no node
 * inserted meanwhile can land between the target and the answer. NULL if none. */
sl_node *skiplist_seek_lt(const skiplist *s, const void *ukey, size_t uklen, uint64_t trailer);
static inline sl_node *skiplist_next(const sl_node *n) {
  return atomic_load_explicit(&((sl_node *)n)->next[0], memory_order_acquire);
}

/* A cursor over a skiplist; a plain struct, so it can live on the stack. Entries are
 * borrowed for as long as the list's arena lives. */
typedef struct sl_iter {
  const skiplist *list;
  sl_node *node;
} sl_iter;

static inline void sl_iter_init(sl_iter *it, const skiplist *s) {
  it->list = s;
  it->node = NULL;
}
static inline int sl_iter_valid(const sl_iter *it) { return it->node != NULL; }
static inline void sl_iter_seek_first(sl_iter *it) { it->node = skiplist_first(it->list); }
static inline void sl_iter_seek_last(sl_iter *it) { it->node = skiplist_last(it->list); }
static inline void sl_iter_seek(sl_iter *it, const void *ukey, size_t uklen, uint64_t trailer) {
  it->node = skiplist_seek(it->list, ukey, uklen, trailer);
}
/* REQUIRES: sl_iter_valid(it) for next and prev. */
static inline void sl_iter_next(sl_iter *it) { it->node = skiplist_next(it->node); }
static inline void sl_iter_prev(sl_iter *it) { it->node = skiplist_prev(it->list, it->node); }

#endif /* SHALE_MEMTABLE_SKIPLIST_H */
