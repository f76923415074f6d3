/** @file shale.h
 * @brief The whole public API of Shale, an embeddable LSM-tree key-value store.
 *
 * (The Doxygen block above gives every function, type and macro of this header a page:
 * `cmake --build build --target docs`.)
 *
 * Conventions
 * -----------
 * Errors:    every call that can fail returns an int: SHALE_OK (0) on success or a negative
 *            SHALE_* code. shale_strerror() names a code; shale_errmsg() gives the detail of
 *            the calling thread's last failed call on a DB handle (file, offset, errno
 *            text): each thread has its own.
 * Ownership: values returned by shale_get() and strings returned by shale_property() are
 *            malloc'd copies the caller frees with shale_free(). Keys and values returned by
 *            an iterator are borrowed: valid until the next move or shale_iter_free().
 *            Buffers passed in are copied before the call returns; the caller keeps them.
 * NULL:      a NULL handle or NULL data pointer with a non-zero length gets SHALE_INVALID.
 *            Out-parameters are set to NULL/0 on failure.
 * Keys:      0 to SHALE_MAX_KEY_SIZE bytes, compared bytewise (memcmp, shorter first on a
 *            tie) unless shale_options.comparator gives another order, so the empty key
 *            sorts before every other; a NULL key with length 0 is
 *            the empty key (as LevelDB and RocksDB, where a nil and an empty key are one).
 *            Values: 0 to SHALE_MAX_VALUE_SIZE bytes.
 * Threads:   one shale_db may be used by any number of threads at once. A shale_iter or a
 *            shale_batch is used by one thread at a time. A snapshot may be read from any
 *            thread.
 */
#ifndef SHALE_H
#define SHALE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHALE_SHARED_BUILD) && defined(__GNUC__)
#define SHALE_EXPORT __attribute__((visibility("default")))
#else
#define SHALE_EXPORT
#endif

#define SHALE_VERSION_MAJOR 0        /**< major version of this header */
#define SHALE_VERSION_MINOR 1        /**< minor version of this header */
#define SHALE_VERSION_PATCH 0        /**< patch version of this header */
#define SHALE_VERSION_STRING "0.1.0" /**< the three as a string */

/** @return the library's version string, e.g. "0.1.0" (static storage). */
SHALE_EXPORT const char *shale_version(void);

/* ---- errors ---- */
#define SHALE_OK 0          /**< success */
#define SHALE_NOTFOUND (-1) /**< key absent (not an error condition for gets) */
/** bad argument: a NULL handle, a NULL key with a length, an oversized key, a bad option */
#define SHALE_INVALID (-2)
#define SHALE_CORRUPTION (-3) /**< a checksum or format check failed; errmsg names file+offset */
#define SHALE_IOERR (-4)      /**< a system call failed; errmsg has the errno text */
#define SHALE_NOSPACE (-5)    /**< the disk is full (ENOSPC) */
#define SHALE_NOMEM (-6)      /**< an allocation failed */
#define SHALE_BUSY (-7)       /**< the DB directory is locked by another handle or process */
/** a write to a DB opened read_only, or to one that turned read-only after a background
 *  write error */
#define SHALE_READONLY (-8)
#define SHALE_EXISTS (-9)  /**< error_if_exists was set and the DB exists */
#define SHALE_NOTSUP (-10) /**< the operation or option is not supported */

#define SHALE_MAX_KEY_SIZE (64u * 1024u)            /**< largest key, bytes */
#define SHALE_MAX_VALUE_SIZE (256u * 1024u * 1024u) /**< largest value, bytes */

/** @return a static string naming @p rc, e.g. "SHALE_NOTFOUND: key not found". */
SHALE_EXPORT const char *shale_strerror(int rc);

typedef struct shale_db shale_db;             /**< an open DB (shale_open) */
typedef struct shale_batch shale_batch;       /**< operations applied at once (shale_write) */
typedef struct shale_snapshot shale_snapshot; /**< a pinned state (shale_snapshot_new) */
typedef struct shale_iter shale_iter;         /**< an ordered walk (shale_iter_new) */

/** The detail of the calling thread's last failed call on @p db; other threads' failures
 *  never change it. Each call on @p db that takes the handle (shale_put, shale_delete,
 *  shale_delete_range, shale_write, shale_get, shale_get_opts, shale_multi_get,
 *  shale_snapshot_new, shale_flush, shale_compact_range, shale_property,
 *  shale_approximate_sizes, shale_checkpoint, shale_live_files, shale_updates_since) first
 *  clears
 *  it: after such a call returns SHALE_OK or SHALE_NOTFOUND (a miss, an unknown property)
 *  it is "", after any other code it is that failure's detail (at least shale_strerror's
 *  text), never an older one. Iterator creation and moves set it when they fail (see
 *  shale_iter_status) and leave it as it was when they succeed. A thread keeps the details
 *  of its last 4 handles that failed; an older one reads as "".
 *  @param[in] db  the handle, or NULL for the calling thread's last failed shale_open,
 *                 shale_destroy, shale_repair or shale_sst_writer_* call
 *  @return a string in thread-local storage, valid until this thread's next call on the
 *  same handle (NULL: on any call without a handle); copy it to keep it. Never NULL. */
SHALE_EXPORT const char *shale_errmsg(const shale_db *db);

/* ---- options ---- */
#define SHALE_COMPRESSION_NONE 0 /**< tables' data blocks stored as written */
#define SHALE_COMPRESSION_ZSTD 1 /**< data blocks compressed with zstd (the default) */

/* io_mode */
#define SHALE_IO_URING 0  /**< io_uring for table writes, pwrite(2) when refused (default) */
#define SHALE_IO_PWRITE 1 /**< pwrite(2) and fdatasync for table writes, never io_uring */

/* wal_recovery_mode */
#define SHALE_WAL_RECOVER_STRICT 0   /**< corruption before the tail fails open (default) */
#define SHALE_WAL_RECOVER_TOLERANT 1 /**< stop at the first bad record, keep what precedes it */

/* What a compaction filter decides for one value (shale_compaction_filter). */
#define SHALE_FILTER_KEEP 0         /**< keep the value as it is */
#define SHALE_FILTER_REMOVE 1       /**< the key reads as deleted from this version on */
#define SHALE_FILTER_CHANGE_VALUE 2 /**< keep the key with the value put in *new_val */

/**
 * A compaction filter (as RocksDB's CompactionFilter): during a compaction that rewrites
 * tables, Shale offers it each value it may still change, and the filter keeps it, removes
 * it or gives it a new value. How TTLs expire keys and MVCC stores collect old versions,
 * without a delete per key.
 *
 * Which values it sees: for each user key in the compaction's input tables, the newest
 * version, when it is a value (not a tombstone), no range tombstone hides it, and no live
 * snapshot can read it (the snapshot is older than the value). Values a live snapshot can
 * read are kept unchanged, and so are every older version and every tombstone, so reads
 * at a snapshot never change: a key created or rewritten after the oldest live snapshot
 * is filtered once that snapshot is freed and a later compaction takes the key. A
 * snapshot taken while a compaction runs waits, if that compaction changed anything, for
 * its result to be installed (a short wait: the MANIFEST sync), or the compaction is
 * redone. Flushes do not call the filter (nor do RocksDB's by default), nor do
 * compactions that move a table down a level without rewriting it; shale_compact_range
 * rewrites every table of the range, so it offers every such value. The filter judges a
 * value, not a moment: a filter that removes a value today may be offered it again
 * later (after a crash before the compaction was installed, or when a snapshot made it
 * wait), and should decide the same way, or accept either outcome.
 *
 * SHALE_FILTER_REMOVE makes the key read as absent, and never brings back an older
 * version below it: when a deeper level may hold one, the value is replaced by a
 * tombstone of the same sequence, which a later compaction at the bottom purges; a
 * newer version of the key written since, in a memtable or a higher level, still wins.
 * SHALE_FILTER_CHANGE_VALUE keeps the key and sequence with the value *new_val holds.
 *
 * @param[in]  arg       shale_options.compaction_filter_arg
 * @param[in]  level     the level the compaction writes (1 to 6)
 * @param[in]  key       the user key, borrowed for the call
 * @param[in]  klen      its length
 * @param[in]  val       the value, borrowed for the call
 * @param[in]  vlen      its length
 * @param[out] new_val   for SHALE_FILTER_CHANGE_VALUE: the new value, which stays the
 *                       filter's (Shale copies it before the filter is called again, so a
 *                       buffer reused on every call will do); ignored otherwise
 * @param[out] new_vlen  its length, up to SHALE_MAX_VALUE_SIZE
 * @return SHALE_FILTER_KEEP, SHALE_FILTER_REMOVE or SHALE_FILTER_CHANGE_VALUE. Anything
 *         else, or a change to a NULL value with a length or one longer than
 *         SHALE_MAX_VALUE_SIZE, keeps the value (and is noted in the DB's LOG).
 * Threads: called from Shale's background threads, and from the thread calling
 *         shale_compact_range, while a compaction runs. One compaction runs at a time, so
 *         calls for one DB never overlap; a filter (and arg) shared by several open DBs is
 *         called from each at once. The filter must not call Shale on the same DB (a
 *         write, flush, compaction or close would wait for the compaction that is waiting
 *         for the filter), and should be quick: compactions wait for it, and writers wait
 *         for compactions when L0 fills up.
 */
typedef int (*shale_compaction_filter)(void *arg, int level, const void *key, size_t klen,
                                       const void *val, size_t vlen, const void **new_val,
                                       size_t *new_vlen);

/**
 * A user-key order other than bytewise (as LevelDB's and RocksDB's Comparator). Set
 * shale_options.comparator to use one; NULL (the default) orders keys bytewise (memcmp,
 * the shorter first on a tie), which Shale records under the name
 * "shale.BytewiseComparator".
 *
 * Contract, which Shale relies on and does not check:
 * - compare is a total order over all byte strings of up to SHALE_MAX_KEY_SIZE bytes that is
 *   the same on every call for the life of the DB (across processes and versions of the
 *   caller's code): <0 when a sorts before b, 0 when equal, >0 after; only the sign counts.
 * - keys equal under compare are byte-equal: bloom filters and the memtable's hash index
 *   look keys up by their bytes (as LevelDB requires).
 * Breaking either gives wrong reads, and damage a later compaction makes permanent.
 *
 * The name identifies the order: it is recorded in the DB's MANIFEST and in each table the
 * DB writes, and an open (or ingest) that finds another name fails with SHALE_INVALID and
 * a message naming both, changing nothing. Change the name whenever the order changes.
 * It must not be NULL, empty, begin with "shale." or be longer than 255 bytes.
 */
typedef struct shale_comparator {
  /** the order's name (a NUL-terminated string), copied at open */
  const char *name;
  /**
   * @param[in] arg   the comparator's arg
   * @param[in] a     the first key, borrowed for the call (any pointer when alen is 0)
   * @param[in] alen  its length
   * @param[in] b     the second key, borrowed for the call (any pointer when blen is 0)
   * @param[in] blen  its length
   * @return <0, 0 or >0 as a sorts before, equal to or after b.
   * Threads: called from any thread, also concurrently, from every call that reads or
   * writes the DB, from background flushes and compactions, and from shale_sst_writer_*.
   * It must not call Shale and must not fail. */
  int (*compare)(void *arg, const void *a, size_t alen, const void *b, size_t blen);
  /** passed to compare; must stay valid until shale_close (or shale_sst_writer_finish or
   *  _abort) returns */
  void *arg;
} shale_comparator;

struct shale_event_listener; /* see "event listeners" at the end of this header */

/** Options for shale_open. Fill with shale_options_init(), then change fields; the struct
 *  is copied at open. doc/tuning.md explains each field and when to change it. */
