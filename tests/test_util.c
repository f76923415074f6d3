/* test_util.c — encodings, internal-key order, the growable buffer, the checksum and the
 * latency histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/buf.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/histogram.h"
#include "util/ikey.h"

static void test_varint_round_trip(void **state) {
  (void)state;
  uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    uint8_t b[10];
    size_t n = put_varint64(b, vals[i]);
    assert_int_equal(n, varint_length(vals[i]));
    uint64_t v;
    assert_ptr_equal(get_varint64(b, b + n, &v), b + n);
    assert_true(v == vals[i]);
    /* every truncation is rejected, never read past the limit */
    for (size_t cut = 0; cut < n; cut++) assert_null(get_varint64(b, b + cut, &v));
  }
}

static void test_fixed_round_trip(void **state) {
  (void)state;
  uint8_t b[8];
  put_fixed64(b, 0x0102030405060708ull);
  assert_int_equal(b[0], 8);
  assert_true(get_fixed64(b) == 0x0102030405060708ull);
  put_fixed32(b, 0xdeadbeef);
  assert_true(get_fixed32(b) == 0xdeadbeef);
}

static void make_ikey(uint8_t *out, const char *k, uint64_t seq, unsigned kind) {
  size_t n = strlen(k);
  memcpy(out, k, n);
  put_fixed64(out + n, ikey_pack(seq, kind));
}

static void test_ikey_order(void **state) {
  (void)state;
  uint8_t a[16], b[16];
  make_ikey(a, "ab", 5, KIND_PUT);
  make_ikey(b, "ab", 9, KIND_PUT);
  assert_true(ikey_compare(a, 10, b, 10) > 0); /* newer first */
  make_ikey(b, "abc", 1, KIND_PUT);
  assert_true(ikey_compare(a, 10, b, 11) < 0); /* shorter user key first */
  make_ikey(b, "b", 100, KIND_DEL);
  assert_true(ikey_compare(a, 10, b, 9) < 0);
  make_ikey(b, "ab", 5, KIND_SEEK);
  assert_true(ikey_compare(b, 10, a, 10) < 0); /* seek key precedes same-seq entries */
}

static void test_buf_grows(void **state) {
  (void)state;
  buf b;
  buf_init(&b);
  for (int i = 0; i < 10000; i++) buf_append_varint(&b, (uint64_t)i);
  assert_true(buf_ok(&b));
  const uint8_t *p = b.data, *end = b.data + b.len;
  for (uint64_t i = 0; i < 10000; i++) {
    uint64_t v;
    p = get_varint64(p, end, &v);
    assert_non_null(p);
    assert_true(v == i);
  }
  buf_free(&b);
}

/* The block checksum may take a wider vector path than checksum32; the value on disk must
 * not depend on which one ran, at any length or alignment. */
static void test_checksum_block_matches(void **state) {
  (void)state;
  static uint8_t data[20000 + 64];
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)((x = x * 6364136223846793005ull + 1) >> 56);
  for (size_t len = 0; len <= 20000; len += len < 300 ? 1 : 997)
    for (size_t off = 0; off < 64; off += 13)
      assert_int_equal(checksum32_block(data + off, len), checksum32(data + off, len));
}

/* 1..10000 once each: the percentiles land within a bucket's width (12.5%) of the exact
 * ones, in order, and count, sum, min and max are exact. */
static void test_histogram_percentiles(void **state) {
  (void)state;
  static histogram h;
  histogram_init(&h);
  for (uint64_t v = 10000; v >= 1; v--) histogram_add(&h, v);
  histogram_summary s;
  histogram_summarize(&h, &s);
  assert_int_equal(s.count, 10000);
  assert_int_equal(s.sum, 10000ull * 10001 / 2);
  assert_int_equal(s.min, 1);
  assert_int_equal(s.max, 10000);
  double exact[] = {5000, 9500, 9900, 9990}, got[] = {s.median, s.p95, s.p99, s.p999};
  for (int i = 0; i < 4; i++) {
    if (got[i] < exact[i] * 0.875 || got[i] > exact[i] * 1.125)
      fail_msg("percentile %d: %f for %f", i, got[i], exact[i]);
    if (i) assert_true(got[i] >= got[i - 1]);
  }
  assert_true(s.average > 5000 && s.average < 5001);
}

/* Empty, one value, 0 and the largest value: nothing overflows or leaves [min, max]. */
static void test_histogram_extremes(void **state) {
  (void)state;
  static histogram h;
  histogram_init(&h);
  histogram_summary s;
  histogram_summarize(&h, &s);
  assert_int_equal(s.count, 0);
  assert_true(s.median == 0 && s.max == 0);
  histogram_add(&h, 7);
  histogram_summarize(&h, &s);
  assert_true(s.median == 7 && s.p999 == 7 && s.min == 7);
  histogram_add(&h, 0);
  histogram_add(&h, UINT64_MAX);
  histogram_summarize(&h, &s);
  assert_int_equal(s.count, 3);
  assert_int_equal(s.min, 0);
  assert_int_equal(s.max, UINT64_MAX);
  assert_true(s.p999 <= (double)UINT64_MAX && s.median >= 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_round_trip),
      cmocka_unit_test(test_fixed_round_trip),
      cmocka_unit_test(test_ikey_order),
      cmocka_unit_test(test_buf_grows),
      cmocka_unit_test(test_checksum_block_matches),
      cmocka_unit_test(test_histogram_percentiles),
      cmocka_unit_test(test_histogram_extremes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
