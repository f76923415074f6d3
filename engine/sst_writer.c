/* sst_writer.c — shale_sst_writer_*: external tables for shale_ingest. A thin layer over
 * sst_builder that writes format version 5 (every entry at sequence 0, a global sequence
 * before the footer; doc/format-sstable.md) and enforces what ingest relies on: one entry
 * per user key, in increasing order. A writer that breaks the order removes its file at
 * once, so a half-built table never lingers to be ingested by mistake. Errors go to the
 * thread's handleless detail (shale_errmsg(NULL)), as for shale_open. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errmsg.h"
#include "engine/options.h"
#include "io/io.h"
#include "sstable/sst_builder.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/ikey.h"

struct shale_sst_writer {
  sst_builder *b; /* NULL once dead: the file is gone */
  char *path;
  buf last;  /* user key of the last point entry */
  buf ikey;  /* scratch: user key || trailer */
  int any;   /* a point entry was added (last is set) */
  int rdels; /* range deletes were added */
  uint64_t puts, deletes;
  /* The keys' order: NULL (bytewise) or cmp_copy, the options' comparator copied, so the
   * caller's struct may go once the writer is open. */
  const shale_comparator *cmp;
  shale_comparator cmp_copy;
  char cmp_name[COMPARATOR_NAME_MAX + 1];
};

static char *clear_errmsg(void) {
  char *msg = db_handleless_errmsg();
  msg[0] = 0;
  return msg;
}

static void kill_writer(shale_sst_writer *w) {
  sst_builder_abort(w->b);
  w->b = NULL;
}

int shale_sst_writer_open(const char *path, const shale_options *o, shale_sst_writer **out) {
  char *msg = clear_errmsg();
  if (out) *out = NULL;
  if (!path || !out) return err_set(msg, SHALE_INVALID, "shale_sst_writer_open: NULL argument");
  shale_options opt;
  int rc = options_copy_checked(&opt, o, msg);
  if (rc) return rc;
  shale_sst_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path))) {
    free(w);
    return err_set(msg, SHALE_NOMEM, "shale_sst_writer_open: out of memory");
  }
  buf_init(&w->last);
  buf_init(&w->ikey);
  if (opt.comparator) {
    w->cmp_copy = *opt.comparator;
    snprintf(w->cmp_name, sizeof w->cmp_name, "%s", opt.comparator->name);
    w->cmp_copy.name = w->cmp_name;
    w->cmp = &w->cmp_copy;
  }
  sst_options so = {opt.block_size,
                    opt.bloom_bits_per_key,
                    opt.compression,
                    opt.compression_level,
                    NULL,
                    opt.compression_max_dict_bytes,
                    opt.compression_zstd_max_train_bytes,
                    NULL,
                    0};
  if ((rc = sst_builder_new(path, &so, &w->b, msg))) {
    shale_sst_writer_abandon(w);
    return rc;
  }
  sst_builder_set_external(w->b);
  sst_builder_set_comparator(w->b, w->cmp);
  /* One sequence for the whole table: each range piece keeps a single record. */
  if ((rc = sst_builder_set_snapshots(w->b, NULL, 0))) {
    shale_sst_writer_abandon(w);
    return err_set(msg, rc, "shale_sst_writer_open: out of memory");
  }
  *out = w;
  return SHALE_OK;
}

static int dead(const shale_sst_writer *w, char *msg) {
  return err_set(msg, SHALE_INVALID, "%s: the writer failed earlier and its file was removed",
                 w->path);
}

/* Up to 16 bytes of key as hex, for messages. */
static const char *key_hex(const void *key, size_t klen, char out[48]) {
  size_t n = klen < 16 ? klen : 16, o = 0;
  for (size_t i = 0; i < n; i++) o += (size_t)sprintf(out + o, "%02x", ((const uint8_t *)key)[i]);
  snprintf(out + o, 48 - o, "%s", klen > n ? ".." : "");
  return out;
}

