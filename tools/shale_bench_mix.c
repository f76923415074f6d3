/* shale_bench_mix.c — the mixed workloads that model applications rather than one access
 * pattern: YCSB's core workloads A-F (Cooper et al., SoCC 2010, with YCSB's defaults: Zipfian
 * keys of skew 0.99, "latest" keys for D, scans of 1..100 entries for E) and db_bench's
 * mixgraph (Cao et al., FAST 2020: Facebook's social-graph mix of gets, puts and seeks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shale_bench.h"

#define STOPPED(r) atomic_load_explicit(&(r)->stop, memory_order_relaxed)
#define YCSB_MAX_SCAN 100

/* A uniform double in [0, 1): the top 53 bits of one draw. */
static double unit(bench_thread *t) { return (double)(bench_rand(&t->rng) >> 11) * 0x1.0p-53; }

/* ---- YCSB ---- */

void bench_ycsb_load(bench_thread *t) {
  bench_run *r = t->run;
  uint64_t n = (uint64_t)r->num;
  for (uint64_t i = (uint64_t)t->tid; i < n && !STOPPED(r); i += (uint64_t)r->nthreads) {
    uint64_t k = (uint64_t)((unsigned __int128)i * r->ycsb_load_stride % n);
    if (!bench_put_key(t, k, (size_t)r->value_size)) return;
    bench_finished(t, 1, OP_WRITE);
  }
}

/* A new iterator per scan, as a YCSB client's scan call opens one: it sees the inserts so
 * far. Seeks to k and reads up to len entries; returns 0, or -1 when the run must stop. */
static int ycsb_scan(bench_thread *t, uint64_t k, int64_t len) {
  bench_run *r = t->run;
  shale_iter *it = NULL;
  if (!bench_ok(t, shale_iter_new(r->db, NULL, &it), "shale_iter_new")) return -1;
  bench_key_set(t->key, r->key_size, k);
  shale_iter_seek(it, t->key, (size_t)r->key_size);
  t->nseeks++;
  size_t kl, vl;
  if (shale_iter_valid(it)) {
    const void *found = shale_iter_key(it, &kl);
    if (kl == (size_t)r->key_size && memcmp(found, t->key, kl) == 0) t->found++;
  }
  for (int64_t j = 0; j < len && shale_iter_valid(it); j++, shale_iter_next(it)) {
    shale_iter_key(it, &kl);
    shale_iter_value(it, &vl);
    t->bytes += (int64_t)(kl + vl);
  }
  int rc = shale_iter_status(it);
  shale_iter_free(it);
  return bench_ok(t, rc, "shale_iter_status") ? 0 : -1;
}

/* D: the newest key less a Zipfian rank, over every key inserted so far (YCSB's
 * SkewedLatestGenerator); z is the thread's own copy, grown as the inserts land. */
static uint64_t latest_key(bench_thread *t, bench_zipf *z) {
  int64_t count = atomic_load_explicit(&t->run->ycsb_next_insert, memory_order_relaxed);
  if (count <= 0) return 0;
  bench_zipf_grow(z, (uint64_t)count);
  return (uint64_t)count - 1 - bench_zipf_rank(z, unit(t));
}

static int ycsb_insert(bench_thread *t) {
  int64_t k = atomic_fetch_add_explicit(&t->run->ycsb_next_insert, 1, memory_order_relaxed);
  if (!bench_put_key(t, (uint64_t)k, (size_t)t->run->value_size)) return -1;
  bench_finished(t, 1, OP_WRITE);
  return 0;
}

static int ycsb_read(bench_thread *t, uint64_t k) {
  if (bench_get_key(t, k) < 0) return -1;
  bench_finished(t, 1, OP_READ);
  return 0;
}

static int ycsb_update(bench_thread *t, uint64_t k) {
  if (!bench_put_key(t, k, (size_t)t->run->value_size)) return -1;
  bench_finished(t, 1, OP_WRITE);
  return 0;
}

/* F's read-modify-write: one op of type update, as db_bench's updaterandom counts it. */
static int ycsb_rmw(bench_thread *t, uint64_t k) {
  if (bench_get_key(t, k) < 0 || !bench_put_key(t, k, (size_t)t->run->value_size)) return -1;
  bench_finished(t, 1, OP_UPDATE);
  return 0;
}

