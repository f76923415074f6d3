/* shale_bench_special.c — shale-bench's benchmarks that are not a plain timed loop: the
 * maintenance calls (compact, flush, waitforcompaction), the property dumps (stats,
 * levelstats, sstables), the delete-heavy ones of our own (readafterdelete,
 * scanafterdelete, deletepersist, queue, queuesteady, deleteruns, fillsurvivors), and the
 * interval reporter thread. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shale_bench.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void fail(const char *name, const char *call, int rc) {
  fprintf(stderr, "shale-bench: %s: %s failed: %s\n", name, call, shale_strerror(rc));
  exit(1);
}

/* ---- delete-heavy benchmarks of our own ---- */

/* readrandom over [0, num) after deleting every other key, untimed. */
void bench_special_readafterdelete(bench_run *r, const bench_def *d) {
  fprintf(stderr, "%s: deleting every other key of %" PRId64 " (untimed)\n", d->name, r->num);
  int rc = bench_delete_every_other(r);
  if (rc == SHALE_NOTSUP) return bench_note_notsup(d->name, "shale_write");
  if (rc != SHALE_OK) exit(1);
  bench_run_timed(r, d, NULL, NULL);
}

/* Seeks that land in, and scans across, runs of range_tombstone_width deleted keys. */
void bench_special_scanafterdelete(bench_run *r, const bench_def *d) {
  int64_t w = r->f->range_tombstone_width;
  fprintf(stderr, "%s: deleting runs of %" PRId64 " keys, every other run (untimed)\n", d->name, w);
  int rc = bench_delete_runs(r, w);
  if (rc == SHALE_NOTSUP) return bench_note_notsup(d->name, "shale_write");
  if (rc != SHALE_OK) exit(1);
  bench_run_timed(r, d, NULL, NULL);
}

/* shale.deletes-persisted-before as seconds since the epoch; the unit is guessed from the
 * magnitude (s, ms, us or ns) so the tool does not depend on the engine's choice. */
static double persisted_before(void) {
  char *v = bench_prop("shale.deletes-persisted-before"), *end;
  if (!v) return -1;
  double x = strtod(v, &end);
  int ok = end != v;
  shale_free(v);
  if (!ok) return -1;
  return x > 1e17 ? x / 1e9 : x > 1e14 ? x / 1e6 : x > 1e11 ? x / 1e3 : x;
}

static void persist_line(double since, double pb, double last_delete) {
  int64_t bytes = bench_dir_bytes(bench_db_path);
  char lag[64];
  if (pb <= 0)
    snprintf(lag, sizeof(lag), "none yet");
  else if (pb >= last_delete)
    snprintf(lag, sizeof(lag), "all");
  else
    snprintf(lag, sizeof(lag), "lagging %.1f s", last_delete - pb);
  printf("deletepersist: %6.1f s after the last delete: persisted %s, db dir %.2f MB\n", since, lag,
         (double)bytes / 1048576.0);
  fflush(stdout);
}

/* Times the deletes as deleterandom, then polls until the engine reports them purged
 * (or 2 * delete_persist_seconds + 10 s pass), printing the DB directory size as it goes. */
void bench_special_deletepersist(bench_run *r, const bench_def *d) {
  double deadline = bench_opts.delete_persist_seconds, limit = 2 * deadline + 10;
  int64_t before = bench_dir_bytes(bench_db_path);
  if (bench_run_timed(r, d, NULL, NULL)) return;
  double last_delete = bench_wall_s(), pb = persisted_before(), since = 0, next_line = 0;
  if (pb < 0) {
    printf(
        "deletepersist: property shale.deletes-persisted-before is not available from the "
        "engine\n");
    return;
  }
  while (pb < last_delete && since < limit) {
    if (since >= next_line) persist_line(since, pb, last_delete), next_line += 1;
    sleep_ms(100);
    since = bench_wall_s() - last_delete;
    pb = persisted_before();
  }
  persist_line(since, pb, last_delete);
  printf(
      "deletepersist: %s %.1f s after the last delete (deadline %g s); db dir %.2f MB -> %.2f MB\n",
      pb >= last_delete ? "every delete persisted" : "NOT all deletes persisted", since, deadline,
      (double)before / 1048576.0, (double)bench_dir_bytes(bench_db_path) / 1048576.0);
}

