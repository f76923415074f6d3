/* get.c — point reads. A get acquires a read view, then reads the published sequence, and
 * searches newest to oldest: the mutable memtable, the sealed chain, then the tables. The
 * first entry visible at the sequence decides; a tombstone (point, or a range tombstone
 * newer than the entry) ends the search, so older layers are never consulted. */
#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/lookup.h"
#include "memtable/mem_rdel.h"
#include "engine/options.h"
#include "engine/get.h"
#include "engine/statistics.h"
#include "engine/table_get.h"
#include "engine/view_cache.h"
#include "util/ikey.h"

/* Searches one memtable. Returns 1 when the search is decided (found or deleted). */
static int mem_lookup(memtable *m, lookup *lk) {
  /* one relaxed load when m holds no range tombstone: the common case stays this cheap */
  uint64_t cover = memtable_range_count(m) ? mem_rdel_cover(m, lk->key, lk->klen, lk->seq) : 0;
  if (cover > lk->cover_seq) lk->cover_seq = cover;
  unsigned kind;
  const void *v;
  size_t vlen;
  uint64_t found;
  if (!memtable_get(m, lk->key, lk->klen, lk->seq, &kind, &v, &vlen, &found))
    return lk->cover_seq ? lookup_deleted(lk) : 0;
  if (kind != KIND_PUT || found < lk->cover_seq) return lookup_deleted(lk);
  return lookup_found_copy(lk, v, vlen);
}

int view_lookup(shale_db *db, read_view *v, lookup *lk) {
  lk->rc = SHALE_NOTFOUND;
  if (mem_lookup(v->mem, lk)) return lk->rc;
  memtable *m = v->imm;
  for (int i = 0; i < v->imm_count; i++, m = memtable_next(m))
    if (mem_lookup(m, lk)) return lk->rc;
  if (v->ver) tables_lookup(db, v->ver, lk);
  return lk->rc;
}

/* Runs lk as of snap (NULL: the latest) on this thread's view, and counts it. */
static int get_run(shale_db *db, const shale_snapshot *snap, lookup *lk) {
  view_slot *slot;
  read_view *v = db_view_get(db, &slot);
  lk->seq = snap ? snap->seq : atomic_load_explicit(&db->last_seq, memory_order_acquire);
  int rc = view_lookup(db, v, lk);
  read_counts c = {1, rc == SHALE_OK, rc == SHALE_OK ? *lk->vlen : 0, lk->bloom_useful};
  db_read_count(db, slot, &c);
  db_view_put(db, slot, v);
  if (rc && rc != SHALE_NOTFOUND) return db_fail(db, rc, lk->errmsg);
  return rc;
}

static int key_ok(const void *key, size_t klen) {
  return (key || !klen) && klen <= SHALE_MAX_KEY_SIZE; /* NULL with 0: the empty key */
}

static int get_call(shale_db *db, const shale_snapshot *snap, const void *key, size_t klen,
                    void **val, size_t *vlen) {
  if (val) *val = NULL;
  if (vlen) *vlen = 0;
  if (!key_ok(key, klen) || !val || !vlen)
    return db_fail(db, SHALE_INVALID,
                   "get: oversized key, NULL key with a length, or NULL val/vlen");
  lookup lk = {.key = key ? key : "", .klen = klen, .val = val, .vlen = vlen};
  return get_run(db, snap, &lk);
}

static int get_opts_call(shale_db *db, const shale_read_options *ro, const void *key, size_t klen,
                         void *dst, size_t cap, size_t *vlen) {
  if (vlen) *vlen = 0;
  if (!key_ok(key, klen) || !vlen || (!dst && cap))
    return db_fail(db, SHALE_INVALID,
                   "get_opts: oversized key, NULL key with a length, NULL vlen, or NULL buf "
                   "with cap > 0");
  if (ro && ro->size < READ_OPTIONS_V1_SIZE)
    return db_fail(db, SHALE_INVALID, "shale_read_options.size: call shale_read_options_init");
  lookup lk = {.key = key ? key : "",
               .klen = klen,
               .vlen = vlen,
               .into_buf = 1,
               .buf = dst,
               .cap = cap,
               .read_flags = read_options_flags(ro)};
  return get_run(db, ro ? ro->snapshot : NULL, &lk);
}

int shale_get(shale_db *db, const shale_snapshot *snap, const void *key, size_t klen, void **val,
              size_t *vlen) {
  if (!db) {
    if (val) *val = NULL;
    if (vlen) *vlen = 0;
    return SHALE_INVALID;
  }
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = get_call(db, snap, key, klen, val, vlen);
  op_timer_stop(db, SHALE_HIST_GET, start);
  return db_call_end(db, rc);
}

int shale_get_opts(shale_db *db, const shale_read_options *ro, const void *key, size_t klen,
                   void *dst, size_t cap, size_t *vlen) {
  if (!db) {
    if (vlen) *vlen = 0;
    return SHALE_INVALID;
  }
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = get_opts_call(db, ro, key, klen, dst, cap, vlen);
  op_timer_stop(db, SHALE_HIST_GET, start);
  return db_call_end(db, rc);
}
