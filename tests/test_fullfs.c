/* test_fullfs.c — the full-disk path on a real full file system (issue 20, point 7): a DB on
 * a 3 MiB tmpfs is written until SHALE_NOSPACE; every acknowledged write must read back then,
 * and after a close and a reopen, once a filler file made room; the reopened DB must take
 * writes and flushes again, and more of them once the tmpfs grows. Needs root to mount;
 * skipped otherwise. Fault injection simulates ENOSPC elsewhere (test_faults.c); here the
 * kernel says it, at whatever write, sync, fallocate or mmap store hits it first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "shale.h"
#include "testutil.h"

#define VALUE_LEN 1000
#define MAX_WRITES 20000 /* 3 MiB holds far fewer: the disk must fill long before */
#define FILLER_BYTES (768 << 10)

typedef struct fs {
  char *mnt, *db, *filler;
} fs;

static int fs_setup(void **state) {
  fs *f = calloc(1, sizeof *f);
  f->mnt = tu_tempdir();
  if (geteuid() != 0 || mount("tmpfs", f->mnt, "tmpfs", 0, "size=3m") != 0) {
    fprintf(stderr, "cannot mount a 3 MiB tmpfs on %s (%s): full-disk tests skipped\n", f->mnt,
            geteuid() ? "not root" : strerror(errno));
    tu_tempdir_free(f->mnt);
    f->mnt = NULL;
  } else {
    f->db = tu_path(f->mnt, "db");
    f->filler = tu_path(f->mnt, "filler");
  }
  *state = f;
  return 0;
}

static int fs_teardown(void **state) {
  fs *f = *state;
  if (f->mnt) {
    if (umount2(f->mnt, MNT_DETACH) != 0)
      fprintf(stderr, "umount %s: %s\n", f->mnt, strerror(errno));
    tu_tempdir_free(f->mnt);
  }
  free(f->db);
  free(f->filler);
  free(f);
  return 0;
}

/* Space set aside before the DB fills the rest, so that removing it frees a known amount. */
static void reserve(const char *path) {
  static char zero[FILLER_BYTES];
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(zero, 1, sizeof zero, fp), sizeof zero);
  assert_int_equal(fclose(fp), 0);
}

static shale_options small_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 256u << 10; /* several flushes and a compaction fit in 3 MiB */
  o.compression = SHALE_COMPRESSION_NONE;
  o.target_file_size = 256u << 10;
  return o;
}

static shale_db *open_db(const char *dir) {
  shale_options o = small_options();
  shale_db *db;
  int rc = shale_open(dir, &o, &db);
  if (rc) fail_msg("open %s: %s: %s", dir, shale_strerror(rc), shale_errmsg(NULL));
  return db;
}

/* Key i's value names i and is filled with bytes derived from it: a wrong one shows. */
static size_t key_of(int i, char *k) { return (size_t)snprintf(k, 16, "k%06d", i); }
static void value_of(int i, char *v) {
  int n = snprintf(v, VALUE_LEN, "v%06d:", i);
  for (int j = n; j < VALUE_LEN; j++) v[j] = (char)('a' + (i * 31 + j) % 26);
}

static int put(shale_db *db, int i) {
  char k[16], v[VALUE_LEN];
  value_of(i, v);
  return shale_put(db, k, key_of(i, k), v, VALUE_LEN, i % 16 == 0 ? SHALE_SYNC : 0);
}

/* Every key below n reads back with its own value. */
static void check_all(shale_db *db, int n, const char *when) {
  char k[16], want[VALUE_LEN];
  for (int i = 0; i < n; i++) {
    void *v;
    size_t vl;
    int rc = shale_get(db, NULL, k, key_of(i, k), &v, &vl);
    if (rc) fail_msg("%s: acknowledged %s: %s: %s", when, k, shale_strerror(rc), shale_errmsg(db));
    value_of(i, want);
    if (vl != VALUE_LEN || memcmp(v, want, VALUE_LEN))
      fail_msg("%s: %s has a wrong value", when, k);
    shale_free(v);
  }
}

/* Writes keys from 0 until the file system refuses one; returns how many were acknowledged.
 * The first refusal must say why: NOSPACE, or READONLY when a background flush hit it first
 * (then close reports NOSPACE, checked by the caller). */
static int fill_until_full(shale_db *db, int *first_rc) {
  for (int i = 0; i < MAX_WRITES; i++) {
    int rc = put(db, i);
    if (rc == SHALE_OK) continue;
    printf("write %d refused: %s: %s\n", i, shale_strerror(rc), shale_errmsg(db));
    *first_rc = rc;
    return i;
  }
  fail_msg("%d writes of %d bytes fit in a 3 MiB tmpfs", MAX_WRITES, VALUE_LEN);
  return 0;
}