/* ---- queues ---- */

static double mb(int64_t bytes) { return (double)bytes / 1048576.0; }

/* fillseq's code path over the keys [0, n), reported as "<name>_fill" so that a script
 * reading fillseq lines does not take it for one. */
static int queue_fill(bench_run *r, const char *name, int64_t n) {
  char fname[64];
  snprintf(fname, sizeof(fname), "%s_fill", name);
  bench_def fill = {fname, bench_fillseq, 0, MSG_NONE, NULL};
  int64_t writes = r->writes;
  r->writes = n;
  int rc = n > 0 ? bench_run_timed(r, &fill, NULL, NULL) : 0;
  r->writes = writes;
  return rc;
}

/* The DB directory's bytes once background work has given space back: polled every 250 ms
 * until it has not changed for 3 s, or max_s seconds have passed. *waited gets the seconds. */
static int64_t idle_dir_bytes(double max_s, double *waited) {
  int64_t last = bench_dir_bytes(bench_db_path);
  double t0 = bench_wall_s(), changed = t0;
  while (bench_wall_s() - t0 < max_s && bench_wall_s() - changed < 3.0) {
    sleep_ms(250);
    int64_t now = bench_dir_bytes(bench_db_path);
    if (now != last) changed = bench_wall_s(), last = now;
  }
  *waited = bench_wall_s() - t0;
  return last;
}

/* Pops --deletes keys (when > 0, else --num) from a queue of --num keys, or from the
 * existing DB; the tenths show whether pops slow down as the head moves over deleted keys. */
void bench_special_queue(bench_run *r, const bench_def *d) {
  r->nthreads = 1;
  if (!r->f->use_existing_db) {
    r->db = bench_db_fresh();
    if (queue_fill(r, d->name, r->num)) return;
  }
  r->queue_ops = r->f->deletes > 0 ? r->f->deletes : r->num;
  bench_thread s;
  if (bench_run_timed(r, d, NULL, &s)) return;
  bench_tenths_print(&r->tenths, d->name, "pops");
  if (s.done < r->queue_ops)
    printf("%s: the queue ran empty after %" PRId64 " of %" PRId64 " pops\n", d->name, s.done,
           r->queue_ops);
  int64_t bytes = bench_dir_bytes(bench_db_path);
  printf("%s: db dir %.2f MB (%" PRId64 " bytes) after %" PRId64 " pops\n", d->name, mb(bytes),
         bytes, s.done);
  fflush(stdout);
  double waited;
  bytes = idle_dir_bytes(30.0, &waited); /* space given back by flushes and compactions */
  printf("%s: db dir %.2f MB (%" PRId64 " bytes) after %.1f s idle\n", d->name, mb(bytes), bytes,
         waited);
  fflush(stdout);
}

/* --num ops on a queue that stays at --queue_live keys: pushes at the tail, pops at the
 * head. Flat tenths and a flat DB size mean the engine keeps up with its own tombstones. */
void bench_special_queuesteady(bench_run *r, const bench_def *d) {
  r->nthreads = 1;
  if (queue_fill(r, d->name, r->f->queue_live)) return;
  r->queue_ops = r->num;
  int64_t before = bench_dir_bytes(bench_db_path);
  bench_thread s;
  if (bench_run_timed(r, d, NULL, &s)) return;
  bench_tenths_print(&r->tenths, d->name, "ops");
  int64_t after = bench_dir_bytes(bench_db_path), pops = s.done - s.nwrites;
  printf("%s: db dir %.2f MB (%" PRId64 " bytes) at the start, %.2f MB (%" PRId64
         " bytes) at the end; %" PRId64 " pushes, %" PRId64 " pops, %" PRId64 " keys live\n",
         d->name, mb(before), before, mb(after), after, s.nwrites, pops,
         r->f->queue_live + s.nwrites - pops);
  fflush(stdout);
}

