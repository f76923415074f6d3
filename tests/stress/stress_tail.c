/* stress_tail.c — the ops of shale-stress that reach the DB by other doors than the write
 * and read calls: external tables ingested as one write, read_only handles opened beside the
 * writer, and walks of the WAL (shale_updates_since). Each is checked against the
 * expected-state slots, so wrong data is a violation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"
#include "testutil.h"

#define TAIL_WINDOW 16

int issue_ingest(thread_ctx *t, const change *c) {
  workload *w = t->w;
  char path[4200], k[KEY_LEN + 1];
  shale_options o;
  shale_sst_writer *sw = NULL;
  w->options(&o);
  snprintf(path, sizeof path, "%s.ingest%d.sst", w->o->db, t->id);
  unlink(path); /* a killed child's */
  atomic_fetch_add(&w->ingests, 1);
  int rc = shale_sst_writer_open(path, &o, &sw);
  for (int i = 0; i < c->n && !rc; i++) {
    key_of(c->key[i], k);
    if (!c->exists[i]) {
      rc = shale_sst_writer_delete(sw, k, KEY_LEN);
      continue;
    }
    size_t vl = value_of(c->key[i], c->gen[i], w->o->value_size, t->vbuf, VALUE_CAP);
    rc = shale_sst_writer_put(sw, k, KEY_LEN, t->vbuf, vl);
  }
  if (!rc)
    rc = shale_sst_writer_finish(sw, NULL);
  else
    shale_sst_writer_abandon(sw);
  /* The ingest is durable when it returns; the unsynced writes before it may not be, and
   * the power-loss check wants a prefix: a flush makes them durable first. */
  if (!rc && w->serialize_writes) rc = shale_flush(w->db);
  const char *files[] = {path};
  if (!rc) rc = shale_ingest(w->db, files, 1, rnd(&t->rng) & 1 ? SHALE_INGEST_MOVE : 0);
  unlink(path);
  return rc;
}

/* Reads [begin, begin + len) of db under the keys' locks: each exactly as its slot says. */
static void check_window_locked(workload *w, uint32_t begin, uint32_t len, const char *what) {
  for (uint32_t i = 0; i < len; i++) pthread_mutex_lock(&w->locks[begin + i]);
  for (uint32_t i = 0; i < len; i++) {
    observed o;
    uint64_t s = atomic_load(&w->e->slots[begin + i]);
    if (!read_key(w, NULL, begin + i, &o) && !slot_allows(s, o))
      violation(w->e, "%s k%08u: %s gen %u; expected gen %u %s", what, begin + i,
                o.found ? "found" : "not found", o.gen, slot_gen(s),
                slot_exists(s) ? "present" : "absent");
  }
  for (uint32_t i = len; i-- > 0;) pthread_mutex_unlock(&w->locks[begin + i]);
}

void op_ingest(thread_ctx *t) {
  workload *w = t->w;
  if (w->ndbs || !w->options) return;
  change c = {.ingest = 1};
  uint32_t begin, len = pick_window(t, TAIL_WINDOW, &begin);
  for (uint32_t i = 0; i < len; i++)
    if (rnd(&t->rng) % 3) add_key(&c, begin + i, rnd(&t->rng) % 4 != 0, 0);
  if (!c.n) add_key(&c, begin, 1, 0);
  do_write(t, &c, C_BATCH);
  check_window_locked(w, begin, len, "after ingest, get");
}

/* What a read_only handle shows of key k, checked against its pinned slot. */
static void ro_get(workload *w, shale_db *ro, uint32_t k, uint64_t pinned) {
  char key[KEY_LEN + 1];
  void *v;
  size_t vl;
  observed o = {0};
  key_of(k, key);
  int rc = shale_get(ro, NULL, key, KEY_LEN, &v, &vl);
  if (rc && rc != SHALE_NOTFOUND) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: read_only get %s: %s\n", key, shale_strerror(rc));
    return;
  }
  if (!rc) {
    long g = value_gen(k, v, vl, w->o->value_size);
    shale_free(v);
    if (g < 0) return violation(w->e, "read_only get %s: malformed value", key);
    o = (observed){1, (uint32_t)g};
  }
  if (!slot_allows(pinned, o))
    violation(w->e, "read_only get %s: %s gen %u; at its open gen %u %s", key,
              o.found ? "found" : "not found", o.gen, slot_gen(pinned),
              slot_exists(pinned) ? "present" : "absent");
}

