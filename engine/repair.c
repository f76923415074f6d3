/* repair.c — shale_repair: rebuild the MANIFEST from the tables present, as LevelDB's
 * RepairDB does. Every .sst is opened and read in full; unreadable ones go to lost/, a table
 * with a damaged data block is rewritten with the entries that still read; the rest go to L0
 * with the metadata their own properties and dirty blocks give. The log number is 0, so every
 * WAL present is replayed at the next open; a WAL damaged before its tail is rewritten with
 * its intact prefix (the original goes to lost/). The old MANIFESTs go to lost/ once the new
 * one is in place. Holds the DB's LOCK throughout. What it does is told line by line to a
 * report callback: shale-ldb prints the lines, shale_repair writes them to the LOG. */
#include "engine/errmsg.h"
#include "engine/repair.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/dir_check.h"
#include "engine/filename.h"
#include "engine/options.h"
#include "engine/version_set.h"
#include "engine/span_store.h"
#include "io/io.h"
#include "io/io_env.h"
#include "io/io_fs.h"
#include "sstable/sst_builder.h"
#include "sstable/sst_reader.h"
#include "util/error.h"
#include "util/ikey.h"
#include "wal/wal_reader.h"
#include "wal/wal_writer.h"

typedef struct repair {
  io_ctx *io; /* every file is read, written, moved and listed through its env */
  const char *db;
  repair_report_fn report;
  void *arg;
  char *errmsg; /* the fatal error, for the caller */
  char lost[FILENAME_MAX_LEN];
  uint64_t next_number, last_seq;
  int kept, lost_files, salvaged, wals, wals_rewritten;
  version *v;
  const shale_comparator *cmp; /* the order of the DB's keys (NULL: bytewise) */
} repair;

static void say(repair *rp, int warning, const char *fmt, ...) SHALE_PRINTF(3, 4);
static void say(repair *rp, int warning, const char *fmt, ...) {
  if (!rp->report) return;
  char line[2 * ERRMSG_SIZE + 512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  rp->report(rp->arg, warning, line);
}

static int move_to_lost(repair *rp, const char *name, const char *why) {
  char from[FILENAME_MAX_LEN], to[FILENAME_MAX_LEN + 256];
  int rc = io_make_dir(rp->io, rp->lost, 1, rp->errmsg);
  if (rc) return rc;
  filename_join(from, rp->db, name);
  snprintf(to, sizeof to, "%s/%s", rp->lost, name);
  char why_not[ERRMSG_SIZE];
  if ((rc = io_rename(rp->io, from, to, why_not)))
    return err_set(rp->errmsg, rc, "moving %s to lost/: %s", from, why_not);
  say(rp, 0, "lost %s: %s (moved to lost/)", name, why);
  rp->lost_files++; /* counted here only, so the summary matches the lines printed */
  return 0;
}

/* An entry kept from a damaged table. */
typedef struct kept {
  uint8_t *k;
  size_t kl, vl;
} kept;

typedef struct kept_list {
  kept *v;
  size_t n, cap;
} kept_list;

static int keep(kept_list *l, const uint8_t *k, size_t kl, const void *v, size_t vl) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    kept *p = realloc(l->v, cap * sizeof *p);
    if (!p) return -1;
    l->v = p;
    l->cap = cap;
  }
  uint8_t *b = malloc(kl + vl + 1);
  if (!b) return -1;
  memcpy(b, k, kl);
  memcpy(b + kl, v, vl);
  l->v[l->n++] = (kept){b, kl, vl};
  return 0;
}

/* Rewrites the readable entries of r (forward up to the damage, backward down to it) into a
 * new table; returns its number, or 0 when nothing could be kept or the write failed. */
