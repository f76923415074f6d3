/* test_updates.c — the WAL tail (issue 18) on real files in temp directories: a follower
 * made from a checkpoint plus shale_updates_since reaches exactly the leader's state under
 * concurrent writes and flushes; shale_batch_iterate reports each operation; a sequence
 * older than the retained WALs is refused; retention by seconds and by bytes keeps and then
 * deletes obsolete WALs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"
#include "testutil_check.h"

static shale_options small_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 128u << 10;
  o.target_file_size = 64u << 10;
  o.max_bytes_for_level_base = 1u << 20;
  o.level0_compaction_trigger = 2;
  return o;
}

static shale_db *open_db(const char *dir, const shale_options *o) {
  shale_db *db;
  int rc = shale_open(dir, o, &db);
  if (rc) fprintf(stderr, "open %s: %s\n", dir, shale_errmsg(NULL));
  assert_int_equal(rc, SHALE_OK);
  return db;
}

static void put(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

/* ---- applying batches to a follower ---- */

typedef struct apply {
  shale_batch *out;
  uint64_t seq, want; /* the sequence of the operation reported next; the first one needed */
} apply;

static int add_op(void *arg, int op, const void *key, size_t klen, const void *val, size_t vlen) {
  apply *a = arg;
  if (a->seq++ < a->want) return 0; /* the follower has it already */
  if (op == SHALE_OP_PUT) return shale_batch_put(a->out, key, klen, val, vlen);
  if (op == SHALE_OP_DELETE) return shale_batch_delete(a->out, key, klen);
  assert_int_equal(op, SHALE_OP_DELETE_RANGE);
  return shale_batch_delete_range(a->out, key, klen, val, vlen);
}

/* Applies every batch from want on to follower, one shale_write each; returns the last
 * sequence applied (want - 1 when none). */
static uint64_t catch_up(shale_db *leader, shale_db *follower, uint64_t want) {
  shale_updates *u;
  assert_int_equal(shale_updates_since(leader, want, &u), SHALE_OK);
  uint64_t first, last = want - 1;
  const shale_batch *b;
  int rc;
  while ((rc = shale_updates_next(u, &first, &b)) == SHALE_OK) {
    assert_true(first <= last + 1); /* no gap: nothing was written with SHALE_NO_WAL */
    assert_true(first + shale_batch_count(b) - 1 > last);
    apply a = {NULL, first, last + 1};
    assert_int_equal(shale_batch_new(&a.out), SHALE_OK);
    assert_int_equal(shale_batch_iterate(b, add_op, &a), SHALE_OK);
    assert_int_equal(shale_write(follower, a.out, 0), SHALE_OK);
    shale_batch_free(a.out);
    last = first + shale_batch_count(b) - 1;
  }
  assert_int_equal(rc, SHALE_NOTFOUND);
  assert_null(b);
  shale_updates_free(u);
  return last;
}

/* ---- under load ---- */

typedef struct load {
  shale_db *db;
  atomic_int stop;
  int id;
} load;

static int write_one(shale_db *db, uint64_t r, int id) {
  char k[32], k2[32], v[64];
  int key = (int)(r % 3000), op = (int)((r >> 20) % 1000);
  snprintf(k, sizeof k, "key%05d", key);
  int vn = snprintf(v, sizeof v, "w%d-%llu", id, (unsigned long long)r);
  if (op < 700) return shale_put(db, k, strlen(k), v, (size_t)vn, 0);
  if (op < 880) return shale_delete(db, k, strlen(k), 0);
  snprintf(k2, sizeof k2, "key%05d", key + 1 + (int)((r >> 40) % 30));
  if (op < 930) return shale_delete_range(db, k, strlen(k), k2, strlen(k2), 0);
  if (op == 930) return shale_delete_range(db, NULL, 0, "key00005", 8, 0);
  if (op == 931) return shale_delete_range(db, "key02995", 8, NULL, 0, 0);
  shale_batch *b;
  int rc = shale_batch_new(&b);
  if (rc) return rc;
  shale_batch_put(b, k, strlen(k), v, (size_t)vn);
  shale_batch_delete(b, k2, strlen(k2));
  shale_batch_delete_range(b, k2, strlen(k2), "key1", 4);
  rc = shale_write(db, b, 0);
  shale_batch_free(b);
  return rc;
}

static void *writer_main(void *arg) {
  load *l = arg;
  uint64_t rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(l->id + 1);
  while (!atomic_load(&l->stop))
    if (write_one(l->db, tu_rand(&rnd), l->id)) fail_msg("write: %s", shale_errmsg(l->db));
  return NULL;
}

static void *flusher_main(void *arg) {
  load *l = arg;
  while (!atomic_load(&l->stop)) {
    assert_int_equal(shale_flush(l->db), SHALE_OK);
    usleep(20000);
  }
  return NULL;
}

