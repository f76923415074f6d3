/* test_comparator.c — shale_options.comparator: a DB in reverse-bytewise and in numeric
 * (8-byte little-endian uint64) order, checked against a model through writes, range
 * deletes, batches, flushes, compactions, reopens, snapshots and iterators in both
 * directions; the recorded name refusing another order (and bytewise) at open and ingest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

/* ---- the two orders ---- */

static uint64_t key_u64(const void *k, size_t len) {
  uint8_t b[8] = {0};
  memcpy(b, k, len < 8 ? len : 8);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

/* Numbers first, then the length breaks ties, so only byte-equal keys compare equal. */
static int numeric_compare(void *arg, const void *a, size_t alen, const void *b, size_t blen) {
  int *calls = arg;
  if (calls) __atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
  uint64_t x = key_u64(a, alen), y = key_u64(b, blen);
  if (x != y) return x < y ? -1 : 1;
  return alen < blen ? -1 : alen > blen;
}

static int numeric_calls;
static const shale_comparator reverse_cmp = {"test.Reverse", tu_cmp_reverse, NULL};
static const shale_comparator numeric_cmp = {"test.U64LE", numeric_compare, &numeric_calls};

static void encode(uint64_t v, uint8_t out[8]) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

/* Walks db forward, checking its u64 keys rise in number order; returns how many, the last
 * in *last. */
static uint64_t count_ascending_u64(shale_db *db, uint64_t *last) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  uint64_t n = 0, prev = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it), n++) {
    size_t kl;
    uint64_t k = key_u64(shale_iter_key(it, &kl), kl);
    if (n) assert_true(k > prev);
    prev = k;
  }
  shale_iter_free(it);
  *last = prev;
  return n;
}

/* ---- fixture ---- */

typedef struct fixture {
  char *dir;
  shale_options o;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  tu_options_init(&f->o);
  f->o.write_buffer_size = 64 << 10; /* many small tables */
  f->o.level0_compaction_trigger = 2;
  f->o.target_file_size = 64 << 10;
  f->o.block_size = 512;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  tu_tempdir_free(f->dir);
  free(f);
  return 0;
}

static shale_db *open_with(fixture *f, const shale_comparator *cmp) {
  f->o.comparator = cmp;
  shale_db *db = NULL;
  int rc = shale_open(f->dir, &f->o, &db);
  if (rc) fail_msg("open: %s", shale_errmsg(NULL));
  return db;
}

/* ---- the model: keys 0..NKEYS-1 as 8-byte little-endian strings ---- */

#define NKEYS 600

typedef struct model {
  const shale_comparator *cmp;
  int live[NKEYS];
  uint32_t val[NKEYS];
  int order[NKEYS]; /* key numbers sorted by cmp */
} model;

static const shale_comparator *sort_cmp;

static int by_cmp(const void *pa, const void *pb) {
  uint8_t a[8], b[8];
  encode((uint64_t) * (const int *)pa, a);
  encode((uint64_t) * (const int *)pb, b);
  return sort_cmp->compare(sort_cmp->arg, a, 8, b, 8);
}

static void model_init(model *m, const shale_comparator *cmp) {
  memset(m, 0, sizeof *m);
  m->cmp = cmp;
  for (int i = 0; i < NKEYS; i++) m->order[i] = i;
  sort_cmp = cmp;
  qsort(m->order, NKEYS, sizeof m->order[0], by_cmp);
}

static int cmp_keys(const model *m, int a, int b) {
  uint8_t x[8], y[8];
  encode((uint64_t)a, x);
  encode((uint64_t)b, y);
  return m->cmp->compare(m->cmp->arg, x, 8, y, 8);
}

static void make_value(uint32_t v, char out[40]) {
  snprintf(out, 40, "value-%08x-padding-padding", v);
}

static void do_put(shale_db *db, model *m, int k, uint32_t v) {
  uint8_t key[8];
  char val[40];
  encode((uint64_t)k, key);
  make_value(v, val);
  assert_int_equal(shale_put(db, key, 8, val, strlen(val), 0), SHALE_OK);
  m->live[k] = 1;
  m->val[k] = v;
}

/* [a, b) in the model's order, a before b. */
static void do_range(shale_db *db, model *m, int a, int b) {
  uint8_t ka[8], kb[8];
  encode((uint64_t)a, ka);
  encode((uint64_t)b, kb);
  assert_int_equal(shale_delete_range(db, ka, 8, kb, 8, 0), SHALE_OK);
  for (int k = 0; k < NKEYS; k++)
    if (cmp_keys(m, a, k) <= 0 && cmp_keys(m, k, b) < 0) m->live[k] = 0;
}

