/* version.c — refcounted file sets; see version.h. */
#include "engine/version.h"

#include <stdlib.h>

#include "sstable/sst_format.h"
#include "util/ikey.h"

file_meta *file_meta_new(void) {
  file_meta *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  atomic_init(&f->refs, 1);
  buf_init(&f->smallest);
  buf_init(&f->largest);
  return f;
}

int file_meta_spans_key(const file_meta *f, const shale_comparator *cmp, const void *key,
                        size_t klen) {
  return ukey_cmp(cmp, key, klen, f->smallest.data, f->smallest.len - IKEY_TRAILER) >= 0 &&
         ukey_cmp(cmp, key, klen, f->largest.data, f->largest.len - IKEY_TRAILER) <= 0;
}

void file_meta_set_from_sst(file_meta *f, const sst_meta *m) {
  f->file_size = m->file_size;
  f->entries = m->entries;
  f->point_tombstones = m->point_tombstones;
  f->range_tombstones = m->range_tombstones;
  f->min_seq = m->min_seq;
  f->max_seq = m->max_seq;
  f->min_tomb_seq = m->min_tomb_seq;
  f->max_tomb_seq = m->max_tomb_seq;
  f->oldest_tomb_us = m->oldest_tomb_us;
  f->newest_tomb_us = m->newest_tomb_us;
  f->raw_bytes = m->raw_key_bytes + m->raw_value_bytes;
  buf_clear(&f->smallest);
  buf_clear(&f->largest);
  buf_append(&f->smallest, m->smallest.data, m->smallest.len);
  buf_append(&f->largest, m->largest.data, m->largest.len);
}

void file_meta_ref(file_meta *f) { atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed); }

void file_meta_unref(file_meta *f) {
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
  if (atomic_load(&f->obsolete) && f->reaper) f->reaper->reap(f->reaper, f->number);
  buf_free(&f->smallest);
  buf_free(&f->largest);
  free(f);
}

version *version_new(void) {
  version *v = calloc(1, sizeof *v);
  if (v) atomic_init(&v->refs, 1);
  return v;
}

void version_ref(version *v) { atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed); }

void version_unref(version *v) {
  if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) return;
  for (int l = 0; l < NUM_LEVELS; l++) {
    for (int i = 0; i < v->nfiles[l]; i++) file_meta_unref(v->files[l][i]);
    free(v->files[l]);
  }
  free(v);
}

int version_add_file(version *v, int level, file_meta *f) {
  file_meta **p = realloc(v->files[level], sizeof *p * (size_t)(v->nfiles[level] + 1));
  if (!p) return -1;
  v->files[level] = p;
  p[v->nfiles[level]++] = f;
  file_meta_ref(f);
  return 0;
}

static int by_newest(const void *a, const void *b) {
  const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
  if (x->max_seq != y->max_seq) return x->max_seq > y->max_seq ? -1 : 1;
  return x->number > y->number ? -1 : x->number < y->number;
}

static int by_smallest(const void *a, const void *b, void *cmp) {
  const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
  return ikey_cmp(cmp, x->smallest.data, x->smallest.len, y->smallest.data, y->smallest.len);
}

void version_sort(version *v) {
  if (v->nfiles[0] > 1) qsort(v->files[0], (size_t)v->nfiles[0], sizeof(file_meta *), by_newest);
  for (int l = 1; l < NUM_LEVELS; l++)
    if (v->nfiles[l] > 1)
      qsort_r(v->files[l], (size_t)v->nfiles[l], sizeof(file_meta *), by_smallest, (void *)v->cmp);
}

uint64_t version_level_bytes(const version *v, int level) {
  uint64_t n = 0;
  for (int i = 0; i < v->nfiles[level]; i++) n += v->files[level][i]->file_size;
  return n;
}
