/* shale_ldb_sst.c — sst_dump: check, scan, verify or lay out ("raw") one SSTable or every
 * table in a directory, and print its properties and dirty block. raw decodes the footer,
 * index and blocks itself (doc/format-sstable.md) so it can show where a damaged table breaks;
 * the other commands go through sst_reader, which verifies every block it reads. */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include "engine/filename.h"
#include "io/io.h"
#include "shale_ldb.h"
#include "sstable/block.h"
#include "util/checksum.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

static void print_properties(const char *path, sst_reader *r) {
  const sst_meta *m = sst_reader_meta(r);
  uint64_t now = clock_wall_us();
  printf("file: %s\n", path);
  printf("file_size: %" PRIu64 "\n", m->file_size);
  printf("entries: %" PRIu64 "\n", m->entries);
  printf("raw_key_bytes: %" PRIu64 "\n", m->raw_key_bytes);
  printf("raw_value_bytes: %" PRIu64 "\n", m->raw_value_bytes);
  printf("data_blocks: %" PRIu64 "\n", m->data_blocks);
  printf("data_bytes: %" PRIu64 "\n", m->data_bytes);
  printf("compression: %s\n", m->compression ? "zstd" : "none");
  printf("format_version: %u\n", sst_reader_format_version(r));
  printf("zstd_dictionary_bytes: %" PRIu64 "\n", sst_reader_dict(r).size);
  printf("creation_time_us: %" PRIu64 "\n", m->creation_time_us);
  printf("smallest: ");
  ldb_print_ikey(stdout, m->smallest.data, m->smallest.len, 0);
  printf("\nlargest: ");
  ldb_print_ikey(stdout, m->largest.data, m->largest.len, 0);
  putchar('\n');
  /* The dirty block. */
  printf("dirty.point_tombstones: %" PRIu64 "\n", m->point_tombstones);
  printf("dirty.range_tombstones: %" PRIu64 "\n", m->range_tombstones);
  printf("dirty.min_seq: %" PRIu64 "\n", m->min_seq);
  printf("dirty.max_seq: %" PRIu64 "\n", m->max_seq);
  printf("dirty.min_tomb_seq: %" PRIu64 "\n", m->min_tomb_seq);
  printf("dirty.max_tomb_seq: %" PRIu64 "\n", m->max_tomb_seq);
  printf("dirty.oldest_tomb_us: %" PRIu64 "\n", m->oldest_tomb_us);
  printf("dirty.newest_tomb_us: %" PRIu64 "\n", m->newest_tomb_us);
  if (m->oldest_tomb_us && now > m->oldest_tomb_us)
    printf("dirty.oldest_tomb_age_s: %.1f\n", (double)(now - m->oldest_tomb_us) / 1e6);
  /* Per-data-block tombstone counts, from the index. */
  uint64_t counts[256], dense = 0, max = 0;
  size_t first = 0, got;
  while ((got = sst_reader_block_tombstones(r, first, counts, 256)) > 0) {
    for (size_t i = 0; i < got; i++) {
      if (counts[i]) dense++;
      if (counts[i] > max) max = counts[i];
    }
    first += got;
  }
  printf("dirty.blocks_with_tombstones: %" PRIu64 "\n", dense);
  printf("dirty.max_block_tombstones: %" PRIu64 "\n", max);
  if (m->data_blocks && m->data_blocks <= 64) {
    printf("dirty.block_tombstones:");
    first = 0;
    while ((got = sst_reader_block_tombstones(r, first, counts, 256)) > 0) {
      for (size_t i = 0; i < got; i++) printf(" %" PRIu64, counts[i]);
      first += got;
    }
    putchar('\n');
  }
}

static void print_entry(ldb_opts *o, const uint8_t *k, size_t kl, const void *v, size_t vl) {
  uint64_t t = get_fixed64(k + kl - IKEY_TRAILER);
  ldb_print_bytes(stdout, k, kl - IKEY_TRAILER, o->key_hex);
  printf(" %" PRIu64 " %s ", ikey_seq(t), ldb_kind_name(ikey_kind(t)));
  ldb_print_bytes(stdout, v, vl, o->value_hex);
  putchar('\n');
}

