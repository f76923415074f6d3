/* version_edit.c — encoding and decoding of version edits; see version_edit.h. */
#include "engine/version_edit.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/ikey.h"

void edit_init(version_edit *e) { memset(e, 0, sizeof *e); }

void edit_free(version_edit *e) {
  for (int i = 0; i < e->nadded; i++) file_meta_unref(e->added[i].f);
  free(e->added);
  free(e->deleted);
  edit_init(e);
}

int edit_add_file(version_edit *e, int level, file_meta *f) {
  if (e->nadded == e->cap_added) {
    int cap = e->cap_added ? e->cap_added * 2 : 4;
    edit_file *p = realloc(e->added, sizeof *p * (size_t)cap);
    if (!p) return SHALE_NOMEM;
    e->added = p;
    e->cap_added = cap;
  }
  file_meta_ref(f);
  e->added[e->nadded++] = (edit_file){level, f};
  return SHALE_OK;
}

int edit_delete_file(version_edit *e, int level, uint64_t number) {
  if (e->ndeleted == e->cap_deleted) {
    int cap = e->cap_deleted ? e->cap_deleted * 2 : 4;
    edit_del *p = realloc(e->deleted, sizeof *p * (size_t)cap);
    if (!p) return SHALE_NOMEM;
    e->deleted = p;
    e->cap_deleted = cap;
  }
  e->deleted[e->ndeleted++] = (edit_del){level, number};
  return SHALE_OK;
}

/* The per-file fields after level and number, in order; the doc lists them the same way. */
#define FILE_U64_FIELDS(X) \
  X(file_size)             \
  X(entries)               \
  X(point_tombstones)      \
  X(range_tombstones)      \
  X(min_seq)               \
  X(max_seq) X(min_tomb_seq) X(max_tomb_seq) X(oldest_tomb_us) X(newest_tomb_us) X(raw_bytes)

static void encode_file(buf *out, const edit_file *a) {
  const file_meta *f = a->f;
  buf_append_varint(out, TAG_NEW_FILE);
  buf_append_varint(out, (uint64_t)a->level);
  buf_append_varint(out, f->number);
#define ENC(name) buf_append_varint(out, f->name);
  FILE_U64_FIELDS(ENC)
#undef ENC
  buf_append_slice(out, f->smallest.data, f->smallest.len);
  buf_append_slice(out, f->largest.data, f->largest.len);
}

void edit_encode(const version_edit *e, buf *out) {
  if (e->has_format) {
    buf_append_varint(out, TAG_FORMAT_VERSION);
    buf_append_varint(out, e->format_version);
  }
  if (e->has_comparator) {
    buf_append_varint(out, TAG_COMPARATOR);
    buf_append_slice(out, e->comparator, strlen(e->comparator));
  }
  if (e->has_log) {
    buf_append_varint(out, TAG_LOG_NUMBER);
    buf_append_varint(out, e->log_number);
  }
  if (e->has_next_file) {
    buf_append_varint(out, TAG_NEXT_FILE);
    buf_append_varint(out, e->next_file);
  }
  if (e->has_last_seq) {
    buf_append_varint(out, TAG_LAST_SEQ);
    buf_append_varint(out, e->last_seq);
  }
  for (int i = 0; i < e->ndeleted; i++) {
    buf_append_varint(out, TAG_DELETED_FILE);
    buf_append_varint(out, (uint64_t)e->deleted[i].level);
    buf_append_varint(out, e->deleted[i].number);
  }
  for (int i = 0; i < e->nadded; i++) encode_file(out, &e->added[i]);
}

static const uint8_t *get_level(const uint8_t *p, const uint8_t *end, int *level) {
  uint64_t l;
  if (!(p = get_varint64(p, end, &l)) || l >= NUM_LEVELS) return NULL;
  *level = (int)l;
  return p;
}

static const uint8_t *get_key(const uint8_t *p, const uint8_t *end, buf *key) {
  uint64_t n;
  if (!(p = get_varint64(p, end, &n)) || n > (uint64_t)(end - p) || n < IKEY_TRAILER) return NULL;
  buf_clear(key);
  buf_append(key, p, n);
  return buf_ok(key) ? p + n : NULL;
}

static const uint8_t *decode_file(version_edit *e, const uint8_t *p, const uint8_t *end) {
  int level;
  file_meta *f = file_meta_new();
  if (!f || !(p = get_level(p, end, &level)) || !(p = get_varint64(p, end, &f->number))) goto bad;
#define DEC(name) \
  if (!(p = get_varint64(p, end, &f->name))) goto bad;
  FILE_U64_FIELDS(DEC)
#undef DEC
  if (!(p = get_key(p, end, &f->smallest)) || !(p = get_key(p, end, &f->largest))) goto bad;
  if (edit_add_file(e, level, f)) goto bad;
  file_meta_unref(f);
  return p;
bad:
  if (f) file_meta_unref(f);
  return NULL;
}

/* A name of 1 to COMPARATOR_NAME_MAX bytes without a NUL. */
static const uint8_t *decode_comparator(version_edit *e, const uint8_t *p, const uint8_t *end) {
  uint64_t n;
  if (!(p = get_varint64(p, end, &n)) || n == 0 || n > COMPARATOR_NAME_MAX ||
      n > (uint64_t)(end - p) || memchr(p, 0, n))
    return NULL;
  memcpy(e->comparator, p, n);
  e->comparator[n] = 0;
  e->has_comparator = 1;
  return p + n;
}

int edit_decode(version_edit *e, const uint8_t *p, size_t len, char *errmsg) {
  const uint8_t *end = len ? p + len : p; /* an empty record may come as NULL: no NULL + 0 */
  uint64_t tag, v;
  while (p < end) {
    const uint8_t *at = p;
    if (!(p = get_varint64(p, end, &tag))) break;
    switch (tag) {
      case TAG_FORMAT_VERSION:
        if ((p = get_varint64(p, end, &v))) e->has_format = 1, e->format_version = (uint32_t)v;
        break;
      case TAG_LOG_NUMBER:
        if ((p = get_varint64(p, end, &e->log_number))) e->has_log = 1;
        break;
      case TAG_NEXT_FILE:
        if ((p = get_varint64(p, end, &e->next_file))) e->has_next_file = 1;
        break;
      case TAG_LAST_SEQ:
        if ((p = get_varint64(p, end, &e->last_seq))) e->has_last_seq = 1;
        break;
      case TAG_DELETED_FILE: {
        int level;
        if ((p = get_level(p, end, &level)) && (p = get_varint64(p, end, &v)) &&
            edit_delete_file(e, level, v))
          p = NULL;
        break;
      }
      case TAG_NEW_FILE:
        p = decode_file(e, p, end);
        break;
      case TAG_COMPARATOR:
        p = decode_comparator(e, p, end);
        break;
      default:
        return err_corrupt(errmsg, "unknown version edit tag %llu", (unsigned long long)tag);
    }
    if (!p)
      return err_corrupt(errmsg, "malformed version edit field at byte %zu",
                         (size_t)(at - (end - len)));
  }
  if (p != end) return err_corrupt(errmsg, "malformed version edit tag");
  return SHALE_OK;
}
