/* test_close.c — what a clean shale_close promises (issue 20): every acknowledged write is
 * durable after it, whatever flags it was written with. SHALE_NO_WAL puts, deletes, range
 * deletes and batches, over a table or in the memtable alone, must read back after a
 * reopen; a close with nothing to flush, or whose writes all reached the WAL, adds no table;
 * a failed final flush is reported and leaves what reached the WAL recoverable; a read-only
 * DB closes without hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_hooks.h"
#include "fault_env.h"
#include "shale.h"
#include "testutil.h"

static shale_options big_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 4u << 20; /* every write of a test stays in one memtable */
  return o;
}

static shale_db *open_db(const char *dir, const shale_options *o) {
  shale_db *db;
  assert_int_equal(shale_open(dir, o, &db), SHALE_OK);
  return db;
}

static void check_value(shale_db *db, const char *k, const char *v) {
  void *val;
  size_t vlen;
  int rc = shale_get(db, NULL, k, strlen(k), &val, &vlen);
  if (!v) {
    if (rc != SHALE_NOTFOUND) fail_msg("%s: expected absent, got rc %d", k, rc);
    return;
  }
  if (rc != SHALE_OK) fail_msg("%s: expected %s, got rc %d", k, v, rc);
  if (vlen != strlen(v) || memcmp(val, v, vlen))
    fail_msg("%s: expected %s, got %.*s", k, v, (int)vlen, (const char *)val);
  shale_free(val);
}

/* ---- the reproduction, in every combination ---- */

typedef enum change { CH_PUT, CH_DELETE, CH_DELETE_RANGE, CH_BATCH, CH_COUNT } change;

static const char *change_name(change c) {
  static const char *names[] = {"put", "delete", "delete_range", "batch"};
  return names[c];
}

/* Changes b with SHALE_NO_WAL as c says and puts c=v the same way. */
static void apply_no_wal(shale_db *db, change c) {
  const unsigned nw = SHALE_NO_WAL;
  if (c == CH_PUT) assert_int_equal(shale_put(db, "b", 1, "new", 3, nw), SHALE_OK);
  if (c == CH_DELETE) assert_int_equal(shale_delete(db, "b", 1, nw), SHALE_OK);
  if (c == CH_DELETE_RANGE) assert_int_equal(shale_delete_range(db, "b", 1, "bz", 2, nw), SHALE_OK);
  if (c == CH_BATCH) {
    shale_batch *b;
    assert_int_equal(shale_batch_new(&b), SHALE_OK);
    assert_int_equal(shale_batch_delete(b, "b", 1), SHALE_OK);
    assert_int_equal(shale_batch_put(b, "c", 1, "v", 1), SHALE_OK);
    assert_int_equal(shale_batch_put(b, "d", 1, "w", 1), SHALE_OK);
    assert_int_equal(shale_write(db, b, nw), SHALE_OK);
    shale_batch_free(b);
    return;
  }
  assert_int_equal(shale_put(db, "c", 1, "v", 1, nw), SHALE_OK);
}

static void check_changed(shale_db *db, change c) {
  check_value(db, "a", "keep"); /* written with the WAL: must survive too */
  check_value(db, "b", c == CH_PUT ? "new" : NULL);
  check_value(db, "c", "v");
  check_value(db, "d", c == CH_BATCH ? "w" : NULL);
}

static void run_case(change c, int over_table) {
  char *dir = tu_tempdir();
  shale_options o = big_options();
  shale_db *db = open_db(dir, &o);
  assert_int_equal(shale_put(db, "a", 1, "keep", 4, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "b", 1, "old", 3, 0), SHALE_OK);
  if (over_table) assert_int_equal(shale_flush(db), SHALE_OK);
  apply_no_wal(db, c);
  check_changed(db, c);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_db(dir, &o);
  check_changed(db, c);
  assert_int_equal(shale_close(db), SHALE_OK); /* and once more: nothing comes undone later */
  db = open_db(dir, &o);
  check_changed(db, c);
  assert_int_equal(shale_close(db), SHALE_OK);
  printf("NO_WAL %-12s %-14s: durable after close\n", change_name(c),
         over_table ? "over a table" : "memtable only");
  tu_tempdir_free(dir);
}

