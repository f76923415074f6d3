/* io_writer.c — the sequential writer for new files (SSTables, MANIFEST snapshots). Appends
 * are copied into 256 KiB aligned chunks; a full chunk is submitted to the writer's own
 * io_uring and up to IOW_CHUNKS chunks are in flight at once. finish() links the last write
 * to fdatasync. When io_uring_queue_init is refused, or the context forces pwrite, the same writer
 * writes each full chunk with pwrite and syncs with fdatasync.
 * Thread safety: one io_writer is used by one thread at a time (the ring is per writer). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/io.h"
#include "io/io_priv.h"
#include "util/error.h"
#include "util/thread_annotations.h"

#define IOW_CHUNK_SIZE (256u * 1024u)
#define IOW_CHUNKS 4     /* writes in flight at most */
#define IOW_RING_DEPTH 8 /* >= IOW_CHUNKS + 1 (the fdatasync) */
#define IOW_ALIGN 4096

typedef struct chunk {
  uint8_t *data; /* IOW_CHUNK_SIZE bytes, IOW_ALIGN-aligned; allocated on first use */
  size_t len;    /* bytes filled */
  size_t done;   /* bytes the kernel reported written (io_uring path) */
  uint64_t off;  /* file offset of data[0], set at submission */
  int busy;      /* submitted and not yet complete: the kernel may read data */
} chunk;

enum { FSYNC_NONE, FSYNC_PENDING, FSYNC_DONE, FSYNC_CANCELED };

struct io_writer {
  io_ctx *ctx;
  int fd;
  int uring; /* 1: io_uring path, 0: pwrite fallback */
  struct io_uring ring;
  chunk chunks[IOW_CHUNKS];
  int cur;           /* chunk being filled, or -1 */
  unsigned inflight; /* SQEs submitted whose CQE is not yet seen */
  uint64_t size;     /* bytes appended */
  uint64_t next_off; /* file offset of the next chunk to submit */
  int fsync_state;   /* of the fdatasync linked in finish */
  int err;           /* sticky: first error, SHALE_OK if none */
  char errmsg[ERRMSG_SIZE];
  char fsync_tag; /* its address is the user_data of the fdatasync SQE */
  char *path;
};

/* liburing maps a ring's memory with raw syscalls, which TSan's mmap interceptor never sees.
 * This libtsan leaves the shadow of a small munmap (a table file of under a few KiB, unmapped
 * from the table cache) uncleared, so a ring mapped later at that address reads to TSan as
 * racing with the file's mapping, by whichever thread mapped it, though the two never
 * coexisted. (AnnotateNewMemory does not clear it either; an intercepted mmap does.) So a
 * TSan build maps the ring's three areas again, through libc, at the same addresses with the
 * same fd, offsets, sizes and flags as liburing: the same pages, and TSan now knows them as
 * mapped by the thread that owns the ring. Unmapping needs nothing: a later mmap at the
 * address goes through the interceptor, which resets what TSan knew of it. */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif
#ifdef RING_TSAN
static int remap(void *at, size_t len, off_t off, int fd) {
  void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE | MAP_FIXED, fd, off);
  return p == at ? 0 : -1;
}

static int ring_mem_seen(struct io_uring *r) {
  int fd = r->ring_fd;
  if (remap(r->sq.ring_ptr, r->sq.ring_sz, IORING_OFF_SQ_RING, fd)) return -1;
  if (r->cq.ring_ptr != r->sq.ring_ptr &&
      remap(r->cq.ring_ptr, r->cq.ring_sz, IORING_OFF_CQ_RING, fd))
    return -1;
  return remap(r->sq.sqes, r->sq.ring_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES, fd);
}
#else
static int ring_mem_seen(struct io_uring *r) {
  (void)r;
  return 0;
}
#endif

