/* test_listeners.c — shale_options.listener (issue 18) on real files in temp directories:
 * each event arrives with the figures of the work it reports (a flush's entries are the
 * puts; a compaction after deletes drops tombstones; table creations minus deletions are
 * the live tables); callbacks that write, read and flush the same DB from inside
 * on_flush_end and on_compaction_end finish (under an alarm); stalls pair up; a failed
 * flush reports the background error; deletes-persisted only advances. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_hooks.h"
#include "fault_env.h"
#include "shale.h"
#include "testutil.h"

#define MAX_FILES 4096
#define WAIT_SECONDS 20

/* What the callbacks saw. Every field is guarded by mu. */
typedef struct recorder {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int flush_begins, flush_ends, compaction_begins, compaction_ends;
  uint64_t last_flush_entries, last_flush_tombstones, flush_begin_number, flush_end_number;
  int flush_failures;
  uint64_t tombstones_dropped, compaction_bytes_read, compaction_bytes_written;
  int compaction_outputs;
  uint64_t created[MAX_FILES], deleted[MAX_FILES];
  int ncreated, ndeleted;
  int bad_path; /* a table event whose path does not name its number */
  int stall_begins, stall_ends, stall_reasons_seen, bad_reason;
  int bg_errors, bg_status;
  char bg_message[512];
  uint64_t persisted[MAX_FILES];
  int npersisted;
  /* the re-entrant test: callbacks that call the DB */
  int reenter, reentered, reenter_failures;
} recorder;

