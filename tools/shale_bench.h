/* shale_bench.h — shared declarations of shale-bench, the db_bench-compatible load tester.
 * The tool is split into flags (shale_bench_flags.c), generators and histograms
 * (shale_bench_util.c), benchmark bodies (shale_bench_workloads.c) and the driver
 * (shale_bench_main.c). It uses only the public API in shale.h. */
#ifndef SHALE_TOOLS_SHALE_BENCH_H
#define SHALE_TOOLS_SHALE_BENCH_H

#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <shale.h>

#include "shale_bench_zipf.h"

/* ---- flags (db_bench names, meanings and defaults) ---- */
typedef struct bench_flags {
  const char *benchmarks;
  int64_t num, reads, writes, deletes;
  int64_t key_size, value_size;
  double compression_ratio;
  const char *compression_type;
  int64_t threads, batch_size, duration, seed;
  const char *db;
  int use_existing_db, sync, disable_wal, histogram, statistics;
  int64_t bloom_bits, cache_size, write_buffer_size, max_background_jobs;
  int64_t stats_interval, stats_interval_seconds, stats_per_interval;
  int64_t report_interval_seconds;
  const char *report_file;
  int64_t range_tombstone_width, writes_per_range_tombstone, max_num_range_tombstones;
  int64_t writes_before_delete_range;
  double delete_persist_seconds;
  int64_t readwritepercent, seek_nexts;
  int64_t benchmark_write_rate_limit; /* bytes/s all writers share; 0: unlimited */
  int64_t queue_live;                 /* queuesteady: keys in the queue while it runs */
  /* RocksDB options that map onto shale_options; applied only when given. */
  int64_t block_size, max_bytes_for_level_base, target_file_size_base, open_files;
  int64_t compression_level; /* 32767 (db_bench's default): Shale's default */
  int64_t compression_max_dict_bytes, compression_zstd_max_train_bytes;
  int64_t level0_file_num_compaction_trigger, level0_slowdown_writes_trigger;
  int64_t level0_stop_writes_trigger, max_write_buffer_number;
  double max_bytes_for_level_multiplier;
  /* mixgraph: db_bench's query mix, value-size and scan-length models */
  double mix_get_ratio, mix_put_ratio, mix_seek_ratio;
  int64_t mix_max_scan_len, mix_max_value_size;
  double value_theta, value_k, value_sigma, iter_theta, iter_k, iter_sigma;
  double key_dist_a, key_dist_b;
  int64_t keyrange_num;
  double keyrange_dist_a, keyrange_dist_b, keyrange_dist_c, keyrange_dist_d;
  char ignored[2048]; /* "--name=value ..." of accepted RocksDB-only flags, for the header */
} bench_flags;

/* Parses argv into f. Returns 0, 1 for --help (printed), or -1 after printing one line
 * naming the bad flag or value on stderr. */
int bench_flags_parse(int argc, char **argv, bench_flags *f);
/* 1 if flag `name` was given on the command line. */
int bench_flag_given(const char *name);
/* Fills o from f: shale defaults, then db_bench defaults, then flags that were given. */
void bench_flags_to_options(const bench_flags *f, shale_options *o);

/* ---- histogram: RocksDB's HistogramImpl buckets and report format ---- */
#define BENCH_HIST_MAX_BUCKETS 128
typedef struct bench_hist {
  uint64_t min, max, num;
  double sum, sum_sq;
  uint64_t buckets[BENCH_HIST_MAX_BUCKETS];
} bench_hist;

void bench_hist_clear(bench_hist *h);
void bench_hist_add(bench_hist *h, uint64_t micros);
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* Prints "Count: ... Average ..." and the bucket table exactly as db_bench does. */
void bench_hist_print(const bench_hist *h, FILE *out);

/* ---- generators ---- */
/* splitmix64: one multiply-xorshift round per call, good enough for key choice. */
static inline uint64_t bench_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* db_bench's GenerateKeyFromInt: the key number big-endian in the first min(8, size) bytes;
 * the rest of the buffer keeps the '0' padding written by bench_key_init. */
