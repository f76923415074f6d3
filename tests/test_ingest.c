/* test_ingest.c — external tables (shale_sst_writer_*) and shale_ingest: the round trip
 * through every read path, level placement, the memtable flush an overlap forces, atomicity
 * for readers and snapshots (also under concurrent writes), bad inputs that must change
 * nothing, kill -9 during ingest, and reopen. SHALE_CRASH_CYCLES sets the kill cycles
 * (default 20). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_hooks.h"
#include "shale.h"
#include "testutil.h"

/* From tu_options_init: the fault env carries the crash points to shale_test_hook, and
 * SHALE_IO / SHALE_MMAP become the options. */
static shale_options small_opts(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 1u << 20;
  o.block_cache_size = 1u << 20;
  o.block_size = 1024;
  return o;
}

static void key_of(char *k, const char *prefix, int i) { sprintf(k, "%s%06d", prefix, i); }

/* Writes keys prefix000000.. (every step-th of [from, to)) with value "<tag>:<key>" into
 * path; every del_every-th one (0: none) is a delete instead. */
static void write_sst(const char *path, const char *prefix, int from, int to, int step,
                      const char *tag, int del_every) {
  shale_options o = small_opts();
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(path, &o, &w), SHALE_OK);
  char k[64], v[128];
  for (int i = from; i < to; i += step) {
    key_of(k, prefix, i);
    if (del_every && i % del_every == 0) {
      assert_int_equal(shale_sst_writer_delete(w, k, strlen(k)), SHALE_OK);
    } else {
      int n = snprintf(v, sizeof v, "%s:%s", tag, k);
      assert_int_equal(shale_sst_writer_put(w, k, strlen(k), v, (size_t)n), SHALE_OK);
    }
  }
  shale_sst_info info;
  assert_int_equal(shale_sst_writer_finish(w, &info), SHALE_OK);
  assert_int_equal(info.file_size, tu_file_size(path));
}

static int ingest1(shale_db *db, const char *path, unsigned flags) {
  const char *files[1] = {path};
  return shale_ingest(db, files, 1, flags);
}

/* The value of key at snap, "" when absent. */
static void get_str(shale_db *db, const shale_snapshot *snap, const char *key, char *out,
                    size_t cap) {
  void *v;
  size_t vl;
  int rc = shale_get(db, snap, key, strlen(key), &v, &vl);
  out[0] = 0;
  if (rc == SHALE_NOTFOUND) return;
  assert_int_equal(rc, SHALE_OK);
  snprintf(out, cap, "%.*s", (int)vl, (char *)v);
  shale_free(v);
}

static void expect(shale_db *db, const shale_snapshot *snap, const char *key, const char *want) {
  char got[256];
  get_str(db, snap, key, got, sizeof got);
  if (strcmp(got, want)) fail_msg("key %s: got \"%s\", want \"%s\"", key, got, want);
}

static int count_keys(shale_db *db, const shale_snapshot *snap, int backward) {
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, &ro, &it), SHALE_OK);
  int n = 0;
  if (backward)
    for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) n++;
  else
    for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  return n;
}

/* Level of the live file holding user key, or -1 (the newest such file: smallest level). */
static int level_of(shale_db *db, const char *key) {
  shale_live_file *lf;
  size_t n;
  assert_int_equal(shale_live_files(db, &lf, &n), SHALE_OK);
  int level = -1;
  size_t kl = strlen(key);
  for (size_t i = 0; i < n; i++) {
    const shale_live_file *f = &lf[i];
    size_t sl = f->smallest_len < kl ? f->smallest_len : kl;
    size_t ll = f->largest_len < kl ? f->largest_len : kl;
    int ge = memcmp(key, f->smallest, sl) > 0 ||
             (!memcmp(key, f->smallest, sl) && kl >= f->smallest_len);
    int le =
        memcmp(key, f->largest, ll) < 0 || (!memcmp(key, f->largest, ll) && kl <= f->largest_len);
    if (ge && le && (level < 0 || f->level < level)) level = f->level;
  }
  shale_live_files_free(lf);
  return level;
}

static uint64_t sequence(shale_db *db) {
  char *s;
  assert_int_equal(shale_property(db, "shale.sequence", &s), SHALE_OK);
  uint64_t v = strtoull(s, NULL, 10);
  shale_free(s);
  return v;
}

typedef struct fixture {
  char *dir, *dbdir;
  shale_db *db;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  f->dbdir = tu_path(f->dir, "db");
  shale_options o = small_opts();
  assert_int_equal(shale_open(f->dbdir, &o, &f->db), SHALE_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->db) assert_int_equal(shale_close(f->db), SHALE_OK);
  free(f->dbdir);
  tu_tempdir_free(f->dir);
  free(f);
  return 0;
}

