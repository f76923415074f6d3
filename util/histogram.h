/* histogram.h — a latency histogram that many threads add to at once without a lock:
 * log-scale buckets (four per power of two, so a percentile is within 12.5% of the truth
 * before interpolation), each a relaxed atomic counter. */
#ifndef SHALE_UTIL_HISTOGRAM_H
#define SHALE_UTIL_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

/* Values 0..15 get a bucket each; above, each power of two from 2^4 to 2^63 gets four. */
#define HISTOGRAM_BUCKETS (16 + 60 * 4)

typedef struct histogram {
  _Atomic uint64_t buckets[HISTOGRAM_BUCKETS];
  _Atomic uint64_t count, sum, min, max;
} histogram;

/* A summary read off a histogram; values are in the unit the adds used. */
typedef struct histogram_summary {
  uint64_t count, sum, min, max;
  double average, median, p95, p99, p999;
} histogram_summary;

void histogram_init(histogram *h);
/* Records one value. Threads: any number at once. */
void histogram_add(histogram *h, uint64_t value);
/* Reads h while others may add: the summary is then not one instant's, only close to it. */
void histogram_summarize(histogram *h, histogram_summary *out);

#endif /* SHALE_UTIL_HISTOGRAM_H */