static inline void bench_key_set(char *key, int64_t size, uint64_t v) {
  if (size >= 8) {
    for (int i = 0; i < 8; i++) key[i] = (char)(v >> (56 - 8 * i));
  } else {
    for (int i = 0; i < size; i++) key[i] = (char)(v >> (8 * (size - i - 1)));
  }
}
void bench_key_init(char *key, int64_t size);

/* Builds the shared value buffer (db_bench's RandomGenerator: Random(301) fragments that
 * compress to `ratio`), at least max(1 MiB, value_size) bytes. Returns 0 or -1 (no memory). */
int bench_values_init(double ratio, int64_t value_size);
/* Next `len` bytes of the value buffer; *pos is the caller's (per-thread) cursor. */
const char *bench_value_next(size_t *pos, size_t len);

/* deleteruns' layout of the keys [0, num): runs of deleted keys alternating with runs of
 * survivors, starting with a deleted run. A pure function of seed and num, so fillsurvivors
 * in another process rebuilds exactly the keys that deleteruns leaves. */
typedef struct bench_layout {
  uint64_t rng, pos, num;
  int deleted; /* what the next run is */
} bench_layout;
void bench_layout_init(bench_layout *l, int64_t seed, int64_t num);
/* The next run [*begin, *end): returns 1 if deleteruns deletes it, 0 if it survives, -1
 * when [0, num) is used up. */
int bench_layout_next(bench_layout *l, uint64_t *begin, uint64_t *end);

/* End times of each tenth of a single-threaded run (queue, queuesteady), so the report
 * shows whether ops slow down as the run goes on. */
typedef struct bench_tenths {
  int64_t at[11];  /* ops done at the end of tenth k: total * k / 10 */
  uint64_t us[11]; /* bench_now_us() when at[k] ops were done; us[0] is the start */
  int next;        /* the next tenth to close */
} bench_tenths;
void bench_tenths_start(bench_tenths *tn, int64_t total);
uint64_t bench_now_us(void);
static inline void bench_tenths_mark(bench_tenths *tn, int64_t done) {
  while (tn->next <= 10 && done >= tn->at[tn->next]) tn->us[tn->next++] = bench_now_us();
}
/* Prints "name: micros/op by tenth of the what: 0-10%: X ... 90-100%: Y"; a tenth the run
 * did not reach, or one without ops, prints as "-". */
void bench_tenths_print(const bench_tenths *tn, const char *name, const char *what);

/* ---- filesystem helpers ---- */
/* RocksDB's DestroyDB, made safe: takes <dir>/LOCK with flock, as shale_open does, and
 * removes only the names the engine gives its files, LOCK itself aside. Returns 0, or -1
 * after printing why nothing was removed: another process holds the LOCK, or dir holds
 * files that are not Shale's and no CURRENT or MANIFEST, so it is not a Shale DB. */
int bench_destroy_db(const char *dir);
/* mkdir -p of the parent of path. */
void bench_mkdir_parent(const char *path);
/* Total bytes of the regular files in dir, or -1. */
int64_t bench_dir_bytes(const char *dir);
/* The monotonic clock in microseconds (declared above) and the wall clock in seconds. */
double bench_wall_s(void);

/* ---- per-run state shared by the benchmark threads ---- */
enum { OP_READ, OP_WRITE, OP_DELETE, OP_SEEK, OP_UPDATE, OP_NTYPES };

typedef struct bench_run {
  shale_db *db;
  const bench_flags *f;
  const char *name;
  int64_t num; /* key space [0, num) of this benchmark */
  int64_t reads, writes, deletes;
  int64_t key_size, value_size, batch;
  int64_t queue_ops;       /* queue: pops; queuesteady: pushes and pops, alternating */
  bench_tenths tenths;     /* queue, queuesteady: written by their one thread */
  unsigned wflags;         /* SHALE_SYNC / SHALE_NO_WAL */
  int nthreads;            /* threads that report, the writer of readwhilewriting aside */
  atomic_int readers_done; /* lets readwhilewriting's writer stop with the readers */
  atomic_int stop;         /* set on a fatal or NOTSUP error: every thread winds down */
  /* --benchmark_write_rate_limit: when the first paced write came, and bytes written since */
  _Atomic uint64_t pace_start_us, paced_bytes;
  /* YCSB workloads */
  char ycsb;                        /* 'a' .. 'f' */
  bench_zipf zipf;                  /* over the --num loaded records */
  _Atomic int64_t ycsb_next_insert; /* D and E insert keys num, num + 1, ... */
  uint64_t ycsb_load_stride;        /* coprime with num: the load's key order */
} bench_run;

