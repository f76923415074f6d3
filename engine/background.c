/* background.c — the background threads (max_background_jobs of them) that flush sealed
 * memtables, run compactions and seal the memtable early for a delete deadline or a
 * compaction suggestion, and shale_flush. One flush runs at a time so flushes install
 * oldest first. The jobs it runs (flush_job.c, compaction_job.c, write.c's seal) never call
 * back into it: what they share lives below (bg_error.c, install.c). */
#include <stdlib.h>
#include <time.h>

#include "engine/db_impl.h"
#include "engine/compaction.h"
#include "engine/errmsg.h"
#include "engine/background.h"
#include "engine/compaction_job.h"
#include "engine/flush_job.h"
#include "engine/write.h"
#include "util/clock.h"

/* How long the background waits after a seal failed before it tries again. */
#define SEAL_RETRY_US 1000000

static int flush_wanted(shale_db *db) SH_REQUIRES(db->mu) {
  const db_mu_state *s = db_mu_held(db);
  return !s->flush_running && !s->bg_error && db_view_under_mu(db)->imm_count > 0;
}

/* Under a persistence deadline the mutable memtable is sealed early when its oldest
 * tombstone has waited a share of the deadline, so deletes reach tables on time. */
static int deadline_seal_wanted(shale_db *db) SH_REQUIRES(db->mu) {
  const db_mu_state *s = db_mu_held(db);
  if (db->opt.delete_persist_seconds <= 0 || s->bg_error || s->shutting_down) return 0;
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
    if (!db_mu_held(db)->shutting_down && !db_mu_held(db)->manual_compaction &&
        compaction_pick(db, &c)) {
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
    if (db_mu_held(db)->shutting_down) break;
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
  db_mu_held(db)->shutting_down = 1;
  pthread_cond_broadcast(&db->bg_cv);
  sh_mutex_unlock(&db->mu);
  for (int i = 0; i < db->n_bg_threads; i++) pthread_join(db->bg_threads[i], NULL);
  free(db->bg_threads);
  db->bg_threads = NULL;
  db->n_bg_threads = 0;
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
  const db_mu_state *s = db_mu_held(db);
  while (unflushed_before(db_view_under_mu(db), target) && !s->bg_error)
    sh_cond_wait(&db->bg_cv, &db->mu);
  rc = s->bg_error;
  char why[ERRMSG_SIZE] = "";
  if (rc)
    snprintf(why, sizeof why, "flush failed: the DB is read-only after an earlier error: %.300s",
             s->bg_errmsg);
  sh_mutex_unlock(&db->mu);
  return rc ? db_fail(db, SHALE_READONLY, why) : SHALE_OK;
}

int shale_flush(shale_db *db) {
  if (!db) return SHALE_INVALID;
  db_call_begin(db);
  return db_call_end(db, flush_call(db));
}
