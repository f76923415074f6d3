/* test_read_only.c — shale_options.read_only: such an open reads tables and WALs, refuses
 * writes, takes no LOCK (so it works beside a writer, in this process or another, and a
 * writer beside it), and leaves every file of the directory byte-identical, down to working
 * on a read-only mount. Beside a writer under load each handle reads a consistent state as
 * of its open, and keeps reading it after the writer deleted every file it had.
 * SHALE_STRESS_SECONDS scales the load test (default 5 -> about 3 s). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shale.h"
#include "testutil.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a of a file's bytes, or 0 when it cannot be read. */
static uint64_t file_hash(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint64_t h = 1469598103934665603ull;
  int c;
  while ((c = fgetc(f)) != EOF) h = (h ^ (uint64_t)c) * 1099511628211ull;
  fclose(f);
  return h;
}

/* "name size hash" of every file in dir, sorted, one string: equal strings mean no file
 * appeared, went or changed. */
static char *dir_digest(const char *dir) {
  char *lines[256];
  int n = 0;
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    if (e->d_name[0] == '.') continue;
    char *p = tu_path(dir, e->d_name);
    lines[n] = malloc(512);
    snprintf(lines[n++], 512, "%s %lld %016llx\n", e->d_name, tu_file_size(p),
             (unsigned long long)file_hash(p));
    free(p);
  }
  closedir(d);
  qsort(lines, (size_t)n, sizeof *lines, cmp_str);
  char *out = calloc((size_t)n + 1, 512);
  for (int i = 0; i < n; i++) {
    strcat(out, lines[i]);
    free(lines[i]);
  }
  return out;
}

static void put_str(shale_db *db, const char *k, const char *v) {
  assert_int_equal(shale_put(db, k, strlen(k), v, strlen(v), 0), SHALE_OK);
}

