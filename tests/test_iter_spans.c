/* test_iter_spans.c — iterators over deleted runs and within bounds: dead spans are made
 * by walks over hidden keys and crossed in one seek afterwards (engine/dead_spans.h), and
 * they must never hide a key written after the walk that made them, in any layer, nor mislead
 * a snapshot older than them. Bounded iterators show exactly [lower, upper). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shale.h"
#include "testutil.h"

typedef struct fixture {
  char *dir;
  shale_db *db;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 256 << 10; /* the runs spread over memtables and tables */
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->db) assert_int_equal(shale_close(f->db), SHALE_OK);
  tu_tempdir_free(f->dir);
  free(f);
  return 0;
}

static int key(int i, char *k) { return snprintf(k, 16, "k%07d", i); }

static void put(shale_db *db, int i) {
  char k[16];
  int kl = key(i, k);
  assert_int_equal(shale_put(db, k, (size_t)kl, k, (size_t)kl, 0), SHALE_OK);
}

static void del(shale_db *db, int i) {
  char k[16];
  int kl = key(i, k);
  assert_int_equal(shale_delete(db, k, (size_t)kl, 0), SHALE_OK);
}

static uint64_t prop(shale_db *db, const char *name) {
  char *v;
  assert_int_equal(shale_property(db, name, &v), SHALE_OK);
  uint64_t n = strtoull(v, NULL, 10);
  shale_free(v);
  return n;
}

/* The key the iterator shows as an index, or -1 when it is not valid. */
static int at(shale_iter *it) {
  if (!shale_iter_valid(it)) return -1;
  size_t kl;
  const char *k = shale_iter_key(it, &kl);
  assert_int_equal(kl, 8);
  char digits[8]; /* the key is not NUL-terminated: what follows it may be digits too */
  memcpy(digits, k + 1, 7);
  digits[7] = 0;
  return atoi(digits);
}

static int first_key(shale_db *db, const shale_snapshot *snap) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, snap, &it), SHALE_OK);
  shale_iter_seek_first(it);
  int i = at(it);
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  return i;
}

static int seek_key(shale_db *db, const shale_snapshot *snap, int target, int backward) {
  shale_iter *it;
  char k[16];
  int kl = key(target, k);
  assert_int_equal(shale_iter_new(db, snap, &it), SHALE_OK);
  if (backward)
    shale_iter_seek_for_prev(it, k, (size_t)kl);
  else
    shale_iter_seek(it, k, (size_t)kl);
  int i = at(it);
  shale_iter_free(it);
  return i;
}

/* A queue drained from its head: every pop crosses what earlier pops left behind in one
 * jump, and pops see the right key as memtables flush and tables compact below them. */
static void test_queue_drain(void **state) {
  fixture *f = *state;
  const int n = 20000;
  for (int i = 0; i < n; i++) put(f->db, i);
  for (int i = 0; i < n; i++) {
    assert_int_equal(first_key(f->db, NULL), i);
    del(f->db, i);
    if (i == n / 3) assert_int_equal(shale_flush(f->db), SHALE_OK);
  }
  assert_int_equal(first_key(f->db, NULL), -1);
  uint64_t jumps = prop(f->db, "shale.dead-span-jumps");
  /* after the first RUN_MIN_HIDDEN pops each pop jumps; some jumps are lost to flushes only */
  assert_true(jumps > (uint64_t)n * 9 / 10);
  assert_true(prop(f->db, "shale.dead-spans") >= 1);
}

/* A put inside a run that a walk made into a span, after the walk, stays visible: the put
 * cuts the span before it becomes readable. The run's tombstones are flushed between the walk
 * and the put, so the put lands in a newer layer than the span's evidence. */