static uint64_t salvage(repair *rp, sst_reader *r) {
  kept_list fwd = {0}, bwd = {0};
  sst_iter *it;
  uint64_t number = 0;
  if (sst_iter_new(r, &it)) return 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const void *v = sst_iter_value(it, &vl);
    if (keep(&fwd, k, kl, v, vl)) goto done;
  }
  for (sst_iter_seek_last(it); sst_iter_valid(it); sst_iter_prev(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    if (fwd.n && ikey_cmp(rp->cmp, k, kl, fwd.v[fwd.n - 1].k, fwd.v[fwd.n - 1].kl) <= 0) break;
    const void *v = sst_iter_value(it, &vl);
    if (keep(&bwd, k, kl, v, vl)) goto done;
  }
  const sst_range_del *d;
  size_t nd = sst_reader_range_dels(r, &d);
  if (!fwd.n && !bwd.n && !nd) goto done;
  const sst_meta *m = sst_reader_meta(r);
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  uint64_t n = rp->next_number++;
  filename_table(path, rp->db, n);
  sst_options so = {0, 10, m->compression, 0, rp->io, 0, 0, NULL, 0};
  sst_builder *b;
  if (sst_builder_new(path, &so, &b, errmsg)) goto fail;
  sst_builder_set_comparator(b, rp->cmp);
  /* Repair runs on a closed DB: no snapshot lives, every later read is at the latest seq. */
  int rc = sst_builder_set_snapshots(b, NULL, 0);
  for (size_t i = 0; i < fwd.n && !rc; i++)
    rc = sst_builder_add(b, fwd.v[i].k, fwd.v[i].kl, fwd.v[i].k + fwd.v[i].kl, fwd.v[i].vl,
                         m->oldest_tomb_us);
  for (size_t i = bwd.n; i-- > 0 && !rc;)
    rc = sst_builder_add(b, bwd.v[i].k, bwd.v[i].kl, bwd.v[i].k + bwd.v[i].kl, bwd.v[i].vl,
                         m->oldest_tomb_us);
  for (size_t i = 0; i < nd && !rc; i++)
    rc = sst_builder_add_range_del(b, d[i].begin, d[i].blen, d[i].end, d[i].elen, d[i].seq,
                                   d[i].time_us);
  if (rc) {
    sst_builder_abort(b);
    err_set(errmsg, rc, "adding an entry failed");
    goto fail;
  }
  if (sst_builder_finish(b, NULL, errmsg)) goto fail;
  say(rp, 0,
      "salvaged %06" PRIu64 ".sst into %06" PRIu64 ".sst: kept %zu of %" PRIu64
      " entries and %zu range tombstone(s)",
      sst_reader_file_number(r), n, fwd.n + bwd.n, m->entries, nd);
  number = n;
  goto done;
fail:
  say(rp, 1, "salvaging %06" PRIu64 ".sst failed: %s", sst_reader_file_number(r), errmsg);
done:
  sst_iter_free(it);
  for (size_t i = 0; i < fwd.n; i++) free(fwd.v[i].k);
  for (size_t i = 0; i < bwd.n; i++) free(bwd.v[i].k);
  free(fwd.v);
  free(bwd.v);
  return number;
}

/* Reads the whole table; 0 when every block verifies, else the message in errmsg. */
static int read_all(sst_reader *r, char *errmsg) {
  sst_iter *it;
  if (sst_iter_new(r, &it)) return err_set(errmsg, SHALE_NOMEM, "out of memory");
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
  }
  int rc = sst_iter_status(it);
  if (rc) snprintf(errmsg, ERRMSG_SIZE, "%s", sst_iter_errmsg(it));
  sst_iter_free(it);
  return rc;
}

static int add_table(repair *rp, uint64_t number, const sst_meta *m) {
  file_meta *f = file_meta_new();
  if (!f) return err_set(rp->errmsg, SHALE_NOMEM, "out of memory");
  f->number = number;
  file_meta_set_from_sst(f, m);
  int rc = buf_ok(&f->smallest) && buf_ok(&f->largest) ? version_add_file(rp->v, 0, f) : -1;
  if (rc) rc = err_set(rp->errmsg, SHALE_NOMEM, "out of memory");
  file_meta_unref(f);
  if (m->max_seq > rp->last_seq) rp->last_seq = m->max_seq;
  rp->kept++;
  return rc;
}

