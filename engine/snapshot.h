/* snapshot.h — the snapshot list (engine/snapshot.c): which sequences live snapshots pin. */
#ifndef SHALE_ENGINE_SNAPSHOT_H
#define SHALE_ENGINE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/db_impl.h"

/* Puts s, reading at seq, on the snapshot list. Does not count it in db_snapshots_made and
 * does not wait at the gate: shale_snapshot_new does both; a checkpoint's own pin, taken
 * under mu, does neither. */
void db_snapshot_link(shale_db *db, shale_snapshot *s, uint64_t seq) SH_REQUIRES(db->snap_mu);
/* Oldest sequence a live snapshot pins, or last_seq when none. */
uint64_t db_oldest_snapshot(shale_db *db) SH_EXCLUDES(db->snap_mu);
/* A new handle's snapshot list: empty. */
void db_snapshots_init(shale_db *db) SH_EXCLUDES(db->snap_mu);
/* Oldest sequence a live snapshot pins, or UINT64_MAX when none. Unlike last_seq, no write
 * in flight can be newer: a memtable's tombstones are counted before last_seq covers them. */
uint64_t db_snapshot_pin(shale_db *db) SH_EXCLUDES(db->snap_mu);
/* The sequences live snapshots pin, ascending and distinct: *seqs (NULL when *n is 0) is
 * malloc'd for the caller to free. Table builders collapse range tombstones between them.
 * @return SHALE_OK or SHALE_NOMEM. */
int db_snapshot_seqs(shale_db *db, uint64_t **seqs, size_t *n) SH_EXCLUDES(db->snap_mu);
/* How many snapshots were ever taken: read before db_snapshot_seqs, it tells a compaction
 * later whether a snapshot missing from its list appeared since. */
uint64_t db_snapshots_made(shale_db *db) SH_EXCLUDES(db->snap_mu);
/* Closes the snapshot gate when no snapshot was taken since db_snapshots_made returned
 * made, and returns 1; else returns 0 and leaves it open. While closed, shale_snapshot_new
 * waits. */
int db_snapshot_gate_close(shale_db *db, uint64_t made) SH_EXCLUDES(db->snap_mu);
void db_snapshot_gate_open(shale_db *db) SH_EXCLUDES(db->snap_mu);
/* How many snapshots are live: close refuses while any is. */
size_t db_live_snapshots(shale_db *db) SH_EXCLUDES(db->snap_mu);

#endif /* SHALE_ENGINE_SNAPSHOT_H */