static void random_ops(shale_db *db, model *m, uint64_t *rng, int n) {
  for (int i = 0; i < n; i++) {
    int k = (int)(tu_rand(rng) % NKEYS), r = (int)(tu_rand(rng) % 100);
    if (r < 70) {
      do_put(db, m, k, (uint32_t)tu_rand(rng));
    } else if (r < 90) {
      uint8_t key[8];
      encode((uint64_t)k, key);
      assert_int_equal(shale_delete(db, key, 8, 0), SHALE_OK);
      m->live[k] = 0;
    } else if (r < 97) {
      int k2 = (int)(tu_rand(rng) % NKEYS), c = cmp_keys(m, k, k2);
      if (c) do_range(db, m, c < 0 ? k : k2, c < 0 ? k2 : k);
    } else { /* a batch: a put, a delete and a range delete in the DB's order */
      shale_batch *b;
      assert_int_equal(shale_batch_new(&b), SHALE_OK);
      int p = (int)(tu_rand(rng) % NKEYS), d = (int)(tu_rand(rng) % NKEYS);
      uint8_t kp[8], kd[8];
      char val[40];
      encode((uint64_t)p, kp);
      encode((uint64_t)d, kd);
      uint32_t v = (uint32_t)tu_rand(rng);
      make_value(v, val);
      assert_int_equal(shale_batch_put(b, kp, 8, val, strlen(val)), SHALE_OK);
      assert_int_equal(shale_batch_delete(b, kd, 8), SHALE_OK);
      assert_int_equal(shale_write(db, b, 0), SHALE_OK);
      shale_batch_free(b);
      m->live[p] = 1;
      m->val[p] = v;
      m->live[d] = 0;
    }
  }
}

/* Position in m->order of the first live key at or after order index i, or NKEYS. */
static int next_live(const model *m, int i) {
  while (i < NKEYS && !m->live[m->order[i]]) i++;
  return i;
}

static int prev_live(const model *m, int i) {
  while (i >= 0 && !m->live[m->order[i]]) i--;
  return i;
}

static void assert_at(shale_iter *it, const model *m, int i) {
  if (i < 0 || i >= NKEYS) {
    assert_false(shale_iter_valid(it));
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    return;
  }
  assert_true(shale_iter_valid(it));
  size_t kl, vl;
  const void *k = shale_iter_key(it, &kl);
  const void *v = shale_iter_value(it, &vl);
  int want = m->order[i];
  assert_int_equal(kl, 8);
  assert_int_equal(key_u64(k, kl), (uint64_t)want);
  char val[40];
  make_value(m->val[want], val);
  assert_int_equal(vl, strlen(val));
  assert_memory_equal(v, val, vl);
}

/* Full walks both ways, seeks, seeks for prev and gets, against the model. */
static void verify(shale_db *db, const shale_snapshot *snap, const model *m, uint64_t *rng) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, snap, &it), SHALE_OK);
  int i = next_live(m, 0);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    assert_at(it, m, i);
    i = next_live(m, i + 1);
  }
  assert_int_equal(i, NKEYS);
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  i = prev_live(m, NKEYS - 1);
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) {
    assert_at(it, m, i);
    i = prev_live(m, i - 1);
  }
  assert_int_equal(i, -1);
  for (int s = 0; s < 50; s++) {
    int pos = (int)(tu_rand(rng) % NKEYS);
    uint8_t key[8];
    encode((uint64_t)m->order[pos], key);
    shale_iter_seek(it, key, 8);
    assert_at(it, m, next_live(m, pos));
    if (shale_iter_valid(it)) { /* a step back from a seek changes direction */
      shale_iter_prev(it);
      assert_at(it, m, prev_live(m, next_live(m, pos) - 1));
    }
    shale_iter_seek_for_prev(it, key, 8);
    assert_at(it, m, prev_live(m, pos));
    void *v = NULL;
    size_t vl = 0;
    int rc = shale_get(db, snap, key, 8, &v, &vl);
    assert_int_equal(rc, m->live[m->order[pos]] ? SHALE_OK : SHALE_NOTFOUND);
    shale_free(v);
  }
  shale_iter_free(it);
}

