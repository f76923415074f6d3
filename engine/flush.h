/* flush.h — sealing full memtables and turning sealed memtables into L0 tables. */
#ifndef SHALE_ENGINE_FLUSH_H
#define SHALE_ENGINE_FLUSH_H

#include "engine/db_impl.h"

/* Before a write group: seals the memtable when full, and slows or stops the writer while
 * sealed memtables or L0 files pile up. REQUIRES: mu held, caller is the write leader. */
int flush_make_room(shale_db *db, char *errmsg);

#endif
