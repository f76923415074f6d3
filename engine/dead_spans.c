/* dead_spans.c — the per-DB set of key ranges known to hold no live key; see dead_spans.h.
 * The set is copy-on-write: an add or a cut builds a new array under ds->mu and swaps it in,
 * so readers search theirs without a lock. Spans are shared between successive arrays by
 * reference; keys live in the span's own allocation. */
#include "engine/dead_spans.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/ikey.h"

/* Enough for a scan across a few hundred long deleted runs; each add copies the array. */
#define MAX_SPANS 1024
/* A put log generation: enough for the puts a slow reader's walk overlaps, small enough
 * that an add searches it in microseconds. */
#define LOG_ENTRIES 1024
#define LOG_BYTES (64u << 10)
/* Generations filled with no add needing the log, after which it stops: a reader that fell
 * behind once (a snapshot scan, a consumer that has since caught up) would otherwise make
 * every later write group copy its keys under the spans' lock for the DB's whole life. */
#define LOG_IDLE_GENERATIONS 16

static inline dead_spans_locked *spans_held(dead_spans *ds) SH_REQUIRES(ds->mu) {
  return &ds->under_mu;
}

int dead_spans_init(dead_spans *ds, uint64_t last_seq) {
  memset(ds, 0, sizeof *ds);
  if (sh_mutex_init(&ds->mu)) return SHALE_NOMEM;
  atomic_store(&ds->allocated, last_seq);
  return SHALE_OK;
}

static void span_unref(dead_span *s) {
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) free(s);
}

void span_set_release(span_set *set) {
  if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < set->n; i++) span_unref(set->s[i]);
  free(set);
}

void dead_spans_destroy(dead_spans *ds) {
  sh_mutex_lock(&ds->mu); /* the last user: held for the rule on the set and the log */
  dead_spans_locked *l = spans_held(ds);
  span_set_release(l->cur);
  l->cur = NULL;
  for (int g = 0; g < 2; g++) {
    free(l->gen[g].e);
    free(l->gen[g].keys);
  }
  sh_mutex_unlock(&ds->mu);
  sh_mutex_destroy(&ds->mu);
}

int span_bound_cmp_key(span_bound b, int lo_side, const void *key, size_t klen) {
  if (b.inf) return lo_side ? -1 : 1;
  return ukey_compare(b.key, b.len, key, klen);
}

/* Orders a bound a (a lower bound when a_lo) against a bound b (lower when b_lo). */
static int bound_cmp(span_bound a, int a_lo, span_bound b, int b_lo) {
  if (a.inf || b.inf) {
    int av = a.inf ? (a_lo ? -1 : 1) : 0, bv = b.inf ? (b_lo ? -1 : 1) : 0;
    return av - bv;
  }
  return ukey_compare(a.key, a.len, b.key, b.len);
}

static dead_span *span_new(span_bound lo, span_bound hi, uint64_t min_seq, uint64_t weight) {
  size_t ll = lo.inf ? 0 : lo.len, hl = hi.inf ? 0 : hi.len;
  dead_span *s = malloc(sizeof *s + ll + hl + 1);
  if (!s) return NULL;
  uint8_t *mem = (uint8_t *)(s + 1);
  if (ll) memcpy(mem, lo.key, ll);
  if (hl) memcpy(mem + ll, hi.key, hl);
  atomic_init(&s->refs, 1);
  s->lo = (span_bound){mem, ll, lo.inf};
  s->hi = (span_bound){mem + ll, hl, hi.inf};
  s->min_seq = min_seq;
  s->weight = weight;
  return s;
}

static span_set *set_new(size_t cap) {
  span_set *set = malloc(sizeof *set + cap * sizeof set->s[0]);
  if (!set) return NULL;
  atomic_init(&set->refs, 1);
  set->n = 0;
  return set;
}

/* Appends s to set, taking a reference of its own when `share`. */
static void set_push(span_set *set, dead_span *s, int share) {
  if (share) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  set->s[set->n++] = s;
}

/* Installs next (NULL: empty) as the current set. */
static void set_install(dead_spans *ds, span_set *next) SH_REQUIRES(ds->mu) {
  if (next && next->n == 0) {
    span_set_release(next);
    next = NULL;
  }
  span_set_release(spans_held(ds)->cur);
  spans_held(ds)->cur = next;
}

