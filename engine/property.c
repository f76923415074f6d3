/* property.c — shale_property: the human-readable stats and the machine-readable values
 * tools and tests read. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/property.h"
#include "engine/view_cache.h"
#include "io/io.h"
#include "util/clock.h"

typedef struct level_info {
  int files;
  uint64_t bytes, entries, tombstones, range_tombstones, oldest_tomb_us;
} level_info;

static void level_summary(const version *v, int l, level_info *out) {
  memset(out, 0, sizeof *out);
  out->files = v->nfiles[l];
  for (int i = 0; i < v->nfiles[l]; i++) {
    const file_meta *f = v->files[l][i];
    out->bytes += f->file_size;
    out->entries += f->entries;
    out->tombstones += f->point_tombstones;
    out->range_tombstones += f->range_tombstones;
    if (f->oldest_tomb_us && (!out->oldest_tomb_us || f->oldest_tomb_us < out->oldest_tomb_us))
      out->oldest_tomb_us = f->oldest_tomb_us;
  }
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&db->stats.x, memory_order_relaxed))
#define LOADU(x) ((uint64_t)atomic_load_explicit(&db->stats.x, memory_order_relaxed))

static void stats_levels(shale_db *db, read_view *v, buf *out) {
  char line[256];
  uint64_t now = clock_wall_us();
  static const char header[] =
      "Level  Files      Bytes    Entries  Tombstones  RangeDels  OldestTombAge(s)  "
      "Compactions    ReadBytes   WriteBytes  W-Amp\n";
  buf_append(out, header, sizeof header - 1);
  for (int l = 0; l < NUM_LEVELS; l++) {
    level_info li;
    level_summary(v->ver, l, &li);
    double age = li.oldest_tomb_us ? (double)(now - li.oldest_tomb_us) / 1e6 : 0;
    uint64_t rd = atomic_load(&db->stats.level_bytes_read[l]);
    uint64_t wr = l ? atomic_load(&db->stats.level_bytes_written[l]) : LOADU(flush_bytes);
    uint64_t comp = l ? atomic_load(&db->stats.level_compactions[l]) : LOADU(flushes);
    /* a level's write amplification: what it wrote over what came into it from above */
    uint64_t in = l ? rd : LOADU(bytes_written_user);
    int n = snprintf(line, sizeof line,
                     "L%-5d %5d %10" PRIu64 " %10" PRIu64 " %11" PRIu64 " %10" PRIu64
                     " %17.1f %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %6.2f\n",
                     l, li.files, li.bytes, li.entries, li.tombstones, li.range_tombstones, age,
                     comp, rd, wr, in ? (double)wr / (double)in : 0.0);
    buf_append(out, line, (size_t)n);
  }
}

static void stats_memtables(shale_db *db, read_view *v, buf *out) {
  char line[256];
  memtable_stats st;
  memtable_get_stats(v->mem, &st);
  int n = snprintf(line, sizeof line,
                   "Memtable: %zu bytes, %llu entries, %llu tombstones, %llu range tombstones; "
                   "%d sealed waiting for flush\n",
                   memtable_bytes(v->mem), (unsigned long long)st.entries,
                   (unsigned long long)st.tombstones, (unsigned long long)st.range_tombstones,
                   v->imm_count);
  buf_append(out, line, (size_t)n);
}

static size_t dead_spans_count(shale_db *db) {
  span_set *set = dead_spans_acquire(&db->spans);
  size_t n = set ? set->n : 0;
  span_set_release(set);
  return n;
}