/* ---- round trip ---- */

static void test_round_trip(void **state) {
  fixture *f = *state;
  char *sst = tu_path(f->dir, "a.sst");
  /* old data the file overrides, deletes and range-deletes */
  char k[64], want[128];
  for (int i = 0; i < 3000; i += 7) {
    key_of(k, "k", i);
    assert_int_equal(shale_put(f->db, k, strlen(k), "old", 3, 0), SHALE_OK);
  }
  assert_int_equal(shale_put(f->db, "r5", 2, "old", 3, 0), SHALE_OK);
  assert_int_equal(shale_flush(f->db), SHALE_OK);

  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(sst, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_delete_range(w, "r", 1, "s", 1), SHALE_OK); /* any order */
  for (int i = 0; i < 3000; i += 3) {
    key_of(k, "k", i);
    int n = snprintf(want, sizeof want, "new:%s", k);
    if (i % 9 == 0)
      assert_int_equal(shale_sst_writer_delete(w, k, strlen(k)), SHALE_OK);
    else
      assert_int_equal(shale_sst_writer_put(w, k, strlen(k), want, (size_t)n), SHALE_OK);
  }
  shale_sst_info info;
  assert_int_equal(shale_sst_writer_finish(w, &info), SHALE_OK);
  assert_int_equal(info.puts + info.deletes, 1000);
  assert_int_equal(info.deletes, 334);
  assert_int_equal(info.range_deletes, 1);

  uint64_t before = sequence(f->db);
  assert_int_equal(ingest1(f->db, sst, 0), SHALE_OK);
  assert_true(tu_file_size(sst) > 0); /* copy mode leaves it */
  assert_int_equal(sequence(f->db), before + 1);
  expect(f->db, NULL, "r5", "");
  int live = 0;
  for (int i = 0; i < 3000; i++) {
    key_of(k, "k", i);
    if (i % 3 == 0 && i % 9 != 0)
      snprintf(want, sizeof want, "new:%s", k);
    else if (i % 3 != 0 && i % 7 == 0)
      snprintf(want, sizeof want, "old");
    else
      want[0] = 0;
    live += want[0] != 0;
    expect(f->db, NULL, k, want);
  }
  assert_int_equal(count_keys(f->db, NULL, 0), live);
  assert_int_equal(count_keys(f->db, NULL, 1), live);

  /* seek lands on an ingested key and on a deleted one */
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  shale_iter_seek(it, "k000003", 7);
  assert_true(shale_iter_valid(it));
  size_t kl;
  const void *key = shale_iter_key(it, &kl);
  assert_memory_equal(key, "k000003", 7);
  shale_iter_seek(it, "k000009", 7); /* deleted by the file: next live is k000012 */
  key = shale_iter_key(it, &kl);
  assert_memory_equal(key, "k000012", 7);
  shale_iter_seek_for_prev(it, "k000009", 7); /* k000007 "old" survives */
  key = shale_iter_key(it, &kl);
  assert_memory_equal(key, "k000007", 7);
  shale_iter_free(it);

  const char *keys[3] = {"k000003", "k000009", "k000014"};
  size_t klens[3] = {7, 7, 7}, vlens[3];
  void *vals[3];
  int rcs[3];
  assert_int_equal(
      shale_multi_get(f->db, NULL, 3, (const void *const *)keys, klens, vals, vlens, rcs),
      SHALE_OK);
  assert_int_equal(rcs[0], SHALE_OK);
  assert_memory_equal(vals[0], "new:k000003", 11);
  assert_int_equal(rcs[1], SHALE_NOTFOUND);
  assert_int_equal(rcs[2], SHALE_OK);
  assert_memory_equal(vals[2], "old", 3);
  for (int i = 0; i < 3; i++) shale_free(vals[i]);

  /* compaction keeps the answers */
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  expect(f->db, NULL, "k000003", "new:k000003");
  expect(f->db, NULL, "k000009", "");
  expect(f->db, NULL, "k000007", "old");
  assert_int_equal(count_keys(f->db, NULL, 0), live);
  free(sst);
}

/* ---- placement ---- */

