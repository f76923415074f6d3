/* shale_stress.c — a db_stress-style checker for Shale with an expected-state oracle.
 *   --mode=run        threads of random ops for --seconds, every read checked; then a full
 *                     check, a clean reopen and another full check.
 *   --mode=crash      --cycles times: a child runs the workload and is killed with SIGKILL
 *                     at a random moment (or by --kill_point at the k-th hit of a named step
 *                     of a flush or compaction); optionally --recovery_kills children are then
 *                     killed while shale_open replays; a verifying child reopens and checks
 *                     every key (pending keys may be old or new) and the next cycle goes on.
 *   --mode=powerloss  like crash, then the fault layer forgets every unsynced byte and
 *                     directory entry: with --sync=1 nothing acknowledged may be lost;
 *                     without, the DB must hold a prefix of the (serialized) write history.
 * Every DB access after a fork happens in a child, so the parent never holds io_uring rings
 * or threads that a fork would copy. Prints counters; exits 1 on any violation or error. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_hooks.h"
#include "fault_env.h"
#include "stress.h"
#include "testutil.h"

static const char *const hook_names[] = {
    [HOOK_FLUSH_PICKED] = "flush_picked",
    [HOOK_FLUSH_TABLE_SYNCED] = "flush_table_synced",
    [HOOK_FLUSH_MANIFEST_SYNCED] = "flush_manifest_synced",
    [HOOK_FLUSH_VIEW_PUBLISHED] = "flush_view_published",
    [HOOK_FLUSH_WAL_DELETED] = "flush_wal_deleted",
    [HOOK_COMPACTION_PICKED] = "compaction_picked",
    [HOOK_COMPACTION_OUTPUT_SYNCED] = "compaction_output_synced",
    [HOOK_COMPACTION_INSTALLED] = "compaction_installed",
    [HOOK_MANIFEST_WRITTEN] = "manifest_written",
    [HOOK_CURRENT_RENAMED] = "current_renamed",
    [HOOK_URING_COMPLETION] = "uring_completion",
    [HOOK_TABLE_DELETED] = "table_deleted",
};
#define NHOOKS ((int)(sizeof hook_names / sizeof *hook_names))

static stress_opts opt;
static expected ex;
/* --known_bug=TEXT: violations reproduce a reported engine bug; print SKIP, exit 0 */
static const char *known_bug;

static void usage(void) {
  fprintf(stderr,
          "usage: shale-stress [--mode=run|crash|powerloss] [--db=DIR] [--state=FILE]\n"
          "  [--threads=4] [--seconds=5] [--cycles=10] [--keys=10000] [--sync=0|1|2 (1 in 8)]\n"
          "  [--write_buffer_size=262144] [--value_size=120] [--seed=N]\n"
          "  [--kill_min_ms=50] [--kill_max_ms=1000] [--kill_point=all|NAME]\n"
          "  [--recovery_kills=0..3] [--keep] [--verbose] [--known_bug=TEXT]\n"
          "  [--hist_delay_us=N (sleep while logging each power-loss history entry)]\n"
          "  run mode only: [--no_wal=N (1 write in N)] [--reopens=N] [--dbs=N]\n"
          "  [--compression=none|zstd] [--comparator] [--filter]\n"
          "  [--wal_keep=BYTES (WAL retention, for the WAL tail op's walks)]\n"
          "  [--read_only=N (each read_only handle op opens N handles; default 1)]\n"
          "env: SHALE_STRESS_SECONDS overrides --seconds in run mode, SHALE_STRESS_CYCLES\n"
          "     overrides --cycles (the long mode of the CTest scenarios).\n"
          "kill points:");
  for (int i = 1; i < NHOOKS; i++) fprintf(stderr, " %s", hook_names[i]);
  fprintf(stderr, "\n");
  exit(2);
}

