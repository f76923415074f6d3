/* test_statistics.c — shale_ticker, shale_statistics and shale_ticker_name (issue 16), on
 * real DBs in temp directories: each ticker against the operations that made it move; and
 * the latency histograms (shale_histogram), off and on. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

static shale_db *open_db(const char *dir) {
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  return db;
}

static uint64_t prop(shale_db *db, const char *name) {
  char *s;
  assert_int_equal(shale_property(db, name, &s), SHALE_OK);
  uint64_t n = strtoull(s, NULL, 10);
  shale_free(s);
  return n;
}

static void test_names(void **state) {
  (void)state;
  for (int t = 0; t < SHALE_TICKER_COUNT; t++) {
    const char *n = shale_ticker_name((enum shale_ticker_id)t);
    assert_non_null(n);
    assert_int_equal(strncmp(n, "shale.", 6), 0);
    for (int u = 0; u < t; u++)
      assert_string_not_equal(n, shale_ticker_name((enum shale_ticker_id)u));
  }
  assert_string_equal(shale_ticker_name(SHALE_TICKER_KEYS_WRITTEN), "shale.number.keys.written");
  assert_null(shale_ticker_name(SHALE_TICKER_COUNT));
  assert_null(shale_ticker_name((enum shale_ticker_id) - 1));
}

static void test_write_tickers(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir);
  for (int t = 0; t < SHALE_TICKER_COUNT; t++)
    assert_int_equal(shale_ticker(db, (enum shale_ticker_id)t), 0);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "b", 1, "22", 2, SHALE_SYNC), SHALE_OK);
  assert_int_equal(shale_delete(db, "a", 1, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "c", 1, "d", 1, 0), SHALE_OK);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "x", 1, "y", 1), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "z", 1, "w", 1), SHALE_OK);
  assert_int_equal(shale_batch_delete(b, "q", 1), SHALE_OK);
  assert_int_equal(shale_write(db, b, SHALE_SYNC), SHALE_OK);
  shale_batch_free(b);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_WRITTEN), 7);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_PUTS), 2);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_DELETES), 1);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_RANGE_DELETES), 1);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BATCHES), 1);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_DELETED), 2); /* one in the batch */
  assert_int_equal(shale_ticker(db, SHALE_TICKER_RANGES_DELETED), 1);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_WAL_SYNCS), 2);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_WRITE_GROUPS), 5); /* one writer at a time */
  uint64_t bytes = shale_ticker(db, SHALE_TICKER_BYTES_WRITTEN);
  assert_true(bytes >= 1 + 1 + 1 + 2 + 1 + 2 + 3 + 3 && bytes < 100);
  assert_true(shale_ticker(db, SHALE_TICKER_WAL_BYTES) >= bytes);

  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_FLUSHES), 1);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_MEMTABLES_SEALED), 1);
  assert_true(shale_ticker(db, SHALE_TICKER_FLUSH_BYTES) > 0);
  assert_int_equal(shale_put(db, "b", 1, "3", 1, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  assert_true(shale_ticker(db, SHALE_TICKER_COMPACTIONS) >= 1);
  assert_true(shale_ticker(db, SHALE_TICKER_COMPACTION_BYTES_READ) > 0);
  assert_true(shale_ticker(db, SHALE_TICKER_COMPACTION_BYTES_WRITTEN) > 0);
  assert_int_equal(shale_close(db), SHALE_OK);

  db = open_db(dir); /* counted from the open */
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_WRITTEN), 0);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_WRITTEN), 1);
  shale_close(db);
  tu_tempdir_free(dir);
}

