/* stress.h — shared pieces of shale-stress, a db_stress-style checker: the expected-state
 * oracle (an mmap'd file that survives the process), the key and value encodings, the
 * options, and the workload threads. See shale_stress.c for the modes and doc/reliability.md
 * for what each scenario proves. */
#ifndef SHALE_TESTS_STRESS_H
#define SHALE_TESTS_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shale.h"

/* ---- options ---- */
typedef struct stress_opts {
  const char *mode; /* run | crash | powerloss */
  const char *db, *state;
  int threads, cycles, seconds, keys, sync, recovery_kills, keep, verbose;
  int kill_min_ms, kill_max_ms;
  const char *kill_point; /* NULL, "all" or one point name */
  int value_size;         /* largest random fill in a value */
  int hist_delay_us;      /* widens the window in which a kill lands mid history entry (a test) */
  int no_wal;             /* run mode: one write in no_wal skips the WAL (0: none) */
  int reopens;            /* run mode: clean close, reopen and full check this many times */
  int dbs;                /* run mode: keys spread over this many DBs (0 or 1: one DB) */
  int compression;        /* -1: Shale's default; else SHALE_COMPRESSION_* */
  int comparator;         /* a bytewise comparator of the caller's (shale_options.comparator) */
  int filter;             /* a compaction filter giving every value back unchanged, as new */
  uint64_t wal_keep;      /* wal_retention_bytes, so that WAL tail walks find their WALs */
  int read_only;          /* N > 1: each read_only op opens N handles (default 1) */
  size_t write_buffer_size;
  uint64_t seed;
} stress_opts;

/* ---- counters kept in the state file, so a killed child's work is still counted ---- */
enum {
  C_PUT,
  C_DELETE,
  C_DELETE_RANGE,
  C_BATCH,
  C_GET,
  C_ITERATE,
  C_SNAPSHOT,
  C_DELETE_RUN,   /* runs of 16..500 consecutive keys deleted one by one or in one batch */
  C_POP,          /* queue pops: a new iterator's first key from a start, then deleted */
  C_BOUNDED,      /* bounded iterators, latest or through a snapshot */
  C_SNAPSHOT_RUN, /* snapshots pinned before a delete run, read after walks over it */
  C_REVIVE,       /* puts into the latest deleted run */
  C_SPAN_JUMPS,   /* dead spans the engine jumped over (shale.dead-span-jumps) */
  C_KEYS_VERIFIED,
  C_PENDING_SEEN, /* keys found pending after a crash (old or new accepted) */
  C_PENDING_NEW,  /* ... of which the new value had landed */
  C_VIOLATIONS,
  C_ERRORS, /* a call failed that should not have */
  C_CYCLES,
  C_KILLS_TIMER,
  C_KILLS_HOOK,
  C_KILLS_RECOVERY, /* children killed while shale_open was still replaying */
  C_KILLS_AFTER_OPEN,
  C_POWERLOSS,
  C_LOST_UNSYNCED,   /* power-loss cycles in which unsynced acknowledged ops were dropped */
  C_NO_WAL,          /* writes acknowledged with SHALE_NO_WAL */
  C_GET_THREAD,      /* gets each made by a thread started for it and joined */
  C_REOPENS,         /* clean close + reopen + full check, in run mode */
  C_DELETES_CHECKED, /* deleted keys older than deletes-persisted-before, looked for in every table
                      */
  C_CHECKPOINT,      /* checkpoints opened and walked in step with the DB at their sequence */
  C_FILTERED,        /* values a compaction filter (--filter) gave back as new ones */
  C_INGEST,          /* external tables of a window's keys built and ingested */
  C_READ_ONLY,       /* read_only handles opened beside the writer and read */
  C_WAL_TAIL,        /* WAL walks that replayed a window's writes to its current state */
  C_WAL_GONE,        /* ... that found the WAL gone (SHALE_NOTFOUND, the documented answer) */
  C_MAX
};
extern const char *const counter_names[C_MAX];

#define STATE_MAGIC 0x5348414c45535431ull /* "SHALEST1" */
#define STATE_HEADER 4096
#define MAX_HOOK_POINTS 16

