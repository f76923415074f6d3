/* batch.c — shale_batch and the batch rep: encode, merge into write groups, decode for
 * memtable insertion and WAL replay. */
#include "engine/batch.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/ikey.h"

void batch_rep_add(buf *rep, unsigned kind, const void *key, size_t klen, const void *val,
                   size_t vlen) {
  buf_append_byte(rep, (uint8_t)kind);
  buf_append_slice(rep, key, klen);
  if (kind != KIND_DEL) buf_append_slice(rep, val, vlen);
  if (buf_ok(rep)) put_fixed32(rep->data + 8, batch_rep_count(rep->data) + 1);
}

void batch_rep_set_seq(uint8_t *rep, uint64_t seq) { put_fixed64(rep, seq); }

void batch_rep_append(buf *dst, const uint8_t *src, size_t srclen) {
  buf_append(dst, src + BATCH_HEADER, srclen - BATCH_HEADER);
  if (buf_ok(dst)) put_fixed32(dst->data + 8, batch_rep_count(dst->data) + batch_rep_count(src));
}

typedef struct rec {
  unsigned kind;
  const uint8_t *key, *val;
  uint64_t klen, vlen;
} rec;

static const uint8_t *decode_rec(const uint8_t *p, const uint8_t *end, rec *r) {
  if (p >= end) return NULL;
  r->kind = *p++;
  if (r->kind != KIND_PUT && r->kind != KIND_DEL && r->kind != KIND_RANGE_DEL) return NULL;
  if (!(p = get_varint64(p, end, &r->klen)) || r->klen > (uint64_t)(end - p)) return NULL;
  r->key = p;
  p += r->klen;
  r->val = NULL;
  r->vlen = 0;
  if (r->kind == KIND_DEL) return p;
  if (!(p = get_varint64(p, end, &r->vlen)) || r->vlen > (uint64_t)(end - p)) return NULL;
  r->val = p;
  return p + r->vlen;
}

static int rep_valid(const uint8_t *rep, size_t len) {
  if (len < BATCH_HEADER) return 0;
  const uint8_t *p = rep + BATCH_HEADER, *end = rep + len;
  uint32_t n = batch_rep_count(rep);
  rec r;
  for (uint32_t i = 0; i < n; i++)
    if (!(p = decode_rec(p, end, &r))) return 0;
  return p == end;
}

int batch_rep_iterate(const uint8_t *rep, size_t len, batch_visit_fn fn, void *arg) {
  if (!rep_valid(rep, len)) return SHALE_CORRUPTION;
  const uint8_t *p = rep + BATCH_HEADER, *end = rep + len;
  uint64_t seq = batch_rep_seq(rep);
  uint32_t n = batch_rep_count(rep);
  rec r;
  for (uint32_t i = 0; i < n; i++, seq++) {
    p = decode_rec(p, end, &r);
    int rc = fn(arg, seq, r.kind, r.key, r.klen, r.val, r.vlen);
    if (rc) return rc;
  }
  return SHALE_OK;
}

/* ---- public API ---- */

static int key_ok(const void *key, size_t klen) {
  return (key || !klen) && klen <= SHALE_MAX_KEY_SIZE; /* NULL with 0: the empty key */
}

int shale_batch_new(shale_batch **b) {
  if (!b) return SHALE_INVALID;
  *b = calloc(1, sizeof **b);
  if (!*b) return SHALE_NOMEM;
  buf_init(&(*b)->rep);
  shale_batch_clear(*b);
  if (!buf_ok(&(*b)->rep)) {
    shale_batch_free(*b);
    *b = NULL;
    return SHALE_NOMEM;
  }
  return SHALE_OK;
}

void shale_batch_clear(shale_batch *b) {
  if (!b) return;
  buf_clear(&b->rep);
  b->ranges = b->open_ranges = 0;
  uint8_t hdr[BATCH_HEADER] = {0};
  buf_append(&b->rep, hdr, sizeof hdr);
}

size_t shale_batch_count(const shale_batch *b) {
  return b && b->rep.len >= BATCH_HEADER ? batch_rep_count(b->rep.data) : 0;
}

void shale_batch_free(shale_batch *b) {
  if (!b) return;
  buf_free(&b->rep);
  free(b);
}

/* A failed append leaves the batch as it was, so a caller can handle NOMEM and go on. */
static int add(shale_batch *b, unsigned kind, const void *k, size_t kl, const void *v, size_t vl) {
  size_t old_len = b->rep.len;
  uint32_t old_count = batch_rep_count(b->rep.data);
  batch_rep_add(&b->rep, kind, k, kl, v, vl);
  if (buf_ok(&b->rep)) return SHALE_OK;
  b->rep.failed = 0;
  b->rep.len = old_len;
  put_fixed32(b->rep.data + 8, old_count);
  return SHALE_NOMEM;
}