static void test_read_tickers(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir);
  char k[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(k, sizeof k, "key%05d", i);
    assert_int_equal(shale_put(db, k, strlen(k), "value", 5, 0), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  void *v;
  size_t vlen;
  for (int i = 0; i < 100; i++) { /* 100 found, 100 absent inside the table's key range */
    snprintf(k, sizeof k, "key%05d", i * 7);
    assert_int_equal(shale_get(db, NULL, k, strlen(k), &v, &vlen), SHALE_OK);
    shale_free(v);
    snprintf(k, sizeof k, "key%05dx", i * 7);
    assert_int_equal(shale_get(db, NULL, k, strlen(k), &v, &vlen), SHALE_NOTFOUND);
  }
  char buf[2];
  assert_int_equal(shale_get_opts(db, NULL, "key00001", 8, buf, sizeof buf, &vlen), SHALE_OK);
  const void *keys[] = {"key00002", "absent"};
  size_t klens[] = {8, 6}, vlens[2];
  void *vals[2];
  int rcs[2];
  assert_int_equal(shale_multi_get(db, NULL, 2, keys, klens, vals, vlens, rcs), SHALE_OK);
  shale_free(vals[0]);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_READ), 203);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_FOUND), 102);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BYTES_READ), 102 * 5); /* whole lengths */
  assert_true(shale_ticker(db, SHALE_TICKER_BLOOM_USEFUL) >= 80); /* 10 bits a key: ~1% pass */
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_HITS),
                   prop(db, "shale.block-cache-hits"));
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_MISSES),
                   prop(db, "shale.block-cache-misses"));
  assert_int_equal(shale_ticker(db, SHALE_TICKER_DEAD_SPAN_JUMPS),
                   prop(db, "shale.dead-span-jumps"));
  assert_int_equal(shale_ticker(db, SHALE_TICKER_HIDDEN_KEYS_STEPPED),
                   prop(db, "shale.hidden-keys-stepped"));
  shale_close(db);
  tu_tempdir_free(dir);
}

#define THREADS 4
#define GETS 5000

static void *reader(void *arg) {
  shale_db *db = arg;
  void *v;
  size_t vlen;
  for (int i = 0; i < GETS; i++)
    if (shale_get(db, NULL, "k", 1, &v, &vlen) == SHALE_OK) shale_free(v);
  return NULL;
}

/* Gets count per thread; the sum loses nothing, also after the threads exited. */
static void test_read_tickers_many_threads(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir);
  assert_int_equal(shale_put(db, "k", 1, "vv", 2, 0), SHALE_OK);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, reader, db), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_READ), THREADS * GETS);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_KEYS_FOUND), THREADS * GETS);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BYTES_READ), 2 * THREADS * GETS);
  shale_close(db);
  tu_tempdir_free(dir);
}

static void test_statistics_bulk(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  uint64_t out[SHALE_TICKER_COUNT + 3];
  memset(out, 0xff, sizeof out);
  assert_int_equal(shale_statistics(db, out, SHALE_TICKER_COUNT + 3), SHALE_OK);
  for (int t = 0; t < SHALE_TICKER_COUNT; t++)
    assert_int_equal(out[t], shale_ticker(db, (enum shale_ticker_id)t));
  for (int t = SHALE_TICKER_COUNT; t < SHALE_TICKER_COUNT + 3; t++) assert_int_equal(out[t], 0);
  assert_int_equal(out[SHALE_TICKER_PUTS], 1);
  memset(out, 0xff, sizeof out);
  assert_int_equal(shale_statistics(db, out, 2), SHALE_OK); /* an older, shorter caller */
  assert_int_equal(out[SHALE_TICKER_PUTS], 1);
  assert_int_equal(out[2], UINT64_MAX);
  assert_int_equal(shale_statistics(db, NULL, 0), SHALE_OK);
  assert_int_equal(shale_statistics(db, NULL, 1), SHALE_INVALID);
  assert_int_equal(shale_statistics(NULL, out, 1), SHALE_INVALID);
  assert_int_equal(shale_ticker(NULL, SHALE_TICKER_PUTS), 0);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_COUNT), 0);
  shale_close(db);
  tu_tempdir_free(dir);
}

