/* write.c — the write path: writers queue, a leader takes a group, appends it to the WAL in
 * one write (fsync if any member asked), inserts it into the memtable and then publishes
 * the last sequence, so a reader sees a whole group or none of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/bg_error.h"
#include "engine/db_impl.h"
#include "engine/errmsg.h"
#include "engine/flush.h"
#include "engine/iter.h"
#include "engine/mem_insert.h"
#include "engine/write.h"
#include "engine/statistics.h"
#include "util/clock.h"
#include "util/ikey.h"

/* A group stops growing here so one slow fsync does not hold many writers hostage. */
#define MAX_GROUP_BYTES (1u << 20)

struct writer {
  buf *rep;
  unsigned flags;
  int seal; /* not a write: seal the memtable at this point of the queue (shale_flush) */
  db_exclusive_fn exclusive; /* not a write: run this alone at the queue's head (ingest) */
  void *arg;
  int done, rc;
  pthread_cond_t cv;
  writer *next;
};

/* Deletes in key order after which the leader walks the run they form. */
#define DELETE_RUN_WALK 64

/* After the group is published, while this thread is still the only writer: a long enough
 * run of ordered deletes is walked now, so that no reader steps over it later. The next run
 * starts at its last key, which the span just made holds, so walks chain into one span. */
static void walk_delete_run(shale_db *db) SH_REQUIRES(db->mu) {
  delete_run *r = &db->del_run;
  if (r->count < DELETE_RUN_WALK || !r->lo.len) return;
  sh_mutex_unlock(&db->mu);
  iter_mark_deleted_run(db, r->lo.data, r->lo.len, r->last.data, r->last.len);
  sh_mutex_lock(&db->mu);
  buf_clear(&r->lo);
  buf_append(&r->lo, r->last.data, r->last.len);
  r->count = 0;
}

void db_seqs_recovered(shale_db *db, uint64_t seq) {
  sh_mutex_lock(&db->mu);
  db_mu_state *s = db_mu_held(db);
  if (seq > s->last_allocated_seq) s->last_allocated_seq = seq;
  sh_mutex_unlock(&db->mu);
}

uint64_t db_last_allocated_seq(shale_db *db) {
  sh_mutex_lock(&db->mu);
  uint64_t seq = db_mu_held(db)->last_allocated_seq;
  sh_mutex_unlock(&db->mu);
  return seq;
}

uint64_t db_allocate_seqs(shale_db *db, uint64_t count) {
  db_mu_state *s = db_mu_held(db);
  uint64_t first = s->last_allocated_seq + 1;
  s->last_allocated_seq += count;
  dead_spans_allocated(&db->spans, s->last_allocated_seq); /* before any memtable sees them */
  return first;
}

/* Not a write but a point in the queue (a seal, an ingest): it has no rep, and runs alone. */
static int is_marker(const writer *w) { return w->seal || w->exclusive; }

/* Collects the writers after the leader that can share its WAL record. REQUIRES: mu held. */
static writer *build_group(writer *leader, buf *group, int *sync) {
  writer *last = leader;
  size_t bytes = leader->rep->len;
  *sync = (leader->flags & SHALE_SYNC) != 0;
  for (writer *w = leader->next; w; w = w->next) {
    if (is_marker(w) || (w->flags & SHALE_NO_WAL) != (leader->flags & SHALE_NO_WAL)) break;
    if (bytes + w->rep->len > MAX_GROUP_BYTES) break;
    if (last == leader) {
      buf_clear(group);
      buf_append(group, leader->rep->data, leader->rep->len);
    }
    batch_rep_append(group, w->rep->data, w->rep->len);
    bytes += w->rep->len;
    *sync |= (w->flags & SHALE_SYNC) != 0;
    last = w;
  }
  return last;
}

/* Inserts the group with every put cut out of the dead spans, under the spans' lock. */
static int insert_cutting(shale_db *db, const buf *rep, mem_insert *c) {
  dead_spans_cut_begin(&db->spans);
  c->cut = &db->spans;
  int rc = batch_rep_iterate(rep->data, rep->len, mem_insert_record, c);
  dead_spans_cut_end(&db->spans, batch_rep_seq(rep->data) + batch_rep_count(rep->data) - 1);
  return rc;
}

