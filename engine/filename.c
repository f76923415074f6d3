/* filename.c — DB file naming; see filename.h. */
#include "engine/filename.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io_fs.h"

void filename_log(char *out, const char *dir, uint64_t n) {
  snprintf(out, FILENAME_MAX_LEN, "%s/%06" PRIu64 ".log", dir, n);
}
void filename_old_log(char *out, const char *dir, uint64_t n) {
  snprintf(out, FILENAME_MAX_LEN, "%s/%06" PRIu64 ".old.log", dir, n);
}
void filename_table(char *out, const char *dir, uint64_t n) {
  snprintf(out, FILENAME_MAX_LEN, "%s/%06" PRIu64 ".sst", dir, n);
}
void filename_manifest(char *out, const char *dir, uint64_t n) {
  snprintf(out, FILENAME_MAX_LEN, "%s/MANIFEST-%06" PRIu64, dir, n);
}
void filename_join(char *out, const char *dir, const char *name) {
  snprintf(out, FILENAME_MAX_LEN, "%s/%s", dir, name);
}

static int parse_number(const char *s, const char *end, uint64_t *n) {
  if (s == end) return 0;
  uint64_t v = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *n = v;
  return 1;
}

file_type filename_parse(const char *name, uint64_t *number) {
  *number = 0;
  if (!strcmp(name, "CURRENT")) return FT_CURRENT;
  if (!strcmp(name, "LOCK")) return FT_LOCK;
  if (!strcmp(name, "LOG") || !strncmp(name, "LOG.old", 7)) return FT_INFO_LOG;
  if (!strcmp(name, "OPTIONS")) return FT_OPTIONS;
  if (!strcmp(name, "SPANS")) return FT_SPANS;
  if (!strncmp(name, "MANIFEST-", 9))
    return parse_number(name + 9, name + strlen(name), number) ? FT_MANIFEST : FT_UNKNOWN;
  size_t len = strlen(name), old = sizeof ".old.log" - 1;
  if (len > old && !strcmp(name + len - old, ".old.log"))
    return parse_number(name, name + len - old, number) ? FT_OLD_LOG : FT_UNKNOWN;
  const char *dot = strrchr(name, '.');
  if (!dot || !parse_number(name, dot, number)) return FT_UNKNOWN;
  if (!strcmp(dot, ".log")) return FT_LOG;
  if (!strcmp(dot, ".sst")) return FT_TABLE;
  if (!strcmp(dot, ".tmp")) return FT_TEMP;
  return FT_UNKNOWN;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The numbers >= min of the files of type a or b (FT_UNKNOWN: only a), ascending. */
static size_t list_types(io_ctx *io, const char *dir, file_type a, file_type b, uint64_t min,
                         uint64_t **out) {
  *out = NULL;
  char **names;
  size_t count, n = 0, cap = 0;
  if (io_list_dir(io, dir, &names, &count, NULL)) return 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t num;
    file_type t = filename_parse(names[i], &num);
    if ((t != a && (t != b || b == FT_UNKNOWN)) || num < min) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      uint64_t *p = realloc(*out, cap * sizeof *p);
      if (!p) break;
      *out = p;
    }
    (*out)[n++] = num;
  }
  io_names_free(names, count);
  if (n) qsort(*out, n, sizeof **out, cmp_u64);
  return n;
}

size_t filename_list(io_ctx *io, const char *dir, file_type type, uint64_t min, uint64_t **out) {
  return list_types(io, dir, type, FT_UNKNOWN, min, out);
}

size_t filename_list_wals(io_ctx *io, const char *dir, uint64_t min, uint64_t **out) {
  /* both names of one number exist only for a moment (a rename); list the number once */
  size_t n = list_types(io, dir, FT_LOG, FT_OLD_LOG, min, out), kept = 0;
  for (size_t i = 0; i < n; i++)
    if (!kept || (*out)[kept - 1] != (*out)[i]) (*out)[kept++] = (*out)[i];
  return kept;
}

void filename_wal(char *out, const char *dir, uint64_t number) {
  filename_log(out, dir, number);
  if (access(out, F_OK)) filename_old_log(out, dir, number);
}
