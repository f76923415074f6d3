/* test_crash.c — crash safety with real processes: a child writes batches and is killed with
 * SIGKILL at a random moment (or, through a test hook, at an exact step of a flush or a
 * compaction); the parent reopens and checks that every batch is all there or not at all,
 * that every acknowledged batch is there (a process crash loses nothing: the WAL is in the
 * page cache even without SHALE_SYNC), that no deleted key comes back, and that no orphan
 * files pile up. Then torn WAL tails: the newest log cut at many offsets still opens with
 * its prefix intact. SHALE_CRASH_CYCLES sets the kill cycles per test (default 20). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_hooks.h"
#include "shale.h"
#include "testutil.h"

#define BATCH_KEYS 6      /* keys b/<id>/00 .. b/<id>/05 */
#define ID_STRIDE 1000000 /* cycle c writes ids from (c + 1) * ID_STRIDE */
#define MAX_CYCLES 1000

static int crash_cycles(void) {
  const char *s = getenv("SHALE_CRASH_CYCLES");
  int n = s && *s ? atoi(s) : 20;
  return n < 1 ? 20 : n > MAX_CYCLES ? MAX_CYCLES : n;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t batch_key(uint64_t id, int j, char *out) {
  return (size_t)snprintf(out, 32, "b/%010" PRIu64 "/%02d", id, j);
}

static size_t batch_value(uint64_t id, int j, char *out) {
  return (size_t)snprintf(out, 96, "v%" PRIu64 "/%d/%0*d", id, j,
                          (int)((id * 7 + (uint64_t)j) % 48), 0);
}

/* Batch id: puts its BATCH_KEYS keys, deletes key 00 of batch id-3 and range-deletes keys
 * 04..05 of batch id-7. Keys 01..03 are never deleted: they say whether a batch applied. */
static int write_batch(shale_db *db, shale_batch *b, uint64_t id, unsigned flags) {
  char k[32], e[32], v[96];
  shale_batch_clear(b);
  for (int j = 0; j < BATCH_KEYS; j++) {
    size_t kl = batch_key(id, j, k);
    if (shale_batch_put(b, k, kl, v, batch_value(id, j, v))) return -1;
  }
  if (shale_batch_delete(b, k, batch_key(id - 3, 0, k))) return -1;
  size_t kl = batch_key(id - 7, 4, k);
  if (shale_batch_delete_range(b, k, kl, e, batch_key(id - 7, 6, e))) return -1;
  return shale_write(db, b, flags);
}

/* ---- the child ---- */

static int kill_point;     /* hook point at which the child kills itself (0: none) */
static int kill_countdown; /* ... at its n-th occurrence */

static void kill_hook(shale_db *db, test_hook_point p) {
  (void)db;
  if ((int)p == kill_point && __atomic_sub_fetch(&kill_countdown, 1, __ATOMIC_SEQ_CST) == 0)
    raise(SIGKILL);
}

/* SHALE_IO as the test was started with (NULL: unset). The parent verifies with the pwrite
 * path so that the children, which use io_uring unless told otherwise, never share a ring
 * with it: the process-wide ring pool is not fork-safe (see test_fork_after_io_uring). */
static char *orig_shale_io;

static void parent_io_begin(void) { setenv("SHALE_IO", "pwrite", 1); }

static void parent_io_end(void) {
  if (orig_shale_io)
    setenv("SHALE_IO", orig_shale_io, 1);
  else
    unsetenv("SHALE_IO");
}

static void child_main(const char *dir, const shale_options *o, uint64_t first, int wfd) {
  parent_io_end(); /* the child writes the way the test run asked (io_uring by default) */
  if (kill_point) atomic_store(&shale_test_hook, kill_hook);
  shale_db *db;
  if (shale_open(dir, o, &db)) {
    fprintf(stderr, "child: open failed: %s\n", shale_errmsg(NULL));
    _exit(3);
  }
  shale_batch *b;
  if (shale_batch_new(&b)) _exit(4);
  for (uint64_t id = first; id < first + ID_STRIDE; id++) {
    int rc = write_batch(db, b, id, id % 10 == 0 ? SHALE_SYNC : 0);
    if (rc) {
      fprintf(stderr, "child: write of batch %" PRIu64 " failed: %s\n", id, shale_errmsg(db));
      _exit(5);
    }
    if (write(wfd, &id, sizeof id) != (ssize_t)sizeof id) _exit(6); /* acknowledged */
    if (id % 2 == 0) usleep(100); /* pace: a few thousand batches before the kill */
  }
  _exit(0);
}

/* Runs one child until the kill; returns the last acknowledged id (first - 1 if none). */
static uint64_t run_child(const char *dir, const shale_options *o, uint64_t first, double kill_ms,
                          int hook_point, int hook_count) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  kill_point = hook_point;
  kill_countdown = hook_count;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_main(dir, o, first, fds[1]);
  }
  close(fds[1]);
  uint64_t acked = first - 1, id;
  double deadline = now_ms() + kill_ms;
  int killed = 0, open_fd = 1;
  struct pollfd pf = {fds[0], POLLIN, 0};
  for (;;) {
    double left = deadline - now_ms();
    if (!killed && left <= 0) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    if (!open_fd) break;
    int n = poll(&pf, 1, killed ? 1000 : (int)(left < 1 ? 1 : left));
    if (n <= 0) continue;
    ssize_t r = read(fds[0], &id, sizeof id);
    if (r == (ssize_t)sizeof id) {
      assert_int_equal(id, acked + 1);
      acked = id;
    } else if (r == 0) {
      open_fd = 0; /* the child is gone (killed by us or by its hook) */
      if (!killed) {
        kill(pid, SIGKILL); /* harmless if already dead */
        killed = 1;
      }
    } else {
      assert_true(r < 0 && errno == EINTR);
    }
  }
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
    fail_msg("child did not die of SIGKILL (exit status %d): it failed on its own",
             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return acked;
}