/* Appends to the WAL and applies to the memtable; runs without mu, as the only leader. */
static int apply_group(shale_db *db, buf *rep, unsigned flags, int sync, char *errmsg) {
  int rc = SHALE_OK;
  if (!(flags & SHALE_NO_WAL)) {
    rc = wal_writer_add(db->wal, rep->data, rep->len, errmsg);
    atomic_fetch_add_explicit(&db->stats.wal_bytes, rep->len, memory_order_relaxed);
    if (!rc && sync) {
      uint64_t start = clock_mono_us();
      rc = wal_writer_sync(db->wal, errmsg);
      db_histogram_add_us(db, SHALE_HIST_WAL_SYNC, clock_mono_us() - start);
      atomic_fetch_add_explicit(&db->stats.wal_syncs, 1, memory_order_relaxed);
    }
    if (rc) return rc;
  }
  /* A put revives its key, so it leaves every dead span before it becomes visible: the cut
   * (and the put log) rides the insert pass, under the spans' lock only while spans exist
   * or the log runs. */
  /* Delete runs are walked into dead spans, which are bytewise only (iter.c). */
  mem_insert c = {db->mem, db->cmp ? NULL : &db->del_run, NULL, 0, 0, 0};
  rc = dead_spans_active(&db->spans)
           ? insert_cutting(db, rep, &c)
           : batch_rep_iterate(rep->data, rep->len, mem_insert_record, &c);
  if (c.deletes)
    atomic_fetch_add_explicit(&db->stats.keys_deleted, c.deletes, memory_order_relaxed);
  if (c.range_deletes)
    atomic_fetch_add_explicit(&db->stats.ranges_deleted, c.range_deletes, memory_order_relaxed);
  if (rc) return err_set(errmsg, rc, "memtable insert failed: %s", shale_strerror(rc));
  return SHALE_OK;
}

static void finish_group(shale_db *db, writer *leader, writer *last, int rc) SH_REQUIRES(db->mu) {
  for (writer *w = leader->next, *stop = last->next; w != stop; w = w->next) {
    w->done = 1;
    w->rc = rc;
    pthread_cond_signal(&w->cv);
  }
  db_mu_state *s = db_mu_held(db);
  s->queue_head = last->next;
  if (!s->queue_head)
    s->queue_tail = NULL;
  else
    pthread_cond_signal(&s->queue_head->cv);
}

static int lead_group(shale_db *db, writer *w, buf *group, char *errmsg) SH_REQUIRES(db->mu) {
  if (w->exclusive) {
    int rc = w->exclusive(db, w->arg, errmsg);
    finish_group(db, w, w, rc);
    return rc;
  }
  int rc = w->seal ? (memtable_count(db->mem) ? db_seal_memtable(db, errmsg) : SHALE_OK)
                   : flush_make_room(db, errmsg);
  if (w->seal) {
    pthread_cond_broadcast(&db->bg_cv);
    finish_group(db, w, w, rc);
    return rc;
  }
  if (rc) {
    finish_group(db, w, w, rc);
    return rc;
  }
  int sync;
  writer *last = build_group(w, group, &sync);
  buf *rep = last == w ? w->rep : group;
  if (!buf_ok(rep)) {
    finish_group(db, w, w, SHALE_NOMEM);
    return err_set(errmsg, SHALE_NOMEM, "out of memory building a write group");
  }
  atomic_fetch_add_explicit(&db->stats.bytes_written_user, rep->len - BATCH_HEADER,
                            memory_order_relaxed);
  batch_rep_set_seq(rep->data, db_allocate_seqs(db, batch_rep_count(rep->data)));
  if (w->flags & SHALE_NO_WAL)
    db_mu_held(db)->wal_skipped = 1; /* close must flush what no WAL holds */
  sh_mutex_unlock(&db->mu);
  rc = apply_group(db, rep, w->flags, sync, errmsg);
  sh_mutex_lock(&db->mu);
  if (rc) {
    /* What reached the WAL or memtable may be partial: no later write may build on it. */
    db_set_bg_error(db, rc, errmsg);
  } else {
    atomic_store_explicit(&db->last_seq, db_mu_held(db)->last_allocated_seq, memory_order_release);
    atomic_fetch_add_explicit(&db->stats.write_groups, 1, memory_order_relaxed);
    walk_delete_run(db);
  }
  finish_group(db, w, last, rc);
  return rc;
}