static shale_histogram_data hist(shale_db *db, enum shale_histogram_id h) {
  shale_histogram_data d;
  assert_int_equal(shale_histogram(db, h, &d), SHALE_OK);
  return d;
}

/* Without time_operations the call histograms stay empty; flushes and syncs are timed. */
static void test_histograms_off_by_default(void **state) {
  (void)state;
  for (int h = 0; h < SHALE_HIST_COUNT; h++) {
    const char *n = shale_histogram_name((enum shale_histogram_id)h);
    assert_non_null(n);
    assert_int_equal(strncmp(n, "shale.", 6), 0);
  }
  assert_null(shale_histogram_name(SHALE_HIST_COUNT));
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir);
  shale_histogram_data d;
  assert_int_equal(shale_histogram(NULL, SHALE_HIST_GET, &d), SHALE_INVALID);
  assert_int_equal(shale_histogram(db, SHALE_HIST_COUNT, &d), SHALE_INVALID);
  assert_int_equal(d.count, 0);
  assert_int_equal(shale_histogram(db, SHALE_HIST_GET, NULL), SHALE_INVALID);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, SHALE_SYNC), SHALE_OK);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, "a", 1, &v, &vl), SHALE_OK);
  shale_free(v);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(hist(db, SHALE_HIST_GET).count, 0);
  assert_int_equal(hist(db, SHALE_HIST_WRITE).count, 0);
  assert_int_equal(hist(db, SHALE_HIST_WAL_SYNC).count, 1);
  d = hist(db, SHALE_HIST_FLUSH);
  assert_int_equal(d.count, shale_ticker(db, SHALE_TICKER_FLUSHES));
  assert_true(d.count >= 1 && d.max >= d.min && d.sum >= d.max);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* With time_operations every get, write and seek is one value; the summary is ordered. */
static void test_histograms_time_operations(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.time_operations = 1;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[16];
  for (int i = 0; i < 1000; i++) {
    int kl = snprintf(k, sizeof k, "k%05d", i);
    assert_int_equal(shale_put(db, k, (size_t)kl, k, (size_t)kl, 0), SHALE_OK);
  }
  assert_int_equal(shale_delete(db, "k00001", 6, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "k00002", 6, "k00003", 6, 0), SHALE_OK);
  for (int i = 0; i < 500; i++) {
    int kl = snprintf(k, sizeof k, "k%05d", i * 2);
    void *v;
    size_t vl;
    int rc = shale_get(db, NULL, k, (size_t)kl, &v, &vl);
    assert_true(rc == SHALE_OK || rc == SHALE_NOTFOUND);
    if (!rc) shale_free(v);
  }
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  shale_iter_seek_first(it);
  shale_iter_seek_last(it);
  shale_iter_seek(it, "k00500", 6);
  shale_iter_seek_for_prev(it, "k00500", 6);
  assert_true(shale_iter_valid(it));
  shale_iter_free(it);
  shale_histogram_data w = hist(db, SHALE_HIST_WRITE), g = hist(db, SHALE_HIST_GET),
                       s = hist(db, SHALE_HIST_SEEK);
  assert_int_equal(w.count, 1002);
  assert_int_equal(g.count, 500);
  assert_int_equal(s.count, 4);
  shale_histogram_data all[] = {w, g, s};
  for (int i = 0; i < 3; i++) {
    shale_histogram_data d = all[i];
    assert_true(d.min > 0 && d.min <= d.median && d.median <= d.p95 && d.p95 <= d.p99 &&
                d.p99 <= d.p999 && d.p999 <= d.max);
    assert_true(d.average >= d.min && d.average <= d.max);
    assert_true(d.sum >= d.average * (double)d.count * 0.999);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_write_tickers),
      cmocka_unit_test(test_read_tickers),
      cmocka_unit_test(test_read_tickers_many_threads),
      cmocka_unit_test(test_statistics_bulk),
      cmocka_unit_test(test_histograms_off_by_default),
      cmocka_unit_test(test_histograms_time_operations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
