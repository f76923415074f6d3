/* iter_sources.c — component iterators for the public iterator; see iter_sources.h. */
#include "engine/iter_sources.h"
#include "engine/level_iter.h"
#include "engine/table_get.h"

#include <stdlib.h>
#include <string.h>

#include "util/ikey.h"

/* ---- memtable adaptor ---- */

typedef struct mem_kv {
  kv_iter base;
  memtable *m;
  memtable_iter it;
} mem_kv;

#define MK(p) (&((mem_kv *)(p))->it)
/* Publishes the memtable's position (see struct kv_iter); its keys stay put in the arena. */
static void mk_show(kv_iter *i) {
  i->key = memtable_iter_valid(MK(i)) ? memtable_iter_key(MK(i), &i->klen) : NULL;
}
static void mk_seek_first(kv_iter *i) {
  memtable_iter_seek_first(MK(i));
  mk_show(i);
}
static void mk_seek_last(kv_iter *i) {
  memtable_iter_seek_last(MK(i));
  mk_show(i);
}
static void mk_seek(kv_iter *i, const uint8_t *k, size_t l) {
  memtable_iter_seek(MK(i), k, l);
  mk_show(i);
}
static void mk_seek_before(kv_iter *i, const uint8_t *k, size_t l) {
  memtable_iter_seek_before(MK(i), k, l);
  mk_show(i);
}
static void mk_next(kv_iter *i) {
  memtable_iter_next(MK(i));
  mk_show(i);
}
static void mk_prev(kv_iter *i) {
  memtable_iter_prev(MK(i));
  mk_show(i);
}
static const void *mk_value(const kv_iter *i, size_t *l) { return memtable_iter_value(MK(i), l); }
static int mk_status(const kv_iter *i) {
  (void)i;
  return SHALE_OK;
}
static uint64_t mk_max_seq(const kv_iter *i) {
  memtable_stats st;
  memtable_get_stats(((const mem_kv *)i)->m, &st);
  return st.max_seq;
}
static void mk_destroy(kv_iter *i) {
  memtable_unref(((mem_kv *)i)->m);
  free(i);
}
static const kv_iter_ops mem_ops = {mk_seek_first, mk_seek_last, mk_seek,  mk_seek_before,
                                    mk_next,       mk_prev,      mk_value, mk_status,
                                    mk_destroy,    mk_max_seq,   NULL};

kv_iter *mem_kv_iter_new(memtable *m) {
  mem_kv *k = malloc(sizeof *k);
  if (!k) return NULL;
  k->base.ops = &mem_ops;
  k->base.key = NULL;
  k->base.unsettled = 0;
  k->m = m;
  memtable_ref(m);
  memtable_iter_init(&k->it, m);
  return &k->base;
}

static int collect_mem_range_dels(memtable *m, uint64_t seq, range_dels *r) {
  memtable_iter it;
  memtable_range_iter_init(&it, m);
  for (memtable_iter_seek_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
    size_t bl, el;
    const uint8_t *b = memtable_iter_key(&it, &bl);
    const void *e = memtable_iter_value(&it, &el);
    uint64_t s = ikey_seq(get_fixed64(b + bl - IKEY_TRAILER));
    if (s > seq) continue;
    int rc = range_dels_add(r, b, bl - IKEY_TRAILER, e, el, s, memtable_iter_time_us(&it));
    if (rc) return rc;
  }
  return SHALE_OK;
}

static int add_mem(memtable *m, uint64_t seq, kv_iter ***kids, int *n, int *cap, range_dels *r) {
  int rc = kv_iters_push(kids, n, cap, mem_kv_iter_new(m));
  return rc ? rc : collect_mem_range_dels(m, seq, r);
}

/* Adds the SSTable part: one iterator per L0 file and per level. */
static int iter_sources_tables(shale_db *db, read_view *v, uint64_t seq, unsigned read_flags,
                               kv_iter ***kids, int *n, int *cap, range_dels *rdels, char *errmsg) {
  version *ver = v->ver;
  for (int l = 0; l < NUM_LEVELS; l++) {
    int count = l == 0 ? ver->nfiles[0] : (ver->nfiles[l] ? 1 : 0);
    for (int i = 0; i < count; i++) {
      kv_iter *k = NULL;
      int rc =
          l == 0
              ? table_kv_new_deferred(db, ver->files[0][i], seq, read_flags, &k, rdels, errmsg)
              : level_kv_new(db, ver->files[l], ver->nfiles[l], seq, read_flags, &k, rdels, errmsg);
      if (k && kv_iters_push(kids, n, cap, k)) rc = err_set(errmsg, SHALE_NOMEM, "out of memory");
      if (rc) return rc;
    }
  }
  return SHALE_OK;
}

int iter_sources_build(shale_db *db, read_view *v, uint64_t seq, unsigned read_flags,
                       kv_iter **merged, range_dels *rdels, char *errmsg) {
  kv_iter **kids = NULL;
  int n = 0, cap = 0;
  rdels->cmp = db->cmp;
  int rc = add_mem(v->mem, seq, &kids, &n, &cap, rdels);
  memtable *m = v->imm;
  for (int i = 0; !rc && i < v->imm_count; i++, m = memtable_next(m))
    rc = add_mem(m, seq, &kids, &n, &cap, rdels);
  if (!rc && v->ver)
    rc = iter_sources_tables(db, v, seq, read_flags, &kids, &n, &cap, rdels, errmsg);
  if (!rc && !(*merged = merge_iter_new(db->cmp, kids, n))) rc = SHALE_NOMEM;
  if (rc) {
    for (int i = 0; i < n; i++) kids[i]->ops->destroy(kids[i]);
    free(kids);
    if (rc == SHALE_NOMEM) err_set(errmsg, rc, "out of memory creating an iterator");
  }
  return rc;
}
