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
#include "testutil.h"

#define RANGE_MAX 32

static int has_key(const change *c, uint32_t k) {
  for (int i = 0; i < c->n; i++)
    if (c->key[i] == k) return 1;
  return 0;
}

void add_key(change *c, uint32_t k, int exists, int ranged) {
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

/* --sync: 0 never, 1 always, 2 one write in eight. --no_wal: one write in no_wal skips the
 * WAL instead (run mode only: a crash loses such writes by design, a clean close must not). */
static unsigned write_flags(thread_ctx *t) {
  const stress_opts *o = t->w->o;
  if (o->no_wal && rnd(&t->rng) % (uint64_t)o->no_wal == 0) return SHALE_NO_WAL;
  int s = o->sync;
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
  if (c->ingest) return issue_ingest(t, c);
  if (kind == C_PUT || kind == C_DELETE) {
    shale_db *db = db_of(w, c->key[0]);
    key_of(c->key[0], k);
    if (kind == C_DELETE) return shale_delete(db, k, KEY_LEN, fl);
    size_t vl = value_of(c->key[0], c->gen[0], w->o->value_size, t->vbuf, VALUE_CAP);
    return shale_put(db, k, KEY_LEN, t->vbuf, vl, fl);
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

/* Writes the op's entries past the end of the log, then publishes them by raising hist_n:
 * the child may be killed at any instant, and an entry counted in hist_n before it is
 * written leaves the checker an entry of a previous cycle (or zeros), which read as an op
 * that wrote an old generation: a "holes" violation the engine did not cause. Killed
 * before the publish, the op has no history, which is right: it is logged before Shale
 * sees it. Writes are serialized, so this is the only writer of hist_n. */
static void log_history(thread_ctx *t, const change *c, const uint64_t *prev, uint64_t seq,
                        int kind) {
  expected *e = t->w->e;
  uint16_t cycle = (uint16_t)atomic_load(&e->h->cycle);
  uint64_t base = atomic_load_explicit(&e->h->hist_n, memory_order_relaxed);
  for (int i = 0; i < c->n; i++) {
    uint64_t at = base + (uint64_t)i;
    if (at >= HIST_CAP) continue; /* the checker sees hist_n > HIST_CAP and says so */
    e->hist[at] = (hist_entry){seq,
                               c->key[i],
                               (uint32_t)slot_make(c->gen[i], c->exists[i]),
                               (uint32_t)slot_make(slot_gen(prev[i]), slot_exists(prev[i])),
                               cycle,
                               (uint8_t)t->id,
                               hist_how(kind, t->origin)};
    if (t->w->o->hist_delay_us) usleep((useconds_t)t->w->o->hist_delay_us);
  }
  atomic_store_explicit(&e->h->hist_n, base + (uint64_t)c->n, memory_order_release);
}

/* Run mode: when each key's last delete returned, for check_deletes_persisted. Under the
 * keys' locks, so the time and the slot agree. */
static void note_deletes(workload *w, const change *c) {
  if (!w->del_us) return;
  uint64_t now = wall_us();
  for (int i = 0; i < c->n; i++)
    if (!c->exists[i]) w->del_us[c->key[i]] = now;
}

void do_write(thread_ctx *t, change *c, int kind) {
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
    log_history(t, c, prev, seq, kind);
  }
  unsigned fl = c->ingest ? 0 : write_flags(t);
  int rc = issue(t, c, kind, fl);
  if (rc == SHALE_OK) {
    if (seq) atomic_store(&e->h->acked_seq, seq);
    /* an ingested table is durable once shale_ingest returns */
    if (seq && ((fl & SHALE_SYNC) || c->ingest)) raise_to(&e->h->durable_seq, seq);
    for (int i = 0; i < c->n; i++)
      atomic_store(&e->slots[c->key[i]], slot_make(c->gen[i], c->exists[i]));
    note_deletes(w, c);
    count(e, c->ingest ? C_INGEST : kind, 1);
    if (fl & SHALE_NO_WAL) count(e, C_NO_WAL, 1);
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
uint32_t pick_window(thread_ctx *t, uint32_t maxlen, uint32_t *begin) {
  uint32_t n = (uint32_t)t->w->o->keys;
  uint32_t len = 1 + (uint32_t)(rnd(&t->rng) % maxlen);
  if (len > n) len = n;
  *begin = (uint32_t)(rnd(&t->rng) % (n - len + 1));
  return len;
}

void write_key(thread_ctx *t, uint32_t k, int exists) {
  change c = {.n = 0};
  add_key(&c, k, exists, 0);
  do_write(t, &c, exists ? C_PUT : C_DELETE);
}

static void op_point(thread_ctx *t, int kind) { write_key(t, pick_key(t), kind == C_PUT); }

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

int read_key(workload *w, const shale_snapshot *snap, uint32_t k, observed *o) {
  char key[KEY_LEN + 1];
  key_of(k, key);
  void *v;
  size_t vl;
  int rc = shale_get(db_of(w, k), snap, key, KEY_LEN, &v, &vl);
  o->found = 0;
  o->gen = 0;
  if (rc == SHALE_NOTFOUND) return 0;
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: get %s: %s: %s\n", key, shale_strerror(rc),
            shale_errmsg(db_of(w, k)));
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

void describe(char *out, size_t cap, uint64_t s) {
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

static void *request_main(void *arg) {
  op_get(arg);
  return NULL;
}

/* The calling thread waits for the request thread, so t (its rng) has one user at a time. A
 * thread that reads once and exits is what a thread-per-request server does: its view slot
 * must come back to the DB, and a new thread must never see a view another one left. */
void op_get_thread(thread_ctx *t) {
  pthread_t th;
  if (pthread_create(&th, NULL, request_main, t) != 0) {
    op_get(t); /* out of threads: the get still runs, uncounted as a request */
    return;
  }
  pthread_join(th, NULL);
  count(t->w->e, C_GET_THREAD, 1);
}

/* Where s's walk starts, as a key index (-1: below every key): the first key it may show
 * going forward, the last going backward. */
static long scan_from(const scan *s) {
  if (!s->backward) {
    long t = s->how == SCAN_EDGE ? 0 : (long)s->target;
    return t > (long)s->lo ? t : (long)s->lo;
  }
  long t = s->how == SCAN_EDGE ? (long)s->hi - 1 : (long)s->target;
  return t < (long)s->hi - 1 ? t : (long)s->hi - 1;
}

static void scan_seek(shale_iter *it, const scan *s) {
  char key[KEY_LEN + 1];
  key_of(s->target, key);
  if (s->how == SCAN_EDGE)
    s->backward ? shale_iter_seek_last(it) : shale_iter_seek_first(it);
  else
    s->backward ? shale_iter_seek_for_prev(it, key, KEY_LEN) : shale_iter_seek(it, key, KEY_LEN);
}

/* The window keys a walk from `from` answered for: up to a bound or the window's edge, or
 * up to the last key shown when it stopped at s->max keys. */
static void scan_answered(scan *s, long from, int stopped) {
  long c0, c1, end = (long)(s->wb + s->wn);
  if (!s->backward) {
    c0 = from > (long)s->wb ? from : (long)s->wb;
    c1 = (long)s->hi < end ? (long)s->hi : end;
    if (stopped && s->last + 1 < c1) c1 = s->last + 1;
  } else {
    c0 = (long)s->lo > (long)s->wb ? (long)s->lo : (long)s->wb;
    c1 = from + 1 < end ? from + 1 : end;
    if (stopped && s->last > c0) c0 = s->last;
  }
  s->c0 = (uint32_t)c0;
  s->c1 = (uint32_t)(c1 > c0 ? c1 : c0);
}

/* Checks one key the walk showed, *prev the one before (-1: none); returns 2 when it is
 * recorded, 1 to go on without (short of the window), 0 to stop (past it), -1 after a
 * violation. */
static int scan_step(workload *w, scan *s, long from, long *prev) {
  size_t kl, vl;
  const void *kp = shale_iter_key(s->it, &kl);
  const void *vp = shale_iter_value(s->it, &vl);
  long k = key_index(kp, kl, (uint32_t)w->o->keys);
  const char *dir = s->backward ? "backward" : "forward";
  if (k < 0) {
    violation(w->e, "iterator: unexpected key '%.*s'", (int)(kl > 40 ? 40 : kl), (const char *)kp);
    return -1;
  }
  if (k < (long)s->lo || k >= (long)s->hi) {
    violation(w->e, "iterator bounded to k%08u..k%08u (exclusive) showed k%08ld", s->lo, s->hi, k);
    return -1;
  }
  if (*prev >= 0 && (s->backward ? k >= *prev : k <= *prev)) {
    violation(w->e, "iterator %s: k%08ld after k%08ld", dir, k, *prev);
    return -1;
  }
  *prev = k;
  if (s->backward ? k > from : k < from) {
    violation(w->e, "iterator %s: seek to k%08ld landed on k%08ld", dir, from, k);
    return -1;
  }
  long g = value_gen((uint32_t)k, vp, vl, w->o->value_size);
  if (g < 0) {
    violation(w->e, "iterator: k%08ld has a malformed value", k);
    return -1;
  }
  long end = (long)(s->wb + s->wn);
  if (s->backward ? k < (long)s->wb : k >= end) return 0;
  if (s->backward ? k >= end : k < (long)s->wb) return 1;
  s->seen[k - s->wb] = (observed){1, (uint32_t)g};
  s->last = k;
  return 2;
}

int scan_run(workload *w, scan *s) {
  memset(s->seen, 0, s->wn * sizeof *s->seen);
  s->last = -1;
  s->c0 = s->c1 = s->wb;
  long from = scan_from(s), prev = -1;
  uint32_t shown = 0;
  int go = 1, stopped = 0;
  scan_seek(s->it, s);
  for (; shale_iter_valid(s->it); s->backward ? shale_iter_prev(s->it) : shale_iter_next(s->it)) {
    go = scan_step(w, s, from, &prev);
    if (go < 0) return -1;
    if (go == 0 || (go == 2 && s->max && ++shown == s->max)) break;
  }
  stopped = go == 2 && s->max && shown == s->max;
  int rc = shale_iter_status(s->it);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: iterator: %s\n", shale_strerror(rc));
    return -1;
  }
  scan_answered(s, from, stopped);
  return 0;
}

int scan_check(workload *w, const char *what, const scan *s, const uint64_t *pre,
               const uint64_t *post) {
  int bad = 0;
  for (uint32_t k = s->c0; k < s->c1; k++) {
    uint32_t i = k - s->wb;
    if (window_allows(pre[i], post[i], s->seen[i])) continue;
    char a[64], b[64];
    describe(a, sizeof a, pre[i]);
    describe(b, sizeof b, post[i]);
    violation(w->e, "%s %s (bounds k%08u..k%08u): k%08u %s gen %u; expected %s .. %s", what,
              s->backward ? "backward" : "forward", s->lo, s->hi, k,
              s->seen[i].found ? "found" : "not found", s->seen[i].gen, a, b);
    bad++;
  }
  return bad;
}

/* An unbounded walk over [begin, begin + len), from a seek to its first (or last) key. */
int scan_window(workload *w, shale_iter *it, uint32_t begin, uint32_t len, int backward,
                observed *seen, scan *s) {
  *s = (scan){.it = it,
              .wb = begin,
              .wn = len,
              .lo = 0,
              .hi = (uint32_t)w->o->keys,
              .target = backward ? begin + len - 1 : begin,
              .backward = backward,
              .how = SCAN_SEEK,
              .seen = seen};
  return scan_run(w, s);
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
  scan s;
  int rc = scan_window(w, it, begin, len, (int)(rnd(&t->rng) & 1), seen, &s);
  shale_iter_free(it);
  for (uint32_t i = 0; i < len; i++) post[i] = atomic_load(&w->e->slots[begin + i]);
  count(w->e, C_ITERATE, 1);
  if (!rc) scan_check(w, "iterator", &s, pre, post);
}

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
    scan s;
    if (!scan_window(w, it, begin, len, (int)(rnd(&t->rng) & 1), seen, &s))
      scan_check(w, "snapshot iterator", &s, pinned, pinned); /* pinned: exactly that state */
    shale_iter_free(it);
  } else {
    count(w->e, C_ERRORS, 1);
  }
  shale_snapshot_free(w->db, snap);
  count(w->e, C_SNAPSHOT, 1);
}

void random_write(thread_ctx *t) {
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

/* Walks a and b in step; the first difference in keys or values, as a violation. */
static void same_contents(workload *w, shale_iter *a, shale_iter *b, const char *dir) {
  uint64_t n = 0;
  for (shale_iter_seek_first(a), shale_iter_seek_first(b);;
       shale_iter_next(a), shale_iter_next(b)) {
    int va = shale_iter_valid(a), vb = shale_iter_valid(b);
    if (!va || !vb) {
      if (va != vb || shale_iter_status(a) || shale_iter_status(b))
        violation(w->e,
                  "checkpoint %s: %s ends after %" PRIu64 " keys, the other does not (%d, %d)", dir,
                  va ? "the checkpoint" : "the DB at its sequence", n, shale_iter_status(a),
                  shale_iter_status(b));
      return;
    }
    size_t ka, kb, la, lb;
    const void *pa = shale_iter_key(a, &ka), *pb = shale_iter_key(b, &kb);
    const void *xa = shale_iter_value(a, &la), *xb = shale_iter_value(b, &lb);
    if (ka != kb || memcmp(pa, pb, ka) || la != lb || memcmp(xa, xb, la)) {
      violation(w->e,
                "checkpoint %s: key %" PRIu64
                " differs: '%.*s' in the DB at its sequence, "
                "'%.*s' in the checkpoint",
                dir, n, (int)(kb > 40 ? 40 : kb), (const char *)pb, (int)(ka > 40 ? 40 : ka),
                (const char *)pa);
      return;
    }
    n++;
  }
}

/* A checkpoint taken while the other threads write, opened beside the live DB, must hold
 * exactly what the snapshot shale_checkpoint returns (the DB at the checkpoint's sequence)
 * reads. Not with NO_WAL writes: those made after the flush began are in the snapshot and
 * not in the copy, by contract. */
static void op_checkpoint(thread_ctx *t) {
  workload *w = t->w;
  if (!w->open_at || w->o->no_wal) return;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s.ck%d", w->o->db, t->id);
  tu_rmrf(dir);
  const shale_snapshot *snap;
  unsigned fl = rnd(&t->rng) & 1 ? SHALE_CHECKPOINT_FLUSH : 0;
  int rc = shale_checkpoint(w->db, dir, fl, NULL, &snap);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: checkpoint: %s: %s\n", shale_strerror(rc), shale_errmsg(w->db));
    return;
  }
  shale_db *ck;
  shale_iter *a = NULL, *b = NULL;
  rc = w->open_at(dir, &ck);
  if (!rc) {
    if (!shale_iter_new(ck, NULL, &a) && !shale_iter_new(w->db, snap, &b))
      same_contents(w, a, b, dir);
    else
      count(w->e, C_ERRORS, 1);
    shale_iter_free(a), shale_iter_free(b);
    if (shale_close(ck)) count(w->e, C_ERRORS, 1);
  } else {
    count(w->e, C_ERRORS, 1);
  }
  shale_snapshot_free(w->db, snap);
  tu_rmrf(dir);
  count(w->e, C_CHECKPOINT, 1);
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

/* One op, per 10000 draws. The long-standing mix (writes, gets, window scans, snapshots)
 * keeps 98% of the draws; the ops on deleted runs are rarer since each does many writes or
 * reads (a delete run is 16..500 deletes, a pop run 4..64 pops), and together they take
 * about a sixth of the time. */
/* --dbs: each thread's keys, so its reads and writes, fall in every DB in turn; only ops on
 * one key each, since a batch or a range would span DBs. A tenth of the reads start a
 * thread per get. */
static void one_op_dbs(thread_ctx *t) {
  unsigned r = (unsigned)(rnd(&t->rng) % 100);
  if (r < 40)
    op_point(t, C_PUT);
  else if (r < 55)
    op_point(t, C_DELETE);
  else if (r < 94)
    op_get(t);
  else
    op_get_thread(t);
}

static void one_op(thread_ctx *t) {
  if (t->w->ndbs) {
    one_op_dbs(t);
    return;
  }
  unsigned r = (unsigned)(rnd(&t->rng) % 10000);
  t->origin = C_MAX;
  if (t->w->serialize_writes && r < 100 && rnd(&t->rng) % 16 == 0)
    op_flush(t);
  else if (r < 5693)
    random_write(t);
  else if (r < 7999)
    op_get(t);
  else if (r < 8049)
    op_get_thread(t);
  else if (r < 9197)
    op_iterate(t);
  else if (r < 9207)
    t->origin = C_INGEST, op_ingest(t);
  else if (r < 9212)
    op_read_only(t);
  else if (r < 9227)
    op_wal_tail(t);
  else if (r < 9815)
    t->origin = C_SNAPSHOT, op_snapshot(t);
  else if (r < 9913)
    op_bounded(t);
  else if (r < 9915)
    op_checkpoint(t);
  else if (r < 9975)
    t->origin = C_REVIVE, op_revive(t);
  else if (r < 9985)
    t->origin = C_POP, op_pop(t);
  else if (r < 9995)
    t->origin = C_DELETE_RUN, op_delete_run(t);
  else
    t->origin = C_SNAPSHOT_RUN, op_snapshot_run(t);
}

static void *thread_main(void *arg) {
  thread_ctx *t = arg;
  workload *w = t->w;
  for (uint64_t n = 0; !atomic_load_explicit(&w->stop, memory_order_relaxed); n++) {
    if ((n & 63) == 0 && t->deadline > 0 && now_ms() >= t->deadline) break;
    one_op(t);
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
  atomic_store(&w->hot, 0);
  atomic_store(&w->jumps_seen, 0);
  double deadline = seconds > 0 ? now_ms() + seconds * 1e3 : 0;
  for (int i = 0; i < n; i++) {
    ctx[i] = (thread_ctx){w, 0, i, deadline, malloc(VALUE_CAP), C_MAX};
    ctx[i].rng =
        (w->o->seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) ^ ((uint64_t)getpid() << 20);
    if (!ctx[i].rng) ctx[i].rng = 1;
    pthread_create(&tids[i], NULL, thread_main, &ctx[i]);
  }
  for (int i = 0; i < n; i++) {
    pthread_join(tids[i], NULL);
    free(ctx[i].vbuf);
  }
  note_span_jumps(w);
  for (int i = 0; i < w->o->keys; i++) pthread_mutex_destroy(&w->locks[i]);
  pthread_mutex_destroy(&w->write_mu);
  free(w->locks);
  w->locks = NULL;
  free(ctx);
  free(tids);
  return 0;
}

/* ---- the whole keyspace, with nothing else running ---- */

int full_scan(shale_db *db, expected *e, const stress_opts *o, observed *seen, int backward) {
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
  verify_bounded(db, e, o, fwd); /* over the spans the full scans just made */
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
