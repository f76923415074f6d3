/* test_db.c — the public API end to end on real directories: put/get/delete, batches,
 * snapshots, iterators in both directions against an in-memory model, reopen, flush, the
 * directory lock and bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/iter_sources.h"
#include "sstable/sst_reader.h"
#include "shale.h"
#include "testutil.h"
#include "testutil_check.h"

typedef struct fixture {
  char *dir;
  shale_db *db;
} fixture;

static shale_options small_options(void) {
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64 << 10; /* many memtables and tables from little data */
  return o;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tempdir();
  shale_options o = small_options();
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

static void reopen(fixture *f) {
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o = small_options();
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
}

static void check_value(shale_db *db, const shale_snapshot *s, const char *k, const char *v) {
  void *val;
  size_t vlen;
  int rc = shale_get(db, s, k, strlen(k), &val, &vlen);
  if (!v) {
    assert_int_equal(rc, SHALE_NOTFOUND);
    assert_null(val);
    return;
  }
  assert_int_equal(rc, SHALE_OK);
  assert_int_equal(vlen, strlen(v));
  assert_memory_equal(val, v, vlen);
  shale_free(val);
}

static void test_put_get_delete(void **state) {
  fixture *f = *state;
  check_value(f->db, NULL, "a", NULL);
  assert_int_equal(shale_put(f->db, "a", 1, "1", 1, 0), SHALE_OK);
  assert_int_equal(shale_put(f->db, "b", 1, "", 0, SHALE_SYNC), SHALE_OK);
  check_value(f->db, NULL, "a", "1");
  check_value(f->db, NULL, "b", "");
  assert_int_equal(shale_put(f->db, "a", 1, "2", 1, 0), SHALE_OK);
  check_value(f->db, NULL, "a", "2");
  assert_int_equal(shale_delete(f->db, "a", 1, 0), SHALE_OK);
  check_value(f->db, NULL, "a", NULL);
  assert_int_equal(shale_delete(f->db, "never", 5, 0), SHALE_OK);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  check_value(f->db, NULL, "a", NULL);
  check_value(f->db, NULL, "b", "");
  reopen(f);
  check_value(f->db, NULL, "a", NULL);
  check_value(f->db, NULL, "b", "");
}

static void test_bad_arguments(void **state) {
  fixture *f = *state;
  void *val = (void *)1;
  size_t vlen = 7;
  assert_int_equal(shale_put(NULL, "a", 1, "v", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_put(f->db, NULL, 1, "v", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_put(f->db, NULL, 0, "v", 1, 0), SHALE_OK); /* the empty key */
  assert_int_equal(shale_put(f->db, "a", 1, NULL, 1, 0), SHALE_INVALID);
  assert_int_equal(shale_put(f->db, "a", 1, "v", 1, 0x80), SHALE_INVALID);
  assert_true(strlen(shale_errmsg(f->db)) > 0);
  char *big = calloc(1, SHALE_MAX_KEY_SIZE + 1);
  assert_int_equal(shale_put(f->db, big, SHALE_MAX_KEY_SIZE + 1, "v", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_put(f->db, big, SHALE_MAX_KEY_SIZE, "v", 1, 0), SHALE_OK);
  free(big);
  assert_int_equal(shale_get(f->db, NULL, "a", 1, &val, &vlen), SHALE_NOTFOUND);
  assert_null(val);
  assert_int_equal(vlen, 0);
  assert_int_equal(shale_get(f->db, NULL, NULL, 1, &val, &vlen), SHALE_INVALID);
  assert_int_equal(shale_get(f->db, NULL, "a", 1, NULL, &vlen), SHALE_INVALID);
  assert_int_equal(shale_delete(f->db, "", 0, 0), SHALE_OK);
  assert_int_equal(shale_delete(f->db, NULL, 1, 0), SHALE_INVALID);
  assert_int_equal(shale_delete_range(f->db, "b", 1, "a", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_delete_range(f->db, "a", 1, "a", 1, 0), SHALE_INVALID);
  assert_int_equal(shale_write(f->db, NULL, 0), SHALE_INVALID);
  assert_int_equal(shale_property(f->db, "no.such", &(char *){NULL}), SHALE_NOTFOUND);
  assert_int_equal(shale_property(f->db, "shale.num-files-at-level1x", &(char *){NULL}),
                   SHALE_NOTFOUND); /* the number must end the name */
  shale_db *db2 = (shale_db *)1;
  assert_int_equal(shale_open(NULL, tu_default_options(), &db2), SHALE_INVALID);
  assert_null(db2);
  shale_options o;
  tu_options_init(&o);
  o.compression = 99;
  assert_int_equal(shale_open(f->dir, &o, &db2), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "compression"));
}

static void test_open_errors(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *file = tu_path(dir, "plainfile");
  FILE *fp = fopen(file, "w");
  fclose(fp);
  shale_db *db;
  assert_int_equal(shale_open(file, tu_default_options(), &db), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "not a directory"));
  char *missing = tu_path(dir, "missing");
  shale_options o;
  tu_options_init(&o);
  o.create_if_missing = 0;
  assert_int_equal(shale_open(missing, &o, &db), SHALE_NOTFOUND);
  o.create_if_missing = 1;
  assert_int_equal(shale_open(missing, &o, &db), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  o.error_if_exists = 1;
  assert_int_equal(shale_open(missing, &o, &db), SHALE_EXISTS);
  /* A directory without permission: root ignores permissions, so as root the open runs in a
   * child that has dropped to an unprivileged user. */
  char *locked = tu_path(dir, "noperm");
  assert_int_equal(mkdir(locked, geteuid() == 0 ? 0700 : 0), 0);
  char *inner = tu_path(locked, "db");
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) || setuid(65534))) _exit(2);
    shale_db *d;
    int rc = shale_open(inner, tu_default_options(), &d);
    _exit(rc == SHALE_IOERR && strstr(shale_errmsg(NULL), "Permission denied") ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  free(inner);
  free(locked);
  free(missing);
  free(file);
  tu_tempdir_free(dir);
}

static void test_lock_busy(void **state) {
  fixture *f = *state;
  shale_db *db2;
  assert_int_equal(shale_open(f->dir, tu_default_options(), &db2), SHALE_BUSY);
  assert_non_null(strstr(shale_errmsg(NULL), "locked"));
  pid_t pid = fork();
  if (pid == 0) {
    shale_db *d;
    _exit(shale_open(f->dir, tu_default_options(), &d) == SHALE_BUSY ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(shale_close(f->db), SHALE_OK);
  f->db = NULL;
  assert_int_equal(shale_open(f->dir, tu_default_options(), &f->db), SHALE_OK);
}

static void test_batch_atomic(void **state) {
  fixture *f = *state;
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(shale_put(f->db, "gone", 4, "x", 1, 0), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "k1", 2, "v1", 2), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "k2", 2, "v2", 2), SHALE_OK);
  assert_int_equal(shale_batch_delete(b, "gone", 4), SHALE_OK);
  assert_int_equal(shale_batch_put(b, "k1", 2, "v1b", 3), SHALE_OK); /* later op wins */
  assert_int_equal(shale_batch_count(b), 4);
  assert_int_equal(shale_batch_put(b, NULL, 2, "x", 1), SHALE_INVALID);
  assert_int_equal(shale_batch_count(b), 4);
  assert_int_equal(shale_write(f->db, b, SHALE_SYNC), SHALE_OK);
  check_value(f->db, NULL, "k1", "v1b");
  check_value(f->db, NULL, "k2", "v2");
  check_value(f->db, NULL, "gone", NULL);
  shale_batch_clear(b);
  assert_int_equal(shale_batch_count(b), 0);
  assert_int_equal(shale_write(f->db, b, 0), SHALE_OK);
  shale_batch_free(b);
  reopen(f);
  check_value(f->db, NULL, "k1", "v1b");
  check_value(f->db, NULL, "gone", NULL);
}

static void test_snapshots(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_put(f->db, "k", 1, "old", 3, 0), SHALE_OK);
  const shale_snapshot *s;
  assert_int_equal(shale_snapshot_new(f->db, &s), SHALE_OK);
  assert_int_equal(shale_put(f->db, "k", 1, "new", 3, 0), SHALE_OK);
  assert_int_equal(shale_put(f->db, "j", 1, "born", 4, 0), SHALE_OK);
  check_value(f->db, s, "k", "old");
  check_value(f->db, s, "j", NULL);
  assert_int_equal(shale_delete(f->db, "k", 1, 0), SHALE_OK);
  check_value(f->db, NULL, "k", NULL);
  check_value(f->db, s, "k", "old");
  assert_int_equal(shale_flush(f->db), SHALE_OK); /* the snapshot keeps old versions in tables */
  check_value(f->db, s, "k", "old");
  check_value(f->db, NULL, "k", NULL);
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, s, &it), SHALE_OK);
  shale_iter_seek_first(it);
  assert_true(shale_iter_valid(it));
  size_t kl, vl;
  assert_memory_equal(shale_iter_key(it, &kl), "k", 1);
  assert_memory_equal(shale_iter_value(it, &vl), "old", 3);
  shale_iter_next(it);
  assert_false(shale_iter_valid(it));
  shale_iter_free(it);
  shale_snapshot_free(f->db, s);
}

