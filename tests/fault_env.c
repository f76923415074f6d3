/* fault_env.c — the tests' fault-injecting I/O environment (see fault_env.h): per-kind op
 * counters and armed faults (process-local atomics), and the power-loss table (a MAP_SHARED
 * mapping, so a forked child records into it and its parent can apply the loss after the
 * child died). Each call of the env counts, may fail, and records for the power-loss model,
 * then passes on to the real environment (shale_env_default). */
#include "fault_env.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_hooks.h"

static const char *const kind_names[IO_FAULT_KINDS] = {
    "open", "write", "fsync", "rename", "read", "unlink", "dir-sync", "io_uring completion"};

const char *io_fault_kind_name(io_fault_kind kind) {
  return (unsigned)kind < IO_FAULT_KINDS ? kind_names[kind] : "?";
}

/* ---- armed faults and counters ----
 * fail_at[k] == 0: nothing armed. Arming writes err and sticky before fail_at (release), a
 * hook reads fail_at first (acquire), so a hook that sees the arming sees its errno. */
static _Atomic uint64_t op_count[IO_FAULT_KINDS];
static _Atomic uint64_t fail_at[IO_FAULT_KINDS];
static _Atomic int fail_err[IO_FAULT_KINDS];
static _Atomic int fail_sticky[IO_FAULT_KINDS];
static _Atomic uint64_t injected;
static _Atomic int short_writes;

static void arm(io_fault_kind kind, uint64_t n, int err, int sticky) {
  if ((unsigned)kind >= IO_FAULT_KINDS) return;
  atomic_store(&fail_at[kind], 0);
  atomic_store(&op_count[kind], 0);
  atomic_store(&fail_err[kind], err ? err : EIO);
  atomic_store(&fail_sticky[kind], sticky);
  atomic_store_explicit(&fail_at[kind], n ? n : 1, memory_order_release);
}

void io_fault_fail_nth(io_fault_kind kind, uint64_t n, int err) { arm(kind, n, err, 0); }
void io_fault_fail_from(io_fault_kind kind, uint64_t n, int err) { arm(kind, n, err, 1); }
void io_fault_short_writes(int on) { atomic_store(&short_writes, on != 0); }

uint64_t io_fault_count(io_fault_kind kind) {
  return (unsigned)kind < IO_FAULT_KINDS ? atomic_load(&op_count[kind]) : 0;
}

uint64_t io_fault_injected(void) { return atomic_load(&injected); }

void io_fault_reset(void) {
  for (int k = 0; k < IO_FAULT_KINDS; k++) {
    atomic_store(&fail_at[k], 0);
    atomic_store(&op_count[k], 0);
  }
  atomic_store(&short_writes, 0);
  atomic_store(&injected, 0);
}

static int io_fault_hit(io_fault_kind kind) {
  uint64_t n = atomic_fetch_add(&op_count[kind], 1) + 1;
  uint64_t at = atomic_load_explicit(&fail_at[kind], memory_order_acquire);
  if (!at || n < at || (n > at && !atomic_load(&fail_sticky[kind]))) return 0;
  atomic_fetch_add(&injected, 1);
  return atomic_load(&fail_err[kind]);
}

static size_t short_len(size_t len) {
  if (len < 2 || !atomic_load_explicit(&short_writes, memory_order_relaxed)) return len;
  atomic_fetch_add(&injected, 1);
  return len / 2;
}

/* ---- the power-loss table ---- */

#define TRACK_FILES 4096
#define TRACK_PATH 512
#define PREV_SLOTS 16
#define PREV_MAX (64 * 1024)

typedef struct tfile {
  int used;
  int name_durable; /* the directory entry survives a power loss */
  int renamed;      /* the entry came from a rename not yet made durable */
  int prev_slot;    /* renamed: the saved previous content of path, or -1 (none existed) */
  int prev_lost;    /* renamed: path had a previous content too large to save */
  int64_t durable_len;
  char path[TRACK_PATH];
} tfile;

typedef struct prev_slot {
  int used;
  uint32_t len;
  char data[PREV_MAX];
} prev_slot;

typedef struct track_table {
  _Atomic int lock;
  int overflow;
  size_t dirlen;
  char dir[TRACK_PATH];
  tfile files[TRACK_FILES];
  prev_slot prev[PREV_SLOTS];
} track_table;

static track_table *tt; /* NULL: not tracking; set before any fork that should share it */

static void tt_lock(void) {
  int spins = 0;
  while (atomic_exchange_explicit(&tt->lock, 1, memory_order_acquire)) {
    if (++spins > 64) sched_yield();
  }
}

