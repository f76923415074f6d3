/* stress_ops.c — the workload threads of shale-stress and the whole-keyspace check. Each
 * write locks its keys (ascending, so threads never deadlock), marks them pending with their
 * new state in the expected-state file, calls Shale, and on success makes the new state
 * current: so after a kill at any instant, a pending key may read old or new and every other
 * key must read exactly its slot. Reads check what they see against the slots. */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

#define MAX_CHANGE 48
#define RANGE_MAX 32

typedef struct change {
  uint32_t key[MAX_CHANGE];
  uint8_t exists[MAX_CHANGE]; /* new state: put (1) or delete (0) */
  uint8_t ranged[MAX_CHANGE]; /* deleted by the op's range delete, not by a point delete */
  uint32_t gen[MAX_CHANGE];   /* filled in under the locks */
  int n;
  uint32_t range_begin, range_len; /* range_len 0: none */
} change;

typedef struct thread_ctx {
  workload *w;
  uint64_t rng;
  int id;
  double deadline; /* 0: none */
  char *vbuf;
} thread_ctx;

static int has_key(const change *c, uint32_t k) {
  for (int i = 0; i < c->n; i++)
    if (c->key[i] == k) return 1;
  return 0;
}

static void add_key(change *c, uint32_t k, int exists, int ranged) {
  c->key[c->n] = k;
  c->exists[c->n] = (uint8_t)exists;
  c->ranged[c->n] = (uint8_t)ranged;
  c->n++;
}

static void sort_change(change *c) {
  for (int i = 1; i < c->n; i++)
    for (int j = i; j > 0 && c->key[j - 1] > c->key[j]; j--) {
      uint32_t k = c->key[j];
      c->key[j] = c->key[j - 1], c->key[j - 1] = k;
      uint8_t x = c->exists[j];
      c->exists[j] = c->exists[j - 1], c->exists[j - 1] = x;
      x = c->ranged[j];
      c->ranged[j] = c->ranged[j - 1], c->ranged[j - 1] = x;
    }
}

/* --sync: 0 never, 1 always, 2 one write in eight */
static unsigned write_flags(thread_ctx *t) {
  int s = t->w->o->sync;
  return s == 1 || (s == 2 && rnd(&t->rng) % 8 == 0) ? SHALE_SYNC : 0;
}

static void raise_to(_Atomic uint64_t *v, uint64_t x) {
  uint64_t cur = atomic_load(v);
  while (cur < x && !atomic_compare_exchange_weak(v, &cur, x)) {
  }
}

/* Issues c to Shale as the kind says. */
static int issue(thread_ctx *t, const change *c, int kind, unsigned fl) {
  workload *w = t->w;
  char k[KEY_LEN + 1], e[KEY_LEN + 1];
  if (kind == C_PUT || kind == C_DELETE) {
    key_of(c->key[0], k);
    if (kind == C_DELETE) return shale_delete(w->db, k, KEY_LEN, fl);
    size_t vl = value_of(c->key[0], c->gen[0], w->o->value_size, t->vbuf, VALUE_CAP);
    return shale_put(w->db, k, KEY_LEN, t->vbuf, vl, fl);
  }
  if (kind == C_DELETE_RANGE) {
    key_of(c->range_begin, k);
    key_of(c->range_begin + c->range_len, e);
    return shale_delete_range(w->db, k, KEY_LEN, e, KEY_LEN, fl);
  }
  shale_batch *b;
  int rc = shale_batch_new(&b);
  if (rc) return rc;
  for (int i = 0; i < c->n && !rc; i++) {
    if (c->ranged[i]) continue;
    key_of(c->key[i], k);
    if (c->exists[i]) {
      size_t vl = value_of(c->key[i], c->gen[i], w->o->value_size, t->vbuf, VALUE_CAP);
      rc = shale_batch_put(b, k, KEY_LEN, t->vbuf, vl);
    } else {
      rc = shale_batch_delete(b, k, KEY_LEN);
    }
  }
  if (!rc && c->range_len) {
    key_of(c->range_begin, k);
    key_of(c->range_begin + c->range_len, e);
    rc = shale_batch_delete_range(b, k, KEY_LEN, e, KEY_LEN);
  }
  if (!rc) rc = shale_write(w->db, b, fl);
  shale_batch_free(b);
  return rc;
}

