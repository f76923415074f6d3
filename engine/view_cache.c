/* view_cache.c — publishing read views and handing them to readers. Iterators and flushes
 * take a counted reference under view_mu. Gets go through a per-thread slot instead (as
 * RocksDB's thread-local SuperVersion): a thread takes its cached view out of its slot,
 * uses it if its number is still the current one, and puts it back; a publisher empties
 * every slot, so a stale view is released at once rather than when its thread reads again.
 * Correctness: a write acknowledged before a get starts was published after its view, so
 * the get's acquire load of view_number sees a newer number and refreshes. */
#include <stdlib.h>

#include "engine/db_impl.h"

struct view_slot {
  _Atomic(read_view *) v; /* NULL while its thread uses it, or after a publisher emptied it */
  view_slot *next;        /* guarded by view_mu */
};

#define TL_SLOTS 4 /* DB handles a thread can cache views for; more fall back to the lock */

static _Thread_local struct {
  uint64_t gen;
  view_slot *slot;
} tl_slots[TL_SLOTS];
static _Thread_local unsigned tl_victim; /* next entry to reuse when all are taken */

read_view *db_view_acquire(shale_db *db) {
  pthread_mutex_lock(&db->view_mu);
  read_view *v = db->view;
  read_view_ref(v);
  pthread_mutex_unlock(&db->view_mu);
  return v;
}

void db_view_publish(shale_db *db, read_view *v) {
  pthread_mutex_lock(&db->view_mu);
  read_view *old = db->view;
  db->view = v;
  atomic_store_explicit(&db->view_number, v->number, memory_order_release);
  view_slot *s = db->slots;
  pthread_mutex_unlock(&db->view_mu);
  /* slots are only ever added at the head and freed at close, so walking is safe */
  for (; s; s = s->next) {
    read_view *cached = atomic_exchange_explicit(&s->v, NULL, memory_order_acq_rel);
    if (cached) read_view_unref(cached);
  }
  if (old) read_view_unref(old);
}

static view_slot *thread_slot(shale_db *db) {
  int free_i = -1;
  for (int i = 0; i < TL_SLOTS; i++) {
    if (tl_slots[i].gen == db->gen) return tl_slots[i].slot;
    if (!tl_slots[i].gen && free_i < 0) free_i = i;
  }
  /* Reusing an entry only forgets it here: its slot stays with its handle until close. */
  if (free_i < 0) free_i = (int)(tl_victim++ % TL_SLOTS);
  view_slot *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutex_lock(&db->view_mu);
  s->next = db->slots;
  db->slots = s;
  pthread_mutex_unlock(&db->view_mu);
  tl_slots[free_i].gen = db->gen;
  tl_slots[free_i].slot = s;
  return s;
}

read_view *db_view_get(shale_db *db, view_slot **slot) {
  view_slot *s = *slot = thread_slot(db);
  if (s) {
    read_view *v = atomic_exchange_explicit(&s->v, NULL, memory_order_acq_rel);
    if (v && v->number == atomic_load_explicit(&db->view_number, memory_order_acquire)) return v;
    if (v) read_view_unref(v);
  }
  return db_view_acquire(db);
}

void db_view_put(shale_db *db, view_slot *s, read_view *v) {
  if (s && v->number == atomic_load_explicit(&db->view_number, memory_order_acquire)) {
    read_view *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&s->v, &expected, v, memory_order_acq_rel,
                                                memory_order_relaxed))
      return;
  }
  read_view_unref(v);
}

/* REQUIRES: no other thread uses the handle (close). Threads that cached a slot keep a
 * stale TLS entry naming this handle's gen, which no later handle shares. */
void db_view_cache_free(shale_db *db) {
  view_slot *s = db->slots;
  db->slots = NULL;
  while (s) {
    view_slot *next = s->next;
    read_view *v = atomic_load(&s->v);
    if (v) read_view_unref(v);
    free(s);
    s = next;
  }
}
