/* test_api.c — the calls a LevelDB or RocksDB user reaches for (issue 16): open without
 * create_if_missing, destroy, repair, per-thread error detail, multi-get and approximate
 * sizes, on real files in temp directories. */
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

static inline void put_str(shale_db *db, const char *k, const char *v) {
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_create_on_empty_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
