/* span_store.c — the SPANS file: dead spans kept across a clean close; see span_store.h. */
#include "engine/span_store.h"

#include <string.h>

#include "engine/db_impl.h"
#include "engine/db_log.h"
#include "engine/filename.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/coding.h"

#define SPANS_NAME "SPANS"
/* "shaleSPN" read as a little-endian u64. */
#define SPANS_MAGIC UINT64_C(0x4e5053656c616873)
#define SPANS_VERSION 1u
/* magic 8, version 4, manifest 8, last_seq 8, count 4 */
#define SPANS_HEADER 32u
#define SPAN_LO_INF 1u
#define SPAN_HI_INF 2u

static void encode_bound(buf *b, span_bound k) {
  if (k.inf) return;
  buf_append_varint(b, k.len);
  buf_append(b, k.key, k.len);
}

static void encode(buf *b, const span_set *set, uint64_t manifest, uint64_t last_seq) {
  buf_append_fixed64(b, SPANS_MAGIC);
  buf_append_fixed32(b, SPANS_VERSION);
  buf_append_fixed64(b, manifest);
  buf_append_fixed64(b, last_seq);
  buf_append_fixed32(b, (uint32_t)set->n);
  for (size_t i = 0; i < set->n; i++) {
    const dead_span *s = set->s[i];
    buf_append_byte(b, (uint8_t)((s->lo.inf ? SPAN_LO_INF : 0) | (s->hi.inf ? SPAN_HI_INF : 0)));
    encode_bound(b, s->lo);
    encode_bound(b, s->hi);
    buf_append_fixed64(b, s->min_seq);
    buf_append_fixed64(b, s->weight);
  }
  buf_append_fixed32(b, checksum32(b->data, b->len));
}

int span_store_remove(io_ctx *io, const char *dir, char *errmsg) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, dir, SPANS_NAME);
  return io_remove(io, path, errmsg);
}

/* At open and close no write runs, so the value holds after mu is let go. */
static uint64_t allocated_seq(shale_db *db) SH_EXCLUDES(db->mu) {
  sh_mutex_lock(&db->mu);
  uint64_t seq = db_mu_held(db)->last_allocated_seq;
  sh_mutex_unlock(&db->mu);
  return seq;
}

static void remove_stale(shale_db *db) { span_store_remove(&db->io, db->path, NULL); }

void span_store_save(shale_db *db) {
  /* Spans order keys bytewise; under a comparator none are made. */
  span_set *set = db->cmp ? NULL : dead_spans_acquire(&db->spans);
  if (!set) {
    remove_stale(db);
    return;
  }
  buf b;
  buf_init(&b);
  encode(&b, set, db->vset.manifest_number, allocated_seq(db));
  char msg[ERRMSG_SIZE];
  if (!buf_ok(&b))
    db_log(db, "SPANS not written: out of memory");
  else if (io_write_file_atomic(&db->io, db->path, SPANS_NAME, b.data, b.len, msg))
    db_log(db, "SPANS not written: %s", msg);
  else
    db_log(db, "SPANS: %zu dead span(s) kept for the next open", set->n);
  buf_free(&b);
  span_set_release(set);
}

static const uint8_t *decode_bound(const uint8_t *p, const uint8_t *end, int inf, span_bound *k) {
  memset(k, 0, sizeof *k);
  k->inf = inf;
  if (inf) return p;
  uint32_t len;
  if (!(p = get_varint32(p, end, &len)) || len > (size_t)(end - p)) return NULL;
  k->key = p;
  k->len = len;
  return p + len;
}

/* Adds the file's spans; returns how many, or 0 when the file does not fit the state. */
static uint64_t take_back(shale_db *db, const uint8_t *p, size_t len, uint64_t manifest) {
  uint64_t allocated = allocated_seq(db);
  if (len < SPANS_HEADER + 4 || checksum32(p, len - 4) != get_fixed32(p + len - 4) ||
      get_fixed64(p) != SPANS_MAGIC || get_fixed32(p + 8) != SPANS_VERSION ||
      get_fixed64(p + 12) != manifest || get_fixed64(p + 20) != allocated)
    return 0;
  uint32_t n = get_fixed32(p + 28);
  const uint8_t *q = p + SPANS_HEADER, *end = p + len - 4;
  uint64_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    span_bound lo, hi;
    if (q >= end) break;
    unsigned flags = *q++;
    if (!(q = decode_bound(q, end, flags & SPAN_LO_INF, &lo)) ||
        !(q = decode_bound(q, end, flags & SPAN_HI_INF, &hi)) || end - q < 16)
      break;
    uint64_t min_seq = get_fixed64(q), weight = get_fixed64(q + 8);
    q += 16;
    /* Every read of this process is at last_allocated_seq or later, and no write has a
     * later sequence yet: the span holds for all of them, as it did at the close. */
    if (min_seq <= allocated && dead_spans_add(&db->spans, lo, hi, min_seq, weight, allocated) == 1)
      kept++;
  }
  return kept;
}

uint64_t span_store_load(shale_db *db, uint64_t manifest) {
  char path[FILENAME_MAX_LEN];
  filename_join(path, db->path, SPANS_NAME);
  buf b;
  buf_init(&b);
  uint64_t kept = 0;
  char msg[ERRMSG_SIZE];
  if (!db->cmp && manifest && !io_read_file(&db->io, path, &b, msg))
    kept = take_back(db, b.data, b.len, manifest);
  if (b.len) db_log(db, "SPANS: %llu dead span(s) taken back", (unsigned long long)kept);
  buf_free(&b);
  if (!db->opt.read_only) span_store_remove(&db->io, db->path, NULL);
  return kept;
}
