/* sst_external.h — the one in-place change an SSTable file ever sees: shale_ingest writing
 * the global sequence of an external table (format version 5, doc/format-sstable.md) into
 * the field before its footer and re-checksumming the footer.
 * Thread-safety: the caller must be the only one writing the file; a reader opened before
 * the change may see the old or the new sequence, so the engine opens the table after. */
#ifndef SHALE_SSTABLE_SST_EXTERNAL_H
#define SHALE_SSTABLE_SST_EXTERNAL_H

#include <stdint.h>

#include "io/io.h"

/* Sets the global sequence of the external table at path to seq and fdatasyncs the file,
 * through io's env (NULL: the real calls).
 * errmsg: NULL or ERRMSG_SIZE bytes.
 * @return SHALE_OK; SHALE_INVALID (NULL path, seq above SEQ_MAX); SHALE_CORRUPTION (not a
 *         version-5 table, bad magic or footer checksum: the file is left as it was);
 *         SHALE_IOERR, SHALE_NOSPACE. */
int sst_external_set_seq(io_ctx *io, const char *path, uint64_t seq, char *errmsg);

#endif /* SHALE_SSTABLE_SST_EXTERNAL_H */