int shale_batch_put(shale_batch *b, const void *key, size_t klen, const void *val, size_t vlen) {
  if (!b || !key_ok(key, klen) || (!val && vlen) || vlen > SHALE_MAX_VALUE_SIZE)
    return SHALE_INVALID;
  return add(b, KIND_PUT, key, klen, val, vlen);
}

int shale_batch_delete(shale_batch *b, const void *key, size_t klen) {
  if (!b || !key_ok(key, klen)) return SHALE_INVALID;
  return add(b, KIND_DEL, key, klen, NULL, 0);
}

static int bound_ok(const void *key, size_t klen) { return key ? key_ok(key, klen) : !klen; }

/* Open ends need no new kind of record, so every reader of range tombstones (memtables,
 * tables, compaction, iterators, shale-ldb) takes them as they are. No key is below the
 * empty key: it is an exact open begin. (Before empty keys were allowed an open begin was
 * stored as "\0"; such tombstones stay right, as no empty key was written then.) No key
 * is above every key, but only one key is above or at SHALE_MAX_KEY_SIZE bytes of 0xFF,
 * that key itself: an open end is a range to it plus a point delete of it, in the same
 * atomic rep. */
int batch_rep_add_range(buf *rep, const shale_comparator *cmp, int check_order, const void *begin,
                        size_t blen, const void *end, size_t elen) {
  if (!bound_ok(begin, blen) || !bound_ok(end, elen)) return SHALE_INVALID;
  if (check_order && cmp && (!begin || !end)) return SHALE_NOTSUP; /* no known first or last */
  if (!begin) begin = "", blen = 0;
  if (end) {
    if (check_order ? ukey_cmp(cmp, begin, blen, end, elen) >= 0
                    : blen == elen && !memcmp(begin, end, blen))
      return SHALE_INVALID;
    batch_rep_add(rep, KIND_RANGE_DEL, begin, blen, end, elen);
    return buf_ok(rep) ? SHALE_OK : SHALE_NOMEM;
  }
  uint8_t *top = malloc(SHALE_MAX_KEY_SIZE);
  if (!top) return SHALE_NOMEM;
  memset(top, 0xFF, SHALE_MAX_KEY_SIZE);
  if (ukey_compare(begin, blen, top, SHALE_MAX_KEY_SIZE) < 0)
    batch_rep_add(rep, KIND_RANGE_DEL, begin, blen, top, SHALE_MAX_KEY_SIZE);
  batch_rep_add(rep, KIND_DEL, top, SHALE_MAX_KEY_SIZE, NULL, 0);
  free(top);
  return buf_ok(rep) ? SHALE_OK : SHALE_NOMEM;
}

static int range_in_order(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                          const void *val, size_t vlen) {
  (void)seq;
  if (kind != KIND_RANGE_DEL) return SHALE_OK;
  return ukey_cmp(arg, key, klen, val, vlen) < 0 ? SHALE_OK : SHALE_INVALID;
}

int batch_rep_check_ranges(const uint8_t *rep, size_t len, const shale_comparator *cmp) {
  return batch_rep_iterate(rep, len, range_in_order, (void *)cmp);
}

int shale_batch_delete_range(shale_batch *b, const void *begin, size_t blen, const void *end,
                             size_t elen) {
  if (!b) return SHALE_INVALID;
  size_t old_len = b->rep.len;
  uint32_t old_count = batch_rep_count(b->rep.data);
  int rc = batch_rep_add_range(&b->rep, NULL, 0, begin, blen, end, elen);
  if (!rc) {
    b->ranges++;
    b->open_ranges += !begin || !end;
  }
  if (rc == SHALE_NOMEM) { /* as add(): the batch stays as it was */
    b->rep.failed = 0;
    b->rep.len = old_len;
    put_fixed32(b->rep.data + 8, old_count);
  }
  return rc;
}

typedef struct visit {
  shale_batch_visitor fn;
  void *arg;
} visit;

static int visit_rec(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                     const void *val, size_t vlen) {
  (void)seq; /* the public walk gives the batch's first sequence once, at shale_updates_next */
  visit *v = arg;
  int op = kind == KIND_PUT   ? SHALE_OP_PUT
           : kind == KIND_DEL ? SHALE_OP_DELETE
                              : SHALE_OP_DELETE_RANGE;
  return v->fn(v->arg, op, key, klen, kind == KIND_DEL ? NULL : val, vlen);
}

int shale_batch_iterate(const shale_batch *b, shale_batch_visitor fn, void *arg) {
  if (!b || !fn) return SHALE_INVALID;
  visit v = {fn, arg};
  return batch_rep_iterate(b->rep.data, b->rep.len, visit_rec, &v);
}
