/* destroy.c — shale_destroy: LevelDB's DestroyDB for Shale. It deletes only names Shale
 * gives its files, so whatever else a user keeps in the directory survives, and it refuses a
 * directory that is not a Shale DB outright, before it creates or removes anything. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/dir_check.h"
#include "engine/filename.h"
#include "util/error.h"

/* The names Shale writes in a DB directory, and in lost/ (where repair moves them). */
static int own_name(const char *name) {
  uint64_t n;
  if (filename_parse(name, &n) != FT_UNKNOWN) return 1;
  return !strcmp(name, "CURRENT.tmp") || !strcmp(name, "OPTIONS.tmp");
}

/* Removes Shale's files from dir, all but LOCK, which must outlive them: an open racing the
 * destroy has to find our lock, not make a new one beside half-deleted files. */
static int remove_own_files(const char *dir, char *errmsg) {
  DIR *d = opendir(dir);
  if (!d) return err_errno(errmsg, errno, "opendir", dir);
  int rc = SHALE_OK;
  struct dirent *e;
  while ((e = readdir(d)))
    if (own_name(e->d_name) && strcmp(e->d_name, "LOCK") && unlinkat(dirfd(d), e->d_name, 0) &&
        errno != ENOENT && !rc)
      rc = err_errno(errmsg, errno, "unlink", e->d_name);
  closedir(d);
  return rc;
}

/* lost/ holds what repair set aside; it goes only when nothing but Shale's files is in it. */
static int remove_lost(const char *dir, char *errmsg) {
  char lost[FILENAME_MAX_LEN];
  filename_join(lost, dir, "lost");
  struct stat st;
  if (lstat(lost, &st) || !S_ISDIR(st.st_mode)) return SHALE_OK;
  int rc = remove_own_files(lost, errmsg);
  if (!rc) rmdir(lost); /* ENOTEMPTY: the user's files stay, and so does lost/ */
  return rc;
}

/* 1 when dir holds nothing but LOCK, 0 when it holds more, -1 when it cannot be read. */
static int only_lock_left(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int only = 1;
  struct dirent *e;
  while (only && (e = readdir(d)))
    only = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "LOCK");
  closedir(d);
  return only;
}

static int lock_exclusive(const char *dir, int *fd, char *errmsg) {
  char p[FILENAME_MAX_LEN];
  filename_join(p, dir, "LOCK");
  *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (*fd < 0) return err_errno(errmsg, errno, "open", p);
  if (flock(*fd, LOCK_EX | LOCK_NB) == 0) return SHALE_OK;
  int e = errno;
  close(*fd);
  *fd = -1;
  if (e == EWOULDBLOCK)
    return err_set(errmsg, SHALE_BUSY,
                   "%s is locked: the DB is open in another handle or process; nothing was "
                   "destroyed",
                   p);
  return err_errno(errmsg, e, "flock", p);
}

static int destroy_dir(const char *path, char *errmsg) {
  struct stat st;
  if (stat(path, &st)) return errno == ENOENT ? SHALE_OK : err_errno(errmsg, errno, "stat", path);
  if (!S_ISDIR(st.st_mode))
    return err_set(errmsg, SHALE_INVALID, "%s exists and is not a directory", path);
  int rc = db_dir_check(path, errmsg), fd = -1;
  if (rc || (rc = lock_exclusive(path, &fd, errmsg))) return rc;
  rc = remove_own_files(path, errmsg);
  if (!rc) rc = remove_lost(path, errmsg);
  char p[FILENAME_MAX_LEN];
  filename_join(p, path, "LOCK");
  /* As LevelDB, LOCK goes last, while still held, with the directory. Beside the user's
   * files it stays: it is what lets the next open tell the directory is still a DB's. */
  int keep_lock = rc || only_lock_left(path) != 1;
  if (!keep_lock && unlink(p) && errno != ENOENT) rc = err_errno(errmsg, errno, "unlink", p);
  close(fd);
  if (!keep_lock && !rc) rmdir(path);
  return rc;
}

int shale_destroy(const char *path, const shale_options *o) {
  char *msg = db_handleless_errmsg();
  msg[0] = 0;
  (void)o; /* nothing in the options changes which files are Shale's */
  if (!path || !*path) return err_set(msg, SHALE_INVALID, "path must not be NULL or empty");
  if (strlen(path) > FILENAME_MAX_LEN - 64) return err_set(msg, SHALE_INVALID, "path too long");
  return destroy_dir(path, msg);
}
