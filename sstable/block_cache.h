/* block_cache.h — a sharded cache of uncompressed SSTable blocks shared by every reader of a
 * DB, with CLOCK (second-chance) eviction. Entries are refcounted: a handle pins its block
 * until released, and eviction only takes unpinned blocks, so a block never vanishes under a
 * reader. Each shard has its own mutex; a hit costs one hash, a short chain walk and a
 * refcount bump on the entry itself.
 * Thread-safety: every function may be called from any thread at once. */
#ifndef SHALE_SSTABLE_BLOCK_CACHE_H
#define SHALE_SSTABLE_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct block_cache block_cache;
typedef struct bc_handle bc_handle;

/* Creates a cache holding up to capacity_bytes of blocks (plus a small per-entry overhead).
 * Small caches get fewer shards so each shard can still hold several blocks.
 * @return SHALE_OK, SHALE_INVALID (NULL c), SHALE_NOMEM. */
int block_cache_new(size_t capacity_bytes, block_cache **c);
/* Frees the cache and every block in it. REQUIRES: no handle is outstanding. NULL ignored. */
void block_cache_free(block_cache *c);

/* A fresh id for a reader to key its blocks by (ids are never reused within a cache). */
uint64_t block_cache_new_id(block_cache *c);

/* Returns a pinned handle to block (id, offset), or NULL on a miss. Counts a hit or a miss. */
bc_handle *block_cache_lookup(block_cache *c, uint64_t id, uint64_t offset);
/* Inserts a block and returns a pinned handle to it. On success the cache owns data (a
 * malloc'd buffer, freed with free() on eviction); an entry already under the key is
 * replaced (it lives on while pinned). Returns NULL when out of memory: then data is still
 * the caller's. The block may be evicted as soon as it is released if it exceeds capacity. */
bc_handle *block_cache_insert(block_cache *c, uint64_t id, uint64_t offset, void *data, size_t len);
/* The pinned block's bytes; valid until block_cache_release. */
const uint8_t *block_cache_data(const bc_handle *h, size_t *len);
/* Unpins h. h must not be used afterwards. */
void block_cache_release(block_cache *c, bc_handle *h);

/* Counters since creation and the bytes currently charged (pinned blocks included). Any out
 * pointer may be NULL. */
void block_cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses, size_t *usage);
/* Blocks inserted since creation (RocksDB's block.cache.add). */
uint64_t block_cache_inserts(block_cache *c);

#endif /* SHALE_SSTABLE_BLOCK_CACHE_H */
