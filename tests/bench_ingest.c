/* bench_ingest.c — loading N keys (16-byte keys, 100-byte values, in key order) into an empty
 * DB two ways: shale_sst_writer + shale_ingest, against a shale_put loop (no sync) and a
 * final shale_flush. Built, not registered with CTest: build/tests/bench_ingest DIR [n]
 * (DIR must not exist; n defaults to 1000000). Prints MB/s of key+value bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shale.h"

#define KLEN 16
#define VLEN 100

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kv(uint64_t i, char *k, char *v) {
  snprintf(k, KLEN + 1, "%016llu", (unsigned long long)(i % 10000000000000000ull));
  uint64_t s = i * 0x9E3779B97F4A7C15ull + 1;
  for (int j = 0; j < VLEN / 2; j++) { /* half random, half repeated, like db_bench */
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    v[j] = (char)('a' + (s * 0x2545F4914F6CDD1Dull >> 59));
  }
  memset(v + VLEN / 2, 'x', VLEN - VLEN / 2);
}

static void check(int rc, const char *what, shale_db *db) {
  if (!rc) return;
  fprintf(stderr, "%s: %s: %s\n", what, shale_strerror(rc), shale_errmsg(db));
  exit(1);
}

static double by_ingest(const char *dir, uint64_t n) {
  char sst[4096], path[4096];
  snprintf(sst, sizeof sst, "%s/load.sst", dir);
  snprintf(path, sizeof path, "%s/ingest_db", dir);
  shale_options o;
  shale_options_init(&o);
  shale_db *db;
  check(shale_open(path, &o, &db), "open", NULL);
  double t0 = now_s();
  shale_sst_writer *w;
  check(shale_sst_writer_open(sst, &o, &w), "writer", NULL);
  char k[KLEN + 1], v[VLEN];
  for (uint64_t i = 0; i < n; i++) {
    kv(i, k, v);
    check(shale_sst_writer_put(w, k, KLEN, v, VLEN), "writer put", NULL);
  }
  check(shale_sst_writer_finish(w, NULL), "finish", NULL);
  double t1 = now_s();
  const char *files[1] = {sst};
  check(shale_ingest(db, files, 1, SHALE_INGEST_MOVE), "ingest", db);
  double t2 = now_s();
  printf("ingest: write %.3f s, ingest %.3f s\n", t1 - t0, t2 - t1);
  kv(n / 2, k, v);
  void *got;
  size_t gl;
  check(shale_get(db, NULL, k, KLEN, &got, &gl), "get", db);
  shale_free(got);
  check(shale_close(db), "close", NULL);
  return t2 - t0;
}

static double by_puts(const char *dir, uint64_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/put_db", dir);
  shale_options o;
  shale_options_init(&o);
  shale_db *db;
  check(shale_open(path, &o, &db), "open", NULL);
  double t0 = now_s();
  char k[KLEN + 1], v[VLEN];
  for (uint64_t i = 0; i < n; i++) {
    kv(i, k, v);
    check(shale_put(db, k, KLEN, v, VLEN, 0), "put", db);
  }
  check(shale_flush(db), "flush", db);
  double t1 = now_s();
  check(shale_close(db), "close", NULL);
  return t1 - t0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_ingest DIR [n]\n");
    return 2;
  }
  uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
  if (mkdir(argv[1], 0755)) {
    perror(argv[1]);
    return 1;
  }
  double mb = (double)n * (KLEN + VLEN) / 1e6;
  double ti = by_ingest(argv[1], n);
  double tp = by_puts(argv[1], n);
  printf("%llu keys, %.1f MB of keys and values\n", (unsigned long long)n, mb);
  printf("sst_writer + ingest: %.3f s, %.1f MB/s\n", ti, mb / ti);
  printf("put loop + flush:    %.3f s, %.1f MB/s\n", tp, mb / tp);
  return 0;
}