static void test_put_after_span_is_visible(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 1000; i++) put(f->db, i);
  for (int i = 0; i < 900; i++) del(f->db, i);
  assert_int_equal(first_key(f->db, NULL), 900); /* the walk that makes the span */
  assert_true(prop(f->db, "shale.dead-spans") >= 1);
  assert_int_equal(shale_flush(f->db), SHALE_OK); /* the tombstones move below the put */
  put(f->db, 450);
  assert_int_equal(first_key(f->db, NULL), 450);
  assert_int_equal(seek_key(f->db, NULL, 100, 0), 450);
  assert_int_equal(seek_key(f->db, NULL, 451, 0), 900);
  assert_int_equal(seek_key(f->db, NULL, 899, 1), 450);
  assert_int_equal(seek_key(f->db, NULL, 449, 1), -1);
  del(f->db, 450);
  assert_int_equal(first_key(f->db, NULL), 900);
  put(f->db, 0);
  assert_int_equal(first_key(f->db, NULL), 0);
}

/* A reader that started before a put walks the run after it: the reader must not see the
 * put, and must not leave a span that hides it from later readers. */
static void test_put_during_walk_is_visible(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 1000; i++) put(f->db, i);
  for (int i = 0; i < 900; i++) del(f->db, i);
  shale_iter *old;
  assert_int_equal(shale_iter_new(f->db, NULL, &old), SHALE_OK);
  put(f->db, 500); /* written after old's sequence, inside the run old is about to cross */
  shale_iter_seek_first(old);
  assert_int_equal(at(old), 900);
  shale_iter_prev(old);
  assert_int_equal(at(old), -1);
  shale_iter_free(old);
  assert_int_equal(first_key(f->db, NULL), 500);
  assert_int_equal(seek_key(f->db, NULL, 10, 0), 500);
  assert_int_equal(seek_key(f->db, NULL, 899, 1), 500);
}

/* A reader behind the writers keeps its span when the put log knows every put it missed:
 * the put inside the run is cut out of the span and stays visible to later readers. The
 * deletes run in descending order, so the write path makes no span of them itself. */
static void test_put_log_behind_reader(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 1000; i++) put(f->db, i);
  for (int i = 899; i >= 0; i--) del(f->db, i);
  shale_iter *warm;
  assert_int_equal(shale_iter_new(f->db, NULL, &warm), SHALE_OK);
  put(f->db, 2000); /* the log is not running yet: warm's span cannot be kept */
  shale_iter_seek_first(warm);
  assert_int_equal(at(warm), 900);
  assert_int_equal(prop(f->db, "shale.dead-spans"), 0);
  uint64_t jumps = prop(f->db, "shale.dead-span-jumps");
  char k[16];
  int kl = key(100, k);
  shale_iter_seek(warm, k, (size_t)kl); /* warm kept the span for itself */
  assert_int_equal(at(warm), 900);
  assert_true(prop(f->db, "shale.dead-span-jumps") > jumps);
  shale_iter_free(warm);

  shale_iter *old;
  assert_int_equal(shale_iter_new(f->db, NULL, &old), SHALE_OK);
  put(f->db, 500); /* after old's sequence, inside the run old is about to cross */
  put(f->db, 3000);
  shale_iter_seek_first(old);
  assert_int_equal(at(old), 900);
  shale_iter_free(old);
  assert_true(prop(f->db, "shale.dead-spans") >= 1); /* kept: the log knew both puts */
  assert_int_equal(first_key(f->db, NULL), 500);
  assert_int_equal(seek_key(f->db, NULL, 10, 0), 500);
  assert_int_equal(seek_key(f->db, NULL, 501, 0), 900);
  assert_int_equal(seek_key(f->db, NULL, 899, 1), 500);
  assert_int_equal(seek_key(f->db, NULL, 499, 1), -1);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  assert_int_equal(seek_key(f->db, NULL, 10, 0), 500);
}

/* A stack popped from its top while a producer writes below it: each pop's reader is one
 * write behind, yet pops cross what earlier pops deleted in one jump instead of stepping
 * over every one of them (which would be n * n / 2 steps). */
