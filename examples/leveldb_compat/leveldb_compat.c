/* leveldb_compat.c — a LevelDB program, unchanged but for its #include, running on Shale
 * through libshale-leveldb: open, put, a write batch, get, a scan, a property, close.
 *   usage: shale-example-leveldb <db-directory>
 * Built by hand:  cc -std=c11 leveldb_compat.c $(pkg-config --cflags --libs shale-leveldb) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shale/leveldb/c.h> /* instead of <leveldb/c.h> */

/* LevelDB reports a failure as a malloc'd message in err. */
static int failed(char *err, const char *what) {
  if (!err) return 0;
  fprintf(stderr, "%s: %s\n", what, err);
  leveldb_free(err);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <db-directory>\n", argv[0]);
    return 2;
  }
  char *err = NULL;
  leveldb_options_t *opts = leveldb_options_create();
  leveldb_options_set_create_if_missing(opts, 1);
  leveldb_t *db = leveldb_open(opts, argv[1], &err);
  leveldb_options_destroy(opts);
  if (failed(err, "open")) return 1;

  leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
  leveldb_readoptions_t *ro = leveldb_readoptions_create();
  leveldb_put(db, wo, "greeting", 8, "hello", 5, &err);
  leveldb_writebatch_t *batch = leveldb_writebatch_create();
  leveldb_writebatch_put(batch, "apple", 5, "red", 3);
  leveldb_writebatch_put(batch, "banana", 6, "yellow", 6);
  leveldb_writebatch_delete(batch, "greeting", 8);
  if (!err) leveldb_write(db, wo, batch, &err); /* all three at once */
  leveldb_writebatch_destroy(batch);

  size_t len = 0;
  char *value = err ? NULL : leveldb_get(db, ro, "apple", 5, &len, &err);
  int rc = failed(err, "write or get");
  if (!rc) printf("apple = %.*s\n", (int)len, value ? value : "");
  leveldb_free(value);

  leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
  for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
    size_t klen, vlen;
    const char *k = leveldb_iter_key(it, &klen), *v = leveldb_iter_value(it, &vlen);
    printf("%.*s -> %.*s\n", (int)klen, k, (int)vlen, v);
  }
  leveldb_iter_get_error(it, &err);
  rc |= failed(err, "scan");
  leveldb_iter_destroy(it);

  char *files = leveldb_property_value(db, "leveldb.num-files-at-level0");
  printf("tables at level 0: %s\n", files ? files : "?");
  leveldb_free(files);

  leveldb_readoptions_destroy(ro);
  leveldb_writeoptions_destroy(wo);
  leveldb_close(db);
  return rc;
}