/* ---- model-based random test ---- */

#define NKEYS 400

typedef struct model {
  char *val[NKEYS];
} model;

static void key_of(int i, char *out) { snprintf(out, 16, "key%05d", i); }

static void model_check_get(fixture *f, model *m) {
  char k[16];
  for (int i = 0; i < NKEYS; i++) {
    key_of(i, k);
    check_value(f->db, NULL, k, m->val[i]);
  }
}

static int model_next(model *m, int i, int dir) {
  for (i += dir; i >= 0 && i < NKEYS; i += dir)
    if (m->val[i]) return i;
  return dir > 0 ? NKEYS : -1;
}

static void expect_at(shale_iter *it, model *m, int i) {
  if (i < 0 || i >= NKEYS) {
    assert_false(shale_iter_valid(it));
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    return;
  }
  assert_true(shale_iter_valid(it));
  char k[16];
  key_of(i, k);
  size_t kl, vl;
  const void *key = shale_iter_key(it, &kl);
  const void *val = shale_iter_value(it, &vl);
  assert_int_equal(kl, strlen(k));
  assert_memory_equal(key, k, kl);
  assert_int_equal(vl, strlen(m->val[i]));
  assert_memory_equal(val, m->val[i], vl);
}

static void model_check_iter(fixture *f, model *m, uint64_t *rng) {
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  int i = model_next(m, -1, 1);
  for (shale_iter_seek_first(it); i < NKEYS; i = model_next(m, i, 1), shale_iter_next(it))
    expect_at(it, m, i);
  expect_at(it, m, NKEYS);
  i = model_next(m, NKEYS, -1);
  for (shale_iter_seek_last(it); i >= 0; i = model_next(m, i, -1), shale_iter_prev(it))
    expect_at(it, m, i);
  expect_at(it, m, -1);
  for (int n = 0; n < 40; n++) { /* seeks, then a few mixed moves */
    int t = (int)(tu_rand(rng) % NKEYS);
    char k[16];
    key_of(t, k);
    int forward = tu_rand(rng) & 1;
    if (forward) {
      shale_iter_seek(it, k, strlen(k));
      i = m->val[t] ? t : model_next(m, t, 1);
    } else {
      shale_iter_seek_for_prev(it, k, strlen(k));
      i = m->val[t] ? t : model_next(m, t, -1);
    }
    expect_at(it, m, i);
    /* Half the seeks stop there: a thread whose seeks mostly go on stops answering them with
     * point lookups (iter.c), and both ways must be exercised. */
    int moves = (tu_rand(rng) & 1) ? 0 : 1 + (int)(tu_rand(rng) % 5);
    for (int s = 0; s < moves && i >= 0 && i < NKEYS; s++) {
      int dir = (tu_rand(rng) & 1) ? 1 : -1;
      if (dir > 0)
        shale_iter_next(it);
      else
        shale_iter_prev(it);
      i = model_next(m, i, dir);
      expect_at(it, m, i);
    }
  }
  shale_iter_free(it);
}

