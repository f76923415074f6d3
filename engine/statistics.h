/* statistics.h — the latency histograms' recording side (shale_histogram reads them; the
 * tickers need none: they read counters kept anyway). */
#ifndef SHALE_ENGINE_STATISTICS_H
#define SHALE_ENGINE_STATISTICS_H

#include "engine/db_impl.h"
#include "util/clock.h"

/* Empties every histogram of db (at open, before any thread records). */
void db_histograms_init(shale_db *db);
/* Records the last sequence at open, which the writes-since-open tickers count from (set
 * before any other thread runs). */
void db_stats_opened_at(shale_db *db, uint64_t seq);

/* The start of a timed call, or 0 when db does not time calls (time_operations). */
static inline uint64_t op_timer_start(const shale_db *db) {
  return db->opt.time_operations ? clock_mono_ns() | 1u : 0;
}

/* Records the call started at start (from op_timer_start) in histogram h, in nanoseconds. */
static inline void op_timer_stop(shale_db *db, enum shale_histogram_id h, uint64_t start) {
  if (start) histogram_add(&db->stats.hists[h], clock_mono_ns() - (start & ~(uint64_t)1));
}

/* Records a duration of background work or a sync, in microseconds. */
static inline void db_histogram_add_us(shale_db *db, enum shale_histogram_id h, uint64_t us) {
  histogram_add(&db->stats.hists[h], us * 1000u);
}

#endif /* SHALE_ENGINE_STATISTICS_H */
