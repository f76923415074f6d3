/* table_get.c — the SSTable half of reads: point lookups over a version (L0 newest first,
 * then one file per deeper level) and the table iterators an iterator merges. A table is
 * skipped when the key is outside its range, when every entry in it is newer than the read,
 * or when a range tombstone already found is newer than all of it (then nothing deeper can
 * matter either). */
#include <stdlib.h>
#include <string.h>

#include "engine/lookup.h"
#include "engine/range_dels.h"
#include "engine/table_get.h"
#include "sstable/sst_reader.h"
#include "util/ikey.h"

/* Returns 1 when the lookup is decided by this table or must stop here. */
static int file_lookup(shale_db *db, file_meta *f, lookup *lk) {
  if (lk->cover_seq > f->max_seq) return lookup_deleted(lk); /* all of it is older */
  if (f->min_seq > lk->seq) return 0;                        /* all of it is newer */
  sst_reader *r;
  int rc = table_cache_get(db->tcache, f->number, &r, lk->errmsg);
  if (rc) {
    lk->rc = rc;
    return 1;
  }
  if (f->range_tombstones) {
    uint64_t c = sst_reader_range_cover(r, lk->key, lk->klen, lk->seq);
    if (c > lk->cover_seq) lk->cover_seq = c;
  }
  unsigned kind;
  uint64_t found;
  sst_get g = {.flags = lk->read_flags, .buf = lk->buf, .cap = lk->cap};
  if (!lk->into_buf) g.val = lk->val;
  rc = sst_reader_get_ex(r, lk->key, lk->klen, lk->seq, &g, &kind, lk->vlen, &found, lk->errmsg);
  lk->bloom_useful += (uint64_t)g.bloom_useful;
  table_cache_release(db->tcache, r);
  if (rc < 0) {
    lk->rc = rc;
    return 1;
  }
  if (rc == 0) return lk->cover_seq ? lookup_deleted(lk) : 0;
  /* Covered only by a strictly newer tombstone, as in mem_lookup and range_dels_covers; a
   * value compacted to the bottom may carry sequence 0. */
  if (kind == KIND_PUT && found >= lk->cover_seq) {
    lk->rc = SHALE_OK;
    return 1;
  }
  if (!lk->into_buf && lk->val && *lk->val) {
    free(*lk->val);
    *lk->val = NULL;
  }
  if (lk->vlen) *lk->vlen = 0;
  return lookup_deleted(lk);
}

/* Deeper levels hold disjoint files sorted by key: binary search for the one that may hold
 * the key. */
file_meta *level_find(version *v, int level, const void *key, size_t klen) {
  /* A file whose clipped range tombstone ends at `key` has largest (key, SEQ_MAX, RANGE_DEL);
   * that end is exclusive, so such a file must not capture the lookup of `key`. */
  int lo = 0, hi = v->nfiles[level];
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    file_meta *f = v->files[level][mid];
    const uint8_t *lg = f->largest.data;
    size_t ll = f->largest.len - IKEY_TRAILER;
    int c = ukey_cmp(v->cmp, lg, ll, key, klen);
    if (c == 0 && get_fixed64(lg + ll) == ikey_pack(SEQ_MAX, KIND_RANGE_DEL)) c = -1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == v->nfiles[level]) return NULL;
  file_meta *f = v->files[level][lo];
  return file_meta_spans_key(f, v->cmp, key, klen) ? f : NULL;
}

int tables_lookup(shale_db *db, version *v, lookup *lk) {
  for (int i = 0; i < v->nfiles[0]; i++) {
    file_meta *f = v->files[0][i];
    if (file_meta_spans_key(f, v->cmp, lk->key, lk->klen) && file_lookup(db, f, lk)) return lk->rc;
  }
  for (int l = 1; l < NUM_LEVELS; l++) {
    file_meta *f = level_find(v, l, lk->key, lk->klen);
    if (f && file_lookup(db, f, lk)) return lk->rc;
  }
  if (lk->cover_seq) lookup_deleted(lk);
  return lk->rc;
}

/* ---- table iterators ---- */

typedef struct table_kv {
  kv_iter base;
  uint64_t max_seq;
  shale_db *db;
  sst_reader *r;
  sst_iter *it;
} table_kv;

#define TI(i) (((table_kv *)(i))->it)
/* Publishes the table's position (see struct kv_iter). */
static void tk_show(kv_iter *i) {
  i->key = sst_iter_valid(TI(i)) ? sst_iter_key(TI(i), &i->klen) : NULL;
}
static void tk_seek_first(kv_iter *i) {
  sst_iter_seek_first(TI(i));
  tk_show(i);
}
static void tk_seek_last(kv_iter *i) {
  sst_iter_seek_last(TI(i));
  tk_show(i);
}
static void tk_seek(kv_iter *i, const uint8_t *k, size_t l) {
  sst_iter_seek(TI(i), k, l);
  tk_show(i);
}
static void tk_next(kv_iter *i) {
  sst_iter_next(TI(i));
  tk_show(i);
}
static void tk_prev(kv_iter *i) {
  sst_iter_prev(TI(i));
  tk_show(i);
}
static const void *tk_value(const kv_iter *i, size_t *l) { return sst_iter_value(TI(i), l); }
static int tk_status(const kv_iter *i) { return sst_iter_status(TI(i)); }
static uint64_t tk_max_seq(const kv_iter *i) { return ((const table_kv *)i)->max_seq; }
static void tk_destroy(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  sst_iter_free(t->it);
  table_cache_release(t->db->tcache, t->r);
  free(t);
}
static const kv_iter_ops table_ops = {tk_seek_first, tk_seek_last, tk_seek,  kv_seek_before_by_seek,
                                      tk_next,       tk_prev,      tk_value, tk_status,
                                      tk_destroy,    tk_max_seq};

int table_kv_new(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags, kv_iter **out,
                 range_dels *rdels, char *errmsg) {
  table_kv *t = calloc(1, sizeof *t);
  if (!t) return err_set(errmsg, SHALE_NOMEM, "out of memory opening a table iterator");
  t->base.ops = &table_ops;
  t->db = db;
  t->max_seq = f->max_seq;
  int rc = table_cache_get(db->tcache, f->number, &t->r, errmsg);
  if (rc) {
    free(t);
    return rc;
  }
  if ((rc = sst_iter_new(t->r, &t->it))) {
    table_cache_release(db->tcache, t->r);
    free(t);
    return err_set(errmsg, rc, "out of memory opening a table iterator");
  }
  sst_iter_set_flags(t->it, read_flags);
  const sst_range_del *d;
  size_t n = sst_reader_range_dels(t->r, &d);
  for (size_t i = 0; i < n && !rc; i++)
    if (d[i].seq <= seq)
      rc =
          range_dels_add(rdels, d[i].begin, d[i].blen, d[i].end, d[i].elen, d[i].seq, d[i].time_us);
  *out = &t->base;
  return rc;
}