static void test_pops_behind_a_producer(void **state) {
  fixture *f = *state;
  const int n = 5000, base = 100000;
  for (int i = 0; i < n; i++) put(f->db, base + i);
  uint64_t stepped = prop(f->db, "shale.hidden-keys-stepped");
  for (int i = n - 1; i >= 0; i--) {
    shale_iter *it;
    assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
    put(f->db, i); /* the producer, after the pop's sequence */
    shale_iter_seek_last(it);
    assert_int_equal(at(it), base + i);
    shale_iter_free(it);
    del(f->db, base + i);
  }
  assert_int_equal(seek_key(f->db, NULL, base + n, 1), n - 1);
  stepped = prop(f->db, "shale.hidden-keys-stepped") - stepped;
  assert_true(stepped < (uint64_t)n * 20);
}

/* A snapshot older than the deletes sees every key, through spans made after it; one taken
 * between two spans' walks sees what was live then. */
static void test_snapshot_older_than_span(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 1000; i++) put(f->db, i);
  const shale_snapshot *before;
  assert_int_equal(shale_snapshot_new(f->db, &before), SHALE_OK);
  for (int i = 0; i < 500; i++) del(f->db, i);
  assert_int_equal(first_key(f->db, NULL), 500);
  assert_int_equal(seek_key(f->db, NULL, 3, 0), 500);
  const shale_snapshot *mid;
  assert_int_equal(shale_snapshot_new(f->db, &mid), SHALE_OK);
  for (int i = 500; i < 800; i++) del(f->db, i);
  assert_int_equal(first_key(f->db, NULL), 800);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  assert_int_equal(first_key(f->db, before), 0);
  assert_int_equal(seek_key(f->db, before, 250, 0), 250);
  assert_int_equal(seek_key(f->db, before, 250, 1), 250);
  assert_int_equal(first_key(f->db, mid), 500);
  assert_int_equal(seek_key(f->db, mid, 100, 0), 500);
  assert_int_equal(seek_key(f->db, mid, 600, 0), 600);
  assert_int_equal(seek_key(f->db, mid, 499, 1), -1);
  shale_snapshot_free(f->db, before);
  shale_snapshot_free(f->db, mid);
}

/* Scans over runs deleted at random, forward and backward, many times (the first makes the
 * spans, later ones cross them), with puts reviving keys in between. */
static void test_scans_over_random_runs(void **state) {
  fixture *f = *state;
  enum { N = 30000 };
  static char live[N];
  uint64_t rng = 42;
  for (int i = 0; i < N; i++) put(f->db, i), live[i] = 1;
  for (int i = 0; i < N;) {
    int run = 1 + (int)(tu_rand(&rng) % 2000), keep = 1 + (int)(tu_rand(&rng) % 50);
    for (int j = i; j < i + run && j < N; j++) del(f->db, j), live[j] = 0;
    i += run + keep;
  }
  for (int round = 0; round < 6; round++) {
    shale_iter *it;
    assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
    int expect = 0;
    for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
      while (!live[expect]) expect++;
      assert_int_equal(at(it), expect++);
    }
    while (expect < N && !live[expect]) expect++;
    assert_int_equal(expect, N);
    expect = N - 1;
    for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) {
      while (!live[expect]) expect--;
      assert_int_equal(at(it), expect--);
    }
    while (expect >= 0 && !live[expect]) expect--;
    assert_int_equal(expect, -1);
    shale_iter_free(it);
    for (int r = 0; r < 20; r++) { /* revive a few keys inside runs */
      int i = (int)(tu_rand(&rng) % N);
      if (!live[i]) put(f->db, i), live[i] = 1;
    }
    if (round == 2) assert_int_equal(shale_flush(f->db), SHALE_OK);
  }
  assert_true(prop(f->db, "shale.dead-span-jumps") > 0);
}

/* Deletes in key order become a span at write time: the first reader after them already
 * jumps, and so does a snapshot taken after them; a batch of ordered deletes counts too. */
