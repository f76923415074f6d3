/* test_flush_window.c — the flush window of doc/DESIGN.md "Read views", two ways. Deterministic:
 * a test hook holds the flush thread at each step (picked, table synced, MANIFEST synced,
 * view published, WAL deleted) while this thread runs gets, iterators both ways and
 * snapshot reads, which must all agree with a model: a completed delete never lets an older
 * value back (I6). Under load: writers, readers, scanners and a flusher race, and every read
 * is checked against the window of ops that could be visible to it.
 * SHALE_STRESS_SECONDS sets the load test's duration (default 5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/view_cache.h"
#include "test_hooks.h"
#include "shale.h"
#include "testutil.h"
#include "testutil_check.h"

/* ---- the hook handshake: the flush thread parks at each flush point until released ---- */

#define HOOK_TIMEOUT_S 60

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int armed;
  int at; /* the point the flush thread is parked at; 0: none */
  int parked_total;
} H = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void pause_hook(shale_db *db, test_hook_point p) {
  (void)db;
  if (p < HOOK_FLUSH_PICKED || p > HOOK_FLUSH_WAL_DELETED) return;
  pthread_mutex_lock(&H.mu);
  if (H.armed) {
    H.at = (int)p;
    H.parked_total++;
    pthread_cond_broadcast(&H.cv);
    while (H.armed && H.at == (int)p) pthread_cond_wait(&H.cv, &H.mu);
  }
  pthread_mutex_unlock(&H.mu);
}

static void hook_arm(void) {
  pthread_mutex_lock(&H.mu);
  H.armed = 1;
  H.at = 0;
  H.parked_total = 0;
  pthread_mutex_unlock(&H.mu);
  atomic_store(&shale_test_hook, pause_hook);
}

static void hook_disarm(void) {
  pthread_mutex_lock(&H.mu);
  H.armed = 0;
  H.at = 0;
  pthread_cond_broadcast(&H.cv);
  pthread_mutex_unlock(&H.mu);
  atomic_store(&shale_test_hook, NULL);
}

/* Waits until the flush thread parks; returns the point (0 on timeout). */
static int hook_wait_any(int timeout_s) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += timeout_s;
  pthread_mutex_lock(&H.mu);
  int rc = 0;
  while (H.at == 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&H.cv, &H.mu, &dl);
  int at = H.at;
  pthread_mutex_unlock(&H.mu);
  return at;
}

static void hook_wait(int point) {
  int at = hook_wait_any(HOOK_TIMEOUT_S);
  if (at != point) fail_msg("flush thread parked at hook point %d, expected %d", at, point);
}

static void hook_release(void) {
  pthread_mutex_lock(&H.mu);
  H.at = 0;
  pthread_cond_broadcast(&H.cv);
  pthread_mutex_unlock(&H.mu);
}

static const char *point_name(int p) {
  static const char *names[] = {"?",
                                "FLUSH_PICKED",
                                "FLUSH_TABLE_SYNCED",
                                "FLUSH_MANIFEST_SYNCED",
                                "FLUSH_VIEW_PUBLISHED",
                                "FLUSH_WAL_DELETED"};
  return p >= 1 && p <= 5 ? names[p] : "?";
}

/* ---- small helpers ---- */

static void *flush_thread(void *arg) {
  shale_db *db = arg;
  return (void *)(intptr_t)shale_flush(db);
}

/* ---- the model: probe keys in order, each with its expected value or NULL ---- */

typedef struct kv {
  char k[24];
  char v[48]; /* "" with present == 0: absent */
  int present;
} kv;

typedef struct model {
  kv *e;
  int n;
} model;

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

static void model_set(model *m, const char *k, const char *v) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->e[i].k, k)) {
      m->e[i].present = v != NULL;
      snprintf(m->e[i].v, sizeof m->e[i].v, "%s", v ? v : "");
      return;
    }
  m->e = realloc(m->e, sizeof *m->e * (size_t)(m->n + 1));
  kv *x = &m->e[m->n++];
  snprintf(x->k, sizeof x->k, "%s", k);
  snprintf(x->v, sizeof x->v, "%s", v ? v : "");
  x->present = v != NULL;
  qsort(m->e, (size_t)m->n, sizeof *m->e, kv_cmp);
}

static void model_del_range(model *m, const char *b, const char *e) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->e[i].k, b) >= 0 && strcmp(m->e[i].k, e) < 0) {
      m->e[i].present = 0;
      m->e[i].v[0] = 0;
    }
}