typedef struct shale_options {
  size_t size;                     /**< sizeof(shale_options); set by shale_options_init */
  int create_if_missing;           /**< create the directory and DB if absent; default 1 */
  int error_if_exists;             /**< fail with SHALE_EXISTS if a DB is there; default 0 */
  size_t write_buffer_size;        /**< memtable bytes before it is sealed; default 64 MiB */
  size_t block_cache_size;         /**< block cache bytes; default 64 MiB */
  int bloom_bits_per_key;          /**< bloom filter bits per key; default 10; 0 disables */
  int compression;                 /**< SHALE_COMPRESSION_ZSTD (default) or _NONE */
  int max_background_jobs;         /**< flush + compaction threads; default 2 */
  double delete_persist_seconds;   /**< deadline to purge deletes; 0 (default): none */
  size_t block_size;               /**< SSTable data block size; default 4 KiB */
  int wal_recovery_mode;           /**< SHALE_WAL_RECOVER_*; default STRICT */
  int max_open_files;              /**< table cache size (open descriptors); default 1000 */
  int max_immutable_memtables;     /**< sealed memtables before writers wait; default 4 */
  int level0_compaction_trigger;   /**< L0 files that start an L0->L1 compaction; default 4 */
  int level0_slowdown_trigger;     /**< L0 files at which writes are slowed; default 20 */
  int level0_stop_trigger;         /**< L0 files at which writes wait; default 36 */
  size_t max_bytes_for_level_base; /**< L1 target size; default 256 MiB, at least 1 MiB */
  int level_size_multiplier;       /**< each level this many times the previous; default 10 */
  size_t target_file_size;         /**< compaction output file size; default 64 MiB */
  int compression_level;           /**< zstd level of data blocks, -7..19; default 3. Negative
                                        levels decode several times faster and compress less */
  /** 1: open for reading only; default 0. Such an open writes, creates, renames and deletes
   *  nothing in the directory (no LOCK, LOG, OPTIONS, WAL or MANIFEST), so it works on a
   *  read-only file system and leaves every file byte-identical. It takes no lock: it works
   *  while a writer (another handle, in this process or another) has the DB open, a writer's
   *  open works while it is open, and any number of read-only handles may be open at once.
   *  The handle reads the DB as it was during its open: every write acknowledged before
   *  shale_open was called is there unless overwritten since, and what it sees is a prefix of
   *  the writer's history (a batch whole or not at all, never a write without the earlier
   *  writes of the same thread). It never sees later writes: to read newer data, close it
   *  and open again (no catch-up, as RocksDB's read-only DB). The open lists and opens the
   *  WALs, reads CURRENT and the MANIFEST, and holds every table of that version open, so
   *  the writer deleting files later (flushes, compactions, WAL retention) cannot break its
   *  reads; what it read is kept until shale_close (tables stay open past
   *  max_open_files, and deleted tables keep their disk space until then). When the writer
   *  removes a file the open still needed (a table compacted away, a WAL flushed, CURRENT
   *  moved to a new MANIFEST) the open starts again, up to 200 times, then fails with
   *  SHALE_BUSY. The WALs are replayed into memory only, the one being written up to its
   *  last complete record, and no background thread runs. A missing DB is SHALE_NOTFOUND
   *  whatever create_if_missing says. Writes, shale_flush and shale_compact_range return
   *  SHALE_READONLY; reads, iterators, snapshots and properties work as usual, from any
   *  thread. shale_close writes nothing and returns SHALE_OK. */
  int read_only;
  /** Called on values during compactions (see shale_compaction_filter); default NULL:
   *  none. A read_only open never calls it. */
  shale_compaction_filter compaction_filter;
  /** Passed to compaction_filter as its first argument; must stay valid until shale_close
   *  returns. Default NULL. */
  void *compaction_filter_arg;
  /** The filter's name, written to the LOG and OPTIONS (copied at open); default NULL. */
  const char *compaction_filter_name;
  /** Keep a WAL that a flush made obsolete while it is younger than this many seconds
   *  (from its last write), for shale_updates_since; default 0: not by age. Such a WAL is
   *  renamed from NNNNNN.log to NNNNNN.old.log: recovery and shale_repair never replay it. */
  double wal_retention_seconds;
  /** Keep the newest obsolete WALs while their sizes add up to at most this many bytes,
   *  for shale_updates_since; default 0: not by size. An obsolete WAL is deleted once
   *  neither retention keeps it (with both 0, at once, as before these options), checked
   *  when a flush finishes, at open, and when a checkpoint or a walk of the WAL ends. */
  uint64_t wal_retention_bytes;
  /** Callbacks for flushes, compactions, table files, write stalls, background errors and
   *  persisted deletes (see struct shale_event_listener); copied at open, so the struct may
   *  go once shale_open returns (its arg must stay valid until shale_close returns).
   *  Default NULL: none. A read_only open reports nothing. */
  const struct shale_event_listener *listener;
  /** How new tables and MANIFEST snapshots are written: SHALE_IO_URING (default) keeps
   *  several writes in flight on an io_uring, the last linked to fdatasync, and falls back
   *  to pwrite(2) and fdatasync by itself when the kernel refuses io_uring (seccomp, an old
   *  kernel, locked-memory limits); SHALE_IO_PWRITE always uses pwrite(2), for a sandbox
   *  that kills a process calling io_uring_setup or to compare the two. The files are the
   *  same either way. Any other value is SHALE_INVALID. The property "shale.stats" says
   *  which path is in use. */
  int io_mode;
  /** 1 (default): uncompressed tables are read through a read-only mapping (no system call
   *  per block read; the page cache is their block cache) and the WAL is appended by copies
   *  into a shared mapping of preallocated space (no system call per write group); 0: every
   *  table is read with pread(2) and the WAL is appended with write(2). Compressed tables
   *  are read with pread(2) either way: their blocks are cached decompressed, and their
   *  pages, mapped, were evicted far sooner under a memory limit. Independent of io_mode.
   *  doc/tuning.md, "Reads". */
  int use_mmap;
  /** A new MANIFEST (one snapshot of the live files) is started once the current one has
   *  grown past this many bytes; default 64 MiB; 0 means the default. Small values roll it
   *  often, which only costs a rewrite of the snapshot each time. */
  uint64_t manifest_roll_bytes;
  /** The I/O environment the DB's files are read and written through (see shale_env);
   *  default NULL: the real system calls. The struct is copied at open; its arg must stay
   *  valid until shale_close returns. */
  const struct shale_env *env;
  /** 1: time every get, write and iterator seek into the latency histograms
   *  (shale_histogram: SHALE_HIST_GET, _WRITE, _SEEK); two clock reads per call, a few
   *  percent of a cached get. Default 0: those three stay empty, and only background work
   *  and WAL syncs, which cost far more than a clock read, are timed. */
  int time_operations;
  /** The user-key order (see shale_comparator); default NULL: bytewise. The struct is copied
   *  at open (shale_sst_writer_open too); its arg must stay valid until shale_close returns.
   *  A DB keeps the order it was created with: an open with another (NULL included, for a
   *  DB created with one) fails with SHALE_INVALID, as does shale_ingest of a table written
   *  in another order. With a comparator, range deletes need both ends (shale_delete_range),
   *  the dead-span skipping of deleted runs (doc/DESIGN.md) is off, shale_repair needs the
   *  same comparator in its options, and shale-ldb, which cannot load one, refuses the DB
   *  (SHALE_NOTSUP). shale_destroy ignores it. */
  const shale_comparator *comparator;
  /** Largest zstd dictionary a table gets, in bytes; default 16384; 0: none. As RocksDB's
   *  CompressionOptions::max_dict_bytes (whose default is 0). With compression ZSTD and a
   *  nonzero size, each table with at least a quarter of compression_zstd_max_train_bytes of
   *  raw data blocks stores a dictionary of at most this size and compresses its data blocks
   *  with it. On small blocks that saves space and decoding time: on db_bench's data in 4 KiB
   *  blocks about 8% of the data blocks (less the dictionary stored once per table) and about
   *  half of a block's decode time, so zstd readrandom from disk is about 1.3x as fast.
   *  Training is slow (about 186 ms on 1 MiB of samples, longer than zstd takes to compress
   *  10 MiB), so the DB trains seldom: a flush or compaction holds its table's first blocks
   *  back, raw, up to compression_zstd_max_train_bytes and trains on them; the tables of the
   *  same level written after it, by any thread, reuse that dictionary until it has
   *  compressed 1024 times those training bytes (1 GiB with the defaults), and then one
   *  table trains the next.
   *  SHALE_TICKER_ZSTD_DICT_TRAININGS counts the trainings. The DB keeps its current
   *  dictionary per level and zstd's state for it (about 420 KiB for 16 KiB at level 3);
   *  shale_sst_writer trains one for its table. 0..16384 (the most a table's format allows;
   *  larger is SHALE_INVALID). Tables written with a dictionary read the same whatever this
   *  is later. */
  size_t compression_max_dict_bytes;
  /** Bound on the raw data-block bytes a dictionary is trained on; default 0: 64 times
   *  compression_max_dict_bytes (1 MiB for a 16 KiB dictionary). Unlike RocksDB's
   *  zstd_max_train_bytes, 0 does not mean "use the samples as the dictionary untrained".
   *  More samples make a better dictionary, but the training time and the memory held by
   *  the table that trains grow with it, and so does the time a dictionary is reused (until
   *  it compressed 1024 times this many bytes). Ignored while compression_max_dict_bytes is
   *  0; otherwise 0 or compression_max_dict_bytes..1 GiB, else SHALE_INVALID. */
  size_t compression_zstd_max_train_bytes;
} shale_options;

/** Fill @p o with the defaults listed above (and o->size). Call before changing fields. */
SHALE_EXPORT void shale_options_init(shale_options *o);

/**
 * Open (and, with create_if_missing, create) the DB in directory @p path.
 * @param[in]  path  a directory; created if missing and allowed
 * @param[in]  o     options, copied; NULL means the defaults
 * @param[out] db    the handle, or NULL on failure
 * @return SHALE_OK; SHALE_BUSY if another handle or process holds the DB's LOCK (for
 *         read_only, which takes none: if a writer kept removing the files the open was
 *         reading, see shale_options.read_only);
 *         SHALE_INVALID for a NULL argument, a path that is a file, or bad options;
 *         SHALE_NOTFOUND if missing and !create_if_missing, including an existing
 *         directory without a CURRENT (an empty one: "<path>/CURRENT: does not exist
 *         (create_if_missing is false)", as LevelDB; nothing is created in it);
 *         SHALE_EXISTS; SHALE_IOERR
 *         (e.g. no permission); SHALE_CORRUPTION if the WAL or MANIFEST is damaged.
 *         SHALE_INVALID also when @p path is not a Shale DB: it holds another store's
 *         MANIFEST (RocksDB, LevelDB), or files that are not Shale's and no CURRENT. Such
 *         a failed open changes nothing in the directory.
 *         The detail of a failed open is in shale_errmsg(NULL).
 */
SHALE_EXPORT int shale_open(const char *path, const shale_options *o, shale_db **db);

/** Close @p db: waits for background work and releases the lock. Every acknowledged
 *  write is durable afterwards: writes made with SHALE_NO_WAL since open are flushed to a
 *  table first (that flush can take a second for a full memtable); otherwise the WAL
 *  holds the rest and nothing more is written.
 *
 *  Snapshots: while any snapshot of @p db is live, close refuses with SHALE_BUSY and
 *  changes nothing (as RocksDB's Close with unreleased snapshots): @p db stays open and
 *  usable, shale_errmsg(db) says how many snapshots are live; free them with
 *  shale_snapshot_free and call shale_close again.
 *  Iterators likewise: while one made by shale_iter_new or shale_iter_new_opts, or a WAL
 *  walk made by shale_updates_since, is not yet freed, close refuses with SHALE_BUSY and the
 *  handle stays open. Other calls on @p db
 *  must have returned, and none may start.
 *  @return SHALE_OK; SHALE_INVALID for a NULL @p db; SHALE_BUSY for live snapshots or
 *  iterators (then @p db is not freed); otherwise the first background error or the error of the
 * final flush (then what reached a WAL is still recovered by the next open). Except for SHALE_BUSY,
 * @p db is freed whatever the code. */
SHALE_EXPORT int shale_close(shale_db *db);

