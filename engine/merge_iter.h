/* merge_iter.h — internal-key iterators over one component (memtable, table, level) and the
 * merging iterator that orders many of them, in both directions. */
#ifndef SHALE_ENGINE_MERGE_ITER_H
#define SHALE_ENGINE_MERGE_ITER_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"

typedef struct kv_iter kv_iter;

typedef struct kv_iter_ops {
  void (*seek_first)(kv_iter *it);
  void (*seek_last)(kv_iter *it);
  void (*seek)(kv_iter *it, const uint8_t *ikey, size_t len); /* first >= ikey */
  /* last < ikey, in one step: a memtable may gain entries between a seek and a prev */
  void (*seek_before)(kv_iter *it, const uint8_t *ikey, size_t len);
  void (*next)(kv_iter *it);
  void (*prev)(kv_iter *it);
  const void *(*value)(const kv_iter *it, size_t *len);
  int (*status)(const kv_iter *it); /* SHALE_OK or an error (then not valid) */
  void (*destroy)(kv_iter *it);
  /* An upper bound on the sequence of every entry the child holds (for span skipping). */
  uint64_t (*max_seq)(const kv_iter *it);
  /* Positions a child that shows a key it has not read (kv_iter.unsettled) on that key;
   * NULL for children that never do. */
  void (*settle)(kv_iter *it);
} kv_iter_ops;

struct kv_iter {
  const kv_iter_ops *ops;
  /* The current internal key, NULL when not on an entry. Every implementation sets it at
   * the end of each positioning call, so that the merge and the iterator above it read a
   * field where they used to make one indirect call per child per step (two per layer:
   * valid, then key). Borrowed until the next positioning call. */
  const uint8_t *key;
  size_t klen;
  /* The key shown is known from metadata, not read (a table's smallest key): good for
   * ordering, but the merge settles a child before making it current, and so before asking
   * for its value. Set only by iterators whose ops have settle. */
  int unsettled;
};

static inline int kv_valid(const kv_iter *it) { return it->key != NULL; }
static inline const uint8_t *kv_key(const kv_iter *it, size_t *len) {
  *len = it->klen;
  return it->key;
}

/* seek_before for iterators over immutable data: seek, then step back. */
void kv_seek_before_by_seek(kv_iter *it, const uint8_t *ikey, size_t len);

/* Forward only: every child whose entries are all older than seq and that sits before
 * ikey seeks to ikey. Used when a range tombstone at seq covers everything in between. */
void merge_iter_skip_older(kv_iter *merged, const uint8_t *ikey, size_t len, uint64_t seq);

/* Appends k to the growable array *kids (*n used of *cap), taking ownership of k: on failure,
 * or when k is NULL (its creation failed), k is destroyed and SHALE_NOMEM returned. */
int kv_iters_push(kv_iter ***kids, int *n, int *cap, kv_iter *k);

/* A merging iterator over children (it takes ownership and destroys them), whose user keys
 * are in cmp's order (NULL: bytewise; cmp must outlive it). */
kv_iter *merge_iter_new(const shale_comparator *cmp, kv_iter **children, int n);

#endif
