/* sst_builder.c — builds one SSTable; see sst_builder.h and doc/format-sstable.md.
 * Data blocks are cut when the pending block reaches block_size; each finished block is
 * compressed (when that saves 1/8), given its 5-byte trailer and handed to io_writer in one
 * append. Filters, tombstone statistics and properties accumulate as entries arrive and are
 * written after the last data block. Range tombstones are kept until finish, which fragments
 * them (rt_set_build, util/range_tomb.c) and counts what it stores.
 *
 * With zstd and sst_options.dict_bytes set, the first data blocks are held back raw until a
 * dictionary is trained on them (sst_format.h): 4 KiB blocks compressed alone spend much of
 * their size and of their decoding time on entropy tables, which the dictionary supplies once
 * per table. Training costs far more than compressing: with sst_options.dict_share (a
 * database's builders) a table that finds a ready dictionary there does not train, and holds
 * back only the quarter of the training bytes that shows it big enough to repay storing the
 * dictionary; only now and then does one table train and put its dictionary there
 * (sstable/zstd_dict.h). Without a dictionary every block is written as soon as it is full,
 * and nothing is held or copied. */
#include "sstable/sst_builder.h"

#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "io/io.h"
#include "sstable/block.h"
#include "sstable/bloom.h"
#include "sstable/zstd_dict.h"
#include "util/range_tomb.h"
#include "util/checksum.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

struct sst_builder {
  char *path;
  io_writer *w;
  sst_options o;
  const shale_comparator *cmp; /* user-key order; NULL: bytewise */
  blk_builder data, index;
  bloom_builder keys; /* hashes of distinct user keys */
  buf out;            /* compression output and metadata blocks */
  ZSTD_CCtx *cctx;
  /* Dictionary: held-back raw data blocks (their index entries wait with them), then the
   * trained (or shared) dictionary and a context that compresses with it. */
  int dict_done;      /* trained, or given up: blocks go straight out */
  buf held;           /* raw contents of the held-back blocks, back to back */
  size_t *held_sizes; /* per held block: its contents size */
  buf held_keys;      /* per held block: varint key length, last key, varint tombstones */
  size_t nheld, heldcap;
  zstd_dict *dict;      /* NULL when none */
  ZSTD_CCtx *dict_cctx; /* references dict's ZSTD_CDict */
  uint64_t dict_raw;    /* raw bytes compressed with dict, counted against its reuse */
  uint64_t block_tombs; /* point tombstones in the pending data block */
  range_tomb *rdels;    /* each begin is one allocation holding begin then end */
  size_t nrdels, rdcap;
  uint64_t *snaps; /* live snapshots, ascending and distinct, when collapse is set */
  size_t nsnaps;
  int collapse;  /* sst_builder_set_snapshots was called */
  int external;  /* sst_builder_set_external: version 5 with a global sequence field */
  sst_meta m;    /* counters so far; smallest holds the first point key */
  int have_seq;  /* an entry was counted (seq bounds are set) */
  int have_tomb; /* a tombstone was counted (tomb seq bounds are set) */
  int err;       /* sticky error of an add */
  char errmsg[ERRMSG_SIZE];
};

static int zstd_level(const sst_builder *b) {
  return b->o.compression_level ? b->o.compression_level : SST_ZSTD_LEVEL;
}

static void take_shared_dictionary(sst_builder *b);

