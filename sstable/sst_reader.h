/* sst_reader.h — reads one SSTable: point lookups (filter -> index -> one data block),
 * iterators in both directions, range tombstones and the table's metadata. Open reads and
 * verifies the footer and every metadata block and keeps them in memory; data blocks are read
 * on demand through the block cache (if any). Every block is checksum-verified before use
 * (but data blocks a read asks SST_READ_NO_VERIFY of) and every decode is bounds-checked:
 * damage gives SHALE_CORRUPTION (detail: file and offset), never wrong data or a crash.
 * Thread-safety: an sst_reader is immutable after open; any number of threads may call
 * sst_reader_get / may_contain / range_cover / iter_new on one reader at once. An sst_iter is
 * used by one thread at a time. */
#ifndef SHALE_SSTABLE_SST_READER_H
#define SHALE_SSTABLE_SST_READER_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "shale.h"
#include "sstable/block_cache.h"
#include "sstable/sst_format.h"
#include "util/range_tomb.h"

typedef struct sst_reader sst_reader;
typedef struct sst_iter sst_iter;

/* One range tombstone as the table stores it (util/range_tomb.h). */
typedef range_tomb sst_range_del;

/* Opens the table at path, read through io (NULL: io_ctx_default()). file_number names it in
 * messages and is returned by sst_reader_file_number. cache may be NULL (then every data block read
 * is a pread); when given it must outlive the reader. errmsg: NULL or ERRMSG_SIZE bytes.
 * @return SHALE_OK; SHALE_INVALID; SHALE_CORRUPTION (bad magic, version, checksum, truncated
 *         file); SHALE_IOERR (e.g. missing file); SHALE_NOMEM. *r is NULL on failure. */
int sst_reader_open(io_ctx *io, const char *path, uint64_t file_number, block_cache *cache,
                    sst_reader **r, char *errmsg);
/* As sst_reader_open, for a table whose user keys are in cmp's order (NULL: bytewise; cmp
 * must outlive the reader). A table recording another comparator's name (one without a
 * name is bytewise) is SHALE_INVALID, with a message naming both: sst_reader_open thus
 * refuses every table written with a comparator. */
int sst_reader_open_ordered(io_ctx *io, const char *path, uint64_t file_number, block_cache *cache,
                            const shale_comparator *cmp, sst_reader **r, char *errmsg);
/* The name of the comparator the table was written with ("shale.BytewiseComparator" when it
 * records none); borrowed for r's life. */
const char *sst_reader_comparator_name(const sst_reader *r);
/* Closes and frees r. REQUIRES: no iterator of r is alive. NULL is ignored. */
void sst_reader_close(sst_reader *r);

/* The table's summary, from its properties and dirty blocks; borrowed for r's life. */
const sst_meta *sst_reader_meta(const sst_reader *r);
uint64_t sst_reader_file_number(const sst_reader *r);

/* Newest entry for user key with seq <= seq (pass SEQ_MAX for the latest).
 * @return 1 when found: *kind = KIND_PUT or KIND_DEL, *found_seq its sequence; for a PUT and
 *         non-NULL val, *val is a malloc'd copy (free with free(); non-NULL even when empty)
 *         of *vlen bytes. 0 when the table has no visible entry for the key (the filter or
 *         the search said no). <0: SHALE_CORRUPTION, SHALE_IOERR, SHALE_NOMEM (detail in
 *         errmsg). Out-parameters are zeroed unless 1 is returned. kind, vlen and found_seq
 *         may be NULL. */
int sst_reader_get(sst_reader *r, const void *key, size_t klen, uint64_t seq, unsigned *kind,
                   void **val, size_t *vlen, uint64_t *found_seq, char *errmsg);
/* How a read treats the data blocks it loads (sst_get.flags, sst_iter_set_flags); 0 is the
 * default: verify every block read from the file and keep it in the block cache. */
#define SST_READ_NO_FILL_CACHE 1u /* a block read from the file is not inserted in the cache */
/* Skip the checksum of a block read from the file that is used once and dropped (a block of
 * a mapped uncompressed table, or one not going into the cache). A block that enters the
 * cache is verified all the same: every later read, verifying or not, is served that copy. */
#define SST_READ_NO_VERIFY 2u

/* One point lookup's options, where its value goes, and what it learnt. */
typedef struct sst_get {
  unsigned flags; /* SST_READ_* */
  void **val;     /* non-NULL: a malloc'd copy of a PUT's value, as sst_reader_get */
  void *buf;      /* else: the first min(cap, length) bytes of a PUT's value go here */
  size_t cap;
  int bloom_useful; /* out: 1 when the filter ruled the key out */
} sst_get;

