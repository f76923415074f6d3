/* test_hooks.h — the moments where a test can pause or act: the engine's points
 * (shale_env.point, SHALE_POINT_*) and two the fault env sees in the file layer itself.
 * The fault env (fault_env.c), which tu_options_init puts in every test DB's options, calls
 * shale_test_hook at each. One pointer load when unused; none of this is in libshale. */
#ifndef SHALE_TESTS_TEST_HOOKS_H
#define SHALE_TESTS_TEST_HOOKS_H

#include <stdatomic.h>

#include "shale.h"

typedef enum test_hook_point {
  HOOK_FLUSH_PICKED = SHALE_POINT_FLUSH_PICKED,
  HOOK_FLUSH_TABLE_SYNCED = SHALE_POINT_FLUSH_TABLE_SYNCED,
  HOOK_FLUSH_MANIFEST_SYNCED = SHALE_POINT_FLUSH_MANIFEST_SYNCED,
  HOOK_FLUSH_VIEW_PUBLISHED = SHALE_POINT_FLUSH_VIEW_PUBLISHED,
  HOOK_FLUSH_WAL_DELETED = SHALE_POINT_FLUSH_WAL_DELETED,
  HOOK_COMPACTION_PICKED = SHALE_POINT_COMPACTION_PICKED,
  HOOK_COMPACTION_OUTPUT_SYNCED = SHALE_POINT_COMPACTION_OUTPUT_SYNCED,
  HOOK_COMPACTION_INSTALLED = SHALE_POINT_COMPACTION_INSTALLED,
  HOOK_MANIFEST_WRITTEN = SHALE_POINT_MANIFEST_WRITTEN,
  HOOK_TABLE_DELETED = SHALE_POINT_TABLE_DELETED,
  HOOK_INGEST_LINKED = SHALE_POINT_INGEST_LINKED,
  HOOK_INGEST_SEALED = SHALE_POINT_INGEST_SEALED,
  HOOK_INGEST_MANIFEST_SYNCED = SHALE_POINT_INGEST_MANIFEST_SYNCED,
  HOOK_CURRENT_RENAMED,  /* CURRENT renamed into place; directory not yet synced */
  HOOK_URING_COMPLETION, /* inside the io_uring writer's completion handling */
} test_hook_point;

typedef void (*test_hook_fn)(shale_db *db, test_hook_point point);
/* Set by tests; called from the thread doing the work (no DB lock held). Defined in
 * fault_env.c. */
extern _Atomic(test_hook_fn) shale_test_hook;

static inline void test_hook(shale_db *db, test_hook_point p) {
  test_hook_fn fn = atomic_load_explicit(&shale_test_hook, memory_order_acquire);
  if (fn) fn(db, p);
}

#endif /* SHALE_TESTS_TEST_HOOKS_H */
