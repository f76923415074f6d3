/* recovery.c — replaying WAL files into memtables at open, and at close flushing what no WAL
 * holds. Logs are replayed in number order; a torn tail is dropped by the reader, damage
 * before the tail fails the open unless the tolerant recovery mode asks to keep what
 * precedes it. */
#include "engine/file_numbers.h"
#include "engine/recovery.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/db_log.h"
#include "engine/filename.h"
#include "engine/mem_insert.h"
#include "engine/background.h"
#include "engine/bg_error.h"
#include "engine/flush.h"
#include "engine/flush_job.h"
#include "engine/listeners.h"
#include "engine/view_cache.h"
#include "engine/wal_retention.h"
#include "engine/statistics.h"
#include "engine/write.h"
#include "io/io.h"
#include "io/io_fs.h"
#include "sstable/zstd_dict.h"
#include <stddef.h>
#include "util/clock.h"
#include "util/ikey.h"
#include "wal/wal_reader.h"

typedef struct numbers {
  uint64_t *v;
  size_t n, cap;
} numbers;

static int numbers_push(numbers *a, uint64_t x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    uint64_t *p = realloc(a->v, cap * sizeof *p);
    if (!p) return -1;
    a->v = p;
    a->cap = cap;
  }
  a->v[a->n++] = x;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Lists the WAL files and raises next_file_number past every numbered file seen. */
static int list_logs(shale_db *db, numbers *logs, char *errmsg) {
  char **names;
  size_t count;
  int rc = io_list_dir(&db->io, db->path, &names, &count, errmsg);
  for (size_t i = 0; i < count && !rc; i++) {
    uint64_t n;
    file_type t = filename_parse(names[i], &n);
    db_file_number_past(db, n);
    if (t == FT_LOG && numbers_push(logs, n))
      rc = err_set(errmsg, SHALE_NOMEM, "out of memory listing %s", db->path);
  }
  io_names_free(names, count);
  if (logs->n > 1) qsort(logs->v, logs->n, sizeof *logs->v, cmp_u64);
  return rc;
}

/* The time the deletes of the record just read get back. 0 from the reader (a version 1
 * log whose birth time is unknown) becomes 1 us past the epoch: a tombstone time of 0 would
 * count as none, and any later time could claim a delete persisted that is not. */
static uint64_t record_time(const wal_reader *r) {
  uint64_t t = wal_reader_record_time(r);
  return t ? t : 1;
}

/* Seals the memtable being replayed into when it is full, as the write path would. */
static int replay_make_room(shale_db *db, uint64_t log_number) {
  if (memtable_bytes(db->mem) < db->opt.write_buffer_size) return SHALE_OK;
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule publishing views */
  int rc = db_seal_replayed(db, log_number);
  sh_mutex_unlock(&db->mu);
  return rc;
}

/* Cuts a WAL back to its durable prefix once its unsynced tail was dropped: left in place,
 * the intact records past the hole would read as corruption at the next open, once a later
 * WAL holds records. */
static int cut_log(io_ctx *io, const char *path, uint64_t len, char *errmsg) {
  char why[ERRMSG_SIZE];
  int rc = io_truncate_file(io, path, len, 1, why);
  return rc ? err_set(errmsg, rc, "cutting the unsynced tail of a WAL: %s", why) : SHALE_OK;
}

/* What reading a log ended with, for the LOG and for the rule that no log may replay after
 * one whose unsynced tail lost pages out of order. */
static int finish_log(shale_db *db, wal_reader *r, const char *path, int *hole, char *errmsg) {
  const char *dropped = wal_reader_dropped(r);
  if (dropped) db_log(db, "WAL replay: %s", dropped);
  if (!wal_reader_tail_unordered(r)) return SHALE_OK;
  *hole = 1;
  return db->opt.read_only ? SHALE_OK
                           : cut_log(&db->io, path, wal_reader_last_good_offset(r), errmsg);
}

static int wal_read_mode(const shale_db *db) {
  int tolerant = db->opt.wal_recovery_mode == SHALE_WAL_RECOVER_TOLERANT;
  return tolerant | WAL_READ_UNSYNCED_TAIL;
}

/* hole: set once a log ended at unsynced damage with data after it. Its writes come after
 * the hole, so a later log that holds records means the damage was not in an unsynced tail
 * after all (a WAL is synced whole before the next one gets a record): corruption.
 * opened: the log's reader when the caller opened it already (it stays the caller's to
 * close), else NULL. */
