/* test_mem_rdel.c — gets find the range tombstones of a memtable through an index, not a scan
 * of every tombstone: the index answers exactly what the scan did (against a brute-force
 * model, at the latest sequence and at snapshots, in the mutable memtable and in a sealed
 * one), readers racing a writer never see a key a completed range delete removed, and ten
 * thousand range deletes leave gets cheap. Meant to run clean under TSan.
 * SHALE_STRESS_SECONDS scales the concurrent test (default 5 -> about 2 s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/db_impl.h"
#include "memtable/mem_rdel.h"
#include "engine/view_cache.h"
#include "test_hooks.h"
#include "memtable/memtable.h"
#include "shale.h"
#include "testutil.h"
#include "util/ikey.h"

static size_t key_of(int i, char *k) { return (size_t)snprintf(k, 16, "k%05d", i); }

/* ---- 1. the index against a brute-force scan, in one memtable ---- */

typedef struct rtomb {
  int b, e; /* key indexes, [b, e) */
  uint64_t seq;
} rtomb;

/* A probe key and its place among the key indexes, doubled: 2i is key i, 2i + 1 lies between
 * keys i and i + 1, -1 is before every key and INT32_MAX after. */
typedef struct probe {
  char k[16];
  long pos;
} probe;

/* The newest tombstone at or below seq covering the probe. */
static uint64_t brute_cover(const rtomb *t, int n, long pos, uint64_t seq) {
  uint64_t best = 0;
  for (int i = 0; i < n; i++)
    if (t[i].seq <= seq && t[i].seq > best && 2L * t[i].b <= pos && pos < 2L * t[i].e)
      best = t[i].seq;
  return best;
}

static probe probe_key(uint64_t *rng, int nkeys) {
  uint64_t r = tu_rand(rng);
  probe p;
  int i = (int)((r >> 8) % (uint64_t)(nkeys + 1));
  switch (r % 8) {
    case 0: /* before and after every tombstone */
      strcpy(p.k, r & 8 ? "a" : "z");
      p.pos = r & 8 ? -1 : INT32_MAX;
      break;
    case 1: /* between two boundaries */
      snprintf(p.k, sizeof p.k, "k%05d~", i);
      p.pos = 2L * i + 1;
      break;
    default:
      key_of(i, p.k);
      p.pos = 2L * i;
  }
  return p;
}

static uint64_t probe_seq(uint64_t *rng, uint64_t last) {
  uint64_t r = tu_rand(rng);
  switch (r % 4) {
    case 0: /* a snapshot: any earlier sequence */
      return (r >> 8) % (last + 1);
    case 1: /* a recent snapshot: hits the newest levels */
      return last > 40 ? last - (r >> 8) % 40 : last;
    default:
      return r & 16 ? last : SEQ_MAX;
  }
}

static void check_probes(memtable *m, const rtomb *t, int n, uint64_t last, int nkeys, int probes,
                         uint64_t *rng) {
  for (int i = 0; i < probes; i++) {
    probe p = probe_key(rng, nkeys);
    uint64_t seq = probe_seq(rng, last);
    if (i % 4 == 3) { /* at a tombstone's own sequence and just below, inside its range */
      const rtomb *d = &t[tu_rand(rng) % (uint64_t)n];
      key_of(d->b, p.k);
      p.pos = 2L * d->b;
      seq = d->seq - (i & 4 ? 1 : 0);
    }
    uint64_t want = brute_cover(t, n, p.pos, seq), got = mem_rdel_cover(m, p.k, strlen(p.k), seq);
    if (got != want)
      fail_msg("%d tombstones: cover('%s', seq %llu) = %llu, want %llu", n, p.k,
               (unsigned long long)seq, (unsigned long long)got, (unsigned long long)want);
  }
}

/* Tombstones arrive with increasing sequences (shuffled: in any order) among puts; after
 * every few, gets at random sequences must match the scan. Then m is sealed: the index
 * becomes final and still answers the same. */
