/* dir_check.c — see dir_check.h. Shale's WALs and MANIFESTs begin with a file-header
 * fragment holding WAL_MAGIC; RocksDB's and LevelDB's logs share the fragment layout but not
 * that header, which is what the check looks for. */
#include "engine/dir_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/filename.h"
#include "io/io_fs.h"
#include "shale.h"
#include "util/error.h"
#include "wal/wal_format.h"

enum { HDR_UNKNOWN, HDR_SHALE, HDR_FOREIGN };

/* What the first bytes of a log say. A header both of whose marks are wrong is another
 * store's; one wrong mark is damage, and zeros (a cut or preallocated file) say nothing. */
static int log_header(io_ctx *io, const char *path) {
  uint8_t h[WAL_HEADER_SIZE + WAL_MAGIC_SIZE];
  io_reader *r;
  if (io_reader_open(io, path, &r, NULL)) return HDR_UNKNOWN;
  int whole = io_reader_size(r) >= sizeof h && !io_reader_read(r, 0, h, sizeof h, NULL);
  io_reader_close(r);
  if (!whole) return HDR_UNKNOWN;
  int type_ok = h[WAL_HEADER_SIZE - 1] == WAL_FILEHDR;
  int magic_ok = !memcmp(h + WAL_HEADER_SIZE, WAL_MAGIC, WAL_MAGIC_SIZE);
  if (type_ok && magic_ok) return HDR_SHALE;
  static const uint8_t zero[sizeof h];
  if (type_ok || magic_ok || !memcmp(h, zero, sizeof h)) return HDR_UNKNOWN;
  return HDR_FOREIGN;
}

/* The MANIFEST CURRENT names, classified; name gets its file name ("" without one). */
static int current_manifest(io_ctx *io, const char *dir, char *name, size_t cap) {
  char path[FILENAME_MAX_LEN];
  *name = 0;
  filename_join(path, dir, "CURRENT");
  char line[256] = "";
  io_reader *r;
  if (io_reader_open(io, path, &r, NULL)) return HDR_UNKNOWN;
  size_t len = io_reader_size(r) < sizeof line - 1 ? (size_t)io_reader_size(r) : sizeof line - 1;
  int got = len > 0 && !io_reader_read(r, 0, line, len, NULL);
  io_reader_close(r);
  line[got ? len : 0] = 0;
  line[strcspn(line, "\n")] = 0;
  uint64_t n;
  if (!got || strchr(line, '/') || filename_parse(line, &n) != FT_MANIFEST) return HDR_UNKNOWN;
  snprintf(name, cap, "%s", line);
  filename_join(path, dir, line);
  return log_header(io, path);
}

/* Is name one of the files Shale keeps in a DB directory? */
static int shale_name(const char *name) {
  uint64_t n;
  if (filename_parse(name, &n) != FT_UNKNOWN) return 1;
  return !strcmp(name, "CURRENT.tmp") || !strcmp(name, "OPTIONS.tmp") || !strcmp(name, "lost") ||
         !strcmp(name, ".") || !strcmp(name, "..");
}

/* What a walk of a directory found. */
typedef struct census {
  char foreign[256]; /* the first name that is not Shale's, or "" */
  int shale_log;     /* a MANIFEST or WAL with Shale's header */
  int foreign_log;   /* a MANIFEST or WAL with another store's header */
  int lock;          /* a LOCK file */
} census;

static void take_census(io_ctx *io, const char *dir, census *c) {
  memset(c, 0, sizeof *c);
  char **names;
  size_t count;
  if (io_list_dir(io, dir, &names, &count, NULL)) return;
  char path[FILENAME_MAX_LEN];
  for (size_t i = 0; i < count; i++) {
    uint64_t n;
    file_type t = filename_parse(names[i], &n);
    if (!shale_name(names[i]) && !c->foreign[0])
      snprintf(c->foreign, sizeof c->foreign, "%s", names[i]);
    c->lock |= t == FT_LOCK;
    if (t != FT_MANIFEST && t != FT_LOG) continue;
    filename_join(path, dir, names[i]);
    int h = log_header(io, path);
    c->shale_log |= h == HDR_SHALE;
    c->foreign_log |= h == HDR_FOREIGN;
  }
  io_names_free(names, count);
}

int db_dir_check(io_ctx *io, const char *dir, char *errmsg) {
  char manifest[256];
  int verdict = current_manifest(io, dir, manifest, sizeof manifest);
  if (verdict == HDR_SHALE) return SHALE_OK;
  if (verdict == HDR_FOREIGN)
    return err_set(errmsg, SHALE_INVALID,
                   "%s is not a Shale DB: its CURRENT names %s, which is not a Shale MANIFEST "
                   "(a RocksDB or LevelDB DB?); nothing in it was changed",
                   dir, manifest);
  census c;
  take_census(io, dir, &c);
  /* A LOCK is what a destroyed DB keeps (shale-bench leaves it for whoever waits on it),
   * so it vouches for the directory unless another store's log sits beside it. */
  if (!c.foreign[0] || c.shale_log || (c.lock && !c.foreign_log)) return SHALE_OK;
  return err_set(errmsg, SHALE_INVALID,
                 "%s is not a Shale DB: it holds '%s', which is not a Shale file, and no Shale "
                 "CURRENT, MANIFEST or WAL; nothing in it was changed (open an empty or new "
                 "directory instead)",
                 dir, c.foreign);
}
