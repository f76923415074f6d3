/* test_hooks.h — named points in background work where a test can pause or act (the flush
 * window tests stop a flush at each step while reads run). One pointer load when unused. */
#ifndef SHALE_ENGINE_TEST_HOOKS_H
#define SHALE_ENGINE_TEST_HOOKS_H

#include <stdatomic.h>

#include "shale.h"

typedef enum test_hook_point {
  HOOK_FLUSH_PICKED = 1,      /* the oldest sealed memtable is chosen; nothing written yet */
  HOOK_FLUSH_TABLE_SYNCED,    /* table and directory synced; not in the MANIFEST */
  HOOK_FLUSH_MANIFEST_SYNCED, /* edit durable; the new view not yet published */
  HOOK_FLUSH_VIEW_PUBLISHED,  /* table in, memtable out; WALs not yet deleted */
  HOOK_FLUSH_WAL_DELETED,     /* flush complete */
  HOOK_COMPACTION_PICKED,
  HOOK_COMPACTION_OUTPUT_SYNCED,
  HOOK_COMPACTION_INSTALLED,
  HOOK_MANIFEST_WRITTEN,       /* a new MANIFEST synced; CURRENT not yet replaced */
  HOOK_CURRENT_RENAMED,        /* CURRENT renamed into place; directory not yet synced */
  HOOK_URING_COMPLETION,       /* inside the io_uring writer's completion handling */
  HOOK_TABLE_DELETED,          /* an obsolete table was unlinked */
  HOOK_INGEST_LINKED,          /* ingested files linked or copied in, synced; nothing else done */
  HOOK_INGEST_SEALED,          /* their global sequence written; the edit not yet logged */
  HOOK_INGEST_MANIFEST_SYNCED, /* edit durable; the new view not yet published */
} test_hook_point;

typedef void (*test_hook_fn)(shale_db *db, test_hook_point point);
/* Set by tests; called from background threads and ingest (no DB lock held). */
extern _Atomic(test_hook_fn) shale_test_hook;

static inline void test_hook(shale_db *db, test_hook_point p) {
  test_hook_fn fn = atomic_load_explicit(&shale_test_hook, memory_order_acquire);
  if (fn) fn(db, p);
}

#endif
