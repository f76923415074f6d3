/* test_compaction_filter.c — the compaction filter (shale_options.compaction_filter): keep,
 * remove and change through shale_compact_range; a removed value that does not bring back
 * an older one from a deeper level; snapshots that read the same before and after, also one
 * taken while the compaction runs; and a child killed during a filtering compaction, whose
 * DB compacts after reopen to the same contents as one never killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/compaction.h"
#include "engine/db_impl.h"
#include "test_hooks.h"
#include "engine/compaction_job.h"
#include "shale.h"
#include "testutil.h"

/* The filter under test judges a value by its first byte: 'x' (expired) is removed, 'c' is
 * changed to the same value with 'C', anything else is kept. So a second pass keeps what
 * the first one changed, as a filter should. */
static _Atomic unsigned calls;
static _Atomic int seen_level;

static int test_filter(void *arg, int level, const void *key, size_t klen, const void *val,
                       size_t vlen, const void **new_val, size_t *new_vlen) {
  (void)key, (void)klen;
  char *scratch = arg;
  atomic_fetch_add(&calls, 1);
  atomic_store(&seen_level, level);
  const char *v = val;
  if (vlen && v[0] == 'x') return SHALE_FILTER_REMOVE;
  if (vlen && v[0] == 'c' && vlen < 256) {
    memcpy(scratch, v, vlen);
    scratch[0] = 'C';
    *new_val = scratch;
    *new_vlen = vlen;
    return SHALE_FILTER_CHANGE_VALUE;
  }
  return SHALE_FILTER_KEEP;
}

static char scratch[256];

static shale_options filter_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64u << 10;
  o.compaction_filter = test_filter;
  o.compaction_filter_arg = scratch;
  o.compaction_filter_name = "test.first-byte";
  return o;
}

static void put(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

/* Asserts what a get of k returns at snap: v, or absent when v is NULL. */
static void expect(shale_db *db, const shale_snapshot *snap, const char *k, const char *v) {
  void *got;
  size_t n;
  int rc = shale_get(db, snap, k, strlen(k), &got, &n);
  if (!v) {
    if (rc != SHALE_NOTFOUND)
      fprintf(stderr, "  %s: expected absent, got %.*s\n", k, (int)n, (char *)got);
    assert_int_equal(rc, SHALE_NOTFOUND);
    return;
  }
  assert_int_equal(rc, SHALE_OK);
  if (n != strlen(v) || memcmp(got, v, n))
    fprintf(stderr, "  %s: expected %s, got %.*s\n", k, v, (int)n, (char *)got);
  assert_true(n == strlen(v) && !memcmp(got, v, n));
  shale_free(got);
}

static int files_at(shale_db *db, int level) {
  char name[64], *v;
  snprintf(name, sizeof name, "shale.num-files-at-level%d", level);
  assert_int_equal(shale_property(db, name, &v), SHALE_OK);
  int n = atoi(v);
  shale_free(v);
  return n;
}

/* Does file name of dir (its first 64 KiB) contain text? */
static int file_contains(const char *dir, const char *name, const char *text) {
  static char data[64 << 10];
  char *p = tu_path(dir, name);
  FILE *f = fopen(p, "r");
  free(p);
  if (!f) return 0;
  data[fread(data, 1, sizeof data - 1, f)] = 0;
  fclose(f);
  return strstr(data, text) != NULL;
}

/* Runs one manual compaction of level into out_level, as shale_compact_range does for each
 * step, so a test can leave data at a level it chooses. */
static void compact_level(shale_db *db, int level, int out_level) {
  char errmsg[ERRMSG_SIZE] = "";
  sh_mutex_lock(&db->mu);
  compaction_exclusive_begin(db);
  compaction c;
  int picked = compaction_pick_range(db, level, out_level, NULL, 0, NULL, 0, &c);
  int rc = picked == 1 ? compaction_run(db, &c, errmsg) : picked;
  compaction_free(&c);
  compaction_exclusive_end(db);
  sh_mutex_unlock(&db->mu);
  if (rc < 0) fprintf(stderr, "  compaction L%d->L%d: %s\n", level, out_level, errmsg);
  assert_true(rc >= 0);
}

/* The iterator shows exactly the keys of want, in order, with their values. */
static void expect_scan(shale_db *db, const char *const *want, size_t n) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  size_t i = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it), i += 2) {
    assert_true(i + 1 < n);
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    assert_true(kl == strlen(want[i]) && !memcmp(k, want[i], kl));
    assert_true(vl == strlen(want[i + 1]) && !memcmp(v, want[i + 1], vl));
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  assert_int_equal(i, n);
  shale_iter_free(it);
}

