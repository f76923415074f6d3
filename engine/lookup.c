/* lookup.c — deciding one point lookup: what the memtables and the tables report when they
 * find the key, so that each layer's search fills the lookup the same way. */
#include <stdlib.h>
#include <string.h>

#include "engine/lookup.h"

int lookup_deleted(lookup *lk) {
  lk->rc = SHALE_NOTFOUND;
  return 1;
}

int lookup_found_copy(lookup *lk, const void *v, size_t vlen) {
  if (lk->into_buf) {
    size_t n = vlen < lk->cap ? vlen : lk->cap;
    if (n) memcpy(lk->buf, v, n); /* buf may be NULL with cap 0 */
    *lk->vlen = vlen;
    lk->rc = SHALE_OK;
    return 1;
  }
  if (!lk->val) { /* existence check only */
    lk->rc = SHALE_OK;
    return 1;
  }
  void *copy = malloc(vlen ? vlen : 1);
  if (!copy) {
    lk->rc = SHALE_NOMEM;
    return 1;
  }
  memcpy(copy, v, vlen);
  *lk->val = copy;
  *lk->vlen = vlen;
  lk->rc = SHALE_OK;
  return 1;
}
