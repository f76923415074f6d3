/* test_api.c — the calls a LevelDB or RocksDB user reaches for (issue 16): open without
 * create_if_missing, destroy, repair, per-thread error detail, multi-get and approximate
 * sizes, on real files in temp directories. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

/* Entries of dir other than "." and "..". */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void put_str(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

static shale_db *open_new(const char *dir) {
  shale_db *db;
  assert_int_equal(shale_open(dir, NULL, &db), SHALE_OK);
  return db;
}

/* LevelDB's answer for an empty directory without create_if_missing, and nothing made. */
static void test_no_create_on_empty_dir(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  shale_options_init(&o);
  o.create_if_missing = 0;
  shale_db *db = (shale_db *)1;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_NOTFOUND);
  assert_null(db);
  char want[4200];
  snprintf(want, sizeof want, "%s/CURRENT: does not exist (create_if_missing is false)", dir);
  assert_string_equal(shale_errmsg(NULL), want);
  assert_int_equal(count_entries(dir), 0);
  /* A DB that exists opens as before. */
  shale_close(open_new(dir));
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  shale_close(db);
  tu_tempdir_free(dir);
}

static void make_db(const char *dir) {
  shale_db *db = open_new(dir);
  put_str(db, "a", "1");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put_str(db, "b", "2");
  assert_int_equal(shale_close(db), SHALE_OK);
}

static void test_destroy_removes_db(void **state) {
  (void)state;
  char *root = tu_tempdir();
  char *dir = tu_path(root, "db");
  make_db(dir);
  char *lost = tu_path(dir, "lost");
  assert_int_equal(mkdir(lost, 0755), 0);
  char *old = tu_path(lost, "000099.sst");
  FILE *f = fopen(old, "w");
  fclose(f);
  assert_int_equal(shale_destroy(dir, NULL), SHALE_OK);
  struct stat st;
  assert_int_equal(stat(dir, &st), -1);
  /* Missing is already destroyed; a DB can be made there again. */
  assert_int_equal(shale_destroy(dir, NULL), SHALE_OK);
  make_db(dir);
  assert_int_equal(shale_destroy(dir, NULL), SHALE_OK);
  assert_int_equal(shale_destroy(NULL, NULL), SHALE_INVALID);
  free(old);
  free(lost);
  free(dir);
  tu_tempdir_free(root);
}

/* Files that are not Shale's survive, and keep their directory (and lost/). */
static void test_destroy_keeps_foreign_files(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *notes = tu_path(dir, "notes.txt"), *lost = tu_path(dir, "lost");
  assert_int_equal(mkdir(lost, 0755), 0);
  char *mine = tu_path(lost, "mine.txt");
  FILE *f = fopen(notes, "w");
  fclose(f);
  f = fopen(mine, "w");
  fclose(f);
  assert_int_equal(shale_destroy(dir, NULL), SHALE_OK);
  assert_int_equal(count_entries(dir), 3); /* notes.txt, lost/ and LOCK */
  assert_int_equal(count_entries(lost), 1);
  shale_close(open_new(dir));
  free(notes);
  free(mine);
  free(lost);
  tu_tempdir_free(dir);
}

static void test_destroy_refuses_busy_and_foreign(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  put_str(db, "a", "1");
  int before = count_entries(dir);
  assert_int_equal(shale_destroy(dir, NULL), SHALE_BUSY);
  assert_non_null(strstr(shale_errmsg(NULL), "is locked"));
  assert_int_equal(count_entries(dir), before);
  shale_close(db);
  char *other = tu_tempdir(), *p = tu_path(other, "data.bin");
  FILE *f = fopen(p, "w");
  fputs("precious", f);
  fclose(f);
  assert_int_equal(shale_destroy(other, NULL), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "is not a Shale DB"));
  assert_int_equal(count_entries(other), 1);
  assert_int_equal(shale_destroy(p, NULL), SHALE_INVALID); /* a file */
  free(p);
  tu_tempdir_free(other);
  tu_tempdir_free(dir);
}

/* Removes every entry of dir whose name starts with prefix. */
static void remove_prefixed(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix))) {
      char *p = tu_path(dir, e->d_name);
      assert_int_equal(unlink(p), 0);
      free(p);
    }
  closedir(d);
}

static void assert_value(shale_db *db, const char *k, const char *want) {
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, k, strlen(k), &v, &vl), SHALE_OK);
  assert_int_equal(vl, strlen(want));
  assert_memory_equal(v, want, vl);
  shale_free(v);
}