static void model_apply(fixture *f, model *m, uint64_t *rng, int round) {
  char k[16], v[64];
  int i = (int)(tu_rand(rng) % NKEYS);
  key_of(i, k);
  int op = (int)(tu_rand(rng) % 10);
  if (op < 6) {
    int n = snprintf(v, sizeof v, "v%d-%d-%0*d", i, round, (int)(tu_rand(rng) % 40), 0);
    assert_int_equal(shale_put(f->db, k, strlen(k), v, (size_t)n, 0), SHALE_OK);
    free(m->val[i]);
    m->val[i] = strdup(v);
  } else if (op < 9) {
    assert_int_equal(shale_delete(f->db, k, strlen(k), 0), SHALE_OK);
    free(m->val[i]);
    m->val[i] = NULL;
  } else {
    int j = i + 1 + (int)(tu_rand(rng) % 20);
    if (j > NKEYS) j = NKEYS;
    char e[16];
    key_of(j, e);
    assert_int_equal(shale_delete_range(f->db, k, strlen(k), e, strlen(e), 0), SHALE_OK);
    for (int x = i; x < j; x++) {
      free(m->val[x]);
      m->val[x] = NULL;
    }
  }
}

static void test_model_random(void **state) {
  fixture *f = *state;
  model m = {{0}};
  uint64_t rng = 42;
  for (int round = 0; round < 30; round++) {
    for (int n = 0; n < 300; n++) model_apply(f, &m, &rng, round);
    int action = (int)(tu_rand(&rng) % 5);
    if (action == 0) assert_int_equal(shale_flush(f->db), SHALE_OK);
    if (action == 1) reopen(f);
    if (action == 2) assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
    model_check_get(f, &m);
    model_check_iter(f, &m, &rng);
  }
  for (int i = 0; i < NKEYS; i++) free(m.val[i]);
}

static void test_many_writes_recover(void **state) {
  fixture *f = *state;
  char k[32], v[128];
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "key%08d", i * 7919 % 20000);
    int vn = snprintf(v, sizeof v, "value-%d-%090d", i, 0);
    assert_int_equal(shale_put(f->db, k, (size_t)n, v, (size_t)vn, 0), SHALE_OK);
  }
  char *p;
  assert_int_equal(shale_property(f->db, "shale.stats", &p), SHALE_OK);
  assert_non_null(strstr(p, "Level"));
  shale_free(p);
  reopen(f);
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "key%08d", i * 7919 % 20000);
    int vn = snprintf(v, sizeof v, "value-%d-%090d", i, 0);
    void *val;
    size_t vlen;
    assert_int_equal(shale_get(f->db, NULL, k, (size_t)n, &val, &vlen), SHALE_OK);
    assert_int_equal(vlen, (size_t)vn);
    assert_memory_equal(val, v, vlen);
    shale_free(val);
  }
  shale_iter *it;
  int rc = shale_iter_new(f->db, NULL, &it);
  if (rc) fprintf(stderr, "iter_new: %s\n", shale_errmsg(f->db));
  assert_int_equal(rc, SHALE_OK);
  int count = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) count++;
  assert_int_equal(count, 20000);
  shale_iter_free(it);
}

static long long dir_bytes(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "du -sb %s", dir);
  FILE *p = popen(cmd, "r");
  long long n = -1;
  if (p && fscanf(p, "%lld", &n) != 1) n = -1;
  if (p) pclose(p);
  return n;
}

/* Deleting everything and compacting gives the space back, and a scan finds nothing. */
static void test_delete_all_reclaims_space(void **state) {
  fixture *f = *state;
  char k[32], v[128];
  uint64_t rng = 7;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    for (size_t b = 0; b < sizeof v; b += 8) {
      uint64_t r = tu_rand(&rng);
      memcpy(v + b, &r, 8);
    }
    int kl = snprintf(k, sizeof k, "key%08d", (i * 7919) % n);
    assert_int_equal(shale_put(f->db, k, (size_t)kl, v, 100, 0), SHALE_OK);
  }
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  assert_true(dir_bytes(f->dir) > 5 * 1000 * 1000);
  for (int i = 0; i < n; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_delete(f->db, k, (size_t)kl, 0), SHALE_OK);
  }
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  long long left = dir_bytes(f->dir);
  if (left < 0 || left >= 1024 * 1024) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -la %s; tail -5 %s/LOG", f->dir, f->dir);
    if (system(cmd)) fprintf(stderr, "ls failed\n");
  }
  assert_true(left >= 0 && left < 1024 * 1024);
  char *p;
  for (int l = 0; l < 7; l++) {
    char name[64];
    snprintf(name, sizeof name, "shale.num-files-at-level%d", l);
    assert_int_equal(shale_property(f->db, name, &p), SHALE_OK);
    assert_string_equal(p, "0");
    shale_free(p);
  }
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  shale_iter_seek_first(it);
  assert_false(shale_iter_valid(it));
  shale_iter_free(it);
}

