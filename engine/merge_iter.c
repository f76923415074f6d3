/* merge_iter.c — merges component iterators by internal key. Children are few (memtables,
 * L0 files, one per deeper level), so a linear scan for the smallest beats a heap here.
 * Changing direction repositions every other child around the current key, as LevelDB's
 * merger does, so next/prev stay correct after any mix of seeks and moves. */
#include "engine/merge_iter.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/buf.h"
#include "util/ikey.h"

typedef struct merge_iter {
  kv_iter base;
  const shale_comparator *cmp; /* user-key order; NULL: bytewise */
  int n;
  kv_iter **child;
  kv_iter *cur;
  /* The child that would be current without cur (NULL: none valid), as of the last full
   * comparison. Only cur moves on a next or prev in the same direction, so while cur stays
   * ahead of it cur is still current: a long stretch taken from one child costs one
   * comparison per step instead of one per child. */
  kv_iter *runner_up;
  int forward;
  buf saved; /* the current key while children move */
} merge_iter;

static int cmp_children(const merge_iter *m, const kv_iter *a, const kv_iter *b) {
  return ikey_cmp(m->cmp, a->key, a->klen, b->key, b->klen);
}

/* Publishes the current child's position as the merge's own (see struct kv_iter). */
static void show_cur(merge_iter *m) {
  m->base.key = m->cur ? m->cur->key : NULL;
  m->base.klen = m->cur ? m->cur->klen : 0;
}

/* A child stopped by an error (a corrupt block) stops the merge: going on without it would
 * show older versions of the keys it holds. m_status then reports the error. */
static int child_failed(kv_iter *c) { return !kv_valid(c) && c->ops->status(c) != SHALE_OK; }

/* Full comparisons: dir is 1 for the smallest (forward), -1 for the largest. Ties go to the
 * first child in scan order, as the runner-up test below keeps them. */
static void pick_best(merge_iter *m, int dir) {
  kv_iter *best = NULL, *second = NULL;
  for (int j = 0; j < m->n; j++) {
    kv_iter *c = m->child[dir > 0 ? j : m->n - 1 - j];
    if (child_failed(c)) {
      best = second = NULL;
      break;
    }
    if (!kv_valid(c)) continue;
    if (!best || cmp_children(m, c, best) * dir < 0) {
      second = best;
      best = c;
    } else if (!second || cmp_children(m, c, second) * dir < 0) {
      second = c;
    }
  }
  m->cur = best;
  m->runner_up = second;
}

/* A child only shows a key it has not read while it is not current (see kv_iter.unsettled):
 * settling it either confirms that key or fails the child, and then the order is redone.
 * Out of line: the step that keeps the current child (after_cur_moved) must stay small
 * enough to be inlined into next and prev. */
static __attribute__((noinline)) void find_best(merge_iter *m, int dir) {
  pick_best(m, dir);
  while (m->cur && m->cur->unsettled) {
    m->cur->ops->settle(m->cur);
    pick_best(m, dir);
  }
  show_cur(m);
}

static void find_smallest(merge_iter *m) { find_best(m, 1); }
static void find_largest(merge_iter *m) { find_best(m, -1); }

/* After cur alone moved: cur stays current while it is still strictly ahead of the runner-up
 * (internal keys are unique, so equal means another child's version of the same entry,
 * which the full comparison orders). */
static inline __attribute__((always_inline)) void after_cur_moved(merge_iter *m, int dir) {
  kv_iter *c = m->cur;
  if (kv_valid(c) && (!m->runner_up || cmp_children(m, c, m->runner_up) * dir < 0))
    return show_cur(m);
  find_best(m, dir);
}

static void m_seek_first(kv_iter *it) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) m->child[i]->ops->seek_first(m->child[i]);
  m->forward = 1;
  find_smallest(m);
}

static void m_seek_last(kv_iter *it) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) m->child[i]->ops->seek_last(m->child[i]);
  m->forward = 0;
  find_largest(m);
}

static void m_seek(kv_iter *it, const uint8_t *k, size_t len) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) m->child[i]->ops->seek(m->child[i], k, len);
  m->forward = 1;
  find_smallest(m);
}

void kv_seek_before_by_seek(kv_iter *c, const uint8_t *k, size_t len) {
  c->ops->seek(c, k, len);
  if (kv_valid(c))
    c->ops->prev(c);
  else if (c->ops->status(c) == SHALE_OK)
    c->ops->seek_last(c);
}

