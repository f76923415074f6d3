/* test_oom.c — the out-of-memory sweep: allocation N fails (N = 1, 2, ...) while a workload
 * opens a DB, writes, flushes, compacts and iterates. Every failure must come back as an error
 * (or be absorbed), never a crash or a leak (LeakSanitizer in ASan builds), and the DB must
 * hold every acknowledged write after a reopen without faults. The library's calls to malloc,
 * calloc and realloc reach the wrappers below through the linker's --wrap. A second sweep
 * fails the allocations of the memtable's range-tombstone index under gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable/mem_rdel.h"
#include "memtable/memtable.h"
#include "shale.h"
#include "testutil.h"
#include "util/ikey.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);

/* 0: off; else the countdown to the failing allocation (counted across threads). */
static _Atomic long fail_countdown;
static _Atomic long failures;

static int should_fail(void) {
  long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
  if (c <= 0) return 0;
  if (atomic_fetch_sub(&fail_countdown, 1) == 1) {
    atomic_fetch_add(&failures, 1);
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { return should_fail() ? NULL : __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

#define KEYS 3000

/* Runs the workload with allocation `n` failing; records which keys were acknowledged. */
static void workload(const char *dir, long n, unsigned char *acked) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 16 << 10; /* flushes and compactions on little data */
  o.level0_compaction_trigger = 2;
  atomic_store(&fail_countdown, n);
  shale_db *db;
  int rc = shale_open(dir, &o, &db);
  if (rc) {
    atomic_store(&fail_countdown, 0);
    assert_true(rc == SHALE_NOMEM || rc == SHALE_IOERR || rc == SHALE_CORRUPTION);
    return;
  }
  char k[32], v[64];
  for (int i = 0; i < KEYS; i++) {
    int kl = snprintf(k, sizeof k, "k%06d", i);
    int vl = snprintf(v, sizeof v, "value-%06d-%040d", i, 0);
    rc = shale_put(db, k, (size_t)kl, v, (size_t)vl, 0);
    if (rc == SHALE_OK)
      acked[i] = 1;
    else
      assert_true(rc == SHALE_NOMEM || rc == SHALE_READONLY);
  }
  rc = shale_flush(db);
  assert_true(rc == SHALE_OK || rc == SHALE_NOMEM || rc == SHALE_READONLY);
  shale_iter *it;
  if (shale_iter_new(db, NULL, &it) == SHALE_OK) {
    for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    }
    shale_iter_free(it);
  }
  atomic_store(&fail_countdown, 0);
  rc = shale_close(db);
  assert_true(rc == SHALE_OK || rc == SHALE_NOMEM || rc == SHALE_READONLY);
}

static long fault_n;
static void verify(const char *dir, const unsigned char *acked) {
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  char k[32], v[64];
  for (int i = 0; i < KEYS; i++) {
    if (!acked[i]) continue;
    int kl = snprintf(k, sizeof k, "k%06d", i);
    int vl = snprintf(v, sizeof v, "value-%06d-%040d", i, 0);
    void *val;
    size_t len;
    int rc = shale_get(db, NULL, k, (size_t)kl, &val, &len);
    if (rc != SHALE_OK) {
      char cmd[600];
      snprintf(cmd, sizeof cmd, "ls -la %s; cat %s/LOG.old", dir, dir);
      if (system(cmd)) fprintf(stderr, "ls failed\n");
      fail_msg("acknowledged key %s missing after reopen (rc %d, fault at allocation %ld): %s", k,
               rc, fault_n, shale_errmsg(db));
    }
    assert_int_equal(len, (size_t)vl);
    assert_memory_equal(val, v, len);
    shale_free(val);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
}

static void test_oom_sweep(void **state) {
  (void)state;
  const char *env = getenv("SHALE_OOM_POINTS");
  long points = env ? atol(env) : 400;
  long hit = 0;
  for (long n = 1; n <= points; n++) {
    char *dir = tu_tempdir();
    static unsigned char acked[KEYS];
    memset(acked, 0, sizeof acked);
    long before = atomic_load(&failures);
    fault_n = n;
    workload(dir, n, acked);
    if (atomic_load(&failures) > before) hit++;
    verify(dir, acked);
    tu_tempdir_free(dir);
  }
  printf(
      "out-of-memory sweep: %ld allocation points, %ld failures injected, 0 crashes or "
      "lost acknowledged writes\n",
      points, hit);
}

/* Gets build a memtable's range-tombstone index (memtable/mem_rdel.c) as tombstones arrive;
 * when one of its allocations fails, gets must still answer right (they scan instead) and
 * nothing may leak. Tombstone i covers [r(i), r(i + 5)) at sequence i + 1. */
static void test_oom_range_index(void **state) {
  (void)state;
  enum { ROUNDS = 6, PER_ROUND = 40, QUERIES = 25, KEYS_R = ROUNDS * PER_ROUND + 10 };
  long hit = 0;
  for (long n = 1; n <= 80; n++) {
    memtable *m;
    assert_int_equal(memtable_new(&m), SHALE_OK);
    long before = atomic_load(&failures);
    char b[16], e[16];
    int added = 0;
    long left = n; /* the countdown runs across rounds, paused while the test itself works */
    for (int r = 0; r < ROUNDS; r++) {
      for (int j = 0; j < PER_ROUND; j++, added++) {
        int bl = snprintf(b, sizeof b, "r%04d", added),
            el = snprintf(e, sizeof e, "r%04d", added + 5);
        assert_int_equal(
            memtable_add(m, (uint64_t)added + 1, KIND_RANGE_DEL, b, (size_t)bl, e, (size_t)el, 1),
            SHALE_OK);
      }
      uint64_t got[QUERIES];
      int keys[QUERIES];
      uint64_t seqs[QUERIES];
      atomic_store(&fail_countdown, left); /* only the gets allocate while it runs */
      for (int q = 0; q < QUERIES; q++) {
        keys[q] = (q * 37 + r * 11) % KEYS_R;
        seqs[q] = q % 3 ? SEQ_MAX : (uint64_t)(q * 7 % (added + 1));
        int kl = snprintf(b, sizeof b, "r%04d", keys[q]);
        got[q] = mem_rdel_cover(m, b, (size_t)kl, seqs[q]);
      }
      left = atomic_exchange(&fail_countdown, 0);
      for (int q = 0; q < QUERIES; q++) {
        uint64_t want = 0;
        for (int i = 0; i < added; i++)
          if (i <= keys[q] && keys[q] < i + 5 && (uint64_t)i + 1 <= seqs[q]) want = (uint64_t)i + 1;
        if (got[q] != want)
          fail_msg("fault at allocation %ld: cover(r%04d, seq %llu) = %llu, want %llu", n, keys[q],
                   (unsigned long long)seqs[q], (unsigned long long)got[q],
                   (unsigned long long)want);
      }
    }
    if (atomic_load(&failures) > before) hit++;
    memtable_unref(m);
  }
  printf("range-tombstone index: %ld of 80 allocation points failed, every answer right\n", hit);
  assert_true(hit > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_sweep),
                                     cmocka_unit_test(test_oom_range_index)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
