/* sst_reader.c — SSTable reader and iterator; see sst_reader.h and doc/format-sstable.md.
 * Open verifies the footer and loads the metadata blocks (index decoded into an array of
 * block handles, filter, range tombstones, dirty and properties) once; a get then costs a
 * bloom probe, a binary search of that array and one data block (from the block cache when
 * it is there). The hot path allocates only the value it returns. */
#include "sstable/sst_reader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "io/io.h"
#include "sstable/block.h"
#include "sstable/bloom.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

typedef struct idx_ent {
  uint64_t window;    /* user-key bytes [lcp, lcp+8) big-endian, zero-padded (see window()) */
  const uint8_t *key; /* last key of the block, inside the pinned index block */
  uint32_t klen;
  uint32_t size; /* contents size, trailer excluded */
  uint64_t off;
  uint64_t tombs;
} idx_ent;

/* Memory a get or an iterator copies the blocks of a mapped uncompressed table into and
 * reuses from block to block; heap says whether p was malloc'd (a get starts on its stack).
 * held_off is 1 + the offset of the block whose verified copy p still holds (0: none), so a
 * load of that block again serves those same bytes without a copy or a checksum. */
typedef struct blk_buf {
  uint8_t *p;
  size_t cap;
  int heap;
  uint64_t held_off;
  /* Where the last seek made with this buffer landed in the block it holds (when
   * hint_target.len > 0): its target, and the first entry >= it (offset, block index, the
   * entry's whole key). Every entry before that one sorts before the target. */
  uint32_t hint_off;
  size_t hint_bi;
  buf hint_target, hint_key;
} blk_buf;

struct sst_reader {
  const shale_comparator *cmp; /* the user-key order; NULL: bytewise */
  char *path;
  uint64_t number;
  io_reader *io;
  block_cache *cache; /* may be NULL */
  uint64_t cache_id;
  uint64_t data_end; /* data blocks occupy [0, data_end) */
  uint8_t *index_blk;
  idx_ent *idx;
  size_t nidx;
  size_t lcp; /* length of the user-key prefix every index key shares (bytewise only) */
  uint8_t *filter;
  size_t filter_len;
  uint8_t *rdel_blk;
  sst_range_del *rdels;
  size_t nrdels;
  size_t *pieces; /* version 2: index in rdels of each piece's first (newest) record */
  size_t npieces;
  uint32_t version;
  uint64_t global_seq; /* version 5: every entry reads at this seq (0: as stored, all 0) */
  sst_meta meta;
  sst_handle dict;   /* version 3: the zstd dictionary's block; size 0 when none */
  ZSTD_DDict *ddict; /* digested dictionary, for SST_BLOCK_ZSTD_DICT blocks */
  int copy_blocks;   /* mapped and uncompressed: data blocks skip the cache (load_copied) */
  /* The block buffer of the last iterator freed, with the block it held, for the next
   * iterator: a queue or a scan restarting at the same place (a new iterator per pop) then
   * reuses the verified block instead of a malloc, a copy and a checksum per iterator. */
  _Atomic(blk_buf *) spare;
  char cmp_name[COMPARATOR_NAME_MAX + 1]; /* recorded in the properties; "" for bytewise */
};

/* A data block in use: pinned in the cache (h), owned by the caller (owned), or in a
 * blk_buf (neither). */
typedef struct blk_ref {
  const uint8_t *data;
  size_t len;
  bc_handle *h;
  uint8_t *owned;
} blk_ref;

/* ---------------- zstd decompression contexts, one per thread ---------------- */

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *p) { ZSTD_freeDCtx(p); }
static void dctx_init(void) { dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0; }

static ZSTD_DCtx *thread_dctx(void) {
  pthread_once(&dctx_once, dctx_init);
  if (!dctx_key_ok) return NULL;
  ZSTD_DCtx *d = pthread_getspecific(dctx_key);
  if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d)) {
    ZSTD_freeDCtx(d);
    d = NULL;
  }
  return d;
}

/* ---------------- blocks ---------------- */

static int check_block(const sst_reader *r, const uint8_t *in, uint64_t off, uint64_t size,
                       char *errmsg) {
  if (checksum32_block(in, (size_t)size + 1) == get_fixed32(in + size + 1)) return SHALE_OK;
  return err_corrupt(errmsg,
                     "%s: block at offset %" PRIu64 " (size %" PRIu64 "): checksum mismatch",
                     r->path, off, size);
}

