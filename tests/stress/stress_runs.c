/* stress_runs.c — the ops of shale-stress aimed at deleted runs and the dead spans that
 * iterators make of them (engine/dead_spans.h): long runs of point deletes, queue pops,
 * bounded iterators, snapshots pinned before a run and read after walks made spans of it,
 * and puts that revive keys of the latest run while other threads walk it. Every read is
 * checked as stress_ops.c checks its own: against slot loads taken around it, or against the
 * states a snapshot pinned. A span that hides a live key shows as a key read absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

#define RUN_MIN 16 /* hidden keys a walk must step over before it offers a span */
#define RUN_MAX 500
#define SNAPSHOT_RUN_MAX 256
#define POPS_MAX 64

static uint32_t below(thread_ctx *t, uint32_t n) { return (uint32_t)(rnd(&t->rng) % n); }
static uint32_t nkeys(const workload *w) { return (uint32_t)w->o->keys; }

static int stopping(const workload *w) {
  return atomic_load_explicit(&w->stop, memory_order_relaxed);
}

static uint64_t property_u64(shale_db *db, const char *name) {
  char *v;
  if (shale_property(db, name, &v)) return 0;
  uint64_t n = strtoull(v, NULL, 10);
  shale_free(v);
  return n;
}

/* The counter is per DB instance, and threads race to report it: each adds what it saw
 * beyond the largest value any thread reported. */
void note_span_jumps(workload *w) {
  uint64_t now = property_u64(w->db, "shale.dead-span-jumps");
  uint64_t old = atomic_load(&w->jumps_seen);
  while (now > old && !atomic_compare_exchange_weak(&w->jumps_seen, &old, now)) {
  }
  if (now > old) count(w->e, C_SPAN_JUMPS, now - old);
}

/* ---- the latest deleted run ---- */

static void set_hot(workload *w, uint32_t begin, uint32_t len) {
  atomic_store(&w->hot, (uint64_t)begin << 32 | len);
}

/* A window over the latest deleted run and 8 keys either side, so walks start and end on
 * live keys (clipped to MAX_WINDOW); a random one of up to 64 keys before the first run. */
static uint32_t pick_hot(thread_ctx *t, uint32_t *begin) {
  uint64_t h = atomic_load(&t->w->hot);
  if (!h) return pick_window(t, 64, begin);
  uint32_t b = (uint32_t)(h >> 32), len = (uint32_t)h, n = nkeys(t->w);
  uint32_t lo = b > 8 ? b - 8 : 0, hi = b + len + 8 < n ? b + len + 8 : n;
  if (hi - lo > MAX_WINDOW) hi = lo + MAX_WINDOW;
  *begin = lo;
  return hi - lo;
}

/* RUN_MIN..max consecutive keys (fewer when the keyspace is smaller): three in four at most
 * 64, which make spans as well as long runs do and cost the rest of the mix less. */
static uint32_t pick_run(thread_ctx *t, uint32_t max, uint32_t *begin) {
  uint32_t top = below(t, 4) && max > 64 ? 64 : max;
  uint32_t n = nkeys(t->w), len = RUN_MIN + below(t, top - RUN_MIN + 1);
  if (len > n) len = n;
  *begin = below(t, n - len + 1);
  return len;
}

/* Deletes [begin, begin + len) in ascending batches of MAX_CHANGE keys. */
static void delete_batches(thread_ctx *t, uint32_t begin, uint32_t len) {
  for (uint32_t at = 0; at < len && !stopping(t->w);) {
    change c = {.n = 0};
    for (; at < len && c.n < MAX_CHANGE; at++) add_key(&c, begin + at, 0, 0);
    do_write(t, &c, C_BATCH);
  }
}

/* Deletes [begin, begin + len) as a queue consumer or an expiry sweep does: one delete per
 * key, mostly ascending, or in batches. */
