/* ingest.c — shale_ingest: external tables (engine/sst_writer.c) join a live DB in one
 * MANIFEST edit.
 *
 * Sequence: the files' entries are stored at sequence 0 (format version 5); ingest gives
 * every file of the call one new sequence G and writes it into the 8-byte field before each
 * file's footer, and the reader shows every entry and range tombstone of the file at G
 * (RocksDB's global seqno, kept in the file so the table cache, compaction and every read
 * path find it without the MANIFEST). A table holds one version per key, so only a seek's
 * landing and a lookup's visibility check change; no key is rewritten, and a move costs a
 * link.
 *
 * Order of work: check every file (read whole) and link or copy it into the DB under a new
 * number, with no lock held; then, at the head of the write queue (no write in flight),
 * pause compactions, flush the memtable if it overlaps a file, take G, pick the levels,
 * write G into the files, log the edit and publish one view. A crash before the edit is
 * synced leaves only unlisted tables, which the next open removes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/compaction.h"
#include "engine/file_numbers.h"
#include "engine/bg_error.h"
#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/errmsg.h"
#include "engine/filename.h"
#include "engine/flush.h"
#include "engine/flush_job.h"
#include "engine/install.h"
#include "engine/write.h"
#include "io/io.h"
#include "io/io_fs.h"
#include "sstable/sst_external.h"
#include "util/coding.h"
#include "util/ikey.h"

typedef struct ingest_file {
  const char *src;
  char dst[FILENAME_MAX_LEN];
  uint64_t number;
  buf lo, hi;  /* user keys: the file spans [lo, hi], or [lo, hi) when hi_open */
  int hi_open; /* hi is the end of a range delete */
  int made;    /* dst exists */
  int level;
  file_meta *f;
} ingest_file;

typedef struct ingest_job {
  ingest_file *files;
  size_t n;
  int committed; /* the edit is in the MANIFEST: the files belong to the DB */
} ingest_job;

/* ---- checking the files ---- */

static int check_entries(const shale_comparator *cmp, sst_reader *r, const char *path,
                         char *errmsg) {
  sst_iter *it;
  if (sst_iter_new(r, &it)) return err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  sst_iter_set_flags(it, SST_READ_NO_FILL_CACHE);
  buf prev;
  buf_init(&prev);
  int rc = SHALE_OK;
  uint64_t n = 0;
  for (sst_iter_seek_first(it); !rc && sst_iter_valid(it); sst_iter_next(it), n++) {
    size_t klen;
    const uint8_t *k = sst_iter_key(it, &klen);
    unsigned kind = ikey_kind(get_fixed64(k + klen - IKEY_TRAILER));
    klen -= IKEY_TRAILER;
    if (kind != KIND_PUT && kind != KIND_DEL)
      rc = err_corrupt(errmsg, "%s: entry %llu has kind %u", path, (unsigned long long)n, kind);
    else if (n && ukey_cmp(cmp, prev.data, prev.len, k, klen) >= 0)
      rc = err_set(errmsg, SHALE_INVALID, "%s: keys are not strictly increasing at entry %llu",
                   path, (unsigned long long)n);
    buf_assign(&prev, k, klen);
    if (!rc && !buf_ok(&prev)) rc = err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  }
  if (!rc && sst_iter_status(it))
    rc = err_set(errmsg, sst_iter_status(it), "%s", sst_iter_errmsg(it));
  buf_free(&prev);
  sst_iter_free(it);
  return rc;
}

static int set_bounds(ingest_file *f, const sst_meta *m, char *errmsg) {
  buf_assign(&f->lo, m->smallest.data, m->smallest.len - IKEY_TRAILER);
  buf_assign(&f->hi, m->largest.data, m->largest.len - IKEY_TRAILER);
  uint64_t t = get_fixed64(m->largest.data + m->largest.len - IKEY_TRAILER);
  f->hi_open = ikey_kind(t) == KIND_RANGE_DEL && ikey_seq(t) == SEQ_MAX;
  return buf_ok(&f->lo) && buf_ok(&f->hi) ? SHALE_OK
                                          : err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
}

