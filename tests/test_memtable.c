/* test_memtable.c — the memtable's contract: tombstones shadow older puts, reads see only
 * sequences at or below theirs, tombstone statistics are exact, range
 * tombstones live apart (and are listed in the order added), large values fit, and gets race
 * one writer safely. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable/memtable.h"
#include "shale.h"
#include "testutil.h"
#include "util/ikey.h"

static memtable *mt_new(void) {
  memtable *m = NULL;
  assert_int_equal(memtable_new(&m), SHALE_OK);
  assert_non_null(m);
  return m;
}

static void put(memtable *m, uint64_t seq, const char *k, const char *v) {
  assert_int_equal(memtable_add(m, seq, KIND_PUT, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

static void del(memtable *m, uint64_t seq, const char *k, uint64_t now) {
  assert_int_equal(memtable_add(m, seq, KIND_DEL, k, strlen(k), NULL, 0, now), SHALE_OK);
}

/* Returns the kind found (or -1) and checks the value and sequence when given. */
static int get(memtable *m, const char *k, uint64_t seq, const char *want, uint64_t want_seq) {
  unsigned kind;
  const void *v;
  size_t vlen;
  uint64_t fseq;
  if (!memtable_get(m, k, strlen(k), seq, &kind, &v, &vlen, &fseq)) return -1;
  if (want) {
    assert_int_equal(vlen, strlen(want));
    assert_memory_equal(v, want, vlen);
  }
  if (want_seq) assert_int_equal(fseq, want_seq);
  return (int)kind;
}

static void test_put_get_delete(void **state) {
  (void)state;
  memtable *m = mt_new();
  assert_int_equal(get(m, "a", SEQ_MAX, NULL, 0), -1);
  put(m, 1, "a", "one");
  put(m, 2, "ab", "two");
  put(m, 3, "", "empty key");
  assert_int_equal(get(m, "a", SEQ_MAX, "one", 1), KIND_PUT);
  assert_int_equal(get(m, "ab", UINT64_MAX, "two", 2), KIND_PUT);
  assert_int_equal(get(m, "", 10, "empty key", 3), KIND_PUT);
  assert_int_equal(get(m, "b", 10, NULL, 0), -1);
  assert_int_equal(get(m, "aa", 10, NULL, 0), -1);
  del(m, 4, "a", 1234);
  assert_int_equal(get(m, "a", 10, "", 4), KIND_DEL); /* the tombstone shadows the put */
  assert_int_equal(get(m, "a", 3, "one", 1), KIND_PUT);
  put(m, 5, "a", "again");
  assert_int_equal(get(m, "a", 5, "again", 5), KIND_PUT);
  assert_int_equal(get(m, "ab", 10, "two", 2), KIND_PUT); /* neighbours untouched */
  assert_int_equal(memtable_count(m), 5);
  memtable_unref(m);
}

static void test_snapshot_visibility(void **state) {
  (void)state;
  memtable *m = mt_new();
  char v[16];
  for (uint64_t s = 2; s <= 20; s += 2) {
    snprintf(v, sizeof v, "v%llu", (unsigned long long)s);
    if (s % 6 == 0)
      del(m, s, "k", s);
    else
      put(m, s, "k", v);
  }
  assert_int_equal(get(m, "k", 1, NULL, 0), -1); /* before the first write */
  for (uint64_t s = 2; s <= 21; s++) {
    uint64_t want = s & ~(uint64_t)1; /* newest write at or below s */
    snprintf(v, sizeof v, "v%llu", (unsigned long long)want);
    int kind = get(m, "k", s, want % 6 ? v : "", want);
    assert_int_equal(kind, want % 6 ? KIND_PUT : KIND_DEL);
  }
  memtable_unref(m);
}

