/* shale_bench_main.c — the driver of shale-bench: prints db_bench's header, runs each
 * benchmark of --benchmarks on N threads, and reports it in db_bench's result format
 * ("name : X micros/op Y ops/sec ..."), which scripts such as compare-rocksdb.sh parse. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shale_bench.h"

/* Process-wide state: one DB handle, reopened by fresh benchmarks under db_mu. */
static bench_flags F;
static shale_db *db;
shale_options bench_opts;
static pthread_mutex_t db_mu = PTHREAD_MUTEX_INITIALIZER;
char bench_db_path[4096];
static int64_t seed_base;
static atomic_int progress_shown; /* a "\r" progress line is open on stderr */
static int thread_seq;    /* db_bench seeds thread i of each benchmark with seed + a counter */
static bench_slot *slots; /* per-thread ops done over the run, read by the monitor */
int bench_stats_printed;  /* the progress line is replaced by stats lines */
bench_result bench_last_result;

/* ---- errors ---- */

int bench_ok(bench_thread *t, int rc, const char *call) {
  if (rc == SHALE_OK) return 1;
  if (rc == SHALE_NOTSUP) {
    if (!t->notsup) t->notsup = call;
    atomic_store(&t->run->stop, 1);
    return 0;
  }
  fprintf(stderr, "\nshale-bench: %s: %s failed: %s (%s)\n", t->run->name, call, shale_strerror(rc),
          shale_errmsg(t->run->db));
  exit(1);
}

void bench_note_notsup(const char *name, const char *call) {
  printf("%-12s : skipped, %s returned SHALE_NOTSUP (not supported by the engine yet)\n", name,
         call);
  fflush(stdout);
}

uint64_t bench_total_ops(void) {
  uint64_t total = 0;
  for (int64_t i = 0; i <= F.threads; i++)
    total += atomic_load_explicit(&slots[i].ops, memory_order_relaxed);
  return total;
}

/* ---- per-op accounting ---- */

/* db_bench's FinishedOps: the progress line comes at a growing interval. */
void bench_finished_slow(bench_thread *t) {
  int64_t n = t->next_report;
  n += n < 1000     ? 100
       : n < 5000   ? 500
       : n < 10000  ? 1000
       : n < 50000  ? 5000
       : n < 100000 ? 10000
       : n < 500000 ? 50000
                    : 100000;
  t->next_report = n;
  if (bench_stats_printed) return;
  fprintf(stderr, "... finished %" PRId64 " ops%30s\r", t->done, "");
  atomic_store_explicit(&progress_shown, 1, memory_order_relaxed);
}

int bench_done(bench_thread *t, int64_t increment, int64_t max_ops) {
  if (atomic_load_explicit(&t->run->stop, memory_order_relaxed)) return 1;
  t->dur_ops += increment;
  if (F.duration <= 0) return t->dur_ops > max_ops;
  if (t->dur_ops - t->dur_checked < 1000) return 0; /* db_bench checks the clock every 1000 ops */
  t->dur_checked = t->dur_ops;
  return bench_now_us() - t->start_us >= (uint64_t)F.duration * 1000000u;
}

/* ---- threads ---- */

typedef struct thread_arg {
  bench_thread t;
  bench_fn fn;
  pthread_barrier_t *go;
  pthread_t id;
} thread_arg;

static void *thread_main(void *p) {
  thread_arg *a = p;
  pthread_barrier_wait(a->go);
  a->t.start_us = a->t.last_op_us = bench_now_us();
  a->fn(&a->t);
  a->t.finish_us = bench_now_us();
  return NULL;
}

static int thread_init(bench_thread *t, bench_run *r, int tid) {
  memset(t, 0, sizeof(*t));
  t->run = r;
  t->tid = tid;
  t->rng = (uint64_t)(seed_base + thread_seq++);
  t->slot = &slots[tid];
  t->next_report = 100;
  size_t kcap = (size_t)r->key_size + 8;
  t->key = malloc(kcap);
  t->key2 = malloc(kcap);
  if (F.histogram) t->hist = malloc(OP_NTYPES * sizeof(bench_hist));
  if (!t->key || !t->key2 || (F.histogram && !t->hist)) return -1;
  bench_key_init(t->key, (int64_t)kcap);
  bench_key_init(t->key2, (int64_t)kcap);
  for (int i = 0; F.histogram && i < OP_NTYPES; i++) bench_hist_clear(&t->hist[i]);
  t->vpos = (size_t)tid * 4099; /* threads start at different points of the value buffer */
  return r->batch > 1 ? shale_batch_new(&t->batch) : 0;
}

