/* mem_rdel.c — range-tombstone coverage for point gets on a memtable; see mem_rdel.h.
 * A memtable lists its range tombstones newest first (memtable_range_newest). An index covers
 * that list from its oldest tombstone up to a cursor, in levels: a level is a sorted array of
 * fragments (a key span and the newest sequence covering it) built from an adjacent run of the
 * list, and levels merge like a binary counter, so indexing N tombstones costs O(N log N) in
 * all and a get costs a binary search per level (O(log N) levels) plus a scan of the few
 * tombstones past the cursor. Indexes and levels are immutable and refcounted; a get that
 * finds the unindexed tail long builds the next index from the current one (sharing its
 * levels) and swaps it in. Memory: at most two fragments per tombstone in the current index,
 * and a replaced index lives on only while gets that took it before the swap still read it. */
#include "engine/mem_rdel.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/ikey.h"
#include "util/thread_annotations.h"

#define SCAN_MAX 16   /* unindexed tombstones a get scans before it indexes them */
#define MAX_LEVELS 64 /* each level weighs at least twice the next one */

typedef struct mr_frag {
  const uint8_t *start; /* user key, in the memtable's arena */
  size_t len;
  uint64_t seq; /* newest tombstone of the level covering [start, next start); 0: none */
} mr_frag;

/* Immutable once built; shared by every index that lists it. */
typedef struct mr_level {
  _Atomic int refs;
  size_t weight;         /* tombstones in it: a run of the list, */
  const sl_node *newest; /* from this one towards older ones */
  uint64_t min_seq, max_seq;
  size_t n;
  mr_frag f[]; /* sorted by start, adjacent ones differ in seq; n <= 2 * weight */
} mr_level;

typedef struct mr_index {
  _Atomic int refs;
  uint64_t count;        /* tombstones indexed: the cursor */
  const sl_node *cursor; /* and every older one (NULL: none) */
  int nlv;
  mr_level *lv[MAX_LEVELS]; /* oldest first; adjacent runs of the list */
} mr_index;

/* A memtable's index slot (memtable_aux). Reclamation: an index is freed when its last
 * reference goes; cur holds one, and a get holds one while it reads the index. A get takes
 * its reference under mu, so an index cannot be freed between the load of cur and the bump.
 * Only gets of a memtable with more than SCAN_MAX range tombstones take mu, for a pointer
 * copy and a refcount bump; the writer never does. Once final is set, cur never changes
 * again and gets read final with no lock and no reference; it goes with the memtable. */
typedef struct mem_rdel {
  memtable_aux base; /* first: destroy receives &base */
  sh_mutex mu;
  mr_index *cur; /* guarded by mu; NULL until the first index is built */
  int building;  /* guarded by mu: one get builds cur's successor, the others scan meanwhile */
  _Atomic(mr_index *) final; /* m sealed and cur holds every tombstone: cur for good */
} mem_rdel;

/* ---- tombstones on the list ---- */

static int tomb_covers(const shale_comparator *cmp, const sl_node *t, const void *key, size_t klen,
                       uint64_t seq, uint64_t *tseq) {
  const uint8_t *b;
  const void *e;
  size_t bl, el;
  memtable_range_tomb(t, &b, &bl, &e, &el, tseq);
  return *tseq <= seq && ukey_cmp(cmp, b, bl, key, klen) <= 0 &&
         ukey_cmp(cmp, key, klen, e, el) < 0;
}

/* Newest tombstone at or below seq covering key among at most count tombstones from t
 * towards older ones, stopping before stop; *walked says how many it looked at. */
static uint64_t run_cover(const shale_comparator *cmp, const sl_node *t, const sl_node *stop,
                          size_t count, const void *key, size_t klen, uint64_t seq,
                          size_t *walked) {
  uint64_t best = 0, s;
  size_t k = 0;
  for (; t && t != stop && k < count; t = memtable_range_older(t), k++)
    if (tomb_covers(cmp, t, key, klen, seq, &s) && s > best) best = s;
  if (walked) *walked = k;
  return best;
}

