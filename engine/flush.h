/* flush.h — sealing the mutable memtable into the immutable chain, and making room for a
 * write group before it. */
#ifndef SHALE_ENGINE_FLUSH_H
#define SHALE_ENGINE_FLUSH_H

#include "engine/db_impl.h"

/* At open, when recovery left the mutable memtable empty: starts the WAL it logs to, its
 * name durable before any SYNC write in it is acknowledged. */
int db_start_wal(shale_db *db, char *errmsg);
/* An open that fails after db_start_wal removes that WAL: nothing was written to it, and one
 * left behind per failed attempt would litter the DB (and fill a disk already full). */
void db_discard_new_wal(shale_db *db);
/* Seals the mutable memtable and starts a new WAL. The caller is the leader. */
int db_seal_memtable(shale_db *db, char *errmsg) SH_REQUIRES(db->mu);
/* Recovery: the mutable memtable, before any WAL is replayed into it, in the first view. */
int db_first_memtable(shale_db *db) SH_EXCLUDES(db->mu);
/* Recovery: seals the memtable being replayed into, full, as the write path would; the
 * fresh one takes the records of WAL log_number on. No new WAL: replay writes none. */
int db_seal_replayed(shale_db *db, uint64_t log_number) SH_REQUIRES(db->mu);
/* Before a write group: seals the memtable when full, and slows or stops the writer while
 * sealed memtables or L0 files pile up. The caller is the write leader. */
int flush_make_room(shale_db *db, char *errmsg) SH_REQUIRES(db->mu);
/* A fresh memtable whose index fits the write buffer and the entry sizes seen so far, its
 * arena fed by db->apool. */
int db_memtable_new(shale_db *db, memtable **out);

#endif