static void delete_run(thread_ctx *t, uint32_t begin, uint32_t len) {
  unsigned how = (unsigned)(rnd(&t->rng) % 8);
  if (how < 2) {
    delete_batches(t, begin, len);
    return;
  }
  for (uint32_t i = 0; i < len && !stopping(t->w); i++)
    write_key(t, how == 2 ? begin + len - 1 - i : begin + i, 0);
}

/* ---- bounded iterators ---- */

/* What a snapshot holds for a window of keys: for each key, a state from pre through post
 * (slot loads just before and just after it was taken), as window_allows reads them. */
typedef struct pin {
  uint64_t pre[MAX_WINDOW], post[MAX_WINDOW];
} pin;

typedef struct bounds {
  shale_read_options ro;
  char lower[KEY_LEN + 2], upper[KEY_LEN + 2];
  uint32_t lo, hi; /* the keys they let through: [lo, hi) */
} bounds;

/* A key index from 4 below the window to 4 above it, clipped to [0, max]. */
static uint32_t near(thread_ctx *t, uint32_t wb, uint32_t wn, uint32_t max) {
  long k = (long)wb - 4 + (long)below(t, wn + 8);
  return k < 0 ? 0 : k > (long)max ? max : (uint32_t)k;
}

/* Key i as a bound, or (above) key i and "~", which sorts after key i and before key i + 1:
 * a bound between two keys. Returns its length. */
static size_t bound_key(uint32_t i, int above, char *out) {
  key_of(i, out);
  if (!above) return KEY_LEN;
  out[KEY_LEN] = '~';
  out[KEY_LEN + 1] = 0;
  return KEY_LEN + 1;
}

static void pick_lower(thread_ctx *t, bounds *b, uint32_t wb, uint32_t wn) {
  uint32_t i = near(t, wb, wn, nkeys(t->w) - 1), how = below(t, 8);
  b->lo = 0;
  if (how == 0) return; /* unbounded below */
  b->ro.lower_bound = b->lower;
  if (how == 1) return; /* the empty key: below every key, yet a bound */
  b->ro.lower_bound_len = bound_key(i, how == 2, b->lower);
  b->lo = how == 2 ? i + 1 : i;
}

/* Mostly at or above the lower bound; one in 16 anywhere near the window, and a few empty
 * keys, so that some bounds let nothing through. */
static void pick_upper(thread_ctx *t, bounds *b, uint32_t wb, uint32_t wn) {
  uint32_t n = nkeys(t->w), j = near(t, wb, wn, n), how = below(t, 10);
  if (j < b->lo && below(t, 16)) {
    j = b->lo + below(t, 8);
    if (j > n) j = n;
  }
  b->hi = n;
  if (how == 0) return; /* unbounded above */
  b->ro.upper_bound = b->upper;
  if (how == 1) { /* "k~": above every key */
    b->ro.upper_bound_len = 2;
    memcpy(b->upper, "k~", 3);
  } else if (how == 2) { /* the empty key: nothing is below it */
    b->hi = 0;
  } else {
    b->ro.upper_bound_len = bound_key(j, how < 5, b->upper);
    b->hi = how < 5 ? (j + 1 < n ? j + 1 : n) : j;
  }
}

/* Random bounds near the window [wb, wb + wn); b->ro points into b. */
static void pick_bounds(thread_ctx *t, bounds *b, uint32_t wb, uint32_t wn) {
  memset(b, 0, sizeof *b);
  shale_read_options_init(&b->ro);
  pick_lower(t, b, wb, wn);
  pick_upper(t, b, wb, wn);
}

/* A walk of s's window: forward or backward, from a seek to a key near the window (inside
 * or outside the bounds), or from seek_first / seek_last when the bound it starts from is
 * near the window (from the first key it would walk the whole keyspace to reach it). */
static void pick_walk(thread_ctx *t, scan *s) {
  uint32_t n = nkeys(t->w);
  s->backward = (int)(rnd(&t->rng) & 1);
  int edge_near = s->backward ? s->hi <= s->wb + s->wn + 16 : s->lo + 16 >= s->wb;
  s->how = edge_near && below(t, 3) == 0 ? SCAN_EDGE : SCAN_SEEK;
  long k = (long)s->wb - 8 + (long)below(t, s->wn + 16);
  s->target = k < 0 ? 0 : k >= (long)n ? n - 1 : (uint32_t)k;
}