int sst_builder_new(const char *path, const sst_options *o, sst_builder **out, char *errmsg) {
  if (!out) return err_set(errmsg, SHALE_INVALID, "sst_builder_new: NULL out");
  *out = NULL;
  if (!path) return err_set(errmsg, SHALE_INVALID, "sst_builder_new: NULL path");
  sst_options def = {4096, 10, SHALE_COMPRESSION_ZSTD, 0, NULL, 0, 0, NULL, 0};
  if (!o) o = &def;
  if (o->compression != SHALE_COMPRESSION_NONE && o->compression != SHALE_COMPRESSION_ZSTD)
    return err_set(errmsg, SHALE_INVALID, "sst_builder_new: unknown compression %d",
                   o->compression);
  if (o->dict_bytes > SST_DICT_MAX_SIZE || o->dict_train_bytes > SST_DICT_MAX_TRAIN_BYTES)
    return err_set(errmsg, SHALE_INVALID,
                   "sst_builder_new: dictionary %zu or samples %zu too large", o->dict_bytes,
                   o->dict_train_bytes);
  sst_builder *b = calloc(1, sizeof *b);
  if (!b || !(b->path = strdup(path))) {
    free(b);
    return err_set(errmsg, SHALE_NOMEM, "sst_builder_new: out of memory");
  }
  b->o = *o;
  if (b->o.block_size == 0) b->o.block_size = 4096;
  if (b->o.bloom_bits_per_key < 0) b->o.bloom_bits_per_key = 0;
  blk_builder_init(&b->data, SST_RESTART_INTERVAL);
  blk_builder_init(&b->index, SST_INDEX_RESTART_INTERVAL);
  bloom_builder_init(&b->keys);
  buf_init(&b->out);
  b->m.compression = o->compression;
  int rc;
  buf_init(&b->held);
  buf_init(&b->held_keys);
  if (b->o.dict_train_bytes == 0) b->o.dict_train_bytes = SST_DICT_TRAIN_MULTIPLE * b->o.dict_bytes;
  b->dict_done = o->compression != SHALE_COMPRESSION_ZSTD || b->o.dict_bytes == 0;
  if (o->compression == SHALE_COMPRESSION_ZSTD && !(b->cctx = ZSTD_createCCtx())) {
    rc = err_set(errmsg, SHALE_NOMEM, "sst_builder_new: out of memory");
    goto fail;
  }
  if (!b->dict_done && b->o.dict_share) take_shared_dictionary(b);
  if ((rc = io_writer_open(o->io, path, &b->w, errmsg)) != SHALE_OK) goto fail;
  *out = b;
  return SHALE_OK;
fail:
  b->w = NULL;
  sst_builder_abort(b);
  return rc;
}

static void builder_free(sst_builder *b) {
  blk_builder_free(&b->data);
  blk_builder_free(&b->index);
  bloom_builder_free(&b->keys);
  buf_free(&b->out);
  ZSTD_freeCCtx(b->cctx);
  ZSTD_freeCCtx(b->dict_cctx);
  zstd_dict_unref(b->dict);
  buf_free(&b->held);
  buf_free(&b->held_keys);
  free(b->held_sizes);
  for (size_t i = 0; i < b->nrdels; i++) free((void *)b->rdels[i].begin);
  free(b->rdels);
  free(b->snaps);
  sst_meta_free(&b->m);
  free(b->path);
  free(b);
}

void sst_builder_abort(sst_builder *b) {
  if (!b) return;
  if (b->w) {
    io_writer_abort(b->w);
    io_remove(b->o.io, b->path, NULL);
  }
  builder_free(b);
}

static int fail_nomem(sst_builder *b) {
  if (!b->err) b->err = err_set(b->errmsg, SHALE_NOMEM, "%s: out of memory", b->path);
  return b->err;
}

/* Compresses raw bytes into b->out (varint raw size, then the frame), with the table's
 * dictionary when it has one and the block is a data block. Returns the block type, or
 * SST_BLOCK_RAW when compression fails or saves less than 1/8. */
static uint8_t compress_block(sst_builder *b, const void *raw, size_t len, int data) {
  size_t bound = ZSTD_compressBound(len);
  buf_clear(&b->out);
  buf_append_varint(&b->out, len);
  size_t pre = b->out.len;
  if (buf_reserve(&b->out, bound)) return SST_BLOCK_RAW;
  int dict = data && b->dict;
  size_t n = dict ? ZSTD_compress2(b->dict_cctx, b->out.data + pre, bound, raw, len)
                  : ZSTD_compressCCtx(b->cctx, b->out.data + pre, bound, raw, len, zstd_level(b));
  if (dict) b->dict_raw += len;
  if (ZSTD_isError(n) || pre + n > len - len / 8) return SST_BLOCK_RAW;
  b->out.len = pre + n;
  return dict ? SST_BLOCK_ZSTD_DICT : SST_BLOCK_ZSTD;
}