/* Opened while the window is locked, the handle must hold exactly the states pinned then,
 * before and after more writes (it never catches up). Writes that skip the WAL are not in
 * what it replays, so not with --no_wal. */
static void read_only_once(thread_ctx *t) {
  workload *w = t->w;
  uint32_t begin, len = pick_window(t, TAIL_WINDOW, &begin);
  uint64_t pinned[TAIL_WINDOW];
  observed seen[TAIL_WINDOW];
  shale_options o;
  shale_db *ro;
  w->options(&o);
  o.read_only = 1;
  for (uint32_t i = 0; i < len; i++) pthread_mutex_lock(&w->locks[begin + i]);
  for (uint32_t i = 0; i < len; i++) pinned[i] = atomic_load(&w->e->slots[begin + i]);
  int rc = shale_open(w->o->db, &o, &ro);
  for (uint32_t i = len; i-- > 0;) pthread_mutex_unlock(&w->locks[begin + i]);
  if (rc == SHALE_BUSY) return; /* the writer kept removing files the open needed */
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: read_only open: %s: %s\n", shale_strerror(rc),
            shale_errmsg(NULL));
    return;
  }
  for (int i = (int)(rnd(&t->rng) % 4); i > 0; i--) random_write(t);
  for (uint32_t i = 0; i < len; i++) ro_get(w, ro, begin + i, pinned[i]);
  shale_iter *it;
  if (shale_iter_new(ro, NULL, &it) == SHALE_OK) {
    scan s;
    if (!scan_window(w, it, begin, len, (int)(rnd(&t->rng) & 1), seen, &s))
      scan_check(w, "read_only iterator", &s, pinned, pinned);
    shale_iter_free(it);
  } else {
    count(w->e, C_ERRORS, 1);
  }
  if (shale_close(ro)) count(w->e, C_ERRORS, 1);
  count(w->e, C_READ_ONLY, 1);
}

void op_read_only(thread_ctx *t) {
  workload *w = t->w;
  if (w->ndbs || !w->options || w->o->no_wal) return;
  for (int i = w->o->read_only > 1 ? w->o->read_only : 1; i > 0; i--) read_only_once(t);
}

/* The window's states as a walk rebuilds them: generation and presence per key. */
typedef struct replay {
  workload *w;
  uint32_t begin, len;
  uint64_t from, seq; /* ops below from were in the pinned states already */
  uint32_t gen[TAIL_WINDOW];
  int exists[TAIL_WINDOW];
} replay;

/* Every write of a key takes its next generation; a put carries it in its value. */
static void replay_key(replay *r, uint32_t k, int exists, long gen) {
  uint32_t i = k - r->begin;
  if (k < r->begin || i >= r->len) return;
  if (exists && gen != (long)r->gen[i] + 1)
    violation(r->w->e, "WAL tail: put k%08u gen %ld at sequence %" PRIu64 "; expected gen %u", k,
              gen, r->seq, r->gen[i] + 1);
  r->gen[i]++, r->exists[i] = exists;
}

static int replay_visit(void *arg, int op, const void *key, size_t klen, const void *val,
                        size_t vlen) {
  replay *r = arg;
  uint32_t nkeys = (uint32_t)r->w->o->keys;
  long k = key_index(key, klen, nkeys), e = op == SHALE_OP_DELETE_RANGE ? -1 : k + 1;
  if (op == SHALE_OP_DELETE_RANGE) e = vlen == KEY_LEN ? key_index(val, vlen, nkeys) : nkeys;
  if (e < 0) e = nkeys; /* the end past the last key: "k<keys>" */
  if (r->seq++ < r->from) return 0;
  if (k < 0) return violation(r->w->e, "WAL tail: a stray key '%.*s'", (int)klen, (char *)key), 0;
  long gen = op == SHALE_OP_PUT ? value_gen((uint32_t)k, val, vlen, r->w->o->value_size) : 0;
  if (gen < 0) return violation(r->w->e, "WAL tail: malformed value of k%08ld", k), 0;
  for (long j = k; j < e; j++) replay_key(r, (uint32_t)j, op == SHALE_OP_PUT, gen);
  return 0;
}