/* Without CURRENT and MANIFEST the tables and WAL still hold every key; repair finds them. */
static void test_repair_rebuilds_manifest(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  remove_prefixed(dir, "MANIFEST-");
  remove_prefixed(dir, "CURRENT");
  shale_options o;
  shale_options_init(&o);
  o.create_if_missing = 0;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_NOTFOUND);
  assert_int_equal(shale_repair(dir, NULL), SHALE_OK);
  db = open_new(dir);
  assert_value(db, "a", "1"); /* from a table */
  assert_value(db, "b", "2"); /* from the WAL */
  assert_int_equal(shale_repair(dir, NULL), SHALE_BUSY);
  assert_non_null(strstr(shale_errmsg(NULL), "is locked"));
  assert_int_equal(shale_close(db), SHALE_OK);
  char *log = tu_path(dir, "LOG");
  assert_true(tu_file_size(log) > 0);
  free(log);
  tu_tempdir_free(dir);
}

static void test_repair_refuses_foreign_and_missing(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *p = tu_path(dir, "data.bin"), *gone = tu_path(dir, "nothing");
  FILE *f = fopen(p, "w");
  fputs("precious", f);
  fclose(f);
  assert_int_equal(shale_repair(dir, NULL), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "is not a Shale DB"));
  assert_int_equal(count_entries(dir), 1);
  assert_int_equal(shale_repair(gone, NULL), SHALE_NOTFOUND);
  assert_int_equal(shale_repair(NULL, NULL), SHALE_INVALID);
  free(p);
  free(gone);
  tu_tempdir_free(dir);
}

/* Two threads fail differently on one handle, over and over, at once: each reads back its
 * own message, never the other's. */
typedef struct err_worker {
  shale_db *db;
  pthread_barrier_t *start;
  int range; /* 1: a bad range delete; 0: a put with bad flags */
  int mismatches;
} err_worker;

static void *fail_repeatedly(void *arg) {
  err_worker *w = arg;
  const char *want = w->range ? "delete_range: oversized bound, a NULL bound with a length, or "
                                "begin not below end"
                              : "put: unknown flags 0x80 (only SHALE_SYNC, SHALE_NO_WAL)";
  pthread_barrier_wait(w->start);
  for (int i = 0; i < 20000; i++) {
    int rc = w->range ? shale_delete_range(w->db, "b", 1, "a", 1, 0)
                      : shale_put(w->db, "k", 1, "v", 1, 0x80u);
    if (rc != SHALE_INVALID || strcmp(shale_errmsg(w->db), want)) w->mismatches++;
  }
  return NULL;
}

static void test_errmsg_per_thread(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, 2);
  err_worker w[2] = {{db, &start, 0, 0}, {db, &start, 1, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, fail_repeatedly, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(w[0].mismatches, 0);
  assert_int_equal(w[1].mismatches, 0);
  assert_string_equal(shale_errmsg(db), ""); /* this thread failed nothing */
  pthread_barrier_destroy(&start);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* A call that succeeds clears the thread's detail; a later failure shows only its own. */
static void test_errmsg_cleared_by_success(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0x80u), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "put:"));
  put_str(db, "k", "v");
  assert_string_equal(shale_errmsg(db), "");
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0x80u), SHALE_INVALID);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, "nope", 4, &v, &vl), SHALE_NOTFOUND);
  assert_string_equal(shale_errmsg(db), ""); /* a miss is an answer, not a failure */
  assert_int_equal(shale_get(db, NULL, NULL, 1, &v, &vl), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "get:"));
  assert_int_equal(shale_delete_range(db, "b", 1, "a", 1, 0), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "delete_range:"));
  /* Each handle keeps its own detail. */
  char *dir2 = tu_tempdir();
  shale_db *db2 = open_new(dir2);
  assert_string_equal(shale_errmsg(db2), "");
  assert_non_null(strstr(shale_errmsg(db), "delete_range:"));
  shale_close(db2);
  tu_tempdir_free(dir2);
  shale_close(db);
  tu_tempdir_free(dir);
}

