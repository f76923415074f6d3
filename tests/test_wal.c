/* test_wal.c — the log file format: round trips across block boundaries, torn tails at every
 * byte, bit flips (never a wrong record back), tolerant vs strict recovery, and the header. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/io.h"
#include "shale.h"
#include "testutil.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/error.h"
#include "wal/wal_format.h"
#include "wal/wal_reader.h"
#include "wal/wal_writer.h"

#define MAX_RECS 64

/* The WAL is single-threaded, so TSan finds nothing here but makes every byte read cost a
 * lot: sample the exhaustive loops more thinly under it (ASan and plain builds do it all). */
#if defined(__SANITIZE_THREAD__)
#define THIN 4
#else
#define THIN 1
#endif

/* A log written by the test, with what it holds. */
typedef struct logspec {
  size_t n;
  size_t len[MAX_RECS];
  uint64_t start[MAX_RECS], end[MAX_RECS]; /* file offsets of each record's bytes */
} logspec;

static uint8_t rec_byte(size_t rec, size_t j) { return (uint8_t)(rec * 131 + j * 7 + (j >> 8)); }

static uint8_t *make_rec(size_t rec, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  for (size_t j = 0; j < len; j++) p[j] = rec_byte(rec, j);
  return p;
}

static void write_log(const char *path, uint64_t number, const size_t *lens, size_t n,
                      logspec *spec) {
  char err[ERRMSG_SIZE];
  wal_writer *w;
  assert_int_equal(wal_writer_open(NULL, path, number, &w, err), SHALE_OK);
  assert_int_equal(wal_writer_size(w), WAL_HEADER_SIZE + WAL_FILEHDR_PAYLOAD);
  spec->n = n;
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = make_rec(i, lens[i]);
    spec->len[i] = lens[i];
    spec->start[i] = wal_writer_size(w);
    assert_int_equal(wal_writer_add(w, p, lens[i], err), SHALE_OK);
    spec->end[i] = wal_writer_size(w);
    free(p);
  }
  assert_int_equal(wal_writer_sync(w, err), SHALE_OK);
  assert_int_equal(wal_writer_close(w, err), SHALE_OK);
  assert_int_equal(tu_file_size(path), (long long)(n ? spec->end[n - 1] : 27));
}

/* Record i as written, generated once per (i, len) and cached: byte loops are slow under
 * TSan, memcmp is not. */
static int rec_matches(size_t i, const logspec *spec, const uint8_t *rec, size_t len) {
  static uint8_t *cache[MAX_RECS];
  static size_t cache_len[MAX_RECS];
  if (i >= spec->n || len != spec->len[i]) return 0;
  if (!cache[i] || cache_len[i] != len) {
    free(cache[i]);
    cache[i] = make_rec(i, len);
    cache_len[i] = len;
  }
  return len == 0 || memcmp(rec, cache[i], len) == 0;
}

/* Reads path; every record returned must be the next one written (a prefix, never a wrong
 * one). Returns the number of records read; *rc gets the final status (0 or an error). */
static size_t read_log(const char *path, int tolerant, const logspec *spec, int *rc, char *err) {
  wal_reader *r;
  *rc = wal_reader_open(NULL, path, tolerant, &r, err);
  if (*rc) return 0;
  size_t i = 0;
  const uint8_t *rec;
  size_t len;
  while ((*rc = wal_reader_next(r, &rec, &len, err)) == 1) {
    if (!rec_matches(i, spec, rec, len)) fail_msg("record %zu differs (len %zu)", i, len);
    i++;
  }
  if (*rc == 0 && i > 0) assert_true(wal_reader_last_good_offset(r) == spec->end[i - 1]);
  wal_reader_close(r);
  return i;
}

static int setup(void **state) {
  *state = tu_tempdir();
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  tu_tempdir_free(*state);
  return 0;
}