/* Reads the whole file once: format, checksums of every block, key order. */
/* The table must be written in cmp's order: sst_reader_open_ordered refuses another's. */
static int check_file(const shale_comparator *cmp, ingest_file *f, char *errmsg) {
  sst_reader *r;
  int rc = sst_reader_open_ordered(io_ctx_default(), f->src, 0, NULL, cmp, &r, errmsg);
  if (rc) return rc;
  const sst_meta *m = sst_reader_meta(r);
  if (!sst_version_is_external(sst_reader_format_version(r)))
    rc = err_set(errmsg, SHALE_INVALID,
                 "%s: not an external table (format version %u; shale_sst_writer writes %u or %u)",
                 f->src, sst_reader_format_version(r), SST_FORMAT_VERSION_EXTERNAL,
                 SST_FORMAT_VERSION_EXTERNAL_COMPARATOR);
  else if (!m->smallest.len)
    rc = err_set(errmsg, SHALE_INVALID, "%s: the table holds no entry", f->src);
  else if (!(rc = check_entries(cmp, r, f->src, errmsg)))
    rc = set_bounds(f, m, errmsg);
  sst_reader_close(r);
  return rc;
}

static int by_lo(const void *pa, const void *pb, void *cmp) {
  const ingest_file *a = pa, *b = pb;
  return ukey_cmp(cmp, a->lo.data, a->lo.len, b->lo.data, b->lo.len);
}

/* REQUIRES: files sorted by lo. */
static int check_disjoint(const shale_comparator *cmp, const ingest_file *fs, size_t n,
                          char *errmsg) {
  for (size_t i = 1; i < n; i++) {
    const ingest_file *a = &fs[i - 1], *b = &fs[i];
    int c = ukey_cmp(cmp, a->hi.data, a->hi.len, b->lo.data, b->lo.len);
    if (c > 0 || (c == 0 && !a->hi_open))
      return err_set(errmsg, SHALE_INVALID, "ingest: the key ranges of %s and %s overlap", a->src,
                     b->src);
  }
  return SHALE_OK;
}

/* ---- linking or copying into the DB ---- */

/* Ingest writes the global sequence into the file it brings in, so a link is made only to a
 * file no other name shares: after a crash that left a moved file behind, its other name is
 * a live table of the DB (or of a checkpoint), whose sequence must never change. */
static int sole_link(const char *path) {
  struct stat st;
  return !stat(path, &st) && st.st_nlink == 1;
}

static int bring_file(shale_db *db, ingest_file *f, int move, char *errmsg) {
  f->number = db_new_file_number(db);
  filename_table(f->dst, db->path, f->number);
  int rc = SHALE_OK;
  int e = move && sole_link(f->src) ? io_link(&db->io, f->src, f->dst) : -1;
  if (e > 0 && e != EXDEV && e != EPERM && e != EMLINK && e != ENOTSUP)
    return err_errno(errmsg, e, "link", f->src);
  if (e) rc = io_copy_file(&db->io, f->src, f->dst, UINT64_MAX, 1, errmsg);
  if (rc) {
    io_remove(&db->io, f->dst, NULL);
    return rc;
  }
  f->made = 1;
  return SHALE_OK;
}

/* ---- placing, under the write queue ---- */

/* Does [b, e) (e exclusive: a range delete) or [b, e] meet f's span? */
static int meets(const shale_comparator *cmp, const ingest_file *f, const void *b, size_t bl,
                 const void *e, size_t el, int e_open) {
  int c = ukey_cmp(cmp, b, bl, f->hi.data, f->hi.len);
  if (c > 0 || (c == 0 && f->hi_open)) return 0;
  c = ukey_cmp(cmp, e, el, f->lo.data, f->lo.len);
  return c > 0 || (c == 0 && !e_open);
}

