/* bg_error.c — the background error: the first failure of a flush, a compaction or a WAL
 * write that leaves the DB's files behind its memory. It turns the DB read-only until
 * reopened; writers and shale_flush read it under mu (db_mu_held). */
#include <stdio.h>

#include "engine/bg_error.h"
#include "engine/db_log.h"
#include "engine/listeners.h"

void db_refuse_writes(shale_db *db, const char *why) {
  db_mu_state *s = db_mu_held(db);
  s->bg_error = SHALE_READONLY;
  snprintf(s->bg_errmsg, sizeof s->bg_errmsg, "%s", why);
}

void db_set_bg_error(shale_db *db, int rc, const char *msg) {
  db_mu_state *s = db_mu_held(db);
  if (!s->bg_error) {
    s->bg_error = rc;
    snprintf(s->bg_errmsg, sizeof s->bg_errmsg, "%s", msg ? msg : shale_strerror(rc));
    db_log(db, "background error, DB is read-only until reopened: %s", msg);
    listeners_background_error(db, rc, s->bg_errmsg);
  }
  pthread_cond_broadcast(&db->bg_cv);
}
