/* recovery.h — bringing a DB from its files to a ready handle, and back down at close. */
#ifndef SHALE_ENGINE_RECOVERY_H
#define SHALE_ENGINE_RECOVERY_H

#include "engine/db_impl.h"

/* Replays every WAL not yet covered by a table, starts a fresh WAL and publishes the first
 * read view. REQUIRES: the LOCK is held, unless read_only: then the WALs are replayed into
 * memory only, every table of the recovered version stays open in the table cache
 * (db->pinned_tables), and SHALE_BUSY means a writer changed the files under the attempt:
 * release the handle and try again. */
int db_recover(shale_db *db, char *errmsg) SH_EXCLUDES(db->mu);
/* Flushes every sealed memtable, and the mutable one when a write since open skipped the
 * WAL, then stops background work. Returns the first background error, else the error of
 * sealing the mutable memtable, else SHALE_OK. */
int db_shutdown(shale_db *db);
/* At close of a read_only handle: lets go of the tables db_recover kept open. */
void db_unpin_recovered_tables(shale_db *db);

#endif
