/* table_cache.c — bounded cache of open SSTable readers; see table_cache.h.
 * Shards (one for small caches) each hold a chained hash table of entries, an LRU list of the
 * entries nobody but the cache references, and a list of evicted entries still held by
 * readers. Files are opened and closed outside the shard lock. */
#include "sstable/table_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/thread_annotations.h"

typedef struct tc_entry {
  struct tc_entry *hnext;       /* hash chain, or the zombie list after eviction */
  struct tc_entry *prev, *next; /* LRU links while idle (refs == 1 && in_map) */
  uint64_t number;
  sst_reader *reader;
  int refs; /* the cache's own (while in_map) + one per table_cache_get */
  int in_map;
} tc_entry;

/* The fields a shard's mu guards, reached only through shard_held(). */
typedef struct tc_shard_state {
  tc_entry **table;
  size_t nbuckets, count, capacity;
  tc_entry lru;      /* sentinel; lru.next is the least recently used idle reader */
  tc_entry *zombies; /* evicted while held */
  size_t nzombies;
} tc_shard_state;

typedef struct tc_shard {
  sh_mutex mu;
  tc_shard_state under_mu;
} tc_shard;

static inline tc_shard_state *shard_held(tc_shard *s) SH_REQUIRES(s->mu) { return &s->under_mu; }

struct table_cache {
  io_ctx *io;
  char *dir;
  block_cache *bc;
  const shale_comparator *cmp; /* order of every reader; NULL: bytewise */
  tc_shard *shards;
  unsigned nshards;
};

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  return x;
}

/* No other thread sees the shard yet: mu is held for the rule on its fields. */
static int shard_init(tc_shard *s, size_t capacity) {
  sh_mutex_init(&s->mu);
  sh_mutex_lock(&s->mu);
  tc_shard_state *st = shard_held(s);
  st->nbuckets = 64;
  st->table = calloc(st->nbuckets, sizeof *st->table);
  st->lru.next = st->lru.prev = &st->lru;
  st->capacity = capacity;
  int ok = st->table != NULL;
  sh_mutex_unlock(&s->mu);
  return ok;
}

static void close_dead(tc_entry *dead);

/* The last user. The readers are detached under mu and closed outside it, as everywhere
 * else here. */
static void shard_destroy(tc_shard *s) {
  sh_mutex_lock(&s->mu);
  tc_shard_state *st = shard_held(s);
  tc_entry **table = st->table, *zombies = st->zombies;
  size_t nbuckets = st->nbuckets;
  st->table = NULL;
  st->zombies = NULL;
  st->count = st->nzombies = 0;
  sh_mutex_unlock(&s->mu);
  for (size_t b = 0; table && b < nbuckets; b++) {
    tc_entry *e = table[b];
    while (e) {
      tc_entry *nx = e->hnext;
      sst_reader_close(e->reader);
      free(e);
      e = nx;
    }
  }
  close_dead(zombies);
  free(table);
  sh_mutex_destroy(&s->mu);
}

int table_cache_new(io_ctx *io, const char *dbdir, int max_open, block_cache *bc,
                    table_cache **out) {
  if (!out) return SHALE_INVALID;
  *out = NULL;
  if (!dbdir) return SHALE_INVALID;
  if (max_open < 1) max_open = 1;
  table_cache *tc = calloc(1, sizeof *tc);
  if (!tc) return SHALE_NOMEM;
  unsigned made = 0;
  tc->io = io;
  tc->bc = bc;
  tc->nshards = max_open >= 256 ? 16 : 1;
  if (!(tc->dir = strdup(dbdir)) || !(tc->shards = calloc(tc->nshards, sizeof *tc->shards)))
    goto fail;
  while (made < tc->nshards)
    if (!shard_init(&tc->shards[made++], ((size_t)max_open + tc->nshards - 1) / tc->nshards))
      goto fail;
  *out = tc;
  return SHALE_OK;
fail:
  for (unsigned i = 0; i < made; i++) shard_destroy(&tc->shards[i]);
  free(tc->shards);
  free(tc->dir);
  free(tc);
  return SHALE_NOMEM;
}

static tc_shard *shard_of(table_cache *tc, uint64_t number) {
  return &tc->shards[tc->nshards > 1 ? mix(number) % tc->nshards : 0];
}

static tc_entry **find_slot(tc_shard *s, uint64_t number) SH_REQUIRES(s->mu) {
  tc_shard_state *st = shard_held(s);
  tc_entry **p = &st->table[mix(number) & (st->nbuckets - 1)];
  while (*p && (*p)->number != number) p = &(*p)->hnext;
  return p;
}

static void lru_remove(tc_entry *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->prev = e->next = NULL;
}

static void lru_append(tc_shard *s, tc_entry *e) SH_REQUIRES(s->mu) {
  tc_shard_state *st = shard_held(s);
  e->next = &st->lru;
  e->prev = st->lru.prev;
  e->prev->next = e;
  st->lru.prev = e;
}

static void grow(tc_shard *s) SH_REQUIRES(s->mu) {
  tc_shard_state *st = shard_held(s);
  size_t nb = st->nbuckets * 2;
  tc_entry **t = calloc(nb, sizeof *t);
  if (!t) return;
  for (size_t b = 0; b < st->nbuckets; b++)
    for (tc_entry *e = st->table[b], *nx; e; e = nx) {
      nx = e->hnext;
      tc_entry **slot = &t[mix(e->number) & (nb - 1)];
      e->hnext = *slot;
      *slot = e;
    }
  free(st->table);
  st->table = t;
  st->nbuckets = nb;
}