/* The fragment index answers exactly what a scan of every tombstone answers. */
static void test_range_fragments_match_scan(void **state) {
  (void)state;
  uint64_t rng = 99;
  for (int round = 0; round < 20; round++) {
    range_dels big = {0}, small = {0};
    int n = 16 + (int)(tu_rand(&rng) % 300);
    for (int i = 0; i < n; i++) {
      char b[8], e[8];
      int x = (int)(tu_rand(&rng) % 500), w = 1 + (int)(tu_rand(&rng) % 60);
      snprintf(b, sizeof b, "%04d", x);
      snprintf(e, sizeof e, "%04d", x + w);
      uint64_t seq = 1 + tu_rand(&rng) % 1000;
      assert_int_equal(range_dels_add(&big, b, 4, e, 4, seq, 0), SHALE_OK);
    }
    uint64_t read_seq = 1 + tu_rand(&rng) % 1000;
    for (int q = 0; q < 2000; q++) {
      char k[8];
      snprintf(k, sizeof k, "%04d", (int)(tu_rand(&rng) % 600));
      uint64_t entry = tu_rand(&rng) % 1000;
      int expect = 0;
      for (size_t i = 0; i < big.n; i++) {
        small.v = &big.v[i];
        small.n = 1;
        expect |= range_dels_covers(&small, k, 4, entry, read_seq);
      }
      assert_int_equal(range_dels_covers(&big, k, 4, entry, read_seq), expect);
    }
    small.v = NULL;
    range_dels_free(&big);
  }
}

/* Past its roll size the MANIFEST is replaced by a fresh one holding one snapshot edit. */
static void test_manifest_rolls(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o = small_options();
  o.manifest_roll_bytes = 2048;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[32];
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < 50; i++) {
      int n = snprintf(k, sizeof k, "r%03d-k%03d", round, i);
      assert_int_equal(shale_put(db, k, (size_t)n, k, (size_t)n, 0), SHALE_OK);
    }
    assert_int_equal(shale_flush(db), SHALE_OK);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "grep -c 'started MANIFEST' %s/LOG.old %s/LOG | awk -F: '{s+=$2} END {print s}'", dir,
           dir);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  FILE *p = popen(cmd, "r");
  int rolls = 0;
  assert_int_equal(fscanf(p, "%d", &rolls), 1);
  pclose(p);
  assert_true(rolls > 0);
  for (int round = 0; round < 40; round++)
    for (int i = 0; i < 50; i++) {
      snprintf(k, sizeof k, "r%03d-k%03d", round, i);
      check_value(db, NULL, k, k);
    }
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

static uint64_t blocks_touched(shale_db *db) {
  return tu_property_u64(db, "shale.block-cache-hits") +
         tu_property_u64(db, "shale.block-cache-misses");
}

/* One range delete over keys sitting in tables: gets of them read no data block, a scan
 * reads almost none, and compaction removes the files. */
static void test_range_delete_skips_tables(void **state) {
  fixture *f = *state;
  /* Block reads are counted by the block cache, which mapped tables bypass for raw blocks:
   * the tables are read with pread. */
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o = small_options();
  o.use_mmap = 0;
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  char k[32], v[100];
  memset(v, 'v', sizeof v);
  const int n = 50000;
  for (int i = 0; i < n; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_put(f->db, k, (size_t)kl, v, sizeof v, 0), SHALE_OK);
  }
  assert_int_equal(shale_put(f->db, "zzz", 3, "after", 5, 0), SHALE_OK);
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(f->db, &snap), SHALE_OK);
  assert_int_equal(shale_delete_range(f->db, "key", 3, "kez", 3, 0), SHALE_OK);
  for (int pass = 0; pass < 2; pass++) { /* range tombstone in the memtable, then in L0 */
    uint64_t before = blocks_touched(f->db);
    for (int i = 0; i < n; i += 7) {
      int kl = snprintf(k, sizeof k, "key%08d", i);
      void *val;
      size_t vl;
      assert_int_equal(shale_get(f->db, NULL, k, (size_t)kl, &val, &vl), SHALE_NOTFOUND);
    }
    assert_true(blocks_touched(f->db) == before);
    shale_iter *it;
    assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
    shale_iter_seek_first(it);
    assert_true(shale_iter_valid(it));
    size_t kl;
    assert_memory_equal(shale_iter_key(it, &kl), "zzz", 3);
    shale_iter_next(it);
    assert_false(shale_iter_valid(it));
    shale_iter_free(it);
    assert_true(blocks_touched(f->db) - before <= 4); /* a seek per level, not a block per key */
    check_value(f->db, snap, "key00000123",
                "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                "vvvvvvvvvvvvvvvvvv");
    assert_int_equal(shale_flush(f->db), SHALE_OK);
  }
  shale_snapshot_free(f->db, snap);
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  long long left = dir_bytes(f->dir);
  assert_true(left >= 0 && left < 256 * 1024);
  check_value(f->db, NULL, "zzz", "after");
}

/* The memory properties add up: every memtable's bytes, the block cache's, and LevelDB's
 * approximate-memory-usage as their sum; reading tables fills the cache. */
static void test_memory_properties(void **state) {
  fixture *f = *state;
  assert_int_equal(shale_close(f->db), SHALE_OK);
  shale_options o = small_options();
  o.use_mmap = 0; /* mapped tables bypass the cache for raw blocks */
  assert_int_equal(shale_open(f->dir, &o, &f->db), SHALE_OK);
  char k[32], v[100];
  memset(v, 'v', sizeof v);
  for (int i = 0; i < 5000; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_put(f->db, k, (size_t)kl, v, sizeof v, 0), SHALE_OK);
  }
  assert_true(tu_property_u64(f->db, "shale.size-all-mem-tables") >=
              tu_property_u64(f->db, "shale.memtable-bytes"));
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  uint64_t cache_before = tu_property_u64(f->db, "shale.block-cache-usage");
  for (int i = 0; i < 5000; i += 50) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    void *val;
    size_t vl;
    assert_int_equal(shale_get(f->db, NULL, k, (size_t)kl, &val, &vl), SHALE_OK);
    shale_free(val);
  }
  uint64_t cache = tu_property_u64(f->db, "shale.block-cache-usage");
  assert_true(cache > cache_before);
  uint64_t mem = tu_property_u64(f->db, "shale.size-all-mem-tables");
  uint64_t total = tu_property_u64(f->db, "shale.approximate-memory-usage");
  assert_true(mem > 0);
  assert_true(total >= cache + mem - 4096 && total <= cache + mem + 4096 * 4); /* read apart */
}

