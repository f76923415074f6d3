/* multi_get.c — shale_multi_get: many point reads against one read view at one sequence,
 * so the answers are a consistent snapshot across the keys (RocksDB's MultiGet). The keys
 * are visited in sorted order, so neighbouring keys find the same blocks cached. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/get.h"
#include "engine/statistics.h"
#include "engine/lookup.h"
#include "engine/options.h"
#include "engine/view_cache.h"
#include "util/ikey.h"

typedef struct mg_key {
  const void *key;
  size_t klen, index;
} mg_key;

static int mg_cmp(const void *a, const void *b, void *cmp) {
  const mg_key *x = a, *y = b;
  int c = ukey_cmp(cmp, x->key, x->klen, y->key, y->klen);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int key_ok(const void *key, size_t klen) {
  return (key || !klen) && klen <= SHALE_MAX_KEY_SIZE; /* NULL with 0: the empty key */
}

/* One multi_get: what every key is read with, and what the reads did. */
typedef struct mg_state {
  read_view *v;
  uint64_t seq;
  unsigned read_flags;
  read_counts counts;
  int first_err;
} mg_state;

/* Reads one key into its slots; returns its code, recording the first error's detail. */
static int read_one(shale_db *db, mg_state *st, const mg_key *k, void **vals, size_t *vlens) {
  size_t i = k->index;
  if (!key_ok(k->key, k->klen)) return SHALE_INVALID;
  lookup lk = {.key = k->key ? k->key : "",
               .klen = k->klen,
               .seq = st->seq,
               .val = &vals[i],
               .vlen = &vlens[i],
               .read_flags = st->read_flags};
  int rc = view_lookup(db, st->v, &lk);
  st->counts.keys++;
  st->counts.found += rc == SHALE_OK;
  st->counts.bytes += rc == SHALE_OK ? vlens[i] : 0;
  st->counts.bloom_useful += lk.bloom_useful;
  if (rc && rc != SHALE_NOTFOUND && !st->first_err) st->first_err = db_fail(db, rc, lk.errmsg);
  return rc;
}

static int multi_get_call(shale_db *db, const shale_read_options *ro, size_t n,
                          const void *const *keys, const size_t *klens, void **vals, size_t *vlens,
                          int *rcs) {
  if (n && (!keys || !klens || !vals || !vlens || !rcs))
    return db_fail(db, SHALE_INVALID, "multi_get: NULL keys, klens, vals, vlens or rcs");
  for (size_t i = 0; i < n; i++) vals[i] = NULL, vlens[i] = 0, rcs[i] = SHALE_INVALID;
  if (ro && ro->size < READ_OPTIONS_V1_SIZE)
    return db_fail(db, SHALE_INVALID, "shale_read_options.size: call shale_read_options_init");
  mg_key *order = malloc((n ? n : 1) * sizeof *order);
  if (!order) return db_fail(db, SHALE_NOMEM, "out of memory sorting multi_get keys");
  for (size_t i = 0; i < n; i++) order[i] = (mg_key){keys[i], klens[i], i};
  for (size_t i = 0; i < n; i++)
    if (!key_ok(keys[i], klens[i]) || !keys[i]) order[i].key = "", order[i].klen = 0;
  qsort_r(order, n, sizeof *order, mg_cmp, (void *)db->cmp);
  view_slot *slot;
  mg_state st = {.v = db_view_get(db, &slot), .read_flags = read_options_flags(ro)};
  /* After the view, as shale_get: the view holds everything written up to the sequence. */
  st.seq = ro && ro->snapshot ? ro->snapshot->seq
                              : atomic_load_explicit(&db->last_seq, memory_order_acquire);
  int invalid = 0;
  for (size_t j = 0; j < n; j++) {
    mg_key k = order[j];
    k.key = keys[k.index];
    k.klen = klens[k.index];
    rcs[k.index] = read_one(db, &st, &k, vals, vlens);
    invalid |= rcs[k.index] == SHALE_INVALID;
  }
  db_read_count(db, slot, &st.counts);
  db_view_put(db, slot, st.v);
  free(order);
  if (st.first_err) return st.first_err;
  return invalid ? db_fail(db, SHALE_INVALID, "multi_get: oversized key, or NULL key with a length")
                 : SHALE_OK;
}

int shale_multi_get(shale_db *db, const shale_read_options *ro, size_t n, const void *const *keys,
                    const size_t *klens, void **vals, size_t *vlens, int *rcs) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = multi_get_call(db, ro, n, keys, klens, vals, vlens, rcs);
  op_timer_stop(db, SHALE_HIST_GET, start);
  return db_call_end(db, rc);
}
