/* shale_ldb_files.c — the live files one by one, as RocksDB's ldb lists them:
 * list_live_files_metadata, dump_live_files, list_file_range_deletes and file_checksum_dump.
 * "Live" is what the MANIFEST that CURRENT names holds (and, for WALs, those at or above its
 * log number); everything is read from the files, so these work on a DB another process
 * holds and change nothing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/filename.h"
#include "shale_ldb.h"
#include "util/checksum.h"
#include "util/error.h"
#include "util/ikey.h"

int ldb_cmd_list_live_files_metadata(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      const file_meta *f = st.v->files[l][i];
      printf("%06" PRIu64 ".sst level=%d size=%" PRIu64 " raw_bytes=%" PRIu64 " entries=%" PRIu64
             " point_tombstones=%" PRIu64 " range_tombstones=%" PRIu64 " seq=%" PRIu64 "..%" PRIu64
             " tomb_seq=%" PRIu64 "..%" PRIu64 " oldest_tomb_us=%" PRIu64 " newest_tomb_us=%" PRIu64
             " smallest=",
             f->number, l, f->file_size, f->raw_bytes, f->entries, f->point_tombstones,
             f->range_tombstones, f->min_seq, f->max_seq, f->min_tomb_seq, f->max_tomb_seq,
             f->oldest_tomb_us, f->newest_tomb_us);
      ldb_print_ikey(stdout, f->smallest.data, f->smallest.len, o->key_hex);
      fputs(" largest=", stdout);
      ldb_print_ikey(stdout, f->largest.data, f->largest.len, o->key_hex);
      putchar('\n');
    }
  ldb_free_state(&st);
  return 0;
}

/* The live WALs, oldest first: the writes no table holds yet. */
static size_t live_wals(const char *db, uint64_t log_number, uint64_t **logs) {
  size_t n = filename_list(NULL, db, FT_LOG, 0, logs), live = 0;
  for (size_t i = 0; i < n; i++)
    if ((*logs)[i] >= log_number) (*logs)[live++] = (*logs)[i];
  return live;
}

int ldb_cmd_dump_live_files(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  int status = 0;
  ldb_opts table_opts = *o;
  table_opts.command = "scan";
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      char path[FILENAME_MAX_LEN];
      filename_table(path, o->db, st.v->files[l][i]->number);
      printf("# table level=%d %s\n", l, path);
      status |= ldb_sst_dump_file(&table_opts, path);
    }
  uint64_t *logs;
  size_t n = live_wals(o->db, st.log_number, &logs);
  for (size_t i = 0; i < n; i++) {
    char path[FILENAME_MAX_LEN];
    filename_log(path, o->db, logs[i]);
    status |= ldb_dump_wal_file(o, path);
  }
  free(logs);
  ldb_opts manifest_opts = *o;
  manifest_opts.path = st.manifest;
  manifest_opts.npos = 0;
  status |= ldb_cmd_manifest_dump(&manifest_opts);
  ldb_free_state(&st);
  return status;
}

/* One table's range tombstones in [from, to), as stored (fragments); returns 1 on error. */
static int print_file_rdels(ldb_opts *o, const char *db, int level, uint64_t number,
                            long long *printed) {
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  sst_reader *r;
  filename_table(path, db, number);
  if (sst_reader_open(NULL, path, number, NULL, &r, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  const sst_range_del *d;
  size_t nd = sst_reader_range_dels(r, &d);
  for (size_t i = 0; i < nd && (o->max_keys < 0 || *printed < o->max_keys); i++) {
    if (o->to && ukey_compare(d[i].begin, d[i].blen, o->to_key.data, o->to_key.len) >= 0) continue;
    if (o->from && ukey_compare(d[i].end, d[i].elen, o->from_key.data, o->from_key.len) <= 0)
      continue;
    printf("L%d %06" PRIu64 ".sst ", level, number);
    ldb_print_bytes(stdout, d[i].begin, d[i].blen, o->key_hex);
    printf(" %" PRIu64 " RANGE_DEL ", d[i].seq);
    ldb_print_bytes(stdout, d[i].end, d[i].elen, o->key_hex);
    putchar('\n');
    (*printed)++;
  }
  sst_reader_close(r);
  return 0;
}

int ldb_cmd_list_file_range_deletes(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  int status = 0;
  long long printed = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      const file_meta *f = st.v->files[l][i];
      /* The MANIFEST's count spares opening a table that holds none. */
      if (f->range_tombstones) status |= print_file_rdels(o, o->db, l, f->number, &printed);
    }
  ldb_free_state(&st);
  return status;
}

/* XXH3-64 of the whole file at path (the hash util/checksum.h builds on). */
static int file_xxh3(const char *path, uint64_t *hash, uint64_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ldb_err("cannot open %s: %s", path, strerror(errno));
    return 1;
  }
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  static uint8_t chunk[1 << 16];
  ssize_t got;
  *size = 0;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) {
    XXH3_64bits_update(&st, chunk, (size_t)got);
    *size += (uint64_t)got;
  }
  int e = errno;
  close(fd);
  if (got < 0) {
    ldb_err("%s offset %" PRIu64 ": read failed: %s", path, *size, strerror(e));
    return 1;
  }
  *hash = XXH3_64bits_digest(&st);
  return 0;
}

int ldb_cmd_file_checksum_dump(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  int status = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      const file_meta *f = st.v->files[l][i];
      char path[FILENAME_MAX_LEN];
      uint64_t hash, size;
      filename_table(path, o->db, f->number);
      if (file_xxh3(path, &hash, &size)) {
        status = 1;
        continue;
      }
      printf("%06" PRIu64 ".sst level=%d size=%" PRIu64 " XXH3_64=%016" PRIx64 "\n", f->number, l,
             size, hash);
      if (size != f->file_size) {
        ldb_err("%06" PRIu64 ".sst: %" PRIu64 " bytes, the MANIFEST says %" PRIu64, f->number, size,
                f->file_size);
        status = 1;
      }
    }
  ldb_free_state(&st);
  return status;
}
