/* background.h — the background threads (engine/background.c), which flush, compact and
 * seal early. Only open and close start and stop them; the jobs they run live below. */
#ifndef SHALE_ENGINE_BACKGROUND_H
#define SHALE_ENGINE_BACKGROUND_H

#include "engine/db_impl.h"

/* Starting and stopping the threads. */
int bg_start(shale_db *db, char *errmsg);
void bg_stop(shale_db *db) SH_EXCLUDES(db->mu);

#endif
