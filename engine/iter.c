/* iter.c — the public iterator. It holds a read view and a sequence, merges every component
 * of the view by internal key, and shows for each user key its newest entry visible at the
 * sequence, hiding tombstones and keys a newer range tombstone covers.
 * Position invariant: when valid, the merging iterator sits on the entry being shown, except
 * after a seek answered by a point lookup (below), until the next move repositions it.
 *
 * A seek to a key that holds a live value is answered like a get, through the memtables'
 * hash indexes and the tables' bloom filters, and the merge is positioned only when the
 * caller moves on: the skiplist descent and one block seek per level were two thirds of a
 * seek, and a seek to an existing key (db_bench's seekrandom, a lookup by id before a scan)
 * never needs them unless it goes on. The lookup runs on the iterator's own view and
 * sequence, so it gives the answer the merge would. A seek that goes on to next or prev pays
 * for both, so each iterator tracks whether its seeks do (starting from what the DB's last
 * iterator learned), and stops using lookups while most of them do.
 *
 * Deleted runs: a walk that steps over many hidden keys offers the range it crossed to the
 * DB's dead spans (engine/dead_spans.h), and a later seek or move that lands in a known span
 * jumps to its far end in one seek, whatever lies hidden inside it. A queue drained from its
 * head thus costs one seek per pop, however many keys were popped before.
 *
 * Bounds (shale_read_options): keys below lower_bound or at or above upper_bound do not
 * exist for the iterator; a walk stops at a bound instead of reading on. */
#include <stdlib.h>
#include <string.h>

#include "engine/compaction.h"
#include "engine/db_impl.h"
#include "engine/dead_spans.h"
#include "engine/errmsg.h"
#include "engine/get.h"
#include "engine/iter.h"
#include "engine/iter_sources.h"
#include "engine/lookup.h"
#include "engine/merge_iter.h"
#include "engine/options.h"
#include "engine/statistics.h"
#include "engine/view_cache.h"
#include "util/ikey.h"

/* The range of hidden keys the current walk has crossed. `edge` is the end the walk started
 * from: the inclusive lower bound of a forward walk, the exclusive upper bound of a backward
 * one; the walk's other end is where it stops. */
typedef struct dead_run {
  buf edge;
  int edge_inf;
  /* A move's edge is the key it starts from, copied only once the walk hides a key: most
   * moves hide none, and a copy per step is a tenth of a scan. Until then edge_from names
   * the key (kept unchanged until the first hide), edge_succ whether the edge lies just
   * above it. */
  const buf *edge_from;
  int edge_succ;
  uint64_t hidden;  /* hidden keys stepped over one by one */
  uint64_t min_seq; /* newest sequence that decided one of them hidden */
  uint64_t weight;  /* hidden keys, counting those of the spans crossed */
  int crossed;      /* jumped over a known span */
} dead_run;

/* A walk offers the range it crossed once it stepped over this many hidden keys, or once it
 * crossed a known span and stepped over any: below it, stepping is cheaper than the offer. */
#define RUN_MIN_HIDDEN 16

struct shale_iter {
  shale_db *db;
  read_view *view;
  uint64_t seq;
  unsigned read_flags; /* SST_READ_*, from the read options */
  kv_iter *merged;
  range_dels rdels;
  int valid;
  int status;
  buf key;             /* scratch: a user key being resolved */
  buf seekkey;         /* scratch: an internal seek key */
  int pinned;          /* valid with the entry below, the merge not positioned on it yet */
  int seeked;          /* a seek whose outcome (moved on from, or not) is not counted yet */
  unsigned seek_moves; /* see count_seek */
  buf pinned_key;
  void *pinned_val;
  size_t pinned_vlen;
  int behind;   /* valid with back_key/back_val; the merge sits on the entries before it */
  buf back_key; /* after a backward walk: the key shown and its value, copied */
  buf back_val;
  int has_lower, has_upper;
  buf lower, upper; /* [lower, upper): copies of the caller's bounds */
  span_set *spans;  /* the DB's dead spans, with those its own walks found (NULL: none) */
  dead_run run;
};

/* it->seek_moves counts the iterator's recent seeks: up by one for each that was followed by
 * a move, down by one for each that was not, within [0, SEEK_MOVES_MAX]. Lookups answer seeks
 * below SEEK_MOVES_OFF. An iterator starts where the DB's last freed one ended, so a program
 * that makes a new iterator per seek keeps what its earlier ones learned. */