static void thread_free(bench_thread *t) {
  free(t->key);
  free(t->key2);
  free(t->hist);
  shale_batch_free(t->batch);
}

/* Runs fn on n threads at once; returns the array (caller frees with threads_free). */
static thread_arg *threads_run(bench_run *r, bench_fn fn, int n) {
  thread_arg *a = calloc((size_t)n, sizeof(*a));
  pthread_barrier_t go;
  if (!a) return NULL;
  pthread_barrier_init(&go, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    if (thread_init(&a[i].t, r, i)) {
      fprintf(stderr, "shale-bench: out of memory\n");
      exit(1);
    }
    a[i].fn = fn;
    a[i].go = &go;
    if (pthread_create(&a[i].id, NULL, thread_main, &a[i])) {
      fprintf(stderr, "shale-bench: cannot start thread %d\n", i);
      exit(1);
    }
  }
  pthread_barrier_wait(&go);
  for (int i = 0; i < n; i++) pthread_join(a[i].id, NULL);
  pthread_barrier_destroy(&go);
  return a;
}

static void threads_free(thread_arg *a, int n) {
  for (int i = 0; i < n; i++) thread_free(&a[i].t);
  free(a);
}

/* ---- reporting ---- */

static const char *op_names[OP_NTYPES] = {"read", "write", "delete", "seek", "update"};

/* Merges the threads' stats into out (db_bench's Stats::Merge); returns the NOTSUP call. */
static const char *merge(thread_arg *a, int n, bench_thread *out, double *thread_secs) {
  const char *notsup = NULL;
  memset(out, 0, sizeof(*out));
  out->start_us = UINT64_MAX;
  *thread_secs = 0;
  for (int i = 0; i < n; i++) {
    bench_thread *t = &a[i].t;
    if (t->notsup && !notsup) notsup = t->notsup;
    if (t->exclude) continue;
    out->done += t->done, out->bytes += t->bytes, out->found += t->found;
    out->nreads += t->nreads, out->nwrites += t->nwrites, out->nseeks += t->nseeks;
    *thread_secs += (double)(t->finish_us - t->start_us) * 1e-6;
    if (t->start_us < out->start_us) out->start_us = t->start_us;
    if (t->finish_us > out->finish_us) out->finish_us = t->finish_us;
  }
  return notsup;
}

static void format_msg(int msg, const bench_thread *s, char *buf, size_t len) {
  buf[0] = 0;
  if (msg == MSG_FOUND)
    snprintf(buf, len, "(%" PRId64 " of %" PRId64 " found)\n", s->found, s->nreads);
  else if (msg == MSG_RW)
    snprintf(buf, len,
             "( reads:%" PRId64 " writes:%" PRId64 " total:%" PRId64 " found:%" PRId64 ")",
             s->nreads, s->nwrites, s->nreads + s->nwrites, s->found);
  else if (msg == MSG_YCSB)
    snprintf(buf, len,
             "( reads:%" PRId64 " writes:%" PRId64 " scans:%" PRId64 " found:%" PRId64 ")",
             s->nreads, s->nwrites, s->nseeks, s->found);
  else if (msg == MSG_MIX) /* db_bench's MixGraph message, word for word */
    snprintf(buf, len,
             "( Gets:%" PRId64 " Puts:%" PRId64 " Seek:%" PRId64 " of %" PRId64 " in %" PRId64
             " found)\n",
             s->nreads, s->nwrites, s->nseeks, s->found, s->nreads + s->nseeks);
  else if (msg == MSG_UPDATE)
    snprintf(buf, len, "( updates:%" PRId64 " found:%" PRId64 ")\n", s->nreads, s->found);
}

