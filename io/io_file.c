/* io_file.c — the synchronous half of the file layer: the append-only log (one write(2) per
 * append, for the WAL and the MANIFEST), the pread reader, whole-file helpers (atomic
 * replace for CURRENT, directory sync) and the counters. The io_uring writer is io_writer.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "io/io_env.h"
#include "io/io_map_guard.h"
#include "io/io_priv.h"
#include "util/error.h"

void io_ctx_init(io_ctx *c, const shale_env *env, int force_pwrite, int use_mmap) {
  memset(c, 0, sizeof *c);
  io_env_copy(&c->env, env);
  c->force_pwrite = force_pwrite;
  c->use_mmap = use_mmap;
  atomic_store(&c->uring_state, -1);
}

static io_ctx default_ctx;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void) { io_ctx_init(&default_ctx, NULL, 0, 1); }

io_ctx *io_ctx_default(void) {
  pthread_once(&default_once, default_init);
  return &default_ctx;
}

void io_stats_get(io_ctx *c, io_stats *out) {
  const io_counters *k = &io_ctx_or_default(c)->ctr;
  out->uring_writers = atomic_load_explicit(&k->uring_writers, memory_order_relaxed);
  out->fallback_writers = atomic_load_explicit(&k->fallback_writers, memory_order_relaxed);
  out->bytes_written = atomic_load_explicit(&k->bytes_written, memory_order_relaxed);
  out->writes = atomic_load_explicit(&k->writes, memory_order_relaxed);
  out->fsyncs = atomic_load_explicit(&k->fsyncs, memory_order_relaxed);
  out->bytes_read = atomic_load_explicit(&k->bytes_read, memory_order_relaxed);
  out->reads = atomic_load_explicit(&k->reads, memory_order_relaxed);
  out->mapped_files = atomic_load_explicit(&k->mapped_files, memory_order_relaxed);
  out->readaheads = atomic_load_explicit(&k->readaheads, memory_order_relaxed);
}

/* Writes all of data at the fd's offset, retrying on EINTR and short writes. Returns 0 or an
 * errno value. */