static int add_point(shale_sst_writer *w, unsigned kind, const void *key, size_t klen,
                     const void *val, size_t vlen) {
  char *msg = clear_errmsg();
  if (!w) return err_set(msg, SHALE_INVALID, "shale_sst_writer: NULL writer");
  if (!w->b) return dead(w, msg);
  if ((!key && klen) || (!val && vlen) || klen > SHALE_MAX_KEY_SIZE || vlen > SHALE_MAX_VALUE_SIZE)
    return err_set(msg, SHALE_INVALID, "%s: NULL key or value with a length, or too long", w->path);
  if (w->any && ukey_cmp(w->cmp, w->last.data, w->last.len, key, klen) >= 0) {
    char a[48], b[48];
    err_set(msg, SHALE_INVALID,
            "%s: keys must be strictly increasing: %s after %s (entry %" PRIu64
            "); the file was removed",
            w->path, key_hex(key, klen, a), key_hex(w->last.data, w->last.len, b),
            w->puts + w->deletes + 1);
    kill_writer(w);
    return SHALE_INVALID;
  }
  buf_assign(&w->ikey, key, klen);
  buf_append_fixed64(&w->ikey, ikey_pack(0, kind));
  buf_assign(&w->last, key, klen);
  int rc = buf_ok(&w->ikey) && buf_ok(&w->last) ? SHALE_OK : SHALE_NOMEM;
  if (!rc)
    rc = sst_builder_add(w->b, w->ikey.data, w->ikey.len, val, vlen,
                         kind == KIND_DEL ? clock_wall_us() : 0);
  if (rc) {
    kill_writer(w);
    return err_set(msg, rc, "%s: adding an entry failed (%s); the file was removed", w->path,
                   shale_strerror(rc));
  }
  w->any = 1;
  if (kind == KIND_PUT)
    w->puts++;
  else
    w->deletes++;
  return SHALE_OK;
}

int shale_sst_writer_put(shale_sst_writer *w, const void *key, size_t klen, const void *val,
                         size_t vlen) {
  return add_point(w, KIND_PUT, key, klen, val, vlen);
}

int shale_sst_writer_delete(shale_sst_writer *w, const void *key, size_t klen) {
  return add_point(w, KIND_DEL, key, klen, NULL, 0);
}

int shale_sst_writer_delete_range(shale_sst_writer *w, const void *begin, size_t blen,
                                  const void *end, size_t elen) {
  char *msg = clear_errmsg();
  if (!w) return err_set(msg, SHALE_INVALID, "shale_sst_writer_delete_range: NULL writer");
  if (!w->b) return dead(w, msg);
  if ((!begin && blen) || (!end && elen) || blen > SHALE_MAX_KEY_SIZE ||
      elen > SHALE_MAX_KEY_SIZE || ukey_cmp(w->cmp, begin, blen, end, elen) >= 0)
    return err_set(msg, SHALE_INVALID,
                   "%s: range delete needs begin < end, each at most SHALE_MAX_KEY_SIZE", w->path);
  int rc = sst_builder_add_range_del(w->b, begin, blen, end, elen, 0, clock_wall_us());
  if (rc) {
    kill_writer(w);
    return err_set(msg, rc, "%s: out of memory adding a range delete; the file was removed",
                   w->path);
  }
  w->rdels = 1;
  return SHALE_OK;
}

static void writer_free(shale_sst_writer *w) {
  buf_free(&w->last);
  buf_free(&w->ikey);
  free(w->path);
  free(w);
}

int shale_sst_writer_finish(shale_sst_writer *w, shale_sst_info *info) {
  char *msg = clear_errmsg();
  if (info) memset(info, 0, sizeof *info);
  if (!w) return err_set(msg, SHALE_INVALID, "shale_sst_writer_finish: NULL writer");
  int rc;
  if (!w->b) {
    rc = dead(w, msg);
  } else if (!w->any && !w->rdels) {
    kill_writer(w);
    rc = err_set(msg, SHALE_INVALID, "%s: no entry was added; the file was removed", w->path);
  } else {
    sst_meta m;
    sst_builder *b = w->b;
    w->b = NULL;
    /* the directory entry is durable before anyone is told the table exists */
    if (!(rc = sst_builder_finish(b, &m, msg)) &&
        (rc = io_sync_parent(io_ctx_default(), w->path, msg)))
      io_remove(io_ctx_default(), w->path, NULL);
    if (!rc && info) *info = (shale_sst_info){m.file_size, w->puts, w->deletes, m.range_tombstones};
    sst_meta_free(&m);
  }
  writer_free(w);
  return rc;
}

void shale_sst_writer_abandon(shale_sst_writer *w) {
  if (!w) return;
  kill_writer(w);
  writer_free(w);
}
