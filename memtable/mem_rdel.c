/* mem_rdel.c — range-tombstone coverage for point gets on a memtable; see mem_rdel.h.
 * A memtable lists its range tombstones newest first (memtable_range_newest). An index covers
 * that list from its oldest tombstone up to a cursor, in levels: a level is a sorted array of
 * fragments (rt_frag, util/range_tomb.h: a key span and the newest sequence covering it), built
 * from an adjacent run of the list, and levels merge like a binary counter, so indexing N
 * tombstones costs O(N log N) in all and a get costs a binary search per level (O(log N) levels)
 * plus a scan of the few tombstones past the cursor. Indexes and levels are immutable and
 * refcounted; a get that finds the unindexed tail long builds the next index from the current one
 * (sharing its levels) and swaps it in. Memory: at most two fragments per tombstone in the current
 * index, and a replaced index lives on only while gets that took it before the swap still read it.
 */
#include "memtable/mem_rdel.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/range_tomb.h"
#include "util/thread_annotations.h"

#define SCAN_MAX 16   /* unindexed tombstones a get scans before it indexes them */
#define MAX_LEVELS 64 /* each level weighs at least twice the next one */

/* Immutable once built; shared by every index that lists it. */
typedef struct mr_level {
  _Atomic int refs;
  size_t weight;         /* tombstones in it: a run of the list, */
  const sl_node *newest; /* from this one towards older ones */
  uint64_t min_seq, max_seq;
  size_t n;
  rt_frag f[]; /* coalesced: sorted by start, adjacent ones differ in seq; n <= 2 * weight */
} mr_level;

typedef struct mr_index {
  _Atomic int refs;
  uint64_t count;        /* tombstones indexed: the cursor */
  const sl_node *cursor; /* and every older one (NULL: none) */
  int nlv;
  mr_level *lv[MAX_LEVELS]; /* oldest first; adjacent runs of the list */
} mr_index;

/* A memtable's index (memtable_rdel_get), freed with it. Reclamation: an index is freed when its
 * last reference goes; cur holds one, and a get holds one while it reads the index. A get takes its
 * reference under mu, so an index cannot be freed between the load of cur and the bump. Only gets
 * of a memtable with more than SCAN_MAX range tombstones take mu, for a pointer copy and a refcount
 * bump; the writer never does. Once final is set, cur never changes again and gets read final with
 * no lock and no reference; it goes with the memtable. */
typedef struct mem_rdel_locked {
  mr_index *cur; /* NULL until the first index is built */
  int building;  /* one get builds cur's successor, the others scan meanwhile */
} mem_rdel_locked;

struct mem_rdel {
  sh_mutex mu;
  mem_rdel_locked under_mu;  /* reached only through rdel_held() */
  _Atomic(mr_index *) final; /* m sealed and cur holds every tombstone: cur for good */
};

static inline mem_rdel_locked *rdel_held(mem_rdel *a) SH_REQUIRES(a->mu) { return &a->under_mu; }

/* ---- tombstones on the list ---- */

static range_tomb tomb_of(const sl_node *t) {
  range_tomb d = {0};
  const void *e;
  memtable_range_tomb(t, &d.begin, &d.blen, &e, &d.elen, &d.seq);
  d.end = e;
  return d;
}

/* Newest tombstone at or below seq covering key among at most count tombstones from t
 * towards older ones, stopping before stop; *walked says how many it looked at. */
static uint64_t run_cover(const shale_comparator *cmp, const sl_node *t, const sl_node *stop,
                          size_t count, const void *key, size_t klen, uint64_t seq,
                          size_t *walked) {
  uint64_t best = 0;
  size_t k = 0;
  for (; t && t != stop && k < count; t = memtable_range_older(t), k++) {
    range_tomb d = tomb_of(t);
    if (d.seq <= seq && d.seq > best && rt_tomb_covers(cmp, &d, key, klen)) best = d.seq;
  }
  if (walked) *walked = k;
  return best;
}

/* ---- levels ---- */

static void level_unref(mr_level *l) {
  if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1) free(l);
}

static uint64_t level_cover(const shale_comparator *cmp, const mr_level *l, const void *key,
                            size_t klen, uint64_t seq) {
  if (l->min_seq > seq) return 0; /* every tombstone in it is newer than the read */
  long i = rt_frags_find(cmp, l->f, l->n, key, klen);
  uint64_t c = i >= 0 ? l->f[i].seq : 0;
  if (c <= seq) return c; /* the newest covering tombstone is visible: it is the answer */
  /* a tombstone newer than the read (a snapshot, or a write not yet published) covers key: the
   * level cannot tell what else does, so scan its run */
  return run_cover(cmp, l->newest, NULL, l->weight, key, klen, seq, NULL);
}

