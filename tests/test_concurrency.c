/* test_concurrency.c — what other threads must never disturb: an iterator or snapshot made
 * at time T shows exactly the state at T while writers overwrite and delete everything and
 * flushes and compactions run; many writers through group commit lose no acknowledged
 * write, before or after a reopen; and a reverse scan is not cut short by a writer
 * overwriting the key it stands on. Meant to run clean under TSan.
 * SHALE_STRESS_SECONDS scales the durations (default 5 -> about 2 s per test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shale.h"
#include "testutil.h"

/* ---- 1. a reverse scan while the key under it is overwritten ---- */

typedef struct hot {
  shale_db *db;
  atomic_int stop;
  _Atomic uint64_t writes;
} hot;

static void *overwrite_b(void *arg) {
  hot *h = arg;
  char v[32];
  for (uint64_t i = 0; !atomic_load_explicit(&h->stop, memory_order_relaxed); i++) {
    int n = snprintf(v, sizeof v, "b-%llu", (unsigned long long)i);
    if (shale_put(h->db, "b", 1, v, (size_t)n, 0)) break;
    atomic_fetch_add_explicit(&h->writes, 1, memory_order_relaxed);
  }
  return NULL;
}

/* "a" and "b" exist; a writer keeps overwriting "b". From "b", prev must reach "a": the newer
 * versions of "b" that land in the memtable meanwhile are invisible to the iterator. */
static void test_reverse_scan_concurrent_overwrite(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  hot h = {0};
  assert_int_equal(shale_open(dir, tu_default_options(), &h.db), SHALE_OK);
  assert_int_equal(shale_put(h.db, "a", 1, "a", 1, 0), SHALE_OK);
  assert_int_equal(shale_put(h.db, "b", 1, "b", 1, 0), SHALE_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, overwrite_b, &h), 0);
  double end = tu_now_s() + (tu_stress_seconds() * 0.4) / 2;
  long tries = 0, lost = 0;
  while (tu_now_s() < end || tries < 1000) {
    shale_iter *it;
    assert_int_equal(shale_iter_new(h.db, NULL, &it), SHALE_OK);
    shale_iter_seek_last(it);
    assert_true(shale_iter_valid(it));
    size_t kl;
    assert_memory_equal(shale_iter_key(it, &kl), "b", 1);
    shale_iter_prev(it);
    if (!shale_iter_valid(it)) {
      if (lost++ < 3)
        fprintf(stderr, "reverse scan from 'b' ended early (status %d): 'a' skipped\n",
                shale_iter_status(it));
    } else {
      assert_memory_equal(shale_iter_key(it, &kl), "a", 1);
    }
    shale_iter_free(it);
    tries++;
  }
  atomic_store(&h.stop, 1);
  pthread_join(t, NULL);
  printf("reverse scans under overwrites: %ld of %ld ended early (%llu overwrites)\n", lost, tries,
         (unsigned long long)atomic_load(&h.writes));
  assert_int_equal(shale_close(h.db), SHALE_OK);
  tu_tempdir_free(dir);
  assert_int_equal(lost, 0);
}

/* ---- 2. snapshots and iterators stay at their moment ---- */

#define STABLE_KEYS 3000

typedef struct churn {
  shale_db *db;
  atomic_int stop;
  atomic_int failed;
  _Atomic uint64_t writes, flushes;
  int id;
} churn;

static size_t skey(int i, char *k) { return (size_t)snprintf(k, 16, "s%06d", i); }
static size_t sval(int i, char *v) { return (size_t)snprintf(v, 64, "orig-%d-%0*d", i, i % 40, 0); }
static int originally_live(int i) { return i % 5 != 3; }

