/* io.h — the file layer every module writes through. Sequential writers for new files go
 * through io_uring (several writes in flight, the last linked to fdatasync) and fall back to
 * pwrite/fdatasync when io_uring_setup is refused or the context forces pwrite. Random-access
 * readers use pread or a mapping. Nothing above this module calls open/write/fsync directly.
 * Every call that opens or names a file takes the io_ctx it works for (a DB's, from its
 * options): its system calls go through the context's shale_env, and its switches and
 * counters are that DB's alone. NULL means io_ctx_default(). */
#ifndef SHALE_IO_IO_H
#define SHALE_IO_IO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shale.h"
#include "util/buf.h"

/* ---- the context: one per DB ---- */
typedef struct io_counters {
  _Atomic uint64_t uring_writers, fallback_writers; /* writers opened on each path */
  _Atomic uint64_t bytes_written, writes, fsyncs, bytes_read, reads;
  _Atomic uint64_t mapped_files; /* readers mapped by io_reader_map */
  _Atomic uint64_t readaheads;   /* io_reader_readahead calls that asked the kernel */
} io_counters;

typedef struct io_ctx {
  shale_env env;           /* every member set (io_env_copy) */
  int force_pwrite;        /* io_writer never tries io_uring (shale_options.io_mode) */
  int use_mmap;            /* io_reader_map and io_log_open_mapped map (shale_options.use_mmap) */
  _Atomic int uring_state; /* -1: no writer yet; else whether the last one used io_uring */
  io_counters ctr;
} io_ctx;

/* Sets up c with env (copied; NULL: the real calls) and zero counters.
 * REQUIRES: env NULL or io_env_check(env) == SHALE_OK; no I/O runs through c yet. */
void io_ctx_init(io_ctx *c, const shale_env *env, int force_pwrite, int use_mmap);
/* Tells c's env that db reached point (SHALE_POINT_*); nothing for a NULL c. */
static inline void io_point(io_ctx *c, shale_db *db, int point) {
  if (c) c->env.point(c->env.arg, db, point);
}
/* The context of callers without a DB (tools reading a file, NULL arguments): the real
 * calls, io_uring and mapping allowed, counters of its own. */
io_ctx *io_ctx_default(void);

/* ---- sequential writer for new files (SSTables, MANIFEST snapshots) ----
 * One thread at a time per writer. Errors are sticky: after one, every call returns it. */
typedef struct io_writer io_writer;

/* Creates (truncating) path for writing. */
int io_writer_open(io_ctx *c, const char *path, io_writer **w, char *errmsg);
/* Queues len bytes at the current end; the data is copied, the caller may reuse it. */
int io_writer_append(io_writer *w, const void *data, size_t len, char *errmsg);
/* Bytes appended so far. */
uint64_t io_writer_size(const io_writer *w);
/* Waits for every queued write, fdatasyncs when sync, closes and frees w. On error the file
 * is left in place for the caller to unlink. */
int io_writer_finish(io_writer *w, int sync, char *errmsg);
/* Closes and frees w without syncing (error paths). */
void io_writer_abort(io_writer *w);

/* ---- append-only log file (WAL, MANIFEST): one write(2) per append ----
 * Appends come from one thread at a time; io_log_sync and io_log_size may run concurrently
 * with an append. After a failed append or sync the log refuses every later append and sync
 * (SHALE_IOERR): the file may end in a torn write, and nothing may be appended after it. */
typedef struct io_log io_log;
int io_log_open(io_ctx *c, const char *path, io_log **l, char *errmsg); /* create or truncate */
/* As io_log_open, but appends are copies into a shared mapping of preallocated space (no
 * system call per append; as durable against a process crash as write(2)), unless c has
 * mapping off. Until io_log_close trims it, the file ends in zeros. */
int io_log_open_mapped(io_ctx *c, const char *path, io_log **l, char *errmsg);
int io_log_append(io_log *l, const void *data, size_t len, char *errmsg);
int io_log_sync(io_log *l, char *errmsg); /* fdatasync */
uint64_t io_log_size(const io_log *l);
int io_log_close(io_log *l, char *errmsg); /* closes and frees */