/* Thousands of overlapping range deletes in tables: gets and scans stay correct and cheap. */
static void test_many_range_deletes(void **state) {
  fixture *f = *state;
  char k[32], e[32];
  for (int i = 0; i < 20000; i++) {
    int kl = snprintf(k, sizeof k, "k%06d", i);
    assert_int_equal(shale_put(f->db, k, (size_t)kl, "v", 1, 0), SHALE_OK);
  }
  uint64_t rng = 5;
  static unsigned char deleted[20000];
  memset(deleted, 0, sizeof deleted);
  for (int r = 0; r < 3000; r++) { /* overlapping ranges, leaving about half the keys */
    int b = (int)(tu_rand(&rng) % 19990), w = 1 + (int)(tu_rand(&rng) % 5);
    snprintf(k, sizeof k, "k%06d", b);
    snprintf(e, sizeof e, "k%06d", b + w);
    assert_int_equal(shale_delete_range(f->db, k, 7, e, 7, 0), SHALE_OK);
    for (int x = b; x < b + w; x++) deleted[x] = 1;
  }
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  int live = 0;
  for (int i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "k%06d", i);
    check_value(f->db, NULL, k, deleted[i] ? NULL : "v");
    live += !deleted[i];
  }
  shale_iter *it;
  assert_int_equal(shale_iter_new(f->db, NULL, &it), SHALE_OK);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  shale_iter_free(it);
  assert_int_equal(n, live);
}

/* A range delete that a smaller, newer one cuts into fragments still lets compaction drop the
 * table it spans without reading it: the fragments' union spans it. */
