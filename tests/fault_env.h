/* fault_env.h — fault injection for the tests, as an I/O environment (shale_env) they put
 * in the options of the DBs they open (tu_options_init does): RocksDB's
 * FaultInjectionTestEnv and SQLite's I/O-error sweeps, at the file layer's own calls so the
 * io_uring path is covered too (strace and LD_PRELOAD cannot see io_uring I/O). It can fail
 * the Nth operation of a kind with an errno, cut every write short, and simulate a power
 * loss: forget every byte not fsynced and every directory change not made durable by a
 * directory fsync. libshale holds none of it: a DB opened without this env does its I/O
 * unwatched. doc/reliability.md describes the power-loss model and its limits. */
#ifndef SHALE_TESTS_FAULT_ENV_H
#define SHALE_TESTS_FAULT_ENV_H

#include <stdint.h>

#include "shale.h"

/* What a hook counts. One call of the layer may count under several kinds: an io_uring
 * write completion is a WRITE and a URING op; an io_uring fdatasync completion is a SYNC
 * and a URING op. */
typedef enum io_fault_kind {
  IO_FAULT_OPEN,    /* open/create of a file: logs, table writers, readers, CURRENT's temp */
  IO_FAULT_WRITE,   /* write(2), pwrite(2), an io_uring write completion, a mapped log's
                     * fallocate of its next window */
  IO_FAULT_SYNC,    /* fsync/fdatasync of a file, an io_uring fdatasync completion */
  IO_FAULT_RENAME,  /* rename(2) (CURRENT's atomic replace) */
  IO_FAULT_READ,    /* pread(2) of io_reader */
  IO_FAULT_UNLINK,  /* unlink(2) of io_remove */
  IO_FAULT_DIRSYNC, /* the fsync of a directory (io_sync_dir, io_write_file_atomic) */
  IO_FAULT_URING,   /* any io_uring completion (CQE) of the writer */
  IO_FAULT_KINDS
} io_fault_kind;

/* The env: the real calls (shale_env_default) behind the counting, failing and recording
 * below. It also calls shale_test_hook (test_hooks.h) at each engine point (shale_env.point),
 * at HOOK_CURRENT_RENAMED (after a rename, before the directory sync) and at
 * HOOK_URING_COMPLETION (as an io_uring completion is handled). */
const shale_env *fault_env(void);
/* A short name for kind ("write", "fsync", ...), for messages. */
const char *io_fault_kind_name(io_fault_kind kind);

/* ---- errors ----
 * Every function here is thread-safe (atomics) and process-local: a forked child inherits
 * the armed faults and counters as they were at fork. */

/* The nth op of kind counted from now (n >= 1) fails with err (EIO, ENOSPC, ...): the
 * operation is not performed and the caller sees err as if the system call returned it. An
 * io_uring completion's result is replaced with -err (the write itself did happen). One
 * armed fault per kind; arming again replaces it. */
void io_fault_fail_nth(io_fault_kind kind, uint64_t n, int err);
/* Like io_fault_fail_nth, but the nth op and every later op of kind fail (a full disk:
 * io_fault_fail_from(IO_FAULT_WRITE, 1, ENOSPC)), until io_fault_reset or a new arming. */
void io_fault_fail_from(io_fault_kind kind, uint64_t n, int err);
/* on != 0: every write(2)/pwrite(2) transfers at most half of what was asked (at least one
 * byte), and io_uring write completions report half of what was written, so every retry
 * and resubmission path runs. */
void io_fault_short_writes(int on);
/* Ops of kind counted since the last io_fault_reset (or since arming, see above: arming
 * restarts the count of that kind). */
uint64_t io_fault_count(io_fault_kind kind);
/* Faults injected (failed ops and shortened writes) since the last io_fault_reset. */
uint64_t io_fault_injected(void);
/* Disarms every fault, stops short writes and zeroes the counters. Power-loss tracking is
 * not affected. */
void io_fault_reset(void);

/* ---- simulated power loss ----
 * Tracking records, for every file created under dir from now on, the length known durable
 * (set by a successful fsync/fdatasync of it) and whether its directory entry is durable
 * (set by a successful io_sync_dir of its directory); renames and unlinks under dir are
 * recorded the same way. The table lives in a MAP_SHARED anonymous mapping, so a child
 * forked after io_fault_track_begin records into the parent's table: the parent can kill
 * the child (SIGKILL) and then call io_fault_power_loss itself. Files that existed before
 * tracking began are treated as durable as they are.
 * REQUIRES: called from one thread while no I/O runs under dir. Returns 0, or -1 when the
 * mapping cannot be created. */
int io_fault_track_begin(const char *dir);
/* Applies a power loss to the files under the tracked dir, as a crash of the machine would
 * leave them: every tracked file is truncated to its durable length, except a WAL (*.log),
 * whose unsynced pages are each kept or lost (zeroed) at random and whose size is kept or
 * cut anywhere past the durable length, as unordered page-cache writeback leaves a file
 * (see io_fault_power_loss_seed); a file whose creation
 * was not made durable by a directory fsync is deleted; a rename not made durable is rolled
 * back (the target gets its previous content again if it had one of at most 64 KiB, or is
 * deleted if it had none); an unlink not made durable stays done (the model does not bring
 * files back). Afterwards the table is empty: everything on disk counts as durable.
 * REQUIRES: no I/O under dir runs during the call or later in the same process image (call
 * it in the parent after the writer child died, or in a child just before _exit with no
 * other thread doing I/O). Returns the number of files changed, or -1 if the table
 * overflowed (more files or longer paths than it holds: the result is not a valid power loss). */
int io_fault_power_loss(void);
/* Seeds the choice of the WAL pages a power loss keeps, so a failing run can be replayed. */
void io_fault_power_loss_seed(uint64_t seed);
/* Stops tracking and unmaps the table (in the calling process; other processes keep theirs). */
void io_fault_track_end(void);

#endif /* SHALE_TESTS_FAULT_ENV_H */