/* A DB with keys in tables (over the L0 compaction trigger) and more in the WAL. */
static void make_db(const char *dir) {
  shale_options o;
  tu_options_init(&o);
  o.level0_compaction_trigger = 100;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  char k[32];
  for (int t = 0; t < 6; t++) {
    for (int i = 0; i < 50; i++) {
      snprintf(k, sizeof k, "key%03d", t * 50 + i);
      put_str(db, k, "table");
    }
    assert_int_equal(shale_delete(db, "key000", 6, 0), SHALE_OK);
    assert_int_equal(shale_flush(db), SHALE_OK);
  }
  put_str(db, "walkey", "walval");
  assert_int_equal(shale_delete(db, "key001", 6, 0), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
}

static int open_ro(const char *dir, shale_db **db) {
  shale_options o;
  tu_options_init(&o);
  o.read_only = 1;
  return shale_open(dir, &o, db);
}

static void check_value(shale_db *db, const char *k, const char *want) {
  void *v;
  size_t n;
  int rc = shale_get(db, NULL, k, strlen(k), &v, &n);
  if (!want) {
    assert_int_equal(rc, SHALE_NOTFOUND);
    return;
  }
  assert_int_equal(rc, SHALE_OK);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
  shale_free(v);
}

static void reads_everything(shale_db *db) {
  check_value(db, "walkey", "walval");
  check_value(db, "key100", "table");
  check_value(db, "key000", NULL);
  check_value(db, "key001", NULL);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  assert_int_equal(n, 300 - 2 + 1);
}

static void test_reads_and_changes_nothing(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *before = dir_digest(dir);
  shale_db *db;
  assert_int_equal(open_ro(dir, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_put(db, "a", 1, "b", 1, 0), SHALE_READONLY);
  assert_non_null(strstr(shale_errmsg(db), "read_only"));
  assert_int_equal(shale_delete(db, "a", 1, 0), SHALE_READONLY);
  assert_int_equal(shale_flush(db), SHALE_READONLY);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_READONLY);
  char *v;
  assert_int_equal(shale_property(db, "shale.num-files-at-level0", &v), SHALE_OK);
  assert_string_equal(v, "6");
  shale_free(v);
  usleep(200 * 1000); /* time for background work to start, were there any */
  assert_int_equal(shale_close(db), SHALE_OK);
  char *after = dir_digest(dir);
  assert_string_equal(before, after);
  free(before);
  free(after);
  tu_tempdir_free(dir);
}

static void test_readers_beside_a_writer(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  shale_db *r1, *r2, *w, *w2;
  assert_int_equal(open_ro(dir, &r1), SHALE_OK);
  assert_int_equal(open_ro(dir, &r2), SHALE_OK);
  assert_int_equal(shale_open(dir, tu_default_options(), &w), SHALE_OK);    /* readers hold none */
  assert_int_equal(shale_open(dir, tu_default_options(), &w2), SHALE_BUSY); /* one writer */
  assert_null(w2);
  put_str(w, "walkey", "newer");
  reads_everything(r1); /* its state is the one of its open */
  shale_db *r3;
  assert_int_equal(open_ro(dir, &r3), SHALE_OK); /* beside the writer: sees its WAL */
  check_value(r3, "walkey", "newer");
  assert_int_equal(shale_close(r1), SHALE_OK);
  assert_int_equal(shale_close(w), SHALE_OK);
  reads_everything(r2);
  assert_int_equal(shale_close(r2), SHALE_OK);
  check_value(r3, "walkey", "newer");
  assert_int_equal(shale_close(r3), SHALE_OK);
  tu_tempdir_free(dir);
}

/* ---- beside a writer under load ---- */

#define GEN_KEYS 64 /* every batch sets all of them to its generation */
#define DEL_KEYS 16 /* and puts half of these, deleting the other half, by generation */
#define PAD 96      /* value bytes past the generation: flushes come every few batches */
#define MIN_OPENS 30

typedef struct load {
  shale_db *w;
  _Atomic uint64_t acked; /* the last generation shale_write returned for */
  atomic_int stop;
  int write_errors;
} load;

static int del_key_live(uint64_t gen, int i) { return (gen + (uint64_t)i) % 2 == 0; }

static void gen_value(char *v, uint64_t gen) {
  memset(v, 'p', PAD + 16);
  snprintf(v, 17, "g%015llu", (unsigned long long)gen);
  v[16] = 'p';
}

static int write_generation(shale_db *w, shale_batch *b, uint64_t gen) {
  char k[16], v[PAD + 16];
  gen_value(v, gen);
  shale_batch_clear(b);
  int rc = SHALE_OK;
  for (int i = 0; i < GEN_KEYS && !rc; i++) {
    snprintf(k, sizeof k, "k%03d", i);
    rc = shale_batch_put(b, k, 4, v, sizeof v);
  }
  for (int i = 0; i < DEL_KEYS && !rc; i++) {
    snprintf(k, sizeof k, "d%03d", i);
    rc = del_key_live(gen, i) ? shale_batch_put(b, k, 4, v, sizeof v) : shale_batch_delete(b, k, 4);
  }
  return rc ? rc : shale_write(w, b, 0);
}

static void *writer_main(void *arg) {
  load *l = arg;
  shale_batch *b;
  if (shale_batch_new(&b)) {
    l->write_errors++;
    return NULL;
  }
  for (uint64_t gen = atomic_load(&l->acked) + 1; !atomic_load(&l->stop); gen++) {
    int rc = write_generation(l->w, b, gen);
    if (!rc && gen % 97 == 0) rc = shale_flush(l->w);
    if (!rc && gen % 401 == 0) rc = shale_compact_range(l->w, NULL, 0, NULL, 0);
    if (rc) {
      fprintf(stderr, "writer: generation %llu: %s: %s\n", (unsigned long long)gen,
              shale_strerror(rc), shale_errmsg(l->w));
      l->write_errors++;
      break;
    }
    atomic_store(&l->acked, gen);
  }
  shale_batch_free(b);
  return NULL;
}

static uint64_t value_gen(const void *v, size_t n) {
  assert_int_equal(n, PAD + 16);
  return strtoull((const char *)v + 1, NULL, 10);
}

/* The generation all GEN_KEYS keys hold, and the DEL_KEYS keys as that generation left them. */
static uint64_t check_gets(shale_db *db) {
  uint64_t gen = 0;
  char k[16];
  for (int i = 0; i < GEN_KEYS; i++) {
    void *v;
    size_t n;
    snprintf(k, sizeof k, "k%03d", i);
    assert_int_equal(shale_get(db, NULL, k, 4, &v, &n), SHALE_OK);
    uint64_t g = value_gen(v, n);
    shale_free(v);
    if (i == 0) gen = g;
    assert_int_equal(g, gen);
  }
  for (int i = 0; i < DEL_KEYS; i++) {
    void *v;
    size_t n;
    snprintf(k, sizeof k, "d%03d", i);
    int rc = shale_get(db, NULL, k, 4, &v, &n);
    assert_int_equal(rc, del_key_live(gen, i) ? SHALE_OK : SHALE_NOTFOUND);
    if (rc) continue;
    assert_int_equal(value_gen(v, n), gen);
    shale_free(v);
  }
  return gen;
}

/* Walks the whole DB one way: every key holds gen, and the live ones are all there. */
static void check_scan(shale_db *db, uint64_t gen, int backward) {
  int want = GEN_KEYS;
  for (int i = 0; i < DEL_KEYS; i++) want += del_key_live(gen, i);
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  int n = 0;
  if (backward)
    shale_iter_seek_last(it);
  else
    shale_iter_seek_first(it);
  for (; shale_iter_valid(it); backward ? shale_iter_prev(it) : shale_iter_next(it)) {
    size_t vn;
    const void *v = shale_iter_value(it, &vn);
    assert_int_equal(value_gen(v, vn), gen);
    n++;
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  assert_int_equal(n, want);
}

static void test_consistent_beside_a_writer_under_load(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  o.create_if_missing = 1;
  o.write_buffer_size = 64 << 10; /* a flush every few batches, compactions behind them */
  o.level0_compaction_trigger = 2;
  o.target_file_size = 64 << 10;
  o.manifest_roll_bytes = 16 << 10;  /* CURRENT moves on often */
  o.wal_retention_bytes = 256 << 10; /* obsolete WALs renamed .old.log, then deleted */
  load l = {0};
  assert_int_equal(shale_open(dir, &o, &l.w), SHALE_OK);
  shale_batch *b;
  assert_int_equal(shale_batch_new(&b), SHALE_OK);
  assert_int_equal(write_generation(l.w, b, 1), SHALE_OK);
  shale_batch_free(b);
  atomic_store(&l.acked, 1);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_main, &l), 0);
  /* At least MIN_OPENS opens, however slow the build (sanitizers), within the hard limit. */
  double start = tu_now_s(), end = start + tu_stress_seconds() * 0.6, hard_end = start + 15;
  int opens = 0;
  uint64_t newest = 0;
  while ((tu_now_s() < end || (opens < MIN_OPENS && tu_now_s() < hard_end)) && !l.write_errors) {
    uint64_t before = atomic_load(&l.acked);
    shale_db *r;
    int rc = open_ro(dir, &r);
    if (rc) fprintf(stderr, "open %d: %s: %s\n", opens, shale_strerror(rc), shale_errmsg(NULL));
    assert_int_equal(rc, SHALE_OK);
    uint64_t gen = check_gets(r);
    assert_true(gen >= before); /* every write acknowledged before the open */
    check_scan(r, gen, 0);
    check_scan(r, gen, 1);
    assert_int_equal(check_gets(r), gen); /* frozen: the writer went on meanwhile */
    assert_int_equal(shale_close(r), SHALE_OK);
    if (gen > newest) newest = gen;
    opens++;
  }
  atomic_store(&l.stop, 1);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(l.write_errors, 0);
  assert_int_equal(shale_close(l.w), SHALE_OK);
  fprintf(stderr, "%d read-only opens beside %llu generations, newest seen %llu\n", opens,
          (unsigned long long)atomic_load(&l.acked), (unsigned long long)newest);
  assert_true(opens >= MIN_OPENS);
  tu_tempdir_free(dir);
}

