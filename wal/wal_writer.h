/* wal_writer.h — appends records to a log file (the WAL, and the MANIFEST, which uses the
 * same format): each record is fragmented into 32 KiB blocks and written with one write(2).
 * Format: doc/format-wal.md.
 * Thread safety: wal_writer_add is called by one thread at a time (the write leader);
 * wal_writer_sync and wal_writer_size may run concurrently with it. */
#ifndef SHALE_WAL_WAL_WRITER_H
#define SHALE_WAL_WAL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

typedef struct wal_writer wal_writer;

/* Creates (truncating) path and writes the file header record carrying log_number, doing its
 * I/O through io (NULL: io_ctx_default()). The header is not synced: call wal_writer_sync
 * when it must be durable. errmsg: ERRMSG_SIZE bytes or NULL. On failure *w is NULL. */
int wal_writer_open(io_ctx *io, const char *path, uint64_t log_number, wal_writer **w,
                    char *errmsg);
/* As wal_writer_open, appending through a shared mapping (io_log_open_mapped): the WAL,
 * whose one write(2) per write group was the largest system-call cost of small puts. */
int wal_writer_open_mapped(io_ctx *io, const char *path, uint64_t log_number, wal_writer **w,
                           char *errmsg);

/* Appends one record of len bytes (0 allowed) with ONE write(2) (or one copy into the
 * mapping); data is not retained. The record carries the wall-clock time of the call
 * (clock_wall_us), which the reader gives back with it (wal_reader_record_time).
 * After a failed add the writer refuses every later add and sync (the file may end in a torn
 * record, which recovery drops; appending after it would make it mid-file corruption). */
int wal_writer_add(wal_writer *w, const void *data, size_t len, char *errmsg);
/* As wal_writer_add, with the record's time given: reproducible files for tests and the
 * worked example in doc/format-wal.md. */
int wal_writer_add_at(wal_writer *w, uint64_t time_us, const void *data, size_t len, char *errmsg);

/* fdatasync: every record added before the call is durable when it returns SHALE_OK. */
int wal_writer_sync(wal_writer *w, char *errmsg);

/* Bytes in the file so far (header, fragment headers and block padding included). */
uint64_t wal_writer_size(const wal_writer *w);

/* Closes and frees w (NULL is ignored). Does not sync. */
int wal_writer_close(wal_writer *w, char *errmsg);

#endif /* SHALE_WAL_WAL_WRITER_H */