/* scan (print), check and verify: read entries; verify also cross-checks the properties. */
static int read_entries(ldb_opts *o, const char *path, sst_reader *r, int print, int verify) {
  sst_iter *it;
  if (sst_iter_new(r, &it)) {
    ldb_err("out of memory");
    return 1;
  }
  buf seek;
  buf_init(&seek);
  if (print && o->from) {
    buf_append(&seek, o->from_key.data, o->from_key.len);
    buf_append_fixed64(&seek, ikey_pack(SEQ_MAX, KIND_SEEK));
    sst_iter_seek(it, seek.data, seek.len);
  } else {
    sst_iter_seek_first(it);
  }
  const sst_meta *m = sst_reader_meta(r);
  uint64_t n = 0, dels = 0, kbytes = 0, vbytes = 0, minseq = UINT64_MAX, maxseq = 0;
  buf prev;
  buf_init(&prev);
  int status = 0;
  for (; sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    const void *v = sst_iter_value(it, &vl);
    uint64_t t = get_fixed64(k + kl - IKEY_TRAILER);
    if (print) {
      if (o->to && ukey_compare(k, kl - IKEY_TRAILER, o->to_key.data, o->to_key.len) >= 0) break;
      if (o->max_keys >= 0 && (long long)n >= o->max_keys) break;
      print_entry(o, k, kl, v, vl);
    }
    if (verify && prev.len && ikey_compare(prev.data, prev.len, k, kl) >= 0) {
      ldb_err("%s: entry %" PRIu64 " is out of order", path, n);
      status = 1;
    }
    buf_clear(&prev);
    buf_append(&prev, k, kl);
    n++;
    if (ikey_kind(t) == KIND_DEL) dels++;
    kbytes += kl;
    vbytes += vl;
    if (ikey_seq(t) < minseq) minseq = ikey_seq(t);
    if (ikey_seq(t) > maxseq) maxseq = ikey_seq(t);
  }
  buf_free(&prev);
  buf_free(&seek);
  if (sst_iter_status(it)) {
    ldb_err("%s", sst_iter_errmsg(it));
    status = 1;
  }
  sst_iter_free(it);
  if (print && !status) {
    const sst_range_del *d;
    size_t nd = sst_reader_range_dels(r, &d);
    for (size_t i = 0; i < nd; i++) {
      ldb_print_bytes(stdout, d[i].begin, d[i].blen, o->key_hex);
      printf(" %" PRIu64 " RANGE_DEL ", d[i].seq);
      ldb_print_bytes(stdout, d[i].end, d[i].elen, o->key_hex);
      putchar('\n');
    }
  }
  if (verify && !status) {
    const sst_range_del *d;
    size_t nd = sst_reader_range_dels(r, &d);
    for (size_t i = 0; i < nd; i++) {
      if (d[i].seq < minseq) minseq = d[i].seq;
      if (d[i].seq > maxseq) maxseq = d[i].seq;
    }
    if (!n && !nd) minseq = 0;
    if (n != m->entries || dels != m->point_tombstones || kbytes != m->raw_key_bytes ||
        vbytes != m->raw_value_bytes || minseq != m->min_seq || maxseq != m->max_seq) {
      ldb_err("%s: entries disagree with the properties: read entries=%" PRIu64
              " point_tombstones=%" PRIu64 " raw_key_bytes=%" PRIu64 " raw_value_bytes=%" PRIu64
              " seq=%" PRIu64 "..%" PRIu64 "; properties say %" PRIu64 " %" PRIu64 " %" PRIu64
              " %" PRIu64 " %" PRIu64 "..%" PRIu64,
              path, n, dels, kbytes, vbytes, minseq, maxseq, m->entries, m->point_tombstones,
              m->raw_key_bytes, m->raw_value_bytes, m->min_seq, m->max_seq);
      status = 1;
    }
  }
  if (!print && !status)
    printf("%s: OK entries=%" PRIu64 " data_blocks=%" PRIu64 "%s\n", path, n, m->data_blocks,
           verify ? " (every block checksum and the properties verified)" : "");
  return status;
}

/* ---- raw: the layout, decoded here ---- */

/* Reads block h (contents + trailer) of the file, verifies its checksum and decompresses it.
 * Returns 0 with *out (malloc'd) or prints what is wrong and returns 1. */
