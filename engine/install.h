/* install.h — installing a new version (engine/install.c). */
#ifndef SHALE_ENGINE_INSTALL_H
#define SHALE_ENGINE_INSTALL_H

#include "engine/db_impl.h"

/* Starts a new MANIFEST (one snapshot edit) once the current one has grown past
 * manifest_roll_bytes. */
void db_maybe_roll_manifest(shale_db *db) SH_REQUIRES(db->manifest_mu) SH_EXCLUDES(db->mu);
/* The current view with a new version in place of the old one. */
int db_publish_version(shale_db *db, int drop_oldest_imm) SH_REQUIRES(db->mu);

#endif /* SHALE_ENGINE_INSTALL_H */