/* ---- levels ---- */

static void level_unref(mr_level *l) {
  if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1) free(l);
}

/* Index of the last fragment starting at or before key, or -1. */
static long frag_find(const shale_comparator *cmp, const mr_frag *f, size_t n, const void *key,
                      size_t klen) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ukey_cmp(cmp, f[mid].start, f[mid].len, key, klen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (long)lo - 1;
}

static uint64_t level_cover(const shale_comparator *cmp, const mr_level *l, const void *key,
                            size_t klen, uint64_t seq) {
  if (l->min_seq > seq) return 0; /* every tombstone in it is newer than the read */
  long i = frag_find(cmp, l->f, l->n, key, klen);
  uint64_t c = i >= 0 ? l->f[i].seq : 0;
  if (c <= seq) return c; /* the newest covering tombstone is visible: it is the answer */
  /* a tombstone newer than the read (a snapshot, or a write not yet published) covers key: the
   * level cannot tell what else does, so scan its run */
  return run_cover(cmp, l->newest, NULL, l->weight, key, klen, seq, NULL);
}

typedef struct tomb {
  const uint8_t *b;
  const void *e;
  size_t bl, el;
  uint64_t seq;
} tomb;

static int cmp_frag(const void *a, const void *b, void *cmp) {
  const mr_frag *x = a, *y = b;
  return ukey_cmp(cmp, x->start, x->len, y->start, y->len);
}

static int cmp_tomb_seq_desc(const void *a, const void *b) {
  const tomb *x = a, *y = b;
  return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static size_t dsu_find(size_t *next, size_t i) {
  while (next[i] != i) i = next[i] = next[next[i]];
  return i;
}

/* Drops fragments whose seq equals the one before (the first: when 0); returns the count. */
static size_t coalesce(mr_frag *f, size_t n) {
  size_t u = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < n; i++)
    if (f[i].seq != last) last = (f[u++] = f[i]).seq;
  return u;
}

/* A level of the k tombstones from newest towards older ones (k >= 1): their boundaries,
 * sorted and deduplicated, then tombstones newest first paint the fragments not yet painted
 * (a union-find skips painted ones), so each gets the newest covering seq in O(k log k). */
static mr_level *level_build(const shale_comparator *cmp, const sl_node *newest, size_t k) {
  mr_level *l = malloc(sizeof *l + 2 * k * sizeof(mr_frag));
  tomb *t = malloc(k * sizeof *t);
  size_t *next = malloc((2 * k + 1) * sizeof *next);
  if (!l || !t || !next) goto fail;
  l->min_seq = UINT64_MAX;
  l->max_seq = 0;
  const sl_node *n = newest;
  for (size_t i = 0; i < k; i++, n = memtable_range_older(n)) {
    memtable_range_tomb(n, &t[i].b, &t[i].bl, &t[i].e, &t[i].el, &t[i].seq);
    l->f[2 * i] = (mr_frag){t[i].b, t[i].bl, 0};
    l->f[2 * i + 1] = (mr_frag){t[i].e, t[i].el, 0};
    if (t[i].seq < l->min_seq) l->min_seq = t[i].seq;
    if (t[i].seq > l->max_seq) l->max_seq = t[i].seq;
  }
  qsort_r(l->f, 2 * k, sizeof(mr_frag), cmp_frag, (void *)cmp);
  size_t u = 0;
  for (size_t i = 0; i < 2 * k; i++)
    if (!u || cmp_frag(&l->f[u - 1], &l->f[i], (void *)cmp)) l->f[u++] = l->f[i];
  qsort(t, k, sizeof *t, cmp_tomb_seq_desc);
  for (size_t i = 0; i <= u; i++) next[i] = i;
  for (size_t i = 0; i < k; i++) {
    /* both bounds are boundaries, so each is found exactly */
    size_t lo = (size_t)frag_find(cmp, l->f, u, t[i].b, t[i].bl);
    size_t hi = (size_t)frag_find(cmp, l->f, u, t[i].e, t[i].el);
    for (size_t x = dsu_find(next, lo); x < hi; x = dsu_find(next, x)) {
      l->f[x].seq = t[i].seq;
      next[x] = x + 1;
    }
  }
  l->n = coalesce(l->f, u);
  atomic_init(&l->refs, 1);
  l->weight = k;
  l->newest = newest;
  free(t);
  free(next);
  return l;
fail:
  free(l);
  free(t);
  free(next);
  return NULL;
}

