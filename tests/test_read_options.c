/* test_read_options.c — per-read options (fill_cache, verify_checksums, old-sized structs)
 * and shale_get_opts into a caller's buffer (issue 16), on real DBs in temp directories:
 * the block cache's own counters show what a read put in it, and damaged tables on disk
 * show what a read verified. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

/* ---- allocation counting (linked with --wrap=malloc,calloc,realloc) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
static int counting;
static long allocations;

void *__wrap_malloc(size_t n) {
  allocations += counting;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  allocations += counting;
  return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  allocations += counting;
  return __real_realloc(p, n);
}

/* ---- helpers ---- */

#define NKEYS 20000
#define VLEN 200

static void key_of(int i, char *k) { snprintf(k, 16, "key%08d", i); }

/* Values that do not compress, so the table holds NKEYS * VLEN bytes in many blocks. */
static void value_of(int i, char *v) {
  uint64_t s = (uint64_t)i * 2654435761u + 1;
  for (int j = 0; j < VLEN; j++) v[j] = (char)('a' + tu_rand(&s) % 26);
}

static shale_db *open_db(const char *dir, int compression, size_t cache) {
  shale_options o;
  tu_options_init(&o);
  o.compression = compression;
  o.block_cache_size = cache;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  return db;
}

static void load(shale_db *db, int n) {
  char k[16], v[VLEN];
  for (int i = 0; i < n; i++) {
    key_of(i, k);
    value_of(i, v);
    assert_int_equal(shale_put(db, k, strlen(k), v, VLEN, SHALE_NO_WAL), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
}

static uint64_t prop(shale_db *db, const char *name) {
  char *s;
  assert_int_equal(shale_property(db, name, &s), SHALE_OK);
  uint64_t n = strtoull(s, NULL, 10);
  shale_free(s);
  return n;
}

static void get_hot(shale_db *db, const shale_read_options *ro) {
  char k[16], want[VLEN], got[VLEN];
  for (int i = 0; i < 10; i++) {
    key_of(i, k);
    value_of(i, want);
    size_t vlen;
    assert_int_equal(shale_get_opts(db, ro, k, strlen(k), got, sizeof got, &vlen), SHALE_OK);
    assert_int_equal(vlen, VLEN);
    assert_memory_equal(got, want, VLEN);
  }
}

/* Reads every key; returns how many. */
static int scan(shale_db *db, const shale_read_options *ro) {
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, ro, &it), SHALE_OK);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  return n;
}

/* ---- fill_cache ---- */

/* A scan with fill_cache = 0 inserts nothing and leaves the hot blocks cached; the same scan
 * with the default evicts them (the control that shows the cache is small enough to). */
static void test_fill_cache_scan_keeps_hot_blocks(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 256u << 10);
  load(db, NKEYS);
  shale_read_options ro;
  shale_read_options_init(&ro);
  assert_int_equal(ro.fill_cache, 1);
  assert_int_equal(ro.verify_checksums, 1);
  get_hot(db, &ro); /* the hot blocks enter the cache */
  uint64_t misses = prop(db, "shale.block-cache-misses");
  uint64_t adds = shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS);
  assert_true(adds >= 1 && misses >= 1);

  ro.fill_cache = 0;
  assert_int_equal(scan(db, &ro), NKEYS);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS), adds);
  assert_true(prop(db, "shale.block-cache-misses") > misses + 500); /* it read the table */
  misses = prop(db, "shale.block-cache-misses");
  uint64_t hits = prop(db, "shale.block-cache-hits");
  get_hot(db, NULL);
  assert_int_equal(prop(db, "shale.block-cache-misses"), misses); /* all still cached */
  assert_true(prop(db, "shale.block-cache-hits") >= hits + 10);

  assert_int_equal(scan(db, NULL), NKEYS); /* the default fills, and evicts */
  assert_true(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS) > adds + 500);
  misses = prop(db, "shale.block-cache-misses");
  get_hot(db, NULL);
  assert_true(prop(db, "shale.block-cache-misses") > misses);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* A get with fill_cache = 0 misses again next time: it left nothing behind. */
