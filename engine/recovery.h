/* recovery.h — bringing a DB from its files to a ready handle, and back down at close. */
#ifndef SHALE_ENGINE_RECOVERY_H
#define SHALE_ENGINE_RECOVERY_H

#include "engine/db_impl.h"

/* Replays every WAL not yet covered by a table, starts a fresh WAL and publishes the first
 * read view. REQUIRES: the LOCK is held. */
int db_recover(shale_db *db, char *errmsg);
/* Stops background work and closes the WAL; returns the first background error, if any. */
int db_shutdown(shale_db *db);

#endif
