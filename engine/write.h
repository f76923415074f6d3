/* write.h — the write path's entry points. */
#ifndef SHALE_ENGINE_WRITE_H
#define SHALE_ENGINE_WRITE_H

#include "engine/db_impl.h"

/* The write path. rep is a batch rep whose sequence field the leader sets. */
int db_write_rep(shale_db *db, buf *rep, unsigned flags) SH_EXCLUDES(db->mu);
/* Gives out count new sequences and returns the first: only the write leader and the
 * exclusive step at the queue's head (an ingest) call it, so sequences follow queue order. */
uint64_t db_allocate_seqs(shale_db *db, uint64_t count) SH_REQUIRES(db->mu);
/* Recovery: raises the last sequence given out to seq (the MANIFEST's, then each replayed
 * batch's last), so that new writes number after everything recovered. */
void db_seqs_recovered(shale_db *db, uint64_t seq) SH_EXCLUDES(db->mu);
/* The last sequence given out, for open once recovery is done. */
uint64_t db_last_allocated_seq(shale_db *db) SH_EXCLUDES(db->mu);
/* Seals the memtable after every write queued before this call (shale_flush). */
int db_write_seal(shale_db *db) SH_EXCLUDES(db->mu);
/* Runs fn(db, arg, errmsg) at the head of the write queue, with mu held: no write is in
 * flight or starts until it returns (fn may release mu meanwhile, and returns with it
 * held). errmsg has ERRMSG_SIZE bytes. Returns fn's code (SHALE_READONLY without calling it
 * on a read-only DB), recorded as the handle's detail on failure. */
typedef int (*db_exclusive_fn)(shale_db *db, void *arg, char *errmsg);
int db_write_exclusive(shale_db *db, db_exclusive_fn fn, void *arg) SH_EXCLUDES(db->mu);

#endif
