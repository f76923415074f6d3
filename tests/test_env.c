/* test_env.c — the I/O environment of shale_options (issue 17): a DB reads and writes its
 * files through the shale_env it was opened with, and through nothing else; another DB in
 * the same process keeps the real calls; an env's error reaches the caller with the path;
 * NULL members take the real call; the engine's points reach the env in order, and a
 * malformed env is refused at open. The LOCK, the LOG, the directory's creation and listing,
 * the cut of a torn WAL tail, checkpoint links, repair and destroy use the env too, and
 * fail cleanly when it does; an env of the older, smaller size gets the real calls for the
 * members it lacks. Public API
 * only: the env here is what an application would write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- the calls added after the first release: LOCK, LOG, directories, links, cuts ---- */

/* Which of the recording env's calls fails, with fail_errno, when its path ends in
 * fail_suffix (NULL: any path). */
typedef enum rec_op {
  OP_NONE,
  OP_LOCK,
  OP_LINK,
  OP_FTRUNCATE,
  OP_MKDIR,
  OP_LIST,
  OP_UNLINK
} rec_op;

/* An env that counts the later members' calls and the LOG's writes, passing each on to the
 * real call unless it is the one set to fail. */
typedef struct recording {
  shale_env real;
  _Atomic int locks, links, ftruncates, mkdirs, rmdirs, lists, unlinks, log_writes;
  _Atomic int spans_unlinks, wal_cuts, log_fd;
  _Atomic int tables_created; /* opens with O_CREAT of a .sst: a flush's, or a copy's */
  rec_op fail_op;
  int fail_errno;
  const char *fail_suffix;
} recording;

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* 1 (errno set) when the call op on path is the one set to fail. */
static int fails(recording *r, rec_op op, const char *path) {
  if (r->fail_op != op || (r->fail_suffix && !ends_with(path, r->fail_suffix))) return 0;
  errno = r->fail_errno;
  return 1;
}

static int r_open(void *arg, const char *path, int flags, int mode) {
  recording *r = arg;
  int fd = r->real.open(r->real.arg, path, flags, mode);
  if (fd >= 0 && ends_with(path, "/LOG")) atomic_store(&r->log_fd, fd);
  if (fd >= 0 && (flags & O_CREAT) && ends_with(path, ".sst"))
    atomic_fetch_add(&r->tables_created, 1);
  return fd;
}

static int64_t r_write(void *arg, int fd, const void *data, size_t len) {
  recording *r = arg;
  if (fd == atomic_load(&r->log_fd)) atomic_fetch_add(&r->log_writes, 1);
  return r->real.write(r->real.arg, fd, data, len);
}

static int r_lock(void *arg, int fd, const char *path, int op) {
  recording *r = arg;
  atomic_fetch_add(&r->locks, 1);
  return fails(r, OP_LOCK, path) ? -1 : r->real.lock(r->real.arg, fd, path, op);
}

static int r_link(void *arg, const char *from, const char *to) {
  recording *r = arg;
  atomic_fetch_add(&r->links, 1);
  return fails(r, OP_LINK, from) ? -1 : r->real.link(r->real.arg, from, to);
}

static int r_ftruncate(void *arg, int fd, const char *path, int64_t len) {
  recording *r = arg;
  atomic_fetch_add(&r->ftruncates, 1);
  if (ends_with(path, ".log")) atomic_fetch_add(&r->wal_cuts, 1);
  return fails(r, OP_FTRUNCATE, path) ? -1 : r->real.ftruncate(r->real.arg, fd, path, len);
}

static int r_mkdir(void *arg, const char *dir, int mode) {
  recording *r = arg;
  atomic_fetch_add(&r->mkdirs, 1);
  return fails(r, OP_MKDIR, dir) ? -1 : r->real.mkdir(r->real.arg, dir, mode);
}

static int r_rmdir(void *arg, const char *dir) {
  recording *r = arg;
  atomic_fetch_add(&r->rmdirs, 1);
  return r->real.rmdir(r->real.arg, dir);
}

static int r_list_dir(void *arg, const char *dir, char ***names, size_t *count) {
  recording *r = arg;
  atomic_fetch_add(&r->lists, 1);
  return fails(r, OP_LIST, dir) ? -1 : r->real.list_dir(r->real.arg, dir, names, count);
}

