/* ikey.c — the out-of-line part of util/ikey.h. */
#include "util/ikey.h"

/* Out of line on purpose: inlined into a caller whose key buffers GCC can size, a memcmp
 * bound it cannot prove small draws -Wstringop-overread although the lengths never exceed
 * the buffers. */
__attribute__((noinline)) int ukey_compare_rest(const uint8_t *a, const uint8_t *b, size_t n) {
  return memcmp(a, b, n);
}
