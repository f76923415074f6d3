/* table_get.h — the SSTable half of reads: point lookups and the tables' iterators. */
#ifndef SHALE_ENGINE_TABLE_GET_H
#define SHALE_ENGINE_TABLE_GET_H

#include "engine/db_impl.h"
#include "engine/lookup.h"
#include "engine/merge_iter.h"
#include "engine/range_dels.h"
#include "engine/version.h"

/* kv_iter over one table; adds its range tombstones visible at seq. */
int table_kv_new(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags, kv_iter **out,
                 range_dels *rdels, char *errmsg);
/* The same for a read: the table opens at its first positioning, and a seek past its largest
 * key never opens it. f must outlive the iterator. A failed open is then the iterator's
 * status, its detail the DB's last error (shale_errmsg). */
int table_kv_new_deferred(shale_db *db, file_meta *f, uint64_t seq, unsigned read_flags,
                          kv_iter **out, range_dels *rdels, char *errmsg);
/* The file of a level >= 1 that may hold key, or NULL. */
file_meta *level_find(version *v, int level, const void *key, size_t klen);

/* The SSTable part of a lookup; sets lk->rc when decided. */
int tables_lookup(shale_db *db, version *ver, lookup *lk);

#endif
