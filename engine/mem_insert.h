/* mem_insert.h — applying a batch rep's records to a memtable: the one batch_rep_iterate
 * callback that both the write path and WAL replay use, so a record lands in the memtable
 * the same way whether it is new or replayed. */
#ifndef SHALE_ENGINE_MEM_INSERT_H
#define SHALE_ENGINE_MEM_INSERT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/db_impl.h"

typedef struct mem_insert {
  memtable *mem;
  delete_run *run; /* non-NULL: point deletes extend this run (the write leader's) */
  dead_spans *cut; /* non-NULL: spans exist, and each put cuts its key out of them */
  /* The wall time the record's deletes carry; 0: read the clock at the first delete (a
   * replay passes the time the WAL kept instead). Puts carry none. */
  uint64_t now_us;
  uint64_t deletes, range_deletes; /* records of those kinds added, for the tickers */
} mem_insert;

/* batch_visit_fn over a mem_insert: adds one record to ins->mem. */
int mem_insert_record(void *ins, uint64_t seq, unsigned kind, const void *key, size_t klen,
                      const void *val, size_t vlen);

#endif
