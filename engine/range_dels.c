/* range_dels.c — the range tombstones an iterator or a compaction has collected, and the
 * fragment index that makes checking a key against many of them a binary search. */
#include "engine/range_dels.h"

#include <stdlib.h>
#include <string.h>

#include "util/ikey.h"

int range_dels_add(range_dels *r, const void *b, size_t bl, const void *e, size_t el, uint64_t seq,
                   uint64_t time_us) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    range_del *p = realloc(r->v, cap * sizeof *p);
    if (!p) return SHALE_NOMEM;
    r->v = p;
    r->cap = cap;
  }
  uint8_t *mem = malloc(bl + el);
  if (!mem) return SHALE_NOMEM;
  memcpy(mem, b, bl);
  memcpy(mem + bl, e, el);
  r->v[r->n++] = (range_del){mem, mem + bl, bl, el, seq, time_us};
  free(r->frags); /* a new tombstone invalidates the index */
  r->frags = NULL;
  r->nfrags = 0;
  r->frag_built = 0;
  return SHALE_OK;
}

/* Few tombstones are cheaper to scan than to fragment. */
#define FRAGMENT_MIN 16

static int cmp_frag(const void *a, const void *b, void *cmp) {
  const rd_frag *x = a, *y = b;
  return ukey_cmp(cmp, x->start, x->len, y->start, y->len);
}

static int cmp_seq_desc(const void *a, const void *b) {
  const range_del *x = *(const range_del *const *)a, *y = *(const range_del *const *)b;
  return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* Index of the last fragment starting at or before key, or -1. */
static long frag_find(const range_dels *r, const void *key, size_t klen) {
  long lo = 0, hi = (long)r->nfrags;
  while (lo < hi) {
    long mid = (lo + hi) / 2;
    if (ukey_cmp(r->cmp, r->frags[mid].start, r->frags[mid].len, key, klen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

static size_t dsu_find(size_t *next, size_t i) {
  while (next[i] != i) i = next[i] = next[next[i]];
  return i;
}

/* Boundaries of every tombstone, sorted and deduplicated; then tombstones, newest first,
 * paint the fragments not yet painted (a union-find skips painted ones), so each fragment
 * gets the newest visible sequence covering it in O(n log n) overall. */
static int build_fragments(range_dels *r, uint64_t read_seq) {
  size_t nb = 0;
  rd_frag *f = malloc(sizeof *f * 2 * r->n);
  range_del **order = malloc(sizeof *order * r->n);
  size_t *next = malloc(sizeof *next * (2 * r->n + 1));
  if (!f || !order || !next) goto fail;
  for (size_t i = 0; i < r->n; i++) {
    f[nb++] = (rd_frag){r->v[i].begin, r->v[i].blen, 0};
    f[nb++] = (rd_frag){r->v[i].end, r->v[i].elen, 0};
    order[i] = &r->v[i];
  }
  void *cmp = (void *)r->cmp;
  qsort_r(f, nb, sizeof *f, cmp_frag, cmp);
  size_t u = 0;
  for (size_t i = 0; i < nb; i++)
    if (!u || cmp_frag(&f[u - 1], &f[i], cmp)) f[u++] = f[i];
  r->frags = f;
  r->nfrags = u;
  qsort(order, r->n, sizeof *order, cmp_seq_desc);
  for (size_t i = 0; i <= u; i++) next[i] = i;
  for (size_t i = 0; i < r->n; i++) {
    const range_del *d = order[i];
    if (d->seq > read_seq) continue;
    size_t lo = (size_t)frag_find(r, d->begin, d->blen), hi = (size_t)frag_find(r, d->end, d->elen);
    for (size_t x = dsu_find(next, lo); x < hi; x = dsu_find(next, x)) {
      f[x].seq = d->seq;
      next[x] = x + 1;
    }
  }
  free(order);
  free(next);
  r->frag_seq = read_seq;
  r->frag_built = 1;
  return 1;
fail:
  free(f);
  free(order);
  free(next);
  r->frags = NULL;
  r->nfrags = 0;
  r->frag_built = -1;
  return 0;
}

int range_dels_covers(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                      uint64_t read_seq) {
  range_dels *m = (range_dels *)r; /* the index is a cache: logically const */
  if (r->n >= FRAGMENT_MIN && r->frag_built >= 0 &&
      (r->frag_built == 1 ? r->frag_seq == read_seq : build_fragments(m, read_seq))) {
    long i = frag_find(r, key, klen);
    return i >= 0 && r->frags[i].seq > entry_seq;
  }
  for (size_t i = 0; i < r->n; i++) {
    const range_del *d = &r->v[i];
    if (d->seq > entry_seq && d->seq <= read_seq &&
        ukey_cmp(r->cmp, d->begin, d->blen, key, klen) <= 0 &&
        ukey_cmp(r->cmp, key, klen, d->end, d->elen) < 0)
      return 1;
  }
  return 0;
}

int range_dels_cover_span(const range_dels *r, const void *key, size_t klen, uint64_t entry_seq,
                          uint64_t read_seq, const uint8_t **end, size_t *elen, uint64_t *seq) {
  if (!range_dels_covers(r, key, klen, entry_seq, read_seq)) return 0;
  if (r->frag_built == 1 && r->frag_seq == read_seq) {
    long i = frag_find(r, key, klen); /* covered, so a fragment with a successor exists */
    *end = r->frags[i + 1].start;
    *elen = r->frags[i + 1].len;
    *seq = r->frags[i].seq;
    return 1;
  }
  const range_del *best = NULL; /* few tombstones: the newest visible one covering key */
  for (size_t i = 0; i < r->n; i++) {
    const range_del *d = &r->v[i];
    if (d->seq <= read_seq && (!best || d->seq > best->seq) &&
        ukey_cmp(r->cmp, d->begin, d->blen, key, klen) <= 0 &&
        ukey_cmp(r->cmp, key, klen, d->end, d->elen) < 0)
      best = d;
  }
  *end = best->end;
  *elen = best->elen;
  *seq = best->seq;
  return 1;
}

void range_dels_free(range_dels *r) {
  for (size_t i = 0; i < r->n; i++) free(r->v[i].begin);
  free(r->v);
  free(r->frags);
  memset(r, 0, sizeof *r);
}
