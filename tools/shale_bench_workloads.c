/* shale_bench_workloads.c — the bodies of shale-bench's benchmarks, one function per thread,
 * following db_bench's DoWrite / ReadRandom / SeekRandom / DoDelete loops. The hot loops
 * reuse per-thread key buffers and batches: the tool must not be what limits the engine. */
#include <stdlib.h>
#include <string.h>

#include "shale_bench.h"

#define STOPPED(r) atomic_load_explicit(&(r)->stop, memory_order_relaxed)

static inline uint64_t rand_key(bench_thread *t) {
  uint64_t n = (uint64_t)t->run->num;
  return n ? bench_rand(&t->rng) % n : 0;
}

static inline uint64_t next_key(bench_thread *t, int random, uint64_t *seq) {
  return random ? rand_key(t) : (*seq)++;
}

/* ---- writes ---- */

/* One put, or one batch of r->batch puts, counted as that many ops. */
static int write_step(bench_thread *t, int random, uint64_t *seq) {
  bench_run *r = t->run;
  size_t ks = (size_t)r->key_size, vs = (size_t)r->value_size;
  bench_pace_write(r, (uint64_t)r->batch * (ks + vs));
  if (r->batch == 1) {
    bench_key_set(t->key, r->key_size, next_key(t, random, seq));
    const char *v = bench_value_next(&t->vpos, vs);
    if (!bench_ok(t, shale_put(r->db, t->key, ks, v, vs, r->wflags), "shale_put")) return 0;
  } else {
    shale_batch_clear(t->batch);
    for (int64_t j = 0; j < r->batch; j++) {
      bench_key_set(t->key, r->key_size, next_key(t, random, seq));
      const char *v = bench_value_next(&t->vpos, vs);
      if (!bench_ok(t, shale_batch_put(t->batch, t->key, ks, v, vs), "shale_batch_put")) return 0;
    }
    if (!bench_ok(t, shale_write(r->db, t->batch, r->wflags), "shale_write")) return 0;
  }
  t->bytes += r->batch * (int64_t)(ks + vs);
  t->nwrites += r->batch;
  bench_finished(t, r->batch, OP_WRITE);
  return 1;
}

/* --writes_per_range_tombstone: after every N writes (past --writes_before_delete_range),
 * delete [k, k + range_tombstone_width) where k is the key generator's next key, as db_bench. */
static int maybe_range_delete(bench_thread *t, int random, uint64_t *seq) {
  const bench_flags *f = t->run->f;
  int64_t n = f->writes_per_range_tombstone, since = t->nwrites - f->writes_before_delete_range;
  if (n <= 0 || since <= 0 || since / n <= t->range_dels) return 1;
  if (f->max_num_range_tombstones > 0 && t->range_dels >= f->max_num_range_tombstones) return 1;
  uint64_t begin = next_key(t, random, seq);
  bench_key_set(t->key, t->run->key_size, begin);
  bench_key_set(t->key2, t->run->key_size, begin + (uint64_t)f->range_tombstone_width);
  t->range_dels++;
  int rc = shale_delete_range(t->run->db, t->key, (size_t)t->run->key_size, t->key2,
                              (size_t)t->run->key_size, t->run->wflags);
  return bench_ok(t, rc, "shale_delete_range");
}

static void do_write(bench_thread *t, int random) {
  bench_run *r = t->run;
  uint64_t seq = 0;
  while (!bench_done(t, r->batch, r->writes))
    if (!write_step(t, random, &seq) || !maybe_range_delete(t, random, &seq)) return;
}

void bench_fillseq(bench_thread *t) { do_write(t, 0); }
void bench_fillrandom(bench_thread *t) { do_write(t, 1); }

/* ---- point reads ---- */

int bench_get_key(bench_thread *t, uint64_t k) {
  bench_run *r = t->run;
  void *v;
  size_t vlen;
  bench_key_set(t->key, r->key_size, k);
  int rc = shale_get(r->db, NULL, t->key, (size_t)r->key_size, &v, &vlen);
  t->nreads++;
  if (rc == SHALE_NOTFOUND) return 0;
  if (!bench_ok(t, rc, "shale_get")) return -1;
  shale_free(v);
  t->found++;
  t->bytes += r->key_size + (int64_t)vlen;
  return 1;
}

