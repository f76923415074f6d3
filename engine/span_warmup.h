/* span_warmup.h — dead spans live only in memory (engine/dead_spans.h), so a reopened DB has
 * none, and the first scan across the deleted runs the last process left would step over
 * every hidden entry one by one. A thread started at open walks, once, the key ranges where
 * deletes are dense, so that the ordinary walk records those spans before a user's scan
 * arrives: the tables' per-block tombstone counts (their index) and runs of consecutive
 * tombstones in the memtables (the replayed WAL) say where. The walk reads through a normal
 * iterator, so everything it records is exactly what a user's walk would have recorded. */
#ifndef SHALE_ENGINE_SPAN_WARMUP_H
#define SHALE_ENGINE_SPAN_WARMUP_H

#include <pthread.h>
#include <stdatomic.h>

#include <stdint.h>

struct shale_db;
struct read_view;

typedef struct span_warmup {
  pthread_t thread;
  /* What the DB held when it opened: the walk looks only there, so that it never chases
   * deletes made after the open (readers and the write path make those spans). */
  struct read_view *view;
  uint64_t open_seq;
  int running;      /* started and not yet joined; touched only by open and close */
  _Atomic int stop; /* close asks the walk to end early */
  _Atomic int done; /* the walk finished (or found nothing to do): for tests and tools */
} span_warmup;

/* Starts the walk on its own thread. Best effort: without memory or a thread, none runs,
 * and reads are only as slow as they would have been. */
void span_warmup_start(struct shale_db *db);
/* Ends the walk (early if it still runs) and joins its thread; safe to call twice. */
void span_warmup_stop(struct shale_db *db);

#endif /* SHALE_ENGINE_SPAN_WARMUP_H */