static void test_round_trip(void **state) {
  size_t lens[MAX_RECS], n = 0;
  lens[n++] = 0;
  lens[n++] = 1;
  lens[n++] = 100;
  /* stored sizes (with the time stamp) around one block's payload room */
  for (size_t s = 32761; s <= 32775; s++) lens[n++] = s - WAL_RECORD_TIME_SIZE;
  lens[n++] = 100000;
  lens[n++] = 0;
  lens[n++] = 3 * WAL_BLOCK_SIZE; /* FIRST, MIDDLE, MIDDLE, LAST */
  lens[n++] = 5;
  char *path = tu_path(*state, "000007.log");
  logspec spec;
  write_log(path, 7, lens, n, &spec);
  char err[ERRMSG_SIZE];
  wal_reader *r;
  assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_OK);
  assert_true(wal_reader_log_number(r) == 7);
  const uint8_t *rec;
  size_t len, i = 0;
  int rc;
  while ((rc = wal_reader_next(r, &rec, &len, err)) == 1) {
    assert_true(rec_matches(i, &spec, rec, len));
    i++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(i, n);
  assert_null(wal_reader_dropped(r));
  assert_true(wal_reader_last_good_offset(r) == spec.end[n - 1]);
  assert_int_equal(wal_reader_next(r, &rec, &len, err), 0); /* stays at the end */
  wal_reader_close(r);
  free(path);
}

/* Records that leave every possible trailer size (0..6) before a block boundary. */
static void test_trailers(void **state) {
  char *path = tu_path(*state, "t.log");
  for (size_t pad = 0; pad < 8; pad++) {
    size_t lens[3] = {WAL_BLOCK_SIZE - 27 - 2 * WAL_HEADER_SIZE - WAL_RECORD_TIME_SIZE - pad, 10,
                      40000};
    logspec spec;
    write_log(path, 1, lens, 3, &spec);
    int rc;
    char err[ERRMSG_SIZE];
    assert_int_equal(read_log(path, 0, &spec, &rc, err), 3);
    assert_int_equal(rc, 0);
  }
  free(path);
}

/* Truncates a copy at every step-th offset in [from, to] (to capped at the file size). */
static void check_truncations(const char *dir, const size_t *lens, size_t n, uint64_t from,
                              uint64_t to, unsigned step) {
  char *path = tu_path(dir, "full.log"), *cut = tu_path(dir, "cut.log");
  logspec spec;
  write_log(path, 3, lens, n, &spec);
  uint64_t size = spec.end[n - 1];
  if (to > size) to = size;
  for (uint64_t c = from; c <= to; c += step) {
    assert_int_equal(tu_copy_file(path, cut), 0);
    assert_int_equal(tu_truncate(cut, (long long)c), 0);
    size_t want = 0;
    while (want < n && spec.end[want] <= c) want++;
    for (int tolerant = 0; tolerant < 2; tolerant++) {
      int rc;
      char err[ERRMSG_SIZE] = "";
      size_t got = read_log(cut, tolerant, &spec, &rc, err);
      if (rc != 0 || got != want)
        fail_msg("cut at %llu: rc %d (%s), %zu records, want %zu", (unsigned long long)c, rc, err,
                 got, want);
    }
  }
  free(path);
  free(cut);
}

/* A tear at every byte of the last two records (one crossing a block boundary) drops exactly
 * the torn record(s), without an error. */
static void test_truncate_every_byte(void **state) {
  size_t lens[] = {5000, 0, 12000, 15000 - 27 - 4 * 7 - 900, 600, 1500};
  size_t n = sizeof lens / sizeof lens[0];
  logspec spec;
  char *path = tu_path(*state, "probe.log");
  write_log(path, 3, lens, n, &spec);
  free(path);
  check_truncations(*state, lens, n, spec.start[n - 2], UINT64_MAX, THIN);
  /* a record of four fragments (FIRST MIDDLE MIDDLE LAST) torn anywhere; sampled densely */
  size_t big[] = {100, 3 * WAL_BLOCK_SIZE, 50};
  path = tu_path(*state, "probe.log");
  write_log(path, 3, big, 3, &spec);
  free(path);
  check_truncations(*state, big, 3, spec.start[1], UINT64_MAX, 61 * THIN);
  for (uint64_t b = WAL_BLOCK_SIZE; b < spec.end[2]; b += WAL_BLOCK_SIZE)
    check_truncations(*state, big, 3, b - 20, b + 20, 1); /* around each block boundary */
  check_truncations(*state, big, 3, spec.end[1] - 20, UINT64_MAX, 1);
}