static void m_seek_before(kv_iter *it, const uint8_t *k, size_t len) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) m->child[i]->ops->seek_before(m->child[i], k, len);
  m->forward = 0;
  find_largest(m);
}

static void save_current(merge_iter *m) {
  buf_clear(&m->saved);
  buf_append(&m->saved, m->cur->key, m->cur->klen);
}

static void m_next(kv_iter *it) {
  merge_iter *m = (merge_iter *)it;
  if (!m->forward) {
    save_current(m);
    for (int i = 0; i < m->n; i++) {
      kv_iter *c = m->child[i];
      if (c == m->cur) continue;
      c->ops->seek(c, m->saved.data, m->saved.len);
      if (kv_valid(c) && ikey_cmp(m->cmp, c->key, c->klen, m->saved.data, m->saved.len) == 0)
        c->ops->next(c);
    }
    m->forward = 1;
    m->cur->ops->next(m->cur);
    find_smallest(m);
    return;
  }
  m->cur->ops->next(m->cur);
  after_cur_moved(m, 1);
}

static void m_prev(kv_iter *it) {
  merge_iter *m = (merge_iter *)it;
  if (m->forward) {
    save_current(m);
    for (int i = 0; i < m->n; i++) {
      kv_iter *c = m->child[i];
      if (c == m->cur) continue;
      c->ops->seek_before(c, m->saved.data, m->saved.len);
    }
    m->forward = 0;
    m->cur->ops->prev(m->cur);
    find_largest(m);
    return;
  }
  m->cur->ops->prev(m->cur);
  after_cur_moved(m, -1);
}

static const void *m_value(const kv_iter *it, size_t *len) {
  kv_iter *c = ((const merge_iter *)it)->cur;
  return c->ops->value(c, len);
}

static int m_status(const kv_iter *it) {
  const merge_iter *m = (const merge_iter *)it;
  if (!buf_ok(&m->saved)) return SHALE_NOMEM;
  for (int i = 0; i < m->n; i++) {
    int rc = m->child[i]->ops->status(m->child[i]);
    if (rc) return rc;
  }
  return SHALE_OK;
}

void merge_iter_skip_older(kv_iter *it, const uint8_t *k, size_t len, uint64_t seq) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) {
    kv_iter *c = m->child[i];
    if (!kv_valid(c) || c->ops->max_seq(c) >= seq) continue;
    if (ikey_cmp(m->cmp, c->key, c->klen, k, len) < 0) c->ops->seek(c, k, len);
  }
  find_smallest(m);
}

static uint64_t m_max_seq(const kv_iter *it) {
  const merge_iter *m = (const merge_iter *)it;
  uint64_t mx = 0;
  for (int i = 0; i < m->n; i++) {
    uint64_t s = m->child[i]->ops->max_seq(m->child[i]);
    if (s > mx) mx = s;
  }
  return mx;
}

static void m_destroy(kv_iter *it) {
  merge_iter *m = (merge_iter *)it;
  for (int i = 0; i < m->n; i++) m->child[i]->ops->destroy(m->child[i]);
  free(m->child);
  buf_free(&m->saved);
  free(m);
}

static const kv_iter_ops merge_ops = {m_seek_first, m_seek_last, m_seek,  m_seek_before,
                                      m_next,       m_prev,      m_value, m_status,
                                      m_destroy,    m_max_seq,   NULL};

int kv_iters_push(kv_iter ***kids, int *n, int *cap, kv_iter *k) {
  if (!k) return SHALE_NOMEM;
  if (*n == *cap) {
    int c = *cap ? *cap * 2 : 8;
    kv_iter **p = realloc(*kids, sizeof *p * (size_t)c);
    if (!p) {
      k->ops->destroy(k);
      return SHALE_NOMEM;
    }
    *kids = p;
    *cap = c;
  }
  (*kids)[(*n)++] = k;
  return SHALE_OK;
}

kv_iter *merge_iter_new(const shale_comparator *cmp, kv_iter **children, int n) {
  merge_iter *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cmp = cmp;
  m->base.ops = &merge_ops;
  m->child = children;
  m->n = n;
  buf_init(&m->saved);
  return &m->base;
}