static uint64_t last_sequence(shale_db *db) {
  char *v = NULL;
  uint64_t s = shale_property(db, "shale.sequence", &v) ? 0 : strtoull(v, NULL, 10);
  shale_free(v);
  return s;
}

/* Walks from r->from on; 0, or the failing code. */
static int replay_walk(workload *w, replay *r) {
  shale_updates *u;
  int rc = shale_updates_since(w->db, r->from, &u);
  if (rc) return rc;
  const shale_batch *b;
  int irc = 0;
  while (!irc && (rc = shale_updates_next(u, &r->seq, &b)) == SHALE_OK)
    irc = shale_batch_iterate(b, replay_visit, r);
  shale_updates_free(u);
  if (irc) return irc;
  return rc == SHALE_NOTFOUND ? 0 : rc;
}

static int any_pending(const uint64_t *s, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (slot_pending(s[i])) return 1;
  return 0;
}

/* Notes the sequence while a window is locked, writes some of its keys, then (locked
 * again) walks the WAL from there: the walked writes applied to the states pinned at the
 * note must give the current ones. A walk that spans an ingest has a gap by contract, and
 * SHALE_NOTFOUND (the WAL flushed and deleted) is the documented answer, counted apart. */
void op_wal_tail(thread_ctx *t) {
  workload *w = t->w;
  if (w->ndbs || !w->options || w->o->no_wal) return;
  uint32_t begin, len = pick_window(t, TAIL_WINDOW, &begin);
  uint64_t pinned[TAIL_WINDOW], now[TAIL_WINDOW];
  replay r = {.w = w, .begin = begin, .len = len};
  for (uint32_t i = 0; i < len; i++) pthread_mutex_lock(&w->locks[begin + i]);
  uint64_t ingests = atomic_load(&w->ingests);
  r.from = last_sequence(w->db) + 1;
  for (uint32_t i = 0; i < len; i++) pinned[i] = atomic_load(&w->e->slots[begin + i]);
  for (uint32_t i = len; i-- > 0;) pthread_mutex_unlock(&w->locks[begin + i]);
  for (int i = 1 + (int)(rnd(&t->rng) % 4); i > 0; i--)
    write_key(t, begin + (uint32_t)(rnd(&t->rng) % len), rnd(&t->rng) % 4 != 0);
  for (int i = (int)(rnd(&t->rng) % 3); i > 0; i--) random_write(t);
  for (uint32_t i = 0; i < len; i++) {
    r.gen[i] = slot_gen(pinned[i]), r.exists[i] = slot_exists(pinned[i]);
    pthread_mutex_lock(&w->locks[begin + i]);
  }
  for (uint32_t i = 0; i < len; i++) now[i] = atomic_load(&w->e->slots[begin + i]);
  int rc = replay_walk(w, &r);
  int gap =
      atomic_load(&w->ingests) != ingests || any_pending(pinned, len) || any_pending(now, len);
  for (uint32_t i = len; i-- > 0;) pthread_mutex_unlock(&w->locks[begin + i]);
  if (rc == SHALE_NOTFOUND) return count(w->e, C_WAL_GONE, 1);
  if (rc) {
    count(w->e, C_ERRORS, 1);
    fprintf(stderr, "shale-stress: WAL tail: %s: %s\n", shale_strerror(rc), shale_errmsg(w->db));
    return;
  }
  for (uint32_t i = 0; i < len && !gap; i++)
    if (r.gen[i] != slot_gen(now[i]) || r.exists[i] != slot_exists(now[i]))
      violation(w->e, "WAL tail from %" PRIu64 ": k%08u replays to gen %u %s; it is gen %u %s",
                r.from, begin + i, r.gen[i], r.exists[i] ? "present" : "absent", slot_gen(now[i]),
                slot_exists(now[i]) ? "present" : "absent");
  count(w->e, C_WAL_TAIL, 1);
}