/* Flips one bit at (a dense sample of) every byte: the reader either errors or stops early,
 * never returns a record that differs; strict mode errors whenever intact records follow. */
static void test_bit_flips(void **state) {
  size_t lens[] = {10, 0, 300, 2 * WAL_BLOCK_SIZE + 100, 20, 32760, 7, 1000, 64, 5};
  size_t n = sizeof lens / sizeof lens[0];
  char *path = tu_path(*state, "full.log"), *bad = tu_path(*state, "bad.log");
  logspec spec;
  write_log(path, 9, lens, n, &spec);
  uint64_t size = spec.end[n - 1];
  size_t tried = 0;
  assert_int_equal(tu_copy_file(path, bad), 0);
  for (uint64_t o = 0; o < size; o++) {
    uint64_t in = o % WAL_BLOCK_SIZE;
    int near_edge = in < 64 / THIN || in > WAL_BLOCK_SIZE - 64 / THIN;
    size_t rec = n; /* record whose bytes contain o, n for the file header */
    for (size_t i = 0; i < n; i++)
      if (o >= spec.start[i] && o < spec.end[i]) rec = i;
    int in_hdr_region = rec < n && o < spec.start[rec] + 64 / THIN;
    if (!(o < 100 || near_edge || in_hdr_region || o % (23 * THIN) == 0)) continue;
    tried++;
    assert_int_equal(tu_flip_bit(bad, (long long)o, (int)(o % 8)), 0);
    int padding = rec < n && WAL_BLOCK_SIZE - spec.start[rec] % WAL_BLOCK_SIZE < 7 &&
                  o < spec.start[rec] - spec.start[rec] % WAL_BLOCK_SIZE + WAL_BLOCK_SIZE;
    for (int tolerant = 0; tolerant < 2; tolerant++) {
      int rc;
      char err[ERRMSG_SIZE] = "";
      size_t got = read_log(bad, tolerant, &spec, &rc, err);
      if (padding) continue;                           /* trailer bytes carry nothing */
      if (rc == 0 && rec < n) assert_true(got <= rec); /* stopped before the damaged record */
      if (!tolerant && rec + 1 < n && rc == 0)
        fail_msg("flip at %llu (record %zu): strict read succeeded with %zu records",
                 (unsigned long long)o, rec, got);
      if (rc != 0) {
        assert_int_equal(rc, SHALE_CORRUPTION);
        assert_non_null(strstr(err, "offset"));
      }
    }
    assert_int_equal(tu_flip_bit(bad, (long long)o, (int)(o % 8)), 0); /* undo */
  }
  assert_true(tried > 4000 / THIN);
  free(path);
  free(bad);
}

static void test_tolerant_keeps_prefix(void **state) {
  size_t lens[] = {100, 200, 40000, 300, 400, 500};
  char *path = tu_path(*state, "000005.log");
  logspec spec;
  write_log(path, 5, lens, 6, &spec);
  assert_int_equal(tu_flip_bit(path, (long long)spec.start[3] + 20, 3), 0);
  char err[ERRMSG_SIZE];
  int rc;
  assert_int_equal(read_log(path, 1, &spec, &rc, err), 3);
  assert_int_equal(rc, 0);
  read_log(path, 0, &spec, &rc, err);
  assert_int_equal(rc, SHALE_CORRUPTION);
  assert_non_null(strstr(err, path));
  char want[64];
  snprintf(want, sizeof want, "offset %llu", (unsigned long long)spec.start[3]);
  assert_non_null(strstr(err, want));
  wal_reader *r;
  assert_int_equal(wal_reader_open(NULL, path, 1, &r, err), SHALE_OK);
  const uint8_t *rec;
  size_t len;
  while (wal_reader_next(r, &rec, &len, err) == 1) continue;
  assert_non_null(wal_reader_dropped(r));
  assert_non_null(strstr(wal_reader_dropped(r), "intact record follows"));
  assert_true(wal_reader_last_good_offset(r) == spec.end[2]);
  wal_reader_close(r);
  free(path);
}