static void test_multi_get(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  put_str(db, "b", "table");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put_str(db, "a", "mem");
  put_str(db, "c", "old");
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  put_str(db, "c", "new");
  assert_int_equal(shale_delete(db, "a", 1, 0), SHALE_OK);
  const void *keys[] = {"c", "a", "zz", "b", "c", NULL};
  size_t klens[] = {1, 1, 2, 1, 1, 1}, vlens[6]; /* the last: NULL with a length */
  void *vals[6];
  int rcs[6];
  assert_int_equal(shale_multi_get(db, NULL, 5, keys, klens, vals, vlens, rcs), SHALE_OK);
  int want[] = {SHALE_OK, SHALE_NOTFOUND, SHALE_NOTFOUND, SHALE_OK, SHALE_OK};
  for (int i = 0; i < 5; i++) assert_int_equal(rcs[i], want[i]);
  assert_null(vals[1]);
  assert_int_equal(vlens[0], 3);
  assert_memory_equal(vals[0], "new", 3);
  assert_memory_equal(vals[3], "table", 5);
  assert_memory_equal(vals[4], "new", 3);
  for (int i = 0; i < 5; i++) shale_free(vals[i]);
  /* At a snapshot: the state when it was taken. */
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  assert_int_equal(shale_multi_get(db, &ro, 2, keys, klens, vals, vlens, rcs), SHALE_OK);
  assert_memory_equal(vals[0], "old", 3);
  assert_memory_equal(vals[1], "mem", 3);
  shale_free(vals[0]);
  shale_free(vals[1]);
  /* A bad key is answered alone; the others still are. */
  assert_int_equal(shale_multi_get(db, NULL, 6, keys, klens, vals, vlens, rcs), SHALE_INVALID);
  assert_int_equal(rcs[5], SHALE_INVALID);
  assert_int_equal(rcs[3], SHALE_OK);
  assert_non_null(strstr(shale_errmsg(db), "multi_get"));
  for (int i = 0; i < 6; i++) shale_free(vals[i]);
  assert_int_equal(shale_multi_get(db, NULL, 0, NULL, NULL, NULL, NULL, NULL), SHALE_OK);
  assert_int_equal(shale_multi_get(db, NULL, 1, keys, NULL, vals, vlens, rcs), SHALE_INVALID);
  ro.size = 8;
  assert_int_equal(shale_multi_get(db, &ro, 1, keys, klens, vals, vlens, rcs), SHALE_INVALID);
  assert_null(vals[0]);
  shale_snapshot_free(db, snap);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* Writers commit pairs of keys in one batch; every multi_get sees both or neither. */
typedef struct pair_writer {
  shale_db *db;
  atomic_int stop;
} pair_writer;

static void *write_pairs(void *arg) {
  pair_writer *w = arg;
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  char v[32];
  for (unsigned i = 0; !w->stop; i++) {
    snprintf(v, sizeof v, "%u", i);
    shale_batch_clear(b);
    shale_batch_put(b, "x", 1, v, strlen(v));
    shale_batch_put(b, "y", 1, v, strlen(v));
    if (shale_write(w->db, b, 0)) break;
    if (i % 5000 == 0) shale_flush(w->db);
  }
  shale_batch_free(b);
  return NULL;
}

static void test_multi_get_consistent(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  pair_writer w = {db, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, write_pairs, &w), 0);
  const void *keys[] = {"y", "x"};
  size_t klens[] = {1, 1}, vlens[2];
  void *vals[2];
  int rcs[2];
  for (int i = 0; i < 20000; i++) {
    assert_int_equal(shale_multi_get(db, NULL, 2, keys, klens, vals, vlens, rcs), SHALE_OK);
    assert_int_equal(rcs[0], rcs[1]);
    if (rcs[0] == SHALE_OK) {
      assert_int_equal(vlens[0], vlens[1]);
      assert_memory_equal(vals[0], vals[1], vlens[0]);
    }
    shale_free(vals[0]);
    shale_free(vals[1]);
  }
  w.stop = 1;
  pthread_join(t, NULL);
  shale_close(db);
  tu_tempdir_free(dir);
}

static uint64_t approx(shale_db *db, const char *b, const char *e) {
  const void *begins[] = {b}, *ends[] = {e};
  size_t blens[] = {b ? strlen(b) : 0}, elens[] = {e ? strlen(e) : 0};
  uint64_t size = 1;
  assert_int_equal(shale_approximate_sizes(db, 1, begins, blens, ends, elens, &size), SHALE_OK);
  return size;
}