/**
 * Delete the DB in directory @p path, as LevelDB's DestroyDB: remove Shale's own files
 * (CURRENT, MANIFEST-*, *.log, *.sst, *.tmp, LOG, LOG.old*, OPTIONS, and such files in
 * lost/, which repair fills), then lost/ if that left it empty. The DB's LOCK is taken
 * first; when nothing else is left it is removed last, with @p path. Any other file stays,
 * and so do its directory and LOCK (which lets a later open with create_if_missing make a
 * DB there again). Must not be called while a handle on the DB is open.
 * @param[in] path  the DB directory; a path that does not exist is already destroyed
 * @param[in] o     options (NULL: the defaults); only env counts: the directory is listed,
 *                  locked and emptied through it. None changes what is removed.
 * @return SHALE_OK (also for a missing @p path); SHALE_BUSY if another handle or process
 *         holds the LOCK; SHALE_INVALID for a NULL or empty path, a path that is a file,
 *         a directory that is not a Shale DB (another store's, or unrelated files), or an
 *         env whose size is not a shale_env's: these change nothing; SHALE_IOERR or
 *         SHALE_NOSPACE when the directory cannot be listed or a file cannot be removed
 *         (the other files are still removed; what was removed stays removed), naming the
 *         path. The detail is in shale_errmsg(NULL).
 * Threads: safe from any thread; the detail is the calling thread's.
 */
SHALE_EXPORT int shale_destroy(const char *path, const shale_options *o);

/**
 * Rebuild the DB in directory @p path after its MANIFEST or CURRENT was lost or damaged,
 * as LevelDB's RepairDB (and `shale-ldb repair`, which calls this): every table is read in
 * full and put in L0; a table that cannot be opened goes to lost/ under @p path, one with a
 * damaged block is rewritten with the entries that still read (the original to lost/);
 * every WAL is kept for the next open to replay, one damaged before its tail rewritten with
 * its intact prefix (the original to lost/); a new MANIFEST replaces the old ones (moved to
 * lost/). Keys whose only copy was in a lost file are lost; a deleted key may come back if
 * its tombstone was. An account of what was done is appended to the DB's LOG. Holds the
 * DB's LOCK throughout; must not be called while a handle on the DB is open.
 * @param[in] path  the DB directory
 * @param[in] o     options (NULL: the defaults); only comparator and env count: the order
 *                  of the DB's keys, recorded in the new MANIFEST (NULL: bytewise), and the
 *                  env every file of the repair is read, written, moved and removed through
 * @return SHALE_OK; SHALE_NOTFOUND if @p path does not exist; SHALE_INVALID for a NULL or
 *         empty path, a path that is a file, a directory that is not a Shale DB, a bad
 *         comparator or env, or tables written with another comparator than @p o gives
 *         (these change nothing); SHALE_BUSY if another handle or process holds the LOCK;
 *         SHALE_IOERR, SHALE_NOSPACE, SHALE_NOMEM when removing the stale SPANS file (then
 *         nothing else is changed) or writing the repaired files failed (the old MANIFEST
 *         is moved aside only after the new one is in place). The detail is in
 *         shale_errmsg(NULL).
 * Threads: safe from any thread; the detail is the calling thread's.
 */
SHALE_EXPORT int shale_repair(const char *path, const shale_options *o);

/* ---- I/O environment ---- */

/* The moments of shale_env.point, in the order a flush, compaction or ingest passes them. */
/** A flush chose the oldest sealed memtable; nothing written yet. */
#define SHALE_POINT_FLUSH_PICKED 1
/** The flush's table and the directory are synced; the table is not in the MANIFEST. */
#define SHALE_POINT_FLUSH_TABLE_SYNCED 2
/** The flush's MANIFEST edit is durable; the new view is not published yet. */
#define SHALE_POINT_FLUSH_MANIFEST_SYNCED 3
/** The table is in the view and the memtable out; its WALs are not deleted yet. */
#define SHALE_POINT_FLUSH_VIEW_PUBLISHED 4
/** The flush is complete. */
#define SHALE_POINT_FLUSH_WAL_DELETED 5
/** A compaction chose its inputs; nothing written yet. */
#define SHALE_POINT_COMPACTION_PICKED 6
/** The compaction's tables and the directory are synced; the result is not installed. */
#define SHALE_POINT_COMPACTION_OUTPUT_SYNCED 7
/** The compaction's edit is durable and the new view published. */
#define SHALE_POINT_COMPACTION_INSTALLED 8
/** A new MANIFEST is synced; CURRENT does not name it yet. */
#define SHALE_POINT_MANIFEST_WRITTEN 9
/** An obsolete table was unlinked. */
#define SHALE_POINT_TABLE_DELETED 10
/** Ingested files are linked or copied into the DB and synced; nothing else is done. */
#define SHALE_POINT_INGEST_LINKED 11
/** Their global sequence is written; the MANIFEST edit is not logged yet. */
#define SHALE_POINT_INGEST_SEALED 12
/** The ingest's MANIFEST edit is durable; the new view is not published yet. */
#define SHALE_POINT_INGEST_MANIFEST_SYNCED 13

/**
 * The calls through which a DB reads and writes its files (as LevelDB's Env and Pebble's
 * vfs.FS, at the level of file descriptors): set shale_options.env to wrap them, to count,
 * trace, delay or fail operations (fault injection), or to model what a power loss keeps.
 * Fill one with shale_env_default(), then replace members; a NULL member takes the real
 * call.
 *
 * What goes through it: every open, write, read, sync, rename, unlink and truncation of the
 * DB's files (tables, WALs, MANIFEST, CURRENT, OPTIONS, the LOCK file and its lock, the info
 * LOG), the directory syncs that make their names durable, the creation, listing and
 * removal of the DB's directory, the cut of a torn WAL tail at open, shale_checkpoint's
 * links and copies, shale_ingest's links, copies and sequence writes, and the files
 * shale_repair and shale_destroy read, move and remove (with their options' env). A
 * descriptor open returns must be a real one for the file: Shale also fstats, lseeks,
 * closes and (with use_mmap) maps it, and with io_mode SHALE_IO_URING submits table writes
 * and their fdatasync on it through io_uring, whose completions pass through async_result
 * instead of write/sync. Not through it: stat(2), lstat(2) and access(2) (whether a file or
 * directory exists and what it is), and the backup directory: shale_backup reads the DB
 * through a shale_checkpoint (which uses the env) and writes the backup directory with the
 * real calls, as shale_restore, shale_backup_list and shale_backup_purge, which take no
 * options, do.
 *
 * Besides the calls, the env is told of named moments of the DB's background work (point,
 * SHALE_POINT_*), where a crash leaves distinct states on disk: a crash-testing env kills
 * the process there, a test pauses the work to race reads against it.
 *
 * Every function follows its system call's contract: on failure it returns -1 (fallocate:
 * the error number, as posix_fallocate) with errno set, and the error reaches the caller as
 * SHALE_IOERR or SHALE_NOSPACE with the path in the message. A short write or read is
 * allowed; Shale continues it. Functions are called from any of the DB's threads at once
 * (foreground calls and background flushes and compactions) and must be thread-safe.
 */
typedef struct shale_env {
  size_t size; /**< sizeof(shale_env); set by shale_env_default */
  void *arg;   /**< passed as the first argument of every function; default NULL */
  /** open(2) of a file (never a directory): flags O_RDONLY, O_WRONLY or O_RDWR with
   *  O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC; returns the descriptor. */
  int (*open)(void *arg, const char *path, int flags, int mode);
  /** write(2) at the descriptor's offset (logs, the info LOG, CURRENT's temporary file and
   *  checkpoint copies). */
  int64_t (*write)(void *arg, int fd, const void *data, size_t len);
  /** pwrite(2) (tables when io_uring is off or refused). */
  int64_t (*pwrite)(void *arg, int fd, const void *data, size_t len, int64_t off);
  /** pread(2) (tables, WALs and the MANIFEST when not mapped, and the files a checkpoint
   *  copies). */
  int64_t (*pread)(void *arg, int fd, void *data, size_t len, int64_t off);
  /** posix_fallocate(3): the space a mapped WAL appends into; returns 0 or an errno. */
  int (*fallocate)(void *arg, int fd, int64_t off, int64_t len);
  /** fsync(2) (data_only 0) or fdatasync(2) (1) of the file path open as fd. content_len
   *  is the length of the file's content when the file runs on into preallocated zeros (a
   *  mapped WAL), else -1: the whole file. */
  int (*sync)(void *arg, int fd, const char *path, int data_only, int64_t content_len);
  /** Makes the directory entries under dir durable (open it, fsync(2), close). */
  int (*sync_dir)(void *arg, const char *dir);
  /** rename(2) (CURRENT's atomic replace). */
  int (*rename)(void *arg, const char *from, const char *to);
  /** unlink(2); ENOENT is not treated as an error by Shale. */
  int (*unlink)(void *arg, const char *path);
  /** The result of a write (is_sync 0: bytes written or -errno) or fdatasync (is_sync 1: 0
   *  or -errno) that Shale submitted through io_uring for the file path open as fd; returns
   *  the result Shale acts on (a smaller byte count makes it write the rest again). The
   *  default returns res. */
  int (*async_result)(void *arg, const char *path, int fd, int is_sync, int res);
  /** The DB reached moment point (SHALE_POINT_*). Called from the thread doing the work
   *  (a background thread, or the caller of shale_flush, shale_compact_range or
   *  shale_open) with no lock of the DB held, so it may block; db is the handle, or NULL
   *  for SHALE_POINT_MANIFEST_WRITTEN. It must not call Shale on that DB. The default does
   *  nothing. */
  void (*point)(void *arg, shale_db *db, int point);
  /* The members below came after the first release: a caller's env whose size ends before
   * one of them (built against an older shale.h) gets the real call for it. */
  /** ftruncate(2) of the file path open as fd to len bytes (the cut of a torn WAL tail at
   *  open, and a checkpoint's copy of the active WAL). */
  int (*ftruncate)(void *arg, int fd, const char *path, int64_t len);
  /** link(2): a second name to for the file from (shale_checkpoint's tables, the files
   *  shale_ingest moves). When it fails with EXDEV, EPERM, EMLINK or EOPNOTSUPP (or, in a
   *  checkpoint, EACCES) Shale copies the file instead, through open, pread, write and sync
   *  (with pread and write left to the real calls, the kernel copies the bytes:
   *  copy_file_range(2)); any other errno is the call's error. */
  int (*link)(void *arg, const char *from, const char *to);
  /** mkdir(2) (the DB's directory at a create_if_missing open, a checkpoint's temporary
   *  directory, repair's lost/); EEXIST is not an error where the directory may exist. */
  int (*mkdir)(void *arg, const char *dir, int mode);
  /** rmdir(2) (an emptied directory at shale_destroy, a failed checkpoint's, an emptied
   *  lost/); ENOTEMPTY leaves it in place without an error. */
  int (*rmdir)(void *arg, const char *dir);
  /** The names of the entries in dir, without "." and "..", in any order (recovery, the
   *  deletion of obsolete files, checkpoint, repair and destroy): on success returns 0 with
   *  *names a malloc(3)ed array of *count malloc(3)ed strings, which Shale frees (each
   *  string, then the array) with free(3); *names may be NULL when *count is 0. On failure
   *  returns -1 with errno set; *names and *count are then not read. */
  int (*list_dir)(void *arg, const char *dir, char ***names, size_t *count);
  /** flock(2) of the file path open as fd with op LOCK_EX | LOCK_NB: the LOCK file of a DB
   *  opened for writing, repaired or destroyed; it fails with EWOULDBLOCK when another
   *  handle or process holds it (SHALE_BUSY). The lock goes with close(2) of fd. */
  int (*lock)(void *arg, int fd, const char *path, int op);
} shale_env;

/**
 * Fill @p env with the real system calls (and env->size, arg NULL). Call before changing
 * members; a wrapper keeps a copy of the result to pass calls on to.
 * @param[out] env  the environment; NULL is ignored
 * Threads: safe from any thread.
 */
SHALE_EXPORT void shale_env_default(shale_env *env);