static void test_placement(void **state) {
  fixture *f = *state;
  char *a = tu_path(f->dir, "a.sst"), *b = tu_path(f->dir, "b.sst"), *c = tu_path(f->dir, "c.sst");
  write_sst(a, "k", 0, 1000, 1, "a", 0);
  assert_int_equal(ingest1(f->db, a, 0), SHALE_OK);
  assert_int_equal(level_of(f->db, "k000500"), 6); /* nothing anywhere: the last level */
  write_sst(b, "k", 100, 200, 1, "b", 0);
  assert_int_equal(ingest1(f->db, b, 0), SHALE_OK);
  assert_int_equal(level_of(f->db, "k000150"), 5); /* just above what it overlaps */
  write_sst(c, "k", 150, 160, 1, "c", 0);
  assert_int_equal(ingest1(f->db, c, 0), SHALE_OK);
  assert_int_equal(level_of(f->db, "k000155"), 4);
  expect(f->db, NULL, "k000155", "c:k000155");
  expect(f->db, NULL, "k000170", "b:k000170");
  expect(f->db, NULL, "k000900", "a:k000900");

  /* A memtable away from the file's range stays; one inside it is flushed first, and the
   * file then overlaps L0. */
  uint64_t flushes = shale_ticker(f->db, SHALE_TICKER_FLUSHES);
  assert_int_equal(shale_put(f->db, "z", 1, "mem", 3, 0), SHALE_OK);
  write_sst(a, "m", 0, 10, 1, "m", 0);
  assert_int_equal(ingest1(f->db, a, 0), SHALE_OK);
  assert_int_equal(shale_ticker(f->db, SHALE_TICKER_FLUSHES), flushes);
  assert_int_equal(level_of(f->db, "m000005"), 6);

  assert_int_equal(shale_put(f->db, "k000155", 7, "mem", 3, 0), SHALE_OK);
  write_sst(b, "k", 150, 156, 1, "d", 0);
  assert_int_equal(ingest1(f->db, b, 0), SHALE_OK);
  assert_int_equal(shale_ticker(f->db, SHALE_TICKER_FLUSHES), flushes + 1);
  assert_int_equal(level_of(f->db, "k000152"), 0);
  expect(f->db, NULL, "k000155", "d:k000155"); /* the file is newer than the memtable */
  expect(f->db, NULL, "k000157", "c:k000157");
  expect(f->db, NULL, "z", "mem");

  /* a range delete in the memtable overlaps too */
  flushes = shale_ticker(f->db, SHALE_TICKER_FLUSHES);
  assert_int_equal(shale_delete_range(f->db, "x0", 2, "x9", 2, 0), SHALE_OK);
  write_sst(c, "x5", 0, 3, 1, "x", 0);
  assert_int_equal(ingest1(f->db, c, 0), SHALE_OK);
  assert_int_equal(shale_ticker(f->db, SHALE_TICKER_FLUSHES), flushes + 1);
  expect(f->db, NULL, "x5000001", "x:x5000001"); /* newer than the range delete */
  free(a);
  free(b);
  free(c);
}

/* ---- atomicity for readers ---- */

static void test_multi_file_atomic(void **state) {
  fixture *f = *state;
  char *p[3];
  const char *files[3];
  for (int i = 0; i < 3; i++) {
    char name[16], prefix[4] = {(char)('a' + i), 0};
    sprintf(name, "%d.sst", i);
    files[i] = p[i] = tu_path(f->dir, name);
    write_sst(p[i], prefix, 0, 500, 1, "v", 0);
  }
  assert_int_equal(shale_put(f->db, "b000001", 7, "old", 3, 0), SHALE_OK);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(f->db, &snap), SHALE_OK);
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  assert_int_equal(shale_ingest(f->db, files, 3, SHALE_INGEST_MOVE), SHALE_OK);
  for (int i = 0; i < 3; i++) assert_int_equal(tu_file_size(p[i]), -1); /* moved */
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(n, 1); /* the iterator made before sees none of it */
  shale_iter_free(it);
  assert_int_equal(count_keys(f->db, snap, 0), 1);
  expect(f->db, snap, "b000001", "old");
  expect(f->db, snap, "a000001", "");
  assert_int_equal(count_keys(f->db, NULL, 0), 1500);
  assert_int_equal(count_keys(f->db, NULL, 1), 1500);
  expect(f->db, NULL, "b000001", "v:b000001");
  shale_snapshot_free(f->db, snap);
  for (int i = 0; i < 3; i++) free(p[i]);
}

typedef struct writer_arg {
  shale_db *db;
  _Atomic int stop;
  int written;
} writer_arg;

static void *writer_thread(void *p) {
  writer_arg *a = p;
  uint64_t rng = 42;
  char k[32];
  while (!atomic_load(&a->stop)) {
    key_of(k, "k", (int)(tu_rand(&rng) % 2000));
    assert_int_equal(shale_put(a->db, k, strlen(k), "w", 1, 0), SHALE_OK);
    a->written++;
  }
  return NULL;
}