#define SEEK_MOVES_MAX 8
#define SEEK_MOVES_OFF 4

static void count_seek(shale_iter *it, int moved) {
  if (!it->seeked) return;
  it->seeked = 0;
  if (moved && it->seek_moves < SEEK_MOVES_MAX) it->seek_moves++;
  if (!moved && it->seek_moves > 0) it->seek_moves--;
}

/* Answers a seek with a point lookup when key holds a live value at it->seq. */
static int seek_exact(shale_iter *it, const void *key, size_t klen) {
  if (!klen || klen > SHALE_MAX_KEY_SIZE || it->seek_moves >= SEEK_MOVES_OFF) return 0;
  void *val = NULL;
  size_t vlen = 0;
  lookup lk = {.key = key,
               .klen = klen,
               .seq = it->seq,
               .val = &val,
               .vlen = &vlen,
               .read_flags = it->read_flags};
  if (view_lookup(it->db, it->view, &lk) != SHALE_OK) { /* absent, deleted or an error: */
    free(val); /* the merge decides, and reports any error itself */
    return 0;
  }
  buf_clear(&it->pinned_key);
  buf_append(&it->pinned_key, key, klen);
  if (!buf_ok(&it->pinned_key)) {
    free(val);
    return 0;
  }
  free(it->pinned_val);
  it->pinned_val = val;
  it->pinned_vlen = vlen;
  it->pinned = it->valid = 1;
  return 1;
}

static void make_seek_key(shale_iter *it, const void *k, size_t kl, uint64_t seq, unsigned kind) {
  buf_clear(&it->seekkey);
  buf_append(&it->seekkey, k, kl);
  buf_append_fixed64(&it->seekkey, ikey_pack(seq, kind));
}

static void merged_seek(shale_iter *it, const void *k, size_t kl, uint64_t seq, unsigned kind) {
  make_seek_key(it, k, kl, seq, kind);
  it->merged->ops->seek(it->merged, it->seekkey.data, it->seekkey.len);
}

static int cur_entry(shale_iter *it, const uint8_t **uk, size_t *ul, uint64_t *trailer) {
  kv_iter *m = it->merged;
  if (!kv_valid(m)) return 0;
  *uk = m->key;
  *ul = m->klen - IKEY_TRAILER;
  *trailer = get_fixed64(m->key + *ul);
  return 1;
}

static int visible_put(shale_iter *it, const uint8_t *uk, size_t ul, uint64_t trailer) {
  return ikey_kind(trailer) == KIND_PUT &&
         (!it->rdels.n || !range_dels_covers(&it->rdels, uk, ul, ikey_seq(trailer), it->seq));
}

static void settle(shale_iter *it) {
  it->valid = it->behind = 0;
  int rc = it->merged->ops->status(it->merged);
  if (!rc && (!buf_ok(&it->key) || !buf_ok(&it->run.edge) || !buf_ok(&it->back_val)))
    rc = SHALE_NOMEM;
  if (rc) it->status = rc;
}

/* ---- bounds ---- */

static int below_lower(const shale_iter *it, const void *k, size_t kl) {
  return it->has_lower && ukey_cmp(it->db->cmp, k, kl, it->lower.data, it->lower.len) < 0;
}

static int at_or_above_upper(const shale_iter *it, const void *k, size_t kl) {
  return it->has_upper && ukey_cmp(it->db->cmp, k, kl, it->upper.data, it->upper.len) >= 0;
}

/* ---- the run of hidden keys a walk crosses ---- */

static void run_set_edge(dead_run *r, span_bound b, int successor) {
  r->edge_from = NULL;
  buf_clear(&r->edge);
  if (!b.inf) buf_append(&r->edge, b.key, b.len);
  if (successor) buf_append_byte(&r->edge, 0); /* the first key above b */
  r->edge_inf = b.inf;
}

/* Starts a walk's run at edge; `successor`: just above it (edge itself was shown). */
static void run_begin(shale_iter *it, const void *edge, size_t len, int inf, int successor) {
  dead_run *r = &it->run;
  run_set_edge(r, (span_bound){edge, len, inf}, successor);
  r->hidden = r->min_seq = r->weight = 0;
  r->crossed = 0;
}