/* Writes len bytes at p (not in b->out: compression overwrites it) as one block, compressing
 * into b->out when worthwhile. Sets *h. The trailer goes in its own append, so p may be
 * bytes the builder does not own (the shared dictionary's). */
static int write_block(sst_builder *b, const void *p, size_t len, sst_handle *h, int data) {
  uint8_t type = SST_BLOCK_RAW;
  if (b->cctx && len >= 64 && (type = compress_block(b, p, len, data)) != SST_BLOCK_RAW) {
    p = b->out.data;
    len = b->out.len;
  }
  h->offset = io_writer_size(b->w);
  h->size = len;
  uint8_t trailer[SST_BLOCK_TRAILER];
  trailer[0] = type;
  put_fixed32(trailer + 1, checksum32_2(p, len, &type, 1));
  int rc = io_writer_append(b->w, p, len, b->errmsg);
  if (!rc) rc = io_writer_append(b->w, trailer, sizeof trailer, b->errmsg);
  if (rc) b->err = rc;
  return rc;
}

/* Writes one data block and its index entry. */
static int emit_data_block(sst_builder *b, const buf *contents, const void *last_key, size_t klen,
                           uint64_t tombs) {
  sst_handle h;
  int rc = write_block(b, contents->data, contents->len, &h, 1);
  if (rc) return rc;
  uint8_t v[30];
  size_t n = put_varint64(v, h.offset);
  n += put_varint64(v + n, h.size);
  n += put_varint64(v + n, tombs);
  if (blk_builder_add(&b->index, last_key, klen, v, n)) return fail_nomem(b);
  b->m.data_blocks++;
  b->m.data_bytes += h.size + SST_BLOCK_TRAILER;
  return SHALE_OK;
}

static int hold_block(sst_builder *b) {
  if (b->nheld == b->heldcap) {
    size_t cap = b->heldcap ? 2 * b->heldcap : 64;
    size_t *v = realloc(b->held_sizes, cap * sizeof *v);
    if (!v) return fail_nomem(b);
    b->held_sizes = v;
    b->heldcap = cap;
  }
  b->held_sizes[b->nheld++] = b->data.data.len;
  buf_append(&b->held, b->data.data.data, b->data.data.len);
  buf_append_slice(&b->held_keys, b->data.last_key.data, b->data.last_key.len);
  buf_append_varint(&b->held_keys, b->block_tombs);
  return buf_ok(&b->held) && buf_ok(&b->held_keys) ? SHALE_OK : fail_nomem(b);
}

/* Makes d (the builder's reference) the table's dictionary: it is stored in the table and
 * compresses its data blocks. Fails (dropping d) only when zstd cannot take it. */
static int use_dictionary(sst_builder *b, zstd_dict *d) {
  b->dict_cctx = ZSTD_createCCtx();
  if (!b->dict_cctx || ZSTD_isError(ZSTD_CCtx_refCDict(b->dict_cctx, zstd_dict_cdict(d))) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(b->dict_cctx, ZSTD_c_dictIDFlag, 0))) {
    ZSTD_freeCCtx(b->dict_cctx);
    b->dict_cctx = NULL;
    zstd_dict_unref(d);
    return -1;
  }
  b->dict = d;
  return 0;
}

static void drop_dictionary(sst_builder *b) {
  ZSTD_freeCCtx(b->dict_cctx);
  zstd_dict_unref(b->dict);
  b->dict_cctx = NULL;
  b->dict = NULL;
}

/* A ready dictionary from the share spares the table its training: the blocks are held only
 * until the table is big enough to repay storing it (release_held). */
static void take_shared_dictionary(sst_builder *b) {
  uint64_t reuse = (uint64_t)SST_DICT_RETRAIN_MULTIPLE * b->o.dict_train_bytes;
  zstd_dict *d =
      zstd_dict_share_get(b->o.dict_share, b->o.dict_slot, zstd_level(b), b->o.dict_bytes, reuse);
  if (d) use_dictionary(b, d);
}

/* Raw bytes below which a table gets no dictionary: a smaller one would not repay it. */
static size_t dict_min_bytes(const sst_builder *b) { return b->o.dict_train_bytes / 4; }