/* ---- writes ---- */
/* Flags of shale_put, shale_delete, shale_delete_range and shale_write: 0 or one of these.
 * SHALE_SYNC | SHALE_NO_WAL together is refused with SHALE_INVALID (there is no WAL to
 * sync), as is any other bit. */
#define SHALE_SYNC 1u   /**< fsync the WAL before the call returns */
#define SHALE_NO_WAL 2u /**< skip the WAL: faster, lost in a crash until flushed */

/** Store @p val under @p key (both copied).
 *  @param[in] db     an open DB
 *  @param[in] key    the key, 0 to SHALE_MAX_KEY_SIZE bytes (NULL only with @p klen 0:
 *                    the empty key, as an empty non-NULL one)
 *  @param[in] klen   its length
 *  @param[in] val    the value (NULL only with @p vlen 0)
 *  @param[in] vlen   its length, up to SHALE_MAX_VALUE_SIZE
 *  @param[in] flags  0, SHALE_SYNC or SHALE_NO_WAL
 *  @return SHALE_OK; SHALE_INVALID for an oversized key or value, a NULL one with a
 *  length, or bad @p flags (SHALE_SYNC | SHALE_NO_WAL, unknown bits); SHALE_IOERR, SHALE_NOSPACE,
 *  SHALE_READONLY, SHALE_NOMEM */
SHALE_EXPORT int shale_put(shale_db *db, const void *key, size_t klen, const void *val, size_t vlen,
                           unsigned flags);

/** Delete @p key. Deleting an absent key succeeds. Once this returns, no read sees an
 *  older value of the key. @return as shale_put */
SHALE_EXPORT int shale_delete(shale_db *db, const void *key, size_t klen, unsigned flags);

/** Delete every key in [begin, end). A NULL @p begin (with @p blen 0) is unbounded below,
 *  a NULL @p end (with @p elen 0) unbounded above: [NULL, NULL) deletes every key. The open
 *  ends hold through flushes, compactions, reopens and iterators in both directions, as
 *  bounded ranges do. (An open end is stored as a range to the largest possible key,
 *  SHALE_MAX_KEY_SIZE bytes of 0xFF, plus a point delete of that key, in one atomic write:
 *  about 128 KiB in the WAL and, until compacted away, in a table.) The range is in the DB's
 *  order (shale_options.comparator); a DB with a comparator has no known first or last key,
 *  so it takes no open end.
 *  @return as shale_put; SHALE_INVALID when the range is empty or inverted, or a NULL bound
 *  has a length; SHALE_NOTSUP for an open end in a DB with a comparator. */
SHALE_EXPORT int shale_delete_range(shale_db *db, const void *begin, size_t blen, const void *end,
                                    size_t elen, unsigned flags);

/* ---- reads ---- */

/* Damaged tables. A read never returns table bytes that failed their checksum (unless it
 * asked not to verify: shale_read_options.verify_checksums): every data block read from a
 * table file is checksummed as it is read, and a mismatch is
 * SHALE_CORRUPTION naming the file and offset. A block is served without reading the file
 * again only from the block cache, which holds verified copies of compressed blocks; the
 * blocks of an uncompressed table are read from the file (through its mapping, or pread with
 * use_mmap = 0) and verified on every read. So after a table changes on disk (bit rot, a
 * stray write), a read of an affected key gives SHALE_CORRUPTION, or the intact value while
 * a verified copy of its block is in the cache; never the changed value with SHALE_OK. A
 * table truncated under an open DB reads short: SHALE_CORRUPTION, not SIGBUS (Shale handles
 * SIGBUS for its own mappings and passes every other fault on to the handler it found; a
 * program that installs its own SIGBUS handler after Shale mapped a table makes later tables
 * read with pread). A change racing a read, between the copy of a block and the use of its
 * bytes, is not seen by that read: the copy is what was verified. */

/**
 * Read the value of @p key as of @p snap (NULL: the latest).
 * @param[in]  db    an open DB
 * @param[in]  snap  a snapshot of @p db, or NULL
 * @param[in]  key   the key
 * @param[in]  klen  its length
 * @param[out] val   a malloc'd copy of the value, freed with shale_free (NULL if absent)
 * @param[out] vlen  its length (0 if absent)
 * @return SHALE_OK, SHALE_NOTFOUND, SHALE_INVALID, SHALE_CORRUPTION, SHALE_IOERR, SHALE_NOMEM
 */
SHALE_EXPORT int shale_get(shale_db *db, const shale_snapshot *snap, const void *key, size_t klen,
                           void **val, size_t *vlen);

/** Free memory returned by Shale (values, property strings). NULL is ignored. */
SHALE_EXPORT void shale_free(void *p);

/* ---- atomic batches ---- */

/** @param[out] b a new empty batch. @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM */
SHALE_EXPORT int shale_batch_new(shale_batch **b);
/** Add a put to @p b (copied). @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM */
SHALE_EXPORT int shale_batch_put(shale_batch *b, const void *key, size_t klen, const void *val,
                                 size_t vlen);
/** Add a delete to @p b. @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM */
SHALE_EXPORT int shale_batch_delete(shale_batch *b, const void *key, size_t klen);
/** Add a range delete of [begin, end) to @p b; NULL ends are unbounded, as in
 *  shale_delete_range (an open end adds two operations to shale_batch_count). A batch has no
 *  DB yet, so its order is checked by shale_write, in the DB's order.
 *  @return SHALE_OK, SHALE_NOMEM; SHALE_INVALID for a NULL bound with a length, an oversized
 *  bound, or ends that are the same bytes (empty in every order) */
SHALE_EXPORT int shale_batch_delete_range(shale_batch *b, const void *begin, size_t blen,
                                          const void *end, size_t elen);
/** Empty @p b so it can be reused. */
SHALE_EXPORT void shale_batch_clear(shale_batch *b);
/** @return the number of operations in @p b. */
SHALE_EXPORT size_t shale_batch_count(const shale_batch *b);
/** Free @p b (NULL is ignored). */
SHALE_EXPORT void shale_batch_free(shale_batch *b);
/* Operations shale_batch_iterate reports (shale_batch_visitor's op). */
#define SHALE_OP_PUT 1          /**< a put: key and value */
#define SHALE_OP_DELETE 2       /**< a point delete: key; no value (NULL, 0) */
#define SHALE_OP_DELETE_RANGE 3 /**< a range delete of [key, val): val is the end key */

/**
 * What shale_batch_iterate calls for each operation of a batch.
 * @param[in] arg   the caller's argument
 * @param[in] op    SHALE_OP_PUT, SHALE_OP_DELETE or SHALE_OP_DELETE_RANGE
 * @param[in] key   the key (for a range delete: its inclusive begin), borrowed for the call
 * @param[in] klen  its length
 * @param[in] val   the value (for a range delete: the exclusive end key; for a delete:
 *                  NULL), borrowed for the call
 * @param[in] vlen  its length
 * @return 0 to go on; anything else stops the walk, and shale_batch_iterate returns it.
 */
typedef int (*shale_batch_visitor)(void *arg, int op, const void *key, size_t klen, const void *val,
                                   size_t vlen);

/**
 * Call @p fn for each operation of @p b in the order they were added, as LevelDB's
 * WriteBatch::Iterate: how a replica applies a batch from shale_updates_next. A range
 * delete with an open end is stored as two operations (shale_batch_delete_range) and is
 * reported as them: a range delete up to the key of SHALE_MAX_KEY_SIZE bytes of 0xFF, then
 * a delete of that key; an open begin is reported as the empty key. Adding each reported
 * operation to a batch with shale_batch_put, shale_batch_delete and
 * shale_batch_delete_range (bounded ends) rebuilds an equivalent batch.
 * @param[in] b    the batch; not modified
 * @param[in] fn   called once per operation, from the calling thread
 * @param[in] arg  passed to @p fn
 * @return SHALE_OK after every operation; the first non-zero value @p fn returned;
 *         SHALE_INVALID for a NULL @p b or @p fn; SHALE_CORRUPTION if @p b is malformed
 *         (checked before the first call, so @p fn sees all of it or none).
 * Threads: as every use of a batch, one thread at a time per batch.
 */
SHALE_EXPORT int shale_batch_iterate(const shale_batch *b, shale_batch_visitor fn, void *arg);

/** Apply every operation of @p b atomically: after a crash all of it is there or none.
 *  @p b is not modified. @return as shale_put; SHALE_INVALID (nothing applied) when a range
 *  delete's begin is not below its end in the DB's order; SHALE_NOTSUP (nothing applied) for
 *  a range delete with an open end in a DB with a comparator (see shale_delete_range) */
SHALE_EXPORT int shale_write(shale_db *db, shale_batch *b, unsigned flags);

/* ---- snapshots ---- */

/** Pin the current state of @p db. @param[in] db an open DB
 *  @param[out] snap freed with shale_snapshot_free.
 *  @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM */
SHALE_EXPORT int shale_snapshot_new(shale_db *db, const shale_snapshot **snap);
/** Release @p snap (NULL is ignored). */
SHALE_EXPORT void shale_snapshot_free(shale_db *db, const shale_snapshot *snap);

/* ---- iterators ---- */

/** Create an iterator over @p db as of @p snap (NULL: the state when created). The
 *  iterator is unpositioned until a seek. It pins what it reads, so it sees a stable
 *  state while writers, flushes and compactions go on. @return SHALE_OK, SHALE_INVALID,
 *  SHALE_NOMEM */
SHALE_EXPORT int shale_iter_new(shale_db *db, const shale_snapshot *snap, shale_iter **it);

/** What one read sees and how it uses the block cache. Fill with shale_read_options_init(),
 *  then set what you need; fields added later get defaults there, so old callers keep
 *  working: a struct filled by the init call of an older Shale (its size field smaller)
 *  reads fill_cache and verify_checksums as 1. */
typedef struct shale_read_options {
  size_t size;                    /**< sizeof(shale_read_options); set by the init call */
  const shale_snapshot *snapshot; /**< read as of this snapshot; NULL (default): the latest */
  /** Iterator bounds, like RocksDB's iterate_lower_bound / iterate_upper_bound: the
   *  iterator shows only keys in [lower_bound, upper_bound). NULL (default): unbounded on
   *  that side. Both are copied by shale_iter_new_opts, so they need not outlive the call.
   *  A seek below lower_bound lands on it; a seek at or past upper_bound, and a walk that
   *  reaches it, end the iteration without reading any key beyond the bound;
   *  seek_last is the last key below upper_bound. A bound longer than SHALE_MAX_KEY_SIZE
   *  is SHALE_INVALID. A non-NULL bound of length 0 is the empty key. */
  const void *lower_bound;
  size_t lower_bound_len;  /**< length of lower_bound */
  const void *upper_bound; /**< the exclusive upper bound (see lower_bound); NULL: none */
  size_t upper_bound_len;  /**< length of upper_bound */
  /** 1 (default): a data block this read or iterator loads from a table file goes into the
   *  block cache. 0: it is used and dropped, so a long scan does not evict the blocks other
   *  reads keep hot; blocks already cached are still used (and count as hits). Blocks of
   *  uncompressed tables read through their mapping (the default I/O) never enter the
   *  cache, whatever this says. As RocksDB's fill_cache. */
  int fill_cache;
  /** 1 (default): every data block read from a table file is checksummed before use, and
   *  damage is SHALE_CORRUPTION naming the file and offset. 0: the checksum is skipped for
   *  a data block that the read uses once and drops — a block of an uncompressed mapped
   *  table (copied out of the mapping on every read), or a block of any table read with
   *  fill_cache = 0, which does not go into the block cache. Then
   *  a damaged block may be returned as data with SHALE_OK (a changed value, or a key
   *  missed), instead of SHALE_CORRUPTION. What 0 never skips: the checks made when a
   *  table is opened (footer, index, filter and metadata blocks, all checksummed once and
   *  kept in memory); the checksum of a block that goes into the block cache (the cache
   *  serves only verified copies, to every later read, verifying or not); the bounds checks
   *  of block decoding and decompression (damage never crashes or reads out of bounds); and
   *  the SIGBUS guard of mapped reads (a truncated table is still SHALE_CORRUPTION). */
  int verify_checksums;
} shale_read_options;

