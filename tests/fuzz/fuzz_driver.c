/* fuzz_driver.c — runs one fuzz target without libFuzzer (any compiler), so gcc-only builds
 * exercise the targets too: every input file given (files or directories of them), then N
 * random mutations of them (bit flips, byte stores, cuts, inserts, splices).
 * usage: fuzz_X [-n N] [-s SEED] PATH...   (env SHALE_FUZZ_ITERS overrides -n) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

typedef struct blob {
  uint8_t *p;
  size_t n;
} blob;

static blob *inputs;
static size_t ninputs, cap;

static void add_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  blob b = {NULL, 0};
  size_t c = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF) {
    if (b.n == c) b.p = realloc(b.p, c = c ? 2 * c : 4096);
    b.p[b.n++] = (uint8_t)ch;
  }
  fclose(f);
  if (ninputs == cap) inputs = realloc(inputs, (cap = cap ? 2 * cap : 16) * sizeof *inputs);
  inputs[ninputs++] = b;
}

static void add_path(const char *path) {
  struct stat st;
  if (stat(path, &st)) {
    perror(path);
    exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    add_file(path);
    return;
  }
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    add_file(p);
  }
  if (d) closedir(d);
}

static uint64_t rng;
static uint64_t rnd(void) {
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

/* Mutates b in place (it has room for max bytes). */
static size_t mutate(uint8_t *b, size_t n, size_t max) {
  int rounds = 1 + (int)(rnd() % 4);
  for (int r = 0; r < rounds; r++) {
    switch (rnd() % 7) {
      case 0: /* bit flip */
        if (n) b[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        break;
      case 1: /* interesting byte */
        if (n) b[rnd() % n] = (uint8_t[]){0, 0xff, 0x7f, 0x80, 1, 0xfe}[rnd() % 6];
        break;
      case 2: /* cut */
        if (n) n = (size_t)(rnd() % n);
        break;
      case 3: /* insert random bytes */
      {
        size_t k = 1 + rnd() % 16, at = n ? rnd() % (n + 1) : 0;
        if (n + k > max) break;
        memmove(b + at + k, b + at, n - at);
        for (size_t i = 0; i < k; i++) b[at + i] = (uint8_t)rnd();
        n += k;
        break;
      }
      case 4: /* overwrite a run with another part of the input */
        if (n > 8) {
          size_t len = 1 + rnd() % 8, from = rnd() % (n - len), to = rnd() % (n - len);
          memmove(b + to, b + from, len);
        }
        break;
      case 5: /* splice: the tail of another input */
      {
        const blob *o = &inputs[rnd() % ninputs];
        if (!o->n) break;
        size_t from = rnd() % o->n, at = n ? rnd() % n : 0, len = o->n - from;
        if (at + len > max) len = max - at;
        memcpy(b + at, o->p + from, len);
        if (at + len > n) n = at + len;
        break;
      }
      default: /* random 32-bit word */
        if (n >= 4) {
          uint32_t v = (uint32_t)rnd();
          memcpy(b + rnd() % (n - 3), &v, 4);
        }
    }
  }
  return n;
}

int main(int argc, char **argv) {
  long iters = 1000;
  rng = 0x5eedf00dull;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i += 2) {
    if (i + 1 >= argc) break;
    if (!strcmp(argv[i], "-n"))
      iters = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-s"))
      rng = strtoull(argv[i + 1], NULL, 0) | 1;
  }
  const char *env = getenv("SHALE_FUZZ_ITERS");
  if (env && *env) iters = atol(env);
  for (; i < argc; i++) add_path(argv[i]);
  if (!ninputs) add_file("/dev/null");
  for (size_t k = 0; k < ninputs; k++) LLVMFuzzerTestOneInput(inputs[k].p, inputs[k].n);
  size_t max = 0;
  for (size_t k = 0; k < ninputs; k++)
    if (inputs[k].n > max) max = inputs[k].n;
  max = max * 2 + 64;
  uint8_t *b = malloc(max);
  for (long it = 0; it < iters; it++) {
    const blob *src = &inputs[rnd() % ninputs];
    memcpy(b, src->p, src->n);
    size_t n = mutate(b, src->n, max);
    LLVMFuzzerTestOneInput(b, n);
  }
  printf("%s: %zu corpus inputs and %ld mutations, no failure\n", argv[0], ninputs, iters);
  free(b);
  for (size_t k = 0; k < ninputs; k++) free(inputs[k].p);
  free(inputs);
  return 0;
}
