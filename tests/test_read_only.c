/* test_read_only.c — shale_options.read_only: such an open reads tables and WALs, refuses
 * writes, shares the LOCK with other readers only, and leaves every file of the directory
 * byte-identical, down to working on a read-only mount. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a of a file's bytes, or 0 when it cannot be read. */
static uint64_t file_hash(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint64_t h = 1469598103934665603ull;
  int c;
  while ((c = fgetc(f)) != EOF) h = (h ^ (uint64_t)c) * 1099511628211ull;
  fclose(f);
  return h;
}

/* "name size hash" of every file in dir, sorted, one string: equal strings mean no file
 * appeared, went or changed. */
static char *dir_digest(const char *dir) {
  char *lines[256];
  int n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    if (e->d_name[0] == '.') continue;
    char *p = tu_path(dir, e->d_name);
    lines[n] = malloc(512);
    snprintf(lines[n++], 512, "%s %lld %016llx\n", e->d_name, tu_file_size(p),
             (unsigned long long)file_hash(p));
    free(p);
  }
  closedir(d);
  qsort(lines, (size_t)n, sizeof *lines, cmp_str);
  char *out = calloc((size_t)n + 1, 512);
  for (int i = 0; i < n; i++) {
    strcat(out, lines[i]);
    free(lines[i]);
  }
  return out;
}

static void put_str(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

/* A DB with keys in tables (over the L0 compaction trigger) and more in the WAL. */
static void make_db(const char *dir) {
  shale_options o;
  tu_options_init(&o);
  o.level0_compaction_trigger = 100;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[32];
  for (int t = 0; t < 6; t++) {
    for (int i = 0; i < 50; i++) {
      snprintf(k, sizeof k, "key%03d", t * 50 + i);
      put_str(db, k, "table");
    }
    assert_int_equal(shale_delete(db, "key000", 6, 0), SHALE_OK);
    assert_int_equal(shale_flush(db), SHALE_OK);
  }
  put_str(db, "walkey", "walval");
  assert_int_equal(shale_delete(db, "key001", 6, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
}

static int open_ro(const char *dir, shale_db **db) {
  shale_options o;
  tu_options_init(&o);
  o.read_only = 1;
  return shale_open(dir, &o, db);
}

static void check_value(shale_db *db, const char *k, const char *want) {
  void *v;
  size_t n;
  int rc = shale_get(db, NULL, k, strlen(k), &v, &n);
  if (!want) {
    assert_int_equal(rc, SHALE_NOTFOUND);
    return;
  }
  assert_int_equal(rc, SHALE_OK);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
  shale_free(v);
}

static void reads_everything(shale_db *db) {
  check_value(db, "walkey", "walval");
  check_value(db, "key100", "table");
  check_value(db, "key000", NULL);
  check_value(db, "key001", NULL);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  assert_int_equal(n, 300 - 2 + 1);
}

static void test_reads_and_changes_nothing(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *before = dir_digest(dir);
  shale_db *db;
  assert_int_equal(open_ro(dir, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_put(db, "a", 1, "b", 1, 0), SHALE_READONLY);
  assert_non_null(strstr(shale_errmsg(db), "read_only"));
  assert_int_equal(shale_delete(db, "a", 1, 0), SHALE_READONLY);
  assert_int_equal(shale_flush(db), SHALE_READONLY);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_READONLY);
  char *v;
  assert_int_equal(shale_property(db, "shale.num-files-at-level0", &v), SHALE_OK);
  assert_string_equal(v, "6");
  shale_free(v);
  usleep(200 * 1000); /* time for background work to start, were there any */
  assert_int_equal(shale_close(db), SHALE_OK);
  char *after = dir_digest(dir);
  assert_string_equal(before, after);
  free(before);
  free(after);
  tu_tempdir_free(dir);
}

static void test_lock_shared_with_readers_only(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  shale_db *r1, *r2, *w;
  assert_int_equal(open_ro(dir, &r1), SHALE_OK);
  assert_int_equal(open_ro(dir, &r2), SHALE_OK);
  assert_int_equal(shale_open(dir, tu_default_options(), &w), SHALE_BUSY);
  assert_int_equal(shale_close(r1), SHALE_OK);
  assert_int_equal(shale_close(r2), SHALE_OK);
  assert_int_equal(shale_open(dir, tu_default_options(), &w), SHALE_OK);
  assert_int_equal(open_ro(dir, &r1), SHALE_BUSY);
  assert_null(r1);
  assert_int_equal(shale_close(w), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_missing_db_is_not_created(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *sub = tu_path(dir, "nodb");
  shale_db *db;
  assert_int_equal(open_ro(sub, &db), SHALE_NOTFOUND);
  assert_int_equal(access(sub, F_OK), -1);
  assert_int_equal(open_ro(dir, &db), SHALE_NOTFOUND); /* empty: no CURRENT */
  char *empty = dir_digest(dir);
  assert_string_equal(empty, "");
  free(empty);
  free(sub);
  tu_tempdir_free(dir);
}

static void test_no_lock_file_needed(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *lock = tu_path(dir, "LOCK");
  assert_int_equal(unlink(lock), 0);
  shale_db *db;
  assert_int_equal(open_ro(dir, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(access(lock, F_OK), -1);
  free(lock);
  tu_tempdir_free(dir);
}

/* Root ignores permission bits, so a read-only bind mount stands for a read-only
 * directory; the test skips where mounting is not allowed. */
static void test_read_only_mount(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *src = tu_path(dir, "src"), *ro = tu_path(dir, "ro");
  assert_int_equal(mkdir(src, 0755), 0);
  assert_int_equal(mkdir(ro, 0755), 0);
  make_db(src);
  if (mount(src, ro, NULL, MS_BIND, NULL) ||
      mount(NULL, ro, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
    umount(ro);
    free(src);
    free(ro);
    tu_tempdir_free(dir);
    skip();
  }
  shale_db *db;
  assert_int_not_equal(shale_open(ro, tu_default_options(), &db), SHALE_OK);
  assert_int_equal(open_ro(ro, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(umount(ro), 0);
  free(src);
  free(ro);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_and_changes_nothing),
      cmocka_unit_test(test_lock_shared_with_readers_only),
      cmocka_unit_test(test_missing_db_is_not_created),
      cmocka_unit_test(test_no_lock_file_needed),
      cmocka_unit_test(test_read_only_mount),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
