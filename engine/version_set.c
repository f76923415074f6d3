/* version_set.c — MANIFEST recovery and logging; see version_set.h. */
#include "engine/version_set.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/filename.h"
#include "io/io.h"
#include "shale.h"
#include "util/error.h"
#include "util/ikey.h"
#include "wal/wal_reader.h"

int vset_check_comparator(const version_set *vs, const shale_comparator *cmp, char *errmsg) {
  const char *have = vs->comparator[0] ? vs->comparator : BYTEWISE_COMPARATOR_NAME;
  const char *want = comparator_name(cmp);
  if (!strcmp(have, want)) return SHALE_OK;
  return err_set(errmsg, SHALE_INVALID,
                 "%s was created with comparator \"%s\" and cannot be opened with comparator "
                 "\"%s\" (shale_options.comparator%s)",
                 vs->dir, have, want, cmp ? "" : " is NULL: bytewise");
}

/* The current version's group. The lock guarding it is the DB's, which these functions do
 * not get: each says in its REQUIRES comment which lock it needs, and the engine-side
 * callers' SH_REQUIRES prove it (version_set.h). */
static inline vset_db_mu_state *vs_held(version_set *vs) { return &vs->under_db_mu; }

static void init_holding(version_set *vs, io_ctx *io, const char *dir, file_reaper *reaper,
                         version *v) {
  memset(vs, 0, sizeof *vs);
  vs->io = io;
  vs->dir = dir;
  vs->reaper = reaper;
  vs_held(vs)->current = v;
}

void vset_init(version_set *vs, io_ctx *io, const char *dir, file_reaper *reaper) {
  init_holding(vs, io, dir, reaper, version_new());
}

void vset_init_holding(version_set *vs, io_ctx *io, const char *dir, version *v) {
  version_ref(v);
  init_holding(vs, io, dir, NULL, v);
}

const version *vset_current_alone(version_set *vs) { return vs_held(vs)->current; }

void vset_close(version_set *vs) {
  if (vs->manifest) wal_writer_close(vs->manifest, NULL);
  vs->manifest = NULL;
  vset_db_mu_state *held = vs_held(vs);
  if (held->current) version_unref(held->current);
  held->current = NULL;
}

static int deleted_in(const version_edit *e, int level, uint64_t number) {
  for (int i = 0; i < e->ndeleted; i++)
    if (e->deleted[i].level == level && e->deleted[i].number == number) return 1;
  return 0;
}

int vset_apply(const version *base, const version_edit *e, file_reaper *reaper, version **out) {
  version *v = version_new();
  if (!v) return SHALE_NOMEM;
  v->cmp = base->cmp;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < base->nfiles[l]; i++) {
      file_meta *f = base->files[l][i];
      if (!deleted_in(e, l, f->number) && version_add_file(v, l, f)) goto nomem;
    }
  for (int i = 0; i < e->nadded; i++) {
    e->added[i].f->reaper = reaper;
    if (version_add_file(v, e->added[i].level, e->added[i].f)) goto nomem;
  }
  version_sort(v);
  *out = v;
  return SHALE_OK;
nomem:
  version_unref(v);
  return SHALE_NOMEM;
}

static int read_current(io_ctx *io, const char *dir, char *name, size_t n, int *exists,
                        char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, dir, "CURRENT");
  *exists = access(path, F_OK) == 0 || errno != ENOENT;
  if (!*exists) return SHALE_OK;
  buf b;
  buf_init(&b);
  int rc = io_read_file(io, path, &b, errmsg);
  if (!rc && (b.len < 2 || b.len >= n || b.data[b.len - 1] != '\n' || memchr(b.data, '/', b.len)))
    rc = err_corrupt(errmsg, "%s: malformed (expected a MANIFEST name and a newline)", path);
  if (!rc) {
    memcpy(name, b.data, b.len - 1);
    name[b.len - 1] = 0;
  }
  buf_free(&b);
  return rc;
}

