/* test_range_tomb.c — the range-tombstone model (util/range_tomb.c): fragments answer what a scan
 * of every tombstone answers, at any read sequence, in bytewise and in a custom order; snapshot
 * stripes keep what reads at snapshots need; stored layouts are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/range_tomb.h"

#define NKEYS 40
#define MAXT 80

static const shale_comparator reverse = {"test.reverse", tu_cmp_reverse, NULL};

/* Keys "00".."39"; tombstones stored in one buffer so their pointers stay put. */
typedef struct tombs {
  char keys[2 * MAXT][4];
  range_tomb t[MAXT];
  size_t n;
} tombs;

static void key_of(char *k, int x) { snprintf(k, 4, "%02d", x); }

static void random_tombs(const shale_comparator *cmp, tombs *ts, size_t n, uint64_t *s) {
  ts->n = n;
  for (size_t i = 0; i < n; i++) {
    int a = (int)(tu_rand(s) % NKEYS), b = (int)(tu_rand(s) % NKEYS);
    if (a == b) b = (a + 1) % NKEYS;
    key_of(ts->keys[2 * i], a);
    key_of(ts->keys[2 * i + 1], b);
    const uint8_t *x = (const uint8_t *)ts->keys[2 * i], *y = (const uint8_t *)ts->keys[2 * i + 1];
    if (ukey_cmp(cmp, x, 2, y, 2) > 0) {
      const uint8_t *z = x;
      x = y;
      y = z;
    }
    uint64_t seq = 1 + tu_rand(s) % 60, time_us = tu_rand(s) % 3 ? 1000 + tu_rand(s) % 50 : 0;
    ts->t[i] = (range_tomb){x, y, 2, 2, seq, time_us};
  }
}

/* The answer by definition: the newest seq <= read_seq of a tombstone covering key. */
static uint64_t model(const shale_comparator *cmp, const tombs *ts, const char *k, uint64_t rs) {
  uint64_t best = 0;
  for (size_t i = 0; i < ts->n; i++) {
    const range_tomb *t = &ts->t[i];
    if (t->seq <= rs && t->seq > best && ukey_cmp(cmp, t->begin, 2, k, 2) <= 0 &&
        ukey_cmp(cmp, k, 2, t->end, 2) < 0)
      best = t->seq;
  }
  return best;
}

static uint64_t frags_cover(const shale_comparator *cmp, const rt_frag *f, size_t n,
                            const char *k) {
  long i = rt_frags_find(cmp, f, n, k, 2);
  return i >= 0 ? f[i].seq : 0;
}

/* Overlapping tombstones cut at one read sequence, and the list scans, both orders. */
static void test_frags_match_model(void **state) {
  (void)state;
  uint64_t s = 17;
  const shale_comparator *cmps[2] = {NULL, &reverse};
  for (int round = 0; round < 200; round++) {
    const shale_comparator *cmp = cmps[round % 2];
    tombs ts;
    random_tombs(cmp, &ts, 1 + tu_rand(&s) % MAXT, &s);
    uint64_t reads[] = {0, 1, 15, 30, 45, 59, 60, UINT64_MAX};
    for (size_t r = 0; r < sizeof reads / sizeof *reads; r++) {
      rt_frag f[2 * MAXT];
      size_t nf;
      assert_int_equal(rt_frags_build(cmp, ts.t, ts.n, reads[r], f, &nf), SHALE_OK);
      assert_true(nf >= 2 && f[nf - 1].seq == 0);
      for (size_t i = 1; i < nf; i++)
        assert_true(ukey_cmp(cmp, f[i - 1].start, f[i - 1].len, f[i].start, f[i].len) < 0);
      for (int x = 0; x < NKEYS; x++) {
        char k[4];
        key_of(k, x);
        uint64_t want = model(cmp, &ts, k, reads[r]);
        assert_int_equal(frags_cover(cmp, f, nf, k), want);
        const range_tomb *t = rt_list_newest(cmp, ts.t, ts.n, k, 2, reads[r]);
        assert_int_equal(t ? t->seq : 0, want);
        if (t) assert_true(rt_tomb_covers(cmp, t, k, 2));
        uint64_t above = tu_rand(&s) % 61;
        assert_int_equal(rt_list_covers(cmp, ts.t, ts.n, k, 2, above, reads[r]), want > above);
      }
    }
  }
}