/* One level of a (older) and b (newer, the run just after a's): at each boundary of either,
 * the newer of the two covering seqs. Linear. */
static mr_level *level_merge(const shale_comparator *cmp, const mr_level *a, const mr_level *b) {
  mr_level *l = malloc(sizeof *l + (a->n + b->n) * sizeof(mr_frag));
  if (!l) return NULL;
  size_t i = 0, j = 0, n = 0;
  uint64_t sa = 0, sb = 0, last = 0;
  while (i < a->n || j < b->n) {
    int c = i == a->n   ? 1
            : j == b->n ? -1
                        : ukey_cmp(cmp, a->f[i].start, a->f[i].len, b->f[j].start, b->f[j].len);
    mr_frag at = c <= 0 ? a->f[i] : b->f[j];
    if (c <= 0) sa = a->f[i++].seq;
    if (c >= 0) sb = b->f[j++].seq;
    uint64_t s = sa > sb ? sa : sb;
    if (s != last) {
      l->f[n++] = (mr_frag){at.start, at.len, s};
      last = s;
    }
  }
  l->n = n;
  atomic_init(&l->refs, 1);
  l->weight = a->weight + b->weight;
  l->newest = b->newest;
  l->min_seq = a->min_seq < b->min_seq ? a->min_seq : b->min_seq;
  l->max_seq = a->max_seq > b->max_seq ? a->max_seq : b->max_seq;
  return l;
}

/* ---- indexes ---- */

static void index_unref(mr_index *x) {
  if (!x || atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1) return;
  for (int i = 0; i < x->nlv; i++) level_unref(x->lv[i]);
  free(x);
}

/* x (NULL: none) plus the tail tombstones from head down to x's cursor, as a new index with
 * refcount 1; the last two levels merge while the older weighs less than twice the newer, so
 * weights at least halve from level to level (at most 64 levels). NULL on OOM. */
static mr_index *index_extend(const shale_comparator *cmp, const mr_index *x, const sl_node *head,
                              size_t tail) {
  mr_index *nx = malloc(sizeof *nx);
  mr_level *l = level_build(cmp, head, tail);
  if (!nx || !l) {
    free(nx);
    if (l) level_unref(l);
    return NULL;
  }
  atomic_init(&nx->refs, 1);
  nx->count = (x ? x->count : 0) + tail;
  nx->cursor = head;
  nx->nlv = 0;
  for (int i = 0; x && i < x->nlv; i++) {
    atomic_fetch_add_explicit(&x->lv[i]->refs, 1, memory_order_relaxed);
    nx->lv[nx->nlv++] = x->lv[i];
  }
  assert(nx->nlv < MAX_LEVELS);
  nx->lv[nx->nlv++] = l;
  while (nx->nlv >= 2) {
    mr_level *o = nx->lv[nx->nlv - 2], *y = nx->lv[nx->nlv - 1];
    if (o->weight / 2 >= y->weight) break; /* o->weight >= 2 * y->weight, overflow-free */
    mr_level *mg = level_merge(cmp, o, y);
    if (!mg) {
      index_unref(nx);
      return NULL;
    }
    level_unref(o);
    level_unref(y);
    nx->lv[--nx->nlv - 1] = mg;
  }
  return nx;
}

/* ---- the memtable's slot ---- */

static void rdel_destroy(memtable_aux *aux) {
  mem_rdel *a = (mem_rdel *)aux;
  index_unref(a->cur);
  sh_mutex_destroy(&a->mu);
  free(a);
}

