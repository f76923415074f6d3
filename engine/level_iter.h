/* level_iter.h — one iterator over a whole level >= 1. */
#ifndef SHALE_ENGINE_LEVEL_ITER_H
#define SHALE_ENGINE_LEVEL_ITER_H

#include "engine/db_impl.h"
#include "engine/merge_iter.h"
#include "engine/range_dels.h"

/* One iterator over the disjoint, sorted files of a level >= 1. files
 * must outlive it (the iterator's read view holds their version). */
int level_kv_new(shale_db *db, file_meta **files, int n, uint64_t seq, unsigned read_flags,
                 kv_iter **out, range_dels *rdels, char *errmsg);

#endif