/* A level of the k tombstones from newest towards older ones (k >= 1): their fragments, each
 * with the newest covering seq, coalesced. O(k log k). */
static mr_level *level_build(const shale_comparator *cmp, const sl_node *newest, size_t k) {
  mr_level *l = malloc(sizeof *l + 2 * k * sizeof(rt_frag));
  range_tomb *t = malloc(k * sizeof *t);
  size_t n;
  if (!l || !t) goto fail;
  l->min_seq = UINT64_MAX;
  l->max_seq = 0;
  const sl_node *node = newest;
  for (size_t i = 0; i < k; i++, node = memtable_range_older(node)) {
    t[i] = tomb_of(node);
    if (t[i].seq < l->min_seq) l->min_seq = t[i].seq;
    if (t[i].seq > l->max_seq) l->max_seq = t[i].seq;
  }
  if (rt_frags_build(cmp, t, k, UINT64_MAX, l->f, &n)) goto fail;
  l->n = rt_frags_coalesce(l->f, n);
  atomic_init(&l->refs, 1);
  l->weight = k;
  l->newest = newest;
  free(t);
  return l;
fail:
  free(l);
  free(t);
  return NULL;
}

/* One level of a (older) and b (newer, the run just after a's). Linear. */
static mr_level *level_merge(const shale_comparator *cmp, const mr_level *a, const mr_level *b) {
  mr_level *l = malloc(sizeof *l + (a->n + b->n) * sizeof(rt_frag));
  if (!l) return NULL;
  l->n = rt_frags_merge(cmp, a->f, a->n, b->f, b->n, l->f);
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

void mem_rdel_free(mem_rdel *a) {
  if (!a) return;
  sh_mutex_lock(&a->mu); /* the last user: held for the rule on cur */
  mr_index *cur = rdel_held(a)->cur;
  sh_mutex_unlock(&a->mu);
  index_unref(cur);
  sh_mutex_destroy(&a->mu);
  free(a);
}

static mem_rdel *rdel_of(memtable *m) {
  mem_rdel *a = memtable_rdel_get(m);
  if (a) return a;
  if (!(a = calloc(1, sizeof *a))) return NULL;
  if (sh_mutex_init(&a->mu)) {
    free(a);
    return NULL;
  }
  atomic_init(&a->final, NULL);
  mem_rdel *won = memtable_rdel_publish(m, a);
  if (won != a) mem_rdel_free(a); /* another get published first */
  return won;
}

/* Brings cur up to head: x is cur as this get found it (NULL: none), tail the tombstones from
 * head down to x's cursor. When m is sealed and nothing is left out, cur becomes final. */
static void advance(const shale_comparator *cmp, mem_rdel *a, mr_index *x, const sl_node *head,
                    size_t tail, int sealed) {
  sh_mutex_lock(&a->mu);
  mem_rdel_locked *l = rdel_held(a);
  if (l->building || l->cur != x || (!tail && !sealed)) {
    sh_mutex_unlock(&a->mu); /* another get is at it, or has done it */
    return;
  }
  if (!tail) {
    if (x) atomic_store_explicit(&a->final, x, memory_order_release);
    sh_mutex_unlock(&a->mu);
    return;
  }
  l->building = 1;
  sh_mutex_unlock(&a->mu);
  mr_index *nx = index_extend(cmp, x, head, tail); /* NULL on OOM: gets go on scanning */
  sh_mutex_lock(&a->mu);
  l = rdel_held(a);
  l->building = 0;
  if (nx) {
    l->cur = nx;
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
    if ((x = rdel_held(a)->cur)) atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
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
  mem_rdel *a = memtable_rdel_get(m);
  if (!a) return;
  sh_mutex_lock(&a->mu);
  mr_index *x = rdel_held(a)->cur;
  if (x) {
    out->indexed = 1;
    out->final = atomic_load_explicit(&a->final, memory_order_acquire) != NULL;
    out->levels = x->nlv;
    out->tombstones = x->count;
    for (int i = 0; i < x->nlv; i++) out->fragments += x->lv[i]->n;
  }
  sh_mutex_unlock(&a->mu);
}
