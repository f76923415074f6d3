/* listeners.h — the event listener of shale_options (shale.h "event listeners"): events are
 * queued where they happen, under whatever lock is held there, and a thread of their own
 * delivers them with no engine lock held, so a callback may call the DB. */
#ifndef SHALE_ENGINE_LISTENERS_H
#define SHALE_ENGINE_LISTENERS_H

#include "engine/compaction.h"
#include "engine/db_impl.h"
#include "engine/version_edit.h"

/* Starts the delivery thread when src (shale_options.listener, copied) has a callback (and the DB
 * is not read_only); otherwise db->listeners stays NULL and every post below is a no-op. */
int listeners_open(shale_db *db, const shale_event_listener *src, char *errmsg);
/* Delivers what is queued, then ends the thread; later events are dropped. Idempotent.
 * REQUIRES: no engine lock held (a callback may be in a DB call that takes one). */
void listeners_stop(shale_db *db) SH_EXCLUDES(db->mu, db->manifest_mu, db->snap_mu, db->view_mu);
/* Stops and frees; after the last thread that could post has gone. */
void listeners_free(shale_db *db);

/* Posts: each copies what it needs, takes only the queue's own lock, and may be called
 * with any engine lock held. */
void listeners_flush_begin(shale_db *db, uint64_t number, uint64_t memtable_bytes);
/* f: the table installed (NULL: none was written); also posts its creation. */
void listeners_flush_end(shale_db *db, uint64_t number, uint64_t memtable_bytes, const file_meta *f,
                         int status);
/* The "begin" figures of c into info (the "end" fields zeroed). */
void listeners_compaction_info(const compaction *c, int trivial_move, shale_compaction_info *info);
void listeners_compaction_begin(shale_db *db, const shale_compaction_info *info);
/* outputs: the installed edit whose added files are the new tables (NULL: none). */
void listeners_compaction_end(shale_db *db, const shale_compaction_info *info,
                              const version_edit *outputs);
void listeners_table_deleted(shale_db *db, uint64_t number, uint64_t file_size);
void listeners_stall(shale_db *db, int end, int reason);
void listeners_background_error(shale_db *db, int status, const char *message);
/* Posts on_deletes_persisted when v's "deletes persisted before" passed the last value
 * reported. REQUIRES: v stays referenced for the call. */
void listeners_check_persisted(shale_db *db, read_view *v);

#endif
