/* wal_writer.c — fragments records into blocks and appends each record with one write(2)
 * through io_log, each record stamped with the wall-clock time it was added. See
 * doc/format-wal.md for the layout. */
#include "wal/wal_writer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/error.h"
#include "wal/wal_format.h"

/* Encoded records larger than this do not keep their scratch space after the add. */
#define WAL_SCRATCH_KEEP (1u << 20)

struct wal_writer {
  io_log *log;
  size_t block_off; /* offset in the current block of the next fragment; only add touches it */
  buf scratch;      /* the encoded record, built whole so it goes out in one write */
  _Atomic uint64_t synced; /* offset a completed sync covers; set by sync */
  uint64_t marked;         /* the highest offset a WAL_SYNCED fragment states; add only */
};

/* A record's bytes in up to two pieces (the time stamp, then the caller's data), which the
 * fragments cut as one string: no copy of the data to put the stamp in front of it. */
typedef struct pieces {
  const uint8_t *p[2];
  size_t n[2];
} pieces;

/* Appends the next n bytes of s to b. */
static void take(buf *b, pieces *s, size_t n) {
  for (int i = 0; i < 2 && n > 0; i++) {
    size_t k = s->n[i] < n ? s->n[i] : n;
    if (k) buf_append(b, s->p[i], k);
    s->p[i] += k;
    s->n[i] -= k;
    n -= k;
  }
}

/* Appends one fragment (header + n payload bytes from s) to b. The checksum covers length,
 * type and payload, which lie contiguous in b once written, so it is computed in place. */
static void put_fragment(buf *b, unsigned type, pieces *s, size_t n) {
  uint8_t h[WAL_HEADER_SIZE] = {0, 0, 0, 0, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)type};
  size_t at = b->len;
  buf_append(b, h, sizeof h);
  take(b, s, n);
  if (buf_ok(b)) put_fixed32(b->data + at, checksum32(b->data + at + 4, 3 + n));
}

/* Puts a WAL_SYNCED fragment stating mark at block offset off (REQUIRES: it fits whole in
 * the block, see next_mark); returns the new block offset. */
static size_t put_mark(buf *b, size_t off, uint64_t mark) {
  uint8_t m[WAL_SYNCED_PAYLOAD];
  put_fixed64(m, mark);
  pieces p = {{m, NULL}, {sizeof m, 0}};
  put_fragment(b, WAL_SYNCED, &p, sizeof m);
  return off + WAL_HEADER_SIZE + sizeof m;
}

/* Encodes a record of the given single-fragment type (FULL/FILEHDR) or fragmented record
 * into w->scratch, starting at w->block_off; returns the new block offset. */
static size_t encode(wal_writer *w, int filehdr, pieces *s, uint64_t mark) {
  static const uint8_t zeros[WAL_HEADER_SIZE];
  size_t off = w->block_off, len = s->n[0] + s->n[1];
  int begin = 1;
  buf_clear(&w->scratch);
  if (mark) off = put_mark(&w->scratch, off, mark);
  do {
    size_t leftover = WAL_BLOCK_SIZE - off;
    if (leftover < WAL_HEADER_SIZE) { /* too small for a header: pad the trailer with zeros */
      buf_append(&w->scratch, zeros, leftover);
      off = 0;
    }
    size_t avail = WAL_BLOCK_SIZE - off - WAL_HEADER_SIZE;
    size_t n = len < avail ? len : avail;
    int end = n == len;
    unsigned type = begin && end ? (filehdr ? WAL_FILEHDR : WAL_FULL)
                    : begin      ? WAL_FIRST
                    : end        ? WAL_LAST
                                 : WAL_MIDDLE;
    put_fragment(&w->scratch, type, s, n);
    len -= n;
    off += WAL_HEADER_SIZE + n;
    begin = 0;
  } while (len > 0);
  return off;
}

/* The sync point to state before the next record: one not stated yet, when its fragment fits
 * whole in the current block. It goes out in the record's own write, so marking a sync costs
 * no system call, and nothing at all when nothing syncs. */
static uint64_t next_mark(const wal_writer *w) {
  uint64_t synced = atomic_load_explicit(&w->synced, memory_order_acquire);
  int fits = WAL_BLOCK_SIZE - w->block_off >= WAL_HEADER_SIZE + WAL_SYNCED_PAYLOAD;
  return synced > w->marked && fits ? synced : 0;
}

