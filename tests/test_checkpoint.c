/* test_checkpoint.c — shale_checkpoint and shale_live_files (issue 18) on real files in temp
 * directories: a checkpoint taken under writers, flushes and compactions opens to exactly
 * the source's state at its sequence; range tombstones and compressed tables read back
 * identically; the copy does not depend on the source's later compactions; bad arguments
 * and targets fail cleanly; the live-file figures match what was written. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "testutil_check.h"

static shale_options small_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 128u << 10;
  o.target_file_size = 64u << 10;
  o.max_bytes_for_level_base = 1u << 20;
  o.level0_compaction_trigger = 2;
  return o;
}

static shale_db *open_db(const char *dir, const shale_options *o) {
  shale_db *db;
  int rc = shale_open(dir, o, &db);
  if (rc) fprintf(stderr, "open %s: %s\n", dir, shale_errmsg(NULL));
  assert_int_equal(rc, SHALE_OK);
  return db;
}

/* ---- under load ---- */

typedef struct load {
  shale_db *db;
  atomic_int stop;
  int id;
  atomic_ulong ops;
} load;

static void *writer_main(void *arg) {
  load *l = arg;
  uint64_t rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(l->id + 1);
  char k[32], k2[32], v[64];
  while (!atomic_load(&l->stop)) {
    uint64_t r = tu_rand(&rnd);
    int key = (int)(r % 4000), op = (int)((r >> 20) % 100);
    snprintf(k, sizeof k, "key%05d", key);
    int vn = snprintf(v, sizeof v, "w%d-%llu-%llu", l->id, (unsigned long long)r,
                      (unsigned long long)atomic_load(&l->ops));
    int rc;
    if (op < 75) {
      rc = shale_put(l->db, k, strlen(k), v, (size_t)vn, 0);
    } else if (op < 93) {
      rc = shale_delete(l->db, k, strlen(k), 0);
    } else if (op < 96) {
      snprintf(k2, sizeof k2, "key%05d", key + 1 + (int)((r >> 40) % 30));
      rc = shale_delete_range(l->db, k, strlen(k), k2, strlen(k2), 0);
    } else {
      shale_batch *b;
      assert_int_equal(shale_batch_new(&b), SHALE_OK);
      shale_batch_put(b, k, strlen(k), v, (size_t)vn);
      snprintf(k2, sizeof k2, "key%05d", (key + 7) % 4000);
      shale_batch_delete(b, k2, strlen(k2));
      rc = shale_write(l->db, b, 0);
      shale_batch_free(b);
    }
    if (rc) fail_msg("write: %s", shale_errmsg(l->db));
    atomic_fetch_add(&l->ops, 1);
  }
  return NULL;
}

static void *flusher_main(void *arg) {
  load *l = arg;
  while (!atomic_load(&l->stop)) {
    assert_int_equal(shale_flush(l->db), SHALE_OK);
    usleep(15000);
  }
  return NULL;
}

/* Opens checkpoint dir and compares it with the source at snap; the copy's sequence is the
 * checkpoint's. */
static size_t check_copy(const char *dir, shale_db *src, const shale_snapshot *snap, uint64_t seq) {
  shale_options o = small_options();
  o.create_if_missing = 0;
  shale_db *c = open_db(dir, &o);
  assert_int_equal(tu_property_u64(c, "shale.sequence"), seq);
  size_t n = tu_assert_same_scan(c, NULL, src, snap);
  assert_int_equal(shale_close(c), SHALE_OK);
  return n;
}

static void test_checkpoint_under_load(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *out = tu_tempdir();
  shale_options o = small_options();
  shale_db *db = open_db(dir, &o);
  enum { WRITERS = 3 };
  load l[WRITERS + 1];
  pthread_t th[WRITERS + 1];
  for (int i = 0; i <= WRITERS; i++) {
    memset(&l[i], 0, sizeof l[i]);
    l[i].db = db;
    l[i].id = i;
    assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? writer_main : flusher_main, &l[i]),
                     0);
  }
  size_t total = 0;
  for (int round = 0; round < 6; round++) {
    usleep(200000);
    char name[64];
    snprintf(name, sizeof name, "ckpt%d", round);
    char *cp = tu_path(out, name);
    uint64_t seq = 0;
    const shale_snapshot *snap;
    unsigned flags = round % 2 ? SHALE_CHECKPOINT_FLUSH : 0;
    int rc = shale_checkpoint(db, cp, flags, &seq, &snap);
    if (rc) fail_msg("checkpoint: %s", shale_errmsg(db));
    assert_non_null(snap);
    assert_true(seq > 0);
    /* Compared while the writers go on: the snapshot holds the source still. */
    total += check_copy(cp, db, snap, seq);
    shale_snapshot_free(db, snap);
    free(cp);
  }
  for (int i = 0; i <= WRITERS; i++) atomic_store(&l[i].stop, 1);
  for (int i = 0; i <= WRITERS; i++) pthread_join(th[i], NULL);
  assert_true(total > 0);
  assert_true(tu_property_u64(db, "shale.sequence") > 0);
  assert_int_equal(shale_close(db), SHALE_OK);
  /* The WALs the checkpoints held back from deletion were deleted once they were done: a
   * clean close leaves only the active one. */
  assert_int_equal(tu_count_suffix(dir, ".log"), 1);
  tu_tempdir_free(dir);
  tu_tempdir_free(out);
}

