/* sst_format.h — constants of the SSTable file format, the options a table is built with and
 * the summary (sst_meta) a finished table reports. The layout is specified byte by byte in
 * doc/format-sstable.md; every number here is named there. */
#ifndef SHALE_SSTABLE_SST_FORMAT_H
#define SHALE_SSTABLE_SST_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Written: 4 (the dirty block is its fixed fields only: no deleted-key filter). Read: 1 (range
 * tombstones as given), 2 (range-del block fragmented), 3 (zstd dictionary; a PUT may carry
 * seq 0) and 4. */
#define SST_FORMAT_VERSION 4u
#define SST_FORMAT_VERSION_MIN 1u
/* 5: an external table (shale_sst_writer): version 4's blocks, every entry at seq 0, and a
 * global sequence in an 8-byte field before the footer, set in place by shale_ingest. Reads
 * see every entry (and range tombstone) of the table at that sequence. */
#define SST_FORMAT_VERSION_EXTERNAL 5u
/* 6 and 7: versions 4 and 5 written with a custom comparator, whose name ends the properties
 * block. A reader that predates comparators refuses them by their version instead of reading
 * keys in an order it does not know. (Tables written by the first release with comparators
 * carry the name under version 4 or 5; they still read.) */
#define SST_FORMAT_VERSION_COMPARATOR 6u
#define SST_FORMAT_VERSION_EXTERNAL_COMPARATOR 7u
#define SST_FORMAT_VERSION_MAX 7u

/* The version a builder writes: external or not, with a comparator's name or not. */
static inline uint32_t sst_version_for(int external, int named_comparator) {
  if (named_comparator)
    return external ? SST_FORMAT_VERSION_EXTERNAL_COMPARATOR : SST_FORMAT_VERSION_COMPARATOR;
  return external ? SST_FORMAT_VERSION_EXTERNAL : SST_FORMAT_VERSION;
}
/* Versions 5 and 7 carry a global sequence before the footer. */
static inline int sst_version_is_external(uint32_t v) {
  return v == SST_FORMAT_VERSION_EXTERNAL || v == SST_FORMAT_VERSION_EXTERNAL_COMPARATOR;
}
/* Versions 6 and 7 must name their comparator in the properties block. */
static inline int sst_version_names_comparator(uint32_t v) {
  return v == SST_FORMAT_VERSION_COMPARATOR || v == SST_FORMAT_VERSION_EXTERNAL_COMPARATOR;
}
/* "shaleSST" read as a little-endian u64: the last 8 bytes of every table. */
#define SST_MAGIC UINT64_C(0x545353656c616873)
/* 5 handles x 16 + version 4 + checksum 4 + magic 8 */
#define SST_FOOTER_SIZE 96u
/* Version 5: global_seq fixed64 || the footer, whose checksum covers global_seq too. */
#define SST_EXTERNAL_TAIL_SIZE 104u
/* Every block is followed by type (1 byte) and checksum32 (4 bytes) over contents || type. */
#define SST_BLOCK_TRAILER 5u
#define SST_BLOCK_RAW 0u
#define SST_BLOCK_ZSTD 1u
#define SST_BLOCK_ZSTD_DICT 2u       /* version 3: zstd with the table's dictionary */
#define SST_RESTART_INTERVAL 4       /* data blocks */
#define SST_INDEX_RESTART_INTERVAL 1 /* index block: every key whole, plain binary search */
#define SST_ZSTD_LEVEL 3
/* Largest uncompressed block a reader accepts (a value may be 256 MiB). */
#define SST_MAX_BLOCK_SIZE (UINT32_C(1) << 30)
/* The dirty block's eight u64 fields: all of it from version 4; in versions 1-3 a deleted-key
 * filter followed, which nothing read (the engine skips deleted runs by dead spans). */