static int decompress(const sst_reader *r, const uint8_t *in, uint64_t off, uint64_t size,
                      int with_dict, uint8_t **out, size_t *len, char *errmsg) {
  uint32_t ulen;
  const uint8_t *p = get_varint32(in, in + size, &ulen);
  if (!p || ulen > SST_MAX_BLOCK_SIZE)
    return err_corrupt(errmsg, "%s: block at offset %" PRIu64 ": bad uncompressed size", r->path,
                       off);
  if (with_dict && !r->ddict)
    return err_corrupt(errmsg, "%s: block at offset %" PRIu64 " needs a dictionary the table lacks",
                       r->path, off);
  ZSTD_DCtx *d = thread_dctx();
  uint8_t *dst = malloc(ulen ? ulen : 1);
  if (!d || !dst) {
    free(dst);
    return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  }
  size_t csize = (size_t)(in + size - p);
  size_t n = with_dict ? ZSTD_decompress_usingDDict(d, dst, ulen, p, csize, r->ddict)
                       : ZSTD_decompressDCtx(d, dst, ulen, p, csize);
  if (ZSTD_isError(n) || n != ulen) {
    free(dst);
    return err_corrupt(errmsg, "%s: block at offset %" PRIu64 ": zstd: %s", r->path, off,
                       ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
  }
  *out = dst;
  *len = ulen;
  return SHALE_OK;
}

/* The contents of the verified block at in[0, size) into a malloc'd buffer: a copy when raw,
 * decompressed when zstd. */
static int block_contents(const sst_reader *r, const uint8_t *in, uint64_t off, uint64_t size,
                          uint8_t **out, size_t *len, char *errmsg) {
  uint8_t type = in[size];
  if (type == SST_BLOCK_ZSTD || (type == SST_BLOCK_ZSTD_DICT && r->version >= 3))
    return decompress(r, in, off, size, type == SST_BLOCK_ZSTD_DICT, out, len, errmsg);
  if (type != SST_BLOCK_RAW)
    return err_corrupt(errmsg, "%s: block at offset %" PRIu64 ": unknown type %u", r->path, off,
                       type);
  if (!(*out = malloc(size ? (size_t)size : 1)))
    return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  memcpy(*out, in, (size_t)size);
  *len = (size_t)size;
  return SHALE_OK;
}

/* Reads, verifies (unless !verify) and (if compressed) decompresses the block at (off, size).
 * On success *out is a malloc'd buffer holding *len bytes of contents. */
static int read_block_v(sst_reader *r, uint64_t off, uint64_t size, int verify, uint8_t **out,
                        size_t *len, char *errmsg) {
  uint64_t fsize = r->meta.file_size;
  *out = NULL;
  *len = 0;
  if (size > SST_MAX_BLOCK_SIZE || off > fsize || size + SST_BLOCK_TRAILER > fsize - off)
    return err_corrupt(errmsg,
                       "%s: block handle (offset %" PRIu64 ", size %" PRIu64 ") outside the file",
                       r->path, off, size);
  uint8_t *raw = malloc((size_t)size + SST_BLOCK_TRAILER);
  if (!raw) return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  int rc = io_reader_read(r->io, off, raw, (size_t)size + SST_BLOCK_TRAILER, errmsg);
  if (!rc && verify) rc = check_block(r, raw, off, size, errmsg);
  if (!rc && raw[size] == SST_BLOCK_RAW) { /* the buffer read is the contents */
    *out = raw;
    *len = (size_t)size;
    return SHALE_OK;
  }
  if (!rc) rc = block_contents(r, raw, off, size, out, len, errmsg);
  free(raw);
  return rc;
}

static int read_block(sst_reader *r, uint64_t off, uint64_t size, uint8_t **out, size_t *len,
                      char *errmsg) {
  return read_block_v(r, off, size, 1, out, len, errmsg);
}

static int reserve(const sst_reader *r, blk_buf *b, size_t n, char *errmsg) {
  if (b->cap >= n) return SHALE_OK;
  uint8_t *p = b->heap ? realloc(b->p, n) : malloc(n);
  if (!p) return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  b->p = p;
  b->cap = n;
  b->heap = 1;
  return SHALE_OK;
}

static void blk_buf_free(blk_buf *b) {
  if (b->heap) free(b->p);
  buf_free(&b->hint_target);
  buf_free(&b->hint_key);
}

static void blk_buf_destroy(blk_buf *b) {
  if (!b) return;
  blk_buf_free(b);
  free(b);
}

/* A data block of a mapped uncompressed table, copied out of the mapping into b and verified
 * there on every load, without a system call or a cache entry. Why a copy and not the
 * mapping in place: bytes read in place can change after their checksum passed (bit rot, a
 * stray write), and a table truncated under the DB faults where the copy's guard reads
 * short; the bytes verified are the bytes served, as with pread. Why not the block cache:
 * an insert and an eviction per miss made readrandom 1.65x slower than this. */
static int copy_block(const sst_reader *r, const idx_ent *e, blk_buf *b, int verify, char *errmsg) {
  size_t n = (size_t)e->size + SST_BLOCK_TRAILER;
  b->held_off = 0;
  int rc = reserve(r, b, n, errmsg);
  if (!rc) rc = io_reader_read(r->io, e->off, b->p, n, errmsg);
  if (!rc && verify) rc = check_block(r, b->p, e->off, e->size, errmsg);
  if (!rc && verify) b->held_off = e->off + 1;
  return rc;
}

static int load_copied(sst_reader *r, const idx_ent *e, blk_buf *b, blk_ref *br, int verify,
                       char *errmsg) {
  int rc = b->held_off == e->off + 1 ? SHALE_OK : copy_block(r, e, b, verify, errmsg);
  if (rc) return rc;
  if (b->p[e->size] != SST_BLOCK_RAW) { /* a compressed block in an uncompressed table */
    rc = block_contents(r, b->p, e->off, e->size, &br->owned, &br->len, errmsg);
    br->data = br->owned;
    return rc;
  }
  br->data = b->p;
  br->len = e->size;
  return SHALE_OK;
}

/* flags: SST_READ_*. A block that goes into the cache is always verified: the cache must
 * hold only verified copies, since later reads that ask for verification are served them. */
static int load_block(sst_reader *r, const idx_ent *e, blk_buf *b, blk_ref *br, unsigned flags,
                      char *errmsg) {
  memset(br, 0, sizeof *br);
  int verify = !(flags & SST_READ_NO_VERIFY);
  if (r->copy_blocks) return load_copied(r, e, b, br, verify, errmsg);
  int rc;
  if (r->cache) {
    bc_handle *h = block_cache_lookup(r->cache, r->cache_id, e->off);
    if (h) {
      br->h = h;
      br->data = block_cache_data(h, &br->len);
      return SHALE_OK;
    }
  }
  uint8_t *data;
  size_t len;
  int fill = r->cache && !(flags & SST_READ_NO_FILL_CACHE);
  if ((rc = read_block_v(r, e->off, e->size, verify || fill, &data, &len, errmsg))) return rc;
  br->data = data;
  br->len = len;
  if (fill && (br->h = block_cache_insert(r->cache, r->cache_id, e->off, data, len)))
    return SHALE_OK;
  br->owned = data;
  return SHALE_OK;
}

static void release_block(sst_reader *r, blk_ref *br) {
  if (br->h) block_cache_release(r->cache, br->h);
  free(br->owned);
  memset(br, 0, sizeof *br);
}

/* ---------------- open: footer and metadata ---------------- */

/* Eight user-key bytes after the shared prefix as a big-endian integer, zero-padded. When two
 * keys' windows differ, the windows order them as ukey_compare does (a shorter key pads with
 * 0 and sorts first), so the index search compares integers and only touches key bytes when
 * the windows are equal. */
static uint64_t window(const uint8_t *ukey, size_t uklen, size_t lcp) {
  uint64_t w = 0;
  for (size_t i = 0; i < 8; i++) w = w << 8 | (lcp + i < uklen ? ukey[lcp + i] : 0);
  return w;
}

static void index_windows(sst_reader *r) {
  if (!r->nidx || r->cmp) return; /* windows order keys bytewise only */
  const idx_ent *a = &r->idx[0], *b = &r->idx[r->nidx - 1];
  size_t n = a->klen < b->klen ? a->klen : b->klen, lcp = 0;
  n -= IKEY_TRAILER;
  while (lcp < n && a->key[lcp] == b->key[lcp]) lcp++;
  r->lcp = lcp; /* sorted keys: every key between a and b shares their common prefix */
  for (size_t i = 0; i < r->nidx; i++)
    r->idx[i].window = window(r->idx[i].key, r->idx[i].klen - IKEY_TRAILER, lcp);
}

static int parse_index(sst_reader *r, const uint8_t *blk, size_t len, char *errmsg) {
  if (len < 4) goto bad;
  uint32_t nrest = get_fixed32(blk + len - 4);
  if (nrest > (len - 4) / 4) goto bad;
  const uint8_t *p = blk, *lim = blk + len - 4 - (size_t)nrest * 4;
  size_t cap = nrest; /* interval 1: one restart per entry */
  if (cap && !(r->idx = calloc(cap, sizeof *r->idx)))
    return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  uint64_t expect = 0;
  while (p < lim) {
    uint32_t shared, nonshared, vlen;
    uint64_t off, size, tombs;
    if (!(p = get_varint32(p, lim, &shared)) || !(p = get_varint32(p, lim, &nonshared)) ||
        !(p = get_varint32(p, lim, &vlen)) || shared != 0 || nonshared < IKEY_TRAILER ||
        (size_t)(lim - p) < (size_t)nonshared + vlen || r->nidx == cap)
      goto bad;
    idx_ent *e = &r->idx[r->nidx];
    e->key = p;
    e->klen = nonshared;
    const uint8_t *v = p + nonshared, *vend = v + vlen;
    if (!(v = get_varint64(v, vend, &off)) || !(v = get_varint64(v, vend, &size)) ||
        !(v = get_varint64(v, vend, &tombs)) || v != vend)
      goto bad;
    /* data blocks are contiguous from offset 0 up to the first metadata block */
    if (off != expect || size > SST_MAX_BLOCK_SIZE || size + SST_BLOCK_TRAILER > r->data_end ||
        off > r->data_end - size - SST_BLOCK_TRAILER)
      goto bad;
    if (r->nidx && ikey_cmp(r->cmp, e[-1].key, e[-1].klen, e->key, e->klen) >= 0) goto bad;
    e->off = off;
    e->size = (uint32_t)size;
    e->tombs = tombs;
    expect = off + size + SST_BLOCK_TRAILER;
    r->nidx++;
    p = vend;
  }
  if (expect != r->data_end) goto bad;
  index_windows(r);
  return SHALE_OK;
bad:
  return err_corrupt(errmsg, "%s: malformed index block", r->path);
}

static int parse_range_dels(sst_reader *r, const uint8_t *blk, size_t len, char *errmsg) {
  const uint8_t *p = blk, *lim = blk + len;
  size_t cap = 0;
  while (p < lim) {
    uint64_t blen, elen, seq, t;
    if (!(p = get_varint64(p, lim, &blen)) || blen > (size_t)(lim - p)) goto bad;
    const uint8_t *b = p;
    p += blen;
    if (!(p = get_varint64(p, lim, &elen)) || elen > (size_t)(lim - p)) goto bad;
    const uint8_t *e = p;
    p += elen;
    if (!(p = get_varint64(p, lim, &seq)) || !(p = get_varint64(p, lim, &t)) || seq > SEQ_MAX)
      goto bad;
    if (ukey_cmp(r->cmp, b, blen, e, elen) >= 0) goto bad;
    if (r->nrdels == cap) {
      cap = cap ? cap * 2 : 8;
      sst_range_del *n = realloc(r->rdels, cap * sizeof *n);
      if (!n) return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
      r->rdels = n;
    }
    r->rdels[r->nrdels++] = (sst_range_del){b, e, blen, elen, seq, t};
  }
  return SHALE_OK;
bad:
  return err_corrupt(errmsg, "%s: malformed range-del block", r->path);
}

/* Version 2: checks the fragmentation invariant the lookup's binary search relies on (a
 * record repeats the previous range with a smaller seq, or starts at or after its end) and
 * notes where each piece starts. */
static int index_pieces(sst_reader *r, char *errmsg) {
  if (r->nrdels && !(r->pieces = malloc(r->nrdels * sizeof *r->pieces)))
    return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  size_t bad = rt_pieces_index(r->cmp, r->rdels, r->nrdels, r->pieces, &r->npieces);
  if (bad < r->nrdels)
    return err_corrupt(errmsg, "%s: range-del block is not fragmented at record %zu", r->path, bad);
  return SHALE_OK;
}

/* The fixed fields, into meta. In versions 1-3 a deleted-key filter follows them: still checked
 * to be well formed, so the same old tables open as before, but not kept, since nothing reads
 * it. A version-4 block is the fixed fields and nothing else. */
static int parse_dirty(sst_reader *r, const uint8_t *blk, size_t len, char *errmsg) {
  if (len < SST_DIRTY_FIXED || (r->version >= 4 && len != SST_DIRTY_FIXED)) goto bad;
  sst_meta *m = &r->meta;
  m->point_tombstones = get_fixed64(blk);
  m->range_tombstones = get_fixed64(blk + 8);
  m->min_seq = get_fixed64(blk + 16);
  m->max_seq = get_fixed64(blk + 24);
  m->min_tomb_seq = get_fixed64(blk + 32);
  m->max_tomb_seq = get_fixed64(blk + 40);
  m->oldest_tomb_us = get_fixed64(blk + 48);
  m->newest_tomb_us = get_fixed64(blk + 56);
  if (bloom_check(blk + SST_DIRTY_FIXED, len - SST_DIRTY_FIXED)) goto bad;
  if (m->min_seq > m->max_seq || m->min_tomb_seq > m->max_tomb_seq) goto bad;
  return SHALE_OK;
bad:
  return err_corrupt(errmsg, "%s: malformed dirty block", r->path);
}

static int parse_props(sst_reader *r, const uint8_t *blk, size_t len, char *errmsg) {
  sst_meta *m = &r->meta;
  size_t fixed = r->version >= 3 ? SST_PROPS_FIXED : SST_PROPS_FIXED_V2;
  if (len < fixed) goto bad;
  m->entries = get_fixed64(blk);
  m->raw_key_bytes = get_fixed64(blk + 8);
  m->raw_value_bytes = get_fixed64(blk + 16);
  m->data_bytes = get_fixed64(blk + 24);
  m->data_blocks = get_fixed64(blk + 32);
  uint64_t comp = get_fixed64(blk + 40);
  m->creation_time_us = get_fixed64(blk + 48);
  if (comp > SHALE_COMPRESSION_ZSTD) goto bad;
  m->compression = (int)comp;
  if (r->version >= 3) {
    r->dict.offset = get_fixed64(blk + 56);
    r->dict.size = get_fixed64(blk + 64);
    if (r->dict.size && (r->dict.offset < r->data_end || r->dict.size > SST_DICT_MAX_SIZE ||
                         r->dict.offset + r->dict.size + SST_BLOCK_TRAILER > r->meta.file_size))
      goto bad;
  }
  const uint8_t *p = blk + fixed, *lim = blk + len;
  uint64_t n;
  if (!(p = get_varint64(p, lim, &n)) || n > (size_t)(lim - p) || (n && n < IKEY_TRAILER)) goto bad;
  buf_append(&m->smallest, p, n);
  p += n;
  if (!(p = get_varint64(p, lim, &n)) || n > (size_t)(lim - p) || (n && n < IKEY_TRAILER)) goto bad;
  buf_append(&m->largest, p, n);
  p += n;
  /* The comparator's name: required by versions 6 and 7; also found in the version-4 and -5
   * tables of the first release with comparators. */
  if (sst_version_names_comparator(r->version) && p == lim) goto bad;
  if (p != lim) {
    if (!(p = get_varint64(p, lim, &n)) || n == 0 || n > COMPARATOR_NAME_MAX ||
        n != (size_t)(lim - p) || memchr(p, 0, n))
      goto bad;
    memcpy(r->cmp_name, p, n);
    r->cmp_name[n] = 0;
  }
  if (!buf_ok(&m->smallest) || !buf_ok(&m->largest))
    return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  return SHALE_OK;
bad:
  return err_corrupt(errmsg, "%s: malformed properties block", r->path);
}

/* Version 5: the global sequence sits before the footer, under the footer's checksum. On
 * success f holds the footer and *foff is where the global sequence starts. */
static int read_external_tail(sst_reader *r, uint8_t f[SST_FOOTER_SIZE], uint64_t *foff,
                              char *errmsg) {
  uint8_t tail[SST_EXTERNAL_TAIL_SIZE];
  uint64_t fsize = r->meta.file_size;
  if (fsize < SST_EXTERNAL_TAIL_SIZE)
    return err_corrupt(errmsg, "%s: %" PRIu64 " bytes is too short for an external SSTable",
                       r->path, fsize);
  *foff = fsize - SST_EXTERNAL_TAIL_SIZE;
  int rc = io_reader_read(r->io, *foff, tail, sizeof tail, errmsg);
  if (rc) return rc;
  size_t pre = SST_EXTERNAL_TAIL_SIZE - SST_FOOTER_SIZE;
  if (checksum32(tail, pre + 84) != get_fixed32(tail + pre + 84))
    return err_corrupt(errmsg, "%s: footer at offset %" PRIu64 ": checksum mismatch", r->path,
                       *foff);
  r->global_seq = get_fixed64(tail);
  if (r->global_seq > SEQ_MAX)
    return err_corrupt(errmsg, "%s: global sequence %" PRIu64 " out of range", r->path,
                       r->global_seq);
  memcpy(f, tail + pre, SST_FOOTER_SIZE);
  return SHALE_OK;
}

static int read_footer(sst_reader *r, sst_handle hs[5], char *errmsg) {
  uint64_t fsize = r->meta.file_size;
  if (fsize < SST_FOOTER_SIZE)
    return err_corrupt(errmsg, "%s: %" PRIu64 " bytes is too short for an SSTable (truncated?)",
                       r->path, fsize);
  uint8_t f[SST_FOOTER_SIZE];
  uint64_t foff = fsize - SST_FOOTER_SIZE;
  int rc = io_reader_read(r->io, foff, f, sizeof f, errmsg);
  if (rc) return rc;
  if (get_fixed64(f + 88) != SST_MAGIC)
    return err_corrupt(errmsg, "%s: bad magic at offset %" PRIu64 " (not an SSTable, or truncated)",
                       r->path, foff + 88);
  r->version = get_fixed32(f + 80);
  if (sst_version_is_external(r->version)) {
    if ((rc = read_external_tail(r, f, &foff, errmsg))) return rc;
  } else if (checksum32(f, 84) != get_fixed32(f + 84)) {
    return err_corrupt(errmsg, "%s: footer at offset %" PRIu64 ": checksum mismatch", r->path,
                       foff);
  }
  if (r->version < SST_FORMAT_VERSION_MIN || r->version > SST_FORMAT_VERSION_MAX)
    return err_corrupt(errmsg, "%s: unsupported format version %u", r->path, r->version);
  r->data_end = foff;
  for (int i = 0; i < 5; i++) {
    hs[i].offset = get_fixed64(f + 16 * i);
    hs[i].size = get_fixed64(f + 16 * i + 8);
    if (hs[i].size > SST_MAX_BLOCK_SIZE || hs[i].offset > foff ||
        hs[i].size + SST_BLOCK_TRAILER > foff - hs[i].offset)
      return err_corrupt(errmsg, "%s: footer handle %d outside the file", r->path, i);
    if (hs[i].offset < r->data_end) r->data_end = hs[i].offset;
  }
  return SHALE_OK;
}

/* The zstd dictionary of a version-3 table, digested once for all its blocks. */
static int load_dictionary(sst_reader *r, char *errmsg) {
  if (!r->dict.size) return SHALE_OK;
  uint8_t *d;
  size_t len;
  int rc = read_block(r, r->dict.offset, r->dict.size, &d, &len, errmsg);
  if (rc) return rc;
  r->ddict = ZSTD_createDDict(d, len);
  free(d);
  return r->ddict ? SHALE_OK : err_corrupt(errmsg, "%s: unusable zstd dictionary", r->path);
}

/* A key bound stored at seq 0 reads at seq; a range tombstone's end bound (SEQ_MAX) stays. */
static void set_trailer_seq(buf *k, uint64_t seq) {
  if (k->len < IKEY_TRAILER) return;
  uint64_t t = get_fixed64(k->data + k->len - IKEY_TRAILER);
  if (ikey_seq(t) == 0) put_fixed64(k->data + k->len - IKEY_TRAILER, ikey_pack(seq, ikey_kind(t)));
}

/* Version 5: entries are stored at seq 0 (checked here, from the dirty block) and read at
 * the global sequence, so the summary, key bounds and range tombstones are shown at it. */
static int apply_global_seq(sst_reader *r, char *errmsg) {
  sst_meta *m = &r->meta;
  if (m->max_seq || m->max_tomb_seq)
    return err_corrupt(errmsg, "%s: external table with entries above sequence 0", r->path);
  uint64_t g = r->global_seq;
  if (!g) return SHALE_OK;
  for (size_t i = 0; i < r->nrdels; i++) r->rdels[i].seq = g;
  if (m->entries || m->range_tombstones) m->min_seq = m->max_seq = g;
  if (m->point_tombstones || m->range_tombstones) m->min_tomb_seq = m->max_tomb_seq = g;
  set_trailer_seq(&m->smallest, g);
  set_trailer_seq(&m->largest, g);
  return SHALE_OK;
}

/* Once the metadata checked out, the data blocks of an uncompressed table are copied out of
 * a mapping of the file instead of read with pread (when mapping is on): the same bytes and
 * checks, without a system call, and the page cache serves as their block cache. A
 * compressed table stays with pread: its blocks are decompressed into the block cache, so a
 * mapping would save one system call per cache miss (~12% of an in-memory zstd readrandom),
 * and in a 128 MiB cgroup holding a 67 MB zstd DB, with a writer at 4 MB/s, the mapped
 * reader thrashed: 17,600 gets/s and 2.4 GB read from disk, against 120,600 gets/s and
 * 205 MB with pread (doc/performance.md, stop 32). */
static void map_data(sst_reader *r) {
  if (r->nidx && r->meta.compression == SHALE_COMPRESSION_NONE && io_reader_map(r->io))
    r->copy_blocks = 1;
  io_reader_advise_random(r->io);
}

int sst_reader_open(io_ctx *io, const char *path, uint64_t file_number, block_cache *cache,
                    sst_reader **out, char *errmsg) {
  return sst_reader_open_ordered(io, path, file_number, cache, NULL, out, errmsg);
}

const char *sst_reader_comparator_name(const sst_reader *r) {
  return r->cmp_name[0] ? r->cmp_name : BYTEWISE_COMPARATOR_NAME;
}

/* A table is read in the order it was written in, or not at all. */
static int check_comparator(const sst_reader *r, char *errmsg) {
  const char *want = comparator_name(r->cmp), *have = sst_reader_comparator_name(r);
  if (!strcmp(want, have)) return SHALE_OK;
  return err_set(errmsg, SHALE_INVALID,
                 "%s: written with comparator \"%s\", read with comparator \"%s\"", r->path, have,
                 want);
}

int sst_reader_open_ordered(io_ctx *io, const char *path, uint64_t file_number, block_cache *cache,
                            const shale_comparator *cmp, sst_reader **out, char *errmsg) {
  if (!out) return err_set(errmsg, SHALE_INVALID, "sst_reader_open: NULL out");
  *out = NULL;
  if (!path) return err_set(errmsg, SHALE_INVALID, "sst_reader_open: NULL path");
  sst_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return err_set(errmsg, SHALE_NOMEM, "sst_reader_open: out of memory");
  }
  atomic_init(&r->spare, NULL);
  r->number = file_number;
  r->cmp = cmp;
  r->cache = cache;
  if (cache) r->cache_id = block_cache_new_id(cache);
  sst_handle hs[5];
  uint8_t *blk;
  size_t len;
  int rc = io_reader_open(io, path, &r->io, errmsg);
  if (rc) goto fail;
  r->meta.file_size = io_reader_size(r->io);
  if ((rc = read_footer(r, hs, errmsg))) goto fail;
  /* properties first: the comparator they name orders everything after */
  if ((rc = read_block(r, hs[4].offset, hs[4].size, &blk, &len, errmsg))) goto fail;
  rc = parse_props(r, blk, len, errmsg);
  free(blk);
  if (rc || (rc = check_comparator(r, errmsg)) || (rc = load_dictionary(r, errmsg))) goto fail;
  /* filter */
  if ((rc = read_block(r, hs[1].offset, hs[1].size, &r->filter, &r->filter_len, errmsg))) goto fail;
  if (bloom_check(r->filter, r->filter_len)) {
    rc = err_corrupt(errmsg, "%s: malformed filter block", r->path);
    goto fail;
  }
  /* range dels */
  if ((rc = read_block(r, hs[2].offset, hs[2].size, &r->rdel_blk, &len, errmsg)) ||
      (rc = parse_range_dels(r, r->rdel_blk, len, errmsg)) ||
      (r->version >= 2 && (rc = index_pieces(r, errmsg))))
    goto fail;
  /* dirty */
  if ((rc = read_block(r, hs[3].offset, hs[3].size, &blk, &len, errmsg))) goto fail;
  rc = parse_dirty(r, blk, len, errmsg);
  free(blk);
  if (rc) goto fail;
  /* index */
  if ((rc = read_block(r, hs[0].offset, hs[0].size, &r->index_blk, &len, errmsg)) ||
      (rc = parse_index(r, r->index_blk, len, errmsg)))
    goto fail;
  const sst_meta *m = &r->meta;
  if (m->data_blocks != r->nidx || m->data_bytes != r->data_end ||
      m->range_tombstones != r->nrdels || m->point_tombstones > m->entries ||
      (m->entries > 0) != (r->nidx > 0)) {
    rc = err_corrupt(errmsg, "%s: properties disagree with the index", r->path);
    goto fail;
  }
  if (sst_version_is_external(r->version) && (rc = apply_global_seq(r, errmsg))) goto fail;
  map_data(r);
  *out = r;
  return SHALE_OK;
fail:
  sst_reader_close(r);
  return rc;
}

