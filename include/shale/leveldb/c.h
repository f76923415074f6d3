/** @file shale/leveldb/c.h
 * @brief LevelDB 1.23's C API (leveldb/c.h) served by Shale: libshale-leveldb.
 *
 * A program written against LevelDB's C API builds against this header and links
 * libshale-leveldb (pkg-config shale-leveldb, or CMake shale::leveldb) instead of libleveldb;
 * the names, types and signatures are LevelDB 1.23's. The data lives in a Shale DB: a
 * directory written by LevelDB itself is refused ("Invalid argument: ..."), not converted.
 * doc/leveldb-compat.md lists every function, what it maps to in shale.h, and what is refused.
 *
 * Conventions (as LevelDB's):
 * - Handles are opaque pointers made and freed by the functions below.
 * - A key or value is a pointer and a length; keys are ordered bytewise.
 * - A call that can fail takes `char **errptr` last. On entry *errptr is NULL or a string
 *   this library malloc'd. On success it is left alone; on failure the old string is freed
 *   and *errptr set to a new malloc'd message starting with LevelDB's status prefix:
 *   "NotFound: ", "Corruption: ", "Not implemented: ", "Invalid argument: " or "IO error: ".
 *   Free it with leveldb_free (or free).
 * - Booleans are uint8_t: 0 is false, anything else true.
 * - Memory returned to the caller (values, property strings, messages, the test directory)
 *   is malloc'd; free it with leveldb_free.
 * - LevelDB requires every pointer argument to be non-NULL; here a NULL handle gets an
 *   "Invalid argument: " error (or is ignored by functions that cannot report one).
 * Threads: as LevelDB: a leveldb_t may be used by many threads at once; an iterator or a
 * write batch by one thread at a time; option objects must not change while in use.
 */
#ifndef SHALE_LEVELDB_C_H
#define SHALE_LEVELDB_C_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHALE_LEVELDB_SHARED_BUILD) && defined(__GNUC__)
#define SHALE_LEVELDB_EXPORT __attribute__((visibility("default")))
#else
#define SHALE_LEVELDB_EXPORT
#endif

/* ---- opaque handles ---- */
typedef struct leveldb_t leveldb_t;                           /**< an open DB */
typedef struct leveldb_cache_t leveldb_cache_t;               /**< a block cache size */
typedef struct leveldb_comparator_t leveldb_comparator_t;     /**< a key order */
typedef struct leveldb_env_t leveldb_env_t;                   /**< the operating system */
typedef struct leveldb_filelock_t leveldb_filelock_t;         /**< unused (LevelDB's too) */
typedef struct leveldb_filterpolicy_t leveldb_filterpolicy_t; /**< a table filter */
typedef struct leveldb_iterator_t leveldb_iterator_t;         /**< an ordered walk */
typedef struct leveldb_logger_t leveldb_logger_t;             /**< never made by this API */
typedef struct leveldb_options_t leveldb_options_t;           /**< options of an open */
typedef struct leveldb_randomfile_t leveldb_randomfile_t;     /**< unused (LevelDB's too) */
typedef struct leveldb_readoptions_t leveldb_readoptions_t;   /**< options of a read */
typedef struct leveldb_seqfile_t leveldb_seqfile_t;           /**< unused (LevelDB's too) */
typedef struct leveldb_snapshot_t leveldb_snapshot_t;         /**< a pinned state */
typedef struct leveldb_writablefile_t leveldb_writablefile_t; /**< unused (LevelDB's too) */
typedef struct leveldb_writebatch_t leveldb_writebatch_t;     /**< writes applied at once */
typedef struct leveldb_writeoptions_t leveldb_writeoptions_t; /**< options of a write */

/* ---- the DB ---- */

