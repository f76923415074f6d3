/* fuzz_sst.c — the SSTable reader (sstable/sst_reader.h) over arbitrary file contents: open
 * (footer, metadata blocks, filters), iterate both ways, seek, and point lookups of keys
 * seen and keys taken from the input; every damage must come back as an error code. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shale.h"
#include "sstable/block_cache.h"
#include "sstable/sst_reader.h"
#include "util/error.h"
#include "util/ikey.h"

#define MAX_STEPS 100000

static void lookup(sst_reader *r, const uint8_t *key, size_t klen) {
  char errmsg[ERRMSG_SIZE];
  unsigned kind;
  void *val = NULL;
  size_t vlen;
  uint64_t seq;
  int rc = sst_reader_get(r, key, klen, SEQ_MAX, &kind, &val, &vlen, &seq, errmsg);
  FUZZ_CHECK(rc <= 1, "sst_reader_get returned %d", rc);
  if (rc == 1 && kind == KIND_PUT) {
    FUZZ_CHECK(val != NULL, "a PUT without a value copy");
    if (vlen) FUZZ_CHECK(((volatile uint8_t *)val)[vlen - 1] || 1, "unreachable");
  } else {
    FUZZ_CHECK(rc == 1 || val == NULL, "value set on a miss");
  }
  free(val);
  (void)sst_reader_may_contain(r, key, klen);
}

static void walk(sst_reader *r, int backward, const uint8_t *data, size_t size) {
  sst_iter *it;
  if (sst_iter_new(r, &it)) return;
  backward ? sst_iter_seek_last(it) : sst_iter_seek_first(it);
  uint8_t *keys = NULL; /* a few user keys seen, looked up afterwards */
  size_t nk = 0, cap = 0;
  for (int i = 0; i < MAX_STEPS && sst_iter_valid(it); i++) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const void *v = sst_iter_value(it, &vl);
    FUZZ_CHECK(kl >= IKEY_TRAILER, "internal key of %zu bytes", kl);
    if (vl) (void)((volatile const uint8_t *)v)[vl - 1];
    if (i % 7 == 0 && nk < 64 && kl - IKEY_TRAILER < 256) {
      if (nk * 258 + 258 > cap) keys = realloc(keys, cap = (nk + 1) * 258 * 2);
      keys[nk * 258] = (uint8_t)(kl - IKEY_TRAILER);
      memcpy(keys + nk * 258 + 1, k, kl - IKEY_TRAILER);
      nk++;
    }
    backward ? sst_iter_prev(it) : sst_iter_next(it);
  }
  if (sst_iter_status(it)) FUZZ_CHECK(!sst_iter_valid(it), "valid after an error");
  (void)sst_iter_errmsg(it);
  /* seeks: to the keys seen, and to a key cut from the input */
  for (size_t i = 0; i < nk; i++) {
    uint8_t ik[256 + IKEY_TRAILER];
    size_t l = keys[i * 258];
    memcpy(ik, keys + i * 258 + 1, l);
    put_fixed64(ik + l, ikey_pack(SEQ_MAX, KIND_SEEK));
    sst_iter_seek(it, ik, l + IKEY_TRAILER);
    if (sst_iter_valid(it)) sst_iter_next(it);
    lookup(r, ik, l);
  }
  if (size > 16) {
    size_t l = data[size - 1] % 24;
    if (l > size) l = size;
    uint8_t ik[24 + IKEY_TRAILER];
    memcpy(ik, data + size - l, l);
    put_fixed64(ik + l, ikey_pack(SEQ_MAX, KIND_SEEK));
    sst_iter_seek(it, ik, l + IKEY_TRAILER);
    if (sst_iter_valid(it)) sst_iter_prev(it);
    lookup(r, ik, l);
  }
  free(keys);
  sst_iter_free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_write("000007.sst", data, size);
  char errmsg[ERRMSG_SIZE];
  block_cache *cache = NULL;
  if (size & 1) block_cache_new(1 << 20, &cache); /* both read paths */
  sst_reader *r;
  int rc = sst_reader_open(NULL, p, 7, cache, &r, errmsg);
  if (rc) {
    FUZZ_CHECK(rc < 0 && r == NULL, "sst_reader_open returned %d", rc);
  } else {
    const sst_meta *m = sst_reader_meta(r);
    FUZZ_CHECK(m != NULL, "no metadata");
    const sst_range_del *dels;
    size_t nd = sst_reader_range_dels(r, &dels);
    for (size_t i = 0; i < nd; i++) {
      lookup(r, dels[i].begin, dels[i].blen);
      lookup(r, dels[i].end, dels[i].elen);
      /* the record itself covers its begin, and nothing newer counts at its own seq */
      uint64_t c = sst_reader_range_cover(r, dels[i].begin, dels[i].blen, dels[i].seq);
      FUZZ_CHECK(c == dels[i].seq, "range cover %llu at a tombstone's begin, seq %llu",
                 (unsigned long long)c, (unsigned long long)dels[i].seq);
      (void)sst_reader_range_cover(r, dels[i].end, dels[i].elen, SEQ_MAX);
    }
    uint64_t counts[8];
    (void)sst_reader_block_tombstones(r, 0, counts, 8);
    walk(r, 0, data, size);
    walk(r, 1, data, size);
    sst_reader_close(r);
  }
  block_cache_free(cache);
  return 0;
}
