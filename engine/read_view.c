/* read_view.c — refcounted read views; see read_view.h. */
#include "engine/read_view.h"

#include <stdlib.h>

#include "engine/version.h"

read_view *read_view_new(memtable *mem, memtable *imm, int imm_count, struct version *ver,
                         uint64_t number) {
  read_view *v = malloc(sizeof *v);
  if (!v) return NULL;
  atomic_init(&v->refs, 1);
  v->mem = mem;
  v->imm = imm;
  v->imm_count = imm_count;
  v->ver = ver;
  v->number = number;
  memtable_ref(mem);
  memtable *m = imm;
  for (int i = 0; i < imm_count; i++, m = memtable_next(m)) memtable_ref(m);
  if (ver) version_ref(ver);
  return v;
}

void read_view_unref(read_view *v) {
  if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) return;
  memtable *m = v->imm;
  for (int i = 0; i < v->imm_count; i++) {
    memtable *older = memtable_next(m);
    memtable_unref(m);
    m = older;
  }
  memtable_unref(v->mem);
  if (v->ver) version_unref(v->ver);
  free(v);
}
