/* checksum_avx2.c — checksum32 compiled for AVX2 (this file alone is built with -mavx2, so
 * XXH3 picks its AVX2 loop). Only checksum32_block calls it, after checking the CPU. */
#include "util/checksum.h"

uint32_t checksum32_avx2(const void *data, size_t len) { return checksum32(data, len); }