static void log_history(workload *w, const change *c, const uint64_t *prev, uint64_t seq) {
  expected *e = w->e;
  for (int i = 0; i < c->n; i++) {
    uint64_t at = atomic_fetch_add(&e->h->hist_n, 1);
    if (at >= HIST_CAP) continue; /* the checker sees hist_n > HIST_CAP and says so */
    e->hist[at] = (hist_entry){seq, c->key[i], (uint32_t)slot_make(c->gen[i], c->exists[i]),
                               (uint32_t)slot_make(slot_gen(prev[i]), slot_exists(prev[i])), 0};
  }
}

static void do_write(thread_ctx *t, change *c, int kind) {
  workload *w = t->w;
  expected *e = w->e;
  sort_change(c);
  for (int i = 0; i < c->n; i++) pthread_mutex_lock(&w->locks[c->key[i]]);
  if (w->serialize_writes) pthread_mutex_lock(&w->write_mu);
  uint64_t prev[MAX_CHANGE];
  for (int i = 0; i < c->n; i++) {
    uint64_t s = prev[i] = atomic_load(&e->slots[c->key[i]]);
    c->gen[i] = slot_gen(s) + 1;
    atomic_store(&e->slots[c->key[i]], slot_with_pending(s, c->gen[i], c->exists[i]));
  }
  uint64_t seq = 0;
  if (w->serialize_writes) {
    seq = atomic_fetch_add(&e->h->op_seq, 1) + 1;
    log_history(w, c, prev, seq);
  }
  unsigned fl = write_flags(t);
  int rc = issue(t, c, kind, fl);
  if (rc == SHALE_OK) {
    if (seq) atomic_store(&e->h->acked_seq, seq);
    if (seq && (fl & SHALE_SYNC)) raise_to(&e->h->durable_seq, seq);
    for (int i = 0; i < c->n; i++)
      atomic_store(&e->slots[c->key[i]], slot_make(c->gen[i], c->exists[i]));
    count(e, kind, 1);
  } else {
    count(e, C_ERRORS, 1); /* the keys stay pending: the write may or may not have landed */
    fprintf(stderr, "shale-stress: %s failed: %s: %s\n", counter_names[kind], shale_strerror(rc),
            shale_errmsg(w->db));
    atomic_store(&w->stop, 1);
  }
  if (w->serialize_writes) pthread_mutex_unlock(&w->write_mu);
  for (int i = c->n - 1; i >= 0; i--) pthread_mutex_unlock(&w->locks[c->key[i]]);
}

static uint32_t pick_key(thread_ctx *t) { return (uint32_t)(rnd(&t->rng) % t->w->o->keys); }

/* A random window [*begin, *begin + len) inside the keyspace. */
static uint32_t pick_window(thread_ctx *t, uint32_t maxlen, uint32_t *begin) {
  uint32_t n = (uint32_t)t->w->o->keys;
  uint32_t len = 1 + (uint32_t)(rnd(&t->rng) % maxlen);
  if (len > n) len = n;
  *begin = (uint32_t)(rnd(&t->rng) % (n - len + 1));
  return len;
}

static void op_point(thread_ctx *t, int kind) {
  change c = {.n = 0};
  add_key(&c, pick_key(t), kind == C_PUT, 0);
  do_write(t, &c, kind);
}

static void op_delete_range(thread_ctx *t) {
  change c = {.n = 0};
  c.range_len = pick_window(t, RANGE_MAX, &c.range_begin);
  for (uint32_t i = 0; i < c.range_len; i++) add_key(&c, c.range_begin + i, 0, 1);
  do_write(t, &c, C_DELETE_RANGE);
}