/* Every file name in dir ending in suffix, one string. */
static char *names_ending(const char *dir, const char *suffix) {
  char *out = calloc(1, 1 << 16);
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  size_t sl = strlen(suffix);
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < sl || strcmp(e->d_name + n - sl, suffix)) continue;
    strcat(out, e->d_name);
    strcat(out, " ");
  }
  closedir(d);
  return out;
}

/* Every key and value of db in order, one string. */
static char *scan_all(shale_db *db) {
  struct {
    char *s;
    size_t n;
  } acc = {calloc(1, 1 << 16), 0};
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kn, vn;
    const char *k = shale_iter_key(it, &kn), *v = shale_iter_value(it, &vn);
    acc.n +=
        (size_t)snprintf(acc.s + acc.n, (1 << 16) - acc.n, "%.*s=%.*s;", (int)kn, k, (int)vn, v);
    assert_true(acc.n < (1 << 16));
  }
  assert_int_equal(shale_iter_status(it), SHALE_OK);
  shale_iter_free(it);
  return acc.s;
}

/* The reader's files all go (tables compacted away, WALs flushed and deleted) while it is
 * open: it goes on reading what it read at open, from the files it holds open. */
static void test_frozen_after_the_writer_removed_every_file(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  shale_db *w, *r;
  assert_int_equal(shale_open(dir, tu_default_options(), &w), SHALE_OK);
  put_str(w, "onlyinwal", "x");
  assert_int_equal(open_ro(dir, &r), SHALE_OK);
  char *scan0 = scan_all(r), *tables = names_ending(dir, ".sst"), *wals = names_ending(dir, ".log");
  assert_non_null(strstr(scan0, "onlyinwal=x;"));
  char k[32];
  for (int i = 0; i < 300; i++) {
    snprintf(k, sizeof k, "key%03d", i);
    put_str(w, k, "rewritten");
  }
  assert_int_equal(shale_delete_range(w, "key100", 6, "key200", 6, 0), SHALE_OK);
  assert_int_equal(shale_flush(w), SHALE_OK);
  assert_int_equal(shale_compact_range(w, NULL, 0, NULL, 0), SHALE_OK);
  put_str(w, "walkey", "after");
  assert_int_equal(shale_flush(w), SHALE_OK);
  char *tables1 = names_ending(dir, ".sst"), *wals1 = names_ending(dir, ".log");
  for (char *t = strtok(tables, " "); t; t = strtok(NULL, " ")) assert_null(strstr(tables1, t));
  for (char *t = strtok(wals, " "); t; t = strtok(NULL, " ")) assert_null(strstr(wals1, t));
  check_value(r, "walkey", "walval");
  check_value(r, "key100", "table");
  check_value(r, "key000", NULL);
  check_value(r, "onlyinwal", "x");
  char *scan1 = scan_all(r);
  assert_string_equal(scan0, scan1);
  assert_int_equal(shale_close(r), SHALE_OK);
  assert_int_equal(shale_close(w), SHALE_OK);
  free(scan0);
  free(scan1);
  free(tables);
  free(tables1);
  free(wals);
  free(wals1);
  tu_tempdir_free(dir);
}