/* --benchmark_write_rate_limit: before writing `bytes`, waits until the run's writers,
 * all together, stay within the limit since their first write. No-op without the flag. */
void bench_pace_write(bench_run *r, uint64_t bytes);

typedef struct bench_slot { /* one cache line per thread: ops done over the whole run */
  _Atomic uint64_t ops;
  char pad[56];
} bench_slot;

typedef struct bench_thread {
  bench_run *run;
  int tid;
  uint64_t rng;
  bench_slot *slot;
  /* stats, as db_bench's Stats */
  uint64_t start_us, finish_us, last_op_us;
  int64_t done, bytes, next_report;
  int64_t found, nreads, nwrites, nseeks, range_dels;
  int64_t dur_ops, dur_checked;
  int exclude;        /* readwhilewriting's writer: not merged into the report */
  bench_hist *hist;   /* OP_NTYPES histograms when --histogram, else NULL */
  const char *notsup; /* the call that returned SHALE_NOTSUP, if any */
  /* scratch reused for every op: no per-op allocation in the tool */
  char *key, *key2;
  size_t vpos;
  shale_batch *batch;
} bench_thread;

/* Records n finished ops of type op (histogram, progress line, report counters). */
void bench_finished_slow(bench_thread *t);
static inline void bench_finished(bench_thread *t, int64_t n, int op) {
  if (t->hist) {
    uint64_t now = bench_now_us();
    bench_hist_add(&t->hist[op], now - t->last_op_us);
    t->last_op_us = now;
  }
  t->done += n;
  atomic_store_explicit(&t->slot->ops,
                        atomic_load_explicit(&t->slot->ops, memory_order_relaxed) + (uint64_t)n,
                        memory_order_relaxed);
  if (t->done >= t->next_report) bench_finished_slow(t);
}
/* db_bench's Duration::Done: 1 when max_ops ops are done or --duration seconds passed. */
int bench_done(bench_thread *t, int64_t increment, int64_t max_ops);
/* Checks a call's status: 1 on SHALE_OK; 0 on SHALE_NOTSUP (recorded, the run stops);
 * any other error prints the call and the engine's message and exits. */
int bench_ok(bench_thread *t, int rc, const char *call);

/* ---- benchmark bodies (shale_bench_workloads.c) ---- */
/* Gets key k; returns 1 found, 0 absent, -1 when the run must stop. */
int bench_get_key(bench_thread *t, uint64_t k);
/* Puts key k with value_size bytes of the value buffer; 1, or 0 when the run must stop. */
int bench_put_key(bench_thread *t, uint64_t k, size_t value_size);
typedef void (*bench_fn)(bench_thread *t);
void bench_fillseq(bench_thread *t);
void bench_fillrandom(bench_thread *t);
void bench_readseq(bench_thread *t);
void bench_readreverse(bench_thread *t);
void bench_readrandom(bench_thread *t);
void bench_seekrandom(bench_thread *t);
void bench_deleteseq(bench_thread *t);
void bench_deleterandom(bench_thread *t);
void bench_readwhilewriting(bench_thread *t);
void bench_readrandomwriterandom(bench_thread *t);
void bench_updaterandom(bench_thread *t);
void bench_scanrandom(bench_thread *t);
/* --batch_size random keys per shale_multi_get. */
void bench_multireadrandom(bench_thread *t);
/* Single-threaded: the queue has one head and the layout one key order. */
void bench_queue(bench_thread *t);
void bench_queuesteady(bench_thread *t);
void bench_deleteruns(bench_thread *t);
void bench_fillsurvivors(bench_thread *t);
/* Untimed preparation of readafterdelete / scanafterdelete, on the calling thread.
 * Returns SHALE_OK, SHALE_NOTSUP or the error (printed). */
int bench_delete_every_other(bench_run *r);
int bench_delete_runs(bench_run *r, int64_t width);

