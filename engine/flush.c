/* flush.c — memtable sealing: when the mutable memtable is full it joins the immutable chain
 * (its `next` set once, here), a fresh memtable and WAL take over, and one new read view is
 * published that holds both. Before sealing, the write leader waits here (stalls) while
 * sealed memtables or L0 files pile up. */
#include "engine/file_numbers.h"
#include "engine/flush.h"

#include "engine/bg_error.h"
#include "engine/db_log.h"
#include "engine/filename.h"
#include "engine/listeners.h"
#include "engine/view_cache.h"
#include "io/io.h"
#include "util/clock.h"

int db_start_wal(shale_db *db, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  uint64_t n = db_new_file_number(db);
  filename_log(path, db->path, n);
  int rc = wal_writer_open_mapped(&db->io, path, n, &db->wal, errmsg);
  if (rc) return rc;
  db->log_number = n; /* before anything can fail: a failed open removes the file by it */
  if ((rc = io_sync_dir(&db->io, db->path, errmsg)))
    return rc; /* its name durable before SYNC writes */
  memtable_set_log_number(db->mem, n);
  return SHALE_OK;
}

void db_discard_new_wal(shale_db *db) {
  char path[FILENAME_MAX_LEN];
  wal_writer_close(db->wal, NULL);
  db->wal = NULL;
  filename_log(path, db->path, db->log_number);
  io_remove(&db->io, path, NULL);
}

/* Seals the mutable memtable onto the immutable chain and returns the view that holds it
 * there with fresh in its place, for install_memtable; NULL: out of memory. */
static read_view *view_sealing_mem(shale_db *db, memtable *fresh) SH_REQUIRES(db->mu) {
  read_view *cur = db_view_under_mu(db); /* stable: only holders of mu replace it */
  memtable_seal(db->mem, cur->imm);
  return db_view_new(db, fresh, db->mem, cur->imm_count + 1, cur->ver);
}

static void install_memtable(shale_db *db, memtable *fresh, read_view *v) SH_REQUIRES(db->mu) {
  memtable_unref(db->mem);
  db->mem = fresh;
  db_view_publish(db, v);
}

int db_seal_memtable(shale_db *db, char *errmsg) {
  memtable *fresh;
  int rc = db_memtable_new(db, &fresh);
  if (rc) return err_set(errmsg, rc, "out of memory sealing the memtable");
  char path[FILENAME_MAX_LEN];
  uint64_t number = db_take_file_number(db);
  filename_log(path, db->path, number);
  wal_writer *wal = NULL;
  /* The new WAL's name must be durable before a SYNC write in it is acknowledged, and the
   * sealed WAL's tail before any later write: else a power loss could keep a newer synced
   * write and lose older ones (a hole in the history). */
  if ((rc = wal_writer_open_mapped(&db->io, path, number, &wal, errmsg)) ||
      (rc = io_sync_dir(&db->io, db->path, errmsg)) ||
      (db->wal && (rc = wal_writer_sync(db->wal, errmsg)))) {
    if (wal) wal_writer_close(wal, NULL);
    if (wal) io_remove(&db->io, path, NULL); /* nothing was written to it */
    memtable_unref(fresh);
    /* The old WAL's state after a failed sync is unknown, and a retry that finds room later
     * would build on it: the DB is read-only until reopened, as after a failed WAL append
     * (and as RocksDB does when it cannot switch WALs). */
    db_set_bg_error(db, rc, errmsg);
    return rc;
  }
  memtable_set_log_number(fresh, number);
  read_view *v = view_sealing_mem(db, fresh);
  if (!v) {
    wal_writer_close(wal, NULL);
    memtable_unref(fresh);
    return err_set(errmsg, SHALE_NOMEM, "out of memory sealing the memtable");
  }
  if (db->wal) wal_writer_close(db->wal, NULL);
  db->wal = wal;
  db->log_number = number;
  install_memtable(db, fresh, v);
  atomic_fetch_add_explicit(&db->stats.memtables_sealed, 1, memory_order_relaxed);
  return SHALE_OK;
}

int db_seal_replayed(shale_db *db, uint64_t log_number) {
  memtable *fresh;
  int rc = db_memtable_new(db, &fresh);
  if (rc) return rc;
  memtable_set_log_number(fresh, log_number);
  read_view *v = view_sealing_mem(db, fresh);
  if (!v) {
    memtable_unref(fresh);
    return SHALE_NOMEM;
  }
  install_memtable(db, fresh, v);
  return SHALE_OK;
}