/** Open (or create, with create_if_missing) the DB in directory @p name. A missing DB
 *  without create_if_missing fails with "Invalid argument: <name>: does not exist
 *  (create_if_missing is false)"; an existing one with error_if_exists with "Invalid
 *  argument: <name>: exists (error_if_exists is true)"; a comparator other than the one the
 *  DB was created with (see leveldb_options_set_comparator) with "Invalid argument: ...",
 *  naming both. @return the handle, or NULL with *errptr set. */
SHALE_LEVELDB_EXPORT leveldb_t *leveldb_open(const leveldb_options_t *options, const char *name,
                                             char **errptr);

/** Close @p db and free it. Snapshots still held are released; iterators still alive stop
 *  working (invalid, with an error) and must still be destroyed. NULL is ignored. */
SHALE_LEVELDB_EXPORT void leveldb_close(leveldb_t *db);

/** Store @p val under @p key (both copied). */
SHALE_LEVELDB_EXPORT void leveldb_put(leveldb_t *db, const leveldb_writeoptions_t *options,
                                      const char *key, size_t keylen, const char *val,
                                      size_t vallen, char **errptr);

/** Delete @p key; deleting an absent key succeeds. */
SHALE_LEVELDB_EXPORT void leveldb_delete(leveldb_t *db, const leveldb_writeoptions_t *options,
                                         const char *key, size_t keylen, char **errptr);

/** Apply every operation of @p batch at once (after a crash, all or none). The batch is not
 *  changed. A batch whose building failed (an oversized key, no memory) fails here with that
 *  error and writes nothing. */
SHALE_LEVELDB_EXPORT void leveldb_write(leveldb_t *db, const leveldb_writeoptions_t *options,
                                        leveldb_writebatch_t *batch, char **errptr);

/** Read @p key. @return a malloc'd copy of the value (never NULL when found, even empty) with
 *  its length in *vallen; NULL when absent (*errptr untouched) or on error (*errptr set). */
SHALE_LEVELDB_EXPORT char *leveldb_get(leveldb_t *db, const leveldb_readoptions_t *options,
                                       const char *key, size_t keylen, size_t *vallen,
                                       char **errptr);

/** A new iterator over @p db as @p options say (snapshot, checksums, cache); it starts
 *  unpositioned. Destroy it with leveldb_iter_destroy. @return NULL when out of memory. */
SHALE_LEVELDB_EXPORT leveldb_iterator_t *leveldb_create_iterator(
    leveldb_t *db, const leveldb_readoptions_t *options);

/** Pin the current state; release with leveldb_release_snapshot. NULL on failure. */
SHALE_LEVELDB_EXPORT const leveldb_snapshot_t *leveldb_create_snapshot(leveldb_t *db);

/** Release a snapshot of @p db made by leveldb_create_snapshot (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_release_snapshot(leveldb_t *db,
                                                   const leveldb_snapshot_t *snapshot);

/** A property of @p db: "leveldb.stats", "leveldb.sstables", "leveldb.num-files-at-levelN"
 *  (N 0 to 6), "leveldb.approximate-memory-usage", or any Shale "shale.*" property.
 *  @return a malloc'd string, or NULL for an unknown name. */
SHALE_LEVELDB_EXPORT char *leveldb_property_value(leveldb_t *db, const char *propname);

/** Estimate the bytes on disk for each of @p num_ranges ranges [start, limit) into @p sizes.
 *  Data not yet flushed to a table counts nothing (as in LevelDB); 0 on error. */
SHALE_LEVELDB_EXPORT void leveldb_approximate_sizes(leveldb_t *db, int num_ranges,
                                                    const char *const *range_start_key,
                                                    const size_t *range_start_key_len,
                                                    const char *const *range_limit_key,
                                                    const size_t *range_limit_key_len,
                                                    uint64_t *sizes);

/** Compact the tables holding keys in [start, limit], limit INCLUDED, as LevelDB does. A NULL
 *  @p start_key means from the first key, a NULL @p limit_key to the last. */
SHALE_LEVELDB_EXPORT void leveldb_compact_range(leveldb_t *db, const char *start_key,
                                                size_t start_key_len, const char *limit_key,
                                                size_t limit_key_len);