static void model_run(void **state, const shale_comparator *cmp, uint64_t seed) {
  fixture *f = *state;
  model *m = malloc(sizeof *m), *old = malloc(sizeof *old);
  model_init(m, cmp);
  uint64_t rng = seed;
  shale_db *db = open_with(f, cmp);
  for (int round = 0; round < 6; round++) {
    random_ops(db, m, &rng, 1500);
    verify(db, NULL, m, &rng);
    /* A snapshot keeps reading what it saw through more writes, a flush and a compaction. */
    const shale_snapshot *snap;
    assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
    *old = *m;
    random_ops(db, m, &rng, 500);
    if (round % 2 == 0) assert_int_equal(shale_flush(db), SHALE_OK);
    if (round % 3 == 1) assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
    verify(db, snap, old, &rng);
    verify(db, NULL, m, &rng);
    shale_snapshot_free(db, snap);
    if (round % 2 == 1) { /* reopen: the WAL and the tables, read in the same order */
      assert_int_equal(shale_close(db), SHALE_OK);
      db = open_with(f, cmp);
      verify(db, NULL, m, &rng);
    }
  }
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  verify(db, NULL, m, &rng);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(m);
  free(old);
}

static void test_reverse_order(void **state) { model_run(state, &reverse_cmp, 0x1234); }

static void test_numeric_order(void **state) {
  numeric_calls = 0;
  model_run(state, &numeric_cmp, 0x9876);
  assert_true(numeric_calls > 0); /* the comparator's arg reaches it */
}

/* Iterator bounds are in the DB's order: in reverse order [hi, lo) holds the keys between. */
static void test_bounds(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, &reverse_cmp);
  for (char c = 'a'; c <= 'z'; c++) assert_int_equal(shale_put(db, &c, 1, &c, 1, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.lower_bound = "t";
  ro.lower_bound_len = 1;
  ro.upper_bound = "p";
  ro.upper_bound_len = 1;
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, &ro, &it), SHALE_OK);
  char got[32] = "";
  size_t n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl;
    got[n++] = *(const char *)shale_iter_key(it, &kl);
  }
  assert_string_equal(got, "tsrq");
  shale_iter_seek_last(it);
  assert_true(shale_iter_valid(it));
  size_t kl;
  assert_memory_equal(shale_iter_key(it, &kl), "q", 1);
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
}

static void assert_open_refused(fixture *f, const shale_comparator *cmp, const char *have,
                                const char *want) {
  f->o.comparator = cmp;
  shale_db *db = (shale_db *)1;
  assert_int_equal(shale_open(f->dir, &f->o, &db), SHALE_INVALID);
  assert_null(db);
  const char *msg = shale_errmsg(NULL);
  if (!strstr(msg, have) || !strstr(msg, want)) fail_msg("message lacks a name: %s", msg);
}

/* A DB keeps its order: another comparator, or none, is refused and nothing changes. */
static void test_other_comparator_refused(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, &numeric_cmp);
  uint8_t key[8];
  for (uint64_t i = 0; i < 300; i++) {
    encode(i * 7, key);
    assert_int_equal(shale_put(db, key, 8, "v", 1, 0), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  encode(5000, key);
  assert_int_equal(shale_put(db, key, 8, "wal", 3, 0), SHALE_OK); /* only in the WAL */
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_open_refused(f, NULL, "test.U64LE", "shale.BytewiseComparator");
  assert_open_refused(f, &reverse_cmp, "test.U64LE", "test.Reverse");
  f->o.read_only = 1;
  assert_open_refused(f, &reverse_cmp, "test.U64LE", "test.Reverse");
  f->o.read_only = 0;
  /* The same name reopens it with everything there. */
  shale_comparator same = numeric_cmp; /* another struct of the same order */
  db = open_with(f, &same);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, key, 8, &v, &vl), SHALE_OK);
  assert_memory_equal(v, "wal", 3);
  shale_free(v);
  uint64_t last;
  assert_int_equal(count_ascending_u64(db, &last), 301);
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* A bytewise DB refuses a comparator, and a DB that one made refuses bytewise tools. */
static void test_bytewise_db_refuses_comparator(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, NULL);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_open_refused(f, &reverse_cmp, "shale.BytewiseComparator", "test.Reverse");
  db = open_with(f, NULL);
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* Repair rebuilds a DB in the order its options give: without the DB's comparator it
 * refuses the tables and moves nothing; with it, after the MANIFEST is lost, the rebuilt DB
 * records the order and reads in it. */