/* One op of the workload's mix; pct is uniform in [0, 100). Returns 0, or -1 to stop. */
static int ycsb_step(bench_thread *t, bench_zipf *z, int pct) {
  bench_run *r = t->run;
  switch (r->ycsb) {
    case 'a':
      return pct < 50 ? ycsb_read(t, bench_zipf_scrambled(z, unit(t)))
                      : ycsb_update(t, bench_zipf_scrambled(z, unit(t)));
    case 'b':
      return pct < 95 ? ycsb_read(t, bench_zipf_scrambled(z, unit(t)))
                      : ycsb_update(t, bench_zipf_scrambled(z, unit(t)));
    case 'c':
      return ycsb_read(t, bench_zipf_scrambled(z, unit(t)));
    case 'd':
      return pct < 95 ? ycsb_read(t, latest_key(t, z)) : ycsb_insert(t);
    case 'e':
      if (pct >= 95) return ycsb_insert(t);
      if (ycsb_scan(t, bench_zipf_scrambled(z, unit(t)),
                    1 + (int64_t)(bench_rand(&t->rng) % YCSB_MAX_SCAN)))
        return -1;
      bench_finished(t, 1, OP_SEEK);
      return 0;
    default:
      return pct < 50 ? ycsb_read(t, bench_zipf_scrambled(z, unit(t)))
                      : ycsb_rmw(t, bench_zipf_scrambled(z, unit(t)));
  }
}

void bench_ycsb(bench_thread *t) {
  bench_run *r = t->run;
  bench_zipf z = r->zipf;
  while (!bench_done(t, 1, r->reads))
    if (ycsb_step(t, &z, (int)(bench_rand(&t->rng) % 100))) return;
}

/* ---- mixgraph ---- */

/* db_bench's ParetoCdfInversion: the generalized Pareto distribution's inverse CDF. */
static int64_t pareto_inverse(double u, double theta, double k, double sigma) {
  double x = k == 0.0 ? theta - sigma * log(u) : theta + sigma * (pow(u, -k) - 1) / k;
  if (!(x > -9.2e18)) return -1; /* NaN (from odd parameters) too: db_bench's "< 0" case */
  return x < 9.2e18 ? (int64_t)ceil(x) : INT64_MAX;
}

/* db_bench's QueryDecider: each type's share of 1000 slots, rounded up. */
typedef struct mix_decider {
  int64_t bound[3], range; /* get, put, seek: type i takes slots [bound[i-1], bound[i]) */
} mix_decider;

static void decider_init(mix_decider *q, const bench_flags *f) {
  double ratio[3] = {f->mix_get_ratio, f->mix_put_ratio, f->mix_seek_ratio};
  double sum = ratio[0] + ratio[1] + ratio[2];
  q->range = 0;
  for (int i = 0; i < 3; i++) q->bound[i] = q->range += (int64_t)ceil(1000 * (ratio[i] / sum));
}

static int decider_type(const mix_decider *q, int64_t rand_v) {
  int64_t pos = rand_v % q->range;
  for (int i = 0; i < 3; i++)
    if (pos < q->bound[i]) return i;
  return 0;
}

/* db_bench's power distribution a*x^b: u picks a seed, and a hash of the seed the key, so
 * hot seeds are hot keys (db_bench hashes with mt19937_64, so its hot keys are others). */
static uint64_t power_key(double a, double b, double u, uint64_t n) {
  double seed = ceil(pow(u / a, 1 / b));
  uint64_t s = seed >= 0 && seed < 1.8e19 ? (uint64_t)seed : UINT64_MAX; /* NaN: one cold key */
  return bench_rand(&s) % n;
}

/* db_bench's GenerateTwoTermExpKeys: --keyrange_num ranges of equal size, each with a share
 * of the accesses from a*exp(b*x) + c*exp(d*x), the ranges shuffled over the key space. */
typedef struct keyrange {
  uint64_t start, access; /* the range's slots [start, start + access) of [0, slots) */
} keyrange;

typedef struct keyranges {
  keyrange *r;
  uint64_t n, size, slots; /* ranges, keys per range, total slots; n == 0: model off */
} keyranges;

