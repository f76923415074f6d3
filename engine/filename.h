/* filename.h — names of the files in a DB directory (doc/DESIGN.md "Files in a DB directory"). */
#ifndef SHALE_ENGINE_FILENAME_H
#define SHALE_ENGINE_FILENAME_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

typedef enum file_type {
  FT_UNKNOWN,
  FT_LOG,
  FT_TABLE,
  FT_MANIFEST,
  FT_CURRENT,
  FT_LOCK,
  FT_INFO_LOG,
  FT_TEMP,
  FT_OPTIONS,
  FT_OLD_LOG, /* a WAL already in tables, kept only for shale_updates_since (retention) */
  FT_SPANS    /* dead spans a clean close kept for the next open (engine/span_store.h) */
} file_type;

#define FILENAME_MAX_LEN 4096

void filename_log(char *out, const char *dir, uint64_t number);      /* NNNNNN.log */
void filename_old_log(char *out, const char *dir, uint64_t number);  /* NNNNNN.old.log */
void filename_table(char *out, const char *dir, uint64_t number);    /* NNNNNN.sst */
void filename_manifest(char *out, const char *dir, uint64_t number); /* MANIFEST-NNNNNN */
void filename_join(char *out, const char *dir, const char *name);
/* Classifies a directory entry; *number is set for numbered files. */
file_type filename_parse(const char *name, uint64_t *number);
/* The numbers >= min of dir's files of one type, ascending, in *out (malloc'd; NULL when
 * none), listed through io's env (NULL: the real calls). Returns how many; a directory that cannot
 * be read, or a failed allocation, gives what was listed so far. */
size_t filename_list(io_ctx *io, const char *dir, file_type type, uint64_t min, uint64_t **out);
/* The numbers >= min of dir's WALs, live or old, ascending (as filename_list). */
size_t filename_list_wals(io_ctx *io, const char *dir, uint64_t min, uint64_t **out);
/* The path of WAL number in dir: NNNNNN.log when that file exists, else NNNNNN.old.log. */
void filename_wal(char *out, const char *dir, uint64_t number);

#endif
