/* shale_ldb_repair.c — repair: the library's (engine/repair.c), with its account printed
 * line by line as it goes and its warnings on stderr. */
#include <stdio.h>

#include "engine/repair.h"
#include "shale_ldb.h"
#include "util/error.h"

static void print_line(void *arg, int warning, const char *line) {
  (void)arg;
  if (warning)
    ldb_err("%s", line);
  else
    printf("%s\n", line);
}

int ldb_cmd_repair(ldb_opts *o) {
  /* Checked here too, for the messages every command gives about its --db. */
  if (ldb_check_shale_dir(o->db)) return 1;
  char errmsg[ERRMSG_SIZE] = "";
  if (db_repair(NULL, o->db, NULL, print_line, NULL, errmsg) == SHALE_OK) return 0;
  ldb_err("%s", errmsg);
  return 1;
}
