/* approximate_sizes.c — shale_approximate_sizes: bytes on disk per key range over the live
 * tables, as LevelDB's GetApproximateSizes. The file metadata decides most tables (wholly
 * inside or outside a range); only a table a bound falls in opens its index. */
#include <string.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/read_view.h"
#include "engine/version.h"
#include "engine/view_cache.h"
#include "sstable/sst_approx.h"
#include "sstable/table_cache.h"
#include "util/ikey.h"

/* One range; a NULL bound is unbounded on that side. */
typedef struct approx_range {
  const void *begin, *end;
  size_t blen, elen;
} approx_range;

static size_t ukey_len(const buf *ikey) { return ikey->len - IKEY_TRAILER; }

/* The bytes of table f within rg, or an error (< 0) with the detail in errmsg. */
static int64_t file_bytes(shale_db *db, const file_meta *f, const approx_range *rg, char *errmsg) {
  const uint8_t *lo = f->smallest.data, *hi = f->largest.data;
  size_t lolen = ukey_len(&f->smallest), hilen = ukey_len(&f->largest);
  const shale_comparator *cmp = db->cmp;
  if (rg->end && ukey_cmp(cmp, lo, lolen, rg->end, rg->elen) >= 0) return 0;
  if (rg->begin && ukey_cmp(cmp, hi, hilen, rg->begin, rg->blen) < 0) return 0;
  int from_start = !rg->begin || ukey_cmp(cmp, lo, lolen, rg->begin, rg->blen) >= 0;
  int to_end = !rg->end || ukey_cmp(cmp, hi, hilen, rg->end, rg->elen) < 0;
  if (from_start && to_end) return (int64_t)f->file_size;
  sst_reader *r;
  int rc = table_cache_get(db->tcache, f->number, &r, errmsg);
  if (rc) return rc;
  uint64_t n = sst_approx_range_bytes(r, f->file_size, from_start ? NULL : rg->begin, rg->blen,
                                      to_end ? NULL : rg->end, rg->elen);
  table_cache_release(db->tcache, r);
  return (int64_t)n;
}

static int range_bytes(shale_db *db, const version *v, const approx_range *rg, uint64_t *out,
                       char *errmsg) {
  *out = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      int64_t n = file_bytes(db, v->files[l][i], rg, errmsg);
      if (n < 0) return (int)n;
      *out += (uint64_t)n;
    }
  return SHALE_OK;
}

static int bound_ok(const void *key, size_t klen) {
  return klen <= SHALE_MAX_KEY_SIZE && (key || !klen);
}

static int approximate_sizes_call(shale_db *db, size_t n, const void *const *begins,
                                  const size_t *blens, const void *const *ends, const size_t *elens,
                                  uint64_t *sizes) {
  if (n && (!begins || !blens || !ends || !elens || !sizes))
    return db_fail(db, SHALE_INVALID, "approximate_sizes: NULL array");
  for (size_t i = 0; i < n; i++) sizes[i] = 0;
  for (size_t i = 0; i < n; i++)
    if (!bound_ok(begins[i], blens[i]) || !bound_ok(ends[i], elens[i]))
      return db_fail(db, SHALE_INVALID,
                     "approximate_sizes: oversized bound, or NULL with a length");
  read_view *v = db_view_acquire(db);
  char errmsg[ERRMSG_SIZE] = "";
  int rc = SHALE_OK;
  for (size_t i = 0; i < n && !rc && v->ver; i++) {
    approx_range rg = {begins[i], ends[i], blens[i], elens[i]};
    rc = range_bytes(db, v->ver, &rg, &sizes[i], errmsg);
  }
  read_view_unref(v);
  if (rc)
    for (size_t i = 0; i < n; i++) sizes[i] = 0;
  return rc ? db_fail(db, rc, errmsg) : SHALE_OK;
}

int shale_approximate_sizes(shale_db *db, size_t n, const void *const *begins, const size_t *blens,
                            const void *const *ends, const size_t *elens, uint64_t *sizes) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, approximate_sizes_call(db, n, begins, blens, ends, elens, sizes));
}
