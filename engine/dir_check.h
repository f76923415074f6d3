/* dir_check.h — telling a Shale DB directory from another store's (RocksDB, LevelDB) or from
 * a directory of unrelated files, before an open or a repair changes anything in it. */
#ifndef SHALE_ENGINE_DIR_CHECK_H
#define SHALE_ENGINE_DIR_CHECK_H

#include "io/io.h"

/* SHALE_OK when dir may be opened as a Shale DB: it is empty, holds only Shale's files, or
 * its CURRENT names a Shale MANIFEST. SHALE_INVALID, with errmsg saying it is not a Shale DB
 * and why, when CURRENT names another store's MANIFEST, or when there is no usable CURRENT,
 * a file that is not Shale's, no MANIFEST or WAL of Shale's, and no LOCK (or a LOCK beside
 * another store's MANIFEST or WAL). Damage it cannot classify
 * (a missing or cut MANIFEST) is SHALE_OK: recovery and repair say what is wrong. Reads only;
 * a dir that cannot be listed is SHALE_OK too, for the open to report. Reads and lists
 * through io's env (NULL: the real calls). */
int db_dir_check(io_ctx *io, const char *dir, char *errmsg);

#endif