/* Stats::Report: micros/op over the threads' summed time, ops/sec over the wall time. */
void bench_print_result(const char *name, const bench_thread *s, double thread_secs,
                        const char *msg) {
  int64_t done = s->done < 1 ? 1 : s->done;
  double elapsed = s->finish_us > s->start_us ? (double)(s->finish_us - s->start_us) * 1e-6 : 1e-6;
  char extra[512] = "";
  if (s->bytes > 0)
    snprintf(extra, sizeof(extra), "%6.1f MB/s", (double)s->bytes / 1048576.0 / elapsed);
  if (msg && *msg) {
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof(extra) - len, "%s%s", len ? " " : "", msg);
  }
  printf("%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %" PRId64 " operations;%s%s\n", name,
         thread_secs * 1e6 / (double)done, (long)((double)done / elapsed), elapsed, done,
         *extra ? " " : "", extra);
  bench_last_result = (bench_result){(double)done / elapsed,
                                     s->bytes > 0 ? (double)s->bytes / 1048576.0 / elapsed : -1, 1};
}

static void print_histograms(thread_arg *a, int n) {
  for (int op = 0; op < OP_NTYPES; op++) {
    bench_hist h;
    bench_hist_clear(&h);
    for (int i = 0; i < n; i++)
      if (!a[i].t.exclude) bench_hist_merge(&h, &a[i].t.hist[op]);
    if (!h.num) continue;
    printf("Microseconds per %s:\n", op_names[op]);
    bench_hist_print(&h, stdout);
    printf("\n");
  }
}

/* Runs d->fn on the benchmark's threads and prints its result line (and histograms).
 * extra_msg, if set, replaces the message chosen by d->msg. Returns 0, or -1 on NOTSUP. */
int bench_run_timed(bench_run *r, const bench_def *d, const char *extra_msg, bench_thread *sum) {
  int n = r->nthreads + (d->fn == bench_readwhilewriting);
  printf("DB path: [%s]\n", bench_db_path);
  fflush(stdout);
  thread_arg *a = threads_run(r, d->fn, n);
  /* End the progress line, so that with 2>&1 the result line starts a line of its own. */
  if (atomic_exchange(&progress_shown, 0)) fputc('\n', stderr);
  if (!a) return fprintf(stderr, "shale-bench: out of memory\n"), exit(1), -1;
  bench_thread s;
  double secs;
  const char *notsup = merge(a, n, &s, &secs);
  if (notsup) {
    bench_note_notsup(d->name, notsup);
  } else {
    char msg[256];
    format_msg(d->msg, &s, msg, sizeof(msg));
    bench_print_result(d->name, &s, secs, extra_msg ? extra_msg : msg);
    if (F.histogram) print_histograms(a, n);
  }
  if (sum) *sum = s;
  threads_free(a, n);
  fflush(stdout);
  return notsup ? -1 : 0;
}

/* ---- properties ---- */

char *bench_prop(const char *name) {
  char *v = NULL;
  pthread_mutex_lock(&db_mu);
  int rc = db ? shale_property(db, name, &v) : SHALE_INVALID;
  pthread_mutex_unlock(&db_mu);
  return rc == SHALE_OK ? v : NULL;
}

int bench_prop_int(const char *name, int64_t *out) {
  char *v = bench_prop(name), *end;
  if (!v) return -1;
  *out = strtoll(v, &end, 10);
  int ok = end != v;
  shale_free(v);
  return ok ? 0 : -1;
}

void bench_print_prop(const char *name, const char *what) {
  char *v = bench_prop(name);
  if (v)
    printf("%s%s", v, v[0] && v[strlen(v) - 1] == '\n' ? "" : "\n");
  else
    printf("%-12s : property %s is not available from the engine\n", what, name);
  shale_free(v);
}

/* ---- the DB handle ---- */

static void db_open(void) {
  bench_mkdir_parent(bench_db_path);
  int rc = shale_open(bench_db_path, &bench_opts, &db);
  if (rc != SHALE_OK) {
    fprintf(stderr, "shale-bench: cannot open %s: %s (%s)\n", bench_db_path, shale_strerror(rc),
            shale_errmsg(NULL));
    exit(1);
  }
}

