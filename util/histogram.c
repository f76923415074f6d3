/* histogram.c — see histogram.h. */
#include "util/histogram.h"

#include <string.h>

static unsigned bucket_of(uint64_t v) {
  if (v < 16) return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 4..63 */
  return 16u + (e - 4u) * 4u + (unsigned)((v >> (e - 2u)) & 3u);
}

/* The smallest value bucket b holds; bucket_low(b + 1) bounds it above. */
static double bucket_low(unsigned b) {
  if (b < 16) return (double)b;
  if (b >= HISTOGRAM_BUCKETS) return 18446744073709551616.0; /* 2^64 */
  unsigned e = 4u + (b - 16u) / 4u, quarter = (b - 16u) % 4u;
  return (double)(1ull << e) * (1.0 + quarter / 4.0);
}

void histogram_init(histogram *h) {
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) atomic_init(&h->buckets[b], 0);
  atomic_init(&h->count, 0);
  atomic_init(&h->sum, 0);
  atomic_init(&h->min, UINT64_MAX);
  atomic_init(&h->max, 0);
}

void histogram_add(histogram *h, uint64_t value) {
  atomic_fetch_add_explicit(&h->buckets[bucket_of(value)], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
  uint64_t m = atomic_load_explicit(&h->min, memory_order_relaxed);
  while (value < m && !atomic_compare_exchange_weak_explicit(
                          &h->min, &m, value, memory_order_relaxed, memory_order_relaxed)) {
  }
  m = atomic_load_explicit(&h->max, memory_order_relaxed);
  while (value > m && !atomic_compare_exchange_weak_explicit(
                          &h->max, &m, value, memory_order_relaxed, memory_order_relaxed)) {
  }
}

/* The value below which a share q of the counts lies, interpolated linearly inside its
 * bucket and kept within [min, max]. */
static double percentile(const uint64_t *counts, uint64_t total, double q, uint64_t min,
                         uint64_t max) {
  double want = q * (double)total, seen = 0;
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) {
    if (!counts[b]) continue;
    if (seen + (double)counts[b] >= want) {
      double lo = bucket_low(b), hi = bucket_low(b + 1);
      double v = lo + (hi - lo) * (want - seen) / (double)counts[b];
      if (v < (double)min) v = (double)min;
      if (v > (double)max) v = (double)max;
      return v;
    }
    seen += (double)counts[b];
  }
  return (double)max;
}

void histogram_summarize(histogram *h, histogram_summary *out) {
  uint64_t counts[HISTOGRAM_BUCKETS], total = 0;
  for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) {
    counts[b] = atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
    total += counts[b];
  }
  memset(out, 0, sizeof *out);
  if (!total) return;
  out->count = total; /* the buckets' own total, consistent with the percentiles */
  out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
  out->min = atomic_load_explicit(&h->min, memory_order_relaxed);
  out->max = atomic_load_explicit(&h->max, memory_order_relaxed);
  if (out->min > out->max) out->min = out->max; /* read while the first add ran */
  out->average = (double)out->sum / (double)total;
  out->median = percentile(counts, total, 0.50, out->min, out->max);
  out->p95 = percentile(counts, total, 0.95, out->min, out->max);
  out->p99 = percentile(counts, total, 0.99, out->min, out->max);
  out->p999 = percentile(counts, total, 0.999, out->min, out->max);
}