/* ---- management ---- */

/** Delete the DB in directory @p name (a missing one is already destroyed). Must not be
 *  open. Files that are not the DB's stay. */
SHALE_LEVELDB_EXPORT void leveldb_destroy_db(const leveldb_options_t *options, const char *name,
                                             char **errptr);

/** Rebuild the DB in directory @p name after its MANIFEST or CURRENT was lost or damaged; what
 *  could not be read goes to <name>/lost. Must not be open. */
SHALE_LEVELDB_EXPORT void leveldb_repair_db(const leveldb_options_t *options, const char *name,
                                            char **errptr);

/* ---- iterators ---- */

/** Free an iterator (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_iter_destroy(leveldb_iterator_t *);
/** @return 1 when positioned at an entry; 0 before a seek, past either end, or on error. */
SHALE_LEVELDB_EXPORT uint8_t leveldb_iter_valid(const leveldb_iterator_t *);
/** Position at the first key. */
SHALE_LEVELDB_EXPORT void leveldb_iter_seek_to_first(leveldb_iterator_t *);
/** Position at the last key. */
SHALE_LEVELDB_EXPORT void leveldb_iter_seek_to_last(leveldb_iterator_t *);
/** Position at the first key at or after @p k. */
SHALE_LEVELDB_EXPORT void leveldb_iter_seek(leveldb_iterator_t *, const char *k, size_t klen);
/** Move to the next key. Requires a valid iterator. */
SHALE_LEVELDB_EXPORT void leveldb_iter_next(leveldb_iterator_t *);
/** Move to the previous key. Requires a valid iterator. */
SHALE_LEVELDB_EXPORT void leveldb_iter_prev(leveldb_iterator_t *);
/** @return the current key, valid until the iterator moves. Requires a valid iterator. */
SHALE_LEVELDB_EXPORT const char *leveldb_iter_key(const leveldb_iterator_t *, size_t *klen);
/** @return the current value, valid until the iterator moves. Requires a valid iterator. */
SHALE_LEVELDB_EXPORT const char *leveldb_iter_value(const leveldb_iterator_t *, size_t *vlen);
/** Set *errptr if the iterator stopped on an error (a damaged table, a closed DB). */
SHALE_LEVELDB_EXPORT void leveldb_iter_get_error(const leveldb_iterator_t *, char **errptr);

/* ---- write batches ---- */

/** A new empty batch, or NULL when out of memory. */
SHALE_LEVELDB_EXPORT leveldb_writebatch_t *leveldb_writebatch_create(void);
/** Free a batch (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_destroy(leveldb_writebatch_t *);
/** Empty a batch, and forget a failure recorded while building it. */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_clear(leveldb_writebatch_t *);
/** Add a put (copied). A failure is kept and reported by leveldb_write. */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_put(leveldb_writebatch_t *, const char *key,
                                                 size_t klen, const char *val, size_t vlen);
/** Add a delete. A failure is kept and reported by leveldb_write. */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_delete(leveldb_writebatch_t *, const char *key,
                                                    size_t klen);
/** Call @p put or @p deleted for each operation, in the order added, with @p state first. */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_iterate(const leveldb_writebatch_t *, void *state,
                                                     void (*put)(void *, const char *k, size_t klen,
                                                                 const char *v, size_t vlen),
                                                     void (*deleted)(void *, const char *k,
                                                                     size_t klen));
/** Add a copy of every operation of @p source to the end of @p destination. */
SHALE_LEVELDB_EXPORT void leveldb_writebatch_append(leveldb_writebatch_t *destination,
                                                    const leveldb_writebatch_t *source);

/* ---- options ---- */

/** New options with LevelDB's defaults: create_if_missing and error_if_exists off, 4 MiB
 *  write buffer, 8 MiB block cache, 4 KiB blocks, 2 MiB tables, compression on, a bloom
 *  filter of 10 bits per key (Shale's default; LevelDB has none unless asked). */