static void test_fragmented_delete_drops_table_unread(void **state) {
  fixture *f = *state;
  char k[32], v[100];
  memset(v, 'v', sizeof v);
  for (int i = 0; i < 20000; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_put(f->db, k, (size_t)kl, v, sizeof v, 0), SHALE_OK);
  }
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  assert_int_equal(shale_put(f->db, "zzz", 3, "after", 5, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(f->db, "key", 3, "kez", 3, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(f->db, "key00005000", 11, "key00005100", 11, 0), SHALE_OK);
  assert_int_equal(shale_flush(f->db), SHALE_OK);
  uint64_t before = blocks_touched(f->db);
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  /* no table under the deletes is read, not even the one the smaller delete cuts into: with
   * one tombstone per check, that one alone costs about 50 block reads */
  assert_true(blocks_touched(f->db) - before < 10);
  long long left = dir_bytes(f->dir);
  assert_true(left >= 0 && left < 256 * 1024);
  check_value(f->db, NULL, "key00000007", NULL);
  check_value(f->db, NULL, "key00005050", NULL);
  check_value(f->db, NULL, "zzz", "after");
}

/* Range tombstones the tables hold, summed over the levels of "shale.stats". */
static unsigned long long table_range_dels(shale_db *db) {
  char *st;
  assert_int_equal(shale_property(db, "shale.stats", &st), SHALE_OK);
  unsigned long long total = 0;
  for (const char *p = st; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    int l, files;
    unsigned long long bytes, entries, tombs, rdels;
    if (sscanf(p, "L%d %d %llu %llu %llu %llu", &l, &files, &bytes, &entries, &tombs, &rdels) == 6)
      total += rdels;
  }
  shale_free(st);
  return total;
}

enum { SK = 1500, SOPS = 1200, SSNAPS = 6 };

/* now[i]: the value id of key i, -1 when deleted; the same for each snapshot in seen. */
static void check_stripes(shale_db *db, const int *now, const shale_snapshot **snap,
                          int (*seen)[SK], int ns) {
  char k[16], v[16];
  for (int s = -1; s < ns; s++)
    for (int i = 0; i < SK; i++) {
      const int *m = s < 0 ? now : seen[s];
      snprintf(k, sizeof k, "k%05d", i);
      snprintf(v, sizeof v, "v%d", m[i]);
      check_value(db, s < 0 ? NULL : snap[s], k, m[i] < 0 ? NULL : v);
    }
}

/* Overlapping range deletes, puts and snapshots interleaved: tables keep one sequence per
 * fragment and snapshot stripe, and every snapshot still reads what it saw, after flushes
 * and after compactions. */
static void test_range_deletes_snapshot_stripes(void **state) {
  fixture *f = *state;
  static int cur[SK], seen[SSNAPS][SK];
  const shale_snapshot *snap[SSNAPS];
  int ns = 0, ndel = 0;
  uint64_t rng = 77;
  char k[16], e[16], v[16];
  for (int i = 0; i < SK; i++) {
    snprintf(k, sizeof k, "k%05d", i);
    assert_int_equal(shale_put(f->db, k, 6, "v0", 2, 0), SHALE_OK);
    cur[i] = 0;
  }
  for (int op = 1; op <= SOPS; op++) {
    int b = (int)(tu_rand(&rng) % SK), w = 1 + (int)(tu_rand(&rng) % 60);
    snprintf(k, sizeof k, "k%05d", b);
    if (op % 3 == 0) {
      int vl = snprintf(v, sizeof v, "v%d", op);
      assert_int_equal(shale_put(f->db, k, 6, v, (size_t)vl, 0), SHALE_OK);
      cur[b] = op;
    } else {
      snprintf(e, sizeof e, "k%05d", b + w);
      assert_int_equal(shale_delete_range(f->db, k, 6, e, 6, 0), SHALE_OK);
      for (int x = b; x < b + w && x < SK; x++) cur[x] = -1;
      ndel++;
    }
    if (op % 200 == 100 && ns < SSNAPS) {
      assert_int_equal(shale_snapshot_new(f->db, &snap[ns]), SHALE_OK);
      memcpy(seen[ns++], cur, sizeof cur);
    }
  }
  check_stripes(f->db, cur, snap, seen, ns);
  assert_int_equal(shale_flush(f->db), SHALE_OK); /* from here every read is from tables */
  check_stripes(f->db, cur, snap, seen, ns);
  assert_true(table_range_dels(f->db) <= (unsigned long long)(2 * ndel - 1) * (ns + 1));
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  check_stripes(f->db, cur, snap, seen, ns);
  for (int s = 0; s < ns; s++) shale_snapshot_free(f->db, snap[s]);
  assert_int_equal(shale_compact_range(f->db, NULL, 0, NULL, 0), SHALE_OK);
  check_stripes(f->db, cur, snap, seen, 0);
  reopen(f);
  check_stripes(f->db, cur, snap, seen, 0);
}

/* A corrupt block in the newer of two tables holding a key: the iterator must report the
 * corruption, never fall back to the older table's version. */
static void expect_iter(shale_iter *it, const char *k, const char *v) {
  if (!k) {
    assert_false(shale_iter_valid(it));
    assert_int_equal(shale_iter_status(it), SHALE_OK);
    return;
  }
  assert_true(shale_iter_valid(it));
  size_t kl, vl;
  const char *key = shale_iter_key(it, &kl), *val = shale_iter_value(it, &vl);
  assert_int_equal(kl, strlen(k));
  assert_memory_equal(key, k, kl);
  assert_int_equal(vl, strlen(v));
  assert_memory_equal(val, v, vl);
}

static void put_str(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

/* A seek to a key holding a live value is answered by a point lookup, and the merge catches
 * up on the next move: both must show what the merge alone would, in every layer, at
 * snapshots, past tombstones and range tombstones, and ignoring writes made after the
 * iterator was created. */
static void test_seek_to_existing_key(void **state) {
  fixture *f = *state;
  shale_db *db = f->db;
  char k[16];
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof k, "k%02d", i);
    put_str(db, k, "v1");
  }
  assert_int_equal(shale_flush(db), SHALE_OK); /* v1 in a table, the rest in the memtable */
  put_str(db, "k50", "v2");
  assert_int_equal(shale_delete(db, "k51", 3, 0), SHALE_OK);
  assert_int_equal(shale_delete_range(db, "k60", 3, "k70", 3, 0), SHALE_OK);
  const shale_snapshot *snap;
  assert_int_equal(shale_snapshot_new(db, &snap), SHALE_OK);
  put_str(db, "k52", "v3");
  shale_iter *it, *old;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  assert_int_equal(shale_iter_new(db, snap, &old), SHALE_OK);
  put_str(db, "k50", "late"); /* after both iterators: neither sees these */
  put_str(db, "k50a", "late");
  /* Seeks that nothing follows bring the iterator back to answering seeks with lookups,
   * which the DB's earlier iterators may have turned off for the ones after them. */
  for (int i = 0; i < 8; i++) shale_iter_seek(it, "k00", 3);

  shale_iter_seek(it, "k50", 3); /* memtable */
  expect_iter(it, "k50", "v2");
  shale_iter_next(it); /* k50a is too new, k51 deleted */
  expect_iter(it, "k52", "v3");
  shale_iter_prev(it);
  expect_iter(it, "k50", "v2");
  shale_iter_prev(it);
  expect_iter(it, "k49", "v1");
  shale_iter_seek(it, "k49", 3); /* table */
  expect_iter(it, "k49", "v1");
  shale_iter_prev(it);
  expect_iter(it, "k48", "v1");
  shale_iter_seek(it, "k51", 3); /* deleted: the merge finds the next key */
  expect_iter(it, "k52", "v3");
  shale_iter_seek(it, "k65", 3); /* range-deleted */
  expect_iter(it, "k70", "v1");
  shale_iter_seek(it, "k69", 3);
  shale_iter_prev(it);
  expect_iter(it, "k59", "v1");
  shale_iter_seek(it, "k99", 3);
  expect_iter(it, "k99", "v1");
  shale_iter_next(it);
  expect_iter(it, NULL, NULL);
  shale_iter_seek(it, "k00", 3);
  shale_iter_prev(it);
  expect_iter(it, NULL, NULL);

  shale_iter_seek(old, "k52", 3); /* the snapshot predates v3 */
  expect_iter(old, "k52", "v1");
  shale_iter_prev(old);
  expect_iter(old, "k50", "v2");
  shale_iter_next(old);
  expect_iter(old, "k52", "v1");
  shale_iter_next(old);
  expect_iter(old, "k53", "v1");
  shale_iter_free(old);
  shale_iter_free(it);
  shale_snapshot_free(db, snap);
}

/* A backward walk shows its key from copies, with the merge already on the keys before it.
 * Writes that land between moves (a newer version of the key shown, a new key just below it,
 * a delete of the next key down) must stay invisible to the iterator, in both directions,
 * whichever layer each version is in. */
