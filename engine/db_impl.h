/* db_impl.h — the body of shale_db and what the engine's files share about it: the write
 * queue, the current read view, snapshots and the last-error slot.
 * Locking: `mu` guards the write queue, sealing, the version set and background scheduling;
 * `view_mu` guards only the current-view pointer (held for a pointer copy and a refcount
 * bump, never across I/O), so readers never wait for a writer's I/O. */
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
#include "wal/wal_writer.h"

typedef struct writer writer;

/* Deletes in key order seen by the write path since its last walk (engine/write.c): after
 * enough of them the leader walks [lo, last] so the run becomes a dead span before any
 * reader pays to step over it. Touched only by the write leader. */
typedef struct delete_run {
  buf lo, last;   /* the lowest key and the latest one of the run */
  unsigned count; /* deletes since the last walk */
} delete_run;

struct shale_snapshot {
  uint64_t seq;
  struct shale_snapshot *prev, *next;
};

/* What point reads did. A get adds its counts to its thread's view slot (view_cache.c), on a
 * line only that thread writes, so concurrent gets share no counter. */
typedef struct read_counts {
  uint64_t keys, found, bytes, bloom_useful;
} read_counts;

typedef struct db_stats {
  uint64_t open_seq; /* last_seq when the handle opened; set before any other thread runs */
  _Atomic uint64_t puts, deletes, range_deletes, batches, write_groups, wal_syncs;
  _Atomic uint64_t bytes_written_user, memtables_sealed, stall_micros, stalls;
  _Atomic uint64_t flushes, flush_bytes, flush_micros, tombstones_dropped_clean;
  _Atomic uint64_t versions_dropped, compactions, compaction_bytes_read, compaction_bytes_written;
  _Atomic uint64_t wal_bytes;
  /* read_counts of gets without a view slot (a thread past DB_SLOTS) */
  _Atomic uint64_t keys_read, keys_found, bytes_read, bloom_useful;
  /* per output level: the level's share of write amplification */
  _Atomic uint64_t level_compactions[NUM_LEVELS], level_bytes_read[NUM_LEVELS],
      level_bytes_written[NUM_LEVELS];
} db_stats;

struct shale_db {
  char *path;
  shale_options opt;
  int lock_fd;
  FILE *info_log;
  pthread_mutex_t log_mu; /* serializes LOG lines with its rotation */

  pthread_mutex_t mu;
  writer *queue_head, *queue_tail; /* guarded by mu */
  memtable *mem;                   /* mutable memtable; changed by the write leader under mu */
  wal_writer *wal;                 /* WAL of mem; written only by the write leader */
  uint64_t log_number;             /* number of wal */
  uint64_t next_file_number;       /* guarded by mu */
  uint64_t last_allocated_seq;     /* guarded by mu */
  int wal_skipped;                 /* a write since open skipped the WAL; guarded by mu */
  int bg_error;                    /* non-zero: read-only until reopened; guarded by mu */
  char bg_errmsg[ERRMSG_SIZE];     /* what caused bg_error; guarded by mu */
  pthread_cond_t bg_cv;            /* signalled when background work changes state */

  /* Tables. Lock order: manifest_mu before mu. manifest_mu serializes MANIFEST writes so
   * edits land in the order their views are published. */
  pthread_mutex_t manifest_mu;
  version_set vset; /* current version guarded by mu; the MANIFEST by manifest_mu */
  file_reaper reaper;
  block_cache *bcache;
  arena_pool *apool; /* memtables' arena blocks: prefaulted ahead, recycled after flush */
  table_cache *tcache;
  pthread_t *bg_threads;
  int n_bg_threads;
  int shutting_down;            /* guarded by mu */
  int flush_running;            /* guarded by mu */
  int compaction_running;       /* guarded by mu; one compaction at a time */
  int manual_compaction;        /* guarded by mu; automatic picking pauses meanwhile */
  buf compact_ptr[NUM_LEVELS];  /* guarded by mu: where each level's round robin resumes */
  uint64_t flushes_done;        /* guarded by mu; shale_flush waits for it to pass a mark */
  uint64_t oldest_wal;          /* WALs below it are deleted; guarded by manifest_mu */
  int wal_pins;                 /* checkpoints, WAL walks reading WALs: none deleted; manifest_mu */
  uint64_t manifest_roll_bytes; /* a new MANIFEST starts past this size */

  _Atomic uint64_t last_seq; /* last published sequence: everything <= it is readable */

  pthread_mutex_t view_mu;
  read_view *view;              /* current view; guarded by view_mu */
  _Atomic uint64_t view_number; /* number of `view`, readable without view_mu */
  struct view_reg *_Atomic vr;  /* gets' per-thread views (view_cache.c); made at first get */
  uint64_t gen;                 /* unique per open handle; the view cache keys on vr instead */
  uint64_t next_view_number;    /* guarded by mu */

  pthread_mutex_t snap_mu;
  shale_snapshot snapshots; /* circular list head; guarded by snap_mu */
  uint64_t snaps_made;      /* snapshots ever taken; guarded by snap_mu */
  /* Set while a compaction that the filter changed installs: a snapshot taken then could
   * read the inputs first and the outputs after, so it waits on snap_cv. Guarded by
   * snap_mu. */
  int snap_gate;
  pthread_cond_t snap_cv;
  char *filter_name; /* opt.compaction_filter_name points here: the caller's is borrowed */

