/* db.c — opening and closing a DB: argument checks, the directory LOCK, the OPTIONS file,
 * and the order in which the handle's parts (LOG, listeners, recovery, background threads,
 * spans) come up and go down. It is the top of the engine: it has no header of its own, and
 * the helpers every file uses live below it (db_log.c, errmsg.c, snapshot.c, bg_error.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/compaction.h"
#include "engine/db_log.h"
#include "engine/errmsg.h"
#include "engine/listeners.h"
#include "engine/dir_check.h"
#include "engine/file_numbers.h"
#include "engine/filename.h"
#include "engine/options.h"
#include "engine/recovery.h"
#include "engine/snapshot.h"
#include "engine/span_store.h"
#include "engine/background.h"
#include "engine/span_warmup.h"
#include "engine/statistics.h"
#include "engine/view_cache.h"
#include "engine/write.h"
#include "io/io.h"
#include "io/io_fs.h"
#include "sstable/zstd_dict.h"

/* The compaction filter as the LOG and OPTIONS name it. */
static const char *filter_label(const shale_options *o) {
  if (!o->compaction_filter) return "none";
  return o->compaction_filter_name ? o->compaction_filter_name : "(unnamed)";
}

/* OPTIONS records what this DB was last opened with, for people and tools reading it. */
static void write_options_file(shale_db *db) {
  const shale_options *o = &db->opt;
  char text[1536];
  int n = snprintf(
      text, sizeof text,
      "# Shale %s: the options this DB was last opened with\n"
      "create_if_missing=%d\nerror_if_exists=%d\nwrite_buffer_size=%zu\nblock_cache_size=%zu\n"
      "bloom_bits_per_key=%d\ncompression=%s\nmax_background_jobs=%d\n"
      "delete_persist_seconds=%g\nblock_size=%zu\nwal_recovery_mode=%s\nmax_open_files=%d\n"
      "max_immutable_memtables=%d\nlevel0_compaction_trigger=%d\nlevel0_slowdown_trigger=%d\n"
      "level0_stop_trigger=%d\nmax_bytes_for_level_base=%zu\nlevel_size_multiplier=%d\n"
      "target_file_size=%zu\ncompression_level=%d\nwal_retention_seconds=%g\n"
      "wal_retention_bytes=%llu\ncompaction_filter=%s\nio_mode=%s\nuse_mmap=%d\n"
      "manifest_roll_bytes=%llu\ncomparator=%s\ncompression_max_dict_bytes=%zu\n"
      "compression_zstd_max_train_bytes=%zu\n",
      SHALE_VERSION_STRING, o->create_if_missing, o->error_if_exists, o->write_buffer_size,
      o->block_cache_size, o->bloom_bits_per_key,
      o->compression == SHALE_COMPRESSION_ZSTD ? "zstd" : "none", o->max_background_jobs,
      o->delete_persist_seconds, o->block_size,
      o->wal_recovery_mode == SHALE_WAL_RECOVER_TOLERANT ? "tolerant" : "strict", o->max_open_files,
      o->max_immutable_memtables, o->level0_compaction_trigger, o->level0_slowdown_trigger,
      o->level0_stop_trigger, o->max_bytes_for_level_base, o->level_size_multiplier,
      o->target_file_size, o->compression_level, o->wal_retention_seconds,
      (unsigned long long)o->wal_retention_bytes, filter_label(o),
      o->io_mode == SHALE_IO_PWRITE ? "pwrite" : "io_uring", o->use_mmap,
      (unsigned long long)o->manifest_roll_bytes, comparator_name(db->cmp),
      o->compression_max_dict_bytes, o->compression_zstd_max_train_bytes);
  char msg[ERRMSG_SIZE];
  if (n >= (int)sizeof text) n = (int)sizeof text - 1; /* a long filter name is cut */
  if (n > 0 && io_write_file_atomic(&db->io, db->path, "OPTIONS", text, (size_t)n, msg))
    db_log(db, "could not write OPTIONS: %s", msg);
}

/* ---- open ---- */

/* Without create_if_missing an existing directory must already hold a DB, as in LevelDB:
 * an empty or half-made one is refused before LOCK or LOG are created in it. */
static int require_current(const char *path, char *errmsg) {
  char p[FILENAME_MAX_LEN];
  filename_join(p, path, "CURRENT");
  if (access(p, F_OK) == 0) return SHALE_OK;
  if (errno != ENOENT) return err_errno(errmsg, errno, "access", p);
  return err_set(errmsg, SHALE_NOTFOUND, "%s: does not exist (create_if_missing is false)", p);
}

