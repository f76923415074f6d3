/* bench_memtable.c — a quick single-threaded measure of the memtable's hot paths: 1M random
 * 16-byte keys with 100-byte values, inserted, then read back in another random order.
 * Not a test; run it by hand (build target bench_memtable) when touching the skiplist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable/memtable.h"
#include "shale.h"
#include "util/clock.h"
#include "util/ikey.h"

enum { N = 1000000, KLEN = 16, VLEN = 100 };

static uint64_t rnd(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : N;
  uint8_t *keys = malloc((size_t)n * KLEN), val[VLEN];
  uint32_t *order = malloc((size_t)n * sizeof *order);
  if (!keys || !order || n <= 0) return 1;
  uint64_t rng = 88172645463325252ull;
  for (size_t i = 0; i < (size_t)n * KLEN; i += 8) {
    uint64_t r = rnd(&rng);
    memcpy(keys + i, &r, 8);
  }
  memset(val, 'v', sizeof val);
  for (int i = 0; i < n; i++) order[i] = (uint32_t)i;
  for (int i = n - 1; i > 0; i--) { /* Fisher-Yates: reads in an order unrelated to writes */
    uint32_t j = (uint32_t)(rnd(&rng) % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  memtable *m;
  if (memtable_new(&m) != SHALE_OK) return 1;
  uint64_t t0 = clock_mono_us();
  for (int i = 0; i < n; i++)
    if (memtable_add(m, (uint64_t)i + 1, KIND_PUT, keys + (size_t)i * KLEN, KLEN, val, VLEN, 0))
      return 1;
  uint64_t t1 = clock_mono_us();
  size_t found = 0;
  for (int i = 0; i < n; i++) {
    unsigned kind;
    const void *v;
    size_t vlen;
    uint64_t seq;
    found += (size_t)memtable_get(m, keys + (size_t)order[i] * KLEN, KLEN, SEQ_MAX, &kind, &v,
                                  &vlen, &seq);
  }
  uint64_t t2 = clock_mono_us();
  printf("inserts: %d in %.3f s = %.0f ops/s\n", n, (t1 - t0) / 1e6, n / ((t1 - t0) / 1e6));
  printf("gets:    %zu/%d found in %.3f s = %.0f ops/s\n", found, n, (t2 - t1) / 1e6,
         n / ((t2 - t1) / 1e6));
  printf("memory:  %.1f MiB (%.1f bytes/entry)\n", memtable_bytes(m) / 1048576.0,
         (double)memtable_bytes(m) / n);
  memtable_unref(m);
  free(keys);
  free(order);
  return found == (size_t)n ? 0 : 1;
}