static void notify(recorder *r) {
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* A put and a get on db from inside a callback; and a flush from the first few. */
static void call_db(recorder *r, shale_db *db, int flush) {
  pthread_mutex_lock(&r->mu);
  int n = r->reenter ? ++r->reentered : 0;
  pthread_mutex_unlock(&r->mu);
  if (!n) return;
  char k[32];
  int kl = snprintf(k, sizeof k, "cb%06d", n);
  void *v = NULL;
  size_t vl;
  int bad = shale_put(db, k, (size_t)kl, "x", 1, 0) != SHALE_OK ||
            shale_get(db, NULL, k, (size_t)kl, &v, &vl) != SHALE_OK || vl != 1;
  shale_free(v);
  if (flush && n <= 3 && shale_flush(db) != SHALE_OK) bad = 1;
  pthread_mutex_lock(&r->mu);
  r->reenter_failures += bad;
  pthread_mutex_unlock(&r->mu);
}

static void on_flush_begin(void *arg, shale_db *db, const shale_flush_info *i) {
  (void)db;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->flush_begins++;
  r->flush_begin_number = i->file_number;
  notify(r);
}

static void on_flush_end(void *arg, shale_db *db, const shale_flush_info *i) {
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->flush_ends++;
  r->last_flush_entries = i->entries;
  r->last_flush_tombstones = i->tombstones;
  r->flush_end_number = i->file_number;
  r->flush_failures += i->status != SHALE_OK;
  notify(r);
  call_db(r, db, 1);
}

static void on_compaction_begin(void *arg, shale_db *db, const shale_compaction_info *i) {
  (void)db;
  (void)i;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->compaction_begins++;
  notify(r);
}

static void on_compaction_end(void *arg, shale_db *db, const shale_compaction_info *i) {
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->compaction_ends++;
  r->tombstones_dropped += i->tombstones_dropped;
  r->compaction_bytes_read += i->bytes_read;
  r->compaction_bytes_written += i->bytes_written;
  r->compaction_outputs += i->output_files;
  notify(r);
  call_db(r, db, 0);
}

static int names_number(const shale_table_file_info *i) {
  char tail[32];
  snprintf(tail, sizeof tail, "/%06llu.sst", (unsigned long long)i->file_number);
  size_t n = strlen(i->path), t = strlen(tail);
  return n > t && !strcmp(i->path + n - t, tail);
}

static void on_table_created(void *arg, shale_db *db, const shale_table_file_info *i) {
  (void)db;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  if (r->ncreated < MAX_FILES) r->created[r->ncreated++] = i->file_number;
  r->bad_path += !names_number(i) || i->file_size == 0 || i->level < 0;
  notify(r);
}

static void on_table_deleted(void *arg, shale_db *db, const shale_table_file_info *i) {
  (void)db;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  if (r->ndeleted < MAX_FILES) r->deleted[r->ndeleted++] = i->file_number;
  r->bad_path += !names_number(i) || i->level != -1;
  notify(r);
}

static void on_stall(recorder *r, int reason, int end) {
  pthread_mutex_lock(&r->mu);
  if (end)
    r->stall_ends++;
  else
    r->stall_begins++;
  if (reason < SHALE_STALL_MEMTABLES || reason > SHALE_STALL_L0_STOP)
    r->bad_reason++;
  else
    r->stall_reasons_seen |= 1 << reason;
  notify(r);
}

static void on_stall_begin(void *arg, shale_db *db, int reason) {
  (void)db;
  on_stall(arg, reason, 0);
}

static void on_stall_end(void *arg, shale_db *db, int reason) {
  (void)db;
  on_stall(arg, reason, 1);
}

static void on_bg_error(void *arg, shale_db *db, int status, const char *message) {
  (void)db;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->bg_errors++;
  r->bg_status = status;
  snprintf(r->bg_message, sizeof r->bg_message, "%s", message);
  notify(r);
}

static void on_persisted(void *arg, shale_db *db, uint64_t before_us) {
  (void)db;
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  if (r->npersisted < MAX_FILES) r->persisted[r->npersisted++] = before_us;
  notify(r);
}

static shale_event_listener listener_for(recorder *r) {
  shale_event_listener l = {.size = sizeof l,
                            .arg = r,
                            .on_flush_begin = on_flush_begin,
                            .on_flush_end = on_flush_end,
                            .on_compaction_begin = on_compaction_begin,
                            .on_compaction_end = on_compaction_end,
                            .on_table_file_created = on_table_created,
                            .on_table_file_deleted = on_table_deleted,
                            .on_stall_begin = on_stall_begin,
                            .on_stall_end = on_stall_end,
                            .on_background_error = on_bg_error,
                            .on_deletes_persisted = on_persisted};
  return l;
}

static recorder *recorder_new(void) {
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  return r;
}

static void recorder_free(recorder *r) {
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

static shale_db *open_with(const char *dir, recorder *r, shale_options *o) {
  shale_event_listener l = listener_for(r); /* copied at open: may go out of scope */
  o->listener = &l;
  shale_db *db;
  int rc = shale_open(dir, o, &db);
  if (rc) fprintf(stderr, "open %s: %s\n", dir, shale_errmsg(NULL));
  assert_int_equal(rc, SHALE_OK);
  o->listener = NULL;
  return db;
}

/* Waits until *field (guarded by r->mu) reaches at least want; fails after WAIT_SECONDS. */
static void wait_at_least(recorder *r, const int *field, int want, const char *what) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += WAIT_SECONDS;
  pthread_mutex_lock(&r->mu);
  int rc = 0;
  while (*field < want && rc == 0) rc = pthread_cond_timedwait(&r->cv, &r->mu, &dl);
  int got = *field;
  pthread_mutex_unlock(&r->mu);
  if (got < want) fail_msg("%s: %d events, waited for %d", what, got, want);
}

static void put_keys(shale_db *db, int from, int to) {
  char k[32], v[128];
  memset(v, 'v', sizeof v);
  for (int i = from; i < to; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_put(db, k, (size_t)kl, v, sizeof v, 0), SHALE_OK);
  }
}

static void delete_keys(shale_db *db, int from, int to) {
  char k[32];
  for (int i = from; i < to; i++) {
    int kl = snprintf(k, sizeof k, "key%08d", i);
    assert_int_equal(shale_delete(db, k, (size_t)kl, 0), SHALE_OK);
  }
}

/* ---- figures ---- */

static int contains(const uint64_t *v, int n, uint64_t x) {
  for (int i = 0; i < n; i++)
    if (v[i] == x) return 1;
  return 0;
}

/* Tables created and not deleted, against shale_live_files: equal once the old versions
 * are released. Returns 1 when they are. */
static int created_minus_deleted_is_live(recorder *r, shale_db *db) {
  shale_live_file *files;
  size_t n;
  assert_int_equal(shale_live_files(db, &files, &n), SHALE_OK);
  pthread_mutex_lock(&r->mu);
  size_t alive = 0;
  int same = 1;
  for (int i = 0; i < r->ncreated; i++)
    if (!contains(r->deleted, r->ndeleted, r->created[i])) alive++;
  for (size_t i = 0; i < n; i++)
    same &= contains(r->created, r->ncreated, files[i].number) &&
            !contains(r->deleted, r->ndeleted, files[i].number);
  pthread_mutex_unlock(&r->mu);
  shale_live_files_free(files);
  return same && alive == n;
}

