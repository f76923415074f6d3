/* test_leveldb_compat.c — libshale-leveldb behaves as LevelDB 1.23's C API documents (issue
 * 16): every function of <shale/leveldb/c.h>, on real DBs in temp directories, through that
 * header alone, as a LevelDB program would use it. */
#include <dirent.h>
#include <pthread.h>
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

#include "shale/leveldb/c.h"
#include "testutil.h"

/* ---- fixtures ---- */

struct fixture {
  char *tmp;  /* the temp directory */
  char *name; /* <tmp>/db: not yet made */
  leveldb_options_t *opts;
  leveldb_readoptions_t *ro;
  leveldb_writeoptions_t *wo;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  f->tmp = tu_tempdir();
  f->name = tu_path(f->tmp, "db");
  f->opts = leveldb_options_create();
  leveldb_options_set_create_if_missing(f->opts, 1);
  f->ro = leveldb_readoptions_create();
  f->wo = leveldb_writeoptions_create();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  leveldb_options_destroy(f->opts);
  leveldb_readoptions_destroy(f->ro);
  leveldb_writeoptions_destroy(f->wo);
  tu_tempdir_free(f->tmp);
  free(f->name);
  free(f);
  return 0;
}

#define NO_ERROR(err)                                         \
  do {                                                        \
    if (err) fail_msg("unexpected error: %s", (char *)(err)); \
  } while (0)

static int starts_with(const char *s, const char *prefix) {
  return s && !strncmp(s, prefix, strlen(prefix));
}

#define ASSERT_ERROR(err, prefix)                                     \
  do {                                                                \
    if (!starts_with((err), (prefix)))                                \
      fail_msg("want an error starting \"%s\", got \"%s\"", (prefix), \
               (err) ? (char *)(err) : "(none)");                     \
  } while (0)

static leveldb_t *open_ok(struct fixture *f) {
  char *err = NULL;
  leveldb_t *db = leveldb_open(f->opts, f->name, &err);
  NO_ERROR(err);
  assert_non_null(db);
  return db;
}

static void put(leveldb_t *db, struct fixture *f, const char *k, const char *v) {
  char *err = NULL;
  leveldb_put(db, f->wo, k, strlen(k), v, strlen(v), &err);
  NO_ERROR(err);
}

/* The value of k, NULL when absent; an error fails the test. */
static void check_get(leveldb_t *db, const leveldb_readoptions_t *ro, const char *k,
                      const char *want) {
  char *err = NULL;
  size_t len = 99;
  char *v = leveldb_get(db, ro, k, strlen(k), &len, &err);
  NO_ERROR(err);
  if (!want) {
    assert_null(v);
    return;
  }
  assert_non_null(v);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(v, want, len);
  leveldb_free(v);
}

static void check_iter(leveldb_iterator_t *it, const char *k, const char *v) {
  size_t len;
  assert_true(leveldb_iter_valid(it));
  const char *p = leveldb_iter_key(it, &len);
  assert_int_equal(len, strlen(k));
  assert_memory_equal(p, k, len);
  p = leveldb_iter_value(it, &len);
  assert_int_equal(len, strlen(v));
  assert_memory_equal(p, v, len);
}

static uint64_t number_property(leveldb_t *db, const char *name) {
  char *text = leveldb_property_value(db, name);
  assert_non_null(text);
  char *end;
  uint64_t n = strtoull(text, &end, 10);
  assert_true(end != text && *end == '\0');
  leveldb_free(text);
  return n;
}

/* ---- open, close, destroy, repair ---- */

static void test_versions(void **state) {
  (void)state;
  assert_int_equal(leveldb_major_version(), 1);
  assert_int_equal(leveldb_minor_version(), 23);
}