/** Fill @p ro with defaults (latest state, no bounds, fill_cache 1, verify_checksums 1).
 *  NULL is ignored. */
SHALE_EXPORT void shale_read_options_init(shale_read_options *ro);

/**
 * Read @p n keys at once, all at one sequence from one read view: the answers are a
 * consistent snapshot across the keys (as RocksDB's MultiGet), which a loop of shale_get
 * does not give while writers run. The keys are read in sorted order; duplicates are
 * allowed and answered alike.
 * @param[in]  db     an open DB
 * @param[in]  ro     read options (NULL: the defaults); snapshot, fill_cache and
 *                    verify_checksums are honoured, the iterator bounds are ignored
 * @param[in]  n      the number of keys (0 is allowed and reads nothing)
 * @param[in]  keys   @p n keys, borrowed for the call
 * @param[in]  klens  their lengths
 * @param[out] vals   @p n slots: a malloc'd copy of each value found, freed with
 *                    shale_free; NULL for a key not found or not read
 * @param[out] vlens  @p n slots: each value's length (0 if absent)
 * @param[out] rcs    @p n slots: each key's code: SHALE_OK, SHALE_NOTFOUND, SHALE_INVALID
 *                    (oversized key, NULL key with a length), SHALE_CORRUPTION, SHALE_IOERR,
 *                    SHALE_NOMEM
 * @return SHALE_OK when every key was answered (found or not); else the first error among
 *         the keys (its detail in shale_errmsg; the other keys are still answered), or
 *         SHALE_INVALID when a key was invalid; SHALE_INVALID for a NULL @p db, NULL arrays
 *         with @p n > 0, or ro->size not set by shale_read_options_init (then every slot
 *         is NULL/0/SHALE_INVALID); SHALE_NOMEM.
 * Threads: as shale_get, from any thread at once.
 */
SHALE_EXPORT int shale_multi_get(shale_db *db, const shale_read_options *ro, size_t n,
                                 const void *const *keys, const size_t *klens, void **vals,
                                 size_t *vlens, int *rcs);

/**
 * Read the value of @p key into the caller's buffer: no allocation for the value (a table
 * block read from disk may still be allocated while it is used or cached).
 * @param[in]  db    an open DB
 * @param[in]  ro    read options (NULL: the defaults); snapshot, fill_cache and
 *                   verify_checksums are honoured, the iterator bounds ignored
 * @param[in]  key   the key, borrowed for the call
 * @param[in]  klen  its length (0 to SHALE_MAX_KEY_SIZE)
 * @param[out] buf   receives the first min(@p cap, value length) bytes of the value; may be
 *                   NULL when @p cap is 0 (to learn the length only). On any code but
 *                   SHALE_OK its contents are unspecified (it may have been written)
 * @param[in]  cap   bytes @p buf holds
 * @param[out] vlen  the value's whole length, also when it exceeds @p cap: the value was
 *                   cut to @p cap bytes, and a retry with a buffer of *vlen bytes reads all
 *                   of it (as of the same snapshot, to read the same value). 0 when the key
 *                   is absent or on failure
 * @return SHALE_OK (found, whether or not it fitted: compare *vlen with @p cap),
 *         SHALE_NOTFOUND, SHALE_INVALID (NULL @p db or @p vlen, oversized key, NULL key with a
 * length, NULL @p buf with @p cap > 0, ro->size not set by shale_read_options_init),
 *         SHALE_CORRUPTION, SHALE_IOERR, SHALE_NOMEM
 * Threads: as shale_get, from any thread at once; each thread its own @p buf.
 */
SHALE_EXPORT int shale_get_opts(shale_db *db, const shale_read_options *ro, const void *key,
                                size_t klen, void *buf, size_t cap, size_t *vlen);

/** Create an iterator as shale_iter_new() does, with the snapshot, bounds, fill_cache and
 *  verify_checksums of @p ro (NULL: the defaults). The iterator is used by one thread at a
 *  time.
 *  @param[in]  db  an open DB
 *  @param[in]  ro  read options (copied; NULL for defaults)
 *  @param[out] it  the iterator, freed with shale_iter_free(); NULL on failure
 *  @return SHALE_OK; SHALE_INVALID (NULL db or it, ro->size not set by
 *  shale_read_options_init, a bound too long), SHALE_NOMEM */
SHALE_EXPORT int shale_iter_new_opts(shale_db *db, const shale_read_options *ro, shale_iter **it);
/** Position at the first key. */
SHALE_EXPORT void shale_iter_seek_first(shale_iter *it);
/** Position at the last key. */
SHALE_EXPORT void shale_iter_seek_last(shale_iter *it);
/** Position at the first key >= @p key. */
SHALE_EXPORT void shale_iter_seek(shale_iter *it, const void *key, size_t klen);
/** Position at the last key <= @p key. */
SHALE_EXPORT void shale_iter_seek_for_prev(shale_iter *it, const void *key, size_t klen);
/** Move to the next key. REQUIRES: shale_iter_valid(it). */
SHALE_EXPORT void shale_iter_next(shale_iter *it);
/** Move to the previous key. REQUIRES: shale_iter_valid(it). */
SHALE_EXPORT void shale_iter_prev(shale_iter *it);
/** @return 1 when positioned at an entry, 0 otherwise (end, or an error: see status). */
SHALE_EXPORT int shale_iter_valid(const shale_iter *it);
/** @return the current key, borrowed until the next move. REQUIRES: valid. */
SHALE_EXPORT const void *shale_iter_key(const shale_iter *it, size_t *klen);
/** @return the current value, borrowed until the next move. REQUIRES: valid. */
SHALE_EXPORT const void *shale_iter_value(const shale_iter *it, size_t *vlen);
/** @return SHALE_OK, or the error that made the iterator invalid. */
SHALE_EXPORT int shale_iter_status(const shale_iter *it);
/** Free @p it (NULL is ignored). */
SHALE_EXPORT void shale_iter_free(shale_iter *it);

/* ---- maintenance ---- */

/** Return once everything written before the call is in an SSTable.
 *  @return SHALE_OK, SHALE_IOERR, SHALE_NOSPACE, SHALE_READONLY */
SHALE_EXPORT int shale_flush(shale_db *db);
/**
 * Compact every table overlapping [begin, end) down to the deepest level that holds data,
 * as RocksDB's CompactRange: the memtables are flushed first, then the files in the range
 * are merged level by level and those of the last level rewritten in place, which drops
 * every overwritten version and every tombstone no live snapshot still needs. Returns when
 * done; automatic compactions wait meanwhile, and a second call waits for the first.
 * An empty or inverted range compacts nothing and returns SHALE_OK.
 * @param[in] db     an open DB
 * @param[in] begin  lower bound (inclusive); NULL (with @p blen 0): from the first key
 * @param[in] blen   its length
 * @param[in] end    upper bound (exclusive); NULL (with @p elen 0): to the last key
 * @param[in] elen   its length
 * @return SHALE_OK; SHALE_INVALID for a NULL @p db or a NULL bound with a length;
 *         SHALE_READONLY for a DB opened read_only or read-only after a background error;
 *         SHALE_IOERR, SHALE_NOSPACE (the flush or a table write failed: the DB turns
 *         read-only), SHALE_CORRUPTION (a table read failed its checksum), SHALE_NOMEM.
 *         The detail is in shale_errmsg(db).
 * Threads: safe beside readers and writers, which go on while it runs.
 */
SHALE_EXPORT int shale_compact_range(shale_db *db, const void *begin, size_t blen, const void *end,
                                     size_t elen);
/**
 * Estimate the bytes on disk holding each key range [begins[i], ends[i]), over the live
 * tables, as LevelDB's GetApproximateSizes: a table wholly inside a range counts its file
 * size; one a bound falls in counts the part its index places in the range, to one data
 * block. Data still only in memtables and WALs counts nothing (shale_flush first to
 * include it). Reads only table indexes, never a data block.
 * @param[in]  db      an open DB
 * @param[in]  n       the number of ranges (0 is allowed)
 * @param[in]  begins  @p n lower bounds (inclusive); a NULL entry: from the first key
 * @param[in]  blens   their lengths
 * @param[in]  ends    @p n upper bounds (exclusive); a NULL entry: to the last key
 * @param[in]  elens   their lengths
 * @param[out] sizes   @p n byte counts (all 0 on failure)
 * @return SHALE_OK; SHALE_INVALID for a NULL @p db, NULL arrays with @p n > 0, a bound
 *         longer than SHALE_MAX_KEY_SIZE, or a NULL bound with a length; SHALE_IOERR,
 *         SHALE_CORRUPTION when a table's index cannot be read; SHALE_NOMEM.
 * Threads: any number at once, beside writers, flushes and compactions (it reads one
 * version of the tables).
 */
SHALE_EXPORT int shale_approximate_sizes(shale_db *db, size_t n, const void *const *begins,
                                         const size_t *blens, const void *const *ends,
                                         const size_t *elens, uint64_t *sizes);

/**
 * Read a property of @p db. Names: "shale.stats" (human-readable summary),
 * "shale.sstables" (the live tables per level: number, size, entries, tombstones, sequence
 * range; as structs: shale_live_files), "shale.num-files-at-levelN",
 * "shale.deletes-persisted-before" (seconds since the epoch, with microseconds: every
 * delete issued before it is physically gone),
 * "shale.deletes-persisted-before-us" (the same in microseconds), "shale.dead-spans"
 * (key ranges iterators found empty of live keys and now cross in one seek),
 * "shale.dead-span-jumps" (times an iterator did so), "shale.hidden-keys-stepped" (deleted
 * keys iterators stepped over one by one, outside any span), "shale.dead-spans-restored"
 * (spans the last clean close kept in the DB's SPANS file and this open took back: 0 after
 * a crash or any change since that close), "shale.dead-span-warmup" (1
 * while the walk after open that rebuilds spans over the deleted runs the DB holds still
 * runs, in a thread of its own; 0 once it is done), "shale.sequence",
 * "shale.num-immutable-memtables", "shale.memtable-bytes" (the mutable memtable's),
 * "shale.size-all-mem-tables" (the mutable and the sealed memtables' bytes),
 * "shale.block-cache-usage" (bytes of the blocks the block cache holds),
 * "shale.approximate-memory-usage" (the two together, as LevelDB's property of that name),
 * "shale.block-cache-hits", "shale.block-cache-misses" (data blocks found in / read into
 * the block cache).
 * @param[in]  db    an open DB
 * @param[in]  name  one of the names above
 * @param[out] value a malloc'd string freed with shale_free
 * @return SHALE_OK, SHALE_NOTFOUND for an unknown name, SHALE_INVALID, SHALE_NOMEM
 */
SHALE_EXPORT int shale_property(shale_db *db, const char *name, char **value);

/* ---- checkpoints ---- */

/* Flags of shale_checkpoint: 0 or this. */
/** flush the memtables first (as shale_flush), so the checkpoint holds tables and only the
 *  WAL data written since the flush began: the copy is then about the size of what was
 *  written meanwhile, not of up to a few memtables, and every write made before the call
 *  is in it, SHALE_NO_WAL writes included. As RocksDB's CreateCheckpoint with
 *  log_size_for_flush 0. */
#define SHALE_CHECKPOINT_FLUSH 1u