static int replay_log(shale_db *db, uint64_t number, wal_reader *opened, int *hole, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_log(path, db->path, number);
  wal_reader *r = opened;
  int tolerant = db->opt.wal_recovery_mode == SHALE_WAL_RECOVER_TOLERANT;
  int rc = r ? SHALE_OK : wal_reader_open(&db->io, path, wal_read_mode(db), &r, errmsg);
  if (rc && db->opt.read_only && access(path, F_OK) != 0 && errno == ENOENT)
    return err_set(errmsg, SHALE_BUSY, "%s went away during the open", path); /* a writer's */
  if (rc) return rc;
  int after_hole = *hole;
  const uint8_t *rec;
  size_t len;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    if (after_hole && !tolerant) {
      rc = err_corrupt(errmsg, "%s holds records, but an earlier WAL lost part of its tail", path);
      break;
    }
    if (len < BATCH_HEADER) {
      rc = err_corrupt(errmsg, "%s: record of %zu bytes is not a batch", path, len);
      break;
    }
    if ((rc = replay_make_room(db, number))) break;
    mem_insert ins = {db->mem,        NULL, NULL,
                      record_time(r), 0,    0}; /* replay_make_room may swap mem */
    rc = batch_rep_iterate(rec, len, mem_insert_record, &ins);
    if (rc == SHALE_CORRUPTION) err_corrupt(errmsg, "%s: malformed batch in a valid record", path);
    if (rc) break;
    uint64_t last = batch_rep_seq(rec) + batch_rep_count(rec) - 1;
    if (batch_rep_count(rec)) db_seqs_recovered(db, last);
  }
  if (rc == 0) rc = finish_log(db, r, path, hole, errmsg);
  if (!opened) wal_reader_close(r);
  /* What was replayed is now state later writes build on: a SYNC write after this open
   * must not outlive the unsynced tail of a log before it (writes are durable in order). */
  if (rc == 0 && !db->opt.read_only) rc = io_sync_file(&db->io, path, errmsg);
  return rc < 0 ? rc : SHALE_OK;
}

static void reap_table(file_reaper *r, uint64_t number) {
  shale_db *db = (shale_db *)((char *)r - offsetof(shale_db, reaper));
  char path[FILENAME_MAX_LEN];
  filename_table(path, db->path, number);
  table_cache_evict(db->tcache, number);
  struct stat st;
  uint64_t size = db->listeners && !stat(path, &st) ? (uint64_t)st.st_size : 0;
  if (!io_remove(&db->io, path, NULL)) listeners_table_deleted(db, number, size);
  io_point(&db->io, db, SHALE_POINT_TABLE_DELETED);
}

static int version_has(const version *v, uint64_t number) {
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++)
      if (v->files[l][i]->number == number) return 1;
  return 0;
}

/* Files a crash left behind: tables no version lists (a flush or compaction that never
 * reached the MANIFEST), WALs already in tables (unless WAL retention may keep them: they
 * are then judged by it, as at a flush), old MANIFESTs, temp files. */
static void remove_orphans(shale_db *db) {
  char **names;
  size_t count;
  if (io_list_dir(&db->io, db->path, &names, &count, NULL)) return;
  char path[FILENAME_MAX_LEN];
  int renamed = 0;
  uint64_t oldest_retained = UINT64_MAX;
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule on the current version */
  const version *live = db_current_version(db);
  sh_mutex_unlock(&db->mu);
  for (size_t i = 0; i < count; i++) {
    uint64_t n;
    file_type t = filename_parse(names[i], &n);
    int old_wal = t == FT_OLD_LOG || (t == FT_LOG && n < db->vset.log_number);
    int retained = old_wal && wal_retention_on(&db->opt);
    if (retained && n < oldest_retained) oldest_retained = n;
    if (retained && t == FT_LOG) renamed |= wal_retention_retire(&db->io, db->path, n);
    int orphan = (t == FT_TABLE && !version_has(live, n)) || (old_wal && !retained) ||
                 (t == FT_MANIFEST && n != db->vset.manifest_number) || t == FT_TEMP;
    if (!orphan) continue;
    filename_join(path, db->path, names[i]);
    db_log(db, "removing obsolete file %s", names[i]);
    struct stat st;
    uint64_t size = t == FT_TABLE && !stat(path, &st) ? (uint64_t)st.st_size : 0;
    if (io_remove(&db->io, path, NULL) == SHALE_OK && t == FT_TABLE)
      listeners_table_deleted(db, n, size); /* a crash's leftover, as RocksDB reports one */
  }
  io_names_free(names, count);
  if (renamed) io_sync_dir(&db->io, db->path, NULL);
  sh_mutex_lock(&db->manifest_mu); /* no other thread yet: held for the rule on the WAL bounds */
  if (oldest_retained != UINT64_MAX) db_wals_retained(db, oldest_retained);
  sh_mutex_unlock(&db->manifest_mu);
}

