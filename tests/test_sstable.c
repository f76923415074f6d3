/* test_sstable.c — SSTable builder/reader round trips, filters, dirty metadata, range
 * tombstones, corruption and truncation handling, the block cache and the table cache. All
 * tables are real files in a fresh temp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "sstable/block_cache.h"
#include "sstable/bloom.h"
#include "sstable/sst_builder.h"
#include "sstable/sst_external.h"
#include "sstable/sst_format.h"
#include "sstable/sst_reader.h"
#include "sstable/table_cache.h"
#include "sstable/zstd_dict.h"
#include "testutil.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

#define KLEN 16
#define VLEN 100

/* ---- deterministic table contents: key i once, seq 3i+1, every 7th a tombstone ---- */

static void ukey(uint8_t *out, uint64_t i) {
  char t[32];
  snprintf(t, sizeof t, "k%015llu", (unsigned long long)(i % 1000000000000000ull));
  memcpy(out, t, KLEN);
}

static void ikey(uint8_t *out, uint64_t i, uint64_t seq, unsigned kind) {
  ukey(out, i);
  put_fixed64(out + KLEN, ikey_pack(seq, kind));
}

/* Half random, half repeated (like db_bench's 0.5 compression ratio). */
static void value(uint8_t *out, uint64_t i, uint64_t seq) {
  uint64_t s = i * 0x9E3779B97F4A7C15ull + seq + 1;
  for (int j = 0; j < VLEN / 2; j += 8) {
    uint64_t r = tu_rand(&s);
    memcpy(out + j, &r, VLEN / 2 - j < 8 ? VLEN / 2 - j : 8);
  }
  memset(out + VLEN / 2, (int)('a' + i % 26), VLEN - VLEN / 2);
}

static uint64_t seq_of(uint64_t i) { return 3 * i + 1; }
static unsigned kind_of(uint64_t i) { return i % 7 == 3 ? KIND_DEL : KIND_PUT; }
static uint64_t time_of(uint64_t i) { return 1000000 + i; }

typedef struct fixture {
  char *dir;
  char errmsg[ERRMSG_SIZE];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  if (!f->dir) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  tu_tempdir_free(f->dir);
  free(f);
  return 0;
}

static void build(fixture *f, const char *path, uint64_t n, const sst_options *o, sst_meta *m) {
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, o, &b, f->errmsg), SHALE_OK);
  uint8_t k[KLEN + 8], v[VLEN];
  for (uint64_t i = 0; i < n; i++) {
    unsigned kind = kind_of(i);
    ikey(k, i, seq_of(i), kind);
    value(v, i, seq_of(i));
    assert_int_equal(sst_builder_add(b, k, sizeof k, v, kind == KIND_PUT ? VLEN : 0,
                                     kind == KIND_DEL ? time_of(i) : 0),
                     SHALE_OK);
  }
  assert_true(sst_builder_file_size(b) > 0);
  assert_int_equal(sst_builder_finish(b, m, f->errmsg), SHALE_OK);
}

/* Version 4: the dirty block is its 64 bytes of fixed fields and no deleted-key filter, even
 * when the table has tombstones and bloom filters on. Read from the file itself: the footer's
 * dirty handle, then the block's type byte (a zstd table may store it compressed, then it is
 * at most 56 bytes: compression must save 1/8). */
static void assert_no_del_filter(const char *path) {
  uint8_t foot[SST_FOOTER_SIZE], type;
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, -(long)SST_FOOTER_SIZE, SEEK_END), 0);
  assert_int_equal(fread(foot, 1, sizeof foot, fp), sizeof foot);
  assert_true(get_fixed32(foot + 80) >= 4);
  uint64_t off = get_fixed64(foot + 48), size = get_fixed64(foot + 56);
  assert_int_equal(fseek(fp, (long)(off + size), SEEK_SET), 0);
  assert_int_equal(fread(&type, 1, 1, fp), 1);
  fclose(fp);
  if (type == SST_BLOCK_RAW)
    assert_int_equal(size, SST_DIRTY_FIXED);
  else
    assert_true(size <= SST_DIRTY_FIXED - SST_DIRTY_FIXED / 8);
}

static void check_entry(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, uint64_t i) {
  uint8_t ek[KLEN + 8], ev[VLEN];
  ikey(ek, i, seq_of(i), kind_of(i));
  assert_int_equal(kl, sizeof ek);
  assert_memory_equal(k, ek, kl);
  if (kind_of(i) == KIND_PUT) {
    value(ev, i, seq_of(i));
    assert_int_equal(vl, VLEN);
    assert_memory_equal(v, ev, VLEN);
  } else {
    assert_int_equal(vl, 0);
  }
}

static void check_meta(const sst_meta *m, uint64_t n, long long fsize) {
  uint64_t dels = 0;
  for (uint64_t i = 0; i < n; i++) dels += kind_of(i) == KIND_DEL;
  assert_true(m->entries == n);
  assert_true(m->point_tombstones == dels);
  assert_true(m->range_tombstones == 0);
  assert_true(m->file_size == (uint64_t)fsize);
  assert_true(m->raw_key_bytes == n * (KLEN + 8));
  assert_true(m->raw_value_bytes == (n - dels) * VLEN);
  if (n == 0) {
    assert_true(m->smallest.len == 0 && m->largest.len == 0);
    assert_true(m->data_blocks == 0 && m->min_seq == 0 && m->max_seq == 0);
    return;
  }
  uint8_t k[KLEN + 8];
  ikey(k, 0, seq_of(0), kind_of(0));
  assert_int_equal(m->smallest.len, sizeof k);
  assert_memory_equal(m->smallest.data, k, sizeof k);
  ikey(k, n - 1, seq_of(n - 1), kind_of(n - 1));
  assert_memory_equal(m->largest.data, k, sizeof k);
  assert_true(m->min_seq == seq_of(0) && m->max_seq == seq_of(n - 1));
  assert_true(m->data_blocks >= 1);
  if (dels) {
    assert_true(m->min_tomb_seq == seq_of(3) && m->oldest_tomb_us == time_of(3));
    uint64_t last = (n - 1) - (n - 1 + 7 - 3) % 7; /* largest i < n with i % 7 == 3 */
    assert_true(m->max_tomb_seq == seq_of(last) && m->newest_tomb_us == time_of(last));
  }
}

static void scan_both_ways(sst_reader *r, uint64_t n) {
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  assert_false(sst_iter_valid(it));
  uint64_t i = 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it), i++) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const uint8_t *v = sst_iter_value(it, &vl);
    check_entry(k, kl, v, vl, i);
  }
  assert_int_equal(sst_iter_status(it), SHALE_OK);
  assert_true(i == n);
  for (sst_iter_seek_last(it); sst_iter_valid(it); sst_iter_prev(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const uint8_t *v = sst_iter_value(it, &vl);
    check_entry(k, kl, v, vl, --i);
  }
  assert_int_equal(sst_iter_status(it), SHALE_OK);
  assert_true(i == 0);
  sst_iter_free(it);
}

static void seek_and_get(fixture *f, sst_reader *r, uint64_t n, uint64_t i) {
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  uint8_t k[KLEN + 9];
  /* exact key, newest visible */
  ikey(k, i, SEQ_MAX, KIND_SEEK);
  sst_iter_seek(it, k, KLEN + 8);
  if (i < n) {
    assert_true(sst_iter_valid(it));
    size_t kl, vl;
    const uint8_t *kk = sst_iter_key(it, &kl);
    const uint8_t *vv = sst_iter_value(it, &vl);
    check_entry(kk, kl, vv, vl, i);
    /* one step back and forth */
    sst_iter_prev(it);
    if (i > 0) {
      assert_true(sst_iter_valid(it));
      kk = sst_iter_key(it, &kl);
      vv = sst_iter_value(it, &vl);
      check_entry(kk, kl, vv, vl, i - 1);
    } else {
      assert_false(sst_iter_valid(it));
    }
    /* a key just after user key i lands on i + 1 */
    ukey(k, i);
    k[KLEN] = 0;
    put_fixed64(k + KLEN + 1, ikey_pack(SEQ_MAX, KIND_SEEK));
    sst_iter_seek(it, k, KLEN + 9);
    if (i + 1 < n) {
      assert_true(sst_iter_valid(it));
      kk = sst_iter_key(it, &kl);
      vv = sst_iter_value(it, &vl);
      check_entry(kk, kl, vv, vl, i + 1);
    } else {
      assert_false(sst_iter_valid(it));
    }
  } else {
    assert_false(sst_iter_valid(it));
  }
  assert_int_equal(sst_iter_status(it), SHALE_OK);
  sst_iter_free(it);

  /* gets at the entry's sequence, above it and below it */
  uint8_t uk[KLEN];
  ukey(uk, i);
  unsigned kind;
  void *v;
  size_t vl;
  uint64_t fs;
  int rc = sst_reader_get(r, uk, KLEN, SEQ_MAX, &kind, &v, &vl, &fs, f->errmsg);
  if (i >= n) {
    assert_int_equal(rc, 0);
    assert_null(v);
    return;
  }
  assert_int_equal(rc, 1);
  assert_int_equal(kind, kind_of(i));
  assert_true(fs == seq_of(i));
  if (kind == KIND_PUT) {
    uint8_t ev[VLEN];
    value(ev, i, seq_of(i));
    assert_int_equal(vl, VLEN);
    assert_memory_equal(v, ev, VLEN);
  } else {
    assert_null(v);
  }
  free(v);
  assert_int_equal(sst_reader_get(r, uk, KLEN, seq_of(i), &kind, NULL, NULL, &fs, f->errmsg), 1);
  assert_true(fs == seq_of(i));
  assert_int_equal(sst_reader_get(r, uk, KLEN, seq_of(i) - 1, &kind, &v, &vl, &fs, f->errmsg), 0);
  assert_null(v);
  assert_int_equal(sst_reader_may_contain(r, uk, KLEN), 1);
}