/**
 * Make an openable copy of @p db in the new directory @p dir, holding exactly the state at
 * one sequence: every write published before the call's pin point, none after (as RocksDB's
 * CreateCheckpoint). Tables are hard-linked (copied when @p dir is on another file system or
 * the link is refused); a MANIFEST and CURRENT are written fresh for exactly the live tables;
 * the WALs not yet in tables are copied record by record up to that sequence. The copy is
 * built in "<dir>.tmp", synced, then renamed to @p dir, so @p dir either does not appear or
 * is complete: a failure removes what was made, and a crash leaves only "<dir>.tmp", which
 * the next checkpoint to the same @p dir removes when it holds nothing but Shale's files.
 * Open the copy with shale_open like any DB; it shares no state with @p db (hard links are
 * safe: table files are never written after they are made), and later flushes and
 * compactions of @p db do not change it.
 *
 * Cost: a link per table, the MANIFEST, and the bytes of the WALs not yet in tables (at most
 * write_buffer_size × (max_immutable_memtables + 1)); milliseconds on one file system
 * whatever the DB size. Flushes and compactions go on meanwhile (the tables and WALs being
 * copied are kept until it is done); writers never wait for it.
 *
 * Writes made with SHALE_NO_WAL are in the copy only when flushed to a table before the pin:
 * pass SHALE_CHECKPOINT_FLUSH to include those made before the call.
 * @param[in]  db     an open DB (a read_only handle works, without SHALE_CHECKPOINT_FLUSH;
 *                    it copies the files by name, so beside a writer that deleted one since
 *                    the handle's open it fails, SHALE_IOERR: reopen the handle and retry)
 * @param[in]  dir    the directory to create: must not exist, or be an empty directory; its
 *                    parent must exist
 * @param[in]  flags  0 or SHALE_CHECKPOINT_FLUSH
 * @param[out] seq    NULL, or the checkpoint's sequence: opening @p dir shows what a read of
 *                    @p db at that sequence shows, and its "shale.sequence" is that number
 * @param[out] snap   NULL, or a snapshot of @p db at exactly that sequence, taken at the pin
 *                    (freed with shale_snapshot_free; shale_close refuses while it lives):
 *                    compare the copy with @p db, or keep serving the state it holds. NULL
 *                    on failure
 * @return SHALE_OK; SHALE_INVALID for a NULL @p db, a NULL or empty @p dir, or unknown @p flags;
 *         SHALE_EXISTS when @p dir exists and is not an empty directory, or "<dir>.tmp"
 *         holds files that are not Shale's (nothing is changed); SHALE_IOERR (no such parent,
 *         no permission, a failed link, copy or sync), SHALE_NOSPACE, SHALE_CORRUPTION (a
 *         WAL being copied is damaged), SHALE_NOMEM; SHALE_READONLY for
 *         SHALE_CHECKPOINT_FLUSH on a read-only handle. On failure @p dir and "<dir>.tmp"
 *         are left as they were found (or removed, when this call made them) and @p db is
 *         unchanged. The detail is in shale_errmsg(db).
 * Threads: safe beside readers, writers, flushes, compactions and other checkpoints.
 */
SHALE_EXPORT int shale_checkpoint(shale_db *db, const char *dir, unsigned flags, uint64_t *seq,
                                  const shale_snapshot **snap);

/* ---- WAL tail ---- */

typedef struct shale_updates shale_updates; /**< a walk of the WAL (shale_updates_since) */

/**
 * Start a walk over every write batch with sequences from @p seq on, read from the WALs the
 * DB still holds, as RocksDB's GetUpdatesSince: how a follower made from
 * shale_checkpoint(db, dir, 0, &s, NULL) catches up, from s + 1. The walk ends at the last
 * sequence published when this call returns; a later write is in the next walk.
 *
 * A batch here is one WAL record: the batches of one write group, which the writer may have
 * merged from several callers' shale_put, shale_delete, shale_delete_range and shale_write
 * calls. Its operations have consecutive sequences from its first; apply it whole (one
 * shale_write) to keep each caller's batch atomic on the follower. A batch whose sequences
 * straddle @p seq (first < @p seq <= last) is returned whole, first sequence included, so
 * the caller can skip the operations below @p seq it already has; applying all of it is
 * also right for a follower at @p seq - 1, since every operation of the batch is applied
 * again in order. A checkpoint's sequence never splits a batch: from s + 1 none straddles.
 *
 * Writes made with SHALE_NO_WAL are in no WAL, so they are never in the walk: their
 * sequences are gaps. A follower of a DB written with SHALE_NO_WAL misses them. So are
 * tables added by shale_ingest (its sequence is a gap too, as in RocksDB's
 * GetUpdatesSince): a follower must be sent the same files and ingest them itself, at the
 * same point of the stream.
 *
 * Which WALs are held: without retention (shale_options.wal_retention_seconds and
 * wal_retention_bytes 0, the default) a WAL is deleted once a flush has put all of it in a
 * table, so only what is not yet flushed can be read; retention keeps flushed WALs longer.
 * While a walk lives no WAL is deleted (those that become obsolete meanwhile go when it is
 * freed), and shale_close refuses with SHALE_BUSY, as for an iterator.
 * @param[in]  db   an open DB (a read_only handle works, up to its own last sequence; it
 *                  reads the WALs by name, so beside a writer that deleted one since the
 *                  handle's open the walk can fail: reopen the handle and retry)
 * @param[in]  seq  the first sequence wanted; 0 means 1 (sequences start at 1)
 * @param[out] it   the walk, freed with shale_updates_free; NULL on failure
 * @return SHALE_OK (also when nothing is that new: the walk is then empty);
 *         SHALE_NOTFOUND when @p seq is older than the oldest retained WAL: some batch from
 *         @p seq on (or a SHALE_NO_WAL write) is in no WAL held, and the follower must
 *         start from a new checkpoint (shale_errmsg stays "", as for every SHALE_NOTFOUND;
 *         the DB's LOG names the oldest sequence that can be read). SHALE_INVALID for a NULL
 * argument; SHALE_IOERR, SHALE_CORRUPTION (a damaged WAL), SHALE_NOMEM. The detail is in
 * shale_errmsg(db). Threads: safe beside readers, writers, flushes, compactions and checkpoints.
 */
SHALE_EXPORT int shale_updates_since(shale_db *db, uint64_t seq, shale_updates **it);

/**
 * The next batch of the walk.
 * @param[in]  it         a walk from shale_updates_since
 * @param[out] first_seq  the sequence of the batch's first operation (the i-th operation
 *                        that shale_batch_iterate reports has first_seq + i)
 * @param[out] batch      the batch, owned by @p it: valid until the next call on @p it or
 *                        shale_updates_free; read it with shale_batch_iterate or pass it to
 *                        shale_write. NULL at the end or on failure
 * @return SHALE_OK with a batch; SHALE_NOTFOUND at the end of the walk; SHALE_CORRUPTION (a
 *         damaged WAL), SHALE_IOERR, SHALE_NOMEM, after which every call returns the same.
 *         The detail is in shale_errmsg of the walk's DB.
 * Threads: one thread at a time per walk; walks of one DB may run at once.
 */
SHALE_EXPORT int shale_updates_next(shale_updates *it, uint64_t *first_seq,
                                    const shale_batch **batch);

/** Free @p it (NULL is ignored); WALs whose retention ran out meanwhile are deleted. */
SHALE_EXPORT void shale_updates_free(shale_updates *it);

/* ---- external tables ---- */

typedef struct shale_sst_writer shale_sst_writer; /**< builds one table to ingest */

/** What a finished external table holds (shale_sst_writer_finish). */
typedef struct shale_sst_info {
  uint64_t file_size;     /**< bytes of the file */
  uint64_t puts;          /**< shale_sst_writer_put calls */
  uint64_t deletes;       /**< shale_sst_writer_delete calls */
  uint64_t range_deletes; /**< range tombstones stored: the pieces the given ones were cut into
                               where they overlap (as in any table), never more than 2n - 1
                               for n calls */
} shale_sst_info;

/**
 * Start an external table at @p path (created, or truncated if it exists), to be added to a
 * live DB with shale_ingest: the same SSTable format as the DB's own tables (format version
 * 5, doc/format-sstable.md), with every entry at sequence 0 until ingest gives the whole
 * file one sequence. Build it with the options of the DB it is meant for: block_size,
 * bloom_bits_per_key, compression, compression_level, compression_max_dict_bytes and
 * compression_zstd_max_train_bytes are used, the others ignored (any DB can ingest it; a
 * table built with other options just reads as it was built).
 * @param[in]  path  the file to write
 * @param[in]  o     options (shale_options_init first), or NULL for the defaults
 * @param[out] w     the writer; NULL on failure
 * @return SHALE_OK; SHALE_INVALID (NULL @p path or @p w, options out of range);
 *         SHALE_IOERR, SHALE_NOSPACE (cannot create @p path), SHALE_NOMEM. The detail is in
 *         shale_errmsg(NULL).
 * Threads: a writer is used by one thread at a time; writers are independent of each other
 * and of every DB.
 */
SHALE_EXPORT int shale_sst_writer_open(const char *path, const shale_options *o,
                                       shale_sst_writer **w);

/**
 * Add a key and its value. Keys of puts and deletes must be strictly increasing (bytewise,
 * as the DB orders them): a key equal to or below the previous one is SHALE_INVALID, and
 * then the writer is dead: its file is already removed, every later call returns
 * SHALE_INVALID, and the caller still frees it with shale_sst_writer_abandon (or finish).
 * @param[in] w     a writer
 * @param[in] key   0 to SHALE_MAX_KEY_SIZE bytes (NULL only with @p klen 0)
 * @param[in] klen  its length
 * @param[in] val   the value, copied (NULL only with @p vlen 0); at most SHALE_MAX_VALUE_SIZE
 *                  bytes
 * @param[in] vlen  its length
 * @return SHALE_OK; SHALE_INVALID (NULL argument with a length, key or value too long: the
 *         writer stays usable; a key out of order: the writer is dead); SHALE_IOERR, SHALE_NOSPACE,
 *         SHALE_NOMEM (the writer is dead). The detail is in shale_errmsg(NULL).
 */
SHALE_EXPORT int shale_sst_writer_put(shale_sst_writer *w, const void *key, size_t klen,
                                      const void *val, size_t vlen);

/**
 * Add a point delete of @p key: as shale_sst_writer_put without a value (same order rule,
 * same codes). Once ingested it hides the key's older versions in the DB.
 * @param[in] w     a writer
 * @param[in] key   0 to SHALE_MAX_KEY_SIZE bytes (NULL only with @p klen 0)
 * @param[in] klen  its length
 * @return as shale_sst_writer_put
 */
SHALE_EXPORT int shale_sst_writer_delete(shale_sst_writer *w, const void *key, size_t klen);

/**
 * Add a delete of every key in [@p begin, @p end). Range deletes may come in any order,
 * before, between or after the point entries, and may overlap one another: they are kept
 * until finish. Once ingested they delete what the DB held before the ingest in the range;
 * they never hide the table's own puts (all of one table has one sequence).
 * @param[in] w      a writer
 * @param[in] begin  the first key deleted (NULL only with @p blen 0)
 * @param[in] blen   its length
 * @param[in] end    the key after the last deleted (exclusive; NULL only with @p elen 0)
 * @param[in] elen   its length
 * @return SHALE_OK; SHALE_INVALID (NULL with a length, a bound longer than
 *         SHALE_MAX_KEY_SIZE, @p begin not below @p end: the writer stays usable, nothing is
 *         added); SHALE_NOMEM (the writer is dead). The detail is in shale_errmsg(NULL).
 */
SHALE_EXPORT int shale_sst_writer_delete_range(shale_sst_writer *w, const void *begin, size_t blen,
                                               const void *end, size_t elen);

/**
 * Write the rest of the table, fsync it and free @p w (in every case). A table with no entry
 * at all is refused: there would be nothing to ingest.
 * @param[in]  w     a writer (NULL: SHALE_INVALID)
 * @param[out] info  NULL, or what the table holds (zeroed on failure)
 * @return SHALE_OK; SHALE_INVALID (no entry was added, or the writer was dead: the file is
 *         removed); SHALE_IOERR, SHALE_NOSPACE, SHALE_NOMEM (the file is removed). The
 *         detail is in shale_errmsg(NULL).
 */
SHALE_EXPORT int shale_sst_writer_finish(shale_sst_writer *w, shale_sst_info *info);

/** Stop, remove the file and free @p w. NULL is ignored. */
SHALE_EXPORT void shale_sst_writer_abandon(shale_sst_writer *w);

/** shale_ingest flag: link the files into the DB and remove them from where they were once
 *  ingested. Without it (the default) they are copied and left as they were. A linked file is
 *  the same file: ingest writes its sequence into it (8 bytes and the footer checksum) before
 *  the DB lists it; so a file that has another name too (st_nlink > 1: say, one a crash left
 *  behind as a second name of a live table) is copied instead, as is one the file system
 *  refuses to link. A file in the DB's own directory is refused. */
