/* snapshot.c — the list of live snapshots, kept sorted by sequence: shale_snapshot_new and
 * _free, and what flush and compaction ask of it (the sequences to keep, the snapshot gate). */
#include <stdlib.h>

#include "engine/errmsg.h"
#include "engine/snapshot.h"

void db_snapshot_link(shale_db *db, shale_snapshot *s, uint64_t seq) {
  s->seq = seq;
  shale_snapshot *head = &db_snap_held(db)->snapshots;
  s->next = head;
  s->prev = head->prev;
  s->prev->next = s;
  head->prev = s;
}

static int snapshot_new_call(shale_db *db, const shale_snapshot **snap) {
  if (snap) *snap = NULL;
  if (!db || !snap) return SHALE_INVALID;
  shale_snapshot *s = malloc(sizeof *s);
  if (!s) return db_fail(db, SHALE_NOMEM, "snapshot allocation failed");
  sh_mutex_lock(&db->snap_mu);
  db_snap_state *st = db_snap_held(db);
  while (st->snap_gate) sh_cond_wait(&db->snap_cv, &db->snap_mu);
  st->snaps_made++;
  db_snapshot_link(db, s, atomic_load_explicit(&db->last_seq, memory_order_acquire));
  sh_mutex_unlock(&db->snap_mu);
  *snap = s;
  return SHALE_OK;
}

int shale_snapshot_new(shale_db *db, const shale_snapshot **snap) {
  if (!db) {
    if (snap) *snap = NULL;
    return SHALE_INVALID;
  }
  db_call_begin(db);
  return db_call_end(db, snapshot_new_call(db, snap));
}

void shale_snapshot_free(shale_db *db, const shale_snapshot *snap) {
  if (!db || !snap) return;
  shale_snapshot *s = (shale_snapshot *)snap;
  sh_mutex_lock(&db->snap_mu);
  s->prev->next = s->next;
  s->next->prev = s->prev;
  sh_mutex_unlock(&db->snap_mu);
  free(s);
}

/* Read under snap_mu with the list: a snapshot made after the lock is released takes a
 * last_seq at least as new as the one read here, so nothing it needs is given up. */
static uint64_t oldest_pinned(shale_db *db, int none_is_last_seq) {
  sh_mutex_lock(&db->snap_mu);
  const shale_snapshot *head = &db_snap_held(db)->snapshots;
  uint64_t seq = head->next != head ? head->next->seq
                 : none_is_last_seq ? atomic_load_explicit(&db->last_seq, memory_order_acquire)
                                    : UINT64_MAX;
  sh_mutex_unlock(&db->snap_mu);
  return seq;
}

uint64_t db_snapshot_pin(shale_db *db) { return oldest_pinned(db, 0); }

uint64_t db_oldest_snapshot(shale_db *db) { return oldest_pinned(db, 1); }

void db_snapshots_init(shale_db *db) {
  sh_mutex_lock(&db->snap_mu);
  db_snap_state *snaps = db_snap_held(db);
  snaps->snapshots.next = snaps->snapshots.prev = &snaps->snapshots;
  sh_mutex_unlock(&db->snap_mu);
}

uint64_t db_snapshots_made(shale_db *db) {
  sh_mutex_lock(&db->snap_mu);
  uint64_t n = db_snap_held(db)->snaps_made;
  sh_mutex_unlock(&db->snap_mu);
  return n;
}

int db_snapshot_gate_close(shale_db *db, uint64_t made) {
  sh_mutex_lock(&db->snap_mu);
  db_snap_state *st = db_snap_held(db);
  int ok = st->snaps_made == made;
  if (ok) st->snap_gate = 1;
  sh_mutex_unlock(&db->snap_mu);
  return ok;
}

void db_snapshot_gate_open(shale_db *db) {
  sh_mutex_lock(&db->snap_mu);
  db_snap_held(db)->snap_gate = 0;
  pthread_cond_broadcast(&db->snap_cv);
  sh_mutex_unlock(&db->snap_mu);
}

/* Snapshots join the list's tail with the newest last_seq, so the list is already sorted. */
int db_snapshot_seqs(shale_db *db, uint64_t **seqs, size_t *n) {
  *seqs = NULL;
  *n = 0;
  sh_mutex_lock(&db->snap_mu);
  const shale_snapshot *head = &db_snap_held(db)->snapshots;
  size_t cap = 0;
  for (const shale_snapshot *s = head->next; s != head; s = s->next) cap++;
  uint64_t *v = cap ? malloc(cap * sizeof *v) : NULL;
  for (const shale_snapshot *s = head->next; v && s != head; s = s->next)
    if (!*n || v[*n - 1] != s->seq) v[(*n)++] = s->seq;
  sh_mutex_unlock(&db->snap_mu);
  if (cap && !v) return SHALE_NOMEM;
  *seqs = v;
  return SHALE_OK;
}

size_t db_live_snapshots(shale_db *db) {
  size_t n = 0;
  sh_mutex_lock(&db->snap_mu);
  const shale_snapshot *head = &db_snap_held(db)->snapshots;
  for (const shale_snapshot *s = head->next; s != head; s = s->next) n++;
  sh_mutex_unlock(&db->snap_mu);
  return n;
}