/* Starts a move's run at the key in `from` (see dead_run.edge_from). */
static void run_begin_at(shale_iter *it, const buf *from, int successor) {
  dead_run *r = &it->run;
  buf_clear(&r->edge);
  r->edge_inf = 0;
  r->edge_from = from;
  r->edge_succ = successor;
  r->hidden = r->min_seq = r->weight = 0;
  r->crossed = 0;
}

static void run_copy_edge(dead_run *r) {
  if (!r->edge_from) return;
  buf_append(&r->edge, r->edge_from->data, r->edge_from->len);
  if (r->edge_succ) buf_append_byte(&r->edge, 0);
  r->edge_from = NULL;
}

static void run_hide(shale_iter *it, uint64_t decided_by) {
  run_copy_edge(&it->run);
  it->run.hidden++;
  it->run.weight++;
  if (decided_by > it->run.min_seq) it->run.min_seq = decided_by;
}

static span_bound run_edge(const dead_run *r) {
  return (span_bound){r->edge.data, r->edge.len, r->edge_inf};
}

/* Widens the run by a span it jumps over: a forward walk then starts at the span's lower
 * bound when that lies below its own, a backward one at the span's upper bound. */
static void run_cross(shale_iter *it, const dead_span *s, int forward) {
  dead_run *r = &it->run;
  run_copy_edge(r);
  span_bound theirs = forward ? s->lo : s->hi;
  int wider = !r->edge_inf &&
              (theirs.inf ||
               (forward ? ukey_compare(theirs.key, theirs.len, r->edge.data, r->edge.len) < 0
                        : ukey_compare(theirs.key, theirs.len, r->edge.data, r->edge.len) > 0));
  if (wider) run_set_edge(r, theirs, 0);
  r->crossed = 1;
  r->weight += s->weight;
  if (s->min_seq > r->min_seq) r->min_seq = s->min_seq;
  atomic_fetch_add_explicit(&it->db->spans.skipped, 1, memory_order_relaxed);
}

/* Offers the run, now ended at `far` (exclusive upper end of a forward walk, inclusive
 * lower end of a backward one), to the DB. Nothing is offered after an error: a walk cut
 * short by a failed read proved nothing about the keys it did not reach. */
static void run_end(shale_iter *it, span_bound far, int forward) {
  dead_run *r = &it->run;
  if (!r->hidden) return; /* nothing to offer: most walks end on their first key */
  if (it->db->cmp) {      /* a span's edges are successors (key ‖ 0) only bytewise */
    r->hidden = 0;
    return;
  }
  atomic_fetch_add_explicit(&it->db->spans.stepped, r->hidden, memory_order_relaxed);
  if (r->hidden < RUN_MIN_HIDDEN && !r->crossed) {
    r->hidden = 0;
    return;
  }
  if (it->merged->ops->status(it->merged) || !buf_ok(&r->edge)) return;
  span_bound lo = forward ? run_edge(r) : far, hi = forward ? far : run_edge(r);
  int kept = dead_spans_add(&it->db->spans, lo, hi, r->min_seq, r->weight, it->seq);
  span_set *mine = kept == 1 ? dead_spans_acquire(&it->db->spans) /* holds this walk's span */
                             : span_set_with(it->spans, lo, hi, r->min_seq, r->weight);
  if (mine) { /* refused (a reader behind the writers): the span still holds at it->seq */
    span_set_release(it->spans);
    it->spans = mine;
  }
  if (kept == 1) compaction_suggest_range(it->db, lo, hi, r->weight, r->hidden);
  r->hidden = 0;
  r->crossed = 0;
}

static void run_end_at_key(shale_iter *it, const uint8_t *k, size_t kl, int forward) {
  if (!it->run.hidden) return; /* run_end offers nothing: spare the backward key copy */
  if (forward) {
    run_end(it, (span_bound){k, kl, 0}, 1);
    return;
  }
  buf_clear(&it->seekkey); /* a backward walk stopped at a shown key: the run starts above it */
  buf_append(&it->seekkey, k, kl);
  buf_append_byte(&it->seekkey, 0);
  if (buf_ok(&it->seekkey)) run_end(it, (span_bound){it->seekkey.data, it->seekkey.len, 0}, 0);
}