/* Preallocated or never-written zeros after the last record are a torn tail. */
static void test_zero_tail(void **state) {
  size_t lens[] = {10, 20};
  char *path = tu_path(*state, "z.log");
  logspec spec;
  write_log(path, 1, lens, 2, &spec);
  assert_int_equal(tu_truncate(path, 3 * WAL_BLOCK_SIZE), 0);
  for (int tolerant = 0; tolerant < 2; tolerant++) {
    int rc;
    char err[ERRMSG_SIZE];
    assert_int_equal(read_log(path, tolerant, &spec, &rc, err), 2);
    assert_int_equal(rc, 0);
  }
  free(path);
}

/* A mapped WAL: records past several windows, the writer killed without closing (the file
 * ends in preallocated zeros), every record read back; after a clean close the file is
 * trimmed to its records. */
static void test_mapped_log(void **state) {
  io_ctx mapping; /* this test is about the mapping: whatever the suite's options are */
  io_ctx_init(&mapping, NULL, 0, 1);
  char *path = tu_path(*state, "m.log");
  size_t lens[MAX_RECS], n = 0;
  for (; n < MAX_RECS; n++) lens[n] = 3000 + n * 1013 % 70000; /* ~2 MiB: several windows */
  logspec spec = {.n = n};
  for (int crash = 1; crash >= 0; crash--) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char err[ERRMSG_SIZE];
      wal_writer *w;
      if (wal_writer_open_mapped(&mapping, path, 9, &w, err)) _exit(2);
      for (size_t i = 0; i < n; i++) {
        uint8_t *p = make_rec(i, lens[i]);
        if (wal_writer_add(w, p, lens[i], err)) _exit(3);
        free(p);
      }
      if (crash) raise(SIGKILL); /* no close: nothing trims the zeros */
      _exit(wal_writer_close(w, err) ? 4 : 0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(crash ? WIFSIGNALED(st) : WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (size_t i = 0; i < n; i++) spec.len[i] = lens[i];
    int rc;
    char err[ERRMSG_SIZE];
    wal_reader *r;
    assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_OK);
    size_t got = 0;
    const uint8_t *rec;
    size_t len;
    while ((rc = wal_reader_next(r, &rec, &len, err)) == 1) {
      if (!rec_matches(got, &spec, rec, len)) fail_msg("record %zu differs (len %zu)", got, len);
      got++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, n);
    long long size = tu_file_size(path);
    if (crash)
      assert_true(size > (long long)wal_reader_last_good_offset(r)); /* zeros follow */
    else
      assert_int_equal(size, (long long)wal_reader_last_good_offset(r));
    wal_reader_close(r);
  }
  free(path);
}

/* Rewrites the file header payload at offset 7 and fixes its checksum. */
static void patch_header(const char *path, size_t at, const void *bytes, size_t n) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  uint8_t h[WAL_HEADER_SIZE + WAL_FILEHDR_PAYLOAD];
  assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
  memcpy(h + WAL_HEADER_SIZE + at, bytes, n);
  put_fixed32(h, checksum32(h + 4, 3 + WAL_FILEHDR_PAYLOAD));
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
  assert_int_equal(fclose(f), 0);
}

