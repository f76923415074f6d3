/* read_view.h — the versioned read view of doc/DESIGN.md: an immutable, refcounted snapshot of
 * which components hold the data — the mutable memtable, the newest `imm_count` sealed
 * memtables reached through `next`, and the SSTable version. Every read runs against one
 * view, so a flush that moves data from a memtable into a table can never make it vanish
 * from a read in flight: the reader still holds the view that has the memtable. */
#ifndef SHALE_ENGINE_READ_VIEW_H
#define SHALE_ENGINE_READ_VIEW_H

#include <stdatomic.h>
#include <stdint.h>

#include "memtable/memtable.h"

struct version;

typedef struct read_view {
  atomic_int refs;
  memtable *mem;       /* referenced */
  memtable *imm;       /* newest sealed memtable (referenced with its chain), or NULL */
  int imm_count;       /* walk exactly this many nodes from imm along memtable_next */
  struct version *ver; /* referenced; NULL before any table exists */
  uint64_t number;     /* strictly increasing per DB */
} read_view;

/* A new view with one reference, taking references on every component it reaches. */
read_view *read_view_new(memtable *mem, memtable *imm, int imm_count, struct version *ver,
                         uint64_t number);
static inline void read_view_ref(read_view *v) {
  atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}
/* Drops a reference; the last one releases every component the view reached. */
void read_view_unref(read_view *v);

#endif /* SHALE_ENGINE_READ_VIEW_H */
