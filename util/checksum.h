/* checksum.h — the one checksum every on-disk record uses: the low 32 bits of XXH3-64.
 * Kept behind a name so formats can say "checksum" and mean exactly this. */
#ifndef SHALE_UTIL_CHECKSUM_H
#define SHALE_UTIL_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
/* Inlined: hashing short keys for filters is on the read path. */
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

static inline uint32_t checksum32(const void *data, size_t len) {
  return (uint32_t)XXH3_64bits(data, len);
}

/* Checksum of a || b without copying them together (e.g. a record type byte and its payload). */
static inline uint32_t checksum32_2(const void *a, size_t alen, const void *b, size_t blen) {
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, a, alen);
  XXH3_64bits_update(&st, b, blen);
  return (uint32_t)XXH3_64bits_digest(&st);
}

/* checksum32, faster on blocks of a few KiB: on x86-64 CPUs with AVX2 it runs XXH3's AVX2
 * loop, about twice the baseline SSE2 speed. Table blocks are checked with it. */
uint32_t checksum32_block(const void *data, size_t len);
#ifdef SHALE_CHECKSUM_AVX2
/* checksum32 built for AVX2 (util/checksum_avx2.c); only on a CPU that has it. */
uint32_t checksum32_avx2(const void *data, size_t len);
#endif

/* 64-bit hash for filters and hash tables (not a checksum). */
static inline uint64_t hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }

#endif /* SHALE_UTIL_CHECKSUM_H */
