/* sst_builder.h — writes one SSTable from entries in internal-key order: data blocks, then
 * filter, range-del, dirty, properties and index blocks and the footer, all through io_writer
 * (io_uring with a pwrite fallback). Used by flush and compaction.
 * Thread-safety: a builder is used by one thread at a time; distinct builders are independent. */
#ifndef SHALE_SSTABLE_SST_BUILDER_H
#define SHALE_SSTABLE_SST_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "sstable/sst_format.h"

typedef struct sst_builder sst_builder;

/* Creates (truncating) the table file at path. o is copied; NULL means 4 KiB blocks, 10 bits
 * per key, zstd, no dictionary. errmsg: NULL or ERRMSG_SIZE bytes.
 * @return SHALE_OK; SHALE_INVALID (NULL path/b, bad compression, dictionary or training bytes
 *         over their bounds in sst_format.h); SHALE_NOMEM; SHALE_IOERR /
 *         SHALE_NOSPACE from the file layer. *b is NULL on failure. */
int sst_builder_new(const char *path, const sst_options *o, sst_builder **b, char *errmsg);

/* Adds one point entry. ikey is user key || 8-byte trailer (util/ikey.h) of kind KIND_PUT or
 * KIND_DEL; val (copied) is the value (usually empty for KIND_DEL). tomb_time_us: wall time of
 * a tombstone, 0 for puts or when unknown.
 * REQUIRES: ikey sorts strictly after the previous one (ikey_cmp under the builder's
 * comparator); checked.
 * @return SHALE_OK; SHALE_INVALID (order, kind, short key: the builder stays usable);
 *         SHALE_NOMEM, SHALE_IOERR, SHALE_NOSPACE (sticky: the builder must be aborted). */
int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t iklen, const void *val, size_t vlen,
                    uint64_t tomb_time_us);

/* Adds a range tombstone deleting user keys in [begin, end) with sequence seq, deleted at
 * wall time time_us (0: unknown). Any order: finish stores them fragmented (pieces identical
 * or disjoint, sorted by begin, seq descending within a piece; doc/format-sstable.md), so the
 * table's range_tombstones count is the number of stored pieces, not of calls.
 * REQUIRES: begin < end (in the builder's order), seq <= SEQ_MAX.
 * @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM. */
int sst_builder_add_range_del(sst_builder *b, const void *begin, size_t blen, const void *end,
                              size_t elen, uint64_t seq, uint64_t time_us);

/* The live snapshot sequences (copied; any order, duplicates allowed; n may be 0). Once set,
 * a piece keeps only the newest sequence of each stripe between consecutive snapshots (the
 * last stripe runs to infinity), with the oldest time among those it replaces: n
 * overlapping tombstones store at most 2n-1 pieces of at most one record per stripe, where
 * keeping every sequence could take n^2 records.
 * REQUIRES: every later read of the table is at one of these snapshots or at a sequence at
 * least the table's largest (true for flush and compaction: a snapshot taken afterwards pins
 * a sequence no smaller than any entry already in a sealed memtable or a table). Without this
 * call every sequence is kept.
 * @return SHALE_OK, SHALE_INVALID, SHALE_NOMEM (sticky, as for an add). */
int sst_builder_set_snapshots(sst_builder *b, const uint64_t *seqs, size_t n);

/* Makes the table external (format version 5, shale_sst_writer): the footer is preceded by
 * a global sequence of 0 that sst_external_set_seq sets at ingest. REQUIRES: every entry
 * and range tombstone added has seq 0. NULL is ignored. */
void sst_builder_set_external(sst_builder *b);

/* Orders the table's user keys by cmp (NULL, the default: bytewise), which must outlive b,
 * and records cmp's name in the properties. REQUIRES: nothing added yet. NULL b is ignored. */
void sst_builder_set_comparator(sst_builder *b, const shale_comparator *cmp);

/* Estimated file size if finished now (written bytes + pending block + metadata so far), for
 * splitting compaction output. */
uint64_t sst_builder_file_size(const sst_builder *b);

/* Writes the pending block and all metadata, waits for every write, fdatasyncs and closes the
 * file, then frees b (in every case). On success fills *meta (caller frees it with
 * sst_meta_free); meta may be NULL. On failure the file is unlinked and *meta is zeroed.
 * The caller still syncs the directory before publishing the table.
 * @return SHALE_OK, SHALE_NOMEM, SHALE_IOERR, SHALE_NOSPACE, or the sticky error of an add. */
int sst_builder_finish(sst_builder *b, sst_meta *meta, char *errmsg);

/* Closes and unlinks the file and frees b. NULL is ignored. */
void sst_builder_abort(sst_builder *b);

#endif /* SHALE_SSTABLE_SST_BUILDER_H */