static void test_ordered_deletes_make_spans(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 3000; i++) put(f->db, i);
  for (int i = 0; i < 1000; i++) del(f->db, i);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  for (int i = 1500; i < 2500; i++) {
    char k[16];
    int kl = key(i, k);
    assert_int_equal(shale_batch_delete(b, k, (size_t)kl), SHALE_OK);
  }
  assert_int_equal(shale_write(f->db, b, 0), SHALE_OK);
  shale_batch_free(b);
  assert_true(prop(f->db, "shale.dead-spans") >= 2);
  uint64_t jumps = prop(f->db, "shale.dead-span-jumps");
  assert_int_equal(first_key(f->db, NULL), 1000);
  assert_int_equal(seek_key(f->db, NULL, 1700, 0), 2500);
  assert_int_equal(seek_key(f->db, NULL, 2400, 1), 1499);
  assert_true(prop(f->db, "shale.dead-span-jumps") >= jumps + 3);
  put(f->db, 1800);
  assert_int_equal(seek_key(f->db, NULL, 1700, 0), 1800);
  assert_int_equal(seek_key(f->db, NULL, 1801, 0), 2500);
}

/* Spans live in memory only, so a reopened DB starts with none: the walk that open starts
 * rebuilds them over the deleted runs its tables and replayed WAL hold, and the first scan
 * after it steps over almost nothing. The values are flushed before the deletes, so the
 * tombstones stay in tables over them (a flush drops a tombstone no older table can hold);
 * compaction is held off, so nothing but the walk removes the hidden entries; and deletes
 * run backward within each run, so the write path made no spans of its own. */
static void reopen(fixture *f) {
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = 256 << 10;
  o.level0_compaction_trigger = 1000;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
}

static void test_reopen_rebuilds_spans(void **state) {
  fixture *f = *state;
  enum { N = 20000 };
  static char live[N];
  reopen(f);
  for (int i = 0; i < N; i++) put(f->db, i), live[i] = 1;
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  uint64_t rng = 7;
  int dead = 0;
  for (int i = 0; i < N;) {
    int run = 200 + (int)(tu_rand(&rng) % 1500), keep = 1 + (int)(tu_rand(&rng) % 30);
    for (int j = (i + run < N ? i + run : N) - 1; j >= i; j--) del(f->db, j), live[j] = 0, dead++;
    i += run + keep;
  }
  assert_int_equal(shale_flush(f->db), SHALE_OK); /* most runs in tables, the rest in the WAL */
  for (int i = N - 300; i < N; i++)
    if (!live[i]) del(f->db, i);
  reopen(f);
  for (int ms = 0; prop(f->db, "shale.dead-span-warmup") && ms < 20000; ms += 10)
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  assert_int_equal(prop(f->db, "shale.dead-span-warmup"), 0);
  /* Tombstone-density compaction may purge the runs before the close (it did under load in
   * CI). Compaction only removes them, so while the tables still hold them, they held them
   * at the open, and the walk must have made spans of them. */
  shale_live_file *files;
  size_t nfiles;
  uint64_t tombs = 0;
  assert_int_equal(shale_live_files(f->db, &files, &nfiles), SHALE_OK);
  for (size_t i = 0; i < nfiles; i++) tombs += files[i].point_tombstones;
  shale_live_files_free(files);
  if (tombs >= 1000 && prop(f->db, "shale.dead-spans") == 0)
    fail_msg("%llu tombstones in tables after the walk, and no dead span",
             (unsigned long long)tombs);
  uint64_t stepped = prop(f->db, "shale.hidden-keys-stepped");
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  int expect = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    while (!live[expect]) expect++;
    assert_int_equal(at(it), expect++);
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  assert_true(prop(f->db, "shale.hidden-keys-stepped") - stepped < (uint64_t)dead / 20);
}

/* ---- spans kept across a clean close (engine/span_store.h) ---- */

enum { KEPT_N = 6000 };