static void test_snapshot_exact_concurrent(void **state) {
  fixture *f = *state;
  char *sst = tu_path(f->dir, "c.sst");
  writer_arg a = {f->db, 0, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_thread, &a), 0);
  for (int round = 0; round < 5; round++) {
    char tag[8];
    sprintf(tag, "f%d", round);
    write_sst(sst, "k", 0, 2000, 1, tag, 0);
    const shale_snapshot *before, *after;
    assert_int_equal(shale_snapshot_new(f->db, &before), SHALE_OK);
    assert_int_equal(ingest1(f->db, sst, SHALE_INGEST_MOVE), SHALE_OK);
    assert_int_equal(shale_snapshot_new(f->db, &after), SHALE_OK);
    char k[32], got[64];
    int from_file = 0;
    for (int i = 0; i < 2000; i++) {
      key_of(k, "k", i);
      get_str(f->db, before, k, got, sizeof got);
      if (!strncmp(got, tag, strlen(tag))) fail_msg("%s: the snapshot before saw %s", k, got);
      get_str(f->db, after, k, got, sizeof got);
      assert_true(got[0] != 0); /* the file's value, or a put made after the ingest */
      from_file += !strncmp(got, tag, strlen(tag));
    }
    assert_true(from_file > 0);
    assert_int_equal(count_keys(f->db, after, 0), 2000);
    shale_snapshot_free(f->db, before);
    shale_snapshot_free(f->db, after);
  }
  atomic_store(&a.stop, 1);
  pthread_join(t, NULL);
  assert_true(a.written > 0);
  free(sst);
}

/* Two threads ingest pairs of files while a reader walks: every walk sees each pair whole
 * or not at all. */
#define PAIR_ROUNDS 6
#define PAIR_KEYS 200

typedef struct pair_arg {
  fixture *f;
  int id;
} pair_arg;

static void *ingest_pairs(void *p) {
  pair_arg *a = p;
  for (int r = 0; r < PAIR_ROUNDS; r++) {
    char prefix[2][16], name[2][32], *path[2];
    for (int i = 0; i < 2; i++) {
      snprintf(prefix[i], sizeof prefix[i], "p%d_%02d_%d_", a->id, r, i);
      snprintf(name[i], sizeof name[i], "p%d_%d_%d.sst", a->id, r, i);
      path[i] = tu_path(a->f->dir, name[i]);
      write_sst(path[i], prefix[i], 0, PAIR_KEYS, 1, "v", 0);
    }
    const char *files[2] = {path[0], path[1]};
    assert_int_equal(shale_ingest(a->f->db, files, 2, r % 2 ? SHALE_INGEST_MOVE : 0), SHALE_OK);
    free(path[0]);
    free(path[1]);
  }
  return NULL;
}

static void test_concurrent_ingests_atomic(void **state) {
  fixture *f = *state;
  pthread_t t[2];
  pair_arg args[2] = {{f, 0}, {f, 1}};
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, ingest_pairs, &args[i]), 0);
  int walks = 0, total = 0;
  while (total < 2 * PAIR_ROUNDS * 2 * PAIR_KEYS) {
    int count[2][PAIR_ROUNDS] = {{0}};
    shale_iter *it;
    assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
    total = 0;
    for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it), total++) {
      size_t kl;
      const char *k = shale_iter_key(it, &kl);
      count[k[1] - '0'][(k[3] - '0') * 10 + (k[4] - '0')]++;
    }
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    shale_iter_free(it);
    for (int id = 0; id < 2; id++)
      for (int r = 0; r < PAIR_ROUNDS; r++)
        if (count[id][r] != 0 && count[id][r] != 2 * PAIR_KEYS)
          fail_msg("walk %d: pair %d/%d half seen (%d keys)", walks, id, r, count[id][r]);
    walks++;
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_true(walks >= 1);
}

/* One background thread that keeps sealing for a delete deadline queues behind the ingest
 * as a writer: the ingest must flush the overlapping memtable itself, not wait for it. */
static void test_flush_with_one_busy_background_thread(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o = small_opts();
  o.max_background_jobs = 1;
  o.delete_persist_seconds = 0.02;
  assert_int_equal(shale_open(f->dbdir, &o, &f->db), SHALE_OK);
  char *sst = tu_path(f->dir, "d.sst");
  for (int round = 0; round < 30; round++) {
    char tag[8], k[32];
    snprintf(tag, sizeof tag, "r%d", round);
    key_of(k, "k", round);
    assert_int_equal(shale_delete(f->db, k, strlen(k), 0), SHALE_OK);
    usleep((useconds_t)(round % 5) * 1000);
    write_sst(sst, "k", 0, 50, 1, tag, 0);
    assert_int_equal(ingest1(f->db, sst, SHALE_INGEST_MOVE), SHALE_OK);
    char want[64];
    snprintf(want, sizeof want, "%s:%s", tag, k);
    expect(f->db, NULL, k, want);
  }
  free(sst);
}