/* A missing DB without create_if_missing: LevelDB's message, and an older *errptr freed. */
static void test_open_missing(void **state) {
  struct fixture *f = *state;
  leveldb_options_set_create_if_missing(f->opts, 0);
  char *err = strdup("an older message");
  assert_null(leveldb_open(f->opts, f->name, &err));
  char want[4200];
  snprintf(want, sizeof want, "Invalid argument: %s: does not exist (create_if_missing is false)",
           f->name);
  assert_string_equal(err, want);
  leveldb_free(err);
  /* The default options do not create either (LevelDB's default). */
  err = NULL;
  leveldb_options_t *defaults = leveldb_options_create();
  assert_null(leveldb_open(defaults, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  leveldb_options_destroy(defaults);
}

static void test_error_if_exists(void **state) {
  struct fixture *f = *state;
  leveldb_close(open_ok(f));
  leveldb_options_set_error_if_exists(f->opts, 1);
  char *err = NULL;
  assert_null(leveldb_open(f->opts, f->name, &err));
  char want[4200];
  snprintf(want, sizeof want, "Invalid argument: %s: exists (error_if_exists is true)", f->name);
  assert_string_equal(err, want);
  leveldb_free(err);
  leveldb_options_set_error_if_exists(f->opts, 0);
  leveldb_close(open_ok(f));
}

/* A second handle on an open DB is refused: the lock is held. */
static void test_open_locked(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  char *err = NULL;
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "IO error: ");
  leveldb_free(err);
  leveldb_close(db);
  leveldb_close(NULL);
}

/* Run twice in one directory: the second open finds the first's data. */
static void test_reopen(void **state) {
  struct fixture *f = *state;
  for (int round = 0; round < 2; round++) {
    leveldb_t *db = open_ok(f);
    check_get(db, f->ro, "round0", round ? "x" : NULL);
    put(db, f, round ? "round1" : "round0", "x");
    leveldb_close(db);
  }
  leveldb_options_set_create_if_missing(f->opts, 0);
  leveldb_t *db = open_ok(f);
  check_get(db, f->ro, "round0", "x");
  check_get(db, f->ro, "round1", "x");
  leveldb_close(db);
}

static void test_destroy_then_open_fails(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "k", "v");
  leveldb_close(db);
  char *err = NULL;
  leveldb_destroy_db(f->opts, f->name, &err);
  NO_ERROR(err);
  leveldb_destroy_db(f->opts, f->name, &err); /* already gone: still no error */
  NO_ERROR(err);
  leveldb_options_set_create_if_missing(f->opts, 0);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_non_null(strstr(err, "does not exist (create_if_missing is false)"));
  leveldb_free(err);
  /* Created again, it is empty. */
  leveldb_options_set_create_if_missing(f->opts, 1);
  db = open_ok(f);
  check_get(db, f->ro, "k", NULL);
  leveldb_close(db);
}

/* Destroying a directory of someone else's files is refused and removes nothing. */
static void test_destroy_refuses_foreign_dir(void **state) {
  struct fixture *f = *state;
  assert_int_equal(mkdir(f->name, 0755), 0);
  char *file = tu_path(f->name, "notes.txt");
  FILE *fp = fopen(file, "w");
  fputs("mine", fp);
  fclose(fp);
  char *err = NULL;
  leveldb_destroy_db(f->opts, f->name, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  assert_true(tu_file_size(file) == 4);
  free(file);
}

static void test_repair(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "foo", "hello");
  put(db, f, "box", "c");
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  put(db, f, "late", "in the WAL");
  leveldb_close(db);
  char *err = NULL;
  leveldb_repair_db(f->opts, f->name, &err);
  NO_ERROR(err);
  leveldb_options_set_create_if_missing(f->opts, 0);
  db = open_ok(f);
  check_get(db, f->ro, "foo", "hello");
  check_get(db, f->ro, "box", "c");
  check_get(db, f->ro, "late", "in the WAL");
  leveldb_close(db);
  /* Repairing nothing is an error, as in LevelDB (its lock file cannot be made). */
  char *missing = tu_path(f->tmp, "missing");
  leveldb_repair_db(f->opts, missing, &err);
  ASSERT_ERROR(err, "NotFound: ");
  leveldb_free(err);
  free(missing);
}

/* ---- reads and writes ---- */

static void test_put_get_delete(void **state) {
  struct fixture *f = *state;
  leveldb_writeoptions_set_sync(f->wo, 1);
  leveldb_t *db = open_ok(f);
  check_get(db, f->ro, "foo", NULL);
  put(db, f, "foo", "hello");
  check_get(db, f->ro, "foo", "hello");
  put(db, f, "foo", "world");
  check_get(db, f->ro, "foo", "world");
  char *err = NULL;
  leveldb_delete(db, f->wo, "foo", 3, &err);
  NO_ERROR(err);
  check_get(db, f->ro, "foo", NULL);
  leveldb_delete(db, f->wo, "never", 5, &err); /* deleting an absent key succeeds */
  NO_ERROR(err);
  /* Binary keys and an empty value: found, non-NULL, length 0. */
  leveldb_put(db, f->wo, "a\0b", 3, "", 0, &err);
  NO_ERROR(err);
  size_t len = 99;
  char *v = leveldb_get(db, f->ro, "a\0b", 3, &len, &err);
  NO_ERROR(err);
  assert_non_null(v);
  assert_int_equal(len, 0);
  free(v); /* LevelDB's values may be freed with free() too */
  check_get(db, f->ro, "a", NULL);
  /* A value longer than the first read's buffer. */
  size_t big = 300000;
  char *val = malloc(big);
  for (size_t i = 0; i < big; i++) val[i] = (char)('a' + i % 26);
  leveldb_put(db, f->wo, "big", 3, val, big, &err);
  NO_ERROR(err);
  v = leveldb_get(db, f->ro, "big", 3, &len, &err);
  NO_ERROR(err);
  assert_int_equal(len, big);
  assert_memory_equal(v, val, big);
  leveldb_free(v);
  free(val);
  /* NULL read and write options are the defaults. */
  leveldb_put(db, NULL, "n", 1, "1", 1, &err);
  NO_ERROR(err);
  check_get(db, NULL, "n", "1");
  leveldb_close(db);
}

