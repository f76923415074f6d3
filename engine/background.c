/* background.c — the background threads (max_background_jobs of them) that flush sealed
 * memtables, run compactions and seal the memtable early for a delete deadline or a
 * compaction suggestion, the publication of new versions, and shale_flush. One flush runs
 * at a time so flushes install oldest first. */
#include <stdlib.h>
#include <time.h>

#include "engine/db_impl.h"
#include "engine/compaction.h"
#include "engine/errmsg.h"
#include "engine/flush.h"
#include "engine/background.h"
#include "engine/compaction_job.h"
#include "engine/db.h"
#include "engine/flush_job.h"
#include "engine/listeners.h"
#include "engine/view_cache.h"
#include "engine/write.h"
#include "io/io.h"
#include "util/clock.h"

void db_set_bg_error(shale_db *db, int rc, const char *msg) {
  if (!db->bg_error) {
    db->bg_error = rc;
    snprintf(db->bg_errmsg, sizeof db->bg_errmsg, "%s", msg ? msg : shale_strerror(rc));
    db_log(db, "background error, DB is read-only until reopened: %s", msg);
    listeners_background_error(db, rc, db->bg_errmsg);
  }
  pthread_cond_broadcast(&db->bg_cv);
}

/* A MANIFEST is rolled once it is past its size limit, or past 1 MiB and eight times what
 * a fresh snapshot of the live files would take: a long run of small flushes and deletes
 * must not leave megabytes of history behind a nearly empty DB. */
static int manifest_due(shale_db *db) SH_REQUIRES(db->manifest_mu) {
  uint64_t size = wal_writer_size(db->vset.manifest);
  if (size >= db->opt.manifest_roll_bytes) return 1;
  uint64_t files = 0;
  for (int l = 0; l < NUM_LEVELS; l++) files += (uint64_t)db->vset.current->nfiles[l];
  uint64_t snapshot = 256 + files * 160; /* a file record: ~100 bytes plus two keys */
  return size >= (1u << 20) && size >= 8 * snapshot;
}

void db_maybe_roll_manifest(shale_db *db) {
  if (!manifest_due(db)) return;
  sh_mutex_lock(&db->mu);
  uint64_t number = db->next_file_number++;
  uint64_t next = db->next_file_number;
  sh_mutex_unlock(&db->mu);
  char msg[ERRMSG_SIZE];
  if (vset_write_snapshot(&db->vset, number, next, msg))
    db_log(db, "starting a new MANIFEST failed, the old one stays in use: %s", msg);
  else
    db_log(db, "started MANIFEST-%06llu", (unsigned long long)number);
}

int db_publish_version(shale_db *db, int drop_oldest_imm) {
  read_view *cur = db->view;
  read_view *v = read_view_new(cur->mem, cur->imm, cur->imm_count - (drop_oldest_imm ? 1 : 0),
                               db->vset.current, db->next_view_number++);
  if (!v) return SHALE_NOMEM;
  db_view_publish(db, v);
  listeners_check_persisted(db, v);
  return SHALE_OK;
}

/* How long the background waits after a seal failed before it tries again. */
#define SEAL_RETRY_US 1000000

static int flush_wanted(shale_db *db) SH_REQUIRES(db->mu) {
  return !db->flush_running && !db->bg_error && db->view->imm_count > 0;
}

/* Under a persistence deadline the mutable memtable is sealed early when its oldest
 * tombstone has waited a share of the deadline, so deletes reach tables on time. */
static int deadline_seal_wanted(shale_db *db) SH_REQUIRES(db->mu) {
  if (db->opt.delete_persist_seconds <= 0 || db->bg_error || db->shutting_down) return 0;
  memtable_stats st;
  memtable_get_stats(db->mem, &st);
  uint64_t share = (uint64_t)(db->opt.delete_persist_seconds * 1e6 / DEADLINE_SLACK);
  return st.oldest_tomb_us && st.oldest_tomb_us + share < clock_wall_us();
}

/* Sleeps until woken, or until the wall-clock time wake_us (0: none) when a suggestion
 * waits for deletes to pause. */
static void wait_for_work(shale_db *db, uint64_t wake_us) SH_REQUIRES(db->mu) {
  if (db->opt.delete_persist_seconds > 0) {
    /* deadlines pass without any write to wake us: look again at a fraction of D */
    double step = db->opt.delete_persist_seconds / (2.0 * DEADLINE_SLACK);
    if (step > 1.0) step = 1.0;
    uint64_t look = clock_wall_us() + (uint64_t)(step * 1e6);
    if (!wake_us || look < wake_us) wake_us = look;
  }
  if (!wake_us) {
    sh_cond_wait(&db->bg_cv, &db->mu);
    return;
  }
  struct timespec ts = {(time_t)(wake_us / 1000000u), (long)(wake_us % 1000000u) * 1000};
  sh_cond_timedwait(&db->bg_cv, &db->mu, &ts);
}

static void *bg_main(void *arg) {
  shale_db *db = arg;
  char errmsg[ERRMSG_SIZE];
  compaction c;
  sh_mutex_lock(&db->mu);
  for (;;) {
    if (flush_wanted(db)) {
      flush_oldest(db, errmsg);
      continue;
    }
    if (!db->shutting_down && !db->manual_compaction && compaction_pick(db, &c)) {
      if (compaction_run(db, &c, errmsg) == SHALE_OK) compaction_carry_marks(db, &c);
      compaction_free(&c);
      continue;
    }
    uint64_t wake_us = 0;
    if (deadline_seal_wanted(db) || compaction_hint_seal_wanted(db, &wake_us)) {
      sh_mutex_unlock(&db->mu);
      int rc = db_write_seal(db);
      sh_mutex_lock(&db->mu);
      if (rc == SHALE_OK) continue;
      /* A seal that failed for want of memory leaves the reason to seal in place: look
       * again later, not at once. (One that failed on the disk turned the DB read-only.) */
      wake_us = clock_wall_us() + SEAL_RETRY_US;
    }
    if (db->shutting_down) break;
    wait_for_work(db, wake_us);
  }
  sh_mutex_unlock(&db->mu);
  return NULL;
}

