/* block_cache.c — sharded CLOCK block cache; see block_cache.h.
 * Each shard: a chained hash table and a ring of every cached entry with a clock hand. A hit
 * only bumps the entry's refcount and sets its referenced bit — it touches no other entry, so
 * the hit path is one hash-chain walk under a short lock (an LRU list would dirty two
 * neighbours' cache lines per hit and per release). Eviction sweeps the hand: pinned entries
 * are skipped, referenced ones get a second chance. Blocks are freed outside the lock. */
#include "sstable/block_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shale.h"
#include "util/thread_annotations.h"

struct bc_handle {               /* the entry itself; handles are entries */
  struct bc_handle *hnext;       /* hash chain */
  struct bc_handle *prev, *next; /* ring links while in_cache */
  uint64_t id, off;
  uint64_t hash;
  uint32_t refs; /* the cache's own reference (while in_cache) + one per handle */
  int in_cache;
  int referenced; /* hit since the hand last passed */
  size_t charge, len;
  uint8_t *data;
};
typedef struct bc_handle bc_entry;

/* The fields a shard's mu guards, reached only through shard_held(). */
typedef struct shard_state {
  bc_entry **table;
  size_t nbuckets, count; /* nbuckets is a power of two */
  bc_entry ring;          /* sentinel of the ring of cached entries */
  bc_entry *hand;         /* next entry the clock considers (may be the sentinel) */
  size_t usage, capacity;
  uint64_t hits, misses, inserts;
} shard_state;

typedef struct shard {
  sh_mutex mu;
  shard_state under_mu;
  char pad[64];
} shard;

static inline shard_state *shard_held(shard *s) SH_REQUIRES(s->mu) { return &s->under_mu; }

struct block_cache {
  shard *shards;
  unsigned nshards, shard_shift; /* shard = hash >> shard_shift */
  _Atomic uint64_t next_id;
};

#define MIN_SHARD_BYTES (256u * 1024u)
#define MAX_SHARDS 16u

static uint64_t mix(uint64_t id, uint64_t off) {
  uint64_t x = id * UINT64_C(0x9E3779B97F4A7C15) ^ off;
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

/* No other thread sees the shard yet: mu is held for the rule on its fields. */
static int shard_init(shard *s, size_t capacity) {
  sh_mutex_init(&s->mu);
  sh_mutex_lock(&s->mu);
  shard_state *st = shard_held(s);
  st->nbuckets = 64;
  st->table = calloc(st->nbuckets, sizeof *st->table);
  st->ring.next = st->ring.prev = &st->ring;
  st->hand = &st->ring;
  st->capacity = capacity;
  int ok = st->table != NULL;
  sh_mutex_unlock(&s->mu);
  return ok;
}

static void entry_free(bc_entry *e) {
  free(e->data);
  free(e);
}

/* The last user: mu is held for the rule on the shard's fields. */
static void shard_destroy(shard *s) {
  sh_mutex_lock(&s->mu);
  shard_state *st = shard_held(s);
  for (size_t b = 0; st->table && b < st->nbuckets; b++) {
    bc_entry *e = st->table[b];
    while (e) {
      bc_entry *nx = e->hnext;
      entry_free(e);
      e = nx;
    }
  }
  free(st->table);
  st->table = NULL;
  sh_mutex_unlock(&s->mu);
  sh_mutex_destroy(&s->mu);
}

int block_cache_new(size_t capacity, block_cache **out) {
  if (!out) return SHALE_INVALID;
  *out = NULL;
  block_cache *c = calloc(1, sizeof *c);
  if (!c) return SHALE_NOMEM;
  unsigned n = 1, made = 0;
  while (n < MAX_SHARDS && capacity / (n * 2) >= MIN_SHARD_BYTES) n *= 2;
  unsigned bits = 0;
  while ((1u << bits) < n) bits++;
  c->nshards = n;
  c->shard_shift = bits ? 64 - bits : 0;
  atomic_init(&c->next_id, 1);
  c->shards = calloc(n, sizeof *c->shards);
  if (!c->shards) goto fail;
  while (made < n)
    if (!shard_init(&c->shards[made++], (capacity + n - 1) / n)) goto fail;
  *out = c;
  return SHALE_OK;
fail:
  for (unsigned i = 0; i < made; i++) shard_destroy(&c->shards[i]);
  free(c->shards);
  free(c);
  return SHALE_NOMEM;
}

void block_cache_free(block_cache *c) {
  if (!c) return;
  for (unsigned i = 0; i < c->nshards; i++) shard_destroy(&c->shards[i]);
  free(c->shards);
  free(c);
}

uint64_t block_cache_new_id(block_cache *c) {
  return atomic_fetch_add_explicit(&c->next_id, 1, memory_order_relaxed);
}

static shard *shard_of(block_cache *c, uint64_t h) {
  return &c->shards[c->shard_shift ? h >> c->shard_shift : 0];
}

static bc_entry **find_slot(shard *s, uint64_t h, uint64_t id, uint64_t off) SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  bc_entry **p = &st->table[h & (st->nbuckets - 1)];
  while (*p && ((*p)->id != id || (*p)->off != off)) p = &(*p)->hnext;
  return p;
}

static void ring_remove(shard *s, bc_entry *e) SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  if (st->hand == e) st->hand = e->next;
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->prev = e->next = NULL;
}