static void stats_counters(shale_db *db, buf *out) {
  char text[1536];
  io_stats io;
  io_stats_get(&db->io, &io);
  uint64_t hits = 0, misses = 0;
  size_t usage = 0;
  block_cache_stats(db->bcache, &hits, &misses, &usage);
  int n = snprintf(
      text, sizeof text,
      "Writes: puts %llu, deletes %llu, range deletes %llu, batches %llu, groups %llu, "
      "WAL syncs %llu\n"
      "Flushes: %llu, %llu bytes, %.3f s; clean tombstones dropped %llu, old versions dropped "
      "%llu\n"
      "Compactions: %llu, read %llu bytes, written %llu bytes\n"
      "Stalls: %llu, %.3f s\n"
      "Block cache: %llu hits, %llu misses, %zu bytes used\n"
      "I/O: io_uring writers %llu, pwrite fallback writers %llu (%s), %llu bytes written, "
      "%llu fsyncs\n"
      "Dead spans: %zu known, %llu added, %llu cut by puts, %llu jumped over; %llu hidden "
      "keys stepped over one by one\n"
      "Sequence: %llu\n",
      LOAD(puts), LOAD(deletes), LOAD(range_deletes), LOAD(batches), LOAD(write_groups),
      LOAD(wal_syncs), LOAD(flushes), LOAD(flush_bytes), (double)LOAD(flush_micros) / 1e6,
      LOAD(tombstones_dropped_clean), LOAD(versions_dropped), LOAD(compactions),
      LOAD(compaction_bytes_read), LOAD(compaction_bytes_written), LOAD(stalls),
      (double)LOAD(stall_micros) / 1e6, (unsigned long long)hits, (unsigned long long)misses, usage,
      (unsigned long long)io.uring_writers, (unsigned long long)io.fallback_writers,
      io_uring_in_use(&db->io) ? "io_uring in use" : "pwrite fallback in use",
      (unsigned long long)io.bytes_written, (unsigned long long)io.fsyncs, dead_spans_count(db),
      (unsigned long long)atomic_load(&db->spans.added),
      (unsigned long long)atomic_load(&db->spans.cut),
      (unsigned long long)atomic_load(&db->spans.skipped),
      (unsigned long long)atomic_load(&db->spans.stepped),
      (unsigned long long)atomic_load(&db->last_seq));
  buf_append(out, text, (size_t)n);
}

/* Write amplification: table bytes written (flush + compaction) per user byte; space
 * amplification: table bytes per byte of the deepest level, RocksDB's live-data estimate. */
static void stats_amplification(shale_db *db, read_view *v, buf *out) {
  uint64_t user = LOADU(bytes_written_user);
  uint64_t disk = LOADU(flush_bytes) + LOADU(compaction_bytes_written);
  uint64_t total = 0, deepest = 0;
  for (int l = 0; l < NUM_LEVELS; l++) {
    uint64_t b = version_level_bytes(v->ver, l);
    total += b;
    if (b) deepest = b;
  }
  char line[320];
  int n = snprintf(line, sizeof line,
                   "Amplification: user bytes %" PRIu64 ", WAL bytes %" PRIu64
                   ", table bytes written %" PRIu64
                   ", write-amp %.2f (%.2f with WAL); "
                   "table bytes %" PRIu64 ", space-amp %.2f\n",
                   user, LOADU(wal_bytes), disk, user ? (double)disk / (double)user : 0.0,
                   user ? (double)(disk + LOADU(wal_bytes)) / (double)user : 0.0, total,
                   deepest ? (double)total / (double)deepest : 0.0);
  buf_append(out, line, (size_t)n);
}

static int stats_text(shale_db *db, buf *out) {
  read_view *v = db_view_acquire(db);
  static const char title[] = "** Shale stats **\n";
  buf_append(out, title, sizeof title - 1);
  stats_memtables(db, v, out);
  stats_levels(db, v, out);
  stats_amplification(db, v, out);
  stats_counters(db, out);
  read_view_unref(v);
  return SHALE_OK;
}

static uint64_t older_of(uint64_t a, uint64_t b) { return a && (!b || a < b) ? a : b; }

uint64_t db_deletes_persisted_before(read_view *v) {
  uint64_t oldest = 0;
  memtable_stats st;
  memtable_get_stats(v->mem, &st);
  oldest = older_of(st.oldest_tomb_us, oldest);
  memtable *m = v->imm;
  for (int i = 0; i < v->imm_count; i++, m = memtable_next(m)) {
    memtable_get_stats(m, &st);
    oldest = older_of(st.oldest_tomb_us, oldest);
  }
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->ver->nfiles[l]; i++)
      oldest = older_of(v->ver->files[l][i]->oldest_tomb_us, oldest);
  return oldest ? oldest : clock_wall_us();
}

static int persisted_before_text(shale_db *db, buf *out) {
  read_view *v = db_view_acquire(db);
  uint64_t us = db_deletes_persisted_before(v);
  read_view_unref(v);
  char text[64];
  int n = snprintf(text, sizeof text, "%llu.%06llu", (unsigned long long)(us / 1000000u),
                   (unsigned long long)(us % 1000000u));
  buf_append(out, text, (size_t)n);
  return SHALE_OK;
}

/* Bytes of the mutable memtable and of the sealed ones v still reads. */
static uint64_t memtables_bytes(const read_view *v) {
  uint64_t bytes = memtable_bytes(v->mem);
  memtable *m = v->imm;
  for (int i = 0; i < v->imm_count && m; i++, m = memtable_next(m)) bytes += memtable_bytes(m);
  return bytes;
}

static uint64_t block_cache_usage(shale_db *db) {
  uint64_t hits, misses;
  size_t usage = 0;
  block_cache_stats(db->bcache, &hits, &misses, &usage);
  return usage;
}