static model model_copy(const model *m) {
  model c = {malloc(sizeof *m->e * (size_t)(m->n ? m->n : 1)), m->n};
  if (m->n) memcpy(c.e, m->e, sizeof *m->e * (size_t)m->n);
  return c;
}

static int model_live(const model *m, int i, int dir) { /* next live index from i (exclusive) */
  for (i += dir; i >= 0 && i < m->n; i += dir)
    if (m->e[i].present) return i;
  return dir > 0 ? m->n : -1;
}

static void expect_entry(shale_iter *it, const model *m, int i, const char *what) {
  if (i < 0 || i >= m->n) {
    if (shale_iter_valid(it)) {
      size_t kl;
      const char *k = shale_iter_key(it, &kl);
      fail_msg("%s: iterator at '%.*s', expected the end", what, (int)kl, k);
    }
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    return;
  }
  if (!shale_iter_valid(it))
    fail_msg("%s: iterator ended (status %d), expected '%s'", what, shale_iter_status(it),
             m->e[i].k);
  size_t kl, vl;
  const char *k = shale_iter_key(it, &kl);
  const char *v = shale_iter_value(it, &vl);
  if (kl != strlen(m->e[i].k) || memcmp(k, m->e[i].k, kl))
    fail_msg("%s: iterator at '%.*s', expected '%s'", what, (int)kl, k, m->e[i].k);
  if (vl != strlen(m->e[i].v) || memcmp(v, m->e[i].v, vl))
    fail_msg("%s: key '%s' has '%.*s', expected '%s'", what, m->e[i].k, (int)vl, v, m->e[i].v);
}

static void check_gets(shale_db *db, const shale_snapshot *s, const model *m, const char *what) {
  for (int i = 0; i < m->n; i++) {
    void *val;
    size_t vl;
    int rc = shale_get(db, s, m->e[i].k, strlen(m->e[i].k), &val, &vl);
    if (!m->e[i].present) {
      if (rc != SHALE_NOTFOUND)
        fail_msg("%s: get('%s') = %d '%.*s', expected NOTFOUND (deleted)", what, m->e[i].k, rc,
                 rc ? 0 : (int)vl, rc ? "" : (char *)val);
      continue;
    }
    if (rc != SHALE_OK)
      fail_msg("%s: get('%s') = %d, expected '%s'", what, m->e[i].k, rc, m->e[i].v);
    if (vl != strlen(m->e[i].v) || memcmp(val, m->e[i].v, vl))
      fail_msg("%s: get('%s') = '%.*s', expected '%s'", what, m->e[i].k, (int)vl, (char *)val,
               m->e[i].v);
    shale_free(val);
  }
}

/* Full scans both ways, then a seek and a seek_for_prev at every probe key. */
static void check_iter(shale_iter *it, const model *m, const char *what) {
  int i = model_live(m, -1, 1);
  for (shale_iter_seek_first(it); i < m->n; i = model_live(m, i, 1), shale_iter_next(it))
    expect_entry(it, m, i, what);
  expect_entry(it, m, m->n, what);
  i = model_live(m, m->n, -1);
  for (shale_iter_seek_last(it); i >= 0; i = model_live(m, i, -1), shale_iter_prev(it))
    expect_entry(it, m, i, what);
  expect_entry(it, m, -1, what);
  for (int p = 0; p < m->n; p++) {
    shale_iter_seek(it, m->e[p].k, strlen(m->e[p].k));
    expect_entry(it, m, m->e[p].present ? p : model_live(m, p, 1), what);
    shale_iter_seek_for_prev(it, m->e[p].k, strlen(m->e[p].k));
    int j = m->e[p].present ? p : model_live(m, p, -1);
    expect_entry(it, m, j, what);
    if (j >= 0) { /* one step each way from there */
      shale_iter_prev(it);
      expect_entry(it, m, model_live(m, j, -1), what);
    }
  }
}

static void check_all(shale_db *db, const shale_snapshot *s, const model *m, const char *what) {
  check_gets(db, s, m, what);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, s, &it), SHALE_OK);
  check_iter(it, m, what);
  shale_iter_free(it);
}

static void model_free(model *m) {
  free(m->e);
  m->e = NULL;
  m->n = 0;
}

/* ---- 1. one flush held at every step ---- */

static void put_s(shale_db *db, model *m, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
  if (m) model_set(m, k, v);
}

static void del_s(shale_db *db, model *m, const char *k) {
  assert_int_equal(shale_delete(db, k, strlen(k), 0), SHALE_OK);
  model_set(m, k, NULL);
}

