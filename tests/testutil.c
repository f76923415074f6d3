/* testutil.c — shared test fixtures; see testutil.h. */
#include "testutil.h"

#include "fault_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void tu_options_init(shale_options *o) {
  shale_options_init(o);
  o->env = fault_env(); /* passes every call on until a test arms a fault */
  const char *io = getenv("SHALE_IO"), *mm = getenv("SHALE_MMAP");
  const char *roll = getenv("SHALE_MANIFEST_ROLL_BYTES");
  if (io && !strcmp(io, "pwrite")) o->io_mode = SHALE_IO_PWRITE;
  if (mm && !strcmp(mm, "0")) o->use_mmap = 0;
  if (roll && atoll(roll) > 0) o->manifest_roll_bytes = (uint64_t)atoll(roll);
}

const shale_options *tu_default_options(void) {
  static _Thread_local shale_options o; /* filled on each call: a test may change the variables */
  tu_options_init(&o);
  return &o;
}

char *tu_tempdir(void) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  size_t n = strlen(base) + 32;
  char *p = malloc(n);
  if (!p) return NULL;
  snprintf(p, n, "%s/shale-test-XXXXXX", base);
  if (!mkdtemp(p)) {
    free(p);
    return NULL;
  }
  return p;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

void tu_rmrf(const char *path) {
  if (path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_tempdir_free(char *path) {
  tu_rmrf(path);
  free(path);
}

long long tu_file_size(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1 : (long long)st.st_size;
}

int tu_flip_bit(const char *path, long long offset, int bit) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  unsigned char c;
  int rc = -1;
  if (pread(fd, &c, 1, offset) == 1) {
    c ^= (unsigned char)(1u << bit);
    if (pwrite(fd, &c, 1, offset) == 1) rc = 0;
  }
  close(fd);
  return rc;
}

int tu_truncate(const char *path, long long len) { return truncate(path, len); }

int tu_copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int rc = (in && out) ? 0 : -1;
  char b[65536];
  size_t n;
  while (!rc && (n = fread(b, 1, sizeof b, in)) > 0)
    if (fwrite(b, 1, n, out) != n) rc = -1;
  if (in) fclose(in);
  if (out && fclose(out)) rc = -1;
  return rc;
}

char *tu_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

uint64_t tu_rand(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

double tu_stress_seconds(void) {
  const char *s = getenv("SHALE_STRESS_SECONDS");
  double d = s && *s ? atof(s) : 5.0;
  return d > 0 ? d : 5.0;
}

double tu_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tu_copy_dir(const char *from, const char *to) {
  DIR *d = opendir(from);
  if (!d) return -1;
  int rc = 0;
  struct dirent *e;
  while (!rc && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "LOCK")) continue;
    char *a = tu_path(from, e->d_name), *b = tu_path(to, e->d_name);
    rc = a && b ? tu_copy_file(a, b) : -1;
    free(a);
    free(b);
  }
  closedir(d);
  return rc;
}

int tu_count_suffix(const char *dir, const char *suffix) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  size_t sl = strlen(suffix);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l > sl && !strcmp(e->d_name + l - sl, suffix)) n++;
  }
  closedir(d);
  return n;
}

int tu_cmp_bytewise(void *arg, const void *a, size_t alen, const void *b, size_t blen) {
  (void)arg;
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  return c ? c : (alen > blen) - (alen < blen);
}

int tu_cmp_reverse(void *arg, const void *a, size_t alen, const void *b, size_t blen) {
  return -tu_cmp_bytewise(arg, a, alen, b, blen);
}
