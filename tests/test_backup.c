/* test_backup.c — shale_backup, shale_restore, shale_backup_list and shale_backup_purge
 * (issue 18) on real files in temp directories: a restore reads as the source did at the
 * backup's sequence, even with writers running during the backup; a second backup copies
 * only the new tables; a flipped bit in a table or in a backup manifest is found before
 * anything is written; a directory holding a DB is refused unless overwrite is asked. */
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
  shale_options_init(&o);
  o.write_buffer_size = 64u << 10;
  o.target_file_size = 64u << 10;
  o.level0_compaction_trigger = 100; /* tables stay as flushed: the counts below are exact */
  o.level0_slowdown_trigger = 200;
  o.level0_stop_trigger = 300;
  return o;
}

static shale_db *open_db(const char *dir) {
  shale_options o = small_options();
  shale_db *db;
  int rc = shale_open(dir, &o, &db);
  if (rc) fprintf(stderr, "open %s: %s\n", dir, shale_errmsg(NULL));
  assert_int_equal(rc, SHALE_OK);
  return db;
}

static void put_range(shale_db *db, int from, int to, const char *tag) {
  char k[32], v[64];
  for (int i = from; i < to; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    int vl = snprintf(v, sizeof v, "%s-value-%d-%0*d", tag, i, 20, i);
    assert_int_equal(shale_put(db, k, (size_t)kl, v, (size_t)vl, 0), SHALE_OK);
  }
}

static size_t count_keys(shale_db *db) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  size_t n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  return n;
}

/* The first file of dir/sub whose name ends in suffix, as a malloc'd path. */
static char *find_file(const char *dir, const char *sub, const char *suffix) {
  char *d = tu_path(dir, sub);
  DIR *h = opendir(d);
  assert_non_null(h);
  char *found = NULL;
  struct dirent *e;
  while (!found && (e = readdir(h))) {
    size_t n = strlen(e->d_name), s = strlen(suffix);
    if (n >= s && !strcmp(e->d_name + n - s, suffix) && e->d_name[0] != '.')
      found = tu_path(d, e->d_name);
  }
  closedir(h);
  free(d);
  assert_non_null(found);
  return found;
}

/* Entries of dir but "." and "..". */
static int entries(const char *dir) { return tu_count_suffix(dir, "") - 2; }

/* ---- round trip ---- */

static void test_round_trip(void **state) {
  (void)state;
  char *src = tu_tempdir(), *bk = tu_tempdir(), *dst = tu_tempdir();
  char *restored = tu_path(dst, "db");
  shale_db *db = open_db(src);
  put_range(db, 0, 3000, "a");
  assert_int_equal(shale_flush(db), SHALE_OK);
  for (int i = 0; i < 3000; i += 7) { /* tombstones in the memtable, over flushed keys */
    char k[32];
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_delete(db, k, (size_t)kl, 0), SHALE_OK);
  }
  assert_int_equal(shale_delete_range(db, "key00002000", 11, "key00002100", 11, 0), SHALE_OK);
  put_range(db, 2500, 2600, "b"); /* in the WAL only */
  shale_backup_info info;
  assert_int_equal(shale_backup(db, bk, 0, &info), SHALE_OK);
  assert_int_equal(info.id, 1);
  assert_int_equal(info.sequence, tu_property_u64(db, "shale.sequence"));
  assert_true(info.files >= 3); /* a table, the MANIFEST, CURRENT, a WAL */
  assert_int_equal(info.files_copied, info.files);
  assert_int_equal(shale_restore(bk, 0, restored, 0), SHALE_OK);
  put_range(db, 5000, 5100, "after"); /* not in the backup */
  shale_db *copy = open_db(restored);
  assert_int_equal(tu_property_u64(copy, "shale.sequence"), info.sequence);
  size_t n = count_keys(copy), want = 0;
  for (int i = 0; i < 3000; i++)
    want += (i >= 2500 && i < 2600) || (i % 7 && (i < 2000 || i >= 2100));
  assert_int_equal(n, want);
  /* the source without its later writes */
  for (int i = 5000; i < 5100; i++) {
    char k[32];
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_delete(db, k, (size_t)kl, 0), SHALE_OK);
  }
  assert_int_equal(tu_assert_same_scan(copy, NULL, db, NULL), n);
  assert_int_equal(shale_close(copy), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(restored);
  tu_tempdir_free(src);
  tu_tempdir_free(bk);
  tu_tempdir_free(dst);
}

