/* dead_spans.h — key ranges that iterators have walked and found to hold no live key, kept
 * per DB so that later seeks and moves cross them in one step instead of one merge step per
 * hidden entry (a queue drained from its head, a seek into a deleted run).
 *
 * A span [lo, hi) with min_seq m says: for every read at a sequence s >= m, no user key in
 * [lo, hi) has a visible value. It is derived data, never written to disk: the tombstones
 * that make it true stay where they are, and a span only ever lets a read skip work.
 *
 * Keeping it true: a span is added only by a reader whose sequence is the newest one any
 * writer has been given (so the reader saw every write), and the write path cuts every put's
 * key out of every span before that put becomes visible. Deletes and range deletes keep a
 * dead key dead and cut nothing. Flushes and compactions change no read's answer, so they
 * leave spans alone. */
#ifndef SHALE_ENGINE_DEAD_SPANS_H
#define SHALE_ENGINE_DEAD_SPANS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One bound of a span: a user key, or unbounded (below or above every key). */
typedef struct span_bound {
  const uint8_t *key;
  size_t len;
  int inf;
} span_bound;

typedef struct dead_span {
  _Atomic int refs;
  span_bound lo, hi; /* [lo, hi); lo.inf: from the first key, hi.inf: to the last */
  uint64_t min_seq;  /* valid for reads at sequences >= min_seq */
  uint64_t weight;   /* hidden keys it stands for: the least weighty is evicted first */
} dead_span;

/* An immutable, sorted array of disjoint spans. Readers hold one by reference: a set taken
 * after a reader's sequence was read stays valid for that reader for its whole life. */
typedef struct span_set {
  _Atomic int refs;
  size_t n;
  dead_span *s[];
} span_set;

typedef struct dead_spans {
  pthread_mutex_t mu;         /* guards cur; adds and cuts are serialized by it */
  span_set *cur;              /* NULL when empty */
  _Atomic int active;         /* spans exist or an add is being decided: writers must cut */
  _Atomic uint64_t allocated; /* the newest sequence any writer has been given */
  /* counters for shale.stats: spans added, cut by puts, jumped over, and hidden keys that
   * iterators stepped over one by one (outside any span) */
  _Atomic uint64_t added, cut, skipped, stepped;
} dead_spans;

int dead_spans_init(dead_spans *ds, uint64_t last_seq);
void dead_spans_destroy(dead_spans *ds);

/* ---- the write path ---- */

/* Records that sequences up to seq are given out. Called before those writes reach a
 * memtable. */
void dead_spans_allocated(dead_spans *ds, uint64_t seq);
/* Whether writes must cut their put keys (call after dead_spans_allocated). */
int dead_spans_active(dead_spans *ds);
/* Cuts keys out of every span: begin, then cut once per put key, then end. Between begin
 * and end the caller holds ds->mu. @return SHALE_OK or SHALE_NOMEM (then every span is
 * dropped, which is always safe). */
void dead_spans_cut_begin(dead_spans *ds);
int dead_spans_cut(dead_spans *ds, const void *key, size_t klen);
void dead_spans_cut_end(dead_spans *ds);

/* ---- readers ---- */

/* The current set with a reference, or NULL when there is none. */
span_set *dead_spans_acquire(dead_spans *ds);
void span_set_release(span_set *s);
/* The span holding key that is valid at seq, or NULL. */
const dead_span *span_set_find(const span_set *s, const void *key, size_t klen, uint64_t seq);
/* The span reaching the first (lo.inf) or the last (hi.inf) key, valid at seq, or NULL. */
const dead_span *span_set_first(const span_set *s, uint64_t seq);
const dead_span *span_set_last(const span_set *s, uint64_t seq);

/* Offers [lo, hi) as dead at every sequence >= min_seq, found by a reader at read_seq. It is
 * kept only when no write has been given a sequence above read_seq (the reader saw them all);
 * spans it overlaps or touches merge with it. @return 1 when kept, 0 when not, or SHALE_NOMEM. */
int dead_spans_add(dead_spans *ds, span_bound lo, span_bound hi, uint64_t min_seq, uint64_t weight,
                   uint64_t read_seq);

/* Compares bounds as a lower (lo_side 1) or upper (0) bound against a key. */
int span_bound_cmp_key(span_bound b, int lo_side, const void *key, size_t klen);

#endif /* SHALE_ENGINE_DEAD_SPANS_H */
