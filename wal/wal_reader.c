/* wal_reader.c — reads a log file block by block, reassembles fragmented records and decides
 * whether damage is a torn tail (dropped) or mid-file corruption (an error in strict mode).
 * That decision probes the rest of the file for a complete intact record; the probe only runs
 * once, when reading ends early. Tail rules: wal_reader.h; format: doc/format-wal.md. */
#include "wal/wal_reader.h"

/* Compared by address: paranoid readers treat exactly this damage as corruption. */
static const char WHY_CHECKSUM[] = "fragment checksum mismatch";
static const char WHY_ZEROS[] = "zero-filled space where a fragment should start";

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/error.h"
#include "wal/wal_format.h"

#define NO_BLOCK UINT64_MAX

/* One cached block of the file. */
typedef struct blk {
  uint64_t idx; /* block number, NO_BLOCK if empty */
  size_t n;     /* valid bytes (the last block of a file may be short) */
  uint8_t *data;
} blk;

enum { FRAG_OK, FRAG_EOF, FRAG_BAD };

typedef struct frag {
  int status;
  unsigned type;
  const uint8_t *payload; /* into the blk it was read through */
  size_t len;
  uint64_t next;   /* offset just after the fragment */
  const char *why; /* FRAG_BAD: what is wrong (static string: probes parse at every byte) */
} frag;

struct wal_reader {
  io_reader *f;
  char *path;
  int tolerant;
  uint64_t size;
  uint64_t pos;       /* offset of the next fragment to read */
  uint64_t last_good; /* end of the last intact record (or of the header) */
  uint64_t log_number;
  uint32_t version;    /* from the file header */
  uint64_t time_us;    /* of the last record returned */
  uint64_t v1_time_us; /* what a version 1 record reports: see old_log_time */
  int unsynced_tail;   /* WAL_READ_UNSYNCED_TAIL was given */
  uint64_t synced;     /* highest offset an intact sync point states */
  int unordered;       /* reading ended at damage in never-synced data with data after it */
  int done;            /* reading ended: next returns 0 */
  int err;             /* sticky error */
  blk main, probe, follow;
  buf rec; /* reassembly space for multi-fragment records */
  int dropped;
  int zero_tail; /* the dropped tail is unwritten zeros after the last record */
  char dropped_msg[ERRMSG_SIZE];
};

/* Moves off past a block trailer too small for a fragment header. */
static uint64_t skip_trailer(uint64_t off) {
  uint64_t in = off % WAL_BLOCK_SIZE;
  return WAL_BLOCK_SIZE - in < WAL_HEADER_SIZE ? off - in + WAL_BLOCK_SIZE : off;
}

static int load(wal_reader *r, blk *b, uint64_t idx, char *errmsg) {
  if (b->idx == idx) return SHALE_OK;
  if (!b->data && !(b->data = malloc(WAL_BLOCK_SIZE)))
    return err_set(errmsg, SHALE_NOMEM, "read %s: out of memory", r->path);
  uint64_t start = idx * WAL_BLOCK_SIZE, left = r->size - start;
  size_t n = left < WAL_BLOCK_SIZE ? (size_t)left : WAL_BLOCK_SIZE;
  b->idx = NO_BLOCK;
  int rc = io_reader_read(r->f, start, b->data, n, errmsg);
  if (rc == SHALE_CORRUPTION && io_reader_shrunk(r->f)) {
    /* A live writer truncated the zeros it had reserved past its records (it moved on to
     * the next log): the file now ends where they began. */
    r->size = io_reader_size(r->f);
    left = r->size > start ? r->size - start : 0;
    n = left < WAL_BLOCK_SIZE ? (size_t)left : WAL_BLOCK_SIZE;
    rc = n ? io_reader_read(r->f, start, b->data, n, errmsg) : SHALE_OK;
  }
  if (rc) return rc;
  b->idx = idx;
  b->n = n;
  return SHALE_OK;
}

/* Parses the fragment at off (which must not be inside a block trailer) through b. Returns
 * SHALE_OK with f->status set, or a negative code for an I/O error. Cheap checks come before
 * the checksum so probing at every byte stays fast. */