/* ---- bad inputs ---- */

/* Everything a failed ingest must leave as it was. */
typedef struct db_state {
  uint64_t seq;
  int tables; /* stray ones: see stray_tables */
  int keys;
} db_state;

static int live_file_count(shale_db *db) {
  shale_live_file *lf;
  size_t n;
  assert_int_equal(shale_live_files(db, &lf, &n), SHALE_OK);
  shale_live_files_free(lf);
  return (int)n;
}

/* tables: files in the directory that no version lists (left behind by a failed ingest);
 * compactions running meanwhile may change the live ones, and unlink what they replace a
 * moment after they install, so this waits up to a second for the count to settle at 0. */
static int stray_tables(shale_db *db, const char *dir) {
  int stray = 0;
  for (int i = 0; i < 100; i++) {
    stray = tu_count_suffix(dir, ".sst") - live_file_count(db);
    if (stray == 0) break;
    usleep(10000);
  }
  return stray;
}

static db_state state_of(fixture *f) {
  db_state s = {sequence(f->db), stray_tables(f->db, f->dbdir), count_keys(f->db, NULL, 0)};
  return s;
}

static void expect_unchanged_at(fixture *f, db_state s, int line) {
  db_state now = state_of(f);
  if (now.seq != s.seq || now.tables != s.tables || now.keys != s.keys)
    fail_msg("line %d: sequence %" PRIu64 " tables %d keys %d, were %" PRIu64 " %d %d", line,
             now.seq, now.tables, now.keys, s.seq, s.tables, s.keys);
}
#define expect_unchanged(f, s) expect_unchanged_at(f, s, __LINE__)

