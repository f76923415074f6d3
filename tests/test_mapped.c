/* test_mapped.c — a table file changed or truncated under an open DB (issue 20). Reads of
 * a mapped table must find a flipped bit as pread does: a block read from the file is
 * verified, so a read served from the block cache's verified copy gives the intact value and
 * any other read SHALE_CORRUPTION, never the changed value with SHALE_OK. A truncated table
 * must give a clean error, not SIGBUS. Each case runs mapped (the default) and with
 * use_mmap = 0, so both paths agree; without a block cache every read goes to the file, so
 * the flip must be reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shale.h"
#include "testutil.h"

#define NKEYS 400
#define VLEN 100
#define TARGET 200 /* the key whose block is damaged */

static int use_mmap; /* the group's: mapped tables, or pread */

typedef struct fixture {
  char *dir;
  shale_db *db;
} fixture;

static void key_of(char *k, int i) { snprintf(k, 16, "key%06d", i); }

/* Incompressible and unique, so even a zstd table stores the bytes as they are and a scan of
 * the file finds them once. */
static void value_of(uint8_t *v, int i) {
  uint64_t st = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
  for (int j = 0; j < VLEN; j++) v[j] = (uint8_t)tu_rand(&st);
}

/* Opens a DB with default options but compression, cache and use_mmap (the group's),
 * writes NKEYS keys and flushes them into one table. Returns 0, or the step that failed (no cmocka
 * assertion: a forked child runs it too). */
static int open_filled(fixture *f, int compression, size_t cache) {
  shale_options o;
  tu_options_init(&o);
  o.compression = compression;
  o.block_cache_size = cache;
  o.use_mmap = use_mmap;
  f->db = NULL;
  if (!(f->dir = tu_tempdir()) || shale_open(f->dir, &o, &f->db) != SHALE_OK) return 1;
  for (int i = 0; i < NKEYS; i++) {
    char k[16];
    uint8_t v[VLEN];
    key_of(k, i);
    value_of(v, i);
    if (shale_put(f->db, k, strlen(k), v, VLEN, 0) != SHALE_OK) return 2;
  }
  if (shale_flush(f->db) != SHALE_OK) return 3;
  return tu_count_suffix(f->dir, ".sst") == 1 ? 0 : 4;
}

static void close_fixture(fixture *f) {
  shale_close(f->db); /* may report the damage; the DB is freed either way */
  tu_tempdir_free(f->dir);
}

/* The path of the DB's only table. */
static char *table_path(const char *dir) {
  DIR *d = opendir(dir);
  char *path = NULL;
  struct dirent *e;
  while (d && !path && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n > 4 && strcmp(e->d_name + n - 4, ".sst") == 0) path = tu_path(dir, e->d_name);
  }
  if (d) closedir(d);
  return path;
}

/* Offset of key i's value bytes in the table file, or -1. */
static long long value_offset(const char *path, int i) {
  long long size = tu_file_size(path), off = -1;
  uint8_t v[VLEN], *buf = malloc(size > 0 ? (size_t)size : 1);
  FILE *fp = fopen(path, "rb");
  value_of(v, i);
  if (buf && fp && fread(buf, 1, (size_t)size, fp) == (size_t)size) {
    const uint8_t *p = memmem(buf, (size_t)size, v, VLEN);
    if (p) off = p - buf;
  }
  if (fp) fclose(fp);
  free(buf);
  return off;
}

/* A get of key i: an error (SHALE_CORRUPTION; SHALE_IOERR for a truncated file) or its intact
 * value, never another value with SHALE_OK. */
static int get_is_sound(shale_db *db, int i) {
  char k[16];
  uint8_t want[VLEN];
  void *v = NULL;
  size_t vlen = 0;
  key_of(k, i);
  value_of(want, i);
  int rc = shale_get(db, NULL, k, strlen(k), &v, &vlen);
  int sound = rc == SHALE_CORRUPTION || rc == SHALE_IOERR ||
              (rc == SHALE_OK && vlen == VLEN && !memcmp(v, want, VLEN));
  if (!sound) fprintf(stderr, "get key %d: rc %d (%s)\n", i, rc, shale_strerror(rc));
  shale_free(v);
  return sound;
}

/* Without a block cache every get reads the target's block from the file: the flip must be
 * reported. */
static int get_is_corrupt(shale_db *db, int i) {
  char k[16];
  void *v = NULL;
  size_t vlen = 0;
  key_of(k, i);
  int rc = shale_get(db, NULL, k, strlen(k), &v, &vlen);
  shale_free(v);
  if (rc != SHALE_CORRUPTION) fprintf(stderr, "get key %d: rc %d, not corruption\n", i, rc);
  return rc == SHALE_CORRUPTION;
}

/* A full scan: every entry intact, ending at the end or with SHALE_CORRUPTION. */
static int scan_is_sound(shale_db *db) {
  shale_iter *it;
  if (shale_iter_new(db, NULL, &it) != SHALE_OK) return 0;
  int i = 0, sound = 1;
  for (shale_iter_seek_first(it); sound && shale_iter_valid(it); shale_iter_next(it), i++) {
    char k[16];
    uint8_t want[VLEN];
    size_t klen, vlen;
    const void *key = shale_iter_key(it, &klen), *val = shale_iter_value(it, &vlen);
    key_of(k, i);
    value_of(want, i);
    sound = klen == strlen(k) && !memcmp(key, k, klen) && vlen == VLEN && !memcmp(val, want, VLEN);
    if (!sound) fprintf(stderr, "scan entry %d: changed\n", i);
  }
  int st = shale_iter_status(it);
  if (sound && !(st == SHALE_CORRUPTION || (st == SHALE_OK && i == NKEYS))) {
    fprintf(stderr, "scan: status %d after %d entries\n", st, i);
    sound = 0;
  }
  shale_iter_free(it);
  return sound;
}

