/* shale_bench_flags.c — command-line flags of shale-bench, spelled as RocksDB's db_bench
 * (gflags) spells them, so the same command line drives both tools. RocksDB-only flags are
 * accepted and listed as ignored; the ones with a shale_options counterpart are mapped. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shale_bench.h"

enum { F_I64, F_DBL, F_BOOL, F_STR, F_IGN_BOOL, F_IGN_VAL };

typedef struct flag_def {
  const char *name;
  int type;
  size_t off; /* into bench_flags; unused for ignored flags */
  const char *def;
  const char *help;
  int given;
} flag_def;

#define I64(n, d, h) \
  { #n, F_I64, offsetof(bench_flags, n), d, h, 0 }
#define DBL(n, d, h) \
  { #n, F_DBL, offsetof(bench_flags, n), d, h, 0 }
#define BOOL(n, d, h) \
  { #n, F_BOOL, offsetof(bench_flags, n), d, h, 0 }
#define STR(n, d, h) \
  { #n, F_STR, offsetof(bench_flags, n), d, h, 0 }
#define IGN_B(n) \
  { #n, F_IGN_BOOL, 0, "", "RocksDB only; ignored", 0 }
#define IGN_V(n) \
  { #n, F_IGN_VAL, 0, "", "RocksDB only; ignored", 0 }

#define DEFAULT_BENCHMARKS                                                           \
  "fillseq,fillsync,fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom," \
  "readwhilewriting,deleterandom,stats"

static flag_def flags[] = {
    STR(benchmarks, DEFAULT_BENCHMARKS, "comma-separated benchmarks, run in order"),
    I64(num, "1000000", "number of key/values to place in the database"),
    I64(reads, "-1", "number of reads per thread; < 0: num"),
    I64(writes, "-1", "number of writes per thread; < 0: num"),
    I64(deletes, "-1", "number of deletes per thread; < 0: num"),
    I64(key_size, "16", "size of each key"),
    I64(value_size, "100", "size of each value"),
    DBL(compression_ratio, "0.5", "values compress to this fraction of their size"),
    STR(compression_type, "zstd",
        "none or zstd; snappy, lz4, lz4hc, zlib, bzip2, xpress map to zstd"),
    I64(threads, "1", "number of concurrent threads to run"),
    I64(batch_size, "1", "operations per write batch"),
    I64(duration, "0", "seconds to run each benchmark; 0: num and reads decide"),
    I64(seed, "0", "seed base for the random generators; 0: derived from the time"),
    STR(db, "", "the DB directory; default $TEST_TMPDIR or /tmp, /shalebench-UID/dbbench"),
    BOOL(use_existing_db, "false", "reuse the DB: do not destroy it, skip fill benchmarks"),
    BOOL(sync, "false", "fsync the WAL on every write"),
    BOOL(disable_wal, "false", "write without the WAL"),
    I64(bloom_bits, "-1", "bloom filter bits per key; < 0: default (10); 0 disables"),
    I64(cache_size, "8388608", "block cache bytes"),
    I64(write_buffer_size, "67108864", "memtable bytes before it is sealed"),
    I64(max_background_jobs, "2", "flush and compaction threads"),
    BOOL(histogram, "false", "print a latency histogram per operation type"),
    BOOL(statistics, "false",
         "time every get, write and seek; print the engine's tickers, latency histograms "
         "and shale.stats at the end"),
    I64(stats_interval, "0", "ops between stats lines (with stats_interval_seconds)"),
    I64(stats_interval_seconds, "0", "print throughput on stderr every N seconds"),
    I64(stats_per_interval, "0", "with stats_interval_seconds: also print shale.stats"),
    I64(report_interval_seconds, "0", "write secs_elapsed,interval_qps to report_file"),
    STR(report_file, "report.csv", "CSV file of report_interval_seconds"),
    I64(range_tombstone_width, "100", "keys covered by each range tombstone"),
    I64(writes_per_range_tombstone, "0", "writes between range tombstones; 0: none"),
    I64(max_num_range_tombstones, "0", "range tombstones per thread at most; 0: no limit"),
    I64(writes_before_delete_range, "0", "writes before the first range tombstone"),
    DBL(delete_persist_seconds, "0", "deadline to purge deletes (deletepersist: default 10)"),
    I64(readwritepercent, "90", "reads among reads+writes in readrandomwriterandom"),
    I64(seek_nexts, "0", "next() calls after each seek"),
    I64(benchmark_write_rate_limit, "0",
        "bytes/s of keys and values all writers share (fills, readwhilewriting's writer); 0: "
        "no limit"),
    I64(queue_live, "100000", "queuesteady: keys in the queue while it runs"),
    I64(block_size, "4096", "SSTable data block bytes"),
    I64(compression_level, "32767", "zstd level -7..19; 32767: the default (3)"),
    I64(compression_max_dict_bytes, "0",
        "zstd dictionary bytes, at most 16384; 0: none; not given: Shale's default"),
    I64(compression_zstd_max_train_bytes, "0",
        "bytes of data blocks the dictionary is trained on; 0: 64 x the dictionary"),
    I64(max_bytes_for_level_base, "268435456", "L1 target bytes"),
    DBL(max_bytes_for_level_multiplier, "10", "each level this many times the previous"),
    I64(target_file_size_base, "67108864", "compaction output file bytes"),
    I64(open_files, "-1", "table cache size; <= 0: the engine's default"),
    I64(level0_file_num_compaction_trigger, "4", "L0 files that start a compaction"),
    I64(level0_slowdown_writes_trigger, "20", "L0 files at which writes slow down"),
    I64(level0_stop_writes_trigger, "36", "L0 files at which writes stop"),
    I64(max_write_buffer_number, "2", "memtables, the mutable one included"),
    DBL(mix_get_ratio, "1", "mixgraph: share of gets"),
    DBL(mix_put_ratio, "0", "mixgraph: share of puts"),
    DBL(mix_seek_ratio, "0", "mixgraph: share of seeks"),
    I64(mix_max_scan_len, "10000", "mixgraph: scan lengths are taken modulo this"),
    I64(mix_max_value_size, "1024", "mixgraph: value sizes above it are taken modulo it"),
    DBL(value_theta, "0", "mixgraph: value size Pareto theta"),
    DBL(value_k, "0.2615", "mixgraph: value size Pareto k"),
    DBL(value_sigma, "25.45", "mixgraph: value size Pareto sigma"),
    DBL(iter_theta, "0", "mixgraph: scan length Pareto theta"),
    DBL(iter_k, "2.517", "mixgraph: scan length Pareto k"),
    DBL(iter_sigma, "14.236", "mixgraph: scan length Pareto sigma"),
    DBL(key_dist_a, "0", "mixgraph: key hotness a*x^b, a; 0: uniform keys"),
    DBL(key_dist_b, "0", "mixgraph: key hotness a*x^b, b; 0: uniform keys"),
    I64(keyrange_num, "1", "mixgraph: key ranges of the keyrange_dist model"),
    DBL(keyrange_dist_a, "0", "mixgraph: range hotness a*exp(b*x)+c*exp(d*x), a"),
    DBL(keyrange_dist_b, "0", "mixgraph: range hotness, b"),
    DBL(keyrange_dist_c, "0", "mixgraph: range hotness, c"),
    DBL(keyrange_dist_d, "0", "mixgraph: range hotness, d; all 0: no ranges"),
    IGN_B(sine_mix_rate),
    IGN_V(sine_mix_rate_interval_milliseconds),
    IGN_V(sine_mix_rate_noise),
    IGN_V(sine_a),
    IGN_V(sine_b),
    IGN_V(sine_c),
    IGN_V(sine_d),
    IGN_V(cache_type),
    IGN_B(use_ribbon_filter),
    IGN_V(min_write_buffer_number_to_merge),
    IGN_V(compaction_style),
    IGN_B(cache_index_and_filter_blocks),
    IGN_B(pin_l0_filter_and_index_blocks_in_cache),
    IGN_B(pin_top_level_index_and_filter),
    IGN_B(mmap_read),
    IGN_B(mmap_write),
    IGN_B(use_direct_reads),
    IGN_B(use_direct_io_for_flush_and_compaction),
    IGN_V(bytes_per_sync),
    IGN_V(wal_bytes_per_sync),
    IGN_V(num_levels),
    IGN_V(subcompactions),
    IGN_V(stats_level),
    IGN_V(stats_dump_period_sec),
    IGN_V(max_background_compactions),
    IGN_V(max_background_flushes),
    IGN_V(cache_numshardbits),
    IGN_B(partition_index_and_filters),
    IGN_B(partition_index),
    IGN_B(optimize_filters_for_hits),
    IGN_B(level_compaction_dynamic_level_bytes),
    IGN_V(memtablerep),
    IGN_B(allow_concurrent_memtable_write),
    IGN_B(enable_pipelined_write),
    IGN_B(enable_write_thread_adaptive_yield),
    IGN_V(perf_level),
    IGN_B(use_fsync),
    IGN_B(verify_checksum),
    IGN_V(benchmark_read_rate_limit),
    IGN_V(prefix_size),
    IGN_V(keys_per_prefix),
    IGN_B(disable_auto_compactions),
    IGN_V(soft_pending_compaction_bytes_limit),
    IGN_V(hard_pending_compaction_bytes_limit),
    IGN_V(delayed_write_rate),
    IGN_V(max_total_wal_size),
    IGN_V(rate_limiter_bytes_per_sec),
    IGN_B(dump_malloc_stats),
    IGN_B(reverse_iterator),
    IGN_B(use_tailing_iterator),
    IGN_V(bloom_locality),
    IGN_V(memtable_bloom_size_ratio),
    IGN_B(whole_key_filtering),
    IGN_V(format_version),
    IGN_V(index_type),
    IGN_V(checksum_type),
    IGN_B(expand_range_tombstones),
    IGN_V(wal_dir),
    IGN_B(enable_blob_files),
    IGN_B(use_blob_db),
    IGN_V(db_write_buffer_size),
    IGN_V(cache_high_pri_pool_ratio),
    IGN_V(row_cache_size),
    IGN_V(compressed_cache_size),
    IGN_V(max_compaction_bytes),
    IGN_V(target_file_size_multiplier),
    IGN_V(compaction_pri),
    IGN_B(report_bg_io_stats),
    IGN_V(ops_between_duration_checks),
    IGN_B(progress_reports),
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static flag_def *flag_find(const char *name, size_t len) {
  for (size_t i = 0; i < NFLAGS; i++)
    if (strlen(flags[i].name) == len && memcmp(flags[i].name, name, len) == 0) return &flags[i];
  return NULL;
}

int bench_flag_given(const char *name) {
  flag_def *d = flag_find(name, strlen(name));
  return d && d->given;
}

static int parse_bool(const char *v, int *out) {
  static const char *yes[] = {"true", "1", "yes", "t", "y"}, *no[] = {"false", "0", "no", "f", "n"};
  for (int i = 0; i < 5; i++) {
    if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
  }
  return -1;
}

/* Stores value v of flag d into f; -1 after printing why it is not a valid value. */
static int flag_set(bench_flags *f, flag_def *d, const char *v) {
  char *p = (char *)f + d->off, *end;
  errno = 0;
  switch (d->type) {
    case F_I64: {
      long long x = strtoll(v, &end, 0);
      if (*v && !*end && !errno) return *(int64_t *)p = x, 0;
      fprintf(stderr, "shale-bench: bad value '%s' for --%s: expected an integer\n", v, d->name);
      return -1;
    }
    case F_DBL: {
      double x = strtod(v, &end);
      if (*v && !*end && !errno && isfinite(x)) return *(double *)p = x, 0;
      fprintf(stderr, "shale-bench: bad value '%s' for --%s: expected a number\n", v, d->name);
      return -1;
    }
    case F_BOOL:
      if (parse_bool(v, (int *)p) == 0) return 0;
      fprintf(stderr, "shale-bench: bad value '%s' for --%s: expected true or false\n", v, d->name);
      return -1;
    case F_STR:
      *(const char **)p = v;
      return 0;
  }
  return 0;
}

static void note_ignored(bench_flags *f, const char *name, const char *v) {
  size_t len = strlen(f->ignored);
  snprintf(f->ignored + len, sizeof(f->ignored) - len, "%s--%s%s%s", len ? " " : "", name,
           v ? "=" : "", v ? v : "");
}

static const char queue_help[] =
    "\nQueues and delete runs (one thread each, whatever --threads):\n"
    "  queue          fillseq of --num keys (printed as queue_fill; not with --use_existing_db),\n"
    "                 then pops: new iterator, seek_first, read key and value, free, delete.\n"
    "                 Pops --deletes keys if > 0, else --num. Prints micros/op by tenth of\n"
    "                 the pops and the DB directory's bytes at the end.\n"
    "  queuesteady    --queue_live keys pushed in order (queuesteady_fill), then --num ops\n"
    "                 alternating a push at the tail and a pop at the head. Prints micros/op\n"
    "                 by tenth and the DB directory's bytes at the start and the end.\n"
    "  deleteruns     deletes runs of 1..10000 keys (uniform, from --seed) of [0, --num),\n"
    "                 leaving runs of 1..1111 between them: about 10% survive. After fillseq.\n"
    "  fillsurvivors  writes only the keys deleteruns leaves (same --seed and --num).\n"
    "  readseq and readreverse scan until the iterator is invalid (or --reads keys): compare\n"
    "  fillseq,deleteruns,readseq,readreverse with fillsurvivors,readseq,readreverse.\n";

static const char mix_help[] =
    "\nYCSB (load --num records unless --use_existing_db, then --reads ops per thread):\n"
    "  ycsba 50% read/50% update, ycsbb 95/5, ycsbc 100% read, ycsbd 95% read of recent\n"
    "  keys/5% insert, ycsbe 95% scan (seek and 1..100 entries)/5% insert, ycsbf 50% read/\n"
    "  50% read-modify-write. Keys Zipfian (theta 0.99, FNV-scrambled), D: latest.\n"
    "mixgraph: --mix_*_ratio gets/puts/seeks over [0, --num); Pareto value sizes (--value_*)\n"
    "  and scan lengths (--iter_*); --key_dist_a/b power-law hot keys, within the hot key\n"
    "  ranges of --keyrange_* when given. Not implemented, accepted and ignored: the sine\n"
    "  QPS rate limit (--sine_*): the ops run unthrottled.\n";

static void print_help(void) {
  printf("shale-bench: db_bench-compatible load tester for Shale %s\n", shale_version());
  printf(
      "usage: shale-bench [--flag=value ...]\n\nBenchmarks: fillseq fillrandom overwrite "
      "fillsync fill100K fillbatch readseq readreverse\n  readrandom readmissing seekrandom "
      "deleteseq deleterandom readwhilewriting\n  readrandomwriterandom updaterandom compact "
      "flush waitforcompaction stats levelstats\n  sstables readafterdelete scanafterdelete "
      "deletepersist queue queuesteady\n  deleteruns fillsurvivors multireadrandom readtocache "
      "memstats\n  fillseqdeterministic (one table per level, L1..L6, by ingest)\n"
      "  ycsba ycsbb ycsbc ycsbd ycsbe ycsbf mixgraph\n"
      "  name[Xn] runs name n times, then prints the AVG and MEDIAN lines as db_bench does.\n"
      "  multireadrandom reads --batch_size keys per shale_multi_get.\n%s%s\nFlags:\n",
      queue_help, mix_help);
  for (size_t i = 0; i < NFLAGS; i++)
    if (flags[i].type < F_IGN_BOOL)
      printf("  --%s (%s) default: \"%s\"\n", flags[i].name, flags[i].help, flags[i].def);
  printf("\nAccepted for RocksDB compatibility and ignored:");
  for (size_t i = 0; i < NFLAGS; i++)
    if (flags[i].type >= F_IGN_BOOL) printf("%s--%s", i % 3 ? " " : "\n  ", flags[i].name);
  printf("\n");
}

static void set_defaults(bench_flags *f) {
  memset(f, 0, sizeof(*f));
  for (size_t i = 0; i < NFLAGS; i++) {
    flags[i].given = 0;
    if (flags[i].type < F_IGN_BOOL) flag_set(f, &flags[i], flags[i].def);
  }
}

/* Handles argv[*i]; may consume argv[*i + 1] as the value ("--name value"). */
static int parse_one(bench_flags *f, int argc, char **argv, int *i) {
  const char *a = argv[*i], *name = a + (a[1] == '-' ? 2 : 1), *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  const char *v = eq ? eq + 1 : NULL;
  flag_def *d = flag_find(name, len);
  if (!d && !v && len > 2 && strncmp(name, "no", 2) == 0) { /* gflags' --noname */
    d = flag_find(name + 2, len - 2);
    if (d && (d->type == F_BOOL || d->type == F_IGN_BOOL))
      v = "false";
    else
      d = NULL;
  }
  if (!d) {
    fprintf(stderr, "shale-bench: unknown flag '--%.*s' (see --help)\n", (int)len, name);
    return -1;
  }
  if (!v && (d->type == F_BOOL || d->type == F_IGN_BOOL)) v = "true";
  if (!v) {
    if (*i + 1 >= argc) {
      fprintf(stderr, "shale-bench: flag --%s needs a value\n", d->name);
      return -1;
    }
    v = argv[++*i];
  }
  d->given = 1;
  if (d->type >= F_IGN_BOOL) return note_ignored(f, d->name, v), 0;
  return flag_set(f, d, v);
}

/* Range checks db_bench leaves to chance; one line each. */
static int check_ranges(const bench_flags *f) {
  const char *bad = NULL;
  if (f->num < 0)
    bad = "--num must be >= 0";
  else if (f->key_size < 1 || f->key_size >= (int64_t)SHALE_MAX_KEY_SIZE)
    bad = "--key_size must be 1 to 65535";
  else if (f->value_size < 0 || f->value_size > (int64_t)SHALE_MAX_VALUE_SIZE)
    bad = "--value_size out of range";
  else if (f->compression_ratio <= 0)
    bad = "--compression_ratio must be > 0";
  else if (f->threads < 1 || f->threads > 4096)
    bad = "--threads must be 1 to 4096";
  else if (f->batch_size < 1)
    bad = "--batch_size must be >= 1";
  else if (f->duration < 0)
    bad = "--duration must be >= 0";
  else if (f->queue_live < 0)
    bad = "--queue_live must be >= 0";
  else if (f->range_tombstone_width < 1)
    bad = "--range_tombstone_width must be >= 1";
  else if (f->readwritepercent < 0 || f->readwritepercent > 100)
    bad = "--readwritepercent must be 0 to 100";
  else if (f->mix_get_ratio < 0 || f->mix_put_ratio < 0 || f->mix_seek_ratio < 0 ||
           f->mix_get_ratio + f->mix_put_ratio + f->mix_seek_ratio <= 0)
    bad = "--mix_get_ratio, --mix_put_ratio, --mix_seek_ratio must be >= 0, not all 0";
  else if (f->mix_max_scan_len < 1 || f->mix_max_value_size < 1)
    bad = "--mix_max_scan_len and --mix_max_value_size must be >= 1";
  else if (f->delete_persist_seconds < 0)
    bad = "--delete_persist_seconds must be >= 0";
  else if (f->cache_size < 0 || f->write_buffer_size < 0 || f->compression_max_dict_bytes < 0 ||
           f->compression_zstd_max_train_bytes < 0)
    bad = "sizes must be >= 0";
  else if (f->compression_level != 32767 &&
           (f->compression_level < -7 || f->compression_level > 19))
    bad = "--compression_level must be -7 to 19 (or 32767, the default)";
  if (bad) fprintf(stderr, "shale-bench: %s\n", bad);
  return bad ? -1 : 0;
}

/* db_bench's other codecs: Shale has none of them, and a db_bench command line must still
 * run, so each maps to zstd (bench_flags_to_options) with a note. */
static const char *const other_codecs[] = {
    "snappy", "kSnappyCompression", "lz4",   "kLZ4Compression",   "lz4hc",  "kLZ4HCCompression",
    "zlib",   "kZlibCompression",   "bzip2", "kBZip2Compression", "xpress", "kXpressCompression"};

static int check_compression(const bench_flags *f) {
  if (!bench_flag_given("compression_type") || !strcasecmp(f->compression_type, "none") ||
      !strcasecmp(f->compression_type, "zstd") || !strcasecmp(f->compression_type, "kZSTD") ||
      !strcasecmp(f->compression_type, "kNoCompression"))
    return 0;
  for (size_t i = 0; i < sizeof other_codecs / sizeof other_codecs[0]; i++)
    if (!strcasecmp(f->compression_type, other_codecs[i])) {
      fprintf(stderr,
              "shale-bench: note: --compression_type=%s maps to zstd (Shale has only zstd "
              "and none)\n",
              f->compression_type);
      return 0;
    }
  fprintf(stderr,
          "shale-bench: --compression_type=%s is not supported: use none or zstd (snappy, lz4, "
          "lz4hc, zlib, bzip2 and xpress map to zstd)\n",
          f->compression_type);
  return -1;
}

int bench_flags_parse(int argc, char **argv, bench_flags *f) {
  set_defaults(f);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-help") || !strcmp(a, "-h")) return print_help(), 1;
    if (!strcmp(a, "--")) break; /* gflags stops at "--" */
    if (a[0] != '-' || !a[1]) {
      /* db_bench (gflags) ignores positional arguments; compare-rocksdb.sh passes some. */
      fprintf(stderr, "shale-bench: ignoring argument '%s'\n", a);
      continue;
    }
    if (parse_one(f, argc, argv, &i)) return -1;
  }
  return check_ranges(f) || check_compression(f) ? -1 : 0;
}

static size_t clamp_size(int64_t v) { return v < 0 ? 0 : (size_t)v; }

void bench_flags_to_options(const bench_flags *f, shale_options *o) {
  shale_options_init(o);
  o->create_if_missing = 1;
  o->time_operations = f->statistics; /* as db_bench's --statistics times gets and writes */
  o->write_buffer_size = clamp_size(f->write_buffer_size);
  o->block_cache_size = clamp_size(f->cache_size);
  if (f->bloom_bits >= 0) o->bloom_bits_per_key = (int)f->bloom_bits;
  o->compression =
      strcasecmp(f->compression_type, "none") && strcasecmp(f->compression_type, "kNoCompression")
          ? SHALE_COMPRESSION_ZSTD
          : SHALE_COMPRESSION_NONE;
  o->max_background_jobs = (int)f->max_background_jobs;
  o->delete_persist_seconds = f->delete_persist_seconds;
  /* RocksDB options with a Shale counterpart: only when given, else Shale's own default. */
  if (bench_flag_given("block_size")) o->block_size = clamp_size(f->block_size);
  if (f->compression_level != 32767) o->compression_level = (int)f->compression_level;
  if (bench_flag_given("compression_max_dict_bytes"))
    o->compression_max_dict_bytes = clamp_size(f->compression_max_dict_bytes);
  o->compression_zstd_max_train_bytes = clamp_size(f->compression_zstd_max_train_bytes);
  if (bench_flag_given("max_bytes_for_level_base"))
    o->max_bytes_for_level_base = clamp_size(f->max_bytes_for_level_base);
  if (bench_flag_given("max_bytes_for_level_multiplier"))
    o->level_size_multiplier = (int)lround(f->max_bytes_for_level_multiplier);
  if (bench_flag_given("target_file_size_base"))
    o->target_file_size = clamp_size(f->target_file_size_base);
  if (bench_flag_given("open_files") && f->open_files > 0) o->max_open_files = (int)f->open_files;
  if (bench_flag_given("level0_file_num_compaction_trigger"))
    o->level0_compaction_trigger = (int)f->level0_file_num_compaction_trigger;
  if (bench_flag_given("level0_slowdown_writes_trigger"))
    o->level0_slowdown_trigger = (int)f->level0_slowdown_writes_trigger;
  if (bench_flag_given("level0_stop_writes_trigger"))
    o->level0_stop_trigger = (int)f->level0_stop_writes_trigger;
  /* RocksDB counts the mutable memtable among its write buffers; Shale counts sealed ones. */
  if (bench_flag_given("max_write_buffer_number"))
    o->max_immutable_memtables =
        f->max_write_buffer_number > 1 ? (int)f->max_write_buffer_number - 1 : 1;
  /* The file-layer switches the library once read from the environment, kept for scripts
   * that compare the two writers and the two read paths. */
  const char *io = getenv("SHALE_IO"), *mm = getenv("SHALE_MMAP");
  if (io && !strcmp(io, "pwrite")) o->io_mode = SHALE_IO_PWRITE;
  if (mm && !strcmp(mm, "0")) o->use_mmap = 0;
}