SHALE_LEVELDB_EXPORT leveldb_options_t *leveldb_options_create(void);
/** Free options (NULL is ignored); the objects set in them stay the caller's. */
SHALE_LEVELDB_EXPORT void leveldb_options_destroy(leveldb_options_t *);
/** The key order. NULL or a comparator named "leveldb.BytewiseComparator" is the bytewise
 *  order (such a comparator must order keys as memcmp does, or leveldb_open fails with
 *  "Invalid argument: ..."). Any other becomes Shale's shale_options.comparator under its
 *  name, with its contract: a total order, keys equal under it byte-equal, the name recorded
 *  in the DB (a later open with another name fails), compare called from any thread; names
 *  beginning "shale." are refused. Must outlive every DB opened with it. Range deletes
 *  (Shale's, not LevelDB's) then need both ends. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_comparator(leveldb_options_t *,
                                                         leveldb_comparator_t *);
/** The tables' filter: a bloom filter sets Shale's bits per key; a custom policy is replaced
 *  by Shale's bloom filter of 10 bits per key (its callbacks are never called); NULL keeps
 *  the default. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_filter_policy(leveldb_options_t *,
                                                            leveldb_filterpolicy_t *);
/** Create the DB when missing (default 0). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_create_if_missing(leveldb_options_t *, uint8_t);
/** Fail the open when the DB exists (default 0). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_error_if_exists(leveldb_options_t *, uint8_t);
/** 1: a damaged WAL record fails the open. 0 (default, as LevelDB): the open recovers what
 *  precedes the first damaged record of the WAL (Shale's tolerant WAL recovery). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_paranoid_checks(leveldb_options_t *, uint8_t);
/** The environment: only the one leveldb_create_default_env returns exists; NULL too. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_env(leveldb_options_t *, leveldb_env_t *);
/** Where to log. The C API cannot make a logger, so this is NULL: Shale writes <db>/LOG. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_info_log(leveldb_options_t *, leveldb_logger_t *);
/** Memtable bytes before it is flushed to a table (Shale: at least 4096). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_write_buffer_size(leveldb_options_t *, size_t);
/** Open table files kept (Shale keeps at least 16). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_max_open_files(leveldb_options_t *, int);
/** The block cache: its capacity becomes this DB's block cache size (a cache set in several
 *  options gives each DB its own cache of that size). NULL: 8 MiB. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_cache(leveldb_options_t *, leveldb_cache_t *);
/** Data block size of new tables (Shale: 256 bytes to 64 MiB). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_block_size(leveldb_options_t *, size_t);
/** Accepted and ignored: Shale's block format has no restart interval to set. */
SHALE_LEVELDB_EXPORT void leveldb_options_set_block_restart_interval(leveldb_options_t *, int);
/** Size of the tables compactions write (Shale's target_file_size). */
SHALE_LEVELDB_EXPORT void leveldb_options_set_max_file_size(leveldb_options_t *, size_t);

/** Compression kinds of leveldb_options_set_compression. */
enum { leveldb_no_compression = 0, leveldb_snappy_compression = 1 };
/** leveldb_no_compression, or leveldb_snappy_compression (default), which Shale serves with
 *  zstd. Any other value makes leveldb_open fail with "Invalid argument: ...". */
SHALE_LEVELDB_EXPORT void leveldb_options_set_compression(leveldb_options_t *, int);

/* ---- comparators ---- */

/** A comparator from callbacks; @p destructor(state) runs when it is destroyed. See
 *  leveldb_options_set_comparator for which ones an open accepts. */
SHALE_LEVELDB_EXPORT leveldb_comparator_t *leveldb_comparator_create(
    void *state, void (*destructor)(void *),
    int (*compare)(void *, const char *a, size_t alen, const char *b, size_t blen),
    const char *(*name)(void *));
/** Free a comparator, calling its destructor (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_comparator_destroy(leveldb_comparator_t *);

/* ---- filter policies ---- */

