/* block.c — building and iterating prefix-compressed key/value blocks; see block.h.
 * Every decode is bounds-checked: a block that passed its checksum can still be hostile
 * (a checksum collision or a bug), and must give SHALE_CORRUPTION, never a read past it. */
#include "sstable/block.h"

#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/coding.h"
#include "util/ikey.h"

/* ---------------- builder ---------------- */

void blk_builder_init(blk_builder *b, int interval) {
  buf_init(&b->data);
  buf_init(&b->restarts);
  buf_init(&b->last_key);
  b->interval = interval < 1 ? 1 : interval;
  b->counter = 0;
  b->entries = 0;
}

void blk_builder_free(blk_builder *b) {
  buf_free(&b->data);
  buf_free(&b->restarts);
  buf_free(&b->last_key);
}

void blk_builder_reset(blk_builder *b) {
  buf_clear(&b->data);
  buf_clear(&b->restarts);
  b->counter = 0;
  b->entries = 0;
}

int blk_builder_add(blk_builder *b, const uint8_t *key, size_t klen, const void *val, size_t vlen) {
  size_t shared = 0;
  if (b->counter >= b->interval || b->entries == 0) {
    buf_append_fixed32(&b->restarts, (uint32_t)b->data.len);
    b->counter = 0;
  } else {
    size_t n = klen < b->last_key.len ? klen : b->last_key.len;
    while (shared < n && b->last_key.data[shared] == key[shared]) shared++;
  }
  buf_append_varint(&b->data, shared);
  buf_append_varint(&b->data, klen - shared);
  buf_append_varint(&b->data, vlen);
  buf_append(&b->data, key + shared, klen - shared);
  buf_append(&b->data, val, vlen);
  b->last_key.len = shared <= b->last_key.len ? shared : b->last_key.len;
  buf_append(&b->last_key, key + shared, klen - shared);
  b->counter++;
  b->entries++;
  return buf_ok(&b->data) && buf_ok(&b->restarts) && buf_ok(&b->last_key) ? SHALE_OK : SHALE_NOMEM;
}

size_t blk_builder_estimate(const blk_builder *b) { return b->data.len + b->restarts.len + 4; }

int blk_builder_finish(blk_builder *b) {
  buf_append(&b->data, b->restarts.data, b->restarts.len);
  buf_append_fixed32(&b->data, (uint32_t)(b->restarts.len / 4));
  return buf_ok(&b->data) ? SHALE_OK : SHALE_NOMEM;
}

/* ---------------- iterator ---------------- */

void blk_iter_init(blk_iter *it) {
  memset(it, 0, offsetof(blk_iter, small));
  it->key = it->small;
  it->kcap = sizeof it->small;
}

void blk_iter_free(blk_iter *it) {
  if (it->key != it->small) free(it->key);
  it->key = it->small;
  it->kcap = sizeof it->small;
}

static void set_err(blk_iter *it, int err) {
  it->err = err;
  it->valid = 0;
  it->cur = it->next_off = it->restarts;
}

static uint32_t restart_at(blk_iter *it, uint32_t i) {
  uint32_t off = get_fixed32(it->data + it->restarts + (size_t)i * 4);
  return off;
}

/* Sets the restart interval that holds cur, and where the next one starts. */
static void set_ridx(blk_iter *it, uint32_t i) {
  it->ridx = i;
  it->next_restart = i + 1 < it->nrestarts ? restart_at(it, i + 1) : UINT32_MAX;
}

int blk_iter_reset(blk_iter *it, const uint8_t *data, size_t len) {
  it->data = data;
  it->valid = 0;
  it->err = 0;
  it->klen = 0;
  it->ridx = 0;
  if (len < 4 || len > UINT32_MAX) goto bad;
  uint32_t n = get_fixed32(data + len - 4);
  if (n > (len - 4) / 4) goto bad;
  it->nrestarts = n;
  it->restarts = (uint32_t)(len - 4 - (size_t)n * 4);
  if (n == 0 && it->restarts != 0) goto bad; /* entries but no restart: unreachable */
  it->cur = it->next_off = it->restarts;
  set_ridx(it, 0);
  return 0;
bad:
  it->nrestarts = 0;
  it->restarts = 0;
  it->next_restart = UINT32_MAX;
  set_err(it, SHALE_CORRUPTION);
  return SHALE_CORRUPTION;
}

