/* compaction_job.c — running one compaction: merge the inputs in internal-key order, drop
 * what no reader can see, cut outputs at target_file_size on user-key boundaries (range
 * tombstones clipped to each output's span so a level's files stay disjoint), then install
 * like a flush: tables synced, directory synced, MANIFEST synced, one new view. The
 * compaction filter (shale.h) judges the newest value of each key no snapshot can read. */
#include <stdlib.h>
#include <string.h>

#include "engine/file_numbers.h"
#include "engine/bg_error.h"
#include "engine/compaction.h"
#include "engine/db_log.h"
#include "engine/filename.h"
#include "engine/install.h"
#include "engine/range_dels.h"
#include "engine/merge_iter.h"
#include "engine/compaction_job.h"
#include "engine/snapshot.h"
#include "engine/statistics.h"
#include "engine/flush_job.h"
#include "engine/listeners.h"
#include "engine/table_get.h"
#include "io/io.h"
#include "sstable/sst_builder.h"
#include "util/clock.h"
#include "util/ikey.h"

typedef struct job {
  shale_db *db;
  compaction *c;
  version *ver; /* the version the inputs came from */
  kv_iter *in;
  range_dels rdels;
  sst_builder *out;
  uint64_t out_number;
  buf lo; /* lower bound of the current output's span ("" = unbounded) */
  int lo_set;
  buf last_ukey; /* last user key written to the current output (may be the empty key) */
  int any_ukey;  /* last_ukey holds one */
  buf zeroed;    /* scratch: an entry's internal key with its sequence set to 0 */
  buf removed;   /* scratch: a filtered-out value's internal key turned tombstone */
  int bottom;    /* no level below the output holds anything */
  version_edit edit;
  uint64_t bytes_written, dropped, tombstones_dropped;
  uint64_t dropped_unread_bytes; /* inputs wholly under a range tombstone, never read */
  int manifest_tried;            /* the edit may have reached the MANIFEST */
  uint64_t tomb_time_us;         /* oldest tombstone time of the inputs: ages never shrink */
  uint64_t *snaps;               /* live snapshots when the job started: outputs collapse */
  size_t nsnaps;                 /* range tombstones between them (sst_builder_set_snapshots) */
  uint64_t snaps_made;           /* db_snapshots_made before snaps was taken */
  int use_filter;                /* offer values to opt.compaction_filter */
  uint64_t removed_n, changed_n, bad_n; /* the filter's decisions */
  char *errmsg;
} job;

/* May a level below the output hold a version of key? */
static int deeper_may_hold(job *j, const void *key, size_t klen) {
  for (int l = j->c->out_level + 1; l < NUM_LEVELS; l++)
    if (level_find(j->ver, l, key, klen)) return 1;
  return 0;
}

static int deeper_overlaps(job *j, const range_tomb *d) {
  const shale_comparator *cmp = j->db->cmp;
  for (int l = j->c->out_level + 1; l < NUM_LEVELS; l++)
    for (int i = 0; i < j->ver->nfiles[l]; i++) {
      const file_meta *f = j->ver->files[l][i];
      if (ukey_cmp(cmp, f->smallest.data, f->smallest.len - IKEY_TRAILER, d->end, d->elen) < 0 &&
          ukey_cmp(cmp, f->largest.data, f->largest.len - IKEY_TRAILER, d->begin, d->blen) >= 0)
        return 1;
    }
  return 0;
}

static int open_output(job *j) {
  j->out_number = db_new_file_number(j->db);
  char path[FILENAME_MAX_LEN];
  filename_table(path, j->db->path, j->out_number);
  sst_options o = db_sst_options(j->db, j->c->out_level);
  buf_clear(&j->last_ukey);
  j->any_ukey = 0;
  int rc = sst_builder_new(path, &o, &j->out, j->errmsg);
  if (!rc) sst_builder_set_comparator(j->out, j->db->cmp);
  if (!rc && (rc = sst_builder_set_snapshots(j->out, j->snaps, j->nsnaps)))
    err_set(j->errmsg, rc, "compaction: out of memory");
  return rc;
}

