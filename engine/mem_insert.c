/* mem_insert.c — the batch-to-memtable callback; see mem_insert.h. */
#include "engine/mem_insert.h"

#include "util/buf.h"
#include "util/clock.h"
#include "util/ikey.h"

/* Extends the run of deletes in ascending key order, or starts a new one at key. */
static void note_delete(delete_run *r, const void *key, size_t klen) {
  if (!r->lo.len || ukey_compare(key, klen, r->last.data, r->last.len) <= 0) {
    buf_clear(&r->lo);
    buf_append(&r->lo, key, klen);
    r->count = 0;
  }
  buf_clear(&r->last);
  buf_append(&r->last, key, klen);
  r->count++;
  if (!buf_ok(&r->lo) || !buf_ok(&r->last)) buf_clear(&r->lo); /* forget the run */
}

/* c->cut is set only between dead_spans_cut_begin and _end (engine/write.c): the lock is
 * held whenever it is non-NULL, a tie between a field and a lock the analysis cannot see. */
static void cut_put(mem_insert *c, const void *key, size_t klen,
                    uint64_t seq) SH_NO_THREAD_SAFETY_ANALYSIS {
  dead_spans_cut(c->cut, key, klen, seq); /* failing drops all */
}

int mem_insert_record(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                      const void *val, size_t vlen) {
  mem_insert *c = arg;
  if (kind != KIND_PUT && !c->now_us) c->now_us = clock_wall_us(); /* only deletes carry time */
  c->deletes += kind == KIND_DEL;
  c->range_deletes += kind == KIND_RANGE_DEL;
  if (kind == KIND_DEL && c->run) note_delete(c->run, key, klen);
  if (kind == KIND_PUT && c->cut) cut_put(c, key, klen, seq);
  return memtable_add(c->mem, seq, kind, key, klen, val, vlen, kind == KIND_PUT ? 0 : c->now_us);
}