static void test_bad_arguments(void **state) {
  struct fixture *f = *state;
  char *err = NULL;
  leveldb_put(NULL, f->wo, "k", 1, "v", 1, &err);
  assert_string_equal(err, "Invalid argument: NULL leveldb_t handle");
  leveldb_t *db = open_ok(f);
  leveldb_put(db, f->wo, NULL, 3, "v", 1, &err); /* frees the previous message */
  ASSERT_ERROR(err, "Invalid argument: ");
  size_t huge = 70 * 1024;
  char *key = calloc(1, huge);
  leveldb_put(db, f->wo, key, huge, "v", 1, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  size_t len = 5;
  assert_null(leveldb_get(db, f->ro, key, huge, &len, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_int_equal(len, 0);
  leveldb_delete(db, f->wo, key, huge, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_write(db, f->wo, NULL, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  free(key);
  /* Nothing was lost: the DB still works. */
  put(db, f, "k", "v");
  check_get(db, f->ro, "k", "v");
  leveldb_close(db);
  assert_null(leveldb_open(f->opts, NULL, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
}

/* ---- write batches ---- */

struct batch_log {
  char text[512];
};

static void log_put(void *arg, const char *k, size_t klen, const char *v, size_t vlen) {
  struct batch_log *log = arg;
  size_t n = strlen(log->text);
  snprintf(log->text + n, sizeof log->text - n, "put(%.*s,%.*s) ", (int)klen, k, (int)vlen, v);
}

static void log_delete(void *arg, const char *k, size_t klen) {
  struct batch_log *log = arg;
  size_t n = strlen(log->text);
  snprintf(log->text + n, sizeof log->text - n, "del(%.*s) ", (int)klen, k);
}

static void test_writebatch(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "foo", "hello");
  leveldb_writebatch_t *wb = leveldb_writebatch_create();
  leveldb_writebatch_put(wb, "foo", 3, "a", 1);
  leveldb_writebatch_clear(wb);
  leveldb_writebatch_put(wb, "bar", 3, "b", 1);
  leveldb_writebatch_put(wb, "box", 3, "c", 1);
  leveldb_writebatch_delete(wb, "bar", 3);
  char *err = NULL;
  leveldb_write(db, f->wo, wb, &err);
  NO_ERROR(err);
  check_get(db, f->ro, "foo", "hello");
  check_get(db, f->ro, "bar", NULL);
  check_get(db, f->ro, "box", "c");
  struct batch_log log = {""};
  leveldb_writebatch_iterate(wb, &log, log_put, log_delete);
  assert_string_equal(log.text, "put(bar,b) put(box,c) del(bar) ");
  /* append copies the source's operations after the destination's. */
  leveldb_writebatch_t *dst = leveldb_writebatch_create();
  leveldb_writebatch_put(dst, "first", 5, "1", 1);
  leveldb_writebatch_append(dst, wb);
  leveldb_writebatch_put(dst, "last", 4, "9", 1);
  memset(&log, 0, sizeof log);
  leveldb_writebatch_iterate(dst, &log, log_put, log_delete);
  assert_string_equal(log.text, "put(first,1) put(bar,b) put(box,c) del(bar) put(last,9) ");
  memset(&log, 0, sizeof log);
  leveldb_writebatch_iterate(wb, &log, log_put, log_delete); /* the source is unchanged */
  assert_string_equal(log.text, "put(bar,b) put(box,c) del(bar) ");
  leveldb_write(db, f->wo, dst, &err);
  NO_ERROR(err);
  check_get(db, f->ro, "first", "1");
  check_get(db, f->ro, "last", "9");
  leveldb_writebatch_destroy(dst);
  leveldb_writebatch_destroy(wb);
  leveldb_writebatch_destroy(NULL);
  leveldb_close(db);
}

/* A batch that could not take an operation is refused whole by leveldb_write. */
static void test_writebatch_failure_kept(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  leveldb_writebatch_t *wb = leveldb_writebatch_create();
  leveldb_writebatch_put(wb, "ok", 2, "1", 1);
  size_t huge = 70 * 1024;
  char *key = calloc(1, huge);
  leveldb_writebatch_put(wb, key, huge, "v", 1);
  char *err = NULL;
  leveldb_write(db, f->wo, wb, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_null(strstr(err + 1, "Invalid argument"));
  assert_non_null(strstr(err, "leveldb_writebatch_put"));
  leveldb_free(err);
  err = NULL;
  check_get(db, f->ro, "ok", NULL);
  /* append carries the failure over; clear forgets it. */
  leveldb_writebatch_t *dst = leveldb_writebatch_create();
  leveldb_writebatch_append(dst, wb);
  leveldb_write(db, f->wo, dst, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_null(strstr(err + 1, "Invalid argument"));
  leveldb_free(err);
  err = NULL;
  leveldb_writebatch_clear(wb);
  leveldb_writebatch_delete(wb, key, huge);
  leveldb_write(db, f->wo, wb, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  err = NULL;
  leveldb_writebatch_clear(wb);
  leveldb_writebatch_put(wb, "ok", 2, "2", 1);
  leveldb_write(db, f->wo, wb, &err);
  NO_ERROR(err);
  check_get(db, f->ro, "ok", "2");
  free(key);
  leveldb_writebatch_destroy(dst);
  leveldb_writebatch_destroy(wb);
  leveldb_close(db);
}

/* ---- iterators and snapshots ---- */

static void test_iterator(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "box", "c");
  put(db, f, "foo", "hello");
  put(db, f, "goo", "g");
  leveldb_iterator_t *it = leveldb_create_iterator(db, f->ro);
  assert_false(leveldb_iter_valid(it));
  leveldb_iter_seek_to_first(it);
  check_iter(it, "box", "c");
  leveldb_iter_next(it);
  check_iter(it, "foo", "hello");
  leveldb_iter_prev(it);
  check_iter(it, "box", "c");
  leveldb_iter_prev(it);
  assert_false(leveldb_iter_valid(it));
  leveldb_iter_seek_to_last(it);
  check_iter(it, "goo", "g");
  leveldb_iter_prev(it);
  check_iter(it, "foo", "hello");
  leveldb_iter_next(it);
  leveldb_iter_next(it);
  assert_false(leveldb_iter_valid(it));
  leveldb_iter_seek(it, "b", 1);
  check_iter(it, "box", "c");
  leveldb_iter_seek(it, "foo", 3);
  check_iter(it, "foo", "hello");
  leveldb_iter_seek(it, "zzz", 3);
  assert_false(leveldb_iter_valid(it));
  size_t len = 7;
  assert_null(leveldb_iter_key(it, &len));
  assert_int_equal(len, 0);
  char *err = NULL;
  leveldb_iter_get_error(it, &err);
  NO_ERROR(err);
  leveldb_iter_destroy(it);
  leveldb_iter_destroy(NULL);
  /* Both directions over many keys, across flushed tables. */
  char k[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(k, sizeof k, "k%05d", i);
    put(db, f, k, k);
  }
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  it = leveldb_create_iterator(db, NULL);
  leveldb_iter_seek(it, "k", 1);
  int n = 0;
  for (; leveldb_iter_valid(it); leveldb_iter_next(it)) n++;
  assert_int_equal(n, 2000); /* the k keys, after box, foo and goo */
  leveldb_iter_seek_to_last(it);
  n = 0;
  for (; leveldb_iter_valid(it); leveldb_iter_prev(it)) n++;
  assert_int_equal(n, 2000 + 3);
  leveldb_iter_get_error(it, &err);
  NO_ERROR(err);
  leveldb_iter_destroy(it);
  leveldb_close(db);
}

static void test_snapshot(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "foo", "hello");
  put(db, f, "bar", "b");
  const leveldb_snapshot_t *snap = leveldb_create_snapshot(db);
  assert_non_null(snap);
  char *err = NULL;
  leveldb_delete(db, f->wo, "foo", 3, &err);
  NO_ERROR(err);
  put(db, f, "bar", "changed");
  put(db, f, "new", "n");
  leveldb_readoptions_set_snapshot(f->ro, snap);
  check_get(db, f->ro, "foo", "hello");
  check_get(db, f->ro, "bar", "b");
  check_get(db, f->ro, "new", NULL);
  /* An iterator at the snapshot sees the same, through flushes. */
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  leveldb_iterator_t *it = leveldb_create_iterator(db, f->ro);
  leveldb_iter_seek_to_first(it);
  check_iter(it, "bar", "b");
  leveldb_iter_next(it);
  check_iter(it, "foo", "hello");
  leveldb_iter_next(it);
  assert_false(leveldb_iter_valid(it));
  leveldb_iter_destroy(it);
  leveldb_readoptions_set_snapshot(f->ro, NULL);
  check_get(db, f->ro, "foo", NULL);
  check_get(db, f->ro, "bar", "changed");
  leveldb_release_snapshot(db, snap);
  leveldb_release_snapshot(db, NULL);
  leveldb_close(db);
}

/* One leveldb_t from several threads at once: writes, reads, snapshots and iterators. */
struct worker {
  leveldb_t *db;
  int id;
  int failures;
};

static void *work(void *arg) {
  struct worker *w = arg;
  leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
  leveldb_readoptions_t *ro = leveldb_readoptions_create();
  char k[32], v[32];
  for (int i = 0; i < 300; i++) {
    char *err = NULL;
    snprintf(k, sizeof k, "t%d-%04d", w->id, i);
    snprintf(v, sizeof v, "v%d", i);
    leveldb_put(w->db, wo, k, strlen(k), v, strlen(v), &err);
    const leveldb_snapshot_t *snap = leveldb_create_snapshot(w->db);
    leveldb_readoptions_set_snapshot(ro, snap);
    size_t len = 0;
    char *got = leveldb_get(w->db, ro, k, strlen(k), &len, &err);
    if (err || !got || len != strlen(v) || memcmp(got, v, len)) w->failures++;
    leveldb_free(got);
    leveldb_free(err);
    if (i % 50 == 0) { /* this thread's keys so far, at the snapshot */
      leveldb_iterator_t *it = leveldb_create_iterator(w->db, ro);
      snprintf(k, sizeof k, "t%d-", w->id);
      int n = 0;
      for (leveldb_iter_seek(it, k, strlen(k)); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t klen;
        const char *key = leveldb_iter_key(it, &klen);
        if (klen < strlen(k) || memcmp(key, k, strlen(k))) break;
        n++;
      }
      if (n != i + 1) w->failures++;
      leveldb_iter_destroy(it);
    }
    leveldb_readoptions_set_snapshot(ro, NULL);
    leveldb_release_snapshot(w->db, snap);
  }
  leveldb_readoptions_destroy(ro);
  leveldb_writeoptions_destroy(wo);
  return NULL;
}

static void test_threads(void **state) {
  struct fixture *f = *state;
  leveldb_options_set_write_buffer_size(f->opts, 64 << 10); /* flushes while they run */
  leveldb_t *db = open_ok(f);
  enum { N = 4 };
  pthread_t threads[N];
  struct worker workers[N];
  for (int i = 0; i < N; i++) {
    workers[i] = (struct worker){db, i, 0};
    assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(workers[i].failures, 0);
  }
  leveldb_close(db);
}

/* LevelDB programs may close with snapshots and iterators alive: the close still happens
 * (the lock is released), and the iterator reports it. */
static void test_close_with_live_handles(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "a", "1");
  leveldb_create_snapshot(db);
  leveldb_create_snapshot(db);
  leveldb_iterator_t *it = leveldb_create_iterator(db, f->ro);
  leveldb_iter_seek_to_first(it);
  assert_true(leveldb_iter_valid(it));
  leveldb_close(db);
  assert_false(leveldb_iter_valid(it));
  leveldb_iter_next(it);
  leveldb_iter_seek_to_first(it);
  assert_false(leveldb_iter_valid(it));
  char *err = NULL;
  leveldb_iter_get_error(it, &err);
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  leveldb_iter_destroy(it);
  db = open_ok(f);
  check_get(db, f->ro, "a", "1");
  leveldb_close(db);
}

/* The first file of dir whose name ends in suffix, as a malloc'd path; NULL if none. */
static char *first_file(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char *path = NULL;
  size_t sl = strlen(suffix);
  while (!path && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > sl && !strcmp(e->d_name + n - sl, suffix)) path = tu_path(dir, e->d_name);
  }
  closedir(d);
  return path;
}

/* Damage in a table reads as "Corruption: " from get and from an iterator. */
static void test_corruption(void **state) {
  struct fixture *f = *state;
  leveldb_options_set_compression(f->opts, leveldb_no_compression);
  leveldb_t *db = open_ok(f);
  char k[32], v[64];
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof k, "k%03d", i);
    snprintf(v, sizeof v, "value-%03d-padding-padding-padding", i);
    put(db, f, k, v);
  }
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  leveldb_close(db);
  char *table = first_file(f->name, ".sst");
  assert_non_null(table);
  assert_int_equal(tu_flip_bit(table, 20, 3), 0);
  free(table);
  db = open_ok(f);
  char *err = NULL;
  size_t len;
  assert_null(leveldb_get(db, f->ro, "k000", 4, &len, &err));
  ASSERT_ERROR(err, "Corruption: ");
  leveldb_free(err);
  err = NULL;
  leveldb_iterator_t *it = leveldb_create_iterator(db, f->ro);
  leveldb_iter_seek_to_first(it);
  while (leveldb_iter_valid(it)) leveldb_iter_next(it);
  leveldb_iter_get_error(it, &err);
  ASSERT_ERROR(err, "Corruption: ");
  leveldb_free(err);
  leveldb_iter_destroy(it);
  leveldb_close(db);
}

/* paranoid_checks: a WAL damaged before its tail fails the open with it, and is recovered up
 * to the damage without it (LevelDB's default). */
static void test_paranoid_checks(void **state) {
  struct fixture *f = *state;
  leveldb_writeoptions_set_sync(f->wo, 1); /* synced: damage is corruption, not a torn tail */
  leveldb_t *db = open_ok(f);
  char k[32];
  for (int i = 0; i < 200; i++) {
    snprintf(k, sizeof k, "key%04d", i);
    put(db, f, k, "a value long enough to spread the WAL over many bytes");
  }
  leveldb_close(db); /* the writes stay in the WAL */
  char *wal = first_file(f->name, ".log");
  assert_non_null(wal);
  assert_true(tu_file_size(wal) > 4000);
  assert_int_equal(tu_flip_bit(wal, tu_file_size(wal) / 2, 2), 0);
  free(wal);
  char *err = NULL;
  leveldb_options_set_paranoid_checks(f->opts, 1);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Corruption: ");
  leveldb_free(err);
  leveldb_options_set_paranoid_checks(f->opts, 0);
  db = open_ok(f);
  check_get(db, f->ro, "key0000", "a value long enough to spread the WAL over many bytes");
  leveldb_close(db);
}

/* ---- maintenance and properties ---- */

static void test_approximate_sizes(void **state) {
  struct fixture *f = *state;
  leveldb_options_set_write_buffer_size(f->opts, 100000);
  leveldb_options_set_compression(f->opts, leveldb_no_compression);
  leveldb_t *db = open_ok(f);
  char k[32], v[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "k%020d", i);
    snprintf(v, sizeof v, "v%020d", i);
    put(db, f, k, v);
  }
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  const char *start[2] = {"a", "k00000000000000010000"};
  size_t start_len[2] = {1, 21};
  const char *limit[2] = {"k00000000000000010000", "z"};
  size_t limit_len[2] = {21, 1};
  uint64_t sizes[2];
  leveldb_approximate_sizes(db, 2, start, start_len, limit, limit_len, sizes);
  assert_true(sizes[0] > 0);
  assert_true(sizes[1] > 0);
  /* Growing ranges from "a" never shrink, and the whole is about the data written. */
  uint64_t prev = 0;
  char bound[32];
  for (int i = 0; i <= 20000; i += 2000) {
    snprintf(bound, sizeof bound, "k%020d", i);
    const char *b = bound, *a = "a";
    size_t blen = strlen(bound), alen = 1;
    uint64_t size;
    leveldb_approximate_sizes(db, 1, &a, &alen, &b, &blen, &size);
    assert_true(size >= prev);
    prev = size;
  }
  assert_true(prev > 20000u * 40 / 2 && prev < 20000u * 40 * 3);
  /* An empty range, and no ranges. */
  const char *same = "m";
  size_t one = 1;
  leveldb_approximate_sizes(db, 1, &same, &one, &same, &one, sizes);
  assert_int_equal(sizes[0], 0);
  leveldb_approximate_sizes(db, 0, NULL, NULL, NULL, NULL, NULL);
  leveldb_close(db);
}

/* LevelDB's limit is inclusive: a table holding only the limit key is compacted, one past
 * it is not. */
static void test_compact_range_inclusive(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "m", "1");
  leveldb_compact_range(db, "a", 1, "m", 1);
  assert_int_equal(number_property(db, "leveldb.num-files-at-level0"), 0);
  put(db, f, "z", "2"); /* flushed by the next call, outside [a, m]: stays in level 0 */
  leveldb_compact_range(db, "a", 1, "m", 1);
  assert_int_equal(number_property(db, "leveldb.num-files-at-level0"), 1);
  leveldb_compact_range(db, "m", 1, NULL, 0);
  assert_int_equal(number_property(db, "leveldb.num-files-at-level0"), 0);
  check_get(db, f->ro, "m", "1");
  check_get(db, f->ro, "z", "2");
  /* The whole range, with a deleted key dropped; a limit of the longest possible key. */
  char *err = NULL;
  leveldb_delete(db, f->wo, "m", 1, &err);
  NO_ERROR(err);
  size_t longest = 64 * 1024;
  char *limit = malloc(longest);
  memset(limit, 0xff, longest);
  leveldb_compact_range(db, NULL, 0, limit, longest);
  assert_int_equal(number_property(db, "leveldb.num-files-at-level0"), 0);
  free(limit);
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  check_get(db, f->ro, "m", NULL);
  check_get(db, f->ro, "z", "2");
  leveldb_close(db);
}

static void test_properties(void **state) {
  struct fixture *f = *state;
  leveldb_t *db = open_ok(f);
  put(db, f, "a", "1");
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  put(db, f, "b", "2");
  assert_null(leveldb_property_value(db, "nosuchprop"));
  assert_null(leveldb_property_value(db, "leveldb.nosuchprop"));
  assert_null(leveldb_property_value(db, "leveldb.num-files-at-level7"));
  assert_null(leveldb_property_value(db, "leveldb.num-files-at-levelx"));
  assert_null(leveldb_property_value(db, "leveldb.num-files-at-level1x"));
  assert_null(leveldb_property_value(db, "leveldb.num-files-at-level"));
  assert_null(leveldb_property_value(db, "leveldb.num-files-at-level17"));
  assert_int_equal(number_property(db, "leveldb.num-files-at-level00"),
                   number_property(db, "leveldb.num-files-at-level0"));
  char *stats = leveldb_property_value(db, "leveldb.stats");
  assert_non_null(stats);
  assert_true(strlen(stats) > 0);
  leveldb_free(stats);
  uint64_t files = 0;
  char name[64];
  for (int level = 0; level < 7; level++) {
    snprintf(name, sizeof name, "leveldb.num-files-at-level%d", level);
    files += number_property(db, name);
  }
  assert_int_equal(files, 1);
  char *tables = leveldb_property_value(db, "leveldb.sstables");
  assert_non_null(tables);
  assert_non_null(strstr(tables, "--- level 0 ---\n"));
  assert_non_null(strstr(tables, "--- level 6 ---\n"));
  assert_non_null(strstr(tables, "['a' .. 'a']\n"));
  leveldb_free(tables);
  assert_true(number_property(db, "leveldb.approximate-memory-usage") > 0);
  assert_true(number_property(db, "shale.sequence") >= 2); /* Shale's own, passed through */
  assert_null(leveldb_property_value(NULL, "leveldb.stats"));
  leveldb_close(db);
}

/* ---- options, comparators, filters, caches, environments ---- */

static int bytewise(void *arg, const char *a, size_t alen, const char *b, size_t blen) {
  (void)arg;
  int r = memcmp(a, b, alen < blen ? alen : blen);
  return r ? r : (alen > blen) - (alen < blen);
}

static int reversed(void *arg, const char *a, size_t alen, const char *b, size_t blen) {
  return -bytewise(arg, a, alen, b, blen);
}

static const char *bytewise_name(void *arg) {
  (void)arg;
  return "leveldb.BytewiseComparator";
}

static const char *foo_name(void *arg) {
  (void)arg;
  return "foo";
}

static void count_destroy(void *arg) { (*(int *)arg)++; }

static void test_comparator(void **state) {
  struct fixture *f = *state;
  int destroyed = 0;
  char *err = NULL;
  /* LevelDB's name on an order that is not bytewise: refused. */
  leveldb_comparator_t *liar =
      leveldb_comparator_create(&destroyed, count_destroy, reversed, bytewise_name);
  leveldb_options_set_comparator(f->opts, liar);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  err = NULL;
  /* The bytewise comparator works, and so does none. */
  leveldb_comparator_t *bw =
      leveldb_comparator_create(&destroyed, count_destroy, bytewise, bytewise_name);
  leveldb_options_set_comparator(f->opts, bw);
  leveldb_t *db = open_ok(f);
  put(db, f, "b", "2");
  put(db, f, "a", "1");
  leveldb_iterator_t *it = leveldb_create_iterator(db, f->ro);
  leveldb_iter_seek_to_first(it);
  check_iter(it, "a", "1");
  leveldb_iter_destroy(it);
  leveldb_close(db);
  leveldb_options_set_comparator(f->opts, NULL);
  leveldb_close(open_ok(f));
  /* A custom order: a bytewise DB refuses it, naming both; a new DB takes it and keeps it. */
  leveldb_comparator_t *foo =
      leveldb_comparator_create(&destroyed, count_destroy, reversed, foo_name);
  leveldb_options_set_comparator(f->opts, foo);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_non_null(strstr(err, "\"foo\""));
  assert_non_null(strstr(err, "shale.BytewiseComparator"));
  leveldb_free(err);
  err = NULL;
  leveldb_destroy_db(f->opts, f->name, &err);
  assert_null(err);
  db = open_ok(f);
  put(db, f, "a", "1");
  put(db, f, "b", "2");
  it = leveldb_create_iterator(db, f->ro);
  leveldb_iter_seek_to_first(it);
  check_iter(it, "b", "2"); /* reversed: b first */
  leveldb_iter_destroy(it);
  leveldb_close(db);
  leveldb_options_set_comparator(f->opts, NULL);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  leveldb_comparator_destroy(foo);
  leveldb_comparator_destroy(liar);
  leveldb_comparator_destroy(bw);
  leveldb_comparator_destroy(NULL);
  assert_int_equal(destroyed, 3);
}

static char *never_filter(void *arg, const char *const *keys, const size_t *lens, int n,
                          size_t *len) {
  (void)arg, (void)keys, (void)lens, (void)n;
  fail_msg("a custom filter's callbacks are not called");
  *len = 0;
  return NULL;
}

static uint8_t never_match(void *arg, const char *k, size_t klen, const char *filter, size_t flen) {
  (void)arg, (void)k, (void)klen, (void)filter, (void)flen;
  fail_msg("a custom filter's callbacks are not called");
  return 0;
}

/* Every option setter; the DB works with all of them, and reopens. */
static void test_all_options(void **state) {
  struct fixture *f = *state;
  leveldb_cache_t *cache = leveldb_cache_create_lru(100000);
  leveldb_env_t *env = leveldb_create_default_env();
  leveldb_filterpolicy_t *bloom = leveldb_filterpolicy_create_bloom(10);
  leveldb_options_set_cache(f->opts, cache);
  leveldb_options_set_env(f->opts, env);
  leveldb_options_set_info_log(f->opts, NULL);
  leveldb_options_set_write_buffer_size(f->opts, 100000);
  leveldb_options_set_paranoid_checks(f->opts, 1);
  leveldb_options_set_max_open_files(f->opts, 10);
  leveldb_options_set_block_size(f->opts, 1024);
  leveldb_options_set_block_restart_interval(f->opts, 8);
  leveldb_options_set_max_file_size(f->opts, 1 << 20);
  leveldb_options_set_compression(f->opts, leveldb_no_compression);
  leveldb_options_set_filter_policy(f->opts, bloom);
  leveldb_readoptions_set_verify_checksums(f->ro, 1);
  leveldb_readoptions_set_fill_cache(f->ro, 0);
  leveldb_writeoptions_set_sync(f->wo, 1);
  leveldb_t *db = open_ok(f);
  char k[32];
  for (int i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "key%06d", i);
    put(db, f, k, k);
  }
  leveldb_close(db);
  /* A custom filter policy: Shale's bloom filter serves instead, with the same answers. */
  int destroyed = 0;
  leveldb_filterpolicy_t *custom =
      leveldb_filterpolicy_create(&destroyed, count_destroy, never_filter, never_match, foo_name);
  leveldb_options_set_filter_policy(f->opts, custom);
  leveldb_options_set_compression(f->opts, leveldb_snappy_compression);
  leveldb_readoptions_set_verify_checksums(f->ro, 0);
  leveldb_readoptions_set_fill_cache(f->ro, 1);
  db = open_ok(f);
  leveldb_compact_range(db, NULL, 0, NULL, 0);
  check_get(db, f->ro, "key000000", "key000000");
  check_get(db, f->ro, "key002999", "key002999");
  check_get(db, f->ro, "key003000", NULL);
  leveldb_close(db);
  leveldb_filterpolicy_destroy(custom);
  assert_int_equal(destroyed, 1);
  leveldb_filterpolicy_destroy(bloom);
  leveldb_filterpolicy_destroy(NULL);
  /* Values the options cannot take fail the open, saying why. */
  char *err = NULL;
  leveldb_options_set_filter_policy(f->opts, NULL);
  leveldb_options_set_compression(f->opts, 7);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  assert_non_null(strstr(err, "compression 7"));
  leveldb_options_set_compression(f->opts, leveldb_no_compression);
  leveldb_options_set_write_buffer_size(f->opts, 10);
  assert_null(leveldb_open(f->opts, f->name, &err));
  ASSERT_ERROR(err, "Invalid argument: ");
  leveldb_free(err);
  leveldb_cache_destroy(cache);
  leveldb_cache_destroy(NULL);
  leveldb_env_destroy(env);
  leveldb_env_destroy(NULL);
  leveldb_options_destroy(NULL);
  leveldb_readoptions_destroy(NULL);
  leveldb_writeoptions_destroy(NULL);
}