/* Adds to the current output the kept range tombstones clipped to [lo, hi). */
static int add_clipped_range_dels(job *j, const void *hi, size_t hl) {
  const shale_comparator *cmp = j->db->cmp;
  for (size_t i = 0; i < j->rdels.n; i++) {
    const range_tomb *d = &j->rdels.v[i];
    if (d->seq <= j->c->smallest_snapshot && !deeper_overlaps(j, d)) continue; /* purged */
    const void *b = d->begin, *e = d->end;
    size_t bl = d->blen, el = d->elen;
    if (j->lo_set && ukey_cmp(cmp, b, bl, j->lo.data, j->lo.len) < 0)
      b = j->lo.data, bl = j->lo.len;
    if (hi && ukey_cmp(cmp, e, el, hi, hl) > 0) e = hi, el = hl;
    if (ukey_cmp(cmp, b, bl, e, el) >= 0) continue;
    int rc = sst_builder_add_range_del(j->out, b, bl, e, el, d->seq, d->time_us);
    if (rc) return rc;
  }
  return SHALE_OK;
}

/* Finishes the current output with its span ending at hi (NULL: unbounded). */
static int finish_output(job *j, const void *hi, size_t hl) {
  int rc = add_clipped_range_dels(j, hi, hl);
  if (rc) {
    sst_builder_abort(j->out);
    j->out = NULL;
    return err_set(j->errmsg, rc, "compaction: range tombstone rejected");
  }
  sst_meta m;
  rc = sst_builder_finish(j->out, &m, j->errmsg);
  j->out = NULL;
  if (rc) return rc;
  if (hi) {
    buf_clear(&j->lo);
    buf_append(&j->lo, hi, hl);
    j->lo_set = 1;
  }
  char path[FILENAME_MAX_LEN];
  filename_table(path, j->db->path, j->out_number);
  if (m.entries == 0 && m.range_tombstones == 0) {
    sst_meta_free(&m);
    return io_remove(&j->db->io, path, j->errmsg);
  }
  file_meta *f = file_meta_new();
  if (f) file_meta_set_from_sst(f, &m), f->number = j->out_number;
  j->bytes_written += m.file_size;
  sst_meta_free(&m);
  rc = f && buf_ok(&f->smallest) && buf_ok(&f->largest)
           ? edit_add_file(&j->edit, j->c->out_level, f)
           : SHALE_NOMEM;
  if (f) file_meta_unref(f);
  if (rc) io_remove(&j->db->io, path, NULL);
  return rc ? err_set(j->errmsg, rc, "compaction: out of memory") : SHALE_OK;
}

/* Decides whether the entry at the merge position survives. newer_seq: the sequence of the
 * newer entry of the same user key (UINT64_MAX for the newest). */
static int keep_entry(job *j, const uint8_t *uk, size_t ul, uint64_t tr, uint64_t newer_seq) {
  uint64_t snap = j->c->smallest_snapshot, seq = ikey_seq(tr);
  if (newer_seq <= snap) return 0; /* every reader sees the newer version */
  if (ikey_kind(tr) == KIND_DEL && seq <= snap && !deeper_may_hold(j, uk, ul)) return 0;
  return !range_dels_covers(&j->rdels, uk, ul, seq, snap);
}

/* A value that every reader sees and nothing below can shadow needs no sequence; 0
 * compresses to almost nothing (the bottom level holds most of the data). It stays correct:
 * every snapshot is >= the old sequence, no version of the key is left below it, and a range
 * tombstone kept beside it is newer than every snapshot, so it covered the key before too. */
static int zero_sequence(job *j, const uint8_t **k, size_t kl, uint64_t tr) {
  if (!j->bottom || ikey_kind(tr) != KIND_PUT || ikey_seq(tr) > j->c->smallest_snapshot)
    return SHALE_OK;
  buf_clear(&j->zeroed);
  buf_append(&j->zeroed, *k, kl - IKEY_TRAILER);
  buf_append_fixed64(&j->zeroed, ikey_pack(0, KIND_PUT));
  if (!buf_ok(&j->zeroed)) return SHALE_NOMEM;
  *k = j->zeroed.data;
  return SHALE_OK;
}