/* The deterministic tests count L0 tables: no compaction may move them meanwhile. */
static void no_compaction(shale_options *o) {
  o->level0_compaction_trigger = 1 << 20;
  o->level0_slowdown_trigger = 1 << 20;
  o->level0_stop_trigger = 1 << 20;
  o->max_background_jobs = 1; /* and none runs beside a parked flush */
}

static void one_flush_window(int with_snapshot) {
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  no_compaction(&o);
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  model m = {0};
  /* an older L0 table, then a newer one: "k" has a value in both */
  put_s(db, NULL, "k", "k-v0");
  put_s(db, NULL, "r05", "r05-v0");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put_s(db, &m, "k", "k-old");
  char k[24], v[48];
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof k, "r%02d", i);
    snprintf(v, sizeof v, "r%02d-old", i);
    put_s(db, &m, k, v);
  }
  put_s(db, &m, "a-live", "a-live-old");
  put_s(db, &m, "m-upd", "m-upd-old");
  put_s(db, &m, "p-del-put", "p-old");
  put_s(db, &m, "z-live", "z-live-old");
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(tu_property_u64(db, "shale.num-files-at-level0"), 2);
  model_set(&m, "ghost", NULL); /* probes for keys that never exist */
  model_set(&m, "n-new", NULL);
  model_set(&m, "q-put-del", NULL);
  model snap_model = model_copy(&m);
  const shale_snapshot *snap = NULL;
  if (with_snapshot) assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);

  /* the memtable the flush will move: deletes of keys whose old values sit in L0 */
  del_s(db, &m, "k");
  assert_int_equal(shale_delete_range(db, "r03", 3, "r07", 3, 0), SHALE_OK);
  model_del_range(&m, "r03", "r07");
  put_s(db, &m, "m-upd", "m-upd-new");
  put_s(db, &m, "n-new", "n-new-v");
  del_s(db, &m, "p-del-put");
  put_s(db, &m, "p-del-put", "p-new");
  put_s(db, &m, "q-put-del", "q-v");
  del_s(db, &m, "q-put-del");
  del_s(db, &m, "ghost"); /* a clean tombstone: nothing older holds the key */
  check_all(db, NULL, &m, "before flush");
  if (snap) check_all(db, snap, &snap_model, "snapshot before flush");
  int logs_before = tu_count_suffix(dir, ".log");

  /* iterators made before the flush and at each step; all must stay right to the end */
  shale_iter *kept[8];
  int nkept = 0;
  assert_int_equal(shale_iter_new(db, NULL, &kept[nkept++]), SHALE_OK);
  shale_iter *snap_it = NULL;
  if (snap) assert_int_equal(shale_iter_new(db, snap, &snap_it), SHALE_OK);

  hook_arm();
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, flush_thread, db), 0);
  for (int p = HOOK_FLUSH_PICKED; p <= HOOK_FLUSH_WAL_DELETED; p++) {
    hook_wait(p);
    char what[96];
    snprintf(what, sizeof what, "%s at %s", with_snapshot ? "with snapshot" : "no snapshot",
             point_name(p));
    int published = p >= HOOK_FLUSH_VIEW_PUBLISHED;
    /* the view switches exactly at publication: before it the memtable, after it the table */
    assert_int_equal(tu_property_u64(db, "shale.num-immutable-memtables"), published ? 0 : 1);
    assert_int_equal(tu_property_u64(db, "shale.num-files-at-level0"), published ? 3 : 2);
    int ssts = tu_count_suffix(dir, ".sst");
    assert_int_equal(ssts, p >= HOOK_FLUSH_TABLE_SYNCED ? 3 : 2);
    /* I5: the sealed memtable's WAL goes only after the view is published */
    assert_int_equal(tu_count_suffix(dir, ".log"),
                     p == HOOK_FLUSH_WAL_DELETED ? logs_before : logs_before + 1);
    check_all(db, NULL, &m, what);
    if (snap) {
      check_all(db, snap, &snap_model, what);
      check_iter(snap_it, &snap_model, what);
    }
    for (int i = 0; i < nkept; i++) check_iter(kept[i], &m, what);
    assert_int_equal(shale_iter_new(db, NULL, &kept[nkept++]), SHALE_OK);
    hook_release();
  }
  void *ret;
  pthread_join(th, &ret);
  assert_int_equal((int)(intptr_t)ret, SHALE_OK);
  hook_disarm();
  check_all(db, NULL, &m, "after flush");
  for (int i = 0; i < nkept; i++) {
    check_iter(kept[i], &m, "iterator kept across the flush");
    shale_iter_free(kept[i]);
  }
  if (snap) {
    check_all(db, snap, &snap_model, "snapshot after flush");
    check_iter(snap_it, &snap_model, "snapshot iterator kept across the flush");
    shale_iter_free(snap_it);
    shale_snapshot_free(db, snap);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  check_all(db, NULL, &m, "after reopen");
  assert_int_equal(shale_close(db), SHALE_OK);
  model_free(&m);
  model_free(&snap_model);
  tu_tempdir_free(dir);
}

