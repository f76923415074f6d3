/* view_cache.c — publishing read views and handing them to readers. Iterators and flushes
 * take a counted reference under view_mu. Gets go through a per-thread slot instead (as
 * RocksDB's thread-local SuperVersion): a thread takes its cached view out of its slot,
 * uses it if its number is still the current one, and puts it back; a publisher empties
 * every live slot, so a stale view is released at once rather than when its thread reads
 * again. Slots are bounded per thread (TL_SLOTS) and per DB (DB_SLOTS), and an exiting
 * thread returns its own, so neither many DBs nor many short-lived threads make it grow. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/db_impl.h"
#include "engine/view_cache.h"
#include "util/thread_annotations.h"

/* A slot's v: a cached view, NULL (empty; a publisher made it obsolete), or IN_USE while its
 * thread reads with the view it took out. The two are distinct so that a publisher's
 * emptying wins over a get in flight (RocksDB's kSVInUse / kSVObsolete). With NULL for both,
 * a put that checked the number just before a publish changed it would refill the slot the
 * publisher had just passed, and park a stale view (with its memtables and tables) until its
 * thread read again. Now a view enters a slot only by a put that swaps it for IN_USE, so once
 * a publish has walked the slots, each holds nothing or a view put back by a get that took
 * the slot after the walk: that get found it empty and took the new view under view_mu (or
 * found a view an earlier such get put back). */
static char in_use_mark;
#define IN_USE ((read_view *)&in_use_mark)

struct view_slot {
  _Alignas(64) _Atomic(read_view *) v; /* a line of its own: only its thread writes it often */
  view_slot *prev, *next;              /* in the registry's live list; guarded by reg->mu */
  /* The thread's read_counts, on the line its gets write anyway: only it stores (relaxed),
   * so a count costs no locked instruction and no line moving between cores. */
  _Atomic uint64_t keys, found, bytes, bloom_useful;
};

/* A DB's slots. Threads hold references to it, not to the DB, so a thread that exits or
 * evicts after the DB closed finds `closed` set and touches nothing the DB owned. */
typedef struct reg_state {
  int refs;            /* the open DB's, plus one per slot a thread holds */
  int releasing;       /* threads dropping a slot's view outside mu; close waits for 0 */
  bool closed;         /* slots are freed: threads only drop their references */
  int live;            /* slots in the live list */
  view_slot *head;     /* live slots; their memory is freed at close */
  read_counts retired; /* the counts of slots returned */
} reg_state;

struct view_reg {
  sh_mutex mu;
  reg_state under_mu;      /* reached only through reg_held() */
  pthread_cond_t released; /* releasing dropped to 0 */
};

static inline reg_state *reg_held(view_reg *r) SH_REQUIRES(r->mu) { return &r->under_mu; }

#define TL_SLOTS 8   /* DB handles a thread caches views for; a thread cycling over more evicts */
#define DB_SLOTS 256 /* threads a DB caches views for; more read through view_mu */

typedef struct tl_entry {
  view_reg *reg; /* referenced while set */
  view_slot *slot;
} tl_entry;

static _Thread_local struct tl_cache {
  tl_entry e[TL_SLOTS];
  unsigned victim; /* next entry to evict when all are taken */
  int depth;       /* gets in flight on this thread: an entry in use must not be evicted */
  bool keyed;      /* the exit destructor is armed */
} tl;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;
static _Atomic size_t cache_bytes; /* slots and registries allocated, for tests */

/* ---- registries and slots ---- */

static view_reg *reg_new(void) {
  view_reg *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  sh_mutex_init(&r->mu);
  pthread_cond_init(&r->released, NULL);
  sh_mutex_lock(&r->mu); /* no other thread sees it yet: held for the rule on refs */
  reg_held(r)->refs = 1;
  sh_mutex_unlock(&r->mu);
  atomic_fetch_add(&cache_bytes, sizeof *r);
  return r;
}

static void reg_free(view_reg *r) {
  sh_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->released);
  free(r);
  atomic_fetch_sub(&cache_bytes, sizeof *r);
}

static void slot_unlink(view_reg *r, view_slot *s) SH_REQUIRES(r->mu) {
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  reg_state *g = reg_held(r);
  if (g->head == s) g->head = s->next;
  g->live--;
}

static void slot_counts(const view_slot *s, read_counts *sum) {
  sum->keys += atomic_load_explicit(&s->keys, memory_order_relaxed);
  sum->found += atomic_load_explicit(&s->found, memory_order_relaxed);
  sum->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
  sum->bloom_useful += atomic_load_explicit(&s->bloom_useful, memory_order_relaxed);
}

static void slot_free(view_slot *s) {
  free(s);
  atomic_fetch_sub(&cache_bytes, sizeof *s);
}

