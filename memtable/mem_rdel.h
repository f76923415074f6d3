/* mem_rdel.h — which range tombstone of a memtable covers a key, for point gets, without a
 * scan of every tombstone: each memtable with more than a few range tombstones gets an index,
 * built by the gets themselves and kept current as range deletes arrive. Gets of a memtable
 * without range tombstones never come here (engine/get.c tests memtable_range_count first).
 * Fragments and coverage come from util/range_tomb.h. */
#ifndef SHALE_MEMTABLE_MEM_RDEL_H
#define SHALE_MEMTABLE_MEM_RDEL_H

#include <stddef.h>
#include <stdint.h>

#include "memtable/memtable.h"

/* The newest sequence at or below seq of a range tombstone in m covering key (0: none).
 * REQUIRES: the caller holds a reference to m, and every range tombstone at or below seq is
 * in m (seq was loaded after its publication). Any thread, concurrently with the writer and
 * other gets. Never fails: without memory for an index it scans. */
uint64_t mem_rdel_cover(memtable *m, const void *key, size_t klen, uint64_t seq);

/* What m's index looks like, for tests and diagnostics. */
typedef struct mem_rdel_info {
  int indexed;         /* an index exists */
  int final;           /* m is sealed and its index holds every tombstone: gets take no lock */
  int levels;          /* levels of the index */
  uint64_t tombstones; /* tombstones in the index (the rest are scanned) */
  uint64_t fragments;  /* over all levels */
} mem_rdel_info;
void mem_rdel_info_get(memtable *m, mem_rdel_info *out);

/* Frees an index (NULL: nothing): memtable_unref does, when the memtable goes. */
void mem_rdel_free(mem_rdel *a);

#endif /* SHALE_MEMTABLE_MEM_RDEL_H */