static int number_property(shale_db *db, const char *name, buf *out) {
  char text[64];
  uint64_t value;
  int level;
  read_view *v = db_view_acquire(db);
  int rc = SHALE_OK;
  int end = 0; /* the name must end at the number: "...level1x" is no property */
  if (sscanf(name, "shale.num-files-at-level%d%n", &level, &end) == 1 && !name[end] && level >= 0 &&
      level < NUM_LEVELS)
    value = (uint64_t)v->ver->nfiles[level];
  else if (!strcmp(name, "shale.sequence"))
    value = atomic_load(&db->last_seq);
  else if (!strcmp(name, "shale.num-immutable-memtables"))
    value = (uint64_t)v->imm_count;
  else if (!strcmp(name, "shale.memtable-bytes"))
    value = memtable_bytes(v->mem);
  else if (!strcmp(name, "shale.size-all-mem-tables"))
    value = memtables_bytes(v);
  else if (!strcmp(name, "shale.block-cache-usage"))
    value = block_cache_usage(db);
  else if (!strcmp(name, "shale.approximate-memory-usage"))
    value = memtables_bytes(v) + block_cache_usage(db);
  else if (!strcmp(name, "shale.block-cache-hits") || !strcmp(name, "shale.block-cache-misses")) {
    uint64_t hits, misses;
    size_t usage;
    block_cache_stats(db->bcache, &hits, &misses, &usage);
    value = name[18] == 'h' ? hits : misses;
  } else if (!strcmp(name, "shale.dead-spans"))
    value = dead_spans_count(db);
  else if (!strcmp(name, "shale.dead-span-jumps"))
    value = atomic_load(&db->spans.skipped);
  else if (!strcmp(name, "shale.dead-spans-restored"))
    value = db->spans_restored;
  else if (!strcmp(name, "shale.dead-span-warmup"))
    value = !atomic_load_explicit(&db->warmup.done, memory_order_acquire);
  else if (!strcmp(name, "shale.hidden-keys-stepped"))
    value = atomic_load(&db->spans.stepped);
  else if (!strcmp(name, "shale.deletes-persisted-before-us"))
    value = db_deletes_persisted_before(v);
  else
    rc = SHALE_NOTFOUND;
  read_view_unref(v);
  if (!rc) buf_append(out, text, (size_t)snprintf(text, sizeof text, "%" PRIu64, value));
  return rc;
}

/* The live tables level by level, as RocksDB's rocksdb.sstables lists them (keys are left
 * out: they are binary; shale-ldb lsm prints them). */
static int sstables_text(shale_db *db, buf *out) {
  read_view *v = db_view_acquire(db);
  char line[256];
  for (int l = 0; l < NUM_LEVELS; l++) {
    int n = v->ver->nfiles[l];
    buf_append(out, line,
               (size_t)snprintf(line, sizeof line, "--- level %d --- %d file(s)\n", l, n));
    for (int i = 0; i < n; i++) {
      const file_meta *f = v->ver->files[l][i];
      int len = snprintf(line, sizeof line,
                         " %06" PRIu64 ".sst size=%" PRIu64 " entries=%" PRIu64
                         " tombstones=%" PRIu64 " seq=%" PRIu64 "..%" PRIu64 "\n",
                         f->number, f->file_size, f->entries,
                         f->point_tombstones + f->range_tombstones, f->min_seq, f->max_seq);
      buf_append(out, line, (size_t)len);
    }
  }
  read_view_unref(v);
  return SHALE_OK;
}

static int property_call(shale_db *db, const char *name, char **value) {
  if (value) *value = NULL;
  if (!db || !name || !value) return SHALE_INVALID;
  buf out;
  buf_init(&out);
  int rc = !strcmp(name, "shale.stats")                      ? stats_text(db, &out)
           : !strcmp(name, "shale.sstables")                 ? sstables_text(db, &out)
           : !strcmp(name, "shale.deletes-persisted-before") ? persisted_before_text(db, &out)
                                                             : number_property(db, name, &out);
  buf_append_byte(&out, 0);
  if (!rc && !buf_ok(&out)) rc = SHALE_NOMEM;
  if (rc) {
    buf_free(&out);
    return rc == SHALE_NOTFOUND ? rc : db_fail(db, rc, "property: out of memory");
  }
  *value = (char *)out.data;
  return SHALE_OK;
}

int shale_property(shale_db *db, const char *name, char **value) {
  if (!db) {
    if (value) *value = NULL;
    return SHALE_INVALID;
  }
  db_call_begin(db);
  return db_call_end(db, property_call(db, name, value));
}