static int prepare_dir(io_ctx *io, const char *path, const shale_options *o, char *errmsg) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return err_set(errmsg, SHALE_INVALID, "%s exists and is not a directory", path);
    return SHALE_OK;
  }
  if (errno != ENOENT) return err_errno(errmsg, errno, "stat", path);
  if (o->read_only) return err_set(errmsg, SHALE_NOTFOUND, "%s does not exist", path);
  if (!o->create_if_missing)
    return err_set(errmsg, SHALE_NOTFOUND, "%s does not exist and create_if_missing is 0", path);
  return io_make_dir(io, path, 1, errmsg);
}

/* flock locks belong to the open file description, so a second open of the same directory
 * fails here whether it comes from this process or another one. A read_only open takes no
 * lock at all (see db_recover): it works beside a writer and on a read-only directory. */
static int lock_dir(shale_db *db, char *errmsg) {
  char p[FILENAME_MAX_LEN];
  filename_join(p, db->path, "LOCK");
  int rc = io_lock_file(&db->io, p, &db->lock_fd, errmsg);
  if (rc == SHALE_BUSY)
    return err_set(errmsg, SHALE_BUSY,
                   "%s is locked: the DB is open for writing in another handle or process", p);
  return rc;
}

static shale_db *db_alloc(const char *path) {
  shale_db *db = calloc(1, sizeof *db);
  if (!db) return NULL;
  db->path = strdup(path);
  if (!db->path) {
    free(db);
    return NULL;
  }
  db->lock_fd = -1;
  db_histograms_init(db);
  static _Atomic uint64_t generations;
  db->gen = atomic_fetch_add(&generations, 1) + 1;
  sh_mutex_init(&db->mu);
  sh_mutex_init(&db->manifest_mu);
  sh_mutex_init(&db->view_mu);
  sh_mutex_init(&db->snap_mu);
  sh_mutex_init(&db->log_mu);
  pthread_cond_init(&db->bg_cv, NULL);
  pthread_cond_init(&db->snap_cv, NULL);
  dead_spans_init(&db->spans, 0);
  buf_init(&db->del_run.lo);
  buf_init(&db->del_run.last);
  db_log_init(db);
  db_snapshots_init(db);
  db_file_numbers_start(db);
  return db;
}

static void db_release(shale_db *db) {
  listeners_stop(db); /* a callback may call the DB: not once it is being torn down */
  if (db->n_bg_threads) bg_stop(db);
  db_view_cache_free(db);
  db_view_drop_current(db);
  if (db->mem) memtable_unref(db->mem);
  if (db->wal) wal_writer_close(db->wal, NULL);
  vset_close(&db->vset);
  db_unpin_recovered_tables(db);
  if (db->tcache) table_cache_free(db->tcache);
  if (db->bcache) block_cache_free(db->bcache);
  zstd_dict_share_free(db->dict_share); /* after the last builder: bg_stop joined them */
  arena_pool_free(db->apool);           /* after the last memtable went */
  compaction_state_free(db);
  db_log_close(db);
  if (db->lock_fd >= 0) close(db->lock_fd); /* releases the flock */
  sh_mutex_destroy(&db->mu);
  sh_mutex_destroy(&db->manifest_mu);
  sh_mutex_destroy(&db->view_mu);
  sh_mutex_destroy(&db->snap_mu);
  sh_mutex_destroy(&db->log_mu);
  pthread_cond_destroy(&db->bg_cv);
  pthread_cond_destroy(&db->snap_cv);
  free(db->filter_name);
  dead_spans_destroy(&db->spans);
  buf_free(&db->del_run.lo);
  buf_free(&db->del_run.last);
  listeners_free(db); /* last: freeing versions above reports their tables (dropped) */
  free(db->path);
  free(db);
}

/* Keeps the DB's own copy of cmp (checked by options_copy_checked): the caller's struct may
 * go once shale_open returns. */
static void db_set_comparator(shale_db *db, const shale_comparator *cmp) {
  if (!cmp) return;
  db->cmp_copy = *cmp;
  snprintf(db->cmp_name, sizeof db->cmp_name, "%s", cmp->name);
  db->cmp_copy.name = db->cmp_name;
  db->opt.comparator = db->cmp = &db->cmp_copy;
}

/* One attempt at opening: a handle from the directory's files, or an error. */
static int open_attempt(const char *path, const shale_options *opt, shale_db **out, char *msg) {
  shale_db *db = db_alloc(path);
  if (!db) return err_set(msg, SHALE_NOMEM, "out of memory opening %s", path);
  db->opt = *opt;
  db_set_comparator(db, opt->comparator);
  io_ctx_init(&db->io, opt->env, opt->io_mode == SHALE_IO_PWRITE, opt->use_mmap);
  int rc = SHALE_OK;
  if (opt->compaction_filter_name &&
      !(db->opt.compaction_filter_name = db->filter_name = strdup(opt->compaction_filter_name))) {
    rc = err_set(msg, SHALE_NOMEM, "out of memory opening %s", path);
    goto fail;
  }
  if (!opt->read_only && (rc = lock_dir(db, msg))) goto fail;
  db->opt.listener = NULL; /* the caller's struct may go after open: listeners.c copies it */
  if ((rc = listeners_open(db, opt->listener, msg))) goto fail;
  if (!opt->read_only) db_log_open(db);
  if ((rc = db_recover(db, msg))) goto fail;
  *out = db;
  return SHALE_OK;
fail:
  db_log(db, "open failed: %s", msg);
  db_release(db);
  return rc;
}