void bench_readrandom(bench_thread *t) {
  while (!bench_done(t, 1, t->run->reads)) {
    if (bench_get_key(t, rand_key(t)) < 0) return;
    bench_finished(t, 1, OP_READ);
  }
}

/* db_bench's MultiReadRandom: --batch_size random keys per shale_multi_get, each key a read
 * (found, bytes and the op count as readrandom's). */
typedef struct multi_batch {
  char *keys;
  const void **kp;
  size_t *klens, *vlens;
  void **vals;
  int *rcs;
} multi_batch;

static void multi_free(multi_batch *m) {
  free(m->keys), free(m->kp), free(m->klens), free(m->vlens), free(m->vals), free(m->rcs);
}

static int multi_alloc(multi_batch *m, size_t n, size_t ksize) {
  m->keys = malloc(n * ksize);
  m->kp = malloc(n * sizeof *m->kp);
  m->klens = malloc(n * sizeof *m->klens);
  m->vlens = malloc(n * sizeof *m->vlens);
  m->vals = malloc(n * sizeof *m->vals);
  m->rcs = malloc(n * sizeof *m->rcs);
  if (!m->keys || !m->kp || !m->klens || !m->vlens || !m->vals || !m->rcs) return -1;
  for (size_t i = 0; i < n; i++) {
    bench_key_init(m->keys + i * ksize, (int64_t)ksize);
    m->kp[i] = m->keys + i * ksize;
    m->klens[i] = ksize;
  }
  return 0;
}

/* One multi-get of n random keys; returns 0, or -1 when the run must stop. */
static int multi_get_one(bench_thread *t, multi_batch *m, size_t n) {
  bench_run *r = t->run;
  for (size_t i = 0; i < n; i++) bench_key_set(m->keys + i * m->klens[0], r->key_size, rand_key(t));
  int rc = shale_multi_get(r->db, NULL, n, m->kp, m->klens, m->vals, m->vlens, m->rcs);
  for (size_t i = 0; i < n; i++) {
    t->nreads++;
    if (m->rcs[i] == SHALE_OK) t->found++, t->bytes += r->key_size + (int64_t)m->vlens[i];
    shale_free(m->vals[i]);
  }
  return rc == SHALE_NOTFOUND || bench_ok(t, rc, "shale_multi_get") ? 0 : -1;
}

void bench_multireadrandom(bench_thread *t) {
  bench_run *r = t->run;
  size_t per = (size_t)r->batch;
  multi_batch m = {0};
  if (multi_alloc(&m, per, (size_t)r->key_size)) {
    fprintf(stderr, "shale-bench: out of memory\n");
    exit(1);
  }
  while (!bench_done(t, (int64_t)per, r->reads)) {
    if (multi_get_one(t, &m, per)) break;
    bench_finished(t, (int64_t)per, OP_READ);
  }
  multi_free(&m);
}

/* ---- iterators ---- */

static shale_iter *iter_open(bench_thread *t) {
  shale_iter *it = NULL;
  return bench_ok(t, shale_iter_new(t->run->db, NULL, &it), "shale_iter_new") ? it : NULL;
}

static int iter_close(bench_thread *t, shale_iter *it) {
  int rc = shale_iter_status(it);
  shale_iter_free(it);
  return bench_ok(t, rc, "shale_iter_status");
}

static void do_scan(bench_thread *t, int reverse) {
  shale_iter *it = iter_open(t);
  if (!it) return;
  if (reverse)
    shale_iter_seek_last(it);
  else
    shale_iter_seek_first(it);
  for (int64_t i = 0; i < t->run->reads && shale_iter_valid(it) && !STOPPED(t->run); i++) {
    size_t kl, vl;
    shale_iter_key(it, &kl);
    shale_iter_value(it, &vl);
    t->bytes += (int64_t)(kl + vl);
    bench_finished(t, 1, OP_READ);
    if (reverse)
      shale_iter_prev(it);
    else
      shale_iter_next(it);
  }
  iter_close(t, it);
}