static void round_trip(fixture *f, uint64_t n, int compression, int bits, block_cache *bc) {
  char *path = tu_path(f->dir, "rt.sst");
  sst_options o = {4096, bits, compression, 0, NULL, 0, 0, NULL, 0};
  sst_meta m;
  build(f, path, n, &o, &m);
  check_meta(&m, n, tu_file_size(path));
  assert_no_del_filter(path);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 7, bc, &r, f->errmsg), SHALE_OK);
  const sst_meta *rm = sst_reader_meta(r);
  check_meta(rm, n, tu_file_size(path));
  assert_true(rm->data_blocks == m.data_blocks && rm->data_bytes == m.data_bytes);
  assert_true(rm->creation_time_us == m.creation_time_us && rm->compression == compression);
  assert_true(rm->min_tomb_seq == m.min_tomb_seq && rm->max_tomb_seq == m.max_tomb_seq);
  assert_true(rm->oldest_tomb_us == m.oldest_tomb_us && rm->newest_tomb_us == m.newest_tomb_us);
  scan_both_ways(r, n);
  if (n <= 1000) {
    for (uint64_t i = 0; i <= n; i++) seek_and_get(f, r, n, i);
  } else {
    uint64_t s = 42;
    for (int j = 0; j < 3000; j++) seek_and_get(f, r, n, tu_rand(&s) % (n + 1));
  }
  /* the per-block tombstone counts add up */
  uint64_t counts[64], sum = 0;
  size_t got, at = 0;
  while ((got = sst_reader_block_tombstones(r, at, counts, 64)) > 0) {
    for (size_t j = 0; j < got; j++) sum += counts[j];
    at += got;
  }
  assert_true(at == m.data_blocks && sum == m.point_tombstones);
  /* absent keys: the filter rejects most of them */
  if (n >= 1000 && bits > 0) {
    int fp = 0;
    for (uint64_t i = 0; i < 10000; i++) {
      uint8_t uk[KLEN];
      ukey(uk, n + 1000 + i);
      fp += sst_reader_may_contain(r, uk, KLEN);
      assert_int_equal(sst_reader_get(r, uk, KLEN, SEQ_MAX, NULL, NULL, NULL, NULL, NULL), 0);
    }
    assert_true(fp < 300); /* ~1% expected at 10 bits per key */
  }
  const sst_range_del *rd;
  assert_int_equal(sst_reader_range_dels(r, &rd), 0);
  sst_reader_close(r);
  sst_meta_free(&m);
  free(path);
}

static void test_round_trip_small(void **state) {
  fixture *f = *state;
  uint64_t sizes[] = {0, 1, 10, 1000};
  for (int c = 0; c < 2; c++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      round_trip(f, sizes[s], c ? SHALE_COMPRESSION_ZSTD : SHALE_COMPRESSION_NONE, 10, NULL);
      round_trip(f, sizes[s], c ? SHALE_COMPRESSION_ZSTD : SHALE_COMPRESSION_NONE, 0, NULL);
    }
}

static void test_round_trip_100k(void **state) {
  fixture *f = *state;
  block_cache *bc;
  assert_int_equal(block_cache_new(8u << 20, &bc), SHALE_OK);
  round_trip(f, 100000, SHALE_COMPRESSION_NONE, 10, NULL);
  round_trip(f, 100000, SHALE_COMPRESSION_ZSTD, 10, bc);
  block_cache_free(bc);
}

/* Reads every entry of a table built by build(n) back by get. */
static void check_all_gets(fixture *f, sst_reader *r, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint8_t k[KLEN + 8];
    ikey(k, i, seq_of(i), kind_of(i));
    unsigned kind;
    void *v = NULL;
    size_t vl = 0;
    assert_int_equal(sst_reader_get(r, k, KLEN, SEQ_MAX, &kind, &v, &vl, NULL, f->errmsg), 1);
    check_entry(k, sizeof k, v, vl, i);
    free(v);
  }
}

/* With dict_bytes set, zstd tables of at least a quarter of the training bytes carry a
 * dictionary, which their data blocks need: a damaged dictionary fails the open like any other
 * damaged block. Without it (the default) no table has one, and nothing is held back. */
static void test_zstd_dictionary(void **state) {
  fixture *f = *state;
  char *small = tu_path(f->dir, "small.sst"), *big = tu_path(f->dir, "big.sst");
  char *plain = tu_path(f->dir, "plain.sst");
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, SST_DICT_MAX_SIZE, 0, NULL, 0};
  sst_meta m;
  build(f, small, 1000, &o, &m); /* about 120 KB raw, under the 256 KiB of samples needed */
  sst_meta_free(&m);
  build(f, big, 100000, &o, &m);
  uint64_t big_size = m.file_size;
  sst_meta_free(&m);
  sst_options off = o;
  off.dict_bytes = 0;
  build(f, plain, 100000, &off, &m);
  sst_meta_free(&m);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, small, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_int_equal(sst_reader_dict(r).size, 0);
  check_all_gets(f, r, 1000);
  sst_reader_close(r);
  assert_int_equal(sst_reader_open(NULL, plain, 3, NULL, &r, f->errmsg), SHALE_OK);
  assert_int_equal(sst_reader_dict(r).size, 0);
  check_all_gets(f, r, 100000);
  sst_reader_close(r);
  assert_int_equal(sst_reader_open(NULL, big, 2, NULL, &r, f->errmsg), SHALE_OK);
  sst_handle d = sst_reader_dict(r);
  assert_true(d.size > 0 && d.size <= SST_DICT_MAX_SIZE);
  assert_true(d.offset >= sst_reader_meta(r)->data_bytes && d.offset + d.size < big_size);
  check_all_gets(f, r, 100000);
  sst_reader_close(r);
  assert_int_equal(tu_flip_bit(big, (long long)(d.offset + d.size / 2), 3), 0);
  assert_int_equal(sst_reader_open(NULL, big, 2, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_null(r);
  free(small);
  free(big);
  free(plain);
}

/* A smaller dictionary bound and a training bound are both honoured; a dictionary larger than
 * a reader accepts, or absurd training bytes, are refused before the file is created. */
static void test_zstd_dictionary_bounds(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "bounds.sst");
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 4096, 512u << 10, NULL, 0};
  sst_meta m;
  build(f, path, 100000, &o, &m);
  sst_meta_free(&m);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_true(sst_reader_dict(r).size > 0 && sst_reader_dict(r).size <= 4096);
  check_all_gets(f, r, 100000);
  sst_reader_close(r);
  unlink(path);
  /* Small bounds still train: 1 KiB on 2 to 8 KiB of 512-byte blocks. */
  sst_options tiny = {512, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 1024, 8192, NULL, 0};
  build(f, path, 100, &tiny, &m);
  sst_meta_free(&m);
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_true(sst_reader_dict(r).size > 0 && sst_reader_dict(r).size <= 1024);
  check_all_gets(f, r, 100);
  sst_reader_close(r);
  unlink(path);
  sst_builder *b;
  o.dict_bytes = SST_DICT_MAX_SIZE + 1;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_INVALID);
  assert_null(b);
  o.dict_bytes = 4096;
  o.dict_train_bytes = SST_DICT_MAX_TRAIN_BYTES + 1;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_INVALID);
  assert_null(b);
  assert_int_equal(access(path, F_OK), -1);
  free(path);
}

/* The stored dictionary's bytes (as written: the block and its trailer) of the table at path. */
static size_t stored_dict(fixture *f, const char *path, uint8_t *out, size_t cap) {
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  sst_handle d = sst_reader_dict(r);
  sst_reader_close(r);
  if (!d.size) return 0;
  assert_true(d.size + 5 <= cap);
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, (long)d.offset, SEEK_SET), 0);
  assert_int_equal(fread(out, 1, d.size + 5, fp), d.size + 5);
  fclose(fp);
  return d.size + 5;
}

/* With a dict_share, the first big table trains and every later one stores and uses that
 * dictionary without training, until it has compressed SST_DICT_RETRAIN_MULTIPLE times the
 * training bytes; then one table trains the next. A table too small to repay a dictionary
 * stores none, shared or not; a builder asking for another level trains its own. */
static void test_zstd_dictionary_shared(void **state) {
  fixture *f = *state;
  enum { N = 10000 }; /* about 1.2 MB raw: over a quarter of the 64 KiB of samples */
  zstd_dict_share *share = zstd_dict_share_new();
  assert_non_null(share);
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 4096, 64u << 10, share, 0};
  char *path = tu_path(f->dir, "shared.sst"), *first = tu_path(f->dir, "first.sst");
  uint8_t want[SST_DICT_MAX_SIZE + 5], got[SST_DICT_MAX_SIZE + 5];
  sst_meta m;
  build(f, first, N, &o, &m);
  sst_meta_free(&m);
  assert_int_equal(zstd_dict_share_trainings(share), 1);
  size_t want_len = stored_dict(f, first, want, sizeof want);
  assert_true(want_len > 5);
  /* reuse: each table compresses about 1.3 MB with it, the budget is 1024 x 64 KiB = 64 MiB */
  for (int t = 0; t < 5; t++) {
    build(f, path, N, &o, &m);
    sst_meta_free(&m);
    assert_int_equal(zstd_dict_share_trainings(share), 1);
    assert_int_equal(stored_dict(f, path, got, sizeof got), want_len);
    assert_memory_equal(got, want, want_len);
    sst_reader *r;
    assert_int_equal(sst_reader_open(NULL, path, 2, NULL, &r, f->errmsg), SHALE_OK);
    check_all_gets(f, r, N);
    sst_reader_close(r);
  }
  build(f, path, 100, &o, &m); /* about 12 KB raw: no dictionary */
  sst_meta_free(&m);
  assert_int_equal(stored_dict(f, path, got, sizeof got), 0);
  assert_int_equal(zstd_dict_share_trainings(share), 1);
  int tables = 6;
  const uint64_t budget = (uint64_t)SST_DICT_RETRAIN_MULTIPLE * (64u << 10);
  while (zstd_dict_share_trainings(share) == 1 && tables < (int)(budget / 1000000) + 10) {
    build(f, path, N, &o, &m);
    sst_meta_free(&m);
    tables++;
  }
  assert_int_equal(zstd_dict_share_trainings(share), 2);
  assert_true(tables >= (int)(budget / 1400000)); /* at about 1.3 MB a table */
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 3, NULL, &r, f->errmsg), SHALE_OK);
  check_all_gets(f, r, N);
  sst_reader_close(r);
  o.compression_level = 1;
  build(f, path, N, &o, &m);
  sst_meta_free(&m);
  assert_int_equal(zstd_dict_share_trainings(share), 3);
  zstd_dict_share_free(share);
  free(path);
  free(first);
}

