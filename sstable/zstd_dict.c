/* zstd_dict.c — the shared zstd dictionary and its slot; see zstd_dict.h. */
#include "sstable/zstd_dict.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/thread_annotations.h"

struct zstd_dict {
  _Atomic size_t refs;
  ZSTD_CDict *cdict;
  int level;
  size_t max_bytes; /* the dictionary size the builders asked for, not len */
  size_t len;
  unsigned char bytes[];
};

zstd_dict *zstd_dict_new(const void *bytes, size_t len, int level, size_t max_bytes) {
  zstd_dict *d = malloc(sizeof *d + len);
  if (!d) return NULL;
  memcpy(d->bytes, bytes, len);
  d->len = len;
  d->level = level;
  d->max_bytes = max_bytes;
  atomic_init(&d->refs, 1);
  if (!(d->cdict = ZSTD_createCDict(d->bytes, len, level))) {
    free(d);
    return NULL;
  }
  return d;
}

void zstd_dict_ref(zstd_dict *d) { atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed); }

void zstd_dict_unref(zstd_dict *d) {
  if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1) return;
  ZSTD_freeCDict(d->cdict);
  free(d);
}

const void *zstd_dict_bytes(const zstd_dict *d, size_t *len) {
  *len = d->len;
  return d->bytes;
}

const ZSTD_CDict *zstd_dict_cdict(const zstd_dict *d) { return d->cdict; }

typedef struct share_state {
  zstd_dict *cur[ZSTD_DICT_SLOTS];  /* NULL until the slot's first training */
  uint64_t served[ZSTD_DICT_SLOTS]; /* raw bytes cur compressed since put or its round restarted */
  uint64_t trainings;               /* dictionaries put */
} share_state;

struct zstd_dict_share {
  sh_mutex mu;
  share_state under_mu;
};

static inline share_state *share_held(zstd_dict_share *s) SH_REQUIRES(s->mu) {
  return &s->under_mu;
}

zstd_dict_share *zstd_dict_share_new(void) {
  zstd_dict_share *s = calloc(1, sizeof *s);
  if (s && sh_mutex_init(&s->mu)) {
    free(s);
    return NULL;
  }
  return s;
}

void zstd_dict_share_free(zstd_dict_share *s) {
  if (!s) return;
  sh_mutex_lock(&s->mu); /* uncontended: every builder is done */
  for (int i = 0; i < ZSTD_DICT_SLOTS; i++) zstd_dict_unref(share_held(s)->cur[i]);
  sh_mutex_unlock(&s->mu);
  sh_mutex_destroy(&s->mu);
  free(s);
}

static int slot_of(int slot) {
  return slot < 0 ? 0 : slot >= ZSTD_DICT_SLOTS ? ZSTD_DICT_SLOTS - 1 : slot;
}

zstd_dict *zstd_dict_share_get(zstd_dict_share *s, int slot, int level, size_t max_bytes,
                               uint64_t retrain_bytes) {
  int i = slot_of(slot);
  sh_mutex_lock(&s->mu);
  share_state *st = share_held(s);
  zstd_dict *d = st->cur[i];
  if (d && (d->level != level || d->max_bytes != max_bytes)) d = NULL;
  if (d && st->served[i] >= retrain_bytes) {
    st->served[i] = 0;
    d = NULL;
  }
  if (d) zstd_dict_ref(d);
  sh_mutex_unlock(&s->mu);
  return d;
}

void zstd_dict_share_put(zstd_dict_share *s, int slot, zstd_dict *d) {
  int i = slot_of(slot);
  zstd_dict_ref(d);
  sh_mutex_lock(&s->mu);
  share_state *st = share_held(s);
  zstd_dict *old = st->cur[i];
  st->cur[i] = d;
  st->served[i] = 0;
  st->trainings++;
  sh_mutex_unlock(&s->mu);
  zstd_dict_unref(old);
}

void zstd_dict_share_served(zstd_dict_share *s, int slot, const zstd_dict *d, uint64_t raw_bytes) {
  int i = slot_of(slot);
  sh_mutex_lock(&s->mu);
  share_state *st = share_held(s);
  if (st->cur[i] == d) st->served[i] += raw_bytes;
  sh_mutex_unlock(&s->mu);
}

uint64_t zstd_dict_share_trainings(zstd_dict_share *s) {
  if (!s) return 0;
  sh_mutex_lock(&s->mu);
  uint64_t n = share_held(s)->trainings;
  sh_mutex_unlock(&s->mu);
  return n;
}