/* ---- incremental ---- */

static void test_incremental_copies_only_new_tables(void **state) {
  (void)state;
  char *src = tu_tempdir(), *bk = tu_tempdir();
  shale_db *db = open_db(src);
  put_range(db, 0, 4000, "a");
  assert_int_equal(shale_flush(db), SHALE_OK);
  shale_backup_info first;
  assert_int_equal(shale_backup(db, bk, SHALE_BACKUP_FLUSH, &first), SHALE_OK);
  char *shared = tu_path(bk, "shared");
  int tables1 = tu_count_suffix(shared, ".sst");
  assert_true(tables1 >= 2);
  assert_int_equal(tables1, tu_count_suffix(src, ".sst"));
  assert_int_equal(first.files_copied, first.files);

  put_range(db, 10000, 10200, "b");
  assert_int_equal(shale_flush(db), SHALE_OK); /* one more table */
  shale_backup_info second;
  assert_int_equal(shale_backup(db, bk, SHALE_BACKUP_FLUSH, &second), SHALE_OK);
  assert_int_equal(second.id, 2);
  int tables2 = tu_count_suffix(shared, ".sst");
  assert_int_equal(tables2, tables1 + 1);
  char *priv = tu_path(bk, "private/000002");
  int private_files = entries(priv);
  assert_true(private_files >= 2); /* CURRENT and a MANIFEST at least */
  /* copied: the one new table and the private files, nothing shared again */
  assert_int_equal(second.files_copied, 1 + private_files);
  assert_int_equal(second.files, (uint32_t)(tables2 + private_files));
  assert_true(second.bytes_copied < second.size / 2);
  assert_true(second.size > first.size);

  shale_backup_info *list;
  size_t n;
  assert_int_equal(shale_backup_list(bk, &list, &n), SHALE_OK);
  assert_int_equal(n, 2);
  assert_int_equal(list[0].id, 1);
  assert_int_equal(list[1].id, 2);
  assert_int_equal(list[0].sequence, first.sequence);
  assert_int_equal(list[1].size, second.size);
  assert_int_equal(list[1].files_copied, 0);
  shale_free(list);

  /* purge to the newest: backup 1's tables are all in backup 2, so none goes */
  assert_int_equal(shale_backup_purge(bk, 1), SHALE_OK);
  assert_int_equal(shale_backup_list(bk, &list, &n), SHALE_OK);
  assert_int_equal(n, 1);
  assert_int_equal(list[0].id, 2);
  shale_free(list);
  assert_int_equal(tu_count_suffix(shared, ".sst"), tables2);
  char *dst = tu_tempdir();
  char *restored = tu_path(dst, "db");
  assert_int_equal(shale_restore(bk, 1, restored, 0), SHALE_NOTFOUND);
  assert_int_equal(shale_restore(bk, 2, restored, 0), SHALE_OK);
  shale_db *copy = open_db(restored);
  assert_int_equal(tu_assert_same_scan(copy, NULL, db, NULL), 4200);
  assert_int_equal(shale_close(copy), SHALE_OK);
  assert_int_equal(shale_backup_purge(bk, 0), SHALE_OK);
  assert_int_equal(tu_count_suffix(shared, ".sst"), 0);

  assert_int_equal(shale_close(db), SHALE_OK);
  free(restored);
  free(priv);
  free(shared);
  tu_tempdir_free(dst);
  tu_tempdir_free(src);
  tu_tempdir_free(bk);
}

/* ---- damage ---- */

static void assert_restore_refused(const char *bk, const char *target, const char *name_part) {
  assert_int_equal(shale_restore(bk, 0, target, 0), SHALE_CORRUPTION);
  const char *msg = shale_errmsg(NULL);
  if (!strstr(msg, name_part)) fail_msg("message \"%s\" does not name %s", msg, name_part);
  assert_int_equal(entries(target), 0);
}

