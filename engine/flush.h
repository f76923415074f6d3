/* flush.h — sealing the mutable memtable into the immutable chain. */
#ifndef SHALE_ENGINE_FLUSH_H
#define SHALE_ENGINE_FLUSH_H

#include "engine/db_impl.h"

/* Seals the mutable memtable and starts a new WAL. The caller is the leader. */
int db_seal_memtable(shale_db *db, char *errmsg) SH_REQUIRES(db->mu);

#endif