static void op_batch(thread_ctx *t) {
  change c = {.n = 0};
  if (rnd(&t->rng) % 5 == 0) {
    c.range_len = pick_window(t, 8, &c.range_begin);
    for (uint32_t i = 0; i < c.range_len; i++) add_key(&c, c.range_begin + i, 0, 1);
  }
  int n = 1 + (int)(rnd(&t->rng) % 8);
  for (int i = 0; i < n && c.n < MAX_CHANGE; i++) {
    uint32_t k = pick_key(t);
    if (!has_key(&c, k)) add_key(&c, k, rnd(&t->rng) % 5 != 0, 0);
  }
  do_write(t, &c, C_BATCH);
}

/* Reads key k (through snap or the latest state) into *o; 0, or -1 after a violation. */
static int read_key(workload *w, const shale_snapshot *snap, uint32_t k, observed *o) {
  char key[KEY_LEN + 1];
  key_of(k, key);
  void *v;
  size_t vl;
  int rc = shale_get(w->db, snap, key, KEY_LEN, &v, &vl);
  o->found = 0;
  o->gen = 0;
  if (rc == SHALE_NOTFOUND) return 0;
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: get %s: %s: %s\n", key, shale_strerror(rc), shale_errmsg(w->db));
    return -1;
  }
  long g = value_gen(k, v, vl, w->o->value_size);
  if (g < 0)
    violation(w->e, "get %s: malformed value '%.*s'", key, (int)(vl > 60 ? 60 : vl), (char *)v);
  shale_free(v);
  if (g < 0) return -1;
  o->found = 1;
  o->gen = (uint32_t)g;
  return 0;
}

static void describe(char *out, size_t cap, uint64_t s) {
  snprintf(out, cap, "gen %u %s%s", slot_gen(s), slot_exists(s) ? "present" : "absent",
           slot_pending(s) ? " (pending)" : "");
}

static void op_get(thread_ctx *t) {
  workload *w = t->w;
  uint32_t k = pick_key(t);
  observed o;
  int locked = rnd(&t->rng) & 1; /* locked: exact; unlocked: races writers, checked by window */
  if (locked) pthread_mutex_lock(&w->locks[k]);
  uint64_t pre = atomic_load(&w->e->slots[k]);
  int rc = read_key(w, NULL, k, &o);
  uint64_t post = atomic_load(&w->e->slots[k]);
  if (locked) pthread_mutex_unlock(&w->locks[k]);
  count(w->e, C_GET, 1);
  if (rc == 0 && !window_allows(pre, post, o)) {
    char a[64], b[64];
    describe(a, sizeof a, pre);
    describe(b, sizeof b, post);
    violation(w->e, "get k%08u%s: %s gen %u; expected %s .. %s", k, locked ? " (locked)" : "",
              o.found ? "found" : "not found", o.gen, a, b);
  }
}

/* Scans [begin, begin + len) forward or backward with it; fills seen[] and returns 0, or -1
 * after a violation or error. */