static int parse_opts(int argc, char **argv) {
  opt = (stress_opts){.mode = "run",
                      .threads = 4,
                      .cycles = 10,
                      .seconds = 5,
                      .keys = 10000,
                      .kill_min_ms = 50,
                      .kill_max_ms = 1000,
                      .value_size = 120,
                      .compression = -1,
                      .write_buffer_size = 256 << 10};
  opt.seed = (uint64_t)now_ms() * 2654435761u ^ (uint64_t)getpid();
  for (int i = 1; i < argc; i++) {
    char *a = argv[i], *v = strchr(a, '=');
    if (strncmp(a, "--", 2)) usage();
    a += 2;
    size_t n = v ? (size_t)(v - a) : strlen(a);
    if (v) v++;
#define IS(name) (n == strlen(name) && !strncmp(a, name, n))
    if (IS("keep"))
      opt.keep = 1;
    else if (IS("comparator"))
      opt.comparator = 1;
    else if (IS("filter"))
      opt.filter = 1;

    else if (IS("verbose"))
      opt.verbose = 1;
    else if (!v)
      usage();
    else if (IS("mode"))
      opt.mode = v;
    else if (IS("db"))
      opt.db = v;
    else if (IS("state"))
      opt.state = v;
    else if (IS("kill_point"))
      opt.kill_point = v;
    else if (IS("known_bug"))
      known_bug = v;
    else if (IS("threads"))
      opt.threads = atoi(v);
    else if (IS("seconds"))
      opt.seconds = atoi(v);
    else if (IS("cycles"))
      opt.cycles = atoi(v);
    else if (IS("keys"))
      opt.keys = atoi(v);
    else if (IS("sync"))
      opt.sync = atoi(v);
    else if (IS("recovery_kills"))
      opt.recovery_kills = atoi(v);
    else if (IS("kill_min_ms"))
      opt.kill_min_ms = atoi(v);
    else if (IS("kill_max_ms"))
      opt.kill_max_ms = atoi(v);
    else if (IS("value_size"))
      opt.value_size = atoi(v);
    else if (IS("hist_delay_us"))
      opt.hist_delay_us = atoi(v);
    else if (IS("read_only"))
      opt.read_only = atoi(v);
    else if (IS("wal_keep"))
      opt.wal_keep = strtoull(v, NULL, 0);
    else if (IS("write_buffer_size"))
      opt.write_buffer_size = (size_t)strtoull(v, NULL, 0);
    else if (IS("seed"))
      opt.seed = strtoull(v, NULL, 0);
    else if (IS("no_wal"))
      opt.no_wal = atoi(v);
    else if (IS("reopens"))
      opt.reopens = atoi(v);
    else if (IS("dbs"))
      opt.dbs = atoi(v);
    else if (IS("compression") && (!strcmp(v, "none") || !strcmp(v, "zstd")))
      opt.compression = !strcmp(v, "none") ? SHALE_COMPRESSION_NONE : SHALE_COMPRESSION_ZSTD;
    else
      usage();
#undef IS
  }
  const char *s = getenv("SHALE_STRESS_SECONDS");
  if (s && *s && !strcmp(opt.mode, "run")) opt.seconds = atoi(s);
  s = getenv("SHALE_STRESS_CYCLES");
  if (s && *s) opt.cycles = atoi(s);
  if (opt.threads < 1 || opt.keys < 2 || opt.keys > 10000000 || opt.cycles < 1 || opt.seconds < 0 ||
      opt.value_size < 0 || opt.value_size > 65536 || opt.hist_delay_us < 0 ||
      opt.kill_min_ms < 1 || opt.kill_max_ms < opt.kill_min_ms || opt.recovery_kills < 0 ||
      opt.recovery_kills > 10)
    usage();
  if (strcmp(opt.mode, "run") && strcmp(opt.mode, "crash") && strcmp(opt.mode, "powerloss"))
    usage();
  /* a crash loses NO_WAL writes by design, and the crash modes check one DB */
  if (opt.no_wal < 0 || opt.reopens < 0 || opt.dbs < 0 || opt.dbs > 64 ||
      (strcmp(opt.mode, "run") && (opt.no_wal || opt.reopens || opt.dbs > 1)))
    usage();
  if (opt.dbs == 1) opt.dbs = 0;
  if (!opt.seed) opt.seed = 1;
  return 0;
}

/* --comparator: bytewise order given through shale_options.comparator, so every check
 * still holds while the comparator paths run (and dead-span skipping is off). */
static const shale_comparator stress_comparator = {"stress.bytewise", tu_cmp_bytewise, NULL};

