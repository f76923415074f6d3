/* span_warmup.c — the walk after open that rebuilds dead spans; see span_warmup.h. */
#include "engine/span_warmup.h"

#include <stdlib.h>
#include <string.h>

#include "engine/db_impl.h"
#include "engine/version.h"
#include "engine/view_cache.h"
#include "sstable/sst_reader.h"
#include "util/ikey.h"

/* Consecutive tombstones in a memtable that make its run worth walking: below this, a
 * reader's own walk costs little. The write path walks its runs of ordered deletes at the
 * same length (engine/write.c). */
#define MEM_RUN_MIN 64
/* A table block is dense with tombstones when it holds at least this many, and at least
 * three quarters of the table's average entries per block (a block of only tombstones
 * holds more entries than one of values, so it passes; deletes scattered among live keys
 * do not, and walking them would read the live keys for nothing). */
#define BLOCK_TOMBS_MIN 16
/* The walk is an optimization: past this many ranges the rest are left to readers. */
#define RANGES_MAX 65536
/* How often the walk looks at the stop flag, in iterator steps. */
#define STOP_CHECK_STEPS 256

typedef struct warm_range {
  uint8_t *lo, *hi; /* user keys; the range is [lo, hi] */
  size_t lolen, hilen;
} warm_range;

typedef struct warm_ranges {
  warm_range *r;
  size_t n, cap;
} warm_ranges;

static int stopped(shale_db *db) {
  return atomic_load_explicit(&db->warmup.stop, memory_order_relaxed);
}

static uint8_t *dup_key(const uint8_t *k, size_t len) {
  uint8_t *d = malloc(len ? len : 1);
  if (d && len) memcpy(d, k, len);
  return d;
}

/* Adds [lo, hi]; returns 0 when the collection should stop (full or out of memory). */
static int ranges_add(warm_ranges *rs, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                      size_t hilen) {
  if (rs->n == RANGES_MAX) return 0;
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 16;
    warm_range *p = realloc(rs->r, cap * sizeof *p);
    if (!p) return 0;
    rs->r = p;
    rs->cap = cap;
  }
  warm_range *w = &rs->r[rs->n];
  w->lo = dup_key(lo, lolen);
  w->hi = dup_key(hi, hilen);
  if (!w->lo || !w->hi) {
    free(w->lo);
    free(w->hi);
    return 0;
  }
  w->lolen = lolen;
  w->hilen = hilen;
  rs->n++;
  return 1;
}

static void ranges_free(warm_ranges *rs) {
  for (size_t i = 0; i < rs->n; i++) {
    free(rs->r[i].lo);
    free(rs->r[i].hi);
  }
  free(rs->r);
}

/* ---- where deletes are dense ---- */

/* Runs of at least MEM_RUN_MIN user keys whose newest entry in m is a point tombstone, with
 * no live entry between them. Older versions of a key already seen are skipped: a delete
 * above a put of the same key in one memtable still leaves the key dead. */
static int collect_memtable(shale_db *db, memtable *m, warm_ranges *rs) {
  memtable_stats st;
  memtable_get_stats(m, &st);
  if (st.tombstones < MEM_RUN_MIN || st.min_tomb_seq > db->warmup.open_seq) return 1;
  memtable_iter it;
  memtable_iter_init(&it, m);
  const uint8_t *prev = NULL, *first = NULL, *last = NULL;
  size_t prevlen = 0, firstlen = 0, lastlen = 0, run = 0;
  int more = 1;
  for (memtable_iter_seek_first(&it); more && memtable_iter_valid(&it) && !stopped(db);
       memtable_iter_next(&it)) {
    size_t ilen;
    const uint8_t *k = memtable_iter_key(&it, &ilen);
    size_t ul = ilen - IKEY_TRAILER;
    uint64_t trailer = get_fixed64(k + ul);
    if (ikey_seq(trailer) > db->warmup.open_seq) continue; /* written after the open */
    if (prev && ukey_compare(k, ul, prev, prevlen) == 0) continue;
    prev = k;
    prevlen = ul;
    if (ikey_kind(trailer) == KIND_DEL) {
      if (!run++) first = k, firstlen = ul;
      last = k, lastlen = ul;
      continue;
    }
    if (run >= MEM_RUN_MIN) more = ranges_add(rs, first, firstlen, last, lastlen);
    run = 0;
  }
  if (more && run >= MEM_RUN_MIN) more = ranges_add(rs, first, firstlen, last, lastlen);
  return more;
}

/* Runs of consecutive dense blocks (see BLOCK_TOMBS_MIN), each from the last key of the
 * block before it (or the table's smallest) to the last key of its own last block. */
