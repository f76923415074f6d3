/* wal_format.h — constants of the log file format shared by the WAL and the MANIFEST. The
 * format is specified byte by byte in doc/format-wal.md; change both together. */
#ifndef SHALE_WAL_WAL_FORMAT_H
#define SHALE_WAL_WAL_FORMAT_H

/* A file is a sequence of WAL_BLOCK_SIZE blocks; a fragment never crosses a block boundary. */
#define WAL_BLOCK_SIZE 32768
/* Fragment header: checksum (4, LE) | length (2, LE) | type (1). The checksum is
 * checksum32 (util/checksum.h) over the length, type and payload bytes: header[4..7) || payload. */
#define WAL_HEADER_SIZE 7

/* Fragment types. 0 is never written as a type: a zero-filled region reads as a bad fragment.
 * A retired type is never reused; mark it here when one is retired. */
enum wal_frag_type {
  WAL_ZERO = 0,    /* reserved: zero-filled (preallocated or never written) space */
  WAL_FULL = 1,    /* a whole record */
  WAL_FIRST = 2,   /* first fragment of a record */
  WAL_MIDDLE = 3,  /* interior fragment */
  WAL_LAST = 4,    /* last fragment */
  WAL_FILEHDR = 5, /* the file header record; only at offset 0 */
  WAL_SYNCED = 6   /* version 2: "[0, offset) was synced", between records */
};
#define WAL_MAX_TYPE WAL_SYNCED
/* WAL_SYNCED payload: a file offset (u64, LE) up to which an fdatasync completed before the
 * fragment was written. Damage before it is corruption; damage after every such offset is
 * in data never synced, which a power loss may have written back in any order. */
#define WAL_SYNCED_PAYLOAD 8

/* File header record payload: magic (8) | format version (4, LE) | log number (8, LE). */
#define WAL_MAGIC "SHALELOG"
#define WAL_MAGIC_SIZE 8
#define WAL_FILEHDR_PAYLOAD 20
/* Version written. 2: every record starts with the time it was added. Version 1 (records
 * without a time) is still read: a WAL of an older build must replay after an upgrade. */
#define WAL_FORMAT_VERSION 2
#define WAL_FORMAT_VERSION_MIN 1
/* Version 2 record prefix: wall-clock microseconds since the epoch (u64, LE), so deletes
 * replayed from the WAL keep the age they had, not the time of the reopen. */
#define WAL_RECORD_TIME_SIZE 8

#endif /* SHALE_WAL_WAL_FORMAT_H */
