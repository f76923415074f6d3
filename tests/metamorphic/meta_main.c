/* meta_main.c — the metamorphic test's driver (issue 19; doc/reliability.md).
 *
 * 1. Every history saved under tests/metamorphic/regressions/ is replayed under every
 *    option set.
 * 2. SHALE_META_HISTORIES (default --histories) random histories of about SHALE_META_OPS
 *    ops each, seeds SHALE_META_SEED.. on, are replayed under every option set; each run's
 *    results must equal the model's and the first run's. SHALE_META_MINUTES stops early.
 * 3. A failing history is shrunk (chunks of ops dropped while it still fails under the
 *    failing option set) and written to the regressions directory.
 * --plant breaks the model on purpose (deletes of some keys are ignored) to check that a
 * failure is found, shrunk small and saved in a form that fails again when read back. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.h"
#include "shale.h"
#include "testutil.h"

#define KB(x) ((size_t)(x) << 10)
#define MB(x) ((size_t)(x) << 20)
#define ZSTD SHALE_COMPRESSION_ZSTD
#define NONE SHALE_COMPRESSION_NONE

extern long meta_crashes, meta_powerloss_overflows;
extern int meta_plant;

/* None of these may change a result. zstd-dict-block256 asks for a 1 KiB zstd dictionary
 * trained on up to 32 KiB: bounds small enough that some of the small tables here get one
 * (zstd wants 7 samples, so a table of a few big values does not); the other zstd sets ask
 * for none. The comparators and the compaction filters are ones that keep every result
 * (meta_db.c): the reverse comparator's DB gets keys translated to its order, and the
 * removing filter takes only marked values, which every run reads as deleted. walkeep: WAL
 * retention, so that the WAL walks there find their WALs. Fields not named are 0 or NULL.
 * OPTSET only keeps each set on a few lines: clang-format gives a braced list of
 * designated initializers one line per field, but packs a macro's arguments. */
#define OPTSET(...) \
  { __VA_ARGS__ }
static const meta_optset sets[] = {
    OPTSET(.name = "default", .block_size = KB(4), .write_buffer_size = MB(64),
           .target_file_size = MB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4),
    OPTSET(.name = "block256-wb64k", .block_size = 256, .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4),
    OPTSET(.name = "block64k-plain-nobloom", .block_size = KB(64), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = NONE,
           .compression_level = 3, .bloom_bits = 0, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4),
    OPTSET(.name = "pwrite-walkeep", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .env_io = "pwrite", .wal_keep = MB(64)),
    OPTSET(.name = "nommap-plain", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = NONE,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .env_mmap = "0"),
    OPTSET(.name = "mmap-plain-block256", .block_size = 256, .write_buffer_size = KB(32),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = NONE,
           .compression_level = 3, .bloom_bits = 0, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4),
    OPTSET(.name = "nowal", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .no_wal = 1),
    OPTSET(.name = "l0-1-tiny", .block_size = KB(1), .write_buffer_size = KB(16),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 1, .max_open_files = 1000,
           .bg_jobs = 1, .max_imm = 1),
    OPTSET(.name = "dps1", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .delete_persist_seconds = 1.0),
    OPTSET(.name = "readonly-end", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .read_only_end = 1),
    OPTSET(.name = "tinycache-zstd-7-files16", .block_size = 512, .write_buffer_size = KB(32),
           .target_file_size = KB(64), .block_cache_size = KB(64), .compression = ZSTD,
           .compression_level = -7, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 16,
           .bg_jobs = 2, .max_imm = 2),
    OPTSET(.name = "wb64m-nowal-plain-pwrite", .block_size = KB(4), .write_buffer_size = MB(64),
           .target_file_size = MB(64), .block_cache_size = MB(64), .compression = NONE,
           .compression_level = 3, .bloom_bits = 0, .l0_trigger = 4, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .delete_persist_seconds = 1.0, .env_io = "pwrite",
           .no_wal = 1, .read_only_end = 1),
    OPTSET(.name = "comparator", .block_size = KB(4), .write_buffer_size = KB(64),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .comparator = 1),
    OPTSET(.name = "filter-block1k-l0-2", .block_size = KB(1), .write_buffer_size = KB(32),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 2, .filter = 1),
    OPTSET(.name = "reverse-walkeep", .block_size = KB(1), .write_buffer_size = KB(32),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 2, .comparator = 1, .reverse = 1, .wal_keep = MB(64)),
    OPTSET(.name = "filter-remove-walkeep", .block_size = 512, .write_buffer_size = KB(16),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = NONE,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 1, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 2, .filter = 2, .wal_keep = MB(64)),
    OPTSET(.name = "zstd-dict-block256", .block_size = 256, .write_buffer_size = KB(32),
           .target_file_size = KB(64), .block_cache_size = MB(64), .compression = ZSTD,
           .compression_level = 3, .bloom_bits = 10, .l0_trigger = 2, .max_open_files = 1000,
           .bg_jobs = 2, .max_imm = 4, .dict_bytes = KB(1)),
};
#undef OPTSET
#define NSETS ((int)(sizeof sets / sizeof sets[0]))

