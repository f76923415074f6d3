/* level_iter.c — one iterator over a whole level >= 1. Its files are disjoint and sorted, so
 * it opens only the file under the cursor: creating an iterator costs one child per level,
 * not one per file, and a seek reads one table. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/range_dels.h"
#include "engine/merge_iter.h"
#include "engine/level_iter.h"
#include "sstable/sst_reader.h"
#include "util/ikey.h"

typedef struct level_iter {
  kv_iter base;
  shale_db *db;
  file_meta **files; /* borrowed from the version the iterator's view holds */
  int n, cur;        /* cur: index of the open file, -1 if none */
  uint64_t max_seq;  /* over every file of the level */
  sst_reader *r;
  sst_iter *it;
  unsigned read_flags; /* SST_READ_* for each file's iterator */
  int status;
} level_iter;

/* Publishes the open file's position as the level's own (see struct kv_iter). */
static void show(level_iter *l) {
  l->base.key = l->it && sst_iter_valid(l->it) ? sst_iter_key(l->it, &l->base.klen) : NULL;
}

static void close_file(level_iter *l) {
  l->base.key = NULL;
  if (l->it) sst_iter_free(l->it);
  if (l->r) table_cache_release(l->db->tcache, l->r);
  l->it = NULL;
  l->r = NULL;
  l->cur = -1;
}

/* Records a failure the iterator meets, with what went wrong in which table, as the DB's
 * last error: an iterator's status is a bare code, and shale_errmsg is where its caller looks
 * for the rest. */
static void fail(level_iter *l, int rc, uint64_t number, const char *detail) {
  char msg[ERRMSG_SIZE];
  if (detail && *detail)
    snprintf(msg, sizeof msg, "%s", detail);
  else
    snprintf(msg, sizeof msg, "table %06llu.sst: %s", (unsigned long long)number,
             shale_strerror(rc));
  l->status = rc;
  db_fail(l->db, rc, msg);
}

static int open_file(level_iter *l, int i) {
  if (i == l->cur && l->it) return 1;
  close_file(l);
  if (i < 0 || i >= l->n) return 0;
  char errmsg[ERRMSG_SIZE] = "";
  int rc = table_cache_get(l->db->tcache, l->files[i]->number, &l->r, errmsg);
  if (!rc && (rc = sst_iter_new(l->r, &l->it))) {
    table_cache_release(l->db->tcache, l->r);
    l->r = NULL;
  }
  if (!rc) sst_iter_set_flags(l->it, l->read_flags);
  if (rc) {
    fail(l, rc, l->files[i]->number, errmsg);
    return 0;
  }
  l->cur = i;
  return 1;
}

/* Leaves the cursor on a valid entry, moving across files in direction dir. */
static void skip_empty(level_iter *l, int dir) {
  while (l->it && !sst_iter_valid(l->it)) {
    if (sst_iter_status(l->it)) {
      fail(l, sst_iter_status(l->it), l->files[l->cur]->number, sst_iter_errmsg(l->it));
      close_file(l);
      return;
    }
    if (!open_file(l, l->cur + dir)) return;
    if (dir > 0)
      sst_iter_seek_first(l->it);
    else
      sst_iter_seek_last(l->it);
  }
}

static void li_seek_first(kv_iter *i) {
  level_iter *l = (level_iter *)i;
  if (open_file(l, 0)) sst_iter_seek_first(l->it);
  skip_empty(l, 1);
  show(l);
}

static void li_seek_last(kv_iter *i) {
  level_iter *l = (level_iter *)i;
  if (open_file(l, l->n - 1)) sst_iter_seek_last(l->it);
  skip_empty(l, -1);
  show(l);
}

static void li_seek(kv_iter *i, const uint8_t *k, size_t len) {
  level_iter *l = (level_iter *)i;
  int lo = 0, hi = l->n;
  while (lo < hi) { /* first file whose largest >= k */
    int mid = (lo + hi) / 2;
    const buf *lg = &l->files[mid]->largest;
    if (ikey_cmp(l->db->cmp, lg->data, lg->len, k, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == l->n) {
    close_file(l);
    return;
  }
  if (open_file(l, lo)) sst_iter_seek(l->it, k, len);
  skip_empty(l, 1);
  show(l);
}

/* A step within a file, the common case, costs no call to skip_empty. */
static void li_next(kv_iter *i) {
  level_iter *l = (level_iter *)i;
  if ((l->base.key = sst_iter_next_key(l->it, &l->base.klen))) return;
  skip_empty(l, 1);
  show(l);
}

static void li_prev(kv_iter *i) {
  level_iter *l = (level_iter *)i;
  sst_iter_prev(l->it);
  if (!sst_iter_valid(l->it)) skip_empty(l, -1);
  show(l);
}

static const void *li_value(const kv_iter *i, size_t *n) {
  return sst_iter_value(((const level_iter *)i)->it, n);
}
static int li_status(const kv_iter *i) { return ((const level_iter *)i)->status; }
static uint64_t li_max_seq(const kv_iter *i) { return ((const level_iter *)i)->max_seq; }
static void li_destroy(kv_iter *i) {
  close_file((level_iter *)i);
  free(i);
}

static const kv_iter_ops level_ops = {li_seek_first, li_seek_last, li_seek,  kv_seek_before_by_seek,
                                      li_next,       li_prev,      li_value, li_status,
                                      li_destroy,    li_max_seq,   NULL};

/* Range tombstones are gathered up front, from the files that have any. */
static int collect_range_dels(shale_db *db, file_meta **files, int n, uint64_t seq,
                              range_dels *rdels, char *errmsg) {
  for (int i = 0; i < n; i++) {
    if (!files[i]->range_tombstones) continue;
    sst_reader *r;
    int rc = table_cache_get(db->tcache, files[i]->number, &r, errmsg);
    if (rc) return rc;
    const sst_range_del *d;
    size_t nd = sst_reader_range_dels(r, &d);
    for (size_t j = 0; j < nd && !rc; j++)
      if (d[j].seq <= seq)
        rc = range_dels_add(rdels, d[j].begin, d[j].blen, d[j].end, d[j].elen, d[j].seq,
                            d[j].time_us);
    table_cache_release(db->tcache, r);
    if (rc) return err_set(errmsg, rc, "out of memory collecting range tombstones");
  }
  return SHALE_OK;
}

int level_kv_new(shale_db *db, file_meta **files, int n, uint64_t seq, unsigned read_flags,
                 kv_iter **out, range_dels *rdels, char *errmsg) {
  *out = NULL;
  int rc = collect_range_dels(db, files, n, seq, rdels, errmsg);
  if (rc) return rc;
  level_iter *l = calloc(1, sizeof *l);
  if (!l) return err_set(errmsg, SHALE_NOMEM, "out of memory creating a level iterator");
  l->base.ops = &level_ops;
  l->db = db;
  l->files = files;
  l->n = n;
  l->cur = -1;
  l->read_flags = read_flags;
  for (int i = 0; i < n; i++)
    if (files[i]->max_seq > l->max_seq) l->max_seq = files[i]->max_seq;
  *out = &l->base;
  return SHALE_OK;
}