static int scan_window(workload *w, shale_iter *it, uint32_t begin, uint32_t len, int backward,
                       observed *seen) {
  char key[KEY_LEN + 1];
  memset(seen, 0, len * sizeof *seen);
  long last = -1;
  if (backward) {
    key_of(begin + len - 1, key);
    shale_iter_seek_for_prev(it, key, KEY_LEN);
  } else {
    key_of(begin, key);
    shale_iter_seek(it, key, KEY_LEN);
  }
  for (; shale_iter_valid(it); backward ? shale_iter_prev(it) : shale_iter_next(it)) {
    size_t kl, vl;
    const void *kp = shale_iter_key(it, &kl);
    const void *vp = shale_iter_value(it, &vl);
    long k = key_index(kp, kl, (uint32_t)w->o->keys);
    if (k < 0) {
      violation(w->e, "iterator: unexpected key '%.*s'", (int)(kl > 40 ? 40 : kl),
                (const char *)kp);
      return -1;
    }
    if (backward ? k < (long)begin : k >= (long)(begin + len)) break;
    if (last >= 0 && (backward ? k >= last : k <= last)) {
      violation(w->e, "iterator %s: k%08ld after k%08ld", backward ? "backward" : "forward", k,
                last);
      return -1;
    }
    if (backward ? k > (long)(begin + len - 1) : k < (long)begin) {
      violation(w->e, "iterator: seek to k%08u landed on k%08ld",
                backward ? begin + len - 1 : begin, k);
      return -1;
    }
    last = k;
    long g = value_gen((uint32_t)k, vp, vl, w->o->value_size);
    if (g < 0) {
      violation(w->e, "iterator: k%08ld has a malformed value", k);
      return -1;
    }
    seen[k - begin] = (observed){1, (uint32_t)g};
  }
  int rc = shale_iter_status(it);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: iterator: %s\n", shale_strerror(rc));
    return -1;
  }
  return 0;
}

static void op_iterate(thread_ctx *t) {
  workload *w = t->w;
  uint32_t begin, len = pick_window(t, 64, &begin);
  uint64_t pre[64], post[64];
  observed seen[64];
  for (uint32_t i = 0; i < len; i++) pre[i] = atomic_load(&w->e->slots[begin + i]);
  shale_iter *it;
  if (shale_iter_new(w->db, NULL, &it)) {
    count(w->e, C_ERRORS, 1);
    return;
  }
  int rc = scan_window(w, it, begin, len, (int)(rnd(&t->rng) & 1), seen);
  shale_iter_free(it);
  for (uint32_t i = 0; i < len; i++) post[i] = atomic_load(&w->e->slots[begin + i]);
  count(w->e, C_ITERATE, 1);
  if (rc) return;
  for (uint32_t i = 0; i < len; i++)
    if (!window_allows(pre[i], post[i], seen[i])) {
      char a[64], b[64];
      describe(a, sizeof a, pre[i]);
      describe(b, sizeof b, post[i]);
      violation(w->e, "iterator: k%08u %s gen %u; expected %s .. %s", begin + i,
                seen[i].found ? "found" : "not found", seen[i].gen, a, b);
    }
}

static void random_write(thread_ctx *t);

/* Pins a snapshot while a window of keys is locked, lets writes go on, then reads the window
 * through the snapshot (gets and an iterator): exactly the pinned states. */
static void op_snapshot(thread_ctx *t) {
  workload *w = t->w;
  uint32_t begin, len = pick_window(t, 16, &begin);
  uint64_t pinned[16];
  observed seen[16];
  const shale_snapshot *snap;
  for (uint32_t i = 0; i < len; i++) pthread_mutex_lock(&w->locks[begin + i]);
  int rc = shale_snapshot_new(w->db, &snap);
  for (uint32_t i = 0; i < len; i++) pinned[i] = atomic_load(&w->e->slots[begin + i]);
  for (uint32_t i = len; i-- > 0;) pthread_mutex_unlock(&w->locks[begin + i]);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    return;
  }
  int writes = (int)(rnd(&t->rng) % 4);
  for (int i = 0; i < writes; i++) random_write(t);
  for (uint32_t i = 0; i < len; i++) {
    observed o;
    if (read_key(w, snap, begin + i, &o)) continue;
    if (!slot_allows(pinned[i], o))
      violation(w->e, "snapshot get k%08u: %s gen %u; pinned gen %u %s", begin + i,
                o.found ? "found" : "not found", o.gen, slot_gen(pinned[i]),
                slot_exists(pinned[i]) ? "present" : "absent");
  }
  shale_iter *it;
  if (shale_iter_new(w->db, snap, &it) == SHALE_OK) {
    if (!scan_window(w, it, begin, len, (int)(rnd(&t->rng) & 1), seen))
      for (uint32_t i = 0; i < len; i++)
        if (!slot_allows(pinned[i], seen[i]))
          violation(w->e, "snapshot iterator k%08u: %s gen %u; pinned gen %u %s", begin + i,
                    seen[i].found ? "found" : "not found", seen[i].gen, slot_gen(pinned[i]),
                    slot_exists(pinned[i]) ? "present" : "absent");
    shale_iter_free(it);
  } else {
    count(w->e, C_ERRORS, 1);
  }
  shale_snapshot_free(w->db, snap);
  count(w->e, C_SNAPSHOT, 1);
}