static void test_full_then_freed(void **state) {
  fs *f = *state;
  if (!f->mnt) skip();
  reserve(f->filler);
  shale_db *db = open_db(f->db);
  int first_rc = 0, n = fill_until_full(db, &first_rc);
  assert_true(n > 100); /* the DB had room for a few flushes first */
  assert_true(first_rc == SHALE_NOSPACE || first_rc == SHALE_READONLY);
  check_all(db, n, "full, before close");
  /* A refused write may have reached the WAL in part: nothing may build on it until a reopen
   * recovers what is whole. */
  assert_int_equal(put(db, n), SHALE_READONLY);
  int close_rc = shale_close(db);
  printf("close on a full disk: %s\n", shale_strerror(close_rc));
  if (first_rc == SHALE_READONLY) assert_int_equal(close_rc, SHALE_NOSPACE); /* the cause */

  /* Room for a new WAL and MANIFEST: the reopened DB must show every acknowledged write. It
   * may fill up again (a compaction rewrites its inputs before it frees them), so the writes
   * it takes here are counted but not required. */
  assert_int_equal(unlink(f->filler), 0);
  db = open_db(f->db);
  check_all(db, n, "reopened after freeing the filler");
  int rc = SHALE_OK;
  while (rc == SHALE_OK && n < MAX_WRITES)
    if ((rc = put(db, n)) == SHALE_OK) n++;
  printf("after freeing %d KiB: writes up to %d acknowledged, then %s\n", FILLER_BYTES >> 10, n,
         shale_strerror(rc));
  check_all(db, n, "full again");
  printf("close: %s\n", shale_strerror(shale_close(db)));

  /* A bigger file system: the DB takes writes, flushes and compactions again. */
  assert_int_equal(mount(NULL, f->mnt, NULL, MS_REMOUNT, "size=16m"), 0);
  db = open_db(f->db);
  check_all(db, n, "reopened on a bigger file system");
  for (int end = n + 3000; n < end; n++)
    if ((rc = put(db, n)))
      fail_msg("write %d after growing the tmpfs: %s: %s", n, shale_strerror(rc), shale_errmsg(db));
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_db(f->db);
  check_all(db, n, "after growing and reopening");
  assert_int_equal(shale_close(db), SHALE_OK);
}

static char *slurp(const char *path) {
  FILE *fp = fopen(path, "rb");
  char *s = calloc(1, 1 << 20);
  if (fp) {
    size_t n = fread(s, 1, (1 << 20) - 1, fp);
    s[n] = 0;
    fclose(fp);
  }
  return s;
}

/* The DB's file names but LOG and LOG.old, one string. */
static char *names(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s | grep -v '^LOG'", dir);
  FILE *p = popen(cmd, "r");
  char *s = calloc(1, 1 << 16);
  size_t n = fread(s, 1, (1 << 16) - 1, p);
  s[n] = 0;
  pclose(p);
  return s;
}

/* Takes whatever space is left, so that nothing more fits. */
static void fill_rest(const char *path) {
  static char block[4096];
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  while (fwrite(block, 1, sizeof block, fp) == sizeof block && fflush(fp) == 0) continue;
  fclose(fp);
}

/* Opens that fail on a full disk keep the LOG that tells why the DB stopped, and leave no
 * WAL behind (issue 15: after two failed opens LOG and LOG.old were empty, and each open
 * left an empty WAL). */
static void test_failed_opens_keep_log(void **state) {
  fs *f = *state;
  if (!f->mnt) skip();
  shale_db *db = open_db(f->db);
  int first_rc = 0;
  fill_until_full(db, &first_rc);
  shale_close(db);
  fill_rest(f->filler);
  char *log = tu_path(f->db, "LOG"), *old = tu_path(f->db, "LOG.old");
  char *before = slurp(log), *files = names(f->db);
  assert_non_null(strstr(before, "background error"));
  for (int i = 0; i < 2; i++) {
    shale_options o = small_options();
    int rc = shale_open(f->db, &o, &db);
    if (rc == SHALE_OK) fail_msg("open %d on a full disk succeeded", i);
    printf("open %d on a full disk: %s: %s\n", i, shale_strerror(rc), shale_errmsg(NULL));
  }
  char *after = slurp(log), *after_old = slurp(old), *files_after = names(f->db);
  if (strncmp(after, before, strlen(before)) && strncmp(after_old, before, strlen(before)))
    fail_msg(
        "the LOG of the session that hit the full disk is gone: LOG now has %zu bytes, "
        "LOG.old %zu",
        strlen(after), strlen(after_old));
  assert_string_equal(files_after, files);
  free(before);
  free(after);
  free(after_old);
  free(files);
  free(files_after);
  free(log);
  free(old);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full_then_freed, fs_setup, fs_teardown),
      cmocka_unit_test_setup_teardown(test_failed_opens_keep_log, fs_setup, fs_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
