/* io_env.c — the real I/O environment (shale_env_default: the system calls themselves) and
 * the copy of a caller's environment an io_ctx keeps. */
#include "io/io_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

static int real_open(void *arg, const char *path, int flags, int mode) {
  return open(path, flags, mode);
}

static int64_t real_write(void *arg, int fd, const void *data, size_t len) {
  return write(fd, data, len);
}

static int64_t real_pwrite(void *arg, int fd, const void *data, size_t len, int64_t off) {
  return pwrite(fd, data, len, (off_t)off);
}

static int64_t real_pread(void *arg, int fd, void *data, size_t len, int64_t off) {
  return pread(fd, data, len, (off_t)off);
}

static int real_fallocate(void *arg, int fd, int64_t off, int64_t len) {
  return posix_fallocate(fd, (off_t)off, (off_t)len);
}

static int real_sync(void *arg, int fd, const char *path, int data_only, int64_t content_len) {
  return data_only ? fdatasync(fd) : fsync(fd);
}

static int real_sync_dir(void *arg, const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd), e = errno;
  close(fd);
  errno = e;
  return rc;
}

static int real_rename(void *arg, const char *from, const char *to) { return rename(from, to); }

static int real_unlink(void *arg, const char *path) { return unlink(path); }

static int real_async_result(void *arg, const char *path, int fd, int is_sync, int res) {
  return res;
}

static void real_point(void *arg, shale_db *db, int point) {}

static int real_ftruncate(void *arg, int fd, const char *path, int64_t len) {
  return ftruncate(fd, (off_t)len);
}

static int real_link(void *arg, const char *from, const char *to) { return link(from, to); }

static int real_mkdir(void *arg, const char *dir, int mode) { return mkdir(dir, (mode_t)mode); }

static int real_rmdir(void *arg, const char *dir) { return rmdir(dir); }

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* Appends a copy of name to *names; -1 (errno ENOMEM) when memory runs out. */
static int push_name(char ***names, size_t *n, size_t *cap, const char *name) {
  if (*n == *cap) {
    size_t grown = *cap ? *cap * 2 : 16;
    char **p = realloc(*names, grown * sizeof *p);
    if (!p) return -1;
    *names = p;
    *cap = grown;
  }
  if (!((*names)[*n] = strdup(name))) return -1;
  (*n)++;
  return 0;
}

static int real_list_dir(void *arg, const char *dir, char ***names, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char **v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && push_name(&v, &n, &cap, e->d_name))
      break;
  int failed = errno != 0, err = errno;
  closedir(d);
  if (failed) {
    free_names(v, n);
    errno = err;
    return -1;
  }
  *names = v;
  *count = n;
  return 0;
}

static int real_lock(void *arg, int fd, const char *path, int op) { return flock(fd, op); }

void shale_env_default(shale_env *env) {
  if (!env) return;
  *env = (shale_env){.size = sizeof *env,
                     .open = real_open,
                     .write = real_write,
                     .pwrite = real_pwrite,
                     .pread = real_pread,
                     .fallocate = real_fallocate,
                     .sync = real_sync,
                     .sync_dir = real_sync_dir,
                     .rename = real_rename,
                     .unlink = real_unlink,
                     .async_result = real_async_result,
                     .point = real_point,
                     .ftruncate = real_ftruncate,
                     .link = real_link,
                     .mkdir = real_mkdir,
                     .rmdir = real_rmdir,
                     .list_dir = real_list_dir,
                     .lock = real_lock};
}

/* Why NULL members are filled here and not checked at each call: a wrapper that changes one
 * call leaves the rest NULL, and the file layer then calls through without a branch. */
void io_env_copy(shale_env *dst, const shale_env *src) {
  shale_env_default(dst);
  if (!src) return;
  shale_env def = *dst;
  memcpy(dst, src, src->size < sizeof *dst ? src->size : sizeof *dst);
  dst->size = sizeof *dst;
#define KEEP_DEFAULT(m) \
  if (!dst->m) dst->m = def.m
  KEEP_DEFAULT(open);
  KEEP_DEFAULT(write);
  KEEP_DEFAULT(pwrite);
  KEEP_DEFAULT(pread);
  KEEP_DEFAULT(fallocate);
  KEEP_DEFAULT(sync);
  KEEP_DEFAULT(sync_dir);
  KEEP_DEFAULT(rename);
  KEEP_DEFAULT(unlink);
  KEEP_DEFAULT(async_result);
  KEEP_DEFAULT(point);
  KEEP_DEFAULT(ftruncate);
  KEEP_DEFAULT(link);
  KEEP_DEFAULT(mkdir);
  KEEP_DEFAULT(rmdir);
  KEEP_DEFAULT(list_dir);
  KEEP_DEFAULT(lock);
#undef KEEP_DEFAULT
}

int io_env_check(const shale_env *env, char *errmsg) {
  if (!env || (env->size >= offsetof(shale_env, open) && env->size <= sizeof *env)) return SHALE_OK;
  return err_set(errmsg, SHALE_INVALID, "env.size %zu: fill the env with shale_env_default first",
                 env->size);
}

int io_env_copies_unwatched(const shale_env *env) {
  return env->pread == real_pread && env->write == real_write;
}