static void test_writer_rejects_unsorted(void **state) {
  fixture *f = *state;
  char *sst = tu_path(f->dir, "u.sst");
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(sst, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_put(w, "b", 1, "1", 1), SHALE_OK);
  assert_int_equal(shale_sst_writer_put(w, "a", 1, "1", 1), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "strictly increasing"));
  assert_int_equal(tu_file_size(sst), -1); /* no file left behind */
  assert_int_equal(shale_sst_writer_put(w, "c", 1, "1", 1), SHALE_INVALID); /* dead */
  assert_int_equal(shale_sst_writer_finish(w, NULL), SHALE_INVALID);
  assert_int_equal(tu_file_size(sst), -1);

  assert_int_equal(shale_sst_writer_open(sst, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_put(w, "b", 1, "1", 1), SHALE_OK);
  assert_int_equal(shale_sst_writer_delete(w, "b", 1), SHALE_INVALID); /* equal keys too */
  shale_sst_writer_abandon(w);
  assert_int_equal(tu_file_size(sst), -1);

  assert_int_equal(shale_sst_writer_open(sst, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_delete_range(w, "b", 1, "a", 1), SHALE_INVALID);
  assert_int_equal(shale_sst_writer_put(w, NULL, 3, "1", 1), SHALE_INVALID);
  assert_int_equal(shale_sst_writer_put(w, "a", 1, "1", 1), SHALE_OK); /* still usable */
  shale_sst_writer_abandon(w);
  assert_int_equal(tu_file_size(sst), -1);

  assert_int_equal(shale_sst_writer_open(sst, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_finish(w, NULL), SHALE_INVALID); /* empty */
  assert_int_equal(tu_file_size(sst), -1);
  assert_int_equal(shale_sst_writer_open(NULL, NULL, &w), SHALE_INVALID);
  shale_sst_writer_abandon(NULL);
  free(sst);
}

static void test_bad_inputs_change_nothing(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_put(f->db, "k000005", 7, "old", 3, 0), SHALE_OK);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  assert_int_equal(shale_put(f->db, "k000006", 7, "mem", 3, 0), SHALE_OK);
  db_state s = state_of(f);
  char *a = tu_path(f->dir, "a.sst"), *b = tu_path(f->dir, "b.sst"), *c = tu_path(f->dir, "c.sst");
  write_sst(a, "k", 0, 100, 1, "a", 0);
  write_sst(b, "k", 50, 150, 1, "b", 0);
  const char *both[2] = {a, b};
  assert_int_equal(shale_ingest(f->db, both, 2, 0), SHALE_INVALID); /* overlapping files */
  assert_non_null(strstr(shale_errmsg(f->db), "overlap"));
  expect_unchanged(f, s);
  const char *twice[2] = {a, a};
  assert_int_equal(shale_ingest(f->db, twice, 2, SHALE_INGEST_MOVE), SHALE_INVALID);
  assert_true(tu_file_size(a) > 0);
  expect_unchanged(f, s);

  /* touching ranges do not overlap: [x, y000000) then y000000.. */
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(c, NULL, &w), SHALE_OK);
  assert_int_equal(shale_sst_writer_delete_range(w, "x", 1, "y000000", 7), SHALE_OK);
  assert_int_equal(shale_sst_writer_finish(w, NULL), SHALE_OK);
  write_sst(b, "y", 0, 3, 1, "y", 0);
  const char *touch[2] = {b, c};
  assert_int_equal(shale_ingest(f->db, touch, 2, 0), SHALE_OK);
  expect(f->db, NULL, "y000001", "y:y000001");
  s = state_of(f);

  /* a table of the DB itself (format 4) is not an external table */
  char *dbsst = NULL;
  shale_live_file *lf;
  size_t n;
  assert_int_equal(shale_live_files(f->db, &lf, &n), SHALE_OK);
  char name[32] = "";
  for (size_t i = 0; i < n; i++) /* the flushed one: the ingested ones are external */
    if (lf[i].level == 0) snprintf(name, sizeof name, "%06" PRIu64 ".sst", lf[i].number);
  shale_live_files_free(lf);
  assert_true(name[0]);
  char *src = tu_path(f->dbdir, name);
  dbsst = tu_path(f->dir, "foreign.sst");
  assert_int_equal(tu_copy_file(src, dbsst), 0);
  assert_int_equal(ingest1(f->db, dbsst, 0), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(f->db), "not an external table"));
  expect_unchanged(f, s);

  /* not an SSTable at all */
  FILE *fp = fopen(c, "w");
  for (int i = 0; i < 100; i++) fputs("this is a text file, not a table\n", fp);
  fclose(fp);
  assert_int_equal(ingest1(f->db, c, 0), SHALE_CORRUPTION);
  expect_unchanged(f, s);

  /* truncated, and damaged in a data block; the good file beside it is not ingested either */
  write_sst(a, "t", 0, 500, 1, "t", 0);
  assert_int_equal(tu_copy_file(a, c), 0);
  assert_int_equal(tu_truncate(c, tu_file_size(c) - 10), 0);
  assert_int_equal(ingest1(f->db, c, 0), SHALE_CORRUPTION);
  expect_unchanged(f, s);
  assert_int_equal(tu_copy_file(a, c), 0);
  assert_int_equal(tu_flip_bit(c, 100, 3), 0);
  write_sst(b, "u", 0, 10, 1, "u", 0);
  const char *pair[2] = {b, c};
  assert_int_equal(shale_ingest(f->db, pair, 2, SHALE_INGEST_MOVE), SHALE_CORRUPTION);
  assert_true(tu_file_size(b) > 0);
  expect_unchanged(f, s);
  expect(f->db, NULL, "u000001", "");

  /* missing file, NULL and bad arguments */
  char *missing = tu_path(f->dir, "missing.sst");
  assert_int_equal(ingest1(f->db, missing, 0), SHALE_IOERR);
  assert_int_equal(shale_ingest(f->db, NULL, 1, 0), SHALE_INVALID);
  assert_int_equal(shale_ingest(f->db, pair, 0, 0), SHALE_INVALID);
  assert_int_equal(shale_ingest(f->db, pair, 1, 0x80), SHALE_INVALID);
  assert_int_equal(shale_ingest(NULL, pair, 1, 0), SHALE_INVALID);
  const char *null_file[1] = {NULL};
  assert_int_equal(shale_ingest(f->db, null_file, 1, 0), SHALE_INVALID);
  expect_unchanged(f, s);
  expect(f->db, NULL, "k000005", "old");
  expect(f->db, NULL, "k000006", "mem");
  free(missing);
  free(src);
  free(dbsst);
  free(a);
  free(b);
  free(c);
}

/* ---- move mode and shared files ---- */

/* The global sequence field of an external table: the 8 bytes 104 from the end. */
static uint64_t global_seq_of(const char *path) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  uint8_t b[8];
  assert_int_equal(fseek(fp, -104, SEEK_END), 0);
  assert_int_equal(fread(b, 1, 8, fp), 8);
  fclose(fp);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

