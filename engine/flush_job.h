/* flush_job.h — writing the oldest sealed memtable as an L0 table, and the WALs it frees. */
#ifndef SHALE_ENGINE_FLUSH_JOB_H
#define SHALE_ENGINE_FLUSH_JOB_H

#include "engine/db_impl.h"
#include "sstable/sst_format.h"

/* Flushes the oldest sealed memtable; mu is released during I/O, held again on return. */
int flush_oldest(shale_db *db, char *errmsg) SH_REQUIRES(db->mu);
/* Deletes the WALs from oldest_wal up to below that retention does not keep, unless a
 * checkpoint or a WAL walk pins them (then the next call after it deletes them). */
void db_delete_obsolete_wals(shale_db *db, uint64_t below) SH_REQUIRES(db->manifest_mu);
/* At open, once recovery knows the WALs: those below live_from are in tables (deleted, or
 * kept as .old.log by retention). */
void db_wals_start(shale_db *db, uint64_t live_from) SH_REQUIRES(db->manifest_mu);
/* At open: a WAL kept by retention, numbered n, is the oldest still on disk if below the rest. */
void db_wals_retained(shale_db *db, uint64_t n) SH_REQUIRES(db->manifest_mu);
/* A checkpoint or a WAL walk reading WALs: no obsolete WAL is deleted while any pin holds. */
void db_wals_pin(shale_db *db) SH_REQUIRES(db->manifest_mu);
/* Drops a pin, and deletes the WALs that flushes finished meanwhile left for it. */
void db_wals_unpin(shale_db *db) SH_REQUIRES(db->manifest_mu);

/* Table-building options from the DB options, for a table of the given level (its zstd
 * dictionary is shared with the level's other tables). */
sst_options db_sst_options(shale_db *db, int level);

#endif
