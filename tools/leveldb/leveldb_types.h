/* leveldb_types.h — the structs behind the opaque handles of <shale/leveldb/c.h>, shared by
 * the files of libshale-leveldb. Types only: each .c declares its functions in its own .h. */
#ifndef SHALE_LEVELDB_TYPES_H
#define SHALE_LEVELDB_TYPES_H

#include <pthread.h>
#include <stddef.h>

#include "shale.h"
#include "shale/leveldb/c.h"

/* The live snapshots and iterators of a handle, so leveldb_close can release them: Shale's
 * close refuses while any lives, and LevelDB programs often leave snapshots behind. */
struct leveldb_t {
  shale_db *db;
  size_t write_buffer_size; /* what a sealed memtable holds, for approximate-memory-usage */
  pthread_mutex_t mu;       /* guards the two lists */
  leveldb_snapshot_t *snapshots;
  leveldb_iterator_t *iterators;
};

struct leveldb_snapshot_t {
  const shale_snapshot *snap;
  leveldb_snapshot_t *prev, *next;
};

struct leveldb_iterator_t {
  shale_iter *iter; /* NULL once leveldb_close took it away */
  leveldb_t *db;
  char *err; /* the message of the failure that stopped it, kept for leveldb_iter_get_error */
  leveldb_iterator_t *prev, *next;
};

/* A failure while building (LevelDB's batch calls cannot report one) is kept for
 * leveldb_write, so a half-built batch is never applied. */
struct leveldb_writebatch_t {
  shale_batch *batch;
  int rc;    /* the first failure's code, SHALE_OK if none */
  char *err; /* its detail, without LevelDB's prefix (NULL: shale_strerror's) */
};

struct leveldb_comparator_t {
  void *state;
  void (*destructor)(void *);
  int (*compare)(void *, const char *a, size_t alen, const char *b, size_t blen);
  const char *(*name)(void *);
  shale_comparator order; /* given to Shale for an order that is not bytewise (arg: this) */
};

struct leveldb_filterpolicy_t {
  void *state;
  void (*destructor)(void *);
  const char *(*name)(void *);
  int bloom_bits; /* >0: a bloom filter of that many bits per key; 0: a custom policy */
};

struct leveldb_cache_t {
  size_t capacity;
};

struct leveldb_env_t {
  int is_default;
};

struct leveldb_options_t {
  shale_options opts;
  leveldb_comparator_t *comparator;
  const leveldb_cache_t *cache;
  const leveldb_filterpolicy_t *filter_policy;
  int compression; /* LevelDB's value, checked at open */
};

struct leveldb_readoptions_t {
  shale_read_options ro; /* its snapshot field is filled from `snapshot` at each read */
  const leveldb_snapshot_t *snapshot;
};

struct leveldb_writeoptions_t {
  unsigned flags;
};

#endif
