/* gen_seeds.c — writes the committed seed corpora: real WALs, SSTables (zstd and
 * uncompressed, with point and range tombstones) and MANIFESTs made by Shale itself, and a
 * few API-call inputs. Run it after a format change and commit the output:
 *   build/tests/fuzz/fuzz_gen_seeds tests/fuzz/corpus */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shale.h"
#include "testutil.h"

static const char *out_root;

static void save(const char *dir, const char *file, const char *kind, const char *name) {
  char from[4096], to[4096];
  snprintf(from, sizeof from, "%s/%s", dir, file);
  snprintf(to, sizeof to, "%s/%s", out_root, kind);
  mkdir(to, 0755);
  snprintf(to, sizeof to, "%s/%s/%s", out_root, kind, name);
  if (tu_copy_file(from, to)) {
    fprintf(stderr, "copy %s -> %s failed\n", from, to);
    exit(1);
  }
}

/* Saves every file of dir that ends with suffix (or starts with it, for MANIFEST-). */
static void save_all(const char *dir, const char *kind, const char *tag) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    int match = !strcmp(kind, "manifest") ? !strncmp(e->d_name, "MANIFEST-", 9)
                : !strcmp(kind, "wal")    ? l > 4 && !strcmp(e->d_name + l - 4, ".log")
                                          : l > 4 && !strcmp(e->d_name + l - 4, ".sst");
    char *path = tu_path(dir, e->d_name);
    long long size = tu_file_size(path);
    free(path);
    if (!match || size <= 0) continue;
    char name[128];
    snprintf(name, sizeof name, "%s-%d", tag, n++);
    save(dir, e->d_name, kind, name);
  }
  closedir(d);
}

static void fill(shale_db *db, int n, int salt) {
  char k[32], v[64];
  for (int i = 0; i < n; i++) {
    int kl = snprintf(k, sizeof k, "key%04d", (i * 7 + salt) % (n + 3));
    int vl = snprintf(v, sizeof v, "value-%d-%d-%.*s", i, salt, i % 20, "xxxxxxxxxxxxxxxxxxxx");
    shale_put(db, k, (size_t)kl, v, (size_t)vl, 0);
    if (i % 5 == 4) shale_delete(db, k, (size_t)kl, 0);
  }
  shale_delete_range(db, "key0010", 7, "key0014", 7, 0);
  shale_batch *b;
  shale_batch_new(&b);
  shale_batch_put(b, "batch-a", 7, "1", 1);
  shale_batch_delete(b, "key0003", 7);
  shale_batch_delete_range(b, "key0020", 7, "key0022", 7);
  shale_write(db, b, SHALE_SYNC);
  shale_batch_free(b);
}

static void make_db(int compression, const char *tag) {
  char *dir = tu_tempdir();
  shale_options o;
  shale_options_init(&o);
  o.compression = compression;
  o.block_size = 256; /* several data blocks even in a small table */
  shale_db *db;
  if (shale_open(dir, &o, &db)) exit(1);
  fill(db, 40, 1);
  /* overlapping a range delete of fill across a snapshot: the table keeps one fragment,
   * [key0012, key0014), at two sequences */
  const shale_snapshot *snap;
  if (shale_snapshot_new(db, &snap)) exit(1);
  shale_delete_range(db, "key0012", 7, "key0018", 7, 0);
  shale_flush(db);
  shale_snapshot_free(db, snap);
  fill(db, 25, 2);                             /* stays in the WAL */
  if (compression == SHALE_COMPRESSION_NONE) { /* a record fragmented across 32 KiB blocks */
    static char big[40000];
    memset(big, 'b', sizeof big);
    shale_put(db, "big", 3, big, sizeof big, 0);
  }
  save_all(dir, "sst", tag);
  save_all(dir, "wal", tag);
  for (int i = 0; i < 5; i++) { /* more edits: flushes, then a compaction */
    fill(db, 10, 3 + i);
    shale_flush(db);
  }
  shale_compact_range(db, NULL, 0, NULL, 0);
  save_all(dir, "manifest", tag);
  shale_close(db);
  tu_tempdir_free(dir);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  out_root = argv[1];
  mkdir(out_root, 0755);
  make_db(SHALE_COMPRESSION_ZSTD, "zstd");
  make_db(SHALE_COMPRESSION_NONE, "plain");
  /* API inputs: deterministic pseudo-random op streams of a few lengths */
  char p[4096];
  snprintf(p, sizeof p, "%s/api", out_root);
  mkdir(p, 0755);
  uint64_t s = 12345;
  for (int f = 0; f < 6; f++) {
    snprintf(p, sizeof p, "%s/api/seed-%d", out_root, f);
    FILE *fp = fopen(p, "wb");
    size_t n = 64u << f;
    for (size_t i = 0; i < n; i++) fputc((int)(tu_rand(&s) & 0xff), fp);
    fclose(fp);
  }
  printf("seeds written to %s\n", out_root);
  return 0;
}
