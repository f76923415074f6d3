/* span_store.h — dead spans kept across a clean close, in the DB's SPANS file.
 *
 * Spans are derived data (engine/dead_spans.h): a reopened DB that has none walks every
 * deleted run again, once by the warm-up after open (engine/span_warmup.c) and, for a
 * reader that arrives first, by that reader's scan. A clean close writes the spans it
 * knows; the next open takes them back when the DB is exactly as that close left it — the
 * same MANIFEST and the same last sequence — and ignores them otherwise, so a crash, a
 * repair or any change in between costs a walk, never a wrong answer. Format:
 * doc/format-spans.md. */
#ifndef SHALE_ENGINE_SPAN_STORE_H
#define SHALE_ENGINE_SPAN_STORE_H

#include <stdint.h>

#include "io/io.h"

struct shale_db;

/* At the end of a clean close (every background job stopped): writes SPANS for the DB's
 * current MANIFEST and last sequence, or removes a stale one when there is nothing to keep.
 * Best effort: a failure is logged, the close still succeeds. */
void span_store_save(struct shale_db *db);
/* At open, after recovery and before any write: adds the stored spans when SPANS describes
 * the state recovery found (manifest: the MANIFEST recovery read). A writer then removes
 * the file, which no later state can use. @return how many spans were taken back. */
uint64_t span_store_load(struct shale_db *db, uint64_t manifest);
/* Removes the SPANS file of the DB in dir through io's env (NULL: the real calls), for a
 * change to the DB made without an open handle (repair). A missing file is SHALE_OK. */
int span_store_remove(io_ctx *io, const char *dir, char *errmsg);

#endif /* SHALE_ENGINE_SPAN_STORE_H */