/* ---- the check after a crash ---- */

typedef struct cycle_state {
  uint64_t first[MAX_CYCLES];
  uint64_t last_applied[MAX_CYCLES]; /* first - 1: none */
  int n;
} cycle_state;

typedef struct seen {
  uint8_t *mask; /* per id offset within a cycle: which keys are present */
  size_t cap;
} seen;

/* Scans the whole DB; checks values and groups keys by batch. */
static void scan_db(shale_db *db, seen *s, int ncycles) {
  for (int c = 0; c < ncycles; c++) memset(s[c].mask, 0, s[c].cap);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl);
    const char *v = shale_iter_value(it, &vl);
    char tmp[40], want[96];
    if (kl >= sizeof tmp) fail_msg("unexpected key of %zu bytes", kl);
    memcpy(tmp, k, kl);
    tmp[kl] = 0;
    uint64_t id;
    int j;
    if (!strcmp(tmp, "zz")) continue;
    if (sscanf(tmp, "b/%" SCNu64 "/%d", &id, &j) != 2 || j < 0 || j >= BATCH_KEYS)
      fail_msg("unexpected key '%s'", tmp);
    size_t wl = batch_value(id, j, want);
    if (vl != wl || memcmp(v, want, vl))
      fail_msg("key '%s' has a wrong value '%.*s'", tmp, (int)vl, v);
    int c = (int)(id / ID_STRIDE) - 1;
    uint64_t off = id % ID_STRIDE;
    if (c < 0 || c >= ncycles || off >= s[c].cap) fail_msg("key '%s' from no cycle run yet", tmp);
    s[c].mask[off] |= (uint8_t)(1u << j);
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
}

/* Batches of one cycle: applied ones form a prefix; each applied batch has keys 01..03,
 * key 00 unless batch id+3 applied, keys 04..05 unless batch id+7 applied; others none. */
static uint64_t check_cycle(const seen *s, int c, uint64_t first) {
  uint64_t n = 0; /* applied batches */
  while (n < s->cap && (s->mask[n] & 0x0e)) n++;
  for (uint64_t off = 0; off < s->cap; off++) {
    uint8_t m = s->mask[off];
    if (off >= n) {
      if (m)
        fail_msg("cycle %d: batch %" PRIu64 " has keys 0x%02x but batch %" PRIu64
                 " is missing: not a prefix, or a torn batch",
                 c, first + off, m, first + n);
      continue;
    }
    uint8_t want = 0x0e;
    if (off + 3 >= n) want |= 0x01;
    if (off + 7 >= n) want |= 0x30;
    if (m != want)
      fail_msg("cycle %d: batch %" PRIu64 " has keys 0x%02x, expected 0x%02x (%s)", c, first + off,
               m, want, (m & ~want) ? "a deleted key came back" : "a torn batch");
  }
  return first + n - 1;
}

