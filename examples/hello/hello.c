/* hello.c — the smallest useful Shale program: open, put, get, delete, iterate, close. */
#include <stdio.h>
#include <shale.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/shale-hello";
  shale_db *db;
  int rc = shale_open(path, NULL, &db);
  if (rc) return fprintf(stderr, "open: %s: %s\n", shale_strerror(rc), shale_errmsg(NULL)), 1;
  shale_put(db, "apple", 5, "red", 3, SHALE_SYNC);
  shale_put(db, "banana", 6, "yellow", 6, 0);
  shale_delete(db, "apple", 5, 0);
  void *val;
  size_t vlen;
  if (shale_get(db, NULL, "banana", 6, &val, &vlen) == SHALE_OK) {
    printf("banana = %.*s\n", (int)vlen, (char *)val);
    shale_free(val);
  }
  shale_iter *it;
  shale_iter_new(db, NULL, &it);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    printf("%.*s -> %.*s\n", (int)kl, k, (int)vl, v);
  }
  shale_iter_free(it);
  return shale_close(db) ? 1 : 0;
}