/* A forward walk reached the end of the data or the upper bound. */
static void run_end_forward(shale_iter *it) {
  run_end(it, (span_bound){it->upper.data, it->upper.len, !it->has_upper}, 1);
}

static void run_end_backward(shale_iter *it) {
  run_end(it, (span_bound){it->lower.data, it->lower.len, !it->has_lower}, 0);
}

/* The sequence that hides an entry at or below it->seq: its own for a tombstone, the
 * covering range tombstone's for a covered value. */
static uint64_t hidden_by(shale_iter *it, const uint8_t *uk, size_t ul, uint64_t tr) {
  if (ikey_kind(tr) == KIND_DEL) return ikey_seq(tr);
  const uint8_t *end;
  size_t elen;
  uint64_t seq;
  if (range_dels_cover_span(&it->rdels, uk, ul, ikey_seq(tr), it->seq, &end, &elen, &seq))
    return seq;
  return it->seq;
}

/* When a range tombstone covers the current entry, every component whose entries are all
 * older than it jumps to the end of the covered span in one seek, so a scan across a range
 * deleted in one call costs a seek per component, not a step per deleted key. */
static int skip_covered_span(shale_iter *it, const uint8_t *uk, size_t ul, uint64_t tr) {
  const uint8_t *end;
  size_t elen;
  uint64_t seq;
  if (ikey_kind(tr) == KIND_DEL ||
      !range_dels_cover_span(&it->rdels, uk, ul, ikey_seq(tr), it->seq, &end, &elen, &seq))
    return 0;
  make_seek_key(it, end, elen, SEQ_MAX, KIND_SEEK);
  merge_iter_skip_older(it->merged, it->seekkey.data, it->seekkey.len, seq);
  return 1;
}

enum { NO_SPAN, JUMPED, REACHED_END };

/* Forward over the dead span s: the merge moves to its upper end in one seek. */
static int jump_forward(shale_iter *it, const dead_span *s) {
  run_cross(it, s, 1);
  if (s->hi.inf || at_or_above_upper(it, s->hi.key, s->hi.len)) return REACHED_END;
  merged_seek(it, s->hi.key, s->hi.len, SEQ_MAX, KIND_SEEK);
  return JUMPED;
}

static int cross_forward(shale_iter *it, const uint8_t *uk, size_t ul) {
  const dead_span *s = span_set_find(it->spans, uk, ul, it->seq);
  return s ? jump_forward(it, s) : NO_SPAN;
}

/* Moves forward from the current entry to the first user key whose newest visible entry is
 * a live value. `skip` holds a user key already dealt with, whose older entries are skipped. */
static void find_next_visible(shale_iter *it, int have_skip) {
  const uint8_t *uk;
  size_t ul;
  uint64_t tr;
  while (cur_entry(it, &uk, &ul, &tr)) {
    if (have_skip && ukey_compare(uk, ul, it->key.data, it->key.len) == 0) {
      it->merged->ops->next(it->merged);
      continue;
    }
    have_skip = 0;
    if (at_or_above_upper(it, uk, ul)) break;
    if (ikey_seq(tr) > it->seq) {
      it->merged->ops->next(it->merged);
      continue;
    }
    if (visible_put(it, uk, ul, tr)) {
      run_end_at_key(it, uk, ul, 1);
      it->valid = 1;
      return;
    }
    int crossed = cross_forward(it, uk, ul);
    if (crossed == REACHED_END) break;
    if (crossed == JUMPED) continue;
    run_hide(it, hidden_by(it, uk, ul, tr));
    buf_clear(&it->key);
    buf_append(&it->key, uk, ul);
    have_skip = 1;
    if (skip_covered_span(it, uk, ul, tr)) continue;
    it->merged->ops->next(it->merged);
  }
  run_end_forward(it);
  settle(it);
}

/* Positions the merging iterator on the last entry whose user key is below key (or makes it
 * invalid), in one seek_before: a seek followed by a prev could land on versions a writer
 * inserted into a memtable in between. */
static void step_before(shale_iter *it, const buf *key) {
  make_seek_key(it, key->data, key->len, SEQ_MAX, KIND_SEEK);
  it->merged->ops->seek_before(it->merged, it->seekkey.data, it->seekkey.len);
}