/* --filter: every value a compaction offers is given back as a new value of the same bytes,
 * so the filter's change path runs under the workload and no check moves. The buffer is per
 * thread: the filters of the DB and of a checkpoint opened beside it run at once. */
static int filter_same(void *arg, int level, const void *key, size_t klen, const void *val,
                       size_t vlen, const void **new_val, size_t *new_vlen) {
  static _Thread_local char buf[VALUE_CAP];
  (void)arg, (void)key, (void)klen;
  if (level < 1 || level > 6 || vlen > sizeof buf) return SHALE_FILTER_KEEP;
  if (vlen) memcpy(buf, val, vlen);
  *new_val = buf, *new_vlen = vlen;
  count(&ex, C_FILTERED, 1);
  return SHALE_FILTER_CHANGE_VALUE;
}

static void db_options(shale_options *o) {
  tu_options_init(o);
  if (opt.comparator) o->comparator = &stress_comparator;
  if (opt.filter) o->compaction_filter = filter_same, o->compaction_filter_name = "stress.same";
  o->wal_retention_bytes = opt.wal_keep;
  o->write_buffer_size = opt.write_buffer_size;
  if (opt.compression >= 0) o->compression = opt.compression;
  if (opt.write_buffer_size < (4u << 20)) { /* small: several levels and many compactions */
    o->target_file_size = 2 * opt.write_buffer_size;
    o->max_bytes_for_level_base = 8 * opt.write_buffer_size;
  }
}

static int open_at(const char *dir, shale_db **db) {
  shale_options o;
  db_options(&o);
  int rc = shale_open(dir, &o, db);
  if (rc)
    fprintf(stderr, "shale-stress: open %s: %s: %s\n", dir, shale_strerror(rc), shale_errmsg(NULL));
  return rc;
}

static int open_db(shale_db **db) { return open_at(opt.db, db); }

/* The copies op_checkpoint makes beside the DB ("<db>.ck<thread>", and "<db>.ck<thread>.tmp"
 * that one killed while building leaves). */
static void rm_checkpoints(void) {
  char d[4200];
  for (int t = 0; t < opt.threads; t++)
    for (int tmp = 0; tmp < 2; tmp++)
      snprintf(d, sizeof d, "%s.ck%d%s", opt.db, t, tmp ? ".tmp" : ""), tu_rmrf(d);
}

/* ---- children ---- */

static int kill_point, kill_countdown;

static void kill_hook(shale_db *db, test_hook_point p) {
  (void)db;
  if ((int)p == kill_point && __atomic_sub_fetch(&kill_countdown, 1, __ATOMIC_SEQ_CST) == 0) {
    atomic_store(&ex.h->hook_fired, (int)p);
    raise(SIGKILL);
  }
}

/* The workload child: runs until killed (or for a long cap, then closes cleanly). */
static void child_workload(int serialize) {
  if (kill_point) atomic_store(&shale_test_hook, kill_hook);
  shale_db *db;
  if (open_db(&db)) _exit(3);
  workload w = {.db = db,
                .e = &ex,
                .o = &opt,
                .serialize_writes = serialize,
                .open_at = open_at,
                .options = db_options};
  workload_run(&w, opt.kill_max_ms / 1e3 + 30);
  int rc = shale_close(db);
  _exit(rc || atomic_load(&ex.h->counters[C_ERRORS]) ? 4 : 0);
}

static int powerloss_check(shale_db *db);

/* The verifying child: reopen, check every key, resolve pending keys. Exit 0: no violation. */
static void child_verify(int powerloss) {
  double t0 = now_ms();
  shale_db *db;
  if (open_db(&db)) {
    violation(&ex, "the DB does not open after a crash");
    _exit(1);
  }
  atomic_store(&ex.h->last_open_ms, (uint64_t)(now_ms() - t0 + 1));
  uint64_t v = powerloss ? (uint64_t)powerloss_check(db) : verify_all(db, &ex, &opt, 1);
  int rc = shale_close(db);
  if (rc) violation(&ex, "close after verification: %s", shale_strerror(rc));
  fflush(NULL);
  _exit(v || rc ? 1 : 0);
}

/* Forks fn; returns the child's pid. */
static pid_t spawn(void (*fn)(int), int arg) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) fn(arg);
  return pid;
}