static int frag_at(wal_reader *r, blk *b, uint64_t off, frag *f, char *errmsg) {
  memset(f, 0, sizeof *f);
  if (off >= r->size) {
    f->status = FRAG_EOF;
    return SHALE_OK;
  }
  int rc = load(r, b, off / WAL_BLOCK_SIZE, errmsg);
  if (rc) return rc;
  if (off >= r->size) { /* the file shrank under the reader (load) */
    f->status = FRAG_EOF;
    return SHALE_OK;
  }
  size_t in = (size_t)(off % WAL_BLOCK_SIZE);
  const uint8_t *h = b->data + in;
  f->status = FRAG_BAD;
  if (b->n - in < WAL_HEADER_SIZE) {
    f->why = "fragment header cut by end of file";
    return SHALE_OK;
  }
  size_t len = (size_t)h[4] | (size_t)h[5] << 8;
  unsigned type = h[6];
  f->len = len; /* for the error message, even when bad */
  f->type = type;
  static const uint8_t zero[WAL_HEADER_SIZE];
  if (memcmp(h, zero, WAL_HEADER_SIZE) == 0) {
    f->why = WHY_ZEROS;
  } else if (in + WAL_HEADER_SIZE + len > WAL_BLOCK_SIZE) {
    f->why = "fragment length runs past the block end";
  } else if (in + WAL_HEADER_SIZE + len > b->n) {
    f->why = "fragment length runs past the end of file";
  } else if (type == WAL_ZERO || type > WAL_MAX_TYPE) {
    f->why = "unknown fragment type";
  } else if (type == WAL_SYNCED && len != WAL_SYNCED_PAYLOAD) {
    f->why = "sync point fragment of the wrong length";
  } else if (checksum32(h + 4, 3 + len) != get_fixed32(h)) {
    f->why = WHY_CHECKSUM;
  } else {
    f->status = FRAG_OK;
    f->type = type;
    f->payload = h + WAL_HEADER_SIZE;
    f->len = len;
    f->next = off + WAL_HEADER_SIZE + len;
  }
  return SHALE_OK;
}

/* A sync point read anywhere: the file was durable up to its offset once. */
static void note_synced(wal_reader *r, const uint8_t *payload) {
  uint64_t upto = get_fixed64(payload);
  if (upto > r->synced) r->synced = upto;
}

/* 1 when complete intact data starts at off: a record (FULL, or FIRST MIDDLE* LAST) or a
 * sync point, written after whatever damage precedes it. 0 if not, negative on an I/O
 * error. */
static int record_at(wal_reader *r, uint64_t off, char *errmsg) {
  frag f;
  int rc = frag_at(r, &r->probe, off, &f, errmsg);
  if (rc) return rc;
  if (f.status == FRAG_OK && f.type == WAL_SYNCED) return 1;
  if (f.status != FRAG_OK || (f.type != WAL_FULL && f.type != WAL_FIRST)) return 0;
  while (f.type != WAL_FULL && f.type != WAL_LAST) {
    if ((rc = frag_at(r, &r->follow, skip_trailer(f.next), &f, errmsg))) return rc;
    if (f.status != FRAG_OK || (f.type != WAL_MIDDLE && f.type != WAL_LAST)) return 0;
  }
  return 1;
}

/* Offset i >= from in d[0, n) whose type byte d[i + 6] is c, or SIZE_MAX. */
static size_t next_type(const uint8_t *d, size_t n, size_t from, int c) {
  if (from + WAL_HEADER_SIZE > n) return SIZE_MAX;
  const uint8_t *q = memchr(d + from + 6, c, n - from - 6);
  return q ? (size_t)(q - d) - 6 : SIZE_MAX;
}

/* Tries every offset from *p to the end of its block as the start of complete data (see
 * record_at). Returns 1 with *p at it, 0 with *p at the next block start, negative on error.
 * Only offsets whose type byte says FULL, FIRST or SYNCED (found with memchr) and whose
 * length fits are checked further: probing must stay cheap. */
static int scan_block(wal_reader *r, uint64_t *p, char *errmsg) {
  static const int types[3] = {WAL_FULL, WAL_FIRST, WAL_SYNCED};
  uint64_t base = *p - *p % WAL_BLOCK_SIZE;
  int rc = load(r, &r->probe, base / WAL_BLOCK_SIZE, errmsg);
  if (rc) return rc;
  const uint8_t *d = r->probe.data;
  size_t n = r->probe.n, i = (size_t)(*p - base), next[3];
  for (int t = 0; t < 3; t++) next[t] = next_type(d, n, i, types[t]);
  for (;;) {
    int t = next[0] < next[1] ? 0 : 1;
    if (next[2] < next[t]) t = 2;
    if ((i = next[t]) == SIZE_MAX) break;
    size_t len = (size_t)d[i + 4] | (size_t)d[i + 5] << 8;
    if (i + WAL_HEADER_SIZE + len <= n && (rc = record_at(r, base + i, errmsg)) != 0) {
      *p = base + i;
      return rc;
    }
    next[t] = next_type(d, n, i + 1, types[t]);
  }
  *p = base + WAL_BLOCK_SIZE;
  return 0;
}