static void cover_model(int shuffled) {
  enum { N = 3000, KEYS = 1500 };
  memtable *m;
  assert_int_equal(memtable_new(&m), SHALE_OK);
  rtomb *t = calloc(N, sizeof *t);
  uint64_t *seqs = calloc(N, sizeof *seqs);
  assert_non_null(t);
  assert_non_null(seqs);
  uint64_t rng = shuffled ? 99 : 7, pseq = 10 * N;
  for (int i = 0; i < N; i++) seqs[i] = (uint64_t)i * 2 + 1;
  for (int i = N - 1; shuffled && i > 0; i--) {
    int j = (int)(tu_rand(&rng) % (uint64_t)(i + 1));
    uint64_t x = seqs[i];
    seqs[i] = seqs[j];
    seqs[j] = x;
  }
  char b[16], e[16];
  uint64_t last = 0;
  for (int i = 0; i < N; i++) {
    int lo = (int)(tu_rand(&rng) % KEYS), w = 1 + (int)(tu_rand(&rng) % (i % 10 ? 20 : 400));
    t[i] = (rtomb){lo, lo + w, seqs[i]};
    size_t bl = key_of(lo, b), el = key_of(lo + w, e);
    assert_int_equal(memtable_add(m, seqs[i], KIND_RANGE_DEL, b, bl, e, el, 1), SHALE_OK);
    assert_int_equal(memtable_add(m, ++pseq, KIND_PUT, b, bl, "v", 1, 0), SHALE_OK);
    if (seqs[i] > last) last = seqs[i];
    if (i % 7 == 0) check_probes(m, t, i + 1, last, KEYS, 12, &rng);
  }
  check_probes(m, t, N, last, KEYS, 2000, &rng);
  mem_rdel_info info;
  mem_rdel_info_get(m, &info);
  assert_true(info.indexed);
  assert_non_null(memtable_rdel_get(m)); /* the memtable holds its index */
  assert_false(info.final);
  assert_true(info.tombstones + 17 > N); /* at most the short tail is left to scan */
  assert_true(info.fragments <= 2 * info.tombstones);
  assert_true(info.levels >= 1 && info.levels <= 12); /* weights at least halve per level */

  memtable_seal(m, NULL);
  check_probes(m, t, N, last, KEYS, 2000, &rng);
  mem_rdel_info_get(m, &info);
  assert_true(info.final);
  assert_int_equal(info.tombstones, N);
  memtable_unref(m); /* frees the index with it (ASan checks) */
  free(t);
  free(seqs);
}

static void test_cover_model_in_order(void **state) {
  (void)state;
  cover_model(0);
}

static void test_cover_model_shuffled(void **state) {
  (void)state;
  cover_model(1);
}

/* Few tombstones are scanned: no index is built. */
static void test_few_tombstones_no_index(void **state) {
  (void)state;
  memtable *m;
  assert_int_equal(memtable_new(&m), SHALE_OK);
  rtomb t[16];
  char b[16], e[16];
  uint64_t rng = 3;
  for (int i = 0; i < 16; i++) {
    t[i] = (rtomb){i * 3, i * 3 + 5, (uint64_t)i + 1};
    assert_int_equal(
        memtable_add(m, t[i].seq, KIND_RANGE_DEL, b, key_of(t[i].b, b), e, key_of(t[i].e, e), 1),
        SHALE_OK);
  }
  check_probes(m, t, 16, 16, 60, 500, &rng);
  mem_rdel_info info;
  mem_rdel_info_get(m, &info);
  assert_false(info.indexed);
  memtable_unref(m);
}

/* ---- DB helpers ---- */

typedef struct model {
  int n;
  int *ver; /* per key: op number of its live value, -1 absent */
} model;

static size_t val_of(int key, int ver, char *v) {
  return (size_t)snprintf(v, 48, "v%05d-%d", key, ver);
}

static void check_key(shale_db *db, const shale_snapshot *s, const model *m, int i,
                      const char *what) {
  char k[16], v[48];
  void *val;
  size_t vl;
  int rc = shale_get(db, s, k, key_of(i, k), &val, &vl);
  if (m->ver[i] < 0) {
    if (rc != SHALE_NOTFOUND)
      fail_msg("%s: get('%s') = %d '%.*s', expected NOTFOUND", what, k, rc, rc ? 0 : (int)vl,
               rc ? "" : (char *)val);
    return;
  }
  size_t wl = val_of(i, m->ver[i], v);
  if (rc != SHALE_OK) fail_msg("%s: get('%s') = %d, expected '%s'", what, k, rc, v);
  if (vl != wl || memcmp(val, v, vl))
    fail_msg("%s: get('%s') = '%.*s', expected '%s'", what, k, (int)vl, (char *)val, v);
  shale_free(val);
}

static void check_sample(shale_db *db, const shale_snapshot *s, const model *m, int n,
                         uint64_t *rng, const char *what) {
  for (int j = 0; j < n; j++) check_key(db, s, m, (int)(tu_rand(rng) % (uint64_t)m->n), what);
}