static int ring_init(struct io_uring *r) {
  if (io_uring_queue_init(IOW_RING_DEPTH, r, 0) != 0) return -1;
  if (ring_mem_seen(r) == 0) return 0;
  io_uring_queue_exit(r); /* a failed MAP_FIXED may have dropped the old mapping */
  return -1;
}

/* Idle rings kept for the next writer. Besides saving io_uring_setup and its mmaps per
 * table, the pool's mutex orders one writer's use of a ring before the next one's. */
#define RING_POOL 4
static sh_mutex ring_pool_mu = SH_MUTEX_INITIALIZER;
static struct io_uring ring_pool[RING_POOL] SH_GUARDED_BY(ring_pool_mu);
static int ring_pool_n SH_GUARDED_BY(ring_pool_mu);
/* a forked child must not submit to its parent's rings */
static pid_t ring_pool_pid SH_GUARDED_BY(ring_pool_mu);

static int ring_get(struct io_uring *r) {
  sh_mutex_lock(&ring_pool_mu);
  if (ring_pool_pid != getpid()) { /* forget (not unmap) what the parent pooled */
    ring_pool_n = 0;
    ring_pool_pid = getpid();
  }
  int have = ring_pool_n > 0;
  if (have) *r = ring_pool[--ring_pool_n];
  sh_mutex_unlock(&ring_pool_mu);
  return have || ring_init(r) == 0;
}

/* REQUIRES: every submitted SQE's CQE has been seen, so no completion leaks to a later user. */
static void ring_put(struct io_uring *r) {
  sh_mutex_lock(&ring_pool_mu);
  int keep = ring_pool_n < RING_POOL && ring_pool_pid == getpid();
  if (keep) ring_pool[ring_pool_n++] = *r;
  sh_mutex_unlock(&ring_pool_mu);
  if (!keep) io_uring_queue_exit(r);
}

int io_uring_in_use(io_ctx *c) {
  c = io_ctx_or_default(c);
  int s = atomic_load(&c->uring_state);
  if (s >= 0) return s;
  if (c->force_pwrite) return 0;
  /* Through the pool: the probe's ring serves the first table write instead of costing
   * every open an io_uring_setup and teardown. */
  struct io_uring ring;
  if (!ring_get(&ring)) return 0;
  ring_put(&ring);
  return 1;
}

/* Records the first error; later ones are dropped (the first is the cause). */
static void set_err(io_writer *w, int e, const char *what) {
  if (w->err) return;
  w->err = err_errno(w->errmsg, e, what, w->path);
}

static int report(io_writer *w, char *errmsg) {
  if (w->err && errmsg) memcpy(errmsg, w->errmsg, ERRMSG_SIZE);
  return w->err;
}

int io_writer_open(io_ctx *c, const char *path, io_writer **out, char *errmsg) {
  *out = NULL;
  io_writer *w = calloc(1, sizeof *w);
  size_t plen = strlen(path) + 1;
  char *p = malloc(plen);
  if (!w || !p) {
    free(w);
    free(p);
    return err_set(errmsg, SHALE_NOMEM, "open %s: out of memory", path);
  }
  memcpy(p, path, plen);
  w->ctx = c = io_ctx_or_default(c);
  w->path = p;
  w->cur = -1;
  w->fd = c->env.open(c->env.arg, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) {
    int rc = err_errno(errmsg, errno, "create", path);
    free(p);
    free(w);
    return rc;
  }
  /* Any failure (EPERM under seccomp, ENOSYS, ENOMEM from RLIMIT_MEMLOCK) means fallback. */
  w->uring = !c->force_pwrite && ring_get(&w->ring);
  io_count(w->uring ? &c->ctr.uring_writers : &c->ctr.fallback_writers, 1);
  atomic_store(&c->uring_state, w->uring);
  *out = w;
  return SHALE_OK;
}