static int mem_overlaps(memtable *m, const ingest_file *f) {
  buf seek;
  buf_init(&seek);
  buf_append(&seek, f->lo.data, f->lo.len);
  buf_append_fixed64(&seek, ikey_pack(SEQ_MAX, KIND_SEEK));
  int hit = !buf_ok(&seek); /* without memory: assume it does, and flush */
  if (!hit) {
    memtable_iter it;
    memtable_iter_init(&it, m);
    memtable_iter_seek(&it, seek.data, seek.len);
    size_t kl;
    const uint8_t *k = memtable_iter_valid(&it) ? memtable_iter_key(&it, &kl) : NULL;
    hit = k && meets(memtable_comparator(m), f, k, kl - IKEY_TRAILER, k, kl - IKEY_TRAILER, 0);
  }
  buf_free(&seek);
  for (const sl_node *t = memtable_range_newest(m); t && !hit; t = memtable_range_older(t)) {
    const uint8_t *b;
    const void *e;
    size_t bl, el;
    uint64_t seq;
    memtable_range_tomb(t, &b, &bl, &e, &el, &seq);
    hit = meets(memtable_comparator(m), f, b, bl, e, el, 1);
  }
  return hit;
}

static int view_overlaps(const read_view *v, const ingest_job *job, int mutable_only) {
  memtable *m = v->mem;
  for (int i = 0; i <= (mutable_only ? 0 : v->imm_count); i++) {
    for (size_t j = 0; j < job->n; j++)
      if (mem_overlaps(m, &job->files[j])) return 1;
    m = i == 0 ? v->imm : memtable_next(m);
  }
  return 0;
}

/* A memtable holding a key in a file's range is flushed: its entries are older than the
 * file and must end up below it. This thread flushes them itself: a background thread may be
 * queued behind it to seal (a delete deadline), and so cannot be waited for.
 * REQUIRES: at the head of the write queue. */
static int flush_overlapping(shale_db *db, const ingest_job *job, char *errmsg)
    SH_REQUIRES(db->mu) {
  if (!view_overlaps(db_view_under_mu(db), job, 0)) return SHALE_OK;
  int rc = SHALE_OK;
  if (memtable_count(db->mem) && view_overlaps(db_view_under_mu(db), job, 1))
    rc = db_seal_memtable(db, errmsg);
  const db_mu_state *s = db_mu_held(db);
  while (!rc && db_view_under_mu(db)->imm_count > 0 && !s->bg_error) {
    if (s->flush_running) /* a background flush: it needs no writer, so it ends */
      sh_cond_wait(&db->bg_cv, &db->mu);
    else
      rc = flush_oldest(db, errmsg);
  }
  if (!rc && s->bg_error)
    rc = err_set(errmsg, SHALE_READONLY, "ingest: flush failed: %s", s->bg_errmsg);
  return rc;
}

static int level_overlaps(const version *v, int level, const ingest_file *f) {
  for (int i = 0; i < v->nfiles[level]; i++) {
    const file_meta *g = v->files[level][i];
    if (meets(v->cmp, f, g->smallest.data, g->smallest.len - IKEY_TRAILER, g->largest.data,
              g->largest.len - IKEY_TRAILER, 0))
      return 1;
  }
  return 0;
}

/* The deepest level with nothing overlapping at it or above; L0 when L0 overlaps. */
static int pick_level(const version *v, const ingest_file *f) {
  if (level_overlaps(v, 0, f)) return 0;
  for (int l = 1; l < NUM_LEVELS; l++)
    if (level_overlaps(v, l, f)) return l - 1;
  return NUM_LEVELS - 1;
}

/* Writers may be waiting on spans (engine/dead_spans.h): the file's puts become visible at
 * seq, so they are cut out of every span first, as the write path does for its puts. */