static void test_window_steps_snapshot(void **state) {
  (void)state;
  one_flush_window(1);
}

static void test_window_steps_no_snapshot(void **state) {
  (void)state;
  one_flush_window(0);
}

/* ---- 2. several sealed memtables, flushed oldest first while reads run ---- */

#define CHAIN_KEYS 240
#define CHAIN_GENS 8

static void chain_key(int i, char *k) { snprintf(k, 24, "c%04d", i); }

static void chain_generation(shale_db *db, model *m, int g, uint64_t *rng) {
  char k[24], e[24], v[48];
  for (int i = 0; i < CHAIN_KEYS; i++) {
    chain_key(i, k);
    int op = (int)((i * 7 + g * 13) % 10);
    if (op < 6) {
      snprintf(v, sizeof v, "g%d-%s-%08llx", g, k, (unsigned long long)(tu_rand(rng) >> 32));
      put_s(db, m, k, v);
    } else if (op < 9) {
      del_s(db, m, k);
    }
  }
  int b = (int)(tu_rand(rng) % (CHAIN_KEYS - 20));
  chain_key(b, k);
  chain_key(b + 1 + (int)(tu_rand(rng) % 15), e);
  assert_int_equal(shale_delete_range(db, k, strlen(k), e, strlen(e), 0), SHALE_OK);
  model_del_range(m, k, e);
}

/* Oldest first: the table a flush adds holds only sequences above every older table's. */
static void check_oldest_first(shale_db *db, uint64_t *max_seen) {
  read_view *v = db_view_acquire(db);
  uint64_t newest_min = 0, newest_max = 0;
  for (int i = 0; i < v->ver->nfiles[0]; i++) {
    file_meta *f = v->ver->files[0][i];
    if (f->max_seq > newest_max) newest_max = f->max_seq, newest_min = f->min_seq;
  }
  read_view_unref(v);
  if (newest_max == *max_seen) return; /* the flush added no table (all clean) */
  if (newest_max && newest_min <= *max_seen)
    fail_msg(
        "L0 table with sequences %llu..%llu installed after one holding %llu: not oldest "
        "first",
        (unsigned long long)newest_min, (unsigned long long)newest_max,
        (unsigned long long)*max_seen);
  if (newest_max) *max_seen = newest_max;
}

