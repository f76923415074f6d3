/* block.h — the key/value block shared by data and index blocks: entries with prefix-compressed
 * internal keys and a restart array every `interval` entries, so a lookup binary-searches the
 * restarts and scans at most interval-1 entries. Layout in doc/format-sstable.md, "Blocks". */
#ifndef SHALE_SSTABLE_BLOCK_H
#define SHALE_SSTABLE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/ikey.h"

/* ---- builder: one per table, reset after each block ---- */
typedef struct blk_builder {
  buf data;     /* entries so far; finish appends the restart array */
  buf restarts; /* fixed32 offsets */
  buf last_key; /* last key added; kept across reset (the table's ordering check uses it) */
  int interval; /* restart every `interval` entries */
  int counter;  /* entries since the last restart */
  size_t entries;
} blk_builder;

void blk_builder_init(blk_builder *b, int interval);
void blk_builder_free(blk_builder *b);
/* Empties the block for the next one (last_key stays). */
void blk_builder_reset(blk_builder *b);
/* REQUIRES: key sorts after every key added since the last reset. Returns SHALE_OK or
 * SHALE_NOMEM (sticky until reset). */
int blk_builder_add(blk_builder *b, const uint8_t *key, size_t klen, const void *val, size_t vlen);
/* Size of the block if finished now. */
size_t blk_builder_estimate(const blk_builder *b);
/* Appends the restart array; the block is b->data (valid until the next reset/add). An empty
 * block is the 4-byte restart count 0. Returns SHALE_OK or SHALE_NOMEM. */
int blk_builder_finish(blk_builder *b);

/* ---- iterator over one block held in memory (borrowed for the iterator's life) ---- */
typedef struct blk_iter {
  const shale_comparator *cmp; /* the user-key order of seeks; NULL (blk_iter_init): bytewise */
  const uint8_t *data;
  uint32_t restarts; /* offset of the restart array = end of the entries */
  uint32_t nrestarts;
  uint32_t cur;          /* offset of the current entry (== restarts: past the end) */
  uint32_t next_off;     /* offset of the entry after it */
  uint32_t ridx;         /* restart interval that holds cur */
  uint32_t next_restart; /* offset of restart ridx + 1 (UINT32_MAX: none) */
  int valid;
  int err;      /* 0, SHALE_CORRUPTION or SHALE_NOMEM; an error makes it invalid */
  uint8_t *key; /* current key, reconstructed (small[] or heap) */
  size_t klen, kcap;
  const uint8_t *val; /* points into data */
  uint32_t vlen;
  uint8_t small[200];
} blk_iter;

void blk_iter_init(blk_iter *it);
/* Points it at a block (contents without trailer). Returns 0, or SHALE_CORRUPTION when the
 * restart array does not fit (it->err is set too). */
int blk_iter_reset(blk_iter *it, const uint8_t *data, size_t len);
void blk_iter_free(blk_iter *it);
void blk_iter_seek_first(blk_iter *it);
void blk_iter_seek_last(blk_iter *it);
/* First entry whose internal key >= ukey|trailer (ikey_cmp order under it->cmp). */
void blk_iter_seek(blk_iter *it, const void *ukey, size_t uklen, uint64_t trailer);
/* blk_iter_seek for a target known to lie at or after the entry at offset off, whose whole
 * internal key is key (a position an earlier iterator held on this block): starts there
 * instead of at a restart. Returns 0, or -1 without moving when off does not hold an entry
 * ending as key does (then seek the usual way). */
int blk_iter_seek_from(blk_iter *it, uint32_t off, const uint8_t *key, size_t klen,
                       const void *ukey, size_t uklen, uint64_t trailer);
void blk_iter_next(blk_iter *it);
void blk_iter_prev(blk_iter *it);

/* ikey_cmp(cmp, a, ukey|trailer) without building the second key. REQUIRES: alen >= 8.
 * Inline: every step of a block seek and of an index search compares with it. */
static inline int ikey_compare_parts(const shale_comparator *cmp, const uint8_t *a, size_t alen,
                                     const void *ukey, size_t uklen, uint64_t trailer) {
  int c = ukey_cmp(cmp, a, alen - IKEY_TRAILER, ukey, uklen);
  if (c) return c;
  uint64_t ta = get_fixed64(a + alen - IKEY_TRAILER);
  return ta > trailer ? -1 : ta < trailer ? 1 : 0;
}

#endif /* SHALE_SSTABLE_BLOCK_H */