typedef struct share_builder {
  const char *dir;
  int id;
  zstd_dict_share *share;
  int rc;
} share_builder;

enum { SHARE_THREADS = 4, SHARE_TABLES = 4, SHARE_N = 6000 };

/* Builds SHARE_TABLES tables like build() (no cmocka asserts off the main thread). */
static void *share_build_thread(void *arg) {
  share_builder *sb = arg;
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 4096, 64u << 10, sb->share, 0};
  char errmsg[ERRMSG_SIZE], name[32];
  for (int t = 0; t < SHARE_TABLES && !sb->rc; t++) {
    snprintf(name, sizeof name, "share-%d-%d.sst", sb->id, t);
    char *path = tu_path(sb->dir, name);
    sst_builder *b;
    if (!(sb->rc = sst_builder_new(path, &o, &b, errmsg))) {
      uint8_t k[KLEN + 8], v[VLEN];
      for (uint64_t i = 0; i < SHARE_N && !sb->rc; i++) {
        unsigned kind = kind_of(i);
        ikey(k, i, seq_of(i), kind);
        value(v, i, seq_of(i));
        sb->rc = sst_builder_add(b, k, sizeof k, v, kind == KIND_PUT ? VLEN : 0,
                                 kind == KIND_DEL ? time_of(i) : 0);
      }
      if (sb->rc)
        sst_builder_abort(b);
      else
        sb->rc = sst_builder_finish(b, NULL, errmsg);
    }
    free(path);
  }
  return NULL;
}

/* Builders on several threads at once share one slot (run under TSan in CI): the first ones
 * may all train, the rest reuse a dictionary, and every table reads back. */
static void test_zstd_dictionary_shared_threads(void **state) {
  fixture *f = *state;
  zstd_dict_share *share = zstd_dict_share_new();
  share_builder sb[SHARE_THREADS];
  pthread_t th[SHARE_THREADS];
  for (int i = 0; i < SHARE_THREADS; i++) {
    sb[i] = (share_builder){f->dir, i, share, 0};
    assert_int_equal(pthread_create(&th[i], NULL, share_build_thread, &sb[i]), 0);
  }
  for (int i = 0; i < SHARE_THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(sb[i].rc, SHALE_OK);
  }
  uint64_t trainings = zstd_dict_share_trainings(share);
  assert_true(trainings >= 1 && trainings <= SHARE_THREADS);
  for (int i = 0; i < SHARE_THREADS; i++)
    for (int t = 0; t < SHARE_TABLES; t++) {
      char name[32];
      snprintf(name, sizeof name, "share-%d-%d.sst", i, t);
      char *path = tu_path(f->dir, name);
      sst_reader *r;
      assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
      assert_true(sst_reader_dict(r).size > 0);
      check_all_gets(f, r, SHARE_N);
      sst_reader_close(r);
      free(path);
    }
  zstd_dict_share_free(share);
}

/* Prints the sizes asked for in the report: 100k entries of 16-byte keys, 100-byte values. */
static void test_file_sizes(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "size.sst");
  for (int c = 0; c < 2; c++) {
    sst_options o = {4096, 10, c ? SHALE_COMPRESSION_ZSTD : SHALE_COMPRESSION_NONE, 0, NULL, 0, 0,
                     NULL, 0};
    sst_builder *b;
    assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
    uint8_t k[KLEN + 8], v[VLEN];
    for (uint64_t i = 0; i < 100000; i++) {
      ikey(k, i, i + 1, KIND_PUT);
      value(v, i, i + 1);
      assert_int_equal(sst_builder_add(b, k, sizeof k, v, VLEN, 0), SHALE_OK);
    }
    sst_meta m;
    assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
    printf("# 100k x (16 B key, 100 B value, half compressible), %s: %llu bytes, %llu blocks\n",
           c ? "zstd" : "none", (unsigned long long)m.file_size, (unsigned long long)m.data_blocks);
    sst_meta_free(&m);
  }
  free(path);
}

/* Many versions of one key spread over several blocks: a get at every snapshot finds the
 * newest version at or below it. */
static void test_versions_across_blocks(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "ver.sst");
  sst_options o = {256, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  uint8_t k[32], v[64];
  memcpy(k, "a", 1);
  put_fixed64(k + 1, ikey_pack(5000, KIND_PUT));
  assert_int_equal(sst_builder_add(b, k, 9, "A", 1, 0), SHALE_OK);
  /* "dup" at seqs 1000, 990, ..., 10; every 5th a delete */
  for (int s = 1000; s >= 10; s -= 10) {
    memcpy(k, "dup", 3);
    unsigned kind = (s / 10) % 5 == 0 ? KIND_DEL : KIND_PUT;
    put_fixed64(k + 3, ikey_pack((uint64_t)s, kind));
    memset(v, 'a' + s % 26, sizeof v);
    snprintf((char *)v, sizeof v, "%d", s);
    assert_int_equal(sst_builder_add(b, k, 11, v, kind == KIND_PUT ? sizeof v : 0, 7), SHALE_OK);
  }
  /* out of order: rejected, builder still usable */
  assert_int_equal(sst_builder_add(b, k, 11, v, 1, 0), SHALE_INVALID);
  memcpy(k, "z", 1);
  put_fixed64(k + 1, ikey_pack(1, KIND_PUT));
  assert_int_equal(sst_builder_add(b, k, 9, "Z", 1, 0), SHALE_OK);
  sst_meta m;
  assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
  assert_true(m.data_blocks > 5);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  for (uint64_t snap = 0; snap <= 1010; snap++) {
    unsigned kind;
    void *val;
    size_t vl;
    uint64_t fs;
    int rc = sst_reader_get(r, "dup", 3, snap, &kind, &val, &vl, &fs, f->errmsg);
    uint64_t want = snap > 1000 ? 1000 : snap / 10 * 10;
    uint8_t sk[11];
    memcpy(sk, "dup", 3);
    put_fixed64(sk + 3, ikey_pack(snap, KIND_SEEK));
    sst_iter_seek(it, sk, sizeof sk);
    assert_true(sst_iter_valid(it));
    size_t kl;
    const uint8_t *ik = sst_iter_key(it, &kl);
    if (want < 10) {
      assert_int_equal(rc, 0);
      assert_int_equal(kl, 9); /* "z" */
      continue;
    }
    assert_int_equal(rc, 1);
    assert_true(fs == want);
    assert_int_equal(kl, 11);
    assert_true(ikey_seq(get_fixed64(ik + 3)) == want);
    if ((want / 10) % 5 == 0) {
      assert_int_equal(kind, KIND_DEL);
    } else {
      assert_int_equal(kind, KIND_PUT);
      assert_int_equal(vl, 64);
      char t[16];
      snprintf(t, sizeof t, "%d", (int)want);
      assert_string_equal((char *)val, t);
    }
    free(val);
  }
  /* backwards over every version */
  int count = 0;
  uint64_t last = 0;
  for (sst_iter_seek_last(it); sst_iter_valid(it); sst_iter_prev(it), count++) {
    size_t kl;
    const uint8_t *ik = sst_iter_key(it, &kl);
    if (kl == 11) {
      uint64_t s = ikey_seq(get_fixed64(ik + 3));
      assert_true(s > last); /* older first when walking backwards */
      last = s;
    }
  }
  assert_int_equal(count, 102);
  sst_iter_free(it);
  sst_reader_close(r);
  sst_meta_free(&m);
  free(path);
}

/* ---- seeks and gets against a brute-force model, over keys with a long shared prefix, short
 * keys, prefixes of other keys and 0x00/0xff bytes (exercises the index's key windows) ---- */

typedef struct mkey {
  uint8_t k[24];
  size_t len;
} mkey;

static int mkey_cmp(const void *a, const void *b) {
  const mkey *x = a, *y = b;
  return ukey_compare(x->k, x->len, y->k, y->len);
}

static void random_key(mkey *m, uint64_t *s, int cut) {
  static const uint8_t alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff};
  memcpy(m->k, "common/prefix", 13);
  size_t pre = cut && tu_rand(s) % 4 == 0 ? tu_rand(s) % 14 : 13; /* sometimes cut inside */
  m->len = pre + tu_rand(s) % 11;
  for (size_t i = pre; i < m->len; i++) m->k[i] = alphabet[tu_rand(s) % 8];
}

/* cut_keys: table keys may stop or diverge inside the shared prefix (then the index's
 * shared prefix is short); probes always may. */