static char *workdir;
static long runs;

static long env_long(const char *name, long dflt) {
  const char *s = getenv(name);
  return s && *s ? strtol(s, NULL, 10) : dflt;
}

/* The first line where a and b differ, printed into msg; 0 when they are equal. */
static int first_diff(const sbuf *a, const sbuf *b, char *msg, size_t cap) {
  size_t n = a->n < b->n ? a->n : b->n, i = 0;
  if (a->n == b->n && (!n || !memcmp(a->p, b->p, n))) return 0;
  while (i < n && a->p[i] == b->p[i]) i++;
  while (i > 0 && a->p[i - 1] != '\n') i--;
  const char *ea = memchr(a->p + i, '\n', a->n - i), *eb = memchr(b->p + i, '\n', b->n - i);
  int la = (int)((ea ? ea : a->p + a->n) - (a->p + i));
  int lb = (int)((eb ? eb : b->p + b->n) - (b->p + i));
  snprintf(msg, cap, "expected: %.*s\n     got: %.*s", la > 600 ? 600 : la, a->p ? a->p + i : "",
           lb > 600 ? 600 : lb, b->p ? b->p + i : "");
  return 1;
}

static int run_set(const meta_hist *h, const meta_optset *os, sbuf *out) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/db", workdir);
  tu_rmrf(dir);
  runs++;
  int rc = meta_db_run(h, h->n, os, dir, out);
  tu_rmrf(dir);
  return rc;
}

/* Whether h fails under os; msg says how. */
static int fails(const meta_hist *h, const meta_optset *os, char *msg, size_t cap) {
  sbuf want = {0}, got = {0};
  meta_model_run(h, h->n, &want);
  run_set(h, os, &got);
  int bad = first_diff(&want, &got, msg, cap);
  sb_free(&want), sb_free(&got);
  return bad;
}

/* Runs h under every set; the index of the first failing set, or -1. */
static int check_all(const meta_hist *h, char *msg, size_t cap) {
  sbuf want = {0}, first = {0};
  int bad = -1;
  meta_model_run(h, h->n, &want);
  for (int s = 0; s < NSETS && bad < 0; s++) {
    sbuf got = {0};
    run_set(h, &sets[s], &got);
    if (first_diff(&want, &got, msg, cap) || (s && first_diff(&first, &got, msg, cap))) bad = s;
    if (!s)
      first = got;
    else
      sb_free(&got);
  }
  sb_free(&want), sb_free(&first);
  return bad;
}

static void drop_range(meta_hist *dst, const meta_hist *src, int from, int len) {
  dst->n = 0;
  dst->seed = src->seed, dst->nkeys = src->nkeys;
  for (int i = 0; i < src->n; i++)
    if (i < from || i >= from + len) meta_hist_push(dst, &src->ops[i]);
}

/* Delta debugging: drop chunks of ops while the history still fails, halving the chunks
 * when none can go; at most `budget` runs. */
static void shrink(meta_hist *h, const meta_optset *os, int budget) {
  meta_hist c = {0};
  char msg[2048];
  for (int parts = 2; h->n > 1 && budget > 0;) {
    int chunk = (h->n + parts - 1) / parts, dropped = 0;
    for (int from = 0; from < h->n && budget > 0; from += chunk, budget--) {
      drop_range(&c, h, from, chunk);
      if (!fails(&c, os, msg, sizeof msg)) continue;
      meta_hist t = *h;
      *h = c, c = t, dropped = 1;
      parts = parts > 2 ? parts - 1 : 2;
      break;
    }
    if (dropped) continue;
    if (parts >= h->n) break;
    parts = parts * 2 < h->n ? parts * 2 : h->n;
  }
  meta_hist_free(&c);
}