static void test_move_never_writes_a_shared_file(void **state) {
  fixture *f = *state;
  char *a = tu_path(f->dir, "a.sst"), *other = tu_path(f->dir, "other.sst");
  write_sst(a, "k", 0, 100, 1, "a", 0);
  assert_int_equal(link(a, other), 0); /* a second name: the file is copied, not linked */
  assert_int_equal(ingest1(f->db, a, SHALE_INGEST_MOVE), SHALE_OK);
  assert_int_equal(tu_file_size(a), -1);
  assert_true(global_seq_of(other) == 0);
  expect(f->db, NULL, "k000001", "a:k000001");

  /* A move whose process died after the commit, before removing the source, leaves the
   * source as a second name of a live table: ingesting it again must not touch that table. */
  write_sst(a, "m", 0, 100, 1, "m", 0);
  assert_int_equal(ingest1(f->db, a, SHALE_INGEST_MOVE), SHALE_OK);
  shale_live_file *lf;
  size_t n;
  assert_int_equal(shale_live_files(f->db, &lf, &n), SHALE_OK);
  char name[32] = "";
  uint64_t seq = 0;
  for (size_t i = 0; i < n; i++)
    if (lf[i].smallest_len == 7 && !memcmp(lf[i].smallest, "m000000", 7)) {
      snprintf(name, sizeof name, "%06" PRIu64 ".sst", lf[i].number);
      seq = lf[i].max_seq;
    }
  shale_live_files_free(lf);
  char *table = tu_path(f->dbdir, name);
  assert_true(global_seq_of(table) == seq);
  assert_int_equal(link(table, a), 0);
  assert_int_equal(shale_put(f->db, "m000001", 7, "later", 5, 0), SHALE_OK);
  assert_int_equal(ingest1(f->db, a, SHALE_INGEST_MOVE), SHALE_OK);
  assert_true(global_seq_of(table) == seq);    /* the live table keeps its sequence */
  expect(f->db, NULL, "m000001", "m:m000001"); /* the second ingest is newer than the put */

  /* moving a file out of the DB's own directory is refused */
  assert_int_equal(ingest1(f->db, table, SHALE_INGEST_MOVE), SHALE_INVALID);
  assert_true(tu_file_size(table) > 0);
  free(table);
  free(a);
  free(other);
}

/* ---- reopen ---- */

static void test_reopen_keeps_data_and_sequence(void **state) {
  fixture *f = *state;
  char *sst = tu_path(f->dir, "r.sst");
  assert_int_equal(shale_put(f->db, "a", 1, "1", 1, 0), SHALE_OK);
  write_sst(sst, "k", 0, 300, 1, "f", 0);
  assert_int_equal(ingest1(f->db, sst, SHALE_INGEST_MOVE), SHALE_OK);
  uint64_t seq = sequence(f->db);
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o = small_opts();
  assert_int_equal(shale_open(f->dbdir, &o, &f->db), SHALE_OK);
  assert_true(sequence(f->db) >= seq);
  expect(f->db, NULL, "k000010", "f:k000010");
  expect(f->db, NULL, "a", "1");
  assert_int_equal(shale_put(f->db, "k000010", 7, "after", 5, 0), SHALE_OK);
  assert_int_equal(shale_delete(f->db, "k000011", 7, 0), SHALE_OK);
  expect(f->db, NULL, "k000010", "after");
  expect(f->db, NULL, "k000011", "");
  assert_int_equal(shale_close(f->db), SHALE_OK);
  assert_int_equal(shale_open(f->dbdir, &o, &f->db), SHALE_OK);
  expect(f->db, NULL, "k000010", "after");
  expect(f->db, NULL, "k000011", "");
  expect(f->db, NULL, "k000012", "f:k000012");
  assert_int_equal(count_keys(f->db, NULL, 0), 300);

  /* a read-only handle refuses, and leaves the file where it was */
  assert_int_equal(shale_close(f->db), SHALE_OK);
  o.read_only = 1;
  assert_int_equal(shale_open(f->dbdir, &o, &f->db), SHALE_OK);
  write_sst(sst, "z", 0, 10, 1, "z", 0);
  assert_int_equal(ingest1(f->db, sst, SHALE_INGEST_MOVE), SHALE_READONLY);
  assert_true(tu_file_size(sst) > 0);
  expect(f->db, NULL, "z000001", "");
  free(sst);
}

/* ---- kill -9 during ingest ---- */

#define CRASH_FILES 3
#define CRASH_KEYS 400

static int crash_cycles(void) {
  const char *s = getenv("SHALE_CRASH_CYCLES");
  int n = s ? atoi(s) : 20;
  return n < 1 ? 1 : n;
}

static int crash_point; /* the child kills itself there (0: the parent kills it) */

static void die_at(shale_db *db, test_hook_point p) {
  (void)db;
  if ((int)p == crash_point) kill(getpid(), SIGKILL);
}

static void crash_child(const char *dbdir, char *const *files, int wfd) {
  if (crash_point) atomic_store(&shale_test_hook, die_at);
  shale_options o = small_opts();
  shale_db *db;
  if (shale_open(dbdir, &o, &db)) _exit(3);
  char c = 'o';
  if (write(wfd, &c, 1) != 1) _exit(4); /* opened: the kill window starts */
  int rc = shale_ingest(db, (const char *const *)files, CRASH_FILES, SHALE_INGEST_MOVE);
  if (rc) {
    fprintf(stderr, "child: ingest failed: %s\n", shale_errmsg(db));
    _exit(5);
  }
  c = 'i';
  if (write(wfd, &c, 1) != 1) _exit(6);
  shale_close(db);
  _exit(0);
}