void bench_readseq(bench_thread *t) { do_scan(t, 0); }
void bench_readreverse(bench_thread *t) { do_scan(t, 1); }

/* Seeks to a random key, counts an exact hit as found, then reads up to `nexts` entries. */
static void do_seek(bench_thread *t, int64_t nexts) {
  bench_run *r = t->run;
  shale_iter *it = iter_open(t);
  if (!it) return;
  while (!bench_done(t, 1, r->reads)) {
    bench_key_set(t->key, r->key_size, rand_key(t));
    shale_iter_seek(it, t->key, (size_t)r->key_size);
    t->nreads++;
    size_t kl, vl;
    if (shale_iter_valid(it)) {
      const void *k = shale_iter_key(it, &kl);
      if (kl == (size_t)r->key_size && memcmp(k, t->key, kl) == 0) t->found++;
    }
    for (int64_t j = 0; j < nexts && shale_iter_valid(it); j++) {
      shale_iter_key(it, &kl);
      shale_iter_value(it, &vl);
      t->bytes += (int64_t)(kl + vl);
      shale_iter_next(it);
    }
    if (!shale_iter_valid(it) && !bench_ok(t, shale_iter_status(it), "shale_iter_seek")) break;
    bench_finished(t, 1, OP_SEEK);
  }
  iter_close(t, it);
}

void bench_seekrandom(bench_thread *t) { do_seek(t, t->run->f->seek_nexts); }

/* scanafterdelete: each seek scans far enough to cross a deleted run. */
void bench_scanrandom(bench_thread *t) {
  const bench_flags *f = t->run->f;
  do_seek(t, f->seek_nexts > 0 ? f->seek_nexts : f->range_tombstone_width);
}

/* ---- deletes ---- */

static void do_delete(bench_thread *t, int random) {
  bench_run *r = t->run;
  size_t ks = (size_t)r->key_size;
  uint64_t seq = 0;
  while (!bench_done(t, r->batch, r->deletes)) {
    if (r->batch == 1) {
      bench_key_set(t->key, r->key_size, next_key(t, random, &seq));
      if (!bench_ok(t, shale_delete(r->db, t->key, ks, r->wflags), "shale_delete")) return;
    } else {
      shale_batch_clear(t->batch);
      for (int64_t j = 0; j < r->batch; j++) {
        bench_key_set(t->key, r->key_size, next_key(t, random, &seq));
        if (!bench_ok(t, shale_batch_delete(t->batch, t->key, ks), "shale_batch_delete")) return;
      }
      if (!bench_ok(t, shale_write(r->db, t->batch, r->wflags), "shale_write")) return;
    }
    bench_finished(t, r->batch, OP_DELETE);
  }
}

void bench_deleteseq(bench_thread *t) { do_delete(t, 0); }
void bench_deleterandom(bench_thread *t) { do_delete(t, 1); }

/* ---- mixed ---- */

int bench_put_key(bench_thread *t, uint64_t k, size_t value_size) {
  bench_run *r = t->run;
  bench_key_set(t->key, r->key_size, k);
  const char *v = bench_value_next(&t->vpos, value_size);
  int rc = shale_put(r->db, t->key, (size_t)r->key_size, v, value_size, r->wflags);
  t->nwrites++;
  t->bytes += r->key_size + (int64_t)value_size;
  return bench_ok(t, rc, "shale_put");
}

static int put_key(bench_thread *t, uint64_t k) {
  return bench_put_key(t, k, (size_t)t->run->value_size);
}

static int put_random(bench_thread *t) { return put_key(t, rand_key(t)); }

/* db_bench: thread 0 writes random keys until every reader is done; it does not report. */
void bench_readwhilewriting(bench_thread *t) {
  bench_run *r = t->run;
  if (t->tid > 0) {
    bench_readrandom(t);
    atomic_fetch_add(&r->readers_done, 1);
    return;
  }
  t->exclude = 1;
  while (atomic_load_explicit(&r->readers_done, memory_order_relaxed) < r->nthreads &&
         !STOPPED(r)) {
    bench_pace_write(r, (uint64_t)(r->key_size + r->value_size));
    if (!put_random(t)) return;
    bench_finished(t, 1, OP_WRITE);
  }
}

