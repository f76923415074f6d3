/* flush_job.c — writing the oldest sealed memtable as an L0 table and installing it, in the
 * order doc/DESIGN.md fixes: table sync -> directory sync -> MANIFEST sync -> one new read view
 * (table in, memtable out) -> obsolete WALs deleted. Older versions no snapshot can see are
 * dropped, and so are clean tombstones: those whose key no older table can hold. */
#include <stdlib.h>
#include <string.h>

#include "engine/file_numbers.h"
#include "engine/bg_error.h"
#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/filename.h"
#include "engine/flush_job.h"
#include "engine/install.h"
#include "engine/snapshot.h"
#include "engine/statistics.h"
#include "engine/listeners.h"
#include "engine/wal_retention.h"
#include "io/io.h"
#include "sstable/sst_builder.h"
#include "sstable/sst_reader.h"
#include "util/clock.h"
#include "util/ikey.h"

typedef struct flush_ctx {
  shale_db *db;
  memtable *m;
  version *base;        /* the tables older than m */
  uint64_t number;      /* table file number */
  uint64_t oldest_snap; /* no reader needs an older version below this */
  uint64_t next_log;    /* the WAL of the next-newer memtable */
  uint64_t dropped_clean, dropped_versions;
} flush_ctx;

/* May any table of base hold a version of key? Key ranges first, then bloom filters. */
static int tables_may_contain(shale_db *db, version *base, const void *key, size_t klen) {
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < base->nfiles[l]; i++) {
      file_meta *f = base->files[l][i];
      if (!file_meta_spans_key(f, base->cmp, key, klen)) continue;
      sst_reader *r;
      if (table_cache_get(db->tcache, f->number, &r, NULL)) return 1; /* unsure: keep it */
      int may = sst_reader_may_contain(r, key, klen);
      table_cache_release(db->tcache, r);
      if (may) return 1;
    }
  return 0;
}

static int add_range_dels(flush_ctx *c, sst_builder *b) {
  memtable_iter it;
  memtable_range_iter_init(&it, c->m);
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
    size_t bl, el;
    const uint8_t *k = memtable_iter_key(&it, &bl);
    const void *e = memtable_iter_value(&it, &el);
    uint64_t seq = ikey_seq(get_fixed64(k + bl - IKEY_TRAILER));
    int rc =
        sst_builder_add_range_del(b, k, bl - IKEY_TRAILER, e, el, seq, memtable_iter_time_us(&it));
    if (rc) return rc;
  }
  return SHALE_OK;
}

/* Walks m's entries newest-first per key; newer_seq is the sequence of the newer entry of
 * the same key that was kept (UINT64_MAX for the newest). */
static int add_points(flush_ctx *c, sst_builder *b, char *errmsg) {
  memtable_iter it;
  memtable_iter_init(&it, c->m);
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  uint64_t newer_seq = UINT64_MAX;
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
    size_t kl, vl;
    const uint8_t *k = memtable_iter_key(&it, &kl);
    size_t ul = kl - IKEY_TRAILER;
    uint64_t tr = get_fixed64(k + ul);
    if (!prev || ukey_compare(prev, prev_len, k, ul)) newer_seq = UINT64_MAX;
    prev = k;
    prev_len = ul;
    if (newer_seq <= c->oldest_snap) { /* every reader sees the newer version instead */
      c->dropped_versions++;
      continue;
    }
    newer_seq = ikey_seq(tr);
    if (ikey_kind(tr) == KIND_DEL && ikey_seq(tr) <= c->oldest_snap &&
        !tables_may_contain(c->db, c->base, k, ul)) {
      c->dropped_clean++; /* nothing older can hold the key: the tombstone is clean */
      continue;
    }
    const void *v = memtable_iter_value(&it, &vl);
    int rc = sst_builder_add(b, k, kl, v, vl, memtable_iter_time_us(&it));
    if (rc) return err_set(errmsg, rc, "flush: adding to table failed: %s", shale_strerror(rc));
  }
  return SHALE_OK;
}

sst_options db_sst_options(shale_db *db, int level) {
  sst_options o = {db->opt.block_size,
                   db->opt.bloom_bits_per_key,
                   db->opt.compression,
                   db->opt.compression_level,
                   &db->io,
                   db->opt.compression_max_dict_bytes,
                   db->opt.compression_zstd_max_train_bytes,
                   db->dict_share,
                   level};
  return o;
}