typedef struct state_header {
  uint64_t magic;
  uint32_t nkeys, reserved;
  _Atomic uint64_t counters[C_MAX];
  _Atomic uint64_t hook_kills[MAX_HOOK_POINTS]; /* per test_hook_point */
  _Atomic int hook_fired;                       /* set by the child's hook just before it dies */
  _Atomic uint64_t last_open_ms;                /* how long the last verifying open took */
  /* power-loss mode: writes are serialized and numbered 1, 2, ... (op_seq is the last one
   * started); the history log below records, per op, each key it wrote and its new state */
  _Atomic uint64_t op_seq, acked_seq, durable_seq, hist_n;
  _Atomic uint64_t cycle; /* the parent's cycle number, stamped on each history entry */
} state_header;

/* One key written by one op of the power-loss history. */
typedef struct hist_entry {
  uint64_t seq;
  uint32_t key;
  uint32_t state; /* slot_make(gen, exists) after the op */
  uint32_t prev;  /* ... and before it */
  /* who wrote it, for the failure report: the low 16 bits of the cycle (an entry of another
   * cycle is a harness bug), the thread, and hist_how(kind, origin) */
  uint16_t cycle;
  uint8_t thread, how;
} hist_entry;
/* kind: C_PUT, C_DELETE, C_DELETE_RANGE or C_BATCH; origin: the op that made the write (a
 * counter index: C_SNAPSHOT, C_DELETE_RUN, C_POP, C_REVIVE, C_SNAPSHOT_RUN) or C_MAX for a
 * random write of the mix */
static inline uint8_t hist_how(int kind, int origin) { return (uint8_t)(kind | origin << 2); }
static inline int hist_kind(uint8_t how) { return how & 3; }
static inline int hist_origin(uint8_t how) { return how >> 2; }
#define HIST_CAP (1u << 22) /* entries per power-loss cycle; the file is sparse */

/* Per-key slot: bits 0-29 current generation, 30 current exists, 31 pending, 32-61 the
 * pending generation, 62 pending exists. Generation g of key k is the g-th write of k (a put
 * writes value g; a delete makes generation g "absent"). Generation 0: never written. */
#define SLOT_GEN_MASK 0x3fffffffu
static inline uint32_t slot_gen(uint64_t s) { return (uint32_t)(s & SLOT_GEN_MASK); }
static inline int slot_exists(uint64_t s) { return (int)((s >> 30) & 1); }
static inline int slot_pending(uint64_t s) { return (int)((s >> 31) & 1); }
static inline uint32_t slot_new_gen(uint64_t s) { return (uint32_t)((s >> 32) & SLOT_GEN_MASK); }
static inline int slot_new_exists(uint64_t s) { return (int)((s >> 62) & 1); }
static inline uint64_t slot_make(uint32_t gen, int exists) {
  return (uint64_t)(gen & SLOT_GEN_MASK) | ((uint64_t)(exists != 0) << 30);
}
static inline uint64_t slot_with_pending(uint64_t s, uint32_t gen, int exists) {
  return (s & 0x7fffffffull) | (1ull << 31) | ((uint64_t)(gen & SLOT_GEN_MASK) << 32) |
         ((uint64_t)(exists != 0) << 62);
}

typedef struct expected {
  state_header *h;
  _Atomic uint64_t *slots;
  hist_entry *hist;
  size_t map_len;
} expected;

/* Creates (fresh) or opens the state file and maps it shared. Returns 0 or -1 (message
 * printed). */
int expected_open(expected *e, const char *path, uint32_t nkeys, int fresh);
void expected_close(expected *e);
static inline void count(expected *e, int c, uint64_t n) {
  atomic_fetch_add_explicit(&e->h->counters[c], n, memory_order_relaxed);
}

/* ---- keys and values ---- */
#define KEY_LEN 9 /* "k%08u": fixed width, so byte order is index order */
void key_of(uint32_t k, char out[KEY_LEN + 1]);
/* Parses a key; returns its index or -1. */
long key_index(const void *key, size_t klen, uint32_t nkeys);
/* Value of generation gen of key k: "k<8 digits>:<8 hex>:" and a fill derived from both. */
size_t value_of(uint32_t k, uint32_t gen, int value_size, char *out, size_t cap);
#define VALUE_CAP (32 + 65536)
/* Checks a value read for key k; returns its generation, or -1 if malformed. */
long value_gen(uint32_t k, const void *v, size_t vlen, int value_size);

