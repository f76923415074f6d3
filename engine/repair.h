/* repair.h — rebuilding a DB's MANIFEST from the tables and WALs present (shale_repair,
 * shale-ldb repair). */
#ifndef SHALE_ENGINE_REPAIR_H
#define SHALE_ENGINE_REPAIR_H

#include "io/io.h"
#include "shale.h"

/* Called once per line of the account of a repair (no newline); warning is 1 for a
 * trouble repair worked around (a table it could not salvage), 0 for what it did. */
typedef void (*repair_report_fn)(void *arg, int warning, const char *line);

/* Repairs the DB in dir, whose keys are in cmp's order (NULL: bytewise), holding its LOCK,
 * reporting to report (may be NULL); every file call goes through io's env (NULL: the real
 * calls). SHALE_OK, or the error that stopped it with the detail
 * in errmsg: SHALE_NOTFOUND for a missing dir, SHALE_INVALID for a file, a directory that is
 * not a Shale DB, or tables written in another order (all untouched), SHALE_BUSY when the
 * LOCK is held, SHALE_IOERR/NOSPACE/NOMEM. */
int db_repair(io_ctx *io, const char *dir, const shale_comparator *cmp, repair_report_fn report,
              void *arg, char *errmsg);

#endif
