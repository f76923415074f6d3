/* leveldb_options.c — options, read and write options, comparators, filter policies, caches
 * and environments: plain records here, checked and mapped to shale_options at open. */
#include "leveldb_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LevelDB's own defaults where they change behaviour or sizes a program may rely on. */
#define LDBC_WRITE_BUFFER_SIZE (4u << 20)
#define LDBC_CACHE_SIZE (8u << 20)
#define LDBC_MAX_FILE_SIZE (2u << 20)
#define LDBC_CUSTOM_FILTER_BITS 10
#define LDBC_BYTEWISE_NAME "leveldb.BytewiseComparator"

static void set_defaults(leveldb_options_t *o) {
  memset(o, 0, sizeof *o);
  shale_options_init(&o->opts);
  o->opts.create_if_missing = 0;
  o->opts.error_if_exists = 0;
  o->opts.wal_recovery_mode = SHALE_WAL_RECOVER_TOLERANT; /* paranoid_checks off */
  o->opts.write_buffer_size = LDBC_WRITE_BUFFER_SIZE;
  o->opts.block_cache_size = LDBC_CACHE_SIZE;
  o->opts.target_file_size = LDBC_MAX_FILE_SIZE;
  o->compression = leveldb_snappy_compression;
}

leveldb_options_t *leveldb_options_create(void) {
  leveldb_options_t *o = malloc(sizeof *o);
  if (o) set_defaults(o);
  return o;
}

void leveldb_options_destroy(leveldb_options_t *o) { free(o); }

void leveldb_options_set_comparator(leveldb_options_t *o, leveldb_comparator_t *c) {
  if (o) o->comparator = c;
}

void leveldb_options_set_filter_policy(leveldb_options_t *o, leveldb_filterpolicy_t *p) {
  if (o) o->filter_policy = p;
}

void leveldb_options_set_create_if_missing(leveldb_options_t *o, uint8_t v) {
  if (o) o->opts.create_if_missing = v != 0;
}

void leveldb_options_set_error_if_exists(leveldb_options_t *o, uint8_t v) {
  if (o) o->opts.error_if_exists = v != 0;
}

void leveldb_options_set_paranoid_checks(leveldb_options_t *o, uint8_t v) {
  if (o) o->opts.wal_recovery_mode = v ? SHALE_WAL_RECOVER_STRICT : SHALE_WAL_RECOVER_TOLERANT;
}

/* The only environment the C API can make is the default one, which Shale always uses. */
void leveldb_options_set_env(leveldb_options_t *o, leveldb_env_t *env) { (void)o, (void)env; }

/* The C API has no way to make a logger, so only NULL reaches here: Shale's LOG file. */
void leveldb_options_set_info_log(leveldb_options_t *o, leveldb_logger_t *log) {
  (void)o, (void)log;
}

void leveldb_options_set_write_buffer_size(leveldb_options_t *o, size_t n) {
  if (o) o->opts.write_buffer_size = n;
}

void leveldb_options_set_max_open_files(leveldb_options_t *o, int n) {
  if (o) o->opts.max_open_files = n;
}

void leveldb_options_set_cache(leveldb_options_t *o, leveldb_cache_t *c) {
  if (o) o->cache = c;
}

void leveldb_options_set_block_size(leveldb_options_t *o, size_t n) {
  if (o) o->opts.block_size = n;
}

/* Shale's blocks have no restart points to space out: nothing to set. */
void leveldb_options_set_block_restart_interval(leveldb_options_t *o, int n) { (void)o, (void)n; }

void leveldb_options_set_max_file_size(leveldb_options_t *o, size_t n) {
  if (o) o->opts.target_file_size = n;
}

void leveldb_options_set_compression(leveldb_options_t *o, int c) {
  if (o) o->compression = c;
}

/* A comparator named as LevelDB's bytewise one must be that order (Shale's default):
 * agreeing with memcmp on probes that tell bytewise order from its usual look-alikes
 * (reversed, length-first, case-folded). */
static int sign(int v) { return (v > 0) - (v < 0); }

static int orders_bytewise(const leveldb_comparator_t *c) {
  static const char *const probes[] = {"", "a", "ab", "b", "B", "ba", "\xff"};
  size_t n = sizeof probes / sizeof probes[0];
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < n; j++) {
      size_t la = strlen(probes[i]), lb = strlen(probes[j]);
      int want = sign(memcmp(probes[i], probes[j], la < lb ? la : lb));
      if (want == 0) want = sign((int)(la > lb) - (int)(la < lb));
      if (sign(c->compare(c->state, probes[i], la, probes[j], lb)) != want) return 0;
    }
  }
  return 1;
}

static int call_compare(void *arg, const void *a, size_t alen, const void *b, size_t blen) {
  const leveldb_comparator_t *c = arg;
  return c->compare(c->state, a, alen, b, blen);
}

/* LevelDB's bytewise comparator is Shale's default order (NULL); any other goes to Shale as
 * shale_options.comparator under its own name, which the DB then records. */
static int map_comparator(leveldb_comparator_t *c, const shale_comparator **out, char *why,
                          size_t whylen) {
  *out = NULL;
  if (!c) return SHALE_OK;
  const char *name = c->name ? c->name(c->state) : NULL;
  if (!name || !*name || !c->compare) {
    snprintf(why, whylen, "comparator %s has no name or no compare function",
             name ? name : "(unnamed)");
    return SHALE_INVALID;
  }
  if (strcmp(name, LDBC_BYTEWISE_NAME)) {
    c->order = (shale_comparator){name, call_compare, c};
    *out = &c->order;
    return SHALE_OK;
  }
  if (!orders_bytewise(c)) {
    snprintf(why, whylen, "comparator " LDBC_BYTEWISE_NAME " does not order keys bytewise");
    return SHALE_INVALID;
  }
  return SHALE_OK;
}

