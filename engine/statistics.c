/* statistics.c — shale_ticker and friends: the counters the engine keeps, read as numbers.
 * Nothing here is on a read or write path: each ticker is a load of a counter kept anyway
 * (db->stats, the block cache's shards, the dead spans, the gets' per-thread counts). */
#include <stdatomic.h>

#include "engine/statistics.h"
#include "engine/view_cache.h"
#include "sstable/zstd_dict.h"

#include <string.h>

/* In enum order; RocksDB's names where it has the counter, with Shale's prefix. */
static const char *const names[SHALE_TICKER_COUNT] = {
    [SHALE_TICKER_KEYS_WRITTEN] = "shale.number.keys.written",
    [SHALE_TICKER_PUTS] = "shale.number.puts",
    [SHALE_TICKER_DELETES] = "shale.number.deletes",
    [SHALE_TICKER_RANGE_DELETES] = "shale.number.range.deletes",
    [SHALE_TICKER_BATCHES] = "shale.number.batches",
    [SHALE_TICKER_BYTES_WRITTEN] = "shale.bytes.written",
    [SHALE_TICKER_WRITE_GROUPS] = "shale.write.groups",
    [SHALE_TICKER_WAL_BYTES] = "shale.wal.bytes",
    [SHALE_TICKER_WAL_SYNCS] = "shale.wal.synced",
    [SHALE_TICKER_KEYS_READ] = "shale.number.keys.read",
    [SHALE_TICKER_KEYS_FOUND] = "shale.number.keys.found",
    [SHALE_TICKER_BYTES_READ] = "shale.bytes.read",
    [SHALE_TICKER_BLOOM_USEFUL] = "shale.bloom.filter.useful",
    [SHALE_TICKER_BLOCK_CACHE_HITS] = "shale.block.cache.data.hit",
    [SHALE_TICKER_BLOCK_CACHE_MISSES] = "shale.block.cache.data.miss",
    [SHALE_TICKER_BLOCK_CACHE_ADDS] = "shale.block.cache.data.add",
    [SHALE_TICKER_STALLS] = "shale.stall.count",
    [SHALE_TICKER_STALL_MICROS] = "shale.stall.micros",
    [SHALE_TICKER_MEMTABLES_SEALED] = "shale.memtables.sealed",
    [SHALE_TICKER_FLUSHES] = "shale.flush.count",
    [SHALE_TICKER_FLUSH_BYTES] = "shale.flush.write.bytes",
    [SHALE_TICKER_COMPACTIONS] = "shale.compaction.count",
    [SHALE_TICKER_COMPACTION_BYTES_READ] = "shale.compact.read.bytes",
    [SHALE_TICKER_COMPACTION_BYTES_WRITTEN] = "shale.compact.write.bytes",
    [SHALE_TICKER_DEAD_SPAN_JUMPS] = "shale.dead.span.jumps",
    [SHALE_TICKER_HIDDEN_KEYS_STEPPED] = "shale.hidden.keys.stepped",
    [SHALE_TICKER_KEYS_DELETED] = "shale.number.keys.deleted",
    [SHALE_TICKER_RANGES_DELETED] = "shale.number.ranges.deleted",
    [SHALE_TICKER_ZSTD_DICT_TRAININGS] = "shale.zstd.dict.trainings",
};

const char *shale_ticker_name(enum shale_ticker_id t) {
  return (unsigned)t < SHALE_TICKER_COUNT ? names[t] : NULL;
}

#define LOAD(x) atomic_load_explicit(&db->stats.x, memory_order_relaxed)

static uint64_t write_ticker(shale_db *db, enum shale_ticker_id t) {
  switch (t) {
    case SHALE_TICKER_KEYS_WRITTEN:
      return atomic_load_explicit(&db->last_seq, memory_order_relaxed) - db->stats.open_seq;
    case SHALE_TICKER_PUTS:
      return LOAD(puts);
    case SHALE_TICKER_DELETES:
      return LOAD(deletes);
    case SHALE_TICKER_RANGE_DELETES:
      return LOAD(range_deletes);
    case SHALE_TICKER_BATCHES:
      return LOAD(batches);
    case SHALE_TICKER_BYTES_WRITTEN:
      return LOAD(bytes_written_user);
    case SHALE_TICKER_WRITE_GROUPS:
      return LOAD(write_groups);
    case SHALE_TICKER_WAL_BYTES:
      return LOAD(wal_bytes);
    case SHALE_TICKER_WAL_SYNCS:
      return LOAD(wal_syncs);
    case SHALE_TICKER_KEYS_DELETED:
      return LOAD(keys_deleted);
    case SHALE_TICKER_RANGES_DELETED:
      return LOAD(ranges_deleted);
    default:
      return 0;
  }
}