static int write_entry(job *j, const uint8_t *k, size_t kl, size_t ul, const void *v, size_t vl) {
  const uint8_t *uk = k;
  int rc;
  int new_key = !j->any_ukey || ukey_compare(uk, ul, j->last_ukey.data, j->last_ukey.len);
  if (j->out && new_key && sst_builder_file_size(j->out) >= j->db->opt.target_file_size &&
      (rc = finish_output(j, uk, ul)))
    return rc;
  if (!j->out && (rc = open_output(j))) return rc;
  uint64_t tr = get_fixed64(k + ul);
  /* Tables keep tombstone times per file, not per entry: carrying the oldest input time
   * over can only make a tombstone look older, so deadlines err on the early side. */
  uint64_t t = ikey_kind(tr) == KIND_DEL ? j->tomb_time_us : 0;
  if ((rc = zero_sequence(j, &k, kl, tr)))
    return err_set(j->errmsg, rc, "compaction: out of memory");
  rc = sst_builder_add(j->out, k, kl, v ? v : "", vl, t);
  if (rc) return err_set(j->errmsg, rc, "compaction: table add failed: %s", shale_strerror(rc));
  buf_clear(&j->last_ukey);
  buf_append(&j->last_ukey, uk, ul);
  j->any_ukey = 1;
  return buf_ok(&j->last_ukey) ? SHALE_OK : SHALE_NOMEM;
}

/* May the filter judge this entry? Only the newest version of a key, and only when no
 * snapshot can read it: a snapshot's reads must not change. */
static int filterable(const job *j, uint64_t tr, uint64_t newer_seq) {
  return j->use_filter && newer_seq == UINT64_MAX && ikey_kind(tr) == KIND_PUT &&
         (!j->nsnaps || ikey_seq(tr) > j->snaps[j->nsnaps - 1]);
}

/* Asks the filter about one value; a change replaces *v and *vl. A decision Shale cannot
 * carry out keeps the value: failing the compaction would turn the DB read-only. */
static int call_filter(job *j, const uint8_t *uk, size_t ul, const void **v, size_t *vl) {
  const void *nv = NULL;
  size_t nl = 0;
  int d = j->db->opt.compaction_filter(j->db->opt.compaction_filter_arg, j->c->out_level, uk, ul,
                                       *v, *vl, &nv, &nl);
  if (d == SHALE_FILTER_KEEP) return d;
  if (d == SHALE_FILTER_REMOVE) return j->removed_n++, d;
  if (d == SHALE_FILTER_CHANGE_VALUE && (nv || !nl) && nl <= SHALE_MAX_VALUE_SIZE) {
    *v = nv, *vl = nl;
    return j->changed_n++, d;
  }
  j->bad_n++;
  return SHALE_FILTER_KEEP;
}

/* A removed value becomes a tombstone of its own sequence, so an older version of the key
 * in a deeper level stays hidden; where nothing can be hidden it goes, as any tombstone. */
static int write_removed(job *j, const uint8_t *k, size_t ul, uint64_t tr) {
  uint64_t seq = ikey_seq(tr);
  if (seq <= j->c->smallest_snapshot && !deeper_may_hold(j, k, ul)) return j->dropped++, SHALE_OK;
  buf_clear(&j->removed);
  buf_append(&j->removed, k, ul);
  buf_append_fixed64(&j->removed, ikey_pack(seq, KIND_DEL));
  if (!buf_ok(&j->removed)) return err_set(j->errmsg, SHALE_NOMEM, "compaction: out of memory");
  if (!j->tomb_time_us) j->tomb_time_us = clock_wall_us(); /* deadlines count from now */
  return write_entry(j, j->removed.data, j->removed.len, ul, NULL, 0);
}

static int filter_and_write(job *j, const uint8_t *k, size_t kl, size_t ul, uint64_t tr,
                            uint64_t newer_seq) {
  size_t vl;
  const void *v = j->in->ops->value(j->in, &vl);
  int d = filterable(j, tr, newer_seq) ? call_filter(j, k, ul, &v, &vl) : SHALE_FILTER_KEEP;
  if (d == SHALE_FILTER_REMOVE) return write_removed(j, k, ul, tr);
  return write_entry(j, k, kl, ul, v, vl);
}