/* Trains the dictionary on the held blocks when there are enough of them; without one the
 * table is compressed block by block as before. Only a dictionary trained on the full
 * training bytes goes to the share: one from a small table's few samples compresses the
 * tables that reuse it worse (a 2M-key fill's compacted tables by 7%, as if they had none).
 * Out of memory only loses the dictionary. */
static void train_dictionary(sst_builder *b) {
  buf trained;
  buf_init(&trained);
  if (b->held.len >= dict_min_bytes(b) && !buf_reserve(&trained, b->o.dict_bytes)) {
    size_t n = ZDICT_trainFromBuffer(trained.data, b->o.dict_bytes, b->held.data, b->held_sizes,
                                     (unsigned)b->nheld);
    zstd_dict *d =
        ZDICT_isError(n) ? NULL : zstd_dict_new(trained.data, n, zstd_level(b), b->o.dict_bytes);
    if (d && !use_dictionary(b, d) && b->o.dict_share && b->held.len >= b->o.dict_train_bytes)
      zstd_dict_share_put(b->o.dict_share, b->o.dict_slot, d);
  }
  buf_free(&trained);
}

/* Ends the hold: trains (or, with a shared dictionary, keeps it only for a table big enough),
 * then writes every held block in order. */
static int release_held(sst_builder *b) {
  b->dict_done = 1;
  if (!b->dict)
    train_dictionary(b);
  else if (b->held.len < dict_min_bytes(b))
    drop_dictionary(b);
  buf contents;
  buf_init(&contents);
  /* nothing held (a table of range tombstones only) leaves data NULL: no NULL + 0 */
  const uint8_t *k = b->held_keys.data, *klim = b->nheld ? k + b->held_keys.len : k;
  size_t off = 0;
  int rc = SHALE_OK;
  for (size_t i = 0; i < b->nheld && !rc; i++) {
    uint64_t klen = 0, tombs = 0;
    const uint8_t *key = get_varint64(k, klim, &klen); /* written by hold_block: well formed */
    k = get_varint64(key + klen, klim, &tombs);
    buf_clear(&contents);
    buf_append(&contents, b->held.data + off, b->held_sizes[i]);
    off += b->held_sizes[i];
    rc =
        buf_ok(&contents) ? emit_data_block(b, &contents, key, (size_t)klen, tombs) : fail_nomem(b);
  }
  buf_free(&contents);
  buf_free(&b->held);
  buf_free(&b->held_keys);
  b->nheld = 0;
  return rc;
}

static int flush_data_block(sst_builder *b) {
  if (b->data.entries == 0) return SHALE_OK;
  if (blk_builder_finish(&b->data)) return fail_nomem(b);
  int rc;
  if (b->dict_done)
    rc = emit_data_block(b, &b->data.data, b->data.last_key.data, b->data.last_key.len,
                         b->block_tombs);
  else if (!(rc = hold_block(b)) &&
           b->held.len >= (b->dict ? dict_min_bytes(b) : b->o.dict_train_bytes))
    rc = release_held(b);
  if (rc) return rc;
  b->block_tombs = 0;
  blk_builder_reset(&b->data);
  return SHALE_OK;
}

/* Range tombstones are counted at finish, as the fragments actually stored. */
static void note_seq(sst_builder *b, uint64_t seq, int tomb, uint64_t time_us) {
  if (!b->have_seq || seq < b->m.min_seq) b->m.min_seq = seq;
  if (!b->have_seq || seq > b->m.max_seq) b->m.max_seq = seq;
  b->have_seq = 1;
  if (!tomb) return;
  if (!b->have_tomb || seq < b->m.min_tomb_seq) b->m.min_tomb_seq = seq;
  if (!b->have_tomb || seq > b->m.max_tomb_seq) b->m.max_tomb_seq = seq;
  b->have_tomb = 1;
  if (time_us) {
    if (!b->m.oldest_tomb_us || time_us < b->m.oldest_tomb_us) b->m.oldest_tomb_us = time_us;
    if (time_us > b->m.newest_tomb_us) b->m.newest_tomb_us = time_us;
  }
}