static int write_all(io_ctx *c, int fd, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 0) {
    int64_t n = c->env.write(c->env.arg, fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO; /* no progress on a regular file: treat as an I/O error */
    io_count(&c->ctr.writes, 1);
    io_count(&c->ctr.bytes_written, (uint64_t)n);
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static char *dup_path(const char *path) {
  size_t n = strlen(path) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, path, n);
  return p;
}

/* ---- io_log ----
 * Thread safety: appends come from one thread at a time; io_log_sync and io_log_size may run
 * concurrently with an append (fd is constant, size and failed are atomics).
 * After a failed write or fdatasync the log refuses further appends: a partial write leaves a
 * torn record, and anything appended after it would turn a recoverable torn tail into
 * mid-file corruption. */
struct io_log {
  io_ctx *ctx;
  int fd;
  _Atomic uint64_t size;
  _Atomic int failed;
  char *path;
  bool mapped;     /* appends are copies into a shared mapping, not write(2) */
  uint8_t *window; /* window_len mapped bytes at file offset window_off, or NULL */
  uint64_t window_off, window_len;
  uint64_t reserved; /* file length allocated so far; the bytes past size are zeros */
};

/* A mapped log grows a window at a time: one fallocate and one mmap per window instead of a
 * write(2) per record. Windows double from 64 KiB to 4 MiB, so a small log stays small. */
#define LOG_WINDOW_MIN ((uint64_t)64 << 10)
#define LOG_WINDOW_MAX ((uint64_t)4 << 20)

static int log_open(io_ctx *c, const char *path, bool mapped, io_log **out, char *errmsg);

int io_log_open(io_ctx *c, const char *path, io_log **out, char *errmsg) {
  return log_open(io_ctx_or_default(c), path, false, out, errmsg);
}

int io_log_open_mapped(io_ctx *c, const char *path, io_log **out, char *errmsg) {
  c = io_ctx_or_default(c);
  return log_open(c, path, c->use_mmap, out, errmsg);
}

static int log_open(io_ctx *c, const char *path, bool mapped, io_log **out, char *errmsg) {
  *out = NULL;
  io_log *l = calloc(1, sizeof *l);
  char *p = dup_path(path);
  if (!l || !p) {
    free(l);
    free(p);
    return err_set(errmsg, SHALE_NOMEM, "open log %s: out of memory", path);
  }
  /* a shared writable mapping needs the descriptor open for reading too */
  int fd = c->env.open(c->env.arg, path,
                       (mapped ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int rc = err_errno(errmsg, errno, "open log", path);
    free(l);
    free(p);
    return rc;
  }
  l->ctx = c;
  l->fd = fd;
  l->mapped = mapped;
  l->path = p;
  *out = l;
  return SHALE_OK;
}

/* Allocates the file's blocks up to end: a store into a mapped hole on a full disk would be
 * SIGBUS, while fallocate reports ENOSPC. Returns 0 or an errno value. */
static int reserve(io_log *l, uint64_t end) {
  if (end <= l->reserved) return 0;
  const shale_env *env = &l->ctx->env;
  int e = env->fallocate(env->arg, l->fd, (int64_t)l->reserved, (int64_t)(end - l->reserved));
  if (!e) l->reserved = end;
  return e;
}

/* Maps a window starting at the page holding file offset off (the log's end). On a nearly
 * full disk a smaller window is tried before giving up. Returns 0 or an errno value. */
static int map_window(io_log *l, uint64_t off) {
  if (l->window) munmap(l->window, l->window_len);
  l->window = NULL;
  uint64_t start = off - off % 4096, len = l->window_len * 2;
  if (len < LOG_WINDOW_MIN) len = LOG_WINDOW_MIN;
  if (len > LOG_WINDOW_MAX) len = LOG_WINDOW_MAX;
  int e = reserve(l, start + len);
  if (e == ENOSPC && len > LOG_WINDOW_MIN) e = reserve(l, start + (len = LOG_WINDOW_MIN));
  if (e) return e;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, (off_t)start);
  if (m == MAP_FAILED) return errno;
  l->window = m;
  l->window_off = start;
  l->window_len = len;
  return 0;
}

/* The copy lands in the page cache, so like write(2) it survives a crash of the process. */
static int mapped_append(io_log *l, const uint8_t *p, size_t len) {
  uint64_t size = atomic_load_explicit(&l->size, memory_order_relaxed);
  while (len) {
    if (!l->window || size >= l->window_off + l->window_len) {
      int e = map_window(l, size);
      if (e) return e;
    }
    size_t room = (size_t)(l->window_off + l->window_len - size), n = len < room ? len : room;
    memcpy(l->window + (size - l->window_off), p, n);
    p += n;
    len -= n;
    size += n;
    io_count(&l->ctx->ctr.bytes_written, n);
  }
  return 0;
}

int io_log_append(io_log *l, const void *data, size_t len, char *errmsg) {
  if (atomic_load(&l->failed))
    return err_set(errmsg, SHALE_IOERR, "append to log %s: refused after an earlier write error",
                   l->path);
  int e = l->mapped ? mapped_append(l, data, len) : write_all(l->ctx, l->fd, data, len);
  if (e) {
    atomic_store(&l->failed, 1);
    return err_errno(errmsg, e, "append to log", l->path);
  }
  atomic_fetch_add_explicit(&l->size, len, memory_order_relaxed);
  return SHALE_OK;
}

int io_log_sync(io_log *l, char *errmsg) {
  if (atomic_load(&l->failed))
    return err_set(errmsg, SHALE_IOERR, "sync log %s: refused after an earlier write error",
                   l->path);
  /* a mapped log's file runs on into preallocated zeros: what is durable is its content */
  const shale_env *env = &l->ctx->env;
  int rc = env->sync(env->arg, l->fd, l->path, 1, l->mapped ? (int64_t)io_log_size(l) : -1);
  if (rc != 0) {
    /* after a failed fsync the kernel may have dropped the dirty pages: never retry it */
    atomic_store(&l->failed, 1);
    return err_errno(errmsg, errno, "fdatasync log", l->path);
  }
  io_count(&l->ctx->ctr.fsyncs, 1);
  return SHALE_OK;
}

uint64_t io_log_size(const io_log *l) {
  return atomic_load_explicit(&l->size, memory_order_relaxed);
}

int io_log_close(io_log *l, char *errmsg) {
  if (!l) return SHALE_OK;
  int rc = SHALE_OK;
  if (l->window) munmap(l->window, l->window_len);
  /* Trim the zeros of the last window; a crash before this leaves them, and readers take a
   * zero-filled tail for the end of the log. */
  if (l->reserved && ftruncate(l->fd, (off_t)io_log_size(l)) != 0)
    rc = err_errno(errmsg, errno, "truncate log", l->path);
  if (close(l->fd) != 0 && rc == SHALE_OK) rc = err_errno(errmsg, errno, "close log", l->path);
  free(l->path);
  free(l);
  return rc;
}

/* ---- io_reader ---- (thread-safe: pread or copies from the mapping; immutable once shared) */
struct io_reader {
  io_ctx *ctx;
  int fd;
  uint64_t size;
  char *path;
  uint8_t *map; /* NULL: not mapped */
};

int io_reader_open(io_ctx *c, const char *path, io_reader **out, char *errmsg) {
  *out = NULL;
  io_reader *r = calloc(1, sizeof *r);
  char *p = dup_path(path);
  if (!r || !p) {
    free(r);
    free(p);
    return err_set(errmsg, SHALE_NOMEM, "open %s: out of memory", path);
  }
  int rc = SHALE_OK;
  c = io_ctx_or_default(c);
  int fd = c->env.open(c->env.arg, path, O_RDONLY | O_CLOEXEC, 0);
  struct stat st;
  if (fd < 0) {
    rc = err_errno(errmsg, errno, "open", path);
    goto fail;
  }
  if (fstat(fd, &st) != 0) {
    rc = err_errno(errmsg, errno, "fstat", path);
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = err_set(errmsg, SHALE_IOERR, "open %s: not a regular file", path);
    goto fail;
  }
  r->ctx = c;
  r->fd = fd;
  r->size = (uint64_t)st.st_size;
  r->path = p;
  *out = r;
  return SHALE_OK;
fail:
  if (fd >= 0) close(fd);
  free(r);
  free(p);
  return rc;
}

uint64_t io_reader_size(const io_reader *r) { return r->size; }

int io_reader_shrunk(io_reader *r) {
  struct stat st;
  if (r->map || fstat(r->fd, &st) != 0 || (uint64_t)st.st_size >= r->size) return 0;
  r->size = (uint64_t)st.st_size;
  return 1;
}

/* A mapped read: a copy, so what the caller checks and keeps are bytes no later change to
 * the file can reach, guarded, so a file truncated under the mapping reads short as it
 * does with pread. */
static int read_mapped(io_reader *r, uint64_t off, void *dst, size_t len, char *errmsg) {
  if (off <= r->size && len <= r->size - off && io_map_guard_copy(dst, r->map + off, len) == 0)
    return SHALE_OK;
  return err_corrupt(
      errmsg, "file %s offset %llu: truncated (wanted %zu bytes, %s)", r->path,
      (unsigned long long)off, len,
      off <= r->size && len <= r->size - off ? "the mapping lost its pages" : "past the end");
}

int io_reader_read(io_reader *r, uint64_t off, void *dst, size_t len, char *errmsg) {
  if (r->map) return read_mapped(r, off, dst, len, errmsg);
  uint8_t *p = dst;
  size_t got = 0;
  while (got < len) {
    const shale_env *env = &r->ctx->env;
    int64_t n = env->pread(env->arg, r->fd, p + got, len - got, (int64_t)(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return err_errno(errmsg, errno, "read", r->path);
    }
    if (n == 0)
      return err_corrupt(errmsg, "file %s offset %llu: truncated (wanted %zu bytes, got %zu)",
                         r->path, (unsigned long long)off, len, got);
    io_count(&r->ctx->ctr.reads, 1);
    io_count(&r->ctx->ctr.bytes_read, (uint64_t)n);
    got += (size_t)n;
  }
  return SHALE_OK;
}

void io_reader_prefetch(const io_reader *r, uint64_t off, size_t len) {
  if (!r->map || off >= r->size) return;
  uint64_t end = len < r->size - off ? off + len : r->size;
  for (uint64_t at = off & ~(uint64_t)63; at < end; at += 64) __builtin_prefetch(r->map + at, 0, 3);
}

void io_reader_readahead(io_reader *r, uint64_t off, size_t len) {
  if (off >= r->size || !len) return;
  uint64_t end = len < r->size - off ? off + len : r->size;
  if (r->map) {
    uint64_t from = off & ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
    (void)madvise(r->map + from, (size_t)(end - from), MADV_WILLNEED);
  } else {
    (void)posix_fadvise(r->fd, (off_t)off, (off_t)(end - off), POSIX_FADV_WILLNEED);
  }
  io_count(&r->ctx->ctr.readaheads, 1);
}

/* Left to its defaults the kernel reads more than a get asks for. A fault on a mapped page
 * reads the 128 KiB around it (read-around): under a memory limit smaller than the DB that
 * evicted the pages other gets needed, and readwhilewriting in a 128 MiB cgroup fell to 150
 * gets/s, mostly in the kernel. pread's readahead guesses a stream from pages already
 * cached and reads up to 128 KiB too: scale-bench's io readrandom (10M keys, zstd, a 512 MiB
 * cgroup) read 3,201 bytes from disk per get, against RocksDB's 1,211 with its
 * advise_random_on_open. Sequential readers ask for their own (io_reader_readahead). */
void io_reader_advise_random(io_reader *r) {
  if (r->map)
    (void)madvise(r->map, (size_t)r->size, MADV_RANDOM);
  else
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_RANDOM);
}

int io_reader_map(io_reader *r) {
  if (r->map || !r->size || r->size > SIZE_MAX || !r->ctx->use_mmap) return r->map != NULL;
  if (io_map_guard_install()) return 0; /* unguarded, a truncation would be SIGBUS */
  void *p = mmap(NULL, (size_t)r->size, PROT_READ, MAP_SHARED, r->fd, 0);
  if (p == MAP_FAILED) return 0;
  r->map = p;
  io_count(&r->ctx->ctr.mapped_files, 1);
  return 1;
}

void io_reader_close(io_reader *r) {
  if (!r) return;
  if (r->map) munmap(r->map, (size_t)r->size);
  close(r->fd);
  free(r->path);
  free(r);
}

/* ---- whole files and directories ---- */
int io_read_file(io_ctx *c, const char *path, buf *out, char *errmsg) {
  io_reader *r;
  int rc = io_reader_open(c, path, &r, errmsg);
  if (rc) return rc;
  buf_clear(out);
  if (r->size > SIZE_MAX || buf_reserve(out, (size_t)r->size) != 0) {
    rc = err_set(errmsg, SHALE_NOMEM, "read %s: out of memory for %llu bytes", path,
                 (unsigned long long)r->size);
  } else {
    rc = io_reader_read(r, 0, out->data, (size_t)r->size, errmsg);
    if (rc == SHALE_OK) out->len = (size_t)r->size;
  }
  io_reader_close(r);
  return rc;
}

int io_sync_dir(io_ctx *c, const char *dir, char *errmsg) {
  c = io_ctx_or_default(c);
  if (c->env.sync_dir(c->env.arg, dir) != 0)
    return err_errno(errmsg, errno, "fsync directory", dir);
  io_count(&c->ctr.fsyncs, 1);
  return SHALE_OK;
}

int io_rename(io_ctx *c, const char *from, const char *to, char *errmsg) {
  c = io_ctx_or_default(c);
  if (c->env.rename(c->env.arg, from, to) != 0) return err_errno(errmsg, errno, "rename", from);
  return SHALE_OK;
}

int io_sync_parent(io_ctx *c, const char *path, char *errmsg) {
  const char *slash = strrchr(path, '/');
  if (!slash) return io_sync_dir(c, ".", errmsg);
  if (slash == path) return io_sync_dir(c, "/", errmsg);
  char *dir = strndup(path, (size_t)(slash - path));
  if (!dir) return err_set(errmsg, SHALE_NOMEM, "out of memory");
  int rc = io_sync_dir(c, dir, errmsg);
  free(dir);
  return rc;
}

int io_sync_file(io_ctx *c, const char *path, char *errmsg) {
  c = io_ctx_or_default(c);
  int fd = c->env.open(c->env.arg, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return err_errno(errmsg, errno, "open for fdatasync", path);
  int rc = SHALE_OK;
  if (c->env.sync(c->env.arg, fd, path, 1, -1) != 0)
    rc = err_errno(errmsg, errno, "fdatasync", path);
  else
    io_count(&c->ctr.fsyncs, 1);
  close(fd);
  return rc;
}

int io_write_file_atomic(io_ctx *c, const char *dir, const char *name, const void *data, size_t len,
                         char *errmsg) {
  c = io_ctx_or_default(c);
  size_t n = strlen(dir) + strlen(name) + 8;
  char *tmp = malloc(n), *dst = malloc(n);
  int rc = SHALE_OK, fd = -1;
  if (!tmp || !dst) {
    rc = err_set(errmsg, SHALE_NOMEM, "write %s/%s: out of memory", dir, name);
    goto out;
  }
  snprintf(dst, n, "%s/%s", dir, name);
  snprintf(tmp, n, "%s/%s.tmp", dir, name);
  fd = c->env.open(c->env.arg, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = err_errno(errmsg, errno, "create", tmp);
    goto out;
  }
  int e = write_all(c, fd, data, len);
  if (e) {
    rc = err_errno(errmsg, e, "write", tmp);
    goto fail;
  }
  if (c->env.sync(c->env.arg, fd, tmp, 0, -1) != 0) {
    rc = err_errno(errmsg, errno, "fsync", tmp);
    goto fail;
  }
  io_count(&c->ctr.fsyncs, 1);
  e = close(fd) ? errno : 0;
  fd = -1;
  if (e) {
    rc = err_errno(errmsg, e, "close", tmp);
    goto fail;
  }
  if (c->env.rename(c->env.arg, tmp, dst) != 0) {
    rc = err_errno(errmsg, errno, "rename to", dst);
    goto fail;
  }
  rc = io_sync_dir(c, dir, errmsg);
  goto out;
fail:
  if (fd >= 0) close(fd);
  c->env.unlink(c->env.arg, tmp);
out:
  free(tmp);
  free(dst);
  return rc;
}

int io_remove(io_ctx *c, const char *path, char *errmsg) {
  c = io_ctx_or_default(c);
  if (c->env.unlink(c->env.arg, path) != 0 && errno != ENOENT)
    return err_errno(errmsg, errno, "unlink", path);
  return SHALE_OK;
}
