/* shale_ldb_sst.c — sst_dump: check, scan, verify or lay out ("raw") one SSTable or every
 * table in a directory, and print its properties and dirty block. raw decodes the footer,
 * index and blocks itself (doc/format-sstable.md) so it can show where a damaged table breaks;
 * the other commands go through sst_reader, which verifies every block it reads. */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
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
  if (sst_version_is_external(sst_reader_format_version(r)))
    printf("global_seq: %" PRIu64 "\n", sst_reader_global_seq(r));
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
      if (!o->count_only) print_entry(o, k, kl, v, vl);
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
  if (print && !status && o->count_only) {
    const sst_range_del *d;
    printf("%s: count=%" PRIu64 " range_tombstones=%zu\n", path, n, sst_reader_range_dels(r, &d));
  } else if (print && !status) {
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

/* Prints to log, unless it is NULL: the block reader both lays a table out and reads it
 * quietly. */
static void say(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *log, const char *fmt, ...) {
  if (!log) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(log, fmt, ap);
  va_end(ap);
}

/* Reads block h (contents + trailer) of the file, verifies its checksum and decompresses it.
 * Returns 0 with *out (malloc'd) or returns 1; what it finds, faults included, goes to log. */
static int raw_block(io_reader *io, uint64_t fsize, sst_handle h, const char *what,
                     const ZSTD_DDict *dict, FILE *log, uint8_t **out, size_t *outlen) {
  char errmsg[ERRMSG_SIZE];
  *out = NULL;
  *outlen = 0;
  say(log, "block %s offset=%" PRIu64 " size=%" PRIu64, what, h.offset, h.size);
  if (h.offset > fsize || h.size > fsize - h.offset ||
      fsize - h.offset - h.size < SST_BLOCK_TRAILER) {
    say(log, " ERROR=outside_the_file\n");
    return 1;
  }
  uint8_t *b = malloc(h.size + SST_BLOCK_TRAILER);
  if (!b || io_reader_read(io, h.offset, b, h.size + SST_BLOCK_TRAILER, errmsg)) {
    say(log, " ERROR=read_failed\n");
    free(b);
    return 1;
  }
  uint8_t type = b[h.size];
  uint32_t want = get_fixed32(b + h.size + 1), got = checksum32(b, h.size + 1);
  say(log, " type=%s checksum=%08x",
      type == SST_BLOCK_RAW         ? "raw"
      : type == SST_BLOCK_ZSTD      ? "zstd"
      : type == SST_BLOCK_ZSTD_DICT ? "zstd_dict"
                                    : "bad",
      want);
  if (want != got) {
    say(log, " ERROR=checksum_mismatch(computed_%08x)\n", got);
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
      say(log, " ERROR=bad_zstd_block\n");
      free(u);
      return 1;
    }
    say(log, " uncompressed=%u", usize);
    *out = u;
    *outlen = usize;
  } else if (type == SST_BLOCK_ZSTD_DICT) {
    say(log, " ERROR=no_dictionary_for_block\n");
    free(b);
    return 1;
  } else {
    say(log, " ERROR=unknown_block_type_%u\n", type);
    free(b);
    return 1;
  }
  say(log, "\n");
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
static int raw_dictionary(io_reader *io, uint64_t fsize, const uint8_t *props, FILE *log,
                          ZSTD_DDict **dict) {
  sst_handle h = {get_fixed64(props + 56), get_fixed64(props + 64)};
  if (!h.size) return 0;
  uint8_t *b;
  size_t bl;
  if (raw_block(io, fsize, h, "dictionary", NULL, log, &b, &bl)) return 1;
  *dict = ZSTD_createDDict(b, bl);
  free(b);
  return !*dict;
}

/* The footer's fields (doc/format-sstable.md): five block handles, the format version, and
 * for version 5 (an external table) the global sequence before it. */
typedef struct sst_footer {
  sst_handle h[5];            /* index, filter, range_del, dirty, properties */
  uint32_t version, checksum; /* the checksum stored */
  int magic_ok, checksum_ok;
  int has_global_seq;
  uint64_t global_seq;
} sst_footer;

/* Version 5: the footer's checksum also covers the global sequence before it. Returns the
 * checksum computed (0 when the field cannot be read). */
static uint32_t external_checksum(io_reader *io, uint64_t fsize, const uint8_t *f, sst_footer *ft) {
  uint8_t tail[SST_EXTERNAL_TAIL_SIZE - 12];
  size_t pre = SST_EXTERNAL_TAIL_SIZE - SST_FOOTER_SIZE;
  if (fsize < SST_EXTERNAL_TAIL_SIZE ||
      io_reader_read(io, fsize - SST_EXTERNAL_TAIL_SIZE, tail, pre, NULL))
    return 0;
  memcpy(tail + pre, f, 84);
  ft->has_global_seq = 1;
  ft->global_seq = get_fixed64(tail);
  return checksum32(tail, sizeof tail);
}

/* Reads the footer of a file of fsize bytes; 1 when the file is shorter than one. */
static int read_footer(io_reader *io, uint64_t fsize, sst_footer *ft) {
  uint8_t f[SST_FOOTER_SIZE];
  char errmsg[ERRMSG_SIZE];
  memset(ft, 0, sizeof *ft);
  if (fsize < SST_FOOTER_SIZE || io_reader_read(io, fsize - SST_FOOTER_SIZE, f, sizeof f, errmsg))
    return 1;
  for (int i = 0; i < 5; i++)
    ft->h[i] = (sst_handle){get_fixed64(f + 16 * i), get_fixed64(f + 16 * i + 8)};
  ft->version = get_fixed32(f + 80);
  ft->checksum = get_fixed32(f + 84);
  uint32_t got = sst_version_is_external(ft->version) ? external_checksum(io, fsize, f, ft)
                                                      : checksum32(f, 84);
  ft->checksum_ok = ft->checksum == got;
  ft->magic_ok = get_fixed64(f + 88) == SST_MAGIC;
  return 0;
}

static int raw_dump(ldb_opts *o, const char *path) {
  char errmsg[ERRMSG_SIZE] = "";
  io_reader *io;
  if (io_reader_open(NULL, path, &io, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  uint64_t fsize = io_reader_size(io);
  sst_footer ft;
  int status = 0;
  printf("# raw layout of %s (%" PRIu64 " bytes)\n", path, fsize);
  if (read_footer(io, fsize, &ft)) {
    ldb_err("%s: truncated: %" PRIu64 " bytes, shorter than the %u-byte footer", path, fsize,
            SST_FOOTER_SIZE);
    io_reader_close(io);
    return 1;
  }
  uint32_t fmt_version = ft.version;
  if (ft.has_global_seq)
    printf("global_seq offset=%" PRIu64 " seq=%" PRIu64 "\n", fsize - SST_EXTERNAL_TAIL_SIZE,
           ft.global_seq);
  printf("footer offset=%" PRIu64 " version=%u checksum=%08x%s magic=%s\n", fsize - SST_FOOTER_SIZE,
         fmt_version, ft.checksum, ft.checksum_ok ? "" : "(MISMATCH)", ft.magic_ok ? "ok" : "BAD");
  if (!ft.magic_ok || !ft.checksum_ok) {
    ldb_err("%s offset %" PRIu64 ": bad footer (%s); not a Shale SSTable or damaged", path,
            fsize - SST_FOOTER_SIZE, !ft.magic_ok ? "wrong magic" : "checksum mismatch");
    io_reader_close(io);
    return 1;
  }
  static const char *names[5] = {"index", "filter", "range_del", "dirty", "properties"};
  uint8_t *index = NULL;
  size_t index_len = 0;
  ZSTD_DDict *dict = NULL;
  for (int i = 0; i < 5; i++) {
    uint8_t *b;
    size_t bl;
    if (raw_block(io, fsize, ft.h[i], names[i], NULL, stdout, &b, &bl)) {
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
      status |= raw_dictionary(io, fsize, b, stdout, &dict);
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
        if (raw_block(io, fsize, (sst_handle){off, size}, what, dict, stdout, &b, &bl)) {
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

int ldb_sst_dump_file(ldb_opts *o, const char *path) {
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
  if (!S_ISDIR(sb.st_mode)) return ldb_sst_dump_file(o, path);
  uint64_t *nums;
  size_t n = filename_list(NULL, path, FT_TABLE, 0, &nums);
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    char p[FILENAME_MAX_LEN];
    filename_table(p, path, nums[i]);
    status |= ldb_sst_dump_file(o, p);
  }
  free(nums);
  if (!n) printf("# no .sst files in %s\n", path);
  return status;
}

/* Runs fn on FILE, or on each file given, or each .sst of a directory given (or of --db). */
static int for_each_table(ldb_opts *o, const char *cmd, int (*fn)(ldb_opts *, const char *)) {
  if (!o->path && !o->npos && !o->db) {
    ldb_err("%s: give a FILE (or a directory, or --db=PATH)", cmd);
    return 2;
  }
  int status = 0, n = o->path ? 1 : o->npos ? o->npos : 1;
  for (int i = 0; i < n; i++) {
    const char *path = o->path ? o->path : o->npos ? o->pos[i] : o->db;
    struct stat sb;
    if (stat(path, &sb)) {
      ldb_err("%s: %s: no such file or directory", cmd, path);
      status = 1;
      continue;
    }
    if (!S_ISDIR(sb.st_mode)) {
      status |= fn(o, path);
      continue;
    }
    uint64_t *nums;
    size_t nt = filename_list(NULL, path, FT_TABLE, 0, &nums);
    for (size_t t = 0; t < nt; t++) {
      char p[FILENAME_MAX_LEN];
      filename_table(p, path, nums[t]);
      status |= fn(o, p);
    }
    free(nums);
    if (!nt) printf("# no .sst files in %s\n", path);
  }
  return status;
}

/* ---- identify ---- */

/* The verdict on one file; 0 only for a table this build reads. */
static int identify_file(ldb_opts *o, const char *path) {
  (void)o;
  char errmsg[ERRMSG_SIZE] = "";
  io_reader *io;
  if (io_reader_open(io_ctx_default(), path, &io, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  uint64_t fsize = io_reader_size(io);
  sst_footer ft;
  int short_file = read_footer(io, fsize, &ft);
  io_reader_close(io);
  if (short_file || !ft.magic_ok) {
    printf("%s: not a Shale SSTable (%" PRIu64 " bytes; %s)\n", path, fsize,
           short_file ? "shorter than a table footer" : "no Shale table magic at its end");
    return 1;
  }
  if (!ft.checksum_ok) {
    printf("%s: a damaged Shale SSTable (footer checksum mismatch)\n", path);
    return 1;
  }
  if (ft.version < SST_FORMAT_VERSION_MIN || ft.version > SST_FORMAT_VERSION_MAX) {
    printf(
        "%s: Shale SSTable format_version=%u, which this build does not read (it reads %u..%u)\n",
        path, ft.version, SST_FORMAT_VERSION_MIN, SST_FORMAT_VERSION_MAX);
    return 1;
  }
  sst_reader *r;
  if (sst_reader_open(NULL, path, 0, NULL, &r, errmsg)) {
    printf("%s: a damaged Shale SSTable format_version=%u (%s)\n", path, ft.version, errmsg);
    return 1;
  }
  const sst_meta *m = sst_reader_meta(r);
  printf("%s: Shale SSTable format_version=%u size=%" PRIu64 " entries=%" PRIu64
         " compression=%s\n",
         path, ft.version, fsize, m->entries, m->compression ? "zstd" : "none");
  sst_reader_close(r);
  return 0;
}

int ldb_cmd_identify(ldb_opts *o) { return for_each_table(o, "identify", identify_file); }

/* ---- recompress ---- */

/* The zstd levels recompress tries, from fast to small (the engine takes -7..19). */
static const int recompress_levels[] = {1, 3, 9, 19};
#define NLEVELS (sizeof recompress_levels / sizeof recompress_levels[0])

/* Stored sizes of a table's data blocks, now and with each method (index 0: none). */
typedef struct recompress_sizes {
  uint64_t blocks, raw, now, with[NLEVELS + 1];
} recompress_sizes;

/* As sst_builder stores a block: compressed when that saves at least an eighth. */
static uint64_t stored_size(ZSTD_CCtx *c, const uint8_t *raw, size_t len, int level, buf *scratch) {
  size_t bound = ZSTD_compressBound(len);
  if (buf_reserve(scratch, bound)) return len;
  size_t n = ZSTD_compressCCtx(c, scratch->data, bound, raw, len, level);
  size_t pre = (size_t)varint_length(len);
  if (ZSTD_isError(n) || pre + n > len - len / 8) return len;
  return pre + n;
}

/* Reads each data block the index lists (checksum verified, decompressed) and sizes it. */
static int size_blocks(const char *path, io_reader *io, uint64_t fsize, const uint8_t *index,
                       size_t index_len, const ZSTD_DDict *dict, recompress_sizes *z) {
  ZSTD_CCtx *c = ZSTD_createCCtx();
  buf scratch;
  buf_init(&scratch);
  blk_iter it;
  blk_iter_init(&it);
  int status = !c || blk_iter_reset(&it, index, index_len);
  for (blk_iter_seek_first(&it); !status && it.valid; blk_iter_next(&it)) {
    uint64_t off = 0, size = 0, tombs = 0;
    const uint8_t *p = it.val, *end = it.val + it.vlen;
    uint8_t *b;
    size_t bl;
    if (!(p = get_varint64(p, end, &off)) || !(p = get_varint64(p, end, &size)) ||
        !(p = get_varint64(p, end, &tombs)) ||
        raw_block(io, fsize, (sst_handle){off, size}, "data", dict, NULL, &b, &bl)) {
      ldb_err("%s: data block %" PRIu64 " (offset %" PRIu64
              ") does not read: damaged (see sst_dump --command=raw)",
              path, z->blocks, off);
      status = 1;
      break;
    }
    z->blocks++;
    z->raw += bl;
    z->now += size;
    z->with[0] += bl;
    for (size_t l = 0; l < NLEVELS; l++)
      z->with[l + 1] += stored_size(c, b, bl, recompress_levels[l], &scratch);
    free(b);
  }
  if (it.err) status = 1;
  blk_iter_free(&it);
  buf_free(&scratch);
  ZSTD_freeCCtx(c);
  return status;
}

static void print_recompress(const char *path, uint64_t fsize, const recompress_sizes *z,
                             const char *now) {
  printf("# %s: size=%" PRIu64 " data_blocks=%" PRIu64 " raw_data_bytes=%" PRIu64
         " data_bytes=%" PRIu64 " (now %s)\n",
         path, fsize, z->blocks, z->raw, z->now, now);
  for (size_t i = 0; i <= NLEVELS; i++) {
    /* The data blocks change; the index, filter and other blocks stay as they are. */
    uint64_t est = fsize - z->now + z->with[i];
    if (i == 0)
      printf("compression=none");
    else
      printf("compression=zstd level=%d", recompress_levels[i - 1]);
    printf(" data_bytes=%" PRIu64 " est_file_size=%" PRIu64 " ratio=%.2f\n", z->with[i], est,
           z->with[i] ? (double)z->raw / (double)z->with[i] : 1.0);
  }
}

static int recompress_file(ldb_opts *o, const char *path) {
  (void)o;
  char errmsg[ERRMSG_SIZE] = "";
  io_reader *io;
  sst_reader *r;
  /* The reader checks the footer and metadata; the blocks are read below. */
  if (sst_reader_open(NULL, path, 0, NULL, &r, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  const char *now = sst_reader_meta(r)->compression ? "zstd" : "none";
  sst_reader_close(r);
  if (io_reader_open(io_ctx_default(), path, &io, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  uint64_t fsize = io_reader_size(io);
  sst_footer ft;
  uint8_t *index = NULL, *props = NULL;
  size_t index_len, props_len;
  ZSTD_DDict *dict = NULL;
  recompress_sizes z;
  memset(&z, 0, sizeof z);
  int status = read_footer(io, fsize, &ft) ||
               raw_block(io, fsize, ft.h[0], "index", NULL, NULL, &index, &index_len) ||
               raw_block(io, fsize, ft.h[4], "properties", NULL, NULL, &props, &props_len);
  if (!status && ft.version >= 3 && props_len >= SST_PROPS_FIXED)
    status = raw_dictionary(io, fsize, props, NULL, &dict);
  if (status)
    ldb_err("%s: a metadata block does not read (see sst_dump --command=raw)", path);
  else
    status = size_blocks(path, io, fsize, index, index_len, dict, &z);
  if (!status) print_recompress(path, fsize, &z, now);
  free(index);
  free(props);
  ZSTD_freeDDict(dict);
  io_reader_close(io);
  return status;
}

int ldb_cmd_recompress(ldb_opts *o) { return for_each_table(o, "recompress", recompress_file); }
