/* test_dead_spans.c — the span set and the put log on their own (engine/dead_spans.h), driven
 * as the write path and the iterators drive them: a reader behind the writers keeps its span
 * with the logged puts cut out, and a log no reader needs any more stops, so writers stop
 * paying for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/dead_spans.h"

static span_bound key(const char *k) { return (span_bound){(const uint8_t *)k, strlen(k), 0}; }

/* One write group of a single put, as engine/write.c does it. */
static void put(dead_spans *ds, const char *k, uint64_t seq) {
  dead_spans_allocated(ds, seq);
  if (!dead_spans_active(ds)) return;
  dead_spans_cut_begin(ds);
  assert_int_equal(dead_spans_cut(ds, k, strlen(k), seq), 0);
  dead_spans_cut_end(ds, seq);
}

static int dead_at(dead_spans *ds, const char *k, uint64_t seq) {
  span_set *s = dead_spans_acquire(ds);
  int dead = s && span_set_find(s, k, strlen(k), seq) != NULL;
  span_set_release(s);
  return dead;
}

static void test_reader_behind_writers_keeps_span(void **state) {
  (void)state;
  dead_spans ds;
  assert_int_equal(dead_spans_init(&ds, 100), 0);
  /* a reader at 100 finishes its walk after a put at 101: refused, and the log starts */
  put(&ds, "m", 101);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("z"), 50, 10, 100), 0);
  assert_true(atomic_load(&ds.logging));
  /* the next reader behind a logged put keeps its span, without the put's key */
  put(&ds, "q", 102);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("z"), 50, 10, 101), 1);
  assert_true(dead_at(&ds, "c", 102));
  assert_false(dead_at(&ds, "q", 102));
  assert_false(dead_at(&ds, "c", 49)); /* older than the deletes: no span */
  dead_spans_destroy(&ds);
}

static void test_idle_log_stops(void **state) {
  (void)state;
  dead_spans ds;
  assert_int_equal(dead_spans_init(&ds, 10), 0);
  put(&ds, "x", 11);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("b"), 1, 1, 10), 0);
  assert_true(atomic_load(&ds.logging));
  assert_true(dead_spans_active(&ds));
  uint64_t seq = 11;
  char k[16];
  for (int i = 0; i < 1024 * 20 && atomic_load(&ds.logging); i++) { /* nobody reads behind */
    snprintf(k, sizeof k, "k%06d", i);
    put(&ds, k, ++seq);
  }
  assert_false(atomic_load(&ds.logging));
  assert_false(dead_spans_active(&ds)); /* no spans, no log: writers skip the lock */
  /* a reader behind the writers starts it again, and is refused until the log covers it */
  uint64_t behind = seq;
  put(&ds, "y", ++seq);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("c"), 1, 1, behind), 0);
  assert_true(atomic_load(&ds.logging));
  put(&ds, "b", ++seq);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("c"), 1, 1, seq - 1), 1);
  assert_false(dead_at(&ds, "b", seq));
  assert_true(dead_at(&ds, "a", seq));
  dead_spans_destroy(&ds);
}

/* A log that readers keep needing never stops. */
static void test_needed_log_stays(void **state) {
  (void)state;
  dead_spans ds;
  assert_int_equal(dead_spans_init(&ds, 10), 0);
  put(&ds, "x", 11);
  assert_int_equal(dead_spans_add(&ds, key("a"), key("b"), 1, 1, 10), 0);
  uint64_t seq = 11;
  char k[16];
  for (int i = 0; i < 1024 * 40; i++) {
    snprintf(k, sizeof k, "k%06d", i);
    put(&ds, k, ++seq);
    if (i % 512 == 0) /* a reader one write behind */
      assert_int_equal(dead_spans_add(&ds, key("a"), key("b"), 1, 1, seq - 1), 1);
  }
  assert_true(atomic_load(&ds.logging));
  dead_spans_destroy(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_behind_writers_keeps_span),
      cmocka_unit_test(test_idle_log_stops),
      cmocka_unit_test(test_needed_log_stays),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
