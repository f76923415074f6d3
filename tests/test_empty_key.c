/* test_empty_key.c — the zero-length key, as LevelDB and RocksDB accept it: puts, gets,
 * deletes, batches, range deletes with it as a bound or an open begin, multi_get, iterators
 * both ways and with bounds, through the memtable, flush, compaction (several versions of
 * it kept for a snapshot), the WAL on reopen and tables on reopen. A NULL key with length 0
 * is the same key; a NULL key with a length is still SHALE_INVALID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "testutil.h"

static void put(shale_db *db, const char *k, size_t kl, const char *v) {
  assert_int_equal(shale_put(db, k, kl, v, strlen(v), 0), SHALE_OK);
}

/* Asserts a get of (k, kl) at snap gives v, or nothing when v is NULL. */
static void expect(shale_db *db, const shale_snapshot *snap, const char *k, size_t kl,
                   const char *v) {
  void *got;
  size_t n;
  int rc = shale_get(db, snap, k, kl, &got, &n);
  if (!v) {
    assert_int_equal(rc, SHALE_NOTFOUND);
    return;
  }
  assert_int_equal(rc, SHALE_OK);
  assert_true(n == strlen(v) && !memcmp(got, v, n));
  shale_free(got);
}

/* "k=v;" for one entry: the empty key as "<>", bytes below ' ' as \xHH. */
static void show(char *out, size_t size, const char *k, size_t kl, const char *v, size_t vl) {
  size_t n = 0;
  if (!kl) n += (size_t)snprintf(out, size, "<>");
  for (size_t i = 0; i < kl; i++)
    n += (size_t)snprintf(out + n, size - n, (unsigned char)k[i] < ' ' ? "\\x%02x" : "%c",
                          (unsigned char)k[i]);
  snprintf(out + n, size - n, "=%.*s;", (int)vl, v);
}

/* The keys an iterator shows, forward then backward, joined as show() writes them, must
 * both spell want (backward compared reversed). */
static void scan(shale_db *db, const shale_read_options *ro, const char *want) {
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, ro, &it), SHALE_OK);
  char fwd[512] = "", bwd[512] = "", item[64];
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    show(item, sizeof item, k, kl, v, vl);
    strcat(fwd, item);
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    show(item, sizeof item, k, kl, v, vl);
    memmove(bwd + strlen(item), bwd, strlen(bwd) + 1);
    memcpy(bwd, item, strlen(item));
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  if (strcmp(fwd, want) || strcmp(bwd, want))
    fprintf(stderr, "  want %s\n  forward  %s\n  backward %s\n", want, fwd, bwd);
  assert_string_equal(fwd, want);
  assert_string_equal(bwd, want);
}