static int raw_block(io_reader *io, uint64_t fsize, sst_handle h, const char *what,
                     const ZSTD_DDict *dict, uint8_t **out, size_t *outlen) {
  char errmsg[ERRMSG_SIZE];
  *out = NULL;
  *outlen = 0;
  printf("block %s offset=%" PRIu64 " size=%" PRIu64, what, h.offset, h.size);
  if (h.offset > fsize || h.size > fsize - h.offset ||
      fsize - h.offset - h.size < SST_BLOCK_TRAILER) {
    printf(" ERROR=outside_the_file\n");
    return 1;
  }
  uint8_t *b = malloc(h.size + SST_BLOCK_TRAILER);
  if (!b || io_reader_read(io, h.offset, b, h.size + SST_BLOCK_TRAILER, errmsg)) {
    printf(" ERROR=read_failed\n");
    free(b);
    return 1;
  }
  uint8_t type = b[h.size];
  uint32_t want = get_fixed32(b + h.size + 1), got = checksum32(b, h.size + 1);
  printf(" type=%s checksum=%08x",
         type == SST_BLOCK_RAW         ? "raw"
         : type == SST_BLOCK_ZSTD      ? "zstd"
         : type == SST_BLOCK_ZSTD_DICT ? "zstd_dict"
                                       : "bad",
         want);
  if (want != got) {
    printf(" ERROR=checksum_mismatch(computed_%08x)\n", got);
    free(b);
    return 1;
  }
  if (type == SST_BLOCK_RAW) {
    *out = b;
    *outlen = h.size;
  } else if (type == SST_BLOCK_ZSTD || (type == SST_BLOCK_ZSTD_DICT && dict)) {
    uint32_t usize;
    const uint8_t *p = get_varint32(b, b + h.size, &usize);
    uint8_t *u = p && usize <= SST_MAX_BLOCK_SIZE ? malloc(usize ? usize : 1) : NULL;
    ZSTD_DCtx *d = u ? ZSTD_createDCtx() : NULL;
    size_t csize = p ? (size_t)(b + h.size - p) : 0;
    size_t got_n = !d ? 0
                   : type == SST_BLOCK_ZSTD_DICT
                       ? ZSTD_decompress_usingDDict(d, u, usize, p, csize, dict)
                       : ZSTD_decompressDCtx(d, u, usize, p, csize);
    ZSTD_freeDCtx(d);
    free(b);
    if (!u || ZSTD_isError(got_n) || got_n != usize) {
      printf(" ERROR=bad_zstd_block\n");
      free(u);
      return 1;
    }
    printf(" uncompressed=%u", usize);
    *out = u;
    *outlen = usize;
  } else if (type == SST_BLOCK_ZSTD_DICT) {
    printf(" ERROR=no_dictionary_for_block\n");
    free(b);
    return 1;
  } else {
    printf(" ERROR=unknown_block_type_%u\n", type);
    free(b);
    return 1;
  }
  putchar('\n');
  return 0;
}

/* The dirty block's layout: its fixed fields and the size of the deleted-key filter formats
 * 1-3 put after them (nothing read it; format 4 writes none), so an old table's bytes are
 * accounted for. A format-4 block of any other size is one the reader rejects. */
static int raw_dirty(size_t bl, uint32_t fmt_version) {
  if (bl < SST_DIRTY_FIXED || (fmt_version >= 4 && bl != SST_DIRTY_FIXED)) {
    printf("  ERROR=dirty_block_size\n");
    return 1;
  }
  printf("  fixed=%u deleted_key_filter=%zu\n", SST_DIRTY_FIXED, bl - SST_DIRTY_FIXED);
  return 0;
}

/* Versions 3, 4: the zstd dictionary the properties block names, digested for data blocks. */
static int raw_dictionary(io_reader *io, uint64_t fsize, const uint8_t *props, ZSTD_DDict **dict) {
  sst_handle h = {get_fixed64(props + 56), get_fixed64(props + 64)};
  if (!h.size) return 0;
  uint8_t *b;
  size_t bl;
  if (raw_block(io, fsize, h, "dictionary", NULL, &b, &bl)) return 1;
  *dict = ZSTD_createDDict(b, bl);
  free(b);
  return !*dict;
}

