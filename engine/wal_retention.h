/* wal_retention.h — which obsolete WALs shale_options.wal_retention_seconds and
 * wal_retention_bytes keep for shale_updates_since. */
#ifndef SHALE_ENGINE_WAL_RETENTION_H
#define SHALE_ENGINE_WAL_RETENTION_H

#include <stdint.h>

#include "io/io.h"
#include "shale.h"

/* 1 when either retention option is set: obsolete WALs may then outlive their flush. */
int wal_retention_on(const shale_options *o);

/* The number of the oldest WAL in [from, below) that retention keeps, or below when it
 * keeps none: the WALs below the result may be deleted. What is kept is always the newest
 * ones, so deleting stays a prefix and the WALs left hold one run of sequences. */
uint64_t wal_retention_keep_from(io_ctx *io, const char *dir, const shale_options *o, uint64_t from,
                                 uint64_t below);

/* Renames the obsolete WAL number of dir from NNNNNN.log to NNNNNN.old.log, so that only
 * shale_updates_since reads it: recovery and shale_repair replay .log files alone, and
 * replaying writes that are already in tables could bring back what a delete logged in no
 * WAL (SHALE_NO_WAL, an ingested table, a compaction filter) removed with them. Returns 1
 * when a file was renamed (the caller syncs dir once for all), 0 when there was none. */
int wal_retention_retire(io_ctx *io, const char *dir, uint64_t number);

#endif /* SHALE_ENGINE_WAL_RETENTION_H */