static void verify(const char *dir, const shale_options *o, cycle_state *cs, seen *s,
                   uint64_t acked) {
  shale_db *db;
  int rc = shale_open(dir, o, &db);
  if (rc) fail_msg("reopen after a crash failed: %s: %s", shale_strerror(rc), shale_errmsg(NULL));
  scan_db(db, s, cs->n);
  for (int c = 0; c < cs->n; c++) {
    uint64_t last = check_cycle(&s[c], c, cs->first[c]);
    if (c == cs->n - 1) {
      if (last < acked)
        fail_msg("cycle %d: batches up to %" PRIu64 " were acknowledged, only up to %" PRIu64
                 " survived",
                 c, acked, last);
      cs->last_applied[c] = last;
    } else if (last != cs->last_applied[c]) {
      fail_msg("cycle %d: %" PRIu64 " batches earlier, %" PRIu64 " now", c,
               cs->last_applied[c] - cs->first[c] + 1, last - cs->first[c] + 1);
    }
  }
  assert_int_equal(shale_close(db), SHALE_OK);
}

static int count_prefix(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
  closedir(d);
  return n;
}

static void crash_loop(const shale_options *o, int use_hooks, const char *label) {
  char *dir = tu_tempdir();
  int cycles = crash_cycles();
  cycle_state *cs = calloc(1, sizeof *cs);
  seen *s = calloc((size_t)cycles, sizeof *s);
  uint64_t rng = 0x5eed0000u + (uint64_t)use_hooks;
  int hook_kills = 0, no_ack = 0;
  uint64_t total_acked = 0;
  parent_io_begin();
  for (int c = 0; c < cycles; c++) {
    uint64_t first = (uint64_t)(c + 1) * ID_STRIDE;
    double kill_ms = 2 + (double)(tu_rand(&rng) % 199);
    int point = 0, count = 0;
    if (use_hooks && c % 2 == 1) { /* kill at an exact step of a flush or compaction */
      point = 1 + (c / 2) % HOOK_COMPACTION_INSTALLED;
      count = 1 + (int)(tu_rand(&rng) % 3);
      kill_ms = 2000; /* a fallback: the hook should strike first */
    }
    cs->first[c] = first;
    cs->n = c + 1;
    s[c].cap = 400000;
    s[c].mask = calloc(s[c].cap, 1);
    double t0 = now_ms();
    uint64_t acked = run_child(dir, o, first, kill_ms, point, count);
    if (point && now_ms() - t0 < kill_ms - 5) hook_kills++;
    if (acked + 1 == first) no_ack++;
    total_acked += acked + 1 - first;
    if (acked - first + 1 >= s[c].cap) fail_msg("child wrote more batches than the test tracks");
    verify(dir, o, cs, s, acked);
  }
  printf("%s: %d kill cycles (%d at a hook point, %d before any ack), %" PRIu64
         " batches acknowledged, all intact\n",
         label, cycles, hook_kills, no_ack, total_acked);
  for (int c = 0; c < cycles; c++) free(s[c].mask);
  free(s);
  free(cs);
  if (use_hooks) {
    /* no orphans: after two clean open/close rounds every table is live, few WALs remain */
    shale_db *db;
    for (int i = 0; i < 2; i++) {
      assert_int_equal(shale_open(dir, o, &db), SHALE_OK);
      assert_int_equal(shale_close(db), SHALE_OK);
    }
    assert_int_equal(shale_open(dir, o, &db), SHALE_OK);
    /* a flush retires the WALs; clean opens alone leave empty ones (see test_clean_reopens) */
    assert_int_equal(shale_put(db, "zz", 2, "v", 1, 0), SHALE_OK);
    assert_int_equal(shale_flush(db), SHALE_OK);
    int rc = shale_compact_range(db, NULL, 0, NULL, 0); /* settle background work */
    assert_true(rc == SHALE_OK || rc == SHALE_NOTSUP);
    int live = 0;
    for (int l = 0; l < 7; l++) {
      char name[64], *v;
      snprintf(name, sizeof name, "shale.num-files-at-level%d", l);
      assert_int_equal(shale_property(db, name, &v), SHALE_OK);
      live += atoi(v);
      shale_free(v);
    }
    int ssts = tu_count_suffix(dir, ".sst"), logs = tu_count_suffix(dir, ".log");
    assert_int_equal(shale_close(db), SHALE_OK);
    printf("%s: %d live tables, %d .sst files, %d .log files, %d MANIFEST files\n", label, live,
           ssts, logs, count_prefix(dir, "MANIFEST-"));
    assert_int_equal(count_prefix(dir, "MANIFEST-"), 1);
    if (ssts != live) fail_msg("%d .sst files in the directory but %d live tables", ssts, live);
    assert_int_equal(tu_count_suffix(dir, ".sst"), live);
    if (logs > 2) fail_msg("%d .log files left after clean reopens (expected at most 2)", logs);
  }
  parent_io_end();
  tu_tempdir_free(dir);
}