/* An iterator over the window [wb, wb + wn), with random bounds when `bounded` (else none),
 * through snap when given (then p holds what it pinned of the window), walked 1..3 times and
 * each walk checked. The walks are what make spans of the deleted runs they cross. */
static void walk_window(thread_ctx *t, const shale_snapshot *snap, uint32_t wb, uint32_t wn,
                        const pin *p, int bounded) {
  workload *w = t->w;
  uint64_t pre[MAX_WINDOW], post[MAX_WINDOW];
  observed seen[MAX_WINDOW];
  bounds b;
  if (bounded) {
    pick_bounds(t, &b, wb, wn);
  } else {
    memset(&b, 0, sizeof b);
    shale_read_options_init(&b.ro);
    b.hi = nkeys(w);
  }
  b.ro.snapshot = snap;
  for (uint32_t i = 0; !p && i < wn; i++) pre[i] = atomic_load(&w->e->slots[wb + i]);
  shale_iter *it;
  if (shale_iter_new_opts(w->db, &b.ro, &it)) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: shale_iter_new_opts: %s\n", shale_errmsg(w->db));
    return;
  }
  const char *what = snap ? (bounded ? "bounded snapshot iterator" : "snapshot iterator")
                          : (bounded ? "bounded iterator" : "iterator");
  for (int i = 0, walks = 1 + (int)below(t, 3); i < walks; i++) {
    scan s = {.it = it, .wb = wb, .wn = wn, .lo = b.lo, .hi = b.hi, .seen = seen};
    pick_walk(t, &s);
    if (scan_run(w, &s)) break;
    for (uint32_t k = s.c0; !p && k < s.c1; k++) post[k - wb] = atomic_load(&w->e->slots[k]);
    if (scan_check(w, what, &s, p ? p->pre : pre, p ? p->post : post)) break;
  }
  shale_iter_free(it);
  if (bounded) count(w->e, C_BOUNDED, 1);
}

/* Half the windows cover the latest deleted run, where spans are made, cut and crossed. */
void op_bounded(thread_ctx *t) {
  uint32_t wb, wn, how = below(t, 4);
  if (how < 2)
    wn = pick_hot(t, &wb);
  else
    wn = pick_window(t, how == 2 ? 64 : MAX_WINDOW, &wb);
  walk_window(t, NULL, wb, wn, NULL, 1);
}

/* ---- deleted runs and revivals ---- */

void op_delete_run(thread_ctx *t) {
  uint32_t begin, len = pick_run(t, RUN_MAX, &begin);
  delete_run(t, begin, len);
  set_hot(t->w, begin, len);
  count(t->w->e, C_DELETE_RUN, 1);
  uint32_t wb, wn = pick_hot(t, &wb);
  walk_window(t, NULL, wb, wn, NULL, (int)(rnd(&t->rng) & 1)); /* the walk that makes a span */
  note_span_jumps(t->w);
}

static int in_change(const change *c, uint32_t k) {
  for (int i = 0; i < c->n; i++)
    if (c->key[i] == k) return 1;
  return 0;
}

/* Puts 1..4 keys of the latest deleted run back, one by one or in one batch: other threads
 * may be walking the run or have made a span of it, and each put must cut its key out. */
void op_revive(thread_ctx *t) {
  uint32_t begin, len = pick_hot(t, &begin), n = 1 + below(t, 4);
  if (rnd(&t->rng) & 1) {
    for (uint32_t i = 0; i < n; i++) write_key(t, begin + below(t, len), 1);
  } else {
    change c = {.n = 0};
    for (uint32_t i = 0; i < n; i++) {
      uint32_t k = begin + below(t, len);
      if (!in_change(&c, k)) add_key(&c, k, 1, 0);
    }
    do_write(t, &c, C_BATCH);
  }
  count(t->w->e, C_REVIVE, n);
}

/* ---- queue pops ---- */