static void seek_model(fixture *f, int cut_keys) {
  char *path = tu_path(f->dir, "model.sst");
  uint64_t s = 99;
  size_t n = 3000;
  mkey *keys = calloc(n, sizeof *keys);
  for (size_t i = 0; i < n; i++) random_key(&keys[i], &s, cut_keys);
  qsort(keys, n, sizeof *keys, mkey_cmp);
  size_t u = 0; /* dedupe */
  for (size_t i = 0; i < n; i++)
    if (!u || mkey_cmp(&keys[u - 1], &keys[i])) keys[u++] = keys[i];
  n = u;
  sst_options o = {128,  10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0,
                   NULL, 0}; /* small blocks: a big index */
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  for (size_t i = 0; i < n; i++) {
    uint8_t ik[32];
    memcpy(ik, keys[i].k, keys[i].len);
    put_fixed64(ik + keys[i].len, ikey_pack(i + 1, KIND_PUT));
    assert_int_equal(sst_builder_add(b, ik, keys[i].len + 8, &i, sizeof i, 0), SHALE_OK);
  }
  sst_meta m;
  assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
  assert_true(m.data_blocks > 100);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  for (int q = 0; q < 20000; q++) {
    mkey p;
    if (q % 3 == 0) { /* an existing key, possibly cut short */
      p = keys[tu_rand(&s) % n];
      if (q % 2) p.len = tu_rand(&s) % (p.len + 1);
    } else {
      random_key(&p, &s, 1);
    }
    size_t lo = 0, hi = n; /* first key >= p */
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (mkey_cmp(&keys[mid], &p) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    uint8_t ik[32];
    memcpy(ik, p.k, p.len);
    put_fixed64(ik + p.len, ikey_pack(SEQ_MAX, KIND_SEEK));
    sst_iter_seek(it, ik, p.len + 8);
    if (lo == n) {
      assert_false(sst_iter_valid(it));
    } else {
      assert_true(sst_iter_valid(it));
      size_t kl;
      const uint8_t *k = sst_iter_key(it, &kl);
      assert_int_equal(kl, keys[lo].len + 8);
      assert_memory_equal(k, keys[lo].k, keys[lo].len);
    }
    int present = lo < n && mkey_cmp(&keys[lo], &p) == 0;
    void *v;
    size_t vl;
    assert_int_equal(sst_reader_get(r, p.k, p.len, SEQ_MAX, NULL, &v, &vl, NULL, f->errmsg),
                     present);
    if (present) {
      assert_int_equal(vl, sizeof lo);
      assert_memory_equal(v, &lo, sizeof lo);
    }
    free(v);
  }
  assert_int_equal(sst_iter_status(it), SHALE_OK);
  sst_iter_free(it);
  sst_reader_close(r);
  sst_meta_free(&m);
  free(keys);
  free(path);
}

static void test_seek_model(void **state) {
  seek_model(*state, 0);
  seek_model(*state, 1);
}

/* Key i of the hint table: "h%05d", versions at seqs 3i+3 down to 3i+1 for every third key,
 * one version (3i+1) for the others. */
static size_t hint_versions(int i) { return i % 3 == 0 ? 3 : 1; }

static void hint_ikey(uint8_t *ik, int i, uint64_t seq, unsigned kind) {
  snprintf((char *)ik, 7, "h%05d", i);
  put_fixed64(ik + 6, ikey_pack(seq, kind));
}

/* A new iterator per seek on a mapped uncompressed table takes the table's spare buffer,
 * and with it where the last seek landed (sst_reader.c, seek_from_hint). Seeks close after
 * the last one, at it, before it, at other versions of the same key and far away must all
 * land on the first entry >= the target, as the index search would. */
static void test_seek_hints(void **state) {
  fixture *f = *state;
  /* the hints live in a mapped table's buffer: as in test_scan_reads_ahead */
  signal(SIGBUS, SIG_DFL);
  char *path = tu_path(f->dir, "hint.sst");
  sst_options o = {256, 10, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  const int n = 2000;
  for (int i = 0; i < n; i++)
    for (size_t v = hint_versions(i); v > 0; v--) {
      uint8_t ik[14];
      hint_ikey(ik, i, 3 * (uint64_t)i + v, KIND_PUT);
      assert_int_equal(sst_builder_add(b, ik, sizeof ik, ik, sizeof ik, 0), SHALE_OK);
    }
  sst_meta m;
  assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
  assert_true(m.data_blocks > 50);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  uint64_t s = 7;
  int at = 0;
  for (int q = 0; q < 20000; q++) {
    int step = (int)(tu_rand(&s) % 8);
    at = step == 0   ? (int)(tu_rand(&s) % (uint64_t)(n + 1)) /* anywhere */
         : step == 1 ? (at > 3 ? at - 3 : 0)                  /* before the last */
                     : at + step / 4;                         /* at it or a little after */
    if (at > n) at = n;
    uint64_t seq = tu_rand(&s) % 2 ? SEQ_MAX : 3 * (uint64_t)at + 1 + tu_rand(&s) % 3;
    uint8_t target[14];
    hint_ikey(target, at, seq, seq == SEQ_MAX ? KIND_SEEK : KIND_PUT);
    /* the first entry >= target: key `at` at its newest version <= seq, else key at + 1 */
    int want = at;
    uint64_t newest = 3 * (uint64_t)at + hint_versions(at);
    uint64_t want_seq = seq < newest ? seq : newest;
    if (at < n && want_seq < 3 * (uint64_t)at + 1) want = at + 1;
    if (want != at && want < n) want_seq = 3 * (uint64_t)want + hint_versions(want);
    sst_iter *it;
    assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
    sst_iter_seek(it, target, sizeof target);
    if (want >= n) {
      assert_false(sst_iter_valid(it));
    } else {
      assert_true(sst_iter_valid(it));
      size_t kl;
      const uint8_t *k = sst_iter_key(it, &kl);
      uint8_t expect[14];
      hint_ikey(expect, want, want_seq, KIND_PUT);
      assert_int_equal(kl, sizeof expect);
      assert_memory_equal(k, expect, sizeof expect);
    }
    assert_int_equal(sst_iter_status(it), SHALE_OK);
    sst_iter_free(it);
  }
  sst_reader_close(r);
  sst_meta_free(&m);
  free(path);
}

static uint64_t readaheads(io_ctx *c, uint64_t mapped) {
  io_stats st;
  io_stats_get(c, &st);
  assert_true(st.mapped_files == mapped);
  return st.readaheads;
}

/* A mapped table reads only the pages a read touches, so a scan asks for its readahead: a
 * seek with a few nexts asks for none, a scan in either direction asks as it goes, and
 * what it reads is unchanged. Only uncompressed tables are mapped; a compressed one is read
 * with pread, advised random, and asks the same way. Run in its own I/O context, whose
 * counters are its alone. */
static void scan_reads_ahead(fixture *f, int compression) {
  uint64_t mapped = compression == SHALE_COMPRESSION_NONE;
  char *path = tu_path(f->dir, "ra.sst");
  sst_options o = {4096, 10, compression, 0, NULL, 0, 0, NULL, 0};
  const uint64_t n = 30000;
  sst_meta m;
  build(f, path, n, &o, &m);
  assert_true(m.data_bytes > ((uint64_t)256 << 10));
  io_ctx c;
  io_ctx_init(&c, NULL, 0, 1);
  sst_reader *r;
  assert_int_equal(sst_reader_open(&c, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  uint8_t k[KLEN + 8];
  ikey(k, n / 2, SEQ_MAX, KIND_SEEK);
  sst_iter_seek(it, k, sizeof k);
  for (int i = 0; i < 3; i++) sst_iter_next(it);
  assert_true(sst_iter_valid(it));
  sst_iter_free(it);
  assert_true(readaheads(&c, mapped) == 0);
  scan_both_ways(r, n);
  uint64_t asked = readaheads(&c, mapped);
  /* each way: windows from 16 KiB doubling to 1 MiB, so at least a few, far fewer than blocks */
  assert_true(asked >= 4 && asked < m.data_blocks / 4);
  sst_reader_close(r);
  sst_meta_free(&m);
  free(path);
}

static void test_scan_reads_ahead(void **state) {
  /* cmocka puts its SIGBUS handler back before each test; a table is mapped only when the
   * guard can go in front of the handler it finds, which it does over the default one */
  signal(SIGBUS, SIG_DFL);
  scan_reads_ahead(*state, SHALE_COMPRESSION_NONE);
  scan_reads_ahead(*state, SHALE_COMPRESSION_ZSTD);
}

/* [m,p)@40, [c,e)@50, [c,zz)@60 and two point entries; snaps NULL: no snapshot list given. */
static void build_three_ranges(fixture *f, const char *path, const uint64_t *snaps, size_t nsnaps,
                               sst_meta *m) {
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, NULL, &b, f->errmsg), SHALE_OK);
  if (snaps) assert_int_equal(sst_builder_set_snapshots(b, snaps, nsnaps), SHALE_OK);
  assert_int_equal(sst_builder_add_range_del(b, "m", 1, "p", 1, 40, 9000), SHALE_OK);
  assert_int_equal(sst_builder_add_range_del(b, "c", 1, "e", 1, 50, 8000), SHALE_OK);
  assert_int_equal(sst_builder_add_range_del(b, "c", 1, "zz", 2, 60, 0), SHALE_OK);
  assert_int_equal(sst_builder_add_range_del(b, "x", 1, "b", 1, 60, 0), SHALE_INVALID);
  uint8_t k[16];
  memcpy(k, "d", 1);
  put_fixed64(k + 1, ikey_pack(30, KIND_PUT));
  assert_int_equal(sst_builder_add(b, k, 9, "v", 1, 0), SHALE_OK);
  memcpy(k, "n", 1);
  put_fixed64(k + 1, ikey_pack(35, KIND_DEL));
  assert_int_equal(sst_builder_add(b, k, 9, NULL, 0, 12345), SHALE_OK);
  assert_int_equal(sst_builder_finish(b, m, f->errmsg), SHALE_OK);
}

typedef struct want_rd {
  const char *begin, *end;
  uint64_t seq, time_us;
} want_rd;

static void check_rds(sst_reader *r, const want_rd *w, size_t n) {
  const sst_range_del *rd;
  assert_int_equal(sst_reader_range_dels(r, &rd), n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(rd[i].blen, strlen(w[i].begin));
    assert_memory_equal(rd[i].begin, w[i].begin, rd[i].blen);
    assert_int_equal(rd[i].elen, strlen(w[i].end));
    assert_memory_equal(rd[i].end, w[i].end, rd[i].elen);
    assert_true(rd[i].seq == w[i].seq && rd[i].time_us == w[i].time_us);
  }
}

/* The two point entries of build_three_ranges, both ways: d@30 PUT "v", n@35 DEL. */
static void check_points(sst_reader *r) {
  static const struct {
    char k;
    uint64_t seq;
    unsigned kind;
  } want[2] = {{'d', 30, KIND_PUT}, {'n', 35, KIND_DEL}};
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  for (int dir = 0; dir < 2; dir++) {
    int i = dir ? 1 : 0;
    for (dir ? sst_iter_seek_last(it) : sst_iter_seek_first(it); sst_iter_valid(it);
         dir ? sst_iter_prev(it) : sst_iter_next(it), i += dir ? -1 : 1) {
      assert_true(i >= 0 && i < 2);
      size_t kl, vl;
      const uint8_t *k = sst_iter_key(it, &kl);
      const void *v = sst_iter_value(it, &vl);
      assert_int_equal(kl, 9);
      assert_int_equal(k[0], want[i].k);
      assert_true(get_fixed64(k + 1) == ikey_pack(want[i].seq, want[i].kind));
      assert_int_equal(vl, want[i].kind == KIND_PUT ? 1 : 0);
      if (vl) assert_memory_equal(v, "v", 1);
    }
    assert_int_equal(sst_iter_status(it), SHALE_OK);
    assert_int_equal(i, dir ? -1 : 2);
  }
  sst_iter_free(it);
}

static void test_range_dels_and_dirty(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "rd.sst");
  sst_meta m;
  build_three_ranges(f, path, NULL, 0, &m);
  /* no snapshot list: every sequence of every fragment stays */
  assert_true(m.range_tombstones == 6 && m.point_tombstones == 1 && m.entries == 2);
  assert_true(m.min_seq == 30 && m.max_seq == 60);
  assert_true(m.min_tomb_seq == 35 && m.max_tomb_seq == 60);
  assert_true(m.oldest_tomb_us == 8000 && m.newest_tomb_us == 12345);
  /* bounds: c|60|RANGE_DEL .. zz|SEQ_MAX|RANGE_DEL */
  uint8_t want[16];
  memcpy(want, "c", 1);
  put_fixed64(want + 1, ikey_pack(60, KIND_RANGE_DEL));
  assert_int_equal(m.smallest.len, 9);
  assert_memory_equal(m.smallest.data, want, 9);
  memcpy(want, "zz", 2);
  put_fixed64(want + 2, ikey_pack(SEQ_MAX, KIND_RANGE_DEL));
  assert_int_equal(m.largest.len, 10);
  assert_memory_equal(m.largest.data, want, 10);

  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_int_equal(sst_reader_format_version(r), SST_FORMAT_VERSION);
  const sst_meta *rm = sst_reader_meta(r);
  assert_true(rm->range_tombstones == 6 && rm->oldest_tomb_us == 8000);
  assert_true(rm->smallest.len == 9 && rm->largest.len == 10);
  static const want_rd all[] = {{"c", "e", 60, 0}, {"c", "e", 50, 8000}, {"e", "m", 60, 0},
                                {"m", "p", 60, 0}, {"m", "p", 40, 9000}, {"p", "zz", 60, 0}};
  check_rds(r, all, 6);
  assert_true(sst_reader_range_cover(r, "d", 1, SEQ_MAX) == 60);
  assert_true(sst_reader_range_cover(r, "d", 1, 59) == 50);
  assert_true(sst_reader_range_cover(r, "d", 1, 49) == 0);
  assert_true(sst_reader_range_cover(r, "n", 1, 45) == 40);
  assert_true(sst_reader_range_cover(r, "b", 1, SEQ_MAX) == 0);
  assert_true(sst_reader_range_cover(r, "zz", 2, SEQ_MAX) == 0);
  /* no deleted-key filter (version 4); the point tombstone is still found and iterated */
  assert_no_del_filter(path);
  unsigned kind;
  uint64_t fs;
  assert_int_equal(sst_reader_get(r, "n", 1, SEQ_MAX, &kind, NULL, NULL, &fs, f->errmsg), 1);
  assert_true(kind == KIND_DEL && fs == 35);
  check_points(r);
  sst_reader_close(r);
  sst_meta_free(&m);

  /* a snapshot at 45: 60 and 50 share a stripe on [c, e) (the older time stays); 40 is
   * below the snapshot and stays apart */
  uint64_t snaps[] = {45, 45};
  build_three_ranges(f, path, snaps, 2, &m);
  assert_true(m.range_tombstones == 5 && m.oldest_tomb_us == 8000);
  sst_meta_free(&m);
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  static const want_rd striped[] = {{"c", "e", 60, 8000},
                                    {"e", "m", 60, 0},
                                    {"m", "p", 60, 0},
                                    {"m", "p", 40, 9000},
                                    {"p", "zz", 60, 0}};
  check_rds(r, striped, 5);
  assert_true(sst_reader_range_cover(r, "d", 1, 45) == 0);
  assert_true(sst_reader_range_cover(r, "n", 1, 45) == 40);
  sst_reader_close(r);

  /* abort removes the file */
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, NULL, &b, f->errmsg), SHALE_OK);
  sst_builder_abort(b);
  assert_true(tu_file_size(path) < 0);
  free(path);
}