static void test_point_ops(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  put(db, "", 0, "e1");
  put(db, "\0", 1, "nul");
  put(db, "a", 1, "va");
  expect(db, NULL, "", 0, "e1");
  expect(db, NULL, NULL, 0, "e1"); /* NULL with 0 is the empty key */
  expect(db, NULL, "\0", 1, "nul");
  assert_int_equal(shale_put(db, NULL, 0, "e2", 2, 0), SHALE_OK);
  expect(db, NULL, "", 0, "e2");
  char buf[8];
  size_t vlen;
  assert_int_equal(shale_get_opts(db, NULL, NULL, 0, buf, sizeof buf, &vlen), SHALE_OK);
  assert_true(vlen == 2 && !memcmp(buf, "e2", 2));
  scan(db, NULL, "<>=e2;\\x00=nul;a=va;");
  assert_int_equal(shale_delete(db, NULL, 0, 0), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  expect(db, NULL, "\0", 1, "nul");
  /* NULL with a length is still refused */
  assert_int_equal(shale_put(db, NULL, 1, "v", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_delete(db, NULL, 3, 0), SHALE_INVALID);
  void *v;
  assert_int_equal(shale_get(db, NULL, NULL, 2, &v, &vlen), SHALE_INVALID);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, NULL, 1, "v", 1), SHALE_INVALID);
  assert_int_equal(shale_batch_delete(b, NULL, 1), SHALE_INVALID);
  shale_batch_free(b);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_batches_and_multi_get(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "", 0, "first", 5), SHALE_OK);
  assert_int_equal(shale_batch_delete(b, NULL, 0), SHALE_OK);
  assert_int_equal(shale_batch_put(b, NULL, 0, "second", 6), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "k", 1, "vk", 2), SHALE_OK);
  assert_int_equal(shale_write(db, b, 0), SHALE_OK);
  shale_batch_free(b);
  expect(db, NULL, "", 0, "second");
  const void *keys[] = {"k", NULL, "", "zz"};
  size_t klens[] = {1, 0, 0, 2}, vlens[4];
  void *vals[4];
  int rcs[4];
  assert_int_equal(shale_multi_get(db, NULL, 4, keys, klens, vals, vlens, rcs), SHALE_OK);
  assert_int_equal(rcs[0], SHALE_OK);
  assert_int_equal(rcs[1], SHALE_OK);
  assert_int_equal(rcs[2], SHALE_OK);
  assert_int_equal(rcs[3], SHALE_NOTFOUND);
  assert_true(vlens[1] == 6 && !memcmp(vals[1], "second", 6));
  assert_true(vlens[2] == 6 && !memcmp(vals[2], "second", 6));
  for (int i = 0; i < 4; i++) shale_free(vals[i]);
  uint64_t size;
  const void *begins[] = {""}, *ends[] = {"z"};
  size_t bl[] = {0}, el[] = {1};
  assert_int_equal(shale_approximate_sizes(db, 1, begins, bl, ends, el, &size), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_range_deletes(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  put(db, "", 0, "e");
  put(db, "a", 1, "va");
  put(db, "b", 1, "vb");
  /* [b, "") is inverted, ["", "") empty */
  assert_int_equal(shale_delete_range(db, "b", 1, "", 0, 0), SHALE_INVALID);
  assert_int_equal(shale_delete_range(db, "", 0, "", 0, 0), SHALE_INVALID);
  /* ["", a) deletes the empty key only */
  assert_int_equal(shale_delete_range(db, "", 0, "a", 1, 0), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  scan(db, NULL, "a=va;b=vb;");
  put(db, "", 0, "again");
  assert_int_equal(shale_flush(db), SHALE_OK);
  /* an open begin covers the empty key too */
  assert_int_equal(shale_delete_range(db, NULL, 0, "b", 1, 0), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  scan(db, NULL, "b=vb;");
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  scan(db, NULL, "b=vb;");
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  scan(db, NULL, "b=vb;");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* Versions of the empty key in the memtable, in tables at several levels, kept for a
 * snapshot through compaction, and after reopen from the WAL and from tables. */
static void test_flush_compaction_reopen(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64u << 10;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put(db, "", 0, "v1");
  put(db, "m", 1, "vm");
  assert_int_equal(shale_flush(db), SHALE_OK);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  put(db, "", 0, "v2");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put(db, "", 0, "v3");
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, snap, "", 0, "v1");
  expect(db, NULL, "", 0, "v3");
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  scan(db, &ro, "<>=v1;m=vm;");
  scan(db, NULL, "<>=v3;m=vm;");
  /* bounds: [""," a") holds the empty key only; a lower bound "" is no bound */
  shale_read_options_init(&ro);
  ro.lower_bound = "";
  ro.upper_bound = "a";
  ro.upper_bound_len = 1;
  scan(db, &ro, "<>=v3;");
  ro.upper_bound = NULL;
  ro.upper_bound_len = 0;
  scan(db, &ro, "<>=v3;m=vm;");
  /* seeks to the empty key */
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  shale_iter_seek(it, "", 0);
  size_t kl;
  assert_true(shale_iter_valid(it));
  shale_iter_key(it, &kl);
  assert_int_equal(kl, 0);
  shale_iter_seek_for_prev(it, NULL, 0);
  assert_true(shale_iter_valid(it));
  shale_iter_key(it, &kl);
  assert_int_equal(kl, 0);
  shale_iter_seek_for_prev(it, "\0", 1);
  assert_true(shale_iter_valid(it));
  shale_iter_key(it, &kl);
  assert_int_equal(kl, 0);
  shale_iter_next(it);
  assert_true(shale_iter_valid(it));
  shale_iter_prev(it);
  assert_true(shale_iter_valid(it));
  shale_iter_prev(it);
  assert_false(shale_iter_valid(it));
  shale_iter_free(it);
  shale_snapshot_free(db, snap);
  /* v3 only in the memtable and WAL: a reopen replays it */
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  expect(db, NULL, "", 0, "v3");
  scan(db, NULL, "<>=v3;m=vm;");
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  expect(db, NULL, "", 0, "v3");
  scan(db, NULL, "<>=v3;m=vm;");
  assert_int_equal(shale_delete(db, "", 0, 0), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, NULL, "", 0, NULL);
  scan(db, NULL, "m=vm;");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_point_ops),
      cmocka_unit_test(test_batches_and_multi_get),
      cmocka_unit_test(test_range_deletes),
      cmocka_unit_test(test_flush_compaction_reopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