/* Just behind the hand: visited last. */
static void ring_insert(shard *s, bc_entry *e) SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  e->next = st->hand;
  e->prev = st->hand->prev;
  e->prev->next = e;
  st->hand->prev = e;
}

static void grow(shard *s) SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  size_t nb = st->nbuckets * 2;
  bc_entry **t = calloc(nb, sizeof *t);
  if (!t) return; /* longer chains, still correct */
  for (size_t b = 0; b < st->nbuckets; b++) {
    bc_entry *e = st->table[b];
    while (e) {
      bc_entry *nx = e->hnext;
      bc_entry **slot = &t[e->hash & (nb - 1)];
      e->hnext = *slot;
      *slot = e;
      e = nx;
    }
  }
  free(st->table);
  st->table = t;
  st->nbuckets = nb;
}

/* Takes e out of the table and the ring and drops the cache's reference; chains e on *dead
 * when nobody else holds it. */
static void remove_locked(shard *s, bc_entry **slot, bc_entry *e, bc_entry **dead)
    SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  *slot = e->hnext;
  st->count--;
  e->in_cache = 0;
  ring_remove(s, e);
  if (--e->refs == 0) {
    st->usage -= e->charge;
    e->hnext = *dead;
    *dead = e;
  }
}

static void evict_locked(shard *s, bc_entry **dead) SH_REQUIRES(s->mu) {
  shard_state *st = shard_held(s);
  size_t budget = 2 * st->count + 2; /* two turns: clears every bit, then finds any victim */
  while (st->usage > st->capacity && st->count > 0 && budget-- > 0) {
    bc_entry *e = st->hand;
    st->hand = e->next;
    if (e == &st->ring || e->refs > 1) continue; /* sentinel, or pinned */
    if (e->referenced) {
      e->referenced = 0;
      continue;
    }
    remove_locked(s, find_slot(s, e->hash, e->id, e->off), e, dead);
  }
}

static void free_dead(bc_entry *dead) {
  while (dead) {
    bc_entry *nx = dead->hnext;
    entry_free(dead);
    dead = nx;
  }
}

bc_handle *block_cache_lookup(block_cache *c, uint64_t id, uint64_t off) {
  uint64_t h = mix(id, off);
  shard *s = shard_of(c, h);
  sh_mutex_lock(&s->mu);
  shard_state *st = shard_held(s);
  bc_entry *e = *find_slot(s, h, id, off);
  if (e) {
    e->refs++;
    e->referenced = 1;
    st->hits++;
  } else {
    st->misses++;
  }
  sh_mutex_unlock(&s->mu);
  return e;
}

bc_handle *block_cache_insert(block_cache *c, uint64_t id, uint64_t off, void *data, size_t len) {
  bc_entry *e = malloc(sizeof *e);
  if (!e) return NULL;
  uint64_t h = mix(id, off);
  e->hnext = e->prev = e->next = NULL;
  e->id = id;
  e->off = off;
  e->hash = h;
  e->refs = 2; /* the cache's and the caller's */
  e->in_cache = 1;
  e->referenced = 0;
  e->len = len;
  e->charge = len + sizeof *e;
  e->data = data;
  shard *s = shard_of(c, h);
  bc_entry *dead = NULL;
  sh_mutex_lock(&s->mu);
  shard_state *st = shard_held(s);
  bc_entry **slot = find_slot(s, h, id, off);
  if (*slot) remove_locked(s, slot, *slot, &dead); /* replaced: lives on while pinned */
  e->hnext = st->table[h & (st->nbuckets - 1)];
  st->table[h & (st->nbuckets - 1)] = e;
  ring_insert(s, e);
  st->inserts++;
  st->usage += e->charge;
  if (++st->count > st->nbuckets) grow(s);
  evict_locked(s, &dead);
  sh_mutex_unlock(&s->mu);
  free_dead(dead);
  return e;
}

const uint8_t *block_cache_data(const bc_handle *h, size_t *len) {
  *len = h->len;
  return h->data;
}

void block_cache_release(block_cache *c, bc_handle *e) {
  shard *s = shard_of(c, e->hash);
  bc_entry *dead = NULL;
  sh_mutex_lock(&s->mu);
  shard_state *st = shard_held(s);
  if (--e->refs == 0) { /* already out of the cache */
    st->usage -= e->charge;
    dead = e;
    e->hnext = NULL;
  } else if (st->usage > st->capacity) { /* eviction may have been blocked by this pin */
    evict_locked(s, &dead);
  }
  sh_mutex_unlock(&s->mu);
  free_dead(dead);
}

void block_cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses, size_t *usage) {
  uint64_t h = 0, m = 0;
  size_t u = 0;
  for (unsigned i = 0; i < c->nshards; i++) {
    shard *s = &c->shards[i];
    sh_mutex_lock(&s->mu);
    shard_state *st = shard_held(s);
    h += st->hits;
    m += st->misses;
    u += st->usage;
    sh_mutex_unlock(&s->mu);
  }
  if (hits) *hits = h;
  if (misses) *misses = m;
  if (usage) *usage = u;
}

uint64_t block_cache_inserts(block_cache *c) {
  uint64_t n = 0;
  for (unsigned i = 0; i < c->nshards; i++) {
    shard *s = &c->shards[i];
    sh_mutex_lock(&s->mu);
    n += shard_held(s)->inserts;
    sh_mutex_unlock(&s->mu);
  }
  return n;
}