/* ---- range tombstones: fragments against a brute-force model ---- */

typedef struct mtomb {
  char b[4], e[4];
  size_t bl, el;
  uint64_t seq, time_us;
} mtomb;

/* Keys of 0-3 letters from {a, b, c}: many prefixes of one another and shared boundaries. */
static size_t small_key(char *k, uint64_t *s, size_t min) {
  size_t n = min + tu_rand(s) % (4 - min);
  for (size_t i = 0; i < n; i++) k[i] = (char)('a' + tu_rand(s) % 3);
  return n;
}

static void random_tombs(mtomb *t, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) {
    do {
      t[i].bl = small_key(t[i].b, s, 0);
      t[i].el = small_key(t[i].e, s, 1);
    } while (ukey_compare(t[i].b, t[i].bl, t[i].e, t[i].el) >= 0);
    t[i].seq = 1 + tu_rand(s) % 200; /* duplicates happen */
    t[i].time_us = tu_rand(s) % 4 ? 1000 + tu_rand(s) % 1000 : 0;
  }
}

static uint64_t model_cover(const mtomb *t, size_t n, const char *k, size_t kl, uint64_t rs) {
  uint64_t best = 0;
  for (size_t i = 0; i < n; i++)
    if (t[i].seq <= rs && t[i].seq > best && ukey_compare(t[i].b, t[i].bl, k, kl) <= 0 &&
        ukey_compare(k, kl, t[i].e, t[i].el) < 0)
      best = t[i].seq;
  return best;
}

/* Pieces sorted by begin, identical or disjoint, seq strictly descending within one. */
static void check_fragmented(sst_reader *r) {
  const sst_range_del *d;
  size_t n = sst_reader_range_dels(r, &d);
  for (size_t i = 1; i < n; i++) {
    const sst_range_del *p = &d[i - 1], *c = &d[i];
    int same = !ukey_compare(p->begin, p->blen, c->begin, c->blen) &&
               !ukey_compare(p->end, p->elen, c->end, c->elen);
    if (same)
      assert_true(c->seq < p->seq);
    else
      assert_true(ukey_compare(p->end, p->elen, c->begin, c->blen) <= 0);
  }
}

/* snaps NULL: keep every sequence (then any read seq is exact). */
static void frag_round(fixture *f, const char *path, const mtomb *t, size_t n,
                       const uint64_t *snaps, size_t ns, uint64_t *s) {
  sst_builder *b;
  sst_options o = {4096, 10,   tu_rand(s) % 2 ? SHALE_COMPRESSION_ZSTD : SHALE_COMPRESSION_NONE,
                   0,    NULL, tu_rand(s) % 2 ? SST_DICT_MAX_SIZE : 0,
                   0,    NULL, 0};
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  if (snaps) assert_int_equal(sst_builder_set_snapshots(b, ns ? snaps : NULL, ns), SHALE_OK);
  uint64_t maxseq = 0, oldest = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(
        sst_builder_add_range_del(b, t[i].b, t[i].bl, t[i].e, t[i].el, t[i].seq, t[i].time_us),
        SHALE_OK);
    if (t[i].seq > maxseq) maxseq = t[i].seq;
    if (t[i].time_us && (!oldest || t[i].time_us < oldest)) oldest = t[i].time_us;
  }
  sst_meta m;
  assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
  assert_true(m.max_seq == maxseq && m.max_tomb_seq == maxseq && m.oldest_tomb_us == oldest);
  if (snaps && !ns) assert_true(m.range_tombstones <= 2 * n - 1);
  sst_meta_free(&m);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  check_fragmented(r);
  uint64_t reads[12];
  size_t nr = 0;
  for (size_t i = 0; i < ns; i++) reads[nr++] = snaps[i];
  reads[nr++] = SEQ_MAX;
  reads[nr++] = maxseq;
  if (!snaps)
    while (nr < 12) reads[nr++] = tu_rand(s) % (maxseq + 2);
  for (int q = 0; q < 400; q++) {
    char k[4];
    size_t kl = small_key(k, s, 0);
    for (size_t i = 0; i < nr; i++)
      assert_true(sst_reader_range_cover(r, k, kl, reads[i]) == model_cover(t, n, k, kl, reads[i]));
  }
  sst_reader_close(r);
}

static void test_range_frag_model(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "frag.sst");
  uint64_t s = 2024;
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + tu_rand(&s) % (round % 3 ? 12 : 80);
    mtomb t[80];
    random_tombs(t, n, &s);
    uint64_t snaps[8];
    size_t ns = tu_rand(&s) % 6;
    for (size_t i = 0; i < ns; i++) snaps[i] = tu_rand(&s) % 210; /* any order, may repeat */
    frag_round(f, path, t, n, snaps, ns, &s);
    frag_round(f, path, t, n, snaps, 0, &s);
    frag_round(f, path, t, n, NULL, 0, &s);
  }
  free(path);
}

static size_t nested_key(char *k, size_t i) { return (size_t)snprintf(k, 16, "k%07zu", i); }

/* 10,000 nested tombstones (each inside the older ones) and as many chained ones: without
 * snapshots no piece keeps more than one sequence, so at most 2n-1 pieces, a small table and
 * the newest tombstone found by binary search. */
static void test_range_frag_no_blowup(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "nested.sst");
  const size_t n = 10000;
  for (int chained = 0; chained < 2; chained++) {
    sst_builder *b;
    sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
    assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
    assert_int_equal(sst_builder_set_snapshots(b, NULL, 0), SHALE_OK);
    for (size_t i = 0; i < n; i++) {
      char bk[16], ek[16];
      size_t bl = nested_key(bk, i), el = nested_key(ek, chained ? i + 50 : 2 * n - i);
      assert_int_equal(sst_builder_add_range_del(b, bk, bl, ek, el, i + 1, 1000 + i), SHALE_OK);
    }
    sst_meta m;
    assert_int_equal(sst_builder_finish(b, &m, f->errmsg), SHALE_OK);
    printf("# %zu %s range tombstones: %llu pieces, %llu bytes\n", n,
           chained ? "chained" : "nested", (unsigned long long)m.range_tombstones,
           (unsigned long long)m.file_size);
    assert_true(m.range_tombstones <= 2 * n - 1 && m.oldest_tomb_us == 1000);
    assert_true(m.file_size < 2 * n * 32);
    sst_meta_free(&m);
    sst_reader *r;
    assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
    check_fragmented(r);
    for (size_t x = 0; x < 2 * n + 60; x += 7) {
      char k[16];
      size_t kl = nested_key(k, x);
      uint64_t want; /* the newest covering tombstone */
      if (chained)
        want = x < n + 49 ? (x < n ? x : n - 1) + 1 : 0;
      else
        want = x < 2 * n ? (x < n ? x : 2 * n - 1 - x) + 1 : 0;
      assert_true(sst_reader_range_cover(r, k, kl, SEQ_MAX) == want);
    }
    sst_reader_close(r);
  }
  free(path);
}

