/* io_fs.h — the directory and whole-file calls beside io.h's readers and writers: making,
 * listing and removing directories, links, copies, truncation, the LOCK file's lock and the
 * appends of the text info LOG. Each goes through the context's shale_env (NULL context:
 * the real calls), so a DB's env sees every call made on its files. */
#ifndef SHALE_IO_IO_FS_H
#define SHALE_IO_IO_FS_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"

/* mkdir(dir, 0755); with exist_ok an existing entry of that name is not an error. */
int io_make_dir(io_ctx *c, const char *dir, int exist_ok, char *errmsg);
/* rmdir(dir); a directory that is not empty or not there stays without an error. */
int io_remove_dir(io_ctx *c, const char *dir, char *errmsg);
/* The names in dir but "." and "..": *names (free with io_names_free) holds *n of them. On
 * error *names is NULL and *n 0. */
int io_list_dir(io_ctx *c, const char *dir, char ***names, size_t *n, char *errmsg);
void io_names_free(char **names, size_t n);
/* link(2) of from as to: 0, or the errno it failed with (the caller decides on a copy). */
int io_link(io_ctx *c, const char *from, const char *to);
/* Creates dst (which must not exist) holding the first len bytes of src (all of it with
 * UINT64_MAX), fsynced when sync. On error dst may remain, for the caller to remove. */
int io_copy_file(io_ctx *c, const char *src, const char *dst, uint64_t len, int sync, char *errmsg);
/* Cuts the file at path to len bytes and syncs it (fdatasync when data_only, else fsync). */
int io_truncate_file(io_ctx *c, const char *path, uint64_t len, int data_only, char *errmsg);
/* Opens (creating) the file at path and takes its flock(LOCK_EX | LOCK_NB): *fd holds it
 * until closed. SHALE_BUSY with "<path> is locked" when another holder has it; on any
 * error *fd is -1. */
int io_lock_file(io_ctx *c, const char *path, int *fd, char *errmsg);
/* Opens the text file at path for appending, created if missing, emptied first when
 * truncate; *size gets its length. */
int io_append_open(io_ctx *c, const char *path, int truncate, int *fd, uint64_t *size,
                   char *errmsg);
/* Reads the last len bytes of the file at path into dst: 1 when it holds that many, else 0
 * (also when it cannot be opened or read). */
int io_read_tail(io_ctx *c, const char *path, void *dst, size_t len);
/* Writes all len bytes at fd's offset; SHALE_OK or the error, path naming the file. */
int io_append(io_ctx *c, int fd, const char *path, const void *data, size_t len, char *errmsg);

#endif /* SHALE_IO_IO_FS_H */