#define SHALE_INGEST_MOVE 1u

/**
 * Add external tables (shale_sst_writer_finish) to @p db, all at once: one MANIFEST edit
 * adds them all, or, on any failure, none (also across a crash: after a reopen the DB holds
 * every key of the files or none). Every entry of the files gets one new sequence, newer
 * than every write before the call: they override what the DB held for their keys, a
 * snapshot or iterator made before the call never sees them, and a write after the call
 * overrides them. Reads (shale_get, shale_multi_get, iterators both ways) see them once the
 * call returns.
 *
 * Placement (as RocksDB's IngestExternalFile): each file goes to the deepest level at which
 * neither it nor any level above overlaps the file's keys and range deletes, or to L0 when
 * L0 overlaps it. When the memtable holds a key in a file's range it is flushed first, and
 * the call waits for a running compaction to end (and pauses new ones) while it places the
 * files. Writers wait for the call; readers do not.
 *
 * Cost: per file, a link (or a copy of its bytes) and two fsyncs, plus one MANIFEST append;
 * plus a flush when the memtable overlaps. The files are read once whole to check them.
 * @param[in] db     an open, writable DB
 * @param[in] files  paths of @p n external tables; their key ranges (range deletes included)
 *                   must not overlap one another
 * @param[in] n      number of files, at least 1
 * @param[in] flags  0 (copy) or SHALE_INGEST_MOVE
 * @return SHALE_OK; SHALE_INVALID (NULL argument, @p n 0, unknown @p flags, files whose
 *         ranges overlap, the same file twice, a table that is not external or whose keys
 *         are not strictly increasing, a file in the DB's directory with
 *         SHALE_INGEST_MOVE); SHALE_CORRUPTION (a damaged or truncated file, or
 *         not an SSTable); SHALE_IOERR, SHALE_NOSPACE, SHALE_NOMEM; SHALE_READONLY (read_only
 *         handle, or an earlier background error). On failure the DB is unchanged and the
 *         files stay where they were (a linked file may carry the sequence it was about to
 *         get; ingesting it again sets a new one). The detail is in shale_errmsg(db).
 * Threads: safe beside readers, writers, flushes, compactions and checkpoints.
 */
SHALE_EXPORT int shale_ingest(shale_db *db, const char *const *files, size_t n, unsigned flags);

/* ---- table properties ---- */

/** One live table as the MANIFEST records it (TiKV reads region sizes from the same
 *  figures): see shale_live_files. Fields may be added at the end in a later version, and
 *  then only with a new function that returns the larger struct. */
typedef struct shale_live_file {
  uint64_t number;                     /**< file number: the table is "<db>/NNNNNN.sst" */
  int level;                           /**< 0 to 6 */
  const void *smallest;                /**< the smallest user key it holds (range tombstone starts
                                            included); borrowed from the array */
  size_t smallest_len;                 /**< its length */
  const void *largest;                 /**< the largest user key it holds (range tombstone ends
                                            included, so an open-ended range delete makes it
                                            SHALE_MAX_KEY_SIZE bytes of 0xFF) */
  size_t largest_len;                  /**< its length */
  uint64_t file_size;                  /**< bytes on disk */
  uint64_t raw_bytes;                  /**< key and value bytes before compression */
  uint64_t entries;                    /**< point entries: puts and point tombstones */
  uint64_t point_tombstones;           /**< point tombstones among them */
  uint64_t range_tombstones;           /**< range tombstones (stored beside the entries) */
  uint64_t min_seq, max_seq;           /**< sequence range of all its entries (a value compacted to
                                            the last level may have sequence 0) */
  uint64_t min_tomb_seq, max_tomb_seq; /**< sequence range of its tombstones; 0 when none */
  /** wall-clock microseconds since the epoch of its oldest and newest tombstone (when the
   *  delete was written); 0 when it holds none */
  uint64_t oldest_tomb_us, newest_tomb_us;
} shale_live_file;

/**
 * List the live tables of @p db, as of one version: L0 first (newest first), then each
 * deeper level in key order. Data still in memtables is in no table (shale_flush first to
 * include it). Reads only the in-memory file metadata, never a file.
 * @param[in]  db     an open DB
 * @param[out] files  a malloc'd array of *n entries (NULL when *n is 0) whose keys live in
 *                    the same allocation; free it with shale_live_files_free
 * @param[out] n      the number of tables
 * @return SHALE_OK; SHALE_INVALID for a NULL argument (then *files is NULL, *n 0);
 *         SHALE_NOMEM.
 * Threads: any, beside writers, flushes and compactions.
 */
SHALE_EXPORT int shale_live_files(shale_db *db, shale_live_file **files, size_t *n);

/** Free an array from shale_live_files (NULL is ignored). */
SHALE_EXPORT void shale_live_files_free(shale_live_file *files);

/* ---- statistics ---- */

/** Counters (RocksDB's tickers) a program reads as numbers: each counts from the open of the
 *  handle, only grows, and is read without parsing text. New tickers are added before
 *  SHALE_TICKER_COUNT, so a number keeps its meaning across versions. */
enum shale_ticker_id {
  /** operations written: one per put, delete and range delete, alone or in a batch (the
   *  sequence numbers handed out) */
  SHALE_TICKER_KEYS_WRITTEN,
  SHALE_TICKER_PUTS,          /**< shale_put calls */
  SHALE_TICKER_DELETES,       /**< shale_delete calls */
  SHALE_TICKER_RANGE_DELETES, /**< shale_delete_range calls */
  SHALE_TICKER_BATCHES,       /**< shale_write calls */
  /** bytes of the operations written: keys, values and a few bytes of framing each */
  SHALE_TICKER_BYTES_WRITTEN,
  SHALE_TICKER_WRITE_GROUPS, /**< WAL records: each holds the writes of one or more callers */
  SHALE_TICKER_WAL_BYTES,    /**< bytes appended to WALs */
  SHALE_TICKER_WAL_SYNCS,    /**< WAL syncs (SHALE_SYNC writes; one per group) */
  SHALE_TICKER_KEYS_READ,    /**< point lookups: shale_get, shale_get_opts, multi_get keys */
  SHALE_TICKER_KEYS_FOUND,   /**< those that found a value */
  SHALE_TICKER_BYTES_READ,   /**< value bytes those found (whole lengths) */
  /** table lookups a bloom filter answered without reading a block */
  SHALE_TICKER_BLOOM_USEFUL,
  /** data blocks found in the block cache. Index and filter blocks are not counted: they are
   *  read when a table is opened and stay in memory while it is open, outside the cache */
  SHALE_TICKER_BLOCK_CACHE_HITS,
  SHALE_TICKER_BLOCK_CACHE_MISSES, /**< data block lookups the block cache missed */
  SHALE_TICKER_BLOCK_CACHE_ADDS,   /**< data blocks inserted into the block cache */
  SHALE_TICKER_STALLS,           /**< writes slowed or stopped by too many L0 files or memtables */
  SHALE_TICKER_STALL_MICROS,     /**< microseconds writers spent in those stalls */
  SHALE_TICKER_MEMTABLES_SEALED, /**< memtables sealed to be flushed */
  SHALE_TICKER_FLUSHES,          /**< memtables flushed to tables */
  SHALE_TICKER_FLUSH_BYTES,      /**< bytes of the tables flushes wrote */
  SHALE_TICKER_COMPACTIONS,      /**< compactions run (trivial moves included) */
  SHALE_TICKER_COMPACTION_BYTES_READ,    /**< table bytes compactions read */
  SHALE_TICKER_COMPACTION_BYTES_WRITTEN, /**< table bytes compactions wrote */
  /** key ranges iterators crossed in one seek because they hold no live key (dead spans) */
  SHALE_TICKER_DEAD_SPAN_JUMPS,
  SHALE_TICKER_HIDDEN_KEYS_STEPPED, /**< deleted keys iterators stepped over one by one */
  SHALE_TICKER_KEYS_DELETED,        /**< point deletes written, by shale_delete or in batches */
  SHALE_TICKER_RANGES_DELETED, /**< range deletes written, by shale_delete_range or in batches */
  /** zstd dictionaries trained by flushes and compactions (compression_max_dict_bytes): the
   *  rest of their tables reused one of them */
  SHALE_TICKER_ZSTD_DICT_TRAININGS,
  SHALE_TICKER_COUNT /**< the number of tickers; not a ticker */
};

/** @return the name of @p t, e.g. "shale.number.keys.written" (RocksDB's names with the
 *  prefix "shale."; static storage), or NULL for a number that is not a ticker.
 *  Threads: any. */
SHALE_EXPORT const char *shale_ticker_name(enum shale_ticker_id t);

/** @return the value of ticker @p t of @p db; 0 for a NULL @p db or a number that is not a
 *  ticker. Costs a few relaxed loads (and, for the block-cache and read tickers, a walk of
 *  the cache shards or of the reading threads under their short locks): cheap, but not for
 *  a per-operation loop. Threads: any, beside every other call; tickers read one by one
 *  are not one consistent snapshot of each other. */
SHALE_EXPORT uint64_t shale_ticker(shale_db *db, enum shale_ticker_id t);

/** Read every ticker at once: out[i] = shale_ticker(db, i) for i < min(@p n,
 *  SHALE_TICKER_COUNT); the rest of @p out (for a caller built against a newer Shale) is 0.
 *  @param[in]  db   an open DB
 *  @param[out] out  @p n slots
 *  @param[in]  n    their number (SHALE_TICKER_COUNT reads all)
 *  @return SHALE_OK; SHALE_INVALID for a NULL @p db, or a NULL @p out with @p n > 0.
 *  Threads: any, as shale_ticker. */
SHALE_EXPORT int shale_statistics(shale_db *db, uint64_t *out, size_t n);

/** Latency histograms (RocksDB's histograms), in microseconds, from the open of the handle.
 *  New ones are added before SHALE_HIST_COUNT. */
enum shale_histogram_id {
  /** shale_get, shale_get_opts and shale_multi_get calls, one value per call
   *  (shale_options.time_operations only) */
  SHALE_HIST_GET,
  /** shale_put, shale_delete, shale_delete_range and shale_write calls, the wait for the
   *  group's WAL write and memtable insert included (shale_options.time_operations only) */
  SHALE_HIST_WRITE,
  /** iterator positionings: seek, seek_for_prev, seek_first, seek_last
   *  (shale_options.time_operations only) */
  SHALE_HIST_SEEK,
  SHALE_HIST_WAL_SYNC,   /**< each WAL sync a SHALE_SYNC write group waits for */
  SHALE_HIST_FLUSH,      /**< each memtable flush, from picking it to installing its table */
  SHALE_HIST_COMPACTION, /**< each compaction, from picking it to installing its outputs */
  SHALE_HIST_COUNT       /**< the number of histograms; not a histogram */
};

/** What shale_histogram reads off one histogram. Times in microseconds. */
typedef struct shale_histogram_data {
  uint64_t count;                /**< values recorded */
  double sum;                    /**< their total */
  double min, max, average;      /**< 0 when count is 0 */
  double median, p95, p99, p999; /**< percentiles, interpolated in log-scale buckets:
                                      within about 12% of the exact value */
} shale_histogram_data;

/** @return the name of @p h, e.g. "shale.db.get.micros" (RocksDB's names with the prefix
 *  "shale."; static storage), or NULL for a number that is not a histogram. Threads: any. */
SHALE_EXPORT const char *shale_histogram_name(enum shale_histogram_id h);

/** Read histogram @p h of @p db.
 *  @param[in]  db   an open DB
 *  @param[in]  h    which one
 *  @param[out] out  its summary; all 0 when nothing was recorded
 *  @return SHALE_OK; SHALE_INVALID for a NULL @p db or @p out, or an @p h that is not a
 *          histogram (@p out is then zeroed when not NULL).
 *  Threads: any, beside every other call; values recorded during the read may be counted
 *  in some fields and not yet in others. */
SHALE_EXPORT int shale_histogram(shale_db *db, enum shale_histogram_id h,
                                 shale_histogram_data *out);

