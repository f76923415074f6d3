/* kv_fsm.h — a Raft state machine (canonical/raft's struct raft_fsm) whose state is a Shale
 * DB: commands are applied as Shale batches, snapshots are SST files, and a snapshot is
 * restored by ingesting its SST, which clears what the DB held and loads the new state in
 * one atomic step. */
#ifndef SHALE_EXAMPLE_KV_FSM_H
#define SHALE_EXAMPLE_KV_FSM_H

#include <raft.h>
#include <shale.h>
#include <stddef.h>
#include <stdint.h>

/** Longest key the service stores (bytes). */
#define KV_MAX_KEY 1024u

/** Command opcodes (the first byte of a command). */
#define KV_OP_PUT 'P'
#define KV_OP_DELETE 'D'

/** One replica's state machine. */
struct kv_fsm {
  struct raft_fsm fsm;      /**< handed to raft_init; fsm.data points back here */
  struct raft *raft;        /**< the Raft instance applying to it (for the entry's index) */
  shale_db *db;             /**< the state */
  shale_options options;    /**< the DB's options, also used for snapshot tables */
  shale_batch *batch;       /**< reused by each apply */
  char dir[512];            /**< a directory for snapshot files, next to the DB */
  uint64_t applied;         /**< last Raft index whose effect the DB holds (persisted in it) */
  unsigned snapshots_taken; /**< fsm.snapshot calls that succeeded */
  unsigned installs;        /**< restores that replaced the DB's state */
};

/**
 * Open (creating if missing) the DB in "<dir>/db" and set up @p f's callbacks.
 * @param[out] f     the state machine
 * @param[in]  dir   the replica's directory (must exist); snapshot files are made in it
 * @param[in]  raft  the Raft instance that will drive @p f (raft_init comes later)
 * @return SHALE_OK, or the shale_open / batch allocation error (printed to stderr)
 */
int kv_fsm_open(struct kv_fsm *f, const char *dir, struct raft *raft);

/** Close the DB (after raft_close's callback fired) and free what kv_fsm_open allocated. */
void kv_fsm_close(struct kv_fsm *f);

/**
 * Encode a put (@p val non-NULL) or a delete (@p val NULL) as a command for raft_apply.
 * @param[in]  key   at most KV_MAX_KEY bytes
 * @param[in]  klen  its length
 * @param[in]  val   the value, or NULL for a delete
 * @param[in]  vlen  its length (0 for a delete)
 * @param[out] buf   the command, zero-padded to a multiple of 8 bytes, in memory from
 *                   raft_calloc (ownership passes to raft_apply)
 * @return 0; RAFT_INVALID for an oversized key or value; RAFT_NOMEM
 */
int kv_command_encode(const void *key, size_t klen, const void *val, size_t vlen,
                      struct raft_buffer *buf);

/**
 * Open an iterator over the service's keys (not the FSM's own bookkeeping) as of @p snap.
 * Keys come out without the internal prefix through kv_iter_key.
 * @return as shale_iter_new_opts
 */
int kv_iter_new(struct kv_fsm *f, const shale_snapshot *snap, shale_iter **it);

/** The current key of an iterator from kv_iter_new, without the internal prefix. */
const void *kv_iter_key(shale_iter *it, size_t *klen);

#endif
