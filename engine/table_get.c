/* table_get.c — the SSTable half of reads: point lookups over a version (L0 newest first,
 * then one file per deeper level) and the table iterators an iterator merges. A table is
 * skipped when the key is outside its range, when every entry in it is newer than the read,
 * or when a range tombstone already found is newer than all of it (then nothing deeper can
 * matter either). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errmsg.h"
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

/* A read's table iterator (deferred) opens its reader at the first positioning that needs
 * the table's entries, not when the merge is built, and a seek answers from the table's
 * recorded bounds where they suffice: past the largest key there is nothing, and at or
 * before the smallest the first entry is the smallest key itself, so the iterator shows
 * that key and reads the table only when the merge moves it or asks for its value. A queue
 * pop builds an iterator over every L0 table and seeks to the head, which the tables
 * holding later keys sort after. A table with range tombstones opens at once, since the
 * merge needs them before any positioning. */
typedef struct table_kv {
  kv_iter base;
  uint64_t max_seq;
  shale_db *db;
  file_meta *f; /* borrowed from the version the iterator's view holds */
  unsigned read_flags;
  int defer;
  sst_reader *r; /* NULL until opened */
  sst_iter *it;
  int status; /* an open that failed, or a first key that is not f->smallest */
} table_kv;

static int tk_open_now(table_kv *t, char *errmsg) {
  int rc = table_cache_get(t->db->tcache, t->f->number, &t->r, errmsg);
  if (rc) return rc;
  if ((rc = sst_iter_new(t->r, &t->it))) {
    table_cache_release(t->db->tcache, t->r);
    t->r = NULL;
    return err_set(errmsg, rc, "out of memory opening a table iterator");
  }
  sst_iter_set_flags(t->it, t->read_flags);
  return SHALE_OK;
}

/* A failure is the iterator's status and the DB's last error. */
static void tk_fail(table_kv *t, int rc, const char *msg) {
  t->status = db_fail(t->db, rc, msg);
  t->base.key = NULL;
}

/* Opens on first use. */
static sst_iter *tk_opened(table_kv *t) {
  if (t->it || t->status) return t->it;
  char errmsg[ERRMSG_SIZE] = "";
  int rc = tk_open_now(t, errmsg);
  if (rc) tk_fail(t, rc, errmsg);
  return t->it;
}

/* Publishes the table's position (see struct kv_iter). */
static void tk_show(table_kv *t) {
  t->base.unsettled = 0;
  t->base.key =
      t->it && !t->status && sst_iter_valid(t->it) ? sst_iter_key(t->it, &t->base.klen) : NULL;
}

static void tk_show_smallest(table_kv *t) {
  t->base.unsettled = 1;
  t->base.key = t->f->smallest.data;
  t->base.klen = t->f->smallest.len;
}

/* Positions the table on the entry shown as f->smallest; the merge ordered it by that key,
 * so a table whose first key differs is reported, not read on. */
static void tk_settle_smallest(table_kv *t) {
  if (!t->base.unsettled) return;
  t->base.unsettled = 0;
  sst_iter *it = tk_opened(t);
  if (!it) return;
  sst_iter_seek_first(it);
  tk_show(t);
  const buf *sm = &t->f->smallest;
  if (t->base.key && t->base.klen == sm->len && !memcmp(t->base.key, sm->data, sm->len)) return;
  if (!sst_iter_status(it)) {
    char msg[ERRMSG_SIZE];
    snprintf(msg, sizeof msg,
             "table %06llu.sst: its first key is not the smallest key the "
             "MANIFEST records for it",
             (unsigned long long)t->f->number);
    tk_fail(t, SHALE_CORRUPTION, msg);
  }
}

static int tk_may_show_smallest(const table_kv *t) {
  return t->defer && !t->f->range_tombstones && t->f->smallest.len >= IKEY_TRAILER;
}