static void test_env_test_directory(void **state) {
  struct fixture *f = *state;
  leveldb_env_t *env = leveldb_create_default_env();
  char *want = tu_path(f->tmp, "testdir");
  const char *old = getenv("TEST_TMPDIR");
  char *saved = old ? strdup(old) : NULL;
  setenv("TEST_TMPDIR", want, 1);
  char *dir = leveldb_env_get_test_directory(env);
  assert_non_null(dir);
  assert_string_equal(dir, want);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  leveldb_free(dir);
  /* It is where a DB can live. */
  free(f->name);
  f->name = tu_path(want, "db");
  leveldb_close(open_ok(f));
  if (saved)
    setenv("TEST_TMPDIR", saved, 1);
  else
    unsetenv("TEST_TMPDIR");
  free(saved);
  free(want);
  leveldb_env_destroy(env);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_versions),
      T(test_open_missing),
      T(test_error_if_exists),
      T(test_open_locked),
      T(test_reopen),
      T(test_destroy_then_open_fails),
      T(test_destroy_refuses_foreign_dir),
      T(test_repair),
      T(test_put_get_delete),
      T(test_bad_arguments),
      T(test_writebatch),
      T(test_writebatch_failure_kept),
      T(test_iterator),
      T(test_snapshot),
      T(test_threads),
      T(test_close_with_live_handles),
      T(test_corruption),
      T(test_paranoid_checks),
      T(test_approximate_sizes),
      T(test_compact_range_inclusive),
      T(test_properties),
      T(test_comparator),
      T(test_all_options),
      T(test_env_test_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
