/* checkpoint.c — shale_checkpoint: an openable copy of the DB at one sequence, as RocksDB's
 * CreateCheckpoint. One short critical section pins the state (the version, the WALs not yet
 * in its tables, the sequence); everything slow happens after it, while writers, flushes and
 * compactions go on: the pinned version keeps its tables on disk (a table is unlinked only
 * at its last unref) and wal_pins keeps the WALs. The copy is built in "<dir>.tmp" and
 * renamed into place once synced, so a failure or a crash never leaves a half-made <dir>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/snapshot.h"
#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/errmsg.h"
#include "engine/filename.h"
#include "engine/flush_job.h"
#include "io/io.h"
#include "io/io_fs.h"
#include "util/clock.h"
#include "wal/wal_reader.h"

/* What the checkpoint holds: ver's tables, then the WAL records numbered log_number through
 * last_log with sequences up to seq. */
typedef struct ckpt_pin {
  version *ver;
  uint64_t log_number, last_log, seq, next_file;
  uint64_t last_log_bytes; /* what the active WAL held at the pin; UINT64_MAX: no writer */
  int wal_pinned;
} ckpt_pin;

/* The version, its log number and the sequence are read under both locks that guard their
 * changes, so they describe one state: every write up to seq is in ver's tables or in a WAL
 * from log_number on. A snapshot taken here pins the same sequence for the caller. */
static void pin_state(shale_db *db, ckpt_pin *p, shale_snapshot *snap) {
  sh_mutex_lock(&db->manifest_mu);
  sh_mutex_lock(&db->mu);
  p->ver = db_current_version(db);
  version_ref(p->ver);
  p->log_number = db->vset.log_number;
  /* Later WALs only hold later writes. A read-only handle writes none. */
  p->last_log = db->opt.read_only ? UINT64_MAX : db->log_number;
  p->last_log_bytes = db->wal ? wal_writer_size(db->wal) : UINT64_MAX;
  p->next_file = db_mu_held(db)->next_file_number;
  p->seq = atomic_load_explicit(&db->last_seq, memory_order_acquire);
  if (snap) {
    sh_mutex_lock(&db->snap_mu);
    db_snapshot_link(db, snap, p->seq);
    sh_mutex_unlock(&db->snap_mu);
  }
  sh_mutex_unlock(&db->mu);
  db_wals_pin(db);
  p->wal_pinned = 1;
  sh_mutex_unlock(&db->manifest_mu);
}

static void unpin_wals(shale_db *db, ckpt_pin *p) {
  if (!p->wal_pinned) return;
  p->wal_pinned = 0;
  sh_mutex_lock(&db->manifest_mu);
  db_wals_unpin(db);
  sh_mutex_unlock(&db->manifest_mu);
}

/* A link shares the immutable table; where links cannot be made the bytes are copied. */
static int link_or_copy(io_ctx *io, const char *src, const char *dst, char *errmsg) {
  int e = io_link(io, src, dst);
  if (!e) return SHALE_OK;
  if (e == EXDEV || e == EPERM || e == EMLINK || e == EOPNOTSUPP || e == EACCES)
    return io_copy_file(io, src, dst, UINT64_MAX, 1, errmsg);
  return err_errno(errmsg, e, "link", src);
}

static int link_tables(shale_db *db, const ckpt_pin *p, const char *tmp, char *errmsg) {
  char src[FILENAME_MAX_LEN], dst[FILENAME_MAX_LEN];
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < p->ver->nfiles[l]; i++) {
      filename_table(src, db->path, p->ver->files[l][i]->number);
      filename_table(dst, tmp, p->ver->files[l][i]->number);
      int rc = link_or_copy(&db->io, src, dst, errmsg);
      if (rc) return rc;
    }
  return SHALE_OK;
}

/* How many leading bytes of the WAL at path hold whole records at or below seq. Records are
 * in sequence order, and those up to seq were whole before seq was published; so the copy is
 * a byte prefix (record times, the deletes' clocks, kept as they are), and only the active
 * WAL, whose writer may be mid-record past seq, is read tolerantly. */