/* 400 of every 500 keys dead, in runs deleted backward (so the write path makes no spans),
 * over values in a table; then one scan walks the runs and makes the spans. */
static void make_walked_runs(fixture *f, char *live) {
  for (int i = 0; i < KEPT_N; i++) put(f->db, i), live[i] = 1;
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  for (int run = 0; run < KEPT_N; run += 500)
    for (int j = run + 399; j >= run; j--) del(f->db, j), live[j] = 0;
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
  }
  shale_iter_free(it);
  assert_true(prop(f->db, "shale.dead-spans") > 0);
}

/* Every live key in order, forward and backward, and a seek into each run lands on its
 * first survivor. */
static void assert_reads(shale_db *db, const char *live) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  int expect = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    while (!live[expect]) expect++;
    assert_int_equal(at(it), expect++);
  }
  while (expect < KEPT_N && !live[expect]) expect++;
  assert_int_equal(expect, KEPT_N);
  expect = KEPT_N - 1;
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) {
    while (!live[expect]) expect--;
    assert_int_equal(at(it), expect--);
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  for (int run = 0; run < KEPT_N; run += 500) {
    int want = run;
    while (want < KEPT_N && !live[want]) want++;
    assert_int_equal(seek_key(db, NULL, run, 0), want < KEPT_N ? want : -1);
  }
}

static int spans_file_exists(const fixture *f) {
  char *p = tu_path(f->dir, "SPANS");
  int exists = tu_file_size(p) >= 0;
  free(p);
  return exists;
}