/* ---- the races of an open, made to happen at a chosen file ----
 * The read-only handle's env runs an action of the writer (another handle) at the first
 * open of a file whose name holds a given part: the writer then removes, at that moment,
 * files the open is reading. */

typedef struct race {
  shale_db *w;
  const char *part; /* the file whose open triggers the action */
  void (*action)(shale_db *w);
  int on_read;               /* at the first read of that file instead */
  int fd;                    /* on_read: the file's descriptor, once opened */
  int fired, manifest_opens; /* manifest_opens: one per attempt of the open */
  int checked;               /* the directory check read the MANIFEST's header */
} race;

static race *the_race;

static int race_open(void *arg, const char *path, int flags, int mode) {
  (void)arg;
  race *rc = the_race;
  int manifest_read = strstr(path, "MANIFEST-") && (flags & O_ACCMODE) == O_RDONLY;
  /* shale_open's directory check reads the header of the MANIFEST CURRENT names once, before
   * any attempt: the races are with the attempts. */
  if (manifest_read && !rc->checked) {
    rc->checked = 1;
    return open(path, flags, mode);
  }
  if (manifest_read) rc->manifest_opens++;
  int wanted = !rc->fired && (flags & O_ACCMODE) == O_RDONLY && strstr(path, rc->part);
  if (wanted && !rc->on_read) {
    rc->fired = 1;
    rc->action(rc->w);
  }
  int fd = open(path, flags, mode);
  if (wanted && rc->on_read && rc->fd < 0) rc->fd = fd;
  return fd;
}

