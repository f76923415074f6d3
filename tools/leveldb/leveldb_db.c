/* leveldb_db.c — open, close, reads, writes, snapshots and maintenance of leveldb_t. */
#include "leveldb_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leveldb_options.h"
#include "leveldb_status.h"

/* The first read of a value goes into a buffer of this size; a longer one is read again into
 * a buffer of its size. */
#define LDBC_GET_FIRST_CAP 256

/* shale_errmsg(NULL) is the last failed open's detail, not this call's: a NULL handle gets
 * its own words. */
void ldbc_db_error(leveldb_t *db, char **errptr, int rc) {
  ldbc_set_error(errptr, rc, db ? shale_errmsg(db->db) : "NULL leveldb_t handle");
}

/* LevelDB's own words for the two open failures a program tests for. */
static void open_error(const char *name, char **errptr, int rc) {
  if (rc == SHALE_NOTFOUND)
    ldbc_set_errorf(errptr, SHALE_INVALID, "%s: does not exist (create_if_missing is false)", name);
  else if (rc == SHALE_EXISTS)
    ldbc_set_errorf(errptr, SHALE_INVALID, "%s: exists (error_if_exists is true)", name);
  else
    ldbc_set_error(errptr, rc, shale_errmsg(NULL));
}

leveldb_t *leveldb_open(const leveldb_options_t *options, const char *name, char **errptr) {
  shale_options so;
  char why[512];
  if (!name) {
    ldbc_set_error(errptr, SHALE_INVALID, "leveldb_open: NULL name");
    return NULL;
  }
  int rc = ldbc_options_to_shale(options, &so, why, sizeof why);
  if (rc) {
    ldbc_set_error(errptr, rc, why);
    return NULL;
  }
  leveldb_t *db = calloc(1, sizeof *db);
  if (!db) {
    ldbc_set_error(errptr, SHALE_NOMEM, NULL);
    return NULL;
  }
  rc = shale_open(name, &so, &db->db);
  if (rc) {
    open_error(name, errptr, rc);
    free(db);
    return NULL;
  }
  db->write_buffer_size = so.write_buffer_size;
  pthread_mutex_init(&db->mu, NULL);
  return db;
}

/* An iterator keeps its struct (its owner still destroys it) and reports the close. */
static void orphan_iterators(leveldb_t *db) {
  for (leveldb_iterator_t *it = db->iterators; it; it = it->next) {
    shale_iter_free(it->iter);
    it->iter = NULL;
    it->db = NULL;
    if (!it->err) it->err = ldbc_error_string(SHALE_INVALID, "iterator used after leveldb_close");
  }
  db->iterators = NULL;
}

static void release_snapshots(leveldb_t *db) {
  leveldb_snapshot_t *s = db->snapshots;
  while (s) {
    leveldb_snapshot_t *next = s->next;
    shale_snapshot_free(db->db, s->snap);
    free(s);
    s = next;
  }
  db->snapshots = NULL;
}

/* Shale refuses to close under live snapshots and iterators; LevelDB programs may hold
 * either at close, so they are released first. */
void leveldb_close(leveldb_t *db) {
  if (!db) return;
  pthread_mutex_lock(&db->mu);
  orphan_iterators(db);
  release_snapshots(db);
  pthread_mutex_unlock(&db->mu);
  shale_close(db->db);
  pthread_mutex_destroy(&db->mu);
  free(db);
}

void leveldb_put(leveldb_t *db, const leveldb_writeoptions_t *options, const char *key,
                 size_t keylen, const char *val, size_t vallen, char **errptr) {
  int rc = shale_put(db ? db->db : NULL, key, keylen, val, vallen, ldbc_write_flags(options));
  if (rc) ldbc_db_error(db, errptr, rc);
}

void leveldb_delete(leveldb_t *db, const leveldb_writeoptions_t *options, const char *key,
                    size_t keylen, char **errptr) {
  int rc = shale_delete(db ? db->db : NULL, key, keylen, ldbc_write_flags(options));
  if (rc) ldbc_db_error(db, errptr, rc);
}

void leveldb_write(leveldb_t *db, const leveldb_writeoptions_t *options,
                   leveldb_writebatch_t *batch, char **errptr) {
  if (!batch) {
    ldbc_set_error(errptr, SHALE_INVALID, "leveldb_write: NULL batch");
    return;
  }
  if (batch->rc) {
    ldbc_set_error(errptr, batch->rc, batch->err);
    return;
  }
  int rc = shale_write(db ? db->db : NULL, batch->batch, ldbc_write_flags(options));
  if (rc) ldbc_db_error(db, errptr, rc);
}

/* The value goes straight into the malloc'd buffer returned (no second copy), which a
 * program may free with free() as LevelDB allows. A value longer than the first guess is
 * read again; without a snapshot a write in between may change it, so this repeats until
 * one whole value fits: each read is one value as of one moment. */
char *leveldb_get(leveldb_t *db, const leveldb_readoptions_t *options, const char *key,
                  size_t keylen, size_t *vallen, char **errptr) {
  shale_read_options ro;
  ldbc_read_options(options, &ro);
  size_t cap = LDBC_GET_FIRST_CAP, len = 0;
  char *buf = malloc(cap);
  if (vallen) *vallen = 0;
  if (!buf) {
    ldbc_set_error(errptr, SHALE_NOMEM, NULL);
    return NULL;
  }
  for (;;) {
    int rc = shale_get_opts(db ? db->db : NULL, &ro, key, keylen, buf, cap, &len);
    if (rc == SHALE_OK && len <= cap) break;
    free(buf);
    if (rc == SHALE_NOTFOUND) return NULL;
    if (rc) {
      ldbc_db_error(db, errptr, rc);
      return NULL;
    }
    cap = len;
    if (!(buf = malloc(cap))) {
      ldbc_set_error(errptr, SHALE_NOMEM, NULL);
      return NULL;
    }
  }
  if (vallen) *vallen = len;
  return buf;
}