static void test_follower_under_load(void **state) {
  (void)state;
  char *root = tu_tempdir(), *ldir = tu_path(root, "leader"), *fdir = tu_path(root, "follower");
  shale_options o = small_options();
  o.wal_retention_bytes = 1ull << 30; /* flushes must not delete what the follower needs */
  shale_db *leader = open_db(ldir, &o);
  load l[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    l[i] = (load){.db = leader, .id = i};
    pthread_create(&t[i], NULL, i == 2 ? flusher_main : writer_main, &l[i]);
  }
  usleep(300000);
  uint64_t seq;
  assert_int_equal(shale_checkpoint(leader, fdir, 0, &seq, NULL), SHALE_OK);
  shale_db *follower = open_db(fdir, &o);
  usleep(300000);
  uint64_t last = catch_up(leader, follower, seq + 1); /* while the leader is written */
  usleep(300000);
  for (int i = 0; i < 3; i++) atomic_store(&l[i].stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  last = catch_up(leader, follower, last + 1);
  assert_int_equal(last, tu_property_u64(leader, "shale.sequence"));
  assert_int_equal(tu_property_u64(follower, "shale.sequence"), last);
  assert_true(tu_assert_same_scan(leader, NULL, follower, NULL) > 0);
  assert_true(tu_count_suffix(ldir, ".log") > 1); /* flushed WALs were kept */
  assert_int_equal(shale_close(follower), SHALE_OK);
  assert_int_equal(shale_close(leader), SHALE_OK);
  free(ldir);
  free(fdir);
  tu_tempdir_free(root);
}

/* ---- batch iteration ---- */

typedef struct seen {
  int ops[8];
  size_t klen[8], vlen[8];
  int n, stop_at;
} seen;

static int record_op(void *arg, int op, const void *key, size_t klen, const void *val,
                     size_t vlen) {
  seen *s = arg;
  (void)key;
  if (op == SHALE_OP_DELETE) assert_null(val);
  s->ops[s->n] = op;
  s->klen[s->n] = klen;
  s->vlen[s->n] = vlen;
  return ++s->n == s->stop_at ? 42 : 0;
}

static void test_batch_iterate(void **state) {
  (void)state;
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "a", 1, "xyz", 3), SHALE_OK);
  assert_int_equal(shale_batch_delete(b, "bb", 2), SHALE_OK);
  assert_int_equal(shale_batch_delete_range(b, "c", 1, "dddd", 4), SHALE_OK);
  assert_int_equal(shale_batch_delete_range(b, "e", 1, NULL, 0), SHALE_OK);
  seen s = {.stop_at = -1};
  assert_int_equal(shale_batch_iterate(b, record_op, &s), SHALE_OK);
  int ops[] = {SHALE_OP_PUT, SHALE_OP_DELETE, SHALE_OP_DELETE_RANGE, SHALE_OP_DELETE_RANGE,
               SHALE_OP_DELETE};
  size_t kl[] = {1, 2, 1, 1, SHALE_MAX_KEY_SIZE}, vl[] = {3, 0, 4, SHALE_MAX_KEY_SIZE, 0};
  assert_int_equal(s.n, 5);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(s.ops[i], ops[i]);
    assert_int_equal(s.klen[i], kl[i]);
    assert_int_equal(s.vlen[i], vl[i]);
  }
  seen stop = {.stop_at = 2};
  assert_int_equal(shale_batch_iterate(b, record_op, &stop), 42);
  assert_int_equal(stop.n, 2);
  assert_int_equal(shale_batch_iterate(NULL, record_op, &s), SHALE_INVALID);
  assert_int_equal(shale_batch_iterate(b, NULL, &s), SHALE_INVALID);
  shale_batch_free(b);
}

/* ---- the walk's bounds ---- */

static void test_straddle_and_end(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options();
  shale_db *db = open_db(dir, &o);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  shale_batch_put(b, "k1", 2, "v", 1);
  shale_batch_put(b, "k2", 2, "v", 1);
  shale_batch_put(b, "k3", 2, "v", 1);
  assert_int_equal(shale_write(db, b, 0), SHALE_OK); /* sequences 1..3 */
  shale_batch_free(b);
  put(db, "k4", "v"); /* 4 */
  shale_updates *u;
  uint64_t first;
  const shale_batch *got;
  assert_int_equal(shale_updates_since(db, 2, &u), SHALE_OK);
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_OK);
  assert_int_equal(first, 1); /* straddles 2: returned whole */
  assert_int_equal(shale_batch_count(got), 3);
  assert_int_equal(shale_close(db), SHALE_BUSY); /* a live walk holds the DB open */
  put(db, "k5", "v");                            /* after the walk began: not in it */
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_OK);
  assert_int_equal(first, 4);
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_NOTFOUND);
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_NOTFOUND);
  shale_updates_free(u);
  assert_int_equal(shale_updates_since(db, 6, &u), SHALE_OK); /* caught up: empty */
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_NOTFOUND);
  shale_updates_free(u);
  assert_int_equal(shale_updates_since(db, 1, NULL), SHALE_INVALID);
  assert_int_equal(shale_updates_next(NULL, &first, &got), SHALE_INVALID);
  assert_null(got);
  assert_int_equal(shale_updates_since(NULL, 1, &u), SHALE_INVALID);
  assert_null(u);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_too_old(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options(); /* no retention: a flush deletes the WAL */
  shale_db *db = open_db(dir, &o);
  put(db, "a", "1");
  put(db, "b", "2");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put(db, "c", "3"); /* sequence 3 */
  shale_updates *u = (shale_updates *)&u;
  assert_int_equal(shale_updates_since(db, 1, &u), SHALE_NOTFOUND);
  assert_null(u);
  assert_string_equal(shale_errmsg(db), "");
  assert_int_equal(shale_updates_since(db, 3, &u), SHALE_OK);
  uint64_t first;
  const shale_batch *got;
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_OK);
  assert_int_equal(first, 3);
  shale_updates_free(u);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- retention ---- */

