/* updates.c — shale_updates_since: the write batches of the WALs the DB still holds, from a
 * sequence on, as RocksDB's GetUpdatesSince. A walk pins the WALs (as a checkpoint does) so
 * none it listed is deleted under it, and stops at the sequence published when it began:
 * every record up to it was whole in its WAL before it was published. */
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/errmsg.h"
#include "engine/filename.h"
#include "engine/flush_job.h"
#include "wal/wal_reader.h"

struct shale_updates {
  shale_db *db;
  uint64_t *logs; /* the WALs present at the start, ascending */
  size_t nlogs, next_log;
  uint64_t want;  /* the first sequence asked for */
  uint64_t bound; /* last sequence published at the start */
  wal_reader *r;  /* reading logs[next_log - 1] */
  int err;        /* sticky: every later call returns it */
  int done;
  shale_batch batch;
};

static void pin(shale_updates *u) {
  shale_db *db = u->db;
  sh_mutex_lock(&db->manifest_mu);
  db_wals_pin(db);
  /* Read after the pin and before the listing: a record up to bound is in a WAL made
   * before bound was published, so the listing holds it. */
  u->bound = atomic_load_explicit(&db->last_seq, memory_order_acquire);
  u->nlogs = filename_list_wals(&db->io, db->path, db_manifest_held(db)->oldest_wal, &u->logs);
  sh_mutex_unlock(&db->manifest_mu);
}

static void unpin(shale_db *db) {
  sh_mutex_lock(&db->manifest_mu);
  db_wals_unpin(db);
  sh_mutex_unlock(&db->manifest_mu);
}

/* The newest WAL may be the live one, whose writer can be mid-record past bound, or whose
 * reserved tail a seal is cutting: its end is read tolerantly. Older ones are whole. */
static int open_next(shale_updates *u, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_wal(path, u->db->path, u->logs[u->next_log]);
  int last = u->next_log + 1 == u->nlogs;
  u->next_log++;
  return wal_reader_open(&u->db->io, path, last ? WAL_READ_TOLERANT : WAL_READ_STRICT, &u->r,
                         errmsg);
}

/* The next non-empty record of the listed WALs: 1 with *rec, *len; 0 past the last; < 0. */
static int next_record(shale_updates *u, const uint8_t **rec, size_t *len, char *errmsg) {
  for (;;) {
    if (!u->r && u->next_log == u->nlogs) return 0;
    int rc = u->r ? SHALE_OK : open_next(u, errmsg);
    if (!rc) rc = wal_reader_next(u->r, rec, len, errmsg);
    if (rc == 1 && *len < BATCH_HEADER) return err_corrupt(errmsg, "WAL record is not a batch");
    if (rc == 1 && batch_rep_count(*rec)) return 1;
    if (rc < 0) return rc;
    if (rc == 0) {
      wal_reader_close(u->r);
      u->r = NULL;
    }
  }
}

static void rewind_walk(shale_updates *u) {
  wal_reader_close(u->r);
  u->r = NULL;
  u->next_log = 0;
}

/* Sequences below the first one a retained WAL holds are lost to the walk: deleted with
 * their WAL, or never logged (SHALE_NO_WAL). */
static int check_reach(shale_updates *u, char *errmsg) {
  const uint8_t *rec;
  size_t len;
  int rc = next_record(u, &rec, &len, errmsg);
  if (rc < 0) return rc;
  uint64_t oldest = rc ? batch_rep_seq(rec) : u->bound + 1;
  rewind_walk(u);
  if (u->want >= oldest || u->want > u->bound) return SHALE_OK;
  /* A NOTFOUND leaves shale_errmsg "" (the header's rule), so the LOG says why. */
  db_log(u->db,
         "updates_since: sequence %llu is older than the oldest retained WAL, whose first "
         "sequence is %llu: keep more with wal_retention_seconds or wal_retention_bytes",
         (unsigned long long)u->want, (unsigned long long)oldest);
  return SHALE_NOTFOUND;
}

static int updates_call(shale_db *db, uint64_t seq, shale_updates **it) {
  char errmsg[ERRMSG_SIZE] = "";
  shale_updates *u = calloc(1, sizeof *u);
  if (!u) return db_fail(db, SHALE_NOMEM, "updates_since: out of memory");
  u->db = db;
  u->want = seq ? seq : 1;
  buf_init(&u->batch.rep);
  pin(u);
  atomic_fetch_add_explicit(&db->live_iters, 1, memory_order_relaxed);
  int rc = check_reach(u, errmsg);
  if (rc) {
    shale_updates_free(u);
    return db_fail(db, rc, errmsg);
  }
  *it = u;
  return SHALE_OK;
}

int shale_updates_since(shale_db *db, uint64_t seq, shale_updates **it) {
  if (it) *it = NULL;
  if (!db || !it) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, updates_call(db, seq, it));
}

static int fail(shale_updates *u, int rc, const char *errmsg) {
  u->err = rc;
  return db_fail(u->db, rc, errmsg);
}

int shale_updates_next(shale_updates *it, uint64_t *first_seq, const shale_batch **batch) {
  if (first_seq) *first_seq = 0;
  if (batch) *batch = NULL;
  if (!it || !first_seq || !batch) return SHALE_INVALID;
  if (it->err) return it->err;
  char errmsg[ERRMSG_SIZE] = "";
  const uint8_t *rec;
  size_t len;
  int rc = 0;
  while (!it->done && (rc = next_record(it, &rec, &len, errmsg)) == 1) {
    uint64_t first = batch_rep_seq(rec), last = first + batch_rep_count(rec) - 1;
    if (first > it->bound) break; /* written after the walk began */
    if (last < it->want) continue;
    buf_clear(&it->batch.rep);
    buf_append(&it->batch.rep, rec, len);
    if (!buf_ok(&it->batch.rep)) return fail(it, SHALE_NOMEM, "updates_next: out of memory");
    *first_seq = first;
    *batch = &it->batch;
    return SHALE_OK;
  }
  if (!it->done && rc < 0) return fail(it, rc, errmsg);
  it->done = 1;
  return SHALE_NOTFOUND;
}

void shale_updates_free(shale_updates *it) {
  if (!it) return;
  wal_reader_close(it->r);
  unpin(it->db);
  atomic_fetch_sub_explicit(&it->db->live_iters, 1, memory_order_release);
  buf_free(&it->batch.rep);
  free(it->logs);
  free(it);
}
