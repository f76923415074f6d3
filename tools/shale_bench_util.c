/* shale_bench_util.c — the pieces of shale-bench that must match db_bench byte for byte:
 * RocksDB's histogram buckets and report, the RandomGenerator value buffer, the key
 * padding; plus deleteruns' key layout, the per-tenth timer, the clocks and the
 * DB-directory helpers (DestroyDB, du). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shale_bench.h"

/* ---- histogram ---- */

static uint64_t limits[BENCH_HIST_MAX_BUCKETS];
static int nlimits;

/* RocksDB's HistogramBucketMapper: 1, 2, then x1.5 each, kept to two significant digits. */
static void hist_limits_init(void) {
  if (nlimits) return;
  limits[nlimits++] = 1;
  limits[nlimits++] = 2;
  for (double v = 2; (v *= 1.5) <= 18446744073709551615.0 && nlimits < BENCH_HIST_MAX_BUCKETS;) {
    uint64_t x = (uint64_t)v, pow10 = 1;
    while (x / 10 > 10) x /= 10, pow10 *= 10;
    limits[nlimits++] = x * pow10;
  }
}

void bench_hist_clear(bench_hist *h) {
  hist_limits_init();
  memset(h, 0, sizeof(*h));
  h->min = limits[nlimits - 1];
}

