/* sst_format.c — small helpers shared by the SSTable builder and reader: the meta summary
 * and file names. */
#include "sstable/sst_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shale.h"

void sst_meta_free(sst_meta *m) {
  if (!m) return;
  buf_free(&m->smallest);
  buf_free(&m->largest);
  memset(m, 0, sizeof *m);
}

int sst_meta_copy(sst_meta *dst, const sst_meta *src) {
  *dst = *src;
  buf_init(&dst->smallest);
  buf_init(&dst->largest);
  buf_append(&dst->smallest, src->smallest.data, src->smallest.len);
  buf_append(&dst->largest, src->largest.data, src->largest.len);
  if (!buf_ok(&dst->smallest) || !buf_ok(&dst->largest)) {
    sst_meta_free(dst);
    return SHALE_NOMEM;
  }
  return SHALE_OK;
}

void sst_file_name(char *out, size_t n, const char *dir, uint64_t number) {
  snprintf(out, n, "%s/%06" PRIu64 ".sst", dir, number);
}