static int replay_manifest(version_set *vs, const char *path, char *errmsg) {
  wal_reader *r;
  int rc = wal_reader_open(vs->io, path, WAL_READ_PARANOID, &r, errmsg);
  if (rc) return rc;
  const uint8_t *rec;
  size_t len;
  int records = 0;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    version_edit e;
    edit_init(&e);
    char detail[ERRMSG_SIZE];
    rc = edit_decode(&e, rec, len, detail);
    if (!rc && e.has_format && e.format_version > MANIFEST_FORMAT_VERSION)
      rc = err_set(detail, SHALE_CORRUPTION, "format version %u is newer than this build (%d)",
                   e.format_version, MANIFEST_FORMAT_VERSION);
    if (!rc && e.has_comparator) memcpy(vs->comparator, e.comparator, sizeof vs->comparator);
    version *v = NULL;
    if (!rc) rc = vset_apply(vs_held(vs)->current, &e, vs->reaper, &v);
    if (!rc) {
      version_unref(vs_held(vs)->current);
      vs_held(vs)->current = v;
      if (e.has_log) vs->log_number = e.log_number;
      if (e.has_next_file) vs->next_file = e.next_file;
      if (e.has_last_seq) vs->last_seq = e.last_seq;
      records++;
    } else {
      err_set(errmsg, rc, "%s record %d: %s", path, records, detail);
    }
    edit_free(&e);
    if (rc) break;
  }
  wal_reader_close(r);
  if (!rc && records == 0) rc = err_corrupt(errmsg, "%s holds no version edit", path);
  return rc < 0 ? rc : SHALE_OK;
}

/* What to do about a CURRENT or MANIFEST that cannot be used, appended to its error. */
static int suggest_repair(int rc, char *errmsg) {
  if (!errmsg) return rc;
  size_t n = strlen(errmsg);
  if (n < ERRMSG_SIZE)
    snprintf(errmsg + n, ERRMSG_SIZE - n,
             "; 'shale-ldb --db=DIR repair' rebuilds the MANIFEST from the tables (copy the "
             "directory aside first)");
  return rc;
}

int vset_recover(version_set *vs, int *exists, char *errmsg) {
  char name[256];
  int rc = read_current(vs->io, vs->dir, name, sizeof name, exists, errmsg);
  if (rc == SHALE_CORRUPTION) return suggest_repair(rc, errmsg);
  if (rc || !*exists) return rc;
  char path[FILENAME_MAX_LEN];
  filename_join(path, vs->dir, name);
  snprintf(vs->recovered_manifest, sizeof vs->recovered_manifest, "%s", name);
  struct stat st;
  int missing = stat(path, &st) != 0;
  if (missing && errno == ENOENT)
    return suggest_repair(
        err_corrupt(errmsg, "%s/CURRENT names %s, which does not exist", vs->dir, name), errmsg);
  vs->recovered_bytes = missing ? 0 : (uint64_t)st.st_size; /* the replay reports the error */
  rc = replay_manifest(vs, path, errmsg);
  return rc == SHALE_CORRUPTION ? suggest_repair(rc, errmsg) : rc;
}

uint64_t vset_recovered_manifest_number(const version_set *vs) {
  uint64_t n;
  return filename_parse(vs->recovered_manifest, &n) == FT_MANIFEST ? n : 0;
}

int vset_check_unchanged(const version_set *vs, int allow_growth, char *errmsg) {
  char name[256], path[FILENAME_MAX_LEN];
  int exists;
  int rc = read_current(vs->io, vs->dir, name, sizeof name, &exists, errmsg);
  if (rc) return rc;
  if (!exists || strcmp(name, vs->recovered_manifest))
    return err_set(errmsg, SHALE_BUSY, "%s/CURRENT moved on from %s during the open", vs->dir,
                   vs->recovered_manifest);
  filename_join(path, vs->dir, name);
  struct stat st;
  if (!allow_growth && (stat(path, &st) != 0 || (uint64_t)st.st_size != vs->recovered_bytes))
    return err_set(errmsg, SHALE_BUSY, "%s changed during the open", path);
  return SHALE_OK;
}

static void snapshot_edit(version_set *vs, uint64_t next_file, version_edit *e) {
  const version *cur = vs_held(vs)->current;
  edit_init(e);
  e->has_format = 1;
  e->format_version = MANIFEST_FORMAT_VERSION_BYTEWISE;
  if (cur->cmp) { /* bytewise stays version 1, which older builds read */
    e->format_version = MANIFEST_FORMAT_VERSION;
    e->has_comparator = 1;
    snprintf(e->comparator, sizeof e->comparator, "%s", cur->cmp->name);
  }
  e->has_log = e->has_next_file = e->has_last_seq = 1;
  e->log_number = vs->log_number;
  e->next_file = next_file;
  e->last_seq = vs->last_seq;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < cur->nfiles[l]; i++) edit_add_file(e, l, cur->files[l][i]);
}

