/* checksum.c — checksum32_block: the same checksum as checksum32, computed with the widest
 * vector unit the CPU has. The library is built for baseline x86-64 (SSE2), where XXH3 runs
 * at about half its AVX2 speed; blocks of a few KiB are checksummed on every read of a
 * table block, so they take the faster path when the CPU has it. */
#include "util/checksum.h"

uint32_t checksum32_block(const void *data, size_t len) {
#ifdef SHALE_CHECKSUM_AVX2
  if (__builtin_cpu_supports("avx2")) return checksum32_avx2(data, len);
#endif
  return checksum32(data, len);
}