#define SST_DIRTY_FIXED 64u
#define SST_PROPS_FIXED_V2 56u /* versions 1, 2: seven u64 fields before smallest/largest */
#define SST_PROPS_FIXED 72u    /* versions 3, 4: nine (then the dictionary's handle) */
/* zstd dictionary (version 3), when sst_options.dict_bytes asks for one: the builder holds
 * back data blocks until dict_train_bytes raw bytes (or the end of the table), then trains a
 * dictionary of at most dict_bytes on them, if they are at least a quarter of dict_train_bytes:
 * a smaller table would not repay it. With a dict_share holding a dictionary the builder
 * reuses that one instead (same quarter rule). Readers reject a dictionary over
 * SST_DICT_MAX_SIZE. */
#define SST_DICT_MAX_SIZE (16u << 10)
#define SST_DICT_TRAIN_MULTIPLE 64u /* dict_train_bytes 0: this many times dict_bytes */
/* With sst_options.dict_share, a dictionary is reused by the tables that follow until it has
 * compressed this many times dict_train_bytes, then one table trains the next. Training costs
 * about as much as compressing ten times its samples; at 1024 it is about 1% of the
 * compression, and a 2M-key small-buffer fill ran as fast as without a dictionary (at 256
 * about 10% slower, within its noise; doc/performance.md, issue 21). */
#define SST_DICT_RETRAIN_MULTIPLE 1024u
#define SST_DICT_MAX_TRAIN_BYTES ((size_t)1 << 30)

/* Position of a block's contents in the file; size excludes the 5-byte trailer. */
typedef struct sst_handle {
  uint64_t offset, size;
} sst_handle;

/* How a table is built. */
typedef struct sst_options {
  size_t block_size;       /* target uncompressed data block size; 0 means 4096 */
  int bloom_bits_per_key;  /* 0 disables the table's user-key filter */
  int compression;         /* SHALE_COMPRESSION_NONE or SHALE_COMPRESSION_ZSTD */
  int compression_level;   /* zstd level; 0 means SST_ZSTD_LEVEL */
  struct io_ctx *io;       /* the file is written through it; NULL: io_ctx_default() */
  size_t dict_bytes;       /* zstd dictionary size bound, at most SST_DICT_MAX_SIZE; 0: none */
  size_t dict_train_bytes; /* raw bytes held back to train it on; 0: SST_DICT_TRAIN_MULTIPLE x */
  struct zstd_dict_share *dict_share; /* reuse and share dictionaries; NULL: each table trains */
  int dict_slot;                      /* dict_share's slot: the table's level */
} sst_options;

/* What a finished table is: goes into the MANIFEST. Sequence bounds and tombstone times are 0
 * when the table holds no entry (no tombstone) of that kind. Tombstone times of 0 ("unknown")
 * are ignored when taking oldest/newest. smallest/largest are internal keys covering every
 * point entry and range tombstone (a range tombstone [b, e) at seq s contributes b|s|RANGE_DEL
 * and e|SEQ_MAX|RANGE_DEL); both are empty for a table with no entries. */
typedef struct sst_meta {
  uint64_t file_size, entries, point_tombstones, range_tombstones;
  uint64_t min_seq, max_seq, min_tomb_seq, max_tomb_seq, oldest_tomb_us, newest_tomb_us;
  uint64_t raw_key_bytes, raw_value_bytes, data_blocks;
  uint64_t data_bytes;       /* stored bytes of the data blocks, trailers included */
  uint64_t creation_time_us; /* wall clock at sst_builder_finish */
  int compression;           /* the option the table was built with */
  buf smallest, largest;     /* owned; freed by sst_meta_free */
} sst_meta;

/* Frees smallest/largest and zeroes m. NULL is ignored. */
void sst_meta_free(sst_meta *m);
/* Deep copy (smallest/largest duplicated). Returns SHALE_OK or SHALE_NOMEM (dst zeroed). */
int sst_meta_copy(sst_meta *dst, const sst_meta *src);

/* Writes "dir/NNNNNN.sst" (at least six digits) into out (n bytes, truncated if short). */
void sst_file_name(char *out, size_t n, const char *dir, uint64_t number);

#endif /* SHALE_SSTABLE_SST_FORMAT_H */