/* Returns 1 when the child acknowledged the ingest before it died. */
static int run_crash_child(const char *dbdir, char *const *files, useconds_t kill_after) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    crash_child(dbdir, files, fds[1]);
  }
  close(fds[1]);
  char c = 0;
  assert_int_equal(read(fds[0], &c, 1), 1);
  assert_int_equal(c, 'o');
  if (!crash_point) { /* else the child dies at its hook point */
    usleep(kill_after);
    kill(pid, SIGKILL);
  }
  int acked = read(fds[0], &c, 1) == 1 && c == 'i';
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    fail_msg("crash child failed on its own (exit %d)", WEXITSTATUS(status));
  if (crash_point) assert_true(WIFSIGNALED(status) && !acked); /* it reached the point */
  return acked;
}

static void test_kill_during_ingest(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  f->db = NULL;
  /* the children must not share an io_uring ring with the parent (not fork-safe) */
  char *io = getenv("SHALE_IO") ? strdup(getenv("SHALE_IO")) : NULL;
  setenv("SHALE_IO", "pwrite", 1);
  uint64_t rng = 7;
  int all = 0, none = 0, cycles = crash_cycles();
  shale_options o = small_opts();
  for (int cycle = 0; cycle < cycles; cycle++) {
    char *files[CRASH_FILES];
    char prefix[16];
    for (int i = 0; i < CRASH_FILES; i++) {
      char name[32];
      snprintf(name, sizeof name, "c%d_%d.sst", cycle, i);
      files[i] = tu_path(f->dir, name);
      snprintf(prefix, sizeof prefix, "c%03d_%d_", cycle, i);
      write_sst(files[i], prefix, 0, CRASH_KEYS, 1, "v", 0);
    }
    /* The first cycles die at each step of the ingest, the rest at a random time. */
    static const int points[] = {HOOK_INGEST_LINKED, HOOK_INGEST_SEALED,
                                 HOOK_INGEST_MANIFEST_SYNCED};
    crash_point = cycle < 3 ? points[cycle] : 0;
    int acked = run_crash_child(f->dbdir, files, (useconds_t)(tu_rand(&rng) % 6000));
    shale_db *db;
    assert_int_equal(shale_open(f->dbdir, &o, &db), SHALE_OK);
    int found = 0;
    char k[64], got[64], want[80];
    for (int i = 0; i < CRASH_FILES; i++)
      for (int j = 0; j < CRASH_KEYS; j++) {
        snprintf(prefix, sizeof prefix, "c%03d_%d_", cycle, i);
        key_of(k, prefix, j);
        get_str(db, NULL, k, got, sizeof got);
        if (got[0]) {
          snprintf(want, sizeof want, "v:%s", k);
          assert_string_equal(got, want);
          found++;
        }
      }
    if (found != 0 && found != CRASH_FILES * CRASH_KEYS)
      fail_msg("cycle %d: %d of %d keys after the crash: not all or none", cycle, found,
               CRASH_FILES * CRASH_KEYS);
    if (acked || crash_point == HOOK_INGEST_MANIFEST_SYNCED)
      assert_int_equal(found, CRASH_FILES * CRASH_KEYS);
    if (crash_point == HOOK_INGEST_LINKED || crash_point == HOOK_INGEST_SEALED)
      assert_int_equal(found, 0);
    all += found != 0;
    none += found == 0;
    /* tables of an ingest the crash cut short are gone after the open */
    shale_live_file *lf;
    size_t n;
    assert_int_equal(shale_live_files(db, &lf, &n), SHALE_OK);
    shale_live_files_free(lf);
    assert_int_equal(tu_count_suffix(f->dbdir, ".sst"), (int)n);
    assert_int_equal(shale_close(db), SHALE_OK);
    for (int i = 0; i < CRASH_FILES; i++) free(files[i]);
  }
  if (io)
    setenv("SHALE_IO", io, 1);
  else
    unsetenv("SHALE_IO");
  free(io);
  print_message("kill during ingest: %d cycles, %d with the files, %d without\n", cycles, all,
                none);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_placement, setup, teardown),
      cmocka_unit_test_setup_teardown(test_multi_file_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_exact_concurrent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_ingests_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flush_with_one_busy_background_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_rejects_unsorted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_inputs_change_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_move_never_writes_a_shared_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_ingest, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
