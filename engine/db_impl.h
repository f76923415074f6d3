/* db_impl.h — the body of shale_db: the write queue, the current read view, snapshots and
 * the last-error slot. It sits below every engine file that reaches into the struct, so it
 * includes only the headers of the types it embeds: a file that reports errors includes
 * errmsg.h, one that takes views view_cache.h.
 * Locking: `mu` guards the write queue, sealing, the version set and background scheduling;
 * `view_mu` guards only the current-view pointer (held for a pointer copy and a refcount
 * bump, never across I/O), so readers never wait for a writer's I/O. The locks are sh_mutex,
 * so clang checks the functions' SH_REQUIRES/SH_EXCLUDES. C attributes cannot name a sibling
 * member (thread_annotations.h), so the fields a lock guards sit in a struct of their own,
 * reached only through an inline accessor that SH_REQUIRES the lock: db_mu_held() for mu,
 * db_manifest_held() for manifest_mu, db_snap_held() for snap_mu, db_view_held() and its
 * two readers for the current view, db_log_held() for log_mu.
 * clang then proves every access holds the lock; scripts/check-lock-groups.sh fails if the
 * group's member is named anywhere but here. A field left outside a group says why. */
#ifndef SHALE_ENGINE_DB_IMPL_H
#define SHALE_ENGINE_DB_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/dead_spans.h"
#include "engine/read_view.h"
#include "engine/version_set.h"
#include "sstable/block_cache.h"
#include "sstable/table_cache.h"
#include "memtable/memtable.h"
#include "shale.h"
#include "util/error.h"
#include "util/histogram.h"
#include "util/thread_annotations.h"
#include "wal/wal_writer.h"

typedef struct writer writer;

/* Deletes in key order seen by the write path since its last walk (engine/write.c): after
 * enough of them the leader walks [lo, last] so the run becomes a dead span before any
 * reader pays to step over it. Touched only by the write leader. */
typedef struct delete_run {
  buf lo, last;   /* the lowest key and the latest one of the run */
  unsigned count; /* deletes since the last walk */
} delete_run;

/* The walk that rebuilds dead spans after open (engine/span_warmup.c, which alone touches
 * it). Here rather than in span_warmup.h, whose .c reaches into shale_db. */
typedef struct span_warmup {
  pthread_t thread;
  /* What the DB held when it opened: the walk looks only there, so that it never chases
   * deletes made after the open (readers and the write path make those spans). */
  struct read_view *view;
  uint64_t open_seq;
  int running;      /* started and not yet joined; touched only by open and close */
  _Atomic int stop; /* close asks the walk to end early */
  _Atomic int done; /* the walk finished (or found nothing to do): for tests and tools */
} span_warmup;

struct shale_snapshot {
  uint64_t seq;
  struct shale_snapshot *prev, *next;
};

typedef struct db_stats {
  uint64_t open_seq; /* last_seq when the handle opened; set before any other thread runs */
  _Atomic uint64_t puts, deletes, range_deletes, batches, write_groups, wal_syncs;
  _Atomic uint64_t bytes_written_user, memtables_sealed, stall_micros, stalls;
  _Atomic uint64_t flushes, flush_bytes, flush_micros, tombstones_dropped_clean;
  _Atomic uint64_t versions_dropped, compactions, compaction_bytes_read, compaction_bytes_written;
  _Atomic uint64_t wal_bytes;
  _Atomic uint64_t keys_deleted, ranges_deleted; /* by any call: alone or in batches */
  /* read_counts of gets without a view slot (a thread past DB_SLOTS) */
  _Atomic uint64_t keys_read, keys_found, bytes_read, bloom_useful;
  /* per output level: the level's share of write amplification */
  _Atomic uint64_t level_compactions[NUM_LEVELS], level_bytes_read[NUM_LEVELS],
      level_bytes_written[NUM_LEVELS];
  histogram hists[SHALE_HIST_COUNT]; /* nanoseconds (engine/statistics.h) */
} db_stats;