static int collect_blocks(sst_reader *r, const file_meta *f, warm_ranges *rs) {
  uint64_t counts[256];
  size_t nblocks = 0, got;
  while ((got = sst_reader_block_tombstones(r, nblocks, counts, 256)) > 0) nblocks += got;
  if (!nblocks) return 1;
  uint64_t avg = f->entries / nblocks;
  size_t run_from = SIZE_MAX;
  int more = 1;
  for (size_t b = 0; more && b <= nblocks; b += got) {
    got = b < nblocks ? sst_reader_block_tombstones(r, b, counts, 256) : 1;
    for (size_t j = 0; more && j < got; j++) {
      size_t blk = b + j;
      int dense = blk < nblocks && counts[j] >= BLOCK_TOMBS_MIN && counts[j] * 4 >= avg * 3;
      if (dense && run_from == SIZE_MAX) run_from = blk;
      if (dense || run_from == SIZE_MAX) continue;
      size_t lolen, hilen;
      const uint8_t *lo =
          run_from ? sst_reader_block_last_key(r, run_from - 1, &lolen) : f->smallest.data;
      if (!run_from) lolen = f->smallest.len;
      const uint8_t *hi = sst_reader_block_last_key(r, blk - 1, &hilen);
      more = ranges_add(rs, lo, lolen - IKEY_TRAILER, hi, hilen - IKEY_TRAILER);
      run_from = SIZE_MAX;
    }
  }
  return more;
}

static int collect_table(shale_db *db, const file_meta *f, warm_ranges *rs) {
  if (f->point_tombstones < BLOCK_TOMBS_MIN) return 1;
  sst_reader *r;
  char errmsg[ERRMSG_SIZE];
  if (table_cache_get(db->tcache, f->number, &r, errmsg)) return 1; /* readers will report it */
  int more = collect_blocks(r, f, rs);
  table_cache_release(db->tcache, r);
  return more;
}

static void collect(shale_db *db, warm_ranges *rs) {
  read_view *v = db->warmup.view;
  int more = collect_memtable(db, v->mem, rs);
  memtable *m = v->imm;
  for (int i = 0; more && i < v->imm_count; i++, m = memtable_next(m))
    more = collect_memtable(db, m, rs);
  for (int l = 0; more && v->ver && l < NUM_LEVELS; l++)
    for (int i = 0; more && i < v->ver->nfiles[l] && !stopped(db); i++)
      more = collect_table(db, v->ver->files[l][i], rs);
}

/* ---- the walk ---- */

static void walk_range(shale_db *db, const warm_range *w) {
  uint8_t *end = malloc(w->hilen + 1);
  if (!end) return;
  memcpy(end, w->hi, w->hilen);
  end[w->hilen] = 0; /* just above hi: hi itself is walked */
  shale_read_options ro;
  shale_read_options_init(&ro);
  ro.lower_bound = w->lo;
  ro.lower_bound_len = w->lolen;
  ro.upper_bound = end;
  ro.upper_bound_len = w->hilen + 1;
  ro.fill_cache = 0; /* a one-off walk: leave the cache to the reads that repeat */
  shale_iter *it;
  if (shale_iter_new_opts(db, &ro, &it) == SHALE_OK) {
    size_t steps = 0;
    for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it))
      if (++steps % STOP_CHECK_STEPS == 0 && stopped(db)) break;
    shale_iter_free(it);
  }
  free(end);
}

static void *warm_main(void *arg) {
  shale_db *db = arg;
  warm_ranges rs = {0};
  collect(db, &rs);
  read_view_unref(db->warmup.view);
  db->warmup.view = NULL;
  for (size_t i = 0; i < rs.n && !stopped(db); i++) walk_range(db, &rs.r[i]);
  ranges_free(&rs);
  atomic_store_explicit(&db->warmup.done, 1, memory_order_release);
  return NULL;
}

void span_warmup_start(shale_db *db) {
  atomic_store_explicit(&db->warmup.stop, 0, memory_order_relaxed);
  atomic_store_explicit(&db->warmup.done, 0, memory_order_relaxed);
  db->warmup.open_seq = atomic_load_explicit(&db->last_seq, memory_order_acquire);
  if (db->cmp) { /* spans are bytewise only (iter.c, run_end): nothing to warm */
    atomic_store_explicit(&db->warmup.done, 1, memory_order_release);
    return;
  }
  db->warmup.view = db_view_acquire(db);
  db->warmup.running = pthread_create(&db->warmup.thread, NULL, warm_main, db) == 0;
  if (db->warmup.running) return;
  read_view_unref(db->warmup.view);
  db->warmup.view = NULL;
  atomic_store_explicit(&db->warmup.done, 1, memory_order_release);
}

void span_warmup_stop(shale_db *db) {
  if (!db->warmup.running) return;
  atomic_store_explicit(&db->warmup.stop, 1, memory_order_relaxed);
  pthread_join(db->warmup.thread, NULL);
  db->warmup.running = 0;
}