static int raw_dump(ldb_opts *o, const char *path) {
  char errmsg[ERRMSG_SIZE] = "";
  io_reader *io;
  if (io_reader_open(NULL, path, &io, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  uint64_t fsize = io_reader_size(io);
  uint8_t f[SST_FOOTER_SIZE];
  int status = 0;
  printf("# raw layout of %s (%" PRIu64 " bytes)\n", path, fsize);
  if (fsize < SST_FOOTER_SIZE || io_reader_read(io, fsize - SST_FOOTER_SIZE, f, sizeof f, errmsg)) {
    ldb_err("%s: truncated: %" PRIu64 " bytes, shorter than the %u-byte footer", path, fsize,
            SST_FOOTER_SIZE);
    io_reader_close(io);
    return 1;
  }
  uint64_t magic = get_fixed64(f + 88);
  uint32_t fmt_version = get_fixed32(f + 80), want = get_fixed32(f + 84), got = checksum32(f, 84);
  printf("footer offset=%" PRIu64 " version=%u checksum=%08x%s magic=%s\n", fsize - SST_FOOTER_SIZE,
         fmt_version, want, want == got ? "" : "(MISMATCH)", magic == SST_MAGIC ? "ok" : "BAD");
  if (magic != SST_MAGIC || want != got) {
    ldb_err("%s offset %" PRIu64 ": bad footer (%s); not a Shale SSTable or damaged", path,
            fsize - SST_FOOTER_SIZE, magic != SST_MAGIC ? "wrong magic" : "checksum mismatch");
    io_reader_close(io);
    return 1;
  }
  static const char *names[5] = {"index", "filter", "range_del", "dirty", "properties"};
  uint8_t *index = NULL;
  size_t index_len = 0;
  ZSTD_DDict *dict = NULL;
  for (int i = 0; i < 5; i++) {
    sst_handle h = {get_fixed64(f + 16 * i), get_fixed64(f + 16 * i + 8)};
    uint8_t *b;
    size_t bl;
    if (raw_block(io, fsize, h, names[i], NULL, &b, &bl)) {
      status = 1;
      continue;
    }
    if (i == 0) {
      index = b;
      index_len = bl;
      continue;
    }
    if (i == 3) status |= raw_dirty(bl, fmt_version);
    if (i == 4 && fmt_version >= 3 && bl >= SST_PROPS_FIXED)
      status |= raw_dictionary(io, fsize, b, &dict);
    free(b);
  }
  if (index) {
    blk_iter it;
    blk_iter_init(&it);
    uint64_t n = 0;
    if (!blk_iter_reset(&it, index, index_len)) {
      for (blk_iter_seek_first(&it); it.valid; blk_iter_next(&it), n++) {
        uint64_t off = 0, size = 0, tombs = 0;
        const uint8_t *p = it.val, *end = it.val + it.vlen;
        if (!(p = get_varint64(p, end, &off)) || !(p = get_varint64(p, end, &size)) ||
            !(p = get_varint64(p, end, &tombs)) || p != end) {
          printf("index entry %" PRIu64 " ERROR=malformed_handle\n", n);
          status = 1;
          continue;
        }
        char what[48];
        snprintf(what, sizeof what, "data[%" PRIu64 "]", n);
        uint8_t *b;
        size_t bl;
        if (raw_block(io, fsize, (sst_handle){off, size}, what, dict, &b, &bl)) {
          status = 1;
          continue;
        }
        blk_iter bi;
        blk_iter_init(&bi);
        uint64_t entries = 0;
        if (!blk_iter_reset(&bi, b, bl))
          for (blk_iter_seek_first(&bi); bi.valid; blk_iter_next(&bi)) entries++;
        printf("  entries=%" PRIu64 " tombstones=%" PRIu64 " last_key=", entries, tombs);
        ldb_print_ikey(stdout, it.key, it.klen, o->key_hex);
        putchar('\n');
        if (bi.err) {
          printf("  ERROR=malformed_block\n");
          status = 1;
        }
        blk_iter_free(&bi);
        free(b);
      }
    }
    if (it.err) {
      printf("index ERROR=malformed_block\n");
      status = 1;
    }
    blk_iter_free(&it);
    free(index);
  }
  ZSTD_freeDDict(dict);
  io_reader_close(io);
  if (status) ldb_err("%s: damaged blocks (ERROR= lines above)", path);
  return status;
}

static int dump_file(ldb_opts *o, const char *path) {
  const char *cmd = o->command ? o->command : "check";
  if (!strcmp(cmd, "raw")) {
    int status = raw_dump(o, path);
    if (status) return status;
  }
  const char *base = strrchr(path, '/');
  uint64_t number = 0;
  filename_parse(base ? base + 1 : path, &number);
  char errmsg[ERRMSG_SIZE] = "";
  sst_reader *r;
  if (sst_reader_open(NULL, path, number, NULL, &r, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  int status = 0;
  if (o->show_properties) print_properties(path, r);
  if (!strcmp(cmd, "scan") || !strcmp(cmd, "raw"))
    status = read_entries(o, path, r, 1, 0);
  else if (!strcmp(cmd, "check"))
    status = read_entries(o, path, r, 0, 0);
  else if (!strcmp(cmd, "verify"))
    status = read_entries(o, path, r, 0, 1);
  sst_reader_close(r);
  return status;
}

int ldb_cmd_sst_dump(ldb_opts *o) {
  const char *cmd = o->command ? o->command : "check";
  if (strcmp(cmd, "check") && strcmp(cmd, "scan") && strcmp(cmd, "raw") && strcmp(cmd, "verify")) {
    ldb_err("sst_dump: --command must be check, scan, raw or verify, not '%s'", cmd);
    return 2;
  }
  const char *path = o->path ? o->path : o->npos ? o->pos[0] : o->db;
  if (!path) {
    ldb_err("sst_dump: give a FILE (or a directory, or --db=PATH)");
    return 2;
  }
  struct stat sb;
  if (stat(path, &sb)) {
    ldb_err("sst_dump: %s: no such file or directory", path);
    return 1;
  }
  if (!S_ISDIR(sb.st_mode)) return dump_file(o, path);
  uint64_t *nums;
  size_t n = filename_list(path, FT_TABLE, 0, &nums);
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    char p[FILENAME_MAX_LEN];
    filename_table(p, path, nums[i]);
    status |= dump_file(o, p);
  }
  free(nums);
  if (!n) printf("# no .sst files in %s\n", path);
  return status;
}