static uint64_t read_ticker(shale_db *db, enum shale_ticker_id t) {
  read_counts c;
  uint64_t hits, misses;
  switch (t) {
    case SHALE_TICKER_KEYS_READ:
    case SHALE_TICKER_KEYS_FOUND:
    case SHALE_TICKER_BYTES_READ:
    case SHALE_TICKER_BLOOM_USEFUL:
      db_read_counts(db, &c);
      return t == SHALE_TICKER_KEYS_READ    ? c.keys
             : t == SHALE_TICKER_KEYS_FOUND ? c.found
             : t == SHALE_TICKER_BYTES_READ ? c.bytes
                                            : c.bloom_useful;
    case SHALE_TICKER_BLOCK_CACHE_HITS:
    case SHALE_TICKER_BLOCK_CACHE_MISSES:
      block_cache_stats(db->bcache, &hits, &misses, NULL);
      return t == SHALE_TICKER_BLOCK_CACHE_HITS ? hits : misses;
    case SHALE_TICKER_BLOCK_CACHE_ADDS:
      return block_cache_inserts(db->bcache);
    case SHALE_TICKER_DEAD_SPAN_JUMPS:
      return atomic_load_explicit(&db->spans.skipped, memory_order_relaxed);
    case SHALE_TICKER_HIDDEN_KEYS_STEPPED:
      return atomic_load_explicit(&db->spans.stepped, memory_order_relaxed);
    default:
      return 0;
  }
}

static uint64_t background_ticker(shale_db *db, enum shale_ticker_id t) {
  switch (t) {
    case SHALE_TICKER_STALLS:
      return LOAD(stalls);
    case SHALE_TICKER_STALL_MICROS:
      return LOAD(stall_micros);
    case SHALE_TICKER_MEMTABLES_SEALED:
      return LOAD(memtables_sealed);
    case SHALE_TICKER_FLUSHES:
      return LOAD(flushes);
    case SHALE_TICKER_FLUSH_BYTES:
      return LOAD(flush_bytes);
    case SHALE_TICKER_COMPACTIONS:
      return LOAD(compactions);
    case SHALE_TICKER_COMPACTION_BYTES_READ:
      return LOAD(compaction_bytes_read);
    case SHALE_TICKER_COMPACTION_BYTES_WRITTEN:
      return LOAD(compaction_bytes_written);
    case SHALE_TICKER_ZSTD_DICT_TRAININGS:
      return zstd_dict_share_trainings(db->dict_share);
    default:
      return 0;
  }
}

/* The enum runs in groups: writes up to WAL_SYNCS, reads up to BLOCK_CACHE_ADDS, background
 * work up to COMPACTION_BYTES_WRITTEN, iterators (read by read_ticker too), then the
 * tickers added later, each in its group's function. */
uint64_t shale_ticker(shale_db *db, enum shale_ticker_id t) {
  if (!db || (unsigned)t >= SHALE_TICKER_COUNT) return 0;
  if (t == SHALE_TICKER_ZSTD_DICT_TRAININGS) return background_ticker(db, t);
  if (t <= SHALE_TICKER_WAL_SYNCS || t >= SHALE_TICKER_KEYS_DELETED) return write_ticker(db, t);
  if (t <= SHALE_TICKER_BLOCK_CACHE_ADDS || t >= SHALE_TICKER_DEAD_SPAN_JUMPS)
    return read_ticker(db, t);
  return background_ticker(db, t);
}

int shale_statistics(shale_db *db, uint64_t *out, size_t n) {
  if (!db || (!out && n)) return SHALE_INVALID;
  for (size_t i = 0; i < n; i++)
    out[i] = i < SHALE_TICKER_COUNT ? shale_ticker(db, (enum shale_ticker_id)i) : 0;
  return SHALE_OK;
}

/* ---- histograms ---- */

static const char *const hist_names[SHALE_HIST_COUNT] = {
    [SHALE_HIST_GET] = "shale.db.get.micros",
    [SHALE_HIST_WRITE] = "shale.db.write.micros",
    [SHALE_HIST_SEEK] = "shale.db.seek.micros",
    [SHALE_HIST_WAL_SYNC] = "shale.wal.file.sync.micros",
    [SHALE_HIST_FLUSH] = "shale.db.flush.micros",
    [SHALE_HIST_COMPACTION] = "shale.compaction.times.micros",
};

void db_stats_opened_at(shale_db *db, uint64_t seq) { db->stats.open_seq = seq; }

void db_histograms_init(shale_db *db) {
  for (int h = 0; h < SHALE_HIST_COUNT; h++) histogram_init(&db->stats.hists[h]);
}

const char *shale_histogram_name(enum shale_histogram_id h) {
  return (unsigned)h < SHALE_HIST_COUNT ? hist_names[h] : NULL;
}

int shale_histogram(shale_db *db, enum shale_histogram_id h, shale_histogram_data *out) {
  if (out) memset(out, 0, sizeof *out);
  if (!db || !out || (unsigned)h >= SHALE_HIST_COUNT) return SHALE_INVALID;
  histogram_summary s;
  histogram_summarize(&db->stats.hists[h], &s);
  if (!s.count) return SHALE_OK;
  *out = (shale_histogram_data){.count = s.count,
                                .sum = (double)s.sum / 1e3,
                                .min = (double)s.min / 1e3,
                                .max = (double)s.max / 1e3,
                                .average = s.average / 1e3,
                                .median = s.median / 1e3,
                                .p95 = s.p95 / 1e3,
                                .p99 = s.p99 / 1e3,
                                .p999 = s.p999 / 1e3};
  return SHALE_OK;
}