static void check_all(shale_db *db, const shale_snapshot *s, const model *m, const char *what) {
  for (int i = 0; i < m->n; i++) check_key(db, s, m, i, what);
}

static void put_m(shale_db *db, model *m, int i, int ver) {
  char k[16], v[48];
  assert_int_equal(shale_put(db, k, key_of(i, k), v, val_of(i, ver, v), 0), SHALE_OK);
  m->ver[i] = ver;
}

static void del_range_m(shale_db *db, model *m, int b, int e) {
  char kb[16], ke[16];
  assert_int_equal(shale_delete_range(db, kb, key_of(b, kb), ke, key_of(e, ke), 0), SHALE_OK);
  for (int i = b; i < e && i < m->n; i++) m->ver[i] = -1;
}

static model model_new(int n) {
  model m = {n, malloc(sizeof(int) * (size_t)n)};
  assert_non_null(m.ver);
  for (int i = 0; i < n; i++) m.ver[i] = -1;
  return m;
}

static model model_copy(const model *m) {
  model c = model_new(m->n);
  memcpy(c.ver, m->ver, sizeof(int) * (size_t)m->n);
  return c;
}

/* One random operation: mostly puts and range deletes (many overlapping), some deletes. */
static void random_op(shale_db *db, model *m, int op, uint64_t *rng) {
  uint64_t r = tu_rand(rng) % 100;
  int i = (int)(tu_rand(rng) % (uint64_t)m->n);
  if (r < 50) {
    put_m(db, m, i, op);
  } else if (r < 95) {
    int w = 1 + (int)(tu_rand(rng) % (r < 90 ? 12 : 150));
    del_range_m(db, m, i, i + w);
  } else {
    char k[16];
    assert_int_equal(shale_delete(db, k, key_of(i, k), 0), SHALE_OK);
    m->ver[i] = -1;
  }
}

static void mem_info(shale_db *db, int sealed, mem_rdel_info *info) {
  view_slot *slot;
  read_view *v = db_view_get(db, &slot);
  memtable *m = sealed ? v->imm : v->mem;
  assert_non_null(m);
  mem_rdel_info_get(m, info);
  db_view_put(db, slot, v);
}

/* ---- 2. the mutable memtable through the DB, at the latest sequence and at snapshots ---- */

#define SNAPS 6

static void test_db_model_mutable(void **state) {
  (void)state;
  enum { KEYS = 400, OPS = 8000 };
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = (size_t)1 << 30; /* everything stays in one memtable */
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  model m = model_new(KEYS), sm[SNAPS];
  const shale_snapshot *snap[SNAPS] = {0};
  uint64_t rng = 11;
  for (int op = 1; op <= OPS; op++) {
    random_op(db, &m, op, &rng);
    if (op % 150 == 0) { /* replace one snapshot */
      int s = (op / 150) % SNAPS;
      if (snap[s]) {
        check_all(db, snap[s], &sm[s], "snapshot before release");
        shale_snapshot_free(db, snap[s]);
        free(sm[s].ver);
      }
      assert_int_equal(shale_snapshot_new(db, &snap[s]), SHALE_OK);
      sm[s] = model_copy(&m);
    }
    if (op % 5 == 0) {
      check_sample(db, NULL, &m, 8, &rng, "latest");
      for (int s = 0; s < SNAPS; s++)
        if (snap[s]) check_sample(db, snap[s], &sm[s], 2, &rng, "snapshot");
    }
    if (op % 1000 == 0) check_all(db, NULL, &m, "latest, every key");
  }
  check_all(db, NULL, &m, "latest at the end");
  mem_rdel_info info;
  mem_info(db, 0, &info);
  assert_true(info.indexed);
  assert_true(info.tombstones > OPS / 3); /* the index, not a scan, answered */
  for (int s = 0; s < SNAPS; s++) {
    if (!snap[s]) continue;
    check_all(db, snap[s], &sm[s], "snapshot at the end");
    shale_snapshot_free(db, snap[s]);
    free(sm[s].ver);
  }
  free(m.ver);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- 3. a sealed memtable, held in the view by a parked flush ---- */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int armed, parked;
} H = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void park_at_picked(shale_db *db, test_hook_point p) {
  (void)db;
  if (p != HOOK_FLUSH_PICKED) return;
  pthread_mutex_lock(&H.mu);
  if (H.armed) {
    H.parked = 1;
    pthread_cond_broadcast(&H.cv);
    while (H.armed) pthread_cond_wait(&H.cv, &H.mu);
  }
  pthread_mutex_unlock(&H.mu);
}

