/* ikey.h — internal keys: user key || 8-byte little-endian trailer (seq << 8 | kind).
 * Ordered by user key ascending (memcmp, shorter first), then by trailer descending so
 * the newest version of a key comes first. Every module that sorts entries uses this. */
#ifndef SHALE_UTIL_IKEY_H
#define SHALE_UTIL_IKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shale.h"
#include "util/coding.h"

enum ikey_kind {
  KIND_DEL = 0,       /* point tombstone */
  KIND_PUT = 1,       /* value */
  KIND_RANGE_DEL = 2, /* range tombstone; the value is the exclusive end key */
  KIND_SEEK = 0xff    /* highest kind: a seek key (k, seq, KIND_SEEK) sorts before (k, seq, *) */
};

#define IKEY_TRAILER 8
#define SEQ_MAX ((UINT64_C(1) << 56) - 1)

static inline uint64_t ikey_pack(uint64_t seq, unsigned kind) { return (seq << 8) | kind; }
static inline uint64_t ikey_seq(uint64_t trailer) { return trailer >> 8; }
static inline unsigned ikey_kind(uint64_t trailer) { return (unsigned)(trailer & 0xff); }

/* Bytewise user-key order: memcmp, then the shorter key first. */
/* The first this many bytes compare eight at a time inline, and a tail under eight bytes
 * byte by byte: most keys are short, and a call to memcmp costs more than the comparison
 * itself (the merge compares the current child with the runner-up on every step). The rest
 * of a longer key goes to memcmp's vector loop. */
#define UKEY_INLINE_MAX 32

/* memcmp of the bytes past the inline part (util/ikey.c). */
int ukey_compare_rest(const uint8_t *a, const uint8_t *b, size_t n);

static inline int ukey_compare(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen, i = 0;
  const uint8_t *p = a, *q = b;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; i + 8 <= n && i < UKEY_INLINE_MAX; i += 8) {
    uint64_t x, y;
    memcpy(&x, p + i, 8);
    memcpy(&y, q + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
#endif
  if (n - i < 8) {
    for (; i < n; i++)
      if (p[i] != q[i]) return p[i] < q[i] ? -1 : 1;
  } else {
    int c = ukey_compare_rest(p + i, q + i, n - i);
    if (c) return c;
  }
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Compares two encoded internal keys (each at least IKEY_TRAILER bytes). */
static inline int ikey_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  int c = ukey_compare(a, alen - IKEY_TRAILER, b, blen - IKEY_TRAILER);
  if (c) return c;
  uint64_t ta = get_fixed64(a + alen - IKEY_TRAILER), tb = get_fixed64(b + blen - IKEY_TRAILER);
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/* The order of a DB's user keys: cmp NULL is bytewise (ukey_compare, inline, no indirect
 * call: the default pays nothing), else the comparator the DB was opened with. Only the
 * sign of a comparator's result is used. */
static inline int ukey_cmp(const shale_comparator *cmp, const void *a, size_t alen, const void *b,
                           size_t blen) {
  if (__builtin_expect(cmp != NULL, 0)) {
    int c = cmp->compare(cmp->arg, a, alen, b, blen);
    return (c > 0) - (c < 0);
  }
  return ukey_compare(a, alen, b, blen);
}

/* ikey_compare under cmp's user-key order. */
static inline int ikey_cmp(const shale_comparator *cmp, const uint8_t *a, size_t alen,
                           const uint8_t *b, size_t blen) {
  if (__builtin_expect(cmp == NULL, 1)) return ikey_compare(a, alen, b, blen);
  int c = cmp->compare(cmp->arg, a, alen - IKEY_TRAILER, b, blen - IKEY_TRAILER);
  if (c) return c < 0 ? -1 : 1;
  uint64_t ta = get_fixed64(a + alen - IKEY_TRAILER), tb = get_fixed64(b + blen - IKEY_TRAILER);
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/* The name a DB or table records for cmp (NULL: bytewise), at most COMPARATOR_NAME_MAX bytes. */
#define BYTEWISE_COMPARATOR_NAME "shale.BytewiseComparator"
#define COMPARATOR_NAME_MAX 255
static inline const char *comparator_name(const shale_comparator *cmp) {
  return cmp ? cmp->name : BYTEWISE_COMPARATOR_NAME;
}

#endif /* SHALE_UTIL_IKEY_H */
