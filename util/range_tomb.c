/* range_tomb.c — the range-tombstone model; see range_tomb.h.
 * Every builder here works the same way: the tombstones' boundaries, sorted and
 * deduplicated, cut the key space into intervals; tombstones taken newest first paint the
 * intervals not yet painted (a union-find skips painted ones), so each interval gets the
 * newest covering sequence in O(n log n) overall, however the input overlaps. */
#include "util/range_tomb.h"

#include <stdlib.h>
#include <string.h>

/* ---- tombstones as a plain list ---- */

static const range_tomb *list_newest(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                     const void *key, size_t klen, uint64_t read_seq, int sorted) {
  const range_tomb *best = NULL;
  for (size_t i = 0; i < n; i++) {
    if (sorted && ukey_cmp(cmp, t[i].begin, t[i].blen, key, klen) > 0) break;
    if (t[i].seq <= read_seq && (!best || t[i].seq > best->seq) &&
        rt_tomb_covers(cmp, &t[i], key, klen))
      best = &t[i];
  }
  return best;
}

const range_tomb *rt_list_newest(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                 const void *key, size_t klen, uint64_t read_seq) {
  return list_newest(cmp, t, n, key, klen, read_seq, 0);
}

int rt_list_covers(const shale_comparator *cmp, const range_tomb *t, size_t n, const void *key,
                   size_t klen, uint64_t above, uint64_t read_seq) {
  for (size_t i = 0; i < n; i++)
    if (t[i].seq > above && t[i].seq <= read_seq && rt_tomb_covers(cmp, &t[i], key, klen)) return 1;
  return 0;
}

const range_tomb *rt_sorted_newest(const shale_comparator *cmp, const range_tomb *t, size_t n,
                                   const void *key, size_t klen, uint64_t read_seq) {
  return list_newest(cmp, t, n, key, klen, read_seq, 1);
}

static int by_begin(const void *pa, const void *pb, void *cmp) {
  const range_tomb *a = *(const range_tomb *const *)pa, *b = *(const range_tomb *const *)pb;
  return ukey_cmp(cmp, a->begin, a->blen, b->begin, b->blen);
}

int rt_list_spans(const shale_comparator *cmp, const range_tomb *t, size_t n, uint64_t above,
                  uint64_t read_seq, const void *lo, size_t ll, const void *hi, size_t hl) {
  const range_tomb **v = malloc(sizeof *v * (n ? n : 1));
  if (!v) return 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (t[i].seq > above && t[i].seq <= read_seq) v[k++] = &t[i];
  qsort_r(v, k, sizeof *v, by_begin, (void *)cmp);
  const void *reach = lo; /* keys in [lo, reach) are covered */
  size_t rl = ll;
  int covered = 0;
  for (size_t i = 0; i < k && !covered && ukey_cmp(cmp, v[i]->begin, v[i]->blen, reach, rl) <= 0;
       i++) {
    if (ukey_cmp(cmp, v[i]->end, v[i]->elen, reach, rl) > 0) reach = v[i]->end, rl = v[i]->elen;
    covered = ukey_cmp(cmp, hi, hl, reach, rl) < 0;
  }
  free(v);
  return covered;
}

/* ---- fragments at one read sequence ---- */

static int frag_cmp(const void *a, const void *b, void *cmp) {
  const rt_frag *x = a, *y = b;
  return ukey_cmp(cmp, x->start, x->len, y->start, y->len);
}