/* Backward over the dead span holding it->key, if any: the merge moves below its lower end. */
static int cross_backward(shale_iter *it) {
  const dead_span *s = span_set_find(it->spans, it->key.data, it->key.len, it->seq);
  if (!s) return NO_SPAN;
  run_cross(it, s, 0);
  if (s->lo.inf ||
      (it->has_lower && span_bound_cmp_key(s->lo, 1, it->lower.data, it->lower.len) <= 0))
    return REACHED_END;
  buf_clear(&it->key);
  buf_append(&it->key, s->lo.key, s->lo.len);
  step_before(it, &it->key);
  return JUMPED;
}

/* What a backward walk knows of the user key it is reading (in it->key): entries arrive
 * oldest first, so each one visible at it->seq overrides the ones before it. */
typedef struct back_key {
  int have;         /* it->key holds the key being read */
  int live;         /* its newest visible entry so far is a value (copied to it->back_val) */
  uint64_t decided; /* else: the sequence that hides it (0: no entry visible at all) */
  int versions;     /* entries of it stepped over one by one */
} back_key;

/* Versions of one key a backward walk steps over before it seeks to the newest visible one
 * instead: a key overwritten many times costs a seek, not a step per version. */
#define BACK_VERSIONS_MAX 8

static void back_key_start(shale_iter *it, back_key *b, const uint8_t *uk, size_t ul) {
  buf_assign(&it->key, uk, ul);
  *b = (back_key){.have = 1};
}

/* Takes an entry of the key being read. REQUIRES: visible at it->seq (ikey_seq(tr) <= it->seq). */
static void back_key_take(shale_iter *it, back_key *b, const uint8_t *uk, size_t ul, uint64_t tr) {
  b->live = visible_put(it, uk, ul, tr);
  if (!b->live) {
    b->decided = hidden_by(it, uk, ul, tr);
    return;
  }
  size_t vlen;
  const void *v = it->merged->ops->value(it->merged, &vlen);
  buf_assign(&it->back_val, v, vlen);
}

/* Shows the key just read from the copies: the merge already sits on the entries before it,
 * which is where the next prev continues. */
static void show_behind(shale_iter *it) {
  if (!buf_ok(&it->back_val) || !buf_ok(&it->key)) return settle(it);
  buf t = it->back_key;
  it->back_key = it->key;
  it->key = t;
  run_end_at_key(it, it->back_key.data, it->back_key.len, 0);
  it->behind = it->valid = 1;
}

/* The merging iterator sits on the last entry of some user key (or is invalid). Walks back
 * entry by entry, as LevelDB's reverse iteration does, until a key's newest visible entry
 * is a live value: one merge step per entry and no repositioning of the other components,
 * except to jump below a dead span. */
static void resolve_backward(shale_iter *it) {
  const uint8_t *uk;
  size_t ul;
  uint64_t tr;
  back_key b = {0};
  while (cur_entry(it, &uk, &ul, &tr)) {
    if (!b.have || ukey_compare(uk, ul, it->key.data, it->key.len) != 0) {
      if (b.have && b.live) return show_behind(it);
      if (b.have) {
        b.have = 0;
        run_hide(it, b.decided);
        int crossed = cross_backward(it);
        if (crossed == REACHED_END) break;
        if (crossed == JUMPED) continue;
      }
      if (below_lower(it, uk, ul)) break;
      back_key_start(it, &b, uk, ul);
    }
    if (ikey_seq(tr) > it->seq) { /* the rest of this key is newer still: all invisible */
      step_before(it, &it->key);  /* one jump, however many versions writers keep adding */
      continue;
    }
    if (++b.versions > BACK_VERSIONS_MAX) { /* many versions: the newest visible decides */
      merged_seek(it, it->key.data, it->key.len, it->seq, KIND_SEEK);
      if (cur_entry(it, &uk, &ul, &tr) && ukey_compare(uk, ul, it->key.data, it->key.len) == 0)
        back_key_take(it, &b, uk, ul, tr);
      step_before(it, &it->key);
      continue;
    }
    back_key_take(it, &b, uk, ul, tr);
    it->merged->ops->prev(it->merged);
  }
  if (b.have && b.live && !it->merged->ops->status(it->merged)) return show_behind(it);
  if (b.have && !b.live) run_hide(it, b.decided);
  run_end_backward(it);
  settle(it);
}