/* ---- range tombstones, compression, independence ---- */

static void fill_with_deletes(shale_db *db) {
  char k[32], v[128];
  for (int i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "key%06d", i);
    int n = snprintf(v, sizeof v, "value-%d-%0100d", i, i);
    assert_int_equal(shale_put(db, k, strlen(k), v, (size_t)n, 0), SHALE_OK);
    if (i == 9000) assert_int_equal(shale_flush(db), SHALE_OK);
  }
  assert_int_equal(shale_delete_range(db, "key001000", 9, "key002000", 9, 0), SHALE_OK);
  for (int i = 5000; i < 6000; i += 3) {
    snprintf(k, sizeof k, "key%06d", i);
    assert_int_equal(shale_delete(db, k, strlen(k), 0), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  /* Some only in the WAL: the copy must carry the WAL's range tombstone too. */
  assert_int_equal(shale_delete_range(db, "key015000", 9, "key015500", 9, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "key019990", 9, NULL, 0, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "key001500", 9, "revived", 7, 0), SHALE_OK);
}

static int link_count(const char *dir, uint64_t number) {
  char name[64];
  snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)number);
  char *p = tu_path(dir, name);
  struct stat st;
  int n = stat(p, &st) ? -1 : (int)st.st_nlink;
  free(p);
  return n;
}