/* A new live slot of r, or NULL when r has DB_SLOTS already (or on OOM). */
static view_slot *slot_claim(view_reg *r) {
  sh_mutex_lock(&r->mu);
  reg_state *g = reg_held(r);
  view_slot *s = g->live < DB_SLOTS ? aligned_alloc(_Alignof(view_slot), sizeof *s) : NULL;
  if (s) {
    atomic_init(&s->v, NULL);
    atomic_init(&s->keys, 0);
    atomic_init(&s->found, 0);
    atomic_init(&s->bytes, 0);
    atomic_init(&s->bloom_useful, 0);
    s->prev = NULL;
    s->next = g->head;
    if (g->head) g->head->prev = s;
    g->head = s;
    g->live++;
    g->refs++;
    atomic_fetch_add(&cache_bytes, sizeof *s);
  }
  sh_mutex_unlock(&r->mu);
  return s;
}

/* Returns a thread's slot and its reference to r. The view is dropped outside mu (dropping
 * may reap a table, which must not nest in our lock), so close waits for it via releasing:
 * the DB must outlive the drop. */
static void slot_release(view_reg *r, view_slot *s) {
  read_view *v = NULL;
  sh_mutex_lock(&r->mu);
  reg_state *g = reg_held(r);
  if (!g->closed) {
    v = atomic_exchange_explicit(&s->v, NULL, memory_order_acq_rel);
    if (v == IN_USE) v = NULL; /* never, as a thread returns its slot between gets */
    slot_counts(s, &g->retired);
    slot_unlink(r, s);
    slot_free(s);
    if (v) g->releasing++;
  }
  bool last = --g->refs == 0;
  sh_mutex_unlock(&r->mu);
  if (v) {
    read_view_unref(v);
    sh_mutex_lock(&r->mu);
    if (--reg_held(r)->releasing == 0) pthread_cond_broadcast(&r->released);
    sh_mutex_unlock(&r->mu);
  }
  if (last) reg_free(r);
}

/* ---- the per-thread cache ---- */

static void thread_exit(void *arg) {
  struct tl_cache *c = arg;
  for (int i = 0; i < TL_SLOTS; i++) {
    if (c->e[i].reg) slot_release(c->e[i].reg, c->e[i].slot);
    c->e[i].reg = NULL;
  }
  c->keyed = false; /* a later get on this thread (another destructor) arms it again */
}

static void make_exit_key(void) { exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0; }

/* Arms the destructor that returns this thread's slots when it exits; false if it cannot,
 * and then the thread must not cache (its slots would outlive it). */
static bool arm_exit(void) {
  if (tl.keyed) return true;
  pthread_once(&exit_once, make_exit_key);
  tl.keyed = exit_key_ok && pthread_setspecific(exit_key, &tl) == 0;
  return tl.keyed;
}

/* A free entry, or one evicted; -1 if every entry may be in use by a get in flight. */
static int tl_free_entry(void) {
  for (int i = 0; i < TL_SLOTS; i++)
    if (!tl.e[i].reg) return i;
  if (tl.depth) return -1; /* a get in flight (a nested one, from a hook) holds one of them */
  int i = (int)(tl.victim++ % TL_SLOTS);
  slot_release(tl.e[i].reg, tl.e[i].slot);
  tl.e[i].reg = NULL;
  return i;
}

static view_reg *db_reg(shale_db *db) {
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (r) return r;
  view_reg *fresh = reg_new();
  if (!fresh) return NULL;
  if (atomic_compare_exchange_strong(&db->vr, &r, fresh)) return fresh;
  reg_free(fresh); /* another thread installed one first: r is it */
  return r;
}

/* This thread's slot for db, or NULL: read through view_mu. */
static view_slot *thread_slot(shale_db *db) {
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (r)
    for (int i = 0; i < TL_SLOTS; i++)
      if (tl.e[i].reg == r) return tl.e[i].slot;
  if (!arm_exit() || !(r = db_reg(db))) return NULL;
  view_slot *s = slot_claim(r);
  if (!s) return NULL;
  int i = tl_free_entry();
  if (i < 0) {
    slot_release(r, s);
    return NULL;
  }
  tl.e[i] = (tl_entry){r, s};
  return s;
}

/* ---- views ---- */

read_view *db_view_acquire(shale_db *db) {
  sh_mutex_lock(&db->view_mu);
  read_view *v = db_view_under_view_mu(db);
  read_view_ref(v);
  sh_mutex_unlock(&db->view_mu);
  return v;
}

/* Empties every live slot of r into out (at most DB_SLOTS); returns how many views. A get in
 * flight finds its slot NULL at put and drops its view itself. */
static int scrape(view_reg *r, read_view **out) {
  int n = 0;
  sh_mutex_lock(&r->mu);
  for (view_slot *s = reg_held(r)->head; s; s = s->next) {
    read_view *v = atomic_exchange_explicit(&s->v, NULL, memory_order_acq_rel);
    if (v && v != IN_USE) out[n++] = v;
  }
  sh_mutex_unlock(&r->mu);
  return n;
}

read_view *db_view_new(shale_db *db, memtable *mem, memtable *imm, int imm_count,
                       struct version *ver) {
  return read_view_new(mem, imm, imm_count, ver, db_mu_held(db)->next_view_number++);
}