/* Looks for complete intact data (see record_at) at or after from. scan: try every byte
 * offset until the end of from's block (the fragment boundaries there are unknown); later
 * blocks start at a fragment, so they are parsed, going back to scanning after a bad
 * fragment. Returns 1 and *at (the first found), 0 if there is none, negative on an I/O
 * error. to_end: walk on to the end of the file, noting every intact sync point. */
static int probe(wal_reader *r, uint64_t from, int scan, int to_end, uint64_t *at, char *errmsg) {
  uint64_t p = from;
  int found = 0;
  while (p < r->size) {
    uint64_t bend = p - p % WAL_BLOCK_SIZE + WAL_BLOCK_SIZE;
    if (bend - p < WAL_HEADER_SIZE) {
      p = bend;
      scan = 0;
      continue;
    }
    int rc;
    if (scan) {
      if ((rc = scan_block(r, &p, errmsg)) < 0) return rc;
      scan = 0; /* p is at what was found (parsed next), or the next block's start */
      if (rc == 0) continue;
      if (!found++) *at = p;
      if (!to_end) return 1;
      continue;
    }
    frag f;
    if ((rc = frag_at(r, &r->probe, p, &f, errmsg))) return rc;
    if (f.status == FRAG_EOF) break;
    if (f.status == FRAG_BAD) {
      scan = 1;
      p++;
      continue;
    }
    if (f.type == WAL_SYNCED) note_synced(r, f.payload);
    if (f.type == WAL_FULL || f.type == WAL_FIRST || f.type == WAL_SYNCED) {
      if ((rc = record_at(r, p, errmsg)) < 0) return rc;
      if (rc && !found++) *at = p;
      if (rc && !to_end) return 1;
    }
    p = f.next;
  }
  return found > 0;
}

/* Whether the bytes from off to the end of its block differ now from those reading parsed.
 * A writer appending to a live log (beside a read_only open) fills space that the reader
 * read as zeros a moment earlier, and the probe, reading later, then finds the records it
 * wrote: that is the end of what was there when read, not damage. A file no one writes
 * reads the same twice, so real damage stays damage. */
static int rewritten_since_read(wal_reader *r, uint64_t off) {
  uint64_t idx = off / WAL_BLOCK_SIZE;
  size_t in = (size_t)(off % WAL_BLOCK_SIZE);
  if (r->main.idx != idx || in >= r->main.n) return 0;
  blk now = {NO_BLOCK, 0, NULL};
  char ignored[ERRMSG_SIZE];
  int changed = load(r, &now, idx, ignored) == SHALE_OK && now.n == r->main.n &&
                memcmp(now.data + in, r->main.data + in, now.n - in) != 0;
  free(now.data);
  return changed;
}

/* Reading ended early at bad_off (the record being read started at r->last_good). Decides
 * torn tail vs corruption; returns 0 (end of records) or the strict-mode error. */
static int stop(wal_reader *r, uint64_t bad_off, int scan, const char *why, char *errmsg) {
  r->done = 1;
  uint64_t at = 0;
  int rc = probe(r, scan ? bad_off + 1 : bad_off, scan, r->unsynced_tail, &at, errmsg);
  if (rc < 0) return r->err = rc;
  r->dropped = 1;
  if (rc == 1 && rewritten_since_read(r, bad_off)) {
    snprintf(r->dropped_msg, sizeof r->dropped_msg,
             "file %s offset %llu: %s when read, written since: a live writer's record in "
             "flight; reading ends there",
             r->path, (unsigned long long)bad_off, why);
    return 0;
  }
  if (rc == 1 && r->unsynced_tail && r->synced <= r->last_good) {
    r->unordered = 1;
    snprintf(r->dropped_msg, sizeof r->dropped_msg,
             "file %s offset %llu: %s; unsynced tail of %llu bytes from offset %llu dropped "
             "(intact data at offset %llu follows, but no sync point covers the damage: pages "
             "written back out of order before a power loss)",
             r->path, (unsigned long long)bad_off, why,
             (unsigned long long)(r->size - r->last_good), (unsigned long long)r->last_good,
             (unsigned long long)at);
    return 0;
  }
  if (rc == 0) {
    r->zero_tail = !strncmp(why, WHY_ZEROS, sizeof WHY_ZEROS - 1) && bad_off == r->last_good;
    snprintf(r->dropped_msg, sizeof r->dropped_msg,
             "file %s offset %llu: %s; torn tail of %llu bytes from offset %llu dropped", r->path,
             (unsigned long long)bad_off, why, (unsigned long long)(r->size - r->last_good),
             (unsigned long long)r->last_good);
    return 0;
  }
  snprintf(r->dropped_msg, sizeof r->dropped_msg,
           "file %s offset %llu: %s, and an intact record follows at offset %llu", r->path,
           (unsigned long long)bad_off, why, (unsigned long long)at);
  if (r->tolerant == WAL_READ_TOLERANT) return 0;
  return r->err = err_corrupt(errmsg, "%s", r->dropped_msg);
}

