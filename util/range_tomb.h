/* range_tomb.h — the one model of range tombstones, shared by the memtable, the tables, gets,
 * iterators and compaction: a tombstone deletes the user keys [begin, end) at a sequence, and
 * a set of them is cut into fragments, sorted disjoint pieces of key space each covered by
 * known sequences, so that "the newest tombstone seq s <= read_seq covering key" is a binary
 * search instead of a scan of every tombstone.
 *
 * Three shapes of fragments serve three uses:
 *  - rt_frag: one sequence per piece, the newest covering one at or below a read sequence
 *    (iterators and compaction at their read sequence; the memtable index with no bound);
 *  - rt_set: every sequence a piece still needs, collapsed per snapshot stripe (what a
 *    table's version-2 range-del block stores, doc/format-sstable.md);
 *  - stored pieces: an rt_set as a reader decodes it, one range_tomb per record;
 * and, for the few, plain scans of a list (also whether a list's union spans a key range).
 * Keys are in cmp's order (NULL: bytewise); every function takes the comparator the keys were
 * written with. Thread-safety: none needed; each call touches only its arguments, and the
 * queries only read them. */
#ifndef SHALE_UTIL_RANGE_TOMB_H
#define SHALE_UTIL_RANGE_TOMB_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "util/ikey.h"

/* One range tombstone: user keys [begin, end) deleted at seq, wall time time_us (0 unknown).
 * The keys are borrowed or owned as the holder says. */
typedef struct range_tomb {
  const uint8_t *begin, *end;
  size_t blen, elen;
  uint64_t seq, time_us;
} range_tomb;

/* 1 when begin <= key < end. Inline: scans call it once per tombstone. */
static inline int rt_tomb_covers(const shale_comparator *cmp, const range_tomb *t, const void *key,
                                 size_t klen) {
  return ukey_cmp(cmp, t->begin, t->blen, key, klen) <= 0 &&
         ukey_cmp(cmp, key, klen, t->end, t->elen) < 0;
}

/* ---- tombstones as a plain list: a scan, for the few ---- */

/* The newest tombstone of t[0..n) with seq <= read_seq covering key (the first of equal
 * seqs), or NULL. */
const range_tomb *rt_list_newest(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                 const void *key, size_t klen, uint64_t read_seq);
/* 1 when a tombstone of t[0..n) with above < seq <= read_seq covers key: "is key deleted for
 * an entry written at above", stopping at the first such tombstone. */
int rt_list_covers(const shale_comparator *cmp, const range_tomb *t, size_t n, const void *key,
                   size_t klen, uint64_t above, uint64_t read_seq);
/* 1 when the tombstones of t[0..n) with above < seq <= read_seq together cover every key of
 * [lo, hi] (both included), though none may alone: a table stores one tombstone as fragments
 * that chain end to begin. 0 too when short of memory to sort them (unsure). */
int rt_list_spans(const shale_comparator *cmp, const range_tomb *t, size_t n, uint64_t above,
                  uint64_t read_seq, const void *lo, size_t ll, const void *hi, size_t hl);
/* As rt_list_newest over t sorted by begin: stops at the first one beginning after key. */
const range_tomb *rt_sorted_newest(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                   const void *key, size_t klen, uint64_t read_seq);

/* ---- fragments at one read sequence ---- */

/* [start, the next fragment's start) is covered, newest, by seq (0: not covered). */
typedef struct rt_frag {
  const uint8_t *start;
  size_t len;
  uint64_t seq;
} rt_frag;

/* Cuts t[0..n) at each distinct boundary into out (room for 2n), sorted by start; each
 * fragment gets the newest seq <= read_seq covering it (the last one: 0). O(n log n).
 * out borrows t's keys. @return SHALE_OK with the count in *nout, or SHALE_NOMEM. */
int rt_frags_build(const shale_comparator *cmp, const range_tomb *t, size_t n, uint64_t read_seq,
                   rt_frag *out, size_t *nout);
/* Index of the last fragment of f[0..n) starting at or before key, or -1. Inline, as the
 * other hot queries: gets and scans call it per key. */
