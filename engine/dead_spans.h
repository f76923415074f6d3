/* dead_spans.h — key ranges that iterators have walked and found to hold no live key, kept
 * per DB so that later seeks and moves cross them in one step instead of one merge step per
 * hidden entry (a queue drained from its head, a seek into a deleted run).
 *
 * A span [lo, hi) with min_seq m says: for every read at a sequence s >= m, no user key in
 * [lo, hi) has a visible value. It is derived data, never written to disk: the tombstones
 * that make it true stay where they are, and a span only ever lets a read skip work.
 *
 * Keeping it true: the write path cuts every put's key out of every span before that put
 * becomes visible, and a span is added only by a reader that knows every put given a
 * sequence above its own: none when its sequence is the newest one given out, else the
 * puts in the put log, which the add cuts out of the new span. Deletes and range deletes
 * keep a dead key dead and cut nothing. Flushes and compactions change no read's answer,
 * so they leave spans alone.
 *
 * The put log exists because readers fall behind: a consumer draining a queue while a
 * producer appends reads at a sequence that is already old when its walk ends. The log
 * starts the first time an add is refused for want of it, and holds the keys of the latest
 * puts (two generations of a bounded size); a reader older than the log still walks, and
 * keeps what it found for itself (span_set_with). Once no add has needed it for a while
 * (LOG_IDLE_GENERATIONS), it stops, and writers stop paying for it; the next refusal
 * starts it again. */
#ifndef SHALE_ENGINE_DEAD_SPANS_H
#define SHALE_ENGINE_DEAD_SPANS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "util/thread_annotations.h"

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

/* One generation of the put log: put keys in sequence order. */
typedef struct put_log_gen {
  struct put_log_entry {
    uint64_t seq;
    uint32_t off, len;
  } * e;
  size_t n;
  uint8_t *keys;
  size_t used;
} put_log_gen;

/* The fields a dead_spans' mu guards: the set and the log. Reached only through
 * spans_held() in dead_spans.c, whose SH_REQUIRES clang checks. */
typedef struct dead_spans_locked {
  span_set *cur;      /* NULL when empty */
  uint64_t log_floor; /* every put above it and up to log_through is in the log */
  uint64_t log_through;
  unsigned log_idle;  /* generations dropped since an add last needed the log */
  put_log_gen gen[2]; /* gen[0] newest; gen[1] dropped when gen[0] fills */
} dead_spans_locked;

typedef struct dead_spans {
  sh_mutex mu;                /* adds and cuts are serialized by it */
  dead_spans_locked under_mu; /* the set and the log */
  _Atomic int active;         /* spans exist or an add is being decided: writers must cut */
  _Atomic uint64_t allocated; /* the newest sequence any writer has been given */
  _Atomic int logging;        /* writers log their put keys (see above) */
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
/* Whether writes must cut (and log) their put keys (call after dead_spans_allocated). */
int dead_spans_active(dead_spans *ds);
/* Cuts keys out of every span and logs them: begin, then cut once per put key in sequence
 * order, then end with the group's last sequence. Between begin and end the caller holds
 * ds->mu. @return SHALE_OK or SHALE_NOMEM (then every span is dropped, which is always
 * safe). */
void dead_spans_cut_begin(dead_spans *ds) SH_ACQUIRE(ds->mu);
int dead_spans_cut(dead_spans *ds, const void *key, size_t klen, uint64_t seq) SH_REQUIRES(ds->mu);
void dead_spans_cut_end(dead_spans *ds, uint64_t last_seq) SH_RELEASE(ds->mu);

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
 * kept when every put given a sequence above read_seq is known (none, or all in the log,
 * whose keys are cut out of it); spans it overlaps or touches merge with it.
 * @return 1 when kept, 0 when not, or SHALE_NOMEM. */
int dead_spans_add(dead_spans *ds, span_bound lo, span_bound hi, uint64_t min_seq, uint64_t weight,
                   uint64_t read_seq);
/* A new set: base (NULL: empty) with [lo, hi) merged in. For a reader whose add was refused:
 * the span holds at that reader's own sequence, which never changes. NULL without memory. */
span_set *span_set_with(const span_set *base, span_bound lo, span_bound hi, uint64_t min_seq,
                        uint64_t weight);

/* Compares bounds as a lower (lo_side 1) or upper (0) bound against a key. */
int span_bound_cmp_key(span_bound b, int lo_side, const void *key, size_t klen);

#endif /* SHALE_ENGINE_DEAD_SPANS_H */
