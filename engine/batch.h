/* batch.h — the write-batch representation shared by shale_batch, the write path and WAL
 * replay. A batch is the unit of atomicity: it is one WAL record and gets consecutive
 * sequence numbers. Layout (doc/format-wal.md, "batch payload"):
 *   seq fixed64 | count fixed32 | count x { kind u8 | varint klen | key | [varint vlen | val] }
 * PUT and RANGE_DEL carry a value (for RANGE_DEL, the exclusive end key); DEL does not. */
#ifndef SHALE_ENGINE_BATCH_H
#define SHALE_ENGINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "util/buf.h"

#define BATCH_HEADER 12

struct shale_batch {
  buf rep; /* always holds at least the header */
  /* Range deletes added, and those with an open end: their order is checked by shale_write
   * under the DB's comparator (batch_rep_check_ranges), which refuses open ends. */
  size_t ranges, open_ranges;
};

/* Appends one record to a rep (header already present) and bumps its count. */
void batch_rep_add(buf *rep, unsigned kind, const void *key, size_t klen, const void *val,
                   size_t vlen);
static inline uint32_t batch_rep_count(const uint8_t *rep);
static inline uint64_t batch_rep_seq(const uint8_t *rep);
void batch_rep_set_seq(uint8_t *rep, uint64_t seq);
/* Appends a range delete of [begin, end) to a rep. A NULL begin (blen 0) is unbounded below
 * and a NULL end (elen 0) unbounded above (bytewise only: see batch.c for how). With
 * check_order, begin must sort before end under cmp (NULL: bytewise), and a comparator
 * refuses open ends (SHALE_NOTSUP); without, only a range whose ends are byte-equal is
 * refused (empty in every order). Returns SHALE_OK, SHALE_INVALID (a bad bound, an empty or
 * inverted range: rep unchanged), SHALE_NOTSUP or SHALE_NOMEM (rep failed). */
int batch_rep_add_range(buf *rep, const shale_comparator *cmp, int check_order, const void *begin,
                        size_t blen, const void *end, size_t elen);
/* SHALE_OK when every range delete of rep has begin < end under cmp (NULL: bytewise), else
 * SHALE_INVALID. */
int batch_rep_check_ranges(const uint8_t *rep, size_t len, const shale_comparator *cmp);
/* Appends the records of src (a whole rep) to dst and adds their count. */
void batch_rep_append(buf *dst, const uint8_t *src, size_t srclen);

typedef int (*batch_visit_fn)(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                              const void *val, size_t vlen);
/* Calls fn for each record with its sequence number. Returns SHALE_CORRUPTION if the rep is
 * malformed (checked before any callback, so a bad rep applies nothing), else the first
 * non-zero fn result, else SHALE_OK. */
int batch_rep_iterate(const uint8_t *rep, size_t len, batch_visit_fn fn, void *arg);

#include "util/coding.h"
static inline uint32_t batch_rep_count(const uint8_t *rep) { return get_fixed32(rep + 8); }
static inline uint64_t batch_rep_seq(const uint8_t *rep) { return get_fixed64(rep); }

#endif /* SHALE_ENGINE_BATCH_H */