static void db_close(void) {
  pthread_mutex_lock(&db_mu);
  int rc = db ? shale_close(db) : SHALE_OK;
  db = NULL;
  pthread_mutex_unlock(&db_mu);
  if (rc != SHALE_OK) fprintf(stderr, "shale-bench: close: %s\n", shale_strerror(rc));
}

static void destroy_or_exit(void) {
  if (bench_destroy_db(bench_db_path)) exit(1);
}

shale_db *bench_db_fresh(void) {
  db_close();
  destroy_or_exit();
  pthread_mutex_lock(&db_mu);
  db_open();
  pthread_mutex_unlock(&db_mu);
  return db;
}

int64_t bench_seed(void) { return seed_base; }

/* ---- the benchmark table ---- */

static const bench_def benches[] = {
    {"fillseq", bench_fillseq, 1, MSG_NONE, NULL},
    {"fillrandom", bench_fillrandom, 1, MSG_NONE, NULL},
    {"overwrite", bench_fillrandom, 0, MSG_NONE, NULL},
    {"fillsync", bench_fillrandom, 1, MSG_NONE, NULL},
    {"fill100K", bench_fillrandom, 1, MSG_NONE, NULL},
    {"fillbatch", bench_fillseq, 1, MSG_NONE, NULL},
    {"readseq", bench_readseq, 0, MSG_NONE, NULL},
    {"readreverse", bench_readreverse, 0, MSG_NONE, NULL},
    {"readrandom", bench_readrandom, 0, MSG_FOUND, NULL},
    {"readmissing", bench_readrandom, 0, MSG_FOUND, NULL},
    {"seekrandom", bench_seekrandom, 0, MSG_FOUND, NULL},
    {"deleteseq", bench_deleteseq, 0, MSG_NONE, NULL},
    {"deleterandom", bench_deleterandom, 0, MSG_NONE, NULL},
    {"readwhilewriting", bench_readwhilewriting, 0, MSG_FOUND, NULL},
    {"readrandomwriterandom", bench_readrandomwriterandom, 0, MSG_RW, NULL},
    {"updaterandom", bench_updaterandom, 0, MSG_UPDATE, NULL},
    {"readafterdelete", bench_readrandom, 0, MSG_FOUND, bench_special_readafterdelete},
    {"scanafterdelete", bench_scanrandom, 0, MSG_FOUND, bench_special_scanafterdelete},
    {"deletepersist", bench_deleterandom, 0, MSG_NONE, bench_special_deletepersist},
    {"queue", bench_queue, 0, MSG_NONE, bench_special_queue},
    {"queuesteady", bench_queuesteady, 1, MSG_NONE, bench_special_queuesteady},
    {"deleteruns", bench_deleteruns, 0, MSG_NONE, bench_special_deleteruns},
    {"fillsurvivors", bench_fillsurvivors, 1, MSG_NONE, bench_special_fillsurvivors},
    {"compact", NULL, 0, MSG_NONE, bench_special_compact},
    {"flush", NULL, 0, MSG_NONE, bench_special_flush},
    {"waitforcompaction", NULL, 0, MSG_NONE, bench_special_waitforcompaction},
    {"stats", NULL, 0, MSG_NONE, bench_special_stats},
    {"levelstats", NULL, 0, MSG_NONE, bench_special_levelstats},
    {"sstables", NULL, 0, MSG_NONE, bench_special_sstables},
    {"memstats", NULL, 0, MSG_NONE, bench_special_memstats},
    {"readtocache", bench_readseq, 0, MSG_NONE, NULL},
    {"multireadrandom", bench_multireadrandom, 0, MSG_FOUND, NULL},
    {"fillseqdeterministic", NULL, 1, MSG_NONE, bench_special_fillseqdeterministic},
    {"ycsba", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"ycsbb", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"ycsbc", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"ycsbd", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"ycsbe", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"ycsbf", bench_ycsb, 0, MSG_YCSB, bench_special_ycsb},
    {"mixgraph", bench_mixgraph, 0, MSG_MIX, NULL},
};