  dead_spans spans; /* ranges iterators found empty of live keys; own lock */
  /* Where the last iterator freed left its count of seeks moved on from (engine/iter.c):
   * new iterators start there. Relaxed; written only when an iterator ends elsewhere. */
  _Atomic unsigned iter_seek_moves;
  _Atomic size_t live_iters; /* made by shale_iter_new* and not yet freed: close refuses */
  delete_run del_run;        /* written only by the write leader */

  db_stats stats;
};

/* This thread's buffer for the detail of calls made without a handle (a failed shale_open,
 * shale_destroy, shale_repair): what shale_errmsg(NULL) returns. */
char *db_handleless_errmsg(void);
/* Records msg (NULL or "": rc's strerror text) as this thread's detail for the handle and
 * returns rc (for `return db_fail(...)`); SHALE_OK and SHALE_NOTFOUND record nothing.
 * (engine/errmsg.c) */
int db_fail(shale_db *db, int rc, const char *msg);
/* Bracket every public call on a handle: begin clears this thread's detail for it, end
 * returns rc after giving a failure that recorded no detail its strerror text. */
void db_call_begin(const shale_db *db);
int db_call_end(shale_db *db, int rc);
/* Appends a timestamped line to the DB's LOG file. */
void db_log(shale_db *db, const char *fmt, ...) SHALE_PRINTF(2, 3);

/* Read views. REQUIRES for publish: mu held. */
read_view *db_view_acquire(shale_db *db);
void db_view_publish(shale_db *db, read_view *v); /* takes over the caller's reference */
/* The current view for one short read, from this thread's cache when it is still current,
 * so gets touch no lock and no shared refcount. Return it with db_view_put. */
typedef struct view_slot view_slot;
typedef struct view_reg view_reg;
read_view *db_view_get(shale_db *db, view_slot **slot);
void db_view_put(shale_db *db, view_slot *slot, read_view *v);
/* Adds c to the counts of the thread owning slot (db's shared ones when slot is NULL).
 * REQUIRES: called between db_view_get and db_view_put that returned slot. */
void db_read_count(shale_db *db, view_slot *slot, const read_counts *c);
/* The counts of every point read on db so far. */
void db_read_counts(shale_db *db, read_counts *out);
/* Drops every cached view (at close). */
void db_view_cache_free(shale_db *db);
/* For tests: the view cache's memory (process-wide), db's live slots, and how many of them
 * cache a view older than the current one. REQUIRES: no get in flight on db. */
typedef struct view_cache_stats {
  size_t bytes, live_slots, stale_views;
} view_cache_stats;
void db_view_cache_stats(shale_db *db, view_cache_stats *st);

/* The write path (engine/write.c). rep is a batch rep whose sequence field the leader sets. */
int db_write_rep(shale_db *db, buf *rep, unsigned flags);
/* Seals the memtable after every write queued before this call (shale_flush). */
int db_write_seal(shale_db *db);
/* Seals the mutable memtable and starts a new WAL. REQUIRES: mu held, caller is the leader. */
int db_seal_memtable(shale_db *db, char *errmsg);

/* Background threads (engine/background.c). */
int bg_start(shale_db *db, char *errmsg);
void bg_stop(shale_db *db);
/* Flushes the oldest sealed memtable. REQUIRES: mu held; returns with mu held. */
int flush_oldest(shale_db *db, char *errmsg);
/* Deletes the WALs from oldest_wal up to below that retention does not keep, unless a
 * checkpoint or a WAL walk pins them (then the next call after it deletes them).
 * REQUIRES: manifest_mu held. (engine/flush_job.c) */
void db_delete_obsolete_wals(shale_db *db, uint64_t below);
/* Records a background error: the DB turns read-only. REQUIRES: mu held. */
void db_set_bg_error(shale_db *db, int rc, const char *msg);
/* Starts a new MANIFEST (one snapshot edit) once the current one has grown past
 * manifest_roll_bytes. REQUIRES: manifest_mu held, mu not held. */
void db_maybe_roll_manifest(shale_db *db);
/* The current view with a new version in place of the old one. REQUIRES: mu held. */
int db_publish_version(shale_db *db, int drop_oldest_imm);

/* Table-building options from the DB options. */
#include "sstable/sst_format.h"
sst_options db_sst_options(const shale_db *db);

/* A fresh memtable whose index fits the write buffer and the entry sizes seen so far, its
 * arena fed by db->apool. */
int db_memtable_new(shale_db *db, memtable **out);

/* Oldest sequence a live snapshot pins, or last_seq when none. */
uint64_t db_oldest_snapshot(shale_db *db);
/* The sequences live snapshots pin, ascending and distinct: *seqs (NULL when *n is 0) is
 * malloc'd for the caller to free. Table builders collapse range tombstones between them.
 * @return SHALE_OK or SHALE_NOMEM. */
int db_snapshot_seqs(shale_db *db, uint64_t **seqs, size_t *n);
/* How many snapshots were ever taken: read before db_snapshot_seqs, it tells a compaction
 * later whether a snapshot missing from its list appeared since. */
uint64_t db_snapshots_made(shale_db *db);
/* Closes the snapshot gate when no snapshot was taken since db_snapshots_made returned
 * made, and returns 1; else returns 0 and leaves it open. While closed, shale_snapshot_new
 * waits. */
int db_snapshot_gate_close(shale_db *db, uint64_t made);
void db_snapshot_gate_open(shale_db *db);

#endif /* SHALE_ENGINE_DB_IMPL_H */
