/* bloom.c — cache-local bloom filter; see bloom.h. */
#include "sstable/bloom.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"

void bloom_builder_init(bloom_builder *b) { memset(b, 0, sizeof *b); }

void bloom_builder_free(bloom_builder *b) {
  free(b->hashes);
  memset(b, 0, sizeof *b);
}

int bloom_builder_add(bloom_builder *b, uint64_t h) {
  if (b->failed) return SHALE_NOMEM;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    uint64_t *p = realloc(b->hashes, cap * sizeof *p);
    if (!p) {
      b->failed = 1;
      return SHALE_NOMEM;
    }
    b->hashes = p;
    b->cap = cap;
  }
  b->hashes[b->n++] = h;
  return SHALE_OK;
}

static inline uint32_t block_of(uint64_t h, uint32_t nblocks) {
  return (uint32_t)(((uint64_t)(uint32_t)h * nblocks) >> 32);
}

void bloom_builder_finish(const bloom_builder *b, int bits_per_key, buf *out) {
  if (bits_per_key <= 0) return;
  if (bits_per_key > 100) bits_per_key = 100;
  uint64_t bits = (uint64_t)b->n * (uint64_t)bits_per_key;
  uint64_t nb64 = (bits + 511) / 512;
  if (nb64 == 0) nb64 = 1;
  if (nb64 > UINT32_MAX / 2) nb64 = UINT32_MAX / 2;
  uint32_t nblocks = (uint32_t)nb64;
  int k = (int)(bits_per_key * 0.69); /* ln 2 * bits per key minimises false positives */
  if (k < 1) k = 1;
  if (k > 30) k = 30;
  size_t start = out->len;
  size_t len = (size_t)nblocks * BLOOM_BLOCK_BYTES;
  if (buf_reserve(out, len + 1)) return;
  memset(out->data + start, 0, len);
  uint8_t *f = out->data + start;
  for (size_t i = 0; i < b->n; i++) {
    uint64_t h = b->hashes[i];
    uint8_t *blk = f + (size_t)block_of(h, nblocks) * BLOOM_BLOCK_BYTES;
    uint32_t g = (uint32_t)(h >> 32), delta = (g >> 17) | (g << 15);
    for (int j = 0; j < k; j++) {
      blk[(g & 511) >> 3] |= (uint8_t)(1u << (g & 7));
      g += delta;
    }
  }
  out->len += len;
  buf_append_byte(out, (uint8_t)k);
}

int bloom_check(const uint8_t *f, size_t len) {
  if (len == 0) return 0;
  if ((len - 1) % BLOOM_BLOCK_BYTES != 0 || len == 1) return -1;
  if ((len - 1) / BLOOM_BLOCK_BYTES > UINT32_MAX) return -1;
  if (f[len - 1] < 1 || f[len - 1] > 30) return -1;
  return 0;
}

int bloom_may_contain(const uint8_t *f, size_t len, uint64_t h) {
  if (len == 0) return 1;
  uint32_t nblocks = (uint32_t)((len - 1) / BLOOM_BLOCK_BYTES);
  int k = f[len - 1];
  const uint8_t *blk = f + (size_t)block_of(h, nblocks) * BLOOM_BLOCK_BYTES;
  uint32_t g = (uint32_t)(h >> 32), delta = (g >> 17) | (g << 15);
  for (int j = 0; j < k; j++) {
    if (!(blk[(g & 511) >> 3] & (1u << (g & 7)))) return 0;
    g += delta;
  }
  return 1;
}