void bench_readrandomwriterandom(bench_thread *t) {
  bench_run *r = t->run;
  while (!bench_done(t, 1, r->reads)) {
    int read = (int64_t)(bench_rand(&t->rng) % 100) < r->f->readwritepercent;
    if (read ? bench_get_key(t, rand_key(t)) < 0 : !put_random(t)) return;
    bench_finished(t, 1, read ? OP_READ : OP_WRITE);
  }
}

/* Read-modify-write of random keys; one op per get+put, as db_bench's UpdateRandom. */
void bench_updaterandom(bench_thread *t) {
  bench_run *r = t->run;
  while (!bench_done(t, 1, r->reads)) {
    uint64_t k = rand_key(t);
    if (bench_get_key(t, k) < 0) return;
    const char *v = bench_value_next(&t->vpos, (size_t)r->value_size);
    int rc = shale_put(r->db, t->key, (size_t)r->key_size, v, (size_t)r->value_size, r->wflags);
    if (!bench_ok(t, rc, "shale_put")) return;
    t->bytes += r->key_size + r->value_size;
    bench_finished(t, 1, OP_UPDATE);
  }
}

/* ---- queues ---- */

static char *key_buffer(void) {
  char *buf = malloc(SHALE_MAX_KEY_SIZE);
  if (!buf) fprintf(stderr, "shale-bench: out of memory\n"), exit(1);
  return buf;
}

/* A new iterator for each pop, as a consumer that polls does: every pop pays the seek past
 * whatever the earlier pops left at the head. buf holds SHALE_MAX_KEY_SIZE bytes, since a
 * --use_existing_db queue may have keys of any size. Returns 1 popped, 0 empty, -1 stop. */
static int pop_head(bench_thread *t, char *buf) {
  bench_run *r = t->run;
  shale_iter *it = iter_open(t);
  if (!it) return -1;
  shale_iter_seek_first(it);
  size_t kl = 0, vl = 0;
  int valid = shale_iter_valid(it);
  if (valid) {
    const void *k = shale_iter_key(it, &kl);
    memcpy(buf, k, kl); /* the key is borrowed only until shale_iter_free */
    shale_iter_value(it, &vl);
    t->bytes += (int64_t)(kl + vl);
  }
  if (!iter_close(t, it)) return -1;
  if (!valid) return 0;
  return bench_ok(t, shale_delete(r->db, buf, kl, r->wflags), "shale_delete") ? 1 : -1;
}

void bench_queue(bench_thread *t) {
  bench_run *r = t->run;
  char *buf = key_buffer();
  bench_tenths_start(&r->tenths, r->queue_ops);
  for (int64_t i = 0; i < r->queue_ops && !STOPPED(r) && pop_head(t, buf) > 0; i++) {
    bench_finished(t, 1, OP_DELETE);
    bench_tenths_mark(&r->tenths, i + 1);
  }
  free(buf);
}

/* Pushes first, so the queue of --queue_live keys [0, live) holds live or live + 1 keys. */
void bench_queuesteady(bench_thread *t) {
  bench_run *r = t->run;
  char *buf = key_buffer();
  uint64_t tail = (uint64_t)r->f->queue_live;
  bench_tenths_start(&r->tenths, r->queue_ops);
  for (int64_t i = 0; i < r->queue_ops && !STOPPED(r); i++) {
    int pop = (int)(i % 2);
    if (pop ? pop_head(t, buf) <= 0 : !put_key(t, tail++)) break;
    bench_finished(t, 1, pop ? OP_DELETE : OP_WRITE);
    bench_tenths_mark(&r->tenths, i + 1);
  }
  free(buf);
}

/* ---- deleteruns and fillsurvivors ---- */

static int batch_flush(bench_thread *t, int op) {
  size_t n = t->batch ? shale_batch_count(t->batch) : 0;
  if (!n) return 1;
  if (!bench_ok(t, shale_write(t->run->db, t->batch, t->run->wflags), "shale_write")) return 0;
  shale_batch_clear(t->batch);
  bench_finished(t, (int64_t)n, op);
  return 1;
}