static int merge(job *j) {
  buf prev;
  buf_init(&prev);
  uint64_t newer_seq = UINT64_MAX;
  int rc = SHALE_OK, first = 1; /* prev holds no key yet (it may hold the empty one) */
  for (j->in->ops->seek_first(j->in); !rc && kv_valid(j->in); j->in->ops->next(j->in)) {
    size_t kl;
    const uint8_t *k = kv_key(j->in, &kl);
    size_t ul = kl - IKEY_TRAILER;
    uint64_t tr = get_fixed64(k + ul);
    if (first || ukey_compare(k, ul, prev.data, prev.len)) {
      first = 0;
      newer_seq = UINT64_MAX;
      buf_clear(&prev);
      buf_append(&prev, k, ul);
    }
    if (keep_entry(j, k, ul, tr, newer_seq))
      rc = filter_and_write(j, k, kl, ul, tr, newer_seq);
    else
      j->dropped++, j->tombstones_dropped += ikey_kind(tr) == KIND_DEL;
    newer_seq = ikey_seq(tr);
  }
  if (!rc) rc = j->in->ops->status(j->in);
  if (!rc && !buf_ok(&prev)) rc = SHALE_NOMEM;
  buf_free(&prev);
  /* Range tombstones that must stay need a home even when no point entry survived. */
  if (!rc && !j->out && j->rdels.n && (rc = open_output(j))) return rc;
  if (!rc && j->out) rc = finish_output(j, NULL, 0);
  return rc;
}

static uint64_t oldest_input_tombstone(const compaction *c) {
  uint64_t t = 0;
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < c->n[w]; i++) {
      uint64_t x = c->in[w][i]->oldest_tomb_us;
      if (x && (!t || x < t)) t = x;
    }
  return t;
}

/* Is every entry of f older than range tombstones, visible to every snapshot, whose union
 * spans all of f? Then f is dropped unread: nothing in it can be seen again. The union, not
 * one tombstone (rt_list_spans). Short of memory it says no: the merge reads f. */
static int wholly_covered(job *j, const file_meta *f) {
  return rt_list_spans(j->db->cmp, j->rdels.v, j->rdels.n, f->max_seq, j->c->smallest_snapshot,
                       f->smallest.data, f->smallest.len - IKEY_TRAILER, f->largest.data,
                       f->largest.len - IKEY_TRAILER);
}

static int open_inputs(job *j) {
  j->tomb_time_us = oldest_input_tombstone(j->c);
  int n = j->c->n[0] + j->c->n[1], k = 0;
  kv_iter **kids = calloc((size_t)(n ? n : 1), sizeof *kids);
  file_meta **files = calloc((size_t)(n ? n : 1), sizeof *files);
  int rc = kids && files ? SHALE_OK : SHALE_NOMEM;
  j->rdels.cmp = j->db->cmp;
  /* every input's range tombstones are collected before any input is judged covered.
   * Blocks read for the merge stay out of the block cache (as RocksDB's compaction reads):
   * each is read once, from a table about to be deleted, and inserting them evicted the
   * blocks gets keep hot, and grew a fillrandom's memory by the whole cache (OOM-killed in
   * a 512 MiB cgroup with a 256 MiB cache, 5.6M keys in). */
  for (int w = 0; w < 2; w++)
    for (int i = 0; !rc && i < j->c->n[w]; i++) {
      files[k] = j->c->in[w][i];
      rc = table_kv_new(j->db, files[k], SEQ_MAX, SST_READ_NO_FILL_CACHE, &kids[k], &j->rdels,
                        j->errmsg);
      if (!rc) k++;
    }
  int kept = 0;
  for (int i = 0; !rc && i < k; i++) {
    if (wholly_covered(j, files[i])) {
      kids[i]->ops->destroy(kids[i]);
      j->dropped_unread_bytes += files[i]->file_size;
    } else {
      kids[kept++] = kids[i];
    }
  }
  if (!rc) k = kept;
  free(files);
  if (!rc && !(j->in = merge_iter_new(j->db->cmp, kids, k))) rc = SHALE_NOMEM;
  if (rc) {
    for (int i = 0; i < k; i++) kids[i]->ops->destroy(kids[i]);
    free(kids);
  }
  return rc;
}