/* ---- deleteruns and fillsurvivors ---- */

typedef struct layout_counts {
  int64_t deleted, kept, deleted_runs, kept_runs;
} layout_counts;

static void layout_count(int64_t num, layout_counts *c) {
  bench_layout l;
  uint64_t begin, end;
  memset(c, 0, sizeof(*c));
  bench_layout_init(&l, bench_seed(), num);
  for (int run; (run = bench_layout_next(&l, &begin, &end)) >= 0;) {
    *(run ? &c->deleted : &c->kept) += (int64_t)(end - begin);
    *(run ? &c->deleted_runs : &c->kept_runs) += 1;
  }
}

/* Point deletes of about 90% of [0, --num), in runs; run after fillseq. */
void bench_special_deleteruns(bench_run *r, const bench_def *d) {
  layout_counts c;
  char msg[256];
  layout_count(r->num, &c);
  snprintf(msg, sizeof(msg),
           "(%" PRId64 " keys deleted in %" PRId64 " runs, %" PRId64 " of %" PRId64
           " survive, seed %" PRId64 ")",
           c.deleted, c.deleted_runs, c.kept, r->num, bench_seed());
  r->nthreads = 1;
  bench_run_timed(r, d, msg, NULL);
}

/* The DB deleteruns leaves, without the tombstones: the baseline its scans compare with. */
void bench_special_fillsurvivors(bench_run *r, const bench_def *d) {
  layout_counts c;
  char msg[256];
  layout_count(r->num, &c);
  snprintf(msg, sizeof(msg),
           "(%" PRId64 " of %" PRId64 " keys, the survivors of deleteruns in %" PRId64
           " runs, seed %" PRId64 ")",
           c.kept, r->num, c.kept_runs, bench_seed());
  r->nthreads = 1;
  bench_run_timed(r, d, msg, NULL);
}

/* ---- maintenance ---- */

/* db_bench times compact as one op. */
void bench_special_compact(bench_run *r, const bench_def *d) {
  bench_thread s;
  memset(&s, 0, sizeof(s));
  printf("DB path: [%s]\n", bench_db_path);
  s.start_us = bench_now_us();
  int rc = shale_compact_range(r->db, NULL, 0, NULL, 0);
  s.finish_us = bench_now_us();
  if (rc == SHALE_NOTSUP) return bench_note_notsup(d->name, "shale_compact_range");
  if (rc != SHALE_OK) fail(d->name, "shale_compact_range", rc);
  bench_print_result(d->name, &s, (double)(s.finish_us - s.start_us) * 1e-6, NULL);
}

void bench_special_flush(bench_run *r, const bench_def *d) {
  int rc = shale_flush(r->db);
  if (rc == SHALE_NOTSUP) return bench_note_notsup(d->name, "shale_flush");
  if (rc != SHALE_OK) fail(d->name, "shale_flush", rc);
  printf("flush memtable\n");
}

/* There is no wait-for-compaction call: poll until the engine says nothing is pending, or
 * (without that property) until no sealed memtable waits and L0 is under its trigger. */
static const char *wait_compactions(void) {
  int64_t pending, imm, l0;
  for (int polls = 0, quiet = 0; polls < 12000; polls++, sleep_ms(50)) {
    if (bench_prop_int("shale.compaction-pending", &pending) == 0) {
      if (!pending) return NULL;
      continue;
    }
    if (bench_prop_int("shale.num-immutable-memtables", &imm) ||
        bench_prop_int("shale.num-files-at-level0", &l0))
      return "the engine reports no compaction state";
    quiet = imm == 0 && l0 < bench_opts.level0_compaction_trigger ? quiet + 1 : 0;
    if (quiet >= 3) return NULL;
  }
  return "gave up after 600 s";
}

void bench_special_waitforcompaction(bench_run *r, const bench_def *d) {
  printf("waitforcompaction(%s): started\n", bench_db_path);
  fflush(stdout);
  const char *why = wait_compactions();
  printf("waitforcompaction(%s): finished%s%s\n", bench_db_path, why ? ": " : "", why ? why : "");
}

/* ---- property dumps ---- */