static void tt_unlock(void) { atomic_store_explicit(&tt->lock, 0, memory_order_release); }

/* Is path in the tracked directory (directly: the engine keeps no subdirectories)? */
static int tracked(const char *path) {
  if (!tt) return 0;
  size_t n = tt->dirlen;
  return strncmp(path, tt->dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
}

static tfile *find(const char *path) {
  for (int i = 0; i < TRACK_FILES; i++)
    if (tt->files[i].used && strcmp(tt->files[i].path, path) == 0) return &tt->files[i];
  return NULL;
}

static void drop(tfile *f) {
  if (f->renamed && f->prev_slot >= 0) tt->prev[f->prev_slot].used = 0;
  f->used = 0;
}

static tfile *add(const char *path, int name_durable, int64_t durable_len) {
  if (strlen(path) >= TRACK_PATH) {
    tt->overflow = 1;
    return NULL;
  }
  for (int i = 0; i < TRACK_FILES; i++) {
    tfile *f = &tt->files[i];
    if (f->used) continue;
    memset(f, 0, sizeof *f);
    f->used = 1;
    f->name_durable = name_durable;
    f->prev_slot = -1;
    f->durable_len = durable_len;
    strcpy(f->path, path);
    return f;
  }
  tt->overflow = 1;
  return NULL;
}

/* Before an open with O_CREAT|O_TRUNC: the file's content is gone; its name is durable
 * only if it was already (an untracked file that existed, or a tracked one that is). */
static void note_create(const char *path) {
  if (!tracked(path)) return;
  tt_lock();
  tfile *f = find(path);
  if (f)
    f->durable_len = 0;
  else
    add(path, access(path, F_OK) == 0, 0);
  tt_unlock();
}

/* After a successful fsync of fd: size_before bytes (the size when the fsync began) are
 * durable. Appends racing with the fsync are not counted, which is the safe side. */
static void note_synced(const char *path, int64_t size_before) {
  if (!tracked(path) || size_before < 0) return;
  tt_lock();
  tfile *f = find(path);
  if (f && size_before > f->durable_len) f->durable_len = size_before;
  tt_unlock();
}

static void note_unlinked(const char *path) {
  if (!tracked(path)) return;
  tt_lock();
  tfile *f = find(path);
  if (f) drop(f);
  tt_unlock();
}

static void note_dir_synced(const char *dir) {
  if (!tt) return;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  if (n != tt->dirlen || strncmp(dir, tt->dir, n) != 0) return;
  tt_lock();
  for (int i = 0; i < TRACK_FILES; i++) {
    tfile *f = &tt->files[i];
    if (!f->used) continue;
    if (f->renamed && f->prev_slot >= 0) tt->prev[f->prev_slot].used = 0;
    f->renamed = 0;
    f->prev_slot = -1;
    f->name_durable = 1;
  }
  tt_unlock();
}

static int64_t fd_size(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- the env's calls: count, maybe fail, record, then the real call ---- */

static shale_env real; /* shale_env_default, set by fault_env() before any call */

/* Fails the op with err (errno set, -1 returned) when the armed fault says so. */
#define FAIL_IF_HIT(kind)        \
  do {                           \
    int e_ = io_fault_hit(kind); \
    if (e_) {                    \
      errno = e_;                \
      return -1;                 \
    }                            \
  } while (0)

static int f_open(void *arg, const char *path, int flags, int mode) {
  FAIL_IF_HIT(IO_FAULT_OPEN);
  if (flags & O_CREAT) note_create(path);
  return real.open(real.arg, path, flags, mode);
}

static int64_t f_write(void *arg, int fd, const void *p, size_t len) {
  FAIL_IF_HIT(IO_FAULT_WRITE);
  return real.write(real.arg, fd, p, short_len(len));
}

static int64_t f_pwrite(void *arg, int fd, const void *p, size_t len, int64_t off) {
  FAIL_IF_HIT(IO_FAULT_WRITE);
  return real.pwrite(real.arg, fd, p, short_len(len), off);
}

static int64_t f_pread(void *arg, int fd, void *p, size_t len, int64_t off) {
  FAIL_IF_HIT(IO_FAULT_READ);
  return real.pread(real.arg, fd, p, len, off);
}

/* Returns an errno value, as posix_fallocate does. */
static int f_fallocate(void *arg, int fd, int64_t off, int64_t len) {
  int e = io_fault_hit(IO_FAULT_WRITE);
  return e ? e : real.fallocate(real.arg, fd, off, len);
}

/* A mapped log's file runs on into preallocated zeros: content_len bytes become durable,
 * not the whole file. */
static int f_sync(void *arg, int fd, const char *path, int data_only, int64_t content_len) {
  FAIL_IF_HIT(IO_FAULT_SYNC);
  int64_t size = content_len >= 0 ? content_len : tt ? fd_size(fd) : -1;
  int rc = real.sync(real.arg, fd, path, data_only, content_len);
  if (rc == 0) note_synced(path, size);
  return rc;
}

static int f_sync_dir(void *arg, const char *dir) {
  FAIL_IF_HIT(IO_FAULT_DIRSYNC);
  int rc = real.sync_dir(real.arg, dir);
  if (rc == 0) note_dir_synced(dir);
  return rc;
}

static int f_unlink(void *arg, const char *path) {
  FAIL_IF_HIT(IO_FAULT_UNLINK);
  int rc = real.unlink(real.arg, path);
  if (rc == 0) note_unlinked(path);
  return rc;
}

/* Reads up to PREV_MAX bytes of path into a free slot; -1: no file; -2: too big or no slot. */
static int save_prev(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int64_t size = fd_size(fd);
  int slot = -2;
  if (size >= 0 && size <= PREV_MAX) {
    tt_lock();
    for (int i = 0; i < PREV_SLOTS && slot < 0; i++)
      if (!tt->prev[i].used) tt->prev[i].used = 1, slot = i;
    tt_unlock();
  }
  if (slot >= 0) {
    ssize_t n = pread(fd, tt->prev[slot].data, (size_t)size, 0);
    if (n != size) {
      tt->prev[slot].used = 0;
      slot = -2;
    } else {
      tt->prev[slot].len = (uint32_t)n;
    }
  }
  close(fd);
  return slot;
}

/* rename with the power-loss bookkeeping: the target's previous content is saved until a
 * directory sync makes the rename durable. */
static int tracked_rename(const char *from, const char *to) {
  if (!tracked(to)) return real.rename(real.arg, from, to);
  int slot = save_prev(to);
  int rc = real.rename(real.arg, from, to);
  int saved_errno = errno;
  tt_lock();
  if (rc == 0) {
    tfile *old = find(to), *f = tracked(from) ? find(from) : NULL;
    if (old && old->renamed) { /* replaced again before a dir sync: keep the oldest content */
      if (slot >= 0) tt->prev[slot].used = 0;
      slot = old->prev_slot;
      old->renamed = 0;
    }
    if (old) drop(old);
    if (!f) {
      struct stat st;
      f = add(to, 0, stat(to, &st) == 0 ? (int64_t)st.st_size : 0);
    }
    if (f) {
      snprintf(f->path, TRACK_PATH, "%s", to);
      f->name_durable = 0;
      f->renamed = 1;
      f->prev_slot = slot >= 0 ? slot : -1;
      f->prev_lost = slot == -2;
    } else if (slot >= 0) {
      tt->prev[slot].used = 0;
    }
  } else if (slot >= 0) {
    tt->prev[slot].used = 0;
  }
  tt_unlock();
  errno = saved_errno;
  return rc;
}

static int f_rename(void *arg, const char *from, const char *to) {
  FAIL_IF_HIT(IO_FAULT_RENAME);
  int rc = tracked_rename(from, to);
  if (rc == 0) test_hook(NULL, HOOK_CURRENT_RENAMED); /* CURRENT in place, dir not synced */
  return rc;
}

static int f_async_result(void *arg, const char *path, int fd, int is_fsync, int res) {
  test_hook(NULL, HOOK_URING_COMPLETION);
  res = real.async_result(real.arg, path, fd, is_fsync, res);
  int e1 = io_fault_hit(IO_FAULT_URING);
  int e2 = io_fault_hit(is_fsync ? IO_FAULT_SYNC : IO_FAULT_WRITE);
  if (e1 || e2) return -(e1 ? e1 : e2);
  if (is_fsync && res >= 0) note_synced(path, tt ? fd_size(fd) : -1);
  if (!is_fsync && res > 1 && atomic_load_explicit(&short_writes, memory_order_relaxed)) {
    atomic_fetch_add(&injected, 1);
    res /= 2; /* the rest was written too; the writer writes it again */
  }
  return res;
}

_Atomic(test_hook_fn) shale_test_hook;

static void f_point(void *arg, shale_db *db, int point) { test_hook(db, (test_hook_point)point); }

static shale_env fault;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void fault_init(void) {
  shale_env_default(&real);
  fault = (shale_env){.size = sizeof fault,
                      .open = f_open,
                      .write = f_write,
                      .pwrite = f_pwrite,
                      .pread = f_pread,
                      .fallocate = f_fallocate,
                      .sync = f_sync,
                      .sync_dir = f_sync_dir,
                      .rename = f_rename,
                      .unlink = f_unlink,
                      .async_result = f_async_result,
                      .point = f_point};
}

const shale_env *fault_env(void) {
  pthread_once(&fault_once, fault_init);
  return &fault;
}

/* ---- tracking control ---- */

int io_fault_track_begin(const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  if (n >= TRACK_PATH) return -1;
  if (!tt) {
    void *p =
        mmap(NULL, sizeof(track_table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    tt = p; /* fresh anonymous memory is zero: empty table, unlocked */
  } else {
    memset(tt, 0, sizeof *tt);
  }
  memcpy(tt->dir, dir, n);
  tt->dir[n] = 0;
  tt->dirlen = n;
  return 0;
}

static int restore_prev(const tfile *f) {
  if (f->prev_slot < 0) return 0;
  const prev_slot *s = &tt->prev[f->prev_slot];
  int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int ok = write(fd, s->data, s->len) == (ssize_t)s->len;
  close(fd);
  return ok ? 0 : -1;
}

static uint64_t pl_rng = 0x9e3779b97f4a7c15u;

void io_fault_power_loss_seed(uint64_t seed) { pl_rng = seed ? seed : 1; }

static uint64_t pl_rand(void) { /* xorshift64* */
  pl_rng ^= pl_rng >> 12;
  pl_rng ^= pl_rng << 25;
  pl_rng ^= pl_rng >> 27;
  return pl_rng * 0x2545f4914f6cdd1du;
}

#define PL_PAGE 4096

/* A WAL's unsynced bytes as a power loss may leave them. Writeback of dirty pages is not
 * ordered, so each unsynced page reached the disk or not on its own (a lost one reads as
 * the zeros the preallocated or never-written blocks held), and the size may have reached
 * the disk or not (a mapped log's preallocated size always has). */
static int lose_unsynced_pages(const char *path, int64_t durable, int64_t size) {
  int64_t end = pl_rand() % 2 ? size : durable + (int64_t)(pl_rand() % (uint64_t)(size - durable));
  if (truncate(path, end)) return -1;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static const char zeros[PL_PAGE];
  int bad = 0;
  for (int64_t pg = durable - durable % PL_PAGE; pg < end && !bad; pg += PL_PAGE) {
    if (pl_rand() % 2) continue; /* this page was written back */
    int64_t from = pg < durable ? durable : pg, to = pg + PL_PAGE < end ? pg + PL_PAGE : end;
    bad = pwrite(fd, zeros, (size_t)(to - from), from) != to - from;
  }
  close(fd);
  return bad ? -1 : 0;
}

/* Only WALs lose pages out of order: their reader must tell that from corruption. Other
 * files are cut to their durable length, the order-keeping model: their unsynced bytes are
 * unreferenced (tables) or read by the MANIFEST's own rules. */
static int is_wal(const char *path) {
  size_t n = strlen(path);
  return n > 4 && !strcmp(path + n - 4, ".log");
}

int io_fault_power_loss(void) {
  if (!tt) return -1;
  /* A child killed inside a hook may have died holding the lock: take it after a while. */
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (atomic_exchange(&tt->lock, 1)) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 1) break;
    sched_yield();
  }
  int changed = 0, bad = tt->overflow;
  for (int i = 0; i < TRACK_FILES; i++) {
    tfile *f = &tt->files[i];
    if (!f->used) continue;
    struct stat st;
    if (!f->name_durable) {
      if (unlink(f->path) == 0) changed++;
      if (f->renamed && restore_prev(f)) bad = 1;
    } else if (stat(f->path, &st) == 0 && st.st_size > f->durable_len) {
      if (is_wal(f->path) ? lose_unsynced_pages(f->path, f->durable_len, st.st_size)
                          : truncate(f->path, f->durable_len))
        bad = 1;
      changed++;
    }
  }
  /* everything on disk is now what the disk holds: start a fresh table */
  size_t dirlen = tt->dirlen;
  char dir[TRACK_PATH];
  memcpy(dir, tt->dir, sizeof dir);
  memset(tt->files, 0, sizeof tt->files);
  for (int i = 0; i < PREV_SLOTS; i++) tt->prev[i].used = 0;
  tt->overflow = 0;
  tt->dirlen = dirlen;
  memcpy(tt->dir, dir, sizeof dir);
  atomic_store(&tt->lock, 0);
  return bad ? -1 : changed;
}

void io_fault_track_end(void) {
  if (!tt) return;
  munmap(tt, sizeof *tt);
  tt = NULL;
}