span_set *dead_spans_acquire(dead_spans *ds) {
  if (!atomic_load_explicit(&ds->active, memory_order_relaxed)) return NULL;
  sh_mutex_lock(&ds->mu);
  span_set *set = spans_held(ds)->cur;
  if (set) atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
  sh_mutex_unlock(&ds->mu);
  return set;
}

/* Index of the last span whose lower bound is <= key, or -1. */
static long find_floor(const span_set *set, const void *key, size_t klen) {
  long lo = 0, hi = (long)set->n;
  while (lo < hi) {
    long mid = (lo + hi) / 2;
    if (span_bound_cmp_key(set->s[mid]->lo, 1, key, klen) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

static const dead_span *holding(const span_set *set, const void *key, size_t klen) {
  long i = set ? find_floor(set, key, klen) : -1;
  if (i < 0) return NULL;
  const dead_span *s = set->s[i];
  return span_bound_cmp_key(s->hi, 0, key, klen) > 0 ? s : NULL;
}

const dead_span *span_set_find(const span_set *set, const void *key, size_t klen, uint64_t seq) {
  const dead_span *s = holding(set, key, klen);
  return s && s->min_seq <= seq ? s : NULL;
}

const dead_span *span_set_first(const span_set *set, uint64_t seq) {
  if (!set || !set->n) return NULL;
  const dead_span *s = set->s[0];
  return s->lo.inf && s->min_seq <= seq ? s : NULL;
}

const dead_span *span_set_last(const span_set *set, uint64_t seq) {
  if (!set || !set->n) return NULL;
  const dead_span *s = set->s[set->n - 1];
  return s->hi.inf && s->min_seq <= seq ? s : NULL;
}

/* ---- adding ---- */

/* Whether a and b overlap or touch, so that their union is one range. */
static int joinable(const dead_span *a, span_bound lo, span_bound hi) {
  return bound_cmp(a->lo, 1, hi, 0) <= 0 && bound_cmp(lo, 1, a->hi, 0) <= 0;
}

/* The least weighty span other than keep, evicted when the set is full. */
static size_t lightest(const span_set *set, const dead_span *keep) {
  size_t best = set->n;
  for (size_t i = 0; i < set->n; i++)
    if (set->s[i] != keep && (best == set->n || set->s[i]->weight < set->s[best]->weight)) best = i;
  return best;
}

static void set_remove(span_set *set, size_t i) {
  span_unref(set->s[i]);
  memmove(&set->s[i], &set->s[i + 1], (set->n - i - 1) * sizeof set->s[0]);
  set->n--;
}

/* A new array: cur (NULL: empty) with the union of the new span and every span it joins. */
static span_set *merged_set(const span_set *cur, span_bound lo, span_bound hi, uint64_t min_seq,
                            uint64_t weight) {
  size_t n = cur ? cur->n : 0;
  for (size_t i = 0; i < n; i++) {
    const dead_span *s = cur->s[i];
    if (!joinable(s, lo, hi)) continue;
    if (bound_cmp(s->lo, 1, lo, 1) < 0) lo = s->lo;
    if (bound_cmp(s->hi, 0, hi, 0) > 0) hi = s->hi;
    if (s->min_seq > min_seq) min_seq = s->min_seq;
    weight = weight > s->weight ? weight : s->weight;
  }
  dead_span *merged = span_new(lo, hi, min_seq, weight);
  span_set *next = set_new(n + 1);
  if (!merged || !next) {
    free(merged);
    free(next);
    return NULL;
  }
  int placed = 0;
  for (size_t i = 0; i < n; i++) {
    dead_span *s = cur->s[i];
    if (joinable(s, lo, hi)) continue;
    if (!placed && bound_cmp(s->lo, 1, merged->lo, 1) > 0) set_push(next, merged, 0), placed = 1;
    set_push(next, s, 1);
  }
  if (!placed) set_push(next, merged, 0);
  if (next->n > MAX_SPANS) set_remove(next, lightest(next, merged));
  return next;
}

span_set *span_set_with(const span_set *base, span_bound lo, span_bound hi, uint64_t min_seq,
                        uint64_t weight) {
  if (bound_cmp(lo, 1, hi, 0) >= 0) return NULL;
  return merged_set(base, lo, hi, min_seq, weight);
}

/* ---- the put log ---- */

/* Starts logging puts; every put given a sequence before this is unknown. */
static void log_start(dead_spans *ds) SH_REQUIRES(ds->mu) {
  for (int g = 0; g < 2; g++) {
    put_log_gen *gen = &spans_held(ds)->gen[g];
    if (!gen->e) gen->e = malloc(LOG_ENTRIES * sizeof gen->e[0]);
    if (!gen->keys) gen->keys = malloc(LOG_BYTES);
    if (!gen->e || !gen->keys) return; /* no log: readers that fall behind walk */
    gen->n = gen->used = 0;
  }
  /* Dekker as in dead_spans_add: a writer that stored `allocated` before this load may not
   * have seen `logging`, and its puts lie at or below the floor. */
  atomic_store(&ds->logging, 1);
  dead_spans_locked *l = spans_held(ds);
  l->log_floor = l->log_through = atomic_load(&ds->allocated);
  l->log_idle = 0;
}

/* Drops the older generation: the puts it held are no longer known. */
static void log_rotate(dead_spans *ds) SH_REQUIRES(ds->mu) {
  dead_spans_locked *l = spans_held(ds);
  put_log_gen old = l->gen[1];
  if (old.n && old.e[old.n - 1].seq > l->log_floor) l->log_floor = old.e[old.n - 1].seq;
  l->gen[1] = l->gen[0];
  l->gen[0] = old;
  l->gen[0].n = l->gen[0].used = 0;
  /* Stopping is always safe: an add then finds the log not covering it and is refused. */
  if (++l->log_idle >= LOG_IDLE_GENERATIONS) atomic_store(&ds->logging, 0);
}

static void log_put(dead_spans *ds, const void *key, size_t klen, uint64_t seq)
    SH_REQUIRES(ds->mu) {
  put_log_gen *g = &spans_held(ds)->gen[0];
  if (g->n == LOG_ENTRIES || g->used + klen > LOG_BYTES) {
    log_rotate(ds);
    g = &spans_held(ds)->gen[0];
  }
  if (klen > LOG_BYTES) { /* no room even alone: every put up to it becomes unknown */
    log_rotate(ds);
    log_rotate(ds);
    spans_held(ds)->log_floor = seq;
    return;
  }
  if (klen) memcpy(g->keys + g->used, key, klen);
  g->e[g->n++] = (struct put_log_entry){seq, (uint32_t)g->used, (uint32_t)klen};
  g->used += klen;
}

/* Whether the log knows every put above read_seq. */
static int log_covers(dead_spans *ds, uint64_t allocated, uint64_t read_seq) SH_REQUIRES(ds->mu) {
  const dead_spans_locked *l = spans_held(ds);
  return atomic_load(&ds->logging) && l->log_through == allocated && read_seq >= l->log_floor;
}

static int cut_key(dead_spans *ds, const void *key, size_t klen) SH_REQUIRES(ds->mu);

/* Cuts every logged put above read_seq out of the current set. */
static int cut_logged_after(dead_spans *ds, uint64_t read_seq) SH_REQUIRES(ds->mu) {
  for (int g = 1; g >= 0; g--) {
    const put_log_gen *gen = &spans_held(ds)->gen[g];
    size_t lo = 0, hi = gen->n;
    while (lo < hi) { /* the first entry above read_seq */
      size_t mid = (lo + hi) / 2;
      if (gen->e[mid].seq <= read_seq)
        lo = mid + 1;
      else
        hi = mid;
    }
    for (size_t i = lo; i < gen->n; i++) {
      int rc = cut_key(ds, gen->keys + gen->e[i].off, gen->e[i].len);
      if (rc) return rc;
    }
  }
  return SHALE_OK;
}

/* Adds the span, then cuts from the result the puts the reader did not see. */
static int add_known(dead_spans *ds, span_bound lo, span_bound hi, uint64_t min_seq,
                     uint64_t weight, uint64_t read_seq, int cut_log) SH_REQUIRES(ds->mu) {
  span_set *next = merged_set(spans_held(ds)->cur, lo, hi, min_seq, weight);
  if (!next) return SHALE_NOMEM;
  set_install(ds, next);
  int rc = cut_log ? cut_logged_after(ds, read_seq) : SHALE_OK;
  return rc ? rc : 1;
}

int dead_spans_add(dead_spans *ds, span_bound lo, span_bound hi, uint64_t min_seq, uint64_t weight,
                   uint64_t read_seq) {
  if (bound_cmp(lo, 1, hi, 0) >= 0) return 0;
  sh_mutex_lock(&ds->mu);
  /* Dekker with the write path: active is raised before `allocated` is read, and a writer
   * stores `allocated` before it reads `active`. Either this reader sees the writer's
   * sequence (and keeps the span only if the writer's puts are logged), or the writer sees
   * active and cuts after this unlock. */
  atomic_store(&ds->active, 1);
  uint64_t allocated = atomic_load(&ds->allocated);
  int rc = 0;
  if (allocated != read_seq)
    spans_held(ds)->log_idle = 0; /* a reader behind the writers: keep logging */
  if (allocated == read_seq)
    rc = add_known(ds, lo, hi, min_seq, weight, read_seq, 0);
  else if (log_covers(ds, allocated, read_seq))
    rc = add_known(ds, lo, hi, min_seq, weight, read_seq, 1);
  else if (!atomic_load(&ds->logging))
    log_start(ds);
  if (!spans_held(ds)->cur) atomic_store(&ds->active, 0);
  sh_mutex_unlock(&ds->mu);
  if (rc == 1) atomic_fetch_add_explicit(&ds->added, 1, memory_order_relaxed);
  return rc;
}

/* ---- cutting ---- */

void dead_spans_allocated(dead_spans *ds, uint64_t seq) { atomic_store(&ds->allocated, seq); }

int dead_spans_active(dead_spans *ds) {
  return atomic_load(&ds->active) || atomic_load(&ds->logging);
}

void dead_spans_cut_begin(dead_spans *ds) { sh_mutex_lock(&ds->mu); }

void dead_spans_cut_end(dead_spans *ds, uint64_t last_seq) {
  dead_spans_locked *l = spans_held(ds);
  if (atomic_load(&ds->logging) && last_seq > l->log_through) l->log_through = last_seq;
  if (!l->cur) atomic_store(&ds->active, 0);
  sh_mutex_unlock(&ds->mu);
}

/* s without key: the part below it and the part from key's successor (key ‖ 0) on. */
static int split_around(span_set *next, const dead_span *s, const void *key, size_t klen) {
  span_bound at = {key, klen, 0};
  if (span_bound_cmp_key(s->lo, 1, key, klen) < 0) {
    dead_span *below = span_new(s->lo, at, s->min_seq, s->weight / 2);
    if (!below) return SHALE_NOMEM;
    set_push(next, below, 0);
  }
  uint8_t *succ = malloc(klen + 1);
  if (!succ) return SHALE_NOMEM;
  if (klen) memcpy(succ, key, klen);
  succ[klen] = 0;
  span_bound from = {succ, klen + 1, 0};
  int rc = SHALE_OK;
  if (bound_cmp(from, 1, s->hi, 0) < 0) {
    dead_span *above = span_new(from, s->hi, s->min_seq, s->weight / 2);
    if (above)
      set_push(next, above, 0);
    else
      rc = SHALE_NOMEM;
  }
  free(succ);
  return rc;
}

int dead_spans_cut(dead_spans *ds, const void *key, size_t klen, uint64_t seq) {
  if (atomic_load_explicit(&ds->logging, memory_order_relaxed)) log_put(ds, key, klen, seq);
  return cut_key(ds, key, klen);
}

static int cut_key(dead_spans *ds, const void *key, size_t klen) {
  span_set *cur = spans_held(ds)->cur;
  const dead_span *hit = holding(cur, key, klen);
  if (!hit) return SHALE_OK;
  span_set *next = set_new(cur->n + 1);
  int rc = next ? SHALE_OK : SHALE_NOMEM;
  for (size_t i = 0; !rc && i < cur->n; i++) {
    if (cur->s[i] == hit)
      rc = split_around(next, hit, key, klen);
    else
      set_push(next, cur->s[i], 1);
  }
  if (rc) { /* forgetting every span is always correct */
    span_set_release(next);
    next = NULL;
  }
  set_install(ds, next);
  atomic_fetch_add_explicit(&ds->cut, 1, memory_order_relaxed);
  return rc;
}