void bench_special_stats(bench_run *r, const bench_def *d) {
  bench_print_prop("shale.stats", d->name);
}
void bench_special_sstables(bench_run *r, const bench_def *d) {
  bench_print_prop("shale.sstables", d->name);
}

/* db_bench's memstats prints its memtable properties as "name: value"; these are Shale's. */
void bench_special_memstats(bench_run *r, const bench_def *d) {
  static const char *names[] = {"shale.num-immutable-memtables", "shale.memtable-bytes"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *v = bench_prop(names[i]);
    printf("%s: %s\n", names[i], v ? v : "(not available)");
    shale_free(v);
  }
}

/* ---- fillseqdeterministic ---- */

/* Levels the shape fills, L1 to L6, each holding ten times the keys of the one above. */
#define DET_LEVELS 6

/* db_bench builds a fixed LSM shape with CompactFiles, file by file into each level. Shale
 * has no CompactFiles, but shale_ingest places a table at the deepest level its keys overlap
 * nothing at or above: so one table per level, each spanning the whole key range and
 * ingested bottom first, lands at L6, then L5 (it overlaps L6), and so on up to L1. Every key
 * of [0, --num) is written once, in key order within its table; the levels interleave evenly
 * (det_pick), so a read or scan of any part of the key range meets every level. Timed:
 * building the tables and ingesting them. */
/* Keys per level (0 = L1): ten times more at each level down, and at least one more than
 * the level above, so that each level's keys reach beyond the one above (see det_pick):
 * a full shape needs 21 keys. */
static void det_counts(int64_t num, int64_t count[DET_LEVELS]) {
  double total = 0, w[DET_LEVELS];
  for (int l = 0; l < DET_LEVELS; l++) total += w[l] = pow(10.0, l);
  int64_t rest = num;
  for (int l = 0; l < DET_LEVELS - 1; l++) {
    count[l] = (int64_t)((double)num * w[l] / total);
    int64_t least = l ? count[l - 1] + 1 : 1;
    if (count[l] < least) count[l] = least;
    if (count[l] > rest) count[l] = rest;
    rest -= count[l];
  }
  count[DET_LEVELS - 1] = rest;
}

/* The level (0 = L1) that the next key goes to. Level l's j-th key belongs, ideally, at
 * (j + 1/2) * num / count[l]; keys go out in the order of those positions (the least one
 * next, compared as (2j + 1) / count[l] without division). So each level's keys spread
 * evenly over the key range, a level with fewer keys sits within the range of one with more,
 * and each table, ingested above the last, overlaps it and lands one level higher. */
static int det_pick(const int64_t count[DET_LEVELS], const int64_t assigned[DET_LEVELS]) {
  int best = -1;
  for (int l = 0; l < DET_LEVELS; l++) {
    if (assigned[l] >= count[l]) continue;
    if (best < 0 || (2 * assigned[l] + 1) * count[best] < (2 * assigned[best] + 1) * count[l])
      best = l;
  }
  return best;
}

/* dir is at most DET_DIR_MAX bytes, so the name always fits. */
#define DET_DIR_MAX 4200
static void det_table_path(char out[DET_DIR_MAX + 16], const char *dir, int level) {
  snprintf(out, DET_DIR_MAX + 16, "%.*s/L%d.sst", DET_DIR_MAX, dir, level + 1);
}

