/* test_wal_times.c — WAL records carry the time they were written (format version 2), so a
 * delete replayed at a reopen keeps its age: shale.deletes-persisted-before never claims a
 * delete persisted that is still on disk. Old (version 1) logs still replay, with a time no
 * later than the truth, and damage to the new record layout is still caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shale.h"
#include "testutil.h"
#include "util/checksum.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/error.h"
#include "wal/wal_format.h"
#include "wal/wal_reader.h"
#include "wal/wal_writer.h"

static int setup(void **state) {
  *state = tu_tempdir();
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  tu_tempdir_free(*state);
  return 0;
}

#define VALUE "value-of-k-issue-20"

static shale_db *open_db_as(const char *dir, int read_only) {
  shale_options o;
  tu_options_init(&o);
  o.compression = SHALE_COMPRESSION_NONE; /* so disk_holds can see the value */
  o.read_only = read_only;
  shale_db *db = NULL;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  return db;
}

static shale_db *open_db(const char *dir) { return open_db_as(dir, 0); }

static uint64_t persisted_before_us(shale_db *db) {
  char *v = NULL;
  assert_int_equal(shale_property(db, "shale.deletes-persisted-before-us", &v), SHALE_OK);
  uint64_t us = strtoull(v, NULL, 10);
  shale_free(v);
  return us;
}

/* A DB whose key "k" has its value in a table, and nothing in the memtable. */
static shale_db *db_with_table(const char *dir) {
  shale_db *db = open_db(dir);
  assert_int_equal(shale_put(db, "k", 1, VALUE, strlen(VALUE), 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  return db;
}

/* 1 when a table file of dir holds VALUE: the deleted value is still on disk. */
static int disk_holds(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 4 || strcmp(e->d_name + n - 4, ".sst")) continue;
    char *path = tu_path(dir, e->d_name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) continue; /* compacted away meanwhile */
    static char data[1 << 20];
    size_t got = fread(data, 1, sizeof data, f);
    fclose(f);
    found = memmem(data, got, VALUE, strlen(VALUE)) != NULL;
  }
  closedir(d);
  return found;
}

/* disk_holds once a compaction that purged the value has had time to delete its input: the
 * install moves the property at once, the input table goes when its last reader lets go. */
static int disk_holds_settled(const char *dir) {
  for (int i = 0; i < 50 && disk_holds(dir); i++) usleep(100 * 1000);
  return disk_holds(dir);
}

/* Issue 20: the delete's tombstone comes back from the WAL with the delete's time, not the
 * reopen's, while the value it hides is still in a table. */