static void test_fill_cache_get(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  load(db, 2000);
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.fill_cache = 0;
  uint64_t adds = shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS);
  for (int round = 0; round < 2; round++) {
    uint64_t misses = prop(db, "shale.block-cache-misses");
    get_hot(db, &ro);
    assert_true(prop(db, "shale.block-cache-misses") >= misses + 10);
  }
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS), adds);
  /* multi_get honours it too */
  char k[16];
  key_of(1500, k);
  const void *keys[] = {k};
  size_t klens[] = {strlen(k)}, vlens[1];
  void *vals[1];
  int rcs[1];
  assert_int_equal(shale_multi_get(db, &ro, 1, keys, klens, vals, vlens, rcs), SHALE_OK);
  assert_int_equal(vlens[0], VLEN);
  shale_free(vals[0]);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS), adds);
  assert_int_equal(shale_multi_get(db, NULL, 1, keys, klens, vals, vlens, rcs), SHALE_OK);
  shale_free(vals[0]);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS), adds + 1);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* A struct filled by an older init ends before fill_cache: what lies past its size is not
 * read, and both new fields take their default (1). */
static void test_old_sized_read_options(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  load(db, 2000);
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.size = offsetof(shale_read_options, fill_cache);
  ro.fill_cache = 0; /* garbage beyond the old struct */
  uint64_t adds = shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS);
  get_hot(db, &ro);
  assert_true(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS) > adds);
  assert_int_equal(scan(db, &ro), 2000);
  ro.size = offsetof(shale_read_options, upper_bound); /* older than any init: refused */
  size_t vlen = 1;
  assert_int_equal(shale_get_opts(db, &ro, "key00000001", 11, NULL, 0, &vlen), SHALE_INVALID);
  assert_int_equal(vlen, 0);
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, &ro, &it), SHALE_INVALID);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* ---- verify_checksums ---- */

/* Flips one bit of the first stored copy of needle in dir's only table; returns its offset. */
static long long damage_table(const char *dir, const char *needle, size_t nlen) {
  char *sst = NULL;
  for (int n = 1; n < 100 && !sst; n++) {
    char name[32];
    snprintf(name, sizeof name, "%06d.sst", n);
    char *p = tu_path(dir, name);
    if (tu_file_size(p) > 0)
      sst = p;
    else
      free(p);
  }
  assert_non_null(sst);
  long long size = tu_file_size(sst);
  char *bytes = malloc((size_t)size);
  FILE *f = fopen(sst, "rb");
  assert_non_null(f);
  assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  char *at = memmem(bytes, (size_t)size, needle, nlen);
  assert_non_null(at);
  long long off = at - bytes + (long long)nlen / 2;
  assert_int_equal(tu_flip_bit(sst, off, 0), 0);
  free(bytes);
  free(sst);
  return off;
}

/* Reads "m" with verify_checksums = 0 and fill_cache as given; checks that exactly one
 * byte differs from val, and returns the damaged copy in got. */
static void read_damaged(shale_db *db, int fill, const char *val, size_t vl, char *got) {
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.verify_checksums = 0;
  ro.fill_cache = fill;
  size_t vlen;
  assert_int_equal(shale_get_opts(db, &ro, "m", 1, got, 64, &vlen), SHALE_OK);
  assert_int_equal(vlen, vl);
  int diff = 0;
  for (size_t i = 0; i < vl; i++) diff += got[i] != val[i];
  assert_int_equal(diff, 1); /* the damaged bytes, with SHALE_OK */
}

/* An uncompressed table: the default is SHALE_CORRUPTION, and verify_checksums = 0 returns
 * the damaged value (as documented), for gets and iterators: through the mapping whatever
 * fill_cache says (mapped blocks never enter the cache), and through pread with
 * fill_cache = 0. */