/* ---- YCSB and mixgraph (shale_bench_mix.c) ---- */
/* One YCSB op per loop turn, the mix of workload r->ycsb; keys from r->zipf. */
void bench_ycsb(bench_thread *t);
/* The YCSB load: every key of [0, num) once, in the order i * stride mod num. */
void bench_ycsb_load(bench_thread *t);
/* db_bench's MixGraph: gets, puts and seeks in the --mix_*_ratio mix. */
void bench_mixgraph(bench_thread *t);

/* ---- the driver (shale_bench_main.c) ---- */
enum { MSG_NONE, MSG_FOUND, MSG_RW, MSG_UPDATE, MSG_YCSB, MSG_MIX };

typedef struct bench_def bench_def;
typedef void (*bench_special)(bench_run *r, const bench_def *d);
struct bench_def {
  const char *name;
  bench_fn fn;           /* body run on each thread; NULL for the single-call ones */
  int fresh;             /* destroys the DB first, as db_bench's fill benchmarks */
  int msg;               /* MSG_*: what follows "operations;" */
  bench_special special; /* untimed setup, or one maintenance call */
};

extern char bench_db_path[4096];
extern shale_options bench_opts; /* what the DB was opened with */
extern int bench_stats_printed;  /* stats lines replace the progress line */

/* Runs d->fn on r->nthreads threads (plus readwhilewriting's writer) and prints the result
 * line; msg, if set, replaces the one d->msg selects; *sum gets the merged stats.
 * Returns 0, or -1 after printing a note when the engine returned SHALE_NOTSUP. */
int bench_run_timed(bench_run *r, const bench_def *d, const char *msg, bench_thread *sum);
/* Prints db_bench's result line from merged stats s. */
void bench_print_result(const char *name, const bench_thread *s, double thread_secs,
                        const char *msg);
void bench_note_notsup(const char *name, const char *call);
/* Throughput of the last result line bench_print_result printed, for [Xn] repetitions:
 * ops/sec and MB/s (mbs < 0 when the line had no MB/s); valid is 0 before any line. */
typedef struct bench_result {
  double ops, mbs;
  int valid;
} bench_result;
extern bench_result bench_last_result;
/* Closes the DB, destroys it (exits if bench_destroy_db refuses) and opens it afresh;
 * returns the new handle, which the caller's bench_run must take. */
shale_db *bench_db_fresh(void);
/* The seed base: --seed, or the one derived from the time (printed) when --seed is 0. */
int64_t bench_seed(void);
/* A property of the DB (freed with shale_free), or NULL when the engine has none. */
char *bench_prop(const char *name);
int bench_prop_int(const char *name, int64_t *out);
void bench_print_prop(const char *name, const char *what);
/* Ops finished by every thread since the start of the run. */
uint64_t bench_total_ops(void);

/* ---- single-call benchmarks and the interval reporter (shale_bench_special.c) ---- */
void bench_special_readafterdelete(bench_run *r, const bench_def *d);
void bench_special_scanafterdelete(bench_run *r, const bench_def *d);
void bench_special_deletepersist(bench_run *r, const bench_def *d);
void bench_special_queue(bench_run *r, const bench_def *d);
void bench_special_queuesteady(bench_run *r, const bench_def *d);
void bench_special_deleteruns(bench_run *r, const bench_def *d);
void bench_special_fillsurvivors(bench_run *r, const bench_def *d);
void bench_special_compact(bench_run *r, const bench_def *d);
void bench_special_flush(bench_run *r, const bench_def *d);
void bench_special_waitforcompaction(bench_run *r, const bench_def *d);
void bench_special_stats(bench_run *r, const bench_def *d);
void bench_special_levelstats(bench_run *r, const bench_def *d);
void bench_special_sstables(bench_run *r, const bench_def *d);
void bench_special_memstats(bench_run *r, const bench_def *d);
void bench_special_fillseqdeterministic(bench_run *r, const bench_def *d);
/* ycsba .. ycsbf: loads --num records (unless --use_existing_db), then runs the mix. */
void bench_special_ycsb(bench_run *r, const bench_def *d);
/* --report_interval_seconds and --stats_interval_seconds, on a thread of their own. */
void bench_monitor_start(const bench_flags *f);
void bench_monitor_stop(void);

#endif /* SHALE_TOOLS_SHALE_BENCH_H */
