/* sst_approx.c — see sst_approx.h. */
#include "sstable/sst_approx.h"

uint64_t sst_approx_range_bytes(const sst_reader *r, uint64_t file_size, const void *begin,
                                size_t blen, const void *end, size_t elen) {
  uint64_t lo = begin ? sst_reader_key_offset(r, begin, blen) : 0;
  uint64_t hi = end ? sst_reader_key_offset(r, end, elen) : file_size;
  if (hi > file_size) hi = file_size;
  return hi > lo ? hi - lo : 0;
}
