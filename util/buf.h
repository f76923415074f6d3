/* buf.h — a growable byte buffer, the scratch space of encoders (batches, blocks, edits).
 * Growth failures are sticky: after one, buf_ok() is false and appends do nothing, so an
 * encoder can append freely and check once at the end. */
#ifndef SHALE_UTIL_BUF_H
#define SHALE_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
  uint8_t *data;
  size_t len, cap;
  int failed; /* an allocation failed; contents are incomplete */
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
static inline void buf_clear(buf *b) {
  b->len = 0;
  b->failed = 0;
}
static inline int buf_ok(const buf *b) { return !b->failed; }
void buf_append(buf *b, const void *p, size_t n);
/* Replaces the contents with n bytes at p: the iterators' per-key copy, inlined while the
 * buffer is big enough. */
static inline void buf_assign(buf *b, const void *p, size_t n) {
  b->failed = 0;
  if (n <= b->cap && n) {
    __builtin_memcpy(b->data, p, n);
    b->len = n;
    return;
  }
  b->len = 0;
  buf_append(b, p, n);
}
/* Ensures room for n more bytes; returns 0 on success, -1 (and marks failed) otherwise. */
int buf_reserve(buf *b, size_t n);
void buf_append_byte(buf *b, uint8_t c);
void buf_append_fixed32(buf *b, uint32_t v);
void buf_append_fixed64(buf *b, uint64_t v);
void buf_append_varint(buf *b, uint64_t v);
/* varint length followed by the bytes */
void buf_append_slice(buf *b, const void *p, size_t n);

#endif /* SHALE_UTIL_BUF_H */