/* As sst_reader_get, with g's flags, and the value copied as g says. */
int sst_reader_get_ex(sst_reader *r, const void *key, size_t klen, uint64_t seq, sst_get *g,
                      unsigned *kind, size_t *vlen, uint64_t *found_seq, char *errmsg);
/* Bloom filter only: 0 when the table certainly holds no entry for the key, else 1. */
int sst_reader_may_contain(sst_reader *r, const void *key, size_t klen);
/* Tombstone count of each data block (from the index), for the warm-up of dead spans at open
 * (engine/span_warmup.c) and the tools: copies up to n counts starting at data block `first` into
 * out and returns how many it copied. */
size_t sst_reader_block_tombstones(const sst_reader *r, size_t first, uint64_t *out, size_t n);
/* The last internal key of data block i (REQUIRES i < the block count, which
 * sst_reader_block_tombstones(r, 0, ...) bounds), borrowed for r's life. */
const uint8_t *sst_reader_block_last_key(const sst_reader *r, size_t i, size_t *len);

/* The table's range tombstones, sorted by begin then seq descending. From a version-2 table
 * they are the stored fragments (identical or disjoint ranges), each still a valid
 * tombstone. Returns the count; *dels (may be NULL when the count is 0) is borrowed for r's
 * life. */
size_t sst_reader_range_dels(const sst_reader *r, const sst_range_del **dels);
/* The newest seq <= read_seq of a range tombstone of the table covering key; 0 when none.
 * A binary search over the fragments (version 2), a scan of the tombstones beginning at or
 * before key (version 1). Exact for a read at a snapshot the builder was given or at a seq at
 * least the table's largest (sst_builder_set_snapshots). */
uint64_t sst_reader_range_cover(const sst_reader *r, const void *key, size_t klen,
                                uint64_t read_seq);
/* The file offset of the data block that would hold user key ukey (its newest version):
 * the data size when ukey is past every block. For size estimates (sstable/sst_approx.h). */
uint64_t sst_reader_key_offset(const sst_reader *r, const void *ukey, size_t uklen);
/* The footer's format version (SST_FORMAT_VERSION_MIN .. SST_FORMAT_VERSION_MAX). */
uint32_t sst_reader_format_version(const sst_reader *r);
/* Version 5 (external table): the sequence its entries are read at; 0 when none was set
 * (the entries read at their stored 0) and for every other version. */
uint64_t sst_reader_global_seq(const sst_reader *r);
/* Where the table's zstd dictionary block is (versions 3, 4); size 0 when it has none. */
sst_handle sst_reader_dict(const sst_reader *r);

/* ---- iterator over the table's point entries (internal keys), both directions ----
 * A new iterator is unpositioned (invalid). Keys and values are borrowed until the next move
 * or sst_iter_free. An I/O or corruption error makes it invalid with sst_iter_status() < 0.
 * REQUIRES: r outlives the iterator. */
int sst_iter_new(sst_reader *r, sst_iter **it);        /* SHALE_OK, SHALE_INVALID, SHALE_NOMEM */
void sst_iter_free(sst_iter *it);                      /* NULL is ignored */
void sst_iter_set_flags(sst_iter *it, unsigned flags); /* SST_READ_* for the blocks it loads */
void sst_iter_seek_first(sst_iter *it);
void sst_iter_seek_last(sst_iter *it);
/* First entry >= ikey (ikey_compare). A seek key ukey|seq|KIND_SEEK finds the newest version
 * of ukey visible at seq. REQUIRES: iklen >= 8. */
void sst_iter_seek(sst_iter *it, const uint8_t *ikey, size_t iklen);
void sst_iter_next(sst_iter *it); /* REQUIRES: valid */
void sst_iter_prev(sst_iter *it); /* REQUIRES: valid */
/* sst_iter_next, then the new key as sst_iter_key gives it, or NULL when no longer valid
 * (at the end, or on an error: see sst_iter_status). NULL at once when not valid. */
const uint8_t *sst_iter_next_key(sst_iter *it, size_t *iklen);
int sst_iter_valid(const sst_iter *it);
int sst_iter_status(const sst_iter *it);         /* SHALE_OK or the error that invalidated it */
const char *sst_iter_errmsg(const sst_iter *it); /* "" when status is SHALE_OK */
const uint8_t *sst_iter_key(const sst_iter *it, size_t *iklen); /* REQUIRES: valid */
const void *sst_iter_value(const sst_iter *it, size_t *vlen);   /* REQUIRES: valid */

#endif /* SHALE_SSTABLE_SST_READER_H */