/* Queues a write of the unwritten part of c (not submitted yet). */
static void queue_write(io_writer *w, chunk *c, unsigned flags) {
  /* SQEs are submitted right after they are queued and at most IOW_CHUNKS + 1 requests are
   * outstanding, so the submission queue cannot be full; still, never crash on it. */
  struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
  if (!sqe) {
    set_err(w, EBUSY, "io_uring_get_sqe");
    return;
  }
  io_uring_prep_write(sqe, w->fd, c->data + c->done, (unsigned)(c->len - c->done),
                      c->off + c->done);
  sqe->flags |= (unsigned char)flags;
  io_uring_sqe_set_data(sqe, c);
  c->busy = 1;
  w->inflight++;
}

static void queue_fsync(io_writer *w) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
  if (!sqe) {
    set_err(w, EBUSY, "io_uring_get_sqe");
    return;
  }
  io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data(sqe, &w->fsync_tag);
  w->fsync_state = FSYNC_PENDING;
  w->inflight++;
}

static void submit(io_writer *w) {
  int rc;
  do rc = io_uring_submit(&w->ring);
  while (rc == -EINTR || rc == -EAGAIN);
  if (rc < 0) {
    /* The kernel consumed none of the queued SQEs, and after an error nothing submits
     * again, so they will never complete: stop waiting for them. */
    set_err(w, -rc, "io_uring_submit");
    w->inflight -= io_uring_sq_ready(&w->ring);
  }
}

/* Waits for one CQE and processes it: resubmits a short write's remainder, records errors. */
static void reap_one(io_writer *w) {
  struct io_uring_cqe *cqe;
  int rc;
  do rc = io_uring_wait_cqe(&w->ring, &cqe);
  while (rc == -EINTR || rc == -EAGAIN);
  if (rc < 0) { /* the ring itself failed: nothing more can be reaped */
    set_err(w, -rc, "io_uring_wait_cqe");
    w->inflight = 0;
    return;
  }
  void *ud = io_uring_cqe_get_data(cqe);
  const shale_env *env = &w->ctx->env;
  int res = env->async_result(env->arg, w->path, w->fd, ud == &w->fsync_tag, cqe->res);
  io_uring_cqe_seen(&w->ring, cqe);
  w->inflight--;
  if (ud == &w->fsync_tag) {
    if (res == -ECANCELED) { /* the linked write came up short; finish syncs again */
      w->fsync_state = FSYNC_CANCELED;
    } else if (res < 0) {
      w->fsync_state = FSYNC_NONE;
      set_err(w, -res, "fdatasync");
    } else {
      w->fsync_state = FSYNC_DONE;
      io_count(&w->ctx->ctr.fsyncs, 1);
    }
    return;
  }
  chunk *c = ud;
  if (res == -EINTR || res == -EAGAIN)
    res = 0; /* retry the same range */
  else if (res < 0)
    set_err(w, -res, "write");
  else if (res == 0)
    set_err(w, EIO, "write (no progress)");
  if (res > 0) {
    io_count(&w->ctx->ctr.writes, 1);
    io_count(&w->ctx->ctr.bytes_written, (uint64_t)res);
    c->done += (size_t)res;
  }
  if (!w->err && c->done < c->len) { /* short write: resubmit the remainder */
    queue_write(w, c, 0);
    submit(w);
    return;
  }
  c->busy = 0;
  c->len = c->done = 0;
}

static void drain(io_writer *w) {
  while (w->inflight > 0) reap_one(w);
}