static const bench_def *bench_find(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
    if (strlen(benches[i].name) == len && !memcmp(benches[i].name, name, len)) return &benches[i];
  return NULL;
}

/* Per-benchmark parameters, as db_bench's Run() sets them before each one. */
static void run_setup(bench_run *r, const char *name) {
  memset(r, 0, sizeof(*r));
  r->f = &F;
  r->name = name;
  r->num = F.num;
  r->key_size = F.key_size;
  r->value_size = F.value_size;
  r->batch = F.batch_size;
  r->nthreads = (int)F.threads;
  r->wflags = (F.sync ? SHALE_SYNC : 0) | (F.disable_wal ? SHALE_NO_WAL : 0);
  if (!strcmp(name, "fillsync") || !strcmp(name, "fill100K")) r->num = F.num / 1000;
  if (!strcmp(name, "fillsync")) r->wflags |= SHALE_SYNC;
  if (!strcmp(name, "fill100K")) r->value_size = 100 * 1000;
  if (!strcmp(name, "fillbatch")) r->batch = 1000;
  if (!strcmp(name, "readmissing")) r->key_size++;   /* a '0' more: no such key exists */
  if (!strcmp(name, "readtocache")) r->nthreads = 1; /* db_bench: one thread, every key */
  r->reads = F.reads < 0 || !strcmp(name, "readtocache") ? r->num : F.reads;
  r->writes = F.writes < 0 ? r->num : F.writes;
  r->deletes = F.deletes < 0 ? r->num : F.deletes;
  r->db = db;
}

static void run_one(const bench_def *d) {
  bench_run r;
  if (d->fresh && F.use_existing_db) {
    printf("%-12s : skipped (--use_existing_db is true)\n", d->name);
    return;
  }
  if (d->fresh) bench_db_fresh();
  run_setup(&r, d->name);
  if (d->special) {
    d->special(&r, d);
  } else if (r.num != F.num) {
    char msg[64];
    snprintf(msg, sizeof(msg), "(%" PRId64 " ops)", r.writes);
    bench_run_timed(&r, d, msg, NULL);
  } else {
    bench_run_timed(&r, d, NULL, NULL);
  }
}

/* ---- [Xn] repetitions ---- */

/* "name[Xn]" (db_bench's syntax) runs name n times; returns the benchmark and sets *repeat,
 * or NULL for an unknown name or a bad suffix. */
