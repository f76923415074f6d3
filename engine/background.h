/* background.h — the background threads, the background error, and the steps that
 * install a new version and keep the MANIFEST small. */
#ifndef SHALE_ENGINE_BACKGROUND_H
#define SHALE_ENGINE_BACKGROUND_H

#include "engine/db_impl.h"

/* Starting and stopping the threads. */
int bg_start(shale_db *db, char *errmsg);
void bg_stop(shale_db *db) SH_EXCLUDES(db->mu);

/* Before a write group: seals the memtable when full, and slows or stops the writer while
 * sealed memtables or L0 files pile up. The caller is the write leader. */
int flush_make_room(shale_db *db, char *errmsg) SH_REQUIRES(db->mu);

/* Records a background error: the DB turns read-only. */
void db_set_bg_error(shale_db *db, int rc, const char *msg) SH_REQUIRES(db->mu);
/* Starts a new MANIFEST (one snapshot edit) once the current one has grown past
 * manifest_roll_bytes. */
void db_maybe_roll_manifest(shale_db *db) SH_REQUIRES(db->manifest_mu) SH_EXCLUDES(db->mu);
/* The current view with a new version in place of the old one. */
int db_publish_version(shale_db *db, int drop_oldest_imm) SH_REQUIRES(db->mu);

#endif