/* A lone file with nothing to merge or purge changes level without being rewritten. */
static int trivial_move(const compaction *c) {
  return c->n[0] == 1 && c->n[1] == 0 && c->level != c->out_level &&
         (c->reason == CR_LEVEL_SIZE || c->reason == CR_L0_FILES);
}

/* install's answer when a snapshot taken during the merge could read values the filter
 * changed: the outputs are dropped and the merge runs again with that snapshot known. */
#define COMPACTION_REDO 1
/* Merges that may meet COMPACTION_REDO before one runs without the filter, which always
 * installs: snapshots taken without pause cannot hold a compaction back for ever. */
#define FILTERED_TRIES 3

static int install(job *j) {
  shale_db *db = j->db;
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < j->c->n[w]; i++)
      if (edit_delete_file(&j->edit, w ? j->c->out_level : j->c->level, j->c->in[w][i]->number))
        return SHALE_NOMEM;
  int rc = io_sync_dir(&db->io, db->path, j->errmsg);
  if (rc) return rc;
  io_point(&db->io, db, SHALE_POINT_COMPACTION_OUTPUT_SYNCED);
  version *v = NULL;
  sh_mutex_lock(&db->manifest_mu);
  int gated = j->removed_n + j->changed_n > 0;
  if (gated && !db_snapshot_gate_close(db, j->snaps_made)) {
    sh_mutex_unlock(&db->manifest_mu);
    return COMPACTION_REDO;
  }
  uint64_t last_seq = atomic_load(&db->last_seq);
  uint64_t next_file = db_peek_file_number(db);
  /* From here the MANIFEST may name the outputs, even if this fails: keep them (the next
   * open removes any the MANIFEST does not name). */
  j->manifest_tried = 1;
  rc = vset_log_and_apply(&db->vset, &j->edit, next_file, last_seq, &v, j->errmsg);
  sh_mutex_lock(&db->mu);
  if (!rc) vset_install(&db->vset, &j->edit, v);
  if (!rc) rc = db_publish_version(db, 0);
  sh_mutex_unlock(&db->mu);
  if (gated) db_snapshot_gate_open(db);
  if (!rc) db_maybe_roll_manifest(db);
  sh_mutex_unlock(&db->manifest_mu);
  if (!rc) io_point(&db->io, db, SHALE_POINT_COMPACTION_INSTALLED);
  return rc;
}

static void cleanup_outputs(job *j) {
  char path[FILENAME_MAX_LEN];
  if (j->out) sst_builder_abort(j->out);
  for (int i = 0; i < j->edit.nadded; i++) {
    filename_table(path, j->db->path, j->edit.added[i].f->number);
    io_remove(&j->db->io, path, NULL);
  }
}

static int run_unlocked(job *j) {
  if (trivial_move(j->c)) return edit_add_file(&j->edit, j->c->out_level, j->c->in[0][0]);
  /* A snapshot taken after this pins a sequence no smaller than any in the inputs; one
   * taken before snaps_made is read is in the list. */
  j->snaps_made = db_snapshots_made(j->db);
  int rc = db_snapshot_seqs(j->db, &j->snaps, &j->nsnaps);
  if (rc) return err_set(j->errmsg, rc, "compaction: out of memory");
  j->bottom = 1;
  for (int l = j->c->out_level + 1; l < NUM_LEVELS; l++)
    if (j->ver->nfiles[l]) j->bottom = 0;
  rc = open_inputs(j);
  if (!rc) rc = merge(j);
  return rc;
}

static uint64_t input_bytes(const compaction *c) {
  uint64_t n = 0;
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < c->n[w]; i++) n += c->in[w][i]->file_size;
  return n;
}

static void job_init(job *j, shale_db *db, compaction *c, version *ver, int tries, char *errmsg) {
  *j = (job){.db = db, .c = c, .ver = ver, .errmsg = errmsg};
  j->use_filter = db->opt.compaction_filter && tries < FILTERED_TRIES;
  buf_init(&j->lo);
  buf_init(&j->last_ukey);
  buf_init(&j->zeroed);
  buf_init(&j->removed);
  edit_init(&j->edit);
}