static void tk_seek_first(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  if (t->status) return;
  if (tk_may_show_smallest(t)) return tk_show_smallest(t);
  sst_iter *it = tk_opened(t);
  if (it) sst_iter_seek_first(it);
  tk_show(t);
}
static void tk_seek_last(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  sst_iter *it = tk_opened(t);
  if (it) sst_iter_seek_last(it);
  tk_show(t);
}
static void tk_seek(kv_iter *i, const uint8_t *k, size_t l) {
  table_kv *t = (table_kv *)i;
  if (t->status) return;
  t->base.unsettled = 0;
  const buf *lg = &t->f->largest, *sm = &t->f->smallest;
  if (!t->it && t->defer) { /* once open, a seek costs no more than these comparisons */
    if (ikey_cmp(t->db->cmp, lg->data, lg->len, k, l) < 0) { /* all before k */
      i->key = NULL;
      return;
    }
    if (tk_may_show_smallest(t) && ikey_cmp(t->db->cmp, k, l, sm->data, sm->len) <= 0)
      return tk_show_smallest(t);
  }
  sst_iter *it = tk_opened(t);
  if (it) sst_iter_seek(it, k, l);
  tk_show(t);
}
/* next and prev REQUIRE a valid position: the table is open, or shows its smallest key. */
static void tk_next(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  tk_settle_smallest(t);
  if (i->key) i->key = sst_iter_next_key(t->it, &i->klen);
}
static void tk_prev(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  if (i->unsettled) { /* before the first entry there is nothing: no need to read it */
    i->unsettled = 0;
    i->key = NULL;
    return;
  }
  sst_iter_prev(t->it);
  tk_show(t);
}
/* Asked only of a current child, which the merge settled first. */
static const void *tk_value(const kv_iter *i, size_t *l) {
  return sst_iter_value(((const table_kv *)i)->it, l);
}
static void tk_settle(kv_iter *i) { tk_settle_smallest((table_kv *)i); }
static int tk_status(const kv_iter *i) {
  const table_kv *t = (const table_kv *)i;
  return t->status ? t->status : t->it ? sst_iter_status(t->it) : SHALE_OK;
}
static uint64_t tk_max_seq(const kv_iter *i) { return ((const table_kv *)i)->max_seq; }
static void tk_destroy(kv_iter *i) {
  table_kv *t = (table_kv *)i;
  sst_iter_free(t->it);
  if (t->r) table_cache_release(t->db->tcache, t->r);
  free(t);
}
static const kv_iter_ops table_ops = {tk_seek_first, tk_seek_last, tk_seek,  kv_seek_before_by_seek,
                                      tk_next,       tk_prev,      tk_value, tk_status,
                                      tk_destroy,    tk_max_seq,   tk_settle};

static int add_range_dels(table_kv *t, uint64_t seq, range_dels *rdels) {
  const sst_range_del *d;
  size_t n = sst_reader_range_dels(t->r, &d);
  int rc = SHALE_OK;
  for (size_t i = 0; i < n && !rc; i++)
    if (d[i].seq <= seq)
      rc =
          range_dels_add(rdels, d[i].begin, d[i].blen, d[i].end, d[i].elen, d[i].seq, d[i].time_us);
  return rc;
}

static int tk_create(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags, int defer,
                     kv_iter **out, range_dels *rdels, char *errmsg) {
  *out = NULL;
  table_kv *t = calloc(1, sizeof *t);
  if (!t) return err_set(errmsg, SHALE_NOMEM, "out of memory opening a table iterator");
  t->base.ops = &table_ops;
  t->db = db;
  t->f = f;
  t->read_flags = read_flags;
  t->defer = defer;
  t->max_seq = f->max_seq;
  int rc = !defer || f->range_tombstones ? tk_open_now(t, errmsg) : SHALE_OK;
  if (rc) {
    free(t);
    return rc;
  }
  *out = &t->base;
  return t->r ? add_range_dels(t, seq, rdels) : SHALE_OK;
}

int table_kv_new(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags, kv_iter **out,
                 range_dels *rdels, char *errmsg) {
  return tk_create(db, f, seq, read_flags, 0, out, rdels, errmsg);
}

int table_kv_new_deferred(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags,
                          kv_iter **out, range_dels *rdels, char *errmsg) {
  return tk_create(db, f, seq, read_flags, 1, out, rdels, errmsg);
}
