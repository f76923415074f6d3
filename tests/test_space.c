/* test_space.c — space follows deletes: a queue drained from its head gives its disk back
 * once iterators have walked over its deleted head (compaction suggestions, see
 * engine/compaction.h), even when its last deletes are still in the memtable; and a snapshot
 * taken before the deletes keeps everything it sees, without the background spinning on
 * work it cannot do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "shale.h"
#include "testutil.h"

#define VALUE_SIZE 100

typedef struct fixture {
  char *dir;
  shale_db *db;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  /* Tables exist from the first seconds, yet the last memtable of deletes holds a tenth of
   * the queue: left alone, the values under it would stay on disk. */
  o.write_buffer_size = 4 << 20;
  o.compression = SHALE_COMPRESSION_NONE; /* table bytes follow the data */
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  tu_tempdir_free(f->dir);
  free(f);
  return 0;
}

static int key(int i, char *k) { return snprintf(k, 17, "q%015d", i); }

static void value(int i, char *v) {
  memset(v, 'a' + i % 26, VALUE_SIZE);
  key(i, v);
}

static void fill(shale_db *db, int n) {
  char k[17], v[VALUE_SIZE];
  for (int i = 0; i < n; i++) {
    int kl = key(i, k);
    value(i, v);
    assert_int_equal(shale_put(db, k, (size_t)kl, v, VALUE_SIZE, 0), SHALE_OK);
  }
}

/* One pop: a new iterator, seek_first, delete the key it shows. 0 when the queue is empty. */
static int pop(shale_db *db) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  shale_iter_seek_first(it);
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  int ok = shale_iter_valid(it);
  char k[64];
  size_t kl = 0;
  if (ok) {
    const void *p = shale_iter_key(it, &kl);
    assert_true(kl <= sizeof k);
    memcpy(k, p, kl);
  }
  shale_iter_free(it);
  if (ok) assert_int_equal(shale_delete(db, k, kl, 0), SHALE_OK);
  return ok;
}

static int drain(shale_db *db) {
  int n = 0;
  while (pop(db)) n++;
  return n;
}

static long long sst_bytes(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  long long total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 4, ".sst")) continue;
    char *p = tu_path(dir, e->d_name);
    long long sz = tu_file_size(p);
    free(p);
    if (sz > 0) total += sz;
  }
  closedir(d);
  return total;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Polls for up to limit_s seconds until the tables hold at most `target` bytes. */
static long long wait_for_sst_at_most(const char *dir, long long target, double limit_s) {
  double start = tu_now_s();
  long long now = sst_bytes(dir);
  while (now > target && tu_now_s() - start < limit_s) {
    sleep_s(0.1);
    now = sst_bytes(dir);
  }
  return now;
}

static uint64_t compactions(shale_db *db) {
  char *s;
  assert_int_equal(shale_property(db, "shale.stats", &s), SHALE_OK);
  const char *at = strstr(s, "Compactions: ");
  assert_non_null(at);
  uint64_t n = strtoull(at + strlen("Compactions: "), NULL, 10);
  shale_free(s);
  return n;
}

static double cpu_seconds(void) {
  struct rusage ru;
  assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* What a failure needs explained: the tables per level, the counters, the DB's LOG. */
static void print_state(fixture *f) {
  const char *props[] = {"shale.sstables", "shale.stats", "shale.dead-spans"};
  for (size_t i = 0; i < sizeof props / sizeof *props; i++) {
    char *s = NULL;
    if (shale_property(f->db, props[i], &s) == SHALE_OK) fprintf(stderr, "%s:\n%s\n", props[i], s);
    shale_free(s);
  }
  char *log = tu_path(f->dir, "LOG");
  FILE *in = fopen(log, "r");
  free(log);
  if (!in) return;
  if (fseek(in, -20000, SEEK_END)) rewind(in); /* its tail, where the drain ended */
  char line[512];
  while (fgets(line, sizeof line, in)) fputs(line, stderr);
  fclose(in);
}

#define QUEUE_KEYS 200000

/* The issue-14 workload: fill in order, pop everything from the head, stop. Tombstones and
 * the values under them must leave the disk without any further write or call. */
static void test_drained_queue_gives_space_back(void **state) {
  fixture *f = *state;
  fill(f->db, QUEUE_KEYS);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  long long peak = sst_bytes(f->dir);
  assert_true(peak > (long long)QUEUE_KEYS * VALUE_SIZE / 2);
  assert_int_equal(drain(f->db), QUEUE_KEYS);
  long long left = wait_for_sst_at_most(f->dir, peak / 20, 60.0);
  if (left > peak / 20) {
    fprintf(stderr, "tables: %lld bytes at the peak, %lld left\n", peak, left);
    print_state(f);
  }
  assert_true(left <= peak / 20);
  assert_int_equal(pop(f->db), 0);
}

/* A snapshot from before the deletes pins every tombstone: nothing can be dropped, the
 * snapshot still reads every value, and the background settles instead of retrying. */
static void test_snapshot_keeps_values_and_background_idles(void **state) {
  fixture *f = *state;
  const int n = QUEUE_KEYS / 2;
  fill(f->db, n);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  long long peak = sst_bytes(f->dir);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(f->db, &snap), SHALE_OK);
  assert_int_equal(drain(f->db), n);
  sleep_s(3.0); /* past the pause after which a suggestion seals the memtable */
  uint64_t before = compactions(f->db);
  double cpu = cpu_seconds();
  sleep_s(2.0);
  assert_int_equal(compactions(f->db), before);
  assert_true(cpu_seconds() - cpu < 1.0); /* a spinning thread would burn the whole 2 s */
  assert_true(before < 20);
  assert_true(sst_bytes(f->dir) >= peak / 2);

  char k[17], v[VALUE_SIZE];
  for (int i = 0; i < n; i += 997) {
    int kl = key(i, k);
    value(i, v);
    void *got;
    size_t glen;
    assert_int_equal(shale_get(f->db, snap, k, (size_t)kl, &got, &glen), SHALE_OK);
    assert_int_equal(glen, VALUE_SIZE);
    assert_memory_equal(got, v, VALUE_SIZE);
    shale_free(got);
    assert_int_equal(shale_get(f->db, NULL, k, (size_t)kl, &got, &glen), SHALE_NOTFOUND);
  }
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, snap, &it), SHALE_OK);
  int seen = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) seen++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  assert_int_equal(seen, n);
  shale_snapshot_free(f->db, snap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_drained_queue_gives_space_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_keeps_values_and_background_idles, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