static int64_t race_pread(void *arg, int fd, void *data, size_t len, int64_t off) {
  (void)arg;
  race *rc = the_race;
  if (!rc->fired && rc->on_read && fd == rc->fd && off > 0) { /* past the header check */
    rc->fired = 1;
    rc->action(rc->w);
  }
  return pread(fd, data, len, off);
}

static void compact_all(shale_db *w) {
  put_str(w, "key150", "compacted");
  assert_int_equal(shale_compact_range(w, NULL, 0, NULL, 0), SHALE_OK);
}

static void flush_all(shale_db *w) {
  put_str(w, "key150", "flushed");
  assert_int_equal(shale_flush(w), SHALE_OK);
}

static void put_late_and_flush(shale_db *w) {
  put_str(w, "key150", "late");
  assert_int_equal(shale_flush(w), SHALE_OK);
}

/* Opens dir read-only while a writer has it, running action at the first open of a file
 * named like part; returns the number of attempts the open took. */
static int open_racing(const char *dir, const char *part, int on_read, void (*action)(shale_db *w),
                       const char *want150) {
  shale_options wo;
  tu_options_init(&wo);
  wo.manifest_roll_bytes = 1; /* every edit starts a new MANIFEST: CURRENT moves on */
  race rc = {.part = part, .action = action, .on_read = on_read, .fd = -1};
  assert_int_equal(shale_open(dir, &wo, &rc.w), SHALE_OK);
  put_str(rc.w, "walkey", "walval"); /* the writer's open flushed what its WAL held */
  the_race = &rc;
  shale_env env;
  shale_env_default(&env);
  env.open = race_open;
  env.pread = race_pread;
  shale_options o;
  tu_options_init(&o);
  o.read_only = 1;
  o.env = &env;
  shale_db *r;
  assert_int_equal(shale_open(dir, &o, &r), SHALE_OK);
  /* A log written without a mapping has no reserved tail: it is read whole at open. */
  const char *mm = getenv("SHALE_MMAP");
  assert_true(rc.fired || (on_read && mm && !strcmp(mm, "0")));
  reads_everything(r);
  check_value(r, "key150", want150);
  assert_int_equal(shale_close(r), SHALE_OK);
  assert_int_equal(shale_close(rc.w), SHALE_OK);
  the_race = NULL;
  return rc.manifest_opens;
}