int sst_builder_add(sst_builder *b, const uint8_t *ikey, size_t iklen, const void *val, size_t vlen,
                    uint64_t tomb_time_us) {
  if (!b || (!ikey && iklen) || (!val && vlen)) return SHALE_INVALID;
  if (b->err) return b->err;
  if (iklen < IKEY_TRAILER || iklen - IKEY_TRAILER > SHALE_MAX_KEY_SIZE || vlen > UINT32_MAX)
    return SHALE_INVALID;
  uint64_t trailer = get_fixed64(ikey + iklen - IKEY_TRAILER);
  unsigned kind = ikey_kind(trailer);
  if (kind != KIND_PUT && kind != KIND_DEL) return SHALE_INVALID;
  const uint8_t *uk = ikey;
  size_t uklen = iklen - IKEY_TRAILER;
  int new_ukey = 1;
  if (b->m.entries > 0) {
    const buf *last = &b->data.last_key;
    if (ikey_cmp(b->cmp, last->data, last->len, ikey, iklen) >= 0) return SHALE_INVALID;
    new_ukey = ukey_compare(last->data, last->len - IKEY_TRAILER, uk, uklen) != 0;
  } else {
    buf_append(&b->m.smallest, ikey, iklen);
    if (!buf_ok(&b->m.smallest)) return fail_nomem(b);
  }
  if (b->data.entries > 0 && blk_builder_estimate(&b->data) >= b->o.block_size) {
    int rc = flush_data_block(b);
    if (rc) return rc;
  }
  if (blk_builder_add(&b->data, ikey, iklen, val, vlen)) return fail_nomem(b);
  int tomb = kind == KIND_DEL;
  if (b->o.bloom_bits_per_key > 0 && new_ukey && bloom_builder_add(&b->keys, bloom_hash(uk, uklen)))
    return fail_nomem(b);
  note_seq(b, ikey_seq(trailer), tomb, tomb_time_us);
  b->m.entries++;
  b->m.raw_key_bytes += iklen;
  b->m.raw_value_bytes += vlen;
  if (tomb) {
    b->m.point_tombstones++;
    b->block_tombs++;
  }
  return SHALE_OK;
}

int sst_builder_add_range_del(sst_builder *b, const void *begin, size_t blen, const void *end,
                              size_t elen, uint64_t seq, uint64_t time_us) {
  if (!b || (!begin && blen) || (!end && elen) || seq > SEQ_MAX) return SHALE_INVALID;
  if (b->err) return b->err;
  if (ukey_cmp(b->cmp, begin, blen, end, elen) >= 0) return SHALE_INVALID;
  if (blen > SHALE_MAX_KEY_SIZE || elen > SHALE_MAX_KEY_SIZE) return SHALE_INVALID;
  if (b->nrdels == b->rdcap) {
    size_t cap = b->rdcap ? b->rdcap * 2 : 8;
    range_tomb *p = realloc(b->rdels, cap * sizeof *p);
    if (!p) return fail_nomem(b);
    b->rdels = p;
    b->rdcap = cap;
  }
  uint8_t *mem = malloc(blen + elen + 1);
  if (!mem) return fail_nomem(b);
  if (blen) memcpy(mem, begin, blen);
  if (elen) memcpy(mem + blen, end, elen);
  b->rdels[b->nrdels++] = (range_tomb){mem, mem + blen, blen, elen, seq, time_us};
  return SHALE_OK;
}