/* Waits for pid; kills it after ms milliseconds if still alive (ms < 0: never). Returns the
 * wait status; *killed says whether we sent the signal. */
static int reap(pid_t pid, double ms, int *killed) {
  double deadline = now_ms() + ms;
  int status;
  *killed = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) {
      perror("waitpid");
      exit(2);
    }
    if (ms >= 0 && !*killed && now_ms() >= deadline) {
      kill(pid, SIGKILL);
      *killed = 1;
    }
    usleep(*killed ? 1000 : 200);
  }
}

static int run_verify(int powerloss) {
  int killed, st = reap(spawn(child_verify, powerloss), -1, &killed);
  if (WIFSIGNALED(st)) violation(&ex, "the verifying child died of signal %d", WTERMSIG(st));
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- recovery kills ---- */

static int open_pipe[2];

static void child_open_only(int unused) {
  (void)unused;
  close(open_pipe[0]);
  shale_db *db;
  if (open_db(&db)) _exit(3);
  char c = 1;
  if (write(open_pipe[1], &c, 1) != 1) _exit(5);
  shale_close(db);
  _exit(0);
}

/* Kills up to n children in a row while they open the DB, each after a random part of the
 * last measured open time. */
static int recovery_kills(int n, uint64_t *rng) {
  for (int i = 0; i < n; i++) {
    double est = (double)atomic_load(&ex.h->last_open_ms);
    if (est < 4) est = 4;
    double ms = 0.5 + (double)(rnd(rng) % 1000) / 1000.0 * est * 0.9;
    if (pipe(open_pipe)) return -1;
    pid_t pid = spawn(child_open_only, 0);
    close(open_pipe[1]);
    int killed, st = reap(pid, ms, &killed);
    char c;
    int opened = read(open_pipe[0], &c, 1) == 1;
    close(open_pipe[0]);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
      violation(&ex, "open after %d killed recoveries failed", i);
      return -1;
    }
    count(&ex, opened || !killed ? C_KILLS_AFTER_OPEN : C_KILLS_RECOVERY, 1);
  }
  return 0;
}

/* ---- orphan check (named crash points) ---- */

static void child_orphans(int unused) {
  (void)unused;
  shale_db *db;
  for (int i = 0; i < 2; i++) {
    if (open_db(&db)) _exit(3);
    shale_close(db);
  }
  if (open_db(&db)) _exit(3);
  int live = 0;
  for (int l = 0; l < 7; l++) {
    char name[64], *v;
    snprintf(name, sizeof name, "shale.num-files-at-level%d", l);
    if (shale_property(db, name, &v)) _exit(4);
    live += atoi(v);
    shale_free(v);
  }
  int ssts = 0;
  DIR *d = opendir(opt.db);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l > 4 && !strcmp(e->d_name + l - 4, ".sst")) ssts++;
  }
  if (d) closedir(d);
  shale_close(db);
  printf("shale-stress: %d .sst files, %d live tables after two reopens\n", ssts, live);
  if (ssts != live) violation(&ex, "%d .sst files but %d live tables: orphans", ssts, live);
  fflush(stdout);
  _exit(ssts == live ? 0 : 1);
}

/* ---- power loss ---- */