/* Writes n puts and flushes them: one more obsolete WAL. */
static void write_and_flush(shale_db *db, int n) {
  char k[16];
  for (int i = 0; i < n; i++) {
    snprintf(k, sizeof k, "k%06d", i);
    put(db, k, "value");
  }
  assert_int_equal(shale_flush(db), SHALE_OK);
}

static int walk_from(shale_db *db, uint64_t seq) {
  shale_updates *u;
  int rc = shale_updates_since(db, seq, &u);
  shale_updates_free(u);
  return rc;
}

/* A walk pins the WALs it listed: a flush meanwhile leaves them, its free deletes them. */
static void test_walk_pins_wals(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options(); /* no retention */
  shale_db *db = open_db(dir, &o);
  put(db, "a", "1");
  put(db, "b", "2");
  shale_updates *u;
  assert_int_equal(shale_updates_since(db, 1, &u), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_true(tu_count_suffix(dir, ".log") >= 2);
  uint64_t first;
  const shale_batch *got;
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_OK);
  assert_int_equal(first, 1);
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_OK);
  assert_int_equal(first, 2);
  assert_int_equal(shale_updates_next(u, &first, &got), SHALE_NOTFOUND);
  shale_updates_free(u);
  assert_int_equal(tu_count_suffix(dir, ".log"), 1);
  assert_int_equal(walk_from(db, 1), SHALE_NOTFOUND);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_retention_bytes(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options();
  o.wal_retention_bytes = 64u << 20;
  shale_db *db = open_db(dir, &o);
  for (int i = 0; i < 3; i++) write_and_flush(db, 200);
  assert_true(tu_count_suffix(dir, ".log") >= 4);
  assert_int_equal(walk_from(db, 1), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  db = open_db(dir, &o); /* kept across a reopen */
  assert_int_equal(walk_from(db, 1), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  o.wal_retention_bytes = 1; /* no WAL fits: the reopen deletes the obsolete ones */
  db = open_db(dir, &o);
  assert_true(tu_count_suffix(dir, ".log") <= 2);
  assert_int_equal(walk_from(db, 1), SHALE_NOTFOUND);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static void test_retention_seconds(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options();
  o.wal_retention_seconds = 2.0; /* room for a slow machine between the writes */
  shale_db *db = open_db(dir, &o);
  write_and_flush(db, 200);
  write_and_flush(db, 200);
  assert_true(tu_count_suffix(dir, ".log") >= 3);
  assert_int_equal(walk_from(db, 1), SHALE_OK);
  usleep(2300000);
  write_and_flush(db, 10); /* its flush finds the old WALs expired */
  assert_int_equal(walk_from(db, 1), SHALE_NOTFOUND);
  assert_true(tu_count_suffix(dir, ".log") <= 2);
  assert_int_equal(walk_from(db, 401), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  o.wal_retention_seconds = -1;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_INVALID);
  tu_tempdir_free(dir);
}

/* A WAL that retention keeps is obsolete: its writes are in tables, and what deleted them
 * may be in no WAL (a SHALE_NO_WAL delete, an ingested table, a compaction filter) and gone
 * with them from the tables. Repair, which replays every live WAL, must not replay it, or
 * the deleted value comes back. */
static void test_repair_skips_retained_wals(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options();
  o.wal_retention_seconds = 3600;
  shale_db *db = open_db(dir, &o);
  put(db, "gone", "old value");
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_delete(db, "gone", 4, SHALE_NO_WAL), SHALE_OK);
  put(db, "kept", "1");
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(walk_from(db, 1), SHALE_OK); /* the put is still in a retained WAL */
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(shale_repair(dir, &o), SHALE_OK);
  db = open_db(dir, &o);
  void *v = NULL;
  size_t vl;
  assert_int_equal(shale_get(db, NULL, "gone", 4, &v, &vl), SHALE_NOTFOUND);
  assert_int_equal(shale_get(db, NULL, "kept", 4, &v, &vl), SHALE_OK);
  shale_free(v);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch_iterate),
      cmocka_unit_test(test_straddle_and_end),
      cmocka_unit_test(test_too_old),
      cmocka_unit_test(test_retention_bytes),
      cmocka_unit_test(test_retention_seconds),
      cmocka_unit_test(test_walk_pins_wals),
      cmocka_unit_test(test_repair_skips_retained_wals),
      cmocka_unit_test(test_follower_under_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