static mem_rdel *rdel_of(memtable *m) {
  memtable_aux *aux = memtable_aux_get(m);
  if (!aux) {
    mem_rdel *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    if (sh_mutex_init(&a->mu)) {
      free(a);
      return NULL;
    }
    a->base.destroy = rdel_destroy;
    atomic_init(&a->final, NULL);
    aux = memtable_aux_publish(m, &a->base);
    if (aux != &a->base) rdel_destroy(&a->base); /* another get published first */
  }
  assert(aux->destroy == rdel_destroy); /* the slot is this file's alone */
  return (mem_rdel *)aux;
}

/* Brings cur up to head: x is cur as this get found it (NULL: none), tail the tombstones from
 * head down to x's cursor. When m is sealed and nothing is left out, cur becomes final. */
static void advance(const shale_comparator *cmp, mem_rdel *a, mr_index *x, const sl_node *head,
                    size_t tail, int sealed) {
  sh_mutex_lock(&a->mu);
  if (a->building || a->cur != x || (!tail && !sealed)) {
    sh_mutex_unlock(&a->mu); /* another get is at it, or has done it */
    return;
  }
  if (!tail) {
    if (x) atomic_store_explicit(&a->final, x, memory_order_release);
    sh_mutex_unlock(&a->mu);
    return;
  }
  a->building = 1;
  sh_mutex_unlock(&a->mu);
  mr_index *nx = index_extend(cmp, x, head, tail); /* NULL on OOM: gets go on scanning */
  sh_mutex_lock(&a->mu);
  a->building = 0;
  if (nx) {
    a->cur = nx;
    if (sealed) atomic_store_explicit(&a->final, nx, memory_order_release);
  }
  sh_mutex_unlock(&a->mu);
  if (nx) index_unref(x); /* cur's reference to the index it replaced */
}

uint64_t mem_rdel_cover(memtable *m, const void *key, size_t klen, uint64_t seq) {
  const shale_comparator *cmp = memtable_comparator(m);
  if (memtable_range_count(m) <= SCAN_MAX)
    return run_cover(cmp, memtable_range_newest(m), NULL, SIZE_MAX, key, klen, seq, NULL);
  int sealed = memtable_sealed(m); /* before the head: if sealed, the head is the last one */
  mem_rdel *a = rdel_of(m);
  if (!a) return run_cover(cmp, memtable_range_newest(m), NULL, SIZE_MAX, key, klen, seq, NULL);
  mr_index *x = atomic_load_explicit(&a->final, memory_order_acquire);
  int held = !x;
  if (held) {
    sh_mutex_lock(&a->mu);
    if ((x = a->cur)) atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
    sh_mutex_unlock(&a->mu);
  }
  /* Loaded after x, so x's cursor is on the list from head (the builder loaded it before
   * publishing x, and publishing x happens before this get took it). */
  const sl_node *head = memtable_range_newest(m);
  size_t tail;
  uint64_t best = run_cover(cmp, head, x ? x->cursor : NULL, SIZE_MAX, key, klen, seq, &tail);
  for (int i = x ? x->nlv - 1 : -1; i >= 0; i--) {
    const mr_level *l = x->lv[i];
    if (l->max_seq <= best) continue; /* nothing in it can beat what already covers key */
    uint64_t c = level_cover(cmp, l, key, klen, seq);
    if (c > best) best = c;
  }
  if (held) {
    if (tail > SCAN_MAX || sealed) advance(cmp, a, x, head, tail, sealed);
    index_unref(x);
  }
  return best;
}

void mem_rdel_info_get(memtable *m, mem_rdel_info *out) {
  memset(out, 0, sizeof *out);
  memtable_aux *aux = memtable_aux_get(m);
  if (!aux) return;
  mem_rdel *a = (mem_rdel *)aux;
  sh_mutex_lock(&a->mu);
  mr_index *x = a->cur;
  if (x) {
    out->indexed = 1;
    out->final = atomic_load_explicit(&a->final, memory_order_acquire) != NULL;
    out->levels = x->nlv;
    out->tombstones = x->count;
    for (int i = 0; i < x->nlv; i++) out->fragments += x->lv[i]->n;
  }
  sh_mutex_unlock(&a->mu);
}
