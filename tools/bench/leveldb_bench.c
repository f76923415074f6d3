/* leveldb_bench.c — LevelDB on db_bench's fillseq, fillrandom and readrandom, for a side-by-side
 * run with shale-bench where LevelDB's own db_bench is not packaged (Debian ships only the
 * library). Same shapes as the compare script: 16-byte keys (8-byte big-endian number, then
 * '0' padding, as db_bench makes them), 100-byte values, no compression, 10 bloom bits, 64 MiB
 * write buffer and cache, WAL on without sync, one thread. Not part of the build:
 *   apt-get install -y libleveldb-dev
 *   cc -O2 -o leveldb_bench tools/bench/leveldb_bench.c -lleveldb
 *   ./leveldb_bench DIR [NUM]          (DIR is destroyed first) */
#include <leveldb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void make_key(uint64_t n, char *k) {
  for (int i = 0; i < 8; i++) k[i] = (char)(n >> (56 - 8 * i));
  memset(k + 8, '0', 8);
}

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void report(const char *name, long num, double secs) {
  printf("%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %ld operations\n", name,
         secs * 1e6 / (double)num, (long)((double)num / secs), secs, num);
}

static void die(char *err) {
  fprintf(stderr, "leveldb: %s\n", err);
  exit(1);
}

/* Fills num keys in order (fresh DB) or at random (fresh DB), as db_bench does. */
static void fill(const char *dir, leveldb_options_t *o, long num, int random) {
  char *err = NULL, key[16], val[100];
  leveldb_destroy_db(o, dir, &err);
  if (err) die(err);
  leveldb_t *db = leveldb_open(o, dir, &err);
  if (err) die(err);
  leveldb_writeoptions_t *w = leveldb_writeoptions_create();
  uint64_t s = 88172645463325252ull;
  for (int i = 0; i < 100; i++) val[i] = (char)(' ' + next_rand(&s) % 95);
  double t0 = now_s();
  for (long i = 0; i < num; i++) {
    make_key(random ? next_rand(&s) % (uint64_t)num : (uint64_t)i, key);
    leveldb_put(db, w, key, sizeof key, val, sizeof val, &err);
    if (err) die(err);
  }
  report(random ? "fillrandom" : "fillseq", num, now_s() - t0);
  leveldb_writeoptions_destroy(w);
  leveldb_close(db);
}

static void read_random(const char *dir, leveldb_options_t *o, long num) {
  char *err = NULL, key[16];
  leveldb_t *db = leveldb_open(o, dir, &err);
  if (err) die(err);
  leveldb_readoptions_t *r = leveldb_readoptions_create();
  uint64_t s = 0x9E3779B97F4A7C15ull;
  long found = 0;
  double t0 = now_s();
  for (long i = 0; i < num; i++) {
    make_key(next_rand(&s) % (uint64_t)num, key);
    size_t vl;
    char *v = leveldb_get(db, r, key, sizeof key, &vl, &err);
    if (err) die(err);
    found += v != NULL;
    leveldb_free(v);
  }
  report("readrandom", num, now_s() - t0);
  printf("(%ld of %ld found)\n", found, num);
  leveldb_readoptions_destroy(r);
  leveldb_close(db);
}

int main(int argc, char **argv) {
  if (argc < 2) return fprintf(stderr, "usage: leveldb_bench DIR [NUM]\n"), 2;
  long num = argc > 2 ? atol(argv[2]) : 1000000;
  leveldb_options_t *o = leveldb_options_create();
  leveldb_options_set_create_if_missing(o, 1);
  leveldb_options_set_compression(o, leveldb_no_compression);
  leveldb_options_set_write_buffer_size(o, 64u << 20);
  leveldb_cache_t *cache = leveldb_cache_create_lru(64u << 20);
  leveldb_options_set_cache(o, cache);
  leveldb_filterpolicy_t *bloom = leveldb_filterpolicy_create_bloom(10);
  leveldb_options_set_filter_policy(o, bloom);
  fill(argv[1], o, num, 0);
  fill(argv[1], o, num, 1);
  read_random(argv[1], o, num);
  leveldb_options_destroy(o);
  leveldb_cache_destroy(cache);
  leveldb_filterpolicy_destroy(bloom);
  return 0;
}