/* Writes the DET_LEVELS tables into dir; returns how many keys went to each. */
static void det_write_tables(bench_run *r, const bench_def *d, const char *dir,
                             int64_t assigned[DET_LEVELS], bench_thread *s) {
  int64_t count[DET_LEVELS];
  det_counts(r->num, count);
  shale_sst_writer *w[DET_LEVELS] = {0};
  char path[DET_DIR_MAX + 16], *key = malloc((size_t)r->key_size + 1);
  if (!key) fail(d->name, "malloc", SHALE_NOMEM);
  bench_key_init(key, r->key_size);
  for (int l = 0; l < DET_LEVELS; l++) {
    det_table_path(path, dir, l);
    int rc = count[l] ? shale_sst_writer_open(path, &bench_opts, &w[l]) : SHALE_OK;
    if (rc) fail(d->name, "shale_sst_writer_open", rc);
  }
  size_t vpos = 0;
  for (int64_t i = 0; i < r->num; i++) {
    int l = det_pick(count, assigned);
    bench_key_set(key, r->key_size, (uint64_t)i);
    const char *v = bench_value_next(&vpos, (size_t)r->value_size);
    int rc = shale_sst_writer_put(w[l], key, (size_t)r->key_size, v, (size_t)r->value_size);
    if (rc) fail(d->name, "shale_sst_writer_put", rc);
    assigned[l]++;
    s->done++;
    s->bytes += r->key_size + r->value_size;
  }
  for (int l = 0; l < DET_LEVELS; l++) {
    int rc = w[l] ? shale_sst_writer_finish(w[l], NULL) : SHALE_OK;
    if (rc) fail(d->name, "shale_sst_writer_finish", rc);
  }
  free(key);
}

void bench_special_fillseqdeterministic(bench_run *r, const bench_def *d) {
  char dir[DET_DIR_MAX], path[DET_DIR_MAX + 16], msg[256];
  snprintf(dir, sizeof(dir), "%s.fillseqdeterministic.XXXXXX", bench_db_path);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "shale-bench: %s: cannot make %s: %s\n", d->name, dir, strerror(errno));
    exit(1);
  }
  bench_thread s;
  memset(&s, 0, sizeof(s));
  int64_t assigned[DET_LEVELS] = {0};
  s.start_us = bench_now_us();
  det_write_tables(r, d, dir, assigned, &s);
  for (int l = DET_LEVELS - 1; l >= 0; l--) { /* bottom first: each lands one level up */
    if (!assigned[l]) continue;
    det_table_path(path, dir, l);
    const char *files[1] = {path};
    int rc = shale_ingest(r->db, files, 1, SHALE_INGEST_MOVE);
    if (rc) fail(d->name, "shale_ingest", rc);
  }
  s.finish_us = bench_now_us();
  rmdir(dir);
  int n = snprintf(msg, sizeof(msg), "(files per level:");
  for (int l = 1; l <= DET_LEVELS; l++) {
    char name[64];
    int64_t files = -1;
    snprintf(name, sizeof(name), "shale.num-files-at-level%d", l);
    bench_prop_int(name, &files);
    n += snprintf(msg + n, sizeof(msg) - (size_t)n, " L%d=%" PRId64, l, files);
  }
  snprintf(msg + n, sizeof(msg) - (size_t)n, ")");
  bench_print_result(d->name, &s, (double)(s.finish_us - s.start_us) * 1e-6, msg);
}

/* ---- YCSB ---- */

static uint64_t gcd(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t rest = a % b;
    a = b, b = rest;
  }
  return a;
}

/* A stride coprime with n, near n times the golden ratio's fraction: i * stride mod n visits
 * every key once, consecutive puts far apart, as YCSB's hashed insert order does. */
static uint64_t load_stride(uint64_t n) {
  if (n < 2) return 1;
  uint64_t s = (uint64_t)((double)n * 0.6180339887) | 1;
  while (gcd(s, n) != 1) s++;
  return s % n ? s % n : 1;
}

/* YCSB's load phase (timed as "<name>_load", every record once), then its run phase. The
 * Zipf zeta sum is O(--num), so it is done here, untimed, for all threads. */
void bench_special_ycsb(bench_run *r, const bench_def *d) {
  r->ycsb = d->name[4];
  if (!r->f->use_existing_db) {
    char name[64];
    snprintf(name, sizeof(name), "%s_load", d->name);
    bench_def load = {name, bench_ycsb_load, 0, MSG_NONE, NULL};
    r->db = bench_db_fresh();
    r->ycsb_load_stride = load_stride((uint64_t)r->num);
    if (bench_run_timed(r, &load, NULL, NULL)) return;
  }
  bench_zipf_init(&r->zipf, (uint64_t)r->num, BENCH_ZIPF_THETA);
  atomic_store(&r->ycsb_next_insert, r->num);
  bench_run_timed(r, d, NULL, NULL);
}