/* Sets kr up as InitiateExpDistribution does; 0, or -1 after printing why it cannot. */
static int keyranges_init(keyranges *kr, const bench_flags *f, uint64_t num) {
  memset(kr, 0, sizeof(*kr));
  if (!f->keyrange_dist_a && !f->keyrange_dist_b && !f->keyrange_dist_c && !f->keyrange_dist_d)
    return 0;
  uint64_t n = f->keyrange_num > 0 ? (uint64_t)f->keyrange_num : 1, amplify = 0;
  if (n > num) n = num ? num : 1; /* a range without keys would take accesses */
  if (!(kr->r = calloc(n, sizeof(*kr->r))))
    return fprintf(stderr, "shale-bench: mixgraph: out of memory\n"), -1;
  kr->n = n, kr->size = num / n;
  for (uint64_t i = 0; i < n; i++) { /* range n first, as db_bench counts down */
    double x = (double)(n - i), p = f->keyrange_dist_a * exp(f->keyrange_dist_b * x) +
                                    f->keyrange_dist_c * exp(f->keyrange_dist_d * x);
    if (!(p >= 1e-16)) p = 0;
    if (!amplify && p > 0) amplify = (uint64_t)floor(1 / p) + 1;
    kr->r[i].access = p > 0 ? (uint64_t)floor((double)amplify * p) : 0;
    kr->slots += kr->r[i].access;
  }
  if (!kr->slots || !kr->size) {
    fprintf(stderr, "shale-bench: mixgraph: --keyrange_dist_a..d give no key range an access\n");
    return free(kr->r), -1;
  }
  uint64_t rng = kr->slots, start = 0; /* the shuffle depends on the parameters alone */
  for (uint64_t i = 0; i < n; i++) {
    uint64_t pos = bench_rand(&rng) % n;
    keyrange tmp = kr->r[i];
    kr->r[i] = kr->r[pos], kr->r[pos] = tmp;
  }
  for (uint64_t i = 0; i < n; i++) kr->r[i].start = start, start += kr->r[i].access;
  return 0;
}

/* DistGetKeyID: the range that owns slot ini_rand mod slots, then a key in it. */
static uint64_t keyranges_key(const keyranges *kr, const bench_flags *f, uint64_t ini_rand) {
  uint64_t slot = ini_rand % kr->slots, lo = 0, hi = kr->n;
  while (lo + 1 < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (slot < kr->r[mid].start)
      hi = mid;
    else
      lo = mid;
  }
  double u = (double)(ini_rand % kr->size) / (double)kr->size;
  return kr->size * lo + power_key(f->key_dist_a, f->key_dist_b, u, kr->size);
}

/* db_bench's precedence: without --key_dist_a/b keys are uniform, whatever the key ranges. */
static uint64_t mix_key(const bench_flags *f, const keyranges *kr, uint64_t ini_rand, double u,
                        uint64_t num) {
  if (f->key_dist_a == 0 || f->key_dist_b == 0) return ini_rand % num;
  if (kr->n) return keyranges_key(kr, f, ini_rand);
  return power_key(f->key_dist_a, f->key_dist_b, u, num);
}

static int mix_get(bench_thread *t, uint64_t k) {
  if (bench_get_key(t, k) < 0) return -1;
  bench_finished(t, 1, OP_READ);
  return 0;
}

/* Value sizes follow the Pareto model, capped as db_bench caps them (modulo the maximum). */
static int mix_put(bench_thread *t, uint64_t k, double u) {
  const bench_flags *f = t->run->f;
  int64_t max = f->mix_max_value_size < 1048576 ? f->mix_max_value_size : 1048576;
  int64_t size = pareto_inverse(u, f->value_theta, f->value_k, f->value_sigma);
  if (size < 0)
    size = 10;
  else if (size > max)
    size %= max;
  if (!bench_put_key(t, k, (size_t)size)) return -1;
  bench_finished(t, 1, OP_WRITE);
  return 0;
}

static int mix_seek(bench_thread *t, uint64_t k, double u) {
  const bench_flags *f = t->run->f;
  int64_t len = pareto_inverse(u, f->iter_theta, f->iter_k, f->iter_sigma) % f->mix_max_scan_len;
  if (ycsb_scan(t, k, len < 0 ? 0 : len)) return -1;
  bench_finished(t, 1, OP_SEEK);
  return 0;
}

/* One random number picks the key, the query type and (through u) the value size or scan
 * length, as in db_bench: the same draws give the same workload. */
void bench_mixgraph(bench_thread *t) {
  bench_run *r = t->run;
  uint64_t num = r->num > 0 ? (uint64_t)r->num : 1;
  mix_decider q;
  keyranges kr;
  decider_init(&q, r->f);
  if (keyranges_init(&kr, r->f, num)) exit(1); /* a bad model, as bench_ok does on errors */
  while (!bench_done(t, 1, r->reads)) {
    uint64_t ini_rand = bench_rand(&t->rng) >> 1, rand_v = ini_rand % num;
    double u = (double)rand_v / (double)num;
    if (u <= 0) u = 0.5 / (double)num; /* u = 0 would be an infinite value or scan */
    uint64_t k = mix_key(r->f, &kr, ini_rand, u, num);
    int type = decider_type(&q, (int64_t)rand_v), rc;
    rc = type == 0 ? mix_get(t, k) : type == 1 ? mix_put(t, k, u) : mix_seek(t, k, u);
    if (rc) break;
  }
  free(kr.r);
}
