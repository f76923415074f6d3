/* leveldb_batch.c — LevelDB write batches over shale_batch. LevelDB's batch calls cannot
 * fail, Shale's can (an oversized key, no memory): the first failure is kept in the batch
 * and leveldb_write reports it instead of applying a batch missing an operation. */
#include <stdlib.h>
#include <string.h>

#include "leveldb_types.h"

leveldb_writebatch_t *leveldb_writebatch_create(void) {
  leveldb_writebatch_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  if (shale_batch_new(&b->batch)) {
    free(b);
    return NULL;
  }
  return b;
}

void leveldb_writebatch_destroy(leveldb_writebatch_t *b) {
  if (!b) return;
  shale_batch_free(b->batch);
  free(b->err);
  free(b);
}

void leveldb_writebatch_clear(leveldb_writebatch_t *b) {
  if (!b) return;
  shale_batch_clear(b->batch);
  free(b->err);
  b->err = NULL;
  b->rc = SHALE_OK;
}

static void keep_failure(leveldb_writebatch_t *b, int rc, const char *what) {
  if (rc == SHALE_OK || b->rc) return;
  b->rc = rc;
  b->err = what ? strdup(what) : NULL;
}

void leveldb_writebatch_put(leveldb_writebatch_t *b, const char *key, size_t klen, const char *val,
                            size_t vlen) {
  if (!b) return;
  keep_failure(b, shale_batch_put(b->batch, key, klen, val, vlen),
               "leveldb_writebatch_put: a key or value too long, or NULL with a length");
}

void leveldb_writebatch_delete(leveldb_writebatch_t *b, const char *key, size_t klen) {
  if (!b) return;
  keep_failure(b, shale_batch_delete(b->batch, key, klen),
               "leveldb_writebatch_delete: a key too long, or NULL with a length");
}

struct iterate_ctx {
  void *state;
  void (*put)(void *, const char *k, size_t klen, const char *v, size_t vlen);
  void (*deleted)(void *, const char *k, size_t klen);
};

/* Only puts and deletes reach a batch through this API, so there is no range delete to
 * report. An empty key or value is passed as "" rather than NULL. */
static int visit(void *arg, int op, const void *key, size_t klen, const void *val, size_t vlen) {
  struct iterate_ctx *ctx = arg;
  const char *k = key ? key : "";
  if (op == SHALE_OP_PUT && ctx->put) ctx->put(ctx->state, k, klen, val ? val : "", vlen);
  if (op == SHALE_OP_DELETE && ctx->deleted) ctx->deleted(ctx->state, k, klen);
  return 0;
}

void leveldb_writebatch_iterate(const leveldb_writebatch_t *b, void *state,
                                void (*put)(void *, const char *k, size_t klen, const char *v,
                                            size_t vlen),
                                void (*deleted)(void *, const char *k, size_t klen)) {
  if (!b) return;
  struct iterate_ctx ctx = {state, put, deleted};
  shale_batch_iterate(b->batch, visit, &ctx);
}

static int append_one(void *arg, int op, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  shale_batch *dst = arg;
  if (op == SHALE_OP_PUT) return shale_batch_put(dst, key, klen, val, vlen);
  if (op == SHALE_OP_DELETE) return shale_batch_delete(dst, key, klen);
  return shale_batch_delete_range(dst, key, klen, val, vlen);
}

void leveldb_writebatch_append(leveldb_writebatch_t *destination,
                               const leveldb_writebatch_t *source) {
  if (!destination || !source) return;
  if (source->rc) {
    keep_failure(destination, source->rc, source->err);
    return;
  }
  keep_failure(destination, shale_batch_iterate(source->batch, append_one, destination->batch),
               "leveldb_writebatch_append: out of memory");
}
