/* coding.h — little-endian fixed-width and varint encodings shared by every on-disk format.
 * All formats in doc/ are little-endian; these helpers are the only place that knows how. */
#ifndef SHALE_UTIL_CODING_H
#define SHALE_UTIL_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_fixed32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline void put_fixed64(uint8_t *p, uint64_t v) {
  put_fixed32(p, (uint32_t)v);
  put_fixed32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t get_fixed32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t get_fixed64(const uint8_t *p) {
  return (uint64_t)get_fixed32(p) | ((uint64_t)get_fixed32(p + 4) << 32);
}

/* Writes v as a varint (7 bits a byte, low first) at p; returns the bytes written (<= 10). */
static inline size_t put_varint64(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static inline size_t varint_length(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Decodes a varint from [p, limit). Returns the byte after it, or NULL if it is truncated
 * or longer than 10 bytes (corrupt input never reads past limit). */
static inline const uint8_t *get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift <= 63 && p < limit; shift += 7) {
    uint64_t byte = *p++;
    result |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return p;
    }
  }
  return NULL;
}

/* As get_varint64 but also rejects values above UINT32_MAX. */
static inline const uint8_t *get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v) {
  uint64_t x;
  p = get_varint64(p, limit, &x);
  if (!p || x > UINT32_MAX) return NULL;
  *v = (uint32_t)x;
  return p;
}

#endif /* SHALE_UTIL_CODING_H */