/* ---- hand-made range-del blocks: older versions and damage ---- */

/* A deleted-key filter (10 bits per key) over the tombstones' begin keys, appended to blk. */
static void append_filter(buf *blk, const mtomb *t, size_t n) {
  bloom_builder bb;
  bloom_builder_init(&bb);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(bloom_builder_add(&bb, bloom_hash(t[i].b, t[i].bl)), 0);
  bloom_builder_finish(&bb, 10, blk);
  bloom_builder_free(&bb);
}

/* Writes `out` as `in` whose footer now points at a new raw range-del block (the records of
 * t, in the given order), a new dirty block counting them (and for versions 1 and 2 a
 * properties block without the dictionary handle), and says `version`. With del_filter the
 * dirty block ends with a deleted-key filter as builders of versions 1-3 wrote it (over the
 * tombstones' begin keys: any well-formed filter will do, nothing reads it). The old
 * blocks stay behind as unreferenced bytes, which readers allow. REQUIRES: in has no point
 * tombstones and filters off. */
static void rewrite_range_dels(const char *in, const char *out, const mtomb *t, size_t n,
                               uint32_t version, int del_filter) {
  long long size = tu_file_size(in);
  assert_true(size >= SST_FOOTER_SIZE);
  uint8_t *file = malloc((size_t)size);
  FILE *fp = fopen(in, "rb");
  assert_int_equal(fread(file, 1, (size_t)size, fp), (size_t)size);
  fclose(fp);
  uint8_t foot[SST_FOOTER_SIZE];
  memcpy(foot, file + size - SST_FOOTER_SIZE, SST_FOOTER_SIZE);
  buf o;
  buf_init(&o);
  buf_append(&o, file, (size_t)size - SST_FOOTER_SIZE);
  buf blk;
  buf_init(&blk);
  for (size_t i = 0; i < n; i++) {
    buf_append_slice(&blk, t[i].b, t[i].bl);
    buf_append_slice(&blk, t[i].e, t[i].el);
    buf_append_varint(&blk, t[i].seq);
    buf_append_varint(&blk, t[i].time_us);
  }
  for (int which = 2; which <= 3; which++) { /* range-del, then dirty */
    if (which == 3) {
      buf_clear(&blk);
      uint64_t fields[8] = {0, n, 1, 1000, 1, 1000, 0, 0};
      for (int i = 0; i < 8; i++) buf_append_fixed64(&blk, fields[i]);
      if (del_filter) append_filter(&blk, t, n);
    }
    put_fixed64(foot + 16 * which, o.len);
    put_fixed64(foot + 16 * which + 8, blk.len);
    buf_append_byte(&blk, SST_BLOCK_RAW);
    buf_append_fixed32(&blk, checksum32(blk.data, blk.len));
    buf_append(&o, blk.data, blk.len);
  }
  if (version < 3) { /* older properties: without the dictionary handle */
    sst_handle p = {get_fixed64(foot + 64), get_fixed64(foot + 72)};
    assert_true(p.size >= SST_PROPS_FIXED);
    buf_clear(&blk);
    buf_append(&blk, file + p.offset, SST_PROPS_FIXED_V2);
    buf_append(&blk, file + p.offset + SST_PROPS_FIXED, p.size - SST_PROPS_FIXED);
    put_fixed64(foot + 64, o.len);
    put_fixed64(foot + 72, blk.len);
    buf_append_byte(&blk, SST_BLOCK_RAW);
    buf_append_fixed32(&blk, checksum32(blk.data, blk.len));
    buf_append(&o, blk.data, blk.len);
  }
  put_fixed32(foot + 80, version);
  put_fixed32(foot + 84, checksum32(foot, 84));
  buf_append(&o, foot, sizeof foot);
  assert_true(buf_ok(&o) && buf_ok(&blk));
  fp = fopen(out, "wb");
  assert_int_equal(fwrite(o.data, 1, o.len, fp), o.len);
  fclose(fp);
  buf_free(&blk);
  buf_free(&o);
  free(file);
}

static int mtomb_v1_order(const void *pa, const void *pb) {
  const mtomb *a = pa, *b = pb;
  int c = ukey_compare(a->b, a->bl, b->b, b->bl);
  return c ? c : a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* A format-1 table (overlapping tombstones, as version 1 stored them) still reads right at
 * every seq; the same block claimed as version 2 is rejected; version 3 reads like 2; versions
 * 1-3 read with the deleted-key filter their builders wrote, version 4 (written) only without
 * one; version 5 is rejected. */
static void test_format_versions(void **state) {
  fixture *f = *state;
  char *base = tu_path(f->dir, "base.sst"), *v1 = tu_path(f->dir, "v1.sst");
  sst_options o = {4096, 0, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  sst_builder *b;
  assert_int_equal(sst_builder_new(base, &o, &b, f->errmsg), SHALE_OK);
  uint8_t k[16];
  memcpy(k, "bb", 2);
  put_fixed64(k + 2, ikey_pack(7, KIND_PUT));
  assert_int_equal(sst_builder_add(b, k, 10, "v", 1, 0), SHALE_OK);
  assert_int_equal(sst_builder_finish(b, NULL, f->errmsg), SHALE_OK);
  assert_no_del_filter(base);
  uint64_t s = 11;
  mtomb t[40];
  random_tombs(t, 40, &s);
  qsort(t, 40, sizeof *t, mtomb_v1_order);
  rewrite_range_dels(base, v1, t, 40, 1, 1);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_int_equal(sst_reader_format_version(r), 1);
  const sst_range_del *d;
  assert_int_equal(sst_reader_range_dels(r, &d), 40);
  for (int q = 0; q < 2000; q++) {
    char key[4];
    size_t kl = small_key(key, &s, 0);
    uint64_t rs = tu_rand(&s) % 210;
    assert_true(sst_reader_range_cover(r, key, kl, rs) == model_cover(t, 40, key, kl, rs));
  }
  assert_int_equal(sst_reader_get(r, "bb", 2, SEQ_MAX, NULL, NULL, NULL, NULL, f->errmsg), 1);
  sst_reader_close(r);

  rewrite_range_dels(base, v1, t, 40, 2, 0); /* overlapping: not a version-2 block */
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "not fragmented"));
  mtomb dup[2] = {t[0], t[0]}; /* one piece twice at the same seq */
  rewrite_range_dels(base, v1, dup, 2, 2, 0);
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  /* A single tombstone is a valid fragment. 3 has the layout of 2 (but for the properties);
   * 4 is 3 without a deleted-key filter. */
  for (uint32_t v = 2; v <= 4; v++)
    for (int filt = 0; filt <= (v < 4); filt++) {
      rewrite_range_dels(base, v1, t, 1, v, filt);
      assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_OK);
      assert_int_equal(sst_reader_format_version(r), v);
      assert_true(sst_reader_range_cover(r, t[0].b, t[0].bl, SEQ_MAX) == t[0].seq);
      assert_int_equal(sst_reader_get(r, "bb", 2, SEQ_MAX, NULL, NULL, NULL, NULL, f->errmsg), 1);
      sst_reader_close(r);
    }
  rewrite_range_dels(base, v1, t, 1, 4, 1); /* version 4 ends the dirty block at 64 bytes */
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "malformed dirty block"));
  rewrite_range_dels(base, v1, t, 1, 5, 0); /* 5 without its global sequence field */
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "checksum mismatch"));
  rewrite_range_dels(base, v1, t, 1, 6, 0); /* 6 must name its comparator */
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "malformed properties block"));
  rewrite_range_dels(base, v1, t, 1, 8, 0);
  assert_int_equal(sst_reader_open(NULL, v1, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "unsupported format version 8"));
  assert_null(r);
  free(base);
  free(v1);
}

/* ---- version 5: an external table read at its global sequence ---- */