static void test_header_checks(void **state) {
  size_t lens[] = {10};
  char *path = tu_path(*state, "h.log");
  logspec spec;
  char err[ERRMSG_SIZE];
  wal_reader *r;
  for (int tolerant = 0; tolerant < 2; tolerant++) {
    write_log(path, 1, lens, 1, &spec);
    uint8_t v[4];
    put_fixed32(v, WAL_FORMAT_VERSION + 1);
    patch_header(path, 8, v, 4);
    assert_int_equal(wal_reader_open(NULL, path, tolerant, &r, err), SHALE_CORRUPTION);
    assert_null(r);
    assert_non_null(strstr(err, "newer"));
    put_fixed32(v, 0);
    patch_header(path, 8, v, 4);
    assert_int_equal(wal_reader_open(NULL, path, tolerant, &r, err), SHALE_CORRUPTION);
    write_log(path, 1, lens, 1, &spec);
    patch_header(path, 0, "LEVELDB!", 8);
    assert_int_equal(wal_reader_open(NULL, path, tolerant, &r, err), SHALE_CORRUPTION);
    assert_non_null(strstr(err, "magic"));
  }
  /* not a log at all */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("hello, this is not a log file at all\n", f);
  fclose(f);
  assert_int_equal(wal_reader_open(NULL, path, 1, &r, err), SHALE_CORRUPTION);
  assert_non_null(strstr(err, "header"));
  /* a valid fragment that is not a header */
  uint8_t frag[WAL_HEADER_SIZE + 30] = {0, 0, 0, 0, 30, 0, WAL_FULL};
  put_fixed32(frag, checksum32(frag + 4, 3 + 30));
  f = fopen(path, "wb");
  assert_non_null(f);
  fwrite(frag, 1, sizeof frag, f);
  fclose(f);
  assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_CORRUPTION);
  assert_non_null(strstr(err, "no log file header"));
  free(path);
}

static void test_empty_and_torn_header(void **state) {
  char *path = tu_path(*state, "e.log");
  char err[ERRMSG_SIZE];
  size_t lens[] = {1};
  logspec spec;
  for (long long cut = 0; cut <= 27; cut++) {
    write_log(path, 4, lens, 1, &spec);
    assert_int_equal(tu_truncate(path, cut), 0);
    wal_reader *r;
    assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_OK);
    assert_true(wal_reader_log_number(r) == (cut == 27 ? 4 : 0));
    const uint8_t *rec;
    size_t len;
    assert_int_equal(wal_reader_next(r, &rec, &len, err), 0);
    wal_reader_close(r);
  }
  /* never written (zeros) is torn too */
  write_log(path, 4, lens, 1, &spec);
  assert_int_equal(tu_truncate(path, 0), 0);
  assert_int_equal(tu_truncate(path, 4096), 0);
  wal_reader *r;
  assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_OK);
  wal_reader_close(r);
  /* a damaged header is corruption, not an empty log, in both modes */
  size_t two[] = {10, 20};
  for (int tolerant = 0; tolerant < 2; tolerant++) {
    write_log(path, 4, two, 2, &spec);
    assert_int_equal(tu_flip_bit(path, 10, 0), 0);
    assert_int_equal(wal_reader_open(NULL, path, tolerant, &r, err), SHALE_CORRUPTION);
    assert_non_null(strstr(err, "offset 0"));
  }
  free(path);
}

static void test_writer_errors(void **state) {
  char *path = tu_path(*state, "missing/000001.log");
  char err[ERRMSG_SIZE];
  wal_writer *w = (wal_writer *)1;
  assert_int_equal(wal_writer_open(NULL, path, 1, &w, err), SHALE_IOERR);
  assert_null(w);
  assert_non_null(strstr(err, path));
  wal_reader *r = (wal_reader *)1;
  assert_int_equal(wal_reader_open(NULL, path, 0, &r, err), SHALE_IOERR);
  assert_null(r);
  free(path);
}

/* Zeroes the 4 KiB page of path that holds offset off: a page writeback never reached. */
static void lose_page(const char *path, uint64_t off) {
  static const uint8_t zeros[4096];
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, (long)(off - off % 4096), SEEK_SET), 0);
  assert_int_equal(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
  assert_int_equal(fclose(f), 0);
}

/* Records 0..4 synced one by one, 5..11 not; returns the path. spec gets the offsets. */
static char *write_synced_then_not(const char *dir, logspec *spec) {
  char *path = tu_path(dir, "000004.log");
  char err[ERRMSG_SIZE];
  wal_writer *w;
  assert_int_equal(wal_writer_open(NULL, path, 4, &w, err), SHALE_OK);
  spec->n = 12;
  for (size_t i = 0; i < spec->n; i++) {
    spec->len[i] = 3000;
    uint8_t *p = make_rec(i, spec->len[i]);
    spec->start[i] = wal_writer_size(w);
    assert_int_equal(wal_writer_add(w, p, spec->len[i], err), SHALE_OK);
    spec->end[i] = wal_writer_size(w);
    free(p);
    if (i < 5) assert_int_equal(wal_writer_sync(w, err), SHALE_OK);
  }
  assert_int_equal(wal_writer_close(w, err), SHALE_OK);
  return path;
}

