/* errmsg.c — where shale_errmsg's detail lives: per calling thread and per handle, so a
 * thread's failure never overwrites another thread's message, and each public call on a
 * handle starts by clearing the calling thread's old one (as RocksDB's Status is per call).
 * Handles are told apart by their generation, unique per open, so a handle freed and another
 * allocated at the same address never see each other's messages. */
#include <stdio.h>
#include <stdint.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "util/error.h"

/* Handles a thread keeps messages for at once; more than that evicts the oldest claim. */
#define ERR_SLOTS 4

typedef struct err_slot {
  uint64_t gen;
  char msg[ERRMSG_SIZE];
} err_slot;

static _Thread_local err_slot slots[ERR_SLOTS];
static _Thread_local unsigned used; /* bit i: slots[i] holds a message */
static _Thread_local unsigned victim;

/* Detail of the last failed call made without a handle in this thread. */
static _Thread_local char handleless[ERRMSG_SIZE];

static err_slot *find(uint64_t gen) {
  for (unsigned i = 0; i < ERR_SLOTS; i++)
    if ((used >> i & 1u) && slots[i].gen == gen) return &slots[i];
  return NULL;
}

static err_slot *claim(uint64_t gen) {
  err_slot *s = find(gen);
  if (s) return s;
  unsigned i = 0;
  while (i < ERR_SLOTS && (used >> i & 1u)) i++;
  if (i == ERR_SLOTS) i = victim++ % ERR_SLOTS;
  used |= 1u << i;
  slots[i].gen = gen;
  return &slots[i];
}

const char *shale_errmsg(const shale_db *db) {
  if (!db) return handleless;
  const err_slot *s = find(db->gen);
  return s ? s->msg : "";
}

char *db_handleless_errmsg(void) { return handleless; }

int db_fail(shale_db *db, int rc, const char *msg) {
  if (rc == SHALE_OK || rc == SHALE_NOTFOUND) return rc;
  err_slot *s = claim(db->gen);
  snprintf(s->msg, sizeof s->msg, "%s", msg && *msg ? msg : shale_strerror(rc));
  return rc;
}

void db_call_begin(const shale_db *db) {
  if (!used) return; /* the common case: one thread-local load per call */
  err_slot *s = find(db->gen);
  if (s) used &= ~(1u << (unsigned)(s - slots));
}

int db_call_end(shale_db *db, int rc) {
  if (rc != SHALE_OK && rc != SHALE_NOTFOUND && !find(db->gen)) db_fail(db, rc, NULL);
  return rc;
}