/* Version 1 records carry no time. The file's birth time is before any record was added to
 * it, so it never makes a delete look younger than it is. mtime and ctime are not bounds:
 * they move with every append. Where the file system does not report a birth time, 0
 * ("unknown"). A log copied elsewhere has the copy's birth time; such a log is replayed
 * once, by the first open of a newer build, whose recovered memtable is flushed at once. */
static uint64_t old_log_time(const char *path) {
  struct statx st;
  if (statx(AT_FDCWD, path, 0, STATX_BTIME, &st) != 0 || !(st.stx_mask & STATX_BTIME) ||
      st.stx_btime.tv_sec < 0)
    return 0;
  return (uint64_t)st.stx_btime.tv_sec * 1000000u + st.stx_btime.tv_nsec / 1000u;
}

/* Hands a reassembled record to the caller, after its time stamp (version 2 on). */
static int deliver(wal_reader *r, const uint8_t *p, size_t n, const uint8_t **rec, size_t *len,
                   char *errmsg) {
  if (r->version >= 2 && n < WAL_RECORD_TIME_SIZE) { /* a writer bug, not a crash */
    r->done = 1;
    return r->err = err_corrupt(errmsg,
                                "file %s offset %llu: intact record of %zu bytes has no time "
                                "stamp",
                                r->path, (unsigned long long)r->last_good, n);
  }
  r->last_good = r->pos;
  r->time_us = r->v1_time_us;
  if (r->version >= 2) {
    r->time_us = get_fixed64(p);
    p += WAL_RECORD_TIME_SIZE;
    n -= WAL_RECORD_TIME_SIZE;
  }
  *rec = p;
  *len = n;
  return 1;
}

static int check_header(wal_reader *r, const frag *f, char *errmsg) {
  const uint8_t *p = f->payload;
  if (f->type != WAL_FILEHDR)
    return err_corrupt(errmsg, "file %s offset 0: no log file header (fragment type %u)", r->path,
                       f->type);
  if (f->len < 12 || memcmp(p, WAL_MAGIC, WAL_MAGIC_SIZE) != 0)
    return err_corrupt(errmsg, "file %s offset 0: bad magic, not a shale log file", r->path);
  uint32_t v = get_fixed32(p + 8);
  if (v > WAL_FORMAT_VERSION)
    return err_corrupt(errmsg,
                       "file %s offset 0: log format version %u is newer than this build "
                       "supports (%u); open it with a newer shale",
                       r->path, v, WAL_FORMAT_VERSION);
  if (v < WAL_FORMAT_VERSION_MIN)
    return err_corrupt(errmsg, "file %s offset 0: unknown log format version %u", r->path, v);
  if (f->len != WAL_FILEHDR_PAYLOAD)
    return err_corrupt(errmsg, "file %s offset 0: file header has %zu bytes, expected %d", r->path,
                       f->len, WAL_FILEHDR_PAYLOAD);
  r->log_number = get_fixed64(p + 12);
  r->version = v;
  if (v == 1) r->v1_time_us = old_log_time(r->path);
  r->pos = r->last_good = f->next;
  return SHALE_OK;
}

