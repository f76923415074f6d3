/* test_io.c — the file layer: the io_writer on both paths (io_uring when this machine allows
 * it, and the forced pwrite fallback), the append-only log, the pread reader, whole-file
 * helpers, and their errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "io/io.h"
#include "testutil.h"
#include "util/error.h"

static io_ctx ctx; /* the writers' context: each test sets whether it forces pwrite */

static int setup(void **state) {
  *state = tu_tempdir();
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  io_ctx_init(&ctx, NULL, 0, 1);
  tu_tempdir_free(*state);
  return 0;
}

static void fill(uint8_t *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(tu_rand(&seed) >> 56);
}

static void check_file(const char *path, const uint8_t *want, size_t n) {
  buf b;
  buf_init(&b);
  char err[ERRMSG_SIZE];
  assert_int_equal(io_read_file(NULL, path, &b, err), SHALE_OK);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, want, n);
  buf_free(&b);
}

/* Appends sizes[] pieces of expect (in order) through an io_writer, finishes, compares. */
static void writer_round_trip(const char *dir, int sync) {
  static const size_t sizes[] = {0, 1, 7, 4096, 100, 262144, 262143, 3, 1000000, 5, 65536};
  size_t total = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += sizes[i];
  total += 20000 * 13; /* many small appends */
  uint8_t *expect = malloc(total);
  assert_non_null(expect);
  fill(expect, total, 42);
  char *path = tu_path(dir, "w.sst");
  io_writer *w;
  char err[ERRMSG_SIZE];
  assert_int_equal(io_writer_open(&ctx, path, &w, err), SHALE_OK);
  size_t off = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    assert_int_equal(io_writer_append(w, expect + off, sizes[i], err), SHALE_OK);
    off += sizes[i];
    assert_int_equal(io_writer_size(w), off);
  }
  for (int i = 0; i < 20000; i++) {
    assert_int_equal(io_writer_append(w, expect + off, 13, err), SHALE_OK);
    off += 13;
  }
  assert_int_equal(io_writer_size(w), total);
  assert_int_equal(io_writer_finish(w, sync, err), SHALE_OK);
  check_file(path, expect, total);
  free(path);
  free(expect);
}

static void test_writer_uring_or_default(void **state) {
  io_ctx_init(&ctx, NULL, 0, 1);
  io_stats before, after;
  io_stats_get(&ctx, &before);
  writer_round_trip(*state, 1);
  writer_round_trip(*state, 0);
  io_stats_get(&ctx, &after);
  /* whichever path this machine allows, both writers took it and said so */
  if (io_uring_in_use(&ctx))
    assert_true(after.uring_writers == before.uring_writers + 2);
  else
    assert_true(after.fallback_writers == before.fallback_writers + 2);
  assert_true(after.fsyncs > before.fsyncs);
  assert_true(after.bytes_written > before.bytes_written);
  print_message("io_uring in use: %d\n", io_uring_in_use(&ctx));
}

static void test_writer_forced_pwrite(void **state) {
  io_ctx_init(&ctx, NULL, 1, 1);
  io_stats before, after;
  io_stats_get(&ctx, &before);
  writer_round_trip(*state, 1);
  writer_round_trip(*state, 0);
  io_stats_get(&ctx, &after);
  assert_true(after.fallback_writers == before.fallback_writers + 2);
  assert_true(after.uring_writers == before.uring_writers);
  assert_int_equal(io_uring_in_use(&ctx), 0);
  io_ctx_init(&ctx, NULL, 0, 1);
}

/* Counters and the writer's path belong to a context: a DB's I/O shows in its own counters
 * and forcing pwrite on one DB leaves another on io_uring. */
static void test_contexts_are_separate(void **state) {
  io_ctx a, b;
  io_ctx_init(&a, NULL, 1, 1);
  io_ctx_init(&b, NULL, 0, 0);
  char *path = tu_path(*state, "a.sst");
  io_writer *w;
  char err[ERRMSG_SIZE];
  assert_int_equal(io_writer_open(&a, path, &w, err), SHALE_OK);
  assert_int_equal(io_writer_append(w, "abc", 3, err), SHALE_OK);
  assert_int_equal(io_writer_finish(w, 1, err), SHALE_OK);
  io_stats sa, sb;
  io_stats_get(&a, &sa);
  io_stats_get(&b, &sb);
  assert_true(sa.fallback_writers == 1 && sa.uring_writers == 0);
  assert_true(sa.bytes_written == 3 && sa.fsyncs == 1);
  assert_true(sb.fallback_writers == 0 && sb.uring_writers == 0 && sb.bytes_written == 0);
  assert_int_equal(io_uring_in_use(&a), 0);
  /* b has mapping off: its reader stays with pread and counts the read */
  io_reader *r;
  char got[3];
  assert_int_equal(io_reader_open(&b, path, &r, err), SHALE_OK);
  assert_int_equal(io_reader_map(r), 0);
  assert_int_equal(io_reader_read(r, 0, got, 3, err), SHALE_OK);
  io_reader_close(r);
  assert_memory_equal(got, "abc", 3);
  io_stats_get(&b, &sb);
  assert_true(sb.reads == 1 && sb.bytes_read == 3 && sb.mapped_files == 0);
  io_stats_get(&a, &sa);
  assert_true(sa.reads == 0);
  free(path);
}

