/* ttl.c — keys that expire. Each value starts with its expiry time; a compaction filter
 * removes expired values as compactions rewrite the tables, so they stop taking space
 * without a delete per key (how Kvrocks and RocksDB's TTL support expire keys). Reads hide
 * an expired value themselves until a compaction has removed it: the filter decides what
 * stays on disk, not what a read may return in the meantime.
 * usage: shale-example-ttl [DB_DIR] */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <shale.h>
#include <stdint.h>
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

#define SESSIONS 1000
#define EXPIRY_BYTES 8 /* big-endian milliseconds since the epoch, before the payload */

static uint64_t now_ms(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t expiry_of(const void *val) {
  const unsigned char *p = val;
  uint64_t t = 0;
  for (int i = 0; i < EXPIRY_BYTES; i++) t = t << 8 | p[i];
  return t;
}

/* Stores payload under key until ttl_ms from now. */
static int put_ttl(shale_db *db, const char *key, const char *payload, uint64_t ttl_ms) {
  unsigned char val[EXPIRY_BYTES + 64];
  size_t pl = strlen(payload);
  if (pl > sizeof val - EXPIRY_BYTES) return SHALE_INVALID;
  uint64_t t = now_ms() + ttl_ms;
  for (int i = EXPIRY_BYTES - 1; i >= 0; i--, t >>= 8) val[i] = (unsigned char)t;
  memcpy(val + EXPIRY_BYTES, payload, pl);
  return shale_put(db, key, strlen(key), val, EXPIRY_BYTES + pl, 0);
}

/* The filter: called by compactions on Shale's threads; it reads only its arguments and
 * the clock, and never calls back into the DB. A value too short to hold an expiry time
 * is not ours to judge, so it stays. */
static int ttl_filter(void *arg, int level, const void *key, size_t klen, const void *val,
                      size_t vlen, const void **new_val, size_t *new_vlen) {
  (void)arg, (void)level, (void)key, (void)klen, (void)new_val, (void)new_vlen;
  if (vlen < EXPIRY_BYTES) return SHALE_FILTER_KEEP;
  return expiry_of(val) <= now_ms() ? SHALE_FILTER_REMOVE : SHALE_FILTER_KEEP;
}

/* Keys stored in the DB, expired or not, and those a reader should see. */
static void count(shale_db *db, int *stored, int *live) {
  shale_iter *it;
  CHECK(shale_iter_new(db, NULL, &it));
  *stored = *live = 0;
  uint64_t now = now_ms();
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t vl;
    const void *v = shale_iter_value(it, &vl);
    ++*stored;
    *live += vl >= EXPIRY_BYTES && expiry_of(v) > now;
  }
  CHECK(shale_iter_status(it));
  shale_iter_free(it);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/shale-ttl";
  shale_options o;
  shale_options_init(&o);
  o.compaction_filter = ttl_filter;
  o.compaction_filter_name = "example.ttl";
  shale_db *db;
  int rc = shale_open(path, &o, &db);
  if (rc) return fprintf(stderr, "open: %s: %s\n", shale_strerror(rc), shale_errmsg(NULL)), 1;

  /* Every third session lasts an hour; the others expire after 500 ms. */
  char key[32];
  for (int i = 0; i < SESSIONS; i++) {
    snprintf(key, sizeof key, "session/%06d", i);
    CHECK(put_ttl(db, key, i % 3 ? "guest" : "member", i % 3 ? 500 : 3600 * 1000));
  }
  int stored, live;
  count(db, &stored, &live);
  printf("written: %d sessions stored, %d live\n", stored, live);

  struct timespec pause = {0, 700 * 1000 * 1000};
  nanosleep(&pause, NULL);
  count(db, &stored, &live);
  printf("700 ms later: %d stored, %d live (the expired ones still take space)\n", stored, live);
  int expired_before = stored - live;

  /* Compactions run on their own as data grows; a manual one shows the filter at once. */
  CHECK(shale_compact_range(db, NULL, 0, NULL, 0));
  count(db, &stored, &live);
  printf("after shale_compact_range: %d stored, %d live\n", stored, live);
  void *v;
  size_t vl;
  int gone = shale_get(db, NULL, "session/000001", 14, &v, &vl) == SHALE_NOTFOUND;
  printf("session/000001 (expired): %s\n", gone ? "not found" : "FOUND");
  CHECK(shale_close(db));

  int want = (SESSIONS + 2) / 3;
  if (!gone || stored != want || live != want || expired_before != SESSIONS - want) {
    fprintf(stderr, "unexpected: %d stored, %d live, want %d\n", stored, live, want);
    return 1;
  }
  return 0;
}
