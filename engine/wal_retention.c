/* wal_retention.c — the retention rule for obsolete WALs: a WAL is kept while it is young
 * enough or while it is among the newest that fit in the byte budget. */
#include "engine/wal_retention.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "engine/filename.h"
#include "util/clock.h"

int wal_retention_on(const shale_options *o) {
  return o->wal_retention_seconds > 0 || o->wal_retention_bytes > 0;
}

/* Age from the last write: a WAL is written until it is sealed, so its mtime is about when
 * its last record came, which is what a follower lagging by some seconds needs. */
static int keeps(const shale_options *o, const struct stat *st, uint64_t now_us, uint64_t *bytes) {
  uint64_t mtime_us =
      (uint64_t)st->st_mtim.tv_sec * 1000000u + (uint64_t)st->st_mtim.tv_nsec / 1000;
  double age = now_us > mtime_us ? (double)(now_us - mtime_us) / 1e6 : 0;
  *bytes += (uint64_t)st->st_size;
  return (o->wal_retention_seconds > 0 && age < o->wal_retention_seconds) ||
         (o->wal_retention_bytes > 0 && *bytes <= o->wal_retention_bytes);
}

uint64_t wal_retention_keep_from(io_ctx *io, const char *dir, const shale_options *o, uint64_t from,
                                 uint64_t below) {
  if (!wal_retention_on(o)) return below;
  uint64_t *nums, keep = below, bytes = 0, now = clock_wall_us();
  size_t n = filename_list_wals(io, dir, from, &nums);
  char path[FILENAME_MAX_LEN];
  struct stat st;
  for (size_t i = n; i-- > 0;) {
    if (nums[i] >= below) continue;
    filename_wal(path, dir, nums[i]);
    if (stat(path, &st)) continue; /* gone already: nothing to keep or delete */
    if (!keeps(o, &st, now, &bytes)) break;
    keep = nums[i];
  }
  free(nums);
  return keep;
}

int wal_retention_retire(io_ctx *io, const char *dir, uint64_t number) {
  char from[FILENAME_MAX_LEN], to[FILENAME_MAX_LEN];
  filename_log(from, dir, number);
  filename_old_log(to, dir, number);
  return io_rename(io, from, to, NULL) == SHALE_OK;
}
