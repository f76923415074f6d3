/* test_env.c — the I/O environment of shale_options (issue 17): a DB reads and writes its
 * files through the shale_env it was opened with, and through nothing else; another DB in
 * the same process keeps the real calls; an env's error reaches the caller with the path;
 * NULL members take the real call; the engine's points reach the env in order, and a
 * malformed env is refused at open. Public API
 * only: the env here is what an application would write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "shale.h"
#include "testutil.h"

/* A counting env that passes every call on to the real one; sync fails with EIO once armed. */
typedef struct counting {
  shale_env real;
  _Atomic int opens, writes, reads, syncs, dir_syncs, renames, unlinks, async_results;
  _Atomic int fail_syncs;
} counting;

static int c_open(void *arg, const char *path, int flags, int mode) {
  counting *c = arg;
  atomic_fetch_add(&c->opens, 1);
  return c->real.open(c->real.arg, path, flags, mode);
}

static int64_t c_write(void *arg, int fd, const void *data, size_t len) {
  counting *c = arg;
  atomic_fetch_add(&c->writes, 1);
  return c->real.write(c->real.arg, fd, data, len);
}

static int64_t c_pwrite(void *arg, int fd, const void *data, size_t len, int64_t off) {
  counting *c = arg;
  atomic_fetch_add(&c->writes, 1);
  return c->real.pwrite(c->real.arg, fd, data, len, off);
}

static int64_t c_pread(void *arg, int fd, void *data, size_t len, int64_t off) {
  counting *c = arg;
  atomic_fetch_add(&c->reads, 1);
  return c->real.pread(c->real.arg, fd, data, len, off);
}

static int c_sync(void *arg, int fd, const char *path, int data_only, int64_t content_len) {
  counting *c = arg;
  atomic_fetch_add(&c->syncs, 1);
  if (atomic_load(&c->fail_syncs)) {
    errno = EIO;
    return -1;
  }
  return c->real.sync(c->real.arg, fd, path, data_only, content_len);
}

static int c_sync_dir(void *arg, const char *dir) {
  counting *c = arg;
  atomic_fetch_add(&c->dir_syncs, 1);
  return c->real.sync_dir(c->real.arg, dir);
}

static int c_rename(void *arg, const char *from, const char *to) {
  counting *c = arg;
  atomic_fetch_add(&c->renames, 1);
  return c->real.rename(c->real.arg, from, to);
}

static int c_unlink(void *arg, const char *path) {
  counting *c = arg;
  atomic_fetch_add(&c->unlinks, 1);
  return c->real.unlink(c->real.arg, path);
}

static int c_async_result(void *arg, const char *path, int fd, int is_sync, int res) {
  counting *c = arg;
  atomic_fetch_add(&c->async_results, 1);
  return c->real.async_result(c->real.arg, path, fd, is_sync, res);
}

static void counting_env(counting *c, shale_env *env) {
  memset(c, 0, sizeof *c);
  shale_env_default(&c->real);
  shale_env_default(env);
  env->arg = c;
  env->open = c_open;
  env->write = c_write;
  env->pwrite = c_pwrite;
  env->pread = c_pread;
  env->sync = c_sync;
  env->sync_dir = c_sync_dir;
  env->rename = c_rename;
  env->unlink = c_unlink;
  env->async_result = c_async_result;
}

static shale_db *open_with(const char *dir, const shale_env *env, int use_mmap) {
  shale_options o;
  tu_options_init(&o);
  o.env = env;
  o.use_mmap = use_mmap;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  return db;
}