static void test_flipped_bits_found_before_writing(void **state) {
  (void)state;
  char *src = tu_tempdir(), *bk = tu_tempdir(), *target = tu_tempdir();
  shale_db *db = open_db(src);
  put_range(db, 0, 2000, "a");
  assert_int_equal(shale_backup(db, bk, SHALE_BACKUP_FLUSH, NULL), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);

  char *table = find_file(bk, "shared", ".sst");
  long long size = tu_file_size(table);
  assert_int_equal(tu_flip_bit(table, size / 2, 3), 0);
  assert_restore_refused(bk, target, strrchr(table, '/') + 1);
  /* with overwrite, over a DB: the DB stays as it was */
  char *other = tu_tempdir(); /* holds a DB */
  shale_db *o = open_db(other);
  put_range(o, 0, 10, "other");
  assert_int_equal(shale_close(o), SHALE_OK);
  assert_int_equal(shale_restore(bk, 0, other, SHALE_RESTORE_OVERWRITE), SHALE_CORRUPTION);
  o = open_db(other);
  assert_int_equal(count_keys(o), 10);
  assert_int_equal(shale_close(o), SHALE_OK);
  tu_tempdir_free(other);
  assert_int_equal(tu_flip_bit(table, size / 2, 3), 0); /* mended */

  char *meta = tu_path(bk, "meta/000001");
  assert_int_equal(tu_flip_bit(meta, 20, 0), 0);
  assert_restore_refused(bk, target, "meta/000001");
  shale_backup_info *list;
  size_t n;
  assert_int_equal(shale_backup_list(bk, &list, &n), SHALE_CORRUPTION);
  assert_null(list);
  assert_int_equal(shale_backup_purge(bk, 1), SHALE_CORRUPTION); /* keeps it: deletes nothing */
  assert_int_equal(entries(bk), 5);                              /* LOCK meta private shared tmp */
  assert_int_equal(tu_flip_bit(meta, 20, 0), 0);

  char *cur = tu_path(bk, "private/000001/CURRENT");
  assert_int_equal(tu_truncate(cur, tu_file_size(cur) - 1), 0);
  assert_restore_refused(bk, target, "CURRENT");

  free(cur);
  free(meta);
  free(table);
  tu_tempdir_free(src);
  tu_tempdir_free(bk);
  tu_tempdir_free(target);
}

/* ---- under writers ---- */

typedef struct writer_arg {
  shale_db *db;
  atomic_int stop;
  atomic_int written;
} writer_arg;

static void *writer_main(void *p) {
  writer_arg *w = p;
  char k[32];
  for (int i = 0; !atomic_load(&w->stop); i++) {
    int kl = snprintf(k, sizeof k, "w%09d", i);
    assert_int_equal(shale_put(w->db, k, (size_t)kl, k, (size_t)kl, 0), SHALE_OK);
    atomic_store(&w->written, i + 1);
  }
  return NULL;
}

/* One writer puts w0, w1, ... one sequence each: a restore at sequence S must hold exactly
 * the first S - base of them. */