/* A read_only open starts afresh when a writer changed the files it was reading (SHALE_BUSY
 * from db_recover), at most this many times; a few times too on damage, which may be a
 * record the writer was still appending when it was read. */
#define RO_OPEN_ATTEMPTS 200
#define RO_OPEN_DAMAGE_ATTEMPTS 4

static int open_read_only(const char *path, const shale_options *opt, shale_db **db, char *msg) {
  int rc, busy = 0, damaged = 0;
  for (;;) {
    rc = open_attempt(path, opt, db, msg);
    if (rc == SHALE_BUSY && ++busy < RO_OPEN_ATTEMPTS) {
      usleep(busy < 10 ? 100 : 1000); /* a compaction's deletes come in a burst */
      continue;
    }
    if (rc != SHALE_CORRUPTION || ++damaged >= RO_OPEN_DAMAGE_ATTEMPTS) break;
  }
  if (rc != SHALE_BUSY) return rc;
  char last[ERRMSG_SIZE];
  snprintf(last, sizeof last, "%s", msg);
  return err_set(msg, SHALE_BUSY,
                 "read_only open of %s: a writer changed the files under each of %d attempts "
                 "(last: %s); try again",
                 path, busy, last);
}

int shale_open(const char *path, const shale_options *o, shale_db **out) {
  char *msg = db_handleless_errmsg();
  msg[0] = 0;
  if (out) *out = NULL;
  if (!path || !*path || !out) return err_set(msg, SHALE_INVALID, "path and db must not be NULL");
  if (strlen(path) > FILENAME_MAX_LEN - 64) return err_set(msg, SHALE_INVALID, "path too long");
  shale_options opt;
  int rc = options_copy_checked(&opt, o, msg);
  if (rc) return rc;
  io_ctx io; /* the env's calls before the handle has its own context */
  io_ctx_init(&io, opt.env, 0, 0);
  if ((rc = prepare_dir(&io, path, &opt, msg))) return rc;
  if ((rc = db_dir_check(&io, path, msg))) return rc; /* before LOCK or LOG touch the directory */
  if (!opt.create_if_missing && !opt.read_only && (rc = require_current(path, msg))) return rc;
  shale_db *db;
  rc = opt.read_only ? open_read_only(path, &opt, &db, msg) : open_attempt(path, &opt, &db, msg);
  if (rc) return rc;
  dead_spans_allocated(&db->spans, db_last_allocated_seq(db));
  db->spans_restored = span_store_load(db, vset_recovered_manifest_number(&db->vset));
  if (!opt.read_only) write_options_file(db);
  db_log(db,
         "opened %s: write_buffer_size=%zu block_cache_size=%zu bloom_bits=%d compression=%d "
         "compaction_filter=%s comparator=%s",
         path, opt.write_buffer_size, opt.block_cache_size, opt.bloom_bits_per_key, opt.compression,
         filter_label(&db->opt), comparator_name(db->cmp));
  span_warmup_start(db);
  *out = db;
  return SHALE_OK;
}

/* A snapshot or iterator outliving its handle would be freed into memory already gone, so
 * close refuses, as RocksDB's Close does with unreleased snapshots, and the handle stays
 * open. */
static int refuse_busy_close(shale_db *db, size_t snaps, size_t iters) {
  char msg[200];
  snprintf(msg, sizeof msg,
           "close: %zu snapshot(s) and %zu iterator(s) still live: free them with "
           "shale_snapshot_free and shale_iter_free (or shale_updates_free), then close again "
           "(the DB stays open)",
           snaps, iters);
  db_call_begin(db);
  return db_call_end(db, db_fail(db, SHALE_BUSY, msg));
}

int shale_close(shale_db *db) {
  if (!db) return SHALE_INVALID;
  span_warmup_stop(db); /* its iterator would make the close below refuse */
  size_t snaps = db_live_snapshots(db);
  size_t iters = atomic_load_explicit(&db->live_iters, memory_order_acquire);
  if (snaps || iters) return refuse_busy_close(db, snaps, iters);
  listeners_stop(db); /* delivers what is queued while the DB still works for callbacks */
  int rc = db->opt.read_only ? SHALE_OK : db_shutdown(db);
  if (!rc && !db->opt.read_only) span_store_save(db);
  if (rc)
    db_log(db, "closed after an error: %s", shale_strerror(rc));
  else
    db_log(db, "closed"); /* the line db_log_open looks for at the next open */
  db_release(db);
  return rc;
}

void shale_free(void *p) { free(p); }