static void *churn_writer(void *arg) {
  churn *c = arg;
  uint64_t rng = 0xfeed + (uint64_t)c->id;
  char k[16], e[16], v[64];
  while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
    int i = (int)(tu_rand(&rng) % STABLE_KEYS);
    int r = (int)(tu_rand(&rng) % 10), rc;
    if (r < 5) {
      rc = shale_put(c->db, k, skey(i, k), v, (size_t)snprintf(v, sizeof v, "new-%d-%d", c->id, i),
                     0);
    } else if (r < 9) {
      rc = shale_delete(c->db, k, skey(i, k), 0);
    } else {
      int j = i + 1 + (int)(tu_rand(&rng) % 50);
      rc = shale_delete_range(c->db, k, skey(i, k), e, skey(j, e), 0);
    }
    if (rc) {
      atomic_store(&c->failed, 1);
      break;
    }
    atomic_fetch_add_explicit(&c->writes, 1, memory_order_relaxed);
  }
  return NULL;
}

static void *churn_flusher(void *arg) {
  churn *c = arg;
  while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
    usleep(5000);
    if (shale_flush(c->db)) {
      atomic_store(&c->failed, 1);
      break;
    }
    atomic_fetch_add_explicit(&c->flushes, 1, memory_order_relaxed);
  }
  return NULL;
}

static void expect_original_at(shale_iter *it, int i, const char *what) {
  char k[16], v[64];
  if (i < 0 || i >= STABLE_KEYS) {
    if (shale_iter_valid(it)) {
      size_t kl;
      const char *key = shale_iter_key(it, &kl);
      fail_msg("%s: at '%.*s', expected the end", what, (int)kl, key);
    }
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    return;
  }
  if (!shale_iter_valid(it))
    fail_msg("%s: ended (status %d) before key %d", what, shale_iter_status(it), i);
  size_t kl, vl, wk = skey(i, k), wv = sval(i, v);
  const char *key = shale_iter_key(it, &kl);
  const char *val = shale_iter_value(it, &vl);
  if (kl != wk || memcmp(key, k, kl))
    fail_msg("%s: at '%.*s', expected '%s'", what, (int)kl, key, k);
  if (vl != wv || memcmp(val, v, vl))
    fail_msg("%s: '%s' = '%.*s', expected '%s'", what, k, (int)vl, val, v);
}

static int next_live(int i, int dir) {
  for (i += dir; i >= 0 && i < STABLE_KEYS; i += dir)
    if (originally_live(i)) return i;
  return i;
}

static void check_original_iter(shale_iter *it, const char *what, uint64_t *rng) {
  int i = next_live(-1, 1);
  for (shale_iter_seek_first(it); i < STABLE_KEYS; i = next_live(i, 1), shale_iter_next(it))
    expect_original_at(it, i, what);
  expect_original_at(it, STABLE_KEYS, what);
  i = next_live(STABLE_KEYS, -1);
  for (shale_iter_seek_last(it); i >= 0; i = next_live(i, -1), shale_iter_prev(it))
    expect_original_at(it, i, what);
  expect_original_at(it, -1, what);
  char k[16];
  for (int s = 0; s < 20; s++) {
    int t = (int)(tu_rand(rng) % STABLE_KEYS);
    shale_iter_seek(it, k, skey(t, k));
    expect_original_at(it, originally_live(t) ? t : next_live(t, 1), what);
    shale_iter_seek_for_prev(it, k, skey(t, k));
    expect_original_at(it, originally_live(t) ? t : next_live(t, -1), what);
  }
}

static void check_original_gets(shale_db *db, const shale_snapshot *s, const char *what) {
  char k[16], v[64];
  for (int i = 0; i < STABLE_KEYS; i++) {
    void *val;
    size_t vl;
    int rc = shale_get(db, s, k, skey(i, k), &val, &vl);
    if (!originally_live(i)) {
      if (rc != SHALE_NOTFOUND) fail_msg("%s: get('%s') = %d, expected NOTFOUND", what, k, rc);
      continue;
    }
    size_t wv = sval(i, v);
    if (rc != SHALE_OK) fail_msg("%s: get('%s') = %d, expected '%s'", what, k, rc, v);
    if (vl != wv || memcmp(val, v, vl))
      fail_msg("%s: get('%s') = '%.*s', expected '%s'", what, k, (int)vl, (char *)val, v);
    shale_free(val);
  }
}