static void job_free(job *j) {
  if (j->in) j->in->ops->destroy(j->in);
  range_dels_free(&j->rdels);
  free(j->snaps);
  edit_free(&j->edit);
  buf_free(&j->lo);
  buf_free(&j->last_ukey);
  buf_free(&j->zeroed);
  buf_free(&j->removed);
}

/* One merge and install; COMPACTION_REDO leaves nothing behind but j to free. */
static int attempt(job *j) {
  int rc = run_unlocked(j);
  if (!rc) rc = install(j);
  if (rc && !trivial_move(j->c) && !j->manifest_tried) cleanup_outputs(j);
  return rc;
}

static void log_done(shale_db *db, const job *j, uint64_t start) {
  const compaction *c = j->c;
  atomic_fetch_add(&db->stats.compactions, 1);
  db_histogram_add_us(db, SHALE_HIST_COMPACTION, clock_mono_us() - start);
  atomic_fetch_add(&db->stats.compaction_bytes_read, trivial_move(c) ? 0 : input_bytes(c));
  atomic_fetch_add(&db->stats.compaction_bytes_written, j->bytes_written);
  atomic_fetch_add(&db->stats.level_compactions[c->out_level], 1);
  atomic_fetch_add(&db->stats.level_bytes_read[c->out_level], trivial_move(c) ? 0 : input_bytes(c));
  atomic_fetch_add(&db->stats.level_bytes_written[c->out_level], j->bytes_written);
  db_log(db,
         "compacted L%d (%d files) + L%d (%d files) -> %d files, %llu bytes, %llu entries "
         "dropped, %llu bytes of inputs dropped unread under range tombstones, reason %d, "
         "%.3f s",
         c->level, c->n[0], c->out_level, c->n[1], j->edit.nadded,
         (unsigned long long)j->bytes_written, (unsigned long long)j->dropped,
         (unsigned long long)j->dropped_unread_bytes, (int)c->reason,
         (double)(clock_mono_us() - start) / 1e6);
  if (j->removed_n + j->changed_n + j->bad_n)
    db_log(db, "compaction filter: %llu removed, %llu changed, %llu invalid answers kept",
           (unsigned long long)j->removed_n, (unsigned long long)j->changed_n,
           (unsigned long long)j->bad_n);
}

static void report_end(shale_db *db, const job *j, shale_compaction_info *info, int rc) {
  info->status = rc;
  if (!rc) {
    info->output_files = trivial_move(j->c) ? 0 : j->edit.nadded;
    info->bytes_read = trivial_move(j->c) ? 0 : input_bytes(j->c);
    info->bytes_written = j->bytes_written;
    info->entries_dropped = j->dropped;
    info->tombstones_dropped = j->tombstones_dropped;
  }
  listeners_compaction_end(db, info, rc || trivial_move(j->c) ? NULL : &j->edit);
}

int compaction_run(shale_db *db, compaction *c, char *errmsg) {
  version *ver = db_current_version(db);
  version_ref(ver);
  db_mu_held(db)->compaction_running = 1;
  sh_mutex_unlock(&db->mu);
  io_point(&db->io, db, SHALE_POINT_COMPACTION_PICKED);
  uint64_t start = clock_mono_us();
  shale_compaction_info info;
  listeners_compaction_info(c, trivial_move(c), &info);
  listeners_compaction_begin(db, &info);
  job j;
  int rc = COMPACTION_REDO;
  for (int tries = 0; rc == COMPACTION_REDO; tries++) {
    if (tries) {
      job_free(&j);
      db_log(db, "compaction redone: a snapshot taken meanwhile may read what the filter changed");
    }
    job_init(&j, db, c, ver, tries, errmsg);
    rc = attempt(&j);
  }
  if (!rc) log_done(db, &j, start);
  report_end(db, &j, &info, rc);
  job_free(&j);
  version_unref(ver);
  sh_mutex_lock(&db->mu);
  db_mu_held(db)->compaction_running = 0;
  if (rc) db_set_bg_error(db, rc, errmsg);
  pthread_cond_broadcast(&db->bg_cv);
  return rc;
}