static int repair_table(repair *rp, uint64_t number) {
  char path[FILENAME_MAX_LEN], name[64], errmsg[ERRMSG_SIZE] = "";
  filename_table(path, rp->db, number);
  snprintf(name, sizeof name, "%06" PRIu64 ".sst", number);
  sst_reader *r;
  if (sst_reader_open_ordered(rp->io, path, number, NULL, rp->cmp, &r, errmsg)) {
    return move_to_lost(rp, name, errmsg);
  }
  int rc = 0;
  if (sst_reader_meta(r)->entries == 0 && sst_reader_meta(r)->range_tombstones == 0) {
    rc = move_to_lost(rp, name, "empty table");
  } else if (read_all(r, errmsg)) {
    uint64_t fresh = salvage(rp, r);
    sst_reader *nr = NULL;
    char p2[FILENAME_MAX_LEN], e2[ERRMSG_SIZE];
    filename_table(p2, rp->db, fresh);
    if (fresh && !sst_reader_open_ordered(rp->io, p2, fresh, NULL, rp->cmp, &nr, e2)) {
      rc = add_table(rp, fresh, sst_reader_meta(nr));
      rp->salvaged++;
      sst_reader_close(nr);
    }
    if (!rc) rc = move_to_lost(rp, name, errmsg);
  } else {
    rc = add_table(rp, number, sst_reader_meta(r));
    if (!rc)
      say(rp, 0, "table %s L0 entries=%" PRIu64 " seq=%" PRIu64 "..%" PRIu64, name,
          sst_reader_meta(r)->entries, sst_reader_meta(r)->min_seq, sst_reader_meta(r)->max_seq);
  }
  sst_reader_close(r);
  return rc;
}

static int no_op(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                 const void *val, size_t vlen) {
  return 0;
}

/* Checks a WAL strictly; if it is damaged before its tail, writes its intact prefix to a new
 * file, moves the original to lost/ and puts the new one in its place. */
static int repair_wal(repair *rp, uint64_t number) {
  char path[FILENAME_MAX_LEN], tmp[FILENAME_MAX_LEN + 8], name[64], errmsg[ERRMSG_SIZE] = "";
  filename_log(path, rp->db, number);
  snprintf(name, sizeof name, "%06" PRIu64 ".log", number);
  rp->wals++;
  wal_reader *r;
  const uint8_t *rec;
  size_t len;
  uint64_t records = 0;
  int rc = wal_reader_open(rp->io, path, 0, &r, errmsg);
  if (!rc)
    while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
      records++;
      if (len >= BATCH_HEADER && batch_rep_count(rec)) {
        uint64_t last = batch_rep_seq(rec) + batch_rep_count(rec) - 1;
        if (last > rp->last_seq && last <= SEQ_MAX) rp->last_seq = last;
      }
    }
  wal_reader_close(r);
  if (rc >= 0) {
    say(rp, 0, "wal %s records=%" PRIu64 " (replayed at the next open)", name, records);
    return 0;
  }
  char why[ERRMSG_SIZE];
  snprintf(why, sizeof why, "%s", errmsg);
  /* Damaged: keep what precedes the damage. */
  snprintf(tmp, sizeof tmp, "%s.repair", path);
  wal_writer *w = NULL;
  records = 0;
  rc = wal_reader_open(rp->io, path, 1, &r, errmsg);
  if (!rc) rc = wal_writer_open(rp->io, tmp, number, &w, errmsg);
  while (!rc && (rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    if (len < BATCH_HEADER || batch_rep_iterate(rec, len, no_op, NULL) == SHALE_CORRUPTION) break;
    rc = wal_writer_add(w, rec, len, errmsg);
    records++;
  }
  wal_reader_close(r);
  if (rc >= 0 && w) rc = wal_writer_sync(w, errmsg);
  if (w) wal_writer_close(w, NULL);
  if (rc < 0) {
    say(rp, 1, "%s: cannot rewrite (%s); moving it aside", path, errmsg);
    io_remove(rp->io, tmp, NULL);
    return move_to_lost(rp, name, why);
  }
  if ((rc = move_to_lost(rp, name, why))) return rc;
  if ((rc = io_rename(rp->io, tmp, path, rp->errmsg))) return rc;
  rp->wals_rewritten++;
  say(rp, 0, "wal %s rewritten with its first %" PRIu64 " intact record(s)", name, records);
  return 0;
}