static void test_flush_and_compaction_figures(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  recorder *r = recorder_new();
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = 8u << 20; /* only shale_flush flushes */
  shale_db *db = open_with(dir, r, &o);

  put_keys(db, 0, 5000);
  assert_int_equal(shale_flush(db), SHALE_OK);
  wait_at_least(r, &r->flush_ends, 1, "first flush");
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->flush_begins, 1);
  assert_int_equal(r->last_flush_entries, 5000);
  assert_int_equal(r->last_flush_tombstones, 0);
  assert_int_equal(r->flush_begin_number, r->flush_end_number);
  pthread_mutex_unlock(&r->mu);

  uint64_t before_deletes = (uint64_t)time(NULL) * 1000000u;
  delete_keys(db, 0, 2000);
  assert_int_equal(shale_flush(db), SHALE_OK);
  wait_at_least(r, &r->flush_ends, 2, "second flush");
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->last_flush_entries, 2000);
  assert_int_equal(r->last_flush_tombstones, 2000); /* older table holds the keys: kept */
  pthread_mutex_unlock(&r->mu);

  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  wait_at_least(r, &r->compaction_ends, 1, "compaction");
  void *v;
  size_t vl; /* a read from this thread moves its cached view past the old tables */
  assert_int_equal(shale_get(db, NULL, "key00000001", 11, &v, &vl), SHALE_NOTFOUND);
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->compaction_begins, r->compaction_ends);
  assert_true(r->tombstones_dropped >= 2000);
  assert_true(r->compaction_bytes_read > 0);
  assert_true(r->compaction_bytes_written > 0);
  assert_true(r->compaction_outputs >= 1);
  assert_int_equal(r->flush_failures, 0);
  assert_int_equal(r->bg_errors, 0);
  pthread_mutex_unlock(&r->mu);

  /* creations minus deletions settle on the live set, and on the files on disk */
  double until = tu_now_s() + WAIT_SECONDS;
  while (!created_minus_deleted_is_live(r, db) && tu_now_s() < until) usleep(10000);
  assert_true(created_minus_deleted_is_live(r, db));
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->bad_path, 0);
  assert_true(r->ndeleted >= 2); /* the two flushed tables went */
  assert_int_equal(tu_count_suffix(dir, ".sst"), r->ncreated - r->ndeleted);
  /* deletes-persisted: increasing, and past the deletes once they were compacted away */
  assert_true(r->npersisted >= 1);
  for (int i = 1; i < r->npersisted; i++) assert_true(r->persisted[i] > r->persisted[i - 1]);
  assert_true(r->persisted[r->npersisted - 1] >= before_deletes);
  pthread_mutex_unlock(&r->mu);

  assert_int_equal(shale_close(db), SHALE_OK);
  recorder_free(r);
  tu_tempdir_free(dir);
}

/* ---- callbacks that call the DB ---- */

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "test_listeners: a callback that calls the DB deadlocked\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(2);
}

static void test_callbacks_may_call_the_db(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  recorder *r = recorder_new();
  r->reenter = 1;
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = 64u << 10;
  o.level0_compaction_trigger = 2;
  o.max_background_jobs = 1; /* a callback on the flush thread would be the only one */
  signal(SIGALRM, on_alarm);
  alarm(120);
  shale_db *db = open_with(dir, r, &o);
  put_keys(db, 0, 20000);
  delete_keys(db, 0, 5000);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_compact_range(db, NULL, 0, NULL, 0), SHALE_OK);
  wait_at_least(r, &r->compaction_ends, 1, "compaction");
  wait_at_least(r, &r->reentered, 4, "callbacks that called the DB");
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->reenter_failures, 0);
  int calls = r->reentered;
  pthread_mutex_unlock(&r->mu);
  assert_int_equal(shale_close(db), SHALE_OK);
  alarm(0);

  /* the callbacks' writes are in the DB */
  shale_db *again;
  assert_int_equal(shale_open(dir, NULL, &again), SHALE_OK);
  void *v;
  size_t vl;
  assert_int_equal(shale_get(again, NULL, "cb000001", 8, &v, &vl), SHALE_OK);
  shale_free(v);
  char k[32];
  int kl = snprintf(k, sizeof k, "cb%06d", calls);
  assert_int_equal(shale_get(again, NULL, k, (size_t)kl, &v, &vl), SHALE_OK);
  shale_free(v);
  assert_int_equal(shale_close(again), SHALE_OK);
  recorder_free(r);
  tu_tempdir_free(dir);
}

/* ---- stalls, errors, options ---- */

