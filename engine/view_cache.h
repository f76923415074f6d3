/* view_cache.h — publishing read views and handing them to readers, per thread. */
#ifndef SHALE_ENGINE_VIEW_CACHE_H
#define SHALE_ENGINE_VIEW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/db_impl.h"
#include "engine/read_view.h"
#include "shale.h"

/* What point reads did. A get adds its counts to its thread's view slot, on a
 * line only that thread writes, so concurrent gets share no counter. */
typedef struct read_counts {
  uint64_t keys, found, bytes, bloom_useful;
} read_counts;

/* Read views. Publishing takes over the caller's reference. */
/* read_view_new with the next view number: views are numbered in the order they are made. */
read_view *db_view_new(shale_db *db, memtable *mem, memtable *imm, int imm_count,
                       struct version *ver) SH_REQUIRES(db->mu);
read_view *db_view_acquire(shale_db *db) SH_EXCLUDES(db->view_mu);
void db_view_publish(shale_db *db, read_view *v) SH_REQUIRES(db->mu) SH_EXCLUDES(db->view_mu);
/* The current view for one short read, from this thread's cache when it is still current,
 * so gets touch no lock and no shared refcount. Return it with db_view_put. */
typedef struct view_slot view_slot;
typedef struct view_reg view_reg;
read_view *db_view_get(shale_db *db, view_slot **slot);
void db_view_put(shale_db *db, view_slot *slot, read_view *v);
/* Adds c to the counts of the thread owning slot (db's shared ones when slot is NULL).
 * REQUIRES: called between db_view_get and db_view_put that returned slot. */
void db_read_count(shale_db *db, view_slot *slot, const read_counts *c);
/* The counts of every point read on db so far. */
void db_read_counts(shale_db *db, read_counts *out);
/* Drops every cached view (at close). */
void db_view_cache_free(shale_db *db);
/* At close, no reader left: drops the current view, which no one else holds a lock on. */
void db_view_drop_current(shale_db *db) SH_EXCLUDES(db->mu, db->view_mu);
/* For tests: the view cache's memory (process-wide), db's live slots, and how many of them
 * cache a view older than the current one. REQUIRES: no get in flight on db. */
typedef struct view_cache_stats {
  size_t bytes, live_slots, stale_views;
} view_cache_stats;
void db_view_cache_stats(shale_db *db, view_cache_stats *st);

#endif
