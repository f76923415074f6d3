/* io_fs.c — see io_fs.h. These calls are not counted in io_stats: the counters measure the
 * data path (tables, logs), which the LOG, locks and checkpoint copies would blur. */
#include "io/io_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "io/io_env.h"
#include "io/io_priv.h"
#include "util/error.h"

int io_make_dir(io_ctx *c, const char *dir, int exist_ok, char *errmsg) {
  c = io_ctx_or_default(c);
  if (c->env.mkdir(c->env.arg, dir, 0755) == 0 || (exist_ok && errno == EEXIST)) return SHALE_OK;
  return err_errno(errmsg, errno, "mkdir", dir);
}

int io_remove_dir(io_ctx *c, const char *dir, char *errmsg) {
  c = io_ctx_or_default(c);
  if (c->env.rmdir(c->env.arg, dir) == 0) return SHALE_OK;
  if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT) return SHALE_OK;
  return err_errno(errmsg, errno, "rmdir", dir);
}

int io_list_dir(io_ctx *c, const char *dir, char ***names, size_t *n, char *errmsg) {
  c = io_ctx_or_default(c);
  *names = NULL;
  *n = 0;
  char **v = NULL;
  size_t count = 0;
  if (c->env.list_dir(c->env.arg, dir, &v, &count)) return err_errno(errmsg, errno, "list", dir);
  *names = v;
  *n = v ? count : 0;
  return SHALE_OK;
}

void io_names_free(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

int io_link(io_ctx *c, const char *from, const char *to) {
  c = io_ctx_or_default(c);
  return c->env.link(c->env.arg, from, to) ? errno : 0;
}

/* Writes all of data at fd's offset, retrying on EINTR and short writes: 0 or an errno. */
static int write_all(io_ctx *c, int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    int64_t n = c->env.write(c->env.arg, fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO; /* no progress on a regular file */
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

#define COPY_CHUNK (1u << 20)

/* Copies in the kernel (no bytes through user space; a reflink where the file system shares
 * extents) as much of the first len bytes of in as it can: *done gets how many. Stops
 * without an error where the kernel cannot copy between these files. */
static int kernel_copy(int in, int out, uint64_t len, uint64_t *done, const char *src,
                       char *errmsg) {
  *done = 0;
  while (*done < len) {
    size_t want = len - *done < (1u << 30) ? (size_t)(len - *done) : 1u << 30;
    ssize_t n = copy_file_range(in, NULL, out, NULL, want, 0);
    if (n == 0) return SHALE_OK;
    if (n > 0) {
      *done += (uint64_t)n;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
      return err_errno(errmsg, errno, "copy", src);
    return SHALE_OK;
  }
  return SHALE_OK;
}

/* Copies the first len bytes of in to out: by the kernel when the env does not watch the
 * bytes, else (and for what the kernel would not copy) by pread and write, so the env sees
 * both. */
static int copy_fd(io_ctx *c, int in, int out, uint64_t len, const char *src, const char *dst,
                   char *errmsg) {
  uint64_t start = 0;
  if (io_env_copies_unwatched(&c->env)) {
    int rc = kernel_copy(in, out, len, &start, src, errmsg);
    if (rc || start == len) return rc;
  }
  char *chunk = malloc(COPY_CHUNK);
  if (!chunk) return err_set(errmsg, SHALE_NOMEM, "out of memory copying %s", src);
  int rc = SHALE_OK;
  for (uint64_t off = start; off < len && !rc;) {
    size_t want = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
    int64_t n = c->env.pread(c->env.arg, in, chunk, want, (int64_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) rc = err_errno(errmsg, errno, "read", src);
    if (n <= 0) break;
    int e = write_all(c, out, chunk, (size_t)n);
    if (e) rc = err_errno(errmsg, e, "write the copy", dst);
    off += (uint64_t)n;
  }
  free(chunk);
  return rc;
}

int io_copy_file(io_ctx *c, const char *src, const char *dst, uint64_t len, int sync,
                 char *errmsg) {
  c = io_ctx_or_default(c);
  int in = c->env.open(c->env.arg, src, O_RDONLY | O_CLOEXEC, 0);
  if (in < 0) return err_errno(errmsg, errno, "open", src);
  int out = c->env.open(c->env.arg, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    close(in);
    return err_errno(errmsg, errno, "create", dst);
  }
  int rc = copy_fd(c, in, out, len, src, dst, errmsg);
  if (!rc && sync && c->env.sync(c->env.arg, out, dst, 0, -1))
    rc = err_errno(errmsg, errno, "fsync", dst);
  close(in);
  close(out);
  return rc;
}

int io_truncate_file(io_ctx *c, const char *path, uint64_t len, int data_only, char *errmsg) {
  c = io_ctx_or_default(c);
  int fd = c->env.open(c->env.arg, path, O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return err_errno(errmsg, errno, "open for truncation", path);
  int rc = SHALE_OK;
  if (c->env.ftruncate(c->env.arg, fd, path, (int64_t)len))
    rc = err_errno(errmsg, errno, "truncate", path);
  else if (c->env.sync(c->env.arg, fd, path, data_only, -1))
    rc = err_errno(errmsg, errno, data_only ? "fdatasync" : "fsync", path);
  close(fd);
  return rc;
}

int io_lock_file(io_ctx *c, const char *path, int *fd, char *errmsg) {
  c = io_ctx_or_default(c);
  *fd = c->env.open(c->env.arg, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (*fd < 0) return err_errno(errmsg, errno, "open", path);
  if (c->env.lock(c->env.arg, *fd, path, LOCK_EX | LOCK_NB) == 0) return SHALE_OK;
  int e = errno;
  close(*fd);
  *fd = -1;
  if (e == EWOULDBLOCK) return err_set(errmsg, SHALE_BUSY, "%s is locked", path);
  return err_errno(errmsg, e, "flock", path);
}

int io_append_open(io_ctx *c, const char *path, int truncate, int *fd, uint64_t *size,
                   char *errmsg) {
  c = io_ctx_or_default(c);
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);
  *fd = c->env.open(c->env.arg, path, flags, 0644);
  if (*fd < 0) return err_errno(errmsg, errno, "open", path);
  off_t end = lseek(*fd, 0, SEEK_END);
  if (end >= 0) {
    *size = (uint64_t)end;
    return SHALE_OK;
  }
  int e = errno;
  close(*fd);
  *fd = -1;
  return err_errno(errmsg, e, "seek to the end of", path);
}

int io_append(io_ctx *c, int fd, const char *path, const void *data, size_t len, char *errmsg) {
  int e = write_all(io_ctx_or_default(c), fd, data, len);
  return e ? err_errno(errmsg, e, "write", path) : SHALE_OK;
}

int io_read_tail(io_ctx *c, const char *path, void *dst, size_t len) {
  c = io_ctx_or_default(c);
  int fd = c->env.open(c->env.arg, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct stat st;
  int whole = 0;
  if (!fstat(fd, &st) && (uint64_t)st.st_size >= len) {
    int64_t n;
    do n = c->env.pread(c->env.arg, fd, dst, len, (int64_t)st.st_size - (int64_t)len);
    while (n < 0 && errno == EINTR);
    whole = n == (int64_t)len; /* the tail is a few bytes: a short read is not continued */
  }
  close(fd);
  return whole;
}