static void test_open_races(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  /* A table the MANIFEST lists is compacted away before the open reaches it: a new attempt. */
  assert_true(open_racing(dir, ".sst", 0, compact_all, "compacted") >= 2);
  /* CURRENT names a new MANIFEST and the old one is gone before the open reads it. */
  assert_true(open_racing(dir, "MANIFEST-", 0, flush_all, "flushed") >= 2);
  /* A WAL listed goes once flushed: the MANIFEST then says its writes are in a table. */
  assert_int_equal(open_racing(dir, ".log", 0, flush_all, "flushed"), 1);
  /* The WAL being read moves on (its reserved tail cut off) and goes: read to its end as it
   * was at open, in one attempt; the put the flush carried came after the open. */
  assert_int_equal(open_racing(dir, ".log", 1, put_late_and_flush, "flushed"), 1);
  tu_tempdir_free(dir);
}

/* Pinning opens every table at open; a damaged one is still reported by the reads that
 * need it, not by the open, as when tables were opened on first use. An iterator opens a
 * table when its walk reaches it, and stops there with the error. */
static void test_damaged_table_fails_reads_not_open(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *tables = names_ending(dir, ".sst");
  char *first = strtok(tables, " ");
  assert_non_null(first);
  char *p = tu_path(dir, first);
  assert_int_equal(tu_truncate(p, 10), 0);
  shale_db *db;
  assert_int_equal(open_ro(dir, &db), SHALE_OK);
  check_value(db, "walkey", "walval");
  shale_iter *it;
  assert_int_equal(shale_iter_new(db, NULL, &it), SHALE_OK);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
  }
  assert_int_equal(shale_iter_status(it), SHALE_CORRUPTION);
  shale_iter_free(it);
  assert_int_equal(shale_close(db), SHALE_OK);
  free(p);
  free(tables);
  tu_tempdir_free(dir);
}

static void test_missing_db_is_not_created(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *sub = tu_path(dir, "nodb");
  shale_db *db;
  assert_int_equal(open_ro(sub, &db), SHALE_NOTFOUND);
  assert_int_equal(access(sub, F_OK), -1);
  assert_int_equal(open_ro(dir, &db), SHALE_NOTFOUND); /* empty: no CURRENT */
  char *empty = dir_digest(dir);
  assert_string_equal(empty, "");
  free(empty);
  free(sub);
  tu_tempdir_free(dir);
}

static void test_no_lock_file_needed(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  make_db(dir);
  char *lock = tu_path(dir, "LOCK");
  assert_int_equal(unlink(lock), 0);
  shale_db *db;
  assert_int_equal(open_ro(dir, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(access(lock, F_OK), -1);
  free(lock);
  tu_tempdir_free(dir);
}

/* Root ignores permission bits, so a read-only bind mount stands for a read-only
 * directory; the test skips where mounting is not allowed. */
static void test_read_only_mount(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  char *src = tu_path(dir, "src"), *ro = tu_path(dir, "ro");
  assert_int_equal(mkdir(src, 0755), 0);
  assert_int_equal(mkdir(ro, 0755), 0);
  make_db(src);
  if (mount(src, ro, NULL, MS_BIND, NULL) ||
      mount(NULL, ro, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
    umount(ro);
    free(src);
    free(ro);
    tu_tempdir_free(dir);
    skip();
  }
  shale_db *db;
  assert_int_not_equal(shale_open(ro, tu_default_options(), &db), SHALE_OK);
  assert_int_equal(open_ro(ro, &db), SHALE_OK);
  reads_everything(db);
  assert_int_equal(shale_close(db), SHALE_OK);
  assert_int_equal(umount(ro), 0);
  free(src);
  free(ro);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_and_changes_nothing),
      cmocka_unit_test(test_readers_beside_a_writer),
      cmocka_unit_test(test_consistent_beside_a_writer_under_load),
      cmocka_unit_test(test_frozen_after_the_writer_removed_every_file),
      cmocka_unit_test(test_open_races),
      cmocka_unit_test(test_damaged_table_fails_reads_not_open),
      cmocka_unit_test(test_missing_db_is_not_created),
      cmocka_unit_test(test_no_lock_file_needed),
      cmocka_unit_test(test_read_only_mount),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