static int pwrite_all(io_writer *w, const uint8_t *p, size_t len, uint64_t off) {
  while (len > 0) {
    const shale_env *env = &w->ctx->env;
    int64_t n = env->pwrite(env->arg, w->fd, p, len, (int64_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      set_err(w, errno, "pwrite");
      return w->err;
    }
    if (n == 0) {
      set_err(w, EIO, "pwrite (no progress)");
      return w->err;
    }
    io_count(&w->ctx->ctr.writes, 1);
    io_count(&w->ctx->ctr.bytes_written, (uint64_t)n);
    p += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return SHALE_OK;
}

/* Hands the filled chunk c to the kernel (io_uring) or writes it now (fallback). */
static void submit_chunk(io_writer *w, chunk *c, unsigned flags) {
  c->off = w->next_off;
  c->done = 0;
  w->next_off += c->len;
  if (!w->uring) {
    pwrite_all(w, c->data, c->len, c->off);
    c->len = 0;
    return;
  }
  queue_write(w, c, flags);
}

/* Returns the index of an idle chunk, waiting for a write to complete if all are busy. */
static int idle_chunk(io_writer *w) {
  int n = w->uring ? IOW_CHUNKS : 1;
  for (;;) {
    for (int i = 0; i < n; i++) {
      chunk *c = &w->chunks[i];
      if (c->busy) continue;
      if (!c->data) {
        void *p;
        if (posix_memalign(&p, IOW_ALIGN, IOW_CHUNK_SIZE) != 0) {
          if (!w->err)
            w->err =
                err_set(w->errmsg, SHALE_NOMEM, "write %s: out of memory for a buffer", w->path);
          return -1;
        }
        c->data = p;
      }
      return i;
    }
    reap_one(w);
    if (w->err) return -1;
  }
}

int io_writer_append(io_writer *w, const void *data, size_t len, char *errmsg) {
  const uint8_t *p = data;
  while (len > 0 && !w->err) {
    if (w->cur < 0 && (w->cur = idle_chunk(w)) < 0) break;
    chunk *c = &w->chunks[w->cur];
    size_t n = IOW_CHUNK_SIZE - c->len;
    if (n > len) n = len;
    memcpy(c->data + c->len, p, n);
    c->len += n;
    p += n;
    len -= n;
    w->size += n;
    if (c->len == IOW_CHUNK_SIZE) {
      submit_chunk(w, c, 0);
      if (w->uring) submit(w);
      w->cur = -1;
    }
  }
  return report(w, errmsg);
}

uint64_t io_writer_size(const io_writer *w) { return w->size; }

static void destroy(io_writer *w) {
  if (w->uring && w->inflight == 0)
    ring_put(&w->ring);
  else if (w->uring)
    io_uring_queue_exit(&w->ring);
  for (int i = 0; i < IOW_CHUNKS; i++) free(w->chunks[i].data);
  free(w->path);
  free(w);
}

/* io_uring finish: the earlier writes complete first, because a link orders the fdatasync
 * only after the one write it is linked to; then the last write goes out linked to it. A
 * short last write breaks the link (the fdatasync completes with -ECANCELED), so after the
 * remainder is written the fdatasync is issued on its own. */
static void finish_uring(io_writer *w, chunk *last, int sync) {
  drain(w);
  if (w->err) return;
  if (last) submit_chunk(w, last, sync ? IOSQE_IO_LINK : 0);
  if (sync) queue_fsync(w);
  if (last || sync) submit(w);
  drain(w);
  if (sync && !w->err && w->fsync_state != FSYNC_DONE) {
    queue_fsync(w);
    submit(w);
    drain(w);
  }
}

int io_writer_finish(io_writer *w, int sync, char *errmsg) {
  chunk *last = w->cur >= 0 && w->chunks[w->cur].len > 0 ? &w->chunks[w->cur] : NULL;
  if (w->uring) {
    finish_uring(w, last, sync);
  } else if (!w->err) {
    if (last) submit_chunk(w, last, 0);
    if (!w->err && sync) {
      const shale_env *env = &w->ctx->env;
      if (env->sync(env->arg, w->fd, w->path, 1, -1) != 0)
        set_err(w, errno, "fdatasync");
      else
        io_count(&w->ctx->ctr.fsyncs, 1);
    }
  }
  if (close(w->fd) != 0) set_err(w, errno, "close");
  int rc = report(w, errmsg);
  destroy(w);
  return rc;
}

void io_writer_abort(io_writer *w) {
  if (!w) return;
  if (w->uring) drain(w); /* the kernel may still read the buffers */
  close(w->fd);
  destroy(w);
}