static void test_keep_remove_change(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = filter_options();
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put(db, "a", "keep");
  put(db, "b", "xexpired");
  put(db, "c", "change-me");
  put(db, "d", "");
  put(db, "e", "x");
  atomic_store(&calls, 0);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(atomic_load(&calls), 0); /* flushes do not filter */
  expect(db, NULL, "b", "xexpired");
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  /* L0 -> L1 offers all five; the rewrite of the bottom in place the three left. */
  assert_int_equal(atomic_load(&calls), 8);
  assert_true(atomic_load(&seen_level) >= 1);
  expect(db, NULL, "a", "keep");
  expect(db, NULL, "b", NULL);
  expect(db, NULL, "c", "Change-me");
  expect(db, NULL, "d", "");
  expect(db, NULL, "e", NULL);
  const char *want[] = {"a", "keep", "c", "Change-me", "d", ""};
  expect_scan(db, want, 6);
  /* Again: the changed value is kept, nothing else is offered twice in a way that differs. */
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect_scan(db, want, 6);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_true(file_contains(dir, "OPTIONS", "compaction_filter=test.first-byte"));
  assert_true(file_contains(dir, "LOG", "compaction filter: 2 removed, 1 changed"));
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  expect_scan(db, want, 6);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* An older value at L2, a newer one the filter removes compacted into L1: the removal must
 * leave a tombstone, or the old value would be read again. */
static void test_remove_hides_deeper_version(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = filter_options();
  o.level0_compaction_trigger = 100; /* only the test compacts */
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put(db, "k", "old");
  put(db, "other", "o1");
  assert_int_equal(shale_flush(db), SHALE_OK);
  compact_level(db, 0, 1);
  compact_level(db, 1, 2);
  assert_int_equal(files_at(db, 2), 1);
  put(db, "k", "xnew");
  assert_int_equal(shale_flush(db), SHALE_OK);
  compact_level(db, 0, 1);
  assert_int_equal(files_at(db, 1), 1);
  assert_int_equal(files_at(db, 2), 1);
  expect(db, NULL, "k", NULL);
  const char *want[] = {"other", "o1"};
  expect_scan(db, want, 2);
  /* Down to the bottom: the tombstone and the old value both go. */
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, NULL, "k", NULL);
  expect_scan(db, want, 2);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  expect(db, NULL, "k", NULL);
  expect_scan(db, want, 2);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_snapshot_reads_unchanged(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = filter_options();
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put(db, "a", "xa");      /* visible to the snapshot: kept */
  put(db, "b", "cb");      /* likewise, not changed */
  put(db, "c", "plain-c"); /* rewritten after the snapshot: the old value stays for it */
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  put(db, "c", "xc");
  put(db, "d", "cd"); /* newer than the snapshot: filtered */
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, snap, "a", "xa");
  expect(db, snap, "b", "cb");
  expect(db, snap, "c", "plain-c");
  expect(db, snap, "d", NULL);
  expect(db, NULL, "a", "xa");
  expect(db, NULL, "b", "cb");
  expect(db, NULL, "c", NULL);
  expect(db, NULL, "d", "Cd");
  shale_snapshot_free(db, snap);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  const char *want[] = {"b", "Cb", "d", "Cd"};
  expect_scan(db, want, 4);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* A snapshot taken after the merge judged the values and before the install could read the
 * inputs first and the outputs after: the compaction must be redone with it known. */
static const shale_snapshot *late_snap;
static void take_snapshot_hook(shale_db *db, test_hook_point p) {
  if (p == HOOK_COMPACTION_OUTPUT_SYNCED && !late_snap)
    assert_int_equal(shale_snapshot_new(db, &late_snap), SHALE_OK);
}

static void test_snapshot_taken_during_compaction(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = filter_options();
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put(db, "a", "xa");
  put(db, "b", "cb");
  assert_int_equal(shale_flush(db), SHALE_OK);
  late_snap = NULL;
  atomic_store(&shale_test_hook, take_snapshot_hook);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  atomic_store(&shale_test_hook, NULL);
  assert_non_null(late_snap);
  assert_true(file_contains(dir, "LOG", "compaction redone"));
  expect(db, late_snap, "a", "xa");
  expect(db, late_snap, "b", "cb");
  shale_snapshot_free(db, late_snap);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  expect(db, NULL, "a", NULL);
  expect(db, NULL, "b", "Cb");
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- crash and reopen ---- */

#define CRASH_KEYS 3000

/* Key i's value: every third expires, every third changes. Keys at and past half are
 * written again (their second value a plain one for odd i), after the flush, so they live
 * in the WAL only when the child dies. */
static void crash_kv(int i, int second, char *k, char *v) {
  snprintf(k, 32, "key%06d", i);
  static const char kinds[] = {'x', 'c', 'p'};
  snprintf(v, 32, "%c%s-%06d", second && i % 2 ? 'p' : kinds[i % 3], second ? "2" : "1", i);
}

static void write_crash_data(shale_db *db) {
  char k[32], v[32];
  for (int i = 0; i < CRASH_KEYS; i++) crash_kv(i, 0, k, v), put(db, k, v);
  assert_int_equal(shale_flush(db), SHALE_OK);
  for (int i = CRASH_KEYS / 2; i < CRASH_KEYS; i++) crash_kv(i, 1, k, v), put(db, k, v);
}

/* What a get of key i returns once everything was compacted through the filter. */
static const char *crash_expected(int i, char *v) {
  crash_kv(i, i >= CRASH_KEYS / 2, v + 32, v);
  if (v[0] == 'x') return NULL;
  if (v[0] == 'c') v[0] = 'C';
  return v;
}

static void die_at_output_synced(shale_db *db, test_hook_point p) {
  (void)db;
  if (p == HOOK_COMPACTION_OUTPUT_SYNCED) raise(SIGKILL);
}

static void check_crash_contents(shale_db *db) {
  char k[32], v[64];
  for (int i = 0; i < CRASH_KEYS; i++) {
    snprintf(k, sizeof k, "key%06d", i);
    expect(db, NULL, k, crash_expected(i, v));
  }
}

static void test_filter_across_crash(void **state) {
  (void)state;
  char *dir = tu_tempdir(), *ref = tu_tempdir();
  shale_options o = filter_options();
  o.level0_compaction_trigger = 100;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    shale_db *db;
    if (shale_open(dir, &o, &db)) _exit(3);
    write_crash_data(db);
    atomic_store(&shale_test_hook, die_at_output_synced);
    compact_level(db, 0, 1); /* the second half still only in the memtable and WAL */
    _exit(4);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  check_crash_contents(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  /* Reopen, with the unflushed half replayed from the WAL: close without compacting. */
  shale_db *r;
  assert_int_equal(shale_open(ref, &o, &r), SHALE_OK);
  write_crash_data(r);
  assert_int_equal(shale_close(r), SHALE_OK);
  assert_int_equal(shale_open(ref, &o, &r), SHALE_OK);
  assert_int_equal(shale_compact_range(r, NULL, 0, NULL, 0), SHALE_OK);
  check_crash_contents(r);
  /* The two DBs hold the same keys and values. */
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  shale_iter *a, *b;
  assert_int_equal(shale_iter_new(db, NULL, &a), SHALE_OK);
  assert_int_equal(shale_iter_new(r, NULL, &b), SHALE_OK);
  size_t n = 0;
  for (shale_iter_seek_first(a), shale_iter_seek_first(b); shale_iter_valid(a);
       shale_iter_next(a), shale_iter_next(b), n++) {
    assert_true(shale_iter_valid(b));
    size_t al, bl, avl, bvl;
    const void *ak = shale_iter_key(a, &al), *bk = shale_iter_key(b, &bl);
    const void *av = shale_iter_value(a, &avl), *bv = shale_iter_value(b, &bvl);
    assert_true(al == bl && !memcmp(ak, bk, al) && avl == bvl && !memcmp(av, bv, avl));
  }
  assert_false(shale_iter_valid(b));
  assert_true(n > CRASH_KEYS / 2 && n < CRASH_KEYS);
  shale_iter_free(a);
  shale_iter_free(b);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_close(r), SHALE_OK);
  tu_tempdir_free(dir);
  tu_tempdir_free(ref);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getenv("SHALE_TEST_FILTER")) cmocka_set_test_filter(getenv("SHALE_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      /* first: the child forks before this process has used the engine */
      cmocka_unit_test(test_filter_across_crash),
      cmocka_unit_test(test_keep_remove_change),
      cmocka_unit_test(test_remove_hides_deeper_version),
      cmocka_unit_test(test_snapshot_reads_unchanged),
      cmocka_unit_test(test_snapshot_taken_during_compaction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