/* Issue 20 point 6: an earlier unsynced page lost while a later one reached the disk is a
 * torn tail for the WAL reader (every synced record back, nothing past the hole), and still
 * corruption for the plain strict reader; damage below a sync point is corruption for both. */
static void test_unordered_unsynced_tail(void **state) {
  logspec spec;
  char *path = write_synced_then_not(*state, &spec);
  lose_page(path, spec.start[7] + 100); /* records 9..11 lie in later pages, intact */
  assert_true(spec.start[9] / 4096 > spec.end[7] / 4096);
  char err[ERRMSG_SIZE];
  int rc;
  read_log(path, WAL_READ_STRICT, &spec, &rc, err);
  assert_int_equal(rc, SHALE_CORRUPTION);
  wal_reader *r;
  assert_int_equal(wal_reader_open(NULL, path, WAL_READ_STRICT | WAL_READ_UNSYNCED_TAIL, &r, err),
                   SHALE_OK);
  size_t got = 0;
  const uint8_t *rec;
  size_t len;
  while ((rc = wal_reader_next(r, &rec, &len, err)) == 1)
    assert_true(rec_matches(got++, &spec, rec, len));
  assert_int_equal(rc, 0);
  assert_true(got >= 5 && got <= 7);
  assert_int_equal(wal_reader_tail_unordered(r), 1);
  assert_non_null(strstr(wal_reader_dropped(r), "unsynced tail"));
  wal_reader_close(r);
  free(path);
  /* a synced record damaged: the sync points written after it cover it */
  path = write_synced_then_not(*state, &spec);
  lose_page(path, spec.start[2] + 100);
  assert_true(spec.start[5] / 4096 > spec.end[2] / 4096);
  const int modes[] = {WAL_READ_STRICT, WAL_READ_STRICT | WAL_READ_UNSYNCED_TAIL};
  for (int m = 0; m < 2; m++) {
    read_log(path, modes[m], &spec, &rc, err);
    assert_int_equal(rc, SHALE_CORRUPTION);
  }

  free(path);
}

/* An env whose pread shows zeros in [zero_from, zero_to) of the first read that covers it,
 * and the file's bytes after: a writer appending there as the reader passed. */
typedef struct inflight_env {
  int64_t zero_from, zero_to;
  int shown;
} inflight_env;

static int64_t inflight_pread(void *arg, int fd, void *data, size_t len, int64_t off) {
  inflight_env *e = arg;
  ssize_t n = pread(fd, data, len, off);
  if (n > 0 && !e->shown && off <= e->zero_from && off + n >= e->zero_to) {
    memset((uint8_t *)data + (e->zero_from - off), 0, (size_t)(e->zero_to - e->zero_from));
    e->shown = 1;
  }
  return n;
}

/* A record read as zeros, then found written (with one after it) by the probe: the end of
 * what was there when read, in strict mode too; the same zeros left on disk stay damage. */
static void test_record_in_flight(void **state) {
  size_t lens[] = {40, 50, 60, 70};
  char *path = tu_path(*state, "live.log");
  logspec spec;
  write_log(path, 1, lens, 4, &spec);
  inflight_env e = {(int64_t)spec.start[2], (int64_t)spec.end[2], 0};
  shale_env env;
  shale_env_default(&env);
  env.arg = &e;
  env.pread = inflight_pread;
  io_ctx io;
  io_ctx_init(&io, &env, 1, 0);
  char err[ERRMSG_SIZE];
  wal_reader *r;
  assert_int_equal(wal_reader_open(&io, path, WAL_READ_STRICT, &r, err), SHALE_OK);
  size_t got = 0;
  const uint8_t *rec;
  size_t len;
  int rc;
  while ((rc = wal_reader_next(r, &rec, &len, err)) == 1)
    assert_true(rec_matches(got++, &spec, rec, len));
  assert_int_equal(rc, 0);
  assert_int_equal(got, 2);
  assert_true(e.shown);
  assert_non_null(strstr(wal_reader_dropped(r), "written since"));
  wal_reader_close(r);
  uint8_t zeros[128] = {0};
  assert_true(spec.end[2] - spec.start[2] <= sizeof zeros);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, zeros, spec.end[2] - spec.start[2], (off_t)spec.start[2]),
                   (ssize_t)(spec.end[2] - spec.start[2]));
  close(fd);
  read_log(path, WAL_READ_STRICT, &spec, &rc, err);
  assert_int_equal(rc, SHALE_CORRUPTION);
  free(path);
}