static int try_lock(io_ctx *io, const char *db, int *fd, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, db, "LOCK");
  int rc = io_lock_file(io, path, fd, errmsg);
  if (rc != SHALE_BUSY) return rc;
  return err_set(errmsg, SHALE_BUSY,
                 "%s is locked: the DB is open in another process; close it before repair", db);
}

/* Past the largest number any file of the directory has. */
static uint64_t next_number(uint64_t *const lists[], const size_t counts[], int nlists) {
  uint64_t next = 2;
  for (int i = 0; i < nlists; i++)
    if (counts[i] && lists[i][counts[i] - 1] + 1 > next) next = lists[i][counts[i] - 1] + 1;
  return next;
}

/* Writes a MANIFEST holding only rp->v, every WAL to be replayed, then retires the old ones. */
static int write_manifest(repair *rp, const uint64_t *manifests, size_t nm, uint64_t *mnum) {
  version_set vs;
  vset_init_holding(&vs, rp->io, rp->db, rp->v);
  vs.log_number = 0;
  vset_set_last_seq(&vs, rp->last_seq);
  *mnum = rp->next_number++;
  char errmsg[ERRMSG_SIZE] = "";
  int rc = vset_write_snapshot(&vs, *mnum, rp->next_number, errmsg);
  vset_close(&vs);
  if (rc) return err_set(rp->errmsg, rc, "writing the new MANIFEST: %s", errmsg);
  for (size_t i = 0; i < nm; i++) {
    char name[64];
    snprintf(name, sizeof name, "MANIFEST-%06" PRIu64, manifests[i]);
    move_to_lost(rp, name, "replaced by the repaired MANIFEST");
  }
  return SHALE_OK;
}

/* Repair rebuilds the DB in the order its options give: a table written in another (which
 * sst_reader_open_ordered refuses with SHALE_INVALID, naming both) stops it before anything
 * is moved or written, rather than have every table of such a DB go to lost/. */
static int refuse_other_order(repair *rp, const uint64_t *tables, size_t nt) {
  for (size_t i = 0; i < nt; i++) {
    char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
    filename_table(path, rp->db, tables[i]);
    sst_reader *r;
    int rc = sst_reader_open_ordered(rp->io, path, tables[i], NULL, rp->cmp, &r, errmsg);
    if (rc == SHALE_INVALID)
      return err_set(rp->errmsg, SHALE_INVALID,
                     "repair: %s; pass the DB's comparator in shale_options.comparator", errmsg);
    if (!rc) sst_reader_close(r);
  }
  return SHALE_OK;
}

static int repair_locked(repair *rp) {
  uint64_t *tables = NULL, *logs = NULL, *manifests = NULL, *temps = NULL, mnum = 0;
  size_t nt = filename_list(rp->io, rp->db, FT_TABLE, 0, &tables),
         nl = filename_list(rp->io, rp->db, FT_LOG, 0, &logs);
  size_t nm = filename_list(rp->io, rp->db, FT_MANIFEST, 0, &manifests);
  size_t ntmp = filename_list(rp->io, rp->db, FT_TEMP, 0, &temps);
  rp->next_number = next_number((uint64_t *const[]){tables, logs, manifests, temps},
                                (const size_t[]){nt, nl, nm, ntmp}, 4);
  int rc = refuse_other_order(rp, tables, nt);
  rp->v = rc ? NULL : version_new();
  if (!rc && !rp->v) rc = err_set(rp->errmsg, SHALE_NOMEM, "out of memory");
  if (rp->v) rp->v->cmp = rp->cmp; /* sorts L0 and names the order in the new MANIFEST */
  for (size_t i = 0; i < nt && !rc; i++) rc = repair_table(rp, tables[i]);
  for (size_t i = 0; i < nl && !rc; i++) rc = repair_wal(rp, logs[i]);
  if (!rc) {
    version_sort(rp->v);
    rc = write_manifest(rp, manifests, nm, &mnum);
  }
  if (!rc)
    say(rp, 0,
        "repair: %d table(s) in L0 (%d salvaged), %d file(s) moved to lost/, %d WAL(s) kept "
        "(%d rewritten), last_seq=%" PRIu64 ", MANIFEST-%06" PRIu64,
        rp->kept, rp->salvaged, rp->lost_files, rp->wals, rp->wals_rewritten, rp->last_seq, mnum);
  if (rp->v) version_unref(rp->v);
  free(tables);
  free(logs);
  free(manifests);
  free(temps);
  return rc;
}