static void test_no_wal_writes_survive_close(void **state) {
  (void)state;
  for (int over_table = 0; over_table < 2; over_table++)
    for (change c = 0; c < CH_COUNT; c++) run_case(c, over_table);
}

/* ---- WAL and NO_WAL writes mixed over several memtables, against a model ---- */

#define MIX_KEYS 400
#define MIX_OPS 6000

static void mix_key(int k, char *out) { snprintf(out, 16, "m%04d", k); }

static void check_model(shale_db *db, const int *model) {
  char k[16], v[32];
  for (int i = 0; i < MIX_KEYS; i++) {
    mix_key(i, k);
    snprintf(v, sizeof v, "v%d", model[i]);
    check_value(db, k, model[i] ? v : NULL);
  }
}

/* One random op; model[k] is the version of key k, 0 for absent. */
static void mix_op(shale_db *db, uint64_t *rng, int *model, int seq) {
  static const unsigned flags[] = {0, SHALE_NO_WAL, SHALE_SYNC, SHALE_NO_WAL};
  unsigned fl = flags[tu_rand(rng) % 4];
  int k = (int)(tu_rand(rng) % MIX_KEYS), op = (int)(tu_rand(rng) % 10);
  char key[16], end[16], val[32];
  mix_key(k, key);
  if (op < 6) {
    snprintf(val, sizeof val, "v%d", seq);
    assert_int_equal(shale_put(db, key, strlen(key), val, strlen(val), fl), SHALE_OK);
    model[k] = seq;
  } else if (op < 9) {
    assert_int_equal(shale_delete(db, key, strlen(key), fl), SHALE_OK);
    model[k] = 0;
  } else {
    int e = k + 1 + (int)(tu_rand(rng) % 8);
    mix_key(e, end);
    assert_int_equal(shale_delete_range(db, key, strlen(key), end, strlen(end), fl), SHALE_OK);
    for (int i = k; i < e && i < MIX_KEYS; i++) model[i] = 0;
  }
}

static void test_mixed_wal_and_no_wal(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = big_options();
  o.write_buffer_size = 16u << 10; /* several memtables sealed and flushed on the way */
  static int model[MIX_KEYS];
  memset(model, 0, sizeof model);
  uint64_t rng = 20;
  for (int round = 0; round < 3; round++) {
    shale_db *db = open_db(dir, &o);
    check_model(db, model);
    for (int i = 1; i <= MIX_OPS; i++) mix_op(db, &rng, model, round * MIX_OPS + i);
    check_model(db, model);
    assert_int_equal(shale_close(db), SHALE_OK);
  }
  shale_db *db = open_db(dir, &o);
  check_model(db, model);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- a close with nothing to flush adds no table ---- */

static void test_empty_close_adds_no_table(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = big_options();
  shale_db *db = open_db(dir, &o);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(tu_count_suffix(dir, ".sst"), 0);
  db = open_db(dir, &o);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(tu_count_suffix(dir, ".sst"), 1);
  assert_int_equal(shale_close(db), SHALE_OK); /* everything already in a table */
  assert_int_equal(tu_count_suffix(dir, ".sst"), 1);
  for (int i = 0; i < 3; i++) {
    db = open_db(dir, &o);
    assert_int_equal(shale_close(db), SHALE_OK);
  }
  assert_int_equal(tu_count_suffix(dir, ".sst"), 1);
  db = open_db(dir, &o);
  check_value(db, "a", "1");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* Writes that all reached the WAL stay there at close (its replay recovers them), so close
 * writes no table for them. */
static void test_wal_only_close_keeps_wal(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = big_options();
  shale_db *db = open_db(dir, &o);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, 0), SHALE_OK);
  assert_int_equal(shale_delete(db, "b", 1, SHALE_SYNC), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(tu_count_suffix(dir, ".sst"), 0);
  db = open_db(dir, &o);
  check_value(db, "a", "1");
  check_value(db, "b", NULL);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- a final flush that fails ---- */

/* Every write fails from the moment the flush thread picks a memtable: the seal before it
 * (new WAL created, old WAL synced) has succeeded. */
static void fail_writes_at_flush(shale_db *db, test_hook_point p) {
  (void)db;
  if (p == HOOK_FLUSH_PICKED) io_fault_fail_from(IO_FAULT_WRITE, 1, ENOSPC);
}

/* The DB holds a=1 (WAL, synced), b=2 (WAL) and n=3 (NO_WAL) in its mutable memtable. */
static shale_db *open_with_mixed_memtable(const char *dir) {
  shale_options o = big_options();
  shale_db *db = open_db(dir, &o);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, SHALE_SYNC), SHALE_OK);
  assert_int_equal(shale_put(db, "b", 1, "2", 1, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "n", 1, "3", 1, SHALE_NO_WAL), SHALE_OK);
  return db;
}

