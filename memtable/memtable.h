/* memtable.h — the in-memory write buffer: point entries and range tombstones in two
 * skiplists over one arena, with the tombstone statistics and times that a flush turns into
 * SSTable metadata (the dirty block). One writer at a time; any number of lock-free readers
 * alongside. Refcounted, because read views keep sealed memtables alive while they are flushed. */
#ifndef SHALE_MEMTABLE_MEMTABLE_H
#define SHALE_MEMTABLE_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "memtable/skiplist.h"

typedef struct memtable memtable;

/* Creates an empty memtable with refcount 1. Returns SHALE_OK or SHALE_NOMEM (*out = NULL). */
int memtable_new(memtable **out);
/* As memtable_new, with a hash index and a bloom filter of point keys sized for about
 * expected_entries entries, so gets find a key without the skiplist search and skip absent
 * keys. Below MEMTABLE_INDEX_MIN_ENTRIES there is neither: searching is as cheap. */
int memtable_new_sized(memtable **out, size_t expected_entries);
/* As memtable_new_sized, with arena blocks from pool (may be NULL), which must outlive m. */
int memtable_new_pooled(memtable **out, size_t expected_entries, arena_pool *pool);
#define MEMTABLE_INDEX_MIN_ENTRIES 1024
/* Orders m's keys by cmp (NULL, the default: bytewise); cmp must outlive m.
 * REQUIRES: m is empty and not yet shared. */
void memtable_set_comparator(memtable *m, const shale_comparator *cmp);
/* The order memtable_set_comparator gave m (NULL: bytewise). */
const shale_comparator *memtable_comparator(const memtable *m);
/* Refcounting: any thread. The last unref frees m and everything borrowed from it. */
void memtable_ref(memtable *m);
void memtable_unref(memtable *m);

/* Adds an entry. kind is KIND_PUT, KIND_DEL or KIND_RANGE_DEL (util/ikey.h); for
 * KIND_RANGE_DEL key = begin and val = end (exclusive), kept in a separate skiplist from point
 * entries. now_us is the wall time of the write (clock_wall_us()), recorded with tombstones.
 * REQUIRES: one writer at a time; seq <= SEQ_MAX; (seq, kind, key) not already added.
 * Returns SHALE_OK, SHALE_NOMEM, or SHALE_INVALID for a bad kind or a key of 4 GiB or more. */
int memtable_add(memtable *m, uint64_t seq, unsigned kind, const void *key, size_t klen,
                 const void *val, size_t vlen, uint64_t now_us);

/* Newest point entry of key with sequence <= seq. Returns 1 and sets *kind (KIND_PUT or
 * KIND_DEL), *val and *vlen (borrowed: valid while the caller holds a reference to m) and
 * *found_seq; returns 0 if there is none. Lock-free; safe concurrently with the writer. */
int memtable_get(memtable *m, const void *key, size_t klen, uint64_t seq, unsigned *kind,
                 const void **val, size_t *vlen, uint64_t *found_seq);

/* Approximate bytes held (arena blocks plus the struct); any thread. */
size_t memtable_bytes(const memtable *m);
/* Entries added, point and range; any thread. */
uint64_t memtable_count(const memtable *m);
/* Range tombstones added; any thread (one relaxed load: gets test it on every lookup). */
uint64_t memtable_range_count(const memtable *m);

typedef struct memtable_stats {
  uint64_t entries, puts, tombstones, range_tombstones;
  uint64_t min_seq, max_seq;           /* over all entries (0, 0 if empty) */
  uint64_t min_tomb_seq, max_tomb_seq; /* over point + range tombstones (0, 0 if none) */
  /* wall time of the oldest/newest tombstone (0 if none) */
  uint64_t oldest_tomb_us, newest_tomb_us;
  uint64_t key_bytes, value_bytes; /* user key and value bytes added */
} memtable_stats;

/* Any thread. Fields are read one by one with relaxed loads, so while a writer is active they
 * may be mutually inconsistent by the entries in flight; once m is sealed they are exact. */