static int wal_cut(io_ctx *io, const char *path, uint64_t seq, int active, uint64_t *cut,
                   char *errmsg) {
  wal_reader *r;
  int rc = wal_reader_open(io, path, active ? WAL_READ_TOLERANT : WAL_READ_STRICT, &r, errmsg);
  if (rc) return rc;
  *cut = wal_reader_last_good_offset(r);
  const uint8_t *rec;
  size_t len;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    if (len >= BATCH_HEADER && batch_rep_count(rec) &&
        batch_rep_seq(rec) + batch_rep_count(rec) - 1 > seq)
      break;
    *cut = wal_reader_last_good_offset(r);
  }
  wal_reader_close(r);
  return rc < 0 ? rc : SHALE_OK;
}

static int copy_wal(io_ctx *io, const char *src, const char *dst, uint64_t seq, int active,
                    char *errmsg) {
  uint64_t cut;
  int rc = wal_cut(io, src, seq, active, &cut, errmsg);
  return rc ? rc : io_copy_file(io, src, dst, cut, 1, errmsg);
}

/* The active WAL is first copied as it stood at the pin, into a temp file, and cut there: a
 * seal may truncate the live file's reserved tail while it is read, and past the pin there
 * is nothing the checkpoint needs. */
static int copy_active_wal(io_ctx *io, const char *src, const char *dst, uint64_t number,
                           const ckpt_pin *p, const char *tmp, char *errmsg) {
  if (p->last_log_bytes == UINT64_MAX) return copy_wal(io, src, dst, p->seq, 1, errmsg);
  char name[64], prefix[FILENAME_MAX_LEN];
  snprintf(name, sizeof name, "%06llu.tmp", (unsigned long long)number);
  filename_join(prefix, tmp, name);
  uint64_t cut;
  int rc = io_copy_file(io, src, prefix, p->last_log_bytes, 0, errmsg);
  if (!rc) rc = wal_cut(io, prefix, p->seq, 1, &cut, errmsg);
  if (!rc) rc = io_truncate_file(io, prefix, cut, 0, errmsg);
  if (!rc) rc = io_rename(io, prefix, dst, errmsg);
  if (rc) io_remove(io, prefix, NULL);
  return rc;
}

static int copy_wals(shale_db *db, const ckpt_pin *p, const char *tmp, char *errmsg) {
  uint64_t *nums;
  size_t n = filename_list(&db->io, db->path, FT_LOG, p->log_number, &nums);
  int rc = SHALE_OK;
  char src[FILENAME_MAX_LEN], dst[FILENAME_MAX_LEN];
  for (size_t i = 0; i < n && !rc && nums[i] <= p->last_log; i++) {
    filename_log(src, db->path, nums[i]);
    filename_log(dst, tmp, nums[i]);
    if (i + 1 == n || nums[i + 1] > p->last_log)
      rc = copy_active_wal(&db->io, src, dst, nums[i], p, tmp, errmsg);
    else
      rc = copy_wal(&db->io, src, dst, p->seq, 0, errmsg);
  }
  free(nums);
  return rc;
}

/* A MANIFEST of one edit listing exactly the pinned tables, and CURRENT naming it. */
static int write_manifest(io_ctx *io, const ckpt_pin *p, const char *tmp, char *errmsg) {
  version_set vs;
  vset_init_holding(&vs, io, tmp, p->ver);
  vs.log_number = p->log_number;
  vset_set_last_seq(&vs, p->seq);
  int rc = vset_write_snapshot(&vs, p->next_file, p->next_file + 1, errmsg);
  vset_close(&vs);
  return rc;
}

/* Removes dir and the files in it (a checkpoint's, which has no subdirectory). */
static void remove_tree(io_ctx *io, const char *dir) {
  char **names, path[FILENAME_MAX_LEN];
  size_t count;
  if (!io_list_dir(io, dir, &names, &count, NULL)) {
    for (size_t i = 0; i < count; i++) {
      filename_join(path, dir, names[i]);
      io_remove(io, path, NULL);
    }
    io_names_free(names, count);
  }
  io_remove_dir(io, dir, NULL);
}

/* 1 when every entry of dir passes keep (none: 1), 0 when one does not, -1 on error. */
static int dir_all(io_ctx *io, const char *dir, int (*keep)(const char *name)) {
  char **names;
  size_t count;
  if (io_list_dir(io, dir, &names, &count, NULL)) return -1;
  int all = 1;
  for (size_t i = 0; i < count && all; i++) all = keep(names[i]);
  io_names_free(names, count);
  return all;
}

static int no_name(const char *name) { return (void)name, 0; }