static int hist_index(uint64_t v) {
  if (v >= limits[nlimits - 1]) return nlimits - 1;
  int lo = 0, hi = nlimits - 1; /* first limit >= v */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (limits[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void bench_hist_add(bench_hist *h, uint64_t v) {
  h->buckets[hist_index(v)]++;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->num++;
  h->sum += (double)v;
  h->sum_sq += (double)v * (double)v;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from) {
  for (int b = 0; b < nlimits; b++) into->buckets[b] += from->buckets[b];
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
  into->num += from->num;
  into->sum += from->sum;
  into->sum_sq += from->sum_sq;
}

/* HistogramStat::Percentile: linear interpolation inside the bucket, clamped to min/max. */
static double hist_percentile(const bench_hist *h, double p) {
  double threshold = (double)h->num * (p / 100.0);
  uint64_t cum = 0;
  for (int b = 0; b < nlimits; b++) {
    cum += h->buckets[b];
    if ((double)cum >= threshold) {
      double left = b == 0 ? 0 : (double)limits[b - 1], right = (double)limits[b];
      uint64_t left_sum = cum - h->buckets[b];
      double pos = h->buckets[b] ? (threshold - (double)left_sum) / (double)h->buckets[b] : 0;
      double r = left + (right - left) * pos;
      if (r < (double)h->min) r = (double)h->min;
      if (r > (double)h->max) r = (double)h->max;
      return r;
    }
  }
  return (double)h->max;
}

void bench_hist_print(const bench_hist *h, FILE *out) {
  double n = (double)h->num, avg = h->num ? h->sum / n : 0;
  double sd = h->num ? sqrt(fmax(0, (h->sum_sq * n - h->sum * h->sum) / (n * n))) : 0;
  fprintf(out, "Count: %llu Average: %.4f  StdDev: %.2f\n", (unsigned long long)h->num, avg, sd);
  fprintf(out, "Min: %llu  Median: %.4f  Max: %llu\n", (unsigned long long)(h->num ? h->min : 0),
          hist_percentile(h, 50), (unsigned long long)(h->num ? h->max : 0));
  fprintf(out, "Percentiles: P50: %.2f P75: %.2f P99: %.2f P99.9: %.2f P99.99: %.2f\n",
          hist_percentile(h, 50), hist_percentile(h, 75), hist_percentile(h, 99),
          hist_percentile(h, 99.9), hist_percentile(h, 99.99));
  fprintf(out, "------------------------------------------------------\n");
  if (!h->num) return;
  double mult = 100.0 / n;
  uint64_t cum = 0;
  for (int b = 0; b < nlimits; b++) {
    if (!h->buckets[b]) continue;
    cum += h->buckets[b];
    fprintf(out, "%c %7llu, %7llu ] %8llu %7.3f%% %7.3f%% ", b == 0 ? '[' : '(',
            (unsigned long long)(b == 0 ? 0 : limits[b - 1]), (unsigned long long)limits[b],
            (unsigned long long)h->buckets[b], mult * (double)h->buckets[b], mult * (double)cum);
    for (int marks = (int)(mult * (double)h->buckets[b] / 5 + 0.5); marks > 0; marks--)
      fputc('#', out);
    fputc('\n', out);
  }
}

/* ---- keys and values ---- */

void bench_key_init(char *key, int64_t size) { memset(key, '0', (size_t)size); }

static char *values;
static size_t values_len;

/* LevelDB's Random (Park-Miller), which db_bench's RandomGenerator seeds with 301. */
static uint32_t lcg_next(uint32_t *seed) {
  uint64_t product = (uint64_t)*seed * 16807;
  uint32_t s = (uint32_t)((product >> 31) + (product & 2147483647u));
  if (s > 2147483647u) s -= 2147483647u;
  return *seed = s;
}

/* test::CompressibleString: `ratio * 100` random printable bytes, repeated to 100 bytes. */
int bench_values_init(double ratio, int64_t value_size) {
  size_t want = value_size > 1048576 ? (size_t)value_size : 1048576;
  int raw = (int)(100 * ratio);
  if (raw < 1) raw = 1;
  char *piece = malloc((size_t)raw);
  values = malloc(want + 100);
  if (!piece || !values) return free(piece), -1;
  uint32_t seed = 301;
  for (values_len = 0; values_len < want; values_len += 100) {
    for (int i = 0; i < raw; i++) piece[i] = (char)(' ' + lcg_next(&seed) % 95);
    for (size_t i = 0; i < 100; i++) values[values_len + i] = piece[i % (size_t)raw];
  }
  free(piece);
  return 0;
}

const char *bench_value_next(size_t *pos, size_t len) {
  if (*pos + len > values_len) *pos = 0;
  *pos += len;
  return values + *pos - len;
}

/* ---- deleteruns' layout ---- */

/* Deleted runs average 5000.5 keys and survivor runs 556, a ninth of that: about 10% of the
 * keys survive, in runs long enough that a scan crosses thousands of tombstones between them. */
#define LAYOUT_MAX_DELETED 10000
#define LAYOUT_MAX_SURVIVING 1111

void bench_layout_init(bench_layout *l, int64_t seed, int64_t num) {
  l->rng = (uint64_t)seed;
  l->pos = 0;
  l->num = num > 0 ? (uint64_t)num : 0;
  l->deleted = 1;
}

int bench_layout_next(bench_layout *l, uint64_t *begin, uint64_t *end) {
  if (l->pos >= l->num) return -1;
  uint64_t max = l->deleted ? LAYOUT_MAX_DELETED : LAYOUT_MAX_SURVIVING;
  uint64_t len = 1 + bench_rand(&l->rng) % max;
  *begin = l->pos;
  *end = l->pos = len < l->num - l->pos ? l->pos + len : l->num;
  l->deleted = !l->deleted;
  return !l->deleted;
}

/* ---- per-tenth timer ---- */

void bench_tenths_start(bench_tenths *tn, int64_t total) {
  for (int k = 0; k <= 10; k++) tn->at[k] = total * k / 10;
  tn->us[0] = bench_now_us();
  tn->next = 1;
  bench_tenths_mark(tn, 0); /* under 10 ops, some tenths hold none */
}

void bench_tenths_print(const bench_tenths *tn, const char *name, const char *what) {
  printf("%s: micros/op by tenth of the %s:", name, what);
  for (int k = 0; k < 10; k++) {
    int64_t n = tn->at[k + 1] - tn->at[k];
    printf(" %d-%d%%: ", 10 * k, 10 * k + 10);
    if (k + 1 >= tn->next || n <= 0)
      printf("-");
    else
      printf("%.3f", (double)(tn->us[k + 1] - tn->us[k]) / (double)n);
  }
  printf("\n");
}

/* ---- clocks ---- */

uint64_t bench_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Paced, not a token bucket: a write waits for the instant at which the bytes written so far
 * (its own included) would have been written at the limit, so the rate holds over the whole
 * run and a writer held up (by a stall) may catch up, as db_bench's limiter lets it. */
void bench_pace_write(bench_run *r, uint64_t bytes) {
  int64_t limit = r->f->benchmark_write_rate_limit;
  if (limit <= 0) return;
  uint64_t zero = 0, now = bench_now_us();
  atomic_compare_exchange_strong(&r->pace_start_us, &zero, now);
  uint64_t total = atomic_fetch_add(&r->paced_bytes, bytes) + bytes;
  uint64_t due = atomic_load(&r->pace_start_us) + (uint64_t)((double)total * 1e6 / (double)limit);
  if (due <= now) return;
  struct timespec ts = {(time_t)((due - now) / 1000000u), (long)((due - now) % 1000000u) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double bench_wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- DB directory ---- */

/* The library's destroy, so the bench removes exactly what shale_destroy would; its
 * refusals are reported as db_bench does, with what to do next. */
int bench_destroy_db(const char *dir) {
  int rc = shale_destroy(dir, NULL);
  if (rc == SHALE_OK) return 0;
  if (rc == SHALE_BUSY) {
    fprintf(stderr, "IO error: While lock file: %s/LOCK: %s\n", dir, strerror(EWOULDBLOCK));
    fprintf(stderr,
            "shale-bench: %s is open in another process: stop that process or pick another "
            "--db; nothing was destroyed\n",
            dir);
  } else if (rc == SHALE_INVALID && strstr(shale_errmsg(NULL), "is not a Shale DB")) {
    fprintf(stderr, "shale-bench: %s: refusing to destroy it; pick another --db or empty it\n",
            shale_errmsg(NULL));
  } else {
    fprintf(stderr, "shale-bench: destroying %s: %s\n", dir, shale_errmsg(NULL));
  }
  return -1;
}

void bench_mkdir_parent(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return;
  *slash = 0;
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') *p = 0, mkdir(buf, 0755), *p = '/';
  mkdir(buf, 0755);
}

int64_t bench_dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int64_t total = 0;
  struct dirent *e;
  struct stat st;
  while ((e = readdir(d)) != NULL)
    if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
  closedir(d);
  return total;
}