int ldbc_options_to_shale(const leveldb_options_t *in, shale_options *out, char *why,
                          size_t whylen) {
  if (!in) {
    leveldb_options_t defaults;
    set_defaults(&defaults);
    return ldbc_options_to_shale(&defaults, out, why, whylen);
  }
  const shale_comparator *order;
  int rc = map_comparator(in->comparator, &order, why, whylen);
  if (rc) return rc;
  *out = in->opts;
  out->comparator = order;
  if (in->compression == leveldb_no_compression) {
    out->compression = SHALE_COMPRESSION_NONE;
  } else if (in->compression == leveldb_snappy_compression) {
    out->compression = SHALE_COMPRESSION_ZSTD;
  } else {
    snprintf(why, whylen, "compression %d is not leveldb_no_compression or _snappy_compression",
             in->compression);
    return SHALE_INVALID;
  }
  if (in->cache) out->block_cache_size = in->cache->capacity;
  if (in->filter_policy)
    out->bloom_bits_per_key =
        in->filter_policy->bloom_bits ? in->filter_policy->bloom_bits : LDBC_CUSTOM_FILTER_BITS;
  return SHALE_OK;
}

/* ---- comparators and filter policies ---- */

leveldb_comparator_t *leveldb_comparator_create(void *state, void (*destructor)(void *),
                                                int (*compare)(void *, const char *, size_t,
                                                               const char *, size_t),
                                                const char *(*name)(void *)) {
  leveldb_comparator_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->state = state;
  c->destructor = destructor;
  c->compare = compare;
  c->name = name;
  return c;
}

void leveldb_comparator_destroy(leveldb_comparator_t *c) {
  if (!c) return;
  if (c->destructor) c->destructor(c->state);
  free(c);
}

leveldb_filterpolicy_t *leveldb_filterpolicy_create(
    void *state, void (*destructor)(void *),
    char *(*create_filter)(void *, const char *const *, const size_t *, int, size_t *),
    uint8_t (*key_may_match)(void *, const char *, size_t, const char *, size_t),
    const char *(*name)(void *)) {
  (void)create_filter, (void)key_may_match; /* Shale builds and probes its own filters */
  leveldb_filterpolicy_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->state = state;
  p->destructor = destructor;
  p->name = name;
  return p;
}

void leveldb_filterpolicy_destroy(leveldb_filterpolicy_t *p) {
  if (!p) return;
  if (p->destructor) p->destructor(p->state);
  free(p);
}

leveldb_filterpolicy_t *leveldb_filterpolicy_create_bloom(int bits_per_key) {
  leveldb_filterpolicy_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->bloom_bits = bits_per_key < 1 ? 1 : bits_per_key > 64 ? 64 : bits_per_key;
  return p;
}

/* ---- read and write options ---- */

leveldb_readoptions_t *leveldb_readoptions_create(void) {
  leveldb_readoptions_t *r = calloc(1, sizeof *r);
  if (r) shale_read_options_init(&r->ro);
  return r;
}

void leveldb_readoptions_destroy(leveldb_readoptions_t *r) { free(r); }

void leveldb_readoptions_set_verify_checksums(leveldb_readoptions_t *r, uint8_t v) {
  if (r) r->ro.verify_checksums = v != 0;
}

void leveldb_readoptions_set_fill_cache(leveldb_readoptions_t *r, uint8_t v) {
  if (r) r->ro.fill_cache = v != 0;
}

void leveldb_readoptions_set_snapshot(leveldb_readoptions_t *r, const leveldb_snapshot_t *s) {
  if (r) r->snapshot = s;
}

void ldbc_read_options(const leveldb_readoptions_t *in, shale_read_options *out) {
  if (!in) {
    shale_read_options_init(out);
    return;
  }
  *out = in->ro;
  out->snapshot = in->snapshot ? in->snapshot->snap : NULL;
}

leveldb_writeoptions_t *leveldb_writeoptions_create(void) {
  return calloc(1, sizeof(leveldb_writeoptions_t));
}

void leveldb_writeoptions_destroy(leveldb_writeoptions_t *w) { free(w); }

void leveldb_writeoptions_set_sync(leveldb_writeoptions_t *w, uint8_t v) {
  if (w) w->flags = v ? SHALE_SYNC : 0;
}

unsigned ldbc_write_flags(const leveldb_writeoptions_t *in) { return in ? in->flags : 0; }

/* ---- caches and environments ---- */

leveldb_cache_t *leveldb_cache_create_lru(size_t capacity) {
  leveldb_cache_t *c = calloc(1, sizeof *c);
  if (c) c->capacity = capacity;
  return c;
}

void leveldb_cache_destroy(leveldb_cache_t *c) { free(c); }

leveldb_env_t *leveldb_create_default_env(void) {
  leveldb_env_t *e = calloc(1, sizeof *e);
  if (e) e->is_default = 1;
  return e;
}

void leveldb_env_destroy(leveldb_env_t *e) { free(e); }

/* As LevelDB's POSIX Env: $TEST_TMPDIR when set, else /tmp/leveldbtest-<euid>, created. */
char *leveldb_env_get_test_directory(leveldb_env_t *e) {
  (void)e;
  const char *env = getenv("TEST_TMPDIR");
  char *dir = NULL;
  if (env && *env)
    dir = strdup(env);
  else if (asprintf(&dir, "/tmp/leveldbtest-%d", (int)geteuid()) < 0)
    dir = NULL;
  if (dir && mkdir(dir, 0755) && errno != EEXIST) {
    free(dir);
    dir = NULL;
  }
  return dir;
}
