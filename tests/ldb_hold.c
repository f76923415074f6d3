/* ldb_hold.c — holds a DB open, as an application would, while test_ldb_lock.sh runs
 * shale-ldb against it. Opens DB (for writing, or with --read_only, which takes no lock); a
 * writer puts heldkey=heldval, so its WAL holds a record no table has; prints "held", then
 * stays idle until its stdin reaches end-of-file, and closes cleanly. Background work cannot change
 * a file meanwhile: the L0 triggers are out of reach, and nothing is written. usage: ldb_hold DB
 * [--read_only] */
#include <stdio.h>
#include <string.h>

#include "shale.h"

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--read_only"))) {
    fprintf(stderr, "usage: ldb_hold DB [--read_only]\n");
    return 2;
  }
  shale_options opt;
  shale_options_init(&opt);
  opt.read_only = argc == 3;
  opt.level0_compaction_trigger = opt.level0_slowdown_trigger = opt.level0_stop_trigger = 1 << 20;
  shale_db *db;
  int rc = shale_open(argv[1], &opt, &db);
  if (rc) {
    fprintf(stderr, "ldb_hold: cannot open %s: %s: %s\n", argv[1], shale_strerror(rc),
            shale_errmsg(NULL));
    return 1;
  }
  if (!opt.read_only && (rc = shale_put(db, "heldkey", 7, "heldval", 7, 0))) {
    fprintf(stderr, "ldb_hold: put: %s: %s\n", shale_strerror(rc), shale_errmsg(db));
    shale_close(db);
    return 1;
  }
  printf("held\n");
  fflush(stdout);
  while (getchar() != EOF) {
  }
  rc = shale_close(db);
  if (rc) fprintf(stderr, "ldb_hold: close: %s\n", shale_strerror(rc));
  return rc ? 1 : 0;
}
