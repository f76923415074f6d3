/* live_files.c — shale_live_files: the MANIFEST's per-table figures as structs, so a program
 * reads table properties without parsing "shale.sstables". One allocation holds the array
 * and every key after it, so one free releases all. */
#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/view_cache.h"
#include "util/ikey.h"

static size_t key_bytes(const version *v, size_t *n) {
  size_t bytes = 0;
  *n = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      bytes += v->files[l][i]->smallest.len + v->files[l][i]->largest.len;
      (*n)++;
    }
  return bytes;
}

/* Copies the user-key part of internal key ik to *at; returns where it went. */
static const void *put_ukey(char **at, const buf *ik, size_t *len) {
  *len = ik->len >= IKEY_TRAILER ? ik->len - IKEY_TRAILER : 0;
  const void *p = *at;
  if (*len) memcpy(*at, ik->data, *len);
  *at += *len;
  return p;
}

static void fill(shale_live_file *o, int level, const file_meta *f, char **keys) {
  memset(o, 0, sizeof *o);
  o->number = f->number;
  o->level = level;
  o->smallest = put_ukey(keys, &f->smallest, &o->smallest_len);
  o->largest = put_ukey(keys, &f->largest, &o->largest_len);
  o->file_size = f->file_size;
  o->raw_bytes = f->raw_bytes;
  o->entries = f->entries;
  o->point_tombstones = f->point_tombstones;
  o->range_tombstones = f->range_tombstones;
  o->min_seq = f->min_seq;
  o->max_seq = f->max_seq;
  o->min_tomb_seq = f->min_tomb_seq;
  o->max_tomb_seq = f->max_tomb_seq;
  o->oldest_tomb_us = f->oldest_tomb_us;
  o->newest_tomb_us = f->newest_tomb_us;
}

static int live_files_call(shale_db *db, shale_live_file **files, size_t *n) {
  if (!files || !n) return db_fail(db, SHALE_INVALID, "live_files: NULL out-parameter");
  read_view *v = db_view_acquire(db);
  size_t count, bytes = key_bytes(v->ver, &count);
  shale_live_file *out = count ? malloc(count * sizeof *out + bytes) : NULL;
  if (count && !out) {
    read_view_unref(v);
    return db_fail(db, SHALE_NOMEM, "live_files: out of memory");
  }
  char *keys = (char *)(out + count);
  size_t k = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->ver->nfiles[l]; i++) fill(&out[k++], l, v->ver->files[l][i], &keys);
  read_view_unref(v);
  *files = out;
  *n = count;
  return SHALE_OK;
}

int shale_live_files(shale_db *db, shale_live_file **files, size_t *n) {
  if (files) *files = NULL;
  if (n) *n = 0;
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, live_files_call(db, files, n));
}

void shale_live_files_free(shale_live_file *files) { free(files); }