/* The same through the engine, on a real WAL: synced puts, unsynced puts, an earlier unsynced
 * page zeroed and a later one kept. The default (strict) open succeeds with every synced
 * write, and says in the LOG what it dropped. */
static void test_open_after_unordered_loss(void **state) {
  char *db_dir = tu_path(*state, "db"), *copy = tu_path(*state, "copy");
  shale_options o;
  tu_options_init(&o);
  shale_db *db;
  assert_int_equal(shale_open(db_dir, &o, &db), SHALE_OK);
  char key[16], val[1000];
  memset(val, 'v', sizeof val);
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "key%03d", i);
    assert_int_equal(shale_put(db, key, strlen(key), val, sizeof val, i < 20 ? SHALE_SYNC : 0),
                     SHALE_OK);
  }
  assert_int_equal(mkdir(copy, 0755), 0);
  assert_int_equal(tu_copy_dir(db_dir, copy), 0); /* the machine's disk at the power loss */
  assert_int_equal(shale_close(db), SHALE_OK);
  /* find the WAL and its record offsets, then lose the page of put 25 */
  char err[ERRMSG_SIZE], *wal = NULL;
  for (int n = 1; n < 20 && !wal; n++) {
    char name[32];
    snprintf(name, sizeof name, "%06d.log", n);
    char *p = tu_path(copy, name);
    if (tu_file_size(p) > 40000)
      wal = p;
    else
      free(p);
  }
  assert_non_null(wal);
  wal_reader *r;
  assert_int_equal(wal_reader_open(NULL, wal, WAL_READ_STRICT, &r, err), SHALE_OK);
  uint64_t end[40];
  const uint8_t *rec;
  size_t len, got = 0;
  while (got < 40 && wal_reader_next(r, &rec, &len, err) == 1)
    end[got++] = wal_reader_last_good_offset(r);
  wal_reader_close(r);
  assert_int_equal(got, 40);
  lose_page(wal, end[25] - 10);
  assert_true((end[25] - 10) / 4096 < end[33] / 4096); /* puts 34.. stay on disk */
  assert_int_equal(shale_open(copy, &o, &db), SHALE_OK);
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "key%03d", i);
    void *v = NULL;
    size_t vlen;
    int rc = shale_get(db, NULL, key, strlen(key), &v, &vlen);
    shale_free(v);
    if (i < 20) assert_int_equal(rc, SHALE_OK);       /* every synced write */
    if (i > 25) assert_int_equal(rc, SHALE_NOTFOUND); /* nothing past the hole */
  }
  assert_int_equal(shale_put(db, "after", 5, "x", 1, SHALE_SYNC), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  char *logf = tu_path(copy, "LOG");
  FILE *f = fopen(logf, "r");
  assert_non_null(f);
  char line[2048];
  int said = 0;
  while (fgets(line, sizeof line, f)) said |= strstr(line, "unsynced tail") != NULL;
  fclose(f);
  assert_true(said);
  assert_int_equal(shale_open(copy, &o, &db), SHALE_OK); /* and again, with the new WAL */
  assert_int_equal(shale_close(db), SHALE_OK);
  free(logf);
  free(wal);
  free(db_dir);
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trailers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncate_every_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tolerant_keeps_prefix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zero_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mapped_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_and_torn_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unordered_unsynced_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_after_unordered_loss, setup, teardown),
      cmocka_unit_test_setup_teardown(test_record_in_flight, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