int vset_write_snapshot(version_set *vs, uint64_t number, uint64_t next_file, char *errmsg) {
  char path[FILENAME_MAX_LEN], name[64];
  filename_manifest(path, vs->dir, number);
  wal_writer *w;
  int rc = wal_writer_open(vs->io, path, number, &w, errmsg);
  if (rc) return rc;
  version_edit e;
  snapshot_edit(vs, next_file, &e);
  buf b;
  buf_init(&b);
  edit_encode(&e, &b);
  edit_free(&e);
  rc = buf_ok(&b) ? wal_writer_add(w, b.data, b.len, errmsg)
                  : err_set(errmsg, SHALE_NOMEM, "out of memory encoding the MANIFEST");
  buf_free(&b);
  if (!rc) rc = wal_writer_sync(w, errmsg);
  if (!rc) rc = io_sync_dir(vs->io, vs->dir, errmsg);
  snprintf(name, sizeof name, "MANIFEST-%06llu\n", (unsigned long long)number);
  int current_tried = 0;
  if (!rc) io_point(vs->io, NULL, SHALE_POINT_MANIFEST_WRITTEN);
  if (!rc) {
    current_tried = 1;
    rc = io_write_file_atomic(vs->io, vs->dir, "CURRENT", name, strlen(name), errmsg);
  }
  if (rc) {
    wal_writer_close(w, NULL);
    /* Once CURRENT's rename may have happened it may name this file: keep it (the next
     * open removes whichever MANIFEST CURRENT does not name). */
    if (!current_tried) io_remove(vs->io, path, NULL);
    return rc;
  }
  uint64_t old = vs->manifest_number;
  if (vs->manifest) wal_writer_close(vs->manifest, NULL);
  vs->manifest = w;
  vs->manifest_number = number;
  if (old && old != number) {
    filename_manifest(path, vs->dir, old);
    io_remove(vs->io, path, NULL);
  }
  return SHALE_OK;
}

void vset_set_last_seq(version_set *vs, uint64_t last_seq) { vs->last_seq = last_seq; }

void vset_set_log_number(version_set *vs, uint64_t log_number) { vs->log_number = log_number; }

int vset_log_and_apply(version_set *vs, version_edit *e, uint64_t next_file, uint64_t last_seq,
                       version **out, char *errmsg) {
  vs->last_seq = last_seq;
  /* A flush sets its own log number; vs keeps the old one until the edit is installed, so
   * a failed edit never leaks its log number into a later one (which would retire WALs
   * whose data is in no table). */
  if (!e->has_log) e->log_number = vs->log_number;
  e->has_log = e->has_next_file = e->has_last_seq = 1;
  e->next_file = next_file;
  e->last_seq = vs->last_seq;
  version *v;
  int rc = vset_apply(vs_held(vs)->current, e, vs->reaper, &v);
  if (rc) return err_set(errmsg, rc, "out of memory applying a version edit");
  buf b;
  buf_init(&b);
  edit_encode(e, &b);
  rc = buf_ok(&b) ? wal_writer_add(vs->manifest, b.data, b.len, errmsg)
                  : err_set(errmsg, SHALE_NOMEM, "out of memory encoding a version edit");
  buf_free(&b);
  if (!rc) rc = wal_writer_sync(vs->manifest, errmsg);
  if (rc) {
    version_unref(v);
    return rc;
  }
  *out = v;
  return SHALE_OK;
}

void vset_install(version_set *vs, const version_edit *e, version *v) {
  vset_db_mu_state *held = vs_held(vs);
  for (int i = 0; i < e->ndeleted; i++) {
    int l = e->deleted[i].level;
    for (int j = 0; j < held->current->nfiles[l]; j++)
      if (held->current->files[l][j]->number == e->deleted[i].number &&
          !version_has_file(v, l, e->deleted[i].number))
        atomic_store(&held->current->files[l][j]->obsolete, 1);
  }
  version_unref(held->current);
  held->current = v;
  if (e->has_log && e->log_number > vs->log_number) vs->log_number = e->log_number;
}

int version_has_file(const version *v, int level, uint64_t number) {
  for (int i = 0; i < v->nfiles[level]; i++)
    if (v->files[level][i]->number == number) return 1;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; l != level && i < v->nfiles[l]; i++)
      if (v->files[l][i]->number == number) return 1;
  return 0;
}