int db_repair(io_ctx *io, const char *path, const shale_comparator *cmp, repair_report_fn report,
              void *arg, char *errmsg) {
  struct stat st;
  if (stat(path, &st)) {
    int e = errno;
    return err_set(errmsg, e == ENOENT ? SHALE_NOTFOUND : err_errno(NULL, e, "", ""),
                   "cannot open DB directory %s: %s", path, strerror(e));
  }
  if (!S_ISDIR(st.st_mode)) return err_set(errmsg, SHALE_INVALID, "%s is not a directory", path);
  /* Repair moves what it cannot read to lost/: in another store's directory that is all. */
  int lock_fd, rc = db_dir_check(io, path, errmsg);
  if (rc || (rc = try_lock(io, path, &lock_fd, errmsg))) return rc;
  repair rp = {.io = io, .db = path, .report = report, .arg = arg, .errmsg = errmsg, .cmp = cmp};
  snprintf(rp.lost, sizeof rp.lost, "%s/lost", path);
  /* The spans a close kept describe a state repair is about to change: they must go before
   * anything else does, or the next open could take back spans the repair made wrong. */
  rc = span_store_remove(io, path, errmsg);
  if (!rc) rc = repair_locked(&rp);
  close(lock_fd);
  return rc;
}

/* The DB's LOG as shale_repair appends to it. */
typedef struct repair_log {
  io_ctx *io;
  int fd; /* -1: no LOG */
  char path[FILENAME_MAX_LEN];
} repair_log;

/* shale_repair keeps the account in the DB's LOG, as LevelDB's RepairDB does in its. */
static void to_log(void *arg, int warning, const char *line) {
  repair_log *log = arg;
  char text[2 * ERRMSG_SIZE + 600];
  int n = snprintf(text, sizeof text, "repair: %s%s\n", warning ? "warning: " : "", line);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
  if (log->fd >= 0) io_append(log->io, log->fd, log->path, text, len, NULL);
}

int shale_repair(const char *path, const shale_options *o) {
  char *msg = db_handleless_errmsg();
  msg[0] = 0;
  if (!path || !*path) return err_set(msg, SHALE_INVALID, "path must not be NULL or empty");
  const shale_comparator *cmp =
      o && o->size > offsetof(shale_options, comparator) ? o->comparator : NULL;
  if (cmp && comparator_check(cmp, msg)) return SHALE_INVALID;
  if (strlen(path) > FILENAME_MAX_LEN - 64) return err_set(msg, SHALE_INVALID, "path too long");
  const shale_env *env = o && o->size > offsetof(shale_options, env) ? o->env : NULL;
  if (io_env_check(env, msg)) return SHALE_INVALID;
  io_ctx io;
  io_ctx_init(&io, env, 0, 1); /* as io_ctx_default(), which it replaces */
  repair_log log = {.io = &io, .fd = -1};
  filename_join(log.path, path, "LOG");
  uint64_t size;
  if (db_dir_check(&io, path, NULL) == SHALE_OK && access(path, F_OK) == 0 &&
      io_append_open(&io, log.path, 0, &log.fd, &size, NULL))
    log.fd = -1;
  int rc = db_repair(&io, path, cmp, to_log, &log, msg);
  if (log.fd >= 0) close(log.fd);
  return rc;
}