/* Range tombstones collapse between the snapshots live now: one taken later pins a sequence
 * no smaller than any in the sealed memtable, so it reads the table like the latest does. */
static int set_snapshots(shale_db *db, sst_builder *b, char *errmsg) {
  uint64_t *snaps;
  size_t n;
  int rc = db_snapshot_seqs(db, &snaps, &n);
  if (!rc) rc = sst_builder_set_snapshots(b, snaps, n);
  free(snaps);
  return rc ? err_set(errmsg, rc, "flush: out of memory") : SHALE_OK;
}

/* Builds the table; *out is NULL when nothing needed writing. Runs without mu. */
static int write_table(flush_ctx *c, file_meta **out, char *errmsg) {
  *out = NULL;
  char path[FILENAME_MAX_LEN];
  filename_table(path, c->db->path, c->number);
  sst_options o = db_sst_options(c->db, 0);
  sst_builder *b;
  int rc = sst_builder_new(path, &o, &b, errmsg);
  if (rc) return rc;
  sst_builder_set_comparator(b, c->db->cmp);
  if ((rc = set_snapshots(c->db, b, errmsg)) || (rc = add_points(c, b, errmsg)) ||
      (rc = add_range_dels(c, b))) {
    sst_builder_abort(b);
    return rc;
  }
  sst_meta meta;
  if ((rc = sst_builder_finish(b, &meta, errmsg))) return rc;
  if (meta.entries == 0 && meta.range_tombstones == 0) {
    sst_meta_free(&meta);
    return io_remove(&c->db->io, path, errmsg);
  }
  file_meta *f = file_meta_new();
  if (f) file_meta_set_from_sst(f, &meta);
  sst_meta_free(&meta);
  if (!f || !buf_ok(&f->smallest) || !buf_ok(&f->largest)) {
    if (f) file_meta_unref(f);
    io_remove(&c->db->io, path, NULL);
    return err_set(errmsg, SHALE_NOMEM, "flush: out of memory");
  }
  f->number = c->number;
  if ((rc = io_sync_dir(&c->db->io, c->db->path, errmsg))) {
    file_meta_unref(f);
    io_remove(&c->db->io, path, NULL);
    return rc;
  }
  *out = f;
  return SHALE_OK;
}

/* Finds the oldest sealed memtable of the current view and the WAL number that becomes the
 * oldest still needed once it is flushed. */
static memtable *oldest_imm(shale_db *db, uint64_t *next_log) SH_REQUIRES(db->mu) {
  read_view *v = db_view_under_mu(db);
  memtable *newer = v->mem, *m = v->imm;
  for (int i = 1; i < v->imm_count; i++) {
    newer = m;
    m = memtable_next(m);
  }
  *next_log = memtable_log_number(newer);
  return m;
}

void db_wals_start(shale_db *db, uint64_t live_from) {
  db_manifest_state *m = db_manifest_held(db);
  m->oldest_wal = m->wals_retired = live_from;
}

void db_wals_retained(shale_db *db, uint64_t n) {
  db_manifest_state *m = db_manifest_held(db);
  if (n < m->oldest_wal) m->oldest_wal = n;
}

void db_wals_pin(shale_db *db) { db_manifest_held(db)->wal_pins++; }

void db_wals_unpin(shale_db *db) {
  db_manifest_held(db)->wal_pins--;
  if (!db->opt.read_only) db_delete_obsolete_wals(db, db->vset.log_number);
}

void db_delete_obsolete_wals(shale_db *db, uint64_t below) {
  db_manifest_state *m = db_manifest_held(db);
  if (m->wal_pins) return; /* a checkpoint or a WAL walk is reading them; its unpin calls again */
  uint64_t keep = wal_retention_keep_from(&db->io, db->path, &db->opt, m->oldest_wal, below);
  char path[FILENAME_MAX_LEN];
  for (uint64_t n = m->oldest_wal; n < keep; n++) {
    filename_log(path, db->path, n);
    io_remove(&db->io, path, NULL);
    filename_old_log(path, db->path, n);
    io_remove(&db->io, path, NULL);
  }
  if (keep > m->oldest_wal) m->oldest_wal = keep;
  /* The ones kept stop being WALs to replay; a crash before the rename leaves that to the
   * next open (engine/recovery.c). */
  int renamed = 0;
  for (uint64_t n = keep > m->wals_retired ? keep : m->wals_retired; n < below; n++)
    renamed |= wal_retention_retire(&db->io, db->path, n);
  if (renamed) io_sync_dir(&db->io, db->path, NULL);
  if (below > m->wals_retired) m->wals_retired = below;
}