/* Before any seek: the previous seek was not moved on from, and its answer is dropped. */
static void begin_seek(shale_iter *it) {
  count_seek(it, 0);
  it->pinned = it->behind = 0;
}

/* Before next or prev: counts the move, and positions the merge on the entry a point lookup
 * answered. Returns whether the iterator is still valid. */
static int begin_move(shale_iter *it) {
  count_seek(it, 1);
  if (it->pinned) {
    it->pinned = 0;
    run_begin(it, it->pinned_key.data, it->pinned_key.len, 0, 0);
    merged_seek(it, it->pinned_key.data, it->pinned_key.len, it->seq, KIND_SEEK);
    find_next_visible(it, 0);
  }
  return it->valid;
}

/* Forward from key (inf: from the first key): across a known dead span in one seek. */
static void walk_forward_from(shale_iter *it, const void *key, size_t klen, int inf) {
  run_begin(it, key, klen, inf, 0);
  const dead_span *s =
      inf ? span_set_first(it->spans, it->seq) : span_set_find(it->spans, key, klen, it->seq);
  int crossed = s ? jump_forward(it, s) : NO_SPAN;
  if (crossed == REACHED_END) {
    run_end_forward(it);
    settle(it);
    return;
  }
  if (crossed == NO_SPAN && inf) it->merged->ops->seek_first(it->merged);
  if (crossed == NO_SPAN && !inf) merged_seek(it, key, klen, it->seq, KIND_SEEK);
  find_next_visible(it, 0);
}

static void iter_seek_first(shale_iter *it) {
  begin_seek(it);
  if (it->has_lower)
    walk_forward_from(it, it->lower.data, it->lower.len, 0);
  else
    walk_forward_from(it, NULL, 0, 1);
}

static void iter_seek_last(shale_iter *it) {
  begin_seek(it);
  run_begin(it, it->upper.data, it->upper.len, !it->has_upper, 0);
  if (it->has_upper) {
    make_seek_key(it, it->upper.data, it->upper.len, SEQ_MAX, KIND_SEEK);
    it->merged->ops->seek_before(it->merged, it->seekkey.data, it->seekkey.len);
  } else {
    it->merged->ops->seek_last(it->merged);
  }
  resolve_backward(it);
}

static void iter_seek(shale_iter *it, const void *key, size_t klen) {
  begin_seek(it);
  if (!key && klen) {
    it->valid = 0;
    return;
  }
  if (below_lower(it, key, klen)) {
    key = it->lower.data;
    klen = it->lower.len;
  }
  if (at_or_above_upper(it, key, klen)) { /* answered without reading past the bound */
    it->valid = 0;
    return;
  }
  it->seeked = 1;
  if (!span_set_find(it->spans, key, klen, it->seq) && seek_exact(it, key, klen)) return;
  walk_forward_from(it, key, klen, 0);
}

static void iter_seek_for_prev(shale_iter *it, const void *key, size_t klen) {
  begin_seek(it);
  if (!key && klen) {
    it->valid = 0;
    return;
  }
  if (at_or_above_upper(it, key, klen)) {
    iter_seek_last(it);
    return;
  }
  if (below_lower(it, key, klen)) {
    it->valid = 0;
    return;
  }
  run_begin(it, key, klen, 0, 1);
  /* the last entry whose user key is <= key: every entry of key sorts before (key, 0, 0) */
  make_seek_key(it, key, klen, 0, KIND_DEL);
  it->merged->ops->seek_before(it->merged, it->seekkey.data, it->seekkey.len);
  resolve_backward(it);
}

/* Copies the user key being shown into to: the move about to start invalidates it.
 * REQUIRES: the merge is on the entry shown. */
static void remember_current_key(shale_iter *it, buf *to) {
  buf_assign(to, it->merged->key, it->merged->klen - IKEY_TRAILER);
}

void shale_iter_next(shale_iter *it) {
  if (!it || !it->valid || !begin_move(it)) return;
  if (it->behind) { /* the merge sits before the key shown: back onto it, then past it */
    it->behind = 0;
    buf t = it->key;
    it->key = it->back_key;
    it->back_key = t;
    run_begin_at(it, &it->key, 1);
    merged_seek(it, it->key.data, it->key.len, it->seq, KIND_SEEK);
    find_next_visible(it, 1);
    return;
  }
  remember_current_key(it, &it->key);
  run_begin_at(it, &it->key, 1);
  it->merged->ops->next(it->merged);
  find_next_visible(it, 1);
}

