/* range_dels.c — the range tombstones an iterator or a compaction has collected; coverage
 * comes from util/range_tomb.c: a scan while they are few, fragments at the read sequence
 * (a binary search) once they are many. */
#include "engine/range_dels.h"

#include <stdlib.h>
#include <string.h>

int range_dels_add(range_dels *r, const void *b, size_t bl, const void *e, size_t el, uint64_t seq,
                   uint64_t time_us) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    range_tomb *p = realloc(r->v, cap * sizeof *p);
    if (!p) return SHALE_NOMEM;
    r->v = p;
    r->cap = cap;
  }
  uint8_t *mem = malloc(bl + el);
  if (!mem) return SHALE_NOMEM;
  memcpy(mem, b, bl);
  memcpy(mem + bl, e, el);
  r->v[r->n++] = (range_tomb){mem, mem + bl, bl, el, seq, time_us};
  free(r->frags); /* a new tombstone invalidates the index */
  r->frags = NULL;
  r->nfrags = 0;
  r->frag_built = 0;
  return SHALE_OK;
}

/* Few tombstones are cheaper to scan than to fragment. */
#define FRAGMENT_MIN 16

/* Fragments at read_seq, built on first use; 0 when the scan must do (few tombstones, or no
 * memory for the fragments). */
static int fragments_at(range_dels *r, uint64_t read_seq) {
  if (r->n < FRAGMENT_MIN || r->frag_built < 0) return 0;
  if (r->frag_built == 1) return r->frag_seq == read_seq;
  r->frags = malloc(sizeof *r->frags * 2 * r->n);
  if (!r->frags || rt_frags_build(r->cmp, r->v, r->n, read_seq, r->frags, &r->nfrags)) {
    free(r->frags);
    r->frags = NULL;
    r->nfrags = 0;
    r->frag_built = -1;
    return 0;
  }
  r->frag_seq = read_seq;
  r->frag_built = 1;
  return 1;
}

int range_dels_covers(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                      uint64_t read_seq) {
  range_dels *m = (range_dels *)r; /* the index is a cache: logically const */
  if (fragments_at(m, read_seq)) {
    long i = rt_frags_find(r->cmp, r->frags, r->nfrags, key, klen);
    return i >= 0 && r->frags[i].seq > entry_seq;
  }
  return rt_list_covers(r->cmp, r->v, r->n, key, klen, entry_seq, read_seq);
}

int range_dels_cover_span(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                          uint64_t read_seq, const uint8_t **end, size_t *elen, uint64_t *seq) {
  if (fragments_at((range_dels *)r, read_seq)) {
    long i = rt_frags_find(r->cmp, r->frags, r->nfrags, key, klen);
    if (i < 0 || r->frags[i].seq <= entry_seq) return 0;
    *end = r->frags[i + 1].start; /* covered, so the fragment has a successor */
    *elen = r->frags[i + 1].len;
    *seq = r->frags[i].seq;
    return 1;
  }
  const range_tomb *d = rt_list_newest(r->cmp, r->v, r->n, key, klen, read_seq);
  if (!d || d->seq <= entry_seq) return 0;
  *end = d->end;
  *elen = d->elen;
  *seq = d->seq;
  return 1;
}

void range_dels_free(range_dels *r) {
  for (size_t i = 0; i < r->n; i++) free((void *)r->v[i].begin);
  free(r->v);
  free(r->frags);
  memset(r, 0, sizeof *r);
}