/* One pop from k0: a new iterator, a seek to k0 (or seek_first), the first key it shows
 * checked (and that nothing in between was skipped), then deleted. The variant keeps the
 * iterator's shape for a whole run of pops: 0 unbounded (seek_first from key 0), 1 unbounded
 * seek, 2 lower bound k0 and seek_first, 3 both bounds around the window. Returns the key
 * popped, or -1 when none was in the window (or after a violation or error). */
static long pop_one(thread_ctx *t, uint32_t k0, int variant) {
  workload *w = t->w;
  uint32_t n = nkeys(w), wn = n - k0 < MAX_WINDOW ? n - k0 : MAX_WINDOW;
  uint64_t pre[MAX_WINDOW], post[MAX_WINDOW];
  observed seen[MAX_WINDOW];
  char lower[KEY_LEN + 1], upper[KEY_LEN + 1];
  shale_read_options ro;
  shale_read_options_init(&ro);
  scan s = {.wb = k0, .wn = wn, .lo = 0, .hi = n, .target = k0, .max = 1, .seen = seen};
  s.how = variant == 0 && k0 == 0 ? SCAN_EDGE : SCAN_SEEK;
  if (variant >= 2) {
    key_of(k0, lower);
    ro.lower_bound = lower, ro.lower_bound_len = KEY_LEN;
    s.lo = k0, s.how = SCAN_EDGE;
  }
  if (variant == 3) {
    key_of(k0 + wn, upper);
    ro.upper_bound = upper, ro.upper_bound_len = KEY_LEN;
    s.hi = k0 + wn;
  }
  for (uint32_t i = 0; i < wn; i++) pre[i] = atomic_load(&w->e->slots[k0 + i]);
  if (shale_iter_new_opts(w->db, &ro, &s.it)) {
    count(w->e, C_ERRORS, 1);
    return -1;
  }
  int rc = scan_run(w, &s);
  shale_iter_free(s.it);
  for (uint32_t k = s.c0; k < s.c1; k++) post[k - k0] = atomic_load(&w->e->slots[k]);
  if (rc || scan_check(w, "pop", &s, pre, post) || s.last < 0) return -1;
  write_key(t, (uint32_t)s.last, 0);
  return s.last;
}

/* A run of 4..64 pops from one start: the first key, the latest deleted run, or anywhere.
 * After RUN_MIN pops each pop walks the dead head the earlier ones left, and makes it a span
 * or jumps over the span; the popped range becomes the latest deleted run. */
void op_pop(thread_ctx *t) {
  workload *w = t->w;
  uint64_t h = atomic_load(&w->hot);
  uint32_t where = below(t, 4), k0 = below(t, nkeys(w));
  if (where == 0) k0 = 0;
  if (where == 1 && h) k0 = (uint32_t)(h >> 32);
  int variant = (int)below(t, 4);
  uint32_t want = 4 + below(t, POPS_MAX - 3), popped = 0;
  long last = -1;
  for (; popped < want && !stopping(w); popped++) {
    long k = pop_one(t, k0, variant);
    if (k < 0) break;
    last = k;
  }
  if (popped >= RUN_MIN) set_hot(w, k0, (uint32_t)(last - k0 + 1));
  count(w->e, C_POP, popped);
  note_span_jumps(w);
}

/* ---- snapshots older than spans ---- */

/* Takes a snapshot between two loads of the run's slots. Locking the keys instead would pin
 * them exactly but hold more mutexes than TSan tracks; between the loads a key is exact
 * unless a write to it was in flight, since a write marks its slot pending before Shale
 * sees it. */
static int pin_snapshot(workload *w, uint32_t begin, uint32_t len, pin *p,
                        const shale_snapshot **snap) {
  for (uint32_t i = 0; i < len; i++) p->pre[i] = atomic_load(&w->e->slots[begin + i]);
  int rc = shale_snapshot_new(w->db, snap);
  for (uint32_t i = 0; i < len; i++) p->post[i] = atomic_load(&w->e->slots[begin + i]);
  if (rc) count(w->e, C_ERRORS, 1);
  return rc;
}