/* The backward walk reads keys into it->key, so a prev's starting key lives in back_key. */
void shale_iter_prev(shale_iter *it) {
  if (!it || !it->valid || !begin_move(it)) return;
  if (!it->behind) { /* the merge sits on the key shown: move it before that key */
    remember_current_key(it, &it->back_key);
    step_before(it, &it->back_key);
  }
  it->behind = 0;
  run_begin_at(it, &it->back_key, 0);
  resolve_backward(it);
}

int shale_iter_valid(const shale_iter *it) { return it && it->valid; }

const void *shale_iter_key(const shale_iter *it, size_t *klen) {
  if (klen) *klen = 0;
  if (!it || !it->valid) return NULL;
  if (it->pinned || it->behind) {
    const buf *b = it->pinned ? &it->pinned_key : &it->back_key;
    if (klen) *klen = b->len;
    return b->data ? (const void *)b->data : ""; /* the empty key: never NULL for memcmp */
  }
  if (klen) *klen = it->merged->klen - IKEY_TRAILER;
  return it->merged->key;
}

const void *shale_iter_value(const shale_iter *it, size_t *vlen) {
  if (vlen) *vlen = 0;
  if (!it || !it->valid) return NULL;
  if (it->behind) {
    if (vlen) *vlen = it->back_val.len;
    return it->back_val.data ? (const void *)it->back_val.data : ""; /* an empty value */
  }
  if (it->pinned) {
    if (vlen) *vlen = it->pinned_vlen;
    return it->pinned_val ? it->pinned_val : "";
  }
  size_t len;
  const void *v = it->merged->ops->value(it->merged, &len);
  if (vlen) *vlen = len;
  return v;
}

int shale_iter_status(const shale_iter *it) { return it ? it->status : SHALE_INVALID; }

/* Frees an iterator that never reached its caller, or one the caller frees. */
static void iter_destroy(shale_iter *it) {
  count_seek(it, 0);
  if (atomic_load_explicit(&it->db->iter_seek_moves, memory_order_relaxed) != it->seek_moves)
    atomic_store_explicit(&it->db->iter_seek_moves, it->seek_moves, memory_order_relaxed);
  if (it->merged) it->merged->ops->destroy(it->merged);
  range_dels_free(&it->rdels);
  if (it->view) read_view_unref(it->view);
  span_set_release(it->spans);
  buf_free(&it->key);
  buf_free(&it->seekkey);
  buf_free(&it->pinned_key);
  buf_free(&it->back_key);
  buf_free(&it->back_val);
  buf_free(&it->lower);
  buf_free(&it->upper);
  buf_free(&it->run.edge);
  free(it->pinned_val);
  free(it);
}

void shale_iter_free(shale_iter *it) {
  if (!it) return;
  atomic_fetch_sub_explicit(&it->db->live_iters, 1, memory_order_relaxed);
  iter_destroy(it);
}

static int copy_bound(shale_db *db, buf *b, int *has, const void *key, size_t klen,
                      const char *name) {
  if (!key) return SHALE_OK;
  if (klen > SHALE_MAX_KEY_SIZE)
    return db_fail(db, SHALE_INVALID, name); /* a bound no key can reach is a mistake */
  buf_append(b, key, klen);
  *has = 1;
  return buf_ok(b) ? SHALE_OK : db_fail(db, SHALE_NOMEM, "out of memory copying a bound");
}

static int set_bounds(shale_iter *it, const shale_read_options *ro) {
  int rc = copy_bound(it->db, &it->lower, &it->has_lower, ro->lower_bound, ro->lower_bound_len,
                      "lower_bound is longer than SHALE_MAX_KEY_SIZE");
  if (!rc)
    rc = copy_bound(it->db, &it->upper, &it->has_upper, ro->upper_bound, ro->upper_bound_len,
                    "upper_bound is longer than SHALE_MAX_KEY_SIZE");
  return rc;
}

