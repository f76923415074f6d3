/* compaction.h — leveled, delete-aware compaction: what to compact (the picker, in
 * compaction.c; compaction_job.h runs it). Outputs go through the same table builder and io_uring
 * writer as flush and install through the same MANIFEST-then-view protocol. */
#ifndef SHALE_ENGINE_COMPACTION_H
#define SHALE_ENGINE_COMPACTION_H

#include "engine/db_impl.h"

/* A file whose tombstones make up at least this share of its entries is compacted before
 * others of its level, even when the level is within its size target. */
#define TOMBSTONE_DENSE_PERCENT 30
/* Under a persistence deadline D, a file holding a tombstone older than D/DEADLINE_SLACK is
 * pushed down, so every tombstone reaches the bottom and is purged well within D. */
#define DEADLINE_SLACK 4

/* An iterator's dead span (engine/dead_spans.h) suggests compaction of its range each time
 * the hidden keys it stands for pass another multiple of this: often enough that a queue
 * drained from its head hands its tombstones to compaction as it goes, rarely enough that a
 * pop costs nothing (one suggestion per 4096 pops, each a scan of the file list). */
#define SUGGEST_HIDDEN_KEYS 4096
/* A table or memtable carries a suggested range's deletes when it holds this many point
 * tombstones, or any range tombstone: fewer would rewrite a table to free almost nothing. */
#define HINT_MIN_TOMBSTONES 1024
/* The mutable memtable is sealed for a suggestion once no delete reached it for this long:
 * while deletes go on it fills and flushes as usual, and sealing it early on every
 * suggestion would cut the stream into tiny tables that compaction must merge again. */
#define HINT_QUIET_US 1000000

/* Appended only: the LOG prints reasons by number. */
typedef enum compaction_reason {
  CR_L0_FILES,
  CR_LEVEL_SIZE,
  CR_TOMBSTONE_DENSE,
  CR_DELETE_DEADLINE,
  CR_MANUAL,
  CR_SUGGESTED
} compaction_reason;

typedef struct compaction {
  int level, out_level;
  compaction_reason reason;
  file_meta **in[2]; /* referenced; in[0] at level, in[1] at out_level */
  int n[2];
  uint64_t smallest_snapshot;
} compaction;

/* Picks work by score. Returns 1 and fills c when there is some. */
int compaction_pick(shale_db *db, compaction *c) SH_REQUIRES(db->mu);
/* Waits until no compaction runs, then keeps the background from picking one until
 * compaction_exclusive_end: for a manual compaction, or an ingest placing files where a
 * compaction could otherwise write. Waits on bg_cv, so mu is released meanwhile. */
void compaction_exclusive_begin(shale_db *db) SH_REQUIRES(db->mu);
/* Lets the background pick compactions again, and wakes whoever waits on bg_cv. */
void compaction_exclusive_end(shale_db *db) SH_REQUIRES(db->mu);
/* At close, the background threads gone: frees where each level's round robin stood. */
void compaction_state_free(shale_db *db) SH_EXCLUDES(db->mu);
/* Picks the files of level overlapping [begin, end) (NULL: unbounded) into out_level. */
int compaction_pick_range(shale_db *db, int level, int out_level, const void *begin, size_t blen,
                          const void *end, size_t elen, compaction *c) SH_REQUIRES(db->mu);
void compaction_free(compaction *c);
/* An iterator found [lo, hi) free of live keys: `weight` hidden keys, `fresh` of them
 * stepped over by this walk (the rest it jumped, in spans found before). Each time weight
 * passes a multiple of SUGGEST_HIDDEN_KEYS, marks every table overlapping the range at every
 * level (file_meta.dead_hint) and wakes the background threads, whose picker then carries
 * the tombstones over it down to where they and what they hide are dropped. Does nothing
 * while the DB closes or is read-only. Takes mu. */
void compaction_suggest_range(shale_db *db, span_bound lo, span_bound hi, uint64_t weight,
                              uint64_t fresh) SH_EXCLUDES(db->mu);
/* After c ran: its outputs inherit the marks of the inputs they overlap. Marks set while c
 * ran landed on its inputs, and a queue's last suggestions would be lost with them.
 * REQUIRES: c installed. */
void compaction_carry_marks(shale_db *db, const compaction *c) SH_REQUIRES(db->mu);
/* Whether the mutable memtable should be sealed because marked tables wait for the
 * tombstones it holds; when they do but deletes still arrive, *wake_us is set to the wall
 * time to look again. */
int compaction_hint_seal_wanted(shale_db *db, uint64_t *wake_us) SH_REQUIRES(db->mu);
/* Target bytes of level (>= 1). */
uint64_t level_target_bytes(const shale_db *db, int level);

#endif