static int u64_cmp(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

int sst_builder_set_snapshots(sst_builder *b, const uint64_t *seqs, size_t n) {
  if (!b || (!seqs && n)) return SHALE_INVALID;
  uint64_t *v = NULL;
  if (n) {
    if (!(v = malloc(n * sizeof *v))) return fail_nomem(b);
    memcpy(v, seqs, n * sizeof *v);
    qsort(v, n, sizeof *v, u64_cmp);
  }
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (!u || v[u - 1] != v[i]) v[u++] = v[i];
  free(b->snaps);
  b->snaps = v;
  b->nsnaps = u;
  b->collapse = 1;
  return SHALE_OK;
}

void sst_builder_set_comparator(sst_builder *b, const shale_comparator *cmp) {
  if (b) b->cmp = cmp;
}

void sst_builder_set_external(sst_builder *b) {
  if (b) b->external = 1;
}

uint64_t sst_builder_file_size(const sst_builder *b) {
  uint64_t filter = (uint64_t)b->keys.n * (uint64_t)b->o.bloom_bits_per_key / 8;
  return io_writer_size(b->w) + b->held.len / 2 + blk_builder_estimate(&b->data) +
         b->index.data.len + filter + SST_FOOTER_SIZE; /* held blocks: about half once compressed */
}

/* Widens smallest/largest (m->smallest already holds the first point key, if any) to the
 * stored fragments: [b, e) at seq s spans b|s|RANGE_DEL .. e|SEQ_MAX|RANGE_DEL. */
static void key_bounds(sst_builder *b, const rt_set *f) {
  sst_meta *m = &b->m;
  buf_clear(&m->largest);
  if (m->entries) buf_append(&m->largest, b->data.last_key.data, b->data.last_key.len);
  buf k;
  buf_init(&k);
  for (size_t i = 0; i < f->nrecs; i++) {
    const rt_rec *rec = &f->recs[i];
    const rt_key *r = &f->bounds[rec->piece];
    buf_clear(&k);
    buf_append(&k, r->p, r->len);
    buf_append_fixed64(&k, ikey_pack(rec->seq, KIND_RANGE_DEL));
    if (!buf_ok(&k)) break;
    if (!m->smallest.len ||
        ikey_cmp(b->cmp, k.data, k.len, m->smallest.data, m->smallest.len) < 0) {
      buf_clear(&m->smallest);
      buf_append(&m->smallest, k.data, k.len);
    }
    buf_clear(&k);
    buf_append(&k, r[1].p, r[1].len);
    buf_append_fixed64(&k, ikey_pack(SEQ_MAX, KIND_RANGE_DEL));
    if (!buf_ok(&k)) break;
    if (!m->largest.len || ikey_cmp(b->cmp, k.data, k.len, m->largest.data, m->largest.len) > 0) {
      buf_clear(&m->largest);
      buf_append(&m->largest, k.data, k.len);
    }
  }
  if (!buf_ok(&k)) m->smallest.failed = 1;
  buf_free(&k);
}

/* Writes one metadata block encoded in contents, whose encoding may have run out of memory. */
static int write_meta(sst_builder *b, const buf *contents, sst_handle *h) {
  if (!buf_ok(contents)) return fail_nomem(b);
  return write_block(b, contents->data, contents->len, h, 0);
}

/* The range-del block: the fragments, which also count as the table's range tombstones. */
static void encode_range_dels(sst_builder *b, const rt_set *f, buf *blk) {
  for (size_t i = 0; i < f->nrecs; i++) {
    const rt_rec *rec = &f->recs[i];
    const rt_key *k = &f->bounds[rec->piece];
    buf_append_slice(blk, k[0].p, k[0].len);
    buf_append_slice(blk, k[1].p, k[1].len);
    buf_append_varint(blk, rec->seq);
    buf_append_varint(blk, rec->time_us);
    note_seq(b, rec->seq, 1, rec->time_us);
    b->m.range_tombstones++;
  }
}

/* Stored straight from the dictionary's own bytes, which may be shared with other tables. */
static int write_dictionary(sst_builder *b, sst_handle *h) {
  size_t len;
  const void *bytes = zstd_dict_bytes(b->dict, &len);
  return write_block(b, bytes, len, h, 0);
}

static int write_metadata(sst_builder *b, sst_handle hs[5]) {
  /* hs: 0 index, 1 filter, 2 range-del, 3 dirty, 4 properties (footer order) */
  buf blk;
  buf_init(&blk);
  rt_set f;
  int rc = rt_set_build(b->cmp, b->rdels, b->nrdels, b->snaps, b->nsnaps, b->collapse, &f);
  if (rc) {
    rc = fail_nomem(b);
    goto out;
  }
  bloom_builder_finish(&b->keys, b->o.bloom_bits_per_key, &blk);
  if ((rc = write_meta(b, &blk, &hs[1]))) goto out;

  buf_clear(&blk);
  encode_range_dels(b, &f, &blk);
  if ((rc = write_meta(b, &blk, &hs[2]))) goto out;

  const sst_meta *m = &b->m;
  buf_clear(&blk);
  uint64_t dirty[8] = {m->point_tombstones, m->range_tombstones, m->min_seq,
                       m->max_seq,          m->min_tomb_seq,     m->max_tomb_seq,
                       m->oldest_tomb_us,   m->newest_tomb_us};
  for (int i = 0; i < 8; i++) buf_append_fixed64(&blk, dirty[i]);
  /* Version 4 stops here: the deleted-key filter of versions 1-3 had no reader. */
  if ((rc = write_meta(b, &blk, &hs[3]))) goto out;

  sst_handle dict = {0, 0};
  if (b->dict && (rc = write_dictionary(b, &dict))) goto out;

  key_bounds(b, &f);
  b->m.creation_time_us = clock_wall_us();
  buf_clear(&blk);
  uint64_t props[9] = {m->entries,          m->raw_key_bytes, m->raw_value_bytes,
                       m->data_bytes,       m->data_blocks,   (uint64_t)m->compression,
                       m->creation_time_us, dict.offset,      dict.size};
  for (int i = 0; i < 9; i++) buf_append_fixed64(&blk, props[i]);
  buf_append_slice(&blk, m->smallest.data, m->smallest.len);
  buf_append_slice(&blk, m->largest.data, m->largest.len);
  if (b->cmp) buf_append_slice(&blk, b->cmp->name, strlen(b->cmp->name));
  if (!buf_ok(&m->smallest) || !buf_ok(&m->largest)) blk.failed = 1;
  if ((rc = write_meta(b, &blk, &hs[4]))) goto out;

  if (blk_builder_finish(&b->index)) {
    rc = fail_nomem(b);
    goto out;
  }
  rc = write_meta(b, &b->index.data, &hs[0]);
out:
  rt_set_free(&f);
  buf_free(&blk);
  return rc;
}

int sst_builder_finish(sst_builder *b, sst_meta *meta, char *errmsg) {
  if (meta) memset(meta, 0, sizeof *meta);
  if (!b) return err_set(errmsg, SHALE_INVALID, "sst_builder_finish: NULL builder");
  int rc = b->err;
  sst_handle hs[5];
  if (!rc) rc = flush_data_block(b);
  if (!rc && !b->dict_done) rc = release_held(b);
  if (!rc) rc = write_metadata(b, hs);
  if (rc) goto fail;
  /* An external table's global sequence (0 until ingest sets it) precedes the footer and
   * shares its checksum. */
  uint8_t tail[SST_EXTERNAL_TAIL_SIZE] = {0};
  size_t pre = b->external ? SST_EXTERNAL_TAIL_SIZE - SST_FOOTER_SIZE : 0;
  uint8_t *footer = tail + pre;
  for (int i = 0; i < 5; i++) {
    put_fixed64(footer + 16 * i, hs[i].offset);
    put_fixed64(footer + 16 * i + 8, hs[i].size);
  }
  put_fixed32(footer + 80, sst_version_for(b->external, b->cmp != NULL));
  put_fixed32(footer + 84, checksum32(tail, pre + 84));
  put_fixed64(footer + 88, SST_MAGIC);
  if ((rc = io_writer_append(b->w, tail, pre + SST_FOOTER_SIZE, b->errmsg))) goto fail;
  b->m.file_size = io_writer_size(b->w);
  io_writer *w = b->w;
  b->w = NULL;
  if ((rc = io_writer_finish(w, 1, b->errmsg))) {
    io_remove(b->o.io, b->path, NULL);
    goto fail_closed;
  }
  if (meta) {
    *meta = b->m;
    memset(&b->m, 0, sizeof b->m); /* ownership of smallest/largest moves to *meta */
  }
  if (b->dict && b->o.dict_share)
    zstd_dict_share_served(b->o.dict_share, b->o.dict_slot, b->dict, b->dict_raw);
  builder_free(b);
  return SHALE_OK;
fail:
  b->err = rc;
fail_closed:
  err_set(errmsg, rc, "%s", b->errmsg);
  sst_builder_abort(b);
  return rc;
}