static int open_tables(shale_db *db, char *errmsg) {
  db->reaper.reap = reap_table;
  /* Keep a quarter of a memtable (at most 8 blocks) faulted in ahead of the writer, and up
   * to one memtable's worth (at most 32 blocks) of blocks for reuse. */
  size_t block = arena_block_size_for(db->opt.write_buffer_size);
  size_t blocks = db->opt.write_buffer_size / block;
  size_t ahead = blocks / 4 < 8 ? blocks / 4 : 8;
  if (arena_pool_new(block, ahead, blocks < 32 ? blocks + 1 : 32, &db->apool) ||
      block_cache_new(db->opt.block_cache_size, &db->bcache) ||
      table_cache_new(&db->io, db->path, db->opt.max_open_files, db->bcache, &db->tcache) ||
      !(db->dict_share = zstd_dict_share_new()))
    return err_set(errmsg, SHALE_NOMEM, "out of memory creating caches");
  table_cache_set_comparator(db->tcache, db->cmp);
  vset_init(&db->vset, &db->io, db->path, &db->reaper);
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule on the current version */
  version *empty = db_current_version(db);
  if (empty) empty->cmp = db->cmp; /* every version recovery makes inherits it */
  sh_mutex_unlock(&db->mu);
  return empty ? SHALE_OK : err_set(errmsg, SHALE_NOMEM, "out of memory");
}

/* opened: NULL, or the readers open_logs_now made (one per log; a NULL one is opened here). */
static int replay_logs(shale_db *db, const numbers *logs, wal_reader **opened, char *errmsg) {
  int rc = SHALE_OK, hole = 0;
  size_t replayed = 0;
  for (size_t i = 0; i < logs->n && !rc; i++) {
    if (logs->v[i] < db->vset.log_number) continue;
    if (!replayed++) memtable_set_log_number(db->mem, logs->v[i]);
    rc = replay_log(db, logs->v[i], opened ? opened[i] : NULL, &hole, errmsg);
  }
  return rc;
}

/* ---- read_only: an open without the LOCK, beside a writer that goes on meanwhile ----
 *
 * The writer appends an edit to the MANIFEST before it deletes what the edit made obsolete,
 * and numbers WALs in the order it starts them. So the open lists the WALs, opens each at
 * once (an open file outlives its unlink, and is read only up to the size it had then), and
 * only then reads CURRENT and the MANIFEST: a WAL at or above the recovered log number that
 * was gone by then would have been deleted by an edit the MANIFEST holds, so it was listed.
 * Every write acknowledged before the open began is thus in a table of the version or in a
 * listed WAL, and the WALs listed at or above the log number are consecutive, all but the
 * newest complete: the state is a prefix of the writer's history. Whatever the writer
 * removes before this open holds it (a WAL, a table, CURRENT moving to a new MANIFEST)
 * makes the attempt SHALE_BUSY, and shale_open starts it afresh. */

/* The logs a read_only open opened as it listed them: r[i] for logs->v[i], NULL when that
 * open failed; gone[i] when it failed because the file was gone. */
typedef struct early_logs {
  wal_reader **r;
  unsigned char *gone;
} early_logs;

/* A log that fails to open for another reason is opened again if it is replayed, which
 * reports the error as an open with the LOCK would (an obsolete one is never read). */
static int open_logs_now(shale_db *db, const numbers *logs, early_logs *e, char *errmsg) {
  size_t n = logs->n ? logs->n : 1;
  e->r = calloc(n, sizeof *e->r);
  e->gone = calloc(n, 1);
  if (!e->r || !e->gone) return err_set(errmsg, SHALE_NOMEM, "out of memory opening the WALs");
  char path[FILENAME_MAX_LEN], ignored[ERRMSG_SIZE];
  for (size_t i = 0; i < logs->n; i++) {
    filename_log(path, db->path, logs->v[i]);
    int rc = wal_reader_open(&db->io, path, wal_read_mode(db), &e->r[i], ignored);
    if (rc == SHALE_NOMEM) return err_set(errmsg, rc, "%s", ignored);
    e->gone[i] = rc && access(path, F_OK) != 0 && errno == ENOENT;
  }
  return SHALE_OK;
}

