/* range_frag.h — cuts a table's range tombstones into the fragments the version-2 range-del
 * block stores (doc/format-sstable.md): pieces whose [begin, end) are identical or disjoint,
 * sorted by begin, each kept once per sequence it still needs. Sorting the boundaries and
 * painting pieces newest first keeps it O(n log n) plus the output, however the input overlaps.
 * Thread-safety: none needed; a build touches only its arguments. */
#ifndef SHALE_SSTABLE_RANGE_FRAG_H
#define SHALE_SSTABLE_RANGE_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"

/* One range tombstone: user keys [begin, end) deleted at seq, wall time time_us (0 unknown). */
typedef struct rfrag_tomb {
  const uint8_t *begin, *end;
  size_t blen, elen;
  uint64_t seq, time_us;
} rfrag_tomb;

/* A boundary key, borrowed from the input tombstones. */
typedef struct rfrag_key {
  const uint8_t *p;
  size_t len;
} rfrag_key;

/* One stored record: piece [bounds[piece], bounds[piece + 1]) deleted at seq. */
typedef struct rfrag_rec {
  size_t piece;
  uint64_t seq, time_us;
} rfrag_rec;

typedef struct rfrag {
  rfrag_key *bounds; /* sorted, distinct */
  size_t nbounds;
  rfrag_rec *recs; /* by piece ascending, then seq descending */
  size_t nrecs;
} rfrag;

/* Fragments t[0..n). With collapse, the sequences of a piece that fall in one snapshot stripe
 * (snaps: ascending live snapshot sequences; a stripe is (snaps[i-1], snaps[i]], the last one
 * runs to infinity) collapse to the newest, carrying the oldest non-zero time among them: a
 * read at a snapshot, or above every sequence of the table, still finds the newest tombstone
 * at or below its sequence. Without collapse every sequence stays (exact at any read sequence,
 * but n nested tombstones then give O(n^2) records).
 * Keys are in cmp's order (NULL: bytewise).
 * REQUIRES: begin < end for each tombstone. out borrows the tombstones' keys.
 * @return SHALE_OK or SHALE_NOMEM (out zeroed). */
int rfrag_build(const shale_comparator *cmp, const rfrag_tomb *t, size_t n, const uint64_t *snaps,
                size_t nsnaps, int collapse, rfrag *out);
void rfrag_free(rfrag *f);

#endif /* SHALE_SSTABLE_RANGE_FRAG_H */
