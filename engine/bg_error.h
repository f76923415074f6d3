/* bg_error.h — recording the background error (engine/bg_error.c). */
#ifndef SHALE_ENGINE_BG_ERROR_H
#define SHALE_ENGINE_BG_ERROR_H

#include "engine/db_impl.h"

/* Records a background error: the DB turns read-only. */
void db_set_bg_error(shale_db *db, int rc, const char *msg) SH_REQUIRES(db->mu);

#endif /* SHALE_ENGINE_BG_ERROR_H */