static void test_delete_time_survives_reopen(void **state) {
  const char *dir = *state;
  shale_db *db = db_with_table(dir);
  uint64_t before = clock_wall_us();
  assert_int_equal(shale_delete(db, "k", 1, 0), SHALE_OK);
  uint64_t after = clock_wall_us();
  uint64_t open_p = persisted_before_us(db);
  assert_true(open_p >= before && open_p <= after);
  assert_int_equal(shale_close(db), SHALE_OK);
  sleep(2);                /* a reopen-time tombstone would be 2 s past `after` */
  db = open_db_as(dir, 1); /* read_only: no compaction can purge the value and move it */
  uint64_t ro_p = persisted_before_us(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  if (ro_p < before || ro_p > after)
    fail_msg("deletes-persisted-before %llu in a read_only reopen, delete made in [%llu, %llu]",
             (unsigned long long)ro_p, (unsigned long long)before, (unsigned long long)after);
  db = open_db(dir);
  uint64_t p = persisted_before_us(db);
  /* Past the delete is right only once compaction purged the value (tombstone-dense tables
   * are compacted soon after the open); the value still on disk after p was read proves p
   * wrong. */
  if (p < before || (p > open_p && disk_holds_settled(dir)))
    fail_msg(
        "deletes-persisted-before %llu after the reopen, delete made in [%llu, %llu], "
        "%llu before the close",
        (unsigned long long)p, (unsigned long long)before, (unsigned long long)after,
        (unsigned long long)open_p);
  char *v = NULL;
  size_t vlen;
  assert_int_equal(shale_get(db, NULL, "k", 1, (void **)&v, &vlen), SHALE_NOTFOUND);
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* One fragment, header and checksum, as doc/format-wal.md lays it out. */
static size_t put_frag(uint8_t *out, unsigned type, const void *payload, size_t n) {
  out[4] = (uint8_t)n;
  out[5] = (uint8_t)(n >> 8);
  out[6] = (uint8_t)type;
  memcpy(out + WAL_HEADER_SIZE, payload, n);
  put_fixed32(out, checksum32(out + 4, 3 + n));
  return WAL_HEADER_SIZE + n;
}

static size_t put_filehdr(uint8_t *out, uint32_t version, uint64_t number) {
  uint8_t h[WAL_FILEHDR_PAYLOAD];
  memcpy(h, WAL_MAGIC, WAL_MAGIC_SIZE);
  put_fixed32(h + 8, version);
  put_fixed64(h + 12, number);
  return put_frag(out, WAL_FILEHDR, h, sizeof h);
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
  unlink(path); /* a new file: its birth time is now */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* Path of the highest-numbered WAL of dir (malloc'd). */
static char *newest_log(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  unsigned long best = 0;
  while ((e = readdir(d))) {
    unsigned long n;
    char tail[8];
    if (sscanf(e->d_name, "%lu.%7s", &n, tail) == 2 && !strcmp(tail, "log") && n > best) best = n;
  }
  closedir(d);
  assert_true(best > 0);
  char name[32];
  snprintf(name, sizeof name, "%06lu.log", best);
  return tu_path(dir, name);
}

/* A version 1 log (no record times, as an older build wrote it) holding a delete of "k"
 * still replays; the delete gets a time no later than the file's creation. */
static void test_old_version_log_replays(void **state) {
  const char *dir = *state;
  shale_db *db = db_with_table(dir);
  assert_int_equal(shale_close(db), SHALE_OK);
  char *path = newest_log(dir);
  unsigned long number = strtoul(strrchr(path, '/') + 1, NULL, 10);
  uint8_t batch[12 + 3] = {0};
  put_fixed64(batch, 1000); /* past every sequence number the DB used */
  put_fixed32(batch + 8, 1);
  batch[12] = 0; /* DEL */
  batch[13] = 1;
  batch[14] = 'k';
  uint8_t file[128];
  size_t n = put_filehdr(file, 1, number);
  n += put_frag(file + n, WAL_FULL, batch, sizeof batch);
  uint64_t before = clock_wall_us();
  write_file(path, file, n);
  uint64_t after = clock_wall_us();
  sleep(1);
  /* read_only: the replayed delete stays in memory, where no compaction can purge it (with
   * the value it hides) before its time is read */
  db = open_db_as(dir, 1);
  char *v = NULL;
  size_t vlen;
  assert_int_equal(shale_get(db, NULL, "k", 1, (void **)&v, &vlen), SHALE_NOTFOUND);
  uint64_t p = persisted_before_us(db);
  /* the birth time (second granularity on some file systems), or 1 when it is unknown */
  if (p != 1 && (p + 1000000 < before || p > after))
    fail_msg("old log's delete replayed with time %llu, file made in [%llu, %llu]",
             (unsigned long long)p, (unsigned long long)before, (unsigned long long)after);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(path);
}

/* The reader gives back each record's time; a flipped bit in a stamp is a checksum
 * mismatch like any other, and an intact record too short for a stamp is corruption. */
static void test_damaged_record_detected(void **state) {
  char *path = tu_path(*state, "000003.log");
  char err[ERRMSG_SIZE];
  wal_writer *w;
  assert_int_equal(wal_writer_open(NULL, path, 3, &w, err), SHALE_OK);
  for (uint64_t i = 0; i < 3; i++)
    assert_int_equal(wal_writer_add_at(w, 1000 + i, "abc", 3, err), SHALE_OK);
  assert_int_equal(wal_writer_close(w, err), SHALE_OK);
  wal_reader *r;
  const uint8_t *rec;
  size_t len;
  assert_int_equal(wal_reader_open(NULL, path, WAL_READ_STRICT, &r, err), SHALE_OK);
  for (uint64_t i = 0; i < 3; i++) {
    assert_int_equal(wal_reader_next(r, &rec, &len, err), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(rec, "abc", 3);
    assert_true(wal_reader_record_time(r) == 1000 + i);
  }
  assert_int_equal(wal_reader_next(r, &rec, &len, err), 0);
  wal_reader_close(r);
  /* record 1 starts at 27 + 18: flip a bit of its time stamp */
  assert_int_equal(tu_flip_bit(path, 27 + 18 + WAL_HEADER_SIZE + 2, 5), 0);
  assert_int_equal(wal_reader_open(NULL, path, WAL_READ_STRICT, &r, err), SHALE_OK);
  assert_int_equal(wal_reader_next(r, &rec, &len, err), 1);
  assert_int_equal(wal_reader_next(r, &rec, &len, err), SHALE_CORRUPTION);
  assert_non_null(strstr(err, "checksum"));
  wal_reader_close(r);
  /* version 2, an intact 3-byte record: no room for its stamp */
  uint8_t file[64];
  size_t n = put_filehdr(file, WAL_FORMAT_VERSION, 3);
  n += put_frag(file + n, WAL_FULL, "abc", 3);
  write_file(path, file, n);
  for (int mode = WAL_READ_STRICT; mode <= WAL_READ_TOLERANT; mode++) {
    assert_int_equal(wal_reader_open(NULL, path, mode, &r, err), SHALE_OK);
    assert_int_equal(wal_reader_next(r, &rec, &len, err), SHALE_CORRUPTION);
    assert_non_null(strstr(err, "time stamp"));
    wal_reader_close(r);
  }
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_delete_time_survives_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_old_version_log_replays, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_record_detected, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