static void test_snapshot_and_iterators_stable(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64 << 10;
  churn c[3] = {{0}};
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[16], v[64];
  for (int i = 0; i < STABLE_KEYS; i++) { /* older versions and deletes to hide */
    assert_int_equal(shale_put(db, k, skey(i, k), "stale", 5, 0), SHALE_OK);
    if (i == STABLE_KEYS / 2) assert_int_equal(shale_flush(db), SHALE_OK);
  }
  for (int i = 0; i < STABLE_KEYS; i++) {
    if (originally_live(i))
      assert_int_equal(shale_put(db, k, skey(i, k), v, sval(i, v), 0), SHALE_OK);
    else
      assert_int_equal(shale_delete(db, k, skey(i, k), 0), SHALE_OK);
    if (i == STABLE_KEYS / 3) assert_int_equal(shale_flush(db), SHALE_OK); /* part in tables */
  }
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  shale_iter *at_t, *snap_it;
  assert_int_equal(shale_iter_new(db, NULL, &at_t), SHALE_OK);
  assert_int_equal(shale_iter_new(db, snap, &snap_it), SHALE_OK);
  uint64_t rng = 5;
  check_original_iter(at_t, "iterator before the writers", &rng);

  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    c[i].db = db;
    c[i].id = i;
    assert_int_equal(pthread_create(&th[i], NULL, i < 2 ? churn_writer : churn_flusher, &c[i]), 0);
  }
  double end = tu_now_s() + (tu_stress_seconds() * 0.4);
  int rounds = 0;
  while (tu_now_s() < end || rounds < 2) {
    check_original_iter(at_t, "iterator made at T", &rng);
    check_original_iter(snap_it, "snapshot iterator made at T", &rng);
    check_original_gets(db, snap, "snapshot gets");
    shale_iter *late;
    assert_int_equal(shale_iter_new(db, snap, &late), SHALE_OK);
    check_original_iter(late, "new iterator on the snapshot", &rng);
    shale_iter_free(late);
    rounds++;
  }
  for (int i = 0; i < 3; i++) atomic_store(&c[i].stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&c[i].failed), 0);
  check_original_iter(at_t, "iterator made at T, writers done", &rng);
  check_original_gets(db, snap, "snapshot gets, writers done");
  printf("stable views: %d check rounds against %llu writes and %llu flushes\n", rounds,
         (unsigned long long)(atomic_load(&c[0].writes) + atomic_load(&c[1].writes)),
         (unsigned long long)atomic_load(&c[2].flushes));
  shale_iter_free(at_t);
  shale_iter_free(snap_it);
  shale_snapshot_free(db, snap);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- 3. group commit: many writers, nothing acknowledged is lost ---- */

#define GC_WRITERS 4

typedef struct gc_writer {
  shale_db *db;
  int id;
  int ops;   /* how many ops to issue */
  int acked; /* how many returned SHALE_OK, in order */
  int failed;
} gc_writer;

static size_t gkey(int w, int i, char *k) { return (size_t)snprintf(k, 24, "w%d-%07d", w, i); }
static size_t gval(int w, int i, char *v) {
  return (size_t)snprintf(v, 96, "val-%d-%d-%0*d", w, i, (i * 13) % 60, 0);
}

/* Op i of writer w: a put of key i, as a SYNC put every 50th op, as part of a 4-key batch
 * (keys i..i+3) every 10th; op i also deletes key i-5 when i % 7 == 0. */
static void *gc_main(void *arg) {
  gc_writer *g = arg;
  char k[24], v[96];
  shale_batch *b;
  if (shale_batch_new(&b)) {
    g->failed = 1;
    return NULL;
  }
  for (int i = 0; i < g->ops; i++) {
    int rc;
    if (i % 10 == 9) {
      shale_batch_clear(b);
      for (int x = 0; x < 4; x++) {
        size_t kl = gkey(g->id, i * 4 + x + 1000000, k);
        shale_batch_put(b, k, kl, v, gval(g->id, i * 4 + x + 1000000, v));
      }
      rc = shale_write(g->db, b, 0);
    } else {
      rc = shale_put(g->db, k, gkey(g->id, i, k), v, gval(g->id, i, v),
                     i % 50 == 0 ? SHALE_SYNC : 0);
    }
    if (!rc && i % 7 == 0 && i >= 5) rc = shale_delete(g->db, k, gkey(g->id, i - 5, k), 0);
    if (rc) {
      g->failed = 1;
      break;
    }
    g->acked = i + 1;
  }
  shale_batch_free(b);
  return NULL;
}

