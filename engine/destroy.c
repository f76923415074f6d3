/* destroy.c — shale_destroy: LevelDB's DestroyDB for Shale. It deletes only names Shale
 * gives its files, so whatever else a user keeps in the directory survives, and it refuses a
 * directory that is not a Shale DB outright, before it creates or removes anything. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/dir_check.h"
#include "engine/errmsg.h"
#include "engine/filename.h"
#include "io/io_env.h"
#include "io/io_fs.h"
#include "util/error.h"

/* The names Shale writes in a DB directory, and in lost/ (where repair moves them). */
static int own_name(const char *name) {
  uint64_t n;
  if (filename_parse(name, &n) != FT_UNKNOWN) return 1;
  return !strcmp(name, "CURRENT.tmp") || !strcmp(name, "OPTIONS.tmp");
}

/* Removes Shale's files from dir, all but LOCK, which must outlive them: an open racing the
 * destroy has to find our lock, not make a new one beside half-deleted files. A file that
 * cannot be removed does not stop the others going; the first failure is the error. */
static int remove_own_files(io_ctx *io, const char *dir, char *errmsg) {
  char **names;
  size_t count;
  int rc = io_list_dir(io, dir, &names, &count, errmsg);
  char path[FILENAME_MAX_LEN];
  for (size_t i = 0; i < count; i++) {
    if (!own_name(names[i]) || !strcmp(names[i], "LOCK")) continue;
    filename_join(path, dir, names[i]);
    int failed = io_remove(io, path, rc ? NULL : errmsg);
    if (!rc) rc = failed;
  }
  io_names_free(names, count);
  return rc;
}

/* lost/ holds what repair set aside; it goes only when nothing but Shale's files is in it. */
static int remove_lost(io_ctx *io, const char *dir, char *errmsg) {
  char lost[FILENAME_MAX_LEN];
  filename_join(lost, dir, "lost");
  struct stat st;
  if (lstat(lost, &st) || !S_ISDIR(st.st_mode)) return SHALE_OK;
  int rc = remove_own_files(io, lost, errmsg);
  if (!rc) io_remove_dir(io, lost, NULL); /* not empty: the user's files stay, and lost/ */
  return rc;
}

/* 1 when dir holds nothing but LOCK, 0 when it holds more, -1 when it cannot be read. */
static int only_lock_left(io_ctx *io, const char *dir) {
  char **names;
  size_t count;
  if (io_list_dir(io, dir, &names, &count, NULL)) return -1;
  int only = 1;
  for (size_t i = 0; i < count && only; i++) only = !strcmp(names[i], "LOCK");
  io_names_free(names, count);
  return only;
}

static int lock_exclusive(io_ctx *io, const char *dir, int *fd, char *errmsg) {
  char p[FILENAME_MAX_LEN];
  filename_join(p, dir, "LOCK");
  int rc = io_lock_file(io, p, fd, errmsg);
  if (rc != SHALE_BUSY) return rc;
  return err_set(errmsg, SHALE_BUSY,
                 "%s is locked: the DB is open in another handle or process; nothing was "
                 "destroyed",
                 p);
}

static int destroy_dir(io_ctx *io, const char *path, char *errmsg) {
  struct stat st;
  if (stat(path, &st)) return errno == ENOENT ? SHALE_OK : err_errno(errmsg, errno, "stat", path);
  if (!S_ISDIR(st.st_mode))
    return err_set(errmsg, SHALE_INVALID, "%s exists and is not a directory", path);
  int rc = db_dir_check(io, path, errmsg), fd = -1;
  if (rc || (rc = lock_exclusive(io, path, &fd, errmsg))) return rc;
  rc = remove_own_files(io, path, errmsg);
  if (!rc) rc = remove_lost(io, path, errmsg);
  char p[FILENAME_MAX_LEN];
  filename_join(p, path, "LOCK");
  /* As LevelDB, LOCK goes last, while still held, with the directory. Beside the user's
   * files it stays: it is what lets the next open tell the directory is still a DB's. */
  int keep_lock = rc || only_lock_left(io, path) != 1;
  if (!keep_lock) rc = io_remove(io, p, errmsg);
  close(fd);
  if (!keep_lock && !rc)
    io_remove_dir(io, path, NULL); /* the files are gone: that is the destroy */
  return rc;
}

int shale_destroy(const char *path, const shale_options *o) {
  char *msg = db_handleless_errmsg();
  msg[0] = 0;
  if (!path || !*path) return err_set(msg, SHALE_INVALID, "path must not be NULL or empty");
  if (strlen(path) > FILENAME_MAX_LEN - 64) return err_set(msg, SHALE_INVALID, "path too long");
  /* Nothing in the options changes which files are Shale's; the env is what they go by. */
  const shale_env *env = o && o->size > offsetof(shale_options, env) ? o->env : NULL;
  if (io_env_check(env, msg)) return SHALE_INVALID;
  io_ctx io;
  io_ctx_init(&io, env, 0, 0);
  return destroy_dir(&io, path, msg);
}