void db_view_publish(shale_db *db, read_view *v) {
  sh_mutex_lock(&db->view_mu);
  db_view_state *cur = db_view_held(db);
  read_view *old = cur->view;
  cur->view = v;
  atomic_store_explicit(&db->view_number, v->number, memory_order_release);
  sh_mutex_unlock(&db->view_mu);
  /* Every slot a get could have filled before the number changed is live now, and a slot
   * claimed later starts empty: the walk costs the live readers, not every past one. */
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (r) {
    read_view *stale[DB_SLOTS];
    int n = scrape(r, stale);
    for (int i = 0; i < n; i++) read_view_unref(stale[i]);
  }
  if (old) read_view_unref(old);
}

read_view *db_view_get(shale_db *db, view_slot **slot) {
  view_slot *s = *slot = thread_slot(db);
  if (s) {
    tl.depth++;
    read_view *v = atomic_exchange_explicit(&s->v, IN_USE, memory_order_acq_rel);
    if (v == IN_USE) v = NULL; /* a get nested in ours (from a hook) on the same slot */
    if (v && v->number == atomic_load_explicit(&db->view_number, memory_order_acquire)) return v;
    if (v) read_view_unref(v);
  }
  return db_view_acquire(db);
}

void db_view_put(shale_db *db, view_slot *s, read_view *v) {
  (void)db;
  if (s) {
    tl.depth--;
    read_view *expected = IN_USE;
    /* Fails only if a publisher emptied the slot meanwhile: v may be stale, so drop it. */
    if (atomic_compare_exchange_strong_explicit(&s->v, &expected, v, memory_order_acq_rel,
                                                memory_order_relaxed))
      return;
  }
  read_view_unref(v);
}

/* Only the slot's thread stores, so a load and a store add without a locked instruction. */
static void bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

void db_read_count(shale_db *db, view_slot *s, const read_counts *c) {
  if (s) {
    bump(&s->keys, c->keys);
    bump(&s->found, c->found);
    bump(&s->bytes, c->bytes);
    bump(&s->bloom_useful, c->bloom_useful);
    return;
  }
  atomic_fetch_add_explicit(&db->stats.keys_read, c->keys, memory_order_relaxed);
  atomic_fetch_add_explicit(&db->stats.keys_found, c->found, memory_order_relaxed);
  atomic_fetch_add_explicit(&db->stats.bytes_read, c->bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&db->stats.bloom_useful, c->bloom_useful, memory_order_relaxed);
}

void db_read_counts(shale_db *db, read_counts *out) {
  *out = (read_counts){
      .keys = atomic_load_explicit(&db->stats.keys_read, memory_order_relaxed),
      .found = atomic_load_explicit(&db->stats.keys_found, memory_order_relaxed),
      .bytes = atomic_load_explicit(&db->stats.bytes_read, memory_order_relaxed),
      .bloom_useful = atomic_load_explicit(&db->stats.bloom_useful, memory_order_relaxed)};
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (!r) return;
  sh_mutex_lock(&r->mu);
  const reg_state *g = reg_held(r);
  out->keys += g->retired.keys;
  out->found += g->retired.found;
  out->bytes += g->retired.bytes;
  out->bloom_useful += g->retired.bloom_useful;
  for (view_slot *s = g->head; s; s = s->next) slot_counts(s, out);
  sh_mutex_unlock(&r->mu);
}

/* REQUIRES: no other thread uses the handle (close). Threads that still hold slots keep
 * their reference to the registry and find it closed when they exit or evict it. */
void db_view_drop_current(shale_db *db) {
  sh_mutex_lock(&db->mu);
  sh_mutex_lock(&db->view_mu);
  db_view_state *cur = db_view_held(db);
  read_view *view = cur->view;
  cur->view = NULL;
  sh_mutex_unlock(&db->view_mu);
  sh_mutex_unlock(&db->mu);
  if (view) read_view_unref(view);
}

void db_view_cache_free(shale_db *db) {
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (!r) return;
  sh_mutex_lock(&r->mu);
  reg_state *g = reg_held(r);
  g->closed = true;
  while (g->releasing) sh_cond_wait(&r->released, &r->mu);
  view_slot *s = g->head;
  g->head = NULL;
  g->live = 0;
  bool last = --g->refs == 0;
  sh_mutex_unlock(&r->mu);
  while (s) {
    view_slot *next = s->next;
    read_view *v = atomic_load_explicit(&s->v, memory_order_acquire);
    if (v) read_view_unref(v); /* never IN_USE: no get runs during close */
    slot_free(s);
    s = next;
  }
  if (last) reg_free(r);
}

void db_view_cache_stats(shale_db *db, view_cache_stats *st) {
  *st = (view_cache_stats){.bytes = atomic_load(&cache_bytes)};
  view_reg *r = atomic_load_explicit(&db->vr, memory_order_acquire);
  if (!r) return;
  uint64_t current = atomic_load_explicit(&db->view_number, memory_order_acquire);
  sh_mutex_lock(&r->mu);
  const reg_state *g = reg_held(r);
  st->live_slots = (size_t)g->live;
  for (view_slot *s = g->head; s; s = s->next) {
    read_view *v = atomic_load_explicit(&s->v, memory_order_acquire);
    if (v && v != IN_USE && v->number != current) st->stale_views++;
  }
  sh_mutex_unlock(&r->mu);
}
