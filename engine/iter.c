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
 * for both, so each thread tracks whether its seeks do, and stops using lookups while most
 * of them do. */
#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/iter_sources.h"
#include "engine/lookup.h"
#include "engine/merge_iter.h"
#include "util/ikey.h"

struct shale_iter {
  shale_db *db;
  read_view *view;
  uint64_t seq;
  kv_iter *merged;
  range_dels rdels;
  int valid;
  int status;
  buf key;     /* scratch: a user key being resolved */
  buf seekkey; /* scratch: an internal seek key */
  int pinned;  /* valid with the entry below, the merge not positioned on it yet */
  int seeked;  /* a seek whose outcome (moved on from, or not) is not counted yet */
  buf pinned_key;
  void *pinned_val;
  size_t pinned_vlen;
};

/* This thread's recent seeks: up by one for each that was followed by a move, down by one
 * for each that was not, within [0, SEEK_MOVES_MAX]. Lookups answer seeks below
 * SEEK_MOVES_OFF. */
#define SEEK_MOVES_MAX 8
#define SEEK_MOVES_OFF 4
static _Thread_local unsigned seek_moves;

static void count_seek(shale_iter *it, int moved) {
  if (!it->seeked) return;
  it->seeked = 0;
  if (moved && seek_moves < SEEK_MOVES_MAX) seek_moves++;
  if (!moved && seek_moves > 0) seek_moves--;
}

/* Answers a seek with a point lookup when key holds a live value at it->seq. */
static int seek_exact(shale_iter *it, const void *key, size_t klen) {
  if (!klen || klen > SHALE_MAX_KEY_SIZE || seek_moves >= SEEK_MOVES_OFF) return 0;
  void *val = NULL;
  size_t vlen = 0;
  lookup lk = {.key = key, .klen = klen, .seq = it->seq, .val = &val, .vlen = &vlen};
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
  if (!m->ops->valid(m)) return 0;
  size_t len;
  const uint8_t *k = m->ops->key(m, &len);
  *uk = k;
  *ul = len - IKEY_TRAILER;
  *trailer = get_fixed64(k + *ul);
  return 1;
}

static int visible_put(shale_iter *it, const uint8_t *uk, size_t ul, uint64_t trailer) {
  return ikey_kind(trailer) == KIND_PUT &&
         !range_dels_covers(&it->rdels, uk, ul, ikey_seq(trailer), it->seq);
}

static void settle(shale_iter *it) {
  it->valid = 0;
  int rc = it->merged->ops->status(it->merged);
  if (!rc && !buf_ok(&it->key)) rc = SHALE_NOMEM;
  if (rc) it->status = rc;
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
    if (ikey_seq(tr) > it->seq) {
      it->merged->ops->next(it->merged);
      continue;
    }
    if (visible_put(it, uk, ul, tr)) {
      it->valid = 1;
      return;
    }
    buf_clear(&it->key);
    buf_append(&it->key, uk, ul);
    have_skip = 1;
    if (skip_covered_span(it, uk, ul, tr)) continue;
    it->merged->ops->next(it->merged);
  }
  settle(it);
}

/* Positions the merging iterator on the last entry whose user key is below it->key (or
 * makes it invalid), in one seek_before: a seek followed by a prev could land on versions a
 * writer inserted into a memtable in between. */
static void step_before_key(shale_iter *it) {
  make_seek_key(it, it->key.data, it->key.len, SEQ_MAX, KIND_SEEK);
  it->merged->ops->seek_before(it->merged, it->seekkey.data, it->seekkey.len);
}

/* The merging iterator sits somewhere in the entries of user key K (or is invalid). Walks
 * back key by key until a key's newest visible entry is a live value. */
static void resolve_backward(shale_iter *it) {
  const uint8_t *uk;
  size_t ul;
  uint64_t tr;
  while (cur_entry(it, &uk, &ul, &tr)) {
    buf_clear(&it->key);
    buf_append(&it->key, uk, ul);
    if (!buf_ok(&it->key)) break;
    merged_seek(it, it->key.data, it->key.len, it->seq, KIND_SEEK);
    if (cur_entry(it, &uk, &ul, &tr) && ukey_compare(uk, ul, it->key.data, it->key.len) == 0 &&
        visible_put(it, uk, ul, tr)) {
      it->valid = 1;
      return;
    }
    step_before_key(it);
  }
  settle(it);
}

/* Before any seek: the previous seek was not moved on from, and its answer is dropped. */
static void begin_seek(shale_iter *it) {
  count_seek(it, 0);
  it->pinned = 0;
}

/* Before next or prev: counts the move, and positions the merge on the entry a point lookup
 * answered. Returns whether the iterator is still valid. */