static void random_write(thread_ctx *t) {
  unsigned r = (unsigned)(rnd(&t->rng) % 58);
  if (r < 35)
    op_point(t, C_PUT);
  else if (r < 45)
    op_point(t, C_DELETE);
  else if (r < 48)
    op_delete_range(t);
  else
    op_batch(t);
}

/* Power-loss mode: a flush makes every op acknowledged before it durable. */
static void op_flush(thread_ctx *t) {
  workload *w = t->w;
  pthread_mutex_lock(&w->write_mu);
  uint64_t upto = atomic_load(&w->e->h->acked_seq);
  pthread_mutex_unlock(&w->write_mu);
  int rc = shale_flush(w->db);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: flush: %s: %s\n", shale_strerror(rc), shale_errmsg(w->db));
    return;
  }
  raise_to(&w->e->h->durable_seq, upto);
}

static void *thread_main(void *arg) {
  thread_ctx *t = arg;
  workload *w = t->w;
  for (uint64_t n = 0; !atomic_load_explicit(&w->stop, memory_order_relaxed); n++) {
    if ((n & 63) == 0 && t->deadline > 0 && now_ms() >= t->deadline) break;
    unsigned r = (unsigned)(rnd(&t->rng) % 100);
    if (w->serialize_writes && r == 0 && rnd(&t->rng) % 16 == 0)
      op_flush(t);
    else if (r < 58)
      random_write(t);
    else if (r < 82)
      op_get(t);
    else if (r < 94)
      op_iterate(t);
    else
      op_snapshot(t);
  }
  return NULL;
}

int workload_run(workload *w, double seconds) {
  int n = w->o->threads;
  pthread_t *tids = calloc((size_t)n, sizeof *tids);
  thread_ctx *ctx = calloc((size_t)n, sizeof *ctx);
  w->locks = calloc((size_t)w->o->keys, sizeof *w->locks);
  if (!tids || !ctx || !w->locks) return -1;
  for (int i = 0; i < w->o->keys; i++) pthread_mutex_init(&w->locks[i], NULL);
  pthread_mutex_init(&w->write_mu, NULL);
  atomic_store(&w->stop, 0);
  double deadline = seconds > 0 ? now_ms() + seconds * 1e3 : 0;
  for (int i = 0; i < n; i++) {
    ctx[i] = (thread_ctx){w, 0, i, deadline, malloc(VALUE_CAP)};
    ctx[i].rng =
        (w->o->seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) ^ ((uint64_t)getpid() << 20);
    if (!ctx[i].rng) ctx[i].rng = 1;
    pthread_create(&tids[i], NULL, thread_main, &ctx[i]);
  }
  for (int i = 0; i < n; i++) {
    pthread_join(tids[i], NULL);
    free(ctx[i].vbuf);
  }
  for (int i = 0; i < w->o->keys; i++) pthread_mutex_destroy(&w->locks[i]);
  pthread_mutex_destroy(&w->write_mu);
  free(w->locks);
  w->locks = NULL;
  free(ctx);
  free(tids);
  return 0;
}

/* ---- the whole keyspace, with nothing else running ---- */