static void build_external(fixture *f, const char *path, uint64_t n) {
  sst_builder *b;
  sst_options o = {512, 10, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  sst_builder_set_external(b);
  assert_int_equal(sst_builder_set_snapshots(b, NULL, 0), SHALE_OK);
  uint8_t k[KLEN + 8], v[VLEN];
  for (uint64_t i = 0; i < n; i++) {
    ikey(k, i, 0, kind_of(i));
    value(v, i, 0);
    assert_int_equal(sst_builder_add(b, k, sizeof k, v, kind_of(i) == KIND_PUT ? VLEN : 0, 0),
                     SHALE_OK);
  }
  assert_int_equal(sst_builder_add_range_del(b, "z", 1, "zz", 2, 0, 0), SHALE_OK);
  assert_int_equal(sst_builder_finish(b, NULL, f->errmsg), SHALE_OK);
}

/* A table written with a comparator says so in its version (6, or 7 when external), so a
 * reader without comparators refuses it instead of reading its keys out of order. */
static void test_comparator_versions(void **state) {
  fixture *f = *state;
  static const shale_comparator cmp = {"test.Bytes", tu_cmp_bytewise, NULL};
  sst_options o = {4096, 10, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  for (int external = 0; external <= 1; external++) {
    char *path = tu_path(f->dir, external ? "ext.sst" : "int.sst");
    sst_builder *b;
    assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
    sst_builder_set_comparator(b, &cmp);
    if (external) sst_builder_set_external(b);
    uint8_t k[10];
    memcpy(k, "bb", 2);
    put_fixed64(k + 2, ikey_pack(external ? 0 : 7, KIND_PUT));
    assert_int_equal(sst_builder_add(b, k, sizeof k, "v", 1, 0), SHALE_OK);
    assert_int_equal(sst_builder_finish(b, NULL, f->errmsg), SHALE_OK);
    if (external) assert_int_equal(sst_external_set_seq(NULL, path, 50, f->errmsg), SHALE_OK);
    sst_reader *r;
    assert_int_equal(sst_reader_open_ordered(NULL, path, 1, NULL, &cmp, &r, f->errmsg), SHALE_OK);
    assert_int_equal(sst_reader_format_version(r), external ? SST_FORMAT_VERSION_EXTERNAL_COMPARATOR
                                                            : SST_FORMAT_VERSION_COMPARATOR);
    assert_string_equal(sst_reader_comparator_name(r), "test.Bytes");
    assert_true(sst_reader_global_seq(r) == (external ? 50u : 0u));
    assert_int_equal(sst_reader_get(r, "bb", 2, SEQ_MAX, NULL, NULL, NULL, NULL, f->errmsg), 1);
    sst_reader_close(r);
    /* read bytewise: refused, naming both orders */
    assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_INVALID);
    assert_non_null(strstr(f->errmsg, "test.Bytes"));
    free(path);
  }
}

static void test_external_global_seq(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "ext.sst");
  const uint64_t n = 300, g = 1000;
  build_external(f, path, n);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_int_equal(sst_reader_format_version(r), SST_FORMAT_VERSION_EXTERNAL);
  assert_true(sst_reader_global_seq(r) == 0);
  sst_reader_close(r);
  long long size = tu_file_size(path);
  assert_int_equal(sst_external_set_seq(NULL, path, g, f->errmsg), SHALE_OK);
  assert_int_equal(tu_file_size(path), size);
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_OK);
  assert_true(sst_reader_global_seq(r) == g);
  const sst_meta *m = sst_reader_meta(r);
  assert_true(m->min_seq == g && m->max_seq == g && m->min_tomb_seq == g && m->max_tomb_seq == g);
  assert_true(ikey_seq(get_fixed64(m->smallest.data + m->smallest.len - 8)) == g);
  assert_true(ikey_seq(get_fixed64(m->largest.data + m->largest.len - 8)) == SEQ_MAX); /* "zz" */
  assert_true(sst_reader_range_cover(r, "z1", 2, g) == g);
  assert_true(sst_reader_range_cover(r, "z1", 2, g - 1) == 0);
  uint8_t u[KLEN], k[KLEN + 8];
  unsigned kind;
  uint64_t seq;
  ukey(u, 12);
  assert_int_equal(sst_reader_get(r, u, KLEN, g - 1, &kind, NULL, NULL, &seq, f->errmsg), 0);
  assert_int_equal(sst_reader_get(r, u, KLEN, g, &kind, NULL, NULL, &seq, f->errmsg), 1);
  assert_true(seq == g && kind == KIND_PUT);
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  uint64_t i = 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it), i++) {
    size_t kl;
    const uint8_t *key = sst_iter_key(it, &kl);
    ikey(k, i, g, kind_of(i));
    assert_int_equal(kl, sizeof k);
    assert_memory_equal(key, k, kl);
  }
  assert_true(i == n);
  for (sst_iter_seek_last(it); sst_iter_valid(it); sst_iter_prev(it)) i--;
  assert_true(i == 0);
  /* A seek below the global sequence passes the key's only version. */
  ikey(k, 10, g - 1, KIND_SEEK);
  sst_iter_seek(it, k, sizeof k);
  size_t kl;
  ikey(k, 11, g, kind_of(11));
  assert_memory_equal(sst_iter_key(it, &kl), k, sizeof k);
  ikey(k, 10, g, KIND_SEEK);
  sst_iter_seek(it, k, sizeof k);
  ikey(k, 10, g, kind_of(10));
  assert_memory_equal(sst_iter_key(it, &kl), k, sizeof k);
  sst_iter_free(it);
  sst_reader_close(r);

  /* Damage in the field is caught by the footer's checksum; a version-4 table is refused. */
  assert_int_equal(tu_flip_bit(path, size - SST_EXTERNAL_TAIL_SIZE, 0), 0);
  assert_int_equal(sst_reader_open(NULL, path, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_int_equal(sst_external_set_seq(NULL, path, g, f->errmsg), SHALE_CORRUPTION);
  sst_meta meta;
  build(f, path, 10, NULL, &meta);
  sst_meta_free(&meta);
  assert_int_equal(sst_external_set_seq(NULL, path, g, f->errmsg), SHALE_CORRUPTION);
  assert_non_null(strstr(f->errmsg, "not an external"));
  free(path);
}

/* ---- corruption: every block kind, bits flipped at swept offsets ---- */

typedef struct region {
  const char *name;
  uint64_t off, len; /* including the block trailer */
} region;

static int regions_of(const char *path, region *rg) {
  FILE *fp = fopen(path, "rb");
  long long size = tu_file_size(path);
  uint8_t foot[SST_FOOTER_SIZE];
  fseek(fp, (long)(size - SST_FOOTER_SIZE), SEEK_SET);
  assert_int_equal(fread(foot, 1, sizeof foot, fp), sizeof foot);
  fclose(fp);
  static const char *names[5] = {"index", "filter", "range-del", "dirty", "properties"};
  uint64_t data_end = (uint64_t)size;
  for (int i = 0; i < 5; i++) {
    rg[i + 1].name = names[i];
    rg[i + 1].off = get_fixed64(foot + 16 * i);
    rg[i + 1].len = get_fixed64(foot + 16 * i + 8) + SST_BLOCK_TRAILER;
    if (rg[i + 1].off < data_end) data_end = rg[i + 1].off;
  }
  rg[0] = (region){"data", 0, data_end};
  rg[6] = (region){"footer", (uint64_t)size - SST_FOOTER_SIZE, SST_FOOTER_SIZE};
  return 7;
}

/* Reads the damaged table every way; everything returned must be right, and the damage must
 * be reported somewhere. */
static void check_damaged(fixture *f, const char *path, uint64_t n, block_cache *bc,
                          const char *what, uint64_t off) {
  sst_reader *r;
  int rc = sst_reader_open(NULL, path, 1, bc, &r, f->errmsg);
  if (rc) {
    if (rc != SHALE_CORRUPTION)
      fail_msg("%s +%llu: open gave %d", what, (unsigned long long)off, rc);
    assert_null(r);
    return;
  }
  int detected = 0;
  sst_iter *it;
  assert_int_equal(sst_iter_new(r, &it), SHALE_OK);
  uint64_t i = 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it), i++) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const uint8_t *v = sst_iter_value(it, &vl);
    assert_true(i < n);
    check_entry(k, kl, v, vl, i);
  }
  if (sst_iter_status(it) == SHALE_CORRUPTION)
    detected = 1;
  else
    assert_int_equal(sst_iter_status(it), SHALE_OK);
  if (!detected) assert_true(i == n);
  i = n;
  for (sst_iter_seek_last(it); sst_iter_valid(it); sst_iter_prev(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const uint8_t *v = sst_iter_value(it, &vl);
    assert_true(i > 0);
    check_entry(k, kl, v, vl, --i);
  }
  if (sst_iter_status(it) == SHALE_CORRUPTION) detected = 1;
  sst_iter_free(it);
  for (uint64_t j = 0; j < n; j++) {
    uint8_t uk[KLEN];
    ukey(uk, j);
    unsigned kind;
    void *v;
    size_t vl;
    uint64_t fs;
    rc = sst_reader_get(r, uk, KLEN, SEQ_MAX, &kind, &v, &vl, &fs, f->errmsg);
    if (rc == SHALE_CORRUPTION) {
      detected = 1;
      continue;
    }
    assert_int_equal(rc, 1);
    assert_int_equal(kind, kind_of(j));
    assert_true(fs == seq_of(j));
    if (kind == KIND_PUT) {
      uint8_t ev[VLEN];
      value(ev, j, seq_of(j));
      assert_int_equal(vl, VLEN);
      assert_memory_equal(v, ev, VLEN);
    }
    free(v);
  }
  sst_reader_close(r);
  if (!detected) fail_msg("%s +%llu: damage went unnoticed", what, (unsigned long long)off);
}

static void corruption_sweep(fixture *f, int compression, block_cache *bc) {
  char *pristine = tu_path(f->dir, "pristine.sst"), *victim = tu_path(f->dir, "victim.sst");
  sst_options o = {1024, 10, compression, 0, NULL, 0, 0, NULL, 0};
  const uint64_t n = 300;
  sst_meta m;
  build(f, pristine, n, &o, &m);
  sst_meta_free(&m);
  region rg[7];
  int nr = regions_of(pristine, rg);
  uint64_t s = 7;
  int flips = 0;
  for (int g = 0; g < nr; g++) {
    assert_true(rg[g].len > 0);
    uint64_t step = rg[g].len / 60 + 1;
    for (uint64_t d = 0; d < rg[g].len; d += step) {
      /* and always the trailer bytes */
      uint64_t off = rg[g].off + d;
      assert_int_equal(tu_copy_file(pristine, victim), 0);
      assert_int_equal(tu_flip_bit(victim, (long long)off, (int)(tu_rand(&s) % 8)), 0);
      check_damaged(f, victim, n, bc, rg[g].name, off);
      flips++;
    }
    for (uint64_t d = 1; d <= SST_BLOCK_TRAILER && g < 6; d++) {
      uint64_t off = rg[g].off + rg[g].len - d;
      assert_int_equal(tu_copy_file(pristine, victim), 0);
      assert_int_equal(tu_flip_bit(victim, (long long)off, (int)(tu_rand(&s) % 8)), 0);
      check_damaged(f, victim, n, bc, rg[g].name, off);
      flips++;
    }
  }
  assert_true(flips > 300);
  free(pristine);
  free(victim);
}

static void test_corruption_raw(void **state) {
  corruption_sweep(*state, SHALE_COMPRESSION_NONE, NULL);
}

static void test_corruption_zstd(void **state) {
  block_cache *bc;
  assert_int_equal(block_cache_new(1u << 20, &bc), SHALE_OK);
  corruption_sweep(*state, SHALE_COMPRESSION_ZSTD, NULL);
  /* with a cache: the damaged table is opened afresh each time (new cache id) */
  corruption_sweep(*state, SHALE_COMPRESSION_ZSTD, bc);
  block_cache_free(bc);
}