static int begin_move(shale_iter *it) {
  count_seek(it, 1);
  if (it->pinned) {
    it->pinned = 0;
    merged_seek(it, it->pinned_key.data, it->pinned_key.len, it->seq, KIND_SEEK);
    find_next_visible(it, 0);
  }
  return it->valid;
}

void shale_iter_seek_first(shale_iter *it) {
  if (!it || it->status) return;
  begin_seek(it);
  it->merged->ops->seek_first(it->merged);
  find_next_visible(it, 0);
}

void shale_iter_seek_last(shale_iter *it) {
  if (!it || it->status) return;
  begin_seek(it);
  it->merged->ops->seek_last(it->merged);
  resolve_backward(it);
}

void shale_iter_seek(shale_iter *it, const void *key, size_t klen) {
  if (!it || it->status) return;
  begin_seek(it);
  if (!key && klen) {
    it->valid = 0;
    return;
  }
  it->seeked = 1;
  if (seek_exact(it, key, klen)) return;
  merged_seek(it, key, klen, it->seq, KIND_SEEK);
  find_next_visible(it, 0);
}

void shale_iter_seek_for_prev(shale_iter *it, const void *key, size_t klen) {
  if (!it || it->status) return;
  begin_seek(it);
  if (!key && klen) {
    it->valid = 0;
    return;
  }
  /* the last entry whose user key is <= key: every entry of key sorts before (key, 0, 0) */
  make_seek_key(it, key, klen, 0, KIND_DEL);
  it->merged->ops->seek_before(it->merged, it->seekkey.data, it->seekkey.len);
  resolve_backward(it);
}

/* Copies the user key being shown into it->key: the move about to start invalidates it. */
static void remember_current_key(shale_iter *it) {
  const uint8_t *uk;
  size_t ul;
  uint64_t tr;
  cur_entry(it, &uk, &ul, &tr);
  buf_clear(&it->key);
  buf_append(&it->key, uk, ul);
}

void shale_iter_next(shale_iter *it) {
  if (!it || !it->valid || !begin_move(it)) return;
  remember_current_key(it);
  it->merged->ops->next(it->merged);
  find_next_visible(it, 1);
}

void shale_iter_prev(shale_iter *it) {
  if (!it || !it->valid || !begin_move(it)) return;
  remember_current_key(it);
  step_before_key(it);
  resolve_backward(it);
}

int shale_iter_valid(const shale_iter *it) { return it && it->valid; }

const void *shale_iter_key(const shale_iter *it, size_t *klen) {
  if (klen) *klen = 0;
  if (!it || !it->valid) return NULL;
  if (it->pinned) {
    if (klen) *klen = it->pinned_key.len;
    return it->pinned_key.data;
  }
  size_t len;
  const uint8_t *k = it->merged->ops->key(it->merged, &len);
  if (klen) *klen = len - IKEY_TRAILER;
  return k;
}

const void *shale_iter_value(const shale_iter *it, size_t *vlen) {
  if (vlen) *vlen = 0;
  if (!it || !it->valid) return NULL;
  if (it->pinned) {
    if (vlen) *vlen = it->pinned_vlen;
    return it->pinned_val;
  }
  size_t len;
  const void *v = it->merged->ops->value(it->merged, &len);
  if (vlen) *vlen = len;
  return v;
}

int shale_iter_status(const shale_iter *it) { return it ? it->status : SHALE_INVALID; }

void shale_iter_free(shale_iter *it) {
  if (!it) return;
  count_seek(it, 0);
  if (it->merged) it->merged->ops->destroy(it->merged);
  range_dels_free(&it->rdels);
  read_view_unref(it->view);
  buf_free(&it->key);
  buf_free(&it->seekkey);
  buf_free(&it->pinned_key);
  free(it->pinned_val);
  free(it);
}

int shale_iter_new(shale_db *db, const shale_snapshot *snap, shale_iter **out) {
  if (out) *out = NULL;
  if (!db || !out) return SHALE_INVALID;
  shale_iter *it = calloc(1, sizeof *it);
  if (!it) return db_fail(db, SHALE_NOMEM, "out of memory creating an iterator");
  it->db = db;
  buf_init(&it->key);
  buf_init(&it->seekkey);
  buf_init(&it->pinned_key);
  it->view = db_view_acquire(db);
  it->seq = snap ? snap->seq : atomic_load_explicit(&db->last_seq, memory_order_acquire);
  char errmsg[ERRMSG_SIZE] = "";
  int rc = iter_sources_build(db, it->view, it->seq, &it->merged, &it->rdels, errmsg);
  if (rc) {
    shale_iter_free(it);
    return db_fail(db, rc, errmsg);
  }
  *out = it;
  return SHALE_OK;
}
