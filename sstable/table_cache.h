/* table_cache.h — open SSTable readers by file number, so a get does not pay an open, a
 * footer read and a metadata parse each time. The number of open readers (file descriptors)
 * is bounded: readers nobody holds are closed least-recently-used first once more than
 * max_open are open; readers in use are never closed under their holders (the bound may be
 * exceeded while they are held). Files are dbdir/NNNNNN.sst (sst_file_name).
 * Thread-safety: every function may be called from any thread at once. */
#ifndef SHALE_SSTABLE_TABLE_CACHE_H
#define SHALE_SSTABLE_TABLE_CACHE_H

#include <stdint.h>

#include "sstable/block_cache.h"
#include "sstable/sst_reader.h"

typedef struct table_cache table_cache;

/* dbdir is copied. io (NULL: io_ctx_default()) and bc (may be NULL) are handed to every
 * reader and must outlive tc. max_open < 1 is treated as 1.
 * @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM. */
int table_cache_new(io_ctx *io, const char *dbdir, int max_open, block_cache *bc, table_cache **tc);
/* Readers opened from now on read their tables in cmp's order (NULL, the default: bytewise;
 * sst_reader_open_ordered), which must outlive tc. REQUIRES: before the first get. */
void table_cache_set_comparator(table_cache *tc, const shale_comparator *cmp);
/* Returns the reader of table file_number, opening it on a miss, and takes a reference that
 * the caller drops with table_cache_release. Two threads missing at once may both open the
 * file; one reader wins and the other is closed. errmsg: NULL or ERRMSG_SIZE bytes.
 * @return SHALE_OK or sst_reader_open's errors (*r is NULL then). */
int table_cache_get(table_cache *tc, uint64_t file_number, sst_reader **r, char *errmsg);
/* Drops a reference taken by table_cache_get. REQUIRES: r came from tc. */
void table_cache_release(table_cache *tc, sst_reader *r);
/* Forgets file_number (after the file is deleted): its reader is closed now, or when the last
 * holder releases it. A later get opens the file afresh. */
void table_cache_evict(table_cache *tc, uint64_t file_number);
/* Number of readers open right now (held or idle), for stats and tests. */
int table_cache_open_count(table_cache *tc);
/* Closes every reader and frees tc. REQUIRES: no reference is held. NULL is ignored. */
void table_cache_free(table_cache *tc);

#endif /* SHALE_SSTABLE_TABLE_CACHE_H */
