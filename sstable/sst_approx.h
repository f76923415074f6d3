/* sst_approx.h — how many of a table's bytes on disk hold a range of user keys, from its
 * index alone (no data block is read): LevelDB's ApproximateOffsetOf, per range. */
#ifndef SHALE_SSTABLE_SST_APPROX_H
#define SHALE_SSTABLE_SST_APPROX_H

#include <stddef.h>
#include <stdint.h>

#include "sstable/sst_reader.h"

/* The bytes of r's file (file_size bytes long) between the block holding user key begin and
 * the block holding end: the data blocks wholly before end, from the one begin falls in. A
 * NULL begin is the start of the file, a NULL end its end (metadata blocks included). The
 * granularity is one data block. */
uint64_t sst_approx_range_bytes(const sst_reader *r, uint64_t file_size, const void *begin,
                                size_t blen, const void *end, size_t elen);

#endif