static void test_crash_batches_atomic(void **state) {
  (void)state;
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 4 << 20;
  crash_loop(&o, 0, "batches across kills");
}

static void test_crash_during_flush(void **state) {
  (void)state;
  shale_options o;
  tu_options_init(&o);
  o.write_buffer_size = 64 << 10; /* flushes (and compactions) all the time */
  crash_loop(&o, 1, "kills during flush");
}

/* ---- torn WAL tails ---- */

#define TORN_KEYS 600

static size_t torn_key(int i, char *k) { return (size_t)snprintf(k, 16, "t%06d", i); }

/* Values of varied size, some over a 32 KiB log block, so records fragment. */
static size_t torn_value(int i, char *v, size_t cap) {
  size_t n = (i % 97 == 5) ? 40000 : (size_t)(10 + (i * 37) % 700);
  if (n >= cap) n = cap - 1;
  for (size_t x = 0; x < n; x++) v[x] = (char)('a' + (i + (int)x) % 26);
  return n;
}

static char *newest_log(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  unsigned long long best = 0;
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    unsigned long long n;
    char tail[8];
    if (sscanf(e->d_name, "%llu.%7s", &n, tail) == 2 && !strcmp(tail, "log") &&
        (!found || n > best))
      best = n, found = 1;
  }
  closedir(d);
  assert_true(found);
  char name[32];
  snprintf(name, sizeof name, "%06llu.log", best);
  return tu_path(dir, name);
}

static void check_prefix(shale_db *db, int m, char *vbuf, size_t cap, const char *what) {
  char k[16];
  for (int i = 0; i < TORN_KEYS; i++) {
    void *val;
    size_t vl;
    int rc = shale_get(db, NULL, k, torn_key(i, k), &val, &vl);
    if (i < m) {
      if (rc != SHALE_OK)
        fail_msg("%s: key %d of the intact prefix of %d is gone (%d)", what, i, m, rc);
      size_t wl = torn_value(i, vbuf, cap);
      if (vl != wl || memcmp(val, vbuf, vl)) fail_msg("%s: key %d has a wrong value", what, i);
      shale_free(val);
    } else if (rc != SHALE_NOTFOUND) {
      fail_msg("%s: key %d is past the cut (prefix %d) but reads %d", what, i, m, rc);
    }
  }
}

