/* range_scan.c — iterators: a bounded forward scan of [begin, end), a prefix scan, and a
 * backward scan from a key. Keys sort bytewise, so fixed-width numbers keep their order.
 * usage: shale-example-range-scan [DB_DIR] */
#include <shale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                       \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != SHALE_OK) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, shale_strerror(rc_), #call); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

/* memcmp order, shorter first on a tie: the order Shale sorts keys in. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

/* Prints every key in [begin, end) and returns how many there were. */
static int scan_range(shale_iter *it, const char *begin, const char *end) {
  int n = 0;
  for (shale_iter_seek(it, begin, strlen(begin)); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl);
    if (key_cmp(k, kl, end, strlen(end)) >= 0) break; /* past the end of the range */
    const char *v = shale_iter_value(it, &vl);
    printf("  %.*s = %.*s\n", (int)kl, k, (int)vl, v);
    n++;
  }
  CHECK(shale_iter_status(it)); /* invalid because of an error, or just the end? */
  return n;
}

/* Counts the keys that start with @p prefix. */
static int count_prefix(shale_iter *it, const char *prefix) {
  size_t plen = strlen(prefix);
  int n = 0;
  for (shale_iter_seek(it, prefix, plen); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl;
    const char *k = shale_iter_key(it, &kl);
    if (kl < plen || memcmp(k, prefix, plen) != 0) break;
    n++;
  }
  CHECK(shale_iter_status(it));
  return n;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/shale-range-scan";
  shale_db *db;
  int rc = shale_open(path, NULL, &db);
  if (rc) return fprintf(stderr, "open: %s: %s\n", shale_strerror(rc), shale_errmsg(NULL)), 1;

  /* 1000 users and 300 orders; a batch makes the load one WAL write. */
  shale_batch *b;
  CHECK(shale_batch_new(&b));
  char key[32], val[32];
  for (int i = 0; i < 1000; i++) {
    int kl = snprintf(key, sizeof key, "user/%04d", i);
    int vl = snprintf(val, sizeof val, "name-%d", i);
    CHECK(shale_batch_put(b, key, (size_t)kl, val, (size_t)vl));
  }
  for (int i = 0; i < 300; i++) {
    int kl = snprintf(key, sizeof key, "order/%06d", i * 7);
    int vl = snprintf(val, sizeof val, "user/%04d", i % 1000);
    CHECK(shale_batch_put(b, key, (size_t)kl, val, (size_t)vl));
  }
  CHECK(shale_write(db, b, 0));
  shale_batch_free(b);

  /* The iterator sees the DB as of its creation; later writes do not disturb it. */
  shale_iter *it;
  CHECK(shale_iter_new(db, NULL, &it));

  printf("users in [user/0100, user/0105):\n");
  int in_range = scan_range(it, "user/0100", "user/0105");

  int orders = count_prefix(it, "order/"), users = count_prefix(it, "user/");
  printf("%d orders, %d users\n", orders, users);

  printf("the 3 users at or before user/0500, backwards:\n");
  int back = 0;
  for (shale_iter_seek_for_prev(it, "user/0500", 9); shale_iter_valid(it) && back < 3;
       shale_iter_prev(it), back++) {
    size_t kl;
    const char *k = shale_iter_key(it, &kl);
    printf("  %.*s\n", (int)kl, k);
  }
  CHECK(shale_iter_status(it));

  shale_iter_seek_last(it);
  size_t last_len = 0;
  const char *last = shale_iter_valid(it) ? shale_iter_key(it, &last_len) : "";
  printf("last key: %.*s\n", (int)last_len, last);
  int last_ok = last_len == 9 && memcmp(last, "user/0999", 9) == 0;

  shale_iter_free(it);
  CHECK(shale_close(db));
  if (in_range != 5 || orders != 300 || users != 1000 || back != 3 || !last_ok) {
    fprintf(stderr, "unexpected scan results\n");
    return 1;
  }
  return 0;
}