static inline long rt_frags_find(const shale_comparator *cmp, const rt_frag *f, size_t n,
                                 const void *key, size_t klen) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ukey_cmp(cmp, f[mid].start, f[mid].len, key, klen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (long)lo - 1;
}

/* Drops each fragment whose seq equals the one before (the first: when 0), keeping the
 * coverage; returns the new count. */
size_t rt_frags_coalesce(rt_frag *f, size_t n);
/* Coalesced fragments of a[0..na) and b[0..nb) together (at each key the newer of the two
 * seqs) into out (room for na + nb); returns the count. Linear. */
size_t rt_frags_merge(const shale_comparator *cmp, const rt_frag *a, size_t na, const rt_frag *b,
                      size_t nb, rt_frag *out);

/* ---- fragment sets with snapshot stripes: what a table stores ---- */

/* A boundary key, borrowed from the input tombstones. */
typedef struct rt_key {
  const uint8_t *p;
  size_t len;
} rt_key;

/* One stored record: piece [bounds[piece], bounds[piece + 1]) deleted at seq. */
typedef struct rt_rec {
  size_t piece;
  uint64_t seq, time_us;
} rt_rec;

typedef struct rt_set {
  rt_key *bounds; /* sorted, distinct */
  size_t nbounds;
  rt_rec *recs; /* by piece ascending, then seq descending */
  size_t nrecs;
} rt_set;

/* Fragments t[0..n) into pieces whose [begin, end) are identical or disjoint, each kept once
 * per sequence it still needs. With collapse, the sequences of a piece that fall in one
 * snapshot stripe (snaps: ascending live snapshot sequences; a stripe is (snaps[i-1],
 * snaps[i]], the last one runs to infinity) collapse to the newest, carrying the oldest
 * non-zero time among them: a read at a snapshot, or above every sequence, still finds the
 * newest tombstone at or below its sequence. Without collapse every sequence stays (exact at
 * any read sequence, but n nested tombstones then give O(n^2) records). O(n log n) plus the
 * output however the input overlaps.
 * REQUIRES: begin < end for each tombstone. out borrows the tombstones' keys.
 * @return SHALE_OK or SHALE_NOMEM (out zeroed). */
int rt_set_build(const shale_comparator *cmp, const range_tomb *t, size_t n, const uint64_t *snaps,
                 size_t nsnaps, int collapse, rt_set *out);
void rt_set_free(rt_set *s);

/* ---- an rt_set as stored: one range_tomb per record ---- */

/* Checks that t[0..n) is laid out as an rt_set stores it (a record repeats the previous
 * range with a smaller seq, or begins at or after the previous end) and notes in pieces (room
 * for n) the index of each piece's first, newest record, their count in *npieces.
 * @return n when it is, else the index of the first record that breaks the layout. */
size_t rt_pieces_index(const shale_comparator *cmp, const range_tomb *t, size_t n, size_t *pieces,
                       size_t *npieces);
/* The newest seq <= read_seq of a record of t covering key (0: none), by binary search over
 * the pieces that rt_pieces_index noted, then over the piece's sequences. */
static inline uint64_t rt_pieces_cover(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                       const size_t *pieces, size_t npieces, const void *key,
                                       size_t klen, uint64_t read_seq) {
  size_t lo = 0, hi = npieces; /* the last piece beginning at or before key */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const range_tomb *d = &t[pieces[mid]];
    if (ukey_cmp(cmp, d->begin, d->blen, key, klen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  size_t first = pieces[lo - 1], end = lo < npieces ? pieces[lo] : n;
  if (ukey_cmp(cmp, key, klen, t[first].end, t[first].elen) >= 0) return 0;
  for (lo = first, hi = end; lo < hi;) { /* seqs descend: the first one <= read_seq */
    size_t mid = lo + (hi - lo) / 2;
    if (t[mid].seq > read_seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < end ? t[lo].seq : 0;
}

#endif /* SHALE_UTIL_RANGE_TOMB_H */
