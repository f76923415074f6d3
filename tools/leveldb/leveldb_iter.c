/* leveldb_iter.c — LevelDB iterators over shale_iter. An iterator whose DB was closed keeps
 * its struct, reads as invalid and reports the close as its error. */
#include <stdlib.h>
#include <string.h>

#include "leveldb_db.h"
#include "leveldb_options.h"
#include "leveldb_status.h"

leveldb_iterator_t *leveldb_create_iterator(leveldb_t *db, const leveldb_readoptions_t *options) {
  if (!db) return NULL;
  shale_read_options ro;
  ldbc_read_options(options, &ro);
  leveldb_iterator_t *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  if (shale_iter_new_opts(db->db, &ro, &it->iter)) {
    free(it);
    return NULL;
  }
  it->db = db;
  ldbc_db_track_iterator(db, it);
  return it;
}

void leveldb_iter_destroy(leveldb_iterator_t *it) {
  if (!it) return;
  if (it->db) ldbc_db_untrack_iterator(it->db, it);
  shale_iter_free(it->iter);
  free(it->err);
  free(it);
}

/* Shale's message of a failure is per thread and later calls replace it, so it is copied
 * when the move that failed returns. */
static void note_failure(leveldb_iterator_t *it) {
  if (it->err || shale_iter_valid(it->iter)) return;
  int rc = shale_iter_status(it->iter);
  if (rc) it->err = ldbc_error_string(rc, shale_errmsg(it->db->db));
}

uint8_t leveldb_iter_valid(const leveldb_iterator_t *it) {
  return it && it->iter && shale_iter_valid(it->iter);
}

void leveldb_iter_seek_to_first(leveldb_iterator_t *it) {
  if (!it || !it->iter) return;
  shale_iter_seek_first(it->iter);
  note_failure(it);
}

void leveldb_iter_seek_to_last(leveldb_iterator_t *it) {
  if (!it || !it->iter) return;
  shale_iter_seek_last(it->iter);
  note_failure(it);
}

void leveldb_iter_seek(leveldb_iterator_t *it, const char *k, size_t klen) {
  if (!it || !it->iter) return;
  shale_iter_seek(it->iter, k, klen);
  note_failure(it);
}

void leveldb_iter_next(leveldb_iterator_t *it) {
  if (!leveldb_iter_valid(it)) return;
  shale_iter_next(it->iter);
  note_failure(it);
}

void leveldb_iter_prev(leveldb_iterator_t *it) {
  if (!leveldb_iter_valid(it)) return;
  shale_iter_prev(it->iter);
  note_failure(it);
}

const char *leveldb_iter_key(const leveldb_iterator_t *it, size_t *klen) {
  if (klen) *klen = 0;
  if (!leveldb_iter_valid(it)) return NULL;
  return shale_iter_key(it->iter, klen);
}

const char *leveldb_iter_value(const leveldb_iterator_t *it, size_t *vlen) {
  if (vlen) *vlen = 0;
  if (!leveldb_iter_valid(it)) return NULL;
  return shale_iter_value(it->iter, vlen);
}

void leveldb_iter_get_error(const leveldb_iterator_t *it, char **errptr) {
  if (!it) {
    ldbc_set_error(errptr, SHALE_INVALID, "leveldb_iter_get_error: NULL iterator");
    return;
  }
  if (it->err && errptr) {
    free(*errptr);
    *errptr = strdup(it->err);
    return;
  }
  int rc = it->iter ? shale_iter_status(it->iter) : SHALE_OK;
  if (rc) ldbc_set_error(errptr, rc, NULL);
}
