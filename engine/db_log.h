/* db_log.h — the DB's info LOG (engine/db_log.c), which every engine file may write. */
#ifndef SHALE_ENGINE_DB_LOG_H
#define SHALE_ENGINE_DB_LOG_H

#include "engine/db_impl.h"

/* Appends a timestamped line to the DB's LOG file. */
void db_log(shale_db *db, const char *fmt, ...) SHALE_PRINTF(2, 3) SH_EXCLUDES(db->log_mu);
/* At open: keeps the last session's LOG as LOG.old after a clean close, else appends to it.
 * A LOG that cannot be opened leaves the DB without one. */
void db_log_open(shale_db *db) SH_EXCLUDES(db->log_mu);
/* At close, after the last line. */
void db_log_close(shale_db *db) SH_EXCLUDES(db->log_mu);
/* A new handle's LOG state: no file yet (db_log writes nothing until db_log_open). */
void db_log_init(shale_db *db) SH_EXCLUDES(db->log_mu);

#endif /* SHALE_ENGINE_DB_LOG_H */