/** A filter policy from callbacks; @p destructor(state) runs when it is destroyed. Shale
 *  uses its own bloom filter instead (see leveldb_options_set_filter_policy). */
SHALE_LEVELDB_EXPORT leveldb_filterpolicy_t *leveldb_filterpolicy_create(
    void *state, void (*destructor)(void *),
    char *(*create_filter)(void *, const char *const *key_array, const size_t *key_length_array,
                           int num_keys, size_t *filter_length),
    uint8_t (*key_may_match)(void *, const char *key, size_t length, const char *filter,
                             size_t filter_length),
    const char *(*name)(void *));
/** Free a filter policy, calling a custom one's destructor (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_filterpolicy_destroy(leveldb_filterpolicy_t *);
/** A bloom filter of @p bits_per_key bits per key (clamped to 1..64). */
SHALE_LEVELDB_EXPORT leveldb_filterpolicy_t *leveldb_filterpolicy_create_bloom(int bits_per_key);

/* ---- read options ---- */

/** New read options: latest state, checksums verified, blocks cached. (LevelDB does not
 *  verify by default; Shale does, which only turns silent damage into "Corruption: ".) */
SHALE_LEVELDB_EXPORT leveldb_readoptions_t *leveldb_readoptions_create(void);
/** Free read options (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_readoptions_destroy(leveldb_readoptions_t *);
/** Whether data blocks read are checksummed (Shale's verify_checksums). */
SHALE_LEVELDB_EXPORT void leveldb_readoptions_set_verify_checksums(leveldb_readoptions_t *,
                                                                   uint8_t);
/** Whether blocks read go into the block cache (default 1). */
SHALE_LEVELDB_EXPORT void leveldb_readoptions_set_fill_cache(leveldb_readoptions_t *, uint8_t);
/** Read as of this snapshot; NULL: the latest state. */
SHALE_LEVELDB_EXPORT void leveldb_readoptions_set_snapshot(leveldb_readoptions_t *,
                                                           const leveldb_snapshot_t *);

/* ---- write options ---- */

/** New write options: not synced. */
SHALE_LEVELDB_EXPORT leveldb_writeoptions_t *leveldb_writeoptions_create(void);
/** Free write options (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_writeoptions_destroy(leveldb_writeoptions_t *);
/** 1: the WAL is synced to disk before the write returns. */
SHALE_LEVELDB_EXPORT void leveldb_writeoptions_set_sync(leveldb_writeoptions_t *, uint8_t);

/* ---- caches ---- */

/** A block cache of @p capacity bytes (see leveldb_options_set_cache). */
SHALE_LEVELDB_EXPORT leveldb_cache_t *leveldb_cache_create_lru(size_t capacity);
/** Free a cache (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_cache_destroy(leveldb_cache_t *cache);

/* ---- environment ---- */

/** The default environment (the operating system's files and threads). */
SHALE_LEVELDB_EXPORT leveldb_env_t *leveldb_create_default_env(void);
/** Free an environment (NULL is ignored). */
SHALE_LEVELDB_EXPORT void leveldb_env_destroy(leveldb_env_t *);
/** A directory for tests, created if missing: $TEST_TMPDIR, else /tmp/leveldbtest-<euid>.
 *  @return a malloc'd path freed with leveldb_free, or NULL if it cannot be made. */
SHALE_LEVELDB_EXPORT char *leveldb_env_get_test_directory(leveldb_env_t *);

/* ---- utilities ---- */

/** Free memory this library returned (values, properties, messages, paths): free(ptr). */
SHALE_LEVELDB_EXPORT void leveldb_free(void *ptr);
/** @return 1: the major version of the LevelDB API served (1.23). */
SHALE_LEVELDB_EXPORT int leveldb_major_version(void);
/** @return 23: the minor version of the LevelDB API served (1.23). */
SHALE_LEVELDB_EXPORT int leveldb_minor_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif
#endif /* SHALE_LEVELDB_C_H */