static int delete_key(bench_thread *t, uint64_t k) {
  bench_run *r = t->run;
  bench_key_set(t->key, r->key_size, k);
  return bench_ok(t, shale_delete(r->db, t->key, (size_t)r->key_size, r->wflags), "shale_delete");
}

/* A put or a delete of key k, applied at once or gathered into batches of --batch_size:
 * the layout's runs do not line up with batches, so batches span runs. */
static int layout_op(bench_thread *t, uint64_t k, int put) {
  bench_run *r = t->run;
  int op = put ? OP_WRITE : OP_DELETE;
  if (r->batch == 1) {
    int ok = put ? put_key(t, k) : delete_key(t, k);
    if (ok) bench_finished(t, 1, op);
    return ok;
  }
  size_t ks = (size_t)r->key_size, vs = (size_t)r->value_size;
  bench_key_set(t->key, r->key_size, k);
  int rc = put ? shale_batch_put(t->batch, t->key, ks, bench_value_next(&t->vpos, vs), vs)
               : shale_batch_delete(t->batch, t->key, ks);
  if (!bench_ok(t, rc, put ? "shale_batch_put" : "shale_batch_delete")) return 0;
  if (put) t->nwrites++, t->bytes += (int64_t)(ks + vs);
  return (int64_t)shale_batch_count(t->batch) < r->batch || batch_flush(t, op);
}

/* Applies layout_op to every key of the runs the layout deletes (put == 0) or keeps. */
static void layout_walk(bench_thread *t, int put) {
  bench_layout l;
  uint64_t begin, end;
  int want = put ? 0 : 1; /* bench_layout_next: 1 for a deleted run */
  bench_layout_init(&l, bench_seed(), t->run->num);
  for (int run; (run = bench_layout_next(&l, &begin, &end)) >= 0 && !STOPPED(t->run);)
    for (uint64_t k = begin; run == want && k < end; k++)
      if (!layout_op(t, k, put)) return;
  batch_flush(t, put ? OP_WRITE : OP_DELETE);
}

void bench_deleteruns(bench_thread *t) { layout_walk(t, 0); }
void bench_fillsurvivors(bench_thread *t) { layout_walk(t, 1); }

/* ---- untimed preparation ---- */

/* Deletes the keys [begin, end) with stride `step`, 1000 per batch. */
static int delete_keys(bench_run *r, shale_batch *b, char *key, uint64_t begin, uint64_t end,
                       uint64_t step) {
  int rc = SHALE_OK;
  for (uint64_t k = begin; k < end && rc == SHALE_OK; k += step) {
    bench_key_set(key, r->key_size, k);
    rc = shale_batch_delete(b, key, (size_t)r->key_size);
    if (rc == SHALE_OK && (shale_batch_count(b) >= 1000 || k + step >= end)) {
      rc = shale_write(r->db, b, r->wflags);
      shale_batch_clear(b);
    }
  }
  return rc;
}

static int prep_deletes(bench_run *r, int64_t width) {
  shale_batch *b = NULL;
  char *key = malloc((size_t)r->key_size + 8);
  int rc = key ? shale_batch_new(&b) : SHALE_NOMEM;
  if (rc == SHALE_OK) {
    bench_key_init(key, r->key_size);
    uint64_t num = (uint64_t)r->num, w = (uint64_t)width;
    if (width == 0) rc = delete_keys(r, b, key, 1, num, 2); /* every other key */
    for (uint64_t base = 0; width > 0 && base < num && rc == SHALE_OK; base += 2 * w)
      rc = delete_keys(r, b, key, base, base + w < num ? base + w : num, 1);
  }
  if (rc != SHALE_OK && rc != SHALE_NOTSUP)
    fprintf(stderr, "shale-bench: %s: deleting keys: %s (%s)\n", r->name, shale_strerror(rc),
            shale_errmsg(r->db));
  shale_batch_free(b);
  free(key);
  return rc;
}

int bench_delete_every_other(bench_run *r) { return prep_deletes(r, 0); }
int bench_delete_runs(bench_run *r, int64_t width) { return prep_deletes(r, width); }
