/* wal_reader.h — reads the records of a log file (WAL or MANIFEST) written by wal_writer,
 * checking every fragment's checksum and the file header. Format: doc/format-wal.md.
 *
 * Tail rules. Reading ends at the first fragment that is not intact (bad checksum, zero-filled,
 * length past the block or the file, unknown type, fragments out of order, record cut by EOF).
 * The reader then looks for a complete intact record anywhere after that point:
 *   - none: the damage is a torn tail (a crash mid-write); it is dropped silently and
 *     wal_reader_next returns 0, in both modes;
 *   - one: mid-file corruption. Strict mode fails with SHALE_CORRUPTION ("file X offset N:
 *     ..."); tolerant mode stops at the last intact record, returns 0 and keeps the message
 *     for wal_reader_dropped. With WAL_READ_UNSYNCED_TAIL, unless a sync point covers the
 *     damage, it is a torn tail whose pages reached the disk out of order (below).
 * Before either verdict, the damaged bytes are read again: when they changed, a live writer
 * was appending there as they were read (a read_only open beside it), and reading ends at
 * them as at a torn tail.
 * A damaged file header (bad checksum, wrong magic, unsupported format version) or a first
 * record that is not a file header is SHALE_CORRUPTION from wal_reader_open in both modes.
 * A file that is empty, shorter than the header, or zero-filled where the header should be
 * (a crash right after creation) reads as a log with no records, unless records follow.
 * Corrupted bytes are never returned as a record.
 * Thread safety: a reader is used by one thread at a time. */
#ifndef SHALE_WAL_WAL_READER_H
#define SHALE_WAL_WAL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

typedef struct wal_reader wal_reader;

/* Opens path and checks its header. tolerant: see the tail rules above. errmsg: ERRMSG_SIZE
 * bytes or NULL. On failure *r is NULL. */
#define WAL_READ_STRICT 0
#define WAL_READ_TOLERANT 1
/* For the MANIFEST: a fragment that is all there but fails its checksum is corruption even
 * at the tail. Its edits count only once synced, and a crash mid-append leaves a fragment
 * cut short or zeros, never a complete one with wrong bytes; dropping it silently would
 * forget tables whose WALs are already gone. */
#define WAL_READ_PARANOID 2
/* Or'ed into STRICT or TOLERANT, for the WAL: damage that no intact sync point (WAL_SYNCED,
 * written once an fdatasync returned) covers is a torn tail even when intact data follows
 * it. A power loss writes back the unsynced pages of a file in any order, so a later record
 * may be on disk while an earlier one is not; reading stops at the hole (never a record
 * after it) and wal_reader_tail_unordered says so. Damage below a sync point stays
 * corruption. */
#define WAL_READ_UNSYNCED_TAIL 4
/* io: the context the file is read through (NULL: io_ctx_default()). */
int wal_reader_open(io_ctx *io, const char *path, int tolerant, wal_reader **r, char *errmsg);

/* Reads the next record: returns 1 and sets *rec and *len (borrowed until the next call or
 * close), 0 at the end (clean, torn tail dropped, or tolerant stop), or a negative SHALE_*
 * code (SHALE_CORRUPTION with file and offset in errmsg, SHALE_IOERR, SHALE_NOMEM). After an
 * error every later call returns the same code. */
int wal_reader_next(wal_reader *r, const uint8_t **rec, size_t *len, char *errmsg);

/* Wall-clock microseconds at which the record last returned by wal_reader_next was added
 * (wal_writer_add). A version 1 file stores none: every record of it reports the file's
 * birth time, which is no later than any of them, or 0 ("unknown, maybe any age") where
 * the file system does not give one. */
uint64_t wal_reader_record_time(const wal_reader *r);

/* Log number from the file header; 0 when the file has no intact header (empty or torn). */
uint64_t wal_reader_log_number(const wal_reader *r);

/* File offset just past the last intact record returned (or past the header): where a
 * writer would have to truncate to continue the log. */
uint64_t wal_reader_last_good_offset(const wal_reader *r);

/* After reading ended: NULL when the file ended cleanly, else what was dropped (a torn tail,
 * or in tolerant mode the corruption reading stopped at), for the engine's log. Valid until
 * wal_reader_close. */
const char *wal_reader_dropped(const wal_reader *r);

/* After reading ended: 1 when what was dropped starts, right after the last intact record,
 * with zeros and no intact record follows: the space a mapped log reserves ahead of its
 * writer. Normal for the WAL of a DB that is open, or was not closed; no damage to report. */
int wal_reader_tail_unwritten(const wal_reader *r);

/* After reading ended: 1 when it ended at damage no sync point covers, with intact data
 * after it (only with WAL_READ_UNSYNCED_TAIL); that data was dropped. Replaying a later log
 * after this would put its writes after a hole. */
int wal_reader_tail_unordered(const wal_reader *r);

/* Closes and frees r (NULL is ignored). */
void wal_reader_close(wal_reader *r);

#endif /* SHALE_WAL_WAL_READER_H */