/* Coalescing keeps coverage; merging two runs' fragments equals fragmenting both at once. */
static void test_frags_coalesce_and_merge(void **state) {
  (void)state;
  uint64_t s = 5;
  for (int round = 0; round < 200; round++) {
    const shale_comparator *cmp = round % 2 ? &reverse : NULL;
    tombs ts;
    random_tombs(cmp, &ts, 2 + tu_rand(&s) % (MAXT - 2), &s);
    size_t na = 1 + tu_rand(&s) % (ts.n - 1), nb = ts.n - na;
    rt_frag a[2 * MAXT], b[2 * MAXT], all[2 * MAXT], m[4 * MAXT];
    size_t fa, fb, fall;
    assert_int_equal(rt_frags_build(cmp, ts.t, na, UINT64_MAX, a, &fa), SHALE_OK);
    assert_int_equal(rt_frags_build(cmp, ts.t + na, nb, UINT64_MAX, b, &fb), SHALE_OK);
    assert_int_equal(rt_frags_build(cmp, ts.t, ts.n, UINT64_MAX, all, &fall), SHALE_OK);
    fa = rt_frags_coalesce(a, fa);
    fb = rt_frags_coalesce(b, fb);
    size_t nc = rt_frags_coalesce(all, fall);
    size_t nm = rt_frags_merge(cmp, a, fa, b, fb, m);
    assert_int_equal(nm, nc); /* both coalesced: the same fragments */
    for (size_t i = 0; i < nm; i++) assert_true(m[i].seq != (i ? m[i - 1].seq : 0));
    for (int x = 0; x < NKEYS; x++) {
      char k[4];
      key_of(k, x);
      uint64_t want = model(cmp, &ts, k, UINT64_MAX);
      assert_int_equal(frags_cover(cmp, all, nc, k), want);
      assert_int_equal(frags_cover(cmp, m, nm, k), want);
    }
  }
}

/* A rt_set as a reader sees it: one range_tomb per record. */
static size_t stored(const rt_set *set, range_tomb *out) {
  for (size_t i = 0; i < set->nrecs; i++) {
    const rt_key *k = &set->bounds[set->recs[i].piece];
    out[i] =
        (range_tomb){k[0].p, k[1].p, k[0].len, k[1].len, set->recs[i].seq, set->recs[i].time_us};
  }
  return set->nrecs;
}

/* With stripes, reads at each snapshot and above all still find the newest tombstone; without
 * collapse, reads at any sequence do. The stored layout passes rt_pieces_index. */
static void test_set_stripes(void **state) {
  (void)state;
  uint64_t s = 2026;
  for (int round = 0; round < 300; round++) {
    const shale_comparator *cmp = round % 2 ? &reverse : NULL;
    tombs ts;
    random_tombs(cmp, &ts, 1 + tu_rand(&s) % MAXT, &s);
    uint64_t snaps[6];
    size_t ns = tu_rand(&s) % 6;
    for (size_t i = 0; i < ns; i++) snaps[i] = (i ? snaps[i - 1] : 0) + 1 + tu_rand(&s) % 15;
    int collapse = round % 3 != 0;
    rt_set set;
    assert_int_equal(rt_set_build(cmp, ts.t, ts.n, snaps, ns, collapse, &set), SHALE_OK);
    range_tomb *rec = malloc(sizeof *rec * (set.nrecs + 1));
    size_t *pieces = malloc(sizeof *pieces * (set.nrecs + 1)), np;
    assert_non_null(rec);
    assert_non_null(pieces);
    size_t n = stored(&set, rec);
    assert_int_equal(rt_pieces_index(cmp, rec, n, pieces, &np), n);
    if (!ns && collapse) assert_true(n <= 2 * ts.n - 1);
    uint64_t reads[8];
    size_t nr = 0;
    for (size_t i = 0; i < ns; i++) reads[nr++] = snaps[i];
    reads[nr++] = UINT64_MAX;
    if (!collapse) reads[nr++] = tu_rand(&s) % 62;
    for (size_t r = 0; r < nr; r++)
      for (int x = 0; x < NKEYS; x++) {
        char k[4];
        key_of(k, x);
        assert_int_equal(rt_pieces_cover(cmp, rec, n, pieces, np, k, 2, reads[r]),
                         model(cmp, &ts, k, reads[r]));
      }
    free(rec);
    free(pieces);
    rt_set_free(&set);
  }
}

/* One stripe: a piece keeps the newest sequence and the oldest known time over it. */
static void test_set_collapse_by_hand(void **state) {
  (void)state;
  const uint8_t *a = (const uint8_t *)"a", *b = (const uint8_t *)"b", *c = (const uint8_t *)"c",
                *d = (const uint8_t *)"d";
  range_tomb t[2] = {{a, c, 1, 1, 5, 100}, {b, d, 1, 1, 7, 50}};
  rt_set set;
  assert_int_equal(rt_set_build(NULL, t, 2, NULL, 0, 1, &set), SHALE_OK);
  assert_int_equal(set.nbounds, 4);
  assert_int_equal(set.nrecs, 3);
  uint64_t want[3][3] = {{0, 5, 100}, {1, 7, 50}, {2, 7, 50}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(set.recs[i].piece, want[i][0]);
    assert_int_equal(set.recs[i].seq, want[i][1]);
    assert_int_equal(set.recs[i].time_us, want[i][2]);
  }
  rt_set_free(&set);
  /* a snapshot at 6 splits the stripes: [b, c) keeps 7 and 5 */
  uint64_t snap = 6;
  assert_int_equal(rt_set_build(NULL, t, 2, &snap, 1, 1, &set), SHALE_OK);
  assert_int_equal(set.nrecs, 4);
  assert_true(set.recs[1].piece == 1 && set.recs[1].seq == 7 && set.recs[2].piece == 1 &&
              set.recs[2].seq == 5);
  rt_set_free(&set);
  assert_int_equal(rt_set_build(NULL, t, 0, NULL, 0, 1, &set), SHALE_OK);
  assert_true(set.nrecs == 0 && set.bounds == NULL);
}