static int tomb_newest_first(const void *a, const void *b) {
  const range_tomb *x = *(const range_tomb *const *)a, *y = *(const range_tomb *const *)b;
  return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static size_t dsu_find(size_t *next, size_t x) {
  while (next[x] != x) x = next[x] = next[next[x]];
  return x;
}

int rt_frags_build(const shale_comparator *cmp, const range_tomb *t, size_t n, uint64_t read_seq,
                   rt_frag *out, size_t *nout) {
  const range_tomb **order = malloc(sizeof *order * (n ? n : 1));
  size_t *next = malloc(sizeof *next * (2 * n + 1));
  if (!order || !next) {
    free(order);
    free(next);
    return SHALE_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = (rt_frag){t[i].begin, t[i].blen, 0};
    out[2 * i + 1] = (rt_frag){t[i].end, t[i].elen, 0};
    order[i] = &t[i];
  }
  qsort_r(out, 2 * n, sizeof *out, frag_cmp, (void *)cmp);
  size_t u = 0;
  for (size_t i = 0; i < 2 * n; i++)
    if (!u || frag_cmp(&out[u - 1], &out[i], (void *)cmp)) out[u++] = out[i];
  qsort(order, n, sizeof *order, tomb_newest_first);
  for (size_t i = 0; i <= u; i++) next[i] = i;
  for (size_t i = 0; i < n; i++) {
    const range_tomb *d = order[i];
    if (d->seq > read_seq) continue;
    /* both bounds are boundaries, so each is found exactly */
    size_t lo = (size_t)rt_frags_find(cmp, out, u, d->begin, d->blen);
    size_t hi = (size_t)rt_frags_find(cmp, out, u, d->end, d->elen);
    for (size_t x = dsu_find(next, lo); x < hi; x = dsu_find(next, x)) {
      out[x].seq = d->seq;
      next[x] = x + 1;
    }
  }
  free(order);
  free(next);
  *nout = u;
  return SHALE_OK;
}

size_t rt_frags_coalesce(rt_frag *f, size_t n) {
  size_t u = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < n; i++)
    if (f[i].seq != last) last = (f[u++] = f[i]).seq;
  return u;
}

size_t rt_frags_merge(const shale_comparator *cmp, const rt_frag *a, size_t na, const rt_frag *b,
                      size_t nb, rt_frag *out) {
  size_t i = 0, j = 0, n = 0;
  uint64_t sa = 0, sb = 0, last = 0;
  while (i < na || j < nb) {
    int c = i == na ? 1 : j == nb ? -1 : ukey_cmp(cmp, a[i].start, a[i].len, b[j].start, b[j].len);
    rt_frag at = c <= 0 ? a[i] : b[j];
    if (c <= 0) sa = a[i++].seq;
    if (c >= 0) sb = b[j++].seq;
    uint64_t s = sa > sb ? sa : sb;
    if (s != last) {
      out[n++] = (rt_frag){at.start, at.len, s};
      last = s;
    }
  }
  return n;
}

/* ---- fragment sets with snapshot stripes ----
 * Tombstones are grouped by the stripe they keep a sequence for. Within a stripe the
 * group's own boundaries cut the key space into intervals, painted once with the newest
 * covering sequence (tombstones newest first), then once more with the oldest time
 * (tombstones oldest first). Each painted interval becomes one record per global piece it
 * spans. */

#define UNPAINTED UINT64_MAX /* above SEQ_MAX, so never a real sequence */

typedef struct item {
  uint64_t stripe, seq, time_us;
  size_t lo, hi;   /* begin and end as indices into the global boundaries */
  size_t llo, lhi; /* the same, into the stripe's own boundaries */
} item;

/* Scratch for one stripe, sized for all n tombstones so it is allocated once. */
typedef struct scratch {
  uint64_t *loc; /* the stripe's boundaries: sorted distinct global indices */
  size_t *next;  /* union-find: the first unpainted interval at or after x */
  uint64_t *seq, *time_us;
} scratch;

typedef struct recs {
  rt_rec *v;
  size_t n, cap;
} recs;

static int key_cmp(const void *pa, const void *pb, void *cmp) {
  const rt_key *a = pa, *b = pb;
  return ukey_cmp(cmp, a->p, a->len, b->p, b->len);
}

