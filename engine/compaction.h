/* compaction.h — leveled, delete-aware compaction: what to compact (picker) and doing it
 * (job). Outputs go through the same table builder and io_uring writer as flush and install
 * through the same MANIFEST-then-view protocol. */
#ifndef SHALE_ENGINE_COMPACTION_H
#define SHALE_ENGINE_COMPACTION_H

#include "engine/db_impl.h"

/* A file whose tombstones make up at least this share of its entries is compacted before
 * others of its level, even when the level is within its size target. */
#define TOMBSTONE_DENSE_PERCENT 30
/* Under a persistence deadline D, a file holding a tombstone older than D/DEADLINE_SLACK is
 * pushed down, so every tombstone reaches the bottom and is purged well within D. */
#define DEADLINE_SLACK 4

typedef enum compaction_reason {
  CR_L0_FILES,
  CR_LEVEL_SIZE,
  CR_TOMBSTONE_DENSE,
  CR_DELETE_DEADLINE,
  CR_MANUAL
} compaction_reason;

typedef struct compaction {
  int level, out_level;
  compaction_reason reason;
  file_meta **in[2]; /* referenced; in[0] at level, in[1] at out_level */
  int n[2];
  uint64_t smallest_snapshot;
} compaction;

/* Picks work by score. REQUIRES: mu held. Returns 1 and fills c when there is some. */
int compaction_pick(shale_db *db, compaction *c);
/* Picks the files of level overlapping [begin, end) (NULL: unbounded) into out_level. */
int compaction_pick_range(shale_db *db, int level, int out_level, const void *begin, size_t blen,
                          const void *end, size_t elen, compaction *c);
/* Runs c and installs the result. REQUIRES: mu held; released during I/O, held on return. */
int compaction_run(shale_db *db, compaction *c, char *errmsg);
void compaction_free(compaction *c);
/* Target bytes of level (>= 1). */
uint64_t level_target_bytes(const shale_db *db, int level);

#endif