/* Layouts an rt_set never stores are pointed at, record by record. */
static void test_pieces_index_rejects(void **state) {
  (void)state;
  const uint8_t *a = (const uint8_t *)"a", *b = (const uint8_t *)"b", *c = (const uint8_t *)"c";
  size_t pieces[3], np;
  range_tomb ok[3] = {{a, b, 1, 1, 9, 0}, {a, b, 1, 1, 4, 0}, {b, c, 1, 1, 2, 0}};
  assert_int_equal(rt_pieces_index(NULL, ok, 3, pieces, &np), 3);
  assert_true(np == 2 && pieces[0] == 0 && pieces[1] == 2);
  range_tomb overlap[2] = {{a, c, 1, 1, 9, 0}, {b, c, 1, 1, 4, 0}};
  assert_int_equal(rt_pieces_index(NULL, overlap, 2, pieces, &np), 1);
  range_tomb rising[2] = {{a, b, 1, 1, 4, 0}, {a, b, 1, 1, 4, 0}};
  assert_int_equal(rt_pieces_index(NULL, rising, 2, pieces, &np), 1);
  /* in reverse order "b" then "a" is ascending: [c, b) then [b, a) chains */
  range_tomb rev[2] = {{c, b, 1, 1, 3, 0}, {b, a, 1, 1, 8, 0}};
  assert_int_equal(rt_pieces_index(&reverse, rev, 2, pieces, &np), 2);
  assert_int_equal(rt_pieces_cover(&reverse, rev, 2, pieces, np, "a", 1, UINT64_MAX), 0);
  assert_int_equal(rt_pieces_cover(&reverse, rev, 2, pieces, np, "b", 1, UINT64_MAX), 8);
  assert_int_equal(rt_pieces_cover(&reverse, rev, 2, pieces, np, "c", 1, UINT64_MAX), 3);
  assert_int_equal(rt_pieces_cover(&reverse, rev, 2, pieces, np, "c", 1, 2), 0);
}

/* A sorted list stops at the first tombstone beginning after the key. */
static void test_sorted_scan_stops(void **state) {
  (void)state;
  const uint8_t *a = (const uint8_t *)"a", *c = (const uint8_t *)"c", *e = (const uint8_t *)"e";
  range_tomb t[2] = {{a, e, 1, 1, 3, 0}, {c, e, 1, 1, 6, 0}};
  assert_int_equal(rt_sorted_newest(NULL, t, 2, "d", 1, 10)->seq, 6);
  assert_int_equal(rt_sorted_newest(NULL, t, 2, "b", 1, 10)->seq, 3);
  assert_int_equal(rt_sorted_newest(NULL, t, 2, "d", 1, 5)->seq, 3);
  assert_null(rt_sorted_newest(NULL, t, 2, "e", 1, 10));
  assert_null(rt_list_newest(NULL, t, 2, "d", 1, 2));
}

/* Chained pieces cover a range together; a gap, an end bound, or a sequence out of the window
 * breaks the chain. */
static void test_list_spans(void **state) {
  (void)state;
  const uint8_t *a = (const uint8_t *)"a", *c = (const uint8_t *)"c", *e = (const uint8_t *)"e",
                *f = (const uint8_t *)"f";
  range_tomb t[3] = {{c, e, 1, 1, 8, 0}, {a, c, 1, 1, 7, 0}, {e, f, 1, 1, 3, 0}};
  assert_true(rt_list_spans(NULL, t, 2, 5, 10, "b", 1, "d", 1));
  assert_true(rt_list_spans(NULL, t, 3, 2, 10, "a", 1, "ez", 2));
  assert_false(rt_list_spans(NULL, t, 3, 2, 10, "a", 1, "f", 1));  /* f itself is not deleted */
  assert_false(rt_list_spans(NULL, t, 3, 5, 10, "a", 1, "ez", 2)); /* [e, f) is too old */
  assert_false(rt_list_spans(NULL, t, 2, 5, 7, "b", 1, "d", 1));   /* [c, e) is too new */
  assert_false(rt_list_spans(NULL, t + 2, 1, 0, 10, "b", 1, "d", 1));
  assert_false(rt_list_spans(NULL, t, 0, 0, 10, "b", 1, "d", 1));
  /* in reverse order [e, c) then [c, a) chain from e down to a */
  range_tomb r[2] = {{c, a, 1, 1, 4, 0}, {e, c, 1, 1, 4, 0}};
  assert_true(rt_list_spans(&reverse, r, 2, 0, 10, "d", 1, "b", 1));
  assert_false(rt_list_spans(&reverse, r, 2, 0, 10, "d", 1, "a", 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frags_match_model),    cmocka_unit_test(test_frags_coalesce_and_merge),
      cmocka_unit_test(test_set_stripes),          cmocka_unit_test(test_set_collapse_by_hand),
      cmocka_unit_test(test_pieces_index_rejects), cmocka_unit_test(test_sorted_scan_stops),
      cmocka_unit_test(test_list_spans),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