static long long dir_sst_bytes(const char *dir) {
  DIR *d = opendir(dir);
  long long total = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 4 || strcmp(e->d_name + l - 4, ".sst")) continue;
    char *p = tu_path(dir, e->d_name);
    total += tu_file_size(p);
    free(p);
  }
  closedir(d);
  return total;
}

/* One table of 4000 keys of 100 incompressible bytes: a range's size grows with its keys,
 * the whole range is the file, and disjoint ranges count nothing. */
static void test_approximate_sizes(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  shale_options_init(&o);
  o.compression = SHALE_COMPRESSION_NONE;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  assert_int_equal(approx(db, NULL, NULL), 0);
  uint64_t rnd = 7;
  char k[16], v[100];
  for (int i = 0; i < 4000; i++) {
    snprintf(k, sizeof k, "k%05d", i);
    for (size_t j = 0; j < sizeof v; j++) v[j] = (char)tu_rand(&rnd);
    assert_int_equal(shale_put(db, k, strlen(k), v, sizeof v, 0), SHALE_OK);
  }
  assert_int_equal(approx(db, NULL, NULL), 0); /* only in the memtable */
  assert_int_equal(shale_flush(db), SHALE_OK);
  uint64_t all = approx(db, NULL, NULL);
  assert_int_equal(all, (uint64_t)dir_sst_bytes(dir));
  assert_int_equal(approx(db, "a", "z"), all);
  assert_int_equal(approx(db, "z", NULL), 0);
  assert_int_equal(approx(db, NULL, "a"), 0);
  uint64_t half = approx(db, "k00000", "k02000"), quarter = approx(db, "k01000", "k02000");
  assert_true(half > all * 4 / 10 && half < all * 6 / 10);
  assert_true(quarter > all * 2 / 10 && quarter < all * 3 / 10);
  assert_true(approx(db, "k03000", NULL) > all / 4);
  assert_true(approx(db, "k01000", "k01001") < 8192); /* one block, at most */
  /* Several ranges at once, and bad arguments. */
  const void *begins[] = {NULL, "k02000"}, *ends[] = {"k02000", NULL};
  size_t blens[] = {0, 6}, elens[] = {6, 0};
  uint64_t sizes[2];
  assert_int_equal(shale_approximate_sizes(db, 2, begins, blens, ends, elens, sizes), SHALE_OK);
  assert_true(sizes[0] + sizes[1] >= all * 9 / 10 && sizes[0] + sizes[1] <= all);
  blens[0] = 3;
  assert_int_equal(shale_approximate_sizes(db, 2, begins, blens, ends, elens, sizes),
                   SHALE_INVALID);
  assert_int_equal(shale_approximate_sizes(db, 1, NULL, blens, ends, elens, sizes), SHALE_INVALID);
  assert_int_equal(shale_approximate_sizes(db, 0, NULL, NULL, NULL, NULL, NULL), SHALE_OK);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* SHALE_SYNC | SHALE_NO_WAL asks for an fsync of a WAL that is not written: every write
 * entry point refuses it, says why, and writes nothing. */
static void test_sync_no_wal_refused(void **state) {
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  const unsigned both = SHALE_SYNC | SHALE_NO_WAL;
  assert_int_equal(shale_put(db, "k", 1, "v", 1, both), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "SHALE_SYNC and SHALE_NO_WAL"));
  assert_int_equal(shale_delete(db, "k", 1, both), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "delete: SHALE_SYNC and SHALE_NO_WAL"));
  assert_int_equal(shale_delete_range(db, "a", 1, "b", 1, both), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "delete_range: SHALE_SYNC"));
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "k", 1, "v", 1), SHALE_OK);
  assert_int_equal(shale_write(db, b, both), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "write: SHALE_SYNC"));
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 4u), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "unknown flags"));
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, "k", 1, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_write(db, b, SHALE_SYNC), SHALE_OK); /* each alone is fine */
  assert_int_equal(shale_write(db, b, SHALE_NO_WAL), SHALE_OK);
  shale_batch_free(b);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* A snapshot freed after its handle would touch freed memory: close refuses while one is
 * live, the handle stays usable, and closes once the snapshot is gone. */