/* Shrinks a failing history, saves it, and checks the saved file fails again. */
static int save_failure(meta_hist *h, int set, const char *regdir, char *path, size_t cap) {
  char msg[2048], note[2300];
  int before = h->n;
  shrink(h, &sets[set], (int)env_long("SHALE_META_SHRINK_RUNS", 400));
  fails(h, &sets[set], msg, sizeof msg);
  snprintf(path, cap, "%s/seed%llu-%s.txt", regdir, (unsigned long long)h->seed, sets[set].name);
  snprintf(note, sizeof note, "fails under %s:\n# %s", sets[set].name, msg);
  for (char *p = note; (p = strchr(p, '\n'));) *p = ' ';
  meta_hist_write(h, path, note);
  printf("shrunk %d ops to %d: %s\n%s\n", before, h->n, path, msg);
  meta_hist back;
  if (meta_hist_read(&back, path)) return printf("cannot read back %s\n", path), -1;
  int again = fails(&back, &sets[set], msg, sizeof msg);
  meta_hist_free(&back);
  return again ? 0 : -1;
}

static int replay_regressions(const char *regdir) {
  DIR *d = opendir(regdir);
  int bad = 0, n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
    char path[4200], msg[2048];
    snprintf(path, sizeof path, "%s/%s", regdir, e->d_name);
    meta_hist h;
    n++;
    if (meta_hist_read(&h, path)) {
      printf("FAIL %s: cannot parse\n", path), bad++;
      continue;
    }
    int s = check_all(&h, msg, sizeof msg);
    if (s >= 0 && h.known_bug)
      printf("known bug still there (not counted): %s under %s:\n%s\n", path, sets[s].name, msg);
    else if (s >= 0)
      printf("FAIL regression %s under %s:\n%s\n", path, sets[s].name, msg), bad++;
    else if (h.known_bug)
      printf("%s: marked known_bug but passes in this build: fixed?\n", path);
    meta_hist_free(&h);
  }
  if (d) closedir(d);
  printf("regressions: %d replayed under %d option sets, %d failed\n", n, NSETS, bad);
  return bad;
}

static char *make_workdir(void) {
  const char *base = getenv("SHALE_META_TMPDIR");
  if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  char *p = malloc(strlen(base) + 32);
  sprintf(p, "%s/shale-meta-XXXXXX", base);
  if (!mkdtemp(p)) abort();
  return p;
}

typedef struct args {
  long histories, ops, seed;
  double minutes;
  const char *regdir;
} args;

static int random_histories(const args *a) {
  long ops = 0, n = 0;
  double t0 = tu_now_s();
  for (; n < a->histories; n++) {
    if (a->minutes > 0 && tu_now_s() - t0 > a->minutes * 60) break;
    meta_hist h;
    char msg[2048], path[4200];
    uint64_t seed = (uint64_t)(a->seed + n);
    meta_generate(&h, seed, (int)(a->ops / 2 + (long)(seed * 7919 % (uint64_t)(a->ops + 1))));
    ops += h.n;
    int s = check_all(&h, msg, sizeof msg);
    if (s >= 0) {
      printf("FAIL history seed %llu (%d ops) under %s:\n%s\n", (unsigned long long)seed, h.n,
             sets[s].name, msg);
      int saved = save_failure(&h, s, a->regdir, path, sizeof path), small = h.n <= 12;
      meta_hist_free(&h);
      return meta_plant ? !(saved == 0 && small) : 1;
    }
    meta_hist_free(&h);
  }
  long walks, absent, removed;
  meta_db_counts(&walks, &absent, &removed);
  printf(
      "histories: %ld (seeds %ld..), %ld ops, %d option sets, %ld runs, %ld crashes with power "
      "loss (%ld table overflows), %ld WAL walks (%ld found a WAL gone), %ld values filtered "
      "out, %.1f s\n",
      n, a->seed, ops, NSETS, runs, meta_crashes, meta_powerloss_overflows, walks, absent, removed,
      tu_now_s() - t0);
  return meta_plant; /* a planted bug that went unnoticed is a failure */
}

int main(int argc, char **argv) {
  args a = {300, 120, 1, 0, META_REGRESSION_DIR};
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--histories=", 12)) a.histories = atol(argv[i] + 12);
    if (!strncmp(argv[i], "--ops=", 6)) a.ops = atol(argv[i] + 6);
    if (!strncmp(argv[i], "--regressions=", 14)) a.regdir = argv[i] + 14;
    if (!strcmp(argv[i], "--plant")) meta_plant = 1;
  }
  a.histories = env_long("SHALE_META_HISTORIES", a.histories);
  a.ops = env_long("SHALE_META_OPS", a.ops);
  a.seed = env_long("SHALE_META_SEED", a.seed);
  a.minutes = (double)env_long("SHALE_META_MINUTES", 0);
  setvbuf(stdout, NULL, _IOLBF, 0);
  workdir = make_workdir();
  int bad = meta_plant ? 0 : replay_regressions(a.regdir);
  if (!bad) bad = random_histories(&a);
  tu_rmrf(workdir);
  free(workdir);
  return bad ? 1 : 0;
}
