/* delete_heavy.c — range deletes and the delete persistence deadline. An event log keeps
 * only recent events: old ones go with one shale_delete_range instead of a tombstone per
 * key. With delete_persist_seconds set, Shale also promises the deleted data is physically
 * gone from the disk within that time, and "shale.deletes-persisted-before" says up to when
 * every delete is. usage: shale-example-delete-heavy [DB_DIR] */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <shale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                       \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != SHALE_OK) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, shale_strerror(rc_), #call); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#define EVENTS 20000
#define KEEP_FROM 15000 /* events below this number are deleted */

static int event_key(char *key, size_t size, int i) { return snprintf(key, size, "event/%08d", i); }

static int count_keys(shale_db *db) {
  shale_iter *it;
  CHECK(shale_iter_new(db, NULL, &it));
  int n = 0;
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) n++;
  CHECK(shale_iter_status(it));
  shale_iter_free(it);
  return n;
}

/* "shale.deletes-persisted-before" is a wall-clock time, seconds.microseconds: every
 * delete made before it is physically gone from the DB's files. */
static double persisted_before(shale_db *db) {
  char *text;
  CHECK(shale_property(db, "shale.deletes-persisted-before", &text));
  double t = strtod(text, NULL);
  shale_free(text);
  return t;
}

static double now_seconds(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/shale-delete-heavy";
  shale_options o;
  shale_options_init(&o);
  o.delete_persist_seconds = 2.0; /* purge every delete within 2 s */
  o.write_buffer_size = 1u << 20; /* small memtables, so this small example makes tables */
  shale_db *db;
  int rc = shale_open(path, &o, &db);
  if (rc) return fprintf(stderr, "open: %s: %s\n", shale_strerror(rc), shale_errmsg(NULL)), 1;

  char key[32], val[100];
  memset(val, 'x', sizeof val);
  for (int i = 0; i < EVENTS; i++) {
    int kl = event_key(key, sizeof key, i);
    CHECK(shale_put(db, key, (size_t)kl, val, sizeof val, 0));
  }
  CHECK(shale_flush(db)); /* the events are in SSTables now */
  printf("%d events written, %d keys\n", EVENTS, count_keys(db));

  /* One range tombstone removes [event/00000000, event/00015000); point deletes remove a few
   * more. Once each call returns no read sees the deleted keys. */
  char begin[32], end[32];
  int bl = event_key(begin, sizeof begin, 0), el = event_key(end, sizeof end, KEEP_FROM);
  CHECK(shale_delete_range(db, begin, (size_t)bl, end, (size_t)el, SHALE_SYNC));
  for (int i = KEEP_FROM; i < EVENTS; i += 1000) {
    int kl = event_key(key, sizeof key, i);
    CHECK(shale_delete(db, key, (size_t)kl, 0));
  }
  double deleted_at = now_seconds(); /* every delete above was made before this */
  int left = count_keys(db);
  void *v;
  size_t vlen;
  int kl = event_key(key, sizeof key, 42);
  int gone = shale_get(db, NULL, key, (size_t)kl, &v, &vlen) == SHALE_NOTFOUND;
  printf("after deleting: %d keys, %s %s\n", left, key, gone ? "not found" : "FOUND");

  /* The tombstones are still in the DB, shadowing the data; within delete_persist_seconds
   * the memtable is flushed and compaction drops the tombstones with the data they cover.
   * Until then the property is the time of the oldest delete still held. */
  printf("shale.deletes-persisted-before = %.6f (the oldest delete still held)\n",
         persisted_before(db));
  double waited = 0;
  while (persisted_before(db) <= deleted_at && waited < 30) {
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    waited += 0.1;
  }
  double pb = persisted_before(db);
  printf("shale.deletes-persisted-before = %.6f: every delete %s gone %.1f s after the deletes\n",
         pb, pb > deleted_at ? "physically" : "NOT yet", now_seconds() - deleted_at);

  char *stats;
  CHECK(shale_property(db, "shale.stats", &stats));
  printf("%s", stats);
  shale_free(stats);
  CHECK(shale_close(db));
  int want = EVENTS - KEEP_FROM - (EVENTS - KEEP_FROM) / 1000;
  if (left != want || !gone || pb <= deleted_at) {
    fprintf(stderr, "unexpected: %d keys left (want %d)\n", left, want);
    return 1;
  }
  return 0;
}