static const bench_def *bench_parse(const char *p, size_t len, int *repeat) {
  *repeat = 1;
  const char *open = memchr(p, '[', len);
  if (!open) return bench_find(p, len);
  char *end;
  long n = open[1] == 'X' ? strtol(open + 2, &end, 10) : 0;
  if (n < 1 || n > 1000000 || end != p + len - 1 || *end != ']') return NULL;
  *repeat = (int)n;
  return bench_find(p, (size_t)(open - p));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts a copy: the runs keep their order. */
static double median(const double *v, int n) {
  double *c = malloc((size_t)n * sizeof *c);
  if (!c) return v[n - 1];
  memcpy(c, v, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, cmp_double);
  double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
  free(c);
  return m;
}

/* db_bench's CombinedStats: mean, and its 95% confidence half-width (1.96 standard errors). */
static double mean_ci95(const double *v, int n, double *ci) {
  double sum = 0, sq = 0;
  for (int i = 0; i < n; i++) sum += v[i];
  double avg = sum / n;
  for (int i = 0; i < n; i++) sq += (v[i] - avg) * (v[i] - avg);
  *ci = n > 1 ? 1.959964 * sqrt(sq / (n - 1)) / sqrt((double)n) : 0;
  return avg;
}

/* CombinedStats::Report after every run and ReportFinal (with the +- interval) at the end. */
static void report_combined(const char *name, const double *ops, const double *mbs, int n,
                            int final) {
  double oci, mci, oavg = mean_ci95(ops, n, &oci), mavg = mbs ? mean_ci95(mbs, n, &mci) : 0;
  if (final)
    printf("%s [AVG    %d runs] : %d (\xC2\xB1 %d) ops/sec", name, n, (int)oavg, (int)oci);
  else
    printf("%s [AVG    %d runs] : %d ops/sec", name, n, (int)oavg);
  if (mbs && final) printf("; %6.1f (\xC2\xB1 %.1f) MB/sec", mavg, mci);
  if (mbs && !final) printf("; %6.1f MB/sec", mavg);
  printf("\n%s [MEDIAN %d runs] : %d ops/sec", name, n, (int)median(ops, n));
  if (mbs) printf("; %6.1f MB/sec", median(mbs, n));
  putchar('\n');
}

static void run_repeated(const bench_def *d, int repeat) {
  double *ops = calloc((size_t)repeat, sizeof *ops), *mbs = calloc((size_t)repeat, sizeof *mbs);
  if (!ops || !mbs) fprintf(stderr, "shale-bench: out of memory\n"), exit(1);
  int n = 0, with_mbs = 1;
  for (int i = 0; i < repeat; i++) {
    bench_last_result.valid = 0;
    run_one(d);
    if (!bench_last_result.valid) continue; /* skipped, NOTSUP or no result line */
    ops[n] = bench_last_result.ops;
    mbs[n] = bench_last_result.mbs;
    with_mbs &= mbs[n] >= 0;
    n++;
    report_combined(d->name, ops, with_mbs ? mbs : NULL, n, 0);
  }
  if (n > 1) report_combined(d->name, ops, with_mbs ? mbs : NULL, n, 1);
  free(ops), free(mbs);
}

static void run_list(void) {
  for (const char *p = F.benchmarks; *p;) {
    size_t len = strcspn(p, ",");
    int repeat;
    const bench_def *d = len ? bench_parse(p, len, &repeat) : NULL;
    if (d && repeat == 1) run_one(d);
    if (d && repeat > 1) run_repeated(d, repeat);
    p += len + (p[len] == ',');
  }
}

/* ---- header ---- */

static void cpu_info(char *model, size_t mlen, char *cache, size_t clen) {
  FILE *fp = fopen("/proc/cpuinfo", "r");
  char line[512];
  snprintf(model, mlen, "unknown");
  snprintf(cache, clen, "unknown");
  while (fp && fgets(line, sizeof(line), fp)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    line[strcspn(line, "\n")] = 0;
    if (!strncmp(line, "model name", 10)) snprintf(model, mlen, "%s", colon + 2);
    if (!strncmp(line, "cache size", 10)) snprintf(cache, clen, "%s", colon + 2);
  }
  if (fp) fclose(fp);
}

static void print_environment(void) {
  char model[256], cache[64], date[64];
  time_t now = time(NULL);
  cpu_info(model, sizeof(model), cache, sizeof(cache));
  strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", localtime(&now));
  fprintf(stderr, "Shale:      version %s\nDate:       %s\nCPU:        %ld * %s\nCPUCache:   %s\n",
          shale_version(), date, sysconf(_SC_NPROCESSORS_ONLN), model, cache);
}

static void print_header(void) {
  printf("Keys:       %d bytes each (+ 0 bytes user-defined timestamp)\n", (int)F.key_size);
  printf("Values:     %d bytes each (%d bytes after compression)\n", (int)F.value_size,
         (int)((double)F.value_size * F.compression_ratio + 0.5));
  printf("Entries:    %" PRId64 "\nPrefix:    0 bytes\nKeys per prefix:    0\n", F.num);
  printf("RawSize:    %.1f MB (estimated)\n",
         (double)((F.key_size + F.value_size) * F.num) / 1048576.0);
  printf("FileSize:   %.1f MB (estimated)\n",
         ((double)F.key_size + (double)F.value_size * F.compression_ratio) * (double)F.num /
             1048576.0);
  printf("Write rate: 0 bytes/second\nRead rate: 0 ops/second\n");
  printf("Compression: %s\n",
         bench_opts.compression == SHALE_COMPRESSION_ZSTD ? "ZSTD" : "NoCompression");
  if (bench_opts.compression == SHALE_COMPRESSION_ZSTD && bench_opts.compression_max_dict_bytes)
    printf("Compression dictionary: %zu bytes, trained on %zu bytes (0: 64 x the dictionary)\n",
           bench_opts.compression_max_dict_bytes, bench_opts.compression_zstd_max_train_bytes);
  printf(
      "Shale options: write_buffer_size=%zu block_cache_size=%zu bloom_bits_per_key=%d "
      "max_background_jobs=%d delete_persist_seconds=%g\n",
      bench_opts.write_buffer_size, bench_opts.block_cache_size, bench_opts.bloom_bits_per_key,
      bench_opts.max_background_jobs, bench_opts.delete_persist_seconds);
  if (F.ignored[0]) printf("Ignored flags (RocksDB only): %s\n", F.ignored);
#ifndef __OPTIMIZE__
  printf("WARNING: Optimization is disabled: benchmarks unnecessarily slow\n");
#endif
  printf("------------------------------------------------\n");
}

/* ---- main ---- */

/* Checks every name before anything runs, so a typo costs nothing. */
static int check_benchmarks(void) {
  for (const char *p = F.benchmarks; *p;) {
    size_t len = strcspn(p, ",");
    int repeat;
    if (len && !bench_parse(p, len, &repeat)) {
      fprintf(stderr, "shale-bench: unknown benchmark '%.*s' (see --help; name[Xn] repeats it)\n",
              (int)len, p);
      return -1;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

static void setup(void) {
  if (F.db[0]) {
    snprintf(bench_db_path, sizeof(bench_db_path), "%s", F.db);
  } else {
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(bench_db_path, sizeof(bench_db_path), "%s/shalebench-%d/dbbench",
             tmp && *tmp ? tmp : "/tmp", (int)geteuid());
  }
  /* deletepersist needs a deadline to measure against. */
  if (strstr(F.benchmarks, "deletepersist") && !bench_flag_given("delete_persist_seconds"))
    F.delete_persist_seconds = 10;
  bench_flags_to_options(&F, &bench_opts);
  seed_base = F.seed;
  if (!seed_base) {
    seed_base = (int64_t)(bench_wall_s() * 1e6);
    printf("Set seed to %" PRId64 " because --seed was 0\n", seed_base);
  }
  slots = calloc((size_t)F.threads + 1, sizeof(*slots));
  if (!slots || bench_values_init(F.compression_ratio, F.value_size)) {
    fprintf(stderr, "shale-bench: out of memory\n");
    exit(1);
  }
}

/* The engine's tickers as db_bench prints RocksDB's ("rocksdb.x COUNT : n"), so the same
 * scripts read both. */
static void print_tickers(void) {
  uint64_t v[SHALE_TICKER_COUNT];
  if (shale_statistics(db, v, SHALE_TICKER_COUNT)) return;
  for (int t = 0; t < SHALE_TICKER_COUNT; t++)
    printf("%s COUNT : %" PRIu64 "\n", shale_ticker_name((enum shale_ticker_id)t), v[t]);
}

/* The latency histograms as db_bench prints RocksDB's ("rocksdb.x P50 : ... SUM : s"). */
static void print_engine_histograms(void) {
  for (int h = 0; h < SHALE_HIST_COUNT; h++) {
    shale_histogram_data d;
    if (shale_histogram(db, (enum shale_histogram_id)h, &d)) return;
    printf("%s P50 : %.6f P95 : %.6f P99 : %.6f P99.9 : %.6f P100 : %.6f COUNT : %" PRIu64
           " SUM : %.0f\n",
           shale_histogram_name((enum shale_histogram_id)h), d.median, d.p95, d.p99, d.p999, d.max,
           d.count, d.sum);
  }
}

int main(int argc, char **argv) {
  int rc = bench_flags_parse(argc, argv, &F);
  if (rc) return rc > 0 ? 0 : 1;
  if (check_benchmarks()) return 1;
  setup();
  print_environment();
  print_header();
  if (!F.use_existing_db) destroy_or_exit();
  db_open();
  bench_monitor_start(&F);
  run_list();
  if (F.statistics) {
    printf("STATISTICS:\n");
    print_tickers();
    print_engine_histograms();
    bench_print_prop("shale.stats", "statistics");
  }
  bench_monitor_stop();
  db_close();
  return 0;
}