static int cut_spans(shale_db *db, sst_reader *r, uint64_t seq, char *errmsg) {
  if (!dead_spans_active(&db->spans)) return SHALE_OK;
  sst_iter *it;
  if (sst_iter_new(r, &it)) return err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  dead_spans_cut_begin(&db->spans);
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl;
    const uint8_t *k = sst_iter_key(it, &kl);
    if (ikey_kind(get_fixed64(k + kl - IKEY_TRAILER)) == KIND_PUT)
      dead_spans_cut(&db->spans, k, kl - IKEY_TRAILER, seq); /* failing drops all spans */
  }
  dead_spans_cut_end(&db->spans, seq);
  int rc = sst_iter_status(it) ? err_set(errmsg, sst_iter_status(it), "%s", sst_iter_errmsg(it))
                               : SHALE_OK;
  sst_iter_free(it);
  return rc;
}

/* Writes seq into the file and makes its MANIFEST record from the file as it now reads. */
static int seal_file(shale_db *db, ingest_file *f, uint64_t seq, char *errmsg) {
  int rc = sst_external_set_seq(&db->io, f->dst, seq, errmsg);
  sst_reader *r = NULL;
  if (!rc) rc = sst_reader_open_ordered(&db->io, f->dst, f->number, NULL, db->cmp, &r, errmsg);
  if (!rc && !(f->f = file_meta_new())) rc = err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  if (!rc) {
    file_meta_set_from_sst(f->f, sst_reader_meta(r));
    f->f->number = f->number;
    if (!buf_ok(&f->f->smallest) || !buf_ok(&f->f->largest))
      rc = err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  }
  if (!rc) rc = cut_spans(db, r, seq, errmsg);
  sst_reader_close(r);
  return rc;
}

/* MANIFEST first, then one view with every file: a reader sees all of them or none. */
static int commit(shale_db *db, ingest_job *job, uint64_t seq, char *errmsg)
    SH_REQUIRES(db->manifest_mu) SH_EXCLUDES(db->mu) {
  version_edit e;
  edit_init(&e);
  int rc = SHALE_OK;
  for (size_t i = 0; i < job->n && !rc; i++)
    if (edit_add_file(&e, job->files[i].level, job->files[i].f))
      rc = err_set(errmsg, SHALE_NOMEM, "ingest: out of memory");
  version *v = NULL;
  if (!rc) {
    uint64_t next_file = db_peek_file_number(db);
    io_point(&db->io, db, SHALE_POINT_INGEST_SEALED);
    rc = vset_log_and_apply(&db->vset, &e, next_file, seq, &v, errmsg);
    if (rc && rc != SHALE_NOMEM) {
      sh_mutex_lock(&db->mu);
      db_set_bg_error(db, rc, errmsg); /* the MANIFEST's tail is unknown: no edit may follow */
      sh_mutex_unlock(&db->mu);
    }
  }
  if (!rc) {
    job->committed = 1;
    io_point(&db->io, db, SHALE_POINT_INGEST_MANIFEST_SYNCED);
    sh_mutex_lock(&db->mu);
    vset_install(&db->vset, &e, v);
    rc = db_publish_version(db, 0);
    atomic_store_explicit(&db->last_seq, seq, memory_order_release);
    sh_mutex_unlock(&db->mu);
    for (size_t i = 0; i < job->n; i++)
      db_log(db, "ingest: %s as %06llu.sst at L%d, sequence %llu", job->files[i].src,
             (unsigned long long)job->files[i].number, job->files[i].level,
             (unsigned long long)seq);
    db_maybe_roll_manifest(db);
  }
  edit_free(&e);
  return rc;
}

static int place_and_commit(shale_db *db, ingest_job *job, uint64_t seq, char *errmsg)
    SH_REQUIRES(db->manifest_mu) SH_EXCLUDES(db->mu) {
  int rc = SHALE_OK;
  for (size_t i = 0; i < job->n && !rc; i++) rc = seal_file(db, &job->files[i], seq, errmsg);
  if (!rc) rc = commit(db, job, seq, errmsg);
  return rc;
}