/* RocksDB's rocksdb.levelstats table; built from per-level file counts if the engine has
 * no shale.levelstats. */
void bench_special_levelstats(bench_run *r, const bench_def *d) {
  char *v = bench_prop("shale.levelstats");
  if (v) {
    printf("%s%s", v, v[0] && v[strlen(v) - 1] == '\n' ? "" : "\n");
    shale_free(v);
    return;
  }
  int64_t files;
  char name[64];
  printf("Level Files\n-----------\n");
  for (int level = 0; level < 64; level++) {
    snprintf(name, sizeof(name), "shale.num-files-at-level%d", level);
    if (bench_prop_int(name, &files)) {
      if (level == 0)
        printf("%-12s : property %s is not available from the engine\n", d->name, name);
      break;
    }
    printf("%3d %8" PRId64 "\n", level, files);
  }
}

/* ---- interval reporter ---- */

static pthread_t monitor;
static atomic_int monitor_stop;
static int monitor_on;

static void stats_line(uint64_t t0, uint64_t now, uint64_t *last_t, uint64_t *last_ops, int per) {
  uint64_t ops = bench_total_ops();
  double secs = (double)(now - t0) * 1e-6, isecs = (double)(now - *last_t) * 1e-6;
  char date[32];
  time_t wall = time(NULL);
  strftime(date, sizeof(date), "%Y/%m/%d-%H:%M:%S", localtime(&wall));
  fprintf(stderr,
          "%s ... all threads: (%" PRIu64 ",%" PRIu64
          ") ops and (%.1f,%.1f) ops/second in (%.6f,%.6f) seconds\n",
          date, ops - *last_ops, ops, isecs > 0 ? (double)(ops - *last_ops) / isecs : 0,
          secs > 0 ? (double)ops / secs : 0, isecs, secs);
  if (per) {
    char *v = bench_prop("shale.stats");
    if (v) fprintf(stderr, "%s\n", v);
    shale_free(v);
  }
  *last_t = now, *last_ops = ops;
}

static void *monitor_main(void *arg) {
  const bench_flags *f = arg;
  FILE *csv = NULL;
  if (f->report_interval_seconds > 0 && !(csv = fopen(f->report_file, "w")))
    fprintf(stderr, "shale-bench: cannot write --report_file %s\n", f->report_file);
  if (csv) fprintf(csv, "secs_elapsed,interval_qps\n"), fflush(csv);
  uint64_t t0 = bench_now_us(), rep_us = (uint64_t)f->report_interval_seconds * 1000000u;
  uint64_t stat_us = (uint64_t)f->stats_interval_seconds * 1000000u;
  uint64_t next_rep = t0 + rep_us, next_stat = t0 + stat_us, rep_ops = 0, stat_ops = 0, stat_t = t0;
  while (!atomic_load(&monitor_stop)) {
    sleep_ms(20);
    uint64_t now = bench_now_us();
    if (csv && now >= next_rep) { /* db_bench's ReporterAgent: rounded secs, ops since last row */
      uint64_t ops = bench_total_ops();
      fprintf(csv, "%" PRIu64 ",%" PRIu64 "\n", (now - t0 + 500000) / 1000000, ops - rep_ops);
      fflush(csv);
      rep_ops = ops, next_rep += rep_us;
    }
    if (stat_us && now >= next_stat)
      stats_line(t0, now, &stat_t, &stat_ops, f->stats_per_interval > 0), next_stat += stat_us;
  }
  if (csv) fclose(csv);
  return NULL;
}

void bench_monitor_start(const bench_flags *f) {
  if (f->report_interval_seconds <= 0 && f->stats_interval_seconds <= 0) return;
  bench_stats_printed = f->stats_interval_seconds > 0;
  monitor_on = pthread_create(&monitor, NULL, monitor_main, (void *)f) == 0;
}

void bench_monitor_stop(void) {
  if (!monitor_on) return;
  atomic_store(&monitor_stop, 1);
  pthread_join(monitor, NULL);
  monitor_on = 0;
}