static void put_and_flush(shale_db *db) {
  char k[16];
  for (int i = 0; i < 200; i++) {
    int n = snprintf(k, sizeof k, "key%04d", i);
    assert_int_equal(shale_put(db, k, (size_t)n, "value", 5, i % 50 ? 0 : SHALE_SYNC), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
}

static void check_keys(shale_db *db) {
  char k[16], v[16];
  for (int i = 0; i < 200; i++) {
    int n = snprintf(k, sizeof k, "key%04d", i);
    size_t vl;
    assert_int_equal(shale_get_opts(db, NULL, k, (size_t)n, v, sizeof v, &vl), SHALE_OK);
    assert_memory_equal(v, "value", 5);
  }
}

/* Everything a DB writes and syncs goes through its env; a DB opened without one next to
 * it adds nothing to the counts. */
static void test_db_io_goes_through_its_env(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *other_dir = tu_tempdir();
  counting c;
  shale_env env;
  counting_env(&c, &env);
  shale_db *db = open_with(dir, &env, 0); /* no mapping: table reads are preads */
  put_and_flush(db);
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_true(c.opens >= 4);                     /* WAL, MANIFEST, CURRENT's temp, a table */
  assert_true(c.writes + c.async_results > 0);   /* table writes: pwrite or io_uring */
  assert_true(c.syncs >= 4 && c.dir_syncs >= 1); /* the SYNC puts, the table, the MANIFEST */
  assert_true(c.renames >= 1 && c.unlinks >= 1); /* CURRENT; the flushed WAL */
  assert_true(c.reads > 0);

  counting before = c;
  shale_db *other = open_with(other_dir, NULL, 1);
  put_and_flush(other);
  check_keys(other);
  assert_int_equal(shale_close(other), SHALE_OK);
  assert_int_equal(c.opens, before.opens);
  assert_int_equal(c.syncs, before.syncs);
  assert_int_equal(c.writes, before.writes);

  db = open_with(dir, &env, 1); /* the env's DB reopens and reads back what it wrote */
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
  tu_tempdir_free(other_dir);
}

/* An env's failed sync is the caller's SHALE_IOERR, naming the file; the DB refuses writes
 * after it and a reopen through a healthy env finds every acknowledged write. */
static void test_env_error_reaches_the_caller(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  counting c;
  shale_env env;
  counting_env(&c, &env);
  shale_db *db = open_with(dir, &env, 1);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, SHALE_SYNC), SHALE_OK);
  atomic_store(&c.fail_syncs, 1);
  assert_int_equal(shale_put(db, "b", 1, "2", 1, SHALE_SYNC), SHALE_IOERR);
  assert_non_null(strstr(shale_errmsg(db), ".log"));
  (void)shale_close(db); /* may report the same error again */
  atomic_store(&c.fail_syncs, 0);
  db = open_with(dir, &env, 1);
  size_t vl;
  char v[4];
  assert_int_equal(shale_get_opts(db, NULL, "a", 1, v, sizeof v, &vl), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* A member left NULL is the real call: a wrapper sets only what it changes. */
static void test_null_members_take_the_real_call(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  counting c;
  memset(&c, 0, sizeof c);
  shale_env_default(&c.real);
  shale_env env = {.size = sizeof env, .arg = &c, .unlink = c_unlink};
  shale_db *db = open_with(dir, &env, 1);
  put_and_flush(db);
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_true(c.unlinks >= 1);
  assert_int_equal(c.opens, 0);
  assert_int_equal(c.syncs, 0);
  tu_tempdir_free(dir);
}

/* The points a DB passes, in order, as an env with only point set records them. */
typedef struct points {
  _Atomic int n;
  int seen[256];
  shale_db *_Atomic db_seen; /* a non-NULL db handed with a flush or compaction point */
} points;

static void record_point(void *arg, shale_db *db, int point) {
  points *p = arg;
  int i = atomic_fetch_add(&p->n, 1);
  if (i < 256) p->seen[i] = point;
  if (db && point != SHALE_POINT_MANIFEST_WRITTEN) atomic_store(&p->db_seen, db);
}

/* Index of the first point at or after from, or -1. */
static int find_point(const points *p, int from, int point) {
  for (int i = from; i < p->n && i < 256; i++)
    if (p->seen[i] == point) return i;
  return -1;
}

static void test_points_come_in_order(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  points p = {0};
  shale_env env = {.size = sizeof env, .arg = &p, .point = record_point};
  shale_db *db = open_with(dir, &env, 1);
  assert_true(find_point(&p, 0, SHALE_POINT_MANIFEST_WRITTEN) >= 0); /* open's new MANIFEST */
  int at = p.n;
  put_and_flush(db);
  static const int flush[] = {SHALE_POINT_FLUSH_PICKED, SHALE_POINT_FLUSH_TABLE_SYNCED,
                              SHALE_POINT_FLUSH_MANIFEST_SYNCED, SHALE_POINT_FLUSH_VIEW_PUBLISHED,
                              SHALE_POINT_FLUSH_WAL_DELETED};
  for (int i = 0; i < 5; i++) {
    at = find_point(&p, at, flush[i]);
    assert_true(at >= 0);
  }
  assert_ptr_equal(atomic_load(&p.db_seen), db);
  put_and_flush(db); /* a second table over the same keys, for the compaction to merge */
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  static const int compaction[] = {SHALE_POINT_COMPACTION_PICKED,
                                   SHALE_POINT_COMPACTION_OUTPUT_SYNCED,
                                   SHALE_POINT_COMPACTION_INSTALLED, SHALE_POINT_TABLE_DELETED};
  for (int i = 0; i < 4; i++) {
    at = find_point(&p, at, compaction[i]);
    assert_true(at >= 0);
  }
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* An env not filled by shale_env_default (a size that is no shale_env's) is refused before
 * anything is created. */
static void test_malformed_env_is_refused(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_env env;
  shale_env_default(&env);
  env.size = 3;
  shale_options o;
  tu_options_init(&o);
  o.env = &env;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_INVALID);
  assert_null(db);
  assert_non_null(strstr(shale_errmsg(NULL), "env.size"));
  assert_int_equal(tu_count_suffix(dir, ".log"), 0);
  env.size = sizeof env + 8;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_INVALID);
  shale_env_default(NULL); /* ignored */
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_db_io_goes_through_its_env),
      cmocka_unit_test(test_env_error_reaches_the_caller),
      cmocka_unit_test(test_null_members_take_the_real_call),
      cmocka_unit_test(test_points_come_in_order),
      cmocka_unit_test(test_malformed_env_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