static void test_repair_needs_the_order(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, &reverse_cmp);
  const char *keys[] = {"a", "m", "z"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(shale_put(db, keys[i], 1, keys[i], 1, 0), SHALE_OK);
    assert_int_equal(shale_flush(db), SHALE_OK); /* one L0 table each: repair sorts them */
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  int tables = tu_count_suffix(f->dir, ".sst");
  assert_true(tables > 0);
  assert_int_equal(shale_repair(f->dir, NULL), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "test.Reverse"));
  assert_int_equal(tu_count_suffix(f->dir, ".sst"), tables);
  shale_options o;
  tu_options_init(&o);
  o.comparator = &numeric_cmp;
  assert_int_equal(shale_repair(f->dir, &o), SHALE_INVALID); /* another order */
  char *current = tu_path(f->dir, "CURRENT");
  assert_int_equal(unlink(current), 0);
  free(current);
  o.comparator = &reverse_cmp;
  assert_int_equal(shale_repair(f->dir, &o), SHALE_OK);
  assert_open_refused(f, NULL, "test.Reverse", "shale.BytewiseComparator");
  db = open_with(f, &reverse_cmp);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it), n++) {
    size_t kl;
    const char *k = shale_iter_key(it, &kl);
    assert_int_equal(kl, 1);
    assert_int_equal(k[0], keys[2 - n][0]); /* z, m, a */
  }
  assert_int_equal(n, 3);
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* A checkpoint's MANIFEST records the order too: it opens with it and only with it. */
static void test_checkpoint_keeps_order(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, &numeric_cmp);
  uint8_t key[8];
  for (uint64_t i = 0; i < 100; i++) {
    encode(i * 300, key);
    assert_int_equal(shale_put(db, key, 8, "v", 1, 0), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  char *parent = tu_tempdir(), *copy = tu_path(parent, "ckpt");
  assert_int_equal(shale_checkpoint(db, copy, 0, NULL, NULL), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  char *orig = f->dir;
  f->dir = copy;
  assert_open_refused(f, NULL, "test.U64LE", "shale.BytewiseComparator");
  db = open_with(f, &numeric_cmp);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  uint64_t n = 0;
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it), n++) {
    size_t kl;
    assert_int_equal(key_u64(shale_iter_key(it, &kl), kl), (99 - n) * 300);
  }
  assert_int_equal(n, 100);
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
  f->dir = orig;
  free(copy);
  tu_tempdir_free(parent);
}

static void test_bad_comparators(void **state) {
  fixture *f = *state;
  shale_comparator c = {NULL, tu_cmp_reverse, NULL};
  assert_open_refused(f, &c, "comparator.name", "empty");
  c.name = "";
  assert_open_refused(f, &c, "comparator.name", "empty");
  c.name = "shale.Mine";
  assert_open_refused(f, &c, "shale.Mine", "Shale's");
  c.name = "ok";
  c.compare = NULL;
  assert_open_refused(f, &c, "comparator.compare", "NULL");
  char long_name[300];
  memset(long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = 0;
  c.name = long_name;
  c.compare = tu_cmp_reverse;
  assert_open_refused(f, &c, "comparator.name", "longer");
  assert_int_equal(tu_count_suffix(f->dir, "CURRENT"), 0); /* no DB was made */
}

/* Range deletes need an order their ends follow: an inverted one, or an open end, which
 * only bytewise can place, is refused and applies nothing. */
static void test_range_delete_rules(void **state) {
  fixture *f = *state;
  shale_db *db = open_with(f, &reverse_cmp);
  assert_int_equal(shale_put(db, "m", 1, "v", 1, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "a", 1, "z", 1, 0), SHALE_INVALID); /* inverted */
  assert_int_equal(shale_delete_range(db, "z", 1, NULL, 0, 0), SHALE_NOTSUP);
  assert_int_equal(shale_delete_range(db, NULL, 0, "a", 1, 0), SHALE_NOTSUP);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "n", 1, "v", 1), SHALE_OK);
  assert_int_equal(shale_batch_delete_range(b, "a", 1, "z", 1), SHALE_OK); /* checked at write */
  assert_int_equal(shale_write(db, b, 0), SHALE_INVALID);
  shale_batch_clear(b);
  assert_int_equal(shale_batch_delete_range(b, "z", 1, NULL, 0), SHALE_OK);
  assert_int_equal(shale_write(db, b, 0), SHALE_NOTSUP);
  shale_batch_clear(b);
  assert_int_equal(shale_batch_delete_range(b, "z", 1, "a", 1), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "n", 1, "v", 1), SHALE_OK);
  assert_int_equal(shale_write(db, b, 0), SHALE_OK); /* in order: deletes "m", then puts "n" */
  shale_batch_free(b);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, "m", 1, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_get(db, NULL, "n", 1, &v, &vl), SHALE_OK);
  shale_free(v);
  assert_int_equal(shale_close(db), SHALE_OK);
}

