/* fuzz_api.c — random sequences of public API calls on a fresh DB, driven by the input bytes
 * and checked against an in-memory model: puts, deletes, range deletes, batches, gets,
 * iterators both ways and from a seek, snapshots, flushes, compactions and reopens. Keys
 * come from a small set (with 0x00 and 0xff bytes and prefixes of each other) so that
 * versions, tombstones and ordering edge cases pile up. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shale.h"
#include "util/ikey.h"

#define NK 32
#define VMAX 24
#define MAX_OPS 300

typedef struct model {
  int present[NK];
  size_t vlen[NK];
  uint8_t val[NK][VMAX];
} model;

static uint8_t keys[NK][3];
static size_t klens[NK];
static int order[NK]; /* key indexes in ukey order */

static void init_keys(void) {
  static const uint8_t alpha[4] = {0x00, 'a', 0xff, 'b'};
  static int done;
  if (done) return;
  done = 1;
  int n = 0;
  for (size_t len = 0; len <= 3 && n < NK; len++) { /* the empty key first */
    int combos = 1 << (2 * (int)len);
    for (int c = 0; c < combos && n < NK; c++, n++) {
      for (size_t j = 0; j < len; j++) keys[n][j] = alpha[(c >> (2 * j)) & 3];
      klens[n] = len;
    }
  }
  for (int i = 0; i < NK; i++) order[i] = i;
  for (int i = 1; i < NK; i++)
    for (int j = i; j > 0 && ukey_compare(keys[order[j - 1]], klens[order[j - 1]], keys[order[j]],
                                          klens[order[j]]) > 0;
         j--) {
      int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
}

typedef struct input {
  const uint8_t *p;
  size_t n, at;
} input;

static unsigned next(input *in) { return in->at < in->n ? in->p[in->at++] : 0; }

static shale_db *db;
static model m, snap_model;
static const shale_snapshot *snap;

static void open_db(unsigned flags) {
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = (flags & 1) ? 4096 : 64 << 10;
  o.compression = (flags & 2) ? SHALE_COMPRESSION_NONE : SHALE_COMPRESSION_ZSTD;
  o.bloom_bits_per_key = (flags & 4) ? 0 : 10;
  o.block_size = 256;
  o.level0_compaction_trigger = 2;
  o.max_bytes_for_level_base = 16 << 10;
  o.target_file_size = 8 << 10;
  int rc = shale_open(fuzz_path("db"), &o, &db);
  FUZZ_CHECK(rc == SHALE_OK, "open: %s: %s", shale_strerror(rc), shale_errmsg(NULL));
}

static void check_get(const shale_snapshot *s, const model *md, int k) {
  void *v;
  size_t vl;
  int rc = shale_get(db, s, keys[k], klens[k], &v, &vl);
  if (md->present[k]) {
    FUZZ_CHECK(rc == SHALE_OK, "get key %d: %s, expected a value", k, shale_strerror(rc));
    FUZZ_CHECK(vl == md->vlen[k] && (!vl || !memcmp(v, md->val[k], vl)), "get key %d: wrong value",
               k);
    shale_free(v);
  } else {
    FUZZ_CHECK(rc == SHALE_NOTFOUND, "get key %d: %s, expected not found", k, shale_strerror(rc));
  }
}

/* Positions of the model in ukey order from `from` (inclusive) in direction dir. */
static void check_iter(const shale_snapshot *s, const model *md, unsigned how, int from) {
  shale_iter *it;
  FUZZ_CHECK(shale_iter_new(db, s, &it) == SHALE_OK, "iter_new");
  int backward = how & 1, pos;
  if (how & 2) { /* seek to key order[from] */
    const int k = order[from];
    backward ? shale_iter_seek_for_prev(it, keys[k], klens[k])
             : shale_iter_seek(it, keys[k], klens[k]);
    pos = from;
  } else {
    backward ? shale_iter_seek_last(it) : shale_iter_seek_first(it);
    pos = backward ? NK - 1 : 0;
  }
  for (int steps = 0;; steps++) {
    while (pos >= 0 && pos < NK && !md->present[order[pos]]) pos += backward ? -1 : 1;
    if (pos < 0 || pos >= NK) {
      FUZZ_CHECK(!shale_iter_valid(it), "iterator valid past the model's last key (step %d)",
                 steps);
      break;
    }
    FUZZ_CHECK(shale_iter_valid(it), "iterator ended before key %d (step %d)", order[pos], steps);
    size_t kl, vl;
    const void *kp = shale_iter_key(it, &kl);
    const void *vp = shale_iter_value(it, &vl);
    int k = order[pos];
    FUZZ_CHECK(kl == klens[k] && !memcmp(kp, keys[k], kl), "iterator at a wrong key (want %d)", k);
    FUZZ_CHECK(vl == md->vlen[k] && (!vl || !memcmp(vp, md->val[k], vl)), "iterator: key %d value",
               k);
    backward ? shale_iter_prev(it) : shale_iter_next(it);
    pos += backward ? -1 : 1;
  }
  FUZZ_CHECK(shale_iter_status(it) == SHALE_OK, "iterator status");
  shale_iter_free(it);
}

static void value(input *in, uint8_t *v, size_t *vl) {
  *vl = next(in) % (VMAX + 1);
  for (size_t i = 0; i < *vl; i++) v[i] = (uint8_t)(next(in) ^ i);
}

/* One write (a point op, a range, or a batch of them); applies it to the model on success. */
static void write_op(input *in, unsigned op, unsigned flags) {
  if (op < 3) { /* put */
    int k = (int)(next(in) % NK);
    uint8_t v[VMAX];
    size_t vl;
    value(in, v, &vl);
    int rc = shale_put(db, keys[k], klens[k], v, vl, flags);
    FUZZ_CHECK(rc == SHALE_OK, "put: %s", shale_strerror(rc));
    m.present[k] = 1, m.vlen[k] = vl;
    memcpy(m.val[k], v, vl);
  } else if (op == 3) {
    int k = (int)(next(in) % NK);
    int rc = shale_delete(db, keys[k], klens[k], flags);
    FUZZ_CHECK(rc == SHALE_OK, "delete: %s", shale_strerror(rc));
    m.present[k] = 0;
  } else if (op == 4) {
    int a = (int)(next(in) % NK), b = (int)(next(in) % NK);
    if (a > b) a ^= b, b ^= a, a ^= b;
    int ka = order[a], kb = order[b];
    int rc = shale_delete_range(db, keys[ka], klens[ka], keys[kb], klens[kb], flags);
    FUZZ_CHECK(rc == SHALE_OK || (a == b && rc == SHALE_INVALID), "delete_range: %s",
               shale_strerror(rc));
    for (int i = a; i < b; i++) m.present[order[i]] = 0;
  } else { /* batch: applied to a copy of the model, kept only if the write succeeds */
    shale_batch *b;
    FUZZ_CHECK(shale_batch_new(&b) == SHALE_OK, "batch_new");
    model after = m;
    int n = 1 + (int)(next(in) % 6), rc = SHALE_OK;
    for (int i = 0; i < n && !rc; i++) {
      unsigned kind = next(in) % 3;
      int k = (int)(next(in) % NK);
      if (kind == 0) {
        uint8_t v[VMAX];
        size_t vl;
        value(in, v, &vl);
        rc = shale_batch_put(b, keys[k], klens[k], v, vl);
        after.present[k] = 1, after.vlen[k] = vl;
        memcpy(after.val[k], v, vl);
      } else if (kind == 1) {
        rc = shale_batch_delete(b, keys[k], klens[k]);
        after.present[k] = 0;
      } else {
        int a = (int)(next(in) % NK), z = (int)(next(in) % NK);
        if (a >= z) continue;
        rc = shale_batch_delete_range(b, keys[order[a]], klens[order[a]], keys[order[z]],
                                      klens[order[z]]);
        for (int j = a; j < z; j++) after.present[order[j]] = 0;
      }
    }
    FUZZ_CHECK(rc == SHALE_OK, "batch build: %s", shale_strerror(rc));
    rc = shale_write(db, b, flags);
    FUZZ_CHECK(rc == SHALE_OK, "write: %s", shale_strerror(rc));
    m = after;
    shale_batch_free(b);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_keys();
  input in = {data, size, 0};
  fuzz_rmrf(fuzz_path("db"));
  memset(&m, 0, sizeof m);
  unsigned oflags = next(&in);
  open_db(oflags);
  int reopens = 0, flushes = 0;
  for (int ops = 0; ops < MAX_OPS && in.at < in.n; ops++) {
    unsigned b = next(&in), op = b % 16, flags = (b & 0xf0) == 0xf0 ? SHALE_SYNC : 0;
    if (op < 6) {
      write_op(&in, op, flags);
    } else if (op < 8) {
      check_get(NULL, &m, (int)(next(&in) % NK));
    } else if (op < 10) {
      check_iter(NULL, &m, next(&in), (int)(next(&in) % NK));
    } else if (op == 10) {
      if (flushes++ < 4) FUZZ_CHECK(shale_flush(db) == SHALE_OK, "flush: %s", shale_errmsg(db));
    } else if (op == 11) {
      if (flushes++ < 4) {
        int rc = shale_compact_range(db, NULL, 0, NULL, 0);
        FUZZ_CHECK(rc == SHALE_OK || rc == SHALE_NOTSUP, "compact_range: %s", shale_errmsg(db));
      }
    } else if (op == 12) {
      if (reopens++ < 2 && !snap) {
        FUZZ_CHECK(shale_close(db) == SHALE_OK, "close");
        open_db(oflags);
      }
    } else if (op == 13) {
      if (!snap) {
        FUZZ_CHECK(shale_snapshot_new(db, &snap) == SHALE_OK, "snapshot_new");
        snap_model = m;
      } else {
        for (int k = 0; k < NK; k++) check_get(snap, &snap_model, k);
        check_iter(snap, &snap_model, next(&in), (int)(next(&in) % NK));
        shale_snapshot_free(db, snap);
        snap = NULL;
      }
    } else {
      check_iter(snap, snap ? &snap_model : &m, next(&in), (int)(next(&in) % NK));
    }
  }
  for (int k = 0; k < NK; k++) check_get(NULL, &m, k);
  check_iter(NULL, &m, 0, 0);
  if (snap) shale_snapshot_free(db, snap);
  snap = NULL;
  FUZZ_CHECK(shale_close(db) == SHALE_OK, "close");
  db = NULL;
  fuzz_rmrf(fuzz_path("db"));
  return 0;
}