static int queue_and_lead(shale_db *db, writer w) {
  char errmsg[ERRMSG_SIZE] = "";
  pthread_cond_init(&w.cv, NULL);
  sh_mutex_lock(&db->mu);
  int rc;
  db_mu_state *s = db_mu_held(db); /* mu is held until `out` */
  if (s->bg_error) {
    rc = SHALE_READONLY;
    if (db->opt.read_only)
      snprintf(errmsg, sizeof errmsg, "the DB was opened read_only: writes are refused");
    else
      snprintf(errmsg, sizeof errmsg, "the DB is read-only after an earlier error: %.300s (%s)",
               s->bg_errmsg, shale_strerror(s->bg_error));
    goto out;
  }
  if (s->queue_tail)
    s->queue_tail->next = &w;
  else
    s->queue_head = &w;
  s->queue_tail = &w;
  while (!w.done && s->queue_head != &w) sh_cond_wait(&w.cv, &db->mu);
  if (w.done) {
    rc = w.rc;
    goto out;
  }
  buf group;
  buf_init(&group);
  rc = lead_group(db, &w, &group, errmsg);
  buf_free(&group);
out:
  sh_mutex_unlock(&db->mu);
  pthread_cond_destroy(&w.cv);
  return rc ? db_fail(db, rc, errmsg) : SHALE_OK;
}

int db_write_rep(shale_db *db, buf *rep, unsigned flags) {
  if (batch_rep_count(rep->data) == 0) return SHALE_OK;
  return queue_and_lead(db, (writer){.rep = rep, .flags = flags});
}

int db_write_seal(shale_db *db) { return queue_and_lead(db, (writer){.seal = 1}); }

int db_write_exclusive(shale_db *db, db_exclusive_fn fn, void *arg) {
  return queue_and_lead(db, (writer){.exclusive = fn, .arg = arg});
}

/* ---- public write calls ---- */

static int key_ok(const void *key, size_t klen) {
  return (key || !klen) && klen <= SHALE_MAX_KEY_SIZE; /* NULL with 0: the empty key */
}

/* Single operations encode into a stack buffer when small, to keep malloc off the path. */
static int write_one(shale_db *db, unsigned kind, const void *k, size_t kl, const void *v,
                     size_t vl, unsigned flags) {
  uint8_t stack[512];
  buf rep = {stack, 0, sizeof stack, 0};
  size_t need = BATCH_HEADER + 1 + 20 + kl + vl;
  if (need > sizeof stack) buf_init(&rep);
  uint8_t hdr[BATCH_HEADER] = {0};
  buf_append(&rep, hdr, sizeof hdr);
  batch_rep_add(&rep, kind, k, kl, v, vl);
  int rc = buf_ok(&rep) ? db_write_rep(db, &rep, flags)
                        : db_fail(db, SHALE_NOMEM, "out of memory encoding a write");
  if (rep.data != stack) buf_free(&rep);
  return rc;
}

static int flags_ok(unsigned flags) { return (flags & ~(SHALE_SYNC | SHALE_NO_WAL)) == 0; }

/* SHALE_SYNC asks for a WAL fsync that SHALE_NO_WAL forbids: taking either silently would
 * give the caller a durability the write does not have, or a cost it did not ask for. */
static int flags_check(shale_db *db, unsigned flags, const char *call) {
  char msg[160];
  if (!flags_ok(flags)) {
    snprintf(msg, sizeof msg, "%s: unknown flags 0x%x (only SHALE_SYNC, SHALE_NO_WAL)", call,
             flags);
    return db_fail(db, SHALE_INVALID, msg);
  }
  if ((flags & SHALE_SYNC) && (flags & SHALE_NO_WAL)) {
    snprintf(msg, sizeof msg,
             "%s: SHALE_SYNC and SHALE_NO_WAL together: a write without a WAL has nothing to "
             "sync; pass one of them",
             call);
    return db_fail(db, SHALE_INVALID, msg);
  }
  return SHALE_OK;
}