static int u64_cmp(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

static int by_stripe_then_newest(const void *pa, const void *pb) {
  const item *a = pa, *b = pb;
  if (a->stripe != b->stripe) return a->stripe < b->stripe ? -1 : 1;
  return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* Oldest known time first; unknown (0) last, so it never hides a known time. */
static int by_oldest_time(const void *pa, const void *pb) {
  uint64_t a = ((const item *)pa)->time_us - 1, b = ((const item *)pb)->time_us - 1;
  return a < b ? -1 : a > b;
}

static int by_piece_then_newest(const void *pa, const void *pb) {
  const rt_rec *a = pa, *b = pb;
  if (a->piece != b->piece) return a->piece < b->piece ? -1 : 1;
  return a->seq > b->seq ? -1 : a->seq < b->seq;
}

/* Index of key in the sorted distinct keys k[0..n); REQUIRES: present. */
static size_t key_find(const shale_comparator *cmp, const rt_key *k, size_t n, const uint8_t *p,
                       size_t len) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ukey_cmp(cmp, k[mid].p, k[mid].len, p, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Entries of the sorted v[0..n) below x: the index of x when present. Also the stripe of a
 * sequence among the sorted snapshots (reads at snapshots[i] see stripes < i, so equal
 * counts share reads). */
static size_t count_below(const uint64_t *v, size_t n, uint64_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Gives each interval of the stripe the value of the first item (in g's order) covering it. */
static void paint(scratch *s, size_t nl, const item *g, size_t ng, int times) {
  for (size_t x = 0; x < nl; x++) s->next[x] = x;
  for (size_t i = 0; i < ng && !(times && !g[i].time_us); i++)
    for (size_t x = dsu_find(s->next, g[i].llo); x < g[i].lhi; x = dsu_find(s->next, x)) {
      if (times)
        s->time_us[x] = g[i].time_us;
      else
        s->seq[x] = g[i].seq;
      s->next[x] = x + 1;
    }
}

static int emit(recs *r, size_t piece, uint64_t seq, uint64_t time_us) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    rt_rec *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(r->v, cap * sizeof *v);
    if (!v) return SHALE_NOMEM;
    r->v = v;
    r->cap = cap;
  }
  r->v[r->n++] = (rt_rec){piece, seq, time_us};
  return SHALE_OK;
}

/* One stripe's records. REQUIRES: g sorted newest first (it is reordered by time). */
static int do_stripe(scratch *s, item *g, size_t ng, recs *out) {
  size_t nl = 0;
  for (size_t i = 0; i < ng; i++) s->loc[nl++] = g[i].lo, s->loc[nl++] = g[i].hi;
  qsort(s->loc, nl, sizeof *s->loc, u64_cmp);
  size_t u = 0;
  for (size_t i = 0; i < nl; i++)
    if (!u || s->loc[u - 1] != s->loc[i]) s->loc[u++] = s->loc[i];
  nl = u;
  for (size_t i = 0; i < ng; i++) {
    g[i].llo = count_below(s->loc, nl, g[i].lo);
    g[i].lhi = count_below(s->loc, nl, g[i].hi);
  }
  for (size_t x = 0; x < nl; x++) s->seq[x] = UNPAINTED, s->time_us[x] = 0;
  paint(s, nl, g, ng, 0);
  qsort(g, ng, sizeof *g, by_oldest_time);
  paint(s, nl, g, ng, 1);
  for (size_t x = 0; x + 1 < nl; x++) {
    if (s->seq[x] == UNPAINTED) continue;
    for (size_t piece = s->loc[x]; piece < s->loc[x + 1]; piece++)
      if (emit(out, piece, s->seq[x], s->time_us[x])) return SHALE_NOMEM;
  }
  return SHALE_OK;
}

/* Sorted distinct boundaries of every tombstone into f->bounds. */
static int collect_bounds(const shale_comparator *cmp, const range_tomb *t, size_t n, rt_set *f) {
  if (!(f->bounds = calloc(2 * n, sizeof *f->bounds))) return SHALE_NOMEM;
  for (size_t i = 0; i < n; i++) {
    f->bounds[2 * i] = (rt_key){t[i].begin, t[i].blen};
    f->bounds[2 * i + 1] = (rt_key){t[i].end, t[i].elen};
  }
  qsort_r(f->bounds, 2 * n, sizeof *f->bounds, key_cmp, (void *)cmp);
  size_t u = 0;
  for (size_t i = 0; i < 2 * n; i++)
    if (!u || key_cmp(&f->bounds[u - 1], &f->bounds[i], (void *)cmp)) f->bounds[u++] = f->bounds[i];
  f->nbounds = u;
  return SHALE_OK;
}

/* REQUIRES: it sorted by stripe, newest first within one. */
static int stripes(item *it, size_t n, scratch *s, recs *r) {
  size_t g0 = 0;
  while (g0 < n) {
    size_t g1 = g0 + 1;
    while (g1 < n && it[g1].stripe == it[g0].stripe) g1++;
    if (do_stripe(s, it + g0, g1 - g0, r)) return SHALE_NOMEM;
    g0 = g1;
  }
  return SHALE_OK;
}

int rt_set_build(const shale_comparator *cmp, const range_tomb *t, size_t n, const uint64_t *snaps,
                 size_t nsnaps, int collapse, rt_set *out) {
  memset(out, 0, sizeof *out);
  if (n == 0) return SHALE_OK;
  recs r = {0};
  item *it = calloc(n, sizeof *it);
  scratch s = {calloc(2 * n, sizeof(uint64_t)), calloc(2 * n, sizeof(size_t)),
               calloc(2 * n, sizeof(uint64_t)), calloc(2 * n, sizeof(uint64_t))};
  int rc =
      it && s.loc && s.next && s.seq && s.time_us ? collect_bounds(cmp, t, n, out) : SHALE_NOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    it[i].seq = t[i].seq;
    it[i].time_us = t[i].time_us;
    it[i].stripe = collapse ? count_below(snaps, nsnaps, t[i].seq) : t[i].seq;
    it[i].lo = key_find(cmp, out->bounds, out->nbounds, t[i].begin, t[i].blen);
    it[i].hi = key_find(cmp, out->bounds, out->nbounds, t[i].end, t[i].elen);
  }
  if (!rc) {
    qsort(it, n, sizeof *it, by_stripe_then_newest);
    rc = stripes(it, n, &s, &r);
  }
  if (!rc && r.n > 1) qsort(r.v, r.n, sizeof *r.v, by_piece_then_newest);
  free(it);
  free(s.loc);
  free(s.next);
  free(s.seq);
  free(s.time_us);
  if (rc) {
    free(r.v);
    rt_set_free(out);
    return rc;
  }
  out->recs = r.v;
  out->nrecs = r.n;
  return SHALE_OK;
}

void rt_set_free(rt_set *f) {
  if (!f) return;
  free(f->bounds);
  free(f->recs);
  memset(f, 0, sizeof *f);
}

/* ---- an rt_set as stored ---- */

static int same_range(const range_tomb *a, const range_tomb *b) {
  return a->blen == b->blen && a->elen == b->elen && !memcmp(a->begin, b->begin, a->blen) &&
         !memcmp(a->end, b->end, a->elen);
}

size_t rt_pieces_index(const shale_comparator *cmp, const range_tomb *t, size_t n, size_t *pieces,
                       size_t *npieces) {
  *npieces = 0;
  for (size_t i = 0; i < n; i++) {
    const range_tomb *d = &t[i], *p = i ? d - 1 : NULL;
    int repeat = p && same_range(p, d);
    if (repeat ? d->seq >= p->seq : p && ukey_cmp(cmp, p->end, p->elen, d->begin, d->blen) > 0)
      return i;
    if (!repeat) pieces[(*npieces)++] = i;
  }
  return n;
}