const leveldb_snapshot_t *leveldb_create_snapshot(leveldb_t *db) {
  if (!db) return NULL;
  leveldb_snapshot_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (shale_snapshot_new(db->db, &s->snap)) {
    free(s);
    return NULL;
  }
  pthread_mutex_lock(&db->mu);
  s->next = db->snapshots;
  if (s->next) s->next->prev = s;
  db->snapshots = s;
  pthread_mutex_unlock(&db->mu);
  return s;
}

void leveldb_release_snapshot(leveldb_t *db, const leveldb_snapshot_t *snapshot) {
  if (!db || !snapshot) return;
  leveldb_snapshot_t *s = (leveldb_snapshot_t *)snapshot;
  pthread_mutex_lock(&db->mu);
  if (s->prev)
    s->prev->next = s->next;
  else
    db->snapshots = s->next;
  if (s->next) s->next->prev = s->prev;
  pthread_mutex_unlock(&db->mu);
  shale_snapshot_free(db->db, s->snap);
  free(s);
}

void ldbc_db_track_iterator(leveldb_t *db, leveldb_iterator_t *it) {
  pthread_mutex_lock(&db->mu);
  it->next = db->iterators;
  if (it->next) it->next->prev = it;
  db->iterators = it;
  pthread_mutex_unlock(&db->mu);
}

void ldbc_db_untrack_iterator(leveldb_t *db, leveldb_iterator_t *it) {
  pthread_mutex_lock(&db->mu);
  if (it->prev)
    it->prev->next = it->next;
  else
    db->iterators = it->next;
  if (it->next) it->next->prev = it->prev;
  pthread_mutex_unlock(&db->mu);
}

void leveldb_approximate_sizes(leveldb_t *db, int num_ranges, const char *const *range_start_key,
                               const size_t *range_start_key_len,
                               const char *const *range_limit_key,
                               const size_t *range_limit_key_len, uint64_t *sizes) {
  if (num_ranges <= 0 || !sizes) return;
  if (shale_approximate_sizes(db ? db->db : NULL, (size_t)num_ranges,
                              (const void *const *)range_start_key, range_start_key_len,
                              (const void *const *)range_limit_key, range_limit_key_len, sizes))
    memset(sizes, 0, (size_t)num_ranges * sizeof *sizes);
}

/* The smallest key after @p key of length @p len (LevelDB's end is inclusive, Shale's
 * exclusive): key + "\0" when that still fits, else the key cut after its last byte below
 * 0xFF, that byte incremented. Writes into @p out (SHALE_MAX_KEY_SIZE bytes) and returns its
 * length, or -1 when @p key is the largest key there is (then nothing lies after it). */
static long successor_key(const char *key, size_t len, char *out) {
  if (len < SHALE_MAX_KEY_SIZE) {
    memcpy(out, key, len);
    out[len] = '\0';
    return (long)len + 1;
  }
  while (len > 0 && (unsigned char)key[len - 1] == 0xff) len--;
  if (len == 0) return -1;
  memcpy(out, key, len);
  out[len - 1] = (char)((unsigned char)out[len - 1] + 1);
  return (long)len;
}

void leveldb_compact_range(leveldb_t *db, const char *start_key, size_t start_key_len,
                           const char *limit_key, size_t limit_key_len) {
  if (!db) return;
  const char *begin = start_key;
  size_t blen = start_key ? start_key_len : 0;
  char *end = NULL;
  long elen = 0;
  if (limit_key) {
    /* No valid key lies between a longer limit and its first SHALE_MAX_KEY_SIZE bytes. */
    size_t llen = limit_key_len < SHALE_MAX_KEY_SIZE ? limit_key_len : SHALE_MAX_KEY_SIZE;
    end = malloc(SHALE_MAX_KEY_SIZE);
    if (!end) return;
    elen = successor_key(limit_key, llen, end);
    if (elen < 0) {
      free(end);
      end = NULL;
      elen = 0;
    }
  }
  /* LevelDB's CompactRange reports nothing; a failure is in the DB's LOG and errmsg. */
  (void)shale_compact_range(db->db, begin, blen, end, (size_t)elen);
  free(end);
}

/* No shale_options field changes what Shale's destroy and repair do, and LevelDB's options
 * (a comparator, a cache) mean nothing to them: the defaults are passed. */
void leveldb_destroy_db(const leveldb_options_t *options, const char *name, char **errptr) {
  (void)options;
  int rc = shale_destroy(name, NULL);
  if (rc) ldbc_set_error(errptr, rc, shale_errmsg(NULL));
}

void leveldb_repair_db(const leveldb_options_t *options, const char *name, char **errptr) {
  (void)options;
  int rc = shale_repair(name, NULL);
  if (rc) ldbc_set_error(errptr, rc, shale_errmsg(NULL));
}

void leveldb_free(void *ptr) { free(ptr); }

int leveldb_major_version(void) { return 1; }

int leveldb_minor_version(void) { return 23; }