int bg_start(shale_db *db, char *errmsg) {
  int n = db->opt.max_background_jobs;
  db->bg_threads = calloc((size_t)n, sizeof *db->bg_threads);
  if (!db->bg_threads) return err_set(errmsg, SHALE_NOMEM, "out of memory starting threads");
  for (int i = 0; i < n; i++) {
    if (pthread_create(&db->bg_threads[i], NULL, bg_main, db)) {
      bg_stop(db);
      return err_set(errmsg, SHALE_NOMEM, "cannot start background thread %d", i);
    }
    db->n_bg_threads++;
  }
  return SHALE_OK;
}

/* Pending flushes finish first, so a clean close leaves nothing for the WAL to replay. */
void bg_stop(shale_db *db) {
  sh_mutex_lock(&db->mu);
  db->shutting_down = 1;
  pthread_cond_broadcast(&db->bg_cv);
  sh_mutex_unlock(&db->mu);
  for (int i = 0; i < db->n_bg_threads; i++) pthread_join(db->bg_threads[i], NULL);
  free(db->bg_threads);
  db->bg_threads = NULL;
  db->n_bg_threads = 0;
}

/* Waits while sealed memtables pile up: the flush threads must catch up first. */
static int wait_for_flush_room(shale_db *db) SH_REQUIRES(db->mu) {
  if (db->view->imm_count < db->opt.max_immutable_memtables) return SHALE_OK;
  uint64_t start = clock_mono_us();
  atomic_fetch_add(&db->stats.stalls, 1);
  db_log(db, "write stall: %d sealed memtables waiting for flush", db->view->imm_count);
  listeners_stall(db, 0, SHALE_STALL_MEMTABLES);
  while (db->view->imm_count >= db->opt.max_immutable_memtables && !db->bg_error)
    sh_cond_wait(&db->bg_cv, &db->mu);
  listeners_stall(db, 1, SHALE_STALL_MEMTABLES);
  atomic_fetch_add(&db->stats.stall_micros, clock_mono_us() - start);
  return db->bg_error ? SHALE_READONLY : SHALE_OK;
}

/* Too many L0 files make every read slower: slow writers down, then stop them, until
 * compaction catches up. */
static int wait_for_l0_room(shale_db *db) SH_REQUIRES(db->mu) {
  int n = db->vset.current->nfiles[0];
  if (n < db->opt.level0_slowdown_trigger) return SHALE_OK;
  uint64_t start = clock_mono_us();
  atomic_fetch_add(&db->stats.stalls, 1);
  int reason = n < db->opt.level0_stop_trigger ? SHALE_STALL_L0_SLOWDOWN : SHALE_STALL_L0_STOP;
  listeners_stall(db, 0, reason);
  if (n < db->opt.level0_stop_trigger) {
    sh_mutex_unlock(&db->mu);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    sh_mutex_lock(&db->mu);
  } else {
    db_log(db, "write stop: %d L0 files waiting for compaction", n);
    while (db->vset.current->nfiles[0] >= db->opt.level0_stop_trigger && !db->bg_error &&
           !db->shutting_down)
      sh_cond_wait(&db->bg_cv, &db->mu);
  }
  listeners_stall(db, 1, reason);
  atomic_fetch_add(&db->stats.stall_micros, clock_mono_us() - start);
  return db->bg_error ? SHALE_READONLY : SHALE_OK;
}

int flush_make_room(shale_db *db, char *errmsg) {
  if (memtable_bytes(db->mem) < db->opt.write_buffer_size) return SHALE_OK;
  int rc = wait_for_l0_room(db);
  if (!rc) rc = wait_for_flush_room(db);
  if (rc)
    return err_set(errmsg, rc, "the DB turned read-only after a background error: %s (%s)",
                   db->bg_errmsg, shale_strerror(db->bg_error));
  if ((rc = db_seal_memtable(db, errmsg))) return rc;
  pthread_cond_broadcast(&db->bg_cv);
  return SHALE_OK;
}

/* Does the view still hold a sealed memtable whose WAL is older than log? */
static int unflushed_before(const read_view *v, uint64_t log) {
  const memtable *m = v->imm;
  for (int i = 0; i < v->imm_count; i++, m = memtable_next(m))
    if (memtable_log_number(m) < log) return 1;
  return 0;
}

static int flush_call(shale_db *db) {
  int rc = db_write_seal(db);
  if (rc) return rc;
  sh_mutex_lock(&db->mu);
  uint64_t target = db->log_number; /* everything sealed before now has an older WAL */
  while (unflushed_before(db->view, target) && !db->bg_error) sh_cond_wait(&db->bg_cv, &db->mu);
  rc = db->bg_error;
  char why[ERRMSG_SIZE] = "";
  if (rc)
    snprintf(why, sizeof why, "flush failed: the DB is read-only after an earlier error: %.300s",
             db->bg_errmsg);
  sh_mutex_unlock(&db->mu);
  return rc ? db_fail(db, SHALE_READONLY, why) : SHALE_OK;
}

int shale_flush(shale_db *db) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, flush_call(db));
}