static char *write_external(const char *dir, const char *name, const shale_comparator *cmp,
                            uint64_t from, uint64_t n) {
  char *path = tu_path(dir, name);
  shale_options o;
  tu_options_init(&o);
  o.comparator = cmp;
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(path, &o, &w), SHALE_OK);
  uint8_t key[8];
  for (uint64_t i = from; i < from + n; i++) { /* numeric order: not bytewise for LE keys */
    encode(i, key);
    assert_int_equal(shale_sst_writer_put(w, key, 8, "x", 1), SHALE_OK);
  }
  uint8_t b[8], e[8];
  encode(from + n, b);
  encode(from + n + 10, e);
  if (cmp->compare(cmp->arg, b, 8, e, 8) > 0) { /* in reverse order the ends swap */
    encode(from + n + 10, b);
    encode(from + n, e);
  }
  assert_int_equal(shale_sst_writer_delete_range(w, b, 8, e, 8), SHALE_OK);
  if (shale_sst_writer_finish(w, NULL)) fail_msg("finish: %s", shale_errmsg(NULL));
  return path;
}

static void test_sst_writer_and_ingest(void **state) {
  fixture *f = *state;
  char *src = tu_tempdir();
  /* The writer checks the order under the comparator. */
  shale_options o;
  tu_options_init(&o);
  o.comparator = &numeric_cmp;
  char *bad = tu_path(src, "bad.sst");
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(bad, &o, &w), SHALE_OK);
  uint8_t k1[8], k2[8];
  encode(256, k1);
  encode(255, k2); /* bytewise after 256's LE bytes, numerically before */
  assert_int_equal(shale_sst_writer_put(w, k1, 8, "x", 1), SHALE_OK);
  assert_int_equal(shale_sst_writer_put(w, k2, 8, "x", 1), SHALE_INVALID);
  shale_sst_writer_abandon(w);
  free(bad);

  char *p1 = write_external(src, "a.sst", &numeric_cmp, 200, 100);
  char *p2 = write_external(src, "b.sst", &numeric_cmp, 1000, 100);
  /* A bytewise DB refuses the tables, naming both orders, and holds nothing afterwards. */
  shale_db *db = open_with(f, NULL);
  const char *files[] = {p2, p1};
  assert_int_equal(shale_ingest(db, files, 2, 0), SHALE_INVALID);
  const char *msg = shale_errmsg(db);
  assert_non_null(strstr(msg, "test.U64LE"));
  assert_non_null(strstr(msg, "shale.BytewiseComparator"));
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_rmrf(f->dir);

  db = open_with(f, &numeric_cmp);
  uint8_t key[8];
  encode(150, key);
  assert_int_equal(shale_put(db, key, 8, "y", 1, 0), SHALE_OK);
  assert_int_equal(shale_ingest(db, files, 2, 0), SHALE_OK);
  for (int pass = 0; pass < 2; pass++) {
    uint64_t last;
    assert_int_equal(count_ascending_u64(db, &last), 201);
    assert_int_equal(last, 1099);
    encode(250, key);
    void *v;
    size_t vl;
    assert_int_equal(shale_get(db, NULL, key, 8, &v, &vl), SHALE_OK);
    shale_free(v);
    assert_int_equal(shale_close(db), SHALE_OK);
    db = open_with(f, &numeric_cmp);
    assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  }
  /* Another order's table is refused by a DB with a comparator too. */
  char *p3 = write_external(src, "c.sst", &reverse_cmp, 5000, 1);
  const char *other[] = {p3};
  assert_int_equal(shale_ingest(db, other, 1, 0), SHALE_INVALID);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(p1);
  free(p2);
  free(p3);
  tu_tempdir_free(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reverse_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_numeric_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_comparator_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bytewise_db_refuses_comparator, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_comparators, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repair_needs_the_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_keeps_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_delete_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sst_writer_and_ingest, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
