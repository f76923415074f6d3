/* shale_bench_zipf.h — the Zipfian key chooser of shale-bench's YCSB workloads: Gray et al.'s
 * "Quickly generating billion-record synthetic databases" (SIGMOD 1994), as YCSB's
 * ZipfianGenerator implements it, with YCSB's FNV-1a scrambling and its "latest" variant
 * left to the caller (latest - rank). The generator takes a uniform double rather than an
 * RNG, so each thread draws from its own RNG and shares nothing. */
#ifndef SHALE_TOOLS_SHALE_BENCH_ZIPF_H
#define SHALE_TOOLS_SHALE_BENCH_ZIPF_H

#include <stdint.h>

/* YCSB's default skew (ZipfianGenerator.ZIPFIAN_CONSTANT). */
#define BENCH_ZIPF_THETA 0.99

typedef struct bench_zipf {
  uint64_t items; /* ranks are [0, items) */
  double theta, alpha, zeta2, zetan, eta;
} bench_zipf;

/* Sets z up for `items` ranks with skew theta (0 < theta < 1). Sums items terms of the
 * zeta function: O(items), done once before the timed run. */
void bench_zipf_init(bench_zipf *z, uint64_t items, double theta);
/* Extends z to `items` ranks (no-op if it has as many), adding only the new zeta terms, as
 * YCSB does when inserts grow the key space. */
void bench_zipf_grow(bench_zipf *z, uint64_t items);
/* The rank for uniform u in [0, 1): 0 is the most popular; always < items (0 if none). */
uint64_t bench_zipf_rank(const bench_zipf *z, double u);
/* YCSB's ScrambledZipfianGenerator: the rank hashed with FNV-1a 64, modulo items, so the
 * popular keys are spread over the key space instead of packed at its start. */
uint64_t bench_zipf_scrambled(const bench_zipf *z, double u);

#endif /* SHALE_TOOLS_SHALE_BENCH_ZIPF_H */
