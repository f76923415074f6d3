/* write.h — the write path's entry points. */
#ifndef SHALE_ENGINE_WRITE_H
#define SHALE_ENGINE_WRITE_H

#include "engine/db_impl.h"

/* The write path. rep is a batch rep whose sequence field the leader sets. */
int db_write_rep(shale_db *db, buf *rep, unsigned flags);
/* Seals the memtable after every write queued before this call (shale_flush). */
int db_write_seal(shale_db *db);

#endif
