/* leveldb_property.c — LevelDB's property names answered from Shale's properties and
 * shale_live_files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leveldb_types.h"

#define LDBC_NUM_LEVELS 7 /* LevelDB's and Shale's */

/* Shale's strings are freed with shale_free; LevelDB's callers use free. */
static char *shale_property_copy(leveldb_t *db, const char *name) {
  char *value = NULL;
  if (shale_property(db->db, name, &value)) return NULL;
  char *copy = strdup(value);
  shale_free(value);
  return copy;
}

/* LevelDB's EscapeString: printable bytes as they are, others as \xHH. */
static void print_key(FILE *out, const void *key, size_t len) {
  const unsigned char *p = key;
  fputc('\'', out);
  for (size_t i = 0; i < len; i++) {
    if (p[i] >= ' ' && p[i] <= '~')
      fputc(p[i], out);
    else
      fprintf(out, "\\x%02x", p[i]);
  }
  fputc('\'', out);
}

/* LevelDB's layout: a "--- level N ---" line per level, then " number:size[first .. last]"
 * per table (LevelDB also prints each bound's sequence and type, which Shale does not keep
 * per bound). */
static char *sstables(leveldb_t *db) {
  shale_live_file *files;
  size_t n;
  if (shale_live_files(db->db, &files, &n)) return NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) {
    shale_live_files_free(files);
    return NULL;
  }
  for (int level = 0; level < LDBC_NUM_LEVELS; level++) {
    fprintf(out, "--- level %d ---\n", level);
    for (size_t i = 0; i < n; i++) {
      if (files[i].level != level) continue;
      fprintf(out, " %" PRIu64 ":%" PRIu64 "[", files[i].number, files[i].file_size);
      print_key(out, files[i].smallest, files[i].smallest_len);
      fputs(" .. ", out);
      print_key(out, files[i].largest, files[i].largest_len);
      fputs("]\n", out);
    }
  }
  shale_live_files_free(files);
  if (fclose(out)) {
    free(text);
    return NULL;
  }
  return text;
}

/* The memtables: the active one as measured, each sealed one at the size that seals it.
 * The block cache's usage is not in Shale's public API, so it is left out. */
/* "N" of num-files-at-levelN: a decimal number (leading zeros allowed, as LevelDB reads it)
 * below LDBC_NUM_LEVELS, and nothing after it; -1 otherwise. */
static int parse_level(const char *s) {
  int level = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    level = level * 10 + (*s - '0');
    if (level >= LDBC_NUM_LEVELS) return -1;
  }
  return level;
}

char *leveldb_property_value(leveldb_t *db, const char *propname) {
  static const char prefix[] = "leveldb.";
  static const char files_at[] = "num-files-at-level";
  if (!db || !propname) return NULL;
  if (!strncmp(propname, "shale.", 6)) return shale_property_copy(db, propname);
  if (strncmp(propname, prefix, sizeof prefix - 1)) return NULL;
  const char *name = propname + sizeof prefix - 1;
  if (!strncmp(name, files_at, sizeof files_at - 1)) {
    int level = parse_level(name + sizeof files_at - 1);
    if (level < 0) return NULL;
    char shale_name[64];
    snprintf(shale_name, sizeof shale_name, "shale.num-files-at-level%d", level);
    return shale_property_copy(db, shale_name);
  }
  if (!strcmp(name, "stats")) return shale_property_copy(db, "shale.stats");
  if (!strcmp(name, "sstables")) return sstables(db);
  if (!strcmp(name, "approximate-memory-usage"))
    return shale_property_copy(db, "shale.approximate-memory-usage");
  return NULL;
}