static int r_unlink(void *arg, const char *path) {
  recording *r = arg;
  atomic_fetch_add(&r->unlinks, 1);
  if (ends_with(path, "/SPANS")) atomic_fetch_add(&r->spans_unlinks, 1);
  return fails(r, OP_UNLINK, path) ? -1 : r->real.unlink(r->real.arg, path);
}

static void recording_env(recording *r, shale_env *env) {
  memset(r, 0, sizeof *r);
  r->log_fd = -1;
  shale_env_default(&r->real);
  shale_env_default(env);
  env->arg = r;
  env->open = r_open;
  env->write = r_write;
  env->lock = r_lock;
  env->link = r_link;
  env->ftruncate = r_ftruncate;
  env->mkdir = r_mkdir;
  env->rmdir = r_rmdir;
  env->list_dir = r_list_dir;
  env->unlink = r_unlink;
}

static void fail_next(recording *r, rec_op op, int err, const char *suffix) {
  r->fail_op = op;
  r->fail_errno = err;
  r->fail_suffix = suffix;
}

static int open_rc(const char *dir, const shale_env *env, shale_db **db) {
  shale_options o;
  tu_options_init(&o);
  o.env = env;
  return shale_open(dir, &o, db);
}

static int errmsg_has(const char *text) { return strstr(shale_errmsg(NULL), text) != NULL; }

/* An open makes the directory, takes the LOCK, lists the directory and writes the LOG, each
 * through the env; a failure of each is the open's error, naming the file. */
static void test_open_makes_locks_lists_and_logs_through_the_env(void **state) {
  (void)state;
  char *base = tu_tempdir(), *dir = tu_path(base, "db");
  recording r;
  shale_env env;
  recording_env(&r, &env);
  fail_next(&r, OP_MKDIR, ENOSPC, "/db");
  shale_db *db;
  assert_int_equal(open_rc(dir, &env, &db), SHALE_NOSPACE);
  assert_true(errmsg_has(dir));
  fail_next(&r, OP_NONE, 0, NULL);
  db = open_with(dir, &env, 1);
  assert_int_equal(r.mkdirs, 2);
  assert_true(r.locks == 1 && r.lists >= 1 && r.log_writes >= 1);
  put_and_flush(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  char *log = tu_path(dir, "LOG");
  assert_true(tu_file_size(log) > 0);
  free(log);

  fail_next(&r, OP_LOCK, EIO, "/LOCK");
  assert_int_equal(open_rc(dir, &env, &db), SHALE_IOERR);
  assert_true(errmsg_has("LOCK"));
  fail_next(&r, OP_LIST, EIO, "/db");
  assert_int_equal(open_rc(dir, &env, &db), SHALE_IOERR);
  assert_true(errmsg_has(dir));
  fail_next(&r, OP_NONE, 0, NULL);
  db = open_with(dir, &env, 1); /* nothing was lost to the failed opens */
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(dir);
  tu_tempdir_free(base);
}

/* Zeroes the 4 KiB page of path holding off, as a power loss drops an unsynced page. */
static void lose_page(const char *path, long off) {
  static const char zeros[4096];
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, off - off % 4096, SEEK_SET), 0);
  assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
  assert_int_equal(fclose(f), 0);
}

/* A copy of a DB whose WAL lost an unsynced page before later ones that stayed: the open
 * has to cut that WAL's tail. 20 synced puts of 1 KB, then 20 unsynced, the page near the
 * 25th zeroed. */
static char *db_with_torn_wal(const char *base) {
  char *dir = tu_path(base, "db"), *copy = tu_path(base, "copy");
  shale_options o;
  tu_options_init(&o);
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char key[16], val[1000];
  memset(val, 'v', sizeof val);
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "key%03d", i);
    assert_int_equal(shale_put(db, key, strlen(key), val, sizeof val, i < 20 ? SHALE_SYNC : 0),
                     SHALE_OK);
  }
  assert_int_equal(mkdir(copy, 0755), 0);
  assert_int_equal(tu_copy_dir(dir, copy), 0); /* the disk at the power loss */
  assert_int_equal(shale_close(db), SHALE_OK);
  char *wal = NULL;
  for (int n = 1; n < 20 && !wal; n++) {
    char name[32];
    snprintf(name, sizeof name, "%06d.log", n);
    char *p = tu_path(copy, name);
    if (tu_file_size(p) > 40000)
      wal = p;
    else
      free(p);
  }
  assert_non_null(wal);
  lose_page(wal, 6 * 4096); /* puts 23..27: after every synced one, before puts 28.. */
  free(wal);
  free(dir);
  return copy;
}