static void test_checkpoint_range_tombstones_zstd(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *out = tu_tempdir();
  shale_options o = small_options();
  o.compression = SHALE_COMPRESSION_ZSTD;
  o.write_buffer_size = 1u << 20;
  shale_db *db = open_db(dir, &o);
  fill_with_deletes(db);
  char *cp = tu_path(out, "ckpt");
  const shale_snapshot *snap;
  uint64_t seq;
  assert_int_equal(shale_checkpoint(db, cp, 0, &seq, &snap), SHALE_OK);
  /* The tables are shared, not copied. */
  shale_live_file *files;
  size_t nfiles;
  assert_int_equal(shale_live_files(db, &files, &nfiles), SHALE_OK);
  assert_true(nfiles > 0);
  for (size_t i = 0; i < nfiles; i++) assert_int_equal(link_count(cp, files[i].number), 2);
  shale_live_files_free(files);
  size_t n = check_copy(cp, db, snap, seq);
  assert_int_equal(n, 20000 - 1000 + 1 - 334 - 500 - 10);
  /* The source moves on: its compaction drops the tables the copy links to. */
  assert_int_equal(shale_put(db, "key000001", 9, "later", 5, 0), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(check_copy(cp, db, snap, seq), n);
  shale_snapshot_free(db, snap);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
  /* With the source gone altogether the copy reads the same, and takes writes. */
  o.create_if_missing = 0;
  shale_db *c = open_db(cp, &o);
  void *v;
  size_t vlen;
  assert_int_equal(shale_get(c, NULL, "key001500", 9, &v, &vlen), SHALE_OK);
  assert_memory_equal(v, "revived", 7);
  shale_free(v);
  assert_int_equal(shale_get(c, NULL, "key001501", 9, &v, &vlen), SHALE_NOTFOUND);
  assert_int_equal(shale_get(c, NULL, "key015100", 9, &v, &vlen), SHALE_NOTFOUND);
  assert_int_equal(shale_get(c, NULL, "key000001", 9, &v, &vlen), SHALE_OK);
  assert_int_not_equal(memcmp(v, "later", 5), 0);
  shale_free(v);
  assert_int_equal(shale_put(c, "new", 3, "x", 1, 0), SHALE_OK);
  assert_int_equal(shale_compact_range(c, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(shale_close(c), SHALE_OK);
  free(cp);
  tu_tempdir_free(out);
}

/* ---- errors ---- */

static int entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_checkpoint_errors(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *out = tu_tempdir();
  shale_db *db = open_db(dir, NULL);
  assert_int_equal(shale_put(db, "a", 1, "1", 1, 0), SHALE_OK);
  uint64_t seq = 7;
  const shale_snapshot *snap = (const shale_snapshot *)1;
  assert_int_equal(shale_checkpoint(NULL, out, 0, &seq, &snap), SHALE_INVALID);
  assert_int_equal(seq, 0);
  assert_null(snap);
  assert_int_equal(shale_checkpoint(db, NULL, 0, NULL, NULL), SHALE_INVALID);
  assert_int_equal(shale_checkpoint(db, "", 0, NULL, NULL), SHALE_INVALID);
  char *cp = tu_path(out, "c");
  assert_int_equal(shale_checkpoint(db, cp, 4, NULL, NULL), SHALE_INVALID);
  assert_int_equal(entries(out), 0);

  /* A non-empty directory, or a file, is refused and left alone. */
  assert_int_equal(mkdir(cp, 0755), 0);
  char *keep = tu_path(cp, "mine.txt");
  write_file(keep, "user data");
  assert_int_equal(shale_checkpoint(db, cp, 0, NULL, NULL), SHALE_EXISTS);
  assert_non_null(strstr(shale_errmsg(db), "not an empty directory"));
  assert_int_equal(entries(cp), 1);
  assert_int_equal(entries(out), 1);
  unlink(keep);
  free(keep);
  /* An empty directory is taken. */
  assert_int_equal(shale_checkpoint(db, cp, 0, &seq, NULL), SHALE_OK);
  assert_true(entries(cp) > 0);
  tu_rmrf(cp);
  write_file(cp, "a file");
  assert_int_equal(shale_checkpoint(db, cp, 0, NULL, NULL), SHALE_EXISTS);
  unlink(cp);

  /* A parent that cannot hold a directory (root ignores permissions, so a file and a
   * missing directory stand in for an unwritable parent): nothing made anywhere. */
  char *file = tu_path(out, "plain");
  write_file(file, "x");
  char *under_file = tu_path(file, "c");
  assert_int_equal(shale_checkpoint(db, under_file, 0, NULL, NULL), SHALE_IOERR);
  assert_non_null(strstr(shale_errmsg(db), "mkdir"));
  char *missing = tu_path(out, "no/such/dir");
  assert_int_equal(shale_checkpoint(db, missing, 0, NULL, NULL), SHALE_IOERR);
  assert_int_equal(shale_checkpoint(db, "/proc/shale-checkpoint", 0, NULL, NULL) < 0, 1);
  assert_int_equal(entries(out), 1);

  /* What a crash mid-checkpoint leaves is cleared; a foreign .tmp is refused. */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", cp);
  assert_int_equal(mkdir(tmp, 0755), 0);
  char *stale = tu_path(tmp, "000009.sst");
  write_file(stale, "half");
  assert_int_equal(shale_checkpoint(db, cp, 0, NULL, NULL), SHALE_OK);
  assert_int_equal(access(tmp, F_OK), -1);
  tu_rmrf(cp);
  assert_int_equal(mkdir(tmp, 0755), 0);
  char *foreign = tu_path(tmp, "notes.txt");
  write_file(foreign, "mine");
  assert_int_equal(shale_checkpoint(db, cp, 0, NULL, NULL), SHALE_EXISTS);
  assert_int_equal(access(foreign, F_OK), 0);
  assert_int_equal(access(cp, F_OK), -1);
  assert_int_equal(shale_close(db), SHALE_OK);

  /* A read-only handle checkpoints (its WALs are copied) but cannot flush first. */
  shale_options ro;
  tu_options_init(&ro);
  ro.read_only = 1;
  db = open_db(dir, &ro);
  char *cp2 = tu_path(out, "ro");
  assert_int_equal(shale_checkpoint(db, cp2, SHALE_CHECKPOINT_FLUSH, NULL, NULL), SHALE_READONLY);
  assert_int_equal(access(cp2, F_OK), -1);
  assert_int_equal(shale_checkpoint(db, cp2, 0, &seq, NULL), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_db(cp2, NULL);
  void *v;
  size_t vlen;
  assert_int_equal(shale_get(db, NULL, "a", 1, &v, &vlen), SHALE_OK);
  shale_free(v);
  assert_int_equal(tu_property_u64(db, "shale.sequence"), seq);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(cp2);
  free(foreign);
  free(stale);
  free(missing);
  free(under_file);
  free(file);
  free(cp);
  tu_tempdir_free(dir);
  tu_tempdir_free(out);
}

/* ---- live files ---- */

typedef struct totals {
  uint64_t entries, tombstones, range_tombstones;
  size_t files;
} totals;

static totals sum_live(shale_db *db) {
  shale_live_file *f;
  size_t n;
  assert_int_equal(shale_live_files(db, &f, &n), SHALE_OK);
  totals t = {0, 0, 0, n};
  for (size_t i = 0; i < n; i++) {
    t.entries += f[i].entries;
    t.tombstones += f[i].point_tombstones;
    t.range_tombstones += f[i].range_tombstones;
    assert_true(f[i].file_size > 0);
    assert_true(f[i].level >= 0 && f[i].level < 7);
  }
  shale_live_files_free(f);
  return t;
}

static void put_keys(shale_db *db, int from, int to) {
  char k[32];
  for (int i = from; i < to; i++) {
    snprintf(k, sizeof k, "k%04d", i);
    assert_int_equal(shale_put(db, k, strlen(k), "v", 1, 0), SHALE_OK);
  }
}

static void test_live_files(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, NULL);
  shale_live_file *f = (shale_live_file *)1;
  size_t n = 9;
  assert_int_equal(shale_live_files(NULL, &f, &n), SHALE_INVALID);
  assert_null(f);
  assert_int_equal(n, 0);
  assert_int_equal(shale_live_files(db, NULL, &n), SHALE_INVALID);
  assert_int_equal(shale_live_files(db, &f, &n), SHALE_OK);
  assert_int_equal(n, 0);
  assert_null(f);
  shale_live_files_free(NULL);

  put_keys(db, 0, 1000); /* sequences 1..1000 */
  assert_int_equal(shale_flush(db), SHALE_OK);
  char k[32];
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof k, "k%04d", i);
    assert_int_equal(shale_delete(db, k, strlen(k), 0), SHALE_OK);
  }
  assert_int_equal(shale_delete_range(db, "k0500", 5, "k0600", 5, 0), SHALE_OK);
  put_keys(db, 1000, 1050); /* the last sequence: 1151 */
  assert_int_equal(shale_flush(db), SHALE_OK);

  assert_int_equal(shale_live_files(db, &f, &n), SHALE_OK);
  assert_int_equal(n, 2);
  /* L0 newest first. */
  assert_int_equal(f[0].level, 0);
  assert_int_equal(f[1].level, 0);
  assert_true(f[0].number > f[1].number);
  assert_int_equal(f[1].entries, 1000);
  assert_int_equal(f[1].point_tombstones, 0);
  assert_int_equal(f[1].range_tombstones, 0);
  assert_int_equal(f[1].min_seq, 1);
  assert_int_equal(f[1].max_seq, 1000);
  assert_int_equal(f[1].oldest_tomb_us, 0);
  assert_int_equal(f[1].smallest_len, 5);
  assert_memory_equal(f[1].smallest, "k0000", 5);
  assert_memory_equal(f[1].largest, "k0999", 5);
  assert_int_equal(f[0].entries, 150);
  assert_int_equal(f[0].point_tombstones, 100);
  assert_int_equal(f[0].range_tombstones, 1);
  assert_int_equal(f[0].min_seq, 1001);
  assert_int_equal(f[0].max_seq, 1151);
  assert_int_equal(f[0].min_tomb_seq, 1001);
  assert_int_equal(f[0].max_tomb_seq, 1101);
  assert_true(f[0].oldest_tomb_us > 0 && f[0].oldest_tomb_us <= f[0].newest_tomb_us);
  assert_memory_equal(f[0].smallest, "k0000", 5);
  assert_memory_equal(f[0].largest, "k1049", 5);
  assert_true(f[0].raw_bytes > 0 && f[0].file_size > 0);
  shale_live_files_free(f);

  /* A full compaction drops the tombstones and what they hide. */
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  totals t = sum_live(db);
  assert_true(t.files >= 1);
  assert_int_equal(t.entries, 1050 - 100 - 100);
  assert_int_equal(t.tombstones, 0);
  assert_int_equal(t.range_tombstones, 0);
  assert_int_equal(shale_close(db), SHALE_OK);
  /* The figures come from the MANIFEST, so a reopen gives them back. */
  db = open_db(dir, NULL);
  t = sum_live(db);
  assert_int_equal(t.entries, 850);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checkpoint_errors),
      cmocka_unit_test(test_live_files),
      cmocka_unit_test(test_checkpoint_range_tombstones_zstd),
      cmocka_unit_test(test_checkpoint_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
