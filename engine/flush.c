/* flush.c — memtable sealing: when the mutable memtable is full it joins the immutable chain
 * (its `next` set once, here), a fresh memtable and WAL take over, and one new read view is
 * published that holds both. */
#include "engine/flush.h"

#include "engine/filename.h"
#include "engine/background.h"
#include "engine/db.h"
#include "engine/view_cache.h"
#include "io/io.h"
#include "util/clock.h"

int db_seal_memtable(shale_db *db, char *errmsg) {
  memtable *fresh;
  int rc = db_memtable_new(db, &fresh);
  if (rc) return err_set(errmsg, rc, "out of memory sealing the memtable");
  char path[FILENAME_MAX_LEN];
  uint64_t number = db->next_file_number++;
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
  read_view *cur = db->view; /* stable: only holders of mu replace it */
  memtable_seal(db->mem, cur->imm);
  read_view *v =
      read_view_new(fresh, db->mem, cur->imm_count + 1, cur->ver, db->next_view_number++);
  if (!v) {
    wal_writer_close(wal, NULL);
    memtable_unref(fresh);
    return err_set(errmsg, SHALE_NOMEM, "out of memory sealing the memtable");
  }
  if (db->wal) wal_writer_close(db->wal, NULL);
  db->wal = wal;
  db->log_number = number;
  memtable_unref(db->mem);
  db->mem = fresh;
  db_view_publish(db, v);
  atomic_fetch_add_explicit(&db->stats.memtables_sealed, 1, memory_order_relaxed);
  return SHALE_OK;
}
