/* compact_range.c — shale_compact_range: flush, then push every file overlapping the range
 * down level by level to the deepest level that holds data, and finally rewrite that level's
 * files in the range in place, which purges every tombstone no snapshot needs. */
#include "engine/compaction.h"
#include "engine/compaction_job.h"
#include "engine/errmsg.h"

static int deepest_level(const version *v) {
  for (int l = NUM_LEVELS - 1; l > 0; l--)
    if (v->nfiles[l]) return l;
  return 0;
}

/* REQUIRES: the manual flag ours. */
static int compact_levels(shale_db *db, const void *b, size_t bl, const void *e, size_t el,
                          char *errmsg) SH_REQUIRES(db->mu) {
  int rc = SHALE_OK;
  for (int level = 0; !rc && level < NUM_LEVELS; level++) {
    int bottom = deepest_level(db_current_version(db));
    if (bottom == 0) bottom = 1; /* L0 data always moves to L1 */
    if (level > bottom) break;
    compaction c;
    int out = level < bottom ? level + 1 : level;
    int picked = compaction_pick_range(db, level, out, b, bl, e, el, &c);
    if (picked < 0) rc = err_set(errmsg, picked, "compact_range: out of memory");
    if (picked == 1) rc = compaction_run(db, &c, errmsg);
    compaction_free(&c);
  }
  return rc;
}

static int compact_range_call(shale_db *db, const void *begin, size_t blen, const void *end,
                              size_t elen) {
  if ((!begin && blen) || (!end && elen))
    return db_fail(db, SHALE_INVALID, "compact_range: NULL bound with a length");
  int rc = shale_flush(db);
  if (rc) return rc;
  char errmsg[ERRMSG_SIZE] = "";
  sh_mutex_lock(&db->mu);
  compaction_exclusive_begin(db);
  rc = db_mu_held(db)->bg_error ? SHALE_READONLY
                                : compact_levels(db, begin, blen, end, elen, errmsg);
  compaction_exclusive_end(db);
  sh_mutex_unlock(&db->mu);
  return rc ? db_fail(db, rc, errmsg) : SHALE_OK;
}

int shale_compact_range(shale_db *db, const void *begin, size_t blen, const void *end,
                        size_t elen) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, compact_range_call(db, begin, blen, end, elen));
}