/* After a failed close what reached the WAL is there; the NO_WAL write had no other copy
 * and may be gone, which the error returned by close told the caller. */
static void check_wal_writes_recovered(const char *dir) {
  shale_options o = big_options();
  shale_db *db = open_db(dir, &o);
  check_value(db, "a", "1");
  check_value(db, "b", "2");
  assert_int_equal(shale_close(db), SHALE_OK);
}

static void test_failed_final_flush_is_reported(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_with_mixed_memtable(dir);
  atomic_store(&shale_test_hook, fail_writes_at_flush);
  int rc = shale_close(db);
  atomic_store(&shale_test_hook, NULL);
  io_fault_reset();
  printf("close with a failing final flush: %s\n", shale_strerror(rc));
  assert_int_equal(rc, SHALE_NOSPACE);
  check_wal_writes_recovered(dir);
  tu_tempdir_free(dir);
}

/* The seal itself fails: the first directory sync at close is the new WAL's. */
static void test_failed_final_seal_is_reported(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_with_mixed_memtable(dir);
  io_fault_fail_nth(IO_FAULT_DIRSYNC, 1, EIO);
  int rc = shale_close(db);
  io_fault_reset();
  printf("close with a failing seal: %s\n", shale_strerror(rc));
  assert_int_equal(rc, SHALE_IOERR);
  check_wal_writes_recovered(dir);
  tu_tempdir_free(dir);
}

/* A background error made the DB read-only: close cannot flush, so it returns the cause
 * at once instead of waiting for a flush that will never run. */
static void test_read_only_close_returns_error(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_with_mixed_memtable(dir);
  atomic_store(&shale_test_hook, fail_writes_at_flush);
  assert_int_equal(shale_flush(db), SHALE_READONLY);
  atomic_store(&shale_test_hook, NULL);
  io_fault_reset();
  assert_int_equal(shale_put(db, "x", 1, "1", 1, SHALE_NO_WAL), SHALE_READONLY);
  double t0 = tu_now_s();
  int rc = shale_close(db);
  double took = tu_now_s() - t0;
  printf("close of a read-only DB: %s in %.3f s\n", shale_strerror(rc), took);
  assert_int_equal(rc, SHALE_NOSPACE);
  assert_true(took < 10.0);
  check_wal_writes_recovered(dir);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_wal_writes_survive_close),
      cmocka_unit_test(test_mixed_wal_and_no_wal),
      cmocka_unit_test(test_empty_close_adds_no_table),
      cmocka_unit_test(test_wal_only_close_keeps_wal),
      cmocka_unit_test(test_failed_final_flush_is_reported),
      cmocka_unit_test(test_failed_final_seal_is_reported),
      cmocka_unit_test(test_read_only_close_returns_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