static void *flush_thread(void *arg) { return (void *)(intptr_t)shale_flush(arg); }

static void test_db_model_sealed(void **state) {
  (void)state;
  enum { KEYS = 400, OPS = 5000 };
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = (size_t)1 << 30;
  o.level0_compaction_trigger = 1 << 20;
  o.level0_slowdown_trigger = 1 << 20;
  o.level0_stop_trigger = 1 << 20;
  o.max_background_jobs = 1;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  model m = model_new(KEYS);
  uint64_t rng = 23;
  int op = 1;
  for (; op <= OPS / 2; op++) random_op(db, &m, op, &rng);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  model sm = model_copy(&m);
  for (; op <= OPS; op++) random_op(db, &m, op, &rng);

  pthread_mutex_lock(&H.mu);
  H.armed = 1;
  H.parked = 0;
  pthread_mutex_unlock(&H.mu);
  atomic_store(&shale_test_hook, park_at_picked);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, flush_thread, db), 0);
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 60;
  pthread_mutex_lock(&H.mu);
  int rc = 0;
  while (!H.parked && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&H.cv, &H.mu, &dl);
  pthread_mutex_unlock(&H.mu);
  assert_int_equal(rc, 0);

  /* the memtable is sealed and still in the view: gets index it once, then read it lock-free */
  check_all(db, NULL, &m, "sealed, latest");
  check_all(db, snap, &sm, "sealed, snapshot");
  mem_rdel_info info;
  mem_info(db, 1, &info);
  assert_true(info.indexed);
  assert_true(info.final);
  assert_true(info.tombstones > OPS / 3);
  /* new range deletes land in the fresh mutable memtable, above the sealed one */
  for (; op <= OPS + 1500; op++) {
    random_op(db, &m, op, &rng);
    if (op % 5 == 0) check_sample(db, NULL, &m, 8, &rng, "sealed + mutable, latest");
    if (op % 25 == 0) check_sample(db, snap, &sm, 8, &rng, "sealed + mutable, snapshot");
  }
  check_all(db, NULL, &m, "sealed + mutable, latest");
  check_all(db, snap, &sm, "sealed + mutable, snapshot");

  pthread_mutex_lock(&H.mu);
  H.armed = 0;
  pthread_cond_broadcast(&H.cv);
  pthread_mutex_unlock(&H.mu);
  void *ret;
  pthread_join(th, &ret);
  atomic_store(&shale_test_hook, NULL);
  assert_int_equal((int)(intptr_t)ret, SHALE_OK);
  check_all(db, NULL, &m, "after the flush, latest");
  check_all(db, snap, &sm, "after the flush, snapshot");
  shale_snapshot_free(db, snap);
  free(sm.ver);
  free(m.ver);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- 4. one writer of puts and range deletes, two readers ---- */

enum { RACE_KEYS = 2000 };

typedef struct race {
  shale_db *db;
  /* per key: the op number of the newest completed range delete covering it; a get started
   * after that must never return a value written before it */
  _Atomic int floor[RACE_KEYS];
  atomic_int stop, failed, flushing;
  _Atomic uint64_t rdels, gets, hits;
} race;

static void *race_writer(void *arg) {
  race *r = arg;
  uint64_t rng = 1234;
  char kb[16], ke[16], v[48];
  for (int op = 1; !atomic_load_explicit(&r->stop, memory_order_relaxed); op++) {
    int i = (int)(tu_rand(&rng) % RACE_KEYS);
    if (tu_rand(&rng) % 3) {
      if (shale_put(r->db, kb, key_of(i, kb), v, val_of(i, op, v), 0)) break;
      continue;
    }
    int e = i + 1 + (int)(tu_rand(&rng) % 60);
    if (shale_delete_range(r->db, kb, key_of(i, kb), ke, key_of(e, ke), 0)) break;
    for (int k = i; k < e && k < RACE_KEYS; k++)
      atomic_store_explicit(&r->floor[k], op, memory_order_release);
    atomic_fetch_add_explicit(&r->rdels, 1, memory_order_relaxed);
  }
  if (!atomic_load(&r->stop)) atomic_store(&r->failed, 1);
  return NULL;
}