static void test_writer_empty_and_abort(void **state) {
  for (int forced = 0; forced < 2; forced++) {
    if (forced) io_ctx_init(&ctx, NULL, 1, 1);
    char *path = tu_path(*state, "e.sst");
    io_writer *w;
    assert_int_equal(io_writer_open(&ctx, path, &w, NULL), SHALE_OK);
    assert_int_equal(io_writer_finish(w, 1, NULL), SHALE_OK);
    assert_int_equal(tu_file_size(path), 0);
    /* abort with writes in flight frees everything (ASan checks) */
    uint8_t *big = calloc(1, 3 << 20);
    assert_non_null(big);
    assert_int_equal(io_writer_open(&ctx, path, &w, NULL), SHALE_OK);
    assert_int_equal(io_writer_append(w, big, 3 << 20, NULL), SHALE_OK);
    io_writer_abort(w);
    free(big);
    free(path);
    io_ctx_init(&ctx, NULL, 0, 1);
  }
}

static void test_errors_name_the_path(void **state) {
  char *path = tu_path(*state, "no/such/dir/file");
  char err[ERRMSG_SIZE];
  io_writer *w = (io_writer *)1;
  assert_int_equal(io_writer_open(&ctx, path, &w, err), SHALE_IOERR);
  assert_null(w);
  assert_non_null(strstr(err, path));
  io_log *l = (io_log *)1;
  assert_int_equal(io_log_open(NULL, path, &l, err), SHALE_IOERR);
  assert_null(l);
  assert_non_null(strstr(err, path));
  io_reader *r = (io_reader *)1;
  assert_int_equal(io_reader_open(NULL, path, &r, err), SHALE_IOERR);
  assert_null(r);
  assert_non_null(strstr(err, "No such file"));
  assert_int_equal(io_write_file_atomic(NULL, path, "CURRENT", "x", 1, err), SHALE_IOERR);
  assert_non_null(strstr(err, path));
  assert_int_equal(io_sync_dir(NULL, path, err), SHALE_IOERR);
  /* removing a missing file is fine; removing a directory is an error */
  assert_int_equal(io_remove(NULL, path, err), SHALE_OK);
  char *sub = tu_path(*state, "sub");
  assert_int_equal(mkdir(sub, 0755), 0);
  assert_int_equal(io_remove(NULL, sub, err), SHALE_IOERR);
  assert_non_null(strstr(err, sub));
  free(sub);
  free(path);
}

/* RLIMIT_FSIZE turns a write across the limit into a short write, and the resubmitted
 * remainder into EFBIG: exercises short-write handling and error reporting on both paths. */
static void test_writer_short_write_then_error(void **state) {
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
  size_t n = 1 << 20;
  uint8_t *data = malloc(n);
  assert_non_null(data);
  fill(data, n, 5);
  char *path = tu_path(*state, "big.sst");
  for (int forced = 0; forced < 2; forced++) {
    if (forced) io_ctx_init(&ctx, NULL, 1, 1);
    lim = old;
    lim.rlim_cur = 300001;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    io_writer *w;
    char err[ERRMSG_SIZE] = "";
    assert_int_equal(io_writer_open(&ctx, path, &w, err), SHALE_OK);
    int rc = io_writer_append(w, data, n, err);
    if (rc == SHALE_OK)
      rc = io_writer_finish(w, 1, err);
    else
      io_writer_abort(w);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, SHALE_IOERR);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(tu_file_size(path), 300001); /* the short write landed */
    io_ctx_init(&ctx, NULL, 0, 1);
  }
  /* io_log: the failed append makes the log refuse more */
  lim = old;
  lim.rlim_cur = 1000;
  io_log *l;
  char err[ERRMSG_SIZE];
  assert_int_equal(io_log_open(NULL, path, &l, err), SHALE_OK);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  assert_int_equal(io_log_append(l, data, 600, err), SHALE_OK);
  int rc = io_log_append(l, data, 600, err);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  assert_int_equal(rc, SHALE_IOERR);
  assert_non_null(strstr(err, path));
  assert_int_equal(io_log_append(l, data, 1, err), SHALE_IOERR);
  assert_non_null(strstr(err, "earlier write error"));
  assert_int_equal(io_log_sync(l, err), SHALE_IOERR);
  assert_int_equal(io_log_close(l, err), SHALE_OK);
  signal(SIGXFSZ, oldsig);
  free(path);
  free(data);
}