static void test_verify_checksums_off_returns_damage(void **state) {
  (void)state;
  /* cmocka puts its SIGBUS handler back before each test; Shale maps tables only when its
   * guard can go in front of the handler it finds, which it does over the default one */
  signal(SIGBUS, SIG_DFL);
  /* tables are mapped unless the suite's options turn use_mmap off (CI's second pass) */
  int mapped = tu_default_options()->use_mmap;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_NONE, 8u << 20);
  const char *val = "the-value-of-key-m-that-gets-damaged";
  size_t vl = strlen(val);
  assert_int_equal(shale_put(db, "a", 1, "x", 1, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "m", 1, val, vl, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  damage_table(dir, val, vl);
  db = open_db(dir, SHALE_COMPRESSION_NONE, 8u << 20);

  char got[64];
  size_t vlen = 99;
  assert_int_equal(shale_get_opts(db, NULL, "m", 1, got, sizeof got, &vlen), SHALE_CORRUPTION);
  assert_int_equal(vlen, 0);
  assert_non_null(strstr(shale_errmsg(db), "checksum"));
  void *v;
  assert_int_equal(shale_get(db, NULL, "m", 1, &v, &vlen), SHALE_CORRUPTION);

  read_damaged(db, 0, val, vl, got);
  if (mapped) {
    char again[64];
    read_damaged(db, 1, val, vl, again);
    assert_memory_equal(again, got, vl);
  }

  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.verify_checksums = 0;
  ro.fill_cache = 0;
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, &ro, &it), SHALE_OK);
  shale_iter_seek(it, "m", 1);
  assert_true(shale_iter_valid(it));
  const void *iv = shale_iter_value(it, &vlen);
  assert_int_equal(vlen, vl);
  assert_memory_equal(iv, got, vl);
  shale_iter_free(it);
  assert_int_equal(shale_iter_new_opts(db, NULL, &it), SHALE_OK);
  shale_iter_seek(it, "m", 1);
  assert_false(shale_iter_valid(it));
  assert_int_equal(shale_iter_status(it), SHALE_CORRUPTION);
  shale_iter_free(it);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* A compressed table's block that would enter the cache is verified even with
 * verify_checksums = 0; with fill_cache = 0 as well, the checksum is skipped, and the
 * damage shows up as whatever the decoder makes of it — never a crash. */
static void test_verify_checksums_off_still_verifies_cached_blocks(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  char k[16], v[VLEN];
  memset(v, 'q', sizeof v); /* compresses well */
  for (int i = 0; i < 100; i++) {
    key_of(i, k);
    assert_int_equal(shale_put(db, k, strlen(k), v, sizeof v, 0), SHALE_OK);
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  /* the first data block starts at offset 0; its zstd frame begins with its magic */
  damage_table(dir, "\x28\xb5\x2f\xfd", 4);
  db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.verify_checksums = 0;
  char got[VLEN];
  size_t vlen;
  key_of(0, k);
  assert_int_equal(shale_get_opts(db, &ro, k, strlen(k), got, sizeof got, &vlen), SHALE_CORRUPTION);
  assert_int_equal(shale_ticker(db, SHALE_TICKER_BLOCK_CACHE_ADDS), 0);
  ro.fill_cache = 0;
  int rc = shale_get_opts(db, &ro, k, strlen(k), got, sizeof got, &vlen);
  assert_true(rc == SHALE_OK || rc == SHALE_NOTFOUND || rc == SHALE_CORRUPTION);
  if (rc == SHALE_CORRUPTION) assert_null(strstr(shale_errmsg(db), "checksum"));
  shale_close(db);
  tu_tempdir_free(dir);
}

/* ---- shale_get_opts ---- */

static void test_get_opts_buffer(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  assert_int_equal(shale_put(db, "k", 1, "hello world", 11, 0), SHALE_OK);
  assert_int_equal(shale_put(db, "empty", 5, "", 0, 0), SHALE_OK);
  for (int flushed = 0; flushed < 2; flushed++) { /* from the memtable, then from a table */
    char buf[16];
    memset(buf, '#', sizeof buf);
    size_t vlen = 0;
    assert_int_equal(shale_get_opts(db, NULL, "k", 1, buf, 5, &vlen), SHALE_OK);
    assert_int_equal(vlen, 11); /* the whole length: retry with 11 bytes */
    assert_memory_equal(buf, "hello#", 6);
    assert_int_equal(shale_get_opts(db, NULL, "k", 1, buf, vlen, &vlen), SHALE_OK);
    assert_memory_equal(buf, "hello world#", 12);
    assert_int_equal(shale_get_opts(db, NULL, "k", 1, NULL, 0, &vlen), SHALE_OK);
    assert_int_equal(vlen, 11);
    assert_int_equal(shale_get_opts(db, NULL, "empty", 5, buf, sizeof buf, &vlen), SHALE_OK);
    assert_int_equal(vlen, 0);
    vlen = 7;
    assert_int_equal(shale_get_opts(db, NULL, "nope", 4, buf, sizeof buf, &vlen), SHALE_NOTFOUND);
    assert_int_equal(vlen, 0);
    assert_int_equal(shale_flush(db), SHALE_OK);
  }
  /* a range tombstone newer than the table's value */
  assert_int_equal(shale_delete_range(db, "j", 1, "l", 1, 0), SHALE_OK);
  size_t vlen = 7;
  char buf[16];
  assert_int_equal(shale_get_opts(db, NULL, "k", 1, buf, sizeof buf, &vlen), SHALE_NOTFOUND);
  assert_int_equal(vlen, 0);
  /* bad arguments */
  assert_int_equal(shale_get_opts(NULL, NULL, "k", 1, buf, sizeof buf, &vlen), SHALE_INVALID);
  assert_int_equal(shale_get_opts(db, NULL, "k", 1, NULL, 4, &vlen), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(db), "get_opts"));
  assert_int_equal(shale_get_opts(db, NULL, "k", 1, buf, sizeof buf, NULL), SHALE_INVALID);
  assert_int_equal(shale_get_opts(db, NULL, NULL, 1, buf, sizeof buf, &vlen), SHALE_INVALID);
  assert_int_equal(shale_get_opts(db, NULL, "", 0, buf, sizeof buf, &vlen), SHALE_NOTFOUND);
  shale_read_options ro = {0};
  assert_int_equal(shale_get_opts(db, &ro, "k", 1, buf, sizeof buf, &vlen), SHALE_INVALID);
  shale_close(db);
  tu_tempdir_free(dir);
}