/* Read the target (its block is verified and cached), flip a bit of its value in the file,
 * read again by get and by scan: the cached copy or an error. Without a cache (cache 0) the
 * get must report the flip. */
static void flip_after_read(int compression, size_t cache) {
  fixture f;
  assert_int_equal(open_filled(&f, compression, cache), 0);
  assert_true(get_is_sound(f.db, TARGET));
  assert_true(scan_is_sound(f.db));
  char *path = table_path(f.dir);
  assert_non_null(path);
  long long off = value_offset(path, TARGET);
  assert_true(off >= 0);
  assert_int_equal(tu_flip_bit(path, off + VLEN / 2, 3), 0);
  assert_true(cache ? get_is_sound(f.db, TARGET) : get_is_corrupt(f.db, TARGET));
  assert_true(scan_is_sound(f.db));
  free(path);
  close_fixture(&f);
}

/* An iterator that already holds the target's block (positioned on the key before it)
 * when the bit flips: the next entry is still read from what was verified. */
static void flip_under_iterator(int compression) {
  fixture f;
  assert_int_equal(open_filled(&f, compression, 8u << 20), 0);
  char k[16];
  key_of(k, TARGET - 1);
  shale_iter *it;
  assert_int_equal(shale_iter_new(f.db, NULL, &it), SHALE_OK);
  shale_iter_seek(it, k, strlen(k));
  assert_true(shale_iter_valid(it));
  char *path = table_path(f.dir);
  long long off = value_offset(path, TARGET);
  assert_true(off >= 0);
  assert_int_equal(tu_flip_bit(path, off + VLEN / 2, 3), 0);
  shale_iter_next(it);
  if (shale_iter_valid(it)) {
    uint8_t want[VLEN];
    size_t vlen;
    const void *val = shale_iter_value(it, &vlen);
    value_of(want, TARGET);
    assert_int_equal(vlen, VLEN);
    assert_memory_equal(val, want, VLEN);
  } else {
    assert_int_equal(shale_iter_status(it), SHALE_CORRUPTION);
  }
  shale_iter_free(it);
  free(path);
  close_fixture(&f);
}

/* The child's side of truncated(): 0 when the DB survived with a clean answer. */
static int truncated_child(int compression) {
  fixture f;
  /* cmocka catches SIGBUS to report it; here it must kill the child for the parent to see */
  signal(SIGBUS, SIG_DFL);
  signal(SIGSEGV, SIG_DFL);
  if (open_filled(&f, compression, 8u << 20)) return 1;
  if (!get_is_sound(f.db, TARGET)) return 2;
  char *path = table_path(f.dir);
  long long off = path ? value_offset(path, TARGET) : -1;
  if (off < 0 || tu_truncate(path, off & ~4095ll) != 0) return 3;
  if (!get_is_sound(f.db, TARGET)) return 4; /* an error, or the block from the cache */
  shale_iter *it;
  if (shale_iter_new(f.db, NULL, &it) != SHALE_OK) return 5;
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  int rc = shale_iter_status(it);
  shale_iter_free(it);
  /* the blocks past the target were never read, so no cache can answer for them */
  if (n >= NKEYS || (rc != SHALE_CORRUPTION && rc != SHALE_IOERR)) return 6;
  free(path);
  close_fixture(&f);
  return 0;
}

/* Truncate the table under the open DB, then read: in a child, so a SIGBUS fails the test
 * rather than killing the runner. */
static void truncated(int compression) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(truncated_child(compression));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status)) fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_flip_raw(void **s) {
  (void)s;
  flip_after_read(SHALE_COMPRESSION_NONE, 8u << 20);
}
static void test_flip_default(void **s) {
  (void)s;
  flip_after_read(SHALE_COMPRESSION_ZSTD, 8u << 20);
}
static void test_flip_raw_uncached(void **s) {
  (void)s;
  flip_after_read(SHALE_COMPRESSION_NONE, 0);
}
static void test_flip_default_uncached(void **s) {
  (void)s;
  flip_after_read(SHALE_COMPRESSION_ZSTD, 0);
}
static void test_flip_iter_raw(void **s) {
  (void)s;
  flip_under_iterator(SHALE_COMPRESSION_NONE);
}
static void test_truncate_raw(void **s) {
  (void)s;
  truncated(SHALE_COMPRESSION_NONE);
}
static void test_truncate_default(void **s) {
  (void)s;
  truncated(SHALE_COMPRESSION_ZSTD);
}

static int mapped(void **s) {
  (void)s;
  use_mmap = 1;
  return 0;
}
static int unmapped(void **s) {
  (void)s;
  use_mmap = 0;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flip_raw),          cmocka_unit_test(test_flip_default),
      cmocka_unit_test(test_flip_raw_uncached), cmocka_unit_test(test_flip_default_uncached),
      cmocka_unit_test(test_flip_iter_raw),     cmocka_unit_test(test_truncate_raw),
      cmocka_unit_test(test_truncate_default),
  };
  int failed = cmocka_run_group_tests_name("mapped", tests, mapped, NULL);
  return failed + cmocka_run_group_tests_name("pread (use_mmap=0)", tests, unmapped, NULL);
}