/* Takes e out of the map (the cache drops its reference); chains it on *dead when nobody
 * holds it, else on the zombie list. */
static void unmap_locked(tc_shard *s, tc_entry *e, tc_entry **dead) SH_REQUIRES(s->mu) {
  tc_shard_state *st = shard_held(s);
  *find_slot(s, e->number) = e->hnext;
  st->count--;
  e->in_map = 0;
  if (e->prev) lru_remove(e);
  if (--e->refs == 0) {
    e->hnext = *dead;
    *dead = e;
  } else {
    e->hnext = st->zombies;
    st->zombies = e;
    st->nzombies++;
  }
}

static void evict_idle_locked(tc_shard *s, tc_entry **dead) SH_REQUIRES(s->mu) {
  tc_shard_state *st = shard_held(s);
  while (st->count > st->capacity && st->lru.next != &st->lru) unmap_locked(s, st->lru.next, dead);
}

static void close_dead(tc_entry *dead) {
  while (dead) {
    tc_entry *nx = dead->hnext;
    sst_reader_close(dead->reader);
    free(dead);
    dead = nx;
  }
}

void table_cache_set_comparator(table_cache *tc, const shale_comparator *cmp) { tc->cmp = cmp; }

int table_cache_get(table_cache *tc, uint64_t number, sst_reader **r, char *errmsg) {
  if (!r) return err_set(errmsg, SHALE_INVALID, "table_cache_get: NULL out");
  *r = NULL;
  if (!tc) return err_set(errmsg, SHALE_INVALID, "table_cache_get: NULL cache");
  tc_shard *s = shard_of(tc, number);
  sh_mutex_lock(&s->mu);
  tc_entry *e = *find_slot(s, number);
  if (e) {
    if (e->prev) lru_remove(e);
    e->refs++;
    *r = e->reader;
    sh_mutex_unlock(&s->mu);
    return SHALE_OK;
  }
  sh_mutex_unlock(&s->mu);

  char path[4096];
  sst_file_name(path, sizeof path, tc->dir, number);
  sst_reader *rd;
  int rc = sst_reader_open_ordered(tc->io, path, number, tc->bc, tc->cmp, &rd, errmsg);
  if (rc) return rc;
  tc_entry *ne = calloc(1, sizeof *ne);
  if (!ne) {
    sst_reader_close(rd);
    return err_set(errmsg, SHALE_NOMEM, "table_cache_get: out of memory");
  }
  ne->number = number;
  ne->reader = rd;
  ne->refs = 2;
  ne->in_map = 1;
  tc_entry *dead = NULL;
  sh_mutex_lock(&s->mu);
  tc_shard_state *st = shard_held(s);
  if ((e = *find_slot(s, number))) { /* another thread opened it meanwhile: use theirs */
    if (e->prev) lru_remove(e);
    e->refs++;
    *r = e->reader;
    ne->hnext = NULL;
    dead = ne;
  } else {
    tc_entry **slot = &st->table[mix(number) & (st->nbuckets - 1)];
    ne->hnext = *slot;
    *slot = ne;
    if (++st->count > st->nbuckets) grow(s);
    evict_idle_locked(s, &dead);
    *r = rd;
  }
  sh_mutex_unlock(&s->mu);
  close_dead(dead);
  return SHALE_OK;
}

void table_cache_release(table_cache *tc, sst_reader *r) {
  if (!tc || !r) return;
  tc_shard *s = shard_of(tc, sst_reader_file_number(r));
  tc_entry *dead = NULL;
  sh_mutex_lock(&s->mu);
  tc_shard_state *st = shard_held(s);
  tc_entry *e = *find_slot(s, sst_reader_file_number(r));
  if (e && e->reader == r) {
    if (--e->refs == 1) {
      lru_append(s, e);
      evict_idle_locked(s, &dead);
    }
  } else { /* evicted while held */
    for (tc_entry **p = &st->zombies; *p; p = &(*p)->hnext) {
      if ((*p)->reader != r) continue;
      e = *p;
      if (--e->refs == 0) {
        *p = e->hnext;
        st->nzombies--;
        e->hnext = NULL;
        dead = e;
      }
      break;
    }
  }
  sh_mutex_unlock(&s->mu);
  close_dead(dead);
}

void table_cache_evict(table_cache *tc, uint64_t number) {
  if (!tc) return;
  tc_shard *s = shard_of(tc, number);
  tc_entry *dead = NULL;
  sh_mutex_lock(&s->mu);
  tc_entry *e = *find_slot(s, number);
  if (e) unmap_locked(s, e, &dead);
  sh_mutex_unlock(&s->mu);
  close_dead(dead);
}

int table_cache_open_count(table_cache *tc) {
  size_t n = 0;
  for (unsigned i = 0; i < tc->nshards; i++) {
    tc_shard *s = &tc->shards[i];
    sh_mutex_lock(&s->mu);
    tc_shard_state *st = shard_held(s);
    n += st->count + st->nzombies;
    sh_mutex_unlock(&s->mu);
  }
  return (int)n;
}

void table_cache_free(table_cache *tc) {
  if (!tc) return;
  for (unsigned i = 0; i < tc->nshards; i++) shard_destroy(&tc->shards[i]);
  free(tc->shards);
  free(tc->dir);
  free(tc);
}
