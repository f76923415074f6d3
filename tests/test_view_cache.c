/* test_view_cache.c — the per-thread view cache gets read through (issue 20, point 3): it
 * stays bounded when one thread reads many DBs round robin, an exiting thread returns its
 * slots, a thread that outlives a DB's close neither touches the freed handle nor keeps its
 * memory, and gets racing flushes never see a deleted key again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/db_impl.h"
#include "engine/view_cache.h"
#include "shale.h"
#include "testutil.h"

#define KEYS 64
#define MORE_DBS 16 /* more DBs than a thread caches views for (TL_SLOTS, 8) */

static shale_db *open_db(const char *dir, size_t write_buffer) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = write_buffer;
  o.compression = SHALE_COMPRESSION_NONE;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  return db;
}

static size_t key_of(const char *prefix, int i, char *k) {
  return (size_t)snprintf(k, 32, "%s%06d", prefix, i);
}

static void fill(shale_db *db) {
  char k[32];
  for (int i = 0; i < KEYS; i++) {
    size_t n = key_of("k", i, k);
    assert_int_equal(shale_put(db, k, n, k, n, 0), SHALE_OK);
  }
}

/* Checks a get from any thread (cmocka's fail is not thread-safe, so print and abort). */
static void check_get(shale_db *db, const char *k, size_t n, int want_found) {
  void *v;
  size_t vl;
  int rc = shale_get(db, NULL, k, n, &v, &vl);
  if (want_found ? rc != SHALE_OK || vl != n || memcmp(v, k, n) : rc != SHALE_NOTFOUND) {
    fprintf(stderr, "get %.*s: rc %d, expected %s\n", (int)n, k, rc,
            want_found ? "its value" : "not found");
    abort();
  }
  shale_free(v);
}

static void get_one(shale_db *db, int i) {
  char k[32];
  size_t n = key_of("k", i % KEYS, k);
  check_get(db, k, n, 1);
}

static view_cache_stats stats(shale_db *db) {
  view_cache_stats st;
  db_view_cache_stats(db, &st);
  return st;
}

/* ---- (a) one thread, many DBs, round robin ---- */

typedef struct round_robin {
  shale_db **dbs;
  int ndbs, gets;
  size_t bytes_warm, bytes_end, heap_warm, heap_end, max_live;
} round_robin;

static void *round_robin_main(void *arg) {
  round_robin *rr = arg;
  for (int i = 0; i < rr->ndbs; i++) get_one(rr->dbs[i], i); /* one slot each, if it caches */
  rr->bytes_warm = stats(rr->dbs[0]).bytes;
  rr->heap_warm = mallinfo2().uordblks;
  for (int i = 0; i < rr->gets; i++) get_one(rr->dbs[i % rr->ndbs], i);
  rr->bytes_end = stats(rr->dbs[0]).bytes;
  rr->heap_end = mallinfo2().uordblks;
  for (int i = 0; i < rr->ndbs; i++) {
    size_t live = stats(rr->dbs[i]).live_slots;
    if (live > rr->max_live) rr->max_live = live;
  }
  return NULL;
}

static void round_robin_run(int ndbs, int gets) {
  char *dir = tu_tempdir();
  shale_db *dbs[16];
  for (int i = 0; i < ndbs; i++) {
    char name[16];
    snprintf(name, sizeof name, "db%d", i);
    char *p = tu_path(dir, name);
    dbs[i] = open_db(p, 1u << 20);
    fill(dbs[i]);
    free(p);
  }
  round_robin rr = {.dbs = dbs, .ndbs = ndbs, .gets = gets};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, round_robin_main, &rr), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  long long heap_growth = (long long)rr.heap_end - (long long)rr.heap_warm;
  printf("%d DBs, %d gets: view cache %zu -> %zu bytes, heap in use %+lld bytes\n", ndbs, gets,
         rr.bytes_warm, rr.bytes_end, heap_growth);
  assert_true(rr.max_live <= 1); /* this thread's own slot, at most */
  assert_true(rr.bytes_end <= rr.bytes_warm);
  assert_true(heap_growth < (1 << 20)); /* the old cache kept a slot per miss: ~10 MiB here */
  for (int i = 0; i < ndbs; i++) {
    assert_int_equal(stats(dbs[i]).live_slots, 0); /* the thread returned them at exit */
    assert_int_equal(shale_close(dbs[i]), SHALE_OK);
  }
  tu_tempdir_free(dir);
}

static void test_round_robin_5_dbs(void **state) {
  (void)state;
  round_robin_run(5, 200000);
}

/* More DBs than a thread caches views for: every get evicts one. */
static void test_round_robin_12_dbs(void **state) {
  (void)state;
  round_robin_run(12, 200000);
}

/* ---- (b) short-lived threads ---- */

#define SHORT_THREADS 20000
#define BATCH 16