static void test_backup_under_writes(void **state) {
  (void)state;
  char *src = tu_tempdir(), *bk = tu_tempdir(), *dst = tu_tempdir();
  shale_db *db = open_db(src);
  uint64_t base = tu_property_u64(db, "shale.sequence");
  writer_arg w = {.db = db};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  while (atomic_load(&w.written) < 20000) usleep(1000);
  shale_backup_info info[2];
  assert_int_equal(shale_backup(db, bk, 0, &info[0]), SHALE_OK);
  while (atomic_load(&w.written) < 40000) usleep(1000);
  assert_int_equal(shale_backup(db, bk, SHALE_BACKUP_FLUSH, &info[1]), SHALE_OK);
  atomic_store(&w.stop, 1);
  pthread_join(t, NULL);
  for (int b = 0; b < 2; b++) {
    char name[16];
    snprintf(name, sizeof name, "db%d", b);
    char *restored = tu_path(dst, name);
    assert_int_equal(shale_restore(bk, info[b].id, restored, 0), SHALE_OK);
    shale_db *copy = open_db(restored);
    uint64_t want = info[b].sequence - base;
    assert_true(want >= (b ? 40000u : 20000u));
    assert_int_equal(tu_property_u64(copy, "shale.sequence"), info[b].sequence);
    assert_int_equal(count_keys(copy), want);
    char k[32];
    int kl = snprintf(k, sizeof k, "w%09d", (int)want - 1);
    void *v;
    size_t vl;
    assert_int_equal(shale_get(copy, NULL, k, (size_t)kl, &v, &vl), SHALE_OK);
    shale_free(v);
    kl = snprintf(k, sizeof k, "w%09d", (int)want);
    assert_int_equal(shale_get(copy, NULL, k, (size_t)kl, &v, &vl), SHALE_NOTFOUND);
    assert_int_equal(shale_close(copy), SHALE_OK);
    free(restored);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(src);
  tu_tempdir_free(bk);
  tu_tempdir_free(dst);
}

/* ---- targets and arguments ---- */

static void test_restore_over_a_db(void **state) {
  (void)state;
  char *src = tu_tempdir(), *bk = tu_tempdir(), *other = tu_tempdir();
  shale_db *db = open_db(src);
  put_range(db, 0, 500, "a");
  assert_int_equal(shale_backup(db, bk, 0, NULL), SHALE_OK);
  shale_db *o = open_db(other);
  put_range(o, 0, 10, "other");
  assert_int_equal(shale_restore(bk, 0, other, 0), SHALE_EXISTS); /* holds a DB */
  assert_non_null(strstr(shale_errmsg(NULL), "SHALE_RESTORE_OVERWRITE"));
  assert_int_equal(shale_restore(bk, 0, other, SHALE_RESTORE_OVERWRITE), SHALE_BUSY); /* open */
  assert_int_equal(count_keys(o), 10);
  assert_int_equal(shale_close(o), SHALE_OK);
  o = open_db(other);
  assert_int_equal(count_keys(o), 10); /* untouched */
  assert_int_equal(shale_close(o), SHALE_OK);
  assert_int_equal(shale_restore(bk, 0, other, SHALE_RESTORE_OVERWRITE), SHALE_OK);
  o = open_db(other);
  assert_int_equal(tu_assert_same_scan(o, NULL, db, NULL), 500);
  assert_int_equal(shale_close(o), SHALE_OK);

  /* a directory of someone else's files is never taken */
  char *foreign = tu_tempdir();
  char *note = tu_path(foreign, "notes.txt");
  FILE *f = fopen(note, "w");
  fputs("mine", f);
  fclose(f);
  assert_int_equal(shale_restore(bk, 0, foreign, SHALE_RESTORE_OVERWRITE), SHALE_EXISTS);
  assert_int_equal(tu_file_size(note), 4);

  assert_int_equal(shale_backup(NULL, bk, 0, NULL), SHALE_INVALID);
  assert_int_equal(shale_backup(db, NULL, 0, NULL), SHALE_INVALID);
  assert_int_equal(shale_backup(db, bk, 8, NULL), SHALE_INVALID);
  assert_int_equal(shale_restore(NULL, 0, other, 0), SHALE_INVALID);
  assert_int_equal(shale_restore(bk, 0, "", 0), SHALE_INVALID);
  assert_int_equal(shale_restore(bk, 99, other, SHALE_RESTORE_OVERWRITE), SHALE_NOTFOUND);
  assert_int_equal(shale_backup_list(NULL, NULL, NULL), SHALE_INVALID);
  assert_int_equal(shale_backup_purge(NULL, 1), SHALE_INVALID);
  char *missing = tu_path(bk, "missing");
  assert_int_equal(shale_restore(missing, 0, other, 0), SHALE_NOTFOUND);
  free(missing);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(note);
  tu_tempdir_free(foreign);
  tu_tempdir_free(src);
  tu_tempdir_free(bk);
  tu_tempdir_free(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_incremental_copies_only_new_tables),
      cmocka_unit_test(test_flipped_bits_found_before_writing),
      cmocka_unit_test(test_backup_under_writes),
      cmocka_unit_test(test_restore_over_a_db),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