static void test_window_sealed_chain(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 8192;
  o.max_immutable_memtables = 64;
  o.max_background_jobs = 1; /* a compaction never runs while the chain drains */
  no_compaction(&o);
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  model m = {0};
  char k[24];
  for (int i = 0; i < CHAIN_KEYS; i++) {
    chain_key(i, k);
    put_s(db, &m, k, "base");
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  uint64_t rng = 7, max_seen = 0;
  check_oldest_first(db, &max_seen);

  hook_arm(); /* the first flush parks at PICKED while the chain grows behind it */
  model snaps_m[CHAIN_GENS];
  const shale_snapshot *snaps[CHAIN_GENS];
  for (int g = 0; g < CHAIN_GENS; g++) {
    chain_generation(db, &m, g, &rng);
    snaps_m[g] = model_copy(&m);
    assert_int_equal(shale_snapshot_new(db, &snaps[g]), SHALE_OK);
  }
  uint64_t imm = tu_property_u64(db, "shale.num-immutable-memtables");
  if (imm < 4)
    fail_msg("only %llu sealed memtables; the test wants a chain", (unsigned long long)imm);
  shale_iter *held;
  assert_int_equal(shale_iter_new(db, NULL, &held), SHALE_OK);
  int flushes = 0, checks = 0;
  uint64_t l0 = tu_property_u64(db, "shale.num-files-at-level0");
  for (;;) {
    int p = hook_wait_any(HOOK_TIMEOUT_S);
    if (!p) fail_msg("no flush parked within %d s", HOOK_TIMEOUT_S);
    char what[96];
    snprintf(what, sizeof what, "flush %d at %s", flushes, point_name(p));
    uint64_t now_imm = tu_property_u64(db, "shale.num-immutable-memtables");
    uint64_t now_l0 = tu_property_u64(db, "shale.num-files-at-level0");
    if (p == HOOK_FLUSH_VIEW_PUBLISHED) {
      assert_int_equal(now_imm, imm - 1);
      assert_true(now_l0 == l0 + 1 || now_l0 == l0); /* an all-clean memtable adds no table */
      imm = now_imm;
      l0 = now_l0;
      check_oldest_first(db, &max_seen);
    } else {
      assert_int_equal(now_imm, imm);
      assert_int_equal(now_l0, l0);
    }
    check_all(db, NULL, &m, what);
    check_iter(held, &m, what);
    for (int g = 0; g < CHAIN_GENS; g += 3) check_all(db, snaps[g], &snaps_m[g], what);
    checks++;
    if (p == HOOK_FLUSH_WAL_DELETED) flushes++;
    int done = p == HOOK_FLUSH_WAL_DELETED && imm == 0;
    hook_release();
    if (done) break;
  }
  hook_disarm();
  printf("sealed chain: %d flushes held at %d points, each checked\n", flushes, checks);
  assert_true(flushes >= 4);
  for (int g = 0; g < CHAIN_GENS; g++) {
    check_all(db, snaps[g], &snaps_m[g], "snapshot after the chain flushed");
    shale_snapshot_free(db, snaps[g]);
    model_free(&snaps_m[g]);
  }
  shale_iter_free(held);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  check_all(db, NULL, &m, "after reopen");
  assert_int_equal(shale_close(db), SHALE_OK);
  model_free(&m);
  tu_tempdir_free(dir);
}

/* ---- 3. the window under load ---- */

/* Each key has a version counter, bumped by its one writer at every op. Op kinds are a pure
 * function of (key, version), so a reader knows which versions were deletes. Version 0 is
 * the initial "never written" state, an absence like a delete. */
enum { OP_PUT, OP_DEL, OP_RANGE_DEL };

#define LOAD_WRITERS 2
#define LOAD_READERS 2
#define KEYS_PER_WRITER 512
#define LOAD_KEYS (LOAD_WRITERS * KEYS_PER_WRITER)
#define L0_EPOCH_CAP 120 /* no compaction yet: a fresh DB once L0 holds this many tables */

static int op_kind(uint32_t key, uint64_t ver) {
  if (ver == 0) return OP_DEL;
  uint64_t h = (ver * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)key * 0xC2B2AE3D27D4EB4Full);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  unsigned r = (unsigned)(h % 10);
  return r < 6 ? OP_PUT : r < 9 ? OP_DEL : OP_RANGE_DEL;
}

static size_t load_key(uint32_t i, char *k) { return (size_t)snprintf(k, 16, "key%06u", i); }

static size_t load_value(uint32_t key, uint64_t ver, char *v) {
  int pad = (int)(ver % 64);
  return (size_t)snprintf(v, 128, "%06u:%012llu:%0*d", key, (unsigned long long)ver, pad, 0);
}

static int parse_value(const void *val, size_t vl, uint32_t *key, uint64_t *ver) {
  char tmp[160];
  if (vl < 20 || vl >= sizeof tmp) return -1;
  memcpy(tmp, val, vl);
  tmp[vl] = 0;
  unsigned k;
  unsigned long long v;
  if (sscanf(tmp, "%6u:%12llu:", &k, &v) != 2) return -1;
  *key = k;
  *ver = v;
  return 0;
}

typedef struct load {
  shale_db *db;
  _Atomic uint64_t completed[LOAD_KEYS]; /* last op whose call returned */
  _Atomic uint64_t started[LOAD_KEYS];   /* last op about to be issued */
  atomic_int stop;
  _Atomic uint64_t checked, violations, writes, flushes, scans, snap_reads;
  int compaction; /* shale_compact_range works: keep one DB instead of epochs */
} load;