static void *one_get(void *arg) {
  get_one(arg, 7);
  return NULL;
}

static void test_short_lived_threads(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, 1u << 20);
  fill(db);
  size_t bytes0 = stats(db).bytes;
  size_t max_live = 0;
  for (int done = 0; done < SHORT_THREADS; done += BATCH) {
    pthread_t t[BATCH];
    for (int i = 0; i < BATCH; i++) assert_int_equal(pthread_create(&t[i], NULL, one_get, db), 0);
    for (int i = 0; i < BATCH; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    size_t live = stats(db).live_slots;
    if (live > max_live) max_live = live;
  }
  view_cache_stats st = stats(db);
  double t0 = tu_now_s();
  assert_int_equal(shale_put(db, "x", 1, "x", 1, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  double flush_ms = (tu_now_s() - t0) * 1e3;
  printf(
      "%d threads: live slots after each batch at most %zu, at the end %zu; view cache "
      "%zu -> %zu bytes; flush + publish %.2f ms\n",
      SHORT_THREADS, max_live, st.live_slots, bytes0, st.bytes, flush_ms);
  assert_int_equal(st.live_slots, 0);     /* every thread exited: none is live */
  assert_true(st.bytes <= bytes0 + 1024); /* the DB's registry: no slot of a dead thread */
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- (c) threads that outlive a DB ---- */

#define OUTLIVERS 8

typedef struct outlive {
  shale_db *closing, *other, **more; /* more: DBs to cycle through, evicting `closing` */
  int nmore;
  pthread_barrier_t *held, *closed;
} outlive;

static void *outliver(void *arg) {
  outlive *o = arg;
  get_one(o->closing, 1);
  get_one(o->other, 2);
  pthread_barrier_wait(o->held);   /* both slots are held now */
  pthread_barrier_wait(o->closed); /* main closed `closing` */
  get_one(o->other, 3);
  for (int i = 0; i < o->nmore; i++) get_one(o->more[i], i); /* evicts the closed entry */
  return NULL;                                               /* exit returns `other`'s slot */
}

static void *warm_up(void *arg) {
  outlive *o = arg;
  get_one(o->other, 0);
  for (int i = 0; i < MORE_DBS; i++) get_one(o->more[i], i);
  return NULL;
}

static void outlive_run(outlive *o, int evict) {
  pthread_barrier_t held, closed;
  pthread_barrier_init(&held, NULL, OUTLIVERS + 1);
  pthread_barrier_init(&closed, NULL, OUTLIVERS + 1);
  o->held = &held;
  o->closed = &closed;
  o->nmore = evict ? o->nmore : 0;
  pthread_t t[OUTLIVERS];
  for (int i = 0; i < OUTLIVERS; i++) assert_int_equal(pthread_create(&t[i], NULL, outliver, o), 0);
  pthread_barrier_wait(&held);
  assert_int_equal(stats(o->closing).live_slots, OUTLIVERS);
  assert_int_equal(shale_close(o->closing), SHALE_OK);
  pthread_barrier_wait(&closed);
  for (int i = 0; i < OUTLIVERS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(stats(o->other).live_slots, 0);
  pthread_barrier_destroy(&held);
  pthread_barrier_destroy(&closed);
}

static void test_close_before_thread_exit(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *pa = tu_path(dir, "a"), *pb = tu_path(dir, "b");
  shale_db *b = open_db(pb, 1u << 20), *more[MORE_DBS];
  fill(b);
  for (int i = 0; i < MORE_DBS; i++) {
    char name[16];
    snprintf(name, sizeof name, "m%d", i);
    char *p = tu_path(dir, name);
    more[i] = open_db(p, 1u << 20);
    fill(more[i]);
    free(p);
  }
  /* a thread that read every DB once made their registries; it returned its slots */
  pthread_t warm;
  assert_int_equal(pthread_create(&warm, NULL, warm_up, &(outlive){.other = b, .more = more}), 0);
  assert_int_equal(pthread_join(warm, NULL), 0);
  size_t bytes0 = stats(b).bytes;
  for (int evict = 0; evict < 2; evict++) {
    outlive o = {.closing = open_db(pa, 1u << 20), .other = b, .more = more, .nmore = MORE_DBS};
    fill(o.closing);
    outlive_run(&o, evict);
    /* the closed DB's registry went with its last thread */
    assert_int_equal(stats(b).bytes, bytes0);
  }
  for (int i = 0; i < MORE_DBS; i++) assert_int_equal(shale_close(more[i]), SHALE_OK);
  assert_int_equal(shale_close(b), SHALE_OK);
  free(pa);
  free(pb);
  tu_tempdir_free(dir);
}

/* Threads exiting while the DB closes: the exit destructor and close race for the slots. */
typedef struct exiting {
  shale_db *db;
  _Atomic int got;
} exiting;

static void *get_and_exit(void *arg) {
  exiting *e = arg;
  get_one(e->db, 5);
  atomic_fetch_add(&e->got, 1);
  return NULL;
}

static void test_close_racing_thread_exit(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, 1u << 20);
  size_t bytes0 = stats(db).bytes; /* before any get made its registry */
  fill(db);                        /* the rounds reopen it */
  for (int round = 0; round < 100; round++) {
    if (round) db = open_db(dir, 1u << 20);
    exiting e = {.db = db};
    pthread_t t[OUTLIVERS];
    for (int i = 0; i < OUTLIVERS; i++)
      assert_int_equal(pthread_create(&t[i], NULL, get_and_exit, &e), 0);
    while (atomic_load(&e.got) < OUTLIVERS) sched_yield();
    assert_int_equal(shale_close(db), SHALE_OK); /* while the threads exit */
    for (int i = 0; i < OUTLIVERS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  }
  db = open_db(dir, 1u << 20);
  assert_int_equal(stats(db).bytes, bytes0); /* every registry went with its last thread */
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- (d) gets racing publishes ---- */

#define READERS 3

typedef struct race {
  shale_db *db;
  _Atomic int deleted; /* dead keys below it were deleted (acknowledged) */
  _Atomic int written; /* live keys below it were written */
  _Atomic int stop;
  pthread_barrier_t parked, resume;
  double seconds;
} race;

static void must(int rc, const char *what) {
  if (rc == SHALE_OK) return;
  fprintf(stderr, "%s: %s\n", what, shale_strerror(rc));
  abort();
}

static void *racing_writer(void *arg) {
  race *r = arg;
  char k[32];
  double end = tu_now_s() + r->seconds;
  for (int i = 0; tu_now_s() < end; i++) {
    size_t n = key_of("live", i, k);
    must(shale_put(r->db, k, n, k, n, 0), "put");
    atomic_store(&r->written, i + 1);
    n = key_of("dead", i, k);
    must(shale_put(r->db, k, n, k, n, 0), "put");
    must(shale_delete(r->db, k, n, 0), "delete");
    atomic_store(&r->deleted, i + 1);
    if (i % 4 == 3) must(shale_flush(r->db), "flush"); /* a publish */
  }
  atomic_store(&r->stop, 1);
  return NULL;
}

static void *racing_reader(void *arg) {
  race *r = arg;
  char k[32];
  uint64_t rng = (uint64_t)(uintptr_t)&k;
  while (!atomic_load(&r->stop)) {
    int d = atomic_load(&r->deleted), w = atomic_load(&r->written);
    if (d) {
      size_t n = key_of("dead", (int)(tu_rand(&rng) % (uint64_t)d), k);
      check_get(r->db, k, n, 0);
      n = key_of("dead", d - 1, k); /* the newest delete, most likely to race a flush */
      check_get(r->db, k, n, 0);
    }
    if (w) {
      size_t n = key_of("live", w - 1, k);
      check_get(r->db, k, n, 1);
    }
  }
  pthread_barrier_wait(&r->parked); /* holding a cached view: main looks at it */
  pthread_barrier_wait(&r->resume);
  return NULL;
}

static void test_gets_racing_publishes(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  race r = {.db = open_db(dir, 64u << 10), .seconds = tu_stress_seconds()};
  pthread_barrier_init(&r.parked, NULL, READERS + 1);
  pthread_barrier_init(&r.resume, NULL, READERS + 1);
  pthread_t w, rd[READERS];
  for (int i = 0; i < READERS; i++)
    assert_int_equal(pthread_create(&rd[i], NULL, racing_reader, &r), 0);
  assert_int_equal(pthread_create(&w, NULL, racing_writer, &r), 0);
  assert_int_equal(pthread_join(w, NULL), 0);
  pthread_barrier_wait(&r.parked);
  /* No slot may keep a view older than the current one once the last publish returned; a
   * background compaction may publish meanwhile, so give its walk a moment. */
  view_cache_stats st = stats(r.db);
  for (int i = 0; i < 100 && st.stale_views; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    st = stats(r.db);
  }
  printf("%d deletes raced flushes; %zu readers' slots live, %zu stale\n", atomic_load(&r.deleted),
         st.live_slots, st.stale_views);
  assert_int_equal(st.stale_views, 0);
  pthread_barrier_wait(&r.resume);
  for (int i = 0; i < READERS; i++) assert_int_equal(pthread_join(rd[i], NULL), 0);
  pthread_barrier_destroy(&r.parked);
  pthread_barrier_destroy(&r.resume);
  assert_int_equal(shale_close(r.db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_robin_5_dbs),
      cmocka_unit_test(test_round_robin_12_dbs),
      cmocka_unit_test(test_short_lived_threads),
      cmocka_unit_test(test_close_before_thread_exit),
      cmocka_unit_test(test_close_racing_thread_exit),
      cmocka_unit_test(test_gets_racing_publishes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