static void test_get_opts_snapshot(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db = open_db(dir, SHALE_COMPRESSION_ZSTD, 8u << 20);
  assert_int_equal(shale_put(db, "k", 1, "old", 3, 0), SHALE_OK);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "newer", 5, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_delete(db, "k", 1, 0), SHALE_OK);
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  char buf[8];
  size_t vlen;
  assert_int_equal(shale_get_opts(db, &ro, "k", 1, buf, sizeof buf, &vlen), SHALE_OK);
  assert_int_equal(vlen, 3);
  assert_memory_equal(buf, "old", 3);
  assert_int_equal(shale_get_opts(db, NULL, "k", 1, buf, sizeof buf, &vlen), SHALE_NOTFOUND);
  shale_snapshot_free(db, snap);
  shale_close(db);
  tu_tempdir_free(dir);
}

/* The point of the call: a get served from the memtable, the block cache or a mapped table
 * allocates nothing. */
static void test_get_opts_allocates_nothing(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  for (int compression = 0; compression < 2; compression++) {
    shale_db *db = open_db(dir, compression, 8u << 20);
    load(db, 2000);
    char k[16], v[VLEN];
    size_t vlen;
    assert_int_equal(shale_put(db, "in-memtable", 11, "v", 1, 0), SHALE_OK);
    key_of(7, k);
    /* warm: the thread's view slot, the table's reader, the block in the cache */
    assert_int_equal(shale_get_opts(db, NULL, k, strlen(k), v, sizeof v, &vlen), SHALE_OK);
    assert_int_equal(shale_get_opts(db, NULL, "in-memtable", 11, v, 1, &vlen), SHALE_OK);
    allocations = 0;
    counting = 1;
    int rc1 = shale_get_opts(db, NULL, k, strlen(k), v, sizeof v, &vlen);
    int rc2 = shale_get_opts(db, NULL, "in-memtable", 11, v, 1, &vlen);
    counting = 0;
    assert_int_equal(rc1, SHALE_OK);
    assert_int_equal(rc2, SHALE_OK);
    assert_int_equal(allocations, 0);
    /* shale_get, by contrast, allocates its copy */
    void *copy;
    counting = 1;
    rc1 = shale_get(db, NULL, k, strlen(k), &copy, &vlen);
    counting = 0;
    assert_int_equal(rc1, SHALE_OK);
    assert_true(allocations >= 1);
    shale_free(copy);
    shale_close(db);
    tu_rmrf(dir);
  }
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fill_cache_scan_keeps_hot_blocks),
      cmocka_unit_test(test_fill_cache_get),
      cmocka_unit_test(test_old_sized_read_options),
      cmocka_unit_test(test_verify_checksums_off_returns_damage),
      cmocka_unit_test(test_verify_checksums_off_still_verifies_cached_blocks),
      cmocka_unit_test(test_get_opts_buffer),
      cmocka_unit_test(test_get_opts_snapshot),
      cmocka_unit_test(test_get_opts_allocates_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