static int ingest_locked(shale_db *db, void *arg, char *errmsg) SH_REQUIRES(db->mu) {
  ingest_job *job = arg;
  compaction_exclusive_begin(db); /* no compaction may write where a file is about to go */
  int rc = flush_overlapping(db, job, errmsg);
  if (!rc) {
    sh_mutex_unlock(&db->mu);
    sh_mutex_lock(&db->manifest_mu); /* lock order: manifest_mu before mu */
    sh_mutex_lock(&db->mu);
    for (size_t i = 0; i < job->n; i++)
      job->files[i].level = pick_level(db_current_version(db), &job->files[i]);
    uint64_t seq = db_allocate_seqs(db, 1); /* newer than every write so far */
    sh_mutex_unlock(&db->mu);
    rc = place_and_commit(db, job, seq, errmsg);
    sh_mutex_unlock(&db->manifest_mu);
    sh_mutex_lock(&db->mu);
  }
  compaction_exclusive_end(db);
  return rc;
}

/* ---- the call ---- */

static void job_free(shale_db *db, ingest_job *job) {
  for (size_t i = 0; i < job->n; i++) {
    ingest_file *f = &job->files[i];
    if (f->made && !job->committed) io_remove(&db->io, f->dst, NULL);
    if (f->f) file_meta_unref(f->f);
    buf_free(&f->lo);
    buf_free(&f->hi);
  }
  free(job->files);
}

/* Whether path's directory is the DB's own: moving a file out of it could take a live table. */
static int in_db_dir(const shale_db *db, const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  struct stat a, b;
  int same =
      dir && !stat(dir, &a) && !stat(db->path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  free(dir);
  return same;
}

static int prepare(shale_db *db, ingest_job *job, const char *const *files, unsigned flags,
                   char *errmsg) {
  int rc = SHALE_OK;
  for (size_t i = 0; i < job->n && !rc; i++) {
    if (!files[i]) return err_set(errmsg, SHALE_INVALID, "ingest: file %zu is NULL", i);
    if ((flags & SHALE_INGEST_MOVE) && in_db_dir(db, files[i]))
      return err_set(errmsg, SHALE_INVALID, "ingest: %s is in the DB's directory", files[i]);
    job->files[i].src = files[i];
    buf_init(&job->files[i].lo);
    buf_init(&job->files[i].hi);
    rc = check_file(db->cmp, &job->files[i], errmsg);
  }
  if (rc) return rc;
  qsort_r(job->files, job->n, sizeof *job->files, by_lo, (void *)db->cmp);
  if ((rc = check_disjoint(db->cmp, job->files, job->n, errmsg))) return rc;
  for (size_t i = 0; i < job->n && !rc; i++)
    rc = bring_file(db, &job->files[i], flags & SHALE_INGEST_MOVE, errmsg);
  return rc ? rc : io_sync_dir(&db->io, db->path, errmsg);
}

static int ingest_call(shale_db *db, const char *const *files, size_t n, unsigned flags) {
  char errmsg[ERRMSG_SIZE] = "";
  if (!files || n == 0 || (flags & ~SHALE_INGEST_MOVE))
    return db_fail(db, SHALE_INVALID, "ingest: NULL or empty file list, or unknown flags");
  if (db->opt.read_only) return db_fail(db, SHALE_READONLY, "ingest: the DB was opened read_only");
  ingest_job job = {calloc(n, sizeof *job.files), n, 0};
  if (!job.files) return db_fail(db, SHALE_NOMEM, "ingest: out of memory");
  int rc = prepare(db, &job, files, flags, errmsg);
  if (rc) {
    job_free(db, &job);
    return db_fail(db, rc, errmsg);
  }
  io_point(&db->io, db, SHALE_POINT_INGEST_LINKED);
  rc = db_write_exclusive(db, ingest_locked, &job); /* records its own detail */
  for (size_t i = 0; !rc && i < n && (flags & SHALE_INGEST_MOVE); i++)
    io_remove(io_ctx_default(), job.files[i].src, NULL);
  job_free(db, &job);
  return rc;
}

int shale_ingest(shale_db *db, const char *const *files, size_t n, unsigned flags) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, ingest_call(db, files, n, flags));
}