void memtable_get_stats(const memtable *m, memtable_stats *out);

/* Range tombstones in the order they were added, newest first, for indexes that want to know
 * what arrived since they were built (memtable/mem_rdel.c). memtable_range_newest loads the head
 * with acquire: a reader that has seen a sequence published after an add sees that tombstone
 * and every older one on the list. The links never change, and the nodes are borrowed while
 * the caller holds m. NULL at the end. Lock-free; safe concurrently with the writer. */
const sl_node *memtable_range_newest(const memtable *m);
const sl_node *memtable_range_older(const sl_node *t);
/* The tombstone [*begin, *end) at sequence *seq (user keys, borrowed as above). */
void memtable_range_tomb(const sl_node *t, const uint8_t **begin, size_t *blen, const void **end,
                         size_t *elen, uint64_t *seq);

/* The memtable's range-tombstone index for point gets (memtable/mem_rdel.c), built by the
 * first get that needs it. Set at most once; freed when the last reference to m goes, before
 * the arena, so the index may point into the arena. */
typedef struct mem_rdel mem_rdel;
/* The index (acquire), or NULL. Any thread. */
mem_rdel *memtable_rdel_get(const memtable *m);
/* Stores x if m has no index yet and returns it; else returns the index already there (the
 * caller still owns x and frees it). Any thread. */
mem_rdel *memtable_rdel_publish(memtable *m, mem_rdel *x);

/* The immutable chain. The engine seals m once, linking the next-older memtable (older may be
 * NULL) with a release store; memtable_next reads it with acquire. The link takes no
 * reference: read views hold a reference on every memtable they can reach and walk only as
 * many links as they hold, so a link may point to a memtable that has already been freed. */
void memtable_seal(memtable *m, memtable *older);
memtable *memtable_next(const memtable *m);
int memtable_sealed(const memtable *m);

/* The WAL file whose records this memtable holds; any thread. */
void memtable_set_log_number(memtable *m, uint64_t n);
uint64_t memtable_log_number(const memtable *m);

/* Iterator over point entries (memtable_iter_init) or range tombstones (memtable_range_iter_init)
 * in internal-key order, both directions. A plain struct: declare it on the stack. It takes
 * no reference; the caller holds one on m for the iterator's lifetime. Entries added while it
 * runs may or may not be seen. A range tombstone's key is begin || trailer(seq, KIND_RANGE_DEL)
 * and its value is the end key. Keys and values are borrowed while the caller holds m. */
typedef struct memtable_iter {
  sl_iter it;
} memtable_iter;

void memtable_iter_init(memtable_iter *it, memtable *m);
void memtable_range_iter_init(memtable_iter *it, memtable *m);
void memtable_iter_seek_first(memtable_iter *it);
void memtable_iter_seek_last(memtable_iter *it);
/* First entry >= ikey (user key || 8-byte LE trailer). REQUIRES: iklen >= IKEY_TRAILER. */
void memtable_iter_seek(memtable_iter *it, const uint8_t *ikey, size_t iklen);
/* Last entry < ikey (one search, so safe against concurrent inserts). */
void memtable_iter_seek_before(memtable_iter *it, const uint8_t *ikey, size_t iklen);
/* REQUIRES: memtable_iter_valid(it) for next, prev and the accessors below. */
void memtable_iter_next(memtable_iter *it);
/* prev searches from the head (no back links): O(log n), not O(1). */
void memtable_iter_prev(memtable_iter *it);
int memtable_iter_valid(const memtable_iter *it);
/* The internal key: user key || 8-byte LE trailer, contiguous in the arena (no copy). */
const uint8_t *memtable_iter_key(const memtable_iter *it, size_t *iklen);
const void *memtable_iter_value(const memtable_iter *it, size_t *vlen);
/* Wall time recorded with a tombstone (point or range), 0 for puts. */
uint64_t memtable_iter_time_us(const memtable_iter *it);

#endif /* SHALE_MEMTABLE_MEMTABLE_H */