static void test_stalls_pair_up(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  recorder *r = recorder_new();
  shale_options o;
  shale_options_init(&o);
  o.write_buffer_size = 32u << 10;
  o.level0_compaction_trigger = 2; /* seals while L0 waits for its compaction are slowed */
  o.level0_slowdown_trigger = 2;
  o.level0_stop_trigger = 1000;
  o.max_immutable_memtables = 1; /* and seals while a flush runs wait */
  shale_db *db = open_with(dir, r, &o);
  put_keys(db, 0, 3000);
  wait_at_least(r, &r->stall_begins, 1, "stall begins");
  wait_at_least(r, &r->stall_ends, 1, "stall ends");
  assert_int_equal(shale_close(db), SHALE_OK); /* delivers everything queued */
  assert_int_equal(r->stall_begins, r->stall_ends);
  assert_true(r->stall_reasons_seen != 0);
  assert_int_equal(r->bad_reason, 0);
  recorder_free(r);
  tu_tempdir_free(dir);
}

/* The flush's own syncs fail, not the WAL's at the seal before it. */
static void fail_syncs_once_flush_picked(shale_db *db, test_hook_point point) {
  (void)db;
  if (point == HOOK_FLUSH_PICKED) io_fault_fail_from(IO_FAULT_SYNC, 1, EIO);
}

static void test_background_error_reported(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  recorder *r = recorder_new();
  shale_options o;
  tu_options_init(&o); /* the fault env */
  shale_db *db = open_with(dir, r, &o);
  put_keys(db, 0, 100);
  atomic_store(&shale_test_hook, fail_syncs_once_flush_picked);
  assert_int_not_equal(shale_flush(db), SHALE_OK);
  atomic_store(&shale_test_hook, NULL);
  io_fault_reset();
  wait_at_least(r, &r->bg_errors, 1, "background error");
  wait_at_least(r, &r->flush_failures, 1, "failed flush end");
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->bg_status, SHALE_IOERR);
  assert_true(strlen(r->bg_message) > 0);
  pthread_mutex_unlock(&r->mu);
  assert_int_not_equal(shale_close(db), SHALE_OK);
  recorder_free(r);
  tu_tempdir_free(dir);
}

static void test_listener_options(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_event_listener l = {.size = 3}; /* not a size this library knows */
  shale_options o;
  shale_options_init(&o);
  o.listener = &l;
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_INVALID);
  assert_non_null(strstr(shale_errmsg(NULL), "listener.size"));
  l.size = sizeof l; /* no callback at all: no thread, no events, opens fine */
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put_keys(db, 0, 10);
  assert_int_equal(shale_flush(db), SHALE_OK);
  assert_int_equal(shale_close(db), SHALE_OK);
  tu_tempdir_free(dir);
}

/* A table no version lists (a flush or compaction a crash cut short) is removed by the next
 * open, and reported as deleted like any other table that leaves. */
static void test_orphan_table_reported(void **state) {
  (void)state;
  char *dir = tu_tempdir();
  shale_options o;
  tu_options_init(&o);
  shale_db *db;
  assert_int_equal(shale_open(dir, &o, &db), SHALE_OK);
  put_keys(db, 0, 100);
  assert_int_equal(shale_flush(db), SHALE_OK);
  shale_live_file *files;
  size_t n;
  assert_int_equal(shale_live_files(db, &files, &n), SHALE_OK);
  assert_int_equal(n, 1);
  char name[32];
  snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)files[0].number);
  shale_live_files_free(files);
  assert_int_equal(shale_close(db), SHALE_OK);
  char *live = tu_path(dir, name), *orphan = tu_path(dir, "900000.sst");
  assert_int_equal(tu_copy_file(live, orphan), 0);
  recorder *r = recorder_new();
  db = open_with(dir, r, &o);
  wait_at_least(r, &r->ndeleted, 1, "orphan table deleted");
  pthread_mutex_lock(&r->mu);
  assert_int_equal(r->deleted[0], 900000);
  assert_int_equal(r->bad_path, 0);
  pthread_mutex_unlock(&r->mu);
  assert_true(tu_file_size(orphan) < 0);
  assert_int_equal(shale_close(db), SHALE_OK);
  recorder_free(r);
  free(live);
  free(orphan);
  tu_tempdir_free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flush_and_compaction_figures),
      cmocka_unit_test(test_callbacks_may_call_the_db),
      cmocka_unit_test(test_stalls_pair_up),
      cmocka_unit_test(test_background_error_reported),
      cmocka_unit_test(test_listener_options),
      cmocka_unit_test(test_orphan_table_reported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