static void test_close_refuses_live_snapshot(void **state) {
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  put_str(db, "k", "v1");
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  put_str(db, "k", "v2");
  assert_int_equal(shale_close(db), SHALE_BUSY);
  assert_non_null(strstr(shale_errmsg(db), "1 snapshot(s) and 0 iterator(s) still live"));
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, snap, "k", 1, &v, &vl), SHALE_OK);
  assert_memory_equal(v, "v1", 2);
  shale_free(v);
  shale_snapshot_free(db, snap);
  shale_iter *it; /* an iterator holds the handle open the same way */
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_BUSY);
  assert_non_null(strstr(shale_errmsg(db), "0 snapshot(s) and 1 iterator(s) still live"));
  shale_iter_seek_first(it);
  assert_true(shale_iter_valid(it));
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_new(dir); /* the LOCK was released */
  assert_value(db, "k", "v2");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* The live keys, walked forward and backward, must be exactly want[0..n). */
static void assert_live(shale_db *db, const char *const *want, size_t n) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  size_t i = 0, kl;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it), i++) {
    const char *k = shale_iter_key(it, &kl);
    assert_true(i < n);
    assert_int_equal(kl, strlen(want[i]));
    assert_memory_equal(k, want[i], kl);
  }
  assert_int_equal(i, n);
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it), i--) {
    const char *k = shale_iter_key(it, &kl);
    assert_true(i > 0);
    assert_int_equal(kl, strlen(want[i - 1]));
    assert_memory_equal(k, want[i - 1], kl);
  }
  assert_int_equal(i, 0);
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
}

static void put_top_key(shale_db *db, const uint8_t *top) {
  assert_int_equal(shale_put(db, top, SHALE_MAX_KEY_SIZE, "t", 1, 0), SHALE_OK);
}

/* A NULL begin or end of a range delete is unbounded on that side: the lowest key ("\x01"
 * here) and the highest possible one go too, through flush, compaction and reopen, and a
 * put after the delete lives. The batch call takes open ends alike. */
static void test_delete_range_open_ends(void **state) {
  char *dir = tu_tempdir();
  shale_db *db = open_new(dir);
  uint8_t *top = malloc(SHALE_MAX_KEY_SIZE);
  assert_non_null(top);
  memset(top, 0xFF, SHALE_MAX_KEY_SIZE);
  const char *keys[] = {"\x01", "a", "b", "c", "m", "x", "y", "zz"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) put_str(db, keys[i], "v");
  put_top_key(db, top);
  assert_int_equal(shale_flush(db), SHALE_OK); /* deletes over table data too */
  assert_int_equal(shale_delete_range(db, NULL, 1, "c", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_delete_range(db, NULL, 0, NULL, 0, SHALE_SYNC | SHALE_NO_WAL),
                   SHALE_INVALID);
  assert_int_equal(shale_delete_range(db, NULL, 0, "c", 1, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "x", 1, NULL, 0, 0), SHALE_OK);
  put_str(db, "zzz", "after");
  const char *live[] = {"c", "m", "zzz"};
  assert_live(db, live, 3);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, top, SHALE_MAX_KEY_SIZE, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_get(db, NULL, "\x01", 1, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_live(db, live, 3);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  assert_live(db, live, 3);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_new(dir);
  assert_live(db, live, 3);
  /* The batch form, and everything: [NULL, NULL) empties the DB, the top key included. */
  put_top_key(db, top);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_delete_range(b, "c", 1, "c", 1), SHALE_INVALID);
  assert_int_equal(shale_batch_delete_range(b, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(shale_write(db, b, 0), SHALE_OK);
  shale_batch_free(b);
  assert_live(db, NULL, 0);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_new(dir); /* replayed from the WAL */
  assert_live(db, NULL, 0);
  assert_int_equal(shale_get(db, NULL, top, SHALE_MAX_KEY_SIZE, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(top);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_create_on_empty_dir),
      cmocka_unit_test(test_destroy_removes_db),
      cmocka_unit_test(test_destroy_keeps_foreign_files),
      cmocka_unit_test(test_destroy_refuses_busy_and_foreign),
      cmocka_unit_test(test_repair_rebuilds_manifest),
      cmocka_unit_test(test_repair_refuses_foreign_and_missing),
      cmocka_unit_test(test_errmsg_per_thread),
      cmocka_unit_test(test_errmsg_cleared_by_success),
      cmocka_unit_test(test_multi_get),
      cmocka_unit_test(test_multi_get_consistent),
      cmocka_unit_test(test_approximate_sizes),
      cmocka_unit_test(test_sync_no_wal_refused),
      cmocka_unit_test(test_close_refuses_live_snapshot),
      cmocka_unit_test(test_delete_range_open_ends),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
