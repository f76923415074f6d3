/* buf.c — growable byte buffer; see buf.h. */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/coding.h"

void buf_init(buf *b) { memset(b, 0, sizeof *b); }

void buf_free(buf *b) {
  free(b->data);
  buf_init(b);
}

int buf_reserve(buf *b, size_t n) {
  if (b->failed) return -1;
  if (b->cap - b->len >= n) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) goto fail;
    cap *= 2;
  }
  uint8_t *p = realloc(b->data, cap);
  if (!p) goto fail;
  b->data = p;
  b->cap = cap;
  return 0;
fail:
  b->failed = 1;
  return -1;
}

void buf_append(buf *b, const void *p, size_t n) {
  if (n == 0 || buf_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void buf_append_byte(buf *b, uint8_t c) { buf_append(b, &c, 1); }

void buf_append_fixed32(buf *b, uint32_t v) {
  uint8_t t[4];
  put_fixed32(t, v);
  buf_append(b, t, 4);
}

void buf_append_fixed64(buf *b, uint64_t v) {
  uint8_t t[8];
  put_fixed64(t, v);
  buf_append(b, t, 8);
}

void buf_append_varint(buf *b, uint64_t v) {
  uint8_t t[10];
  buf_append(b, t, put_varint64(t, v));
}

void buf_append_slice(buf *b, const void *p, size_t n) {
  buf_append_varint(b, n);
  buf_append(b, p, n);
}