void sst_reader_close(sst_reader *r) {
  if (!r) return;
  if (r->io) io_reader_close(r->io);
  free(r->index_blk);
  free(r->idx);
  free(r->filter);
  free(r->rdel_blk);
  free(r->rdels);
  free(r->pieces);
  ZSTD_freeDDict(r->ddict);
  blk_buf_destroy(atomic_load_explicit(&r->spare, memory_order_acquire));
  sst_meta_free(&r->meta);
  free(r->path);
  free(r);
}

const sst_meta *sst_reader_meta(const sst_reader *r) { return &r->meta; }
uint64_t sst_reader_file_number(const sst_reader *r) { return r->number; }

size_t sst_reader_range_dels(const sst_reader *r, const sst_range_del **dels) {
  *dels = r->rdels;
  return r->nrdels;
}

uint32_t sst_reader_format_version(const sst_reader *r) { return r->version; }
uint64_t sst_reader_global_seq(const sst_reader *r) { return r->global_seq; }
sst_handle sst_reader_dict(const sst_reader *r) { return r->dict; }

/* Version 1 stores tombstones as written (they may overlap), sorted by begin: a scan.
 * Later versions store fragments: a binary search. */
uint64_t sst_reader_range_cover(const sst_reader *r, const void *key, size_t klen,
                                uint64_t read_seq) {
  if (r->version < 2) {
    const range_tomb *d = rt_sorted_newest(r->cmp, r->rdels, r->nrdels, key, klen, read_seq);
    return d ? d->seq : 0;
  }
  return rt_pieces_cover(r->cmp, r->rdels, r->nrdels, r->pieces, r->npieces, key, klen, read_seq);
}

