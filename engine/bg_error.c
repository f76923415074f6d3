/* bg_error.c — the background error: the first failure of a flush, a compaction or a WAL
 * write that leaves the DB's files behind its memory. It turns the DB read-only until
 * reopened; writers and shale_flush read db->bg_error under mu. */
#include <stdio.h>

#include "engine/bg_error.h"
#include "engine/db_log.h"
#include "engine/listeners.h"

void db_refuse_writes(shale_db *db, const char *why) {
  db->bg_error = SHALE_READONLY;
  snprintf(db->bg_errmsg, sizeof db->bg_errmsg, "%s", why);
}

void db_set_bg_error(shale_db *db, int rc, const char *msg) {
  if (!db->bg_error) {
    db->bg_error = rc;
    snprintf(db->bg_errmsg, sizeof db->bg_errmsg, "%s", msg ? msg : shale_strerror(rc));
    db_log(db, "background error, DB is read-only until reopened: %s", msg);
    listeners_background_error(db, rc, db->bg_errmsg);
  }
  pthread_cond_broadcast(&db->bg_cv);
}