/* The fields `mu` guards. They are reached only through db_mu_held(), whose SH_REQUIRES
 * makes clang prove every access is made with mu held (scripts/check-lock-groups.sh keeps
 * the member's name out of every other line). */
typedef struct db_mu_state {
  writer *queue_head, *queue_tail; /* the write queue; its head is the leader */
  uint64_t next_file_number;       /* engine/file_numbers.c alone moves it */
  uint64_t last_allocated_seq;     /* the last sequence a writer took; last_seq trails it */
  int wal_skipped;                 /* a write since open skipped the WAL */
  int bg_error;                    /* non-zero: read-only until reopened */
  char bg_errmsg[ERRMSG_SIZE];     /* what caused bg_error */
  int shutting_down;
  int flush_running;
  int compaction_running;      /* one compaction at a time */
  int manual_compaction;       /* automatic picking pauses meanwhile */
  buf compact_ptr[NUM_LEVELS]; /* where each level's round robin resumes */
  uint64_t next_view_number;   /* the number the next read view gets */
} db_mu_state;

/* The info LOG, which log_mu guards; reached only through db_log_held(). */
typedef struct db_log_state {
  int info_log_fd;         /* written through io's env; -1: none */
  uint64_t info_log_bytes; /* its length, which decides its rotation */
} db_log_state;

/* The fields manifest_mu guards, reached only through db_manifest_held(). */
typedef struct db_manifest_state {
  uint64_t oldest_wal;   /* WALs below it are deleted */
  uint64_t wals_retired; /* WALs below it are deleted or .old.log */
  int wal_pins;          /* checkpoints, WAL walks reading WALs: none deleted meanwhile */
} db_manifest_state;

/* The fields snap_mu guards, reached only through db_snap_held(). */
typedef struct db_snap_state {
  shale_snapshot snapshots; /* circular list head, oldest first */
  uint64_t snaps_made;      /* snapshots ever taken */
  /* Set while a compaction that the filter changed installs: a snapshot taken then could
   * read the inputs first and the outputs after, so it waits on snap_cv. */
  int snap_gate;
} db_snap_state;

/* The current view. It is replaced only with both mu and view_mu held, so either lock alone
 * keeps it still: readers take view_mu (held for a pointer copy and a refcount bump), the
 * write and background paths read it under the mu they hold already. db_view_held() (both
 * locks) replaces it; db_view_under_mu() and db_view_under_view_mu() read it. */
typedef struct db_view_state {
  read_view *view;
} db_view_state;

struct shale_db {
  char *path;
  shale_options opt;
  /* The user-key order: NULL (bytewise) or cmp_copy, the caller's comparator copied at open
   * (opt.comparator points there too), its name in cmp_name. */
  const shale_comparator *cmp;
  shale_comparator cmp_copy;
  char cmp_name[COMPARATOR_NAME_MAX + 1];
  io_ctx io; /* the file layer's switches (from opt) and counters, this DB's alone */
  int lock_fd;
  sh_mutex log_mu;           /* serializes LOG lines with its rotation */
  db_log_state under_log_mu; /* reached only through db_log_held() (engine/db_log.c) */

  sh_mutex mu;
  db_mu_state under_mu; /* reached only through db_mu_held() */
  /* The mutable memtable. Replaced by the write leader under mu, but outside the mu group:
   * the leader alone writes it and reads it without mu while it applies a batch. */
  memtable *mem;
  wal_writer *wal;      /* WAL of mem; written only by the write leader */
  uint64_t log_number;  /* number of wal */
  pthread_cond_t bg_cv; /* signalled when background work changes state */