static void check_gc(shale_db *db, gc_writer *g, const char *what) {
  char k[24], v[96];
  for (int w = 0; w < GC_WRITERS; w++)
    for (int i = 0; i < g[w].acked; i++) {
      int batch = i % 10 == 9;
      for (int x = 0; x < (batch ? 4 : 1); x++) {
        int key = batch ? i * 4 + x + 1000000 : i;
        int deleted = !batch && (i + 5) % 7 == 0 && i + 5 < g[w].acked;
        void *val;
        size_t vl;
        int rc = shale_get(db, NULL, k, gkey(w, key, k), &val, &vl);
        if (deleted) {
          if (rc != SHALE_NOTFOUND) fail_msg("%s: '%s' was deleted but reads %d", what, k, rc);
          continue;
        }
        if (rc != SHALE_OK) fail_msg("%s: acknowledged '%s' is missing (%d)", what, k, rc);
        size_t wl = gval(w, key, v);
        if (vl != wl || memcmp(val, v, vl)) fail_msg("%s: '%s' has a wrong value", what, k);
        shale_free(val);
      }
    }
}

static void test_group_commit_writers(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 256 << 10;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  gc_writer g[GC_WRITERS];
  pthread_t th[GC_WRITERS];
  int ops = (tu_stress_seconds() * 0.4) > 3 ? 40000 : 8000;
  for (int w = 0; w < GC_WRITERS; w++) {
    g[w] = (gc_writer){db, w, ops, 0, 0};
    assert_int_equal(pthread_create(&th[w], NULL, gc_main, &g[w]), 0);
  }
  for (int w = 0; w < GC_WRITERS; w++) pthread_join(th[w], NULL);
  for (int w = 0; w < GC_WRITERS; w++) {
    assert_int_equal(g[w].failed, 0);
    assert_int_equal(g[w].acked, ops);
  }
  check_gc(db, g, "after the writers");
  char *stats;
  assert_int_equal(shale_property(db, "shale.stats", &stats), SHALE_OK);
  const char *groups = strstr(stats, "groups ");
  printf("group commit: %d writers x %d ops; stats: %.*s\n", GC_WRITERS, ops,
         groups ? (int)strcspn(groups, ",\n") : 0, groups ? groups : "");
  shale_free(stats);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  check_gc(db, g, "after reopen");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- 4. a queue drained while a producer appends and a reviver writes behind the head ---- */

/* The consumer's walks over the drained head run behind the producer's writes, so the spans
 * they make are kept through the put log. A key the reviver puts inside the drained head must
 * be visible to every reader that starts after the put returns, and the consumer must never
 * skip a queue key that was written before its iterator started. */
typedef struct queue_run {
  shale_db *db;
  atomic_int stop, failed;
  atomic_int produced, popped;
  _Atomic uint64_t revived;
} queue_run;

static size_t qkey(int i, const char *suffix, char *k) {
  return (size_t)snprintf(k, 32, "q%08d%s", i, suffix);
}

static void *queue_producer(void *arg) {
  queue_run *q = arg;
  char k[32];
  while (!atomic_load(&q->stop) && !atomic_load(&q->failed)) {
    int i = atomic_load(&q->produced);
    size_t kl = qkey(i, "", k);
    if (shale_put(q->db, k, kl, "v", 1, 0)) atomic_store(&q->failed, 1);
    atomic_store(&q->produced, i + 1);
  }
  return NULL;
}

/* The iterator's key, if it is k. */
static int iter_at(shale_iter *it, const char *k, size_t kl) {
  size_t il;
  const void *ik = shale_iter_valid(it) ? shale_iter_key(it, &il) : NULL;
  return ik && il == kl && memcmp(ik, k, kl) == 0;
}

static void *queue_reviver(void *arg) {
  queue_run *q = arg;
  uint64_t rng = 7;
  char k[32], from[32], past[32];
  while (!atomic_load(&q->stop) && !atomic_load(&q->failed)) {
    int p = atomic_load(&q->popped);
    if (p < 100) continue;
    int i = (int)(tu_rand(&rng) % (uint64_t)p);
    size_t kl = qkey(i, "-r", k), fl = qkey(i, "", from), pl = qkey(i, "-s", past);
    if (shale_put(q->db, k, kl, "r", 1, 0)) break;
    shale_iter *it;
    if (shale_iter_new(q->db, NULL, &it)) break;
    shale_iter_seek(it, from, fl);
    int fwd = iter_at(it, k, kl);
    shale_iter_seek_for_prev(it, past, pl);
    int back = iter_at(it, k, kl);
    shale_iter_free(it);
    if (!fwd || !back) {
      fprintf(stderr, "revived %.*s hidden from a later reader (forward %d, backward %d)\n",
              (int)kl, k, fwd, back);
      atomic_store(&q->failed, 1);
    }
    atomic_fetch_add(&q->revived, 1);
    if (shale_delete(q->db, k, kl, 0)) break;
  }
  return NULL;
}

/* One pop: the first queue key, skipping revived ones. @return 0, or -1 on a violation. */
static int queue_pop(queue_run *q) {
  int popped = atomic_load(&q->popped), written = atomic_load(&q->produced);
  shale_iter *it;
  if (shale_iter_new(q->db, NULL, &it)) return -1;
  shale_iter_seek_first(it);
  size_t kl = 0;
  const char *k = NULL;
  while (shale_iter_valid(it) && (k = shale_iter_key(it, &kl)) && kl != 9) shale_iter_next(it);
  int found = shale_iter_valid(it) ? atoi(k + 1) : -1;
  shale_iter_free(it);
  if (found < 0 ? written > popped : (found != popped && written > popped)) {
    fprintf(stderr, "pop found %d, expected q%08d (written %d)\n", found, popped, written);
    return -1;
  }
  if (found < 0) return 0;
  char dk[32];
  size_t dl = qkey(found, "", dk);
  if (shale_delete(q->db, dk, dl, 0)) return -1;
  atomic_store(&q->popped, found + 1);
  return 0;
}

static void test_queue_behind_writers(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 256 << 10;
  queue_run q = {0};
  assert_int_equal(shale_open(dir, &o, &q.db), SHALE_OK);
  char k[32];
  for (int i = 0; i < 2000; i++) {
    size_t kl = qkey(i, "", k);
    assert_int_equal(shale_put(q.db, k, kl, "v", 1, 0), SHALE_OK);
  }
  atomic_store(&q.produced, 2000);
  pthread_t producer, reviver;
  assert_int_equal(pthread_create(&producer, NULL, queue_producer, &q), 0);
  assert_int_equal(pthread_create(&reviver, NULL, queue_reviver, &q), 0);
  double end = tu_now_s() + tu_stress_seconds() * 0.4;
  long pops = 0;
  while ((tu_now_s() < end || pops < 2000) && !atomic_load(&q.failed)) {
    if (queue_pop(&q)) atomic_store(&q.failed, 1);
    pops++;
  }
  atomic_store(&q.stop, 1);
  pthread_join(producer, NULL);
  pthread_join(reviver, NULL);
  char *spans;
  assert_int_equal(shale_property(q.db, "shale.dead-span-jumps", &spans), SHALE_OK);
  printf("queue behind writers: %d popped, %d produced, %llu revived, %s span jumps\n",
         atomic_load(&q.popped), atomic_load(&q.produced),
         (unsigned long long)atomic_load(&q.revived), spans);
  shale_free(spans);
  assert_int_equal(shale_close(q.db), SHALE_OK);
  tu_tempdir_free(dir);
  assert_int_equal(atomic_load(&q.failed), 0);
}

int main(void) {
  const char *only = getenv("SHALE_TEST_FILTER");
  if (only && *only) cmocka_set_test_filter(only);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reverse_scan_concurrent_overwrite),
      cmocka_unit_test(test_snapshot_and_iterators_stable),
      cmocka_unit_test(test_group_commit_writers),
      cmocka_unit_test(test_queue_behind_writers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