static int full_scan(shale_db *db, expected *e, const stress_opts *o, observed *seen,
                     int backward) {
  shale_iter *it;
  int rc = shale_iter_new(db, NULL, &it);
  if (rc) return rc;
  long last = -1;
  memset(seen, 0, (size_t)o->keys * sizeof *seen);
  for (backward ? shale_iter_seek_last(it) : shale_iter_seek_first(it); shale_iter_valid(it);
       backward ? shale_iter_prev(it) : shale_iter_next(it)) {
    size_t kl, vl;
    const void *kp = shale_iter_key(it, &kl);
    const void *vp = shale_iter_value(it, &vl);
    long k = key_index(kp, kl, (uint32_t)o->keys);
    if (k < 0) {
      violation(e, "full scan: unexpected key '%.*s'", (int)(kl > 40 ? 40 : kl), (const char *)kp);
      continue;
    }
    if (last >= 0 && (backward ? k >= last : k <= last))
      violation(e, "full scan (%s): k%08ld after k%08ld", backward ? "backward" : "forward", k,
                last);
    last = k;
    long g = value_gen((uint32_t)k, vp, vl, o->value_size);
    if (g < 0) violation(e, "full scan: k%08ld has a malformed value", k);
    seen[k] = (observed){1, g < 0 ? 0 : (uint32_t)g};
  }
  rc = shale_iter_status(it);
  shale_iter_free(it);
  return rc;
}

uint64_t verify_all(shale_db *db, expected *e, const stress_opts *o, int resolve) {
  uint64_t before = atomic_load(&e->h->counters[C_VIOLATIONS]);
  size_t n = (size_t)o->keys;
  observed *fwd = calloc(n, sizeof *fwd), *bwd = calloc(n, sizeof *bwd);
  int rc = full_scan(db, e, o, fwd, 0);
  if (!rc) rc = full_scan(db, e, o, bwd, 1);
  if (rc) {
    count(e, C_ERRORS, 1);
    violation(e, "full scan failed: %s: %s", shale_strerror(rc), shale_errmsg(db));
    goto done;
  }
  workload w = {.db = db, .e = e, .o = o};
  for (uint32_t k = 0; k < n; k++) {
    observed g;
    if (read_key(&w, NULL, k, &g)) continue;
    if (g.found != fwd[k].found || g.gen != fwd[k].gen || g.found != bwd[k].found ||
        g.gen != bwd[k].gen)
      violation(e, "k%08u: get says %s gen %u, forward scan %s gen %u, backward scan %s gen %u", k,
                g.found ? "found" : "absent", g.gen, fwd[k].found ? "found" : "absent", fwd[k].gen,
                bwd[k].found ? "found" : "absent", bwd[k].gen);
    uint64_t s = atomic_load(&e->slots[k]);
    if (!slot_allows(s, g)) {
      char a[64];
      describe(a, sizeof a, s);
      violation(e, "k%08u after reopen: %s gen %u; expected %s%s", k, g.found ? "found" : "absent",
                g.gen, a,
                slot_pending(s) ? ""
                                : (slot_exists(s) ? " (an acknowledged write was lost)"
                                                  : " (a deleted key came back)"));
      continue;
    }
    if (slot_pending(s)) {
      count(e, C_PENDING_SEEN, 1);
      /* the new state landed when what was read tells it apart from the old one */
      int landed = g.found ? g.gen == slot_new_gen(s) : slot_exists(s);
      if (landed) count(e, C_PENDING_NEW, 1);
      if (resolve) {
        /* generations only grow: an absent key that matches both takes the newer one */
        uint64_t now = g.found ? slot_make(g.gen, 1)
                               : slot_make(!slot_new_exists(s) ? slot_new_gen(s) : slot_gen(s), 0);
        atomic_store(&e->slots[k], now);
      }
    }
  }
  count(e, C_KEYS_VERIFIED, n);
done:
  free(fwd);
  free(bwd);
  return atomic_load(&e->h->counters[C_VIOLATIONS]) - before;
}