/* Room for a key of at least `need` bytes, keeping the current key (doubling, so that a
 * block of growing keys reallocates a few times, not per entry). 0, or -1 out of memory. */
static int grow_key(blk_iter *it, size_t need) {
  if (need <= it->kcap) return 0;
  size_t cap = it->kcap * 2 > need ? it->kcap * 2 : need;
  uint8_t *k = it->key == it->small ? malloc(cap) : realloc(it->key, cap);
  if (!k) return -1;
  if (it->key == it->small) memcpy(k, it->small, it->klen);
  it->key = k;
  it->kcap = cap;
  return 0;
}

/* Makes the entry at off, whose key is already in it->key, the current one. */
static inline void show_entry(blk_iter *it, uint32_t off, size_t klen, const uint8_t *val,
                              uint32_t vlen) {
  it->klen = klen;
  it->val = val;
  it->vlen = vlen;
  it->cur = off;
  it->next_off = (uint32_t)(val + vlen - it->data);
  it->valid = 1;
}

/* Decodes the entry at `off` into key/val; returns 0 or sets err. Every shape of entry, and
 * every check: out of line, so that the common one below stays small. */
static __attribute__((noinline)) int decode_any(blk_iter *it, uint32_t off) {
  const uint8_t *p = it->data + off, *lim = it->data + it->restarts;
  uint32_t shared, nonshared, vlen;
  if (off >= it->restarts) goto bad;
  if (lim - p >= 3 && (p[0] | p[1] | p[2]) < 0x80) { /* the common one-byte case */
    shared = p[0];
    nonshared = p[1];
    vlen = p[2];
    p += 3;
  } else {
    if (!(p = get_varint32(p, lim, &shared)) || !(p = get_varint32(p, lim, &nonshared)) ||
        !(p = get_varint32(p, lim, &vlen)))
      goto bad;
  }
  if (shared > it->klen || (size_t)(lim - p) < (size_t)nonshared + vlen) goto bad;
  size_t klen = (size_t)shared + nonshared;
  if (klen < IKEY_TRAILER) goto bad;
  if (grow_key(it, klen)) {
    set_err(it, SHALE_NOMEM);
    return -1;
  }
  if (nonshared <= 16 && lim - p >= 16 && shared + 16 <= it->kcap)
    memcpy(it->key + shared, p, 16); /* a fixed-size copy is two moves, not a call */
  else
    memcpy(it->key + shared, p, nonshared);
  show_entry(it, off, klen, p + nonshared, vlen);
  return 0;
bad:
  set_err(it, SHALE_CORRUPTION);
  return -1;
}

/* Key deltas up to this long are copied with one fixed-size copy (a few vector moves, no
 * call): it covers the delta of most keys a block holds after the shared prefix. */
#define FAST_DELTA 32

/* decode_any for the entry most blocks hold: one-byte lengths, a key delta of at most
 * FAST_DELTA bytes, and room for the key; anything else goes the long way. */
static inline int decode_at(blk_iter *it, uint32_t off) {
  const uint8_t *p = it->data + off, *lim = it->data + it->restarts;
  if (off >= it->restarts || lim - p < 3 + FAST_DELTA || (p[0] | p[1] | p[2]) >= 0x80)
    return decode_any(it, off);
  uint32_t shared = p[0], nonshared = p[1], vlen = p[2];
  size_t klen = (size_t)shared + nonshared;
  if (shared > it->klen || nonshared > FAST_DELTA || shared + FAST_DELTA > it->kcap ||
      klen < IKEY_TRAILER || (size_t)(lim - p) - 3 < (size_t)nonshared + vlen)
    return decode_any(it, off);
  memcpy(it->key + shared, p + 3, FAST_DELTA); /* bytes past the key are never read */
  show_entry(it, off, klen, p + 3 + nonshared, vlen);
  return 0;
}

/* Positions before the first entry of restart interval i (the next decode starts there). */
static int to_restart(blk_iter *it, uint32_t i) {
  uint32_t off = restart_at(it, i);
  if (off >= it->restarts) {
    set_err(it, SHALE_CORRUPTION);
    return -1;
  }
  set_ridx(it, i);
  it->klen = 0; /* restart entries share nothing */
  it->next_off = off;
  return 0;
}