static int add(wal_writer *w, int filehdr, pieces *s, char *errmsg) {
  size_t len = s->n[0] + s->n[1];
  uint64_t mark = filehdr ? 0 : next_mark(w);
  size_t off = encode(w, filehdr, s, mark);
  int rc;
  if (!buf_ok(&w->scratch))
    rc = err_set(errmsg, SHALE_NOMEM, "wal: out of memory encoding a %zu-byte record", len);
  else if ((rc = io_log_append(w->log, w->scratch.data, w->scratch.len, errmsg)) == SHALE_OK) {
    w->block_off = off;
    if (mark) w->marked = mark;
  }
  if (w->scratch.cap > WAL_SCRATCH_KEEP) buf_free(&w->scratch);
  return rc;
}

static int open_log(io_ctx *io, const char *path, uint64_t log_number, int mapped, wal_writer **out,
                    char *errmsg) {
  *out = NULL;
  wal_writer *w = calloc(1, sizeof *w);
  if (!w) return err_set(errmsg, SHALE_NOMEM, "open wal %s: out of memory", path);
  buf_init(&w->scratch);
  int rc = mapped ? io_log_open_mapped(io, path, &w->log, errmsg)
                  : io_log_open(io, path, &w->log, errmsg);
  if (rc) goto fail;
  uint8_t h[WAL_FILEHDR_PAYLOAD];
  memcpy(h, WAL_MAGIC, WAL_MAGIC_SIZE);
  put_fixed32(h + 8, WAL_FORMAT_VERSION);
  put_fixed64(h + 12, log_number);
  pieces hdr = {{h, NULL}, {sizeof h, 0}};
  if ((rc = add(w, 1, &hdr, errmsg))) goto fail;
  *out = w;
  return SHALE_OK;
fail:
  /* A file without its header is nobody's log (the open truncated whatever was there):
   * left behind, each failed attempt on a full disk would add one. */
  if (w->log) {
    io_log_close(w->log, NULL);
    io_remove(io, path, NULL);
  }
  buf_free(&w->scratch);
  free(w);
  return rc;
}

int wal_writer_open(io_ctx *io, const char *path, uint64_t log_number, wal_writer **out,
                    char *errmsg) {
  return open_log(io, path, log_number, 0, out, errmsg);
}

int wal_writer_open_mapped(io_ctx *io, const char *path, uint64_t log_number, wal_writer **out,
                           char *errmsg) {
  return open_log(io, path, log_number, 1, out, errmsg);
}

int wal_writer_add_at(wal_writer *w, uint64_t time_us, const void *data, size_t len, char *errmsg) {
  if (!data && len) return err_set(errmsg, SHALE_INVALID, "wal add: NULL data");
  uint8_t stamp[WAL_RECORD_TIME_SIZE];
  put_fixed64(stamp, time_us);
  pieces rec = {{stamp, data}, {sizeof stamp, len}};
  return add(w, 0, &rec, errmsg);
}

int wal_writer_add(wal_writer *w, const void *data, size_t len, char *errmsg) {
  /* Taken before the caller inserts into its memtable, which takes its own time after:
   * a replayed delete is never younger than it was before the restart. */
  return wal_writer_add_at(w, clock_wall_us(), data, len, errmsg);
}

int wal_writer_sync(wal_writer *w, char *errmsg) {
  /* Read first: appends racing with the sync may not be covered, so they are not claimed. */
  uint64_t upto = io_log_size(w->log);
  int rc = io_log_sync(w->log, errmsg);
  if (rc == SHALE_OK) {
    uint64_t cur = atomic_load_explicit(&w->synced, memory_order_relaxed);
    while (cur < upto && !atomic_compare_exchange_weak_explicit(
                             &w->synced, &cur, upto, memory_order_release, memory_order_relaxed))
      continue;
  }
  return rc;
}

uint64_t wal_writer_size(const wal_writer *w) { return io_log_size(w->log); }

int wal_writer_close(wal_writer *w, char *errmsg) {
  if (!w) return SHALE_OK;
  int rc = io_log_close(w->log, errmsg);
  buf_free(&w->scratch);
  free(w);
  return rc;
}
