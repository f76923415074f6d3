/* background.c — the background threads (max_background_jobs of them) that flush sealed
 * memtables, the publication of new versions, and shale_flush. One flush runs at a time so
 * flushes install oldest first. */
#include <stdlib.h>

#include "engine/db_impl.h"
#include "engine/flush.h"
#include "engine/test_hooks.h"
#include "util/clock.h"

_Atomic(test_hook_fn) shale_test_hook;

void db_set_bg_error(shale_db *db, int rc, const char *msg) {
  if (!db->bg_error) {
    db->bg_error = rc;
    db_log(db, "background error, DB is read-only until reopened: %s", msg);
    db_fail(db, rc, msg);
  }
  pthread_cond_broadcast(&db->bg_cv);
}

int db_publish_version(shale_db *db, int drop_oldest_imm) {
  read_view *cur = db->view;
  read_view *v = read_view_new(cur->mem, cur->imm, cur->imm_count - (drop_oldest_imm ? 1 : 0),
                               db->vset.current, db->next_view_number++);
  if (!v) return SHALE_NOMEM;
  db_view_publish(db, v);
  return SHALE_OK;
}

static int flush_wanted(shale_db *db) {
  return !db->flush_running && !db->bg_error && db->view->imm_count > 0;
}

static void *bg_main(void *arg) {
  shale_db *db = arg;
  char errmsg[ERRMSG_SIZE];
  pthread_mutex_lock(&db->mu);
  for (;;) {
    if (flush_wanted(db)) {
      flush_oldest(db, errmsg);
      continue;
    }
    if (db->shutting_down) break;
    pthread_cond_wait(&db->bg_cv, &db->mu);
  }
  pthread_mutex_unlock(&db->mu);
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
  pthread_mutex_lock(&db->mu);
  db->shutting_down = 1;
  pthread_cond_broadcast(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
  for (int i = 0; i < db->n_bg_threads; i++) pthread_join(db->bg_threads[i], NULL);
  free(db->bg_threads);
  db->bg_threads = NULL;
  db->n_bg_threads = 0;
}

/* Waits while sealed memtables pile up: the flush threads must catch up first. */
static int wait_for_flush_room(shale_db *db) {
  if (db->view->imm_count < db->opt.max_immutable_memtables) return SHALE_OK;
  uint64_t start = clock_mono_us();
  atomic_fetch_add(&db->stats.stalls, 1);
  db_log(db, "write stall: %d sealed memtables waiting for flush", db->view->imm_count);
  while (db->view->imm_count >= db->opt.max_immutable_memtables && !db->bg_error)
    pthread_cond_wait(&db->bg_cv, &db->mu);
  atomic_fetch_add(&db->stats.stall_micros, clock_mono_us() - start);
  return db->bg_error ? SHALE_READONLY : SHALE_OK;
}

int flush_make_room(shale_db *db, char *errmsg) {
  if (memtable_bytes(db->mem) < db->opt.write_buffer_size) return SHALE_OK;
  int rc = wait_for_flush_room(db);
  if (rc) return err_set(errmsg, rc, "the DB turned read-only while a write waited");
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

int shale_flush(shale_db *db) {
  if (!db) return SHALE_INVALID;
  int rc = db_write_seal(db);
  if (rc) return rc;
  pthread_mutex_lock(&db->mu);
  uint64_t target = db->log_number; /* everything sealed before now has an older WAL */
  while (unflushed_before(db->view, target) && !db->bg_error)
    pthread_cond_wait(&db->bg_cv, &db->mu);
  rc = db->bg_error;
  pthread_mutex_unlock(&db->mu);
  return rc ? db_fail(db, SHALE_READONLY, "flush failed: the DB is read-only") : SHALE_OK;
}