/* What a read saw for one key. */
typedef struct observed {
  int found;
  uint32_t gen;
} observed;

/* Does o match slot s: its current state, or, when pending, its pending one? */
int slot_allows(uint64_t s, observed o);
/* A read that ran without the key's lock between two loads of its slot (pre, post): any
 * state from pre's current through post's newest is allowed (the key has one writer at a
 * time and generations only grow). */
int window_allows(uint64_t pre, uint64_t post, observed o);

/* Reports a violation (printed, counted). */
void violation(expected *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- workload ---- */
typedef struct workload {
  shale_db *db;
  expected *e;
  const stress_opts *o;
  pthread_mutex_t *locks; /* one per key; taken in ascending key order */
  atomic_int stop;
  int serialize_writes;     /* power-loss mode: one write at a time, in op_seq order, logged */
  pthread_mutex_t write_mu; /* ... through this */
  /* the latest deleted run, begin << 32 | len (0: none): revives and scans aim at it, so
   * puts land in dead spans while other threads walk them */
  _Atomic uint64_t hot;
  _Atomic uint64_t jumps_seen; /* shale.dead-span-jumps already added to C_SPAN_JUMPS */
  /* --dbs: key k lives in dbs[k % ndbs] (ndbs 0: every key in db); only single-key ops run */
  shale_db **dbs;
  int ndbs;
  /* run mode: wall-clock µs at which the last delete of each key returned (0: none) */
  uint64_t *del_us;
  /* opens a DB with the workload's options (for checkpoints); NULL: no checkpoint ops */
  int (*open_at)(const char *dir, shale_db **db);
  /* the options the DB is opened with (for external tables and read_only handles); NULL:
   * no ingest, read-only or WAL tail ops */
  void (*options)(shale_options *o);
  _Atomic uint64_t ingests; /* ingests started: a WAL walk spanning one has a gap */
} workload;

static inline shale_db *db_of(const workload *w, uint32_t k) {
  return w->ndbs ? w->dbs[k % (uint32_t)w->ndbs] : w->db;
}

/* Runs o->threads workload threads until w->stop or `seconds` (0: until stopped). */
int workload_run(workload *w, double seconds);
/* Verifies every key: a full forward and a full backward scan and one get per key, against
 * the slots, and bounded scans across the dead spans the full scans made; when resolve,
 * pending slots are set to what was found (after a crash). Returns violations. */
uint64_t verify_all(shale_db *db, expected *e, const stress_opts *o, int resolve);

/* ---- inside the workload: stress_ops.c and stress_runs.c ---- */

/* The most keys one write locks: TSan's deadlock detector tracks at most 64 mutexes held by
 * a thread, so longer delete runs go out as several batches. */
#define MAX_CHANGE 48
#define MAX_WINDOW 512 /* keys one checked read covers */

/* One write: its keys (sorted by do_write), their new states and generations. */
typedef struct change {
  uint32_t key[MAX_CHANGE];
  uint8_t exists[MAX_CHANGE]; /* new state: put (1) or delete (0) */
  uint8_t ranged[MAX_CHANGE]; /* deleted by the op's range delete, not by a point delete */
  uint32_t gen[MAX_CHANGE];   /* filled in under the locks */
  int n;
  uint32_t range_begin, range_len; /* range_len 0: none */
  int ingest;                      /* issued as an external table, ingested */
} change;

typedef struct thread_ctx {
  workload *w;
  uint64_t rng;
  int id;
  double deadline; /* 0: none */
  char *vbuf;
  int origin; /* the op now running, for the power-loss history (see hist_how) */
} thread_ctx;

void add_key(change *c, uint32_t k, int exists, int ranged);
/* Locks c's keys, marks them pending, issues c as kind (C_PUT, C_DELETE, C_DELETE_RANGE or
 * C_BATCH) and makes the new states current once Shale acknowledges. */
void do_write(thread_ctx *t, change *c, int kind);
/* One put (exists) or delete of key k. */
void write_key(thread_ctx *t, uint32_t k, int exists);
void random_write(thread_ctx *t);
uint32_t pick_window(thread_ctx *t, uint32_t maxlen, uint32_t *begin);
/* Reads key k (through snap or the latest state) into *o; 0, or -1 after a violation. */
int read_key(workload *w, const shale_snapshot *snap, uint32_t k, observed *o);
void describe(char *out, size_t cap, uint64_t s);

/* One checked walk of an iterator: a seek, then next or prev, of which each key inside the
 * window [wb, wb + wn) is recorded in seen[key - wb]. The iterator's bounds let through the
 * keys [lo, hi): any other key shown is a violation. */
enum { SCAN_EDGE, SCAN_SEEK }; /* seek_first/seek_last, or seek/seek_for_prev to target */
typedef struct scan {
  shale_iter *it;
  uint32_t wb, wn, lo, hi, target, max; /* max: stop after this many keys (0: no limit) */
  int backward, how;
  observed *seen;
  /* out: the window keys the walk answered for, [c0, c1), and the last key shown (-1) */
  uint32_t c0, c1;
  long last;
} scan;
/* Runs s; 0, or -1 after a violation (reported) or an error (counted). */
int scan_run(workload *w, scan *s);
/* Checks seen[] over [c0, c1) against slot loads before the iterator was made (pre) and
 * after the walk (post), both indexed by key - wb; for a snapshot both are its pinned states.
 * Returns the violations. */
int scan_check(workload *w, const char *what, const scan *s, const uint64_t *pre,
               const uint64_t *post);

/* One checked walk over [begin, begin + len) from its edge (scan_run with a seek). */
int scan_window(workload *w, shale_iter *it, uint32_t begin, uint32_t len, int backward,
                observed *seen, scan *s);

/* ---- ingest, read_only handles and the WAL tail: stress_tail.c ---- */

/* Builds c's puts and deletes into an external table and ingests it (after a flush when
 * writes are serialized, so that the ingest's durability covers every earlier op). */
int issue_ingest(thread_ctx *t, const change *c);
/* A window of keys written as one ingested table, then read back under the keys' locks. */
void op_ingest(thread_ctx *t);
/* A read_only handle opened while a window is locked reads exactly the states pinned then,
 * after the writers go on (--read_only=N: N opens per op). */
void op_read_only(thread_ctx *t);
/* The WAL walked from a sequence noted while a window was locked, applied to the states
 * pinned then, must give the window's current states. */
void op_wal_tail(thread_ctx *t);

/* The ops on deleted runs, queues, bounds and dead spans (stress_runs.c). */
void op_delete_run(thread_ctx *t);
void op_pop(thread_ctx *t);
void op_bounded(thread_ctx *t);
void op_snapshot_run(thread_ctx *t);
void op_revive(thread_ctx *t);
/* Adds the engine's dead-span jumps since the last call to C_SPAN_JUMPS. */
void note_span_jumps(workload *w);
/* After the full scans of verify_all: bounded scans of random windows, each key exactly as
 * the forward scan read it (fwd). Returns the violations. */
uint64_t verify_bounded(shale_db *db, expected *e, const stress_opts *o, const observed *fwd);

/* A full forward or backward scan of db into seen[key] (reset first); malformed keys or
 * values and out-of-order keys are violations. Returns the iterator's status. */
int full_scan(shale_db *db, expected *e, const stress_opts *o, observed *seen, int backward);
/* A get made by a thread started for it (thread-per-request readers), checked as op_get. */
void op_get_thread(thread_ctx *t);

/* ---- checks after a clean reopen: stress_checks.c ---- */

/* --dbs: every DB holds exactly its own keys, each as its slot says (full scans and gets).
 * Returns the violations. */
uint64_t verify_dbs(workload *w);
/* shale.deletes-persisted-before of db (directory dir, holding the keys k with
 * k % mod == rem) must not claim a time after a delete whose value some table still holds:
 * every key now absent whose last delete returned before it is looked for in each table
 * file (values are stored as written only without compression; with compression the check
 * is skipped). Returns the violations. */
uint64_t check_deletes_persisted(workload *w, shale_db *db, const char *dir, uint32_t mod,
                                 uint32_t rem);

double now_ms(void);
uint64_t wall_us(void);
uint64_t rnd(uint64_t *s);

#endif