/* MANIFEST first, then the view: a reader never sees a table the MANIFEST does not hold. */
static int install(flush_ctx *c, file_meta *f, char *errmsg) {
  shale_db *db = c->db;
  version_edit e;
  edit_init(&e);
  version *v = NULL;
  int rc = f ? edit_add_file(&e, 0, f) : SHALE_OK;
  sh_mutex_lock(&db->manifest_mu);
  if (!rc) {
    e.has_log = 1;
    e.log_number = c->next_log; /* becomes the DB's log number only once installed */
    uint64_t last_seq = atomic_load(&db->last_seq);
    uint64_t next_file = db_peek_file_number(db);
    rc = vset_log_and_apply(&db->vset, &e, next_file, last_seq, &v, errmsg);
  }
  if (!rc) io_point(&db->io, db, SHALE_POINT_FLUSH_MANIFEST_SYNCED);
  sh_mutex_lock(&db->mu);
  if (!rc) vset_install(&db->vset, &e, v);
  if (!rc) rc = db_publish_version(db, 1);
  sh_mutex_unlock(&db->mu);
  if (!rc) io_point(&db->io, db, SHALE_POINT_FLUSH_VIEW_PUBLISHED);
  if (!rc) db_delete_obsolete_wals(db, c->next_log);
  if (!rc) db_maybe_roll_manifest(db);
  sh_mutex_unlock(&db->manifest_mu);
  edit_free(&e);
  return rc;
}

int flush_oldest(shale_db *db, char *errmsg) {
  flush_ctx c = {.db = db};
  c.m = oldest_imm(db, &c.next_log);
  memtable_ref(c.m);
  c.base = db_current_version(db);
  version_ref(c.base);
  c.number = db_take_file_number(db);
  c.oldest_snap = db_oldest_snapshot(db);
  db_mu_held(db)->flush_running = 1;
  listeners_flush_begin(db, c.number, memtable_bytes(c.m));
  sh_mutex_unlock(&db->mu);

  uint64_t start = clock_mono_us();
  io_point(&db->io, db, SHALE_POINT_FLUSH_PICKED);
  file_meta *f;
  int rc = write_table(&c, &f, errmsg);
  if (!rc) io_point(&db->io, db, SHALE_POINT_FLUSH_TABLE_SYNCED);
  if (!rc) rc = install(&c, f, errmsg);
  if (!rc) io_point(&db->io, db, SHALE_POINT_FLUSH_WAL_DELETED);
  if (!rc) {
    atomic_fetch_add(&db->stats.flushes, 1);
    atomic_fetch_add(&db->stats.flush_bytes, f ? f->file_size : 0);
    uint64_t took = clock_mono_us() - start;
    atomic_fetch_add(&db->stats.flush_micros, took);
    db_histogram_add_us(db, SHALE_HIST_FLUSH, took);
    atomic_fetch_add(&db->stats.tombstones_dropped_clean, c.dropped_clean);
    atomic_fetch_add(&db->stats.versions_dropped, c.dropped_versions);
    db_log(db,
           "flushed memtable (WAL %llu) to table %llu: %llu bytes, %llu clean tombstones dropped",
           (unsigned long long)memtable_log_number(c.m), (unsigned long long)c.number,
           (unsigned long long)(f ? f->file_size : 0), (unsigned long long)c.dropped_clean);
  }
  listeners_flush_end(db, c.number, memtable_bytes(c.m), f, rc);
  if (f) file_meta_unref(f);
  version_unref(c.base);
  memtable_unref(c.m);
  sh_mutex_lock(&db->mu);
  db_mu_held(db)->flush_running = 0;
  if (rc) db_set_bg_error(db, rc, errmsg);
  pthread_cond_broadcast(&db->bg_cv);
  return rc;
}