static shale_iter *iter_alloc(shale_db *db) {
  shale_iter *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->db = db;
  it->seek_moves = atomic_load_explicit(&db->iter_seek_moves, memory_order_relaxed);
  buf_init(&it->key);
  buf_init(&it->seekkey);
  buf_init(&it->pinned_key);
  buf_init(&it->back_key);
  buf_init(&it->back_val);
  buf_init(&it->lower);
  buf_init(&it->upper);
  buf_init(&it->run.edge);
  return it;
}

int shale_iter_new_opts(shale_db *db, const shale_read_options *ro, shale_iter **out) {
  if (out) *out = NULL;
  if (!db || !out) return SHALE_INVALID;
  shale_read_options dflt;
  shale_read_options_init(&dflt);
  if (!ro) ro = &dflt;
  if (ro->size < READ_OPTIONS_V1_SIZE)
    return db_fail(db, SHALE_INVALID, "shale_read_options.size: call shale_read_options_init");
  shale_iter *it = iter_alloc(db);
  if (!it) return db_fail(db, SHALE_NOMEM, "out of memory creating an iterator");
  int rc = set_bounds(it, ro);
  if (rc) {
    iter_destroy(it);
    return rc;
  }
  it->view = db_view_acquire(db);
  it->seq =
      ro->snapshot ? ro->snapshot->seq : atomic_load_explicit(&db->last_seq, memory_order_acquire);
  it->spans = dead_spans_acquire(&db->spans); /* after the sequence: see dead_spans.h */
  char errmsg[ERRMSG_SIZE] = "";
  it->read_flags = read_options_flags(ro);
  rc = iter_sources_build(db, it->view, it->seq, it->read_flags, &it->merged, &it->rdels, errmsg);
  if (rc) {
    iter_destroy(it);
    return db_fail(db, rc, errmsg);
  }
  atomic_fetch_add_explicit(&db->live_iters, 1, memory_order_relaxed);
  *out = it;
  return SHALE_OK;
}

int shale_iter_new(shale_db *db, const shale_snapshot *snap, shale_iter **out) {
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.snapshot = snap;
  return shale_iter_new_opts(db, &ro, out);
}

/* A walk over a range that holds more live keys than this was not over a deleted run. */
#define DELETED_RUN_MAX_LIVE 8

void iter_mark_deleted_run(shale_db *db, const void *lo, size_t lolen, const void *hi,
                           size_t hilen) {
  uint8_t *end = malloc(hilen + 1);
  if (!end) return; /* spans are an optimization: without memory, none is made */
  memcpy(end, hi, hilen);
  end[hilen] = 0; /* hi itself is inside the run */
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.upper_bound = end;
  ro.upper_bound_len = hilen + 1;
  shale_iter *it;
  if (shale_iter_new_opts(db, &ro, &it) == SHALE_OK) {
    walk_forward_from(it, lo, lolen, 0); /* not shale_iter_seek: no seek to count */
    int live = 0;
    while (it->valid && live++ < DELETED_RUN_MAX_LIVE) shale_iter_next(it);
    if (it->valid) { /* live keys after lo: the run of deletes may still end at hi */
      iter_seek_for_prev(it, hi, hilen);
      for (live = 0; it->valid && live++ < DELETED_RUN_MAX_LIVE;) shale_iter_prev(it);
    }
    shale_iter_free(it);
  }
  free(end);
}

void shale_iter_seek_first(shale_iter *it) {
  if (!it || it->status) return;
  uint64_t start = op_timer_start(it->db);
  iter_seek_first(it);
  op_timer_stop(it->db, SHALE_HIST_SEEK, start);
}

void shale_iter_seek_last(shale_iter *it) {
  if (!it || it->status) return;
  uint64_t start = op_timer_start(it->db);
  iter_seek_last(it);
  op_timer_stop(it->db, SHALE_HIST_SEEK, start);
}

void shale_iter_seek(shale_iter *it, const void *key, size_t klen) {
  if (!it || it->status) return;
  uint64_t start = op_timer_start(it->db);
  iter_seek(it, key, klen);
  op_timer_stop(it->db, SHALE_HIST_SEEK, start);
}

void shale_iter_seek_for_prev(shale_iter *it, const void *key, size_t klen) {
  if (!it || it->status) return;
  uint64_t start = op_timer_start(it->db);
  iter_seek_for_prev(it, key, klen);
  op_timer_stop(it->db, SHALE_HIST_SEEK, start);
}