static void close_db(fixture *f) {
  shale_db *db = f->db;
  f->db = NULL; /* a failed assertion below leaves nothing for teardown to close twice */
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* A clean close keeps the spans, and the next open crosses the runs without walking them. */
static void test_close_keeps_spans(void **state) {
  fixture *f = *state;
  static char live[KEPT_N];
  reopen(f);
  make_walked_runs(f, live);
  uint64_t spans = prop(f->db, "shale.dead-spans");
  reopen(f);
  assert_true(prop(f->db, "shale.dead-spans-restored") == spans);
  assert_false(spans_file_exists(f)); /* a writer's open consumes it */
  uint64_t stepped = prop(f->db, "shale.hidden-keys-stepped");
  assert_reads(f->db, live);
  assert_true(prop(f->db, "shale.hidden-keys-stepped") - stepped < 100);
  /* a read-only handle takes them back too, and leaves the file for the next open */
  close_db(f);
  assert_true(spans_file_exists(f));
  shale_options o;
  shale_options_init(&o);
  o.read_only = 1;
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  assert_true(prop(f->db, "shale.dead-spans-restored") > 0);
  assert_reads(f->db, live);
  close_db(f);
  assert_true(spans_file_exists(f));
  assert_int_equal(shale_open(f->dir, NULL, &f->db), SHALE_OK);
  assert_true(prop(f->db, "shale.dead-spans-restored") > 0);
}

/* A SPANS file that does not describe the DB's state is ignored: damaged, or put back over
 * a later state, where it must not hide what was written after it. */
static void test_stale_spans_ignored(void **state) {
  fixture *f = *state;
  static char live[KEPT_N];
  reopen(f);
  make_walked_runs(f, live);
  close_db(f);
  char *spans = tu_path(f->dir, "SPANS"), *saved = tu_path(f->dir, "spans.saved");
  assert_int_equal(tu_copy_file(spans, saved), 0);
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = 256 << 10;
  o.level0_compaction_trigger = 1000;
  long long size = tu_file_size(spans);
  assert_true(size > 40);
  assert_int_equal(tu_flip_bit(spans, size / 2, 3), 0); /* damage anywhere voids it all */
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  assert_true(prop(f->db, "shale.dead-spans-restored") == 0);
  assert_reads(f->db, live);
  close_db(f);
  assert_int_equal(tu_copy_file(saved, spans), 0);
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  for (int run = 0; run < KEPT_N; run += 500) put(f->db, run + 7), live[run + 7] = 1;
  close_db(f); /* the WAL holds the puts */
  assert_int_equal(tu_copy_file(saved, spans), 0);
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  assert_true(prop(f->db, "shale.dead-spans-restored") == 0);
  assert_reads(f->db, live);
  assert_int_equal(shale_flush(f->db), SHALE_OK); /* the puts into a table */
  close_db(f);
  assert_int_equal(tu_copy_file(saved, spans), 0);
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  assert_true(prop(f->db, "shale.dead-spans-restored") == 0);
  assert_reads(f->db, live);
  free(spans);
  free(saved);
}

static shale_iter *bounded(shale_db *db, int lo, int hi) {
  char l[16], h[16];
  shale_read_options ro;
  shale_read_options_init(&ro);
  if (lo >= 0) ro.lower_bound = l, ro.lower_bound_len = (size_t)key(lo, l);
  if (hi >= 0) ro.upper_bound = h, ro.upper_bound_len = (size_t)key(hi, h);
  shale_iter *it;
  assert_int_equal(shale_iter_new_opts(db, &ro, &it), SHALE_OK);
  return it;
}

static void seek_to(shale_iter *it, int i, int backward) {
  char k[16];
  int kl = key(i, k);
  if (backward)
    shale_iter_seek_for_prev(it, k, (size_t)kl);
  else
    shale_iter_seek(it, k, (size_t)kl);
}

static void put_value(shale_db *db, int i, const char *v) {
  char k[16];
  int kl = key(i, k);
  assert_int_equal(shale_put(db, k, (size_t)kl, v, strlen(v), 0), SHALE_OK);
}

static int value_is(shale_iter *it, const char *v) {
  size_t vl;
  const void *p = shale_iter_value(it, &vl);
  return vl == strlen(v) && memcmp(p, v, vl) == 0;
}

/* Walks forward from i and checks every key up to the end: ascending, none of them deleted. */
static int count_forward(shale_iter *it, int from, int deleted) {
  int n = 0, last = -1;
  for (seek_to(it, from, 0); shale_iter_valid(it); shale_iter_next(it), n++) {
    assert_true(at(it) > last);
    assert_int_not_equal(at(it), deleted);
    last = at(it);
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  return n;
}

/* An L0 table a seek lands before shows its smallest key and is read only when the walk
 * reaches it (engine/table_get.c): order, values, direction changes and an older snapshot
 * are as if every table had been read. */
static void test_tables_read_when_reached(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o;
  tu_options_init(&o);
  o.level0_compaction_trigger = 64; /* three disjoint tables stay in L0 */
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  for (int t = 1; t <= 3; t++) {
    for (int i = 0; i < 100; i++) put(f->db, t * 100 + i);
    assert_int_equal(shale_flush(f->db), SHALE_OK);
  }
  assert_int_equal(prop(f->db, "shale.num-files-at-level0"), 3);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(f->db, &snap), SHALE_OK);
  put_value(f->db, 250, "new");
  del(f->db, 300);

  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  assert_int_equal(count_forward(it, 50, 300), 299);
  seek_to(it, 50, 0);
  assert_int_equal(at(it), 100);
  seek_to(it, 299, 0);
  shale_iter_next(it); /* into the third table, past its deleted first key */
  assert_int_equal(at(it), 301);
  shale_iter_prev(it);
  assert_int_equal(at(it), 299);
  seek_to(it, 250, 0);
  assert_true(value_is(it, "new"));
  shale_iter_prev(it);
  assert_int_equal(at(it), 249);
  assert_true(value_is(it, "k0000249"));
  seek_to(it, 200, 1); /* the last key <= 200: the second table's first */
  assert_int_equal(at(it), 200);
  shale_iter_prev(it);
  assert_int_equal(at(it), 199);
  shale_iter_seek_first(it);
  assert_int_equal(at(it), 100);
  shale_iter_free(it);

  assert_int_equal(shale_iter_new(f->db, snap, &it), SHALE_OK);
  assert_int_equal(count_forward(it, 0, -1), 300);
  seek_to(it, 300, 0);
  assert_int_equal(at(it), 300);
  seek_to(it, 250, 0);
  assert_true(value_is(it, "k0000250"));
  shale_iter_free(it);
  shale_snapshot_free(f->db, snap);
}

/* Bounds: every positioning stays inside [lower, upper), from both sides, with deleted
 * runs at and across the bounds. */
static void test_bounds(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 100; i++) put(f->db, i);
  for (int i = 40; i < 60; i++) del(f->db, i);
  shale_iter *it = bounded(f->db, 10, 20);
  shale_iter_seek_first(it);
  assert_int_equal(at(it), 10);
  shale_iter_seek_last(it);
  assert_int_equal(at(it), 19);
  shale_iter_next(it);
  assert_int_equal(at(it), -1);
  seek_to(it, 5, 0);
  assert_int_equal(at(it), 10);
  shale_iter_prev(it);
  assert_int_equal(at(it), -1);
  seek_to(it, 20, 0); /* at the upper bound */
  assert_int_equal(at(it), -1);
  seek_to(it, 90, 1); /* past the upper bound: the last key below it */
  assert_int_equal(at(it), 19);
  seek_to(it, 5, 1);
  assert_int_equal(at(it), -1);
  shale_iter_free(it);

  it = bounded(f->db, 45, 70); /* the lower bound inside a deleted run */
  shale_iter_seek_first(it);
  assert_int_equal(at(it), 60);
  shale_iter_prev(it);
  assert_int_equal(at(it), -1);
  shale_iter_seek_last(it);
  assert_int_equal(at(it), 69);
  shale_iter_free(it);

  it = bounded(f->db, 30, 55); /* the upper bound inside it */
  shale_iter_seek_last(it);
  assert_int_equal(at(it), 39);
  shale_iter_next(it);
  assert_int_equal(at(it), -1);
  seek_to(it, 41, 0);
  assert_int_equal(at(it), -1);
  shale_iter_free(it);

  it = bounded(f->db, -1, 5);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(n, 5);
  shale_iter_free(it);
  it = bounded(f->db, 95, -1);
  n = 0;
  for (shale_iter_seek_last(it); shale_iter_valid(it); shale_iter_prev(it)) n++;
  assert_int_equal(n, 5);
  shale_iter_free(it);
}