static void close_logs(early_logs *e, size_t n) {
  for (size_t i = 0; e->r && i < n; i++) wal_reader_close(e->r[i]);
  free(e->r);
  free(e->gone);
}

/* A WAL the recovered version still needs that went between listing and opening. */
static int check_logs_held(shale_db *db, const numbers *logs, const early_logs *e, char *errmsg) {
  for (size_t i = 0; i < logs->n; i++)
    if (logs->v[i] >= db->vset.log_number && e->gone[i])
      return err_set(errmsg, SHALE_BUSY, "WAL %06llu went away during the open",
                     (unsigned long long)logs->v[i]);
  return SHALE_OK;
}

/* Takes a table cache reference to every table of the recovered version. A table that went
 * while the MANIFEST stayed as read, or that cannot be opened, was not removed by a writer:
 * left for the reads that need it to report, as with the LOCK. */
static int pin_tables(shale_db *db, char *errmsg) {
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule on the current version */
  const version *v = db_current_version(db);
  sh_mutex_unlock(&db->mu);
  size_t total = 0;
  for (int l = 0; l < NUM_LEVELS; l++) total += (size_t)v->nfiles[l];
  if (!total) return SHALE_OK;
  if (!(db->pinned_tables = malloc(total * sizeof *db->pinned_tables)))
    return err_set(errmsg, SHALE_NOMEM, "out of memory opening the tables");
  char path[FILENAME_MAX_LEN], ignored[ERRMSG_SIZE];
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      uint64_t n = v->files[l][i]->number;
      sst_reader *r;
      int rc = table_cache_get(db->tcache, n, &r, ignored);
      if (!rc) {
        db->pinned_tables[db->n_pinned_tables++] = r;
        continue;
      }
      if (rc == SHALE_NOMEM) return err_set(errmsg, rc, "%s", ignored);
      filename_table(path, db->path, n);
      int gone = access(path, F_OK) != 0 && errno == ENOENT;
      if (gone && (rc = vset_check_unchanged(&db->vset, 0, errmsg))) return rc;
    }
  return SHALE_OK;
}

/* After CURRENT and the MANIFEST were read: the files of that state, held open. */
static int hold_recovered_state(shale_db *db, const numbers *logs, const early_logs *e,
                                char *errmsg) {
  int rc = pin_tables(db, errmsg);
  if (!rc) rc = check_logs_held(db, logs, e, errmsg);
  /* A MANIFEST CURRENT no longer names may lack edits the writer made since. */
  if (!rc) rc = vset_check_unchanged(&db->vset, 1, errmsg);
  return rc;
}

/* A MANIFEST that vanished or read short as the writer moved CURRENT on is a race, not
 * damage. */
static int recover_version_unlocked(shale_db *db, int *exists, char *errmsg) {
  int rc = vset_recover(&db->vset, exists, errmsg);
  if (!rc || rc == SHALE_NOMEM || !*exists || !db->vset.recovered_manifest[0]) return rc;
  char why[ERRMSG_SIZE];
  return vset_check_unchanged(&db->vset, 1, why) == SHALE_BUSY
             ? err_set(errmsg, SHALE_BUSY, "%s", why)
             : rc;
}

/* A read-only handle keeps what it replayed in memory and refuses writes through the
 * background-error path every write already checks. */
static void finish_read_only(shale_db *db) {
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule on bg_error */
  db_refuse_writes(db, "opened with read_only, which refuses writes, flushes and compactions");
  sh_mutex_unlock(&db->mu);
}

/* Brings a recovered DB into service: recovered data to the flush threads, a fresh WAL for
 * new writes, a new MANIFEST, obsolete files removed, background threads started. */
