/* bg_error.h — recording the background error (engine/bg_error.c). */
#ifndef SHALE_ENGINE_BG_ERROR_H
#define SHALE_ENGINE_BG_ERROR_H

#include "engine/db_impl.h"

/* Makes the DB refuse writes from the start, for a reason that is not an error (a
 * read_only open): nothing is logged or reported to listeners. */
void db_refuse_writes(shale_db *db, const char *why) SH_REQUIRES(db->mu);
/* Records a background error: the DB turns read-only. */
void db_set_bg_error(shale_db *db, int rc, const char *msg) SH_REQUIRES(db->mu);

#endif /* SHALE_ENGINE_BG_ERROR_H */