static void test_stats(void **state) {
  (void)state;
  memtable *m = mt_new();
  memtable_stats st;
  memtable_get_stats(m, &st);
  memtable_stats zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&st, &zero, sizeof st);
  put(m, 10, "a", "1");
  put(m, 11, "b", "22");
  put(m, 12, "a", "3");
  del(m, 13, "c", 5000);
  del(m, 14, "a", 2000);
  assert_int_equal(memtable_add(m, 15, KIND_RANGE_DEL, "d", 1, "f", 1, 9000), SHALE_OK);
  memtable_get_stats(m, &st);
  assert_int_equal(st.entries, 6);
  assert_int_equal(st.puts, 3);
  assert_int_equal(st.tombstones, 2);
  assert_int_equal(st.range_tombstones, 1);
  assert_int_equal(st.min_seq, 10);
  assert_int_equal(st.max_seq, 15);
  assert_int_equal(st.min_tomb_seq, 13);
  assert_int_equal(st.max_tomb_seq, 15);
  assert_int_equal(st.oldest_tomb_us, 2000);
  assert_int_equal(st.newest_tomb_us, 9000);
  assert_int_equal(st.key_bytes, 6);
  assert_int_equal(st.value_bytes, 5);
  /* per entry, in internal-key order: a@14 a@12 a@10 b@11 c@13 */
  static const struct {
    const char *k;
    uint64_t seq;
    uint64_t us;
  } want[] = {{"a", 14, 2000}, {"a", 12, 0}, {"a", 10, 0}, {"b", 11, 0}, {"c", 13, 5000}};
  memtable_iter it;
  memtable_iter_init(&it, m);
  size_t i = 0;
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it), i++) {
    size_t iklen;
    const uint8_t *ik = memtable_iter_key(&it, &iklen);
    assert_true(i < 5);
    assert_int_equal(iklen, 1 + IKEY_TRAILER);
    assert_int_equal(ik[0], want[i].k[0]);
    assert_int_equal(ikey_seq(get_fixed64(ik + 1)), want[i].seq);
    assert_int_equal(memtable_iter_time_us(&it), want[i].us);
  }
  assert_int_equal(i, 5);
  memtable_unref(m);
}

static void test_range_tombstones_apart(void **state) {
  (void)state;
  memtable *m = mt_new();
  put(m, 1, "b", "x");
  assert_int_equal(memtable_add(m, 2, KIND_RANGE_DEL, "a", 1, "m", 1, 700), SHALE_OK);
  assert_int_equal(memtable_add(m, 3, KIND_RANGE_DEL, "k", 1, "zz", 2, 800), SHALE_OK);
  assert_int_equal(memtable_add(m, 4, KIND_RANGE_DEL, "a", 1, "c", 1, 900), SHALE_OK);
  /* point reads never see range tombstones: covering them is the engine's job */
  assert_int_equal(get(m, "b", 10, "x", 1), KIND_PUT);
  assert_int_equal(get(m, "a", 10, NULL, 0), -1);
  memtable_iter it;
  memtable_iter_init(&it, m);
  memtable_iter_seek_first(&it);
  assert_true(memtable_iter_valid(&it));
  memtable_iter_next(&it);
  assert_false(memtable_iter_valid(&it)); /* only "b" among point entries */
  static const struct {
    const char *b, *e;
    uint64_t seq, us;
  } want[] = {{"a", "c", 4, 900}, {"a", "m", 2, 700}, {"k", "zz", 3, 800}};
  memtable_range_iter_init(&it, m);
  size_t i = 0;
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it), i++) {
    size_t iklen, vlen;
    const uint8_t *ik = memtable_iter_key(&it, &iklen);
    const void *v = memtable_iter_value(&it, &vlen);
    assert_int_equal(iklen, 1 + IKEY_TRAILER);
    assert_int_equal(ik[0], want[i].b[0]);
    assert_true(get_fixed64(ik + 1) == ikey_pack(want[i].seq, KIND_RANGE_DEL));
    assert_int_equal(vlen, strlen(want[i].e));
    assert_memory_equal(v, want[i].e, vlen);
    assert_int_equal(memtable_iter_time_us(&it), want[i].us);
  }
  assert_int_equal(i, 3);
  uint8_t seek[1 + IKEY_TRAILER] = {'a'};
  put_fixed64(seek + 1, ikey_pack(3, KIND_SEEK));
  memtable_iter_seek(&it, seek, sizeof seek);
  assert_true(memtable_iter_valid(&it));
  size_t iklen;
  assert_true(get_fixed64(memtable_iter_key(&it, &iklen) + 1) == ikey_pack(2, KIND_RANGE_DEL));
  memtable_iter_prev(&it);
  assert_true(get_fixed64(memtable_iter_key(&it, &iklen) + 1) == ikey_pack(4, KIND_RANGE_DEL));
  memtable_iter_prev(&it);
  assert_false(memtable_iter_valid(&it));
  memtable_unref(m);
}

static void test_iterate_both_ways(void **state) {
  (void)state;
  enum { N = 2000 };
  memtable *m = mt_new();
  uint64_t rng = 7;
  char k[32];
  for (uint64_t i = 1; i <= N; i++) {
    snprintf(k, sizeof k, "key%05llu", (unsigned long long)(tu_rand(&rng) % 500));
    put(m, i, k, k);
  }
  memtable_iter it;
  memtable_iter_init(&it, m);
  size_t n = 0, iklen, plen = 0;
  uint8_t prev[64];
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it), n++) {
    const uint8_t *ik = memtable_iter_key(&it, &iklen);
    if (n) assert_true(ikey_compare(prev, plen, ik, iklen) < 0);
    memcpy(prev, ik, iklen);
    plen = iklen;
  }
  assert_int_equal(n, N);
  for (memtable_iter_seek_last(&it); memtable_iter_valid(&it); memtable_iter_prev(&it), n--) {
    const uint8_t *ik = memtable_iter_key(&it, &iklen);
    if (n < N) assert_true(ikey_compare(ik, iklen, prev, plen) < 0);
    memcpy(prev, ik, iklen);
    plen = iklen;
  }
  assert_int_equal(n, 0);
  memtable_unref(m);
}