static void test_truncated(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "t.sst"), *victim = tu_path(f->dir, "v.sst");
  sst_options o = {1024, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
  sst_meta m;
  build(f, path, 200, &o, &m);
  sst_meta_free(&m);
  long long size = tu_file_size(path);
  long long cuts[] = {
      0,        1,       8, SST_FOOTER_SIZE - 1, SST_FOOTER_SIZE, size / 2, size - SST_FOOTER_SIZE,
      size - 9, size - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    assert_int_equal(tu_copy_file(path, victim), 0);
    assert_int_equal(tu_truncate(victim, cuts[i]), 0);
    sst_reader *r;
    assert_int_equal(sst_reader_open(NULL, victim, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
    assert_null(r);
    assert_non_null(strstr(f->errmsg, "v.sst"));
  }
  /* not a table at all; a missing file */
  FILE *fp = fopen(victim, "wb");
  for (int i = 0; i < 500; i++) fputc(i, fp);
  fclose(fp);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, victim, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
  assert_true(sst_reader_open(NULL, "/nonexistent/x.sst", 1, NULL, &r, f->errmsg) < 0);
  free(path);
  free(victim);
}

/* Every bit of a non-empty range-del block and its trailer is covered by the checksum. */
static void test_range_del_block_damage(void **state) {
  fixture *f = *state;
  char *path = tu_path(f->dir, "rdd.sst"), *victim = tu_path(f->dir, "rdv.sst");
  sst_options o = {4096, 10, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  sst_builder *b;
  assert_int_equal(sst_builder_new(path, &o, &b, f->errmsg), SHALE_OK);
  uint64_t s = 5;
  mtomb t[30];
  random_tombs(t, 30, &s);
  for (size_t i = 0; i < 30; i++)
    assert_int_equal(
        sst_builder_add_range_del(b, t[i].b, t[i].bl, t[i].e, t[i].el, t[i].seq, t[i].time_us),
        SHALE_OK);
  assert_int_equal(sst_builder_finish(b, NULL, f->errmsg), SHALE_OK);
  region rg[7];
  regions_of(path, rg);
  assert_string_equal(rg[3].name, "range-del");
  assert_true(rg[3].len > 100);
  for (uint64_t d = 0; d < rg[3].len; d++) {
    assert_int_equal(tu_copy_file(path, victim), 0);
    assert_int_equal(tu_flip_bit(victim, (long long)(rg[3].off + d), (int)(d % 8)), 0);
    sst_reader *r;
    assert_int_equal(sst_reader_open(NULL, victim, 1, NULL, &r, f->errmsg), SHALE_CORRUPTION);
    assert_null(r);
  }
  free(path);
  free(victim);
}

/* ---- block cache ---- */

static void test_block_cache_eviction(void **state) {
  fixture *f = *state;
  setenv("SHALE_MMAP", "0", 1); /* a mapped table reads raw blocks in place, past the cache */
  char *path = tu_path(f->dir, "bc.sst");
  sst_options o = {4096, 10, SHALE_COMPRESSION_NONE, 0, NULL, 0, 0, NULL, 0};
  sst_meta m;
  build(f, path, 2000, &o, &m);
  assert_true(m.data_blocks > 40);
  block_cache *bc;
  const size_t cap = 32 * 1024;
  assert_int_equal(block_cache_new(cap, &bc), SHALE_OK);
  sst_reader *r;
  assert_int_equal(sst_reader_open(NULL, path, 1, bc, &r, f->errmsg), SHALE_OK);
  uint64_t hits, misses;
  size_t usage;
  scan_both_ways(r, 2000);
  block_cache_stats(bc, &hits, &misses, &usage);
  assert_true(usage <= cap);
  assert_true(misses >= 2 * m.data_blocks - 8); /* the backward pass found little cached */
  /* repeated gets of one key hit */
  uint8_t uk[KLEN];
  ukey(uk, 1);
  uint64_t h0 = hits;
  for (int i = 0; i < 10; i++)
    assert_int_equal(sst_reader_get(r, uk, KLEN, SEQ_MAX, NULL, NULL, NULL, NULL, NULL), 1);
  block_cache_stats(bc, &hits, &misses, &usage);
  assert_true(hits >= h0 + 9);
  sst_reader_close(r);

  /* pinned blocks survive eviction pressure and are freed on release */
  bc_handle *hs[20];
  for (int i = 0; i < 20; i++) {
    void *d = malloc(4096);
    memset(d, i, 4096);
    hs[i] = block_cache_insert(bc, 999, (uint64_t)i, d, 4096);
    assert_non_null(hs[i]);
  }
  block_cache_stats(bc, NULL, NULL, &usage);
  assert_true(usage > cap); /* all pinned */
  for (int i = 0; i < 20; i++) {
    size_t len;
    const uint8_t *d = block_cache_data(hs[i], &len);
    assert_int_equal(len, 4096);
    assert_int_equal(d[4095], i);
    block_cache_release(bc, hs[i]);
  }
  block_cache_stats(bc, NULL, NULL, &usage);
  assert_true(usage <= cap);
  assert_null(block_cache_lookup(bc, 999, 0));    /* oldest went first */
  bc_handle *h = block_cache_lookup(bc, 999, 19); /* newest stayed */
  assert_non_null(h);
  block_cache_release(bc, h);
  /* replacing a pinned entry keeps the old bytes alive for its holder */
  h = block_cache_lookup(bc, 999, 19);
  void *d = malloc(10);
  memset(d, 0xab, 10);
  bc_handle *h2 = block_cache_insert(bc, 999, 19, d, 10);
  size_t len;
  assert_int_equal(block_cache_data(h, &len)[0], 19);
  assert_int_equal(block_cache_data(h2, &len)[0], 0xab);
  block_cache_release(bc, h);
  block_cache_release(bc, h2);
  block_cache_free(bc);
  sst_meta_free(&m);
  free(path);
  unsetenv("SHALE_MMAP");
}

/* ---- table cache ---- */

static void test_table_cache(void **state) {
  fixture *f = *state;
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
  for (uint64_t t = 1; t <= 5; t++) {
    char path[512];
    sst_file_name(path, sizeof path, f->dir, t);
    sst_meta m;
    build(f, path, 100 * t, &o, &m);
    sst_meta_free(&m);
  }
  block_cache *bc;
  assert_int_equal(block_cache_new(1u << 20, &bc), SHALE_OK);
  table_cache *tc;
  assert_int_equal(table_cache_new(NULL, f->dir, 2, bc, &tc), SHALE_OK);
  for (int round = 0; round < 3; round++)
    for (uint64_t t = 1; t <= 5; t++) {
      sst_reader *r;
      assert_int_equal(table_cache_get(tc, t, &r, f->errmsg), SHALE_OK);
      assert_true(sst_reader_meta(r)->entries == 100 * t);
      seek_and_get(f, r, 100 * t, 50 * t);
      table_cache_release(tc, r);
      assert_true(table_cache_open_count(tc) <= 2);
    }
  /* holding more than max_open: all stay open while held */
  sst_reader *rs[5];
  for (uint64_t t = 1; t <= 5; t++) assert_int_equal(table_cache_get(tc, t, &rs[t - 1], NULL), 0);
  assert_int_equal(table_cache_open_count(tc), 5);
  sst_reader *again;
  assert_int_equal(table_cache_get(tc, 3, &again, NULL), SHALE_OK);
  assert_ptr_equal(again, rs[2]);
  table_cache_release(tc, again);
  /* evicted while held: still usable until released */
  table_cache_evict(tc, 2);
  seek_and_get(f, rs[1], 200, 17);
  for (int t = 0; t < 5; t++) table_cache_release(tc, rs[t]);
  assert_true(table_cache_open_count(tc) <= 2);
  /* a fresh get after eviction reopens */
  assert_int_equal(table_cache_get(tc, 2, &again, NULL), SHALE_OK);
  table_cache_release(tc, again);
  /* missing table */
  assert_true(table_cache_get(tc, 77, &again, f->errmsg) < 0);
  assert_null(again);
  table_cache_free(tc);
  block_cache_free(bc);
}

/* ---- concurrency (meaningful under TSan) ---- */

typedef struct worker {
  table_cache *tc;
  uint64_t seed;
  int errors;
} worker;

static void *reader_thread(void *arg) {
  worker *w = arg;
  for (int i = 0; i < 4000; i++) {
    uint64_t t = tu_rand(&w->seed) % 3 + 1, k = tu_rand(&w->seed) % (500 * t);
    sst_reader *r;
    char em[ERRMSG_SIZE];
    if (table_cache_get(w->tc, t, &r, em)) {
      w->errors++;
      continue;
    }
    uint8_t uk[KLEN];
    ukey(uk, k);
    unsigned kind;
    void *v;
    size_t vl;
    uint64_t fs;
    if (sst_reader_get(r, uk, KLEN, SEQ_MAX, &kind, &v, &vl, &fs, em) != 1 || kind != kind_of(k) ||
        fs != seq_of(k))
      w->errors++;
    free(v);
    if (i % 500 == 0) {
      sst_iter *it;
      if (sst_iter_new(r, &it) == 0) {
        int c = 0;
        for (sst_iter_seek_first(it); sst_iter_valid(it) && c < 100; sst_iter_next(it)) c++;
        sst_iter_free(it);
      }
    }
    table_cache_release(w->tc, r);
  }
  return NULL;
}

static void test_concurrent_readers(void **state) {
  fixture *f = *state;
  sst_options o = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
  for (uint64_t t = 1; t <= 3; t++) {
    char path[512];
    sst_file_name(path, sizeof path, f->dir, t);
    sst_meta m;
    build(f, path, 500 * t, &o, &m);
    sst_meta_free(&m);
  }
  block_cache *bc;
  assert_int_equal(block_cache_new(64 * 1024, &bc), SHALE_OK); /* small: evictions race hits */
  table_cache *tc;
  assert_int_equal(table_cache_new(NULL, f->dir, 2, bc, &tc), SHALE_OK);
  pthread_t th[3];
  worker w[3];
  for (int i = 0; i < 3; i++) {
    w[i] = (worker){tc, (uint64_t)i + 1, 0};
    pthread_create(&th[i], NULL, reader_thread, &w[i]);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].errors, 0);
  }
  table_cache_free(tc);
  block_cache_free(bc);
}

int main(void) {
  if (getenv("SHALE_TEST_FILTER")) cmocka_set_test_filter(getenv("SHALE_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_small, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seek_hints, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scan_reads_ahead, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_trip_100k, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_versions_across_blocks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seek_model, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_dels_and_dirty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_frag_model, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_frag_no_blowup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_format_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_external_global_seq, setup, teardown),
      cmocka_unit_test_setup_teardown(test_comparator_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zstd_dictionary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zstd_dictionary_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zstd_dictionary_shared, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zstd_dictionary_shared_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_del_block_damage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corruption_raw, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corruption_zstd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_block_cache_eviction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_table_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
