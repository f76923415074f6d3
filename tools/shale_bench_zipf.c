/* shale_bench_zipf.c — Gray et al.'s Zipfian generator, as YCSB's ZipfianGenerator:
 * inverts an approximation of the Zipf CDF with one pow() per draw, after an O(n) zeta sum. */
#include <math.h>

#include "shale_bench_zipf.h"

static double zeta_terms(uint64_t from, uint64_t to, double theta) {
  double sum = 0;
  for (uint64_t i = from + 1; i <= to; i++) sum += 1.0 / pow((double)i, theta);
  return sum;
}

static void zipf_eta(bench_zipf *z) {
  z->eta = z->items < 2
               ? 0
               : (1 - pow(2.0 / (double)z->items, 1 - z->theta)) / (1 - z->zeta2 / z->zetan);
}

void bench_zipf_init(bench_zipf *z, uint64_t items, double theta) {
  z->items = items;
  z->theta = theta;
  z->alpha = 1.0 / (1.0 - theta);
  z->zeta2 = zeta_terms(0, 2, theta);
  z->zetan = zeta_terms(0, items, theta);
  zipf_eta(z);
}

void bench_zipf_grow(bench_zipf *z, uint64_t items) {
  if (items <= z->items) return;
  z->zetan += zeta_terms(z->items, items, z->theta);
  z->items = items;
  zipf_eta(z);
}

uint64_t bench_zipf_rank(const bench_zipf *z, double u) {
  if (z->items < 2) return 0;
  double uz = u * z->zetan;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + pow(0.5, z->theta)) return 1;
  uint64_t rank = (uint64_t)((double)z->items * pow(z->eta * u - z->eta + 1, z->alpha));
  return rank < z->items ? rank : z->items - 1;
}

/* YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes of v, low byte first. */
static uint64_t fnv1a64(uint64_t v) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < 8; i++, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  return h;
}

uint64_t bench_zipf_scrambled(const bench_zipf *z, double u) {
  return z->items ? fnv1a64(bench_zipf_rank(z, u)) % z->items : 0;
}
