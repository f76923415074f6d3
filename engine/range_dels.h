/* range_dels.h — a set of range tombstones, as an iterator, a table iterator or a compaction
 * collects them, and whether one of them covers a key at a read sequence. */
#ifndef SHALE_ENGINE_RANGE_DELS_H
#define SHALE_ENGINE_RANGE_DELS_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "util/range_tomb.h"

typedef struct range_dels {
  const shale_comparator *cmp; /* user-key order (the DB's); NULL: bytewise */
  range_tomb *v;               /* each begin is one allocation holding begin then end */
  size_t n, cap;
  /* Fragments for one read sequence, built on first use when tombstones are many, so a
   * coverage check is a binary search rather than a scan of every tombstone. */
  rt_frag *frags;
  size_t nfrags;
  uint64_t frag_seq;
  int frag_built; /* 1 built, -1 building failed (fall back to the scan) */
} range_dels;

int range_dels_add(range_dels *r, const void *b, size_t bl, const void *e, size_t el, uint64_t seq,
                   uint64_t time_us);
/* 1 when a tombstone with entry_seq < seq <= read_seq covers key. */
int range_dels_covers(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                      uint64_t read_seq);
/* As range_dels_covers; when covered, also the span [*start, *end) around key that the same
 * sequence *seq covers (NULL start: unbounded), so a scan can skip it in one seek. */
int range_dels_cover_span(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                          uint64_t read_seq, const uint8_t **end, size_t *elen, uint64_t *seq);
void range_dels_free(range_dels *r);

#endif /* SHALE_ENGINE_RANGE_DELS_H */