static void test_wal_torn_tail(void **state) {
  (void)state;
  /* Record ends are read off the file size, which needs write(2) appends; the mapped WAL's
   * preallocated tail is covered by test_wal's test_mapped_log. */
  setenv("SHALE_MMAP", "0", 1);
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o); /* 64 MiB memtable: everything stays in one WAL */
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char *log = newest_log(dir);
  long long *ends = calloc(TORN_KEYS, sizeof *ends);
  size_t cap = 65536;
  char *v = malloc(cap), k[16];
  for (int i = 0; i < TORN_KEYS; i++) {
    assert_int_equal(shale_put(db, k, torn_key(i, k), v, torn_value(i, v, cap), 0), SHALE_OK);
    ends[i] = tu_file_size(log); /* one write(2) per record: the file ends at this record */
  }
  assert_int_equal(shale_close(db), SHALE_OK);
  char *again = newest_log(dir);
  assert_string_equal(again, log); /* close did not move the data out of this WAL */
  free(again);
  long long size = tu_file_size(log);
  assert_int_equal(size, ends[TORN_KEYS - 1]);

  long long cuts[64];
  int ncuts = 0;
  long long fixed[] = {0,     1,           7,       20,          26,       27,
                       28,    ends[0] - 1, ends[0], ends[0] + 1, 32767,    32768,
                       32769, 32775,       65536,   size - 1,    size - 7, size};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    if (fixed[i] >= 0 && fixed[i] <= size) cuts[ncuts++] = fixed[i];
  uint64_t rng = 99;
  while (ncuts < 40) {
    int r = (int)(tu_rand(&rng) % TORN_KEYS);
    cuts[ncuts++] = ends[r] - (long long)(tu_rand(&rng) % 3); /* at or just before a record end */
    cuts[ncuts++] = (long long)(tu_rand(&rng) % (unsigned long long)size);
  }
  for (int c = 0; c < ncuts; c++) {
    long long x = cuts[c];
    int m = 0;
    while (m < TORN_KEYS && ends[m] <= x) m++;
    char *copy = tu_tempdir();
    assert_int_equal(tu_copy_dir(dir, copy), 0);
    const char *base = strrchr(log, '/') + 1;
    char *clog = tu_path(copy, base);
    assert_int_equal(tu_truncate(clog, x), 0);
    char what[96];
    snprintf(what, sizeof what, "WAL cut at %lld of %lld (%d records intact)", x, size, m);
    int rc = shale_open(copy, &o, &db);
    if (rc) fail_msg("%s: open failed: %s: %s", what, shale_strerror(rc), shale_errmsg(NULL));
    check_prefix(db, m, v, cap, what);
    assert_int_equal(shale_put(db, "after", 5, "x", 1, 0), SHALE_OK); /* writable again */
    assert_int_equal(shale_close(db), SHALE_OK);
    assert_int_equal(shale_open(copy, &o, &db), SHALE_OK); /* and it stays so */
    check_prefix(db, m, v, cap, what);
    void *val;
    size_t vl;
    assert_int_equal(shale_get(db, NULL, "after", 5, &val, &vl), SHALE_OK);
    shale_free(val);
    assert_int_equal(shale_close(db), SHALE_OK);
    free(clog);
    tu_tempdir_free(copy);
  }
  printf("torn WAL tail: %d cuts of a %lld-byte log, each reopened with its prefix\n", ncuts, size);
  free(v);
  free(ends);
  free(log);
  tu_tempdir_free(dir);
  unsetenv("SHALE_MMAP");
}

/* Opening and closing a DB without writing must not leave a new WAL behind each time. */
static void test_clean_reopens(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
    assert_int_equal(shale_close(db), SHALE_OK);
  }
  int logs = tu_count_suffix(dir, ".log");
  if (logs > 2)
    fail_msg(
        "%d .log files after 10 clean open/close rounds without writes: each open leaves "
        "an empty WAL that nothing deletes until the next flush",
        logs);
  tu_tempdir_free(dir);
}

static void write_and_flush(const char *dir) {
  shale_db *db;
  assert_int_equal(shale_open(dir, tu_default_options(), &db), SHALE_OK);
  assert_int_equal(shale_put(db, "k", 1, "v", 1, 0), SHALE_OK);
  int rc = shale_flush(db);
  if (rc) fprintf(stderr, "flush: %s\n", shale_errmsg(db));
  assert_int_equal(rc, SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
}

/* A process that flushed a table (its io_uring ring goes back to a pool) forks a child that
 * opens another DB and flushes too; afterwards the parent must still be able to flush. The
 * rings' memory is a shared mapping, so a child reusing a pooled ring moves the parent's
 * ring under it. */
static void test_fork_after_io_uring(void **state) {
  (void)state;
  parent_io_end(); /* as the run asked: this is about the io_uring path */
  char *a = tu_tempdir(), *b = tu_tempdir(), *c = tu_tempdir();
  write_and_flush(a);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    shale_db *db;
    if (shale_open(b, tu_default_options(), &db) || shale_put(db, "k", 1, "v", 1, 0) ||
        shale_flush(db) || shale_close(db))
      _exit(1);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int i = 0; i < 3; i++) write_and_flush(c);
  tu_tempdir_free(a);
  tu_tempdir_free(b);
  tu_tempdir_free(c);
}

int main(void) {
  orig_shale_io = getenv("SHALE_IO") ? strdup(getenv("SHALE_IO")) : NULL;
  const char *only = getenv("SHALE_TEST_FILTER");
  if (only && *only) cmocka_set_test_filter(only);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_batches_atomic), cmocka_unit_test(test_crash_during_flush),
      cmocka_unit_test(test_wal_torn_tail),        cmocka_unit_test(test_clean_reopens),
      cmocka_unit_test(test_fork_after_io_uring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