int db_first_memtable(shale_db *db) {
  int rc = db_memtable_new(db, &db->mem);
  if (rc) return rc;
  sh_mutex_lock(&db->mu); /* no other thread yet: held for the rule publishing views */
  read_view *first = db_view_new(db, db->mem, NULL, 0, db_current_version(db));
  if (first) db_view_publish(db, first);
  sh_mutex_unlock(&db->mu);
  return first ? SHALE_OK : SHALE_NOMEM;
}

/* Bytes an entry is taken to fill in a memtable before any was written. */
#define FIRST_ENTRY_BYTES_GUESS 128

/* Sizes the new memtable's hash index and bloom filter for the entries the write buffer will
 * hold, judged by the bytes an entry took in the memtable it replaces: small entries need a
 * bigger index, large ones a smaller one, whatever the workload writes. */
int db_memtable_new(shale_db *db, memtable **out) {
  size_t per_entry = FIRST_ENTRY_BYTES_GUESS;
  uint64_t n = db->mem ? memtable_count(db->mem) : 0;
  if (n >= MEMTABLE_INDEX_MIN_ENTRIES) per_entry = memtable_bytes(db->mem) / n;
  if (per_entry < 32) per_entry = 32; /* no entry is smaller: bounds the index's memory */
  int rc = memtable_new_pooled(out, db->opt.write_buffer_size / per_entry, db->apool);
  if (!rc) memtable_set_comparator(*out, db->cmp);
  return rc;
}

/* Waits while sealed memtables pile up: the flush threads must catch up first. */
static int wait_for_flush_room(shale_db *db) SH_REQUIRES(db->mu) {
  if (db_view_under_mu(db)->imm_count < db->opt.max_immutable_memtables) return SHALE_OK;
  uint64_t start = clock_mono_us();
  atomic_fetch_add(&db->stats.stalls, 1);
  db_log(db, "write stall: %d sealed memtables waiting for flush", db_view_under_mu(db)->imm_count);
  listeners_stall(db, 0, SHALE_STALL_MEMTABLES);
  while (db_view_under_mu(db)->imm_count >= db->opt.max_immutable_memtables &&
         !db_mu_held(db)->bg_error)
    sh_cond_wait(&db->bg_cv, &db->mu);
  listeners_stall(db, 1, SHALE_STALL_MEMTABLES);
  atomic_fetch_add(&db->stats.stall_micros, clock_mono_us() - start);
  return db_mu_held(db)->bg_error ? SHALE_READONLY : SHALE_OK;
}

/* Too many L0 files make every read slower: slow writers down, then stop them, until
 * compaction catches up. */
static int wait_for_l0_room(shale_db *db) SH_REQUIRES(db->mu) {
  int n = db_current_version(db)->nfiles[0];
  if (n < db->opt.level0_slowdown_trigger) return SHALE_OK;
  uint64_t start = clock_mono_us();
  atomic_fetch_add(&db->stats.stalls, 1);
  int reason = n < db->opt.level0_stop_trigger ? SHALE_STALL_L0_SLOWDOWN : SHALE_STALL_L0_STOP;
  listeners_stall(db, 0, reason);
  if (n < db->opt.level0_stop_trigger) {
    sh_mutex_unlock(&db->mu);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    sh_mutex_lock(&db->mu);
  } else {
    db_log(db, "write stop: %d L0 files waiting for compaction", n);
    while (db_current_version(db)->nfiles[0] >= db->opt.level0_stop_trigger &&
           !db_mu_held(db)->bg_error && !db_mu_held(db)->shutting_down)
      sh_cond_wait(&db->bg_cv, &db->mu);
  }
  listeners_stall(db, 1, reason);
  atomic_fetch_add(&db->stats.stall_micros, clock_mono_us() - start);
  return db_mu_held(db)->bg_error ? SHALE_READONLY : SHALE_OK;
}

int flush_make_room(shale_db *db, char *errmsg) {
  if (memtable_bytes(db->mem) < db->opt.write_buffer_size) return SHALE_OK;
  int rc = wait_for_l0_room(db);
  if (!rc) rc = wait_for_flush_room(db);
  if (rc)
    return err_set(errmsg, rc, "the DB turned read-only after a background error: %s (%s)",
                   db_mu_held(db)->bg_errmsg, shale_strerror(db_mu_held(db)->bg_error));
  if ((rc = db_seal_memtable(db, errmsg))) return rc;
  pthread_cond_broadcast(&db->bg_cv);
  return SHALE_OK;
}