void blk_iter_next(blk_iter *it) {
  if (it->err) return;
  uint32_t off = it->next_off;
  if (off >= it->restarts) {
    it->valid = 0;
    it->cur = it->restarts;
    return;
  }
  if (decode_at(it, off)) return;
  while (off >= it->next_restart) set_ridx(it, it->ridx + 1);
}

void blk_iter_seek_first(blk_iter *it) {
  if (it->err) return;
  if (it->nrestarts == 0) {
    it->valid = 0;
    return;
  }
  if (to_restart(it, 0)) return;
  blk_iter_next(it);
}

/* Scans forward from the current restart until the entry that ends at `end`. */
static void scan_to(blk_iter *it, uint32_t end) {
  do {
    blk_iter_next(it);
  } while (it->valid && it->next_off < end);
}

void blk_iter_seek_last(blk_iter *it) {
  if (it->err) return;
  if (it->nrestarts == 0) {
    it->valid = 0;
    return;
  }
  if (to_restart(it, it->nrestarts - 1)) return;
  scan_to(it, it->restarts);
}

void blk_iter_prev(blk_iter *it) {
  if (it->err || !it->valid) return;
  uint32_t orig = it->cur;
  uint32_t r = it->ridx;
  while (restart_at(it, r) >= orig) {
    if (r == 0) {
      it->valid = 0;
      it->cur = it->next_off = it->restarts;
      return;
    }
    r--;
  }
  if (to_restart(it, r)) return;
  scan_to(it, orig);
}

/* The restart interval holding the entry at off: the last restart at or before it. */
static uint32_t restart_of(blk_iter *it, uint32_t off) {
  uint32_t lo = 0, hi = it->nrestarts - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (restart_at(it, mid) <= off)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

int blk_iter_seek_from(blk_iter *it, uint32_t off, const uint8_t *key, size_t klen,
                       const void *ukey, size_t uklen, uint64_t trailer) {
  if (it->err || it->nrestarts == 0 || off >= it->restarts) return -1;
  const uint8_t *p = it->data + off, *lim = it->data + it->restarts;
  uint32_t shared, nonshared, vlen;
  if (!(p = get_varint32(p, lim, &shared)) || !(p = get_varint32(p, lim, &nonshared)) ||
      !(p = get_varint32(p, lim, &vlen)) || (size_t)shared + nonshared != klen ||
      klen < IKEY_TRAILER || (size_t)(lim - p) < (size_t)nonshared + vlen ||
      memcmp(p, key + shared, nonshared) != 0 || grow_key(it, klen + FAST_DELTA))
    return -1; /* not an entry whose key ends as key does: the caller seeks the usual way */
  memcpy(it->key, key, klen); /* with room past it for decode_at's fixed-size copy */
  show_entry(it, off, klen, p + nonshared, vlen);
  set_ridx(it, restart_of(it, off));
  while (it->valid && ikey_compare_parts(it->cmp, it->key, it->klen, ukey, uklen, trailer) < 0)
    blk_iter_next(it);
  return 0;
}

void blk_iter_seek(blk_iter *it, const void *ukey, size_t uklen, uint64_t trailer) {
  if (it->err) return;
  if (it->nrestarts == 0) {
    it->valid = 0;
    return;
  }
  /* last restart whose (whole) key < target */
  uint32_t lo = 0, hi = it->nrestarts - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    uint32_t off = restart_at(it, mid);
    const uint8_t *p = it->data + off, *lim = it->data + it->restarts;
    uint32_t shared, nonshared, vlen;
    if (off >= it->restarts || !(p = get_varint32(p, lim, &shared)) ||
        !(p = get_varint32(p, lim, &nonshared)) || !(p = get_varint32(p, lim, &vlen)) ||
        shared != 0 || nonshared < IKEY_TRAILER || (size_t)(lim - p) < nonshared) {
      set_err(it, SHALE_CORRUPTION);
      return;
    }
    if (ikey_compare_parts(it->cmp, p, nonshared, ukey, uklen, trailer) < 0)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (to_restart(it, lo)) return;
  for (;;) {
    blk_iter_next(it);
    if (!it->valid) return;
    if (ikey_compare_parts(it->cmp, it->key, it->klen, ukey, uklen, trailer) >= 0) return;
  }
}