/* ---- backup ---- */

/* Flags of shale_backup: 0 or this. */
/** flush the memtables first (as shale_checkpoint's SHALE_CHECKPOINT_FLUSH): the backup is
 *  then tables and little WAL. */
#define SHALE_BACKUP_FLUSH 1u
/* Flags of shale_restore: 0 or this. */
/** restore over a directory that holds a Shale DB: that DB is destroyed (shale_destroy)
 *  once every file of the backup has been verified, never before. */
#define SHALE_RESTORE_OVERWRITE 1u

/** One backup, as shale_backup made it and shale_backup_list reads it back. */
typedef struct shale_backup_info {
  uint32_t id;           /**< 1, 2, 3...: each backup in a backup directory gets the next */
  uint64_t sequence;     /**< the DB's sequence it holds: a restore reads as the DB did then */
  uint64_t time_us;      /**< wall-clock microseconds since the epoch when it was taken */
  uint64_t size;         /**< bytes of all its files, shared tables included */
  uint32_t files;        /**< its files: tables, MANIFEST, CURRENT, WALs */
  uint32_t files_copied; /**< shale_backup only: files it wrote (tables not yet shared, and the
                              MANIFEST, CURRENT and WALs); 0 from shale_backup_list */
  uint64_t bytes_copied; /**< shale_backup only: the bytes of those files */
} shale_backup_info;

/**
 * Back up @p db into @p backup_dir, incrementally: each call adds one numbered backup, and a
 * table already in @p backup_dir (the same file number, size and checksum, from an earlier
 * backup) is shared, not copied again, so a backup after a few flushes copies little more
 * than the new tables. The backup holds one consistent state: it is built on
 * shale_checkpoint, taken inside @p backup_dir (tmp/), then its files are copied into the
 * backup layout and listed with their sizes and XXH3-64 checksums in the backup's manifest,
 * written last: a backup exists once its manifest does, so a failed or interrupted call adds
 * none (the next call or shale_backup_purge removes what it left). Writes made with
 * SHALE_NO_WAL are in a backup only once flushed (SHALE_BACKUP_FLUSH). Tables are copied, never
 * hard-linked, so the backup shares no inode with the DB. doc/format-backup.md gives the
 * layout and the manifest byte by byte.
 * @param[in]  db          an open DB (read_only too: the backup then holds what its open
 *                         replayed, and SHALE_BACKUP_FLUSH is refused as shale_flush is;
 *                         beside a writer that deleted a file since the handle's open it
 *                         fails, SHALE_IOERR: reopen the handle and retry)
 * @param[in]  backup_dir  a directory, created if missing; holds nothing but backups
 * @param[in]  flags       0 or SHALE_BACKUP_FLUSH
 * @param[out] info        NULL, or the new backup's figures (files_copied, bytes_copied:
 *                         what this call wrote)
 * @return SHALE_OK; SHALE_INVALID for a NULL argument or bad flags; SHALE_BUSY when another
 *         backup or purge holds @p backup_dir's LOCK, or a restore or list is reading it;
 *         SHALE_READONLY for SHALE_BACKUP_FLUSH on a read_only handle; SHALE_IOERR, SHALE_NOSPACE,
 * SHALE_NOMEM; SHALE_CORRUPTION when a table changed while it was copied (the backup is then not
 * made). The detail is in shale_errmsg(db). Threads: safe beside readers, writers, flushes,
 * compactions and checkpoints; writes go on while it copies.
 */
SHALE_EXPORT int shale_backup(shale_db *db, const char *backup_dir, unsigned flags,
                              shale_backup_info *info);

/**
 * Restore backup @p id of @p backup_dir into the directory @p db_dir. Every file of the
 * backup is read and checked against the size and checksum its manifest lists (and the
 * manifest against its own checksum) before anything is written; the copy is then built in
 * "<db_dir>.restore.tmp" (each file checked again as it is copied) and renamed into place,
 * so a failure leaves @p db_dir as it was. Open the result with shale_open.
 * @param[in] backup_dir  the backup directory
 * @param[in] id          the backup's id; 0: the latest
 * @param[in] db_dir      absent, an empty directory, or (with SHALE_RESTORE_OVERWRITE) a
 *                        directory holding a Shale DB that is not open
 * @param[in] flags       0 or SHALE_RESTORE_OVERWRITE
 * @return SHALE_OK; SHALE_INVALID for a NULL or empty path or bad flags; SHALE_NOTFOUND when
 *         @p backup_dir holds no such backup; SHALE_CORRUPTION when a file of the backup is
 *         missing, of the wrong size or fails its checksum, or the manifest is damaged (the
 *         detail names the file; nothing was written); SHALE_EXISTS when @p db_dir holds a
 *         DB and the flag is not given, or holds other files; SHALE_BUSY when the DB there
 *         is open; SHALE_IOERR, SHALE_NOSPACE, SHALE_NOMEM. The detail is in
 *         shale_errmsg(NULL).
 * Threads: any; the detail is the calling thread's. Several restores and lists may read
 *         one @p backup_dir at once; they wait for a shale_backup or shale_backup_purge
 *         running there (the backup directory's LOCK, shared), and make those fail with
 *         SHALE_BUSY meanwhile.
 */
SHALE_EXPORT int shale_restore(const char *backup_dir, uint32_t id, const char *db_dir,
                               unsigned flags);

/**
 * List the backups of @p backup_dir, oldest first.
 * @param[in]  backup_dir  the backup directory
 * @param[out] infos       a malloc'd array of *n entries (NULL when none); free it with
 *                         shale_free
 * @param[out] n           the number of backups
 * @return SHALE_OK (also for a directory without backups); SHALE_NOTFOUND when @p backup_dir
 *         does not exist; SHALE_INVALID for a NULL argument; SHALE_CORRUPTION when a backup's
 *         manifest is damaged (the detail names it); SHALE_IOERR, SHALE_NOMEM. The detail
 *         is in shale_errmsg(NULL).
 * Threads: any.
 */
SHALE_EXPORT int shale_backup_list(const char *backup_dir, shale_backup_info **infos, size_t *n);

/**
 * Delete all but the newest @p keep backups of @p backup_dir, and every shared table no
 * remaining backup lists, and what failed backups left behind.
 * @param[in] backup_dir  the backup directory
 * @param[in] keep        how many backups to keep (0: none)
 * @return SHALE_OK; SHALE_NOTFOUND when @p backup_dir does not exist; SHALE_INVALID for a
 *         NULL path; SHALE_BUSY when a backup holds the LOCK; SHALE_CORRUPTION when a kept
 *         backup's manifest is damaged (then nothing is deleted: what it lists is unknown);
 *         SHALE_IOERR. The detail is in shale_errmsg(NULL).
 * Threads: any.
 */
SHALE_EXPORT int shale_backup_purge(const char *backup_dir, size_t keep);

/* ---- event listeners ---- */

/** A flush, as on_flush_begin and on_flush_end report it. */
typedef struct shale_flush_info {
  uint64_t file_number;    /**< the table it writes ("<db>/NNNNNN.sst") */
  uint64_t memtable_bytes; /**< bytes of the memtable flushed */
  uint64_t entries;        /**< end: point entries written (puts and point tombstones) */
  uint64_t tombstones;     /**< end: tombstones written (point and range) */
  uint64_t file_size;      /**< end: bytes of the table; 0 when nothing needed writing */
  int status;              /**< end: SHALE_OK, or why the flush failed */
} shale_flush_info;

/** A compaction, as on_compaction_begin and on_compaction_end report it. */
typedef struct shale_compaction_info {
  int input_level;             /**< the level its first inputs are at */
  int output_level;            /**< the level it writes */
  int input_files;             /**< tables read at input_level */
  int output_level_files;      /**< tables read at output_level */
  int trivial_move;            /**< 1: one table moved down a level, not rewritten */
  int output_files;            /**< end: tables written */
  uint64_t bytes_read;         /**< end: bytes of the inputs (0 for a trivial move) */
  uint64_t bytes_written;      /**< end: bytes of the outputs */
  uint64_t entries_dropped;    /**< end: entries no reader could see, dropped */
  uint64_t tombstones_dropped; /**< end: point tombstones among them */
  int status;                  /**< end: SHALE_OK, or why the compaction failed */
} shale_compaction_info;

/** A table file that joined the DB (a flush or compaction installed it) or left it (no
 *  version uses it any more: it was unlinked). */
typedef struct shale_table_file_info {
  uint64_t file_number; /**< its number */
  const char *path;     /**< "<db>/NNNNNN.sst", borrowed for the call */
  uint64_t file_size;   /**< its bytes (deleted: as the file was just before it went) */
  int level;            /**< created: the level it joined; deleted: -1 */
} shale_table_file_info;

/* Why writes stall (on_stall_begin, on_stall_end). */
#define SHALE_STALL_MEMTABLES 1   /**< max_immutable_memtables sealed memtables await flush */
#define SHALE_STALL_L0_SLOWDOWN 2 /**< level0_slowdown_trigger L0 files: writes slowed */
#define SHALE_STALL_L0_STOP 3     /**< level0_stop_trigger L0 files: writes wait */

/**
 * Callbacks Shale calls as background work happens (as RocksDB's EventListener); any may be
 * NULL. Set size to sizeof(shale_event_listener) (fields may be added at the end later; a
 * smaller size leaves those NULL) and point shale_options.listener at it.
 *
 * Threads: every callback is called on one thread of the DB's own, made for them at open,
 * one call at a time and in the order the events happened, never while Shale holds a lock:
 * events are queued under a short lock where they happen and delivered after. So a slow
 * callback delays later callbacks, not flushes, compactions or writers; and a callback may
 * call the DB: shale_put, shale_get, shale_write, iterators, snapshots, properties,
 * shale_flush and shale_compact_range all work (what it made, an iterator or snapshot,
 * it frees before it returns). It must not call shale_close on its DB (close waits for the
 * callbacks to end). shale_close delivers the events queued before it starts and drops
 * those of work that ends during the close (the final flush, the tables freed).
 * Events lost to a failed allocation are counted in the DB's LOG.
 *
 * Every callback gets arg, and the DB (valid for the call; it may arrive before shale_open
 * has returned the handle).
 */
typedef struct shale_event_listener {
  size_t size; /**< sizeof(shale_event_listener) */
  void *arg;   /**< passed to every callback; must stay valid until shale_close returns */
  /** a flush starts (entries, tombstones, file_size, status are 0) */
  void (*on_flush_begin)(void *arg, shale_db *db, const shale_flush_info *info);
  /** a flush ended; its table, if any, is installed */
  void (*on_flush_end)(void *arg, shale_db *db, const shale_flush_info *info);
  /** a compaction starts (the "end" fields are 0) */
  void (*on_compaction_begin)(void *arg, shale_db *db, const shale_compaction_info *info);
  /** a compaction ended; its outputs, if any, are installed */
  void (*on_compaction_end)(void *arg, shale_db *db, const shale_compaction_info *info);
  /** a table joined the live set (after on_flush_end's or on_compaction_end's work) */
  void (*on_table_file_created)(void *arg, shale_db *db, const shale_table_file_info *info);
  /** a table that no version uses was unlinked (also one a crash left behind, which the
   *  open removes: that event may come before shale_open returns) */
  void (*on_table_file_deleted)(void *arg, shale_db *db, const shale_table_file_info *info);
  /** writers began to wait for a reason SHALE_STALL_* */
  void (*on_stall_begin)(void *arg, shale_db *db, int reason);
  /** that wait ended */
  void (*on_stall_end)(void *arg, shale_db *db, int reason);
  /** a background error turned the DB read-only: status is its SHALE_* code, message its
   *  detail (borrowed for the call) */
  void (*on_background_error)(void *arg, shale_db *db, int status, const char *message);
  /** "shale.deletes-persisted-before-us" advanced to before_us (looked at each time a
   *  flush or compaction installs; each call's value is above the previous one) */
  void (*on_deletes_persisted)(void *arg, shale_db *db, uint64_t before_us);
} shale_event_listener;

#ifdef __cplusplus
}
#endif
#endif /* SHALE_H */
