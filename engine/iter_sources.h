/* iter_sources.h — what an iterator reads: one internal-key iterator per component of a
 * read view, merged, and the range tombstones visible at the iterator's sequence
 * (engine/range_dels.h). */
#ifndef SHALE_ENGINE_ITER_SOURCES_H
#define SHALE_ENGINE_ITER_SOURCES_H

#include "engine/db_impl.h"
#include "engine/merge_iter.h"
#include "engine/range_dels.h"

/* kv_iter over a memtable's point entries; takes a memtable reference of its own. */
kv_iter *mem_kv_iter_new(memtable *m);

/* Builds the merged iterator over every component of v and collects its range tombstones
 * visible at seq. read_flags (SST_READ_*) go to every table iterator. */
int iter_sources_build(shale_db *db, read_view *v, uint64_t seq, unsigned read_flags,
                       kv_iter **merged, range_dels *rdels, char *errmsg);

#endif
