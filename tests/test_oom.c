/* test_oom.c — the out-of-memory sweep: allocation N fails (N = 1, 2, ...) while a workload
 * opens a DB, writes, flushes, compacts and iterates. Every failure must come back as an error
 * (or be absorbed), never a crash or a leak (LeakSanitizer in ASan builds), and the DB must
 * hold every acknowledged write after a reopen without faults. The library's calls to malloc,
 * calloc and realloc reach the wrappers below through the linker's --wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "testutil.h"

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
  shale_options_init(&o);
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
  assert_int_equal(shale_open(dir, NULL, &db), SHALE_OK);
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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_oom_sweep)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