static void check_synced_puts(shale_db *db) {
  char key[16];
  for (int i = 0; i < 20; i++) {
    snprintf(key, sizeof key, "key%03d", i);
    void *v = NULL;
    size_t vlen;
    assert_int_equal(shale_get(db, NULL, key, strlen(key), &v, &vlen), SHALE_OK);
    shale_free(v);
  }
}

/* The cut of a torn WAL tail goes through the env's ftruncate; when it fails the open fails
 * naming the WAL, and a later open still finds every synced write. */
static void test_torn_wal_tail_is_cut_through_the_env(void **state) {
  (void)state;
  char *base = tu_tempdir(), *copy = db_with_torn_wal(base);
  recording r;
  shale_env env;
  recording_env(&r, &env);
  fail_next(&r, OP_FTRUNCATE, EIO, ".log");
  shale_db *db;
  assert_int_equal(open_rc(copy, &env, &db), SHALE_IOERR);
  assert_true(errmsg_has(".log") && errmsg_has("unsynced tail"));
  assert_int_equal(r.wal_cuts, 1);
  fail_next(&r, OP_NONE, 0, NULL);
  db = open_with(copy, &env, 1);
  assert_int_equal(r.wal_cuts, 2);
  check_synced_puts(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(copy);
  tu_tempdir_free(base);
}

/* A checkpoint links its tables through the env. A link the env refuses with EIO fails the
 * checkpoint naming the table and leaves no target, the DB as readable and writable as
 * before; one refused with EXDEV (another file system) is a copy instead. */
static void test_checkpoint_links_through_the_env(void **state) {
  (void)state;
  char *base = tu_tempdir(), *dir = tu_path(base, "db"), *ck = tu_path(base, "ck");
  recording r;
  shale_env env;
  recording_env(&r, &env);
  shale_db *db = open_with(dir, &env, 1);
  put_and_flush(db);
  fail_next(&r, OP_LINK, EIO, ".sst");
  assert_int_equal(shale_checkpoint(db, ck, 0, NULL, NULL), SHALE_IOERR);
  assert_non_null(strstr(shale_errmsg(db), ".sst"));
  assert_int_equal(tu_file_size(ck), -1);
  check_keys(db);
  assert_int_equal(shale_put(db, "after", 5, "x", 1, SHALE_SYNC), SHALE_OK);

  fail_next(&r, OP_LINK, EXDEV, ".sst");
  int links = r.links, created = r.tables_created;
  assert_int_equal(shale_checkpoint(db, ck, 0, NULL, NULL), SHALE_OK);
  assert_true(r.links > links);
  assert_int_equal(r.tables_created - created, r.links - links); /* each refused link: a copy */
  assert_int_equal(shale_close(db), SHALE_OK);
  fail_next(&r, OP_NONE, 0, NULL);
  shale_db *copy = open_with(ck, &env, 1);
  check_keys(copy);
  assert_int_equal(shale_close(copy), SHALE_OK);
  free(dir);
  free(ck);
  tu_tempdir_free(base);
}

/* shale_repair takes the LOCK, removes SPANS and moves the old MANIFEST through its options'
 * env; a failed unlink of SPANS stops it before anything else changed. */
static void test_repair_goes_through_the_env(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  recording r;
  shale_env env;
  recording_env(&r, &env);
  shale_db *db = open_with(dir, &env, 1);
  put_and_flush(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  shale_options o;
  tu_options_init(&o);
  o.env = &env;
  fail_next(&r, OP_UNLINK, EIO, "/SPANS");
  assert_int_equal(shale_repair(dir, &o), SHALE_IOERR);
  assert_true(errmsg_has("SPANS"));
  assert_int_equal(tu_count_suffix(dir, ".sst"), 1);
  fail_next(&r, OP_NONE, 0, NULL);
  atomic_store(&r.locks, 0);
  int lists = r.lists, mkdirs = r.mkdirs, spans = r.spans_unlinks;
  assert_int_equal(shale_repair(dir, &o), SHALE_OK);
  assert_int_equal(r.locks, 1);
  assert_true(r.lists > lists && r.mkdirs > mkdirs && r.spans_unlinks > spans);
  db = open_with(dir, &env, 1);
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* shale_destroy lists, unlinks and removes the directory through its options' env; a failed
 * unlink is its error, naming the file, and leaves the DB openable. */
static void test_destroy_goes_through_the_env(void **state) {
  (void)state;
  char *base = tu_tempdir(), *dir = tu_path(base, "db");
  recording r;
  shale_env env;
  recording_env(&r, &env);
  shale_db *db = open_with(dir, &env, 1);
  put_and_flush(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  shale_options o;
  tu_options_init(&o);
  o.env = &env;
  fail_next(&r, OP_UNLINK, EIO, NULL);
  assert_int_equal(shale_destroy(dir, &o), SHALE_IOERR);
  assert_true(errmsg_has(dir));
  fail_next(&r, OP_NONE, 0, NULL);
  db = open_with(dir, &env, 1);
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  int unlinks = r.unlinks, lists = r.lists;
  assert_int_equal(shale_destroy(dir, &o), SHALE_OK);
  assert_true(r.unlinks >= unlinks + 4 && r.lists > lists && r.locks >= 1 && r.rmdirs >= 1);
  assert_int_equal(tu_file_size(dir), -1);
  free(dir);
  tu_tempdir_free(base);
}

/* Without an env nothing watches a copy's bytes, so the kernel copies the WALs a checkpoint
 * takes (copy_file_range): the checkpoint holds the unflushed writes all the same. */
static void test_unwatched_checkpoint_copies_its_wals(void **state) {
  (void)state;
  char *base = tu_tempdir(), *dir = tu_path(base, "db"), *ck = tu_path(base, "ck");
  shale_db *db = open_with(dir, NULL, 1);
  put_and_flush(db);
  assert_int_equal(shale_put(db, "unflushed", 9, "w", 1, 0), SHALE_OK);
  assert_int_equal(shale_checkpoint(db, ck, 0, NULL, NULL), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  shale_db *copy = open_with(ck, NULL, 1);
  check_keys(copy);
  char v[4];
  size_t vl;
  assert_int_equal(shale_get_opts(copy, NULL, "unflushed", 9, v, sizeof v, &vl), SHALE_OK);
  assert_memory_equal(v, "w", 1);
  assert_int_equal(shale_close(copy), SHALE_OK);
  free(dir);
  free(ck);
  tu_tempdir_free(base);
}

static int refuse_lock(void *arg, int fd, const char *path, int op) {
  (void)arg, (void)fd, (void)path, (void)op;
  errno = EIO;
  return -1;
}

/* An env built against the shale.h before the later members (its size ends where they
 * begin) keeps working: what lies past its size is never called, and the real calls take
 * its place (the real flock still keeps a second handle out). */
static void test_older_env_takes_the_real_later_calls(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  counting c;
  shale_env env;
  counting_env(&c, &env);
  env.lock = refuse_lock; /* past the older size: must not be called */
  env.size = offsetof(shale_env, ftruncate);
  shale_db *db = open_with(dir, &env, 1);
  put_and_flush(db);
  shale_db *second;
  assert_int_equal(open_rc(dir, &env, &second), SHALE_BUSY);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_true(c.opens >= 4 && c.unlinks >= 1); /* the older members are still used */
  db = open_with(dir, &env, 1);
  check_keys(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_db_io_goes_through_its_env),
      cmocka_unit_test(test_env_error_reaches_the_caller),
      cmocka_unit_test(test_null_members_take_the_real_call),
      cmocka_unit_test(test_points_come_in_order),
      cmocka_unit_test(test_malformed_env_is_refused),
      cmocka_unit_test(test_open_makes_locks_lists_and_logs_through_the_env),
      cmocka_unit_test(test_torn_wal_tail_is_cut_through_the_env),
      cmocka_unit_test(test_checkpoint_links_through_the_env),
      cmocka_unit_test(test_unwatched_checkpoint_copies_its_wals),
      cmocka_unit_test(test_repair_goes_through_the_env),
      cmocka_unit_test(test_destroy_goes_through_the_env),
      cmocka_unit_test(test_older_env_takes_the_real_later_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