static void test_large_values_and_limits(void **state) {
  (void)state;
  memtable *m = mt_new();
  size_t big = (size_t)1 << 20;
  uint8_t *v = malloc(big);
  for (int r = 0; r < 4; r++) {
    memset(v, 'a' + r, big);
    char k[8];
    snprintf(k, sizeof k, "big%d", r);
    assert_int_equal(memtable_add(m, (uint64_t)r + 1, KIND_PUT, k, strlen(k), v, big, 0), SHALE_OK);
    put(m, 100 + (uint64_t)r, k + 1, "small"); /* small entries keep using the shared block */
  }
  for (int r = 0; r < 4; r++) {
    char k[8];
    snprintf(k, sizeof k, "big%d", r);
    unsigned kind;
    const void *got;
    size_t vlen;
    uint64_t seq;
    assert_int_equal(memtable_get(m, k, strlen(k), SEQ_MAX, &kind, &got, &vlen, &seq), 1);
    assert_int_equal(vlen, big);
    memset(v, 'a' + r, big);
    assert_memory_equal(got, v, big);
  }
  assert_true(memtable_bytes(m) >= 4 * big);
  assert_true(memtable_bytes(m) < 6 * big);
  /* failures return codes, never abort, and leave the memtable usable */
  assert_int_equal(memtable_add(m, 9, KIND_PUT, "x", 1, v, SIZE_MAX - 4, 0), SHALE_NOMEM);
  assert_int_equal(memtable_add(m, 9, KIND_SEEK, "x", 1, NULL, 0, 0), SHALE_INVALID);
  put(m, 9, "x", "fine");
  assert_int_equal(get(m, "x", 9, "fine", 9), KIND_PUT);
  free(v);
  memtable_unref(m);
}

static void test_chain_and_refs(void **state) {
  (void)state;
  memtable *old = mt_new(), *m = mt_new();
  assert_null(memtable_next(m));
  assert_false(memtable_sealed(m));
  memtable_seal(old, NULL);
  memtable_seal(m, old);
  assert_true(memtable_sealed(m));
  assert_ptr_equal(memtable_next(m), old);
  assert_null(memtable_next(old));
  memtable_set_log_number(m, 42);
  assert_int_equal(memtable_log_number(m), 42);
  memtable_ref(m); /* two holders: the first unref must not free it */
  memtable_unref(m);
  put(m, 1, "still", "alive");
  memtable_unref(m);
  memtable_unref(old);
}

/* Range tombstones are also listed newest first, in the order added; the range-tombstone
 * index waits for a get to ask for it (memtable/mem_rdel.c). */
static void test_range_list(void **state) {
  (void)state;
  memtable *m = mt_new();
  assert_null(memtable_range_newest(m));
  static const struct {
    const char *b, *e;
    uint64_t seq;
  } add[] = {{"m", "q", 5}, {"a", "c", 6}, {"x", "zz", 7}, {"a", "b", 9}};
  for (size_t i = 0; i < 4; i++) {
    put(m, add[i].seq - 1 + 100, add[i].b, "point entries stay off the list");
    assert_int_equal(memtable_add(m, add[i].seq, KIND_RANGE_DEL, add[i].b, strlen(add[i].b),
                                  add[i].e, strlen(add[i].e), 1000 + i),
                     SHALE_OK);
  }
  size_t i = 4;
  for (const sl_node *t = memtable_range_newest(m); t; t = memtable_range_older(t)) {
    assert_true(i > 0);
    i--;
    const uint8_t *b;
    const void *e;
    size_t bl, el;
    uint64_t seq;
    memtable_range_tomb(t, &b, &bl, &e, &el, &seq);
    assert_int_equal(bl, strlen(add[i].b));
    assert_memory_equal(b, add[i].b, bl);
    assert_int_equal(el, strlen(add[i].e));
    assert_memory_equal(e, add[i].e, el);
    assert_int_equal(seq, add[i].seq);
  }
  assert_int_equal(i, 0);
  assert_int_equal(memtable_range_count(m), 4);

  assert_null(memtable_rdel_get(m));
  memtable_unref(m);
}

/* One writer, one reader doing gets at the last published sequence: every key published
 * before the read must be found with its value. Meant for TSan as much as for the result. */
