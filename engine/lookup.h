/* lookup.h — the state of one point lookup as it walks a read view newest to oldest, and
 * the calls that decide it. */
#ifndef SHALE_ENGINE_LOOKUP_H
#define SHALE_ENGINE_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/db_impl.h"
#include "engine/version.h"

typedef struct lookup {
  const void *key;
  size_t klen;
  uint64_t seq;       /* read at this sequence */
  uint64_t cover_seq; /* newest range tombstone covering key seen so far (0: none) */
  void **val;         /* NULL: only existence is wanted (or the value goes into buf) */
  size_t *vlen;
  /* shale_get_opts: the value's first min(cap, length) bytes go into buf, *vlen gets the
   * whole length, and nothing is allocated for it */
  int into_buf;
  void *buf;
  size_t cap;
  unsigned read_flags;   /* SST_READ_* for the tables' data blocks */
  uint64_t bloom_useful; /* tables whose filter ruled the key out */
  int rc;                /* SHALE_OK found, SHALE_NOTFOUND, or an error */
  char errmsg[ERRMSG_SIZE];
} lookup;

/* Decide the lookup: deleted, or found with a copy of v. Both return 1 ("decided"). */
int lookup_deleted(lookup *lk);
int lookup_found_copy(lookup *lk, const void *v, size_t vlen);

#endif
