/* version_set.h — the current version and the MANIFEST that makes it durable. Every change
 * of the live file set is an edit appended and synced to the MANIFEST before it becomes the
 * current version; CURRENT names the MANIFEST and is replaced atomically. */
#ifndef SHALE_ENGINE_VERSION_SET_H
#define SHALE_ENGINE_VERSION_SET_H

#include <stdint.h>

#include "engine/version.h"
#include "engine/version_edit.h"
#include "shale.h"
#include "wal/wal_writer.h"

/* A new MANIFEST is started (holding one snapshot edit) once the old one passes this size. */
#define MANIFEST_ROLL_BYTES (64u << 20)

/* What the DB's mu guards here, though the DB, not the version set, holds that lock: written
 * under it and the MANIFEST mutex (vset_install), so read under either. The engine reads it
 * through db_current_version() (engine/db_impl.h), which SH_REQUIRES(db->mu); this file's
 * functions, which get no DB to name the lock on, say which they need in a REQUIRES comment
 * and their engine-side callers' SH_REQUIRES prove it (scripts/check-lock-groups.sh). Before
 * any other thread reaches vs (open, and a version set with no DB around it) and after they
 * are gone (close), no lock is needed. */
typedef struct vset_db_mu_state {
  version *current; /* referenced */
} vset_db_mu_state;

typedef struct version_set {
  io_ctx *io; /* the DB's file layer (NULL: io_ctx_default()) */
  const char *dir;
  file_reaper *reaper;
  vset_db_mu_state under_db_mu; /* reached only through db_current_version() and vs_held() */
  wal_writer *manifest;
  uint64_t manifest_number;
  uint64_t log_number; /* WALs below it are fully in tables */
  uint64_t last_seq;   /* recovered from the MANIFEST */
  uint64_t next_file;  /* recovered; the DB keeps the live counter */
  /* The comparator name the MANIFEST records; "" when none (bytewise). The order itself is
   * current->cmp, set by the DB before recovery. */
  char comparator[COMPARATOR_NAME_MAX + 1];
  /* What vset_recover read: the MANIFEST CURRENT named, and its size just before the replay
   * (for vset_check_unchanged). */
  char recovered_manifest[256];
  uint64_t recovered_bytes;
} version_set;

void vset_init(version_set *vs, io_ctx *io, const char *dir, file_reaper *reaper);
/* Like vset_init, but holding v (a reference taken) rather than an empty version: for a
 * MANIFEST written from a version the caller holds, with no DB around vs (checkpoint,
 * repair) and no reaper (vs installs nothing). */
void vset_init_holding(version_set *vs, io_ctx *io, const char *dir, version *v);
void vset_close(version_set *vs);
/* Loads CURRENT and its MANIFEST. *exists = 0 when there is no CURRENT (a new DB).
 * REQUIRES: no other thread reaches vs yet (an open, a fuzz harness). */
int vset_recover(version_set *vs, int *exists, char *errmsg);
/* The version vs holds, for a caller with no DB around it (a fuzz harness); the engine reads
 * it through db_current_version(), which proves it holds the DB mutex. */
const version *vset_current_alone(version_set *vs);
/* The number of the MANIFEST vset_recover read, or 0 when it read none. */
uint64_t vset_recovered_manifest_number(const version_set *vs);
/* For an open without the LOCK (read_only), beside a writer that may move on meanwhile:
 * SHALE_OK when CURRENT still names the MANIFEST vset_recover read and, unless
 * allow_growth, that file did not grow since (an edit appended after the replay may have
 * removed files the recovered version lists); SHALE_BUSY, with a message, when either
 * changed; SHALE_IOERR or SHALE_CORRUPTION when CURRENT cannot be read. */
int vset_check_unchanged(const version_set *vs, int allow_growth, char *errmsg);
/* SHALE_INVALID, with a message naming both, unless the recovered MANIFEST records cmp's
 * name (none recorded: bytewise). */
int vset_check_comparator(const version_set *vs, const shale_comparator *cmp, char *errmsg);
/* Writes a fresh MANIFEST numbered manifest_number holding the whole current state and
 * points CURRENT at it. REQUIRES: the MANIFEST mutex, or no other thread reaching vs. */
int vset_write_snapshot(version_set *vs, uint64_t manifest_number, uint64_t next_file,
                        char *errmsg);
/* The last sequence the next edit or snapshot records: every write up to it is in the
 * tables or in a WAL the edit keeps. Recovery sets it from what it replayed. */
void vset_set_last_seq(version_set *vs, uint64_t last_seq);
/* The WAL the next edit or snapshot records as the oldest still needed. Recovery sets it
 * when the WALs it replayed held nothing: every WAL below the new one is then obsolete. */
void vset_set_log_number(version_set *vs, uint64_t log_number);
/* Appends e (with the log number, next file and last sequence given) to the MANIFEST, syncs
 * it, and returns in *out the version current + e (referenced) for vset_install.
 * REQUIRES: the MANIFEST mutex held from here through vset_install (enough to read the
 * current version: vset_install changes it under both). */
int vset_log_and_apply(version_set *vs, version_edit *e, uint64_t next_file, uint64_t last_seq,
                       version **out, char *errmsg);
/* Makes v (from vset_log_and_apply of e) current. Files e deletes that v no longer lists
 * anywhere are marked obsolete: unlinked when no view reaches them. REQUIRES: the DB mutex
 * and the MANIFEST mutex held, so readers of `current` under either see a whole swap. */
void vset_install(version_set *vs, const version_edit *e, version *v);
/* Does v list the file at any level (a trivially moved file changes level only)? */
int version_has_file(const version *v, int level, uint64_t number);
/* Applies e to base into a new version (no I/O). */
int vset_apply(const version *base, const version_edit *e, file_reaper *reaper, version **out);

#endif
