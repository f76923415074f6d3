/* sst_external.c — sets an external table's global sequence; see sst_external.h. Only the
 * 8-byte field and the footer checksum change, in one pwrite of the tail: the blocks, which
 * the sequence does not enter, stay as the writer made them, so ingest costs a link or a copy
 * and 104 bytes, not a rewrite of every key. */
#include "sstable/sst_external.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "sstable/sst_format.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

static int full_pread(const shale_env *env, int fd, uint8_t *p, size_t n, off_t off) {
  while (n) {
    int64_t r = env->pread(env->arg, fd, p, n, (int64_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r < 0 ? errno : EIO;
    p += r;
    n -= (size_t)r;
    off += r;
  }
  return 0;
}

static int full_pwrite(const shale_env *env, int fd, const uint8_t *p, size_t n, off_t off) {
  while (n) {
    int64_t r = env->pwrite(env->arg, fd, p, n, (int64_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    p += r;
    n -= (size_t)r;
    off += r;
  }
  return 0;
}

/* Checks the tail is an external table's footer (version 5 or 7) and sets its sequence and checksum
 * in place. */
static int patch_tail(uint8_t *tail, uint64_t seq, const char *path, char *errmsg) {
  size_t pre = SST_EXTERNAL_TAIL_SIZE - SST_FOOTER_SIZE;
  const uint8_t *f = tail + pre;
  if (get_fixed64(f + 88) != SST_MAGIC || !sst_version_is_external(get_fixed32(f + 80)))
    return err_corrupt(errmsg, "%s: not an external SSTable (format version 5 or 7)", path);
  if (checksum32(tail, pre + 84) != get_fixed32(f + 84))
    return err_corrupt(errmsg, "%s: footer checksum mismatch", path);
  put_fixed64(tail, seq);
  put_fixed32(tail + pre + 84, checksum32(tail, pre + 84));
  return SHALE_OK;
}

int sst_external_set_seq(io_ctx *io, const char *path, uint64_t seq, char *errmsg) {
  if (!path || seq > SEQ_MAX)
    return err_set(errmsg, SHALE_INVALID, "sst_external_set_seq: NULL path or bad sequence");
  const shale_env *env = &(io ? io : io_ctx_default())->env;
  int fd = env->open(env->arg, path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return err_errno(errmsg, errno, "open", path);
  uint8_t tail[SST_EXTERNAL_TAIL_SIZE];
  off_t size = lseek(fd, 0, SEEK_END);
  int rc, e;
  if (size < (off_t)SST_EXTERNAL_TAIL_SIZE) {
    rc = err_corrupt(errmsg, "%s: %lld bytes is too short for an external SSTable", path,
                     (long long)size);
  } else if ((e = full_pread(env, fd, tail, sizeof tail, size - (off_t)sizeof tail))) {
    rc = err_errno(errmsg, e, "read", path);
  } else if (!(rc = patch_tail(tail, seq, path, errmsg))) {
    if ((e = full_pwrite(env, fd, tail, sizeof tail, size - (off_t)sizeof tail)) ||
        (env->sync(env->arg, fd, path, 1, -1) && (e = errno)))
      rc = err_errno(errmsg, e, "write the global sequence of", path);
  }
  close(fd);
  return rc;
}
