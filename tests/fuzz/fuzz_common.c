/* fuzz_common.c — see fuzz_common.h. */
#include "fuzz_common.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];
static char path[4096 + 256];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

void fuzz_rmrf(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void cleanup(void) {
  if (dir[0]) fuzz_rmrf(dir);
}

const char *fuzz_dir(void) {
  if (!dir[0]) {
    /* fsyncs dominate on a disk and durability is not what fuzzing checks: prefer tmpfs */
    const char *base = getenv("SHALE_FUZZ_TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/shale-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      abort();
    }
    atexit(cleanup);
  }
  return dir;
}

const char *fuzz_path(const char *name) {
  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  return path;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
  const char *p = fuzz_path(name);
  FILE *f = fopen(p, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
    perror(p);
    abort();
  }
  return p;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: check failed: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  abort();
}
