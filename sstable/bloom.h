/* bloom.h — the cache-local bloom filter of a table's user keys (and, in format versions 1-3,
 * of its deleted keys in the dirty block). A key sets k bits inside one 512-bit (cache-line)
 * block chosen by the low half of its hash64; the high half drives double hashing within the
 * block, so a probe touches one cache line. Layout in doc/format-sstable.md, "Bloom filter". */
#ifndef SHALE_SSTABLE_BLOOM_H
#define SHALE_SSTABLE_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/checksum.h"

#define BLOOM_BLOCK_BYTES 64u

/* Collects key hashes until the filter is sized at finish. */
typedef struct bloom_builder {
  uint64_t *hashes;
  size_t n, cap;
  int failed;
} bloom_builder;

void bloom_builder_init(bloom_builder *b);
void bloom_builder_free(bloom_builder *b);
static inline uint64_t bloom_hash(const void *key, size_t len) { return hash64(key, len); }
/* Returns SHALE_OK or SHALE_NOMEM (sticky). */
int bloom_builder_add(bloom_builder *b, uint64_t h);
/* Appends the filter to out: nothing when bits_per_key <= 0 (an empty filter matches every
 * key), else at least one block, even for zero keys (then it matches none). */
void bloom_builder_finish(const bloom_builder *b, int bits_per_key, buf *out);

/* 0 when the filter bytes are well-formed (empty included), -1 otherwise. */
int bloom_check(const uint8_t *f, size_t len);
/* 1 when the key with hash h may be in the set, 0 when it is certainly not.
 * REQUIRES: bloom_check(f, len) == 0. */
int bloom_may_contain(const uint8_t *f, size_t len, uint64_t h);

#endif /* SHALE_SSTABLE_BLOOM_H */