static int start_writing(shale_db *db, char *errmsg) {
  int rc;
  if (memtable_count(db->mem)) {
    sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule sealing states */
    rc = db_seal_memtable(db, errmsg);
    sh_mutex_unlock(&db->mu);
  } else if (!(rc = db_start_wal(db, errmsg))) {
    vset_set_log_number(&db->vset, db->log_number); /* every older WAL is empty or in tables */
  }
  if (rc) return rc;
  sh_mutex_lock(&db->manifest_mu); /* no other thread yet: held for the rule on the WAL bounds */
  db_wals_start(db, db->vset.log_number);
  sh_mutex_unlock(&db->manifest_mu);
  db_log(db, "table writes use %s",
         io_uring_in_use(&db->io) ? "io_uring"
                                  : "the pwrite fallback (io_uring refused or io_mode=pwrite)");
  uint64_t manifest = db_new_file_number(db);
  if ((rc = vset_write_snapshot(&db->vset, manifest, manifest + 1, errmsg))) return rc;
  remove_orphans(db);
  sh_mutex_lock(&db->manifest_mu);
  db_delete_obsolete_wals(db, db->vset.log_number);
  sh_mutex_unlock(&db->manifest_mu);
  return bg_start(db, errmsg);
}

int db_recover(shale_db *db, char *errmsg) {
  numbers logs = {0};
  early_logs early = {0}; /* read_only: each log opened as it was listed */
  int exists = 0, ro = db->opt.read_only;
  int rc = open_tables(db, errmsg);
  if (!rc) rc = list_logs(db, &logs, errmsg); /* before the MANIFEST: see read_only above */
  if (!rc && ro) rc = open_logs_now(db, &logs, &early, errmsg);
  if (!rc)
    rc = ro ? recover_version_unlocked(db, &exists, errmsg)
            : vset_recover(&db->vset, &exists, errmsg);
  if (!rc && exists) rc = vset_check_comparator(&db->vset, db->cmp, errmsg);
  if (!rc && !exists && ro)
    rc = err_set(errmsg, SHALE_NOTFOUND, "%s holds no Shale DB (no CURRENT)", db->path);
  if (!rc && ro) rc = hold_recovered_state(db, &logs, &early, errmsg);
  if (rc) goto done;
  if ((exists || logs.n) && db->opt.error_if_exists) {
    rc = err_set(errmsg, SHALE_EXISTS, "%s already holds a DB", db->path);
    goto done;
  }
  if (db->vset.next_file) db_file_number_past(db, db->vset.next_file - 1);
  db_seqs_recovered(db, db->vset.last_seq);
  if ((rc = db_first_memtable(db))) {
    err_set(errmsg, rc, "out of memory");
    goto done;
  }
  if ((rc = replay_logs(db, &logs, early.r, errmsg))) goto done;
  uint64_t replayed = db_last_allocated_seq(db); /* no write can move it before open returns */
  atomic_store(&db->last_seq, replayed);
  db_stats_opened_at(db, replayed);
  vset_set_last_seq(&db->vset, replayed);
  if (db->opt.read_only)
    finish_read_only(db);
  else if ((rc = start_writing(db, errmsg)))
    goto done;
  db_log(db, "recovered: %zu WAL file(s) present, last sequence %llu, %s", logs.n,
         (unsigned long long)replayed, exists ? "existing DB" : "new DB");
done:
  if (rc && db->wal) db_discard_new_wal(db);
  close_logs(&early, logs.n);
  free(logs.v);
  return rc;
}

/* A clean close leaves every acknowledged write durable. Sealed memtables are flushed by
 * bg_stop; the mutable one is flushed too once a write skipped the WAL (RocksDB's rule),
 * since it may hold the only copy of that write. Otherwise its WAL is the copy, replayed at
 * the next open, and close stays a matter of milliseconds (a full 64 MiB memtable takes
 * over a second to flush). Sealing first syncs the memtable's WAL, so if the flush then
 * fails what was written to the WAL is still there. After a background error nothing can
 * be flushed: the error is returned at once and the WALs are left for the next open. */
int db_shutdown(shale_db *db) {
  sh_mutex_lock(&db->mu);
  int seal = memtable_count(db->mem) && db_mu_held(db)->wal_skipped;
  sh_mutex_unlock(&db->mu);
  int rc = seal ? db_write_seal(db) : SHALE_OK; /* queued after every acknowledged write */
  bg_stop(db);                                  /* drains every sealed memtable */
  sh_mutex_lock(&db->mu);
  int bg_error = db_mu_held(db)->bg_error;
  if (bg_error) rc = bg_error; /* the cause, not the SHALE_READONLY it led to */
  sh_mutex_unlock(&db->mu);
  return rc;
}

void db_unpin_recovered_tables(shale_db *db) {
  for (size_t i = 0; i < db->n_pinned_tables; i++)
    table_cache_release(db->tcache, db->pinned_tables[i]);
  free(db->pinned_tables);
  db->pinned_tables = NULL;
  db->n_pinned_tables = 0;
}
