/* span_warmup.h — dead spans live only in memory (engine/dead_spans.h), so a reopened DB has
 * none, and the first scan across the deleted runs the last process left would step over
 * every hidden entry one by one. A thread started at open walks, once, the key ranges where
 * deletes are dense, so that the ordinary walk records those spans before a user's scan
 * arrives: the tables' per-block tombstone counts (their index) and runs of consecutive
 * tombstones in the memtables (the replayed WAL) say where. The walk reads through a normal
 * iterator, so everything it records is exactly what a user's walk would have recorded. */
#ifndef SHALE_ENGINE_SPAN_WARMUP_H
#define SHALE_ENGINE_SPAN_WARMUP_H

struct shale_db;

/* Starts the walk on its own thread. Best effort: without memory or a thread, none runs,
 * and reads are only as slow as they would have been. */
void span_warmup_start(struct shale_db *db);
/* Ends the walk (early if it still runs) and joins its thread; safe to call twice. */
void span_warmup_stop(struct shale_db *db);

#endif /* SHALE_ENGINE_SPAN_WARMUP_H */