static void test_log_appends(void **state) {
  char *path = tu_path(*state, "000001.log");
  io_log *l;
  char err[ERRMSG_SIZE];
  assert_int_equal(io_log_open(NULL, path, &l, err), SHALE_OK);
  uint8_t data[70000];
  fill(data, sizeof data, 7);
  size_t off = 0;
  for (size_t n = 0; off + n <= sizeof data; n = n * 2 + 1) {
    assert_int_equal(io_log_append(l, data + off, n, err), SHALE_OK);
    off += n;
    assert_int_equal(io_log_size(l), off);
  }
  assert_int_equal(io_log_sync(l, err), SHALE_OK);
  assert_int_equal(io_log_close(l, err), SHALE_OK);
  check_file(path, data, off);
  /* open truncates */
  assert_int_equal(io_log_open(NULL, path, &l, err), SHALE_OK);
  assert_int_equal(io_log_close(l, err), SHALE_OK);
  assert_int_equal(tu_file_size(path), 0);
  free(path);
}

typedef struct sync_arg {
  io_log *l;
  _Atomic int stop;
  int syncs, rc;
} sync_arg;

static void *sync_loop(void *p) {
  sync_arg *a = p;
  while (!a->stop && a->syncs < 50) {
    if ((a->rc = io_log_sync(a->l, NULL)) != SHALE_OK) break;
    (void)io_log_size(a->l);
    a->syncs++;
  }
  return NULL;
}

/* The contract: one appender, with syncs and size reads from another thread (TSan checks). */
static void test_log_sync_concurrent_with_append(void **state) {
  char *path = tu_path(*state, "000002.log");
  sync_arg a = {.stop = 0};
  assert_int_equal(io_log_open(NULL, path, &a.l, NULL), SHALE_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sync_loop, &a), 0);
  uint8_t rec[100];
  for (int i = 0; i < 3000; i++) {
    memset(rec, i & 0xff, sizeof rec);
    assert_int_equal(io_log_append(a.l, rec, sizeof rec, NULL), SHALE_OK);
  }
  a.stop = 1;
  pthread_join(t, NULL);
  assert_int_equal(a.rc, SHALE_OK);
  assert_int_equal(io_log_size(a.l), 300000);
  assert_int_equal(io_log_close(a.l, NULL), SHALE_OK);
  assert_int_equal(tu_file_size(path), 300000);
  free(path);
}

static void test_reader_short_read(void **state) {
  char *path = tu_path(*state, "r.sst");
  uint8_t data[10000];
  fill(data, sizeof data, 9);
  char err[ERRMSG_SIZE];
  assert_int_equal(io_write_file_atomic(NULL, *state, "r.sst", data, sizeof data, err), SHALE_OK);
  io_reader *r;
  assert_int_equal(io_reader_open(NULL, path, &r, err), SHALE_OK);
  assert_int_equal(io_reader_size(r), sizeof data);
  uint8_t got[4000];
  assert_int_equal(io_reader_read(r, 5000, got, sizeof got, err), SHALE_OK);
  assert_memory_equal(got, data + 5000, sizeof got);
  assert_int_equal(io_reader_read(r, 0, got, 0, err), SHALE_OK);
  assert_int_equal(io_reader_read(r, 8000, got, sizeof got, err), SHALE_CORRUPTION);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "truncated"));
  assert_int_equal(io_reader_read(r, 20000, got, 1, err), SHALE_CORRUPTION);
  io_reader_close(r);
  /* a directory is not a readable file */
  assert_int_equal(io_reader_open(NULL, *state, &r, err), SHALE_IOERR);
  free(path);
}

static void test_write_file_atomic(void **state) {
  char err[ERRMSG_SIZE];
  char *path = tu_path(*state, "CURRENT");
  assert_int_equal(io_write_file_atomic(NULL, *state, "CURRENT", "MANIFEST-000001\n", 16, err),
                   SHALE_OK);
  check_file(path, (const uint8_t *)"MANIFEST-000001\n", 16);
  assert_int_equal(io_write_file_atomic(NULL, *state, "CURRENT", "MANIFEST-000002\n", 16, err),
                   SHALE_OK);
  check_file(path, (const uint8_t *)"MANIFEST-000002\n", 16);
  char *tmp = tu_path(*state, "CURRENT.tmp");
  assert_int_equal(tu_file_size(tmp), -1); /* no temp file left behind */
  assert_int_equal(io_write_file_atomic(NULL, *state, "CURRENT", "", 0, err), SHALE_OK);
  assert_int_equal(tu_file_size(path), 0);
  free(tmp);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writer_uring_or_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_forced_pwrite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_contexts_are_separate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_empty_and_abort, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_name_the_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_short_write_then_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_appends, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_sync_concurrent_with_append, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reader_short_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