static int put_call(shale_db *db, const void *key, size_t klen, const void *val, size_t vlen,
                    unsigned flags) {
  if (!key_ok(key, klen) || (!val && vlen) || vlen > SHALE_MAX_VALUE_SIZE)
    return db_fail(db, SHALE_INVALID, "put: oversized key or value, or NULL with a length");
  int rc = flags_check(db, flags, "put");
  if (rc) return rc;
  atomic_fetch_add_explicit(&db->stats.puts, 1, memory_order_relaxed);
  return write_one(db, KIND_PUT, key, klen, val ? val : "", vlen, flags);
}

static int delete_call(shale_db *db, const void *key, size_t klen, unsigned flags) {
  if (!key_ok(key, klen))
    return db_fail(db, SHALE_INVALID, "delete: oversized key, or NULL with a length");
  int rc = flags_check(db, flags, "delete");
  if (rc) return rc;
  atomic_fetch_add_explicit(&db->stats.deletes, 1, memory_order_relaxed);
  return write_one(db, KIND_DEL, key, klen, NULL, 0, flags);
}

static int delete_range_call(shale_db *db, const void *begin, size_t blen, const void *end,
                             size_t elen, unsigned flags) {
  int rc = flags_check(db, flags, "delete_range");
  if (rc) return rc;
  buf rep;
  buf_init(&rep);
  uint8_t hdr[BATCH_HEADER] = {0};
  buf_append(&rep, hdr, sizeof hdr);
  rc = buf_ok(&rep) ? batch_rep_add_range(&rep, db->cmp, 1, begin, blen, end, elen) : SHALE_NOMEM;
  if (rc == SHALE_NOTSUP)
    rc = db_fail(db, rc, "delete_range: a DB with a comparator takes no open (NULL) ends");
  else if (rc == SHALE_INVALID)
    rc = db_fail(db, rc,
                 "delete_range: oversized bound, a NULL bound with a length, or begin not "
                 "below end");
  else if (rc)
    rc = db_fail(db, rc, "out of memory encoding a range delete");
  if (!rc) atomic_fetch_add_explicit(&db->stats.range_deletes, 1, memory_order_relaxed);
  if (!rc) rc = db_write_rep(db, &rep, flags);
  buf_free(&rep);
  return rc;
}

static int write_call(shale_db *db, shale_batch *b, unsigned flags) {
  if (!b) return db_fail(db, SHALE_INVALID, "write: NULL batch");
  int rc = flags_check(db, flags, "write");
  if (rc) return rc;
  if (b->open_ranges && db->cmp)
    return db_fail(db, SHALE_NOTSUP,
                   "write: a DB with a comparator takes no range delete with an open (NULL) end");
  if (b->ranges && batch_rep_check_ranges(b->rep.data, b->rep.len, db->cmp))
    return db_fail(db, SHALE_INVALID, "write: a range delete's begin is not below its end");
  atomic_fetch_add_explicit(&db->stats.batches, 1, memory_order_relaxed);
  return db_write_rep(db, &b->rep, flags);
}

/* The public calls: each clears the calling thread's old detail first (engine/errmsg.c). */
int shale_put(shale_db *db, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned flags) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = put_call(db, key, klen, val, vlen, flags);
  op_timer_stop(db, SHALE_HIST_WRITE, start);
  return db_call_end(db, rc);
}

int shale_delete(shale_db *db, const void *key, size_t klen, unsigned flags) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = delete_call(db, key, klen, flags);
  op_timer_stop(db, SHALE_HIST_WRITE, start);
  return db_call_end(db, rc);
}

int shale_delete_range(shale_db *db, const void *begin, size_t blen, const void *end, size_t elen,
                       unsigned flags) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = delete_range_call(db, begin, blen, end, elen, flags);
  op_timer_stop(db, SHALE_HIST_WRITE, start);
  return db_call_end(db, rc);
}

int shale_write(shale_db *db, shale_batch *b, unsigned flags) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  uint64_t start = op_timer_start(db);
  int rc = write_call(db, b, flags);
  op_timer_stop(db, SHALE_HIST_WRITE, start);
  return db_call_end(db, rc);
}