static void test_bounds_bad_arguments(void **state) {
  fixture *f = *state;
  shale_iter *it = (shale_iter *)1;
  shale_read_options ro;
  memset(&ro, 0, sizeof ro); /* size not set */
  assert_int_equal(shale_iter_new_opts(f->db, &ro, &it), SHALE_INVALID);
  assert_null(it);
  shale_read_options_init(&ro);
  static char huge[SHALE_MAX_KEY_SIZE + 1];
  ro.upper_bound = huge;
  ro.upper_bound_len = sizeof huge;
  assert_int_equal(shale_iter_new_opts(f->db, &ro, &it), SHALE_INVALID);
  assert_int_equal(shale_iter_new_opts(NULL, NULL, &it), SHALE_INVALID);
  assert_int_equal(shale_iter_new_opts(f->db, NULL, NULL), SHALE_INVALID);
  assert_int_equal(shale_iter_new_opts(f->db, NULL, &it), SHALE_OK); /* NULL: defaults */
  shale_iter_free(it);
  shale_read_options_init(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_queue_drain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_put_after_span_is_visible, setup, teardown),
      cmocka_unit_test_setup_teardown(test_put_during_walk_is_visible, setup, teardown),
      cmocka_unit_test_setup_teardown(test_put_log_behind_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pops_behind_a_producer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_older_than_span, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scans_over_random_runs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ordered_deletes_make_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_rebuilds_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_keeps_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_spans_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tables_read_when_reached, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds_bad_arguments, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
