/* db.h — what engine/db.c offers the rest of the engine besides open and close: the
 * LOG, fresh memtables, and the snapshot list. */
#ifndef SHALE_ENGINE_DB_H
#define SHALE_ENGINE_DB_H

#include "engine/db_impl.h"

/* Appends a timestamped line to the DB's LOG file. */
void db_log(shale_db *db, const char *fmt, ...) SHALE_PRINTF(2, 3) SH_EXCLUDES(db->log_mu);

/* A fresh memtable whose index fits the write buffer and the entry sizes seen so far, its
 * arena fed by db->apool. */
int db_memtable_new(shale_db *db, memtable **out);

/* Oldest sequence a live snapshot pins, or last_seq when none. */
uint64_t db_oldest_snapshot(shale_db *db) SH_EXCLUDES(db->snap_mu);
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

#endif