static void report(load *L, const char *fmt, ...) {
  uint64_t n = atomic_fetch_add(&L->violations, 1);
  if (n >= 20) return; /* the count still grows */
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "VIOLATION: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

/* Is any version in [lo, hi] of key a delete (or the initial absence)? */
static int window_has_delete(uint32_t key, uint64_t lo, uint64_t hi) {
  for (uint64_t v = lo; v <= hi; v++)
    if (op_kind(key, v) != OP_PUT) return 1;
  return 0;
}

/* The check every read gets: what it saw for key must be a version in [lo, hi], where lo is
 * the last op completed before the read began and hi the last op started before it ended. */
static int check_seen(load *L, uint32_t key, int found, const void *val, size_t vl, uint64_t lo,
                      uint64_t hi, const char *how) {
  atomic_fetch_add_explicit(&L->checked, 1, memory_order_relaxed);
  if (!found) {
    if (window_has_delete(key, lo, hi)) return 0;
    report(L, "%s key %u absent, but versions %llu..%llu are all puts", how, key,
           (unsigned long long)lo, (unsigned long long)hi);
    return 1;
  }
  uint32_t k;
  uint64_t ver;
  if (parse_value(val, vl, &k, &ver) || k != key) {
    report(L, "%s key %u: malformed value '%.*s'", how, key, (int)(vl > 40 ? 40 : vl),
           (const char *)val);
    return 1;
  }
  if (ver >= lo && ver <= hi && op_kind(key, ver) == OP_PUT) return 0;
  report(L, "%s key %u: saw version %llu (%s), window %llu..%llu (version %llu is a %s)", how, key,
         (unsigned long long)ver, op_kind(key, ver) == OP_PUT ? "put" : "not a put",
         (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)lo,
         op_kind(key, lo) == OP_PUT ? "put" : "delete");
  return 1;
}

typedef struct wctx {
  load *L;
  int id;
} wctx;

static void *writer_main(void *arg) {
  wctx *w = arg;
  load *L = w->L;
  uint64_t rng = 0x1234567ull + (uint64_t)w->id * 77;
  char k[16], e[16], v[128];
  while (!atomic_load_explicit(&L->stop, memory_order_relaxed)) {
    uint32_t key = (uint32_t)(w->id * KEYS_PER_WRITER + tu_rand(&rng) % KEYS_PER_WRITER);
    uint64_t ver = atomic_load_explicit(&L->completed[key], memory_order_relaxed) + 1;
    atomic_store(&L->started[key], ver);
    size_t kl = load_key(key, k);
    int rc;
    switch (op_kind(key, ver)) {
      case OP_PUT:
        rc = shale_put(L->db, k, kl, v, load_value(key, ver, v), 0);
        break;
      case OP_DEL:
        rc = shale_delete(L->db, k, kl, 0);
        break;
      default: /* a range tombstone covering exactly this key */
        rc = shale_delete_range(L->db, k, kl, e, load_key(key + 1, e), 0);
        break;
    }
    if (rc) {
      report(L, "writer %d: write of key %u failed: %s", w->id, key, shale_errmsg(L->db));
      break;
    }
    atomic_store_explicit(&L->completed[key], ver, memory_order_release);
    atomic_fetch_add_explicit(&L->writes, 1, memory_order_relaxed);
  }
  return NULL;
}

static void reader_get(load *L, uint64_t *rng) {
  uint32_t key = (uint32_t)(tu_rand(rng) % LOAD_KEYS);
  char k[16];
  size_t kl = load_key(key, k);
  uint64_t lo = atomic_load_explicit(&L->completed[key], memory_order_acquire);
  void *val;
  size_t vl;
  int rc = shale_get(L->db, NULL, k, kl, &val, &vl);
  uint64_t hi = atomic_load(&L->started[key]);
  if (rc != SHALE_OK && rc != SHALE_NOTFOUND) {
    report(L, "get key %u failed: %d %s", key, rc, shale_errmsg(L->db));
    return;
  }
  check_seen(L, key, rc == SHALE_OK, val, vl, lo, hi, "get");
  shale_free(val);
}

#define SCAN_SPAN 48

/* An iterator, or a snapshot read later, sees the state when it was made: lo before, hi
 * after. Keys it skips must have a delete in their window. */
static void reader_scan(load *L, uint64_t *rng, int use_snapshot) {
  uint32_t first = (uint32_t)(tu_rand(rng) % (LOAD_KEYS - SCAN_SPAN));
  uint64_t lo[SCAN_SPAN], hi[SCAN_SPAN];
  for (int i = 0; i < SCAN_SPAN; i++)
    lo[i] = atomic_load_explicit(&L->completed[first + (uint32_t)i], memory_order_acquire);
  const shale_snapshot *snap = NULL;
  if (use_snapshot && shale_snapshot_new(L->db, &snap)) {
    report(L, "snapshot_new failed");
    return;
  }
  shale_iter *it;
  if (shale_iter_new(L->db, snap, &it)) {
    report(L, "iter_new failed: %s", shale_errmsg(L->db));
    shale_snapshot_free(L->db, snap);
    return;
  }
  for (int i = 0; i < SCAN_SPAN; i++) hi[i] = atomic_load(&L->started[first + (uint32_t)i]);
  if (snap) usleep(200 + (unsigned)(tu_rand(rng) % 2000)); /* let flushes pass under it */
  char k[16];
  int forward = tu_rand(rng) & 1;
  int expect = forward ? 0 : SCAN_SPAN - 1; /* the next key index not yet accounted for */
  if (forward) {
    shale_iter_seek(it, k, load_key(first, k));
  } else {
    shale_iter_seek_for_prev(it, k, load_key(first + SCAN_SPAN - 1, k));
  }
  const char *how = snap      ? (forward ? "forward snapshot scan" : "backward snapshot scan")
                    : forward ? "forward scan"
                              : "backward scan";
  int bad = -1;
  while (forward ? expect < SCAN_SPAN : expect >= 0) {
    int at = forward ? SCAN_SPAN : -1; /* where the iterator is, as an index */
    const void *val = NULL;
    size_t vl = 0;
    if (shale_iter_valid(it)) {
      size_t kl;
      const char *key = shale_iter_key(it, &kl);
      unsigned n;
      char tmp[16];
      if (kl != 9 || (memcpy(tmp, key, 9), tmp[9] = 0, sscanf(tmp, "key%6u", &n) != 1)) {
        report(L, "%s: unexpected key '%.*s'", how, (int)kl, key);
        break;
      }
      long idx = (long)n - (long)first;
      if (forward ? idx < expect : idx > expect) {
        report(L, "%s: key %u out of order", how, n);
        break;
      }
      if (idx >= 0 && idx < SCAN_SPAN) {
        at = (int)idx;
        val = shale_iter_value(it, &vl);
      }
    } else if (shale_iter_status(it)) {
      report(L, "%s: iterator error %d", how, shale_iter_status(it));
      break;
    }
    for (; forward ? expect < at : expect > at; expect += forward ? 1 : -1) /* skipped: absent */
      if (check_seen(L, first + (uint32_t)expect, 0, NULL, 0, lo[expect], hi[expect], how) &&
          bad < 0)
        bad = expect;
    if (at < 0 || at >= SCAN_SPAN) break;
    check_seen(L, first + (uint32_t)at, 1, val, vl, lo[at], hi[at], how);
    expect += forward ? 1 : -1;
    if (forward)
      shale_iter_next(it);
    else
      shale_iter_prev(it);
  }
  if (bad >= 0) { /* diagnose: does the same iterator find the key by a seek? */
    shale_iter_seek(it, k, load_key(first + (uint32_t)bad, k));
    size_t kl = 0, vl = 0;
    const char *key = shale_iter_valid(it) ? shale_iter_key(it, &kl) : "";
    const char *val = shale_iter_valid(it) ? shale_iter_value(it, &vl) : "";
    fprintf(stderr, "  diagnosis: seek(%s) on the same iterator finds '%.*s' = '%.*s'\n", k,
            (int)kl, key, (int)(vl > 24 ? 24 : vl), val);
  }
  shale_iter_free(it);
  if (snap) { /* point reads through the snapshot see the same state */
    for (int i = 0; i < 8; i++) {
      uint32_t idx = (uint32_t)(tu_rand(rng) % SCAN_SPAN);
      void *val;
      size_t vl;
      int rc = shale_get(L->db, snap, k, load_key(first + idx, k), &val, &vl);
      if (rc != SHALE_OK && rc != SHALE_NOTFOUND) {
        report(L, "snapshot get failed: %d", rc);
        break;
      }
      check_seen(L, first + idx, rc == SHALE_OK, val, vl, lo[idx], hi[idx], "snapshot get");
      shale_free(val);
    }
    atomic_fetch_add_explicit(&L->snap_reads, 1, memory_order_relaxed);
    shale_snapshot_free(L->db, snap);
  }
  atomic_fetch_add_explicit(&L->scans, 1, memory_order_relaxed);
}

static void *reader_main(void *arg) {
  wctx *w = arg;
  load *L = w->L;
  uint64_t rng = 0xABCDEFull + (uint64_t)w->id * 131;
  while (!atomic_load_explicit(&L->stop, memory_order_relaxed)) {
    unsigned r = (unsigned)(tu_rand(&rng) % 64);
    if (r == 0)
      reader_scan(L, &rng, 1);
    else if (r < 5)
      reader_scan(L, &rng, 0);
    else
      for (int i = 0; i < 16; i++) reader_get(L, &rng);
  }
  return NULL;
}

static void *flusher_main(void *arg) {
  load *L = arg;
  while (!atomic_load_explicit(&L->stop, memory_order_relaxed)) {
    usleep(3000);
    int rc = shale_flush(L->db);
    if (rc) {
      report(L, "shale_flush failed: %s", shale_errmsg(L->db));
      break;
    }
    atomic_fetch_add_explicit(&L->flushes, 1, memory_order_relaxed);
    char *l0;
    if (shale_property(L->db, "shale.num-files-at-level0", &l0)) {
      report(L, "property failed");
      break;
    }
    long files = atol(l0);
    shale_free(l0);
    if (files >= L0_EPOCH_CAP) {
      rc = shale_compact_range(L->db, NULL, 0, NULL, 0);
      if (rc == SHALE_NOTSUP) break; /* ends the epoch: a fresh DB */
      if (rc) {
        report(L, "shale_compact_range failed: %s", shale_errmsg(L->db));
        break;
      }
      L->compaction = 1;
    }
  }
  atomic_store(&L->stop, 1);
  return NULL;
}

/* Quiesced: every key must hold exactly its last completed op. */
static void check_final(load *L, const char *how) {
  char k[16];
  for (uint32_t key = 0; key < LOAD_KEYS; key++) {
    uint64_t ver = atomic_load(&L->completed[key]);
    void *val;
    size_t vl;
    int rc = shale_get(L->db, NULL, k, load_key(key, k), &val, &vl);
    check_seen(L, key, rc == SHALE_OK, val, vl, ver, ver, how);
    shale_free(val);
  }
}

static void test_window_under_load(void **state) {
  (void)state;
  double secs = tu_stress_seconds(), end = tu_now_s() + secs;
  load *L = calloc(1, sizeof *L);
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64 << 10;
  o.max_immutable_memtables = 4;
  int epochs = 0;
  while (tu_now_s() < end) {
    char *dir = tu_tempdir();
    assert_int_equal(shale_open(dir, &o, &L->db), SHALE_OK);
    for (int i = 0; i < LOAD_KEYS; i++) {
      atomic_store(&L->completed[i], 0);
      atomic_store(&L->started[i], 0);
    }
    atomic_store(&L->stop, 0);
    pthread_t wt[LOAD_WRITERS], rt[LOAD_READERS], ft;
    wctx wc[LOAD_WRITERS], rc[LOAD_READERS];
    for (int i = 0; i < LOAD_WRITERS; i++) {
      wc[i] = (wctx){L, i};
      assert_int_equal(pthread_create(&wt[i], NULL, writer_main, &wc[i]), 0);
    }
    for (int i = 0; i < LOAD_READERS; i++) {
      rc[i] = (wctx){L, i};
      assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &rc[i]), 0);
    }
    assert_int_equal(pthread_create(&ft, NULL, flusher_main, L), 0);
    while (!atomic_load(&L->stop) && tu_now_s() < end) usleep(10000);
    atomic_store(&L->stop, 1);
    pthread_join(ft, NULL);
    for (int i = 0; i < LOAD_WRITERS; i++) pthread_join(wt[i], NULL);
    for (int i = 0; i < LOAD_READERS; i++) pthread_join(rt[i], NULL);
    check_final(L, "quiesced");
    assert_int_equal(shale_close(L->db), SHALE_OK);
    assert_int_equal(shale_open(dir, &o, &L->db), SHALE_OK);
    check_final(L, "after reopen");
    assert_int_equal(shale_close(L->db), SHALE_OK);
    L->db = NULL;
    tu_tempdir_free(dir);
    epochs++;
  }
  uint64_t checked = atomic_load(&L->checked), viol = atomic_load(&L->violations);
  printf(
      "flush window under load: %.1f s, %d epoch(s)%s, %llu writes, %llu flushes, %llu scans "
      "(%llu through snapshots), %.3f million ops checked, %llu violations\n",
      secs, epochs, L->compaction ? " with compaction" : "",
      (unsigned long long)atomic_load(&L->writes), (unsigned long long)atomic_load(&L->flushes),
      (unsigned long long)atomic_load(&L->scans), (unsigned long long)atomic_load(&L->snap_reads),
      (double)checked / 1e6, (unsigned long long)viol);
  free(L);
  assert_int_equal(viol, 0);
  assert_true(checked > 0);
}

/* A failed test must not leave a flush thread parked for the next one. */
static int disarm_teardown(void **state) {
  (void)state;
  hook_disarm();
  return 0;
}

int main(void) {
  const char *only = getenv("SHALE_TEST_FILTER"); /* e.g. "*under_load" */
  if (only && *only) cmocka_set_test_filter(only);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_window_steps_snapshot, disarm_teardown),
      cmocka_unit_test_teardown(test_window_steps_no_snapshot, disarm_teardown),
      cmocka_unit_test_teardown(test_window_sealed_chain, disarm_teardown),
      cmocka_unit_test_teardown(test_window_under_load, disarm_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