static int shale_name(const char *name) {
  uint64_t n;
  return filename_parse(name, &n) != FT_UNKNOWN || !strcmp(name, "CURRENT.tmp");
}

/* dir must be absent or an empty directory; a "<dir>.tmp" an interrupted checkpoint left is
 * removed when it holds only Shale's files, else refused. */
static int check_target(io_ctx *io, const char *dir, const char *tmp, char *errmsg) {
  struct stat st;
  if (!stat(dir, &st) && (!S_ISDIR(st.st_mode) || dir_all(io, dir, no_name) != 1))
    return err_set(errmsg, SHALE_EXISTS,
                   "checkpoint: %s exists and is not an empty directory; nothing was written", dir);
  if (lstat(tmp, &st)) return SHALE_OK;
  if (!S_ISDIR(st.st_mode) || dir_all(io, tmp, shale_name) != 1)
    return err_set(errmsg, SHALE_EXISTS,
                   "checkpoint: %s exists and holds files that are not Shale's; remove it", tmp);
  remove_tree(io, tmp);
  return SHALE_OK;
}

/* The directory that holds path, for syncing the rename into it. */
static int build(shale_db *db, ckpt_pin *p, const char *tmp, char *errmsg) {
  int rc = link_tables(db, p, tmp, errmsg);
  if (!rc) rc = copy_wals(db, p, tmp, errmsg);
  unpin_wals(db, p);
  if (!rc) rc = write_manifest(&db->io, p, tmp, errmsg);
  if (!rc) rc = io_sync_dir(&db->io, tmp, errmsg);
  return rc;
}

/* Once renamed, dir is whole; if its name cannot be made durable it goes again, so a
 * failed call leaves nothing that a crash could half keep. */
static int publish(io_ctx *io, const char *tmp, const char *dir, char *errmsg) {
  int rc = io_rename(io, tmp, dir, errmsg);
  if (rc) return rc;
  if ((rc = io_sync_parent(io, dir, errmsg))) remove_tree(io, dir);
  return rc;
}

static int checkpoint_call(shale_db *db, const char *dir, unsigned flags, uint64_t *seq,
                           const shale_snapshot **snap) {
  if (!dir || !*dir) return db_fail(db, SHALE_INVALID, "checkpoint: dir must not be NULL or empty");
  if (flags & ~SHALE_CHECKPOINT_FLUSH) return db_fail(db, SHALE_INVALID, "checkpoint: bad flags");
  if (strlen(dir) > FILENAME_MAX_LEN - 64) return db_fail(db, SHALE_INVALID, "path too long");
  char tmp[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  snprintf(tmp, sizeof tmp, "%s.tmp", dir);
  int rc = check_target(&db->io, dir, tmp, errmsg);
  if (rc) return db_fail(db, rc, errmsg);
  if ((flags & SHALE_CHECKPOINT_FLUSH) && (rc = shale_flush(db))) return rc;
  if ((rc = io_make_dir(&db->io, tmp, 0, errmsg))) return db_fail(db, rc, errmsg);
  shale_snapshot *s = snap ? malloc(sizeof *s) : NULL;
  if (snap && !s) {
    io_remove_dir(&db->io, tmp, NULL);
    return db_fail(db, SHALE_NOMEM, "checkpoint: snapshot allocation failed");
  }
  uint64_t start = clock_mono_us();
  ckpt_pin p = {0};
  pin_state(db, &p, s);
  rc = build(db, &p, tmp, errmsg);
  if (!rc) rc = publish(&db->io, tmp, dir, errmsg);
  unpin_wals(db, &p);
  version_unref(p.ver);
  if (rc) {
    remove_tree(&db->io, tmp);
    if (s) shale_snapshot_free(db, s);
    return db_fail(db, rc, errmsg);
  }
  db_log(db, "checkpoint at sequence %llu to %s in %.3f ms", (unsigned long long)p.seq, dir,
         (double)(clock_mono_us() - start) / 1e3);
  if (seq) *seq = p.seq;
  if (snap) *snap = s;
  return SHALE_OK;
}

int shale_checkpoint(shale_db *db, const char *dir, unsigned flags, uint64_t *seq,
                     const shale_snapshot **snap) {
  if (seq) *seq = 0;
  if (snap) *snap = NULL;
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, checkpoint_call(db, dir, flags, seq, snap));
}