static void test_backward_walk_ignores_later_writes(void **state) {
  fixture *f = *state;
  shale_db *db = f->db;
  put_str(db, "a", "a1");
  put_str(db, "b", "b1");
  put_str(db, "c", "c1");
  put_str(db, "d", "d1");
  assert_int_equal(shale_flush(db), SHALE_OK);
  put_str(db, "c", "c2"); /* two versions of c and d, in a table and in the memtable */
  put_str(db, "d", "d2");
  put_str(db, "e", "e1");
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  shale_iter_seek_last(it);
  expect_iter(it, "e", "e1");
  shale_iter_prev(it);
  expect_iter(it, "d", "d2");
  put_str(db, "d", "d3");
  put_str(db, "cz", "new");
  assert_int_equal(shale_delete(db, "c", 1, 0), SHALE_OK);
  assert_int_equal(shale_delete(db, "b", 1, 0), SHALE_OK);
  expect_iter(it, "d", "d2"); /* the copies are the iterator's own */
  shale_iter_prev(it);
  expect_iter(it, "c", "c2");
  shale_iter_next(it); /* direction changes after a backward walk */
  expect_iter(it, "d", "d2");
  shale_iter_next(it);
  expect_iter(it, "e", "e1");
  shale_iter_prev(it);
  expect_iter(it, "d", "d2");
  shale_iter_prev(it);
  expect_iter(it, "c", "c2");
  shale_iter_prev(it);
  expect_iter(it, "b", "b1");
  shale_iter_prev(it);
  expect_iter(it, "a", "a1");
  shale_iter_prev(it);
  expect_iter(it, NULL, NULL);
  shale_iter_free(it);
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK); /* a new one sees them all */
  shale_iter_seek_last(it);
  expect_iter(it, "e", "e1");
  shale_iter_prev(it);
  expect_iter(it, "d", "d3");
  shale_iter_prev(it);
  expect_iter(it, "cz", "new");
  shale_iter_prev(it);
  expect_iter(it, "a", "a1");
  shale_iter_next(it);
  expect_iter(it, "cz", "new");
  shale_iter_free(it);
}

static void test_iterator_stops_at_corrupt_block(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.compression = SHALE_COMPRESSION_NONE;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "old", 3, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "new", 3, 0), SHALE_OK);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  char newest[32] = "";
  for (int n = 1; n < 100; n++) { /* the newer table has the larger number */
    char name[32], *path;
    snprintf(name, sizeof name, "%06d.sst", n);
    path = tu_path(dir, name);
    if (tu_file_size(path) > 0) memcpy(newest, name, sizeof name);
    free(path);
  }
  assert_true(newest[0]);
  char *path = tu_path(dir, newest);
  assert_int_equal(tu_flip_bit(path, 2, 3), 0); /* inside its only data block */
  free(path);
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  for (int dir_back = 0; dir_back < 2; dir_back++) {
    if (dir_back)
      shale_iter_seek_last(it);
    else
      shale_iter_seek_first(it);
    assert_false(shale_iter_valid(it));
    assert_int_equal(shale_iter_status(it), SHALE_CORRUPTION);
  }
  shale_iter_free(it);
  /* A seek to the key itself, which a point lookup answers when it can, reports it too. */
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  shale_iter_seek(it, "k", 1);
  assert_false(shale_iter_valid(it));
  assert_int_equal(shale_iter_status(it), SHALE_CORRUPTION);
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* compression_level: checked at open, and it changes what the tables weigh, not what they
 * hold. Text-like values: the slowest level must not come out larger than the fastest. */
static long long tables_at_level(const char *dir, int level) {
  shale_options o;
  tu_options_init(&o);
  o.compression_level = level;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[32], v[200];
  uint64_t rng = 5;
  for (int i = 0; i < 20000; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    for (size_t j = 0; j < sizeof v; j++)
      v[j] = "the quick brown fox "[(tu_rand(&rng) % 4) * 5 + j % 5];
    assert_int_equal(shale_put(db, k, (size_t)kl, v, sizeof v, 0), SHALE_OK);
  }
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  for (int i = 0; i < 20000; i += 97) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    void *val;
    size_t vl;
    assert_int_equal(shale_get(db, NULL, k, (size_t)kl, &val, &vl), SHALE_OK);
    assert_int_equal(vl, sizeof v);
    shale_free(val);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  return dir_bytes(dir);
}

static void test_compression_level(void **state) {
  (void)state;
  char *root = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  assert_int_equal(o.compression_level, 3);
  shale_db *db;
  char *bad = tu_path(root, "bad");
  o.compression_level = 20;
  assert_int_equal(shale_open(bad, &o, &db), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "compression_level"));
  o.compression_level = -8;
  assert_int_equal(shale_open(bad, &o, &db), SHALE_INVALID);
  char *fast = tu_path(root, "fast"), *small = tu_path(root, "small");
  long long fast_bytes = tables_at_level(fast, -7), small_bytes = tables_at_level(small, 19);
  assert_true(small_bytes > 0 && small_bytes <= fast_bytes);
  free(bad);
  free(fast);
  free(small);
  tu_tempdir_free(root);
}

/* compression_max_dict_bytes, compression_zstd_max_train_bytes: a dictionary per table
 * unless turned off. Counts the DB's tables, and those of them that carry a dictionary. */
static int tables_with_dictionary(const char *dir, int *tables) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int with = 0;
  *tables = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 4 || strcmp(e->d_name + n - 4, ".sst")) continue;
    char *path = tu_path(dir, e->d_name), errmsg[256];
    sst_reader *r;
    assert_int_equal(sst_reader_open(NULL, path, strtoull(e->d_name, NULL, 10), NULL, &r, errmsg),
                     SHALE_OK);
    with += sst_reader_dict(r).size > 0;
    ++*tables;
    sst_reader_close(r);
    free(path);
  }
  closedir(d);
  return with;
}

static int dict_value(int i, char *v, size_t n) {
  uint64_t rng = (uint64_t)i + 1;
  for (size_t j = 0; j < n; j++) v[j] = "the quick brown fox "[(tu_rand(&rng) % 4) * 5 + j % 5];
  return (int)n;
}

static void dict_put(shale_db *db, int i) {
  char k[32], v[200];
  int kl = snprintf(k, sizeof k, "key%08d", i);
  assert_int_equal(shale_put(db, k, (size_t)kl, v, (size_t)dict_value(i, v, sizeof v), 0),
                   SHALE_OK);
}

/* Reads every key (fill: after writing them all) from the tables as the open found them,
 * then again after a compaction, which the first and last key, written again, make rewrite
 * every table with the options of this open. */