enum { RN = 20000 };
typedef struct get_race {
  memtable *m;
  _Atomic uint64_t published;
  int ok;
} get_race;

static void race_key(uint64_t i, char *k) {
  snprintf(k, 16, "r%08llx", (unsigned long long)(i * 2654435761u % RN));
}

static void *get_reader(void *p) {
  get_race *r = p;
  uint64_t rng = 99;
  r->ok = 1;
  for (;;) {
    uint64_t pub = atomic_load_explicit(&r->published, memory_order_acquire);
    for (int j = 0; j < 64 && pub; j++) {
      char k[16];
      uint64_t i = tu_rand(&rng) % pub;
      race_key(i, k);
      unsigned kind;
      const void *v;
      size_t vlen;
      uint64_t seq; /* no cmocka asserts off the main thread: they longjmp */
      if (!memtable_get(r->m, k, strlen(k), pub, &kind, &v, &vlen, &seq) || kind != KIND_PUT ||
          seq != i + 1 || vlen != strlen(k) || memcmp(v, k, vlen))
        r->ok = 0;
    }
    memtable_stats st;
    memtable_get_stats(r->m, &st);
    if (st.entries < pub) r->ok = 0;
    if (pub == RN || !r->ok) return NULL;
  }
}

/* A sized memtable answers gets from its hash index, a plain one by skiplist search: both
 * must agree for every key and sequence, also when entries arrive out of sequence order. */
static void test_hash_index_agrees(void **state) {
  (void)state;
  memtable *plain = mt_new(), *hashed = NULL;
  assert_int_equal(memtable_new_sized(&hashed, 8192), SHALE_OK);
  uint64_t rng = 7;
  enum { N = 6000, KEYS = 300 };
  for (uint64_t i = 0; i < N; i++) {
    char k[16], v[24];
    snprintf(k, sizeof k, "h%llu", (unsigned long long)(tu_rand(&rng) % KEYS));
    uint64_t seq = i % 2 ? 2 * N - i : i + 1; /* distinct, not monotonic */
    snprintf(v, sizeof v, "v%llu", (unsigned long long)seq);
    memtable *both[] = {plain, hashed};
    for (int j = 0; j < 2; j++) {
      if (tu_rand(&rng) % 5 == 0 && j == 0) {
        del(plain, seq, k, 1);
        del(hashed, seq, k, 1);
        break;
      }
      put(both[j], seq, k, v);
    }
  }
  for (uint64_t probe = 0; probe < 20000; probe++) {
    char k[16];
    snprintf(k, sizeof k, "h%llu", (unsigned long long)(tu_rand(&rng) % (KEYS + 20)));
    uint64_t seq = tu_rand(&rng) % (2 * N + 2);
    unsigned k1 = 0, k2 = 0;
    const void *v1 = NULL, *v2 = NULL;
    size_t l1 = 0, l2 = 0;
    uint64_t s1 = 0, s2 = 0;
    int f1 = memtable_get(plain, k, strlen(k), seq, &k1, &v1, &l1, &s1);
    int f2 = memtable_get(hashed, k, strlen(k), seq, &k2, &v2, &l2, &s2);
    assert_int_equal(f1, f2);
    if (!f1) continue;
    assert_int_equal(k1, k2);
    assert_int_equal(s1, s2);
    assert_int_equal(l1, l2);
    assert_memory_equal(v1, v2, l1);
  }
  memtable_unref(plain);
  memtable_unref(hashed);
}

static void concurrent_gets(memtable *m) {
  get_race r = {.m = m};
  atomic_init(&r.published, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, get_reader, &r), 0);
  for (uint64_t i = 0; i < RN; i++) {
    char k[16];
    race_key(i, k);
    put(r.m, i + 1, k, k);
    atomic_store_explicit(&r.published, i + 1, memory_order_release);
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_true(r.ok);
  memtable_unref(r.m);
}

static void test_concurrent_gets(void **state) {
  (void)state;
  concurrent_gets(mt_new());
  memtable *m = NULL; /* and through the hash index */
  assert_int_equal(memtable_new_sized(&m, 8192), SHALE_OK);
  concurrent_gets(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_delete),
      cmocka_unit_test(test_snapshot_visibility),
      cmocka_unit_test(test_stats),
      cmocka_unit_test(test_range_tombstones_apart),
      cmocka_unit_test(test_iterate_both_ways),
      cmocka_unit_test(test_large_values_and_limits),
      cmocka_unit_test(test_chain_and_refs),
      cmocka_unit_test(test_concurrent_gets),
      cmocka_unit_test(test_range_list),
      cmocka_unit_test(test_hash_index_agrees),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