static void *race_reader(void *arg) {
  race *r = arg;
  uint64_t rng = (uint64_t)(uintptr_t)&rng;
  char k[16];
  uint64_t gets = 0, hits = 0;
  while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
    int i = (int)(tu_rand(&rng) % RACE_KEYS);
    int floor = atomic_load_explicit(&r->floor[i], memory_order_acquire);
    void *val;
    size_t vl;
    int rc = shale_get(r->db, NULL, k, key_of(i, k), &val, &vl);
    gets++;
    if (rc == SHALE_NOTFOUND) continue;
    int key = -1, ver = -1;
    char got[48] = "";
    if (rc == SHALE_OK && vl < sizeof got) memcpy(got, val, vl);
    if (rc != SHALE_OK || sscanf(got, "v%d-%d", &key, &ver) != 2 || key != i || ver < floor) {
      fprintf(stderr, "get('%s') = %d '%.*s' after a range delete at op %d\n", k, rc,
              rc ? 0 : (int)vl, rc ? "" : (char *)val, floor);
      atomic_store(&r->failed, 1);
    }
    if (rc == SHALE_OK) {
      hits++;
      shale_free(val);
    }
  }
  atomic_fetch_add(&r->gets, gets);
  atomic_fetch_add(&r->hits, hits);
  return NULL;
}

static void *race_flusher(void *arg) {
  race *r = arg;
  while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (shale_flush(r->db)) {
      atomic_store(&r->failed, 1);
      break;
    }
  }
  return NULL;
}

static void concurrent_range_deletes(int with_flush) {
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = (size_t)1 << 30;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  race *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->db = db;
  pthread_t th[4];
  int n = 0;
  assert_int_equal(pthread_create(&th[n++], NULL, race_writer, r), 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[n++], NULL, race_reader, r), 0);
  if (with_flush) assert_int_equal(pthread_create(&th[n++], NULL, race_flusher, r), 0);
  double end = tu_now_s() + (tu_stress_seconds() * 0.4) / 2;
  while (tu_now_s() < end && !atomic_load(&r->failed)) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  atomic_store(&r->stop, 1);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  printf("%s: %llu range deletes, %llu gets (%llu found)\n",
         with_flush ? "with flushes" : "no flush", (unsigned long long)r->rdels,
         (unsigned long long)r->gets, (unsigned long long)r->hits);
  assert_false(atomic_load(&r->failed));
  assert_true(atomic_load(&r->rdels) > 16); /* enough for an index */
  free(r);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_concurrent_no_flush(void **state) {
  (void)state;
  concurrent_range_deletes(0);
}

static void test_concurrent_with_flush(void **state) {
  (void)state;
  concurrent_range_deletes(1);
}

/* ---- 5. ten thousand range deletes, then a hundred thousand gets ---- */

/* Not timed here (timings flake); a scan per get would make this take minutes, not a second.
 * Every answer is still checked against the model. */
static void test_many_range_deletes_then_gets(void **state) {
  (void)state;
  enum { KEYS = 50000, RDELS = 10000, GETS = 100000 };
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = (size_t)1 << 30;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  model m = model_new(KEYS);
  for (int i = 0; i < KEYS; i += 2) put_m(db, &m, i, 0);
  uint64_t rng = 77;
  for (int d = 0; d < RDELS; d++) {
    int b = (int)(tu_rand(&rng) % (KEYS - 100));
    del_range_m(db, &m, b, b + 1 + (int)(tu_rand(&rng) % 8)); /* overlapping, most keys live */
  }
  int live = 0;
  for (int g = 0; g < GETS; g++) {
    int i = (int)(tu_rand(&rng) % KEYS);
    live += m.ver[i] >= 0;
    check_key(db, NULL, &m, i, "after 10,000 range deletes");
  }
  assert_true(live > GETS / 8);
  mem_rdel_info info;
  mem_info(db, 0, &info);
  assert_true(info.indexed);
  assert_int_equal(info.tombstones, RDELS);
  free(m.ver);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cover_model_in_order),
      cmocka_unit_test(test_cover_model_shuffled),
      cmocka_unit_test(test_few_tombstones_no_index),
      cmocka_unit_test(test_db_model_mutable),
      cmocka_unit_test(test_db_model_sealed),
      cmocka_unit_test(test_concurrent_no_flush),
      cmocka_unit_test(test_concurrent_with_flush),
      cmocka_unit_test(test_many_range_deletes_then_gets),
  };
  const char *only = getenv("SHALE_TEST_FILTER"); /* e.g. "test_concurrent*" */
  if (only && *only) cmocka_set_test_filter(only);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