/* Every key dict_put wrote below n reads back with its value. */
static void dict_check(shale_db *db, int n) {
  for (int i = 0; i < n; i++) {
    char k[32], want[200];
    int kl = snprintf(k, sizeof k, "key%08d", i);
    void *val;
    size_t vl;
    assert_int_equal(shale_get(db, NULL, k, (size_t)kl, &val, &vl), SHALE_OK);
    assert_int_equal(vl, (size_t)dict_value(i, want, sizeof want));
    assert_memory_equal(val, want, vl);
    shale_free(val);
  }
}

static void dict_fill_and_check(const char *dir, const shale_options *o, int fill) {
  enum { N = 20000 };
  shale_db *db;
  assert_int_equal(shale_open(dir, o, &db), SHALE_OK);
  for (int i = 0; fill && i < N; i++) dict_put(db, i);
  for (int round = 0; round < 2; round++) {
    if (round) {
      dict_put(db, 0);
      dict_put(db, N - 1);
      assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
    }
    dict_check(db, N);
  }
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* Over a long fill of small memtables, flushes and compactions reuse the dictionary: it is
 * trained again only after it compressed SST_DICT_RETRAIN_MULTIPLE (1024) times its 64 KiB of
 * samples, while the fill writes well over a hundred tables. Every key reads back, and (the first
 * 20000) again after a reopen without a dictionary and a compaction. */
static void test_compression_dictionary_reused(void **state) {
  (void)state;
  char *root = tu_tempdir(), *dir = tu_path(root, "reuse");
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 128u << 10;
  o.target_file_size = 256u << 10;
  o.compression_max_dict_bytes = 4096;
  o.compression_zstd_max_train_bytes = 64u << 10;
  enum { N = 60000 };
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  for (int i = 0; i < N; i++) dict_put(db, (int)((uint64_t)i * 7919 % N));
  assert_int_equal(shale_flush(db), SHALE_OK);
  uint64_t flushes = shale_ticker(db, SHALE_TICKER_FLUSHES);
  uint64_t trainings = shale_ticker(db, SHALE_TICKER_ZSTD_DICT_TRAININGS);
  assert_string_equal(shale_ticker_name(SHALE_TICKER_ZSTD_DICT_TRAININGS),
                      "shale.zstd.dict.trainings");
  assert_true(flushes >= 50);
  assert_true(trainings >= 1 && trainings * 8 <= flushes);
  dict_check(db, N);
  assert_int_equal(shale_close(db), SHALE_OK);
  int tables;
  assert_true(tables_with_dictionary(dir, &tables) > 0);
  o.compression_max_dict_bytes = 0;
  dict_fill_and_check(dir, &o, 0);
  free(dir);
  tu_tempdir_free(root);
}

static void test_compression_dictionary(void **state) {
  (void)state;
  char *root = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  assert_int_equal(o.compression_max_dict_bytes, 16384);
  assert_int_equal(o.compression_zstd_max_train_bytes, 0);
  shale_db *db;
  char *bad = tu_path(root, "bad");
  o.compression_max_dict_bytes = 16385; /* more than a table's format stores */
  assert_int_equal(shale_open(bad, &o, &db), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "compression_max_dict_bytes"));
  o.compression_max_dict_bytes = 4096;
  o.compression_zstd_max_train_bytes = 4095; /* fewer samples than the dictionary */
  assert_int_equal(shale_open(bad, &o, &db), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "compression_zstd_max_train_bytes"));
  o.compression_zstd_max_train_bytes = ((size_t)1 << 30) + 1;
  assert_int_equal(shale_open(bad, &o, &db), SHALE_INVALID);
  shale_sst_writer *w;
  assert_int_equal(shale_sst_writer_open(bad, &o, &w), SHALE_INVALID);
  o.compression_max_dict_bytes = 0; /* the training bound is then ignored */
  assert_int_equal(shale_open(bad, &o, &db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);

  /* Written with a dictionary, the tables read back after a reopen without one; a compaction
   * then rewrites them without. The default writes one; 0 writes none. */
  char *dir = tu_path(root, "dict");
  int tables;
  o.compression_max_dict_bytes = 16384;
  o.compression_zstd_max_train_bytes = 0;
  dict_fill_and_check(dir, &o, 1);
  assert_true(tables_with_dictionary(dir, &tables) > 0);
  o.compression_max_dict_bytes = 0;
  dict_fill_and_check(dir, &o, 0);
  assert_int_equal(tables_with_dictionary(dir, &tables), 0);
  assert_true(tables > 0);
  char *plain = tu_path(root, "plain"), *deflt = tu_path(root, "default");
  dict_fill_and_check(plain, &o, 1);
  assert_int_equal(tables_with_dictionary(plain, &tables), 0);
  assert_true(tables > 0);
  tu_options_init(&o);
  dict_fill_and_check(deflt, &o, 1);
  assert_true(tables_with_dictionary(deflt, &tables) > 0);
  free(bad);
  free(dir);
  free(plain);
  free(deflt);
  tu_tempdir_free(root);
}

int main(void) {
  if (getenv("SHALE_TEST_FILTER")) cmocka_set_test_filter(getenv("SHALE_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_compression_level),
      cmocka_unit_test(test_compression_dictionary),
      cmocka_unit_test(test_compression_dictionary_reused),
      cmocka_unit_test_setup_teardown(test_memory_properties, setup, teardown),
      cmocka_unit_test(test_iterator_stops_at_corrupt_block),
      cmocka_unit_test(test_range_fragments_match_scan),
      cmocka_unit_test(test_manifest_rolls),
      cmocka_unit_test_setup_teardown(test_lock_busy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
      cmocka_unit_test_setup_teardown(test_model_random, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_writes_recover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_all_reclaims_space, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_delete_skips_tables, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_range_deletes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seek_to_existing_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backward_walk_ignores_later_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_deletes_snapshot_stripes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fragmented_delete_drops_table_unread, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