static void snapshot_gets(thread_ctx *t, const shale_snapshot *snap, uint32_t begin, uint32_t len,
                          const pin *p) {
  for (int i = 0; i < 16; i++) {
    uint32_t k = begin + below(t, len);
    observed o;
    uint64_t a = p->pre[k - begin], b = p->post[k - begin];
    if (read_key(t->w, snap, k, &o) || window_allows(a, b, o)) continue;
    char da[64], db[64];
    describe(da, sizeof da, a);
    describe(db, sizeof db, b);
    violation(t->w->e, "snapshot get k%08u after a delete run: %s gen %u; pinned %s .. %s", k,
              o.found ? "found" : "not found", o.gen, da, db);
  }
}

/* Pins a snapshot over a run, deletes the run, walks it with latest iterators (which make
 * spans valid only above the snapshot), maybe puts some keys back, then reads the run
 * through the snapshot with gets, a plain and a bounded iterator: what it pinned, whatever
 * spans the walks here and in other threads made meanwhile. */
void op_snapshot_run(thread_ctx *t) {
  workload *w = t->w;
  uint32_t begin, len = pick_run(t, SNAPSHOT_RUN_MAX, &begin);
  pin p;
  const shale_snapshot *snap;
  if (pin_snapshot(w, begin, len, &p, &snap)) return;
  delete_run(t, begin, len);
  set_hot(w, begin, len);
  for (int i = 0, walks = 1 + (int)below(t, 3); i < walks; i++)
    walk_window(t, NULL, begin, len, NULL, i > 0);
  if (rnd(&t->rng) & 1) op_revive(t);
  snapshot_gets(t, snap, begin, len, &p);
  walk_window(t, snap, begin, len, &p, 0);
  walk_window(t, snap, begin, len, &p, 1);
  shale_snapshot_free(w->db, snap);
  count(w->e, C_SNAPSHOT_RUN, 1);
  note_span_jumps(w);
}

/* ---- with nothing else running ---- */

static int bounded_matches(expected *e, const scan *s, const observed *fwd) {
  int bad = 0;
  for (uint32_t k = s->c0; k < s->c1; k++) {
    observed a = s->seen[k - s->wb], b = fwd[k];
    if (a.found == b.found && a.gen == b.gen) continue;
    violation(e, "bounded scan %s (bounds k%08u..k%08u) k%08u: %s gen %u; full scan %s gen %u",
              s->backward ? "backward" : "forward", s->lo, s->hi, k, a.found ? "found" : "absent",
              a.gen, b.found ? "found" : "absent", b.gen);
    bad++;
  }
  return bad;
}

uint64_t verify_bounded(shale_db *db, expected *e, const stress_opts *o, const observed *fwd) {
  uint64_t before = atomic_load(&e->h->counters[C_VIOLATIONS]);
  workload w = {.db = db, .e = e, .o = o};
  thread_ctx t = {.w = &w, .rng = (o->seed ^ ((uint64_t)getpid() << 20)) | 1};
  observed seen[MAX_WINDOW];
  for (int i = 0; i < 64; i++) {
    uint32_t wb, wn = pick_window(&t, MAX_WINDOW, &wb);
    bounds b;
    pick_bounds(&t, &b, wb, wn);
    shale_iter *it;
    if (shale_iter_new_opts(db, &b.ro, &it)) {
      count(e, C_ERRORS, 1);
      violation(e, "shale_iter_new_opts: %s", shale_errmsg(db));
      break;
    }
    for (int j = 0; j < 2; j++) {
      scan s = {.it = it, .wb = wb, .wn = wn, .lo = b.lo, .hi = b.hi, .seen = seen};
      pick_walk(&t, &s);
      if (scan_run(&w, &s) || bounded_matches(e, &s, fwd)) break;
    }
    shale_iter_free(it);
    count(e, C_BOUNDED, 1);
  }
  return atomic_load(&e->h->counters[C_VIOLATIONS]) - before;
}