  /* Tables. Lock order: manifest_mu before mu. manifest_mu serializes MANIFEST writes so
   * edits land in the order their views are published. */
  sh_mutex manifest_mu;
  db_manifest_state under_manifest_mu; /* reached only through db_manifest_held() */
  /* Its current version is a group of mu's (db_current_version() below: replaced under mu
   * and manifest_mu, read under either); its MANIFEST writer and numbers are manifest_mu's,
   * not grouped. version_set.c's functions, which get no DB, say which lock they need in
   * version_set.h, and the callers here say SH_REQUIRES. */
  version_set vset;
  file_reaper reaper;
  block_cache *bcache;
  arena_pool *apool; /* memtables' arena blocks: prefaulted ahead, recycled after flush */
  table_cache *tcache;
  /* The zstd dictionary flushes and compactions reuse (sstable/zstd_dict.h; own lock). */
  struct zstd_dict_share *dict_share;
  /* read_only: a reference to the reader of every table of the version recovered, taken at
   * open, so a writer's later unlink of a table cannot break this handle's reads. */
  sst_reader **pinned_tables;
  size_t n_pinned_tables;
  pthread_t *bg_threads;
  int n_bg_threads;

  _Atomic uint64_t last_seq; /* last published sequence: everything <= it is readable */

  sh_mutex view_mu;
  db_view_state under_view_mu;  /* reached only through db_view_held() and its readers */
  _Atomic uint64_t view_number; /* number of `view`, readable without view_mu */
  struct view_reg *_Atomic vr;  /* gets' per-thread views (view_cache.c); made at first get */
  uint64_t gen;                 /* unique per open handle; the view cache keys on vr instead */

  sh_mutex snap_mu;
  db_snap_state under_snap_mu; /* reached only through db_snap_held() */
  pthread_cond_t snap_cv;      /* signalled when snap_gate opens */
  char *filter_name; /* opt.compaction_filter_name points here: the caller's is borrowed */

  dead_spans spans;        /* ranges iterators found empty of live keys; own lock */
  span_warmup warmup;      /* the walk that rebuilds spans after open (span_warmup.c only) */
  uint64_t spans_restored; /* spans a clean close kept and this open took back; set at open */
  /* Where the last iterator freed left its count of seeks moved on from (engine/iter.c):
   * new iterators start there. Relaxed; written only when an iterator ends elsewhere. */
  _Atomic unsigned iter_seek_moves;
  _Atomic size_t live_iters; /* made by shale_iter_new* and not yet freed: close refuses */
  delete_run del_run;        /* written only by the write leader */

  db_stats stats;
  struct db_listeners *listeners; /* shale_options.listener's queue; NULL: none (listeners.c) */
};

static inline db_mu_state *db_mu_held(shale_db *db) SH_REQUIRES(db->mu) { return &db->under_mu; }

static inline db_log_state *db_log_held(shale_db *db) SH_REQUIRES(db->log_mu) {
  return &db->under_log_mu;
}

static inline db_manifest_state *db_manifest_held(shale_db *db) SH_REQUIRES(db->manifest_mu) {
  return &db->under_manifest_mu;
}

static inline db_view_state *db_view_held(shale_db *db) SH_REQUIRES(db->mu, db->view_mu) {
  return &db->under_view_mu;
}

static inline read_view *db_view_under_mu(shale_db *db) SH_REQUIRES(db->mu) {
  return db->under_view_mu.view;
}

static inline read_view *db_view_under_view_mu(shale_db *db) SH_REQUIRES(db->view_mu) {
  return db->under_view_mu.view;
}

static inline db_snap_state *db_snap_held(shale_db *db) SH_REQUIRES(db->snap_mu) {
  return &db->under_snap_mu;
}

/* The version set's current version: replaced under mu and manifest_mu (vset_install), so
 * read under either (version_set.c's own functions too: version_set.h). */
static inline version *db_current_version(shale_db *db) SH_REQUIRES(db->mu) {
  return db->vset.under_db_mu.current;
}

static inline version *db_current_version_under_manifest_mu(shale_db *db)
    SH_REQUIRES(db->manifest_mu) {
  return db->vset.under_db_mu.current;
}

/* A file's compaction marks (engine/version.h), which this DB's mu guards. */
static inline file_db_mu_state *db_file_held(shale_db *db, file_meta *f) SH_REQUIRES(db->mu) {
  (void)db;
  return &f->under_db_mu;
}

#endif /* SHALE_ENGINE_DB_IMPL_H */