static int hist_cmp(const void *a, const void *b) {
  const hist_entry *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int state_matches(uint32_t st, observed o) {
  return slot_exists(st) ? o.found && o.gen == slot_gen(st) : !o.found;
}

/* One history entry as the failure reports print it: the op, the state it wrote and who
 * wrote it. */
static void print_entry(const hist_entry *e) {
  int origin = hist_origin(e->how);
  printf(" #%" PRIu64 "->gen %u %s [cycle %u, thread %u, %s by %s]", e->seq, slot_gen(e->state),
         slot_exists(e->state) ? "present" : "absent", e->cycle, e->thread,
         counter_names[hist_kind(e->how)], origin < C_MAX ? counter_names[origin] : "the mix");
}

/* The entries of one key, h[i..j). */
static void print_key_history(const hist_entry *h, uint64_t i, uint64_t j) {
  for (uint64_t x = i; x < j; x++) print_entry(&h[x]);
  putchar('\n');
}

/* After a "holes" violation: each written key the best prefix P does not explain, with what
 * was read and the key's history this cycle, so the failure names the key and its ops.
 * h is sorted by key then seq; at most 8 keys are printed. */
static void print_unexplained(const hist_entry *h, uint64_t nh, const observed *obs, uint64_t p) {
  int shown = 0;
  for (uint64_t i = 0; i < nh && shown < 8;) {
    uint64_t j = i;
    uint32_t st = h[i].prev;
    for (; j < nh && h[j].key == h[i].key; j++)
      if (h[j].seq <= p) st = h[j].state;
    observed o = obs[h[i].key];
    if (!state_matches(st, o)) {
      shown++;
      printf("  k%08u: read %s gen %u; after ops 1..%" PRIu64 " expected gen %u %s; ops:", h[i].key,
             o.found ? "present" : "absent", o.gen, p, slot_gen(st),
             slot_exists(st) ? "present" : "absent");
      print_key_history(h, i, j);
    }
    i = j;
  }
  fflush(stdout);
}

/* The history is the harness's own record, so before the DB is judged by it, it must hold
 * together: every entry of this cycle and of an op started in it, and each key's entries a
 * chain (each op found the state the one before left, one generation up). A break is a bug
 * of the harness, not of the engine, and is reported as such. h is sorted by key then seq;
 * returns the violations. */
static int history_broken(const hist_entry *h, uint64_t nh, uint64_t nops) {
  uint16_t cycle = (uint16_t)atomic_load(&ex.h->cycle);
  int bad = 0;
  for (uint64_t i = 0; i < nh;) {
    uint64_t j = i;
    const char *why = NULL;
    for (; j < nh && h[j].key == h[i].key; j++) {
      if (why) continue;
      if (h[j].seq < 1 || h[j].seq > nops || h[j].cycle != cycle)
        why = "an entry not written in this cycle";
      else if (h[j].key >= (uint32_t)opt.keys)
        why = "an entry of no key";
      else if (j > i && (h[j].prev != h[j - 1].state || h[j].seq == h[j - 1].seq))
        why = "an op that did not find the state the op before it left";
      else if (slot_gen(h[j].state) != slot_gen(h[j].prev) + 1)
        why = "an op that did not write the next generation";
    }
    if (why) {
      if (bad++ < 8) {
        violation(&ex, "the power-loss history of cycle %u is broken (a harness bug): k%08u has %s",
                  cycle, h[i].key, why);
        printf("  k%08u ops:", h[i].key);
        print_key_history(h, i, j);
      } else {
        count(&ex, C_VIOLATIONS, 1);
      }
    }
    i = j;
  }
  fflush(stdout);
  return bad;
}

/* The recovered DB must equal the state after ops 1..P of this cycle's history for some P
 * (a prefix, no holes), with P >= every op known durable (all acknowledged ones under
 * --sync=1; those before a completed flush otherwise). A key's state before the cycle is
 * the `prev` of its first history entry, or its slot if it has none. Afterwards every slot
 * is set to what was found. Returns the violations. */
static int powerloss_check(shale_db *db) {
  uint64_t before = atomic_load(&ex.h->counters[C_VIOLATIONS]);
  uint64_t nops = atomic_load(&ex.h->op_seq), nh = atomic_load(&ex.h->hist_n);
  uint64_t need = atomic_load(&ex.h->durable_seq); /* SYNC-acknowledged or flushed */
  if (nh > HIST_CAP) {
    violation(&ex, "power-loss history overflowed (%" PRIu64 " entries): lower --kill_max_ms", nh);
    return 1;
  }
  hist_entry *h = malloc((nh ? nh : 1) * sizeof *h);
  memcpy(h, ex.hist, nh * sizeof *h);
  qsort(h, nh, sizeof *h, hist_cmp);
  if (history_broken(h, nh, nops)) {
    free(h);
    return (int)(atomic_load(&ex.h->counters[C_VIOLATIONS]) - before);
  }
  /* cover[P] counts keys with history whose state at prefix P matches what is read */
  int64_t *cover = calloc(nops + 2, sizeof *cover);
  observed *obs = calloc((size_t)opt.keys, sizeof *obs);
  int keys_with_history = 0;
  uint64_t i = 0;
  char key[KEY_LEN + 1];
  for (uint32_t k = 0; k < (uint32_t)opt.keys; k++) {
    key_of(k, key);
    void *v;
    size_t vl;
    int rc = shale_get(db, NULL, key, KEY_LEN, &v, &vl);
    if (rc == SHALE_OK) {
      long g = value_gen(k, v, vl, opt.value_size);
      shale_free(v);
      if (g < 0) violation(&ex, "k%08u: malformed value after power loss", k);
      obs[k] = (observed){1, g < 0 ? 0 : (uint32_t)g};
    } else if (rc != SHALE_NOTFOUND) {
      violation(&ex, "get k%08u after power loss: %s", k, shale_strerror(rc));
    }
    uint64_t s = atomic_load(&ex.slots[k]);
    uint32_t start =
        i < nh && h[i].key == k ? h[i].prev : (uint32_t)slot_make(slot_gen(s), slot_exists(s));
    if (i >= nh || h[i].key != k) { /* never written this cycle */
      if (!state_matches(start, obs[k]))
        violation(&ex,
                  "k%08u: not written since the last check, yet %s gen %u (expected gen %u %s)", k,
                  obs[k].found ? "found" : "absent", obs[k].gen, slot_gen(s),
                  slot_exists(s) ? "present" : "absent");
      continue;
    }
    keys_with_history++;
    uint64_t from = 0;
    uint32_t st = start;
    for (; i < nh && h[i].key == k; i++) {
      if (state_matches(st, obs[k])) cover[from]++, cover[h[i].seq]--;
      from = h[i].seq;
      st = h[i].state;
    }
    if (state_matches(st, obs[k])) cover[from]++, cover[nops + 1]--;
  }
  int64_t run = 0, most = -1;
  uint64_t best = UINT64_MAX, lo = UINT64_MAX, at_most = 0;
  for (uint64_t p = 0; p <= nops; p++) {
    run += cover[p];
    if (run > most) most = run, at_most = p;
    if (run == keys_with_history) {
      if (lo == UINT64_MAX) lo = p;
      best = p;
    }
  }
  if (best == UINT64_MAX) {
    violation(&ex,
              "power loss: the DB is no prefix of the %" PRIu64
              " ops of this cycle (holes): "
              "the best prefix, ops 1..%" PRIu64 ", explains %" PRId64
              " of the %d keys written; "
              "%" PRIu64 " ops were durable",
              nops, at_most, most, keys_with_history, need);
    print_unexplained(h, nh, obs, at_most);
  } else if (best < need)
    violation(&ex,
              "power loss: the DB holds ops 1..%" PRIu64 " but 1..%" PRIu64 " were durable (%s)",
              best, need, "acknowledged with SHALE_SYNC or flushed");
  else if (opt.verbose)
    printf("power loss: prefix of %" PRIu64 "..%" PRIu64 " of %" PRIu64 " ops (durable %" PRIu64
           ")\n",
           lo, best, nops, need);
  if (best != UINT64_MAX && best < atomic_load(&ex.h->acked_seq)) count(&ex, C_LOST_UNSYNCED, 1);
  for (uint32_t k = 0; k < (uint32_t)opt.keys; k++) { /* the new starting state */
    uint64_t s = atomic_load(&ex.slots[k]);
    uint32_t g = slot_pending(s) && slot_new_gen(s) > slot_gen(s) ? slot_new_gen(s) : slot_gen(s);
    atomic_store(&ex.slots[k], obs[k].found ? slot_make(obs[k].gen, 1) : slot_make(g, 0));
  }
  count(&ex, C_KEYS_VERIFIED, (uint64_t)opt.keys);
  free(h);
  free(cover);
  free(obs);
  return (int)(atomic_load(&ex.h->counters[C_VIOLATIONS]) - before);
}

/* ---- modes ---- */

/* ---- run mode ---- */

/* --dbs: DB d lives in <db>/d<d>. */
static char *db_dir(int d) {
  if (!opt.dbs) return strdup(opt.db);
  char name[16];
  snprintf(name, sizeof name, "d%d", d);
  return tu_path(opt.db, name);
}

static int open_all(workload *w) {
  for (int d = 0; d < (opt.dbs ? opt.dbs : 1); d++) {
    char *dir = db_dir(d);
    int rc = open_at(dir, opt.dbs ? &w->dbs[d] : &w->db);
    free(dir);
    if (rc) return rc;
  }
  if (opt.dbs) w->db = w->dbs[0];
  return 0;
}

static void close_all(workload *w, int check) {
  for (int d = 0; d < (opt.dbs ? opt.dbs : 1); d++) {
    int rc = shale_close(opt.dbs ? w->dbs[d] : w->db);
    if (rc && check) violation(&ex, "close of db %d: %s", d, shale_strerror(rc));
  }
}

static uint64_t verify_run(workload *w) {
  return opt.dbs ? verify_dbs(w) : verify_all(w->db, &ex, &opt, 0);
}

static void check_persisted_all(workload *w) {
  for (int d = 0; d < (opt.dbs ? opt.dbs : 1); d++) {
    char *dir = db_dir(d);
    check_deletes_persisted(w, opt.dbs ? w->dbs[d] : w->db, dir, opt.dbs ? (uint32_t)opt.dbs : 1,
                            (uint32_t)d);
    free(dir);
  }
}

/* After a clean close: every acknowledged write is there, NO_WAL ones included, and no DB's
 * deletes-persisted-before claims a delete gone whose value a table still holds. */
static int reopen_and_check(workload *w) {
  close_all(w, 1);
  if (open_all(w)) {
    violation(&ex, "reopen after a clean close failed");
    return -1;
  }
  check_persisted_all(w); /* first: compactions after the open may purge what it would see */
  verify_run(w);
  count(&ex, C_REOPENS, 1);
  return 0;
}

/* --seconds of workload in reopens + 1 stretches, each followed by a full check, a clean
 * close, a reopen and the checks after it. */
static int mode_run(void) {
  shale_db *dbs[64];
  workload w = {.e = &ex,
                .o = &opt,
                .dbs = opt.dbs ? dbs : NULL,
                .ndbs = opt.dbs,
                .open_at = open_at,
                .options = db_options};
  w.del_us = calloc((size_t)opt.keys, sizeof *w.del_us);
  if (opt.dbs) mkdir(opt.db, 0755);
  int rc = open_all(&w);
  for (int r = 0; !rc && r <= opt.reopens; r++) {
    workload_run(&w, (double)opt.seconds / (opt.reopens + 1));
    verify_run(&w);
    check_persisted_all(&w); /* also before the close, while tables still hold deleted values */
    rc = reopen_and_check(&w);
  }
  if (!rc) {
    close_all(&w, 0);
    count(&ex, C_CYCLES, 1);
  }
  free(w.del_us);
  return rc;
}

static int pick_kill_point(int cycle, uint64_t *rng) {
  if (!opt.kill_point) return 0;
  if (!strcmp(opt.kill_point, "all")) return 1 + cycle % (NHOOKS - 1);
  for (int i = 1; i < NHOOKS; i++)
    if (!strcmp(opt.kill_point, hook_names[i])) return i;
  (void)rng;
  fprintf(stderr, "shale-stress: unknown kill point %s\n", opt.kill_point);
  exit(2);
}

static int mode_crash(int powerloss) {
  uint64_t rng = opt.seed * 0x9e3779b97f4a7c15ull + 1;
  mkdir(opt.db, 0755);
  for (int c = 0; c < opt.cycles && !atomic_load(&ex.h->counters[C_VIOLATIONS]); c++) {
    kill_point = pick_kill_point(c, &rng);
    kill_countdown = 1 + (int)(rnd(&rng) % 8);
    atomic_store(&ex.h->hook_fired, 0);
    double ms =
        opt.kill_min_ms + (double)(rnd(&rng) % (uint64_t)(opt.kill_max_ms - opt.kill_min_ms + 1));
    if (kill_point) ms = opt.kill_max_ms; /* a fallback: the hook should strike first */
    if (powerloss) {
      atomic_store(&ex.h->op_seq, 0);
      atomic_store(&ex.h->acked_seq, 0);
      atomic_store(&ex.h->durable_seq, 0);
      atomic_store(&ex.h->hist_n, 0);
      atomic_store(&ex.h->cycle, (uint64_t)c);
      if (io_fault_track_begin(opt.db)) {
        fprintf(stderr, "shale-stress: io_fault_track_begin failed\n");
        return -1;
      }
    }
    int killed, st = reap(spawn(child_workload, powerloss), ms, &killed);
    int fired = atomic_load(&ex.h->hook_fired);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
      if (fired) {
        count(&ex, C_KILLS_HOOK, 1);
        atomic_fetch_add(&ex.h->hook_kills[fired], 1);
      } else {
        count(&ex, C_KILLS_TIMER, 1);
      }
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr,
              "shale-stress: cycle %d: the workload child failed on its own (status 0x%x)\n", c,
              st);
      count(&ex, C_ERRORS, 1);
      break;
    }
    if (powerloss) {
      io_fault_power_loss_seed(rnd(&rng)); /* which unsynced WAL pages survive */
      int changed = io_fault_power_loss();
      io_fault_track_end();
      if (changed < 0) {
        violation(&ex, "power-loss tracking overflowed: the cycle is not a valid power loss");
        break;
      }
      count(&ex, C_POWERLOSS, 1);
    }
    if (opt.recovery_kills &&
        recovery_kills(1 + (int)(rnd(&rng) % (uint64_t)opt.recovery_kills), &rng))
      break;
    if (run_verify(powerloss)) break;
    count(&ex, C_CYCLES, 1);
    if (opt.verbose)
      printf("cycle %d: %s after %.0f ms, open took %" PRIu64 " ms\n", c,
             fired    ? hook_names[fired]
             : killed ? "killed"
                      : "exited",
             ms, atomic_load(&ex.h->last_open_ms));
  }
  if (opt.kill_point && !atomic_load(&ex.h->counters[C_VIOLATIONS])) {
    int killed, st = reap(spawn(child_orphans, 0), -1, &killed);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) count(&ex, C_ERRORS, WIFEXITED(st) ? 0 : 1);
  }
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  parse_opts(argc, argv);
  char *tmp = NULL;
  if (!opt.db) opt.db = tmp = tu_tempdir();
  char *state = NULL;
  if (!opt.state) {
    state = malloc(strlen(opt.db) + 8);
    sprintf(state, "%s.state", opt.db);
    opt.state = state;
  }
  if (!tmp) tu_rmrf(opt.db); /* a fresh DB: the state file starts empty */
  if (expected_open(&ex, opt.state, (uint32_t)opt.keys, 1)) return 2;
  printf("shale-stress: mode=%s threads=%d keys=%d sync=%d write_buffer_size=%zu seed=%" PRIu64
         " db=%s\n",
         opt.mode, opt.threads, opt.keys, opt.sync, opt.write_buffer_size, opt.seed, opt.db);
  double t0 = now_ms();
  int skip = 0;
  if (!strcmp(opt.mode, "run"))
    mode_run();
  else
    skip = mode_crash(!strcmp(opt.mode, "powerloss")) == 1;
  state_header *h = ex.h;
  printf("shale-stress: %.1f s;", (now_ms() - t0) / 1e3);
  for (int i = 0; i < C_MAX; i++)
    printf(" %s=%" PRIu64, counter_names[i], atomic_load(&h->counters[i]));
  printf("\n");
  if (opt.kill_point) {
    printf("shale-stress: kills per point:");
    for (int i = 1; i < NHOOKS; i++)
      printf(" %s=%" PRIu64, hook_names[i], atomic_load(&h->hook_kills[i]));
    printf("\n");
  }
  int bad = atomic_load(&h->counters[C_VIOLATIONS]) || atomic_load(&h->counters[C_ERRORS]);
  if (bad && known_bug && !atomic_load(&h->counters[C_ERRORS])) {
    printf("SKIP: %" PRIu64 " violation(s) reproduce a known engine bug: %s\n",
           atomic_load(&h->counters[C_VIOLATIONS]), known_bug);
    bad = 0;
    skip = 1;
  } else if (known_bug) {
    printf("shale-stress: the known bug did not show in this run: %s\n", known_bug);
  }
  expected_close(&ex);
  rm_checkpoints(); /* a child killed inside a checkpoint op leaves its copy */
  if ((!bad || skip) && !opt.keep) {
    tu_rmrf(opt.db);
    unlink(opt.state);
  } else {
    printf("shale-stress: DB kept in %s, expected state in %s\n", opt.db, opt.state);
  }
  free(tmp);
  free(state);
  if (skip) return 0;
  printf("shale-stress: %s\n", bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}