int wal_reader_open(io_ctx *io, const char *path, int tolerant, wal_reader **out, char *errmsg) {
  *out = NULL;
  wal_reader *r = calloc(1, sizeof *r);
  size_t plen = strlen(path) + 1;
  if (!r || !(r->path = malloc(plen))) {
    free(r);
    return err_set(errmsg, SHALE_NOMEM, "open wal %s: out of memory", path);
  }
  memcpy(r->path, path, plen);
  r->tolerant = tolerant & ~WAL_READ_UNSYNCED_TAIL;
  r->unsynced_tail = (tolerant & WAL_READ_UNSYNCED_TAIL) != 0;
  r->main.idx = r->probe.idx = r->follow.idx = NO_BLOCK;
  buf_init(&r->rec);
  int rc = io_reader_open(io, path, &r->f, errmsg);
  if (rc) goto fail;
  r->size = io_reader_size(r->f);
  if (r->size == 0) {
    r->done = 1; /* created, nothing written yet: an empty log */
    *out = r;
    return SHALE_OK;
  }
  frag f;
  if ((rc = frag_at(r, &r->main, 0, &f, errmsg))) goto fail;
  if (f.status == FRAG_BAD) {
    /* Cut short or never written (zeros): torn, an empty log unless records follow. Any
     * other damage means this is not, or no longer, a log we can trust. */
    static const uint8_t zero[WAL_HEADER_SIZE + WAL_FILEHDR_PAYLOAD];
    const size_t hsize = sizeof zero;
    if (r->size < hsize || memcmp(r->main.data, zero, hsize) == 0) {
      if ((rc = stop(r, 0, 1, f.why, errmsg))) goto fail;
    } else {
      rc = err_corrupt(errmsg, "file %s offset 0: damaged or missing log file header: %s", r->path,
                       f.why);
      goto fail;
    }
  } else if ((rc = check_header(r, &f, errmsg))) {
    goto fail;
  }
  *out = r;
  return SHALE_OK;
fail:
  wal_reader_close(r);
  return rc;
}

int wal_reader_next(wal_reader *r, const uint8_t **rec, size_t *len, char *errmsg) {
  *rec = NULL;
  *len = 0;
  if (r->err) return err_set(errmsg, r->err, "file %s: reading already failed", r->path);
  if (r->done) return 0;
  int in_rec = 0;
  buf_clear(&r->rec);
  for (;;) {
    uint64_t off = skip_trailer(r->pos);
    frag f;
    int rc = frag_at(r, &r->main, off, &f, errmsg);
    if (rc) return r->err = rc;
    if (f.status == FRAG_EOF) {
      if (!in_rec) {
        r->done = 1;
        return 0;
      }
      return stop(r, off, 0, "record has no last fragment before the end of file", errmsg);
    }
    if (f.status == FRAG_BAD) {
      char why[128];
      snprintf(why, sizeof why, "%s (length field %zu, type %u)", f.why, f.len, f.type);
      if (r->tolerant == WAL_READ_PARANOID && f.why == WHY_CHECKSUM) {
        r->done = 1;
        return r->err = err_corrupt(errmsg, "file %s offset %llu: %s", r->path,
                                    (unsigned long long)off, why);
      }
      return stop(r, off, 1, why, errmsg);
    }
    if (f.type == WAL_SYNCED && !in_rec) {
      note_synced(r, f.payload);
      r->pos = f.next;
      continue;
    }
    int first = f.type == WAL_FULL || f.type == WAL_FIRST;
    if (f.type == WAL_FILEHDR || f.type == WAL_SYNCED || first == in_rec) {
      char why[96];
      snprintf(why, sizeof why, "fragment of type %u %s", f.type,
               in_rec ? "where a record's next fragment should be" : "where a record should start");
      return stop(r, off, 0, why, errmsg);
    }
    r->pos = f.next;
    if (f.type == WAL_FULL) return deliver(r, f.payload, f.len, rec, len, errmsg);
    in_rec = 1;
    buf_append(&r->rec, f.payload, f.len);
    if (f.type == WAL_LAST) {
      if (!buf_ok(&r->rec))
        return r->err =
                   err_set(errmsg, SHALE_NOMEM, "read %s: out of memory for a record", r->path);
      return deliver(r, r->rec.data, r->rec.len, rec, len, errmsg);
    }
  }
}

uint64_t wal_reader_log_number(const wal_reader *r) { return r->log_number; }

uint64_t wal_reader_record_time(const wal_reader *r) { return r->time_us; }

uint64_t wal_reader_last_good_offset(const wal_reader *r) { return r->last_good; }

int wal_reader_tail_unordered(const wal_reader *r) { return r->unordered; }

const char *wal_reader_dropped(const wal_reader *r) { return r->dropped ? r->dropped_msg : NULL; }

int wal_reader_tail_unwritten(const wal_reader *r) { return r->dropped && r->zero_tail; }

void wal_reader_close(wal_reader *r) {
  if (!r) return;
  io_reader_close(r->f);
  free(r->main.data);
  free(r->probe.data);
  free(r->follow.data);
  buf_free(&r->rec);
  free(r->path);
  free(r);
}