/* ---- random-access reader ---- */
typedef struct io_reader io_reader;
int io_reader_open(io_ctx *c, const char *path, io_reader **r, char *errmsg);
uint64_t io_reader_size(const io_reader *r);
/* Re-reads the file's size: 1 when it shrank below the size r had (r's size is then the new
 * one), else 0. For a log read while its writer truncates the space it reserved ahead. */
int io_reader_shrunk(io_reader *r);
/* Reads exactly len bytes at off into dst (pread, or a copy from the mapping once
 * io_reader_map made one); a short read is SHALE_CORRUPTION (truncated file). */
int io_reader_read(io_reader *r, uint64_t off, void *dst, size_t len, char *errmsg);
void io_reader_close(io_reader *r);
/* Maps the whole file read-only, after which io_reader_read copies out of the mapping
 * instead of calling pread: no system call per read, the same bytes and errors (a file
 * truncated under the mapping reads short, SHALE_CORRUPTION, through a SIGBUS guard; see
 * io_map_guard.h). The mapping itself is not handed out: read in place, a change to the
 * file would reach bytes a caller already verified, and a truncation would fault unguarded.
 * Returns 1 when mapped; 0 when the reader's context has mapping off, the file is empty, the guard
 * cannot be installed or mmap fails, and reads stay with pread. Call once, before sharing r. */
int io_reader_map(io_reader *r);
/* Asks the CPU to bring [off, off + len) of a mapped file into its caches, for a read of
 * those bytes a little later (the next block of a scan). A hint only: prefetches never
 * fault, so a page not mapped in or a truncated file costs nothing; no-op without a mapping. */
void io_reader_prefetch(const io_reader *r, uint64_t off, size_t len);
/* Asks the kernel to start reading [off, off + len) of the file into memory, without
 * waiting: a sequential reader's next stretch. A hint only (errors are ignored). */
void io_reader_readahead(io_reader *r, uint64_t off, size_t len);
/* Tells the kernel that r's reads come in no order, so it reads what each read asks for
 * and no more, through the mapping if io_reader_map made one, else with pread; readers that
 * go in order then ask with io_reader_readahead. Call after io_reader_map. */
void io_reader_advise_random(io_reader *r);

/* ---- whole files and directories ---- */
int io_read_file(io_ctx *c, const char *path, buf *out, char *errmsg);
/* Writes dir/name atomically: temp file, fsync, rename, fsync dir (used for CURRENT). */
int io_write_file_atomic(io_ctx *c, const char *dir, const char *name, const void *data, size_t len,
                         char *errmsg);
int io_sync_dir(io_ctx *c, const char *dir, char *errmsg);
/* rename(2) through c's environment (not durable until the directory is synced). */
int io_rename(io_ctx *c, const char *from, const char *to, char *errmsg);
/* fsync of the directory holding path, so that a file made, renamed or removed there lasts. */
int io_sync_parent(io_ctx *c, const char *path, char *errmsg);
/* fdatasync of an existing file by path (a WAL found at open, whose tail may be unsynced). */
int io_sync_file(io_ctx *c, const char *path, char *errmsg);
/* unlink, reporting errors other than ENOENT */
int io_remove(io_ctx *c, const char *path, char *errmsg);

/* ---- counters, for stats ---- */
typedef struct io_stats {
  uint64_t uring_writers, fallback_writers; /* writers opened on each path */
  uint64_t bytes_written, writes, fsyncs, bytes_read, reads;
  uint64_t mapped_files; /* readers mapped by io_reader_map */
  uint64_t readaheads;   /* io_reader_readahead calls that asked the kernel */
} io_stats;
/* The counters of c (NULL: the default context). */
void io_stats_get(io_ctx *c, io_stats *out);
/* 1 when c's writers use io_uring, 0 when they use the pwrite fallback (forced or refused):
 * the path c's most recent io_writer_open took, or before any, what one would take now. */
int io_uring_in_use(io_ctx *c);

#endif /* SHALE_IO_IO_H */