size_t sst_reader_block_tombstones(const sst_reader *r, size_t first, uint64_t *out, size_t n) {
  size_t i = 0;
  for (; first + i < r->nidx && i < n; i++) out[i] = r->idx[first + i].tombs;
  return i;
}

const uint8_t *sst_reader_block_last_key(const sst_reader *r, size_t i, size_t *len) {
  *len = r->idx[i].klen;
  return r->idx[i].key;
}

int sst_reader_may_contain(sst_reader *r, const void *key, size_t klen) {
  return bloom_may_contain(r->filter, r->filter_len, bloom_hash(key, klen));
}

/* ---------------- point lookup ---------------- */

/* A get copies a block of the default size (4 KiB and its trailer) onto its stack; larger
 * blocks go to the heap. */
#define GET_STACK_BLOCK (8192 + SST_BLOCK_TRAILER)

/* index_search under a comparator: no shared prefix or windows, a call per probe. */
static size_t index_search_ordered(const sst_reader *r, const void *ukey, size_t uklen,
                                   uint64_t trailer) {
  size_t lo = 0, hi = r->nidx;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const idx_ent *e = &r->idx[mid];
    if (ikey_compare_parts(r->cmp, e->key, e->klen, ukey, uklen, trailer) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* First block whose last key >= ukey|trailer, or r->nidx. */
static size_t index_search(const sst_reader *r, const void *ukey, size_t uklen, uint64_t trailer) {
  size_t lo = 0, hi = r->nidx, lcp = r->lcp;
  if (hi == 0) return 0;
  if (__builtin_expect(r->cmp != NULL, 0)) return index_search_ordered(r, ukey, uklen, trailer);
  if (lcp) { /* outside the shared prefix: before or after every block */
    int c = memcmp(ukey, r->idx[0].key, uklen < lcp ? uklen : lcp);
    if (c < 0 || (c == 0 && uklen < lcp)) return 0;
    if (c > 0) return r->nidx;
  }
  uint64_t w = window(ukey, uklen, lcp);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const idx_ent *e = &r->idx[mid];
    int c = e->window < w   ? -1
            : e->window > w ? 1
                            : ikey_compare_parts(NULL, e->key, e->klen, ukey, uklen, trailer);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int block_error(const sst_reader *r, const idx_ent *e, int err, char *errmsg) {
  if (err == SHALE_NOMEM) return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
  return err_corrupt(errmsg, "%s: malformed data block at offset %" PRIu64, r->path, e->off);
}

int sst_reader_get(sst_reader *r, const void *key, size_t klen, uint64_t seq, unsigned *kind,
                   void **val, size_t *vlen, uint64_t *found_seq, char *errmsg) {
  sst_get g = {.val = val};
  return sst_reader_get_ex(r, key, klen, seq, &g, kind, vlen, found_seq, errmsg);
}

/* Hands a PUT's value over as g asks: a malloc'd copy, or a prefix into the caller's buffer. */
static int give_value(const sst_reader *r, sst_get *g, const void *v, size_t vlen, char *errmsg) {
  if (g->val) {
    void *copy = malloc(vlen ? vlen : 1);
    if (!copy) return err_set(errmsg, SHALE_NOMEM, "%s: out of memory", r->path);
    memcpy(copy, v, vlen);
    *g->val = copy;
  } else if (g->buf) {
    memcpy(g->buf, v, vlen < g->cap ? vlen : g->cap);
  }
  return SHALE_OK;
}

int sst_reader_get_ex(sst_reader *r, const void *key, size_t klen, uint64_t seq, sst_get *g,
                      unsigned *kind, size_t *vlen, uint64_t *found_seq, char *errmsg) {
  if (kind) *kind = 0;
  if (g->val) *g->val = NULL;
  if (vlen) *vlen = 0;
  if (found_seq) *found_seq = 0;
  if (!r || (!key && klen)) return err_set(errmsg, SHALE_INVALID, "sst_reader_get: NULL");
  if (r->nidx == 0) return 0;
  if (!bloom_may_contain(r->filter, r->filter_len, bloom_hash(key, klen))) {
    g->bloom_useful = 1;
    return 0;
  }
  uint64_t trailer = ikey_pack(seq > SEQ_MAX ? SEQ_MAX : seq, KIND_SEEK);
  size_t bi = index_search(r, key, klen, trailer);
  if (bi == r->nidx) return 0;
  const idx_ent *e = &r->idx[bi];
  blk_ref br;
  uint8_t stack[GET_STACK_BLOCK];
  blk_buf b = {.p = stack, .cap = sizeof stack};
  int rc = load_block(r, e, &b, &br, g->flags, errmsg);
  if (rc) {
    blk_buf_free(&b);
    return rc;
  }
  blk_iter it;
  blk_iter_init(&it);
  it.cmp = r->cmp;
  blk_iter_reset(&it, br.data, br.len);
  blk_iter_seek(&it, key, klen, trailer);
  if (it.err || !it.valid) { /* the index promised an entry >= the target in this block */
    rc = block_error(r, e, it.err, errmsg);
    goto out;
  }
  if (ukey_compare(it.key, it.klen - IKEY_TRAILER, key, klen) != 0) goto out; /* rc = 0 */
  uint64_t t = get_fixed64(it.key + it.klen - IKEY_TRAILER);
  unsigned k = ikey_kind(t);
  if (k != KIND_PUT && k != KIND_DEL) {
    rc = block_error(r, e, SHALE_CORRUPTION, errmsg);
    goto out;
  }
  if (r->global_seq) { /* an external table holds one version per key, at global_seq */
    if (r->global_seq > ikey_seq(trailer)) goto out;
    t = ikey_pack(r->global_seq, k);
  }
  if (k == KIND_PUT && (rc = give_value(r, g, it.val, it.vlen, errmsg))) goto out;
  if (k == KIND_PUT && vlen) *vlen = it.vlen;
  if (kind) *kind = k;
  if (found_seq) *found_seq = ikey_seq(t);
  rc = 1;
out:
  blk_iter_free(&it);
  release_block(r, &br);
  blk_buf_free(&b);
  return rc;
}

/* ---------------- iterator ---------------- */

struct sst_iter {
  sst_reader *r;
  size_t bi; /* block loaded in br/bit; r->nidx when none */
  blk_ref br;
  blk_buf *buf; /* the loaded block of a mapped uncompressed table (load_copied); NULL until then */
  blk_iter bit;
  unsigned flags; /* SST_READ_* */
  buf gkey;       /* version 5 with a global sequence: the current key at that sequence */
  /* A scan's readahead (read_ahead_forward/_backward): the direction of the block moves
   * since the last seek (0: none yet), the file offset the kernel was asked to read up to
   * (forward) or down to (backward), and the size of the next window to ask for. */
  int ra_dir;
  uint64_t ra_edge, ra_window;
  int status;
  char errmsg[ERRMSG_SIZE];
};

int sst_iter_new(sst_reader *r, sst_iter **out) {
  if (!out) return SHALE_INVALID;
  *out = NULL;
  if (!r) return SHALE_INVALID;
  /* Not calloc: zeroing the error text and the key scratch space is most of the cost of
   * an iterator that a queue pop opens per table. */
  sst_iter *it = malloc(sizeof *it);
  if (!it) return SHALE_NOMEM;
  memset(&it->br, 0, sizeof it->br);
  it->buf = NULL;
  it->flags = 0;
  it->ra_dir = 0;
  it->status = SHALE_OK;
  it->errmsg[0] = 0;
  it->r = r;
  it->bi = r->nidx;
  if (r->copy_blocks) it->buf = atomic_exchange_explicit(&r->spare, NULL, memory_order_acquire);
  blk_iter_init(&it->bit);
  it->bit.cmp = r->cmp;
  buf_init(&it->gkey);
  *out = it;
  return SHALE_OK;
}

void sst_iter_set_flags(sst_iter *it, unsigned flags) { it->flags = flags; }

static void unload(sst_iter *it) {
  release_block(it->r, &it->br);
  it->bi = it->r->nidx;
  it->bit.valid = 0;
}

void sst_iter_free(sst_iter *it) {
  if (!it) return;
  unload(it);
  blk_iter_free(&it->bit);
  if (it->buf)
    blk_buf_destroy(atomic_exchange_explicit(&it->r->spare, it->buf, memory_order_acq_rel));
  buf_free(&it->gkey);
  free(it);
}

static void fail(sst_iter *it, int rc) {
  it->status = rc;
  unload(it);
}

/* Loads block bi (REQUIRES bi < nidx); 0 or an error already recorded. */
static int load(sst_iter *it, size_t bi) {
  if (it->bi == bi && it->br.data) return 0;
  unload(it);
  int rc = it->r->copy_blocks && !it->buf && !(it->buf = calloc(1, sizeof *it->buf))
               ? err_set(it->errmsg, SHALE_NOMEM, "%s: out of memory", it->r->path)
               : load_block(it->r, &it->r->idx[bi], it->buf, &it->br, it->flags, it->errmsg);
  if (rc) {
    fail(it, rc);
    return rc;
  }
  it->bi = bi;
  if (blk_iter_reset(&it->bit, it->br.data, it->br.len)) {
    fail(it, block_error(it->r, &it->r->idx[bi], SHALE_CORRUPTION, it->errmsg));
    return SHALE_CORRUPTION;
  }
  return 0;
}

/* After a block-level move: report block errors. */
static int check(sst_iter *it) {
  if (!it->bit.err) return 0;
  fail(it, block_error(it->r, &it->r->idx[it->bi], it->bit.err, it->errmsg));
  return -1;
}

/* A scan that has just entered block bi reads block bi + dir next: its bytes, copied out of
 * the mapping then, are asked for now, while this block's entries are decoded. Without it
 * the copy waited on memory for every line of a block of a table not in the CPU caches. */
static void prefetch_neighbour(const sst_iter *it, int dir) {
  const sst_reader *r = it->r;
  size_t nb = it->bi + (size_t)dir;
  if (!r->copy_blocks || nb >= r->nidx) return; /* (size_t)-1 wraps past nidx too */
  io_reader_prefetch(r->io, r->idx[nb].off, (size_t)r->idx[nb].size + SST_BLOCK_TRAILER);
}

/* A table's file is read no further than each read asks (io_reader_map,
 * io_reader_advise_random), so a scan asks the kernel for the stretch of file ahead of it: from its
 * second block move in one direction since the last seek, a window past the last one asked for
 * whenever the scan comes within half a window of its edge. Windows double from RA_FIRST_WINDOW, so
 * a seek with a few nexts asks for little, up to RA_MAX_WINDOW, so a long scan or a compaction asks
 * once per MiB. Without it a scan of a table not in memory waited on one page read per page. */
#define RA_FIRST_WINDOW ((uint64_t)16 << 10)
#define RA_MAX_WINDOW ((uint64_t)1 << 20)

/* REQUIRES: block bi was just loaded by a move in direction dir. Returns 1 when this move
 * starts a run in dir (nothing to ask for yet). */
static int start_run(sst_iter *it, int dir, uint64_t edge) {
  if (it->ra_dir == dir) return 0;
  it->ra_dir = dir;
  it->ra_edge = edge;
  it->ra_window = RA_FIRST_WINDOW;
  return 1;
}

static uint64_t next_window(sst_iter *it) {
  uint64_t w = it->ra_window;
  if (w < RA_MAX_WINDOW) it->ra_window = w * 2;
  return w;
}

static void read_ahead_forward(sst_iter *it) {
  const idx_ent *e = &it->r->idx[it->bi];
  uint64_t end = e->off + e->size + SST_BLOCK_TRAILER;
  if (start_run(it, 1, end) || it->ra_edge > end + it->ra_window / 2) return;
  uint64_t from = it->ra_edge > end ? it->ra_edge : end, w = next_window(it);
  uint64_t to = it->r->data_end - end > w ? end + w : it->r->data_end;
  if (to > from) io_reader_readahead(it->r->io, from, (size_t)(to - from));
  it->ra_edge = to;
}

static void read_ahead_backward(sst_iter *it) {
  uint64_t start = it->r->idx[it->bi].off;
  if (start_run(it, -1, start) || it->ra_edge + it->ra_window / 2 < start) return;
  uint64_t to = it->ra_edge < start ? it->ra_edge : start, w = next_window(it);
  uint64_t from = start > w ? start - w : 0;
  if (to > from) io_reader_readahead(it->r->io, from, (size_t)(to - from));
  it->ra_edge = from;
}

static void skip_forward(sst_iter *it) {
  while (!check(it) && !it->bit.valid) {
    size_t nb = it->bi + 1;
    if (nb >= it->r->nidx) {
      unload(it);
      return;
    }
    if (load(it, nb)) return;
    read_ahead_forward(it);
    prefetch_neighbour(it, 1);
    blk_iter_seek_first(&it->bit);
  }
}

static void skip_backward(sst_iter *it) {
  while (!check(it) && !it->bit.valid) {
    if (it->bi == 0 || it->bi >= it->r->nidx) {
      unload(it);
      return;
    }
    if (load(it, it->bi - 1)) return;
    read_ahead_backward(it);
    prefetch_neighbour(it, -1);
    blk_iter_seek_last(&it->bit);
  }
}

/* Every positioning call starts here: a fresh status, and a new run for readahead. */
static void reset_status(sst_iter *it) {
  it->status = SHALE_OK;
  it->errmsg[0] = 0;
  it->ra_dir = 0;
}

/* After every move: an external table's key is shown at its global sequence, in gkey (the
 * block's own key bytes feed the next key's shared prefix, so they stay as stored). */
static void show_at_global_seq(sst_iter *it) {
  uint64_t g = it->r->global_seq;
  if (!sst_iter_valid(it)) return;
  buf_assign(&it->gkey, it->bit.key, it->bit.klen);
  if (!buf_ok(&it->gkey)) {
    fail(it, err_set(it->errmsg, SHALE_NOMEM, "%s: out of memory", it->r->path));
    return;
  }
  uint8_t *tr = it->gkey.data + it->gkey.len - IKEY_TRAILER;
  put_fixed64(tr, ikey_pack(g, ikey_kind(get_fixed64(tr))));
}

/* Inline: every step of every table iterator passes here, and only external tables act. */
static inline void settle(sst_iter *it) {
  if (it->r->global_seq) show_at_global_seq(it);
}

void sst_iter_seek_first(sst_iter *it) {
  reset_status(it);
  if (it->r->nidx == 0 || load(it, 0)) {
    unload(it);
    return;
  }
  blk_iter_seek_first(&it->bit);
  skip_forward(it);
  settle(it);
}

void sst_iter_seek_last(sst_iter *it) {
  reset_status(it);
  if (it->r->nidx == 0 || load(it, it->r->nidx - 1)) {
    unload(it);
    return;
  }
  blk_iter_seek_last(&it->bit);
  skip_backward(it);
  settle(it);
}

/* Records where a seek to ikey landed, for the next seek with this buffer (seek_from_hint):
 * only a landing in the block the buffer holds, verified, of a table without a global
 * sequence (its keys as shown differ from the stored ones). */
static void record_landing(sst_iter *it, const uint8_t *ikey, size_t iklen) {
  blk_buf *b = it->buf;
  if (!b) return;
  buf_clear(&b->hint_target);
  if (!sst_iter_valid(it) || it->r->global_seq || it->br.data != b->p) return;
  buf_assign(&b->hint_target, ikey, iklen);
  buf_assign(&b->hint_key, it->bit.key, it->bit.klen);
  if (!buf_ok(&b->hint_target) || !buf_ok(&b->hint_key)) return buf_clear(&b->hint_target);
  b->hint_bi = it->bi;
  b->hint_off = it->bit.cur;
}

/* A seek to a target at or after the last seek's made with this buffer, and within the block
 * that one landed in, starts from the entry it landed on: every entry before that sorts
 * before the old target, so before the new one too. No index search, no restart search, no
 * copy. A queue pops with a new iterator each time, and each pop seeks a little past the
 * last; the table's spare buffer carries the landing from one iterator to the next. The
 * target, not the landing, is what is compared: a pop whose head lies in a gap of this
 * table's keys lands far past its target, and the next pop's target is still before that.
 * Returns 1 when positioned in that block, 0 when the hint does not apply, -1 on an error
 * (recorded). */
static int seek_from_hint(sst_iter *it, const uint8_t *ukey, size_t uklen, uint64_t trailer) {
  const blk_buf *b = it->buf;
  const sst_reader *r = it->r;
  if (!b || !b->hint_target.len || r->global_seq || b->hint_bi >= r->nidx ||
      b->held_off != r->idx[b->hint_bi].off + 1)
    return 0;
  const idx_ent *e = &r->idx[b->hint_bi];
  if (ikey_compare_parts(r->cmp, b->hint_target.data, b->hint_target.len, ukey, uklen, trailer) >
          0 ||
      ikey_compare_parts(r->cmp, e->key, e->klen, ukey, uklen, trailer) < 0)
    return 0;
  if (load(it, b->hint_bi)) return -1;
  return blk_iter_seek_from(&it->bit, b->hint_off, b->hint_key.data, b->hint_key.len, ukey, uklen,
                            trailer) == 0;
}

void sst_iter_seek(sst_iter *it, const uint8_t *ikey, size_t iklen) {
  reset_status(it);
  if (iklen < IKEY_TRAILER) {
    it->status = err_set(it->errmsg, SHALE_INVALID, "sst_iter_seek: key shorter than 8 bytes");
    {
      unload(it);
      return;
    }
  }
  uint64_t trailer = get_fixed64(ikey + iklen - IKEY_TRAILER);
  size_t uklen = iklen - IKEY_TRAILER;
  int hinted = seek_from_hint(it, ikey, uklen, trailer);
  if (hinted < 0) return;
  if (hinted) { /* not an external table: no global sequence to settle */
    skip_forward(it);
    record_landing(it, ikey, iklen);
    return;
  }
  size_t bi = index_search(it->r, ikey, uklen, trailer);
  if (bi >= it->r->nidx || load(it, bi)) {
    unload(it);
    return;
  }
  blk_iter_seek(&it->bit, ikey, uklen, trailer);
  skip_forward(it);
  record_landing(it, ikey, iklen);
  settle(it);
  /* Stored at seq 0, the key's only version is found for any target seq; at the global
   * sequence it may sort before the target. */
  if (it->r->global_seq && sst_iter_valid(it) &&
      ikey_cmp(it->r->cmp, it->gkey.data, it->gkey.len, ikey, iklen) < 0)
    sst_iter_next(it);
}

void sst_iter_next(sst_iter *it) {
  if (!sst_iter_valid(it)) return;
  blk_iter_next(&it->bit);
  if (!it->bit.valid) skip_forward(it); /* an error leaves it invalid too */
  settle(it);
}

/* A valid block iterator implies a loaded block and no error (fail and unload clear it), so
 * the step inside a block tests one flag instead of sst_iter_valid's three, and hands the key
 * back in the same call: the level and table iterators above publish it as their own. */
const uint8_t *sst_iter_next_key(sst_iter *it, size_t *iklen) {
  if (!it->bit.valid) return NULL;
  blk_iter_next(&it->bit);
  if (it->bit.valid && !it->r->global_seq) {
    *iklen = it->bit.klen;
    return it->bit.key;
  }
  if (!it->bit.valid) skip_forward(it);
  settle(it);
  return sst_iter_valid(it) ? sst_iter_key(it, iklen) : NULL;
}

void sst_iter_prev(sst_iter *it) {
  if (!sst_iter_valid(it)) return;
  blk_iter_prev(&it->bit);
  skip_backward(it);
  settle(it);
}

int sst_iter_valid(const sst_iter *it) {
  return it->status == SHALE_OK && it->br.data && it->bit.valid;
}
int sst_iter_status(const sst_iter *it) { return it->status; }
const char *sst_iter_errmsg(const sst_iter *it) { return it->errmsg; }

const uint8_t *sst_iter_key(const sst_iter *it, size_t *iklen) {
  if (it->r->global_seq) {
    *iklen = it->gkey.len;
    return it->gkey.data;
  }
  *iklen = it->bit.klen;
  return it->bit.key;
}

const void *sst_iter_value(const sst_iter *it, size_t *vlen) {
  *vlen = it->bit.vlen;
  return it->bit.val;
}

/* ---------------- size estimates ---------------- */

uint64_t sst_reader_key_offset(const sst_reader *r, const void *ukey, size_t uklen) {
  size_t bi = index_search(r, ukey, uklen, ikey_pack(SEQ_MAX, KIND_SEEK));
  return bi < r->nidx ? r->idx[bi].off : r->data_end;
}
