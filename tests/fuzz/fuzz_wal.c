/* fuzz_wal.c — the WAL reader (wal/wal_reader.h) over arbitrary file contents, in strict and
 * tolerant mode, and the batch decoder over every record it returns: no crash, no read out
 * of bounds, errors only as SHALE_* codes. */
#include <string.h>

#include "engine/batch.h"
#include "fuzz_common.h"
#include "shale.h"
#include "util/error.h"
#include "wal/wal_reader.h"

static int visit(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                 const void *val, size_t vlen) {
  size_t *sum = arg;
  (void)seq;
  *sum += kind + klen + vlen;
  if (klen) *sum += ((const uint8_t *)key)[klen - 1];
  if (vlen) *sum += ((const uint8_t *)val)[vlen - 1];
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_write("000001.log", data, size);
  char errmsg[ERRMSG_SIZE];
  for (int tolerant = 0; tolerant < 2; tolerant++) {
    wal_reader *r;
    int rc = wal_reader_open(NULL, p, tolerant, &r, errmsg);
    if (rc) {
      FUZZ_CHECK(rc < 0 && r == NULL, "wal_reader_open returned %d", rc);
      continue;
    }
    const uint8_t *rec;
    size_t len, sum = 0, n = 0;
    uint64_t last_good = 0;
    while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
      FUZZ_CHECK(len <= size, "a record of %zu bytes from a %zu-byte file", len, size);
      if (len >= BATCH_HEADER) batch_rep_iterate(rec, len, visit, &sum);
      uint64_t good = wal_reader_last_good_offset(r);
      FUZZ_CHECK(good >= last_good && good <= size, "last good offset %llu",
                 (unsigned long long)good);
      last_good = good;
      n++;
    }
    FUZZ_CHECK(rc <= 0, "wal_reader_next returned %d", rc);
    if (rc < 0) FUZZ_CHECK(wal_reader_next(r, &rec, &len, errmsg) == rc, "error not sticky");
    const char *dropped = wal_reader_dropped(r);
    if (dropped) sum += strlen(dropped);
    (void)wal_reader_log_number(r);
    wal_reader_close(r);
    (void)n;
  }
  return 0;
}
